"""Labels until every routing recommendation is clear: queue order vs time order.

Run: ``python -m bench.bench_label_queue [N] [RUNS]`` (default 5,000 traces, 5 runs).
The demo (``jarvis_tui.demo``, built once under ``bench/out/``, clock pinned) is copied
with every feedback score removed; then a simulated user labels one trace at a time
until the Routing matrix (``TrainingDataMiner.routing_matrix``, the function the queue
plans from) calls every query class "clear", in two orders:

* **time order**: newest first, every trace, as the Traces pane lists them;
* **queue order**: the next trace of ``LabelQueue.next(1)``, asked again after each label.

The score a trace gets is drawn from the demo generator's own distribution with its
hidden true quality: ``round(clip(QUALITY[class][model] + agent bonus + N(0, 0.13)), 2)``.
Each run draws one score per trace beforehand, so both orders see the same score for
the same trace (a paired comparison); runs differ in the draws. Labels are capped at
the number of traces. A run that never clears counts as the cap: time order that labels
every trace without clearing, or the queue running dry (no unlabelled trace is left
that could change a decision: the close call's two cells are labelled to the last trace
and still overlap, so these traces cannot settle it; time order may still pass "clear"
for a moment on a subset). The figure is the median over the runs; each run's clear
picks are checked against the demo's true best model per class. Exits 1 when queue
order does not need at least 3× fewer labels, or when a clear pick is wrong.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

from bench.common import OUT, Figure, parse_options, report
from bench.common import count_arg as _count
from jarvis_tui import demo
from jarvis_tui.learning.label_queue import LabelQueue
from jarvis_tui.learning.training.data import RoutingMatrix
from jarvis_tui.traces.store import TraceStore

TARGET_RATIO = 3.0
MIN_SAMPLES = 30  # the Routing pane's evidence minimum (routing_matrix's default)
TRUE_BEST = {qc: max(q, key=q.__getitem__) for qc, q in demo.QUALITY.items()}
"""The demo's best model per class (an agent's bonus lifts every model of a class alike)."""


def demo_db(n: int, seed: int = 7) -> Path:
    """A *n*-trace demo's ``traces.db``, built once and cached under bench/out/."""
    root = OUT / f"label-queue-{n}-{seed}"
    marker = root / ".complete"
    if not marker.exists():
        print(f"building a {n:,}-trace demo in {root} (once; cached)…", flush=True)
        demo.build_demo(root, traces=n, seed=seed, optimize=False, force=True,
                        now=demo.PINNED_NOW)  # fmt: skip
        marker.write_text("ok\n")
    return root / "traces.db"


def unlabelled_copy(src: Path, dest: Path) -> None:
    """*src* copied to *dest* with every feedback score removed."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dest)) as b:
        a.backup(b)
    # A plain UPDATE, as OpenJarvis would write it: the store's triggers keep its
    # aggregates (what routing_matrix reads) in step.
    with closing(sqlite3.connect(dest)) as conn, conn:
        conn.execute("UPDATE traces SET feedback = NULL WHERE feedback IS NOT NULL")


def hidden_scores(store_db: Path, rng: random.Random) -> dict[str, float]:
    """One score per trace, drawn as the demo's generator draws feedback."""
    with closing(sqlite3.connect(store_db)) as conn:
        rows = conn.execute(
            "SELECT t.trace_id, coalesce(r.qclass, 'general'), r.model, r.agent"
            " FROM jt_rows r JOIN traces t ON t.id = r.id ORDER BY r.id"
        ).fetchall()
    out = {}
    for tid, qc, model, agent in rows:
        # The stored class is classify_query's; on the demo's queries it is the class
        # they were generated for.
        quality = demo.QUALITY[qc][model] + demo.AGENTS[agent][1].get(qc, 0.0)
        out[tid] = round(demo._clip(quality + rng.gauss(0.0, demo.QUALITY_NOISE)), 2)
    return out


def newest_first(store_db: Path) -> list[str]:
    """Trace ids in the Traces pane's default order (newest first)."""
    with closing(sqlite3.connect(store_db)) as conn:
        return [r[0] for r in conn.execute(
            "SELECT t.trace_id FROM jt_rows r JOIN traces t ON t.id = r.id"
            " ORDER BY r.started_at DESC, r.id DESC"
        )]  # fmt: skip


def all_clear(matrix: RoutingMatrix) -> bool:
    recs = matrix.recommendations
    return bool(recs) and all(r.confidence == "clear" for r in recs.values())


