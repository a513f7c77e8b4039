"""SQLite storage of optimization runs and trials, on OpenJarvis' ``optimize.db`` schema.

Same tables and columns as ``openjarvis.learning.optimize.store`` (an OpenJarvis file
opens as it is, and OpenJarvis reads what we write, positionally). Differences, on
purpose:

* WAL with a busy timeout, and one connection per thread (the Trials pane reads while
  the optimization worker writes).
* ``save_trial`` updates a trial already saved under the same (run_id, trial_id)
  instead of adding a duplicate row; ``save_run`` keeps the run's ``created_at``.
* An index on ``trial_results(run_id, id)`` (OpenJarvis has none; it ignores extra indexes).
* A file that is not an OpenJarvis optimize.db is refused with :class:`StoreError`
  before anything is written to it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from jarvis_tui.learning.optimize.types import (
    BenchmarkScore,
    OptimizationRun,
    SampleScore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialFeedback,
    TrialResult,
)
from jarvis_tui.paths import FILE_MODE, ensure_dir, secure_touch

logger = logging.getLogger(__name__)


class StoreError(Exception):
    """The database cannot be used as an optimization store (one-line message)."""


_CREATE_RUNS = """
CREATE TABLE IF NOT EXISTS optimization_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    search_space TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'running',
    optimizer_model TEXT NOT NULL DEFAULT '',
    benchmark TEXT NOT NULL DEFAULT '',
    best_trial_id TEXT,
    best_recipe_path TEXT,
    created_at REAL NOT NULL DEFAULT 0.0,
    updated_at REAL NOT NULL DEFAULT 0.0
)"""

_CREATE_TRIALS = """
CREATE TABLE IF NOT EXISTS trial_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    reasoning TEXT NOT NULL DEFAULT '',
    accuracy REAL NOT NULL DEFAULT 0.0,
    mean_latency_seconds REAL NOT NULL DEFAULT 0.0,
    total_cost_usd REAL NOT NULL DEFAULT 0.0,
    total_energy_joules REAL NOT NULL DEFAULT 0.0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    samples_evaluated INTEGER NOT NULL DEFAULT 0,
    analysis TEXT NOT NULL DEFAULT '',
    failure_modes TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL DEFAULT 0.0,
    FOREIGN KEY (run_id) REFERENCES optimization_runs(run_id)
)"""

# OpenJarvis' own later migrations, appended in its order so positional reads agree.
_LATER_COLUMNS = {
    "trial_results": [
        ("sample_scores", "TEXT NOT NULL DEFAULT '[]'"),
        ("structured_feedback", "TEXT NOT NULL DEFAULT '{}'"),
        ("per_benchmark", "TEXT NOT NULL DEFAULT '[]'"),
    ],
    "optimization_runs": [
        ("pareto_frontier_ids", "TEXT NOT NULL DEFAULT '[]'"),
        ("benchmarks", "TEXT NOT NULL DEFAULT '[]'"),
    ],
}
_BASE_COLUMNS = {
    "optimization_runs": [
        "id", "run_id", "search_space", "status", "optimizer_model", "benchmark",
        "best_trial_id", "best_recipe_path", "created_at", "updated_at",
    ],
    "trial_results": [
        "id", "trial_id", "run_id", "config", "reasoning", "accuracy",
        "mean_latency_seconds", "total_cost_usd", "total_energy_joules", "total_tokens",
        "samples_evaluated", "analysis", "failure_modes", "created_at",
    ],
}  # fmt: skip
_INDEX = "CREATE INDEX IF NOT EXISTS idx_trial_results_run_id ON trial_results(run_id, id)"
# Our own additions (OpenJarvis ignores tables it does not know): what the steering
# loop needs to resume a run and to show where each trial came from.
_CREATE_META = (
    "CREATE TABLE IF NOT EXISTS jt_run_meta (run_id TEXT PRIMARY KEY, meta TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jt_trial_meta (run_id TEXT NOT NULL, trial_id TEXT NOT NULL, "
    "meta TEXT NOT NULL, PRIMARY KEY (run_id, trial_id))",
)

_TRIAL_COLS = (
    "trial_id, config, reasoning, accuracy, mean_latency_seconds, total_cost_usd, "
    "total_energy_joules, total_tokens, samples_evaluated, analysis, failure_modes, "
    "sample_scores, structured_feedback, per_benchmark"
)
_BUSY_MS = 5000


class OptimizationStore:
    """SQLite-backed storage for optimization runs and trials (thread-safe)."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self._db_path = Path(db_path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        ensure_dir(self._db_path.parent)
        existed = self._db_path.exists()
        if not existed:
            secure_touch(self._db_path)
        conn = self._open()
        try:
            self._check_and_prepare(conn)
        except Exception:
            self.close()
            raise
        for suffix in ("-wal", "-shm"):
            p = Path(str(self._db_path) + suffix)
            if p.exists() and not existed:
                os.chmod(p, FILE_MODE)

    # -- connections ---------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"{self._db_path}: store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self._db_path, timeout=_BUSY_MS / 1000, check_same_thread=True
                )
                conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            except sqlite3.Error as exc:
                raise StoreError(f"{self._db_path}: cannot open: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._open()

    def _check_and_prepare(self, conn: sqlite3.Connection) -> None:
        """Refuse anything that is not (or cannot become) an OpenJarvis optimize.db,
        before writing a byte; then create/migrate tables, WAL and the index."""
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self._db_path}: not an SQLite database ({exc})") from exc
        ours = {"optimization_runs", "trial_results"}
        others = tables - ours - {"sqlite_sequence", "jt_run_meta", "jt_trial_meta"}
        if not tables & ours and others:
            raise StoreError(
                f"{self._db_path}: not an optimize.db (it holds other tables: {', '.join(sorted(others)[:5])})"
            )
        for table in ours & tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            missing = [c for c in _BASE_COLUMNS[table] if c not in cols]
            if missing:
                raise StoreError(
                    f"{self._db_path}: table {table} is another schema version (missing {', '.join(missing)})"
                )
            expected = _BASE_COLUMNS[table] + [c for c, _ in _LATER_COLUMNS[table]]
            present = [c for c in cols if c in expected]
            if present != expected[: len(present)]:
                raise StoreError(
                    f"{self._db_path}: table {table} has its columns in an unknown order"
                )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                conn.execute(_CREATE_RUNS)
                conn.execute(_CREATE_TRIALS)
                for table, later in _LATER_COLUMNS.items():
                    cols = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                    for name, decl in later:
                        if name not in cols:
                            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
                conn.execute(_INDEX)
                for stmt in _CREATE_META:
                    conn.execute(stmt)
        except sqlite3.Error as exc:
            raise StoreError(f"{self._db_path}: cannot prepare the store: {exc}") from exc

    # -- runs ----------------------------------------------------------------

    def save_run(self, run: OptimizationRun) -> None:
        """Persist an optimization run (insert, or update keeping ``created_at``)."""
        now = time.time()
        best_id = run.best_trial.trial_id if run.best_trial else None
        pareto = json.dumps([t.trial_id for t in run.pareto_frontier])
        with self._conn as conn:
            conn.execute(
                "INSERT INTO optimization_runs (run_id, search_space, status, optimizer_model, "
                "benchmark, best_trial_id, best_recipe_path, created_at, updated_at, "
                "pareto_frontier_ids, benchmarks) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(run_id) DO UPDATE SET search_space=excluded.search_space, "
                "status=excluded.status, optimizer_model=excluded.optimizer_model, "
                "benchmark=excluded.benchmark, best_trial_id=excluded.best_trial_id, "
                "best_recipe_path=excluded.best_recipe_path, updated_at=excluded.updated_at, "
                "pareto_frontier_ids=excluded.pareto_frontier_ids, benchmarks=excluded.benchmarks",
                (
                    run.run_id,
                    search_space_to_json(run.search_space),
                    run.status,
                    run.optimizer_model,
                    run.benchmark,
                    best_id,
                    run.best_recipe_path,
                    now,
                    now,
                    pareto,
                    json.dumps(run.benchmarks),
                ),
            )

    def get_run(self, run_id: str) -> OptimizationRun | None:
        """The run *run_id* with its trials, best trial and frontier, or None."""
        row = self._conn.execute(
            "SELECT run_id, search_space, status, optimizer_model, benchmark, best_trial_id, "
            "best_recipe_path, pareto_frontier_ids, benchmarks FROM optimization_runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        trials = self.get_trials(run_id)
        by_id = {t.trial_id: t for t in trials}
        frontier_ids = _loads(row[7], [], list)
        return OptimizationRun(
            run_id=row[0],
            search_space=search_space_from_json(row[1]),
            trials=trials,
            best_trial=by_id.get(row[5]) if row[5] else None,
            best_recipe_path=row[6],
            status=row[2],
            optimizer_model=row[3],
            benchmark=row[4],
            benchmarks=_loads(row[8], [], list),
            pareto_frontier=[by_id[i] for i in frontier_ids if isinstance(i, str) and i in by_id],
        )

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Summary dicts of the most recent runs, newest first."""
        rows = self._conn.execute(
            "SELECT run_id, status, optimizer_model, benchmark, best_trial_id, best_recipe_path, "
            "created_at, updated_at FROM optimization_runs ORDER BY created_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        keys = (
            "run_id",
            "status",
            "optimizer_model",
            "benchmark",
            "best_trial_id",
            "best_recipe_path",
            "created_at",
            "updated_at",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- trials --------------------------------------------------------------

    def save_trial(self, run_id: str, trial: TrialResult) -> None:
        """Persist one trial result (replacing an earlier save of the same trial)."""
        values = (
            json.dumps(trial.config.params),
            trial.config.reasoning,
            float(trial.accuracy),
            float(trial.mean_latency_seconds),
            float(trial.total_cost_usd),
            float(trial.total_energy_joules),
            int(trial.total_tokens),
            int(trial.samples_evaluated),
            trial.analysis,
            json.dumps(trial.failure_modes),
            json.dumps([_sample_to_dict(s) for s in trial.sample_scores]),
            _feedback_to_json(trial.structured_feedback),
            json.dumps([_bench_to_dict(b) for b in trial.per_benchmark]),
        )
        with self._conn as conn:
            cur = conn.execute(
                "UPDATE trial_results SET config=?, reasoning=?, accuracy=?, mean_latency_seconds=?, "
                "total_cost_usd=?, total_energy_joules=?, total_tokens=?, samples_evaluated=?, "
                "analysis=?, failure_modes=?, sample_scores=?, structured_feedback=?, per_benchmark=? "
                "WHERE trial_id = ? AND run_id = ?",
                (*values, trial.trial_id, run_id),
            )
            if cur.rowcount == 0:
                conn.execute(
                    "INSERT INTO trial_results (config, reasoning, accuracy, mean_latency_seconds, "
                    "total_cost_usd, total_energy_joules, total_tokens, samples_evaluated, analysis, "
                    "failure_modes, sample_scores, structured_feedback, per_benchmark, trial_id, "
                    "run_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*values, trial.trial_id, run_id, time.time()),
                )

    def get_trials(self, run_id: str) -> list[TrialResult]:
        """All trial results of *run_id*, in the order they were saved."""
        rows = self._conn.execute(
            f"SELECT {_TRIAL_COLS} FROM trial_results WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
        return [_row_to_trial(r) for r in rows]

    # -- our metadata (not in OpenJarvis) --------------------------------------

    def save_run_meta(self, run_id: str, meta: dict[str, Any]) -> None:
        """Store the settings a run needs to be resumed (objectives, bounds, budget…)."""
        with self._conn as conn:
            conn.execute(
                "INSERT INTO jt_run_meta (run_id, meta) VALUES (?, ?) "
                "ON CONFLICT(run_id) DO UPDATE SET meta = excluded.meta",
                (run_id, json.dumps(meta, default=str)),
            )

    def get_run_meta(self, run_id: str) -> dict[str, Any]:
        row = self._conn.execute(
            "SELECT meta FROM jt_run_meta WHERE run_id = ?", (run_id,)
        ).fetchone()
        return _loads(row[0], {}, dict) if row else {}

    def save_trial_meta(self, run_id: str, trial_id: str, meta: dict[str, Any]) -> None:
        """Store where a trial came from (source, parent, feasibility, timing)."""
        with self._conn as conn:
            conn.execute(
                "INSERT INTO jt_trial_meta (run_id, trial_id, meta) VALUES (?, ?, ?) "
                "ON CONFLICT(run_id, trial_id) DO UPDATE SET meta = excluded.meta",
                (run_id, trial_id, json.dumps(meta, default=str)),
            )

    def get_trial_meta(self, run_id: str) -> dict[str, dict[str, Any]]:
        """trial_id -> metadata for the trials of *run_id* that have any."""
        rows = self._conn.execute(
            "SELECT trial_id, meta FROM jt_trial_meta WHERE run_id = ?", (run_id,)
        ).fetchall()
        return {r[0]: _loads(r[1], {}, dict) for r in rows}

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        self._closed = True
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            try:
                c.close()
            except sqlite3.ProgrammingError:
                # A connection made in another thread: SQLite forbids closing it here;
                # it is released when that thread's local storage goes away.
                pass
        self._local = threading.local()

    def __enter__(self) -> OptimizationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- (de)serialisation ---------------------------------------------------------


def _loads(raw: Any, default: Any, kind: type) -> Any:
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, TypeError) as exc:
        logger.debug("unreadable JSON in optimize.db: %s", exc)
        return default
    return value if isinstance(value, kind) else default


def search_space_to_json(space: SearchSpace) -> str:
    """A SearchSpace as OpenJarvis stores it in ``optimization_runs.search_space``."""
    dims = [
        {
            "name": d.name,
            "dim_type": d.dim_type,
            "values": d.values,
            "low": d.low,
            "high": d.high,
            "description": d.description,
            "primitive": d.primitive,
        }
        for d in space.dimensions
    ]
    return json.dumps({"dimensions": dims, "fixed": space.fixed, "constraints": space.constraints})


def search_space_from_json(raw: str) -> SearchSpace:
    """Inverse of :func:`search_space_to_json`; reads later OpenJarvis' ``pillar`` too."""
    data = _loads(raw, {}, dict)
    dims = [
        SearchDimension(
            name=d.get("name", ""),
            dim_type=d.get("dim_type", "categorical"),
            values=list(d.get("values") or []),
            low=d.get("low"),
            high=d.get("high"),
            description=d.get("description", ""),
            primitive=d.get("primitive", d.get("pillar", "")),
        )
        for d in data.get("dimensions", [])
        if isinstance(d, dict)
    ]
    return SearchSpace(
        dimensions=dims,
        fixed=dict(data.get("fixed") or {}),
        constraints=list(data.get("constraints") or []),
    )


_SAMPLE_FIELDS = SampleScore.__dataclass_fields__
_BENCH_FIELDS = [
    f for f in BenchmarkScore.__dataclass_fields__ if f not in ("summary", "sample_scores")
]


def _sample_to_dict(s: SampleScore) -> dict[str, Any]:
    return {f: getattr(s, f) for f in _SAMPLE_FIELDS}


def _bench_to_dict(b: BenchmarkScore) -> dict[str, Any]:
    return {f: getattr(b, f) for f in _BENCH_FIELDS}


def _feedback_to_json(fb: TrialFeedback | None) -> str:
    if fb is None:
        return "{}"
    return json.dumps(
        {
            "summary_text": fb.summary_text,
            "failure_patterns": fb.failure_patterns,
            "primitive_ratings": fb.primitive_ratings,
            "suggested_changes": fb.suggested_changes,
            "target_primitive": fb.target_primitive,
        }
    )


def _row_to_trial(row: tuple) -> TrialResult:
    (tid, config, reasoning, acc, lat, cost, energy, tokens, samples, analysis, fm, ss, fb, pb) = (
        row
    )
    scores = [
        SampleScore(**{k: v for k, v in s.items() if k in _SAMPLE_FIELDS})
        for s in _loads(ss, [], list)
        if isinstance(s, dict) and "record_id" in s
    ]
    benches = [
        BenchmarkScore(**{k: v for k, v in b.items() if k in _BENCH_FIELDS})
        for b in _loads(pb, [], list)
        if isinstance(b, dict) and "benchmark" in b
    ]
    raw_fb = _loads(fb, {}, dict)
    feedback = None
    if raw_fb:
        feedback = TrialFeedback(
            summary_text=raw_fb.get("summary_text", ""),
            failure_patterns=list(raw_fb.get("failure_patterns") or []),
            primitive_ratings=dict(
                raw_fb.get("primitive_ratings", raw_fb.get("pillar_ratings")) or {}
            ),
            suggested_changes=list(raw_fb.get("suggested_changes") or []),
            target_primitive=raw_fb.get("target_primitive", raw_fb.get("target_pillar", "")) or "",
        )
    return TrialResult(
        trial_id=tid,
        config=TrialConfig(
            trial_id=tid, params=_loads(config, {}, dict), reasoning=reasoning or ""
        ),
        accuracy=acc,
        mean_latency_seconds=lat,
        total_cost_usd=cost,
        total_energy_joules=energy,
        total_tokens=tokens,
        samples_evaluated=samples,
        analysis=analysis or "",
        failure_modes=_loads(fm, [], list),
        sample_scores=scores,
        structured_feedback=feedback,
        per_benchmark=benches,
    )


__all__ = ["OptimizationStore", "StoreError", "search_space_from_json", "search_space_to_json"]
