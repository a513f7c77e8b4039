"""LoRA on several processes (issue 16): DistributedDataParallel over gloo on the tiny LM.

* Two ranks under ``torchrun`` (``python -m torch.distributed.run``) with batch 2
  each give the same loss curve as one process with batch 4 (the same global
  batch), and the run folder has the same shape: same files, same records with
  the same keys, run.json with the same keys; only rank 0 wrote.
* ``jarvis-tui train --nproc 2``: a rank killed with SIGKILL ends the run as
  ``failed`` naming the rank and the signal (one line on stderr, exit 1); a cancel
  file in the run folder stops every rank at the same step, adapter saved.
* ``--nproc`` above the CUDA devices is a one-line error before anything starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from jarvis_tui.demo import build_demo  # noqa: E402
from jarvis_tui.learning.training.lora import (  # noqa: E402
    CANCEL_FILE,
    LoRATrainer,
    LoRATrainingConfig,
)
from jarvis_tui.learning.training.runs import METRICS_FILE, RUN_FILE, RunInfo  # noqa: E402
from jarvis_tui.learning.training.tinylm import build_tiny_lm  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# Only a hang turns into a failure here; no outcome depends on these.
RUN_TIMEOUT_S = 300.0

RANK_SCRIPT = """
import json, sys
from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig
model, pairs_file, runs, out = sys.argv[1:5]
cfg = LoRATrainingConfig(**json.loads(sys.argv[5]))
trainer = LoRATrainer(cfg, model_name=model, device="cpu", threads=1)
summary = trainer.train(json.load(open(pairs_file)), run_dir=runs, eval_fraction=0.25, seed=3)
with open(f"{out}.{trainer.dist.rank}", "w") as fh:
    json.dump({"summary": summary, "rank": trainer.dist.rank, "world": trainer.dist.world}, fh)
