"""A relative --home is made absolute once, at start (issue 10): a training run started
from the demo built in ./jarvis-demo stored 'jarvis-demo/models/tiny-lm' as its model,
so Training E and `eval --compare` failed from any other directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jarvis_tui.paths import Workspace, resolve_home


def test_a_relative_home_names_the_same_folder_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace.at("jarvis-demo")
    assert ws.root == tmp_path / "jarvis-demo"
    assert ws.models_dir.is_absolute() and ws.checkpoints_dir.is_absolute()
    monkeypatch.chdir("/")
    assert ws.models_dir == tmp_path / "jarvis-demo" / "models"


def test_the_environment_home_is_absolute_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JARVIS_TUI_HOME", "rel/ws")
    assert resolve_home() == tmp_path / "rel" / "ws"
    assert os.path.isabs(resolve_home("~"))
