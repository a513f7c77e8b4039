"""LLMOptimizer with a scripted backend: prompts, lenient parsing, repairs, steering."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jarvis_tui.learning.optimize.backends import BackendError, ScriptedBackend
from jarvis_tui.learning.optimize.llm_optimizer import LLMOptimizer, ProposalError
from jarvis_tui.learning.optimize.search_space import validate_config
from jarvis_tui.learning.optimize.types import (
    BenchmarkScore,
    RunSummary,
    SampleScore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialFeedback,
    TrialResult,
)

SPACE = SearchSpace(
    dimensions=[
        SearchDimension(
            "intelligence.model", "categorical", ["a", "b", "c"], primitive="intelligence"
        ),
        SearchDimension(
            "intelligence.temperature", "continuous", low=0.0, high=1.0, primitive="intelligence"
        ),
        SearchDimension("agent.max_turns", "integer", low=1, high=10, primitive="agent"),
        SearchDimension("tools.enabled", "subset", ["calc", "web", "code"], primitive="tools"),
    ],
    fixed={"engine": "ollama"},
    constraints=["keep it cheap"],
)
DIM_NAMES = [d.name for d in SPACE.dimensions]
BASE = {
    "intelligence.model": "b",
    "intelligence.temperature": 0.2,
    "agent.max_turns": 3,
    "tools.enabled": ["web"],
}
FULL = {
    "intelligence.model": "c",
    "intelligence.temperature": 0.7,
    "agent.max_turns": 5,
    "tools.enabled": ["calc", "code"],
}


def fenced(obj: Any) -> str:
    return f"Here is my proposal.\n```json\n{json.dumps(obj)}\n```\nGood luck!"


def trial(i: int, params: dict[str, Any] | None = None, **metrics: Any) -> TrialResult:
    tid = f"trial-{i:03d}"
    return TrialResult(
        trial_id=tid,
        config=TrialConfig(trial_id=tid, params=dict(params or BASE)),
        accuracy=metrics.get("accuracy", 0.5),
        mean_latency_seconds=metrics.get("latency", 1.0),
        total_cost_usd=metrics.get("cost", 0.01),
        analysis=metrics.get("analysis", f"analysis of {i}"),
    )


def optimizer(*replies: Any) -> tuple[LLMOptimizer, ScriptedBackend]:
    backend = ScriptedBackend(list(replies))
    return LLMOptimizer(SPACE, optimizer_model="opt-model", optimizer_backend=backend), backend


def dims(config: TrialConfig) -> dict[str, Any]:
    """The config's search-space params; the space's fixed params must be there too."""
    for key, value in SPACE.fixed.items():
        assert config.params.get(key) == value, f"fixed param {key} missing"
    return {k: v for k, v in config.params.items() if k not in SPACE.fixed}


def repair_line(config: TrialConfig) -> str:
    last = config.reasoning.splitlines()[-1] if config.reasoning else ""
    return last if last.startswith("[repaired: ") else ""


# ------------------------------------------------------------------------ no backend


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda o: o.propose_initial(), "optimizer_backend is required to propose configurations"),
        (lambda o: o.propose_next([]), "optimizer_backend is required to propose configurations"),
        (
            lambda o: o.propose_targeted([], TrialConfig("x", dict(BASE)), "agent"),
            "optimizer_backend is required to propose configurations",
        ),
        (
            lambda o: o.propose_merge([trial(1)], []),
            "optimizer_backend is required to propose configurations",
        ),
        (
            lambda o: o.analyze_trial(TrialConfig("x", dict(BASE)), RunSummary()),
            "optimizer_backend is required to analyze trials",
        ),
    ],
    ids=["initial", "next", "targeted", "merge", "analyze"],
)
def test_every_method_needs_a_backend(call: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        call(LLMOptimizer(SPACE))
    assert str(info.value) == message
    assert not isinstance(info.value, ProposalError)


def test_defaults_match_the_reference() -> None:
    o = LLMOptimizer(SPACE)
    assert o.optimizer_model == "claude-sonnet-4-6"
    assert o.optimizer_backend is None
    assert o.extra_constraints == [] and o.last_prompt == ""


# ------------------------------------------------------------------------ system prompts


def test_system_prompts_and_temperatures() -> None:
    feedback = fenced({"summary_text": "ok", "target_primitive": "agent"})
    o, b = optimizer(*([fenced({"params": FULL})] * 4), feedback)
    o.propose_initial()
    o.propose_next([trial(1)])
    o.propose_targeted([trial(1)], TrialConfig("base", dict(BASE)), "agent")
    o.propose_merge([trial(1), trial(2)], [trial(1), trial(2)])
    o.analyze_trial(TrialConfig("x", dict(BASE)), RunSummary())
    got = [(c["system"], c["temperature"], c["max_tokens"], c["model"]) for c in b.calls]
    optimizer_call = ("You are an expert AI systems optimizer.", 0.7, 2048, "opt-model")
    analyst_call = ("You are an expert AI systems analyst.", 0.3, 2048, "opt-model")
    assert got == [optimizer_call] * 4 + [analyst_call]
    for call in b.calls:
        assert SPACE.to_prompt_description() in call["prompt"]
    assert o.last_prompt == b.calls[-1]["prompt"]


# ------------------------------------------------------------------------ replies that parse


def test_valid_reply() -> None:
    o, b = optimizer(fenced({"params": FULL, "reasoning": "more turns help"}))
    config = o.propose_next([trial(1)])
    assert dims(config) == FULL
    assert config.reasoning == "more turns help"
    assert re.fullmatch(r"t-[0-9a-f]{10}", config.trial_id)
    assert validate_config(SPACE, config.params) == []
    assert "```json" in b.calls[0]["prompt"] and '"params"' in b.calls[0]["prompt"]


def test_trial_ids_are_fresh() -> None:
    o, _ = optimizer(fenced({"params": FULL}), fenced({"params": FULL}))
    assert o.propose_initial().trial_id != o.propose_initial().trial_id


def test_flat_reply() -> None:
    o, _ = optimizer(json.dumps({**FULL, "reasoning": "flat"}))
    config = o.propose_next([trial(1)])
    assert dims(config) == FULL and config.reasoning == "flat"


def test_nested_reply() -> None:
    reply = {
        "params": {
            "intelligence": {"model": "a", "temperature": 0.1},
            "agent": {"max_turns": 2},
            "tools": {"enabled": ["calc"]},
        },
        "reasoning": "nested",
    }
    o, _ = optimizer(fenced(reply))
    config = o.propose_next([trial(1)])
    assert dims(config) == {
        "intelligence.model": "a",
        "intelligence.temperature": 0.1,
        "agent.max_turns": 2,
        "tools.enabled": ["calc"],
    }
    assert repair_line(config) == ""


def test_trailing_commas_and_comments() -> None:
    reply = """```json
{
  // the model I like
  "params": {
    "intelligence.model": "c",   # best so far
    "intelligence.temperature": 0.7,
    "agent.max_turns": 5,
    "tools.enabled": ["calc", "code",],
  },
  "reasoning": "see http://example.com/x#y",
}
```"""
    o, _ = optimizer(reply)
    config = o.propose_next([trial(1)])
    assert dims(config) == FULL
    assert config.reasoning == "see http://example.com/x#y"


def test_python_literals_and_single_quotes() -> None:
    reply = (
        "{'params': {'intelligence.model': 'a', 'intelligence.temperature': None,"
        " 'agent.max_turns': None, 'tools.enabled': ['web']}, 'reasoning': \"it's fine\"}"
    )
    o, _ = optimizer(reply)
    config = o.propose_next([trial(1)])
    assert config.params["intelligence.model"] == "a"
    assert config.params["tools.enabled"] == ["web"]
    # None is no value: the base fills it (True would be rejected: not a number).
    assert config.params["intelligence.temperature"] == BASE["intelligence.temperature"]
    assert config.params["agent.max_turns"] == BASE["agent.max_turns"]
    assert config.reasoning.startswith("it's fine\n[repaired: ")
    assert "filled from base config: intelligence.temperature, agent.max_turns" in config.reasoning


def test_bare_keys() -> None:
    o, _ = optimizer("{params: {intelligence.model: 'c', agent.max_turns: 2}, reasoning: 'bare'}")
    config = o.propose_next([trial(1)])
    assert dims(config) == {**BASE, "intelligence.model": "c", "agent.max_turns": 2}
    assert config.reasoning.startswith("bare\n[repaired: filled from base config: ")


def test_balanced_object_in_prose_without_fence() -> None:
    reply = 'I think {"params": {"intelligence.model": "a"}} is best; {not json}'
    o, _ = optimizer(reply)
    assert o.propose_next([trial(1)]).params["intelligence.model"] == "a"


# ------------------------------------------------------------------------ repairs


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"intelligence.temperature": 1.7}, "intelligence.temperature: 1.7 is outside [0.0, 1.0]"),
        ({"agent.max_turns": "42"}, 'agent.max_turns: "42" is outside [1, 10]'),
        ({"agent.max_turns": 3.6}, "agent.max_turns: 3.6 is not a whole number"),
        ({"intelligence.model": "gpt-9"}, 'intelligence.model: "gpt-9" is not an option'),
        ({"tools.enabled": ["calc", "browser"]}, 'tools.enabled: ["browser"] not among'),
    ],
    ids=["above-range", "string-above-range", "not-whole", "not-an-option", "subset-member"],
)
def test_values_outside_the_space_are_rejected_not_replaced(
    changed: dict[str, Any], reason: str
) -> None:
    o, _ = optimizer(fenced({"params": {**FULL, **changed}, "reasoning": "hot"}))
    with pytest.raises(ProposalError) as info:
        o.propose_next([trial(1)])
    msg = str(info.value)
    assert msg.startswith("optimizer proposed values outside the search space: ")
    assert reason in msg and "\n" not in msg


def test_distinct_invalid_models_never_become_the_same_config() -> None:
    # Three proposals naming models the space does not have: each is rejected with the
    # reason (none silently becomes the first option).
    replies = [fenced({"params": {**FULL, "intelligence.model": f"model-{i}"}}) for i in (1, 2, 3)]
    o, _ = optimizer(*replies)
    for i in (1, 2, 3):
        with pytest.raises(ProposalError, match=f"model-{i}"):
            o.propose_next([trial(1)])


def test_same_value_written_another_way_is_read() -> None:
    params = {**FULL, "intelligence.temperature": " 0.25 ", "agent.max_turns": 4.0}
    o, _ = optimizer(fenced({"params": params}))
    config = o.propose_next([trial(1)])
    assert config.params["intelligence.temperature"] == 0.25
    assert config.params["agent.max_turns"] == 4
    assert isinstance(config.params["agent.max_turns"], int)
    assert "agent.max_turns: 4.0 read as 4" in repair_line(config)


def test_unknown_and_fixed_keys_dropped() -> None:
    params = {**FULL, "intelligence.top_k": 40, "engine": "vllm"}
    o, _ = optimizer(fenced({"params": params}))
    config = o.propose_next([trial(1)])
    assert set(config.params) == set(DIM_NAMES) | set(SPACE.fixed)
    assert config.params["engine"] == "ollama"  # the fixed value, not the reply's
    line = repair_line(config)
    assert "dropped unknown intelligence.top_k" in line
    assert "engine: fixed parameter ignored" in line


def test_every_proposal_carries_the_fixed_params() -> None:
    feedback = fenced({"summary_text": "ok"})
    o, _ = optimizer(*([fenced({"params": {"agent.max_turns": 2}})] * 4), feedback)
    configs = [
        o.propose_initial(),
        o.propose_next([trial(1)]),
        o.propose_targeted([trial(1)], TrialConfig("b", dict(BASE)), "agent"),
        o.propose_merge([trial(1), trial(2)], [trial(1), trial(2)]),
    ]
    assert [c.params.get("engine") for c in configs] == ["ollama"] * 4


def test_missing_dimension_filled_from_the_last_trial() -> None:
    o, _ = optimizer(fenced({"params": {"agent.max_turns": 2}}))
    config = o.propose_next([trial(1), trial(2, params={**BASE, "intelligence.model": "a"})])
    assert config.params["intelligence.model"] == "a"  # the LAST trial's config is the base
    assert "filled from base config: intelligence.model" in repair_line(config)


def test_categorical_matched_case_insensitively() -> None:
    o, _ = optimizer(fenced({"params": {**FULL, "intelligence.model": "  B "}}))
    config = o.propose_next([trial(1)])
    assert config.params["intelligence.model"] == "b"


def test_subset_options_matched_and_deduplicated() -> None:
    params = {**FULL, "tools.enabled": ["CALC", "calc", "web"]}
    o, _ = optimizer(fenced({"params": params}))
    config = o.propose_next([trial(1)])
    assert config.params["tools.enabled"] == ["calc", "web"]


def test_initial_fills_defaults() -> None:
    o, _ = optimizer(fenced({"params": {"agent.max_turns": 2}}))
    config = o.propose_initial()
    assert dims(config) == {
        "intelligence.model": "a",
        "intelligence.temperature": 0.5,
        "agent.max_turns": 2,
        "tools.enabled": ["calc"],
    }
    assert (
        "filled from defaults: intelligence.model, intelligence.temperature, tools.enabled"
        in repair_line(config)
    )


def test_text_dimension_takes_text_only() -> None:
    space = SearchSpace(
        dimensions=[SearchDimension("agent.system_prompt", "text", primitive="agent")]
    )
    backend = ScriptedBackend(
        [
            fenced({"params": {"agent.system_prompt": "be brief"}}),
            fenced({"params": {"agent.system_prompt": 42}}),
            fenced({"params": {}}),
        ]
    )
    o = LLMOptimizer(space, optimizer_backend=backend)
    assert o.propose_initial().params == {"agent.system_prompt": "be brief"}
    with pytest.raises(ProposalError, match="expected text"):
        o.propose_initial()
    with pytest.raises(ProposalError):
        o.propose_initial()


# ------------------------------------------------------------------------ replies that do not


@pytest.mark.parametrize(
    "reply",
    ["I would rather not say.", "", "```json\n[1, 2, 3]\n```", "{broken: [", "   \n  "],
    ids=["prose", "empty", "array", "broken", "blank"],
)
def test_no_json_object(reply: str) -> None:
    o, _ = optimizer(reply)
    with pytest.raises(ProposalError) as info:
        o.propose_next([trial(1)])
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("optimizer reply")


def test_no_json_message_quotes_the_reply() -> None:
    o, _ = optimizer("Sorry, as an AI I cannot\npropose anything today, maybe tomorrow.")
    with pytest.raises(ProposalError) as info:
        o.propose_initial()
    msg = str(info.value)
    assert msg.startswith("optimizer reply has no JSON object: 'Sorry, as an AI I cannot propose")
    assert len(msg) < 100


def test_no_known_params() -> None:
    o, _ = optimizer(fenced({"params": {"foo": 1, "bar.baz": 2}, "reasoning": "x"}))
    with pytest.raises(ProposalError) as info:
        o.propose_next([trial(1)])
    msg = str(info.value)
    assert msg.startswith("optimizer reply proposes no parameter of the search space: ")
    assert "foo" in msg and "bar.baz" in msg


def test_backend_errors_propagate() -> None:
    err = BackendError("optimizer endpoint x timed out after 1 s", kind="timeout")
    o, _ = optimizer(err, err)
    with pytest.raises(BackendError):
        o.propose_next([trial(1)])
    with pytest.raises(BackendError):
        o.analyze_trial(TrialConfig("x", dict(BASE)), RunSummary())


# ------------------------------------------------------------------------ targeted and merge


def test_targeted_keeps_non_target_params() -> None:
    changed_everything = {
        "intelligence.model": "a",
        "intelligence.temperature": 0.9,
        "agent.max_turns": 8,
        "tools.enabled": ["calc", "web", "code"],
    }
    o, b = optimizer(fenced({"params": changed_everything, "reasoning": "more turns"}))
    base = TrialConfig("base-1", dict(BASE))
    config = o.propose_targeted([trial(1)], base, "agent")
    assert dims(config) == {**BASE, "agent.max_turns": 8}
    assert config.trial_id != "base-1"
    prompt = b.calls[0]["prompt"]
    assert "## Base config (base-1)" in prompt and '"agent.max_turns": 3' in prompt
    assert "ONLY the 'agent' primitive (agent.max_turns)" in prompt
    assert "kept base values outside 'agent'" in repair_line(config)


def test_targeted_plural_primitive_name() -> None:
    # As in OpenJarvis, "tools" also takes keys starting with "tool.".
    space = SearchSpace(
        dimensions=[
            SearchDimension("tool.enabled", "subset", ["x", "y"], primitive="tool"),
            SearchDimension("agent.max_turns", "integer", low=1, high=4, primitive="agent"),
        ]
    )
    backend = ScriptedBackend([fenced({"tool.enabled": ["y"], "agent.max_turns": 4})])
    o = LLMOptimizer(space, optimizer_backend=backend)
    base = TrialConfig("b", {"tool.enabled": ["x"], "agent.max_turns": 1})
    assert o.propose_targeted([], base, "tools").params == {
        "tool.enabled": ["y"],
        "agent.max_turns": 1,
    }


def test_targeted_reply_without_target_keeps_base_and_says_so() -> None:
    o, _ = optimizer(fenced({"params": {"intelligence.model": "a"}}))
    config = o.propose_targeted([trial(1)], TrialConfig("b", dict(BASE)), "agent")
    assert dims(config) == BASE
    line = repair_line(config)
    assert "reply changes nothing of 'agent'" in line
    assert "kept base values outside 'agent': intelligence.model" in line


def test_targeted_quiet_when_the_reply_only_touches_the_target() -> None:
    o, _ = optimizer(fenced({"params": {"agent.max_turns": 7}, "reasoning": "r"}))
    config = o.propose_targeted([trial(1)], TrialConfig("b", dict(BASE)), "agent")
    assert dims(config) == {**BASE, "agent.max_turns": 7}
    assert config.reasoning == "r"


def test_targeted_keeps_base_values_outside_the_space_verbatim() -> None:
    # OpenJarvis's rule: every base param stays as it is, even a value the space does not
    # offer and a key it does not list; a target key the space does not list is taken.
    base = TrialConfig("b", {**BASE, "intelligence.model": "custom-13b", "intelligence.top_p": 0.8})
    reply = {"params": {"agent.max_turns": 6, "agent.planner": "react", "intelligence.model": "a"}}
    o, _ = optimizer(fenced(reply))
    config = o.propose_targeted([trial(1)], base, "agent")
    assert config.params["intelligence.model"] == "custom-13b"
    assert config.params["intelligence.top_p"] == 0.8
    assert config.params["agent.max_turns"] == 6
    assert config.params["agent.planner"] == "react"


def test_targeted_value_outside_the_space_is_rejected() -> None:
    o, _ = optimizer(fenced({"params": {"agent.max_turns": 99}}))
    with pytest.raises(ProposalError, match="agent.max_turns: 99 is outside"):
        o.propose_targeted([trial(1)], TrialConfig("b", dict(BASE)), "agent")


def test_merge_prompt_lists_candidates_and_fills_from_the_first() -> None:
    first = trial(1, params={**BASE, "intelligence.model": "a"}, accuracy=0.9)
    second = trial(2, params=dict(FULL), latency=0.1)
    o, b = optimizer(fenced({"params": {"agent.max_turns": 9}}))
    config = o.propose_merge([first, second], [first, second], frontier_ids={"trial-001"})
    assert dims(config) == {**BASE, "intelligence.model": "a", "agent.max_turns": 9}
    prompt = b.calls[0]["prompt"]
    assert "## Candidates to merge" in prompt
    assert "- trial-001: accuracy 0.900" in prompt and "- trial-002:" in prompt
    assert "### trial-001*: accuracy 0.900" in prompt and "### trial-002: accuracy" in prompt


# ------------------------------------------------------------------------ prompts and steering


def test_history_in_the_propose_prompt() -> None:
    t = trial(7, accuracy=0.812, latency=1.234, cost=0.0042, analysis="fails on | math\nquestions")
    o, b = optimizer(fenced({"params": FULL}))
    o.propose_next([t], frontier_ids={"trial-007"})
    prompt = b.calls[0]["prompt"]
    assert "### trial-007*: accuracy 0.812, latency 1.23 s, cost $0.0042" in prompt
    assert '- params: intelligence.model="b", ' in prompt
    assert "- analysis: fails on | math questions" in prompt


def test_history_carries_the_evidence_of_each_trial() -> None:
    t = trial(3, accuracy=0.4)
    t.config.reasoning = "try more turns for multi-step questions"
    t.failure_modes = ["gives up after one tool call"]
    t.structured_feedback = TrialFeedback(
        summary_text="weak on math",
        failure_patterns=["arithmetic slips"],
        suggested_changes=["raise max_turns"],
    )
    t.per_benchmark = [
        BenchmarkScore("code", accuracy=0.7, samples_evaluated=10, errors=1),
        BenchmarkScore("math", accuracy=0.1, samples_evaluated=10),
    ]
    t.sample_scores = [
        SampleScore("q-good", score=0.95, latency_seconds=0.5),
        SampleScore("q-bad", score=0.05, latency_seconds=2.0),
        SampleScore("q-err", error="timeout after 30 s"),
    ]
    o, b = optimizer(fenced({"params": FULL}))
    o.propose_next([t])
    prompt = b.calls[0]["prompt"]
    assert "- proposer's reasoning: try more turns for multi-step questions" in prompt
    assert "gives up after one tool call; arithmetic slips" in prompt
    assert "- suggested changes: raise max_turns" in prompt
    assert "code 0.700 (10 samples, 1 errors" in prompt and "math 0.100" in prompt
    worst = next(line for line in prompt.splitlines() if line.startswith("- worst samples"))
    assert worst.index("q-err error: timeout") < worst.index("q-bad score 0.05")
    assert worst.index("q-bad") < worst.index("q-good")


def test_history_is_bounded() -> None:
    history = [trial(i) for i in range(100)]
    frontier = {"trial-003", "trial-050", "trial-099"}
    o, b = optimizer(fenced({"params": FULL}))
    o.propose_next(history, frontier_ids=frontier)
    rows = [line for line in b.calls[0]["prompt"].splitlines() if line.startswith("### trial-")]
    assert len(rows) == 30 + 2  # the last 30, plus the two older frontier members
    ids = [row.split(":")[0][4:] for row in rows]
    assert ids[:2] == ["trial-003*", "trial-050*"]
    assert ids[2:] == [f"trial-{i:03d}" for i in range(70, 99)] + ["trial-099*"]
    assert "100 trials, 68 older non-frontier trials omitted" in b.calls[0]["prompt"]


def test_traces_summarised_in_the_prompt(make_trace: Any) -> None:
    traces = [make_trace(i) for i in range(8)]
    o, b = optimizer(fenced({"params": FULL}))
    o.propose_next([trial(1)], traces=traces)
    prompt = b.calls[0]["prompt"]
    assert "## Recent traces (5 of 8)" in prompt
    assert "question number 7" in prompt and "question number 2" not in prompt


def test_rejection_and_guidance_in_the_next_prompt() -> None:
    o, b = optimizer(*[fenced({"params": FULL})] * 3)
    o.propose_next([trial(1)])
    assert "## Reviewer feedback" not in b.calls[0]["prompt"]
    o.note_rejection(TrialConfig("t-x", {"intelligence.model": "c"}), "model c is\ntoo slow")
    o.add_guidance("prefer fewer tools")
    o.propose_next([trial(1)])
    prompt = b.calls[1]["prompt"]
    assert "## Reviewer feedback" in prompt
    assert '- Rejected: intelligence.model="c" | reason: model c is too slow' in prompt
    assert "- Guidance: prefer fewer tools" in prompt
    o.propose_initial()
    assert "## Reviewer feedback" in b.calls[2]["prompt"]


def test_only_the_last_ten_rejections_are_kept() -> None:
    o, b = optimizer(fenced({"params": FULL}))
    for i in range(15):
        o.note_rejection(TrialConfig(f"t{i}", {"agent.max_turns": i}), f"reason {i}")
    o.propose_next([trial(1)])
    prompt = b.calls[0]["prompt"]
    assert prompt.count("- Rejected:") == 10
    assert "reason 4\n" not in prompt and "reason 5\n" in prompt and "reason 14" in prompt


def test_extra_constraints_become_hard_limits() -> None:
    o, b = optimizer(fenced({"params": FULL}), fenced({"params": FULL}))
    o.propose_next([trial(1)])
    assert "## Hard limits" not in b.calls[0]["prompt"]
    o.extra_constraints = ["mean_latency_seconds <= 2", "accuracy >= 0.8"]
    o.propose_targeted([trial(1)], TrialConfig("b", dict(BASE)), "agent")
    prompt = b.calls[1]["prompt"]
    assert "## Hard limits" in prompt
    assert "- mean_latency_seconds <= 2\n- accuracy >= 0.8" in prompt


# ------------------------------------------------------------------------ analyze


def _analyze(o: LLMOptimizer, **kwargs: Any) -> TrialFeedback:
    summary = RunSummary(
        benchmark="gsm8k",
        accuracy=0.625,
        mean_latency_seconds=2.5,
        total_cost_usd=0.0123,
        total_samples=20,
        scored_samples=16,
        correct=10,
        errors=4,
    )
    return o.analyze_trial(TrialConfig("t-1", dict(BASE)), summary, **kwargs)


def test_analyze_with_good_json() -> None:
    reply = fenced(
        {
            "summary_text": "Too few turns.",
            "failure_patterns": ["stops early", 3],
            "primitive_ratings": {"agent": "poor", "tools": 2},
            "suggested_changes": "raise max_turns",
            "target_primitive": "Agent",
        }
    )
    o, b = optimizer(reply)
    samples = [SampleScore(f"r{i}", is_correct=i % 3 != 0) for i in range(30)]
    samples += [SampleScore(f"e{i}", error=f"boom {i}") for i in range(5)]
    per_benchmark = [BenchmarkScore("gsm8k", accuracy=0.6, samples_evaluated=10, errors=1)]
    feedback = _analyze(o, sample_scores=samples, per_benchmark=per_benchmark)
    assert feedback == TrialFeedback(
        summary_text="Too few turns.",
        failure_patterns=["stops early", "3"],
        primitive_ratings={"agent": "poor", "tools": "2"},
        suggested_changes=["raise max_turns"],
        target_primitive="agent",
    )
    prompt = b.calls[0]["prompt"]
    assert SPACE.to_prompt_description() in prompt
    assert "- accuracy: 0.625 (10 correct of 16 scored, 20 samples, 4 errors)" in prompt
    assert "- mean latency: 2.50 s" in prompt and "$0.0123" in prompt
    assert "## Sample failures (10 of 15)" in prompt
    assert prompt.count("\n- r") == 10  # at most ten failures, correct samples never
    assert "| gsm8k | 0.600 |" in prompt
    assert '"summary_text"' in prompt and '"target_primitive"' in prompt


def test_analyze_garbage_reply_becomes_the_summary() -> None:
    o, _ = optimizer("The trial\n\nwent   badly " + "because " * 200)
    feedback = _analyze(o)
    assert feedback.summary_text.startswith("The trial went badly because")
    assert "\n" not in feedback.summary_text and len(feedback.summary_text) <= 500
    assert feedback.failure_patterns == [] and feedback.target_primitive == ""


def test_analyze_invalid_target_primitive_and_odd_types() -> None:
    reply = fenced(
        {
            "summary_text": "meh",
            "failure_patterns": "one pattern",
            "primitive_ratings": ["not", "a", "dict"],
            "target_primitive": "engine",
        }
    )
    o, _ = optimizer(reply)
    feedback = _analyze(o)
    assert feedback.target_primitive == ""
    assert feedback.failure_patterns == ["one pattern"]
    assert feedback.primitive_ratings == {}


# ------------------------------------------------------------------------ property

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["a", "B", "calc", "Web", "0.5", "3"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from([*DIM_NAMES, "engine", "reasoning", "intelligence", "junk"]) | st.text(
    max_size=12
)
_dict_replies = st.dictionaries(_keys, _json_values, max_size=6).map(
    lambda d: json.dumps(d, default=str)
)
# Replies close to what a model writes: dimension names with near-valid values.
_plausible_values = {
    "intelligence.model": st.sampled_from(["a", " B", "c", "gpt", 1, None]),
    "intelligence.temperature": st.floats(-2, 3) | st.sampled_from(["0.4", "hot", True]),
    "agent.max_turns": st.integers(-5, 50) | st.floats(0, 20) | st.sampled_from(["7", []]),
    "tools.enabled": st.lists(st.sampled_from(["calc", "WEB", "code", "x", 3]), max_size=4)
    | st.sampled_from(["calc, web", "code", "nope", {}]),
    "engine": st.just("vllm"),
    "bogus.key": st.integers(),
}
_plausible_replies = st.fixed_dictionaries({}, optional=_plausible_values).map(
    lambda d: json.dumps({"params": d, "reasoning": "r"})
)
_replies = st.one_of(
    st.text(max_size=200),
    _plausible_replies,
    _plausible_replies.map(lambda s: f"Sure:\n```json\n{s[:-1]},}}\n```"),
    _dict_replies,
    _dict_replies.map(lambda s: f"```json\n{s}\n```"),
    _dict_replies.map(lambda s: "{'params': " + s.replace('"', "'") + ", }"),
    st.dictionaries(_keys, _json_values, max_size=6).map(
        lambda d: f"blah ```\n{json.dumps({'params': d}, default=str)},\n``` tail"
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reply=_replies)
def test_any_reply_gives_a_valid_config_or_a_proposal_error(reply: str) -> None:
    o = LLMOptimizer(SPACE, optimizer_backend=ScriptedBackend(lambda prompt, system: reply))
    for propose in (
        lambda: o.propose_next([trial(1)]),
        lambda: o.propose_initial(),
        lambda: o.propose_targeted([], TrialConfig("b", dict(BASE)), "intelligence"),
        lambda: o._parse_config_response(reply),
    ):
        try:
            config = propose()
        except ProposalError as exc:
            assert "\n" not in str(exc)
            continue
        assert list(config.params)[: len(DIM_NAMES)] == DIM_NAMES
        assert set(SPACE.fixed) <= set(config.params)
        # Only a targeted proposal may add keys the space does not list, and only keys of
        # its target primitive (taken verbatim, as OpenJarvis does).
        extra = set(config.params) - set(DIM_NAMES) - set(SPACE.fixed)
        assert all(k.startswith("intelligence.") for k in extra)
        listed = {k: v for k, v in config.params.items() if k not in extra}
        assert validate_config(SPACE, listed) == []
    feedback = o.analyze_trial(TrialConfig("x", dict(BASE)), RunSummary())
    assert isinstance(feedback.summary_text, str)
    assert all(isinstance(p, str) for p in feedback.failure_patterns)
    assert feedback.target_primitive in ("", "intelligence", "agent", "tools")


def test_a_reply_error_is_told_once_in_the_next_prompt() -> None:
    good = fenced({"intelligence.model": "b"})
    opt, backend = optimizer(good, good)
    opt.note_reply_error("optimizer reply has no JSON object: 'sure!'")
    opt.propose_initial()
    opt.propose_next([])
    first, second = (c["prompt"] for c in backend.calls)
    assert "## Your previous reply" in first and "no JSON object" in first
    assert "## Your previous reply" not in second
