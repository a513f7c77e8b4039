"""HeuristicRouter: each of the six rules on its own, their order, and build_routing_context."""

from __future__ import annotations

from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.core.registry import ModelRegistry
from jarvis_tui.core.types import ModelSpec, RoutingContext
from jarvis_tui.learning._stubs import RouterPolicy
from jarvis_tui.learning.classify import classify_query
from jarvis_tui.learning.router import (
    DefaultQueryAnalyzer,
    HeuristicRouter,
    build_routing_context,
    model_size,
    parse_model_size,
)

SMALL, MID, CODER, BIG = "phi3:3.8b", "llama3.1:8b", "qwen2.5-coder:7b", "llama3.1:70b"
MODELS = [MID, CODER, BIG, SMALL]  # deliberately not sorted by size

CODE_Q = "def add(a, b): return a + b"
MATH_Q = "solve x^2 = 4"
SHORT_Q = "hi there"
MEDIUM_Q = "Tell me a few nice things about the city of Lisbon in spring time."  # 50..500, plain
REASONING_Q = "Please explain how the tides of the ocean are related to the moon."
LONG_Q = "Tell me about the history of tea. " * 20  # > 500 chars


@pytest.fixture(autouse=True)
def empty_model_registry() -> Iterator[None]:
    """No registered models unless a test registers some; restored afterwards."""
    saved = ModelRegistry.items()
    ModelRegistry.clear()
    yield
    ModelRegistry.clear()
    for key, value in saved:
        ModelRegistry.register_value(key, value)


def ctx(query: str, urgency: float = 0.5) -> RoutingContext:
    return build_routing_context(query, urgency=urgency)


def route(query: str, models: list[str] = MODELS, urgency: float = 0.5, **kw: str) -> str:
    return HeuristicRouter(models, **kw).select_model(ctx(query, urgency))


def spec(key: str, size: float) -> ModelSpec:
    return ModelSpec(model_id=key, name=key, parameter_count_b=size, context_length=8192)


def test_fixture_queries_are_what_their_names_say() -> None:
    assert classify_query(CODE_Q) == "code"
    assert classify_query(MATH_Q) == "math"
    assert classify_query(SHORT_Q) == "short"
    assert classify_query(MEDIUM_Q) == "general"
    assert classify_query(REASONING_Q) == "general"
    assert classify_query(LONG_Q) == "long"


# ---------------------------------------------------------------- context


def test_build_routing_context_fills_every_field() -> None:
    c = build_routing_context(CODE_Q, urgency=0.9)
    assert (c.query, c.query_length, c.has_code, c.has_math, c.urgency) == (
        CODE_Q,
        len(CODE_Q),
        True,
        False,
        0.9,
    )
    assert build_routing_context(MATH_Q).has_math
    assert build_routing_context("x").urgency == 0.5


@pytest.mark.parametrize("query", [CODE_Q, MATH_Q, SHORT_Q, "```x```", "please compute", "`a`"])
def test_context_detection_agrees_with_classify_query(query: str) -> None:
    c = build_routing_context(query)
    cls = classify_query(query)
    assert c.has_code == (cls == "code")
    if not c.has_code:
        assert c.has_math == (cls == "math")


def test_default_query_analyzer() -> None:
    analyzer = DefaultQueryAnalyzer()
    assert analyzer.analyze(CODE_Q, urgency=0.95).urgency == 0.95
    assert analyzer.analyze(CODE_Q, urgency="high").urgency == 0.5
    assert analyzer.analyze(CODE_Q).has_code


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("llama3.1:70b", 70.0),
        ("phi3:3.8b", 3.8),
        ("qwen2.5-coder:7b", 7.0),
        ("mixtral:8x7b", 56.0),
        ("Qwen/Qwen3-0.6B", 0.6),
        ("smollm:135m", 0.135),
        ("qwen3-30b-a3b", 30.0),
        ("llama-2-13b-chat.Q4_K_M.gguf", 13.0),
        ("gpt-4o", None),
        ("llama3:latest", None),
        ("qwen3", None),
        ("", None),
    ],
)
def test_parse_model_size(name: str, size: float | None) -> None:
    if size is None:
        assert parse_model_size(name) is None
    else:
        assert parse_model_size(name) == pytest.approx(size)


