"""SVG snapshots of the Training pane's LoRA settings with a notification on them: while
a field of the form is focused, a notice is said on the form's own line (as every form
screen does), not in a toast over its fields; at 120×40 and 80×24."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes import training
from jarvis_tui.ui.testing import settle

SIZES = pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
NOTICE = "training completed: run-0002 (400 pairs, final loss 0.48)"


@pytest.fixture
def home(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(training, "missing_train_modules", lambda: [])  # train extra there
    return workspace


async def notice_while_editing(pilot) -> None:
    app = pilot.app
    app.sub_title = "workspace"
    await settle(app, pilot)
    for key in ("L", *["tab"] * 7):  # into the form, down to its learning rate
        await pilot.press(key)
        await settle(app, pilot)
    app.notify(NOTICE, severity="warning", timeout=8)
    await settle(app, pilot)


@SIZES
def test_training_form_with_a_notice(home: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=notice_while_editing)


async def test_a_notice_while_editing_is_on_the_form_and_goes_when_the_form_is_left(
    home: Path,
) -> None:
    """At 80x24, where a toast lay over the fields: under the form's title, in view with
    the field typed in; escape leaves the form and its notice, and a notice then is a
    toast again (it fails today: a toast over the form)."""
    from tests.ui.test_trials_screens import screen_lines

    def under_title() -> str:
        lines = screen_lines(app)
        at = next(i for i, line in enumerate(lines) if "LoRA settings · tab / escape" in line)
        return " ".join(line[:40] for line in lines[at + 1 : at + 3])  # the left panel

    app = JarvisApp(home)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await notice_while_editing(pilot)
        assert " ".join(under_title().split()).startswith(NOTICE[:30]), under_title()
        assert any("learning rate" in line for line in screen_lines(app))  # still in view
        await pilot.press("escape")
        await settle(app, pilot)
        assert "training completed" not in " ".join(screen_lines(app))
        app.notify("a later notice", timeout=8)
        await settle(app, pilot)
        assert "a later notice" not in under_title()
        assert "a later notice" in " ".join(screen_lines(app))  # a toast
