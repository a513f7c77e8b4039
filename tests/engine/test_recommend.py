"""One agent recommendation: the evolver, the learning cycle and the Routing pane agree."""

from __future__ import annotations

from pathlib import Path

from jarvis_tui.core.types import Trace
from jarvis_tui.demo import PINNED_NOW, build_demo
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.learning.recommend import (
    AgentEvidence,
    decide,
    evidence_from_traces,
    recommend_agents,
)
from jarvis_tui.traces import TraceStore


def test_the_evolver_and_the_routing_source_pick_the_same_agent(tmp_path: Path) -> None:
    root = build_demo(tmp_path / "ws", traces=1500, seed=3, optimize=False, now=PINNED_NOW)
    with TraceStore(root / "traces.db") as store:
        sql = recommend_agents(store)
        streamed = decide(evidence_from_traces(store.iter_traces(with_steps=False)))
        evolver = AgentConfigEvolver(store, config_dir=tmp_path / "agents", min_quality=0.0)
        picks = {r["query_class"]: r["recommended_agent"] for r in evolver.analyze()}
    assert {qc: r.agent for qc, r in sql.items()} == {qc: r.agent for qc, r in streamed.items()}
    assert picks == {qc: r.agent for qc, r in sql.items()}


def test_where_the_reference_rule_differs_both_are_given_with_why() -> None:
    # "a": 10 great ratings and 90 poor ones; "b": steady 0.75 on all 100.
    traces = [Trace(trace_id=f"a{i}", query="hi", agent="a", feedback=0.95 if i < 10 else 0.3)
              for i in range(100)]  # fmt: skip
    traces += [Trace(trace_id=f"b{i}", query="hi", agent="b", feedback=0.75) for i in range(100)]
    rec = decide(evidence_from_traces(traces))["short"]
    assert rec.agent == "b" and rec.reference == "a" and rec.differs
    assert "a has the best mean of its 10 traces" in rec.why and "b scores 0.75" in rec.why


def test_one_lucky_rating_does_not_win() -> None:
    lucky = AgentEvidence(
        "lucky", traces=1, rated=1, feedback_sum=1.0, quality_n=1, quality_sum=1.0
    )
    steady = AgentEvidence("steady", traces=50, rated=50, feedback_sum=40.0, quality_n=40,
                           quality_sum=34.0)  # fmt: skip
    rec = decide({"general": {"lucky": lucky, "steady": steady}})["general"]
    assert rec.agent == "steady" and rec.reference == "lucky"