def test_registered_spec_size_beats_the_name() -> None:
    ModelRegistry.register_value("tiny:1b", spec("tiny:1b", 100.0))
    ModelRegistry.register_value("mystery", spec("mystery", 13.0))
    ModelRegistry.register_value("zero:7b", spec("zero:7b", 0.0))  # no size: use the name
    assert model_size("tiny:1b") == 100.0
    assert model_size("mystery") == 13.0
    assert model_size("zero:7b") == 7.0
    assert model_size("unregistered") is None
    # and the router uses it: "tiny:1b" is now the largest
    assert route(MATH_Q, ["tiny:1b", "llama3.1:70b"]) == "tiny:1b"


# ---------------------------------------------------------------- rule by rule


def test_rule_1_code_prefers_a_coder_model() -> None:
    model, why = HeuristicRouter(MODELS).explain(ctx(CODE_Q))
    assert model == CODER
    assert why.startswith("rule 1:") and CODER in why


def test_rule_1_any_code_or_coder_name_first_listed_wins() -> None:
    assert route(CODE_Q, [BIG, "codellama:13b", CODER]) == "codellama:13b"
    assert route(CODE_Q, [BIG, "StarCoder2:15b"]) == "StarCoder2:15b"


def test_rule_1_without_a_coder_model_takes_the_largest() -> None:
    model, why = HeuristicRouter([MID, BIG, SMALL]).explain(ctx(CODE_Q))
    assert model == BIG and why.startswith("rule 1:")


def test_rule_2_math_prefers_the_largest_model() -> None:
    model, why = HeuristicRouter(MODELS).explain(ctx(MATH_Q))
    assert model == BIG and why.startswith("rule 2:")


def test_rule_3_short_query_prefers_the_smallest_model() -> None:
    model, why = HeuristicRouter(MODELS).explain(ctx(SHORT_Q))
    assert model == SMALL and why.startswith("rule 3:")


def test_rule_3_boundary_is_50_characters() -> None:
    assert route("x" * 49, default_model=MID) == SMALL
    assert route("x" * 50, default_model=MID) == MID  # not short: rule 6


def test_rule_4_long_query_prefers_the_largest_model() -> None:
    model, why = HeuristicRouter(MODELS, default_model=MID).explain(ctx(LONG_Q))
    assert model == BIG and why.startswith("rule 4: long query")


def test_rule_4_boundary_is_above_500_characters() -> None:
    assert route("y" * 500, default_model=MID) == MID
    assert route("y" * 501, default_model=MID) == BIG


@pytest.mark.parametrize("keyword", ["explain", "Analyze", "compare", "WHY", "reason", "think"])
def test_rule_4_reasoning_keywords_prefer_the_largest_model(keyword: str) -> None:
    query = f"Could you {keyword} the difference between the two approaches for me today?"
    model, why = HeuristicRouter(MODELS, default_model=MID).explain(ctx(query))
    assert model == BIG and why.startswith("rule 4: reasoning keyword")


@pytest.mark.parametrize("phrase", ["step by step", "step-by-step"])
def test_rule_4_step_by_step(phrase: str) -> None:
    assert (
        route(f"Walk me through baking bread, {phrase}, from flour to loaf.", default_model=MID)
        == BIG
    )


def test_rule_4_keywords_match_whole_words_only() -> None:
    query = "A reasonable, well thought out plan for a weekend in the mountains."
    assert route(query, default_model=MID) == MID


def test_rule_5_high_urgency_overrides_to_the_smallest_model() -> None:
    for query in (CODE_Q, MATH_Q, LONG_Q, REASONING_Q, MEDIUM_Q):
        model, why = HeuristicRouter(MODELS, default_model=MID).explain(ctx(query, 0.81))
        assert model == SMALL, query
        assert why.startswith("rule 5:") and "overrides rule" in why


def test_rule_5_threshold_is_strictly_above_0_8() -> None:
    assert route(CODE_Q, urgency=0.8) == CODER
    assert route(CODE_Q, urgency=0.8000001) == SMALL


def test_rule_5_agreeing_with_rule_3_says_so() -> None:
    model, why = HeuristicRouter(MODELS).explain(ctx(SHORT_Q, 0.99))
    assert model == SMALL and "agrees with rule 3" in why


