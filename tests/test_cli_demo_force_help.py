"""`demo --help` says what --force replaces and what it keeps (walkthrough 37: it said
"replace an existing traces.db" and also rebuilt agents/ and optimize.db)."""

from __future__ import annotations

import pytest

from jarvis_tui.cli import main


def test_demo_help_names_what_force_replaces_and_keeps(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per option
    with pytest.raises(SystemExit) as done:
        main(["demo", "--help"])
    assert done.value.code == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("--force"))
    assert "replaces traces.db (its labels, notes and judge scores too), agents/, " in line
    assert "optimize.db and optimize.toml; keeps checkpoints/, models/, recipes/" in line
