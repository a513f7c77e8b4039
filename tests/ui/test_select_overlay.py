"""An open drop-down in a form shows every option whole (issue 10): the focus edge
(`*:focus` draws a marked left edge) was drawn over the first letter of each option,
so the export form's format list read 'sonl', 'sv', 'arquet', 'f'."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until


def screen_text(app: JarvisApp) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_an_open_dropdown_shows_each_option_whole(tmp_path: Path, size: tuple[int, int]
                                                       ) -> None:  # fmt: skip
    app = JarvisApp(tmp_path / "ws")
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        app.action_command_palette()
        await pilot.pause()
        await pilot.press(*"export labels")
        await wait_until(pilot, lambda: "export labels" in screen_text(app).lower())
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Export labels" in screen_text(app))
        await pilot.press("space")  # the format field has focus: open its list (enter submits)
        await wait_until(pilot, lambda: "parquet" in screen_text(app))
        words = {w for line in screen_text(app).splitlines() for w in line.split()}
        assert {"jsonl", "csv", "parquet", "hf"} <= words
        assert "(pick" not in words  # a required field with a default: no blank choice
        assert not {"sonl", "sv", "arquet"} & {w.lstrip("▌") for w in words}


async def test_a_focused_dropdown_field_shows_the_focus_edge(tmp_path: Path) -> None:
    """Focus is always visible: a focused Select gets the same marked left edge as a
    focused Input (it had only a slightly lighter background)."""
    app = JarvisApp(tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.action_command_palette()
        await pilot.pause()
        await pilot.press(*"export labels")
        await wait_until(pilot, lambda: "export labels" in screen_text(app).lower())
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Export labels" in screen_text(app))
        (line,) = [ln for ln in screen_text(app).splitlines() if " format " in ln]
        assert "▌jsonl" in line  # the edge, on the padding cell before the value
        await pilot.press("tab")  # to "with judge": the edge moves with the focus
        await pilot.pause()
        (line,) = [ln for ln in screen_text(app).splitlines() if " format " in ln]
        assert "▌" not in line
