"""SVG snapshots of every Traces screen and modal and of the app shell, at 120×40 and 80×24.

Clocks are pinned (UTC, fixed trace times) and nothing labelled, so no history time
shows; the title shows a fixed name instead of the temporary workspace path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle

SIZES = pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])


async def _ready(pilot) -> None:
    pilot.app.sub_title = "demo workspace"
    await settle(pilot.app, pilot)


def _no_blink(app) -> None:
    """A blinking cursor is drawn or not depending on when the picture is taken."""
    for widget in app.screen.query("Input, TextArea"):
        widget.cursor_blink = False


def _keys(*keys: str):
    async def go(pilot) -> None:
        await _ready(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot.app, pilot)
        _no_blink(pilot.app)
        await pilot.pause()

    return go


@SIZES
def test_traces_pane(workspace: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=_keys("j"))


@SIZES
def test_filter_bar_open(workspace: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=_keys("F"))


@SIZES
def test_filter_dropdown_open_at_the_right_edge(workspace: Path, snap_compare, size) -> None:
    """A model picked (its name ends in "…" where the picker is narrow), then the
    rightmost picker's list open: within the screen, every option whole (the choice
    closes the bar; F goes back to the model picker)."""
    run = _keys("F", "tab", "q", "enter", "F", "tab", "tab", "tab", "tab", "space")
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=run)


@SIZES
def test_search_active(workspace: Path, snap_compare, size) -> None:
    run = _keys("slash", *"photosynthesis")

    async def go(pilot) -> None:
        await run(pilot)
        # what the debounce timer does, without waiting for it
        pilot.app.query_one("TracesPane").apply_filters()
        await settle(pilot.app, pilot)
        _no_blink(pilot.app)
        await pilot.pause()

    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=go)


@SIZES
def test_full_trace_view(workspace: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=_keys("enter"))


@SIZES
def test_note_editor(workspace: Path, snap_compare, size) -> None:
    run = _keys("e", *"too long", "enter", *"and vague")
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=run)


@SIZES
def test_note_editor_asks_before_discarding(workspace: Path, snap_compare, size) -> None:
    run = _keys("e", *"too long", "enter", *"and vague", "escape")
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=run)


@SIZES
def test_help_screen(workspace: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=_keys("question_mark"))


@SIZES
def test_command_palette_open(workspace: Path, snap_compare, size) -> None:
    run = _keys("ctrl+p", *"traces: sort")
    assert snap_compare(JarvisApp(workspace), terminal_size=size, run_before=run)


@SIZES
def test_empty_home(tmp_path: Path, snap_compare, size) -> None:
    app = JarvisApp(tmp_path / "fresh")
    assert snap_compare(app, terminal_size=size, run_before=_ready)
