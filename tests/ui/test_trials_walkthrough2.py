"""Trials findings of the second new-user walkthrough (22, 23, 25, 28, 33, 38).

What is checked is what the user sees (the screen read back from the SVG screenshot,
the notifications) and what is written (the recipe file, optimize.db).
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from textual.widgets import Input

from jarvis_tui.cli import main
from jarvis_tui.learning.optimize import ObjectiveBound, OptimizationStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import ConfigFormScreen, PromptScreen
from jarvis_tui.ui.testing import record_notices, settle, wait_until

from .test_trials_screens import RUN, open_trials, press, screen, screen_lines, status_lines

FIXTURE = Path(__file__).resolve().parents[2].parent / "shared/fixtures/openjarvis-2026-08"


def row_of(app: JarvisApp, trial_id: str) -> str:
    return next(line for line in screen_lines(app) if trial_id in line)


async def set_bounds(app: JarvisApp, pilot, text: str) -> None:
    await press(app, pilot, "B")
    assert isinstance(app.screen, PromptScreen)
    app.screen.query_one(Input).value = text
    await press(app, pilot, "enter")


async def test_bounds_follow_the_run_switched_to_and_w_exports_the_best_within_them(
    demo_copy, capsys
) -> None:
    home = demo_copy(traces=1500, seed=3)
    # a newer run that stops early (patience 1): the app opens on it
    assert main(["optimize", "--home", str(home), "--trials", "8", "--patience", "1",
                 "--seed", "1"]) == 0  # fmt: skip
    capsys.readouterr()
    with OptimizationStore(home / "optimize.db") as store:
        runs = store.list_runs()
        newest, demo_run = runs[0]["run_id"], runs[-1]["run_id"]
        run = store.get_run(demo_run)
    bound = ObjectiveBound.parse("cost <= 0.0001")
    stored_best = run.best_trial.trial_id
    assert not bound.satisfied_by(run.best_trial)  # the demo's best breaks the bound
    within = max((t for t in run.trials if bound.satisfied_by(t)), key=lambda t: t.accuracy)

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        seen = record_notices(app)
        assert newest in status_lines(app)
        # 25 (W2 24): c is not offered on an early-stopped run; the hint says what is
        await press(app, pilot, "c")
        assert seen == [] and "s start a new run (more patience gives more" in screen(app)

        # 22: bounds set on one run apply to the run switched to (and after r)
        await set_bounds(app, pilot, "cost <= 0.0001")
        await press(app, pilot, "<")
        assert demo_run in status_lines(app)
        assert "bounds cost <= $0.0001" in status_lines(app)
        assert "×" in row_of(app, stored_best)
        assert "★" in row_of(app, within.trial_id)
        await press(app, pilot, "r")
        assert "×" in row_of(app, stored_best) and "★" in row_of(app, within.trial_id)

        await press(app, pilot, "w")
        assert isinstance(app.screen, PromptScreen)
        assert f"writes trial {within.trial_id}" in screen(app)
        await press(app, pilot, "enter")
        recipe = tomllib.loads((home / "recipes" / f"{demo_run}-best.toml").read_text())
        assert recipe["recipe"]["name"] == f"optimized-{within.trial_id}"
        assert any(f"(trial {within.trial_id}, best within bounds cost <= $0.0001)" in s
                   for s in seen), seen  # fmt: skip
        with OptimizationStore(home / "optimize.db") as store:  # OpenJarvis's best kept
            assert store.get_run(demo_run).best_trial.trial_id == stored_best

        # every trial outside the bounds: w says so
        await set_bounds(app, pilot, "accuracy >= 0.99")
        await press(app, pilot, "w")
        n = len(run.trials)
        assert any(f"nothing to export: all {n} trials are outside the bounds (accuracy >= 0.99)"
                   in s for s in seen), seen  # fmt: skip
        assert not isinstance(app.screen, PromptScreen)


async def test_a_rejection_hint_stays_with_its_run_and_the_start_form_keeps_the_trials(
    demo_copy,
) -> None:
    app = JarvisApp(demo_copy(traces=1500, seed=3))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "v", "s")
        app.screen.query_one("#field-0", Input).value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Proposal" in screen(app), what="a proposal")
        await press(app, pilot, "n")
        app.screen.query_one(Input).value = "too slow"
        await pilot.press("enter")
        for _ in range(2):
            await wait_until(pilot, lambda: "Proposal" in screen(app) or not pane.running)
            if pane.running:
                await pilot.press("y")
                await pilot.pause()
        await wait_until(pilot, lambda: "completed" in status_lines(app), what="the run's end")
        await settle(app, pilot)
        assert "rejected: too slow" in screen(app)  # its own run: the hint stays
        await press(app, pilot, "<")
        assert "too slow" not in screen(app)  # another run: not its hint

        # 33: the start form offers the trial count used last, as it does the patience
        await press(app, pilot, "s")
        assert isinstance(app.screen, ConfigFormScreen)
        assert app.screen.query_one("#field-0", Input).value == "2"
        assert "last used: 2" in screen(app)
        await press(app, pilot, "escape")


async def test_enter_on_a_list_field_submits_the_form_as_the_hint_says(demo_copy) -> None:
    app = JarvisApp(demo_copy(traces=1500, seed=3))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        seen = record_notices(app)
        shown = await press(app, pilot, "a")
        assert "enter / ctrl+s: queue" in shown
        await press(app, pilot, "space")  # space opens the list, escape closes it
        await press(app, pilot, "escape")
        assert isinstance(app.screen, ConfigFormScreen)
        # open it again, enter picks another option (the form stays: a new config)
        before = screen(app)
        await press(app, pilot, "space", "down", "enter")
        assert isinstance(app.screen, ConfigFormScreen) and screen(app) != before
        shown = await press(app, pilot, "enter")  # the focus is on the closed list field
        assert not isinstance(app.screen, ConfigFormScreen)
        assert any("queued: evaluated first when you start a run" in s for s in seen), seen
        assert "1 queued config runs first when you start a run" in shown


async def test_an_openjarvis_run_has_no_wall_time_to_show(tmp_path: Path) -> None:
    home = tmp_path / "oj"
    shutil.copytree(FIXTURE, home)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await settle(app, pilot, ignore=RUN)
        head = status_lines(app)
        assert "wall –" in head and "0.0 s wall" not in head, head


async def test_a_run_stored_with_field_names_in_its_reasons_shows_them_as_typed(
    demo_copy,
) -> None:
    home = demo_copy(traces=1500, seed=3)
    with OptimizationStore(home / "optimize.db") as store:  # as an older version wrote it
        run_id = store.list_runs()[0]["run_id"]
        first = store.get_run(run_id).trials[0].trial_id
        meta = store.get_trial_meta(run_id).get(first, {})
        meta["infeasible"] = ["mean_latency_seconds <= 2", "total_cost_usd <= 1e-05"]
        store.save_trial_meta(run_id, first, meta)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "g")
        shown = screen(app)
        assert "×" in row_of(app, first)
        assert "infeasible:" in shown and "latency <= 2s, cost <= $1e-05" in shown, shown
        assert "mean_latency_seconds" not in shown
