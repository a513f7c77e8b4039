"""The judge form remembers what was last submitted in the workspace (issue 10: it
opened with empty fields every time)."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from textual.widgets import Input

from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import ConfigFormScreen
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.test_walkthrough_routing import screen_text

GOOD = '```json\n{"score": 0.8, "reason": "fine"}\n```'


@pytest.fixture(autouse=True)
def _no_judge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JARVIS_TUI_JUDGE_URL", raising=False)
    monkeypatch.delenv("JARVIS_TUI_JUDGE_MODEL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-written")


async def test_the_judge_form_opens_with_the_last_values(workspace: Path) -> None:
    with ChatServer({"*": lambda user, system: GOOD}) as server:
        app = JarvisApp(workspace)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await pilot.press("J")
            await settle(app, pilot)
            assert isinstance(app.screen, ConfigFormScreen)
            app.screen.query_one("#field-0", Input).value = server.url
            app.screen.query_one("#field-1", Input).value = "judge-m"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: "scored" in screen_text(app), what="the judge's run")
    saved = workspace / "jarvis-tui.toml"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert tomllib.loads(saved.read_text())["judge"] == {"url": server.url, "model": "judge-m"}
    assert "sk-secret" not in saved.read_text()  # the key stays in the environment

    app = JarvisApp(workspace)  # another session of the same workspace
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("J")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)
        text = screen_text(app)
        assert server.url in text and "judge-m" in text
        assert f"last run: {server.url}" in text
        await pilot.press("escape")
