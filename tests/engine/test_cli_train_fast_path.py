"""``jarvis-tui train`` says why it picked its precision (issue 16: fp32 with no reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.cli import main


def test_train_summary_gives_the_precision_and_its_reason(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    from jarvis_tui.core.types import Trace
    from jarvis_tui.traces import TraceStore

    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(
        Trace(trace_id=f"p{i}", query=f"what is {i} plus {i}?", result=f"It is {2 * i}.",
              feedback=0.9, started_at=float(i))
        for i in range(12)
    )  # fmt: skip
    store.close()
    assert main(["train", "--home", str(home), "--epochs", "1", "--max-pairs", "8",
                 "--max-length", "64", "--eval-split", "0", "--precision", "fp32"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    fast = next(i for i, line in enumerate(lines) if line.strip().startswith("fast_path: fp32"))
    assert lines[fast + 1].strip() == "precision: fp32 requested"
    assert lines[fast + 2].strip().startswith("checkpointing: ")
    # W3 34: the memory check runs (it said "off (not allowed by the config)")
    assert lines[fast + 2].strip().startswith("checkpointing: off: activations ~"), lines
