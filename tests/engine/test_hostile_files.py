"""Hostile or left-over files: garbage rows in optimize.db, deep lines in metrics.jsonl,
read-only stores, killed runs. Each bad row is reported once and everything else works."""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.learning.optimize.store import OptimizationStore, StoreError
from jarvis_tui.learning.optimize.types import (
    OptimizationRun,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialResult,
)
from jarvis_tui.learning.training import runs as runs_mod
from jarvis_tui.learning.training.runs import MetricsTail, RunWriter, list_runs

DEEP = "[" * 1000 + "]" * 1000


def _trial(i: int, acc: float) -> TrialResult:
    return TrialResult(
        trial_id=f"t{i}", config=TrialConfig(f"t{i}", {"agent.temperature": 0.1 * i}),
        accuracy=acc, mean_latency_seconds=1.0 + i, total_cost_usd=1e-4 * i,
        failure_modes=["slow"],
    )  # fmt: skip


def _saved_run(db: Path) -> OptimizationRun:
    space = SearchSpace([SearchDimension("agent.temperature", "continuous", low=0.0, high=1.0)])
    trials = [_trial(i, 0.5 + 0.01 * i) for i in range(5)]
    run = OptimizationRun(run_id="r1", search_space=space, trials=trials, status="completed")
    run.best_trial = trials[4]
    run.pareto_frontier = [trials[4]]
    with OptimizationStore(db) as store:
        store.save_run(run)
        for t in trials:
            store.save_trial("r1", t)
        store.save_run_meta("r1", {"message": "done"})
    return run


def _corrupt(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE trial_results SET config = '5' WHERE trial_id = 't0'")
        conn.execute("UPDATE trial_results SET config = ? WHERE trial_id = 't1'", (DEEP,))
        conn.execute("UPDATE trial_results SET config = 'not json {' WHERE trial_id = 't2'")
        conn.execute(
            "UPDATE trial_results SET failure_modes = ?, sample_scores = ?, accuracy = 'abc' "
            "WHERE trial_id = 't3'",
            (DEEP, json.dumps([{"record_id": 5}, {"record_id": "s1", "score": "high"}])),
        )
        conn.execute(
            "UPDATE optimization_runs SET search_space = ?",
            (json.dumps({"dimensions": 5, "fixed": [1], "constraints": "x"}),),
        )
        conn.execute("UPDATE jt_run_meta SET meta = ?", (DEEP,))
    conn.close()


def test_garbage_rows_are_skipped_and_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "optimize.db"
    _saved_run(db)
    _corrupt(db)
    caplog.set_level(logging.WARNING, logger="jarvis_tui.learning.optimize.store")
    with OptimizationStore(db) as store:
        for _ in range(3):  # reading again reports nothing new
            run = store.get_run("r1")
            store.get_run_meta("r1")
        assert run is not None
        assert [t.trial_id for t in run.trials] == ["t0", "t1", "t2", "t3", "t4"]
        by_id = {t.trial_id: t for t in run.trials}
        assert by_id["t0"].config.params == {} and by_id["t1"].config.params == {}
        assert by_id["t4"].config.params == {"agent.temperature": pytest.approx(0.4)}
        assert by_id["t3"].accuracy == 0.0 and by_id["t3"].failure_modes == []
        assert [s.record_id for s in by_id["t3"].sample_scores] == ["s1"]
        assert run.best_trial is by_id["t4"] and run.search_space.dimensions == []
        problems = [str(p) for p in store.problems]
    assert len(problems) == len(set(problems))
    joined = "\n".join(problems)
    assert "trial 'r1'/'t0': config skipped: a JSON int, not an object" in joined
    assert "trial 'r1'/'t1': config skipped: JSON nested deeper than 100 levels" in joined
    assert "trial 'r1'/'t2': config skipped: invalid JSON" in joined
    assert "'t3': accuracy skipped: not a number" in joined
    assert "'t3': failure_modes skipped: JSON nested deeper" in joined
    assert "run 'r1': search_space skipped: dimensions is a int" in joined
    assert "run 'r1': jt_run_meta skipped: JSON nested deeper" in joined
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(problems) and len(set(logged)) == len(logged)


def test_cli_works_on_a_store_with_garbage_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _saved_run(tmp_path / "optimize.db")
    _corrupt(tmp_path / "optimize.db")
    out = tmp_path / "best.toml"
    assert main(["export-best", "r1", str(out), "--home", str(tmp_path)]) == 0
    assert out.is_file()
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
@pytest.mark.parametrize("how", ["file", "dir"])
def test_a_read_only_store_is_read_and_says_read_only_on_save(tmp_path: Path, how: str) -> None:
    db = tmp_path / "ws" / "optimize.db"
    run = _saved_run(db)
    if how == "file":
        db.chmod(0o444)
    else:
        db.parent.chmod(0o555)
    try:
        with OptimizationStore(db) as store:
            assert store.read_only
            assert [t.trial_id for t in store.get_run("r1").trials] == [
                "t0",
                "t1",
                "t2",
                "t3",
                "t4",
            ]
            with pytest.raises(StoreError, match="read-only"):
                store.save_run(run)
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)


