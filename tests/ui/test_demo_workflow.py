"""The issue's workflow on a real demo workspace: search, filter, label three, undo one."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from jarvis_tui.demo import build_demo
from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import settle
from tests.ui.conftest import pick_filters


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo") / "ws", traces=1500, seed=11)


async def test_search_filter_label_three_undo_one(demo_home: Path, tmp_path: Path) -> None:
    import shutil

    home = tmp_path / "ws"
    shutil.copytree(demo_home, home)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("slash")
        await pilot.press(*"python")
        await pilot.press("enter")
        await settle(app, pilot)
        await pick_filters(app, pilot, labelled="unlabelled")
        assert pane.filter == TraceFilter(text="python", labelled=False)
        rows = list(pane.rows)
        assert rows and all(r.feedback is None for r in rows)
        status = str(app.query_one("#traces-status", Static).render())
        total, _ = pane.store.count_filtered(pane.filter)
        assert f"of {total:,}" in status and "(filtered;" in status
        await pilot.press("8", "y", "2", "n", "equals_sign")
        await settle(app, pilot)
        await pilot.press("u")  # takes back the 1.0 on the third
        await settle(app, pilot)
        assert pane.query_one("#search", Input).value == "python"
    store = TraceStore(home / "traces.db")
    try:
        got = [(store.get(r.trace_id).feedback, store.get(r.trace_id).outcome) for r in rows[:3]]
        assert got == [(0.8, None), (0.2, "success"), (None, "failure")]
        assert [h.new_value for h in store.label_history(rows[2].trace_id)] == [
            "failure",
            1.0,
            None,
        ]
    finally:
        store.close()


async def test_time_filter_limits_rows(demo_home: Path) -> None:
    app = JarvisApp(demo_home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pick_filters(app, pilot, time=str(30 * 86_400))
        since = pane.filter.since
        assert since is not None
        assert all(r.started_at >= since for r in pane.rows)
        total, _ = pane.store.count_filtered(TraceFilter())
        shown = pane.store.count_filtered(TraceFilter(since=since))[0]
        assert shown < total
        status = str(pane.query_one("#traces-status").render())
        assert f"of {shown:,} " in status  # "rows 1–N of M": the filter's count, not the store's
