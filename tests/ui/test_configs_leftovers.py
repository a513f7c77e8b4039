"""Configs pane leftovers of issue 10 (walkthrough findings 37, 14, 16, 32 / 70): the
proposal line stays while the next proposal waits, and a proposal writes only what it
changes; r keeps the selected version; m on another version says where the mark went;
the What column reads whole."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.testing import settle, wait_until

from .test_configs_outcomes import screen

FIXTURE = Path(__file__).resolve().parents[2].parent / "shared/fixtures/openjarvis-2026-08"


@pytest.fixture
def oj08(tmp_path: Path) -> Path:
    """A copy of the workspace OpenJarvis's 2026-08 main wrote (no agents/ yet)."""
    if not FIXTURE.is_dir():
        pytest.skip("the OpenJarvis fixtures are not here")
    home = tmp_path / "oj08"
    shutil.copytree(FIXTURE, home)
    for f in home.iterdir():
        f.chmod(0o600)
    return home


def status_line(app: JarvisApp) -> str:
    return screen(app).splitlines()[1]


async def test_the_next_proposal_still_says_y_and_n_after_the_first_is_written(
    oj08: Path,
) -> None:
    app = JarvisApp(oj08)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await settle(app, pilot)
        await pilot.press("s")
        pane = app.query_one(ConfigsPane)
        await wait_until(pilot, lambda: len(pane.proposals) == 2, what="two proposals")
        await settle(app, pilot)
        first, second = (p.agent for p in pane.proposals)
        assert f"Proposal for {first} (2 left)" in screen(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: (oj08 / "agents" / f"{first}.toml").exists())
        await settle(app, pilot)
        shown = screen(app)
        assert f"Proposal for {second} (1 left): y writes it as version 1, n skips it" in shown
        assert "agents in agents/" not in shown
        written = (oj08 / "agents" / f"{first}.toml").read_text()
        assert "system_prompt" not in written and "temperature" not in written
        assert set(tomllib.loads(written)["agent"]) == {"name", "tools", "max_turns"}
