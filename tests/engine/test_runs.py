"""The run folder: RunWriter, RunInfo (incl. interrupted runs), list_runs, MetricsTail.

No torch here: this is the format the Training pane reads.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jarvis_tui.learning.training.runs import (
    METRICS_FILE,
    RUN_FILE,
    STALE_AFTER_S,
    MetricsTail,
    RunInfo,
    RunWriter,
    list_runs,
)


def step(n: int, loss: float = 1.0) -> dict:
    return {"type": "step", "step": n, "epoch": n / 4, "loss": loss, "lr": 1e-4,
            "grad_norm": 0.5, "tokens": 100, "tokens_per_s": 1000.0, "elapsed": n * 0.1,
            "eta": 1.0}  # fmt: skip


def write_run_json(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    data = {"run_id": folder.name, "status": "running", "model": "m", "created": now,
            "updated": now, "pid": os.getpid(), "host": socket.gethostname(),
            "steps_done": 3, "total_steps": 10, "final_loss": None, "duration": None,
            "message": "", "config": {"lora_rank": 8}, "data": {"pairs": 5}}  # fmt: skip
    data.update(fields)
    (folder / RUN_FILE).write_text(json.dumps(data))
    return folder


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------- RunWriter


def test_writer_creates_a_private_run_folder(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "checkpoints", model="tiny", config={"lora_rank": 8},
                  data={"pairs": 16}, total_steps=8, heartbeat_thread=False)  # fmt: skip
    try:
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", w.run_id)
        assert w.path == tmp_path / "checkpoints" / w.run_id
        assert w.path.stat().st_mode & 0o777 == 0o700
        for name in (RUN_FILE, METRICS_FILE):
            assert (w.path / name).stat().st_mode & 0o777 == 0o600
        info = RunInfo.load(w.path)
        assert (info.status, info.model, info.total_steps, info.steps_done) == (
            "running",
            "tiny",
            8,
            0,
        )
        assert info.config == {"lora_rank": 8} and info.data == {"pairs": 16}
        assert info.pid == os.getpid() and info.host == socket.gethostname()
    finally:
        w.close()


def test_writer_appends_lines_a_follower_sees_at_once(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, model="m", heartbeat_thread=False)
    tail = MetricsTail(w.metrics_path)
    w.append(step(1))
    assert tail.read_new() == [step(1)]  # before any finish or fsync
    w.append(step(2))
    w.append({"type": "epoch", "epoch": 1, "step": 2, "adapter": "epoch-1"})
    assert [r["type"] for r in tail.read_new()] == ["step", "epoch"]
    w.heartbeat(force=True)
    assert RunInfo.load(w.path).steps_done == 2
    w.finish("completed", final_loss=0.5, message="", avg_loss=0.7)
    info = RunInfo.load(w.path)
    assert info.status == "completed" and info.final_loss == 0.5
    assert info.duration is not None and info.duration >= 0
    assert info.summary == {"avg_loss": 0.7}
    w.finish("failed")  # idempotent: the first final status stays
    assert RunInfo.load(w.path).status == "completed"
    with pytest.raises(ValueError):
        w.append(step(3))


def test_nan_loss_reaches_a_follower_as_nan(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, model="m", heartbeat_thread=False)
    w.append(step(1, loss=float("nan")))
    w.finish("diverged", final_loss=float("nan"), message="loss became nan")
    (rec,) = MetricsTail(w.metrics_path).read_new()
    assert math.isnan(rec["loss"])
    # run.json stays strict JSON.
    raw = json.loads((w.path / RUN_FILE).read_text(), parse_constant=pytest.fail)
    assert raw["final_loss"] is None and raw["status"] == "diverged"


def test_heartbeat_thread_keeps_a_live_run_fresh(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, model="m", heartbeat_interval=0.05)
    try:
        first = RunInfo.load(w.path).updated
        deadline = time.monotonic() + 5
        while RunInfo.load(w.path).updated == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert RunInfo.load(w.path).updated > first
    finally:
        w.finish("cancelled")
    assert RunInfo.load(w.path).status == "cancelled"


def test_writer_as_context_manager_records_a_crash(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with RunWriter(tmp_path, model="m", heartbeat_thread=False) as w:
            raise RuntimeError("boom")
    info = RunInfo.load(w.path)
    assert info.status == "failed" and "boom" in info.message


def test_finish_rejects_a_non_final_status(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, model="m", heartbeat_thread=False)
    with pytest.raises(ValueError):
        w.finish("running")
    w.close()


# --------------------------------------------------------------------------- RunInfo


def test_running_with_a_dead_pid_is_interrupted(tmp_path: Path) -> None:
    run = write_run_json(tmp_path / "r1", pid=dead_pid())
    info = RunInfo.load(run)
    assert info.status == "interrupted"
    assert "interrupted" in info.message


def test_running_with_a_stale_heartbeat_is_interrupted(tmp_path: Path) -> None:
    run = write_run_json(tmp_path / "r2", updated=time.time() - STALE_AFTER_S - 5)
    assert RunInfo.load(run).status == "interrupted"


def test_running_with_a_live_writer_stays_running(tmp_path: Path) -> None:
    assert RunInfo.load(write_run_json(tmp_path / "r3")).status == "running"
    # Another host: the pid means nothing here, only the heartbeat counts.
    other = write_run_json(tmp_path / "r4", host="gpu-box-elsewhere", pid=dead_pid())
    assert RunInfo.load(other).status == "running"


def test_a_killed_training_process_shows_interrupted(tmp_path: Path) -> None:
    """A writer process killed mid-run: its folder loads as interrupted, metrics intact."""
    code = (
        "import sys, time\n"
        "from jarvis_tui.learning.training.runs import RunWriter\n"
        "w = RunWriter(sys.argv[1], model='m', run_id='killed')\n"
        "w.append({'type': 'step', 'step': 1, 'loss': 2.0})\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        assert RunInfo.load(tmp_path / "killed").status == "running"
    finally:
        proc.kill()
        proc.wait()
    info = RunInfo.load(tmp_path / "killed")
    assert info.status == "interrupted"
    assert MetricsTail(info.metrics_path).read_new() == [{"type": "step", "step": 1, "loss": 2.0}]


@pytest.mark.parametrize(
    "content, why",
    [("{ not json", "unreadable"), ("[1, 2]", "not a JSON object"), (b"\xff\xfe", "unreadable")],
)
def test_a_malformed_run_json_loads_as_failed(tmp_path: Path, content, why: str) -> None:
    run = tmp_path / "bad"
    run.mkdir()
    if isinstance(content, bytes):
        (run / RUN_FILE).write_bytes(content)
    else:
        (run / RUN_FILE).write_text(content)
    info = RunInfo.load(run)
    assert info.status == "failed" and why in info.message and info.run_id == "bad"


def test_odd_fields_never_raise(tmp_path: Path) -> None:
    run = write_run_json(tmp_path / "odd", status="exploded", steps_done="x", created="y",
                         config=[1], final_loss=float("inf"))  # fmt: skip
    # json.dumps wrote Infinity; load must cope with that too.
    info = RunInfo.load(run)
    assert info.status == "failed" and "exploded" in info.message
    assert info.steps_done == 0 and info.config == {} and info.final_loss is None
    assert RunInfo.load(tmp_path / "missing-folder").status == "failed"


def test_list_runs_newest_first(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "nope") == []
    t = time.time()
    write_run_json(tmp_path / "a", created=t - 100, status="completed")
    write_run_json(tmp_path / "b", created=t, status="completed")
    write_run_json(tmp_path / "c", created=t - 50, status="cancelled")
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / ".tmp-thing").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    assert [r.run_id for r in list_runs(tmp_path)] == ["b", "c", "a"]


def test_adapter_path_prefers_final_then_the_latest_epoch(tmp_path: Path) -> None:
    run = write_run_json(tmp_path / "r", status="completed")
    info = RunInfo.load(run)
    assert info.adapter_path is None
    for name in ("epoch-1", "epoch-2", "epoch-10"):
        (run / name).mkdir()
        (run / name / "adapter_config.json").write_text("{}")
    assert info.adapter_path == run / "epoch-10"
    (run / "final").mkdir()
    (run / "final" / "adapter_config.json").write_text("{}")
    assert info.adapter_path == run / "final"


# --------------------------------------------------------------------------- MetricsTail


def test_tail_before_the_file_exists(tmp_path: Path) -> None:
    tail = MetricsTail(tmp_path / METRICS_FILE)
    assert tail.read_new() == []
    (tmp_path / METRICS_FILE).write_text(json.dumps(step(1)) + "\n")
    assert tail.read_new() == [step(1)]


def test_tail_is_incremental_and_keeps_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / METRICS_FILE
    tail = MetricsTail(path)
    with open(path, "w") as fh:
        fh.write(json.dumps(step(1)) + "\n" + json.dumps(step(2)) + "\n")
        fh.write('{"type": "step", "st')  # a writer mid-line
        fh.flush()
        assert tail.read_new() == [step(1), step(2)]
        offset = tail.offset
        assert offset == len((json.dumps(step(1)) + "\n" + json.dumps(step(2)) + "\n").encode())
        assert tail.read_new() == []
        fh.write('ep": 3}\nnot json at all\n[1, 2]\n' + json.dumps(step(4)) + "\n")
        fh.flush()
        assert tail.read_new() == [{"type": "step", "step": 3}, step(4)]
        assert tail.skipped == 2
        assert tail.read_new() == []
    assert tail.offset == path.stat().st_size


def test_tail_never_rereads_from_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / METRICS_FILE
    path.write_text("".join(json.dumps(step(i)) + "\n" for i in range(1, 1001)))
    tail = MetricsTail(path)
    assert len(tail.read_new()) == 1000
    seeks: list[int] = []
    real_open = open

    def spy_open(*args, **kwargs):
        fh = real_open(*args, **kwargs)
        real_seek = fh.seek

        class Spy:
            def __getattr__(self, name):
                return getattr(fh, name)

            def seek(self, pos, *a):
                seeks.append(pos)
                return real_seek(pos, *a)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                fh.close()

        return Spy()

    with open(path, "a") as fh:
        fh.write(json.dumps(step(1001)) + "\n")
    monkeypatch.setattr("builtins.open", spy_open)
    assert tail.read_new() == [step(1001)]
    assert seeks and seeks[0] > 0.99 * path.stat().st_size - 200


def test_tail_restarts_after_truncation_or_replacement(tmp_path: Path) -> None:
    path = tmp_path / METRICS_FILE
    path.write_text("".join(json.dumps(step(i)) + "\n" for i in range(1, 6)))
    tail = MetricsTail(path)
    assert len(tail.read_new()) == 5
    assert tail.restarts == 0
    path.write_text(json.dumps(step(1, loss=9.0)) + "\n")  # truncated and rewritten
    assert tail.read_new() == [step(1, loss=9.0)]
    assert tail.restarts == 1  # the follower drops what it had
    # Replaced by a new file of the same size or more (a new inode).
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(json.dumps(step(1, loss=7.0)) + "\n" + json.dumps(step(2)) + "\n")
    os.replace(replacement, path)
    assert tail.read_new() == [step(1, loss=7.0), step(2)]
    assert tail.restarts == 2


def test_two_threads_reading_one_tail_get_each_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follower's timer may start a read while the last one still runs (a loaded
    machine): the second read must not return the file again (that drew a second copy
    of the curve, and a 'spike at step 1' alert, into the Training pane)."""
    import threading

    path = tmp_path / METRICS_FILE
    path.write_text("".join(json.dumps(step(i)) + "\n" for i in range(1, 121)))
    tail = MetricsTail(path)
    got: dict[str, list] = {}
    second = threading.Thread(target=lambda: got.setdefault("second", tail.read_new()))
    parse = tail._parse

    def parse_then_race(block, out):  # the first read, its bytes read, lets a second run
        tail._parse = parse
        second.start()
        second.join(timeout=1.0)  # it waits for the first (or, unserialized, reads it all)
        parse(block, out)

    tail._parse = parse_then_race  # type: ignore[method-assign]
    got["first"] = tail.read_new()
    second.join()
    assert [r["step"] for r in got["first"] + got["second"]] == list(range(1, 121))
