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
  before anything is written to it; a file we may not write (mode 0444, or a folder
  that is not writable) is opened read-only and every save says so.
* Rows are read totally: a column holding ``5``, invalid JSON or 1,000-deep JSON is
  skipped (its default is used), and each such value is reported once, in
  :attr:`OptimizationStore.problems` and the log, with the row and the reason.
* A live run's writer keeps a heartbeat in ``jt_run_meta`` (a thread, from the
  ``save_run`` that says ``running`` until the one that does not); a ``running`` run
  whose writer has died (its pid is gone on this host, or no heartbeat for
  :data:`HEARTBEAT_MISSES` intervals) is marked ``interrupted`` on the next open.
  Runs without a heartbeat (OpenJarvis's own, older files) are never touched.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import types
import typing
import urllib.parse
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from jarvis_tui.core import safejson
from jarvis_tui.core.errors import OptimizeStoreError
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

HEARTBEAT_S = 5.0
"""How often a live run's writer refreshes its heartbeat in ``jt_run_meta``."""

HEARTBEAT_MISSES = 6
"""A ``running`` run whose heartbeat is older than this many intervals is interrupted."""


StoreError = OptimizeStoreError
"""The old name of :class:`~jarvis_tui.core.errors.OptimizeStoreError` (still importable)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One unreadable value in optimize.db: which row, which column, and why."""

    where: str
    """``run 'abc'`` or ``trial 'abc'/'t3'``."""
    column: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.column} skipped: {self.why}"


Report = Callable[[str, str], None]
"""``report(column, why)``: called for each value a reader had to skip."""


