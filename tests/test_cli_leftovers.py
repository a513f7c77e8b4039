"""CLI odds and ends from the new-user walkthrough (issue 10): one exit status for every
error (44), export-labels refusing a symbolic link (65), `demo` saying which of its
options a reused workspace ignored (46)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jarvis_tui.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The exit status, stdout and stderr of ``jarvis-tui ARGV`` run in-process."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse exits itself
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        # argparse finds these ...
        (["demo", "--traces", "-5", "--no-open"], "jarvis-tui demo: error: argument --traces"),
        (["optimize", "--trials", "0"], "jarvis-tui optimize: error: argument --trials"),
        (["frobnicate"], "jarvis-tui: error: argument COMMAND: invalid choice"),
        (["versions"], "jarvis-tui versions: error: the following arguments are required"),
        # ... and the command itself finds this one: the same status
        (["train", "--epochs", "abc"], "jarvis-tui: error: --epochs must be a whole number"),
    ],
)
def test_every_error_is_one_line_and_exit_status_1(
    argv: list[str], start: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["--home", str(tmp_path / "none"), *argv], capsys)
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith(start), err


def test_help_states_the_exit_status_rule() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jarvis_tui", "--help"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0
    assert "is one line on stderr and exit status 1" in proc.stdout


def test_export_labels_refuses_a_symbolic_link(
    demo_copy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Walkthrough 65: the CLI replaced the link with a regular file (exit 0) where the
    forms refuse it; now it refuses it as they do, and nothing is written anywhere."""
    home = demo_copy(traces=300)
    victim = tmp_path / "victim.jsonl"
    victim.write_text("keep me")
    link = tmp_path / "l2.jsonl"
    link.symlink_to(victim)
    code, out, err = _run(["export-labels", "--home", str(home), str(link)], capsys)
    assert code == 1 and out == ""
    assert err == f"jarvis-tui: error: {link} is a symbolic link: give another path\n"
    assert link.is_symlink() and victim.read_text() == "keep me"


def test_demo_reuse_says_which_typed_options_it_ignored(
    demo_copy, capsys: pytest.CaptureFixture[str]
) -> None:
    """Walkthrough 46: `demo --traces 1000` on an existing demo said only 'Reusing …'."""
    home = demo_copy(traces=300)
    code, _, err = _run(["demo", "--traces", "1000", "--seed", "3", "--no-open", str(home)],
                        capsys)  # fmt: skip
    assert code == 0
    assert "(its traces.db exists; --traces and --seed ignored: --force rebuilds it)" in err
    code, _, err = _run(["demo", "--no-open", str(home)], capsys)
    assert code == 0 and "ignored" not in err
    assert "(its traces.db exists; --force rebuilds it)" in err


def test_demo_force_warns_when_another_process_has_the_workspace_open(
    demo_copy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Walkthrough 72: `demo --force` under an open app said nothing; the app kept the
    old traces. Now it names the process that has traces.db open (a reader here)."""
    import jarvis_tui.demo

    home = demo_copy(traces=300)
    builds: list[int] = []
    # the rebuild itself is tested elsewhere: only what is said before it matters here
    monkeypatch.setattr(jarvis_tui.demo, "build_demo", lambda root, **kw: builds.append(1))
    code, _, err = _run(["demo", "--force", "--no-open", str(home)], capsys)
    assert code == 0 and builds == [1] and "warning" not in err  # nobody else has it open
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
         " c.execute('SELECT count(*) FROM traces').fetchall(); print('open', flush=True);"
         " sys.stdin.readline()", str(home / "traces.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        code, _, err = _run(["demo", "--force", "--no-open", str(home)], capsys)
    finally:
        holder.communicate("\n", timeout=60)
    assert code == 0 and builds == [1, 1]
    assert f"warning: pid {holder.pid} (python" in err
    assert f"has {home / 'traces.db'} open (an app or OpenJarvis on this workspace)" in err


@pytest.mark.parametrize("module", ["bench.common", "scripts.screenshots"])
def test_benchmarks_and_screenshots_never_read_the_users_settings(
    module: str, tmp_path: Path
) -> None:
    """Walkthrough 49: `make screenshots` and bench/ read ~/.config/jarvis-tui (a theme
    of the developer's own changed the README's pictures); only the tests isolated it."""
    mine = tmp_path / "mine"
    (mine / "jarvis-tui").mkdir(parents=True)
    (mine / "jarvis-tui" / "config.toml").write_text('theme = "dracula"\n')
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c",
         f"import sys; sys.path.insert(0, {str(root)!r}); import {module};"
         " from jarvis_tui.ui.settings import load_settings, user_config_path;"
         " print(user_config_path()); print(load_settings(None, []).theme)"],
        capture_output=True, text=True, timeout=120, cwd=root,
        env={**os.environ, "XDG_CONFIG_HOME": str(mine)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    path, theme = proc.stdout.splitlines()
    assert not Path(path).is_relative_to(mine) and theme == "None"
