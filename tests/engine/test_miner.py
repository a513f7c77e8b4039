"""TrainingDataMiner: the spec's keys and thresholds, every trace read, SQL == Python."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.learning.training import TrainingDataMiner
from jarvis_tui.traces import TraceStore

MODELS = ("coder:7b", "big:70b", "small:3b")
AGENTS = ("simple", "react")
QUERIES = {
    "code": "fix `foo()` please, case {i}",
    "math": "solve the equation x + {i} = 3 and explain the steps in detail",
    "short": "hi {i}",
    "general": "tell me something interesting about the number {i} and its history",
}
# mean quality per (class, model): each class has its own winner
QUALITY = {
    "code": {"coder:7b": 0.9, "big:70b": 0.7, "small:3b": 0.4},
    "math": {"coder:7b": 0.5, "big:70b": 0.85, "small:3b": 0.3},
    "short": {"coder:7b": 0.6, "big:70b": 0.6, "small:3b": 0.9},
    "general": {"coder:7b": 0.5, "big:70b": 0.8, "small:3b": 0.6},
}


def make(n: int, seed: int = 3) -> list[Trace]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        qc = list(QUERIES)[i % 4]
        model = MODELS[rng.randrange(3)]
        agent = AGENTS[rng.randrange(2)]
        q = QUERIES[qc].format(i=i % 50)  # duplicates on purpose
        fb = None
        if rng.random() < 0.7:
            fb = round(min(1, max(0, rng.gauss(QUALITY[qc][model], 0.1))), 2)
        outcome = rng.choice([None, None, "success", "failure"])
        tool = "calculator" if qc == "math" else "web_search" if agent == "react" else "file_read"
        steps = [TraceStep(StepType.ROUTE, 1.0, 0.01, {}, {})]
        steps.append(TraceStep(StepType.TOOL_CALL, 1.0, 0.1, {"tool": tool}, {}))
        if i % 3 == 0:
            steps.append(TraceStep(StepType.TOOL_CALL, 1.0, 0.1, {"tool": "retrieval"}, {}))
        steps.append(TraceStep(StepType.TOOL_CALL, 1.0, 0.1, {"nottool": 1}, {}))
        out.append(
            Trace(
                trace_id=f"m{i:05d}", query=q, agent=agent, model=model,
                result=f"answer to {q}" if i % 7 else "same answer",
                outcome=outcome, feedback=fb, started_at=1e9 + i, steps=steps,
                total_latency_seconds=1.0 + (i % 5), total_tokens=100 + i % 17,
            )
        )  # fmt: skip
    return out


class ListOnly:
    """A store with only the reference interface: list_traces(limit=…)."""

    def __init__(self, traces: list[Trace]) -> None:
        self._traces = sorted(traces, key=lambda t: t.started_at, reverse=True)

    def list_traces(self, *, limit: int = 100, agent: str | None = None) -> list[Trace]:
        got = [t for t in self._traces if agent is None or t.agent == agent]
        return got[:limit]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    traces = make(3000)
    store = TraceStore(Path(tmp_path_factory.mktemp("miner")) / "traces.db")
    store.save_many(traces)
    yield store, traces
    store.close()


def _approx(d):
    if isinstance(d, dict):
        return {k: _approx(v) for k, v in d.items()}
    if isinstance(d, float):
        return pytest.approx(d, abs=1e-9)
    return d


@pytest.mark.parametrize("agent", [None, "react"])
@pytest.mark.parametrize("min_quality", [0.0, 0.7, 0.95])
def test_sql_path_equals_reference_interface_path(data, agent, min_quality):
    store, traces = data
    fast = TrainingDataMiner(store, min_quality=min_quality)
    slow = TrainingDataMiner(ListOnly(traces), min_quality=min_quality)
    assert fast.extract_routing_pairs(agent=agent) == _approx(
        slow.extract_routing_pairs(agent=agent)
    )
    assert fast.extract_agent_config_pairs(agent=agent) == _approx(
        slow.extract_agent_config_pairs(agent=agent)
    )
    assert fast.extract_sft_pairs(agent=agent) == slow.extract_sft_pairs(agent=agent)
    fm, sm = fast.routing_matrix(agent=agent), slow.routing_matrix(agent=agent)
    assert fm.recommendations.keys() == sm.recommendations.keys()
    for qc, rec in fm.recommendations.items():
        other = sm.recommendations[qc]
        assert (rec.best, rec.runner_up, rec.confidence, rec.rated) == (
            other.best, other.runner_up, other.confidence, other.rated,
        )  # fmt: skip
        assert rec.margin == pytest.approx(other.margin)
    assert fm.cells.keys() == sm.cells.keys()
    for key, cell in fm.cells.items():
        assert (cell.n, cell.rated.n) == (sm.cells[key].n, sm.cells[key].rated.n)
        assert cell.latency == pytest.approx(sm.cells[key].latency)


def test_quality_is_success_or_unknown_never_failure(data):
    store, traces = data
    pairs = TrainingDataMiner(store, min_quality=0.7).extract_sft_pairs()
    by_key = {}
    for t in sorted(traces, key=lambda t: t.started_at, reverse=True):
        by_key.setdefault((t.query, t.result), []).append(t)
    expected = []
    seen = set()
    for t in sorted(traces, key=lambda t: t.started_at, reverse=True):
        ok = t.feedback is not None and t.feedback >= 0.7 and t.outcome != "failure"
        if ok and (t.query, t.result) not in seen:
            seen.add((t.query, t.result))
            expected.append(t.trace_id)
    assert len(pairs) == len(expected) > 0
    assert all(p["feedback"] >= 0.7 for p in pairs)
    outcomes = {t.outcome for t in traces if t.feedback and t.feedback >= 0.7}
    assert {None, "success", "failure"} <= outcomes  # the data has all three
    assert set(pairs[0]) == {"input", "output", "query_class", "model", "feedback"}


def test_routing_pairs_find_each_class_winner(data):
    store, _ = data
    pairs = TrainingDataMiner(store, min_quality=0.0).extract_routing_pairs()
    assert {qc: p["best_model"] for qc, p in pairs.items()} == {
        "code": "coder:7b", "math": "big:70b", "short": "small:3b", "general": "big:70b",
    }  # fmt: skip
    for p in pairs.values():
        assert set(p) >= {"best_model", "avg_feedback", "sample_count", "all_models"}
        assert p["sample_count"] == sum(m["count"] for m in p["all_models"].values())


def test_min_samples_per_class_drops_thin_classes(data):
    store, _ = data
    pairs = TrainingDataMiner(store, min_quality=0.88, min_samples_per_class=60)
    got = pairs.extract_routing_pairs()
    everything = TrainingDataMiner(store, min_quality=0.88).extract_routing_pairs()
    assert set(got) == {qc for qc, p in everything.items() if p["sample_count"] >= 60}
    assert set(got) != set(everything)


def test_agent_pairs_tools_of_the_best_agent_by_frequency(data):
    store, traces = data
    pairs = TrainingDataMiner(store, min_quality=0.0).extract_agent_config_pairs()
    math = pairs["math"]
    assert math["best_tools"][0] == "calculator"
    assert "retrieval" in math["best_tools"]
    assert all(isinstance(t, str) for p in pairs.values() for t in p["best_tools"])


def test_reads_every_trace_not_the_newest_10000(tmp_path):
    """A winner visible only in traces older than the newest 10,000."""
    store = TraceStore(tmp_path / "traces.db")
    old = [
        Trace(trace_id=f"old{i}", query=f"hi {i}", model="rare:1b", feedback=1.0,
              outcome=None, started_at=float(i))
        for i in range(50)
    ]  # fmt: skip
    new = [
        Trace(trace_id=f"new{i}", query=f"hey {i}", model="common:8b", feedback=0.5,
              outcome=None, started_at=1e6 + i)
        for i in range(10_000)
    ]  # fmt: skip
    store.save_many(old + new)
    pairs = TrainingDataMiner(store, min_quality=0.0).extract_routing_pairs()
    assert pairs["short"]["best_model"] == "rare:1b"
    assert pairs["short"]["sample_count"] == 10_050
    store.close()


def test_matrix_marks_thin_evidence_and_ignores_unrated(tmp_path):
    store = TraceStore(tmp_path / "traces.db")
    rows = [Trace(trace_id=f"a{i}", query=f"hi {i}", model="a", feedback=0.9, started_at=i)
            for i in range(5)]  # fmt: skip
    rows += [Trace(trace_id=f"b{i}", query=f"hi b{i}", model="b", feedback=0.6, started_at=i)
             for i in range(40)]  # fmt: skip
    rows += [Trace(trace_id=f"u{i}", query=f"hi u{i}", model="a", feedback=None, started_at=i)
             for i in range(100)]  # fmt: skip
    store.save_many(rows)
    m = TrainingDataMiner(store).routing_matrix(min_samples=30)
    rec = m.recommendations["short"]
    assert rec.best == "a" and rec.runner_up == "b"
    assert rec.confidence == "not enough evidence"
    cell = m.cells[("short", "a")]
    assert cell.n == 105 and cell.rated.n == 5 and cell.rated.mean == pytest.approx(0.9)
    m2 = TrainingDataMiner(store).routing_matrix(min_samples=5)
    assert m2.recommendations["short"].confidence == "clear"
    store.close()


def test_empty_store(tmp_path):
    store = TraceStore(tmp_path / "traces.db")
    miner = TrainingDataMiner(store)
    assert miner.extract_sft_pairs() == []
    assert miner.extract_routing_pairs() == {}
    assert miner.extract_agent_config_pairs() == {}
    assert miner.routing_matrix().recommendations == {}
    store.close()
