"""Configs pane `s`: the proposals shown are the engine's (``propose_configs``), also
for hostile configs a user may have on disk: a temperature out of range, other tables
the write keeps, an ``agent`` that is not a table, a config that is a symbolic link.
One bad agent is a line on the screen; the others are still proposed.
"""

from __future__ import annotations

import io
import os
import tomllib
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from jarvis_tui.configs.diff import toml_diff
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.testing import settle
from tests.ui.conftest import make_traces

REACT = """\
# written by hand
[agent]
name = "react"
tools = ["calculator"]
max_turns = 3
temperature = 5.0
system_prompt = "be brief"

[intelligence]
model = "qwen3:8b"
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(make_traces(300))
    store.close()
    (home / "agents").mkdir()
    (home / "agents" / "react.toml").write_text(REACT)
    return home


def diff_text(app: JarvisApp) -> str:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(app.query_one("#configs-diff-body", Static).content)
    return console.export_text()


def status(app: JarvisApp) -> str:
    return str(app.query_one("#configs-status", Static).render())


def engine_proposals(home: Path) -> list:
    store = TraceStore(home / "traces.db")
    try:
        return AgentConfigEvolver(store, config_dir=home / "agents").propose_configs()
    finally:
        store.close()


async def run_evolver(app: JarvisApp, pilot) -> ConfigsPane:
    await settle(app, pilot)
    await pilot.press("C")
    await settle(app, pilot)
    await pilot.press("s")
    await settle(app, pilot)
    return app.query_one(ConfigsPane)


async def test_hostile_configs_are_proposed_as_the_engine_proposes(home: Path) -> None:
    # An [agent] that is a string, not a table: the pane's own copy of the merge
    # failed on it (dict("oops")) and no agent got a proposal.
    (home / "agents" / "simple.toml").write_text('agent = "oops"\n')
    engine = engine_proposals(home)
    assert [p.agent for p in engine] == ["react", "simple"] and not any(p.error for p in engine)
    app = JarvisApp(home)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = await run_evolver(app, pilot)
        assert [p.agent for p in pane.proposals] == ["react", "simple"]
        shown = diff_text(app)
        assert "react: evolver proposal" in shown
        # What is shown is what the engine would write: the out-of-range temperature
        # becomes the default, the [intelligence] table the write keeps is not "removed".
        for change in toml_diff(engine[0].current, engine[0].proposed):
            assert str(change) in shown, (str(change), shown)
        assert "agent.temperature: 5.0 → 0.3" in shown
        assert "intelligence" not in shown
        await pilot.press("y")
        await settle(app, pilot)
        assert "simple: evolver proposal" in diff_text(app)
        await pilot.press("n")
        await settle(app, pilot)
        assert pane.proposals == []
    react = tomllib.loads((home / "agents" / "react.toml").read_text())
    assert react["agent"]["temperature"] == 0.3 and react["agent"]["system_prompt"] == "be brief"
    assert react["agent"]["tools"] == engine[0].tools
    assert react["intelligence"] == {"model": "qwen3:8b"}
    assert (home / "agents" / "simple.toml").read_text() == 'agent = "oops"\n'  # skipped


async def test_an_agent_that_cannot_be_proposed_is_a_line_and_the_others_are_proposed(
    home: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.toml"
    outside.write_text('[agent]\nname = "simple"\ntools = ["x"]\nmax_turns = 2\n')
    os.symlink(outside, home / "agents" / "simple.toml")
    (engine_react, engine_simple) = engine_proposals(home)
    assert engine_simple.error and not engine_react.error
    app = JarvisApp(home)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = await run_evolver(app, pilot)
        assert [p.agent for p in pane.proposals] == ["react"]
        shown = diff_text(app)
        assert "react: evolver proposal" in shown
        assert "simple: no proposal:" in shown and "symbolic link" in shown, shown
        await pilot.press("n")
        await settle(app, pilot)
        assert pane.proposals == []
    assert (home / "agents" / "react.toml").read_text() == REACT
    assert outside.read_text() == '[agent]\nname = "simple"\ntools = ["x"]\nmax_turns = 2\n'


async def test_only_agents_that_cannot_be_proposed_say_why(home: Path, tmp_path: Path) -> None:
    (home / "agents" / "react.toml").unlink()
    outside = tmp_path / "elsewhere.toml"
    outside.write_text(REACT)
    os.symlink(outside, home / "agents" / "react.toml")
    os.symlink(outside, home / "agents" / "simple.toml")
    app = JarvisApp(home)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = await run_evolver(app, pilot)
        assert pane.proposals == []
        assert "could not be proposed for" in status(app), status(app)
        shown = diff_text(app)
        assert "react: no proposal:" in shown and "simple: no proposal:" in shown, shown
        await pilot.press("y")  # nothing to accept: nothing happens
        await settle(app, pilot)
    assert outside.read_text() == REACT
