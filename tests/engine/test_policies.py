"""Learned router policies: TraceDrivenPolicy (from traces) and BanditRouterPolicy (Thompson)."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from jarvis_tui.core.types import RoutingContext, Trace
from jarvis_tui.learning import _stubs
from jarvis_tui.learning import classify as classify_module
from jarvis_tui.learning.bandit_router import BanditRouterPolicy
from jarvis_tui.learning.router import build_routing_context
from jarvis_tui.learning.trace_policy import TraceDrivenPolicy, classify_query
from jarvis_tui.traces.store import TraceStore

CODE_Q = "def parse(line): return line.split()"
MATH_Q = "solve 3x + 1 = 10"
SHORT_Q = "hello"


def ctx(query: str) -> RoutingContext:
    return build_routing_context(query)


def trace(
    i: int,
    model: str,
    *,
    query: str = CODE_Q,
    feedback: Optional[float] = None,
    outcome: Optional[str] = None,
    agent: str = "simple",
) -> Trace:
    """A light trace (no steps) numbered *i*; ``started_at`` grows with *i*."""
    return Trace(
        trace_id=f"p{i:06d}",
        query=query,
        agent=agent,
        model=model,
        feedback=feedback,
        outcome=outcome,
        started_at=1_700_000_000.0 + i,
        ended_at=1_700_000_001.0 + i,
        total_latency_seconds=1.0,
    )


class StreamOnlyStore:
    """Has only ``iter_traces``: proves the policy streams instead of calling list_traces."""

    def __init__(self, traces: list[Trace]) -> None:
        self.traces = traces
        self.calls: list[dict[str, Any]] = []

    def iter_traces(self, **kwargs: Any) -> Iterator[Trace]:
        self.calls.append(kwargs)
        stop = kwargs.get("stop")
        for i, t in enumerate(self.traces):
            if stop is not None and stop.is_set() and i % 100 == 0:
                return
            yield t


# ---------------------------------------------------------------- ABCs


def test_abcs_cannot_be_instantiated_and_routing_context_is_reexported() -> None:
    for abc in (_stubs.QueryAnalyzer, _stubs.RewardFunction, _stubs.RouterPolicy):
        with pytest.raises(TypeError):
            abc()  # type: ignore[abstract]
    from jarvis_tui.core import types

    assert _stubs.RoutingContext is types.RoutingContext


def test_policies_are_router_policies() -> None:
    assert isinstance(TraceDrivenPolicy(), _stubs.RouterPolicy)
    assert isinstance(BanditRouterPolicy(), _stubs.RouterPolicy)


def test_trace_policy_reexports_classify_query() -> None:
    assert classify_query is classify_module.classify_query


# ---------------------------------------------------------------- TraceDrivenPolicy


def test_reads_every_trace_not_just_the_newest_10000(tmp_path: Path) -> None:
    """12,000 traces; the winner only shows in the oldest 1,000."""
    old = [trace(i, "winner:7b", feedback=1.0, outcome="success") for i in range(1_000)]
    new = [trace(i, "newcomer:7b", feedback=0.6, outcome="success") for i in range(1_000, 12_000)]
    with TraceStore(tmp_path / "traces.db") as store:
        assert store.save_many(old + new) == 12_000
        newest = store.list_traces(limit=10_000)
        assert {t.model for t in newest} == {"newcomer:7b"}  # what the reference would see

        policy = TraceDrivenPolicy(store, default_model="default:1b")
        summary = policy.update_from_traces()
    assert summary["updated"] is True
    assert summary["total_traces"] == 12_000
    assert summary["samples"] == 12_000
    assert policy.policy_map == {"code": "winner:7b"}
    model, why = policy.explain(ctx(CODE_Q))
    assert model == "winner:7b" and why.startswith("learned:")


def test_streams_through_iter_traces() -> None:
    store = StreamOnlyStore([trace(i, "a:1b", feedback=0.8) for i in range(20)])
    policy = TraceDrivenPolicy(store, min_samples=1)
    assert policy.update_from_traces()["total_traces"] == 20
    assert len(store.calls) == 1


def test_asks_the_store_to_skip_steps_when_it_can() -> None:
    traces = [trace(i, "a:1b", feedback=0.8) for i in range(5)]
    store = StreamOnlyStore(traces)
    TraceDrivenPolicy(store).update_from_traces()
    assert store.calls[0]["with_steps"] is False

    class OlderStore:  # an iter_traces without the with_steps option
        def iter_traces(
            self,
            *,
            agent: Optional[str] = None,
            labelled: Optional[bool] = None,
            stop: Optional[threading.Event] = None,
        ) -> Iterator[Trace]:
            yield from traces

    policy = TraceDrivenPolicy(OlderStore())  # type: ignore[arg-type]
    assert policy.update_from_traces()["total_traces"] == 5
    assert BanditRouterPolicy().update_from_traces(OlderStore()) == 5  # type: ignore[arg-type]


def test_min_samples_is_respected() -> None:
    traces = [trace(i, "learned:7b", feedback=0.9) for i in range(4)]
    policy = TraceDrivenPolicy(StreamOnlyStore(traces), default_model="default:1b")
    assert policy.min_samples == 5
    policy.update_from_traces()
    assert policy.policy_map == {"code": "learned:7b"}  # known, but not trusted yet
    model, why = policy.explain(ctx(CODE_Q))
    assert model == "default:1b"
    assert "4 samples < min_samples 5" in why

    policy.observe(CODE_Q, "learned:7b", None, 0.9)
    assert policy.select_model(ctx(CODE_Q)) == "learned:7b"


def test_min_samples_counts_samples_not_unrated_traces() -> None:
    traces = [trace(i, "m:7b", feedback=0.9) for i in range(2)]
    traces += [trace(i, "m:7b") for i in range(2, 200)]  # no feedback, no outcome
    policy = TraceDrivenPolicy(StreamOnlyStore(traces), default_model="default:1b")
    summary = policy.update_from_traces()
    assert (summary["samples"], summary["unrated_traces"]) == (2, 198)
    assert policy.sample_counts == {"code": 2}
    assert policy.select_model(ctx(CODE_Q)) == "default:1b"


def test_min_samples_zero_trusts_the_first_sample() -> None:
    policy = TraceDrivenPolicy(min_samples=0)
    policy.observe(MATH_Q, "math:70b", "success", None)
    assert policy.select_model(ctx(MATH_Q)) == "math:70b"


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_min_samples_must_be_a_non_negative_int(bad: Any) -> None:
    with pytest.raises(ValueError):
        TraceDrivenPolicy(min_samples=bad)


def test_unrated_traces_are_not_counted_as_zero() -> None:
    # A: 5 ratings of 0.9 and 300 unrated traces; B: 10 ratings of 0.6.
    # Counting unrated as 0 would make A's mean 0.015 and pick B.
    traces = [trace(i, "a:7b", feedback=0.9) for i in range(5)]
    traces += [trace(i, "a:7b") for i in range(5, 305)]
    traces += [trace(i, "b:7b", feedback=0.6) for i in range(305, 315)]
    policy = TraceDrivenPolicy(StreamOnlyStore(traces))
    policy.update_from_traces()
    assert policy.select_model(ctx(CODE_Q)) == "a:7b"
    stats = policy.class_stats()["code"]
    assert stats["a:7b"]["avg_feedback"] == pytest.approx(0.9)
    assert stats["a:7b"]["avg_latency"] == pytest.approx(1.0)
    assert (stats["a:7b"]["rated"], stats["a:7b"]["unrated"]) == (5, 300)


def test_unknown_outcome_is_not_a_failure() -> None:
    # A: 6 known successes + 50 traces rated 1.0 with no outcome. B: 6 successes, 6 failures.
    traces = [trace(i, "a:7b", outcome="success") for i in range(6)]
    traces += [trace(i, "a:7b", feedback=1.0) for i in range(6, 56)]
    traces += [trace(i, "b:7b", outcome="success", feedback=1.0) for i in range(56, 62)]
    traces += [trace(i, "b:7b", outcome="failure", feedback=1.0) for i in range(62, 68)]
    policy = TraceDrivenPolicy(StreamOnlyStore(traces))
    policy.update_from_traces()
    stats = policy.class_stats()["code"]
    assert stats["a:7b"]["success_rate"] == 1.0  # 6/6, not 6/56
    assert stats["a:7b"]["score"] == pytest.approx(1.0)
    assert stats["b:7b"]["score"] == pytest.approx(0.6 * 0.5 + 0.4 * 1.0)
    assert policy.select_model(ctx(CODE_Q)) == "a:7b"


def test_score_uses_what_is_known() -> None:
    policy = TraceDrivenPolicy(min_samples=1)
    policy.observe(SHORT_Q, "only-outcome", "success", None)
    policy.observe(SHORT_Q, "only-feedback", None, 0.7)
    policy.observe(SHORT_Q, "both", "failure", 0.5)
    stats = policy.class_stats()["short"]
    assert stats["only-outcome"]["score"] == 1.0
    assert stats["only-feedback"]["score"] == pytest.approx(0.7)
    assert stats["both"]["score"] == pytest.approx(0.6 * 0.0 + 0.4 * 0.5)
    assert stats["both"]["avg_latency"] is None  # observe() carries no latency


def test_ties_go_to_more_samples_then_to_the_name() -> None:
    policy = TraceDrivenPolicy(min_samples=1)
    for _ in range(3):
        policy.observe(SHORT_Q, "z-more", None, 0.8)
    policy.observe(SHORT_Q, "a-fewer", None, 0.8)
    assert policy.select_model(ctx(SHORT_Q)) == "z-more"
    policy.observe(SHORT_Q, "a-fewer", None, 0.8)
    policy.observe(SHORT_Q, "a-fewer", None, 0.8)
    assert policy.select_model(ctx(SHORT_Q)) == "a-fewer"


def test_observe_ignores_what_says_nothing() -> None:
    policy = TraceDrivenPolicy(min_samples=1, default_model="d")
    policy.observe(SHORT_Q, "m", None, None)
    policy.observe(SHORT_Q, "", "success", 1.0)  # no model
    policy.observe(SHORT_Q, "m", None, float("nan"))
    assert policy.sample_counts == {"short": 0}
    assert policy.select_model(ctx(SHORT_Q)) == "d"


def test_observe_switches_to_the_better_model() -> None:
    policy = TraceDrivenPolicy(min_samples=2)
    for _ in range(3):
        policy.observe(MATH_Q, "weak", "failure", 0.2)
    assert policy.select_model(ctx(MATH_Q)) == "weak"
    for _ in range(3):
        policy.observe(MATH_Q, "strong", "success", 0.9)
    assert policy.select_model(ctx(MATH_Q)) == "strong"


def test_fallback_chain() -> None:
    assert TraceDrivenPolicy(default_model="d", fallback_model="f").select_model(ctx(CODE_Q)) == "d"
    assert (
        TraceDrivenPolicy(
            available_models=["f", "x"], default_model="d", fallback_model="f"
        ).select_model(ctx(CODE_Q))
        == "f"
    )
    only_x_y = TraceDrivenPolicy(available_models=["x", "y"], default_model="d")
    assert only_x_y.select_model(ctx(CODE_Q)) == "x"
    model, why = TraceDrivenPolicy().explain(ctx(CODE_Q))
    assert model == "" and "no samples" in why


def test_unavailable_winner_gives_way_to_the_best_available_learned_model() -> None:
    policy = TraceDrivenPolicy(available_models=["second", "other"], default_model="other")
    for _ in range(5):
        policy.observe(CODE_Q, "first", "success", 1.0)
        policy.observe(CODE_Q, "second", "success", 0.8)
    model, why = policy.explain(ctx(CODE_Q))
    assert model == "second" and "better 1 not available" in why
    only_first = TraceDrivenPolicy(available_models=["other"], default_model="other")
    for _ in range(5):
        only_first.observe(CODE_Q, "first", "success", 1.0)
    assert only_first.explain(ctx(CODE_Q)) == (
        "other",
        "class 'code': no learned model is available → default model other",
    )


def test_update_filters_by_time_and_agent() -> None:
    traces = [trace(i, "early", feedback=1.0, agent="a") for i in range(10)]
    traces += [trace(i, "late", feedback=1.0, agent="b") for i in range(10, 20)]
    store = StreamOnlyStore(traces)
    policy = TraceDrivenPolicy(store)
    summary = policy.update_from_traces(since=1_700_000_010.0)
    assert summary["total_traces"] == 10
    assert policy.policy_map == {"code": "late"}
    policy.update_from_traces(agent="a")
    assert store.calls[-1]["agent"] == "a"


def test_until_is_inclusive() -> None:
    policy = TraceDrivenPolicy(StreamOnlyStore([trace(i, "m", feedback=1.0) for i in range(10)]))
    assert policy.update_from_traces(until=1_700_000_004.0)["total_traces"] == 5


def test_update_replaces_what_observe_added_for_the_classes_it_reads() -> None:
    store = StreamOnlyStore([trace(i, "m", feedback=0.5) for i in range(6)])
    policy = TraceDrivenPolicy(store)
    policy.observe(CODE_Q, "m", None, 0.5)  # also saved to the store by the assistant
    policy.observe(MATH_Q, "calc", "success", None)  # a class the store does not have
    policy.update_from_traces()
    assert policy.sample_counts == {"code": 6, "math": 1}


def test_stopped_update_changes_nothing(tmp_path: Path) -> None:
    stop = threading.Event()
    policy = TraceDrivenPolicy(min_samples=1)
    policy.observe(CODE_Q, "before", None, 1.0)
    with TraceStore(tmp_path / "traces.db") as store:
        store.save_many([trace(i, "after", feedback=1.0) for i in range(3_000)])
        seen: list[int] = []

        def progress(n: int) -> None:
            seen.append(n)
            stop.set()

        summary = policy.update_from_traces(store, stop=stop, progress=progress)
    assert summary["updated"] is False and summary["reason"] == "stopped"
    assert summary["total_traces"] < 3_000
    assert seen and seen[0] == 1_000
    assert policy.policy_map == {"code": "before"}


def test_progress_reports_the_final_count() -> None:
    seen: list[int] = []
    store = StreamOnlyStore([trace(i, "m", feedback=1.0) for i in range(2_500)])
    TraceDrivenPolicy(store).update_from_traces(progress=seen.append)
    assert seen == [1_000, 2_000, 2_500]


def test_update_without_store_or_traces() -> None:
    assert TraceDrivenPolicy().update_from_traces()["updated"] is False
    assert TraceDrivenPolicy(StreamOnlyStore([])).update_from_traces() == {
        "updated": False,
        "reason": "no traces",
        "total_traces": 0,
    }
    with pytest.raises(TypeError, match="iter_traces"):
        TraceDrivenPolicy().update_from_traces(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="available_models"):
        TraceDrivenPolicy(["m1", "m2"])  # type: ignore[arg-type]


def test_update_reports_changes() -> None:
    policy = TraceDrivenPolicy(StreamOnlyStore([trace(i, "m1", feedback=1.0) for i in range(5)]))
    assert policy.update_from_traces()["changes"] == {"code": {"old": "", "new": "m1"}}
    policy = TraceDrivenPolicy(StreamOnlyStore([trace(i, "m1", feedback=1.0) for i in range(5)]))
    policy.update_from_traces()
    assert policy.update_from_traces()["changes"] == {}


def test_policy_map_is_a_copy() -> None:
    policy = TraceDrivenPolicy(min_samples=1)
    policy.observe(CODE_Q, "m", "success", None)
    policy.policy_map["code"] = "tampered"
    assert policy.policy_map == {"code": "m"}


def test_reset_forgets() -> None:
    policy = TraceDrivenPolicy(min_samples=0, default_model="d")
    policy.observe(CODE_Q, "m", "success", None)
    policy.reset()
    assert policy.policy_map == {} and policy.select_model(ctx(CODE_Q)) == "d"


# ---------------------------------------------------------------- BanditRouterPolicy

ARMS = {"bad:1b": 0.2, "ok:8b": 0.5, "best:70b": 0.8}


def run_bandit(seed: int, rounds: int) -> tuple[BanditRouterPolicy, list[str]]:
    """Simulate *rounds* of route -> Bernoulli reward -> update, all seeded."""
    policy = BanditRouterPolicy(list(ARMS), seed=seed)
    env = random.Random(seed + 1)
    picks: list[str] = []
    for _ in range(rounds):
        model = policy.select_model(ctx(CODE_Q))
        picks.append(model)
        policy.update("code", model, 1.0 if env.random() < ARMS[model] else 0.0)
    return policy, picks


def test_bandit_converges_to_the_best_arm_with_a_fixed_seed() -> None:
    policy, picks = run_bandit(seed=7, rounds=1_500)
    tail = picks[-500:]
    assert tail.count("best:70b") / len(tail) > 0.9
    posterior = policy.posterior("code")
    means = {m: p[2] for m, p in posterior.items()}
    assert max(means, key=means.__getitem__) == "best:70b"
    assert means["best:70b"] == pytest.approx(0.8, abs=0.05)


def test_bandit_is_deterministic_for_a_seed() -> None:
    assert run_bandit(seed=3, rounds=200)[1] == run_bandit(seed=3, rounds=200)[1]
    assert run_bandit(seed=3, rounds=200)[1] != run_bandit(seed=4, rounds=200)[1]


def test_fractional_rewards_update_the_beta_posterior() -> None:
    policy = BanditRouterPolicy()
    policy.update("code", "m", 0.7)
    policy.update("code", "m", 1.0)
    alpha, beta, mean = policy.posterior("code")["m"]
    assert (alpha, beta) == pytest.approx((1.0 + 1.7, 1.0 + 0.3))
    assert mean == pytest.approx(2.7 / 4.0)
    assert policy.get_stats("code")["m"]["pulls"] == 2


def test_update_takes_a_query_or_a_class_name() -> None:
    policy = BanditRouterPolicy()
    policy.update(CODE_Q, "m", 1.0)
    policy.update("code", "m", 1.0)
    policy.update(MATH_Q, "m", 1.0)
    assert policy.get_stats("code")["m"]["pulls"] == 2
    assert policy.get_stats("math")["m"]["pulls"] == 1
    assert set(policy.get_stats()) == {"code", "math"}


def test_rewards_are_clamped_and_nan_is_refused() -> None:
    policy = BanditRouterPolicy()
    policy.update("short", "m", 5.0)
    policy.update("short", "m", -2.0)
    assert policy.posterior("short")["m"][:2] == pytest.approx((2.0, 2.0))
    with pytest.raises(ValueError):
        policy.update("short", "m", float("nan"))


def test_bandit_candidates_and_fallbacks() -> None:
    empty = BanditRouterPolicy(default_model="d", fallback_model="f")
    assert empty.explain(ctx(SHORT_Q)) == (
        "d",
        "class 'short': no models to sample → default model d",
    )
    assert BanditRouterPolicy(fallback_model="f").select_model(ctx(SHORT_Q)) == "f"
    assert BanditRouterPolicy().select_model(ctx(SHORT_Q)) == ""
    seen_only = BanditRouterPolicy(seed=0)
    seen_only.update("short", "seen", 1.0)
    assert seen_only.select_model(ctx(SHORT_Q)) == "seen"
    assert seen_only.route(ctx(SHORT_Q), ["given"]) == "given"
    with pytest.raises(ValueError):
        seen_only.route(ctx(SHORT_Q), [])


def test_bandit_explain_shows_the_draw() -> None:
    model, why = BanditRouterPolicy(["a", "b"], seed=1).explain(ctx(MATH_Q))
    assert model in {"a", "b"}
    assert why.startswith("thompson: class 'math' →") and "Beta(1.0, 1.0)" in why


def test_bandit_learns_from_rated_traces_only() -> None:
    traces = [trace(i, "good", feedback=1.0) for i in range(10)]
    traces += [trace(i, "good") for i in range(10, 50)]  # unrated: not reward 0
    traces += [trace(i, "poor", feedback=0.0) for i in range(50, 60)]

    class LabelledStore(StreamOnlyStore):
        def iter_traces(self, **kwargs: Any) -> Iterator[Trace]:
            self.calls.append(kwargs)
            labelled = kwargs.get("labelled")
            yield from (t for t in self.traces if labelled is not True or t.feedback is not None)

    policy = BanditRouterPolicy(seed=0)
    assert policy.update_from_traces(LabelledStore(traces)) == 20
    posterior = policy.posterior("code")
    assert posterior["good"] == pytest.approx((11.0, 1.0, 11.0 / 12.0))
    assert posterior["poor"][2] == pytest.approx(1.0 / 12.0)
    policy.reset()
    assert policy.posterior("code") == {}


def test_bandit_rejects_a_bad_prior() -> None:
    with pytest.raises(ValueError):
        BanditRouterPolicy(prior_alpha=0.0)


def test_bandit_is_safe_across_threads() -> None:
    policy = BanditRouterPolicy(["a", "b"], seed=5)

    def work() -> None:
        for i in range(500):
            policy.update("code", "a" if i % 2 else "b", 1.0)
            policy.select_model(ctx(CODE_Q))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = policy.get_stats("code")
    assert stats["a"]["pulls"] + stats["b"]["pulls"] == 2_000
