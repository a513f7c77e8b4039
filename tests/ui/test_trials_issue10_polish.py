"""Trials pane polish a new user asked for (issue 10, second round).

Screens are read back from the SVG screenshot, as a user sees them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import PromptScreen
from jarvis_tui.ui.testing import record_notices

from .test_trials_screens import open_trials, press, status_lines


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


async def test_bounds_read_back_as_typed_and_the_hint_names_every_metric(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        seen = record_notices(app)
        await press(app, pilot, "B")
        assert isinstance(app.screen, PromptScreen)
        box = app.screen.query_one(Input)
        box.value = "latncy <= 8s"
        await pilot.press("enter")
        await pilot.pause()
        error = str(app.screen.query_one("#prompt-error", Static).render())
        hint = str(app.screen.query_one(".cf-help", Static).render())
        for metric in ("accuracy", "latency", "cost", "energy", "tokens"):
            assert metric in error and metric in hint, metric
        box.value = "latency <= 8s, cost <= 0.001"
        await press(app, pilot, "enter")
        assert "bounds latency <= 8s, cost <= $0.001" in status_lines(app)
        assert any("bounds: latency <= 8s, cost <= $0.001" in s for s in seen), seen
        assert not any("mean_latency_seconds" in s for s in seen), seen
        await press(app, pilot, "B")
        assert app.screen.query_one(Input).value == "latency <= 8s, cost <= $0.001"


async def test_start_form_reads_plainly_and_counts_one_bad_field_in_the_singular(
    demo: Path,
) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        shown = await press(app, pilot, "s")
        assert "`" not in shown
        assert "(and what M" in shown and "asks for)" in shown and "(and …" not in shown
        app.screen.query_one("#field-0", Input).value = "zero"
        shown = await press(app, pilot, "enter")
        assert "1 field marked ✗ needs fixing" in shown
        app.screen.query_one("#field-1", Input).value = "none"
        shown = await press(app, pilot, "enter")
        assert "2 fields marked ✗ need fixing" in shown


async def test_the_promote_dialog_names_the_version_it_will_write(demo: Path) -> None:
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        trial = next(t for t in pane.view.trials if t.trial_id == pane.selected)
        agent = trial.config.params.get("agent.name")
        shown = await press(app, pilot, "plus")
        if agent is None:
            app.screen.query_one(Input).value = "react"
            shown = await press(app, pilot, "enter")
            agent = "react"
        before = AgentConfigEvolver(trace_store=None, config_dir=demo / "agents")
        number = len(before.list_versions(agent)) + 1
        assert f"as version {number}" in shown
        assert f"recorded as version {number} (cause: promoted-trial)" in shown
        await press(app, pilot, "y")
    versions = AgentConfigEvolver(trace_store=None, config_dir=demo / "agents").list_versions(agent)
    assert versions[-1]["version"] == number and versions[-1]["cause"] == "promoted-trial"


async def test_the_queue_form_lists_fields_in_the_proposal_order(demo: Path) -> None:
    from textual.widgets import Label

    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "a")
        names = [str(label.render()).rstrip("…") for label in app.screen.query(".cf-name")]
        assert all(isinstance(label, Label) for label in app.screen.query(".cf-name"))
        assert len(names) > 3 and names == sorted(names), names
        assert names[0].startswith("agent.")
