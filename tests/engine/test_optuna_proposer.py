"""The offline proposer: valid, reproducible proposals from an Optuna study."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import pytest

from jarvis_tui.learning.optimize.optuna_proposer import MAX_TRIES, OptunaProposer
from jarvis_tui.learning.optimize.search_space import validate_config
from jarvis_tui.learning.optimize.types import (
    BenchmarkScore,
    ObjectiveBound,
    RunSummary,
    SampleScore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialResult,
)

MODELS = ["qwen2.5-coder:7b", "llama3.1:8b", 3, True, None, ["a", 1], {"k": "v"}]


def full_space() -> SearchSpace:
    """Every dimension type, with non-string categorical values."""
    return SearchSpace(
        dimensions=[
            SearchDimension(
                "intelligence.model", "categorical", list(MODELS), primitive="intelligence"
            ),
            SearchDimension(
                "intelligence.temperature",
                "continuous",
                low=0.0,
                high=1.0,
                primitive="intelligence",
            ),
            SearchDimension("agent.max_turns", "integer", low=1, high=8, primitive="agent"),
            SearchDimension(
                "tools.enabled", "subset", ["calculator", "web_search", 7], primitive="tools"
            ),
            SearchDimension("agent.system_prompt", "text", primitive="agent"),
            SearchDimension("engine.batch", "integer", low=1, high=4, primitive="engine"),
        ],
        fixed={"agent.system_prompt": "Be brief.", "engine.backend": "ollama"},
    )


def toy_metrics(params: dict[str, Any]) -> tuple[float, float, float]:
    """A simple deterministic objective: temperature and tools help, turns cost time."""
    acc = 0.4 + 0.3 * params["intelligence.temperature"] + 0.08 * len(params["tools.enabled"])
    lat = 0.4 * params["agent.max_turns"] + 0.3 * len(params["tools.enabled"])
    cost = 0.001 * params["agent.max_turns"] * params["engine.batch"]
    return acc, lat, cost


def evaluate(config: TrialConfig) -> TrialResult:
    acc, lat, cost = toy_metrics(config.params)
    return TrialResult(
        config.trial_id, config, accuracy=acc, mean_latency_seconds=lat, total_cost_usd=cost
    )


def run(proposer: OptunaProposer, n: int) -> list[TrialResult]:
    history: list[TrialResult] = []
    config = proposer.propose_initial()
    for _ in range(n):
        history.append(evaluate(config))
        config = proposer.propose_next(history)
    history.append(evaluate(config))
    return history


def assert_valid(space: SearchSpace, config: TrialConfig) -> None:
    assert validate_config(space, config.params) == []
    assert {d.name for d in space.dimensions} <= set(config.params)
    assert config.trial_id.startswith("t-") and len(config.trial_id) == 12
    assert config.reasoning


def constraint_values(frozen: Any) -> list[float]:
    """Constraint values as Optuna reads them (3.6: a system attr; 5: a dict property)."""
    cons = getattr(frozen, "constraints", None)
    if isinstance(cons, dict):
        return list(cons.values())
    return list(frozen.system_attrs.get("constraints") or [])


# ---------------------------------------------------------------- proposals


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random"])
def test_every_proposal_lies_in_the_space(sampler: str) -> None:
    space = full_space()
    p = OptunaProposer(space, seed=3, sampler=sampler)
    history = run(p, 25)
    for r in history:
        assert_valid(space, r.config)
        assert r.config.params["agent.system_prompt"] == "Be brief."  # text: kept, not sampled
    assert len({r.trial_id for r in history}) == len(history)
    # Every categorical value is reachable, including the non-string ones.
    seen = [r.config.params["intelligence.model"] for r in history]
    assert sum(1 for v in seen if not isinstance(v, str)) > 0
    names = {"nsga2": "NSGAIISampler", "tpe": "TPESampler", "random": "RandomSampler"}
    assert p.optimizer_model == f"optuna:{names[sampler]}"
    assert p.last_prompt == "" and p.extra_constraints == []


def test_initial_config_is_the_centre_of_the_space() -> None:
    space = full_space()
    c = OptunaProposer(space, seed=1).propose_initial()
    assert c.params == {
        "intelligence.model": "qwen2.5-coder:7b",
        "intelligence.temperature": 0.5,
        "agent.max_turns": 4,
        "tools.enabled": ["calculator", "web_search", 7],
        "agent.system_prompt": "Be brief.",
        "engine.batch": 2,
    }
    assert "starting point" in c.reasoning and "NSGA-II" in c.reasoning


def test_a_sample_in_place_of_a_rejected_starting_point_does_not_claim_to_be_it() -> None:
    """Finding W 8: a later sample's reasoning began 'starting point: fixed values …'."""
    p = OptunaProposer(full_space(), seed=1)
    first = p.propose_initial()
    p.note_rejection(first, "not this one")
    again = p.propose_initial()
    assert again.params != first.params
    assert "starting point: fixed values" not in again.reasoning
    assert again.reasoning.startswith("the starting point was rejected or evaluated already")


