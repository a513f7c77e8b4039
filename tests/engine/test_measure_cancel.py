"""Cancelling a measurement (issue 10, finding 6): a count from the start, a cancel
that stops the local model inside a batch, and a cancelled measurement reported as
cancelled (partial), never as failed."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from jarvis_tui.demo import build_demo
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.evals.measure import measure_options, measure_trial
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.paths import Workspace


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("mcancel") / "ws", traces=1200, seed=4)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


def first_trial(home: Path) -> tuple[str, list, dict]:
    with OptimizationStore(home / "optimize.db") as store:
        run_id = store.list_runs()[0]["run_id"]
        run = store.get_run(run_id)
        return run_id, run.trials, store.get_trial_meta(run_id)


def test_cancelled_when_every_sample_done_failed_is_cancelled_not_failed(home: Path) -> None:
    ws = Workspace(home)
    run_id, trials, meta = first_trial(home)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 2:
            cancel.set()

    with ChatServer({"*": lambda user, _s: ""}) as server:  # every answer empty: an error
        opts, _ = measure_options(trials, meta, ws, run_estimate=True,
                                  env={"JARVIS_TUI_EVAL_URL": server.url})  # fmt: skip
        done = measure_trial(ws, run_id, trials[0].trial_id, opts, cancel=cancel,
                             progress=progress)  # fmt: skip
    assert seen[0] == (0, 2 * done.total)  # a count before the first answer arrives
    assert done.cancelled and done.partial and done.trial_id is None
    assert 2 <= done.samples < done.total
    assert "all failed (empty answer): nothing saved" in done.note
    _, after, _ = first_trial(home)
    assert len(after) == len(trials)  # nothing saved


def test_a_cancelled_measurement_with_answers_is_saved_as_cancelled(home: Path) -> None:
    ws = Workspace(home)
    run_id, trials, meta = first_trial(home)
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 3:
            cancel.set()

    with ChatServer({"*": lambda user, _s: "an answer"}) as server:
        opts, _ = measure_options(trials, meta, ws, run_estimate=True,
                                  env={"JARVIS_TUI_EVAL_URL": server.url})  # fmt: skip
        done = measure_trial(ws, run_id, trials[0].trial_id, opts, cancel=cancel,
                             progress=progress)  # fmt: skip
    assert done.trial_id and done.cancelled and done.partial and done.samples < done.total


def test_a_finished_measurement_is_not_cancelled(home: Path) -> None:
    ws = Workspace(home)
    run_id, trials, meta = first_trial(home)
    with ChatServer({"*": lambda user, _s: "an answer"}) as server:
        opts, _ = measure_options(trials, meta, ws, run_estimate=True,
                                  env={"JARVIS_TUI_EVAL_URL": server.url})  # fmt: skip
        done = measure_trial(ws, run_id, trials[0].trial_id, opts, cancel=threading.Event())
    assert done.trial_id and not done.cancelled and not done.partial


class SetAfter(threading.Event):
    """An event that reads as set from its *n*-th check on (what a user's x does while
    the model is generating): deterministic, no timing."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n


def test_cancel_stops_the_local_model_inside_a_batch(tmp_path_factory) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from jarvis_tui.evals import LocalGenerator
    from jarvis_tui.evals.generators import GenerationSettings
    from jarvis_tui.evals.sets import EvalSample
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    gen = LocalGenerator(ensure_tiny_lm(tmp_path_factory.mktemp("models")), batch_size=8)
    samples = [EvalSample(f"r{i}", f"question {i}?", "an answer") for i in range(4)]
    cancel = SetAfter(3)  # clear before the batch and at its first token, set at the next
    out = gen.generate(samples, GenerationSettings(max_tokens=32), cancel=cancel)
    # the batch stopped at the cancel: its cut-short answers are not kept
    assert out == [None] * 4
    assert cancel.checks < 10  # checked per token, not 32 tokens later
