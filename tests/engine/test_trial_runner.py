"""Replaying labelled traces to estimate a config's accuracy, latency and cost."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.demo import MODELS, QUALITY, build_demo
from jarvis_tui.learning.classify import classify_query
from jarvis_tui.learning.optimize.trial_runner import (
    DEFAULT_PRICES,
    FALLBACK_PRICE,
    TraceReplayRunner,
    TrialRunner,
    price_per_million,
)
from jarvis_tui.learning.optimize.types import TrialConfig
from jarvis_tui.paths import Workspace
from jarvis_tui.traces.store import TraceStore

EXACT = 1e-9

# One query per class, as the store's classifier sees them.
QUERIES = {
    "code": "import os; how do I list the files?",
    "math": "solve x + 1 = 2",
    "short": "hi there",
    "general": "Tell me a few things worth knowing about the history of tea, briefly.",
    "long": "Please read this. " * 40,
}


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceStore]:
    root = build_demo(tmp_path_factory.mktemp("replay") / "ws", traces=2_000, seed=7)
    store = TraceStore(Workspace(root).traces_db)
    yield store
    store.close()


@pytest.fixture(scope="module")
def demo_traces(demo_store: TraceStore) -> list[Trace]:
    return list(demo_store.iter_traces(with_steps=False))


def config(tid: str = "t-1", **params: Any) -> TrialConfig:
    return TrialConfig(tid, {k.replace("__", "."): v for k, v in params.items()})


def expected(
    traces: list[Trace],
    model_of: Callable[[str], str],
    *,
    agent: str | None = None,
    min_samples: int = 5,
    prices: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The replay figures computed trace by trace, independently of the runner."""
    by_class: dict[str, list[Trace]] = defaultdict(list)
    for t in traces:
        by_class[classify_query(t.query)].append(t)
    out: dict[str, Any] = dict(accuracy=0.0, latency=0.0, tokens=0.0, cost=0.0, rated=0, classes={})
    for qclass, ts in by_class.items():
        share = len(ts) / len(traces)
        model = model_of(qclass)
        sel = [t for t in ts if t.model == model and (agent is None or t.agent == agent)]
        if agent is not None and sum(t.feedback is not None for t in sel) < min_samples:
            sel = [t for t in ts if t.model == model]
        rated = [t.feedback for t in sel if t.feedback is not None]
        assert len(rated) >= min_samples, f"test data: no evidence for {model} on {qclass}"
        acc = sum(rated) / len(rated)
        lat = sum(t.total_latency_seconds for t in sel) / len(sel)
        tok = sum(t.total_tokens for t in sel) / len(sel)
        cost = tok * price_per_million(model, prices) / 1e6
        out["classes"][qclass] = (acc, share, len(rated))
        out["accuracy"] += share * acc
        out["latency"] += share * lat
        out["tokens"] += share * tok
        out["cost"] += share * cost
        out["rated"] += len(rated)
    return out


# ---------------------------------------------------------------- the demo


@pytest.mark.parametrize("model", list(MODELS))
def test_single_model_figures_equal_an_independent_replay(
    demo_store: TraceStore, demo_traces: list[Trace], model: str
) -> None:
    result = TraceReplayRunner(demo_store).run_trial(config(intelligence__model=model))
    want = expected(demo_traces, lambda _c: model)
    assert result.accuracy == pytest.approx(want["accuracy"], abs=EXACT)
    assert result.mean_latency_seconds == pytest.approx(want["latency"], abs=EXACT)
    assert result.total_cost_usd == pytest.approx(want["cost"], abs=EXACT)
    assert result.total_tokens == round(want["tokens"])
    assert result.samples_evaluated == want["rated"]
    assert result.total_energy_joules == 0.0 and result.analysis == ""
    rows = {b.benchmark: b for b in result.per_benchmark}
    assert set(rows) == set(want["classes"])
    for qclass, (acc, share, rated) in want["classes"].items():
        assert rows[qclass].accuracy == pytest.approx(acc, abs=EXACT)
        assert rows[qclass].weight == pytest.approx(share, abs=EXACT)
        assert rows[qclass].samples_evaluated == rated
        assert rows[qclass].errors == 0
    assert sum(b.weight for b in result.per_benchmark) == pytest.approx(1.0)
    s = result.summary
    assert s is not None and s.benchmark == "trace-replay" and s.model == model
    assert (s.accuracy, s.total_cost_usd, s.errors) == (result.accuracy, result.total_cost_usd, 0)
    assert result.failure_modes[0].startswith("estimate from ")
    assert f"({want['rated']:,} rated)" in result.failure_modes[0]


