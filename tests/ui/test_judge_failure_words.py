"""A judge run that scored nothing says why once (walkthrough 59: 'judge garb failed:
judge failed: judge endpoint …')."""

from __future__ import annotations

from jarvis_tui.ui.panes.traces import _judge_failure


def test_the_reason_is_not_prefixed_twice() -> None:
    words = _judge_failure("judge failed: judge endpoint answered HTTP 500", "http://h/v1")
    assert words == "judge endpoint answered HTTP 500 (http://h/v1)"
    assert _judge_failure("judge reply has no score in [0, 1]: 'x'", None) == (
        "judge reply has no score in [0, 1]: 'x'"
    )
