"""``jarvis-tui train`` says why it picked its precision (issue 16: fp32 with no reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.cli import main


def test_train_summary_gives_the_precision_and_its_reason(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    from tests.engine.conftest import sft_pairs_home

    home = sft_pairs_home(tmp_path / "ws")
    assert main(["train", "--home", str(home), "--epochs", "1", "--max-pairs", "8",
                 "--max-length", "64", "--eval-split", "0", "--precision", "fp32"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    fast = next(i for i, line in enumerate(lines) if line.strip().startswith("fast_path: fp32"))
    assert lines[fast + 1].strip() == "precision: fp32 requested"
    assert lines[fast + 2].strip().startswith("checkpointing: ")
    # W3 34: the memory check runs (it said "off (not allowed by the config)")
    assert lines[fast + 2].strip().startswith("checkpointing: off: activations ~"), lines
