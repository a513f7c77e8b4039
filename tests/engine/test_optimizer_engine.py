"""OptimizationEngine: the reference loop, and steering through RunControl.

The proposer and runner here are scripted, so every assertion is about the loop:
which proposal method runs when, what is persisted, what the control changes.
Steering happens inside the engine's own event callback (the engine calls it
synchronously), so nothing depends on thread timing.
"""

from __future__ import annotations

import os
import stat
import tomllib

import pytest

from jarvis_tui.learning.optimize import (
    ObjectiveBound,
    OptimizationStore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialFeedback,
    TrialResult,
)
from jarvis_tui.learning.optimize.optimizer import (
    OptimizationEngine,
    RunControl,
    export_best_recipe,
    trial_to_recipe_dict,
)
from jarvis_tui.learning.optimize.types import RunSummary

SPACE = SearchSpace(
    dimensions=[
        SearchDimension("intelligence.model", "categorical", ["a", "b", "c"], primitive="intelligence"),
        SearchDimension("intelligence.temperature", "continuous", low=0.0, high=1.0, primitive="intelligence"),
        SearchDimension("agent.max_turns", "integer", low=1, high=10, primitive="agent"),
    ],
    fixed={"engine.backend": "ollama"},
)  # fmt: skip

ACC = {"a": 0.6, "b": 0.7, "c": 0.8}
LAT = {"a": 0.5, "b": 1.0, "c": 3.0}


class FakeRunner:
    """Metrics from params: accuracy by model plus a temperature term; latency by model."""

    benchmark = "fake"
    is_estimate = False

    def __init__(self, accuracies: list[float] | None = None) -> None:
        self.seen: list[TrialConfig] = []
        self.accuracies = accuracies

    def run_trial(self, config: TrialConfig) -> TrialResult:
        self.seen.append(config)
        m = config.params["intelligence.model"]
        acc = (
            self.accuracies[len(self.seen) - 1]
            if self.accuracies
            else ACC[m] + 0.1 * config.params["intelligence.temperature"]
        )
        return TrialResult(
            trial_id=config.trial_id,
            config=config,
            accuracy=acc,
            mean_latency_seconds=LAT[m] * config.params["agent.max_turns"] / 5,
            total_cost_usd=0.001 * config.params["agent.max_turns"],
            samples_evaluated=100,
            summary=RunSummary(benchmark="fake", accuracy=acc),
        )


class FakeProposer:
    """Cycles through scripted params; records which method was called."""

    optimizer_model = "fake-model"

    def __init__(self, target: str = "", script: list[dict] | None = None) -> None:
        self.calls: list[str] = []
        self.rejections: list[tuple[str, str]] = []
        self.target = target
        self.i = 0
        self.script = script or [
            {"intelligence.model": m, "intelligence.temperature": t, "agent.max_turns": k}
            for m, t, k in [
                ("a", 0.1, 2), ("b", 0.2, 3), ("c", 0.3, 4), ("a", 0.9, 1), ("b", 0.5, 5),
                ("c", 0.0, 8), ("a", 0.4, 6), ("b", 0.8, 2), ("c", 0.7, 1), ("a", 0.2, 9),
            ]
        ]  # fmt: skip
        self.merge_candidates: list[list[str]] = []

    def _next(self, why: str) -> TrialConfig:
        self.calls.append(why)
        params = dict(self.script[self.i % len(self.script)])
        self.i += 1
        return TrialConfig(trial_id=f"p{self.i:02d}", params=params, reasoning=why)

    def propose_initial(self):
        return self._next("initial")

    def propose_next(self, history, traces=None, frontier_ids=None):
        return self._next("next")

    def propose_targeted(self, history, base_config, target_primitive, frontier_ids=None):
        return self._next(f"targeted:{target_primitive}")

    def propose_merge(self, candidates, history, frontier_ids=None):
        self.merge_candidates.append([c.trial_id for c in candidates])
        return self._next("merge")

    def analyze_trial(self, trial, summary, traces=None, sample_scores=None, per_benchmark=None):
        return TrialFeedback(
            summary_text=f"acc {summary.accuracy:.2f}", target_primitive=self.target
        )

    def note_rejection(self, config, reason):
        self.rejections.append((config.trial_id, reason))


