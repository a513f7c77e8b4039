"""Failures the panes handle themselves are logged too (issue 10, a new user's walkthrough).

The judge's endpoint refusing the connection, or answering with an error, was one
notification and nothing in ``<workspace>/logs/jarvis-tui.log``, unlike what the
README says. Now the log file exists (owner-only) and holds one line per failure.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.traces import TraceFilter
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import record_notices, settle, wait_until

GOOD = '```json\n{"score": 0.9, "reason": "fine"}\n```'


async def run_judge(app: JarvisApp, notices: list[str]) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.query_one(TracesPane).set_filter(TraceFilter(model="llama3.1:8b", labelled=False))
        await settle(app, pilot)
        await pilot.press("J")
        await wait_until(pilot, lambda: any("judge" in n for n in notices))
        await settle(app, pilot)


def log_of(workspace: Path) -> str:
    log = workspace / "logs" / "jarvis-tui.log"
    assert log.is_file(), "no log file"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    return log.read_text()


async def test_a_refused_judge_connection_is_logged(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens
    url = f"http://127.0.0.1:{port}/v1"
    monkeypatch.setenv("JARVIS_TUI_JUDGE_URL", url)
    monkeypatch.setenv("JARVIS_TUI_JUDGE_MODEL", "judge-m")
    app = JarvisApp(workspace)
    notices = record_notices(app)
    await run_judge(app, notices)
    assert any("judge judge-m: cannot reach" in n and "(connection refused)" in n for n in notices)
    lines = [x for x in log_of(workspace).splitlines() if "judge judge-m" in x]
    assert len(lines) == 1
    assert f"ERROR judge judge-m at {url} failed: " in lines[0]
    assert "connection refused" in lines[0]


async def test_an_endpoint_error_is_logged(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ChatServer({"another-model": lambda user, system: GOOD}) as server:  # judge-m: 404
        monkeypatch.setenv("JARVIS_TUI_JUDGE_URL", server.url)
        monkeypatch.setenv("JARVIS_TUI_JUDGE_MODEL", "judge-m")
        app = JarvisApp(workspace)
        notices = record_notices(app)
        await run_judge(app, notices)
    lines = [x for x in log_of(workspace).splitlines() if "judge judge-m" in x]
    assert len(lines) == 1 and "failed: " in lines[0] and "not scored" in lines[0]
    assert "404" in lines[0] or "model not found" in lines[0]


async def test_a_judge_that_works_logs_nothing(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ChatServer({"*": lambda user, system: GOOD}) as server:
        monkeypatch.setenv("JARVIS_TUI_JUDGE_URL", server.url)
        monkeypatch.setenv("JARVIS_TUI_JUDGE_MODEL", "judge-m")
        app = JarvisApp(workspace)
        notices = record_notices(app)
        await run_judge(app, notices)
    assert any("scored" in n for n in notices)
    assert not (workspace / "logs").exists()


async def test_a_failed_labels_export_is_logged_with_its_traceback(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input

    from jarvis_tui.learning import export_labels as module

    def full_disk(*_args: object, **_kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "export_labels", full_disk)
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.query_one(TracesPane).export_labels()
        await settle(app, pilot)
        app.screen.query_one("#field-2", Input).value = "out.jsonl"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any("export failed" in n for n in notices))
    text = log_of(workspace)
    assert f"export labels to {workspace.resolve() / 'out.jsonl'} failed" in text
    assert "No space left on device" in text and "Traceback" in text
