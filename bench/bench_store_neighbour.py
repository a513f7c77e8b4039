"""OpenJarvis never loses a trace because jarvis-tui is open (issue 12.5).

An OpenJarvis-style writer process (plain ``sqlite3``, DEFAULT 5 s timeout, its
``TraceStore.save`` and ``update_feedback`` statement for statement) saves traces in
a loop for a fixed time while jarvis-tui, in this process, (a) saves ``save_many``
batches continuously and (b) opens a large OpenJarvis file for the first time (the
migration). Every failed OpenJarvis save is counted; the target is 0.

``python -m bench.bench_store_neighbour [--seconds 60] [--traces 600000]``
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import OUT, Figure, parser, report

# OpenJarvis's own DDL (src/openjarvis/traces/store.py), so the file is theirs.
OJ_DDL = (
    "PRAGMA journal_mode=WAL",
    """CREATE TABLE IF NOT EXISTS traces (
        id INTEGER PRIMARY KEY AUTOINCREMENT, trace_id TEXT NOT NULL UNIQUE,
        query TEXT NOT NULL DEFAULT '', agent TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '', engine TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL DEFAULT '', outcome TEXT, feedback REAL,
        started_at REAL NOT NULL DEFAULT 0.0, ended_at REAL NOT NULL DEFAULT 0.0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        total_latency_seconds REAL NOT NULL DEFAULT 0.0,
        metadata TEXT NOT NULL DEFAULT '{}', messages TEXT NOT NULL DEFAULT '[]')""",
    """CREATE TABLE IF NOT EXISTS trace_steps (
        id INTEGER PRIMARY KEY AUTOINCREMENT, trace_id TEXT NOT NULL,
        step_index INTEGER NOT NULL, step_type TEXT NOT NULL,
        timestamp REAL NOT NULL DEFAULT 0.0, duration_seconds REAL NOT NULL DEFAULT 0.0,
        input TEXT NOT NULL DEFAULT '{}', output TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}',
        FOREIGN KEY (trace_id) REFERENCES traces(trace_id))""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS traces_fts USING fts5(
        trace_id, query, result, agent, content='traces', content_rowid='rowid',
        tokenize='unicode61')""",
    """CREATE TRIGGER IF NOT EXISTS traces_fts_ai AFTER INSERT ON traces BEGIN
        INSERT INTO traces_fts(rowid, trace_id, query, result, agent)
        VALUES (new.rowid, new.trace_id, new.query, new.result, new.agent);
    END""",
)
_INSERT_TRACE = (
    "INSERT INTO traces (trace_id, query, agent, model, engine, result, outcome, feedback,"
    " started_at, ended_at, total_tokens, total_latency_seconds, metadata, messages)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_STEP = (
    "INSERT INTO trace_steps (trace_id, step_index, step_type, timestamp, duration_seconds,"
    " input, output, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
WORDS = "csv large export python error fix report summary cloud plot table query".split()


def _oj_rows(tid: str, i: int, rng: random.Random) -> tuple[tuple, list[tuple]]:
    query = " ".join(rng.choice(WORDS) for _ in range(6)) + f" #{i}"
    t0 = 1_750_000_000.0 + i
    trace = (
        tid, query, rng.choice(["simple", "react"]), rng.choice(["m-a", "m-b", "m-c"]),
        "ollama", f"answer {i}", None, None, t0, t0 + 1.0, 10 + i % 50, 1.0,
        json.dumps({"i": i}), json.dumps([{"role": "user", "content": query}]),
    )  # fmt: skip
    steps = [
        (tid, k, kind, t0 + k / 10, 0.1, json.dumps({"tool": "calculator"}), "{}", "{}")
        for k, kind in enumerate(("route", "tool_call", "respond"))
    ]
    return trace, steps


def build_oj_file(path: Path, n: int, *, seed: int = 3, uuids: bool = False) -> Path:
    """An OpenJarvis-format ``traces.db`` with *n* traces (3 steps each), written as
    OpenJarvis would (its DDL, its FTS trigger), in large transactions for speed.
    *uuids*: random trace ids (uuid4 hex, as OpenJarvis makes them), so an index on
    ``trace_steps.trace_id`` is built from unsorted keys, as on a real file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for ddl in OJ_DDL:
        conn.execute(ddl)
    rng = random.Random(seed)
    for start in range(0, n, 20_000):
        traces, steps = [], []
        for i in range(start, min(n, start + 20_000)):
            tid = uuid.UUID(int=rng.getrandbits(128)).hex if uuids else f"oj{seed}-{i:07d}"
            t, s = _oj_rows(tid, i, rng)
            traces.append(t)
            steps.extend(s)
        conn.execute("BEGIN")
        conn.executemany(_INSERT_TRACE, traces)
        conn.executemany(_INSERT_STEP, steps)
        conn.execute("COMMIT")
    conn.close()
    return path