@pytest.fixture
def store(tmp_path):
    s = OptimizationStore(tmp_path / "optimize.db")
    yield s
    s.close()


def test_runs_max_trials_persisting_each_and_calling_progress(store):
    progress = []
    engine = OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), store, max_trials=4,
                                early_stop_patience=10)  # fmt: skip
    run = engine.run(progress_callback=lambda n, m: progress.append((n, m)))
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert run.status == "completed"
    assert [t.trial_id for t in store.get_trials(run.run_id)] == ["p01", "p02", "p03", "p04"]
    back = store.get_run(run.run_id)
    assert back.status == "completed" and back.best_trial.trial_id == run.best_trial.trial_id
    assert run.trials[0].analysis.startswith("acc ")
    # best = the highest accuracy so far (c with temperature 0.3)
    assert run.best_trial.trial_id == "p03"
    assert {t.trial_id for t in back.pareto_frontier} == {t.trial_id for t in run.pareto_frontier}


def test_early_stop_after_patience_trials_without_improvement():
    runner = FakeRunner(accuracies=[0.5, 0.9, 0.8, 0.7, 0.6, 0.95, 0.1])
    events = []
    run = OptimizationEngine(SPACE, FakeProposer(), runner, max_trials=20,
                             early_stop_patience=3).run(on_event=events.append)  # fmt: skip
    assert len(run.trials) == 5  # 0.9 at trial 2, then three without improvement
    assert events[-1].kind == "finished" and "early stop" in events[-1].message


def test_strategy_merge_every_fifth_and_targeted_after_trial_two():
    prop = FakeProposer(target="agent")
    OptimizationEngine(SPACE, prop, FakeRunner(), max_trials=11, early_stop_patience=50).run()
    # trial 1 initial; after trials 1, 2: next (targeted only after trial 2);
    # after 3, 4: targeted; after 5: merge (the frontier has >= 2 members); ...
    assert prop.calls[:6] == [
        "initial",
        "next",
        "next",
        "targeted:agent",
        "targeted:agent",
        "merge",
    ]
    assert prop.calls[10] == "merge"  # after trial 10
    assert all(2 <= len(c) <= 3 for c in prop.merge_candidates)


def test_no_merge_when_frontier_has_one_member():
    # every trial identical: a single frontier member (ties are all on it, so use dominance)
    script = [{"intelligence.model": "c", "intelligence.temperature": 1.0, "agent.max_turns": 1}]
    script += [  # distinct configs, each dominated by the first
        {"intelligence.model": "a", "intelligence.temperature": t / 10, "agent.max_turns": 10}
        for t in range(9)
    ]
    prop = FakeProposer(script=script)
    OptimizationEngine(SPACE, prop, FakeRunner(), max_trials=7, early_stop_patience=50).run()
    assert "merge" not in prop.calls


def test_pause_enqueue_resume_evaluates_queued_config_first():
    control = RunControl()
    prop, runner = FakeProposer(), FakeRunner()
    hand = {"intelligence.model": "b", "intelligence.temperature": 0.55, "agent.max_turns": 7}
    seen_kinds = []

    def on_event(ev):
        seen_kinds.append(ev.kind)
        if ev.kind == "trial_done" and ev.trial_num == 2:
            control.pause()
        elif ev.kind == "paused":
            control.enqueue(hand)
            control.resume()

    run = OptimizationEngine(SPACE, prop, runner, max_trials=4, early_stop_patience=50).run(
        control=control, on_event=on_event
    )
    assert "paused" in seen_kinds
    assert runner.seen[2].params == hand  # the third trial is the queued config
    assert run.trials[2].config.reasoning.startswith("hand-written")
    assert len(run.trials) == 4
    assert prop.calls.count("initial") == 1 and len(prop.calls) == 3  # 3 proposals, 1 queued


