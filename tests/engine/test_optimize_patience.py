"""Early stop and bound texts (walkthrough findings 25, 29).

The patience counts trials as OpenJarvis does (the first trial sets the best
accuracy; each trial without a better one adds one); a trial outside the bounds never
brings a better accuracy, and the stop message says so. A trial's infeasible reasons
name the metrics as the user types them.
"""

from __future__ import annotations

from jarvis_tui.learning.optimize import (
    ObjectiveBound,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialResult,
)
from jarvis_tui.learning.optimize.optimizer import (
    OptimizationEngine,
    RunControl,
    apply_bounds,
    bound_text,
)
from jarvis_tui.learning.optimize.types import DEFAULT_OBJECTIVES

SPACE = SearchSpace(dimensions=[SearchDimension("agent.max_turns", "integer", low=1, high=99)])


class Proposer:
    """A new max_turns each time (the runner's script decides the metrics)."""

    optimizer_model = "fake-model"

    def __init__(self) -> None:
        self.i = 0

    def _next(self, *_a, **_k) -> TrialConfig:
        self.i += 1
        return TrialConfig(trial_id=f"p{self.i:02d}", params={"agent.max_turns": self.i})

    propose_initial = propose_next = propose_targeted = propose_merge = _next

    def analyze_trial(self, *_a, **_k):
        return None


class ScriptedRunner:
    """Accuracy and latency from a script, one pair per trial."""

    benchmark = "fake"
    is_estimate = False

    def __init__(self, rows: list[tuple[float, float]]) -> None:
        self.rows = rows
        self.n = 0

    def run_trial(self, config: TrialConfig) -> TrialResult:
        acc, lat = self.rows[self.n]
        self.n += 1
        return TrialResult(trial_id=config.trial_id, config=config, accuracy=acc,
                           mean_latency_seconds=lat, total_cost_usd=0.001,
                           samples_evaluated=10)  # fmt: skip


def _run(rows, patience, bounds=()):
    events = []
    run = OptimizationEngine(SPACE, Proposer(), ScriptedRunner(rows), max_trials=len(rows),
                             early_stop_patience=patience).run(
        control=RunControl(bounds=bounds), on_event=events.append)  # fmt: skip
    return run, events[-1].message


def test_patience_3_stops_after_three_trials_without_a_better_accuracy_not_two() -> None:
    # trial 1 sets the best; trials 2 and 3 bring nothing better: not yet
    rows = [(0.8, 1.0), (0.7, 1.0), (0.6, 1.0), (0.5, 1.0), (0.4, 1.0)]
    run, message = _run(rows, patience=3)
    assert len(run.trials) == 4
    assert message == "early stop: no better accuracy in the last 3 trials"


def test_with_bounds_the_stop_message_says_the_trials_were_outside_them() -> None:
    bound = ObjectiveBound.parse("latency <= 2s")
    # trial 1 has the highest accuracy but breaks the bound; 2 is the best within it
    rows = [(0.9, 5.0), (0.5, 1.0), (0.4, 1.0), (0.45, 1.0), (0.3, 1.0), (0.2, 1.0)]
    run, message = _run(rows, patience=3, bounds=[bound])
    assert len(run.trials) == 5 and run.best_trial.accuracy == 0.5
    assert message == ("early stop: no better accuracy within the bounds (latency <= 2s) "
                       "in the last 3 trials")  # fmt: skip
    # every trial outside: said as such, not "no better accuracy"
    run, message = _run([(0.9, 5.0), (0.8, 6.0), (0.7, 7.0), (0.6, 1.0)], patience=3,
                        bounds=[bound])  # fmt: skip
    assert len(run.trials) == 3 and run.best_trial is None
    assert message == "early stop: the last 3 trials are all outside the bounds (latency <= 2s)"


def test_infeasible_reasons_name_the_metrics_as_typed() -> None:
    bounds = [ObjectiveBound.parse("latency <= 8s"), ObjectiveBound.parse("cost <= 0.0001"),
              ObjectiveBound.parse("accuracy >= 0.7")]  # fmt: skip
    assert [bound_text(b) for b in bounds] == ["latency <= 8s", "cost <= $0.0001",
                                               "accuracy >= 0.7"]  # fmt: skip
    t = TrialResult(trial_id="t1", config=TrialConfig(trial_id="t1", params={}), accuracy=0.5,
                    mean_latency_seconds=9.0, total_cost_usd=0.01)  # fmt: skip
    meta: dict = {}
    apply_bounds([t], bounds, DEFAULT_OBJECTIVES, meta)
    assert meta["t1"]["infeasible"] == ["latency <= 8s", "cost <= $0.0001", "accuracy >= 0.7"]


def test_the_last_trial_of_the_budget_ends_the_run_as_reached_not_early_stop() -> None:
    """Walkthrough W3 2: a run that ran all 3 of 3 trials said 'early stop: …'."""
    run, message = _run([(0.8, 1.0), (0.7, 1.0), (0.6, 1.0)], patience=2)
    assert len(run.trials) == 3 and run.status == "completed"
    assert message == "reached 3 trials"
