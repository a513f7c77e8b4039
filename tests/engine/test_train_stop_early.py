"""The Training pane's child, ``jarvis-tui train --until-stdin-closes``, asked to stop
before its first step (the pane's x closes its stdin): it ends there, saying so, and
does nothing more (no tiny LM built, no torch: minutes for a child niced below a busy
machine; the tmux test once waited 420 s for one). No torch is run here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from tests.engine.conftest import sft_pairs_home


def test_stdin_closed_before_the_start_stops_the_child_before_the_model_and_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = sft_pairs_home(tmp_path / "ws")
    with open(os.devnull) as closed:  # at its end at once, as after the pane's x
        monkeypatch.setattr(sys, "stdin", closed)
        code = main(["train", "--home", str(home), "--run-id", "r1", "--json",
                     "--until-stdin-closes", "--phases"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    phases = [json.loads(ln)["phase"] for ln in lines if ln.startswith('{"phase"')]
    assert "building the demo model" not in phases and "starting torch" not in phases, phases
    summary = json.loads(out[out.index("{\n") :])
    assert summary["status"] == "cancelled"
    assert summary["message"] == "stopped before the first step"
    assert summary["run_dir"] is None
    assert not (home / "models" / "tiny-lm").exists()  # nothing built for a cancelled run
    assert not (home / "checkpoints" / "r1").exists()  # no run folder: nothing saved


def test_without_the_flag_a_closed_stdin_does_not_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # (`jarvis-tui train` from a script with no stdin trains as asked; here it is refused
    # for its settings just after the point where the flag would have stopped it.)
    home = sft_pairs_home(tmp_path / "ws")
    with open(os.devnull) as closed:
        monkeypatch.setattr(sys, "stdin", closed)
        code = main(["train", "--home", str(home), "--json", "--phases", "--min-quality",
                     "1.0"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "no SFT pairs with feedback >= 1.0" in captured.err
    assert '"cancelled"' not in captured.out
