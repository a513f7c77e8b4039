"""Trials pane, a new user's walkthrough (issue 10, findings 13, 25, 28): what the
screen says is what the pane does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import ConfigFormScreen, PromptScreen
from jarvis_tui.ui.testing import record_notices, settle, wait_until

from .test_trials_screens import RUN, open_trials


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("accuracy >= 1.5", "accuracy 1.5 is out of range: accuracy is 0–1"),
        ("latency < 2s", "strict < is not supported: use <="),
    ],
)
async def test_bounds_form_refuses_an_out_of_range_or_strict_bound(demo, typed, reason) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        await pilot.press("B")
        await pilot.pause()
        app.screen.query_one(Input).value = typed
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)  # still open: nothing was set
        assert reason in str(app.screen.query_one("#prompt-error", Static).render())
        await pilot.press("escape")
        await settle(app, pilot, ignore=RUN)
        assert "bounds" not in str(pane.query_one("#trials-status", Static).render())


async def test_export_with_no_run_at_all_says_start_one(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await pilot.press("w")
        await settle(app, pilot, ignore=RUN)
    assert "no optimization run yet: start one with s" in notices
    assert not any("no best trial" in n for n in notices)


async def test_queueing_a_config_already_replayed_is_refused_with_the_trial(demo) -> None:
    app = JarvisApp(demo)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        chosen = next(t for t in pane.view.trials if t.trial_id == pane.selected)
        await pilot.press("a")  # the form starts from the selected trial's config
        await settle(app, pilot, ignore=RUN)
        assert isinstance(app.screen, ConfigFormScreen)
        await pilot.press("ctrl+s")  # unchanged
        await settle(app, pilot, ignore=RUN)
        assert not isinstance(app.screen, ConfigFormScreen)
    said = [n for n in notices if "same config as" in n]
    assert said == [
        f"same config as {chosen.trial_id} (accuracy {chosen.accuracy:.3f}): a trace replay "
        "gives the same numbers, so it is not queued; change a value"
    ]
    assert not any(n.startswith("queued") for n in notices)


async def test_start_form_keeps_the_real_default_beside_the_last_value(demo) -> None:
    from .test_trials_screens import screen

    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        await pilot.press("s")
        await settle(app, pilot, ignore=RUN)
        form = app.screen
        assert isinstance(form, ConfigFormScreen)
        first = screen(app)
        assert "default: 5" in first and "last used" not in first
        form.query_one("#field-0", Input).value = "1"  # trials: one, to be quick
        form.query_one("#field-1", Input).value = "3"  # patience
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not pane.running and pane.view.status != "starting",
                         what="the one-trial run ends")  # fmt: skip
        await settle(app, pilot, ignore=RUN)
        await pilot.press("s")
        await settle(app, pilot, ignore=RUN)
        form = app.screen
        assert isinstance(form, ConfigFormScreen)
        assert form.query_one("#field-1", Input).value == "3"  # the value used last time
        again = screen(app)
        assert "default: 5 · last used: 3" in again and "default: 3" not in again
