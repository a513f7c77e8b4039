"""Optimization figures: Pareto frontier at 10,000 trials, and get_trials at 10,000.

python -m bench.bench_optimize
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, parse_options, report, timed
from jarvis_tui.learning.optimize import (
    DEFAULT_OBJECTIVES,
    OptimizationStore,
    TrialConfig,
    TrialResult,
)
from jarvis_tui.learning.optimize.pareto import compute_pareto_frontier, pareto_frontier_pairwise

N = 10_000
SUBSET = 2_000  # the pure-Python pairwise baseline is timed here and extrapolated as n²


def _trials(n: int, seed: int = 3) -> list[TrialResult]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        acc = rng.random()
        # Correlated trade-off (better accuracy costs latency and money), as in real runs.
        lat = 0.5 + 4 * acc + rng.random()
        cost = 0.001 + 0.02 * acc + 0.01 * rng.random()
        tid = f"t{i:05d}"
        out.append(
            TrialResult(
                tid, TrialConfig(tid, {"intelligence.temperature": rng.random()}), acc, lat, cost
            )
        )
    return out


def bench_frontier() -> list[Figure]:
    trials = _trials(N)
    fast = timed(lambda: compute_pareto_frontier(trials, DEFAULT_OBJECTIVES), repeat=5)
    sub = trials[:SUBSET]
    t0 = time.perf_counter()
    pareto_frontier_pairwise(sub, DEFAULT_OBJECTIVES)
    sub_s = time.perf_counter() - t0
    baseline = sub_s * (N / SUBSET) ** 2
    assert [t.trial_id for t in compute_pareto_frontier(sub, DEFAULT_OBJECTIVES)] == [
        t.trial_id for t in pareto_frontier_pairwise(sub, DEFAULT_OBJECTIVES)
    ]
    print(
        f"pairwise O(n²) baseline: timed on {SUBSET:,} trials ({sub_s * 1000:,.0f} ms), "
        f"extrapolated quadratically to {N:,}: {baseline * 1000:,.0f} ms"
    )
    ratio = baseline / fast
    return [
        Figure(
            f"compute_pareto_frontier, {N:,} trials × 3 objectives",
            "≤ 200 ms and ≥ 10× pairwise",
            fast * 1000,
            "ms",
            fast <= 0.2 and ratio >= 10,
            baseline=baseline * 1000,
            baseline_name="pairwise O(n²), extrapolated",
        )
    ]


def bench_get_trials(tmp: Path) -> list[Figure]:
    db = tmp / "optimize.db"
    store = OptimizationStore(db)
    trials = _trials(N)
    conn = sqlite3.connect(db)
    # Bulk-load through one transaction (save_trial commits per trial, like the engine).
    for t in trials[:50]:
        store.save_trial("other", t)
    with conn:
        for t in trials:
            conn.execute(
                "INSERT INTO trial_results (trial_id, run_id, config, accuracy, mean_latency_seconds, "
                "total_cost_usd) VALUES (?, 'big', ?, ?, ?, ?)",
                (
                    t.trial_id,
                    '{"intelligence.temperature": 0.5}',
                    t.accuracy,
                    t.mean_latency_seconds,
                    t.total_cost_usd,
                ),
            )
    ours = timed(lambda: store.get_trials("big"), repeat=5)
    assert len(store.get_trials("big")) == N

    def reference_style() -> None:
        # OpenJarvis' read: SELECT * with no index on run_id, rows parsed positionally.
        c = sqlite3.connect(db)
        c.execute("DROP INDEX IF EXISTS idx_trial_results_run_id")
        rows = c.execute(
            "SELECT * FROM trial_results WHERE run_id = ? ORDER BY id", ("big",)
        ).fetchall()
        assert len(rows) == N
        c.rollback()
        c.close()

    store.close()
    base = timed(reference_style, repeat=3)
    return [
        Figure(
            f"get_trials, {N:,} trials",
            "≤ 500 ms",
            ours * 1000,
            "ms",
            ours <= 0.5,
            baseline=base * 1000,
            baseline_name="SELECT * without the index, rows only",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    with tempfile.TemporaryDirectory() as d:
        figs = bench_frontier() + bench_get_trials(Path(d))
    ok = report(figs, "Optimization — Pareto frontier and trial store")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
