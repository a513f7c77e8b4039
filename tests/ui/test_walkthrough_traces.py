"""A new user's Traces walkthrough (issue 10): what the screen shows is what works."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from textual.widgets import Select, Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import settle


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


def summary(app: JarvisApp) -> str:
    return str(app.query_one("#filter-summary", Static).render())


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def test_refresh_keeps_the_agent_and_model_filters(workspace: Path) -> None:
    """Finding 1: `r` re-lists the agents and models for the pickers; the picked
    agent and model stay picked, in the bar and in the rows."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.query_one("#f-agent", Select).value = "simple"
        pane.query_one("#f-model", Select).value = "llama3.1:8b"
        pane.query_one("#f-labelled", Select).value = "unlabelled"
        await settle(app, pilot)
        before_status, before_summary = status(app), summary(app)
        assert "agent simple" in before_summary and "model llama3.1:8b" in before_summary
        rows = {r.trace_id for r in pane.rows}
        assert rows and all(r.agent == "simple" and r.model == "llama3.1:8b" for r in pane.rows)
        for _ in range(3):
            await pilot.press("r")
            await settle(app, pilot)
            assert summary(app) == before_summary
            assert status(app).split(" · ")[0] == before_status.split(" · ")[0]
            assert {r.trace_id for r in pane.rows} == rows
            assert pane.query_one("#f-agent", Select).value == "simple"
            assert pane.query_one("#f-model", Select).value == "llama3.1:8b"
