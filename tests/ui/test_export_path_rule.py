"""Exports from the panes follow the CLI's path rule (issue 10, a new user's walkthrough).

Trials `w` to a path under a folder that does not exist outside the workspace is refused
beside the field with the reason `jarvis-tui export-best` gives, and nothing is created.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import PromptScreen
from jarvis_tui.ui.testing import record_notices, settle, wait_until
from tests.ui.test_trials_screens import RUN, open_trials, press, screen


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


async def test_trials_export_to_a_missing_folder_outside_is_refused(
    demo: Path, tmp_path: Path
) -> None:
    # a long path (a deep tmp folder under xdist cut the reason off the end of the line)
    target = tmp_path / "nonexistent" / ("a-long-folder-name-" * 6) / "x.toml"
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "w")
        app.screen.query_one(Input).value = str(target)
        shown = await press(app, pilot, "enter")
        assert isinstance(app.screen, PromptScreen)  # still asking: refused beside the field
        flat = "".join(shown.split())
        assert "doesnotexist:createitfirst" in flat
        assert "Write outside the workspace?" not in shown
        # the workspace's own folder is still made for the default path
        app.screen.query_one(Input).value = "recipes/fresh/mine.toml"
        await press(app, pilot, "enter")
        await settle(app, pilot, ignore=RUN)
    assert not (tmp_path / "nonexistent").exists()
    assert (demo / "recipes" / "fresh" / "mine.toml").is_file()


async def test_a_failed_trials_export_is_logged(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.optimize import optimizer

    def full_disk(*_args: object, **_kwargs: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(optimizer, "export_best_recipe", full_disk)
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "w")
        app.screen.query_one(Input).value = "recipes/x.toml"
        await press(app, pilot, "enter")
        await wait_until(pilot, lambda: "export failed" in screen(app))
    text = (demo / "logs" / "jarvis-tui.log").read_text()
    assert "export the best trial to" in text and "No space left on device" in text


async def test_both_export_forms_make_a_missing_folder_inside_the_workspace_only(
    demo: Path, tmp_path: Path
) -> None:
    """One rule for the Traces labels export and the Trials recipe export: a missing
    folder inside the workspace is made (the labels export refused it: it fails today),
    one outside is refused beside the field, nothing created there."""
    from jarvis_tui.ui.panes.traces import TracesPane
    from jarvis_tui.ui.screens.forms import ConfigFormScreen

    outside = tmp_path / "nowhere" / "labels.jsonl"
    app = JarvisApp(demo)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(app, pilot, ignore=RUN)
        app.query_one(TracesPane).export_labels()
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)
        app.screen.query_one("#field-2", Input).value = "exports/new/labels.jsonl"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any("exported" in n or "failed" in n for n in notices))
        assert any(n.startswith("exported ") for n in notices), notices  # not "nothing exported"
        # W3 36: the same path again asks first, as Trials w does; n keeps the file
        written = demo / "exports" / "new" / "labels.jsonl"
        written.write_text("kept\n")
        app.query_one(TracesPane).export_labels()
        await settle(app, pilot)
        app.screen.query_one("#field-2", Input).value = "exports/new/labels.jsonl"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "Replace the existing file?" in screen(app) and "This file exists:" in screen(app)
        await pilot.press("n")
        await settle(app, pilot)
        assert written.read_text() == "kept\n" and "nothing exported" in notices
        app.query_one(TracesPane).export_labels()
        await settle(app, pilot)
        app.screen.query_one("#field-2", Input).value = str(outside)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        said = " ".join(" ".join(screen(app).split() + notices).split())
        assert "does not exist: create it first" in said, said
    assert (demo / "exports" / "new" / "labels.jsonl").is_file()
    assert not (tmp_path / "nowhere").exists()
