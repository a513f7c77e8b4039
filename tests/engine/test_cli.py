"""The command line: argument checks, the demo command, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from jarvis_tui import __version__
from jarvis_tui.cli import main
from jarvis_tui.traces.store import StoreError, TraceStore


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the UI module: records the homes ``run_app`` is called with."""
    opened: list[Path] = []
    module = types.ModuleType("jarvis_tui.ui.app")

    def run_app(home: Path) -> int:
        opened.append(home)
        return 0

    module.run_app = run_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jarvis_tui.ui.app", module)
    return opened


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("jarvis-tui: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_demo_builds_the_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    assert main(["demo", str(root), "--traces", "300", "--no-open"]) == 0
    with TraceStore(root / "traces.db") as store:
        assert store.count() == 300
    err = capsys.readouterr().err
    assert "Built 300 traces" in err
    assert f"--home {root}" in err


def test_demo_reuses_an_existing_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    assert main(["demo", str(root), "--traces", "150", "--no-open"]) == 0
    capsys.readouterr()
    assert main(["demo", str(root), "--traces", "999", "--no-open"]) == 0
    assert "Reusing" in capsys.readouterr().err
    with TraceStore(root / "traces.db") as store:
        assert store.count() == 150
    assert main(["demo", str(root), "--traces", "120", "--force", "--no-open"]) == 0
    with TraceStore(root / "traces.db") as store:
        assert store.count() == 120


def test_demo_defaults_to_jarvis_demo_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--traces", "50", "--seed", "3", "--no-open"]) == 0
    assert (tmp_path / "jarvis-demo" / "traces.db").is_file()


def test_demo_opens_the_app_unless_no_open(tmp_path: Path, fake_app: list[Path]) -> None:
    assert main(["demo", str(tmp_path / "d"), "--traces", "40"]) == 0
    assert fake_app == [tmp_path / "d"]


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5", ""])
def test_traces_must_be_a_positive_int(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", str(tmp_path / "d"), "--traces", value, "--no-open"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "--traces" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()


def test_demo_dir_that_is_a_file_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "plain-file"
    f.write_text("not a directory")
    assert main(["demo", str(f), "--traces", "10", "--no-open"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert str(f) in line and "not a directory" in line


def test_demo_dir_under_a_file_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "plain-file"
    f.write_text("x")
    assert main(["demo", str(f / "sub"), "--traces", "10", "--no-open"]) == 1
    _one_error_line(capsys.readouterr().err)


def test_no_command_opens_the_app_on_home(tmp_path: Path, fake_app: list[Path]) -> None:
    assert main(["--home", str(tmp_path)]) == 0
    assert fake_app == [tmp_path]


def test_home_defaults_to_the_environment(
    tmp_path: Path, fake_app: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JARVIS_TUI_HOME", str(tmp_path / "env-home"))
    assert main([]) == 0
    assert fake_app == [tmp_path / "env-home"]


@pytest.mark.parametrize(
    "exc",
    [
        StoreError("x.db is locked by another program"),
        FileNotFoundError(2, "No such file or directory", "/nope/traces.db"),
        ValueError("bad\nmulti-line\nmessage"),
    ],
)
def test_user_errors_become_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception
) -> None:
    module = types.ModuleType("jarvis_tui.ui.app")

    def run_app(home: Path) -> int:
        raise exc

    module.run_app = run_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jarvis_tui.ui.app", module)
    assert main(["--home", "/tmp"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    if isinstance(exc, OSError):
        assert line == "jarvis-tui: error: /nope/traces.db: No such file or directory"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 1


def test_python_dash_m_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jarvis_tui", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"jarvis-tui {__version__}"


def test_train_runs_headless_and_writes_a_run_folder(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    import json as _json

    from tests.engine.conftest import sft_pairs_home

    home = sft_pairs_home(tmp_path / "ws")
    assert main(["train", "--home", str(home), "--epochs", "1", "--max-pairs", "8",
                 "--max-length", "64", "--eval-split", "0", "--json"]) == 0  # fmt: skip
    summary = _json.loads(capsys.readouterr().out)
    assert summary["status"] == "completed" and summary["train_examples"] == 8
    run = Path(summary["run_dir"])
    assert (run / "run.json").is_file() and (run / "final").is_dir()
    assert main(["train", "--home", str(home), "--model", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Hugging Face model folder" in err[0]