def test_stop_between_trials_leaves_a_resumable_run(store):
    control = RunControl()

    def on_event(ev):
        if ev.kind == "trial_done" and ev.trial_num == 2:
            control.stop()

    engine = OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), store, max_trials=5,
                                early_stop_patience=50)  # fmt: skip
    run = engine.run(control=control, on_event=on_event)
    assert run.status == "stopped" and len(run.trials) == 2
    assert store.get_run(run.run_id).status == "stopped"

    prop2, runner2 = FakeProposer(), FakeRunner()
    engine2 = OptimizationEngine(SPACE, prop2, runner2, store, max_trials=5, early_stop_patience=50)
    resumed = engine2.run(resume_run_id=run.run_id)
    assert resumed.run_id == run.run_id and resumed.status == "completed"
    assert len(store.get_trials(run.run_id)) == 5 and len(runner2.seen) == 3
    assert prop2.calls[0] == "next"  # not "initial": the history came from the store
    meta = store.get_trial_meta(run.run_id)
    assert [meta[t.trial_id]["num"] for t in resumed.trials] == [1, 2, 3, 4, 5]


def test_review_reject_feeds_reason_back_then_accept_and_edit():
    control = RunControl(review=True)
    prop, runner = FakeProposer(), FakeRunner()
    decisions = iter(["reject", "accept", "edit", "accept"])
    edited = {"intelligence.model": "a", "intelligence.temperature": 0.05, "agent.max_turns": 1}

    def on_event(ev):
        if ev.kind == "review":
            d = next(decisions)
            if d == "reject":
                control.reject("latency too high for chat")
            elif d == "edit":
                control.accept(edited)
            else:
                control.accept()

    run = OptimizationEngine(SPACE, prop, runner, max_trials=3, early_stop_patience=50).run(
        control=control, on_event=on_event
    )
    assert prop.rejections == [("p01", "latency too high for chat")]
    assert [c.trial_id for c in runner.seen] == ["p02", "p03", "p04"]
    assert runner.seen[1].params == edited
    assert "edited by the reviewer" in run.trials[1].config.reasoning


def test_reject_needs_a_reason_and_a_waiting_proposal():
    control = RunControl(review=True)
    with pytest.raises(ValueError, match="no proposal"):
        control.accept()
    with pytest.raises(ValueError, match="why"):
        control.reject("   ")


def test_queued_config_outside_the_space_is_dropped_with_a_notice():
    control = RunControl()
    control.enqueue(
        {"intelligence.model": "zzz", "intelligence.temperature": 0.1, "agent.max_turns": 1}
    )
    notices = []
    run = OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), max_trials=1).run(
        control=control, on_event=lambda ev: ev.kind == "notice" and notices.append(ev.message)
    )
    assert len(run.trials) == 1 and run.trials[0].trial_id == "p01"
    assert notices and "queued config dropped" in notices[0]


def test_bounds_mark_trials_infeasible_and_keep_them_off_the_frontier(store):
    control = RunControl(bounds=[ObjectiveBound.parse("latency <= 1s")])
    engine = OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), store, max_trials=6,
                                early_stop_patience=50)  # fmt: skip
    run = engine.run(control=control)
    meta = store.get_trial_meta(run.run_id)
    for t in run.trials:
        assert bool(meta[t.trial_id]["infeasible"]) == (t.mean_latency_seconds > 1.0)
        if t.mean_latency_seconds > 1.0:
            assert t not in run.pareto_frontier
    assert run.best_trial.mean_latency_seconds <= 1.0
    assert store.get_run_meta(run.run_id)["bounds"] == [["mean_latency_seconds", "<=", 1.0]]


def test_bounds_changed_mid_run_remark_earlier_trials():
    control = RunControl()
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.kind == "trial_done" and ev.trial_num == 3:
            control.set_bounds([ObjectiveBound.parse("accuracy >= 0.85")])

    run = OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), max_trials=4,
                             early_stop_patience=50).run(control=control, on_event=on_event)  # fmt: skip
    last = events[-1]
    for t in run.trials:
        assert bool(last.meta[t.trial_id]["infeasible"]) == (t.accuracy < 0.85)
    assert any(e.kind == "notice" and "bounds changed" in e.message for e in events)


def test_merge_uses_the_picked_frontier_members():
    control = RunControl()
    prop = FakeProposer()

    def on_event(ev):
        if ev.kind == "trial_done" and ev.trial_num == 4:
            ids = [t.trial_id for t in ev.run.pareto_frontier]
            control.pick_for_merge(ids[-2:])

    OptimizationEngine(SPACE, prop, FakeRunner(), max_trials=6, early_stop_patience=50).run(
        control=control, on_event=on_event
    )
    assert len(prop.merge_candidates) == 1 and len(prop.merge_candidates[0]) == 2