def test_rule_5_without_any_known_size_keeps_the_earlier_choice() -> None:
    model, why = HeuristicRouter(["gpt-4o", "my-coder"]).explain(ctx(CODE_Q, 0.95))
    assert model == "my-coder"
    assert "rule 5" in why and "skipped" in why


def test_rule_6_default_then_fallback_then_first() -> None:
    assert route(MEDIUM_Q, default_model=BIG, fallback_model=SMALL) == BIG
    assert route(MEDIUM_Q, default_model="absent:1b", fallback_model=SMALL) == SMALL
    assert route(MEDIUM_Q, default_model="absent:1b", fallback_model="gone:2b") == MODELS[0]
    model, why = HeuristicRouter(MODELS).explain(ctx(MEDIUM_Q))
    assert model == MODELS[0] and why == f"rule 6: first available model {MODELS[0]}"


def test_rule_6_with_an_empty_model_list() -> None:
    assert (
        HeuristicRouter([], default_model="d", fallback_model="f").select_model(ctx(CODE_Q)) == "d"
    )
    assert HeuristicRouter(None, fallback_model="f").select_model(ctx(CODE_Q)) == "f"
    model, why = HeuristicRouter().explain(ctx(CODE_Q, 0.99))
    assert model == "" and why.startswith("rule 6: no models available")


def test_empty_model_list_uses_the_model_registry() -> None:
    ModelRegistry.register_value("big-one", spec("big-one", 70.0))
    ModelRegistry.register_value("small-one", spec("small-one", 1.0))
    assert HeuristicRouter().select_model(ctx(SHORT_Q)) == "small-one"
    assert HeuristicRouter().select_model(ctx(MATH_Q)) == "big-one"


# ---------------------------------------------------------------- order and ties


def test_rule_1_beats_rule_2_when_code_and_math_both_match() -> None:
    assert route("def f(x): solve the equation", [BIG, CODER]) == CODER


def test_rule_1_beats_rule_3_for_short_code() -> None:
    assert len("`ls`") < 50
    assert route("`ls`") == CODER


def test_rule_2_beats_rule_3_for_short_math() -> None:
    assert route("compute 2+2") == BIG


def test_rule_3_beats_rule_4_for_a_short_why() -> None:
    assert route("why?") == SMALL


def test_size_rules_never_pick_an_unknown_size_over_a_known_one() -> None:
    assert route(MATH_Q, ["gpt-4o", SMALL]) == SMALL
    assert route(SHORT_Q, ["gpt-4o", BIG]) == BIG


def test_size_rules_that_cannot_decide_fall_through_to_rule_6() -> None:
    model, why = HeuristicRouter(["gpt-4o", "claude"], default_model="claude").explain(ctx(MATH_Q))
    assert model == "claude"
    assert why.startswith("rule 2: math detected but no model size known; rule 6:")


def test_size_ties_go_to_the_first_listed() -> None:
    assert route(SHORT_Q, ["a:7b", "b:7b"]) == "a:7b"
    assert route(MATH_Q, ["b:7b", "a:7b"]) == "b:7b"


def test_hand_built_context_without_query_length() -> None:
    assert HeuristicRouter(MODELS).select_model(RoutingContext(query=LONG_Q)) == BIG


# ---------------------------------------------------------------- contract


def test_router_is_a_router_policy_and_keeps_its_own_list() -> None:
    given_models = list(MODELS)
    router = HeuristicRouter(given_models)
    given_models.clear()
    assert isinstance(router, RouterPolicy)
    assert router.available_models == MODELS
    router.available_models.clear()
    assert router.available_models == MODELS


_names = st.sampled_from(
    [SMALL, MID, CODER, BIG, "gpt-4o", "mixtral:8x7b", "codellama:34b", "tiny:135m", "x"]
)


@settings(max_examples=300, deadline=None)
@given(
    models=st.lists(_names, min_size=1, max_size=6),
    query=st.text(max_size=600),
    urgency=st.floats(allow_nan=True),
    default=st.sampled_from(["", SMALL, "absent"]),
)
def test_choice_is_always_an_available_model(
    models: list[str], query: str, urgency: float, default: str
) -> None:
    model, why = HeuristicRouter(models, default_model=default).explain(ctx(query, urgency))
    assert model in models
    assert why.startswith("rule ")
