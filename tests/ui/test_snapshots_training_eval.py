"""SVG snapshots of the Training pane's adapter evaluation (E): the comparison with the
base model read back from a run folder, and the reason a run cannot be evaluated, each
at 120×40 and 80×24 on the pinned demo workspace."""

from __future__ import annotations

import json
from pathlib import Path

from jarvis_tui.ui.app import JarvisApp
from tests.ui.test_snapshots_panes import SIZES, fake_run, home, keys, pinned_demo

__all__ = ["home", "pinned_demo"]  # fixtures, used by name


def comparison(home: Path, *, with_eval: bool = True) -> Path:
    """A finished run with an adapter, and (with *with_eval*) its eval.json."""
    fake_run(home)
    run = home / "checkpoints" / "run-0001"
    (run / "final").mkdir()
    (run / "final" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "models/tiny-lm", "peft_type": "LORA"})
    )
    (run / "split.json").write_text(json.dumps({"fraction": 0.1, "salt": "jarvis-tui-eval-v1",
                                                "held_out_pairs": 41}))  # fmt: skip
    if with_eval:
        side = {"samples": 41, "scored": 41, "errors": 0}
        data = {
            "run_id": "run-0001", "base_model": "models/tiny-lm",
            "eval_set": {"id": "ws-3fa81c09be", "hash": "0" * 64, "samples": 41,
                         "source": "workspace"},
            "base": {**side, "accuracy": 0.214, "accuracy_ci": [0.171, 0.257],
                     "p50_latency_seconds": 0.42},
            "adapter": {**side, "accuracy": 0.388, "accuracy_ci": [0.336, 0.44],
                        "p50_latency_seconds": 0.47},
            "base_eval_loss": 2.913, "adapter_eval_loss": 1.527, "partial": False,
            "created_at": 1_780_000_100.0,
            "verdict": "adapter better: score +0.174, eval loss 2.913 → 1.527",
        }  # fmt: skip
        (run / "eval.json").write_text(json.dumps(data))
    return run


@SIZES
def test_training_eval_comparison(home: Path, snap_compare, size) -> None:
    comparison(home)
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("L"))


@SIZES
def test_training_eval_refused_without_an_adapter(home: Path, snap_compare, size) -> None:
    fake_run(home)
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("L", "E"))
