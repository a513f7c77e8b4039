"""Routing s over a version a person chose (walkthrough findings W17, W27).

A rollback made by hand was overwritten by the next learning cycle without a word. Now
s first reads what the cycle would write; when it overwrites a version a person chose,
it asks (naming it, with the keys that change): n runs nothing, y runs the cycle.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console
from textual.widgets import Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.testing import settle, wait_until
from tests.engine.test_orchestrator_manual_versions import react_versions, rolled_back_home
from tests.ui.test_traces_pane import screen_text


def _side(app: JarvisApp) -> str:
    console = Console(width=1000, record=True, file=io.StringIO())
    console.print(app.query_one("#routing-replay", Static).content)
    return "\n".join(" ".join(line.split()) for line in console.export_text().splitlines())


async def test_s_asks_before_it_overwrites_a_rollback_n_writes_nothing_y_writes(
    tmp_path: Path,
) -> None:
    home = rolled_back_home(tmp_path)
    assert react_versions(home) == 3
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                         what="the cycle's question")  # fmt: skip
        text = " ".join(screen_text(app).split())
        assert "Run the learning cycle? It overwrites 1 version a person chose" in text
        assert "react → version 4 (was version 3)" in text
        assert re.search(r"react v3 was rolled back by hand at \d\d:\d\d: this overwrites it",
                         text)  # fmt: skip
        assert "+ calculator" in text  # the keys that change, in the panel's words
        await pilot.press("n")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert react_versions(home) == 3  # nothing written
        await pilot.press("s")  # s works again after n
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                         what="the cycle's question")  # fmt: skip
        await pilot.press("y")
        await wait_until(pilot, lambda: "react → version 4" in _side(app),
                         what="the cycle's report")  # fmt: skip
    assert react_versions(home) == 4
