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


async def test_the_forms_summary_counts_the_fields_still_marked(workspace: Path) -> None:
    """J, enter with both fields empty: 'nothing run: 2 fields marked ✗ need fixing';
    a URL typed: '1 field … needs fixing'; the model too: the summary goes (it kept
    saying 2 fields, walkthrough W3 16)."""
    from textual.widgets import Static

    def summary() -> str:
        return str(app.screen.query_one("#cf-summary", Static).render()).strip()

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("J")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)
        for i in (0, 1):
            app.screen.query_one(f"#field-{i}", Input).value = ""
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert summary() == "nothing run: 2 fields marked ✗ need fixing"
        app.screen.query_one("#field-0", Input).value = "http://127.0.0.1:9/v1"
        await settle(app, pilot)
        assert summary() == "nothing run: 1 field marked ✗ needs fixing"
        app.screen.query_one("#field-1", Input).value = "judge-m"
        await settle(app, pilot)
        assert summary() == "" and isinstance(app.screen, ConfigFormScreen)
        await pilot.press("escape")
