"""SVG snapshot of a training run's summary (enter on a run in the Training pane), at
120×40 and 80×24."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes import training
from tests.ui.test_snapshots_panes import fake_run, keys
from tests.ui.test_training_run_summary_words import REAL_FAST_PATH

SIZES = pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])


@pytest.fixture
def home(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    monkeypatch.setattr(training, "missing_train_modules", lambda: [])  # train extra there
    monkeypatch.setenv("TZ", "UTC")  # the run's start time, in the picture
    time.tzset()
    # The summary names the run's folder whole: one fixed path per picture.
    fixed = Path(tempfile.gettempdir()) / f"jarvis-tui-snapshot-run-{request.node.callspec.id}"
    shutil.rmtree(fixed, ignore_errors=True)
    shutil.copytree(workspace, fixed)
    workspace = fixed
    fake_run(workspace)
    run = workspace / "checkpoints" / "run-0001"
    info = json.loads((run / "run.json").read_text())
    info["config"] = {"lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.05,
                      "learning_rate": 0.0005, "num_epochs": 2, "batch_size": 4,
                      "max_seq_length": 256, "eval_fraction": 0.1,
                      "fast_path": REAL_FAST_PATH}  # fmt: skip
    info["data"] = {"pairs": 400, "train_examples": 360, "eval_examples": 40,
                    "truncated": 3, "dropped": 0}  # fmt: skip
    info["summary"] = {"eval_loss": 0.56, "tokens_per_s": 21000.0, "device": "cpu"}
    (run / "run.json").write_text(json.dumps(info))
    (run / "final").mkdir()
    (run / "final" / "adapter_config.json").write_text("{}")
    (run / "eval.json").write_text(json.dumps({"verdict": "adapter better: score +0.174"}))
    yield workspace
    monkeypatch.undo()  # TZ back, then the clock's zone read again
    time.tzset()
    shutil.rmtree(fixed, ignore_errors=True)


@SIZES
def test_training_run_summary(home: Path, snap_compare, size) -> None:
    steps = keys("L", "enter")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_training_run_summary_scrolled_to_the_end(home: Path, snap_compare, size) -> None:
    """j to the end: the fast path's last note and the folders, nothing cut."""
    steps = keys("L", "enter", *["j"] * 30)
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)
