"""The first paint builds only what it shows (issue 15): the Traces filter bar's pickers
are made on the first ``F``, and then show every filter and facet as if they had
always been there."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import LoadingIndicator, Select, Static

from jarvis_tui.traces import TraceFilter
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane, TraceTable
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.conftest import AGENTS

PROMPTS = ("agent", "model", "class", "outcome", "labels", "time")
"""What each picker says with nothing picked, left to right."""


def screen_text(app: JarvisApp) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


def bar_line(app: JarvisApp) -> str:
    """The screen's line with the filter pickers (the one under the search row)."""
    return next(line for line in screen_text(app).splitlines() if "outcome" in line)


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


def rows_part(line: str) -> str:
    """The status line's "rows 1–N of M" (the filter bar's keys may come before it)."""
    return next(part for part in line.split(" · ") if part.startswith("rows "))


async def test_filter_pickers_are_made_on_the_first_F_with_their_facets(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "rows 1–" in status(app)
        assert not app.query(Select), "no picker is built before F (the first paint)"
        await pilot.press("F")
        await settle(app, pilot)
        assert isinstance(app.focused, Select) and app.focused.id == "f-agent"
        line = bar_line(app)
        assert [p for p in PROMPTS if p in line] == list(PROMPTS), line
        await pilot.press("space")  # the agent list: the store's agents (the facets)
        await settle(app, pilot)
        text = screen_text(app)
        assert all(agent in text for agent in AGENTS), text
        await pilot.press("escape", "escape")  # the list, then the bar
        await settle(app, pilot)
        assert not app.query_one("#filter-bar").display
        await pilot.press("F")  # a second F: the same pickers, opened again
        await settle(app, pilot)
        assert len(app.query(Select)) == len(PROMPTS)
        assert app.query_one("#filter-bar").display and app.focused.id == "f-agent"


async def test_filters_set_before_the_first_F_show_in_its_pickers(workspace: Path) -> None:
    """A drill-down (another pane's cell) and the palette's "show unlabelled only" set
    the filter before the pickers exist; F then shows them picked, and opening the bar
    does not change the rows."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.show_filter(TraceFilter(agent="react", query_class="code"))
        await settle(app, pilot)
        await pilot.press("ctrl+p", *"show unlabelled only")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        before = status(app)
        assert "(filtered;" in before
        assert pane.rows and all(
            r.agent == "react" and r.query_class == "code" and r.feedback is None for r in pane.rows
        )
        await pilot.press("F")
        await settle(app, pilot)
        line = bar_line(app)
        assert "react" in line and "code" in line and "unlabelled" in line, line
        assert "agent" not in line and "class" not in line, line  # picked, not prompts
        assert rows_part(status(app)) == rows_part(before)
        await pilot.press("tab", "tab", "tab", "tab", "tab", "space")  # the time picker
        await settle(app, pilot)
        await pilot.press("down", "enter")  # last hour: no trace of the fixture
        await settle(app, pilot)
        assert not pane.rows and "0 of 0 rows" in status(app)


async def test_the_table_has_the_keys_while_the_store_opens(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first frame comes before the store is open: the table already has the focus
    and the footer its keys (no loading spinner over it), and the rows come in place."""
    from jarvis_tui.ui.widgets.footer import KeyFooter
    from jarvis_tui.workspace import WorkspaceSession

    release = threading.Event()
    opened = WorkspaceSession.open_traces

    def slow_open(self, **kwargs):
        release.wait(60)  # the test lets it open once it has looked
        return opened(self, **kwargs)

    monkeypatch.setattr(WorkspaceSession, "open_traces", slow_open)
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            await wait_until(pilot, lambda: bool(app.query_one(KeyFooter).shown_actions))
            assert "Opening trace store" in status(app)
            assert isinstance(app.focused, TraceTable) and app.input_mode() == "NAV"
            assert not app.query(LoadingIndicator)
            assert "cycle_sort" in app.query_one(KeyFooter).shown_actions
        finally:
            release.set()
        await settle(app, pilot)
        assert "rows 1–" in status(app) and isinstance(app.focused, TraceTable)


async def test_the_cyclic_gc_is_back_on_once_the_app_is_up(workspace: Path) -> None:
    """`jarvis-tui` starts with the cyclic GC off (cli._open_app: the first paint's
    objects live as long as the app); the app turns it back on at its first frame, so a
    long session's garbage is still collected."""
    import gc

    gc.disable()
    try:
        app = JarvisApp(workspace)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert "rows 1–" in status(app)
            assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


async def test_the_cyclic_gc_is_back_on_when_the_store_cannot_be_opened(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first collect-and-freeze waits for the first rows; a store that fails to open
    brings no rows, and the GC comes back on all the same."""
    import gc

    from jarvis_tui.workspace import WorkspaceError, WorkspaceSession

    def failing_open(self, **kwargs):
        raise WorkspaceError("traces.db: locked by a test")

    monkeypatch.setattr(WorkspaceSession, "open_traces", failing_open)
    gc.disable()
    try:
        app = JarvisApp(workspace)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: "Cannot open the trace store" in status(app))
            await settle(app, pilot)
            assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
