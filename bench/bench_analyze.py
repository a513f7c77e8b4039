"""``AgentConfigEvolver.analyze()`` on the 1,000,000-trace demo store (issue 15).

Run: ``python -m bench.bench_analyze``. The SQL analysis (``TraceStore.evolver_profile``:
kept totals plus each trace's tool set, counted when it was mirrored) against the streaming version
(every trace read as a ``Trace``, the reference the tests compare it to), measured in
the same run, with the two results checked equal. Exits 1 when a target is missed.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, large_store, parse_options, report, timed
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.traces import TraceStore

TARGET_S = 3.0


def same(a: list[dict], b: list[dict]) -> bool:
    """Equal recommendations; feedback means equal to 1e-9 (summation order)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        fx, fy = x.get("avg_feedback"), y.get("avg_feedback")
        if (fx is None) != (fy is None) or (
            fx is not None and not math.isclose(fx, fy, rel_tol=1e-9)
        ):
            return False
        if {k: v for k, v in x.items() if k != "avg_feedback"} != {
            k: v for k, v in y.items() if k != "avg_feedback"
        }:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    n = 1_000_000
    store = TraceStore(large_store(n) / "traces.db")
    with tempfile.TemporaryDirectory() as tmp:
        ev = AgentConfigEvolver(store, config_dir=Path(tmp) / "agents")
        out: dict = {}

        def sql() -> None:
            out["sql"] = ev.analyze()

        sql_s = timed(sql, repeat=3)
        t0 = time.perf_counter()
        streamed = ev._analyze_streaming(None, None)  # the reference, once (~20 s)
        stream_s = time.perf_counter() - t0
    equal = same(out["sql"], streamed)
    total = store.count()
    store.close()
    print(f"{len(streamed)} recommendations over {total:,} traces; SQL == streaming: {equal}")
    figs = [
        Figure(
            "analyze() at 1M traces (SQL)",
            f"≤ {TARGET_S:g} s",
            sql_s,
            "s",
            sql_s <= TARGET_S,
            stream_s,
            "streaming every trace",
        ),  # fmt: skip
        Figure("  same recommendations as streaming", "yes", float(equal), "", equal),
    ]
    return 0 if report(figs, f"AgentConfigEvolver.analyze — {n:,} traces") else 1


if __name__ == "__main__":
    sys.exit(main())