@pytest.mark.parametrize("how", ["param", "type", "constructor"])
def test_agent_choice_replays_that_agent(
    demo_store: TraceStore, demo_traces: list[Trace], how: str
) -> None:
    params = {"intelligence.model": "llama3.1:70b"}
    if how == "param":
        params["agent.name"] = "react"
    elif how == "type":
        params["agent.type"] = "react"
    runner = TraceReplayRunner(demo_store, agent="react" if how == "constructor" else None)
    result = runner.run_trial(TrialConfig("t-a", params))
    want = expected(demo_traces, lambda _c: "llama3.1:70b", agent="react")
    assert result.accuracy == pytest.approx(want["accuracy"], abs=EXACT)
    assert result.mean_latency_seconds == pytest.approx(want["latency"], abs=EXACT)
    assert result.total_cost_usd == pytest.approx(want["cost"], abs=EXACT)
    assert "agent react" in result.failure_modes[0]
    whole = runner.run_trial(
        TrialConfig("t-b", {"intelligence.model": "llama3.1:70b", "agent.name": "simple"})
    )
    assert whole.accuracy != result.accuracy


def test_a_routing_override_changes_only_its_class(demo_store: TraceStore) -> None:
    runner = TraceReplayRunner(demo_store)
    base = runner.run_trial(config(intelligence__model="llama3.1:8b"))
    routed = runner.run_trial(
        config(intelligence__model="llama3.1:8b", routing__math__model="llama3.1:70b")
    )
    for a, b in zip(base.per_benchmark, routed.per_benchmark, strict=True):
        assert a.benchmark == b.benchmark
        if a.benchmark == "math":
            assert b.accuracy > a.accuracy
        else:
            assert (a.accuracy, a.mean_latency_seconds, a.total_cost_usd, a.samples_evaluated) == (
                b.accuracy,
                b.mean_latency_seconds,
                b.total_cost_usd,
                b.samples_evaluated,
            )
    assert routed.accuracy > base.accuracy
    assert not any("not replayable" in n for n in routed.failure_modes)
    # "default" (the derived space's first routing choice) means no override.
    same = runner.run_trial(
        config(intelligence__model="llama3.1:8b", routing__math__model="default")
    )
    assert same.per_benchmark == base.per_benchmark and same.accuracy == base.accuracy


def test_routing_each_class_to_its_best_model_beats_every_single_model(
    demo_store: TraceStore, demo_traces: list[Trace]
) -> None:
    runner = TraceReplayRunner(demo_store)
    best = {qclass: max(q, key=q.__getitem__) for qclass, q in QUALITY.items()}
    routing = {f"routing.{c}.model": m for c, m in best.items()}
    routed = runner.run_trial(TrialConfig("t-r", {"intelligence.model": "phi3:3.8b", **routing}))
    want = expected(demo_traces, best.__getitem__)
    assert routed.accuracy == pytest.approx(want["accuracy"], abs=EXACT)
    singles = [runner.run_trial(config(intelligence__model=m)).accuracy for m in MODELS]
    assert routed.accuracy > max(singles)


def test_a_model_without_evidence_scores_zero_as_an_error(demo_store: TraceStore) -> None:
    runner = TraceReplayRunner(demo_store)
    nobody = runner.run_trial(config(intelligence__model="gpt-9"))
    assert nobody.accuracy == 0.0 and nobody.samples_evaluated == 0
    assert [b.errors for b in nobody.per_benchmark] == [1] * 5
    assert nobody.summary is not None and nobody.summary.errors == 5
    assert "no evidence for gpt-9 on code: 0 rated (need 5)" in nobody.failure_modes
    # Never faster or cheaper than a model that was tried: it cannot win on any objective.
    for m in MODELS:
        tried = runner.run_trial(config(intelligence__model=m))
        assert nobody.mean_latency_seconds >= tried.mean_latency_seconds
        assert nobody.total_cost_usd >= tried.total_cost_usd
    # Routing one class to it costs exactly that class.
    base = runner.run_trial(config(intelligence__model="gpt-4o-mini"))
    one = runner.run_trial(config(intelligence__model="gpt-4o-mini", routing__long__model="gpt-9"))
    rows = {b.benchmark: b for b in one.per_benchmark}
    assert rows["long"].accuracy == 0.0 and rows["long"].errors == 1
    assert sum(b.errors for b in one.per_benchmark) == 1
    long_share = rows["long"].weight
    old_long = next(b for b in base.per_benchmark if b.benchmark == "long").accuracy
    assert one.accuracy == pytest.approx(base.accuracy - long_share * old_long, abs=EXACT)


