"""The help (`?`) lists each pane's own keys, once (issue 10, a new user's walkthrough).

It listed Textual's inherited widget bindings too ('^pgup Page Left', 'home Home',
'end End'), and Training listed the arrows twice, the second time as a scroll view's
'Scroll Up (not available now)'. Every row left is one of the app's bindings (an id),
each action and each key once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jarvis_tui.demo import build_demo
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes import training
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.screens.help import HelpScreen
from jarvis_tui.ui.testing import settle

from .test_evidence import detail_id

RUN = ("trials.run",)
INHERITED = {"Page Left", "Page Right", "Home", "End", "Scroll Up", "Scroll Down",
             "Scroll Left", "Scroll Right", "Cursor up", "Cursor down", "Select"}  # fmt: skip
"""Descriptions of Textual's own widget bindings that the help showed."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("helpkeys") / "ws", traces=400, seed=3)


@pytest.fixture
def home(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(demo, dest)
    monkeypatch.setattr(training, "missing_train_modules", lambda: [])
    return dest


async def help_rows(app: JarvisApp, pilot) -> list[tuple[str, str]]:
    await pilot.press("question_mark")
    await settle(app, pilot, ignore=RUN)
    screen = app.screen
    assert isinstance(screen, HelpScreen)
    rows = list(screen.rows)
    await pilot.press("escape")
    await settle(app, pilot, ignore=RUN)
    return rows


@pytest.mark.parametrize("pane", ["T", "R", "C", "L", "P"])
async def test_help_lists_each_key_once_and_none_of_textuals(home: Path, pane: str) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot, ignore=RUN)
        await pilot.press(pane)
        await settle(app, pilot, ignore=RUN)
        rows = await help_rows(app, pilot)
    assert rows, "the pane lists no keys"
    descriptions = [d.replace(" (not available now)", "") for _k, d in rows]
    assert not set(descriptions) & INHERITED, descriptions
    assert len(descriptions) == len(set(descriptions)), descriptions  # each action once
    keys = [token for k, _d in rows for token in k.split()]
    assert len(keys) == len(set(keys)), keys  # each key once (Training: ↑ twice)


async def test_traces_up_and_down_keys_move_the_cursor(home: Path) -> None:
    """The Traces help's '↑ k Up' and '↓ j Down' do what they say."""
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        first, second = pane.rows[0].trace_id, pane.rows[1].trace_id
        assert detail_id(app) == first  # the detail panel shows the selected trace
        for down, up in (("j", "k"), ("down", "up")):
            await pilot.press(down)
            await settle(app, pilot)
            assert detail_id(app) == second
            await pilot.press(up)
            await settle(app, pilot)
            assert detail_id(app) == first
