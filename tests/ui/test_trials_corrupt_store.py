"""Walkthrough W3 11: with an optimize.db that is not a database, `s` opened the whole
start form and failed only after enter (a toast, a traceback in the log); the header
already said why. It is refused at `s`, in the header, and `a` (queue a config for a
run that cannot start) is not offered."""

from __future__ import annotations

from pathlib import Path

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import ConfigFormScreen
from tests.ui.test_trials_screens import demo, demo_template, open_trials, press, status_lines

__all__ = ["demo", "demo_template"]  # the fixtures, used by name


async def test_s_is_refused_in_place_when_optimize_db_is_corrupt(demo: Path) -> None:
    (demo / "optimize.db").write_text("this is not a database\n")
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        assert "No run can be shown" in status_lines(app)
        shown = await press(app, pilot, "s")
        assert not isinstance(app.screen, ConfigFormScreen)
        assert "not started: move optimize.db away (s then starts a new run)" in " ".join(
            shown.split()
        )
        await press(app, pilot, "a")
        assert not isinstance(app.screen, ConfigFormScreen)
        footer = [ln for ln in (await press(app, pilot)).splitlines() if "Start run" in ln]
        assert footer and "Queue config" not in footer[0]
