"""Configs pane polish a new user asked for (issue 10): h / l move between the two
lists, the rollback refusal says itself once, and 80 columns keep a short date.

Screens are read back from the SVG screenshot, as a user sees them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.conftest import make_traces

from .test_trials_screens import screen, screen_lines


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(make_traces(300))
    ev = AgentConfigEvolver(store, config_dir=home / "agents")
    for agent in ("alpha", "react"):
        ev.write_config(agent, tools=["web_search"], max_turns=8, cause="manual", note="first")
        ev.write_config(agent, tools=["calculator"], max_turns=12, cause="evolver", note="more")
    ev.write_config("react", tools=["web_search"], max_turns=8, cause="manual", note="again")
    store.close()
    return home


async def keys(app: JarvisApp, pilot, *pressed: str) -> str:
    """Each key once the one before it is handled: the lists are filled by workers, and a
    j before its list is filled moves nothing."""
    for key in pressed:
        await pilot.press(key)
        await settle(app, pilot)
        if key == "C":  # the pane is built when first shown: its list comes after
            await wait_until(pilot, lambda: "agents in agents/" in screen(app),
                             what="the agents listed")  # fmt: skip
    return screen(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_h_and_l_move_between_agents_and_versions(home: Path, size) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        shown = await keys(app, pilot, "C")
        assert "alpha: version" in shown  # the first agent, its newest version selected
        shown = await keys(app, pilot, "l", "j")  # into Versions, one version down
        assert "alpha: version 1 → version 2 (current)" in shown
        assert "react:" not in shown
        shown = await keys(app, pilot, "h", "j")  # back to Agents, the next agent
        assert "react: version" in shown


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_versions_list_shows_when_each_version_was_written(home: Path, size) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await keys(app, pilot, "C")
        lines = screen_lines(app)
        header = next(line for line in lines if "Cause" in line and "Feedback" in line)
        assert "When" in header
        rows = [line for line in lines if re.search(r"▕.*\b(evolver|manual)\b", line)]
        assert len(rows) == 2, lines
        for row in rows:
            assert re.search(r"\b\d\d-\d\d\b", row), row


async def test_rollback_to_the_current_content_says_nothing_to_roll_back_once(
    home: Path,
) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await keys(app, pilot, "C", "j", "l", "j", "j")  # react, v1: the same as v3
        shown = await keys(app, pilot, "b")
        assert isinstance(app.screen, ConfirmScreen)
        assert shown.count("nothing to roll back") == 1, shown
        assert "Nothing will be written." in shown
