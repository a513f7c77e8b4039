"""HeuristicRewardFunction: the reference's formula, and a reward always in [0, 1]."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.core.types import RoutingContext
from jarvis_tui.learning._stubs import RewardFunction
from jarvis_tui.learning.heuristic_reward import HeuristicRewardFunction

CTX = RoutingContext(query="q", query_length=1)


def reward(fn: HeuristicRewardFunction | None = None, **kwargs: object) -> float:
    return (fn or HeuristicRewardFunction()).compute(CTX, "m", "response", **kwargs)


def test_is_a_reward_function_with_the_reference_defaults() -> None:
    fn = HeuristicRewardFunction()
    assert isinstance(fn, RewardFunction)
    assert (fn.weight_latency, fn.weight_cost, fn.weight_efficiency) == (0.4, 0.3, 0.3)
    assert (fn.max_latency, fn.max_cost) == (30.0, 0.01)


def test_reference_formula() -> None:
    # latency 1 - 15/30 = 0.5, cost 1 - 0.005/0.01 = 0.5, efficiency 30/(10+30) = 0.75
    got = reward(latency_seconds=15.0, cost_usd=0.005, prompt_tokens=10, completion_tokens=30)
    assert got == pytest.approx(0.4 * 0.5 + 0.3 * 0.5 + 0.3 * 0.75)


def test_nothing_measured_is_fast_free_and_neutral_efficiency() -> None:
    assert reward() == pytest.approx(0.4 + 0.3 + 0.3 * 0.5)
    none_given = reward(
        latency_seconds=None, cost_usd=None, prompt_tokens=None, completion_tokens=None
    )
    assert none_given == reward()


def test_perfect_and_worst_cases() -> None:
    assert reward(latency_seconds=0, cost_usd=0, prompt_tokens=0, completion_tokens=5) == 1.0
    worst = reward(latency_seconds=60, cost_usd=1.0, prompt_tokens=5, completion_tokens=0)
    assert worst == 0.0


def test_components_are_each_clamped() -> None:
    fn = HeuristicRewardFunction()
    parts = fn.components(
        latency_seconds=-100.0, cost_usd=-5.0, prompt_tokens=-3, completion_tokens=4
    )
    assert parts == {"latency": 1.0, "cost": 1.0, "efficiency": 1.0}
    parts = fn.components(latency_seconds=1e300, cost_usd=math.inf)
    assert parts["latency"] == 0.0 and parts["cost"] == 0.0


def test_negative_inputs_cannot_beat_a_perfect_measurement() -> None:
    perfect = reward(latency_seconds=0.0, cost_usd=0.0, prompt_tokens=1, completion_tokens=1)
    assert (
        reward(latency_seconds=-1e9, cost_usd=-1e9, prompt_tokens=1, completion_tokens=1) == perfect
    )


def test_nan_scores_that_component_zero() -> None:
    fn = HeuristicRewardFunction()
    assert fn.components(latency_seconds=math.nan)["latency"] == 0.0
    assert fn.components(cost_usd=math.nan)["cost"] == 0.0
    assert fn.components(completion_tokens=math.nan)["efficiency"] == 0.0
    assert reward(latency_seconds=math.nan) == pytest.approx(0.3 + 0.3 * 0.5)


def test_huge_integers_do_not_overflow() -> None:
    assert reward(latency_seconds=10**400) == pytest.approx(0.3 + 0.15)
    assert reward(prompt_tokens=1, completion_tokens=10**400) == pytest.approx(1.0)
    assert reward(prompt_tokens=10**400, completion_tokens=10**400) == pytest.approx(0.85)


def test_non_numbers_are_rejected() -> None:
    with pytest.raises(TypeError, match="latency_seconds"):
        reward(latency_seconds="slow")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_latency": 0.0},
        {"max_cost": -1.0},
        {"max_latency": math.nan},
        {"max_cost": math.inf},
        {"weight_latency": -0.1},
        {"weight_cost": math.nan},
    ],
)
def test_constructor_rejects_meaningless_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        HeuristicRewardFunction(**kwargs)


def test_weights_above_one_are_clamped_as_in_the_reference() -> None:
    fn = HeuristicRewardFunction(weight_latency=5.0, weight_cost=5.0, weight_efficiency=5.0)
    assert reward(fn) == 1.0


_anything = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
)


@settings(max_examples=500, deadline=None)
@given(latency=_anything, cost=_anything, prompt=_anything, completion=_anything)
def test_reward_is_always_in_unit_interval(
    latency: object, cost: object, prompt: object, completion: object
) -> None:
    value = reward(
        latency_seconds=latency, cost_usd=cost, prompt_tokens=prompt, completion_tokens=completion
    )
    assert 0.0 <= value <= 1.0


_weight = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
_limit = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    weights=st.tuples(_weight, _weight, _weight),
    limits=st.tuples(_limit, _limit),
    latency=_anything,
    cost=_anything,
    prompt=_anything,
    completion=_anything,
)
def test_reward_is_in_unit_interval_for_any_valid_settings(
    weights: tuple[float, float, float],
    limits: tuple[float, float],
    latency: object,
    cost: object,
    prompt: object,
    completion: object,
) -> None:
    fn = HeuristicRewardFunction(
        weight_latency=weights[0],
        weight_cost=weights[1],
        weight_efficiency=weights[2],
        max_latency=limits[0],
        max_cost=limits[1],
    )
    value = fn.compute(
        CTX,
        "m",
        "",
        latency_seconds=latency,
        cost_usd=cost,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )
    assert 0.0 <= value <= 1.0
    parts = fn.components(
        latency_seconds=latency, cost_usd=cost, prompt_tokens=prompt, completion_tokens=completion
    )
    assert all(0.0 <= p <= 1.0 for p in parts.values())
