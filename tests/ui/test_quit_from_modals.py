"""ctrl+q quits from every screen, as the help's "Keys everywhere" says (issue 10): the
help, the command palette and the modals ignored it, so the rest of a shell command
typed into what looked like a closed app landed in them."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until


@pytest.mark.parametrize("opens, screen", [("question_mark", "HelpScreen"),
                                           ("ctrl+p", "CommandPalette")])  # fmt: skip
async def test_ctrl_q_quits_from_a_modal(tmp_path: Path, opens: str, screen: str) -> None:
    app = JarvisApp(tmp_path / "ws")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press(opens)
        # the app's palette is a CommandPalette subclass (ui/screens/palette.py)
        await wait_until(pilot, lambda: screen in {c.__name__ for c in type(app.screen).__mro__})
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 0
