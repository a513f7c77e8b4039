"""Search and recompute in milliseconds at a million traces (issue 15).

Run: ``python -m bench.bench_search [--traces N]``. Each figure beside its baseline in
the same run:

- ``search()`` (bm25 over the newest 5,000 matches) for common words, phrases, rare
  words, a prefix, an OR and no match, vs ranking every match (the query it ran
  before); whether the top 20 scores are the same; the count of every match.
- label → the Routing pane's recompute (routing matrix, agent picks, tool counts)
  from the totals the triggers keep, vs the per-trace scans they replaced.
- one label write with the totals' triggers vs without them (blocks alternated).
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from bench.common import Figure, large_store, parser, report, timed
from jarvis_tui.traces import TraceStore
from jarvis_tui.traces import store as store_mod
from jarvis_tui.traces.store import to_fts_query

QUERIES = (
    ("common word", "the"),
    ("common word", "how"),
    ("two common words", "the a"),
    ("phrase", '"exponential backoff"'),
    ("phrase", '"how GPS works"'),
    ("rare word", "axolotl"),
    ("rare word", "Tallinn"),
    ("prefix", "idem*"),
    ("OR", "Kafka OR RabbitMQ"),
    ("no match", "zzyzxqvnothing"),
)


def full_rank(conn: sqlite3.Connection, expr: str, limit: int = 20) -> List[tuple]:
    """What search() ran before: bm25 for every match, then the best *limit*."""
    return conn.execute(
        "SELECT t.trace_id, f.rank FROM traces_fts f JOIN traces t ON f.rowid = t.rowid"
        " WHERE traces_fts MATCH ? ORDER BY f.rank LIMIT ?",
        (expr, limit),
    ).fetchall()


def window_scores(conn: sqlite3.Connection, expr: str, limit: int = 20) -> List[float]:
    rows = conn.execute(
        "SELECT bm25(traces_fts) FROM traces_fts WHERE traces_fts MATCH ?"
        " ORDER BY rowid DESC LIMIT ?",
        (expr, store_mod.RANK_WINDOW),
    ).fetchall()
    return sorted(r[0] for r in rows)[:limit]


class ScanStore:
    """The store with cube() and tool_counts() as the per-trace scans they were."""

    def __init__(self, store: TraceStore) -> None:
        self._s = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)

    def change_token(self) -> object:
        return object()  # never cached: every recompute scans, as before

    def cube(self, *, min_quality: float, agent: Optional[str] = None) -> List[Dict[str, Any]]:
        q = float(min_quality)
        sql = (
            "SELECT r.qclass, r.model, r.agent, r.outcome, count(*), count(r.feedback),"
            " total(r.feedback), total(r.feedback * r.feedback), total(r.latency),"
            " total(r.tokens), total(r.feedback >= ?),"
            " total(CASE WHEN r.feedback >= ? THEN r.feedback END)"
            " FROM jt_rows r GROUP BY r.qclass, r.model, r.agent, r.outcome"
        )
        keys = ("qclass", "model", "agent", "outcome", "n", "rated", "fb_sum", "fb_sq_sum",
                "latency_sum", "tokens_sum", "q_n", "q_fb_sum")  # fmt: skip
        with self._s._conn() as conn:
            rows = conn.execute(sql, (q, q)).fetchall()
        out = []
        for row in rows:
            d = dict(zip(keys, row, strict=True))
            for k in ("n", "rated", "q_n"):
                d[k] = int(d[k])
            out.append(d)
        return out

    def tool_counts(
        self, by: Sequence[str] = ("qclass", "agent"), **kw: Any
    ) -> Dict[tuple, Dict[str, int]]:
        return self._s._tool_counts_scan(
            by, agent=kw.get("agent"), min_feedback=kw.get("min_feedback"),
            exclude_failures=kw.get("exclude_failures", False), pairs=kw.get("pairs"),
        )  # fmt: skip


def routing_recompute(store: Any) -> None:
    """What the Routing pane computes after a label (RoutingPane._compute)."""
    from jarvis_tui.learning.recommend import recommend_agents
    from jarvis_tui.learning.training.data import TrainingDataMiner

    TrainingDataMiner(store, min_quality=0.0).routing_matrix(min_samples=5)
    agents = recommend_agents(store)
    pairs = sorted((qc, rec.agent) for qc, rec in agents.items())
    if pairs:
        store.tool_counts(("qclass", "agent"), min_feedback=0.7, exclude_failures=True, pairs=pairs)


def label_write_us(store: TraceStore, ids: List[str], n: int) -> float:
    """Median µs of one set_label, cycling scores over *ids*."""
    samples = []
    for k in range(n):
        t0 = time.perf_counter()
        store.set_label(ids[k % len(ids)], feedback=((k // len(ids) + k) % 10) / 10)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def set_triggers(store: TraceStore, on: bool) -> None:
    with store._conn() as conn:
        if on:
            for ddl in store_mod._JT_AGG_TRIGGERS:
                conn.execute(ddl.format(s="main"))
        else:
            names = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'jt_rows'"
            ).fetchall()
            for (name,) in names:
                conn.execute(f"DROP TRIGGER {name}")


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, __name__)
    ap.add_argument("--traces", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    n = args.traces
    home = large_store(n)
    db = home / "traces.db"
    figs: list[Figure] = []

    t0 = time.perf_counter()
    store = TraceStore(db)  # a store of an older schema gets its totals here, once
    opened = time.perf_counter() - t0
    print(f"opened {n:,} traces in {opened:.1f} s")
    conn = sqlite3.connect(db)

    # -- search
    worst = 0.0
    for kind, text in QUERIES:
        expr = to_fts_query(text)[0]
        ours = timed(lambda text=text: store.search(text, limit=20), repeat=3)
        base = timed(lambda expr=expr: full_rank(conn, expr), repeat=1, warmup=0)
        res = store.search_matches(text, limit=20)
        count_s = timed(lambda text=text: store.search_matches(text, limit=20), repeat=1, warmup=0)
        same = [r[1] for r in full_rank(conn, expr)] == window_scores(conn, expr)
        worst = max(worst, ours)
        figs.append(Figure(f"search {text!r} ({kind}; {res.total:,} matches)", "≤ 100 ms",
                           ours * 1e3, "ms", ours <= 0.1, base * 1e3, "rank every match"))  # fmt: skip
        figs.append(Figure("  …top-20 scores equal to ranking every match", "exact ≤ 5,000",
                           1.0 if same else 0.0, "yes", same or res.total > store_mod.RANK_WINDOW))  # fmt: skip
        figs.append(Figure("  …with the count of every match", "—", count_s * 1e3, "ms", True))
    print(f"slowest search: {worst * 1e3:.1f} ms")

    # -- label → routing recompute: totals vs scans
    ids = [r.trace_id for r in store.page(limit=200).rows]
    scan = ScanStore(store)
    k = iter(range(10**9))

    def label_then(target: Any) -> None:
        i = next(k)
        store.set_label(ids[i % len(ids)], feedback=(i % 10) / 10)
        routing_recompute(target)

    ours = timed(lambda: label_then(store), repeat=9)
    base = timed(lambda: label_then(scan), repeat=2, warmup=0)
    figs.append(Figure("label → routing matrix + agents + tools recomputed", "≤ 20 ms",
                       ours * 1e3, "ms", ours <= 0.02, base * 1e3, "scan every trace"))  # fmt: skip

    # -- label write overhead of the triggers (alternating blocks, same traces)
    with_t, without_t = [], []
    for _ in range(3):
        with_t.append(label_write_us(store, ids, 300))
        set_triggers(store, False)
        without_t.append(label_write_us(store, ids, 300))
        set_triggers(store, True)
    store.rebuild_aggregates()  # labels written without the triggers: recount
    w, wo = statistics.median(with_t), statistics.median(without_t)
    figs.append(Figure("one label write with the totals' triggers", "—", w, "µs", True,
                       wo, "without the triggers"))  # fmt: skip
    figs.append(Figure("  …overhead of the triggers", "≤ 50 µs", w - wo, "µs", w - wo <= 50))
    conn.close()
    store.close()
    ok = report(figs, f"Search and totals — {n:,} traces")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
