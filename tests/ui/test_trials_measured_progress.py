"""A measured Trials run (s, evaluate measured) while a trial is being measured
(walkthrough 39 and 43): ctrl+q stops it at once and the app ends (it left a blank,
hung terminal for minutes), a second ctrl+q quits at once; the header counts the
samples answered."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from jarvis_tui.evals.generators import Generation
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials import TrialsPane
from jarvis_tui.ui.testing import settle, wait_until

from .test_trials_screens import open_trials, press, screen, status_lines


class BlockingGenerator:
    """Answers 3 samples, then waits: for the cancel (*obeys*), else for *gate*."""

    def __init__(self, *, obeys: bool = True) -> None:
        self.obeys = obeys
        self.started = threading.Event()
        self.cancel_seen = threading.Event()
        self.gate = threading.Event()

    def describe(self, _settings: Any) -> str:
        return "fake"

    def generate(self, samples, settings, *, cancel=None, progress=None):
        out: list[Generation | None] = [None] * len(samples)
        for i in range(3):
            out[i] = Generation(answer=samples[i].reference)
            if progress is not None:
                progress(i + 1, len(samples))
        self.started.set()
        if self.obeys and cancel is not None and cancel.wait(20):
            self.cancel_seen.set()
            return out
        self.gate.wait(20)
        return [Generation(answer=s.reference) for s in samples]


@pytest.fixture
def fake(monkeypatch) -> BlockingGenerator:
    import jarvis_tui.evals.setup as setup

    gen = BlockingGenerator()
    monkeypatch.setattr(setup, "build_generator", lambda *a, **k: (gen, None))
    return gen


async def start_measured_run(app: JarvisApp, pilot) -> TrialsPane:
    pane = await open_trials(app, pilot)
    await press(app, pilot, "s")
    app.screen.query_one("#field-0", Input).value = "1"
    app.screen.query_one("#field-2", Select).value = "measured"
    await pilot.press("ctrl+s")
    return pane


async def test_ctrl_q_during_a_measured_trial_abandons_it_and_quits(
    demo_copy, fake: BlockingGenerator
) -> None:
    home: Path = demo_copy()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_measured_run(app, pilot)
        await wait_until(pilot, fake.started.is_set, what="the trial's samples")
        await pilot.press("ctrl+q")
        assert fake.cancel_seen.wait(10), "ctrl+q did not cancel the trial being measured"
        await wait_until(pilot, lambda: app.return_code is not None, what="the app's end")
    with OptimizationStore(home / "optimize.db") as store:
        newest = store.list_runs()[0]
        assert newest["status"] == "stopped", newest
        assert store.get_trials(newest["run_id"]) == []  # the trial in progress: dropped


async def test_a_second_ctrl_q_quits_at_once_while_the_trial_holds_on(
    demo_copy, fake: BlockingGenerator
) -> None:
    fake.obeys = False  # an endpoint request in flight, say: it ends when it ends
    app = JarvisApp(demo_copy())
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await start_measured_run(app, pilot)
            await wait_until(pilot, fake.started.is_set, what="the trial's samples")
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert app.return_code is None, "quit while the trial still ran, nothing said"
            assert "quitting: stopping the optimization run" in screen(app)
            assert "ctrl+q again: quit now" in screen(app)
            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: app.return_code is not None, what="the app's end")
    finally:
        fake.gate.set()


async def test_x_abandons_the_trial_being_measured_and_the_run_ends_stopped(
    demo_copy, fake: BlockingGenerator
) -> None:
    """x said 'stopping after the current trial…' and waited for all its samples."""
    app = JarvisApp(demo_copy())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await start_measured_run(app, pilot)
        await wait_until(pilot, fake.started.is_set, what="the trial's samples")
        await pilot.press("x")
        assert fake.cancel_seen.wait(10), "x did not cancel the trial being measured"
        await wait_until(pilot, lambda: not pane.running, what="the run's end")
        await settle(app, pilot)
        shown = status_lines(app)
        assert "stopped" in shown and "0/1 trial" in shown, shown
        assert "stopped by the user (trial t-" in shown and "abandoned)" in shown, shown


def wall_seconds(header: str) -> float:
    import re

    found = re.search(r"(\d+(?:\.\d+)?) s wall", header)
    return float(found.group(1)) if found else -1.0


async def test_the_header_counts_the_samples_and_its_wall_clock_goes_on(
    demo_copy, fake: BlockingGenerator
) -> None:
    """It showed 'evaluating t-… (initial) · 0/1 trial · 0.0 s wall' for minutes: no
    sample count, the clock frozen while the trial sent no event."""
    app = JarvisApp(demo_copy())
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await start_measured_run(app, pilot)
            await wait_until(pilot, lambda: "answered 3/" in status_lines(app), what="count")
            assert "0/1 trial" in status_lines(app)
            # the fake now sends nothing more: the clock must still move on
            await wait_until(pilot, lambda: wall_seconds(status_lines(app)) >= 1.0,
                             timeout=15, what="the wall clock to move")  # fmt: skip
            assert "answered 3/" in status_lines(app)  # the tick keeps the count shown
            await pilot.press("x")
            await wait_until(pilot, lambda: "abandoned" in status_lines(app), what="the end")
    finally:
        fake.gate.set()


async def test_the_help_says_what_x_and_ctrl_q_do_to_a_measured_trial(demo_copy) -> None:
    from jarvis_tui.ui.testing import screen_words

    app = JarvisApp(demo_copy())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "question_mark")
        shown = screen_words(app)  # the whole help, scrolled or not
        assert "x stops (a trial being measured is abandoned, an estimate finishes)" in shown
        assert "ctrl+q stops a run or a measurement first (a second ctrl+q quits at once)" in (
            shown
        ), shown


async def test_c_on_a_stopped_measured_run_measures_its_new_trials_after_a_restart(
    demo_copy, fake: BlockingGenerator
) -> None:
    """W2 3: c continued a measured run by replay (estimates); the run's evaluate mode
    is kept with it (jt_run_meta, our own table), so a fresh app continues it measured."""
    home: Path = demo_copy()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await start_measured_run(app, pilot)
        await wait_until(pilot, fake.started.is_set, what="the trial's samples")
        await pilot.press("x")
        await wait_until(pilot, lambda: not pane.running, what="the run's end")
        await settle(app, pilot)
    fake.started.clear()
    fake.cancel_seen.clear()
    app = JarvisApp(home)  # a restart: what c does comes from optimize.db
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        assert "stopped" in status_lines(app)
        await pilot.press("c")
        await wait_until(pilot, lambda: "answered 3/" in status_lines(app), what="measuring")
        assert fake.started.is_set()  # the generator answers: measured, not replayed
        assert "its new trials are measured, as it was started" in screen(app)
        await pilot.press("x")
        assert fake.cancel_seen.wait(10)
        await wait_until(pilot, lambda: not pane.running, what="the run's end")
        await settle(app, pilot)
