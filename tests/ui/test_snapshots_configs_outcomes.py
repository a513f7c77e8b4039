"""SVG snapshots of the Configs pane deciding on evidence, at 120×40 and 80×24: the
timeline with each version's outcomes (version 2 was bad), the comparison of a marked
version, and the rollback preview with the target's outcomes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.test_configs_outcomes import build

SIZES = pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("cfgsnap") / "ws")


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(template, dest)
    return dest


def keys(*steps: str):
    """Open the Configs pane, wait for the outcomes, then press *steps*."""

    async def go(pilot) -> None:
        app = pilot.app
        app.sub_title = "workspace"
        await settle(app, pilot)
        await pilot.press("C")
        await settle(app, pilot)
        pane = app.query_one(ConfigsPane)
        await wait_until(pilot, lambda: pane.outcomes is not None, what="outcomes")
        await settle(app, pilot)
        for step in steps:
            await pilot.press(step)
            await settle(app, pilot)
        app.clear_notifications()  # toasts time out: not part of the picture
        await pilot.pause()

    return go


@SIZES
def test_configs_timeline_with_outcomes(home: Path, snap_compare, size) -> None:
    # versions list focused, v2 (the bad one) selected
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("tab"))


@SIZES
def test_configs_comparison_of_a_marked_version(home: Path, snap_compare, size) -> None:
    # v1 marked, v2 selected: "v2 worse than v1"
    steps = keys("tab", "G", "m", "k")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_configs_rollback_preview_with_outcomes(home: Path, snap_compare, size) -> None:
    steps = keys("tab", "b")  # back to v2, the bad one: the verdict says so
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)
