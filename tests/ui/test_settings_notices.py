"""What the settings files had that was ignored stays readable (walkthrough 25: the
notices came and went in a few seconds; nowhere to read them again): each is a toast
from the first frames, a WARNING line in logs/jarvis-tui.log and a line at the top of
the help (?) for as long as the app runs."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from textual.widgets import Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.help import HelpScreen
from jarvis_tui.ui.testing import record_notices, settle

SETTINGS = 'theme = "textual-light"\n[keymap]\n"nosuch.id" = "z"\n"traces.success" = "j"\n'
SAID = (
    "jarvis-tui.toml: theme is read from ",
    "jarvis-tui.toml: unknown binding id(s) nosuch.id (ignored",
    "keymap: traces.success = j collides with traces.down: ignored, kept y",
)


def text_of(static: Static) -> str:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


async def test_ignored_settings_are_toasts_log_lines_and_in_the_help(workspace: Path) -> None:
    (workspace / "jarvis-tui.toml").write_text(SETTINGS)
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        # said while the app starts (before the trace store is open), each one once
        for words in SAID:
            assert sum(words in n for n in notices) == 1, notices
        await settle(app, pilot)
        log = (workspace / "logs" / "jarvis-tui.log").read_text()
        warnings = [line for line in log.splitlines() if " WARNING " in line]
        for words in SAID:
            assert sum(words in line for line in warnings) == 1, warnings
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(text_of(app.screen.query_one("#help-settings", Static)).split())
        assert shown.startswith("Settings ignored at start")
        assert str(workspace / "logs" / "jarvis-tui.log") in shown
        for words in SAID:
            assert words in shown, shown
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, HelpScreen)


async def test_without_a_problem_the_help_has_no_settings_section(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        assert not app.screen.query("#help-settings")
    assert not (workspace / "logs" / "jarvis-tui.log").exists()
