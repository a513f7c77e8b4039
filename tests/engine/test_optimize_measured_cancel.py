"""A measured optimization run stopped (x, or quit) mid-trial: the trial in progress is
abandoned at once, not measured to its last sample (walkthrough 39 and 43)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from jarvis_tui.evals import EvalTrialRunner, make_scorer
from jarvis_tui.evals.generators import Generation
from jarvis_tui.evals.sets import EvalSample, EvalSet
from jarvis_tui.learning.optimize import OptimizationStore, SearchDimension, SearchSpace
from jarvis_tui.learning.optimize.optimizer import OptimizationEngine, RunControl
from jarvis_tui.learning.optimize.optuna_proposer import OptunaProposer

SET = EvalSet(
    set_id="t",
    samples=[EvalSample(f"s{i}", f"q{i}?", f"item {i}", "general") for i in range(10)],
)
SPACE = SearchSpace(
    dimensions=[
        SearchDimension("intelligence.temperature", "continuous", low=0.0, high=1.0,
                        primitive="intelligence"),
    ]
)  # fmt: skip


class BlockingGenerator:
    """Answers the first 3 samples, then waits for the cancel (or 10 s, a safety)."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.waited_out = False

    def describe(self, _settings: Any) -> str:
        return "fake"

    def generate(self, samples, settings, *, cancel=None, progress=None):
        out: list[Generation | None] = [None] * len(samples)
        for i in range(3):
            out[i] = Generation(answer=samples[i].reference)
            if progress is not None:
                progress(i + 1, len(samples))
        self.answered.set()
        if cancel is None or not cancel.wait(10):
            self.waited_out = True
            out = [Generation(answer=s.reference) for s in samples]
        return out


def test_stop_abandons_the_measured_trial_in_progress(tmp_path: Path) -> None:
    gen = BlockingGenerator()
    runner = EvalTrialRunner(SET, gen, make_scorer("rouge"))
    control = RunControl()
    ended: list[Any] = []
    with OptimizationStore(tmp_path / "optimize.db") as store:
        engine = OptimizationEngine(SPACE, OptunaProposer(SPACE, seed=1), runner, store=store,
                                    max_trials=2)  # fmt: skip
        thread = threading.Thread(target=lambda: ended.append(engine.run(control=control)))
        thread.start()
        assert gen.answered.wait(30), "the trial never started"
        control.stop()  # what x does (and ctrl+q through it)
        thread.join(30)
        assert not gen.waited_out, "the trial was measured to its end after the stop"
        run = ended[0]
        assert run.status == "stopped"
        stored = store.get_run(run.run_id)
        assert stored is not None and stored.status == "stopped"
        assert stored.trials == []  # the trial in progress is dropped, not kept half done
        meta = store.get_run_meta(run.run_id)
    assert "abandoned" in str(meta.get("message", "")), meta


def test_a_whole_trial_before_the_stop_is_kept(tmp_path: Path) -> None:
    """The stop cuts only the trial in progress: one measured to its end stays."""

    class Whole:
        def describe(self, _settings: Any) -> str:
            return "fake"

        def generate(self, samples, settings, *, cancel=None, progress=None):
            control.stop()  # asked while the last sample is answered: it is whole
            return [Generation(answer=s.reference) for s in samples]

    control = RunControl()
    runner = EvalTrialRunner(SET, Whole(), make_scorer("rouge"))
    with OptimizationStore(tmp_path / "optimize.db") as store:
        run = OptimizationEngine(SPACE, OptunaProposer(SPACE, seed=1), runner, store=store,
                                 max_trials=3).run(control=control)  # fmt: skip
        assert run.status == "stopped"
        assert len(store.get_trials(run.run_id)) == 1
