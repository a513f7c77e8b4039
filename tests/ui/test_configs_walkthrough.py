"""Configs pane, a new user's walkthrough (issue 10, finding 30): a mark on the
selected version says to pick another, switching agent says the mark is dropped,
enter on an agent moves into its versions, and versions written after the last trace
are named on the timeline row."""

from __future__ import annotations

import shutil
from pathlib import Path
from unittest import mock

import pytest
from textual.widgets import DataTable, Static

from jarvis_tui.configs.versions import VersionStore
from jarvis_tui.paths import Workspace
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import record_notices, settle

from .test_configs_outcomes import AGENT, SPAN, T0, _toml, build, open_configs, screen, select
from .test_configs_pane import plain


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = build(tmp_path_factory.mktemp("cfgwalk") / "ws")
    versions = VersionStore(Workspace(home).agents_dir)
    for k, turns in ((3, 9), (4, 10)):  # v4, v5: written after the last trace
        with mock.patch("time.time", lambda t=T0 + k * SPAN: t):
            versions.write_version(AGENT, lambda _c, t=turns: _toml(t), cause="manual",
                                   note=f"turns {turns}")  # fmt: skip
    versions.write_version("other", lambda _c: (b'[agent]\nname = "other"\n', "first"),
                           cause="manual", note="first")  # fmt: skip
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(template, dest)
    return dest


def diff_body(app: JarvisApp) -> str:
    return plain(app.query_one("#configs-diff-body", Static))


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_versions_without_traces_are_named_on_the_timeline_row(home: Path, size) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await open_configs(app, pilot)
        row = next(line for line in screen(app).splitlines() if "versions " in line)
        assert "1" in row and "v4 v5: no traces yet" in row


async def test_marking_the_selected_version_says_to_pick_another(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        await select(app, pilot, 3)
        await pilot.press("m")
        await settle(app, pilot)
        body = diff_body(app)
        assert "version 3 → version 3" not in body and "no differences" not in body
        assert "marked: select another version (j / k) to compare with it" in body
        await select(app, pilot, 5)  # the current one, as a new user does next
        assert "version 3 → version 5" in diff_body(app)
        await select(app, pilot, 3)
        await pilot.press("m")  # m on the marked version unmarks it
        await select(app, pilot, 5)  # unmarked: the current version says what to do
        body = diff_body(app)
        assert "version 5 → version 5" not in body
        assert "the current version: select an older one to see what it changed" in body


async def test_switching_agent_says_the_mark_is_dropped(home: Path) -> None:
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        await select(app, pilot, 2)
        await pilot.press("m")
        await settle(app, pilot)
        agents = app.query_one("#configs-agents", DataTable)
        agents.focus()
        await pilot.press("j" if agents.get_row_index(AGENT) == 0 else "k")
        await settle(app, pilot)
        assert pane.agent == "other"
    assert f"v2 of {AGENT} unmarked: a mark compares versions of one agent" in notices


async def test_enter_on_an_agent_moves_into_its_versions(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        agents = app.query_one("#configs-agents", DataTable)
        agents.focus()
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.focused is app.query_one("#configs-versions", DataTable)
