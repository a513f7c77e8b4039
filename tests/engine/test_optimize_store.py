"""OptimizationStore on OpenJarvis' optimize.db schema (engine only, no Textual)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from jarvis_tui.learning.optimize import (
    BenchmarkScore,
    OptimizationRun,
    OptimizationStore,
    SampleScore,
    SearchDimension,
    SearchSpace,
    StoreError,
    TrialConfig,
    TrialFeedback,
    TrialResult,
)

FIXTURE = Path("/work/shared/fixtures/openjarvis/optimize.db")
try:
    from tests.engine.conftest import OJ_FIXTURES

    if (OJ_FIXTURES / "optimize.db").is_file():
        FIXTURE = OJ_FIXTURES / "optimize.db"
except ImportError:  # pragma: no cover
    pass


def _space() -> SearchSpace:
    return SearchSpace(
        dimensions=[
            SearchDimension(
                "intelligence.model", "categorical", ["a", "b"], primitive="intelligence"
            ),
            SearchDimension(
                "intelligence.temperature",
                "continuous",
                low=0.0,
                high=1.0,
                primitive="intelligence",
            ),
        ],
        fixed={"engine": "ollama"},
        constraints=["be nice"],
    )


def _trial(i: int) -> TrialResult:
    return TrialResult(
        trial_id=f"t{i}",
        config=TrialConfig(
            f"t{i}", {"intelligence.model": "a", "intelligence.temperature": 0.1 * i}, "why"
        ),
        accuracy=0.5 + i / 100,
        mean_latency_seconds=1.0 + i,
        total_cost_usd=0.01 * i,
        total_energy_joules=2.0,
        total_tokens=100 + i,
        samples_evaluated=10,
        analysis=f"analysis {i}",
        failure_modes=["timeout"],
        sample_scores=[
            SampleScore("r1", is_correct=True, score=1.0, latency_seconds=0.3, error=None, ipw=0.5)
        ],
        structured_feedback=TrialFeedback(
            "sum", ["fp"], {"intelligence": "good"}, ["lower temp"], "intelligence"
        ),
        per_benchmark=[BenchmarkScore("gsm8k", accuracy=0.7, total_tokens=5, errors=1, weight=2.0)],
    )


def test_round_trip(tmp_path: Path) -> None:
    store = OptimizationStore(tmp_path / "ws" / "optimize.db")
    trials = [_trial(i) for i in range(3)]
    for tr in trials:
        store.save_trial("r1", tr)
    run = OptimizationRun(
        "r1", _space(), trials=trials, best_trial=trials[2], status="completed", optimizer_model="m",
        benchmark="b", benchmarks=["b", "c"], pareto_frontier=[trials[0], trials[2]],
    )  # fmt: skip
    store.save_run(run)
    got = store.get_run("r1")
    assert got is not None
    assert got.search_space == run.search_space
    assert got.trials == trials  # every field, incl. sample scores, feedback, per-benchmark
    assert got.best_trial == trials[2]
    assert [t.trial_id for t in got.pareto_frontier] == ["t0", "t2"]
    assert got.benchmarks == ["b", "c"] and got.status == "completed"
    assert store.get_run("nope") is None
    assert [r["run_id"] for r in store.list_runs()] == ["r1"]
    # Saving a trial again updates it in place (no duplicate row); saving a run keeps created_at.
    created = store.list_runs()[0]["created_at"]
    trials[1].accuracy = 0.99
    store.save_trial("r1", trials[1])
    store.save_run(run)
    assert [t.accuracy for t in store.get_trials("r1")] == [0.5, 0.99, 0.52]
    assert store.list_runs()[0]["created_at"] == created
    store.close()
    assert stat.S_IMODE((tmp_path / "ws" / "optimize.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ws").stat().st_mode) == 0o700


def test_openjarvis_fixture_opens(tmp_path: Path) -> None:
    if not FIXTURE.is_file():
        pytest.skip("OpenJarvis fixtures not present")
    db = tmp_path / "optimize.db"
    shutil.copyfile(FIXTURE, db)
    with OptimizationStore(db) as store:
        run = store.get_run("run0001")
        assert run is not None and len(run.trials) == 12
        assert run.best_trial is not None and run.best_trial.trial_id == "t03"
        assert run.search_space.dimensions[0].name == "intelligence.model"
        assert run.trials[0].structured_feedback.summary_text == "summary 0"
        store.save_trial("run0001", _trial(99))
        assert len(store.get_trials("run0001")) == 13
    idx = (
        sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='index'").fetchall()
    )
    assert ("idx_trial_results_run_id",) in idx


def test_openjarvis_positional_read(tmp_path: Path) -> None:
    """OpenJarvis reads rows with SELECT * and positional indexes: ours must line up."""
    db = tmp_path / "optimize.db"
    with OptimizationStore(db) as store:
        tr = _trial(1)
        store.save_trial("r1", tr)
        store.save_run(
            OptimizationRun("r1", _space(), trials=[tr], best_trial=tr, pareto_frontier=[tr])
        )
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT * FROM trial_results").fetchone()
    assert row[1] == "t1" and row[2] == "r1"
    assert json.loads(row[3]) == tr.config.params and row[4] == "why"
    assert (row[5], row[6], row[7], row[8], row[9], row[10]) == (0.51, 2.0, 0.01, 2.0, 101, 10)
    assert row[11] == "analysis 1" and json.loads(row[12]) == ["timeout"]
    assert json.loads(row[14])[0]["record_id"] == "r1"
    assert json.loads(row[15])["target_primitive"] == "intelligence"
    assert json.loads(row[16])[0]["benchmark"] == "gsm8k"
    run = conn.execute("SELECT * FROM optimization_runs").fetchone()
    assert run[1] == "r1" and json.loads(run[2])["dimensions"][0]["primitive"] == "intelligence"
    assert run[6] == "t1" and json.loads(run[10]) == ["t1"] and json.loads(run[11]) == []


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["foreign", "old_schema", "garbage"])
def test_foreign_db_refused_unchanged(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "other.db"
    if kind == "garbage":
        db.write_bytes(b"this is not sqlite at all" * 100)
    else:
        conn = sqlite3.connect(db)
        if kind == "foreign":
            conn.execute("CREATE TABLE traces (id INTEGER PRIMARY KEY, body TEXT)")
        else:
            conn.execute("CREATE TABLE trial_results (id INTEGER PRIMARY KEY, trial_id TEXT)")
        conn.commit()
        conn.close()
    before = _digest(db)
    with pytest.raises(StoreError) as info:
        OptimizationStore(db)
    assert "\n" not in str(info.value) and str(db) in str(info.value)
    assert _digest(db) == before
    assert not Path(str(db) + "-wal").exists()


def test_threads_get_their_own_connection(tmp_path: Path) -> None:
    store = OptimizationStore(tmp_path / "optimize.db")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                store.save_trial(f"r{k}", _trial(i))
            assert len(store.get_trials(f"r{k}")) == 20
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sum(len(store.get_trials(f"r{k}")) for k in range(4)) == 80
    store.close()


def test_worker_threads_do_not_leave_their_connections_open(tmp_path: Path) -> None:
    """The app shares one store; every worker thread that read it used to keep its own
    SQLite connection (a file handle) until the app closed: hundreds in a long day."""
    import os

    db = tmp_path / "optimize.db"
    store = OptimizationStore(db)

    def handles() -> int:
        fds = Path("/proc/self/fd")
        if not fds.is_dir():
            pytest.skip("needs /proc (Linux)")
        n = 0
        for fd in fds.iterdir():
            try:
                n += os.readlink(fd) == str(db)
            except OSError:
                pass
        return n

    def workers(n: int) -> None:  # one short-lived worker after another, as panes run them
        for _ in range(n):
            t = threading.Thread(target=store.list_runs)
            t.start()
            t.join()

    store.list_runs()
    workers(3)  # SQLite may keep a closed connection's file handle pending for a while
    settled = handles()
    workers(30)
    assert handles() == settled  # not 30 more
    store.close()
    assert handles() == 0
