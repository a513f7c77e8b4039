"""Learning-engine figures on the 1,000,000-trace demo store (issue: learning engine).

Run: ``python -m bench.bench_learning``. The three ``TrainingDataMiner.extract_*``
results and the class × model matrix over EVERY trace, against the reference's
approach (``list_traces(limit=10_000)`` + Python loops: it reads only the newest
10,000) measured in the same run. Exits 1 when a target is missed.
"""

from __future__ import annotations

import sys
from collections import defaultdict

from bench.common import Figure, large_store, parse_options, report, timed
from jarvis_tui.learning.classify import classify_query
from jarvis_tui.learning.training import TrainingDataMiner
from jarvis_tui.traces import TraceStore


def reference_miner(store: TraceStore) -> tuple[int, int, int]:
    """The spec's code path: newest 10,000 traces, success-only, Python loops."""
    traces = [
        t for t in store.list_traces(limit=10_000)
        if t.feedback is not None and t.feedback >= 0.7 and t.outcome == "success"
    ]  # fmt: skip
    seen, pairs = set(), []
    for t in traces:
        if (t.query, t.result) not in seen:
            seen.add((t.query, t.result))
            pairs.append({"input": t.query, "output": t.result})
    routing: dict = defaultdict(lambda: defaultdict(list))
    agents: dict = defaultdict(lambda: defaultdict(list))
    for t in traces:
        qc = classify_query(t.query)
        routing[qc][t.model].append(t.feedback)
        agents[qc][t.agent].append(t.feedback)
        for s in t.steps:
            if getattr(s.step_type, "value", s.step_type) == "tool_call":
                s.input.get("tool")
    return len(pairs), len(routing), len(agents)


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    n = 1_000_000
    store = TraceStore(large_store(n) / "traces.db")
    ref = reference_miner(store)
    ref_s = timed(lambda: reference_miner(store), repeat=3)
    out: dict = {}

    def ours() -> None:
        # Fresh miners each time: nothing cached between runs.
        miner = TrainingDataMiner(store)
        out["sft"] = miner.extract_sft_pairs()
        out["routing"] = miner.extract_routing_pairs()
        out["agents"] = miner.extract_agent_config_pairs()
        out["matrix"] = TrainingDataMiner(store, min_quality=0.0).routing_matrix()

    # One warm-up each (timed() does it): a cold page cache measures the disk.
    ours_s = timed(ours, repeat=3)
    sft, routing, agents, matrix = out["sft"], out["routing"], out["agents"], out["matrix"]
    total = store.count()
    covered = sum(c.n for c in matrix.cells.values())
    figs = [
        Figure(
            "extract_sft + routing + agent pairs + class×model matrix",
            "≤ 5 s",
            ours_s,
            "s",
            ours_s <= 5.0,
            ref_s,
            "reference: newest 10,000 only",
        ),  # fmt: skip
        Figure(
            "  …per trace read",
            "",
            ours_s / total * 1e6,
            "µs",
            True,
            ref_s / 10_000 * 1e6,
            "reference, per trace",
        ),  # fmt: skip
        Figure(
            "traces the matrix covers",
            f"all {total:,}",
            float(covered),
            "traces",
            covered == total,
            10_000.0,
            "reference",
            higher_is_better=True,
        ),  # fmt: skip
    ]
    print(
        f"ours: {len(sft):,} SFT pairs, {len(routing)} routing classes, {len(agents)} agent"
        f" classes; reference: {ref[0]:,} pairs, {ref[1]} / {ref[2]} classes"
    )
    store.close()
    return 0 if report(figs, f"Learning engine — {n:,} traces") else 1


if __name__ == "__main__":
    sys.exit(main())