def _ignore(column: str, why: str) -> None:
    pass


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
# Added to jt_run_meta: the live writer's heartbeat (epoch seconds), its interval, and
# who it is, so another process can tell a live run from a killed one.
_HEARTBEAT_COLUMNS = (
    ("heartbeat", "REAL"),
    ("heartbeat_interval", "REAL"),
    ("owner_pid", "INTEGER"),
    ("owner_host", "TEXT"),
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
        self._owner: dict[int, threading.Thread] = {}  # id(conn) -> the thread using it
        self._lock = threading.Lock()
        self._closed = False
        self.problems: list[RowProblem] = []
        """Every unreadable value met so far, once each (also logged once)."""
        self._problem_keys: set[tuple[str, str, str]] = set()
        self._beats: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self.interrupted: list[str] = []
        """Runs this open marked ``interrupted`` (their writer had died)."""
        self._uri: str | None = None
        existed = self._db_path.exists()
        self.read_only = existed and not _writable(self._db_path)
        """True when the file (or its folder) may not be written: reads only."""
        if not existed:
            ensure_dir(self._db_path.parent)
            secure_touch(self._db_path)
        if self.read_only:
            self._uri = f"file:{urllib.parse.quote(str(self._db_path.absolute()))}?mode=ro"
        conn = self._open()
        try:
            self._check_and_prepare(conn)
            if not self.read_only:
                self._mark_interrupted()
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
                # One connection per thread (threading.local); not checked by sqlite3
                # so that a finished worker thread's connection can be closed here.
                conn = sqlite3.connect(
                    self._uri or self._db_path,
                    timeout=_BUSY_MS / 1000,
                    check_same_thread=False,
                    uri=self._uri is not None,
                )
                conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            except sqlite3.Error as exc:
                raise StoreError(f"{self._db_path}: cannot open: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                dead = [c for c in self._all if not self._owner[id(c)].is_alive()]
                for c in dead:  # each worker thread ran once and is gone: its connection too
                    self._all.remove(c)
                    del self._owner[id(c)]
                self._all.append(conn)
                self._owner[id(conn)] = threading.current_thread()
            for c in dead:
                c.close()
        return conn

    @property
    def open_connections(self) -> int:
        """Connections this store holds now (one per live thread that used it)."""
        with self._lock:
            return len(self._all)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._open()

    def _check_and_prepare(self, conn: sqlite3.Connection) -> None:
        """Refuse anything that is not (or cannot become) an OpenJarvis optimize.db,
        before writing a byte; then create/migrate tables, WAL and the index."""
        try:
            tables = self._table_names(conn)
        except sqlite3.OperationalError as exc:
            if not self.read_only:
                raise StoreError(f"{self._db_path}: cannot read: {exc}") from exc
            # A WAL file in a folder we may not write has no -shm to share: read the
            # file as it is (nobody can be writing it through this folder anyway).
            self._uri = self._uri.replace("?mode=ro", "?mode=ro&immutable=1")  # type: ignore[union-attr]
            self._drop_connection()
            conn = self._open()
            try:
                tables = self._table_names(conn)
            except sqlite3.DatabaseError as exc2:
                raise StoreError(self._unreadable(exc2)) from exc2
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._unreadable(exc)) from exc
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
        if self.read_only:
            missing_tables = ours - tables
            if missing_tables:
                raise StoreError(
                    f"{self._db_path} is read-only and has no {', '.join(sorted(missing_tables))}"
                    " table yet: nothing to read"
                )
            self._has_meta = {"jt_run_meta", "jt_trial_meta"} <= tables
            return
        self._has_meta = True
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                conn.execute(_CREATE_RUNS)
                conn.execute(_CREATE_TRIALS)
                for table, later in _LATER_COLUMNS.items():
                    have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                    for name, decl in later:
                        if name not in have:
                            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
                conn.execute(_INDEX)
                for stmt in _CREATE_META:
                    conn.execute(stmt)
                have = {r[1] for r in conn.execute("PRAGMA table_info(jt_run_meta)")}
                for name, decl in _HEARTBEAT_COLUMNS:
                    if name not in have:
                        conn.execute(f"ALTER TABLE jt_run_meta ADD COLUMN {name} {decl}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self._db_path}: cannot prepare the store: {exc}") from exc

    @staticmethod
    def _table_names(conn: sqlite3.Connection) -> set[str]:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _unreadable(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return f"{self._db_path} is locked by another program ({text})"
        if "not a database" in text or "malformed" in text:
            return f"{self._db_path}: not an SQLite database ({text})"
        return f"{self._db_path}: cannot read ({text})"

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
                    del self._owner[id(conn)]
            conn.close()

    def _writing(self, what: str) -> None:
        """Refuse a write to a read-only store with a line that says so."""
        if self.read_only:
            raise StoreError(
                f"{self._db_path} is read-only (file mode {_mode(self._db_path)}, or its folder "
                f"is not writable): cannot save {what}"
            )

    def _report_for(self, where: str) -> Report:
        def report(column: str, why: str) -> None:
            key = (where, column, why)
            with self._lock:
                if key in self._problem_keys:
                    return
                self._problem_keys.add(key)
                self.problems.append(RowProblem(where, column, why))
            logger.warning("%s: %s", self._db_path, RowProblem(where, column, why))

        return report

    # -- liveness ------------------------------------------------------------

    def _mark_interrupted(self) -> None:
        """Mark ``running`` runs whose writer has died ``interrupted`` (never a live one)."""
        conn = self._conn
        rows = conn.execute(
            "SELECT r.run_id, m.heartbeat, m.heartbeat_interval, m.owner_pid, m.owner_host "
            "FROM optimization_runs r JOIN jt_run_meta m ON m.run_id = r.run_id "
            "WHERE r.status = 'running' AND m.heartbeat IS NOT NULL"
        ).fetchall()
        now = time.time()
        here = socket.gethostname()
        for run_id, beat, interval, pid, host in rows:
            beat_s = _number(beat)
            interval_s = _number(interval) or HEARTBEAT_S
            if beat_s is None:
                continue
            dead = (
                isinstance(pid, int) and host == here and pid != os.getpid() and not _pid_alive(pid)
            )
            stale = now - beat_s > HEARTBEAT_MISSES * max(interval_s, 0.1)
            if not (dead or stale):
                continue
            why = "its process is gone" if dead else f"no heartbeat for {now - beat_s:,.0f} s"
            with conn:
                cur = conn.execute(
                    "UPDATE optimization_runs SET status = 'interrupted', updated_at = ? "
                    "WHERE run_id = ? AND status = 'running'",
                    (now, run_id),
                )
            if cur.rowcount:
                meta = self.get_run_meta(run_id)
                meta["message"] = f"interrupted: {why}; continue it with --resume {run_id}"
                self.save_run_meta(run_id, meta)
                self.interrupted.append(str(run_id))
                logger.info("%s: run %s marked interrupted (%s)", self._db_path, run_id, why)

    def _beat_start(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._beats or self._closed:
                return
            stop = threading.Event()
            thread = threading.Thread(
                target=self._beat_loop, args=(run_id, stop), name=f"optimize-heartbeat-{run_id}",
                daemon=True,
            )  # fmt: skip
            self._beats[run_id] = (stop, thread)
        self._beat_once(self._conn, run_id)  # at once: a reader never sees a run without one
        thread.start()

    def _beat_stop(self, run_id: str) -> None:
        with self._lock:
            entry = self._beats.pop(run_id, None)
        if entry is not None:
            entry[0].set()
            if entry[1] is not threading.current_thread():
                entry[1].join(timeout=10)

    def _beat_once(self, conn: sqlite3.Connection, run_id: str) -> None:
        with conn:
            conn.execute(
                "INSERT INTO jt_run_meta (run_id, meta, heartbeat, heartbeat_interval, "
                "owner_pid, owner_host) VALUES (?, '{}', ?, ?, ?, ?) ON CONFLICT(run_id) DO "
                "UPDATE SET heartbeat = excluded.heartbeat, "
                "heartbeat_interval = excluded.heartbeat_interval, "
                "owner_pid = excluded.owner_pid, owner_host = excluded.owner_host",
                (run_id, time.time(), HEARTBEAT_S, os.getpid(), socket.gethostname()),
            )

    def _beat_loop(self, run_id: str, stop: threading.Event) -> None:
        # Its own connection, closed here: SQLite connections belong to their thread.
        try:
            conn = sqlite3.connect(self._db_path, timeout=_BUSY_MS / 1000)
        except sqlite3.Error:
            return
        try:
            while not stop.wait(HEARTBEAT_S):
                try:
                    self._beat_once(conn, run_id)
                except sqlite3.Error as exc:  # busy or full disk: the next beat retries
                    logger.debug("heartbeat of run %s not written: %s", run_id, exc)
        finally:
            conn.close()

    # -- runs ----------------------------------------------------------------

    def save_run(self, run: OptimizationRun) -> None:
        """Persist an optimization run (insert, or update keeping ``created_at``).

        Saving a ``running`` run starts its heartbeat; saving any other status stops it.
        """
        self._writing(f"run {run.run_id}")
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
        if run.status == "running":
            self._beat_start(run.run_id)
        else:
            self._beat_stop(run.run_id)

    def get_run(self, run_id: str) -> OptimizationRun | None:
        """The run *run_id* with its trials, best trial and frontier, or None."""
        row = self._conn.execute(
            "SELECT run_id, search_space, status, optimizer_model, benchmark, best_trial_id, "
            "best_recipe_path, pareto_frontier_ids, benchmarks FROM optimization_runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        report = self._report_for(f"run {run_id!r}")
        trials = self.get_trials(run_id)
        by_id = {t.trial_id: t for t in trials}
        frontier_ids = _loads(row[7], [], list, report, "pareto_frontier_ids")
        best_id = row[5] if isinstance(row[5], str) else None
        return OptimizationRun(
            run_id=str(row[0]),
            search_space=search_space_from_json(row[1], report),
            trials=trials,
            best_trial=by_id.get(best_id) if best_id else None,
            best_recipe_path=row[6] if isinstance(row[6], str) else None,
            status=_text(row[2], report, "status") or "failed",
            optimizer_model=_text(row[3], report, "optimizer_model"),
            benchmark=_text(row[4], report, "benchmark"),
            benchmarks=[
                b for b in _loads(row[8], [], list, report, "benchmarks") if isinstance(b, str)
            ],
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
        self._writing(f"trial {trial.trial_id}")
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
        return [_row_to_trial(r, self._report_for(f"trial {run_id!r}/{str(r[0])!r}")) for r in rows]

    # -- our metadata (not in OpenJarvis) --------------------------------------

    def save_run_meta(self, run_id: str, meta: dict[str, Any]) -> None:
        """Store the settings a run needs to be resumed (objectives, bounds, budget…)."""
        self._writing(f"the settings of run {run_id}")
        with self._conn as conn:
            conn.execute(
                "INSERT INTO jt_run_meta (run_id, meta) VALUES (?, ?) "
                "ON CONFLICT(run_id) DO UPDATE SET meta = excluded.meta",
                (run_id, json.dumps(meta, default=str)),
            )

    def get_run_meta(self, run_id: str) -> dict[str, Any]:
        """The settings saved with :meth:`save_run_meta` (``{}`` when none or unreadable)."""
        if not self._has_meta:
            return {}
        row = self._conn.execute(
            "SELECT meta FROM jt_run_meta WHERE run_id = ?", (run_id,)
        ).fetchone()
        return (
            _loads(row[0], {}, dict, self._report_for(f"run {run_id!r}"), "jt_run_meta")
            if row
            else {}
        )

    def save_trial_meta(self, run_id: str, trial_id: str, meta: dict[str, Any]) -> None:
        """Store where a trial came from (source, parent, feasibility, timing)."""
        self._writing(f"the origin of trial {trial_id}")
        with self._conn as conn:
            conn.execute(
                "INSERT INTO jt_trial_meta (run_id, trial_id, meta) VALUES (?, ?, ?) "
                "ON CONFLICT(run_id, trial_id) DO UPDATE SET meta = excluded.meta",
                (run_id, trial_id, json.dumps(meta, default=str)),
            )

    def get_trial_meta(self, run_id: str) -> dict[str, dict[str, Any]]:
        """trial_id -> metadata for the trials of *run_id* that have any."""
        if not self._has_meta:
            return {}
        rows = self._conn.execute(
            "SELECT trial_id, meta FROM jt_trial_meta WHERE run_id = ?", (run_id,)
        ).fetchall()
        return {
            str(r[0]): _loads(
                r[1], {}, dict, self._report_for(f"trial {run_id!r}/{str(r[0])!r}"), "jt_trial_meta"
            )
            for r in rows
        }

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close every connection this store opened (from any thread); stop heartbeats.

        A run still ``running`` when its store closes keeps that status, and without a
        heartbeat the next open marks it ``interrupted``.
        """
        for run_id in list(self._beats):
            self._beat_stop(run_id)
        self._closed = True
        with self._lock:
            conns, self._all = self._all, []
            self._owner.clear()
        for c in conns:
            try:
                c.close()
            except sqlite3.ProgrammingError:  # in use by its thread right now
                pass
        self._local = threading.local()

    def __enter__(self) -> OptimizationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- (de)serialisation ---------------------------------------------------------


def _writable(path: Path) -> bool:
    """Whether SQLite may write *path* and create its -wal/-shm files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _mode(path: Path) -> str:
    try:
        return f"{path.stat().st_mode & 0o777:04o}"
    except OSError:
        return "unknown"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any, report: Report, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    report(column, f"not text (a {type(value).__name__})")
    return str(value)


_KIND_NAMES: dict[type, str] = {dict: "an object", list: "a list"}


def _loads(raw: Any, default: Any, kind: type, report: Report = _ignore, column: str = "") -> Any:
    """A JSON column as *kind*, else *default* (and the reason reported)."""
    if raw is None or raw == "" or raw == b"":
        return default
    value, why = safejson.parse(raw)
    if why is None and not isinstance(value, kind):
        why = f"a JSON {type(value).__name__}, not {_KIND_NAMES.get(kind, kind.__name__)}"
    if why is not None:
        report(column, why)
        return default
    return value


def _fits(value: Any, hint: Any) -> tuple[bool, Any]:
    """Whether *value* (from JSON) fits the annotation *hint*, and the value to use."""
    if hint is Any:
        return True, value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return True, None
        for arg in typing.get_args(hint):
            if arg is not type(None):
                ok, v = _fits(value, arg)
                if ok:
                    return True, v
        return False, None
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok, value
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    if origin is list or hint is list:
        if not isinstance(value, list):
            return False, None
        (item,) = typing.get_args(hint) or (Any,)
        return True, [v for v in value if _fits(v, item)[0]]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return False, None
        args = typing.get_args(hint)
        if args and args[1] is str:
            return True, {str(k): v for k, v in value.items() if isinstance(v, str)}
        return True, value
    return False, None


_HINTS: dict[type, dict[str, Any]] = {}


def _typed(cls: type, data: dict, report: Report, column: str) -> Any:
    """An instance of dataclass *cls* from *data*: each field that does not fit its type
    is reported and left at its default; None when a required field is missing."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                report(column, f"an entry has no {f.name}")
                return None
            continue
        ok, value = _fits(data[f.name], hints[f.name])
        if ok:
            kwargs[f.name] = value
        elif f.default is MISSING and f.default_factory is MISSING:
            report(column, f"an entry's {f.name} is a {type(data[f.name]).__name__}")
            return None
        else:
            report(column, f"{f.name} is a {type(data[f.name]).__name__}")
    return cls(**kwargs)


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


def search_space_from_json(raw: Any, report: Report = _ignore) -> SearchSpace:
    """Inverse of :func:`search_space_to_json`; reads later OpenJarvis' ``pillar`` too.

    Never raises: a part of the wrong type is skipped and reported as ``search_space``.
    """
    data = _loads(raw, {}, dict, report, "search_space")
    column = "search_space"
    dims_raw = data.get("dimensions") or []
    if not isinstance(dims_raw, list):
        report(column, f"dimensions is a {type(dims_raw).__name__}, not a list")
        dims_raw = []
    dims = []
    for d in dims_raw:
        if not isinstance(d, dict):
            report(column, f"a dimension is a {type(d).__name__}, not an object")
            continue
        d = {**d}
        if "primitive" not in d and "pillar" in d:
            d["primitive"] = d["pillar"]
        d.setdefault("dim_type", "categorical")
        dim = _typed(SearchDimension, d, report, column)
        if dim is not None and dim.name:
            dims.append(dim)
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, dict):
        report(column, f"fixed is a {type(fixed).__name__}, not an object")
        fixed = {}
    constraints = data.get("constraints") or []
    if not isinstance(constraints, list):
        report(column, f"constraints is a {type(constraints).__name__}, not a list")
        constraints = []
    return SearchSpace(
        dimensions=dims,
        fixed=dict(fixed),
        constraints=[c for c in constraints if isinstance(c, str)],
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


def _entries(raw: Any, cls: type, allowed: Any, report: Report, column: str) -> list:
    out = []
    for item in _loads(raw, [], list, report, column):
        if not isinstance(item, dict):
            report(column, f"an entry is a {type(item).__name__}, not an object")
            continue
        value = _typed(cls, {k: v for k, v in item.items() if k in allowed}, report, column)
        if value is not None:
            out.append(value)
    return out


def _metric(value: Any, report: Report, column: str, kind: type = float) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        report(column, "NULL" if value is None else f"not a number (a {type(value).__name__})")
        return kind(0)
    return kind(value)


def _row_to_trial(row: tuple, report: Report = _ignore) -> TrialResult:
    (tid, config, reasoning, acc, lat, cost, energy, tokens, samples, analysis, fm, ss, fb, pb) = (
        row
    )
    tid = _text(tid, report, "trial_id")
    scores = _entries(ss, SampleScore, _SAMPLE_FIELDS, report, "sample_scores")
    benches = _entries(pb, BenchmarkScore, _BENCH_FIELDS, report, "per_benchmark")
    raw_fb = _loads(fb, {}, dict, report, "structured_feedback")
    feedback = None
    if raw_fb:
        raw_fb = {**raw_fb}
        for new, old in (
            ("primitive_ratings", "pillar_ratings"),
            ("target_primitive", "target_pillar"),
        ):
            if new not in raw_fb and old in raw_fb:
                raw_fb[new] = raw_fb[old]
        if raw_fb.get("target_primitive") is None:
            raw_fb.pop("target_primitive", None)
        feedback = _typed(TrialFeedback, raw_fb, report, "structured_feedback")
    return TrialResult(
        trial_id=tid,
        config=TrialConfig(
            trial_id=tid,
            params=_loads(config, {}, dict, report, "config"),
            reasoning=_text(reasoning, report, "reasoning"),
        ),
        accuracy=_metric(acc, report, "accuracy"),
        mean_latency_seconds=_metric(lat, report, "mean_latency_seconds"),
        total_cost_usd=_metric(cost, report, "total_cost_usd"),
        total_energy_joules=_metric(energy, report, "total_energy_joules"),
        total_tokens=_metric(tokens, report, "total_tokens", int),
        samples_evaluated=_metric(samples, report, "samples_evaluated", int),
        analysis=_text(analysis, report, "analysis"),
        failure_modes=[
            m for m in _loads(fm, [], list, report, "failure_modes") if isinstance(m, str)
        ],
        sample_scores=scores,
        structured_feedback=feedback,
        per_benchmark=benches,
    )


__all__ = [
    "HEARTBEAT_MISSES",
    "HEARTBEAT_S",
    "OptimizationStore",
    "OptimizeStoreError",
    "RowProblem",
    "StoreError",
    "search_space_from_json",
    "search_space_to_json",
]
