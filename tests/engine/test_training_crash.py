"""kill -9 during LoRA training: the run folder stays readable and the last adapter usable.

A real ``jarvis-tui train`` runs in a child process on a small demo workspace
with the offline tiny LM: 8 pairs, batch 4 (two steps an epoch), an adapter saved
at every epoch end, and far more epochs than it will live for. Once its
metrics show steps and an adapter is on disk, it gets SIGKILL: no ``finally``,
no ``finish()``. What is left must load as an ``interrupted`` run whose
metrics parse, whose newest adapter loads with peft and produces logits, and
whose half-written temporary folders are never taken for an adapter.

The second case aims the kill at an adapter save in progress (a temporary
folder on disk); the assertions are the same whether or not the save finished
before the signal landed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from jarvis_tui.learning.training.runs import (  # noqa: E402
    METRICS_FILE,
    RUN_FILE,
    MetricsTail,
    list_runs,
)
from jarvis_tui.paths import Workspace  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EPOCH_DIR = re.compile(r"epoch-(\d+)")
TMP_DIR = re.compile(r"\.(epoch-\d+|final)\.(tmp|old)-.*")
# Only a hang turns into a failure here; no outcome depends on these.
START_TIMEOUT_S = 120.0
KILL_TIMEOUT_S = 30.0


def _start_training(home: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable, "-m", "jarvis_tui", "train", "--home", str(home),
        "--epochs", "100000", "--max-pairs", "8", "--batch-size", "4",
        "--max-length", "64", "--eval-split", "0", "--lr", "1e-3", "--device", "cpu",
    ]  # fmt: skip
    with open(log, "wb") as err:  # a file, not a pipe: a chatty child can never block
        return subprocess.Popen(cmd, cwd=str(home), env=env, stdout=subprocess.DEVNULL, stderr=err)


def _run_dir(home: Path) -> Path | None:
    runs = [p for p in Workspace(home).checkpoints_dir.glob("*") if (p / RUN_FILE).is_file()]
    return runs[0] if runs else None


def _complete_adapters(run: Path) -> list[int]:
    out = []
    for p in run.iterdir():
        m = EPOCH_DIR.fullmatch(p.name)
        if m and (p / "adapter_config.json").is_file():
            out.append(int(m.group(1)))
    return sorted(out)


def _steps_in_metrics(run: Path) -> int:
    try:
        data = (run / METRICS_FILE).read_bytes()
    except FileNotFoundError:
        return 0
    return data.count(b'"type":"step"')


def _wait_then_kill(proc: subprocess.Popen, home: Path, log: Path, *, aim_at_save: bool) -> Path:
    """Poll (bounded) until the run has steps and a saved adapter, then SIGKILL it."""
    deadline = time.monotonic() + START_TIMEOUT_S
    run: Path | None = None
    try:
        while True:
            if proc.poll() is not None:
                err = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"training exited early with {proc.returncode}: {err}")
            run = run or _run_dir(home)
            if run is not None and _steps_in_metrics(run) >= 2 and _complete_adapters(run):
                if not aim_at_save:
                    break
                # Aim at a save in progress: a temporary folder exists right now (after
                # 40 epochs without catching one, kill anyway: the checks hold either way).
                saved = len(_complete_adapters(run))
                if saved >= 40 or (
                    saved >= 2 and any(TMP_DIR.fullmatch(p.name) for p in run.iterdir())
                ):
                    break
            if time.monotonic() > deadline:
                pytest.fail("training never reached a saved adapter")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=KILL_TIMEOUT_S)  # reaped: the pid is gone, not a zombie
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert run is not None
    return run


def _check_killed_run(home: Path, run: Path) -> Path:
    """Every promise a killed run keeps; returns the adapter a user would load."""
    runs = list_runs(Workspace(home).checkpoints_dir)
    assert [r.path for r in runs] == [run]  # temp folders never count as runs
    info = runs[0]
    assert info.status == "interrupted", (info.status, info.message)
    assert "process is gone" in info.message
    assert info.duration is None and info.final_loss is None  # it never finished

    # metrics.jsonl: every complete line parses; at most a torn last line is skipped.
    tail = MetricsTail(info.metrics_path)
    records = tail.read_new()
    assert tail.skipped == 0
    raw = info.metrics_path.read_bytes()
    assert tail.offset == len(raw) or b"\n" not in raw[tail.offset :]
    steps = [r for r in records if r.get("type") == "step"]
    assert len(steps) >= 2
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))
    assert all(isinstance(r["loss"], float) for r in steps)
    # run.json is refreshed by the heartbeat and at epoch ends, so it may lag the metrics.
    assert 0 <= info.steps_done <= steps[-1]["step"]
    assert info.total_steps == 100000 * info.config["steps_per_epoch"]

    # The adapter a user gets: the newest complete epoch, never a temp folder.
    adapter = info.adapter_path
    assert adapter is not None
    assert adapter.parent == run and EPOCH_DIR.fullmatch(adapter.name)
    assert not (run / "final").exists()  # final/ is written only at a normal end
    epochs = _complete_adapters(run)
    assert int(adapter.name.split("-")[1]) == max(epochs)
    announced = [r["adapter"] for r in records if r.get("type") == "epoch" and r["adapter"]]
    # The epoch record follows the save: the newest adapter is the last announced
    # one, or one more when the kill fell between the save and its record.
    last_announced = int(announced[-1].split("-")[1]) if announced else 0
    assert max(epochs) - last_announced in (0, 1)
    for name in announced:
        assert (run / name / "adapter_config.json").is_file()
    # Every non-hidden entry is a known file or a complete adapter folder.
    for p in run.iterdir():
        if p.name.startswith("."):
            assert TMP_DIR.fullmatch(p.name) or p.name.startswith(f".{RUN_FILE}."), p.name
            continue
        if p.is_file():
            assert p.name in (RUN_FILE, METRICS_FILE), p.name
            continue
        assert EPOCH_DIR.fullmatch(p.name), p.name
        assert (p / "adapter_config.json").is_file()
        assert (p / "adapter_model.safetensors").is_file()
    return adapter


def _load_and_run(home: Path, adapter: Path, run: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 8 and set(config["target_modules"]) == {"q_proj", "v_proj"}
    base_path = Workspace(home).models_dir / "tiny-lm"
    assert json.loads((run / RUN_FILE).read_text())["model"] == str(base_path)
    tok = AutoTokenizer.from_pretrained(adapter)  # the adapter folder carries its tokenizer
    ids = tok("What is 3 plus 3?", return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(base_path, local_files_only=True).eval()
    tuned = PeftModel.from_pretrained(base, str(adapter)).eval()
    with torch.no_grad():
        logits = tuned(input_ids=ids).logits
    assert logits.shape[:2] == ids.shape and logits.shape[-1] == base.config.vocab_size
    assert torch.isfinite(logits).all()
    # The LoRA weights were trained (B starts at zero), so the adapter is real.
    lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max().item() > 0 for p in lora_b)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("aim_at_save", [False, True], ids=["after-save", "during-save"])
def test_sigkill_during_training_leaves_an_interrupted_run_and_a_usable_adapter(
    tmp_path: Path, aim_at_save: bool, demo_copy
) -> None:
    home = demo_copy(traces=600, seed=3, optimize=False)
    log = tmp_path / "train.log"
    proc = _start_training(home, log)
    run = _wait_then_kill(proc, home, log, aim_at_save=aim_at_save)
    adapter = _check_killed_run(home, run)
    _load_and_run(home, adapter, run)