def simulate(
    db: Path, scores: dict[str, float], pick: Callable[[LabelQueue], Iterator[str]]
) -> tuple[int, bool, RoutingMatrix]:
    """Label the traces *pick* yields until every class is clear.

    Returns (labels given, cleared, the matrix at the end). *pick* may run dry first:
    the queue stops when no unlabelled trace is left that could change a decision."""
    store = TraceStore(db)
    try:
        queue = LabelQueue(store, min_samples=MIN_SAMPLES)
        labels = 0
        matrix = queue.matrix()
        for tid in pick(queue):
            store.set_label(tid, feedback=scores[tid], source="bench")
            labels += 1
            matrix = queue.matrix()
            if all_clear(matrix):
                return labels, True, matrix
            if labels >= len(scores):
                break
        return labels, False, matrix
    finally:
        store.close()


def time_order(ids: list[str]) -> Callable[[LabelQueue], Iterator[str]]:
    return lambda _queue: iter(ids)


def queue_order(queue: LabelQueue) -> Iterator[str]:
    while True:
        items = queue.next(1)
        if not items:
            return
        yield items[0].trace_id


def wrong_picks(matrix: RoutingMatrix) -> list[str]:
    return [
        f"{qc}: {r.best} (true best {TRUE_BEST.get(qc)})"
        for qc, r in sorted(matrix.recommendations.items())
        if r.best != TRUE_BEST.get(qc)
    ]


def main(argv: list[str] | None = None) -> int:
    n, runs = parse_options(argv, __doc__, __name__,
                            ("traces", _count, 5_000, "traces in the demo store (default 5,000)"),
                            ("runs", _count, 5, "labelling runs (default 5)"))  # fmt: skip
    src = demo_db(n)
    work = OUT / f"label-queue-{n}-work"
    work.mkdir(parents=True, exist_ok=True)
    ids = newest_first(src)
    per_run: list[tuple[int, int]] = []
    wrong: list[str] = []
    never = {"queue": 0, "time": 0}
    for run in range(runs):
        base = work / "base.db"
        unlabelled_copy(src, base)
        scores = hidden_scores(base, random.Random(1000 + run))
        got = {}
        for name, pick in (("queue", queue_order), ("time", time_order(ids))):
            db = work / f"{name}.db"
            unlabelled_copy(base, db)
            t0 = time.perf_counter()
            labels, cleared, matrix = simulate(db, scores, pick)
            bad = wrong_picks(matrix) if cleared else []
            wrong += [f"run {run}, {name} order: {b}" for b in bad]
            if cleared:
                got[name] = labels
                what = f"{labels:,} labels"
            else:
                # Never clear on these traces: counted as all of them (the cap).
                got[name] = n
                never[name] += 1
                open_ = ", ".join(
                    qc
                    for qc, r in sorted(matrix.recommendations.items())
                    if r.confidence != "clear"
                )
                what = (
                    f"never clear (counted as {n:,}): after {labels:,} labels no unlabelled trace "
                    f"is left that could settle {open_}"
                    if labels < n
                    else f"never clear (counted as {n:,}): {open_} still open"
                )
            print(
                f"run {run}: {name} order: {what}"
                + (f"; wrong clear picks: {', '.join(bad)}" if bad else "")
                + ("; picks are the true best" if cleared and not bad else "")
                + f" ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
        per_run.append((got["queue"], got["time"]))
    for suffix in ("", "-wal", "-shm"):
        for name in ("base", "queue", "time"):
            Path(f"{work / name}.db{suffix}").unlink(missing_ok=True)
    queue_med = statistics.median(q for q, _ in per_run)
    time_med = statistics.median(t for _, t in per_run)
    ratio = time_med / queue_med if queue_med else 0.0
    figs = [
        Figure(
            f"labels until every class is clear ({n:,} traces, median of {runs})",
            f"≥ {TARGET_RATIO:.0f}× fewer than time order",
            queue_med,
            "labels",
            ratio >= TARGET_RATIO,
            time_med,
            "time order, newest first",
        ),  # fmt: skip
        Figure(
            "  …clear picks that are not the demo's true best",
            "0",
            len(wrong),
            "picks",
            not wrong,
        ),
        Figure(
            "  …runs never clear on these traces (queue / time order)",
            "",
            never["queue"],
            f"/ {never['time']} of {runs}",
            True,
        ),
    ]
    for line in wrong:
        print("  wrong: " + line)
    print(f"queue order needs {ratio:.1f}× fewer labels than time order (median of {runs} runs)")
    return 0 if report(figs, "Labelling queue (labels to settle routing)") else 1


if __name__ == "__main__":
    sys.exit(main())
