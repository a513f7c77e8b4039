"""The Training form refuses a bad value under its field, with ✗ and the reason, as
it is typed and on s, as the Trials forms do (walkthrough W2 25: `os` typed into min
quality was said only in the status line). On the fakes: no torch runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle
from tests.ui.test_training_leftovers import screen_text
from tests.ui.test_training_walkthrough import open_training, shown


@pytest.fixture
def home(labelled_home: Path) -> Path:
    return labelled_home  # (tests/ui/conftest.py)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_a_bad_value_is_refused_under_its_field_with_the_reason(
    home: Path, size: tuple[int, int]
) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("tab")  # into the form's first field: min quality
        field = pane.query_one("#f-min_quality", Input)
        assert app.focused is field
        field.value = ""
        await pilot.press("o", "s")  # (pane keys type into the field)
        await settle(app, pilot)
        line = pane.query_one("#e-min_quality", Static)
        reason = "✗ must be a number in [0, 1] (got 'os')"
        assert reason in shown(line), shown(line)  # as it is typed
        row = pane.query_one("#row-min_quality")
        assert line.region.y == row.region.bottom and line.region.height > 0  # under it
        assert "✗ must be a number" in screen_text(app)
        await pilot.press("escape", "s")  # back to the pane's keys; s refuses to start
        await settle(app, pilot)
        assert not pane.training
        screen = screen_text(app)
        assert reason in shown(line) and "✗ must be a number" in screen, screen
        assert "not started: min quality must be a number" in screen, screen  # status line
        await pilot.press("tab")
        field.value = "0.5"  # fixed: its line goes
        await settle(app, pilot)
        screen = screen_text(app)
        assert "✗" not in screen and line.region.height == 0, screen
