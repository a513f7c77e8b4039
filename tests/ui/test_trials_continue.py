"""Trials c and the state of a run around it (walkthrough W2 3, 9, 24): a run whose
evaluate mode was not stored goes on by replay and says so; c is not offered on an
early-stopped run (the hint says what would give more trials); a continued run that
ends fast shows its newest trials, not 'completed' over the old ones; M's notice of
what it measures with goes when the measurement ends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import record_notices, settle, wait_until

from .test_trials_measured_progress import BlockingGenerator
from .test_trials_screens import RUN, open_trials, press, screen, screen_lines, status_lines


def rewrite_run(home: Path, *, status: str, message: str | None = None, drop=()) -> str:
    """The demo's one run, stored again with *status* (and *message*), without *drop*
    keys in its meta (as an older jarvis-tui wrote it). Returns its id."""
    with OptimizationStore(home / "optimize.db") as store:
        run_id = store.list_runs()[0]["run_id"]
        run = store.get_run(run_id)
        run.status = status
        store.save_run(run)
        meta = {k: v for k, v in store.get_run_meta(run_id).items() if k not in drop}
        if message is not None:
            meta["message"] = message
        store.save_run_meta(run_id, meta)
    return run_id


def footer(app: JarvisApp) -> str:
    return screen_lines(app)[-1]


async def test_c_on_a_run_without_a_stored_mode_replays_and_says_so(demo_copy) -> None:
    home: Path = demo_copy()
    rewrite_run(home, status="stopped", drop=("evaluate",))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: not pane.running, what="the run's end")
        await settle(app, pilot)
        shown = " ".join(screen(app).split())
        assert "by replay: how it scored its trials was not stored (an older run)" in shown
        assert "25/25 trials" in status_lines(app)


async def test_c_is_not_offered_on_an_early_stopped_run_and_the_hint_says_s(demo_copy) -> None:
    home: Path = demo_copy()
    rewrite_run(home, status="completed",
                message="early stop: no better accuracy in the last 5 trials")  # fmt: skip
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        assert "Continue run" not in footer(app), footer(app)
        seen = record_notices(app)
        await press(app, pilot, "c")
        assert seen == [] and "running" not in status_lines(app)  # c does nothing here
        assert "s start a new run (more patience gives more trials)" in screen(app)
        assert "c continue" not in screen(app)


async def test_c_on_a_stopped_run_offers_it_and_the_hint_names_it(demo_copy) -> None:
    home: Path = demo_copy()
    rewrite_run(home, status="stopped")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        assert "Continue run" in footer(app), footer(app)
        assert "s start · c continue" in screen(app)


async def test_a_fast_continued_run_shows_its_newest_trials_once_it_ends(
    demo_copy, monkeypatch
) -> None:
    """W2 9: the header said 'completed · 0/1 trial' over 'no rows' until the stored run
    was read back (the last snapshots of a fast run were dropped at its end)."""
    import jarvis_tui.ui.panes.trials as trials

    home: Path = demo_copy()
    rewrite_run(home, status="stopped")
    gate, armed = threading.Event(), threading.Event()
    read_view = trials.read_view

    def slow_read(store, run_id):  # the stored run's read-back held until the test looks
        if armed.is_set():
            gate.wait(20)
        return read_view(store, run_id)

    monkeypatch.setattr(trials, "read_view", slow_read)
    app = JarvisApp(home)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            pane = await open_trials(app, pilot)
            armed.set()
            await pilot.press("c")
            await wait_until(pilot, lambda: not pane.running, what="the run's end")
            await pilot.pause()
            assert "25/25 trials" in status_lines(app), status_lines(app)
            gate.set()
            await settle(app, pilot, ignore=RUN)
            assert "25/25 trials" in status_lines(app)
    finally:
        gate.set()


@pytest.fixture
def fake(monkeypatch) -> BlockingGenerator:
    import jarvis_tui.evals.setup as setup

    gen = BlockingGenerator()
    monkeypatch.setattr(setup, "build_generator", lambda *a, **k: (gen, None))
    return gen


async def test_the_tiny_model_notice_goes_when_the_measurement_ends(
    demo_copy, fake: BlockingGenerator, monkeypatch
) -> None:
    monkeypatch.delenv("JARVIS_TUI_EVAL_URL", raising=False)
    monkeypatch.delenv("JARVIS_TUI_EVAL_LOCAL", raising=False)
    app = JarvisApp(demo_copy())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        await pilot.press("M")
        await wait_until(pilot, fake.started.is_set, what="the trial's samples")
        assert "a tiny model for trying the loop" in " ".join(screen(app).split())
        await pilot.press("x")
        await wait_until(pilot, lambda: pane.measuring is None, what="the measurement's end")
        await settle(app, pilot)
        shown = " ".join(screen(app).split())
        assert "cancelled" in shown
        assert "a tiny model for trying the loop" not in shown


async def test_the_help_says_what_c_continues_and_how(demo_copy) -> None:
    from jarvis_tui.ui.testing import screen_words

    app = JarvisApp(demo_copy())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "question_mark")
        shown = screen_words(app)  # the whole help, scrolled or not
        said = "c continues a stopped run, scored as it was started (a measured run stays measured"
        assert said in shown, shown
        assert "an early-stopped run does not go on: s starts a new one with more patience" in (
            shown
        )


# --------------------------------------------------------------------------- 80x24


async def test_at_80x24_the_detail_is_under_the_table_the_whole_width(demo_copy) -> None:
    """W2 20: beside the table the detail had ~17 columns ('accuracy 0.677 ·' a line)."""
    app = JarvisApp(demo_copy())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_trials(app, pilot)
        assert any("accuracy 0." in line and "latency" in line
                   for line in screen_lines(app)), screen(app)  # fmt: skip


async def test_at_80x24_the_header_keeps_the_trial_count_and_why_it_stopped(demo_copy) -> None:
    home: Path = demo_copy()
    why = "early stop: no better accuracy within the bounds (latency <= 8s) in the last 3 trials"
    rid = rewrite_run(home, status="completed", message=why)
    with OptimizationStore(home / "optimize.db") as store:
        meta = store.get_run_meta(rid)
        meta["bounds"] = [["mean_latency_seconds", "<=", 8.0]]
        store.save_run_meta(rid, meta)
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_trials(app, pilot)
        head = status_lines(app)
        assert "completed" in head and "24/24 trials" in head, head
        assert "early stop: no better accuracy" in head, head


async def test_at_80x24_a_proposal_with_no_trials_gets_the_plots_rows(demo_copy) -> None:
    """W2 30: the empty plot ('no trials yet') took 10 rows, the proposal 4."""
    app = JarvisApp(demo_copy())
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "v")
        await press(app, pilot, "s")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "proposal waiting" in status_lines(app), what="proposal")
        await settle(app, pilot, ignore=RUN)
        shown = screen(app)
        assert "no trials yet" not in shown
        params = sorted(pane.pending[0].params) if pane.pending else []
        listed = [p for p in params if any(p in line for line in screen_lines(app)[:-4])]
        assert len(listed) >= 4, shown  # the detail lists several params, not one
        await pilot.press("x")
        await wait_until(pilot, lambda: not pane.running, what="the run's end")


# --------------------------------------------------------------------------- text fields


async def test_an_empty_text_field_says_proposed_empty_without_a_stray_separator() -> None:
    """W2 36: its help line began ' · proposed: (none)' and its grey placeholder read
    'text', like a value."""
    from textual.app import App

    from jarvis_tui.learning.optimize.types import SearchDimension, SearchSpace
    from jarvis_tui.ui.screens.forms import ConfigFormScreen

    space = SearchSpace(dimensions=[SearchDimension("agent.system_prompt", "text")])
    app: App = App()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(ConfigFormScreen("Edit then accept", space,
                                               {"agent.system_prompt": ""},
                                               initial_label="proposed"))  # fmt: skip
        await pilot.pause()
        lines = [ln.strip("│ ") for ln in screen_lines(app)]  # the box's edges left out
        assert "proposed: (empty)" in lines, lines  # the whole line, nothing before it
        assert not any(ln.startswith("· proposed") for ln in lines)
        assert "agent.system_prompt      (empty)" in lines, lines  # the placeholder


async def test_the_bounds_prompt_says_how_long_bounds_hold(demo_copy) -> None:
    """W3 21: bounds set with B on a finished run were gone after a restart, unsaid."""
    app = JarvisApp(demo_copy())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        shown = " ".join((await press(app, pilot, "B")).split())
        assert "They hold while the app runs:" in shown, shown
        assert "a run started with them (s) keeps them, a finished run keeps its" in shown