def test_params_traces_cannot_replay_are_listed_not_guessed(demo_store: TraceStore) -> None:
    runner = TraceReplayRunner(demo_store)
    plain = runner.run_trial(config(intelligence__model="llama3.1:8b"))
    extra = runner.run_trial(
        config(
            intelligence__model="llama3.1:8b",
            intelligence__temperature=0.1,
            agent__max_turns=3,
            routing__poetry__model="phi3:3.8b",
        )
    )
    assert "not replayable from traces: agent.max_turns, intelligence.temperature" in (
        extra.failure_modes
    )
    assert "no traces of class poetry: its routing has no effect" in extra.failure_modes
    assert (extra.accuracy, extra.mean_latency_seconds, extra.total_cost_usd) == (
        plain.accuracy,
        plain.mean_latency_seconds,
        plain.total_cost_usd,
    )


def test_without_a_model_param_the_logged_mix_is_replayed(
    demo_store: TraceStore, demo_traces: list[Trace]
) -> None:
    result = TraceReplayRunner(demo_store).run_trial(config())
    rated = [t.feedback for t in demo_traces if t.feedback is not None]
    by_class: dict[str, list[float]] = defaultdict(list)
    for t in demo_traces:
        if t.feedback is not None:
            by_class[classify_query(t.query)].append(t.feedback)
    counts: dict[str, int] = defaultdict(int)
    for t in demo_traces:
        counts[classify_query(t.query)] += 1
    want = sum(counts[c] / len(demo_traces) * sum(v) / len(v) for c, v in by_class.items())
    assert result.accuracy == pytest.approx(want, abs=EXACT)
    assert result.samples_evaluated == len(rated)
    assert any("replayed the logged models" in n for n in result.failure_modes)


def test_statistics_are_read_once_until_refreshed(
    tmp_path: Path, make_trace: Callable[..., Trace]
) -> None:
    store = TraceStore(tmp_path / "traces.db")
    try:
        store.save_many(
            make_trace(i, query=QUERIES["short"], model="m:1b", feedback=0.5) for i in range(6)
        )
        calls = []
        cube = store.cube

        def counting(**kw: Any) -> list[dict[str, Any]]:
            calls.append(kw)
            return cube(**kw)

        store.cube = counting  # type: ignore[method-assign]
        runner = TraceReplayRunner(store)
        assert calls == []  # lazy: nothing read before the first trial
        for _ in range(50):
            assert runner.run_trial(config(intelligence__model="m:1b")).accuracy == 0.5
        assert len(calls) == 1
        store.save_many(
            make_trace(100 + i, query=QUERIES["short"], model="m:1b", feedback=1.0)
            for i in range(6)
        )
        assert runner.run_trial(config(intelligence__model="m:1b")).accuracy == 0.5  # cached
        runner.refresh()
        assert runner.run_trial(config(intelligence__model="m:1b")).accuracy == 0.75
        assert len(calls) == 2
    finally:
        store.close()


# ---------------------------------------------------------------- hand-made stores


Row = tuple[str, str, str, float | None, float, int]
"""(query class, model, agent, feedback, latency, tokens) of one hand-made trace."""


def _save(store: TraceStore, rows: list[Row], make_trace: Callable[..., Trace]) -> None:
    store.save_many(
        make_trace(
            i,
            query=QUERIES[qclass],
            model=model,
            agent=agent,
            feedback=fb,
            total_latency_seconds=lat,
            total_tokens=tok,
            n_steps=0,
        )
        for i, (qclass, model, agent, fb, lat, tok) in enumerate(rows)
    )


