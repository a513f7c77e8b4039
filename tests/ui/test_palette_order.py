"""The palette runs the first match on enter: for "clear", the harmless entry comes
first (walkthrough 11: `ctrl+p` `clear` enter ran `traces: clear label` on the selected
trace instead of `traces: clear filters`)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from jarvis_tui.traces import TraceStore
from jarvis_tui.traces.store import TraceFilter
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import settle


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


def label(home: Path, trace_id: str) -> tuple:
    store = TraceStore(home / "traces.db")
    try:
        t = store.get(trace_id)
        assert t is not None
        return t.feedback, t.outcome
    finally:
        store.close()


async def test_clear_then_enter_clears_the_filters_not_the_label(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.set_filter(TraceFilter(labelled=True))
        await settle(app, pilot)
        assert "(filtered;" in status(app)
        selected = pane.rows[0].trace_id
        before = label(workspace, selected)
        assert before != (None, None)  # a labelled trace is selected
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"clear")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert "(filtered;" not in status(app) and "of 401" in status(app)
    assert label(workspace, selected) == before
