"""Each pane reads its stylesheet when it is first made (issue 15: the first frame reads
only global.tcss and the Traces pane's): a pane built later, and a modal pushed before
the pane whose file styles it is built, must look exactly as with every file read at
start."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.ui.app import PANES, STYLES_DIR, JarvisApp
from jarvis_tui.ui.testing import settle


class AllStylesAtStart(JarvisApp):
    CSS_PATH = [STYLES_DIR / "global.tcss", *(STYLES_DIR / f"{pid}.tcss" for pid, _t, _k in PANES)]


def _layout(app: JarvisApp) -> list[tuple[Any, ...]]:
    """Every widget on screen: its type, id, place and size, and its computed styles."""
    return [
        (type(w).__name__, w.id, w.region, w.styles.css)
        for w in app.screen.walk_children(with_self=True)
        if w.display
    ]


async def _shown(app_cls: type[JarvisApp], home: Path, key: str | None) -> list[tuple[Any, ...]]:
    app = app_cls(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        if key is None:
            from jarvis_tui.ui.screens.confirm import ConfirmScreen

            app.push_screen(ConfirmScreen("Export outside the workspace?", "a body"))
        else:
            await pilot.press(key)
        await settle(app, pilot)
        return _layout(app)


@pytest.mark.parametrize("key", [k for pid, _t, k in PANES if pid != "traces"] + [None])
async def test_a_pane_built_later_looks_as_with_every_stylesheet_read_at_start(
    workspace: Path, tmp_path: Path, key: str | None
) -> None:
    other = tmp_path / "copy"
    shutil.copytree(workspace, other)
    lazy = await _shown(JarvisApp, workspace, key)
    eager = await _shown(AllStylesAtStart, other, key)
    assert len(lazy) > 3
    assert lazy == eager
