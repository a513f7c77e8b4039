"""Configs s over a version a person chose (walkthrough W2 23/41): the proposal says, in
the learning cycle's words and by its rule, that the current version is a fresh rollback
without evidence, and y asks once more before writing over it (n there keeps it)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from jarvis_tui.configs.versions import VersionStore
from jarvis_tui.core.types import Trace
from jarvis_tui.paths import Workspace
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.testing import settle, wait_until

from .test_configs_outcomes import AGENT, build, open_configs, screen

HELD = (
    "version 4 is a rollback by hand, 0 ratings since it was written (the cycle keeps it until 30)"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = build(tmp_path_factory.mktemp("cfghand") / "ws")
    VersionStore(Workspace(home).agents_dir).rollback(AGENT, 1)  # v4, now: no traces since
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(template, dest)
    return dest


def flat(app: JarvisApp) -> str:
    return " ".join(screen(app).replace("│", " ").replace("▎", " ").split())


async def _propose(app: JarvisApp, pilot) -> None:
    pane = await open_configs(app, pilot)
    await pilot.press("s")
    await settle(app, pilot)
    await wait_until(pilot, lambda: bool(pane.proposals), what="the proposal")
    await settle(app, pilot)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_a_proposal_over_a_fresh_rollback_says_so_and_y_asks_again(home: Path, size) -> None:
    versions = VersionStore(Workspace(home).agents_dir)
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await _propose(app, pilot)
        shown = flat(app)
        assert HELD in shown
        assert "y: write it as version 5 of helper over version 4 (asks once more)" in shown
        assert "n: skip it, version 4 stays" in shown

        await pilot.press("y")  # asks: nothing is written yet
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await settle(app, pilot)
        shown = flat(app)
        assert "Write version 5 of helper over version 4, your rollback?" in shown
        assert "n / escape: keep version 4 (the proposal waits)" in shown
        assert len(versions.list_versions(AGENT)) == 4

        await pilot.press("n")  # keeps v4; the proposal still waits
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "version 4 stays; the proposal still waits" in flat(app)
        assert len(versions.list_versions(AGENT)) == 4

        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")  # the second y writes it
        await settle(app, pilot)
        await wait_until(pilot, lambda: len(versions.list_versions(AGENT)) == 5, what="v5")
    assert versions.list_versions(AGENT)[-1]["cause"] == "evolver"


async def test_a_proposal_over_a_version_with_evidence_says_so_and_y_writes(home: Path) -> None:
    """A hand version whose traces hold the minimum: said, and one y writes (as a
    cycle would write over it); the help says when y asks once more."""
    VersionStore(Workspace(home).agents_dir).rollback(AGENT, 3)  # v5 = v3's content, now
    store_home = Workspace(home)
    store = TraceStore(store_home.traces_db)
    now = time.time() + 1
    store.save_many(Trace(trace_id=f"late-{i}", query=f"q {i}", agent=AGENT, model="m",
                          result="a", feedback=0.8, started_at=now + i) for i in range(30))  # fmt: skip
    store.close()
    versions = VersionStore(store_home.agents_dir)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await _propose(app, pilot)
        shown = flat(app)
        assert (
            "version 5 is a rollback by hand, 30 ratings since it was written (the evidence "
            "minimum of 30 is reached: a cycle writes over it too)"
        ) in shown
        assert "y: write it as version 6 of helper · n: skip it" in shown
        await pilot.press("y")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        await wait_until(pilot, lambda: len(versions.list_versions(AGENT)) == 6, what="v6")
        await pilot.press("question_mark")
        await settle(app, pilot)
        await pilot.press("G")
        await settle(app, pilot)
        assert "keeps such a version until then), y asks once more" in flat(app)