"""


def pairs(n: int = 20) -> list[dict]:
    return [
        {"input": f"What is {i} times three? Reply in one line." + " Please." * (i % 3),
         "output": f"{i} times three is {3 * i}. " * (1 + i % 5)}
        for i in range(n)
    ]  # fmt: skip


CFG = dict(num_epochs=2, learning_rate=1e-2, max_seq_length=128, lora_dropout=0.0)


def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), e.get("PYTHONPATH")]))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR"):
        e.pop(key, None)
    return e


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / METRICS_FILE).read_text().splitlines()]


def shape(run: Path) -> dict:
    """What a follower relies on: files, record kinds and keys, run.json keys."""
    recs = records(run)
    meta = json.loads((run / RUN_FILE).read_text())
    return {
        "files": sorted(p.name for p in run.iterdir()),
        "adapters": sorted(p.name for p in (run / "final").iterdir()),
        "records": [(r["type"], sorted(r)) for r in recs],
        "run_json": sorted(meta),
        "config": sorted(meta["config"]),
        "summary": sorted(meta["summary"]),
    }


def test_two_ranks_match_one_process_on_the_same_global_batch(tmp_path: Path) -> None:
    model = str(build_tiny_lm(tmp_path / "tiny-lm", seed=0))
    pairs_file = tmp_path / "pairs.json"
    pairs_file.write_text(json.dumps(pairs()))
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    ddp_runs = tmp_path / "ddp"
    cfg2 = json.dumps({**CFG, "batch_size": 2})
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), model, str(pairs_file), str(ddp_runs), str(tmp_path / "out"), cfg2],
        env=env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    outs = [json.loads((tmp_path / f"out.{r}").read_text()) for r in (0, 1)]
    assert [o["world"] for o in outs] == [2, 2]
    assert outs[0]["summary"]["run_dir"] == outs[1]["summary"]["run_dir"]
    assert [p.name for p in ddp_runs.iterdir()] == [Path(outs[0]["summary"]["run_dir"]).name]

    one = LoRATrainer(
        LoRATrainingConfig(**{**CFG, "batch_size": 4}), model_name=model, device="cpu", threads=1
    ).train(pairs(), run_dir=tmp_path / "one", eval_fraction=0.25, seed=3)
    ddp = outs[0]["summary"]
    assert one["status"] == ddp["status"] == "completed"
    assert one["total_steps"] == ddp["total_steps"] == 8  # 15 train examples, 4 a step

    a, b = records(Path(ddp["run_dir"])), records(Path(one["run_dir"]))
    assert [r["type"] for r in a] == [r["type"] for r in b]
    for x, y in zip(a, b, strict=True):
        for key in ("loss", "eval_loss", "grad_norm"):
            if key in x:
                assert x[key] == pytest.approx(y[key], rel=1e-3), (key, a, b)
        if "tokens" in x:
            assert x["tokens"] == y["tokens"]  # tokens of the whole step, all ranks
    assert ddp["final_loss"] == pytest.approx(one["final_loss"], rel=1e-3)
    assert shape(Path(ddp["run_dir"])) == shape(Path(one["run_dir"]))
    meta = json.loads((Path(ddp["run_dir"]) / RUN_FILE).read_text())
    assert meta["config"]["world_size"] == 2 and meta["config"]["global_batch_size"] == 4
    assert meta["config"]["fast_path"]["world_size"] == 2


# --------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("ws") / "ws", traces=300, seed=3, optimize=False)


def _start(home: Path, log: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jarvis_tui", "train", "--home", str(home), "--nproc", "2",
           "--max-pairs", "8", "--batch-size", "2", "--max-length", "64", "--eval-split", "0",
           "--epochs", "100000", *extra]  # fmt: skip
    with open(log, "wb") as err:
        return subprocess.Popen(
            cmd, env=env(), stdout=subprocess.DEVNULL, stderr=err, cwd=str(home)
        )


def _wait_for_steps(home: Path, before: set, n: int, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended early"
        runs = home / "checkpoints"
        for run in runs.iterdir() if runs.is_dir() else []:
            if run.name in before or not (run / METRICS_FILE).is_file():
                continue
            if (run / METRICS_FILE).read_bytes().count(b'"type":"step"') >= n:
                return run
        time.sleep(0.1)
    raise AssertionError("no steps in time")


def _runs(home: Path) -> set:
    d = home / "checkpoints"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def test_a_killed_rank_ends_the_run_as_failed_with_the_reason(home: Path, tmp_path: Path) -> None:
    before = _runs(home)
    proc = _start(home, tmp_path / "err.log")
    try:
        run = _wait_for_steps(home, before, 2, proc)
        rank0 = json.loads((run / RUN_FILE).read_text())["pid"]
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        victim = next(int(k) for k in kids if int(k) != rank0)
        os.kill(victim, signal.SIGKILL)
        proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    err = (tmp_path / "err.log").read_text().strip().splitlines()
    assert len(err) == 1 and "rank 1 of 2" in err[0] and "SIGKILL" in err[0], err
    info = RunInfo.load(run)
    assert info.status == "failed"
    assert info.message.startswith(f"rank 1 of 2 (pid {victim}) was killed by SIGKILL")


def test_a_cancel_file_stops_every_rank(home: Path, tmp_path: Path) -> None:
    before = _runs(home)
    proc = _start(home, tmp_path / "err.log")
    try:
        run = _wait_for_steps(home, before, 2, proc)
        (run / CANCEL_FILE).touch()
        proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (tmp_path / "err.log").read_text()
    info = RunInfo.load(run)
    assert info.status == "cancelled" and "adapter was saved" in info.message
    assert (run / "final" / "adapter_config.json").is_file()
    steps = [r for r in records(run) if r["type"] == "step"]
    assert len(steps) == info.steps_done


def test_more_processes_than_cuda_devices_is_a_clear_error(
    home: Path, capsys: pytest.CaptureFixture
) -> None:
    from jarvis_tui.cli import main

    before = _runs(home)
    have = torch.cuda.device_count() if torch.cuda.is_available() else 0
    n = max(2, have + 1)
    code = main(["train", "--home", str(home), "--nproc", str(n), "--device", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert f"--nproc {n} is more than the {have} CUDA device(s)" in err[0]
    assert _runs(home) == before  # nothing started
