"""Outcomes per config version at scale: 50 versions of one agent over N traces.

Run: ``python -m bench.bench_outcomes [N]`` (default 1,000,000; the cached demo store of
``bench.common.large_store``, built once in ~4 min at 1M; pass e.g. 100000 for a quick
run). The figure is ``learning.outcomes`` from the store's hour totals (every version's
traces, ratings, mean feedback and interval, success/failure, latency, tokens, and the
feedback series) for the demo's busiest agent with 50 versions spread over its traces,
against a Python loop over the same rows (bisect per trace) in the same run; both must
agree on every version's counts. Exits 1 when the target is missed.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from bisect import bisect_right

from bench.common import Figure, large_store, parse_options, report, timed
from bench.common import count_arg as _count
from jarvis_tui.learning.outcomes import VersionSpan, outcomes_for_spans
from jarvis_tui.traces.store import TraceStore

AGENT = "simple"  # the demo's busiest agent (45% of the traces)
VERSIONS = 50
TARGET_MS = 200.0


def python_loop(db: str, agent: str, starts: list[float]) -> list[list[float]]:
    """The baseline: every row of the agent into Python, a bisect per trace."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    acc = [[0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0] for _ in starts]
    try:
        rows = conn.execute(
            "SELECT started_at, feedback, outcome, latency, tokens FROM jt_rows WHERE agent = ?",
            (agent,),
        )
        for started, fb, outcome, lat, tok in rows:
            k = bisect_right(starts, started) - 1
            if k < 0:
                continue
            a = acc[k]
            a[0] += 1
            if fb is not None:
                a[1] += 1
                a[2] += fb
                a[3] += fb * fb
            a[4] += lat
            a[5] += tok
            a[6] += outcome == "success"
            a[7] += outcome == "failure"
    finally:
        conn.close()
    return acc


def main(argv: list[str] | None = None) -> int:
    (n,) = parse_options(argv, __doc__, __name__,
                         ("traces", _count, 1_000_000, "traces in the store (default 1,000,000)"))  # fmt: skip
    root = large_store(n)
    store = TraceStore(root / "traces.db")
    try:
        conn = sqlite3.connect(f"file:{root / 'traces.db'}?mode=ro", uri=True)
        lo, hi = conn.execute("SELECT min(started_at), max(started_at) FROM jt_rows").fetchone()
        conn.close()
        step = (hi - lo) / VERSIONS
        spans = [VersionSpan(i + 1, "evolver", start=lo + i * step) for i in range(VERSIONS)]
        starts = [s.start for s in spans]

        def sql() -> object:
            return outcomes_for_spans(store, AGENT, spans, use_metadata=False)

        t_sql = timed(sql, repeat=5)
        t0 = time.perf_counter()
        first = outcomes_for_spans(store, AGENT, spans, use_metadata=True)
        t_meta_first = time.perf_counter() - t0
        t_meta = timed(lambda: outcomes_for_spans(store, AGENT, spans), repeat=3)
        out = sql()
        t0 = time.perf_counter()
        base = python_loop(str(root / "traces.db"), AGENT, starts)
        t_loop = time.perf_counter() - t0
    finally:
        store.close()
    same = all(
        (v.traces, v.rated, v.success, v.failure) == tuple(int(x) for x in (b[0], b[1], b[6], b[7]))
        and abs((v.feedback.mean if v.rated else 0) - (b[2] / b[1] if b[1] else 0)) < 1e-9
        for v, b in zip(out.versions, base, strict=True)
    )
    assert [v.traces for v in first.versions] == [v.traces for v in out.versions]
    traces = sum(v.traces for v in out.versions)
    print(
        f"{traces:,} traces of agent {AGENT!r} over {VERSIONS} versions; SQL and loop agree: {same}"
    )
    figures = [
        Figure(
            f"version outcomes, {VERSIONS} versions, {n:,} traces (hour totals + cut hours)",
            f"≤ {TARGET_MS:.0f} ms",
            t_sql * 1000,
            "ms",
            same and t_sql * 1000 <= TARGET_MS,
            t_loop * 1000,
            "Python loop",
        ),  # fmt: skip
        Figure(
            "  with the trace-metadata override (cached scan)",
            "info",
            t_meta * 1000,
            "ms",
            True,
            t_meta_first * 1000,
            "first call: scans metadata",
        ),  # fmt: skip
    ]
    return 0 if report(figures, "Outcomes per config version") else 1


if __name__ == "__main__":
    sys.exit(main())