def test_hand_made_store_gives_the_hand_computed_figures(
    tmp_path: Path, make_trace: Callable[..., Trace]
) -> None:
    rows = (
        [("code", "a:7b", "simple", 0.8, 2.0, 1000)] * 5
        + [("code", "a:7b", "simple", None, 4.0, 3000)] * 5  # unrated: latency and tokens only
        + [("short", "a:7b", "simple", 0.4, 1.0, 200)] * 6
        + [("short", "b", "simple", 0.9, 0.5, 100)] * 4
    )
    with TraceStore(tmp_path / "traces.db") as store:
        _save(store, rows, make_trace)
        runner = TraceReplayRunner(store, prices={"a:7b": 2.0})
        r = runner.run_trial(config(intelligence__model="a:7b"))
        # code: share 10/20, acc 0.8, latency 3.0, tokens 2000; short: share 10/20,
        # acc 0.4, latency 1.0, tokens 200. Price 2 USD per 1M tokens.
        assert r.accuracy == pytest.approx(0.6, abs=EXACT)
        assert r.mean_latency_seconds == pytest.approx(2.0, abs=EXACT)
        assert r.total_tokens == 1100
        assert r.total_cost_usd == pytest.approx(1100 * 2.0 / 1e6, abs=EXACT)
        assert r.samples_evaluated == 11
        assert r.summary is not None and r.summary.correct == 5  # feedback >= 0.5
        assert r.failure_modes[0] == (
            "estimate from 16 replayed traces (11 rated) of 2 query classes,"
            " weighted by the workload mix; every agent"
        )
        # "b" has 4 rated short traces: below min_samples by default, enough with 4.
        b = runner.run_trial(config(intelligence__model="b"))
        assert "no evidence for b on short: 4 rated (need 5)" in b.failure_modes
        b4 = TraceReplayRunner(store, min_samples=4).run_trial(
            config(intelligence__model="a:7b", routing__short__model="b")
        )
        assert b4.accuracy == pytest.approx(0.5 * 0.8 + 0.5 * 0.9, abs=EXACT)


def test_too_few_traces_of_the_agent_fall_back_to_every_agent(
    tmp_path: Path, make_trace: Callable[..., Trace]
) -> None:
    rows = (
        [("math", "m:8b", "simple", 0.6, 1.0, 100)] * 6
        + [("math", "m:8b", "react", 1.0, 3.0, 300)] * 2
        + [("code", "m:8b", "react", 0.9, 2.0, 200)] * 5
    )
    with TraceStore(tmp_path / "traces.db") as store:
        _save(store, rows, make_trace)
        r = TraceReplayRunner(store).run_trial(
            config(intelligence__model="m:8b", agent__name="react")
        )
    rows_by = {b.benchmark: b for b in r.per_benchmark}
    assert rows_by["code"].accuracy == pytest.approx(0.9)  # react's own traces
    assert rows_by["math"].accuracy == pytest.approx((6 * 0.6 + 2 * 1.0) / 8)  # every agent's
    assert rows_by["math"].samples_evaluated == 8
    assert (
        "estimate: agent react has fewer than 5 rated traces for math (2):"
        " replayed every agent's traces of the model there"
    ) in r.failure_modes


def test_a_store_without_labels_cannot_be_replayed(
    tmp_path: Path, make_trace: Callable[..., Trace]
) -> None:
    with TraceStore(tmp_path / "empty.db") as store:
        with pytest.raises(ValueError, match=r"^no labelled traces to replay: label some"):
            TraceReplayRunner(store).run_trial(config(intelligence__model="x"))
    with TraceStore(tmp_path / "unlabelled.db") as store:
        _save(store, [("code", "a", "simple", None, 1.0, 10)] * 8, make_trace)
        with pytest.raises(ValueError, match="no labelled traces to replay"):
            TraceReplayRunner(store).run_trial(config(intelligence__model="a"))


def test_prices() -> None:
    assert all(p > 0 for p in DEFAULT_PRICES.values())
    assert (
        DEFAULT_PRICES["llama3.1:70b"] > DEFAULT_PRICES["llama3.1:8b"] > DEFAULT_PRICES["phi3:3.8b"]
    )
    assert set(MODELS) <= set(DEFAULT_PRICES)
    assert price_per_million("gpt-4o-mini", {"gpt-4o-mini": 9.0}) == 9.0
    assert price_per_million("qwen3:8b") == pytest.approx(0.04)  # sized local model
    assert price_per_million("mystery-model") == FALLBACK_PRICE


def test_bad_arguments_and_the_protocol(demo_store: TraceStore) -> None:
    with pytest.raises(ValueError, match="min_samples"):
        TraceReplayRunner(demo_store, min_samples=0)
    runner = TraceReplayRunner(demo_store)
    assert isinstance(runner, TrialRunner)
    assert runner.benchmark == "trace-replay" and runner.is_estimate is True
    mix = runner.workload_mix()
    assert list(mix) == ["code", "math", "short", "long", "general"]
    assert sum(mix.values()) == pytest.approx(1.0)
    assert runner.models() == sorted(MODELS)
