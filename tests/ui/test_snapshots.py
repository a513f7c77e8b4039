"""SVG snapshots guard the layout (fixed size, UTC clock, fixed title)."""

from __future__ import annotations

from pathlib import Path

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle


async def _ready(pilot) -> None:
    app = pilot.app
    app.sub_title = "demo workspace"
    await settle(app, pilot)


def test_traces_pane_120x40(workspace: Path, snap_compare) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=(120, 40), run_before=_ready)


def test_traces_pane_80x24(workspace: Path, snap_compare) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=(80, 24), run_before=_ready)


def test_traces_pane_light_theme(workspace: Path, snap_compare) -> None:
    app = JarvisApp(workspace, theme="textual-light")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_ready)


def test_placeholder_pane(workspace: Path, snap_compare) -> None:
    async def go(pilot) -> None:
        await _ready(pilot)
        await pilot.press("L")
        await pilot.pause()

    assert snap_compare(JarvisApp(workspace), terminal_size=(120, 40), run_before=go)


def test_traces_pane_ansi_theme(workspace: Path, snap_compare) -> None:
    app = JarvisApp(workspace, theme="ansi-dark")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_ready)