_KILLED_OPTIMIZER = textwrap.dedent(
    """
    import os, signal, sys
    from jarvis_tui.learning.optimize.store import OptimizationStore
    from jarvis_tui.learning.optimize.types import OptimizationRun, SearchSpace
    store = OptimizationStore(sys.argv[1])
    store.save_run(OptimizationRun(run_id="killed", search_space=SearchSpace(), status="running"))
    print("saved", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_optimization_run_is_interrupted_on_the_next_open(tmp_path: Path) -> None:
    db = tmp_path / "optimize.db"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_OPTIMIZER, str(db)], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.stdout.strip() == "saved" and done.returncode == -9
    with OptimizationStore(db) as store:
        assert store.get_run("killed").status == "interrupted"
        assert "interrupted" in store.get_run_meta("killed")["message"]
        assert store.interrupted == ["killed"]


def test_a_live_run_is_never_touched(tmp_path: Path) -> None:
    db = tmp_path / "optimize.db"
    with OptimizationStore(db) as writer:
        writer.save_run(
            OptimizationRun(run_id="live", search_space=SearchSpace(), status="running")
        )
        with OptimizationStore(db) as reader:
            assert reader.get_run("live").status == "running"
            assert reader.interrupted == []


def test_a_stale_heartbeat_is_interrupted_but_a_run_without_one_is_not(tmp_path: Path) -> None:
    db = tmp_path / "optimize.db"
    with OptimizationStore(db) as store:
        store.save_run(
            OptimizationRun(run_id="stale", search_space=SearchSpace(), status="running")
        )
    conn = sqlite3.connect(db)
    with conn:  # as if its host had gone away ten minutes ago
        conn.execute("UPDATE jt_run_meta SET heartbeat = ?, owner_host = 'elsewhere'",
                     (time.time() - 600,))  # fmt: skip
        # An OpenJarvis run (no heartbeat of ours): its liveness is unknown, left alone.
        conn.execute(
            "INSERT INTO optimization_runs (run_id, status, created_at, updated_at) "
            "VALUES ('foreign', 'running', 0, 0)"
        )
    conn.close()
    with OptimizationStore(db) as store:
        assert store.get_run("stale").status == "interrupted"
        assert store.get_run("foreign").status == "running"


# ---------------------------------------------------------------------- run folders


def test_a_deep_or_mistyped_metrics_line_is_skipped_once(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    good = {"type": "step", "step": 1, "loss": 2.0}
    path.write_text(
        json.dumps(good) + "\n" + DEEP + "\n" + '{"type":"step","step":"two","loss":1}\n'
        + "[1, 2]\n" + json.dumps({**good, "step": 2}) + "\n"
    )  # fmt: skip
    tail = MetricsTail(path)
    records = tail.read_new()
    assert [r["step"] for r in records] == [1, 2]
    assert tail.read_new() == []  # the follower moved past them: not stuck
    assert tail.problems == [
        "metrics.jsonl line 2: skipped: JSON nested deeper than 100 levels",
        "metrics.jsonl line 3: skipped: step is a str, not a number",
        "metrics.jsonl line 4: skipped: a JSON list, not an object",
    ]
    with path.open("a") as fh:
        fh.write(json.dumps({**good, "step": 3}) + "\n")
    assert [r["step"] for r in tail.read_new()] == [3]
    assert len(tail.problems) == 3


def test_a_deep_run_json_loads_as_failed(tmp_path: Path) -> None:
    run = tmp_path / "run1"
    run.mkdir()
    (run / "run.json").write_text(DEEP)
    [info] = list_runs(tmp_path)
    assert info.status == "failed" and "deeper" in info.message


_KILLED_TRAINER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from jarvis_tui.learning.training.runs import RunWriter
    w = RunWriter(sys.argv[1], model="m", heartbeat_thread=False)
    (w.path / ".run.json.abc123.tmp").write_text("half")
    (w.path / f".final.tmp-{os.getpid()}-1").mkdir()
    (w.path / f".final.tmp-{os.getpid()}-1" / "adapter_model.bin").write_bytes(b"x")
    print(w.path, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_runs_temp_files_are_removed_on_the_next_listing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_TRAINER, str(tmp_path)], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    run = Path(done.stdout.strip())
    leftovers = sorted(p.name for p in run.iterdir() if p.name.startswith("."))
    assert len(leftovers) == 2
    old = time.time() - 3600
    for p in run.iterdir():
        os.utime(p, (old, old))
    live = RunWriter(tmp_path, model="m", heartbeat_thread=False)
    (live.path / ".run.json.live.tmp").write_text("in use")
    os.utime(live.path / ".run.json.live.tmp", (old, old))
    try:
        by_id = {r.path: r for r in list_runs(tmp_path)}
        assert by_id[run].status == "interrupted"
        assert not [p for p in run.iterdir() if p.name.startswith(".")]
        assert (run / "run.json").is_file() and (run / "metrics.jsonl").is_file()
        assert (live.path / ".run.json.live.tmp").is_file()  # a live run is never touched
    finally:
        live.finish("completed")


def _is_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samefile(f"/proc/self/fd/{fd}", path)
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to tell fds apart")
def test_append_is_all_or_nothing_when_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = RunWriter(tmp_path, model="m", heartbeat_thread=False)
    writer.append({"type": "step", "step": 1, "loss": 1.0})
    real_write = os.write
    full = {"on": True}

    def half_then_enospc(fd: int, data: bytes) -> int:
        if full["on"] and _is_file(fd, writer.metrics_path):  # the metrics file only
            if len(data) > 8:
                return real_write(fd, data[:8])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(runs_mod.os, "write", half_then_enospc)
    with pytest.raises(OSError) as info:
        writer.append({"type": "step", "step": 2, "loss": 0.5})
    assert info.value.errno == errno.ENOSPC and "not written" in str(info.value)
    full["on"] = False
    writer.append({"type": "step", "step": 2, "loss": 0.5})  # the caller retries
    writer.finish("completed")
    tail = MetricsTail(writer.metrics_path)
    assert [r["step"] for r in tail.read_new()] == [1, 2]  # once each, no torn line
    assert tail.problems == []
