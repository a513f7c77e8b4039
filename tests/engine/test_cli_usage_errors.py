"""Usage errors are one line on stderr naming the command, exit status 1 as every error (issue 16; walkthrough 44)."""

from __future__ import annotations

import pytest

from jarvis_tui.cli import main


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["versions"], "jarvis-tui versions: error: the following arguments are required: AGENT"),
        (
            ["export-labels"],
            "jarvis-tui export-labels: error: the following arguments are required: PATH",
        ),
        (
            ["export-best", "r1"],
            "jarvis-tui export-best: error: the following arguments are required: PATH",
        ),
        (
            ["demo", "--traces", "0"],
            "jarvis-tui demo: error: argument --traces: must be at least 1, got 0",
        ),
        (["frobnicate"], "jarvis-tui: error: argument COMMAND: invalid choice: 'frobnicate'"),
        (["--bogus"], "jarvis-tui: error: unrecognized arguments: --bogus"),
    ],
)
def test_usage_error_is_one_line_with_the_command_name(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(line), lines[0]


def test_help_still_shows_the_command_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["versions", "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("usage: jarvis-tui versions [-h]")


@pytest.mark.parametrize("argv", [["versions", "react"], ["learn", "--json"]])
def test_a_reader_that_stops_early_gets_no_error(tmp_path, argv: list[str]) -> None:
    """`jarvis-tui learn --json | head -c 10`: the pipe closing is said by no line on
    stderr (before: 'jarvis-tui: error: Broken pipe'), no traceback; exit status 1."""
    import os
    import subprocess
    import sys

    from jarvis_tui.demo import build_demo

    build_demo(tmp_path / "ws", traces=300)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes anything
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "jarvis_tui", argv[0], "--home", str(tmp_path / "ws"),
             *argv[1:]],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    finally:
        os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 1
