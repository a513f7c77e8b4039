"""Usage errors are one line on stderr naming the command, exit status 2 (issue 16)."""

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
    assert exc.value.code == 2
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
