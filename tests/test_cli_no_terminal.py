"""The app without a terminal: `jarvis-tui demo` run from a script (standard input at its
end) opened the app anyway, drew nowhere, and its input thread spun on the closed input
at 100% CPU until it was killed (seen: 13 minutes). Now it says it needs a terminal, in
one line, and exits 1; the demo it built is kept, and the line says how to open it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui.conftest import make_traces


def _jarvis(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_DRIVER"}
    return subprocess.run(
        [sys.executable, "-m", "jarvis_tui", *argv],
        capture_output=True, text=True, timeout=120, env=env, **kwargs,
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path) -> Path:
    from jarvis_tui.traces import TraceStore

    store = TraceStore(tmp_path / "ws" / "traces.db")
    for trace in make_traces(20):
        store.save(trace)
    store.close()
    return tmp_path / "ws"


def test_opening_the_app_with_no_terminal_says_so_in_one_line(home: Path) -> None:
    # capture_output: standard error is a pipe, and stdin at its end as a script's
    proc = _jarvis(["--home", str(home)], stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "jarvis-tui: error: the app needs a terminal, and standard input is not one: "
        f"run jarvis-tui --home {home} in one (the headless commands are in jarvis-tui --help)"
    ]
    assert "\x1b" not in proc.stderr  # nothing was drawn


def test_a_terminal_for_input_but_not_for_drawing_is_named(home: Path) -> None:
    leader, follower = os.openpty()
    try:
        proc = _jarvis(["--home", str(home)], stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 1
    assert "the app needs a terminal, and standard error is not one" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "\x1b" not in proc.stderr


def test_the_demo_is_built_and_kept_and_the_line_says_how_to_open_it(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    proc = _jarvis(["demo", str(where), "--traces", "200"], stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    said = proc.stderr.splitlines()  # the demo says what it does on stderr
    assert said[-2].startswith(f"Built 200 traces in {where} ")
    assert said[-1] == (
        "jarvis-tui: error: the app needs a terminal, and standard input is not one: "
        f"run jarvis-tui --home {where} in one (the headless commands are in jarvis-tui --help)"
    )
    assert (where / "traces.db").is_file()
    # and a headless command never asks for one
    versions = _jarvis(["--home", str(where), "versions", "simple"], stdin=subprocess.DEVNULL)
    assert versions.returncode == 0, versions.stderr
    assert "needs a terminal" not in versions.stderr


def test_a_driver_of_its_own_needs_no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """textual-serve sets TEXTUAL_DRIVER to its web driver, which talks over pipes."""
    from textual import constants

    from jarvis_tui.ui.app import terminal_problem

    monkeypatch.setattr(constants, "DRIVER", None)
    assert terminal_problem() is not None  # pytest's standard input is no terminal
    monkeypatch.setattr(constants, "DRIVER", "textual.drivers.web_driver:WebDriver")
    assert terminal_problem() is None