def test_no_warnings_and_no_info_logging(capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = OptunaProposer(full_space(), seed=2, bounds=[ObjectiveBound.parse("latency <= 2s")])
        run(p, 12)
    captured = capsys.readouterr()
    assert "Trial" not in captured.err and "Trial" not in captured.out


def test_same_seed_same_history_same_proposals() -> None:
    space = full_space()
    a, b, c = (OptunaProposer(space, seed=s) for s in (11, 11, 12))
    ha, hb, hc = run(a, 20), run(b, 20), run(c, 20)
    assert [r.config.params for r in ha] == [r.config.params for r in hb]
    assert [r.trial_id for r in ha] != [r.trial_id for r in hb]  # ids stay unique
    assert [r.config.params for r in ha] != [r.config.params for r in hc]
    # A fresh proposer given the same (foreign) history proposes the same config.
    x, y = OptunaProposer(space, seed=5), OptunaProposer(space, seed=5)
    assert x.propose_next(ha).params == y.propose_next(ha).params


def test_unknown_sampler_and_bad_objectives_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown sampler"):
        OptunaProposer(full_space(), sampler="cmaes-please")
    with pytest.raises(ValueError, match="at least one objective"):
        OptunaProposer(full_space(), objectives=[])


# ---------------------------------------------------------------- targeted and merge


def test_targeted_changes_only_the_target_primitive() -> None:
    space = full_space()
    p = OptunaProposer(space, seed=4)
    history = run(p, 6)
    base = TrialConfig(
        "t-base000001",
        {
            "intelligence.model": "llama3.1:8b",
            "intelligence.temperature": 0.25,
            "agent.max_turns": 6,
            "tools.enabled": ["web_search"],
            "agent.system_prompt": "Answer in French.",
            "engine.batch": 3,
            "engine.backend": "vllm",  # a key of space.fixed: kept as it is
            "stray.key": 1,  # neither: dropped, or the proposal would not validate
        },
    )
    models, temps = set(), set()
    for _ in range(6):
        c = p.propose_targeted(history, base, "intelligence")
        assert_valid(space, c)
        for key in (
            "agent.max_turns",
            "tools.enabled",
            "agent.system_prompt",
            "engine.batch",
            "engine.backend",
        ):
            assert c.params[key] == base.params[key], key
        assert "stray.key" not in c.params
        models.add(repr(c.params["intelligence.model"]))
        temps.add(c.params["intelligence.temperature"])
        assert "targeted at intelligence" in c.reasoning and "t-base000001" in c.reasoning
        history.append(evaluate(c))
    assert len(models) > 1 and len(temps) > 1

    # "tools" also matches the reference's singular prefix; unknown primitive: full sample.
    c = p.propose_targeted(history, base, "tools")
    assert c.params["intelligence.model"] == "llama3.1:8b"
    c = p.propose_targeted(history, base, "memory")
    assert_valid(space, c)
    assert "no dimension belongs to 'memory'" in c.reasoning


def test_targeted_samples_base_values_that_are_off_the_space() -> None:
    space = full_space()
    p = OptunaProposer(space, seed=4)
    base = TrialConfig("t-base000002", {"intelligence.model": "gpt-9", "agent.max_turns": 99})
    c = p.propose_targeted([], base, "tools")
    assert_valid(space, c)
    assert "off the space" in c.reasoning


def _result(tid: str, params: dict[str, Any], acc: float = 0.5) -> TrialResult:
    return TrialResult(
        tid, TrialConfig(tid, params), accuracy=acc, mean_latency_seconds=1.0, total_cost_usd=0.01
    )


def test_merge_combines_candidates_dimension_by_dimension() -> None:
    space = full_space()
    p = OptunaProposer(space, seed=1)
    base = {"agent.system_prompt": "first prompt", "engine.batch": 1}
    cands = [
        _result(
            "t-aaaaaaaaa1",
            {
                **base,
                "intelligence.model": "llama3.1:8b",
                "intelligence.temperature": 0.2,
                "agent.max_turns": 2,
                "tools.enabled": ["calculator", 7],
            },
        ),
        _result(
            "t-aaaaaaaaa2",
            {
                **base,
                "intelligence.model": 3,
                "intelligence.temperature": 0.4,
                "agent.max_turns": 3,
                "tools.enabled": ["web_search", 7],
                "agent.system_prompt": "second",
            },
        ),
        _result(
            "t-aaaaaaaaa3",
            {
                **base,
                "intelligence.model": 3,
                "intelligence.temperature": 0.9,
                "agent.max_turns": 3,
                "engine.batch": 4,
                "tools.enabled": ["calculator"],
            },
        ),
    ]
    c = p.propose_merge(cands, cands)
    assert_valid(space, c)
    assert c.params["intelligence.model"] == 3  # two of three
    assert c.params["intelligence.temperature"] == pytest.approx(0.5)
    assert c.params["agent.max_turns"] == 3  # mean 2.67, rounded
    assert c.params["engine.batch"] == 2  # mean 2.0
    assert c.params["tools.enabled"] == ["calculator", 7]  # each in 2 of 3
    assert c.params["agent.system_prompt"] == "first prompt"
    for cand in cands:
        assert cand.trial_id in c.reasoning

    # A tie goes to the first candidate's value; "at least half" keeps 1 of 2.
    c2 = p.propose_merge(cands[:2], cands)
    assert c2.params["intelligence.model"] == "llama3.1:8b"
    assert c2.params["tools.enabled"] == ["calculator", "web_search", 7]
    assert c2.params["agent.max_turns"] == 3  # 2.5 rounds half up


def test_merge_that_repeats_a_rejected_config_is_sampled_instead() -> None:
    space = full_space()
    p = OptunaProposer(space, seed=1)
    cand = _result("t-bbbbbbbbb1", dict(p.propose_initial().params))
    merged = p.propose_merge([cand], [cand])
    p.note_rejection(merged, "already rejected by the user")
    again = p.propose_merge([cand], [cand])
    assert again.params != merged.params
    assert "repeats a rejected config" in again.reasoning
    assert_valid(space, again)


# ---------------------------------------------------------------- history


def test_foreign_trials_join_the_study() -> None:
    """Trials loaded from the store before any ask, and hand-written configs."""
    space = full_space()
    p = OptunaProposer(space, seed=8)
    loaded = [
        evaluate(
            TrialConfig(f"stored-{i}", dict(OptunaProposer(space, seed=i).propose_initial().params))
        )
        for i in range(3)
    ]
    loaded[1].config.params["intelligence.temperature"] = 0.9
    hand = _result(
        "hand-1",
        {
            "intelligence.model": "gpt-4o",
            "agent.max_turns": 5,
            "tools.enabled": ["web_search"],
            "unknown.key": 1,
        },
    )
    history = [*loaded, hand]
    c = p.propose_next(history)
    assert_valid(space, c)
    done = [t for t in p.study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 4
    # Off-space values are left out of the study's copy; valid ones are kept.
    assert done[3].params == {
        "agent.max_turns": 5,
        "tools.enabled[calculator]": False,
        "tools.enabled[web_search]": True,
        "tools.enabled[7]": False,
    }
    assert done[1].params["intelligence.temperature"] == 0.9
    # Syncing the same history again adds nothing; our own result is told once.
    history.append(evaluate(c))
    p.propose_next(history)
    p.propose_next(history)
    states = [t.state.name for t in p.study.trials]
    assert states.count("COMPLETE") == 5


def test_result_with_other_params_than_asked_fails_the_ask() -> None:
    space = full_space()
    p = OptunaProposer(space, seed=8)
    c = p.propose_initial()
    changed = TrialConfig(c.trial_id, {**c.params, "agent.max_turns": 1})
    p.propose_next([evaluate(changed)])
    states = [t.state.name for t in p.study.trials]
    assert states[:2] == ["FAIL", "COMPLETE"]  # the ask failed; what ran was added


def test_rejected_config_is_never_proposed_again() -> None:
    space = SearchSpace(
        dimensions=[
            SearchDimension("intelligence.model", "categorical", ["a", "b", "c", "d"]),
            SearchDimension("agent.max_turns", "integer", low=1, high=5),
        ]
    )
    p = OptunaProposer(space, seed=0)
    first = p.propose_initial()
    p.note_rejection(first, "user said no")
    assert p.study.trials[0].state.name == "FAIL"
    history: list[TrialResult] = []
    for i in range(30):
        c = p.propose_next(history)
        assert c.params != first.params
        history.append(_result(c.trial_id, c.params, acc=i / 30))
    p.note_rejection(TrialConfig("hand", dict(history[-1].config.params)), "duplicate")
    assert p.propose_next(history).params != history[-1].config.params


def test_a_reordered_subset_is_the_same_rejected_config() -> None:
    space = SearchSpace(dimensions=[SearchDimension("tools.enabled", "subset", ["calc", "web"])])
    p = OptunaProposer(space, seed=2, sampler="random")
    p.note_rejection(TrialConfig("hand", {"tools.enabled": ["web", "calc"]}), "too slow")
    history: list[TrialResult] = []
    for _ in range(12):
        c = p.propose_next(history)
        assert sorted(c.params["tools.enabled"]) != ["calc", "web"]
        history.append(_result(c.trial_id, c.params))


def test_when_every_config_is_rejected_the_proposal_says_so() -> None:
    space = SearchSpace(dimensions=[SearchDimension("intelligence.model", "categorical", ["a"])])
    p = OptunaProposer(space, seed=0)
    c = p.propose_initial()
    p.note_rejection(c, "no")
    again = p.propose_next([])
    assert again.params == {"intelligence.model": "a"}
    assert f"every one of {MAX_TRIES} samples repeated a rejected config" in again.reasoning


def test_bounds_become_recorded_constraints() -> None:
    space = full_space()
    bound = ObjectiveBound.parse("latency <= 1.5s")
    p = OptunaProposer(space, seed=21, bounds=[bound])
    hand = evaluate(
        TrialConfig(
            "hand-2",
            {
                "intelligence.model": 3,
                "intelligence.temperature": 0.5,
                "agent.max_turns": 8,
                "tools.enabled": [],
                "engine.batch": 1,
            },
        )
    )
    history = [hand]
    config = p.propose_next(history)
    for _ in range(30):
        assert_valid(space, config)
        history.append(evaluate(config))
        config = p.propose_next(history, frontier_ids=set())
    assert "0 frontier members" in config.reasoning
    done = [t for t in p.study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 31
    for t in done:
        lat = t.values[1]
        expected = max(0.0, lat - 1.5) / 1.5
        assert constraint_values(t) == [pytest.approx(expected)]
    assert constraint_values(done[0]) == [pytest.approx((3.2 - 1.5) / 1.5)]  # the added one
    assert any(v == [0.0] for v in map(constraint_values, done))  # feasible ones exist
    assert any(v[0] > 0 for v in map(constraint_values, done))

    # New bounds apply to trials told from now on; earlier ones keep their values.
    before = [constraint_values(t) for t in done]
    p.set_bounds([ObjectiveBound.parse("cost <= 0.001")])
    history.append(evaluate(config))
    p.propose_next(history)
    done = [t for t in p.study.trials if t.state.name == "COMPLETE"]
    assert [constraint_values(t) for t in done[:-1]] == before
    cost = done[-1].values[2]
    assert constraint_values(done[-1]) == [pytest.approx(max(0.0, cost - 0.001) / 0.001)]


def test_guidance_is_recorded() -> None:
    p = OptunaProposer(full_space(), seed=0)
    p.add_guidance("  prefer local models ")
    p.add_guidance("   ")
    assert p.guidance == ["prefer local models"]


# ---------------------------------------------------------------- analysis


def _summary(**kw: Any) -> RunSummary:
    base = dict(
        benchmark="trace-replay",
        model="llama3.1:8b",
        accuracy=0.7,
        mean_latency_seconds=1.25,
        total_cost_usd=0.0004,
        total_samples=800,
        scored_samples=800,
        errors=0,
    )
    base.update(kw)
    return RunSummary(**base)


def test_analysis_states_the_figures_and_targets_the_weak_class() -> None:
    p = OptunaProposer(full_space(), seed=0)
    config = TrialConfig("t-x", {"intelligence.model": "llama3.1:8b"})
    rows = [
        BenchmarkScore("code", accuracy=0.82, samples_evaluated=300, weight=0.4),
        BenchmarkScore("math", accuracy=0.48, samples_evaluated=120, weight=0.2),
        BenchmarkScore("long", accuracy=0.0, samples_evaluated=0, errors=1, weight=0.1),
        BenchmarkScore("short", accuracy=0.9, samples_evaluated=380, weight=0.3),
    ]
    fb = p.analyze_trial(config, _summary(errors=1), per_benchmark=rows)
    assert fb.summary_text.startswith(
        "trace-replay, model llama3.1:8b: accuracy 0.700, mean latency 1.25 s, cost $0.000400,"
        " 800 samples, 1 error."
    )
    assert "Weakest: long (accuracy 0.000, weight 10%)" in fb.summary_text
    assert fb.failure_patterns == [
        "long: accuracy 0.000 over 0 samples (weight 10%)",
        "long: 1 error",
        "math: accuracy 0.480 over 120 samples (weight 20%)",
    ]
    assert fb.target_primitive == "intelligence"
    assert set(fb.primitive_ratings) == {"intelligence", "agent", "tools", "engine"}
    assert fb.primitive_ratings["intelligence"].startswith("fair: accuracy 0.700")


def test_analysis_targets_the_routing_dimension_of_the_weak_class() -> None:
    space = SearchSpace(
        dimensions=[
            SearchDimension(
                "intelligence.model", "categorical", ["a", "b"], primitive="intelligence"
            ),
            SearchDimension("routing.math.model", "categorical", ["a", "b"], primitive="routing"),
        ]
    )
    p = OptunaProposer(space, seed=0)
    rows = [BenchmarkScore("code", 0.9, weight=0.7), BenchmarkScore("math", 0.4, weight=0.3)]
    fb = p.analyze_trial(TrialConfig("t", {}), _summary(), per_benchmark=rows)
    assert fb.target_primitive == "routing"
    assert fb.suggested_changes == ["try another model for math (routing.math.model)"]


def test_analysis_with_nothing_standing_out_targets_nothing() -> None:
    p = OptunaProposer(full_space(), seed=0)
    rows = [BenchmarkScore("code", 0.9, weight=0.5), BenchmarkScore("math", 0.85, weight=0.5)]
    fb = p.analyze_trial(TrialConfig("t", {}), _summary(accuracy=0.87), per_benchmark=rows)
    assert fb.target_primitive == ""
    assert fb.failure_patterns == []
    assert fb.primitive_ratings["intelligence"].startswith("good")


def test_analysis_of_a_bound_violation_and_sample_errors() -> None:
    p = OptunaProposer(full_space(), seed=0, bounds=[ObjectiveBound.parse("latency <= 1s")])
    fb = p.analyze_trial(TrialConfig("t", {}), _summary(accuracy=0.9, mean_latency_seconds=2.5))
    assert "Outside bounds: mean_latency_seconds <= 1 (got 2.5)." in fb.summary_text
    assert fb.target_primitive == "engine"
    assert fb.primitive_ratings["engine"].startswith("slow")

    q = OptunaProposer(full_space(), seed=0)
    scores = [
        SampleScore(f"s{i}", is_correct=i % 2 == 0, error="tool timeout" if i < 3 else None)
        for i in range(10)
    ]
    fb = q.analyze_trial(TrialConfig("t", {}), _summary(accuracy=0.9), sample_scores=scores)
    assert "3 samples failed: tool timeout" in fb.failure_patterns
    assert "5 of 10 scored samples incorrect" in fb.failure_patterns
    assert fb.target_primitive == "agent"
    assert fb.primitive_ratings["agent"] == "weak: 30% of samples errored"


# ---------------------------------------------------------------- import hygiene


def test_optuna_is_not_imported_with_the_module() -> None:
    code = (
        "import sys, jarvis_tui.learning.optimize.optuna_proposer, "
        "jarvis_tui.learning.optimize.trial_runner\n"
        "assert 'optuna' not in sys.modules, 'optuna imported'\n"
        "assert not any(m.startswith('textual') for m in sys.modules), 'textual imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