def test_missing_backend_fails_the_run_with_the_reason(store):
    class NoBackend(FakeProposer):
        def propose_initial(self):
            raise ValueError("optimizer_backend is required to propose configurations")

    run = OptimizationEngine(SPACE, NoBackend(), FakeRunner(), store).run()
    assert run.status == "failed" and run.trials == []
    assert "optimizer_backend is required" in store.get_run_meta(run.run_id)["message"]


def test_unexpected_errors_are_not_swallowed():
    class Broken(FakeRunner):
        def run_trial(self, config):
            raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        OptimizationEngine(SPACE, FakeProposer(), Broken()).run()


def test_export_best_recipe_nested_atomic_owner_only(tmp_path):
    run = OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), max_trials=3).run()
    out = export_best_recipe(run, tmp_path / "sub" / "best.toml")
    data = tomllib.loads(out.read_text())
    best = run.best_trial
    assert data["intelligence"]["model"] == best.config.params["intelligence.model"]
    assert data["agent"]["max_turns"] == best.config.params["agent.max_turns"]
    assert data["engine"]["key"] == "ollama"  # fixed params are part of the recipe
    assert data["recipe"]["name"] == f"optimized-{best.trial_id}"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert run.best_recipe_path == str(out)
    assert [p.name for p in out.parent.iterdir()] == ["best.toml"]  # no temp file left


def test_export_refuses_no_best_trial_and_directories(tmp_path):
    engine = OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), max_trials=1)
    run = engine.run()
    with pytest.raises(ValueError, match="directory"):
        engine.export_best_recipe(run, tmp_path)
    run.best_trial = None
    with pytest.raises(ValueError, match="No best trial"):
        engine.export_best_recipe(run, tmp_path / "x.toml")
    assert not (tmp_path / "x.toml").exists()


def test_recipe_dict_keeps_unmapped_keys_in_its_own_table_and_drops_none():
    trial = TrialResult("t", TrialConfig("t", {"a": 1, "a.b": 2, "c.d": None, "e.f.g": "x"}))
    data = trial_to_recipe_dict(trial)
    assert data["jarvis_tui"]["params"] == {"a": 1, "a.b": 2, "e.f.g": "x"}
    assert "c" not in data and "c.d" not in data["jarvis_tui"]["params"]


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_engine_rejects_bad_limits(bad):
    with pytest.raises(ValueError):
        OptimizationEngine(SPACE, FakeProposer(), FakeRunner(), max_trials=bad)


def test_a_targeted_trial_records_the_trial_it_changed_as_parent(store) -> None:
    prop = FakeProposer(target="agent")
    run = OptimizationEngine(SPACE, prop, FakeRunner(), store, max_trials=5,
                             early_stop_patience=50).run()  # fmt: skip
    meta = store.get_trial_meta(run.run_id)
    ids = [t.trial_id for t in run.trials]
    sources = [meta[i]["source"] for i in ids]
    assert sources == ["initial", "next", "next", "targeted", "targeted"]
    assert [meta[i]["parent"] for i in ids] == [None, None, None, ids[2], ids[3]]


def test_an_exact_repeat_of_an_evaluated_config_is_not_evaluated_again() -> None:
    a = {"intelligence.model": "a", "intelligence.temperature": 0.1, "agent.max_turns": 2}
    b = {"intelligence.model": "b", "intelligence.temperature": 0.2, "agent.max_turns": 3}
    prop = FakeProposer(script=[a, a, b])
    notices = []
    run = OptimizationEngine(SPACE, prop, FakeRunner(), max_trials=2, early_stop_patience=50).run(
        on_event=lambda ev: ev.kind == "notice" and notices.append(ev.message)
    )
    assert [t.config.params for t in run.trials] == [a, b]
    assert any("repeats trial p01" in m for m in notices)


def test_a_proposer_stuck_on_one_config_gets_a_random_fallback() -> None:
    a = {"intelligence.model": "a", "intelligence.temperature": 0.1, "agent.max_turns": 2}
    prop = FakeProposer(script=[a])
    run = OptimizationEngine(SPACE, prop, FakeRunner(), max_trials=2, early_stop_patience=50,
                             seed=3).run()  # fmt: skip
    assert run.trials[1].config.params != a
    assert "random config" in run.trials[1].config.reasoning