def oj_writer(
    path: str, seconds: float, ready: Any, go: Any, results: Any, timeout: float = 5.0
) -> None:
    """Child process: OpenJarvis's ``TraceStore`` writing for *seconds* after *go*.

    Exactly its statements on one ``sqlite3.connect(path)`` (default timeout 5 s,
    default isolation): ``save`` = a SELECT for the id, INSERT trace, INSERT steps,
    commit; every tenth save also runs its ``update_feedback``. Puts
    ``(saved, failed, first errors, longest save in seconds)`` on *results*.
    *timeout*: its busy timeout (OpenJarvis's is sqlite3's default, 5 s; a shorter
    one shows how long it waited on us).
    """
    conn = sqlite3.connect(path, check_same_thread=False, timeout=timeout)
    for ddl in OJ_DDL:
        conn.execute(ddl)
    conn.commit()
    rng = random.Random(uuid.uuid4().int)
    tag = uuid.uuid4().hex[:8]
    saved = failed = 0
    errors: list[str] = []
    longest = 0.0
    ready.set()
    go.wait(120)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        tid = f"ojw-{tag}-{i:07d}"
        trace, steps = _oj_rows(tid, 10_000_000 + i, rng)
        t0 = time.monotonic()
        try:
            if conn.execute("SELECT 1 FROM traces WHERE trace_id = ? LIMIT 1", (tid,)).fetchone():
                continue
            conn.execute(_INSERT_TRACE, trace)
            for step in steps:
                conn.execute(_INSERT_STEP, step)
            conn.commit()
            saved += 1
            if i % 10 == 0:
                conn.execute(
                    "UPDATE traces SET feedback = ? WHERE trace_id = ?", (0.1 * (i % 10), tid)
                )
                conn.commit()
        except sqlite3.Error as exc:
            failed += 1
            if len(errors) < 5:
                errors.append(f"{type(exc).__name__}: {exc}")
            try:
                conn.rollback()
            except sqlite3.Error:
                pass
        longest = max(longest, time.monotonic() - t0)
    conn.close()
    results.put((saved, failed, errors, longest))


