"""Pareto frontier: hand-made cases and a property test against the O(n²) definition."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.learning.optimize import (
    ObjectiveSpec,
    TrialConfig,
    TrialResult,
    compute_pareto_frontier,
    dominates,
)
from jarvis_tui.learning.optimize.pareto import pareto_frontier_pairwise

ACC = ObjectiveSpec("accuracy", "maximize")
LAT = ObjectiveSpec("mean_latency_seconds", "minimize")
COST = ObjectiveSpec("total_cost_usd", "minimize")


def t(tid: str, acc: float = 0.0, lat: float = 0.0, cost: float = 0.0) -> TrialResult:
    return TrialResult(
        trial_id=tid,
        config=TrialConfig(trial_id=tid),
        accuracy=acc,
        mean_latency_seconds=lat,
        total_cost_usd=cost,
    )


def ids(trials: list[TrialResult]) -> list[str]:
    return [x.trial_id for x in trials]


def test_empty_and_single() -> None:
    assert compute_pareto_frontier([], [ACC, LAT]) == []
    assert ids(compute_pareto_frontier([t("a", 0.5, 1)], [ACC, LAT])) == ["a"]


def test_two_objectives_mixed_directions() -> None:
    trials = [
        t("a", 0.9, 3.0),
        t("b", 0.8, 1.0),
        t("c", 0.7, 2.0),
        t("d", 0.9, 4.0),
        t("e", 0.6, 0.5),
    ]
    assert ids(compute_pareto_frontier(trials, [ACC, LAT])) == ["a", "b", "e"]
    # Flip both directions: the other corner wins.
    flipped = [
        ObjectiveSpec("accuracy", "minimize"),
        ObjectiveSpec("mean_latency_seconds", "maximize"),
    ]
    assert ids(compute_pareto_frontier(trials, flipped)) == ["c", "d", "e"]


def test_three_objectives() -> None:
    trials = [
        t("a", 0.9, 3, 0.3),
        t("b", 0.8, 1, 0.1),
        t("c", 0.8, 1, 0.2),
        t("d", 0.5, 5, 0.05),
        t("e", 0.5, 5, 0.5),
    ]
    assert ids(compute_pareto_frontier(trials, [ACC, LAT, COST])) == ["a", "b", "d"]


def test_duplicates_all_on_frontier() -> None:
    trials = [t("a", 0.9, 1), t("b", 0.9, 1), t("c", 0.5, 2), t("d", 0.9, 1)]
    assert ids(compute_pareto_frontier(trials, [ACC, LAT])) == ["a", "b", "d"]
    assert ids(compute_pareto_frontier(trials, [ACC, LAT, COST])) == ["a", "b", "d"]
    assert not dominates(trials[0], trials[1], [ACC, LAT])
    assert dominates(trials[0], trials[2], [ACC, LAT])
    # Same first objective, the worse second one is dominated.
    assert ids(compute_pareto_frontier([t("x", 0.9, 2), t("y", 0.9, 1)], [ACC, LAT])) == ["y"]


def test_one_and_no_objectives() -> None:
    trials = [t("a", 0.9), t("b", 0.5), t("c", 0.9)]
    assert ids(compute_pareto_frontier(trials, [ACC])) == ["a", "c"]
    assert ids(compute_pareto_frontier(trials, [])) == ["a", "b", "c"]


def test_missing_metric_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"'ipw'.*'a'"):
        compute_pareto_frontier([t("a"), t("b")], [ACC, ObjectiveSpec("ipw", "maximize")])
    with pytest.raises(ValueError, match="direction"):
        compute_pareto_frontier([t("a")], [ObjectiveSpec("accuracy", "up")])
    with pytest.raises(ValueError, match="NaN"):
        compute_pareto_frontier([t("a", float("nan"))], [ACC, LAT])


_val = st.integers(min_value=0, max_value=4).map(float)  # few values: many ties and duplicates
_dirs = st.sampled_from(["maximize", "minimize"])


@settings(max_examples=300, deadline=None)
@given(
    points=st.lists(st.tuples(_val, _val, _val), max_size=60),
    dirs=st.lists(_dirs, min_size=3, max_size=3),
    k=st.integers(min_value=1, max_value=3),
)
def test_matches_pairwise_definition(
    points: list[tuple[float, float, float]], dirs: list[str], k: int
) -> None:
    trials = [t(f"t{i}", *p) for i, p in enumerate(points)]
    objs = [
        ObjectiveSpec(m, d)
        for m, d in zip(["accuracy", "mean_latency_seconds", "total_cost_usd"], dirs, strict=True)
    ][:k]
    fast = ids(compute_pareto_frontier(trials, objs))
    assert fast == ids(pareto_frontier_pairwise(trials, objs))
    front = set(fast)
    for a in trials:
        dominated = any(dominates(b, a, objs) for b in trials)
        assert dominated == (a.trial_id not in front)


@pytest.mark.parametrize("seed", range(5))
def test_blocks_match_pairwise(seed: int) -> None:
    # Larger than one numpy block, so the archive path is exercised; coarse values add ties.
    rng = random.Random(seed)
    trials = [
        t(f"t{i}", *(rng.choice([rng.random(), rng.randint(0, 3)]) for _ in range(3)))
        for i in range(1500)
    ]
    objs = [ACC, LAT, COST]
    assert ids(compute_pareto_frontier(trials, objs)) == ids(pareto_frontier_pairwise(trials, objs))
