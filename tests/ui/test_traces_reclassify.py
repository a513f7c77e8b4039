"""Pilot: a large store re-classifies its queries in the background while the app is
usable, and the Traces status line says how far it is."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

from textual.widgets import Static

from jarvis_tui.traces import TraceStore
from jarvis_tui.traces import store as store_mod
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane, TraceTable
from jarvis_tui.ui.testing import settle


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


async def test_status_line_says_reclassifying_while_the_app_stays_usable(
    workspace: Path, monkeypatch
) -> None:
    db = workspace / "traces.db"
    conn = sqlite3.connect(db)  # classes from an older classifier version
    conn.execute("UPDATE jt_meta SET value = 1 WHERE key = 'classifier'")
    conn.commit()
    conn.close()
    monkeypatch.setattr(store_mod, "RECLASS_BLOCKING_ROWS", 10)
    monkeypatch.setattr(store_mod, "RECLASS_BATCH", 100)
    gate = threading.Event()
    real = TraceStore._classify_row
    calls = []

    def held(self, tid, query):  # the second batch waits for the test
        calls.append(1)
        if len(calls) == 101:
            gate.wait(20)
        return real(self, tid, query)

    monkeypatch.setattr(TraceStore, "_classify_row", held)
    app = JarvisApp(workspace)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(app, pilot)
            shown = re.search(r"re-classifying queries: (\d+)%", status(app))
            assert shown is not None and int(shown.group(1)) < 100
            table = app.query_one("#trace-table", TraceTable)
            assert len(app.query_one(TracesPane).rows) == 100  # rows are there meanwhile
            await pilot.press("j")
            assert table.cursor_row == 1
            gate.set()
            assert app.store is not None and app.store.wait_reclassified(20)
            await pilot.press("r")
            await settle(app, pilot)
            assert "re-classifying" not in status(app)
            assert "rows 1–" in status(app)
    finally:
        gate.set()
