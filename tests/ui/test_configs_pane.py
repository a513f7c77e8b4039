"""Configs pane: timeline, diff two versions, roll back (and the file on disk), evolve."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Static

from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.testing import record_notices, settle
from tests.ui.conftest import make_traces


def plain(widget: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(make_traces(300))
    ev = AgentConfigEvolver(store, config_dir=home / "agents")
    ev.write_config("react", tools=["web_search"], max_turns=8, cause="manual", note="first")
    ev.write_config("react", tools=["web_search", "calculator"], max_turns=12, cause="manual",
                    note="more tools")  # fmt: skip
    ev.write_config("react", tools=["calculator"], max_turns=12, temperature=0.5,
                    system_prompt='Say "hi"\nthen stop', cause="evolver")  # fmt: skip
    store.close()
    (home / "agents" / "broken.toml").write_text("[agent\nname = 'x'\n")
    return home


async def open_configs(app: JarvisApp, pilot) -> ConfigsPane:
    await settle(app, pilot)
    await pilot.press("C")
    await settle(app, pilot)
    return app.query_one(ConfigsPane)


async def test_timeline_and_key_level_diff_against_current(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        agents = app.query_one("#configs-agents", DataTable)
        assert agents.row_count == 2  # broken.toml is listed, not hidden
        assert "⚠" in str(agents.get_cell("broken", "agent"))
        pane.select_agent("react")
        await settle(app, pilot)
        assert [v["version"] for v in pane.versions] == [1, 2, 3]
        versions = app.query_one("#configs-versions", DataTable)
        assert versions.row_count == 3
        versions.move_cursor(row=2)  # oldest (newest is on top)
        await settle(app, pilot)
        body = plain(app.query_one("#configs-diff-body", Static))
        assert "version 1 → version 3" in body
        assert "agent.max_turns: 8 → 12" in body
        assert "agent.tools: + calculator" in body and "agent.tools: - web_search" in body


async def test_mark_compares_any_two_versions_and_text_diff(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        pane.select_agent("react")
        await settle(app, pilot)
        versions = app.query_one("#configs-versions", DataTable)
        versions.focus()
        versions.move_cursor(row=2)  # v1
        await settle(app, pilot)
        await pilot.press("m")
        versions.move_cursor(row=1)  # v2
        await settle(app, pilot)
        body = plain(app.query_one("#configs-diff-body", Static))
        assert "version 1 → version 2" in body and "agent.tools: + calculator" in body
        assert "web_search" not in body.split("Version 1")[0].replace("+ calculator", "")
        await pilot.press("t")
        await settle(app, pilot)
        body = plain(app.query_one("#configs-diff-body", Static))
        assert "--- v1" in body and "+++ v2" in body


async def test_rollback_previews_then_writes_a_new_version(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        pane.select_agent("react")
        await settle(app, pilot)
        versions = app.query_one("#configs-versions", DataTable)
        versions.focus()
        versions.move_cursor(row=2)  # v1
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)  # the preview is read in a worker
        assert isinstance(app.screen, ConfirmScreen)
        preview = plain(app.screen.query_one("#confirm-body", Static))
        assert "max_turns = 8" in preview
        await pilot.press("n")  # cancel: nothing written
        await settle(app, pilot)
        assert len(pane.versions) == 3
        await pilot.press("b")
        await settle(app, pilot)  # the preview is read in a worker
        await pilot.press("y")
        await settle(app, pilot)
        assert [v["version"] for v in pane.versions] == [1, 2, 3, 4]
        assert pane.versions[-1]["cause"] == "rollback"
    cfg = tomllib.loads((home / "agents" / "react.toml").read_text())["agent"]
    assert cfg["tools"] == ["web_search"] and cfg["max_turns"] == 8


async def test_malformed_config_is_shown_as_text_not_a_crash(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        pane.select_agent("broken")
        await settle(app, pilot)
        body = plain(app.query_one("#configs-diff-body", Static))
        assert "[agent" in body  # the raw text is there


async def test_evolve_shows_proposals_and_writes_only_accepted(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        assert pane.proposals, "the traces recommend configs"
        names = [p.agent for p in pane.proposals]
        body = plain(app.query_one("#configs-diff-body", Static))
        assert "evolver proposal" in body
        first = names[0]
        await pilot.press("y")
        await settle(app, pilot)
        for _ in names[1:]:
            await pilot.press("n")
            await settle(app, pilot)
        assert pane.proposals == []
    agents = home / "agents"
    assert (agents / f"{first}.toml").is_file()
    for skipped in names[1:]:
        assert not (agents / f"{skipped}.toml").exists() or skipped == "react"
    if "react" in names[1:]:
        cfg = tomllib.loads((agents / "react.toml").read_text())["agent"]
        assert cfg["tools"] == ["calculator"]  # skipped: unchanged


async def test_rollback_to_the_current_content_says_so_and_asks_nothing(home: Path) -> None:
    """Issue 10: b on a version with the current content writes no empty version."""
    store = TraceStore(home / "traces.db")
    ev = AgentConfigEvolver(store, config_dir=home / "agents")
    ev.write_config("react", tools=["web_search", "calculator"], max_turns=12, cause="manual",
                    note="v2 again by hand")  # fmt: skip
    store.close()
    before = (home / "agents" / "react.toml").read_bytes()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        pane.select_agent("react")
        await settle(app, pilot)
        versions = app.query_one("#configs-versions", DataTable)
        versions.focus()
        versions.move_cursor(row=2)  # v2 (newest first: v4, v3, v2)
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        title = plain(app.screen.query_one("#confirm-title", Static))
        assert "v2 is the current content (the same as v4) — nothing to roll back" in title
        hint = plain(app.screen.query_one("#confirm-hint", Static))
        assert "y:" not in hint and "escape: close" in hint
        await pilot.press("y")  # nothing to say yes to
        await settle(app, pilot)
        assert [v["version"] for v in pane.versions] == [1, 2, 3, 4]
    assert (home / "agents" / "react.toml").read_bytes() == before


async def test_a_rollback_preview_that_fails_is_one_line_and_its_traceback_is_logged(
    home: Path,
) -> None:
    """A version file that no longer parses: the user reads one line that says what
    failed and where the details are; the log holds the traceback (it fails today: a
    bare notification, nothing in logs/jarvis-tui.log)."""
    (home / "agents" / ".history" / "react.v000001.toml").write_text("[agent\nname = 'x'\n")
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_configs(app, pilot)
        pane.select_agent("react")
        await settle(app, pilot)
        versions = app.query_one("#configs-versions", DataTable)
        versions.focus()
        versions.move_cursor(row=2)  # v1, the broken one
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
    log = home / "logs" / "jarvis-tui.log"
    said = [n for n in notices if "preview the rollback of react to version 1 failed" in n]
    assert len(said) == 1 and "\n" not in said[0] and f"details in {log}" in said[0], notices
    text = log.read_text()
    assert "preview the rollback of react to version 1 failed" in text
    assert "Traceback (most recent call last)" in text and "preview_rollback" in text