class Neighbour:
    """Start :func:`oj_writer` in a spawned process; ``with`` waits for its result."""

    def __init__(self, path: Path, seconds: float, timeout: float = 5.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.go, self.results = ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(
            target=oj_writer,
            args=(str(path), seconds, self.ready, self.go, self.results, timeout),
        )
        self.result: tuple[int, int, list[str], float] | None = None

    def __enter__(self) -> Neighbour:
        self.proc.start()
        if not self.ready.wait(120):
            self.proc.kill()
            raise RuntimeError("the OpenJarvis-style writer did not start")
        self.go.set()
        return self

    def running(self) -> bool:
        return self.proc.is_alive() and self.results.empty()

    def __exit__(self, *exc: object) -> None:
        try:
            self.result = self.results.get(timeout=600)
        finally:
            self.proc.join(60)
            if self.proc.is_alive():
                self.proc.kill()


def beside_save_many(path: Path, seconds: float, batch: int = 100) -> tuple[tuple, int]:
    """The writer beside continuous ``save_many`` batches; ``(writer result, ours)``."""
    from jarvis_tui.core.types import StepType, Trace, TraceStep
    from jarvis_tui.traces import TraceStore

    store = TraceStore(path)
    ours = 0
    with Neighbour(path, seconds) as nb:
        n = 0
        while nb.running():
            traces = [
                Trace(
                    trace_id=f"jt-{n + k:07d}", query=f"bulk {n + k} csv large", agent="simple",
                    model="m-a", started_at=1_800_000_000.0 + n + k,
                    steps=[TraceStep(StepType.RESPOND, 0.0, 0.1, {}, {"k": k})],
                )
                for k in range(batch)
            ]  # fmt: skip
            ours += store.save_many(traces)
            n += batch
    store.close()
    assert nb.result is not None
    return nb.result, ours


def beside_first_open(
    path: Path, seconds: float, timeout: float = 5.0
) -> tuple[tuple, float, float, float]:
    """The writer (busy timeout *timeout*) beside the first open (migration) of
    *path*; ``(result, open s, schema transaction s, longest other transaction s)``
    (the mirror's while someone else was writing, and the steps map's)."""
    from jarvis_tui.traces import TraceStore

    with Neighbour(path, seconds, timeout) as nb:
        t0 = time.perf_counter()
        store = TraceStore(path)
        took = time.perf_counter() - t0
        schema_tx = store.migrate_schema_tx_seconds
        longest_tx = max(store.migrate_max_tx_seconds, store.migrate_max_backfill_tx_seconds)
        store.close()
    assert nb.result is not None
    return nb.result, took, schema_tx, longest_tx


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, __name__)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--traces", type=int, default=600_000)
    args = ap.parse_args(argv)
    root = OUT / "neighbour"
    root.mkdir(parents=True, exist_ok=True)
    ok = True
    figs: list[Figure] = []

    bulk = root / "bulk" / "traces.db"
    for p in bulk.parent.glob("traces.db*"):
        p.unlink()
    (saved, failed, errors, longest), ours = beside_save_many(bulk, args.seconds)
    print(
        f"beside save_many for {args.seconds:.0f} s: OpenJarvis saved {saved:,}, failed"
        f" {failed} (longest save {longest * 1000:.0f} ms); jarvis-tui saved {ours:,}"
    )
    for e in errors:
        print("  ", e)
    ok &= failed == 0
    figs.append(Figure("OpenJarvis saves failed beside save_many", "0", failed, "", failed == 0))

    cached = root / f"oj-{args.traces}.db"
    if not cached.exists():
        t0 = time.perf_counter()
        build_oj_file(cached.with_suffix(".tmp"), args.traces).rename(cached)
        print(
            f"built an OpenJarvis file of {args.traces:,} traces in {time.perf_counter() - t0:.0f} s"
        )
    first = root / "first" / "traces.db"
    first.parent.mkdir(exist_ok=True)
    for p in first.parent.glob("traces.db*"):
        p.unlink()
    first.write_bytes(cached.read_bytes())
    (saved, failed, errors, longest), took, schema_tx, mirror_tx = beside_first_open(
        first, args.seconds
    )
    print(
        f"beside the first open of {args.traces:,} traces ({took:.1f} s): OpenJarvis saved"
        f" {saved:,}, failed {failed} (longest save {longest * 1000:.0f} ms); our schema"
        f" transaction {schema_tx:.2f} s, longest mirror or steps-map transaction"
        f" {mirror_tx:.2f} s; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    for e in errors:
        print("  ", e)
    ok &= failed == 0
    figs.append(Figure("OpenJarvis saves failed beside a first open", "0", failed, "", failed == 0))
    figs.append(
        Figure("longest OpenJarvis save beside a first open", "< 5 s", longest, "s", longest < 5)
    )
    # What OpenJarvis can wait on: each of our write transactions. The schema one
    # (every schema change at once; no index on OpenJarvis's tables since schema 8)
    # is reported beside the mirror's and the steps map's, sized to MIGRATE_TX_SECONDS.
    # Beyond OpenJarvis's 5 s busy timeout its save would fail.
    figs.append(Figure("  …our schema transaction (once)", "< 5 s", schema_tx, "s", schema_tx < 5))
    figs.append(
        Figure("  …our longest mirror / steps-map transaction while OpenJarvis writes",
               "≤ 0.5 s", mirror_tx, "s", mirror_tx <= 0.5)
    )  # fmt: skip
    ok &= report(figs, "OpenJarvis writing beside jarvis-tui")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
