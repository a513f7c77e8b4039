"""Traces findings of the second new-user walkthrough (issue 10): what the screen says
for an exclusion-only search, an operator-only search, the label history, labels/min."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Input, Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import settle


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


async def search(app: JarvisApp, pilot, text: str) -> None:
    await pilot.press("slash")
    app.query_one(TracesPane).query_one("#search", Input).value = text
    await pilot.press("enter")
    await settle(app, pilot)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_exclusion_alone_shows_every_trace_without_the_word(workspace: Path, size) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await search(app, pilot, "-photosynthesis")
        pane = app.query_one(TracesPane)
        # 401 traces, 80 of them about photosynthesis: the other 321 are listed
        assert "of 321" in status(app), status(app)
        assert pane.rows and not any("photosynthesis" in r.snippet for r in pane.rows)
        line = next(x for x in screen_text(app).splitlines() if "rows 1–" in x)
        # the note says what the search did (in fewer words at 80 columns)
        assert "search: only exclusions: showing every trace without them" in line or (
            size[0] < 100 and "search: all but -words" in line
        ), line


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_operator_only_note_outranks_auto_advance(workspace: Path, size) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("A")  # auto-advance off: a lesser state word
        await search(app, pilot, "AND OR *")
        text = screen_text(app)
        line = next(x for x in text.splitlines() if "rows 1–" in x)
        assert "search: no words" in line, line  # whole where the room allows
        assert "of 401" in line and "filtered" not in line  # nothing is filtered


async def test_label_history_shows_values_as_text_not_reprs(workspace: Path) -> None:
    from jarvis_tui.traces import TraceStore
    from jarvis_tui.ui.panes.traces import TraceDetail
    from jarvis_tui.ui.screens.trace_screens import TraceScreen

    store = TraceStore(workspace / "traces.db")
    store.set_label("t1-00399", note="first line [bold red]x[/]\nsecond line")
    store.set_label("t1-00399", feedback=0.5)
    store.close()
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        side = app.query_one(TraceDetail).query_one("#detail-body", Static)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(side.content)
        body = console.export_text()
        assert "note: (none) → first line [bold red]x[/] ⏎ second line (tui)" in body, body
        assert "score: (none) → 0.50 (tui)" in body, body  # the word the screen uses
        assert "None" not in body and "'" not in body
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen)
        text = screen_text(app)
        assert "note: (none) → first line [bold red]x[/] ⏎ second line" in text, text
        assert "None →" not in text and "\\n" not in text


async def test_an_undone_label_is_not_counted_in_labels_per_minute(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("5")
        await settle(app, pilot)
        assert "1 label/min" in status(app), status(app)
        await pilot.press("u")
        await settle(app, pilot)
        assert "0 labels/min" in status(app), status(app)
        await pilot.press("7")
        await settle(app, pilot)
        assert "1 label/min" in status(app), status(app)


async def test_a_keymap_entry_on_a_navigation_key_is_reported_and_the_default_kept(
    workspace: Path,
) -> None:
    from jarvis_tui.traces import TraceStore
    from jarvis_tui.ui.testing import record_notices

    (workspace / "jarvis-tui.toml").write_text('[keymap]\n"traces.success" = "j"\n')
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        warned = [n for n in notices if "traces.success" in n]
        assert warned == [
            "keymap: traces.success = j collides with traces.down: ignored, kept y · ? shows it again"
        ], notices
        pane = app.query_one(TracesPane)
        first, second = pane.rows[0].trace_id, pane.rows[1].trace_id
        await pilot.press("y")  # success keeps its key
        await pilot.press("j", "y")  # j still moves down
        await settle(app, pilot)
        assert "Success" in screen_text(app)  # in the footer still
    store = TraceStore(workspace / "traces.db")
    try:
        assert store.get(first).outcome == "success"
        assert store.get(second).outcome == "success"
    finally:
        store.close()


async def test_a_replaced_traces_db_is_reopened_and_said(workspace: Path, tmp_path: Path) -> None:
    """`jarvis-tui demo --force` under a running app (finding 72): the pane reads the
    new file and says so."""
    import os
    import sqlite3
    from contextlib import closing

    from jarvis_tui.demo import _remove_db
    from jarvis_tui.traces import TraceStore
    from jarvis_tui.ui.testing import wait_until
    from tests.ui.conftest import make_traces

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "of 401" in status(app)
        new = tmp_path / "new.db"
        store = TraceStore(new)
        store.save_many(make_traces(30, seed=2))
        store.close()
        with closing(sqlite3.connect(new)) as conn:  # all in the file, as demo builds it
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _remove_db(workspace / "traces.db")
        os.replace(new, workspace / "traces.db")
        pane = app.query_one(TracesPane)
        pane.poll_store()
        await wait_until(pilot, lambda: "was replaced" in status(app), what="the note")
        await settle(app, pilot)
        assert "traces.db was replaced: reopened" in status(app)
        assert "of 30" in status(app), status(app)
        assert pane.rows[0].trace_id == "t2-00029"
