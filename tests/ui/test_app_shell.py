"""The app shell as a user sees it: mode word, escape, keymap, theme, errors, help."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import stat
import sys
import types
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, Select, Static, TextArea

from jarvis_tui.cli import main
from jarvis_tui.core.types import Trace
from jarvis_tui.traces import StoreError, TraceStore
from jarvis_tui.ui.app import PANES, JarvisApp
from jarvis_tui.ui.errorlog import ErrorLog
from jarvis_tui.ui.panes.traces import TraceDetail, TracesPane, TraceTable
from jarvis_tui.ui.screens.help import HelpScreen
from jarvis_tui.ui.settings import user_config_path
from jarvis_tui.ui.testing import record_notices, settle, wait_until


def mode(app: JarvisApp) -> str:
    return str(app.query_one("#mode", Static).render()).strip()


def detail_text(app: JarvisApp) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one(TraceDetail).query_one("#detail-body", Static).content)
    return console.export_text()


def write_user_config(text: str) -> Path:
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_mode_word_follows_the_focus(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert mode(app) == "NAV"
        await pilot.press("slash")
        await pilot.pause()
        assert mode(app) == "SEARCH"
        await pilot.press("escape")
        await pilot.pause()
        assert mode(app) == "NAV" and isinstance(app.focused, TraceTable)
        await pilot.press("F")
        await settle(app, pilot)
        assert mode(app) == "EDIT" and isinstance(app.focused, Select)
        await pilot.press("escape")
        await settle(app, pilot)
        assert mode(app) == "NAV" and isinstance(app.focused, TraceTable)


async def test_escape_leaves_any_field_in_any_pane(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        tried = 0
        for pid, _title, key in PANES:
            await pilot.press(key)
            await settle(app, pilot)
            pane = app.query_one(f"#{pid}-pane")
            fields = [
                w
                for w in pane.query("Input, Select, TextArea")
                if w.display and w.visible and w.focusable
                and not (isinstance(w, TextArea) and w.read_only)
            ]  # fmt: skip
            for field in fields[:2]:
                field.focus()
                await pilot.pause()
                assert app.input_mode() in ("EDIT", "SEARCH"), field
                await pilot.press("escape")
                await settle(app, pilot)
                assert mode(app) == "NAV", f"escape left the focus in {app.focused!r} ({pid})"
                tried += 1
        assert tried >= 2


async def test_keys_keep_working_after_a_filter_choice(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("F")
        await settle(app, pilot)
        await pilot.press("enter")  # open the agent picker
        await pilot.press("down", "down", "enter")  # choose one
        await settle(app, pilot)
        assert pane.filter.agent is not None
        assert "F filters: agent" in str(app.query_one("#filter-summary", Static).render())
        table = app.query_one("#trace-table", TraceTable)
        before = table.cursor_row
        await pilot.press("j")
        assert table.cursor_row == before + 1


async def test_keys_keep_working_after_the_palette(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"traces: sort by latency")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert "sort latency" in str(app.query_one("#traces-status", Static).render())
        table = app.query_one("#trace-table", TraceTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2


async def test_user_keymap_applies_and_unknown_ids_are_reported(workspace: Path) -> None:
    write_user_config('[keymap]\n"traces.success" = "z"\n"traces.nope" = "q"\n')
    (workspace / "jarvis-tui.toml").write_text('[keymap]\n"traces.failure" = "v"\n')
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert any("traces.nope" in n and "unknown" in n for n in notices)
        pane = app.query_one(TracesPane)
        first, second = pane.rows[0].trace_id, pane.rows[1].trace_id
        await pilot.press("z")  # success, by the user's key
        await pilot.press("j", "v")  # failure, by the workspace's key
        await pilot.press("j", "y")  # y is no longer bound to success
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert ("z", "Success") in app.screen.rows
    store = TraceStore(workspace / "traces.db")
    try:
        assert store.get(first).outcome == "success"
        assert store.get(second).outcome == "failure"
        assert store.get(pane.rows[2].trace_id).outcome is None
    finally:
        store.close()


async def test_bad_toml_is_one_notification_and_the_rest_applies(workspace: Path) -> None:
    write_user_config("[keymap\ntraces.success = ")
    (workspace / "jarvis-tui.toml").write_text('[keymap]\n"traces.success" = "z"\n')
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        bad = [n for n in notices if "not valid TOML" in n]
        assert len(bad) == 1 and "config.toml" in bad[0]
        tid = app.query_one(TracesPane).rows[0].trace_id
        await pilot.press("z")
        await settle(app, pilot)
    store = TraceStore(workspace / "traces.db")
    assert store.get(tid).outcome == "success"
    store.close()


async def test_a_wrong_typed_theme_is_one_notification_and_the_rest_applies(
    workspace: Path,
) -> None:
    """Walkthrough 36: `theme = 5` was silently ignored, in either file; now it is one
    notification per file, as a file that is not TOML is, and the keymap still applies."""
    write_user_config('theme = 5\n[keymap]\n"traces.success" = "z"\n')
    (workspace / "jarvis-tui.toml").write_text('theme = "textual-light"\n')
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        said = [n for n in notices if "theme" in n]
        assert len(said) == 2, notices
        assert 'config.toml: theme = 5 must be a theme name such as "textual-dark"' in said[0]
        assert said[0].endswith("(ignored) · ? shows it again")  # the help lists it
        assert f"jarvis-tui.toml: theme is read from {user_config_path()} only" in said[1]
        assert app.theme != "textual-light"
        tid = app.query_one(TracesPane).rows[0].trace_id
        await pilot.press("z")
        await settle(app, pilot)
    store = TraceStore(workspace / "traces.db")
    assert store.get(tid).outcome == "success"
    store.close()


def test_a_judge_setting_of_the_wrong_kind_is_said(tmp_path: Path) -> None:
    from jarvis_tui.ui.settings import load_settings

    (tmp_path / "jarvis-tui.toml").write_text('[judge]\nurl = 5\nmodel = "m"\n')
    assert load_settings(tmp_path, []).problems == [
        f'{tmp_path / "jarvis-tui.toml"}: [judge] must be a table of url = "…" and '
        'model = "…" (ignored)'
    ]


async def test_the_chosen_theme_is_remembered(workspace: Path) -> None:
    write_user_config('# mine\n[keymap]\n"traces.success" = "z"\n')
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.theme = "textual-light"
        await settle(app, pilot)
    path = user_config_path()
    assert 'theme = "textual-light"' in path.read_text()
    assert '"traces.success" = "z"' in path.read_text()  # the rest of the file is kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = JarvisApp(workspace)
    async with again.run_test(size=(120, 40)) as pilot:
        await settle(again, pilot)
        assert again.theme == "textual-light"


async def test_a_failing_worker_is_shown_and_logged(workspace: Path, monkeypatch) -> None:
    real_get = TraceStore.get

    def get(self, trace_id):
        if trace_id == "t1-00398":
            raise RecursionError("maximum recursion depth exceeded while decoding JSON")
        return real_get(self, trace_id)

    monkeypatch.setattr(TraceStore, "get", get)
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "t1-00399" in detail_text(app)
        await pilot.press("j")  # onto the trace whose detail cannot be read
        await settle(app, pilot)
        failed = [n for n in notices if "load trace failed" in n]
        assert failed and "RecursionError" in failed[0] and "\n" not in failed[0]
        assert "t1-00399" not in detail_text(app)  # not the previous trace's detail
        assert "cannot be shown" in detail_text(app)
    log = workspace / "logs" / "jarvis-tui.log"
    text = log.read_text()
    assert "load trace failed" in text and "Traceback" in text and "def get" not in text
    assert "RecursionError" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_error_log_falls_back_to_the_state_dir(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "logs").write_text("not a folder")  # the workspace cannot take the log
    log = ErrorLog(ws)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        where = log.record("a job", exc)
    log.close()
    assert where is not None and where.parent.name == "jarvis-tui"
    assert str(where).startswith(os.environ["XDG_STATE_HOME"])
    assert "a job failed" in where.read_text() and "Traceback" in where.read_text()
    assert (ws / "logs").read_text() == "not a folder"


def test_error_log_never_writes_through_a_symlink(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "logs").mkdir(parents=True)
    target = tmp_path / "elsewhere.txt"
    target.write_text("")
    (ws / "logs" / "jarvis-tui.log").symlink_to(target)
    log = ErrorLog(ws)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        where = log.record("a job", exc)
    log.close()
    assert target.read_text() == "" and where is not None
    assert str(where).startswith(os.environ["XDG_STATE_HOME"])


async def test_markup_in_a_trace_id_is_text_on_undo(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many([Trace(trace_id="[/]evil[bold]", query="q", result="r", started_at=1.0)])
    store.close()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("7")
        await settle(app, pilot)
        seen: list[tuple[str, bool]] = []
        real_notify = app.notify

        def notify(message, **kw):
            seen.append((message, kw.get("markup", True)))
            real_notify(message, **kw)

        app.notify = notify  # type: ignore[method-assign]
        await pilot.press("u")  # crashed: the notification parsed the id as markup
        await settle(app, pilot)
        assert ("undone: [/]evil[bold]", False) in seen
        await pilot.press("e")
        await pilot.pause()
        assert "[/]evil[bold]" in str(app.screen.query_one("#note-title", Static).render())
        await pilot.press("escape")
    store = TraceStore(home / "traces.db")
    assert store.get("[/]evil[bold]").feedback is None
    store.close()


async def test_an_empty_home_says_how_to_build_a_demo(tmp_path: Path) -> None:
    app = JarvisApp(tmp_path / "new")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        text = str(app.query_one("#traces-empty", Static).render())
        assert "jarvis-tui demo" in text and "No traces yet" in text
        assert app.query_one("#traces-empty").display
        assert not app.query_one("#trace-table").display


async def test_help_puts_the_keys_everywhere_above_the_pane_keys(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        statics = []
        for widget in app.screen.query(Static):
            console = Console(width=120, record=True, file=io.StringIO())
            console.print(widget.content)
            statics.append(console.export_text().strip())
        everywhere = next(i for i, t in enumerate(statics) if t == "Keys everywhere")
        pane = next(i for i, t in enumerate(statics) if t == "Traces")
        assert everywhere < pane
        grammar = statics[everywhere + 1]
        assert "accept, yes, success" in grammar and "filter bar" in grammar
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_search_input_is_search_mode_and_other_inputs_edit(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.focused, Input) and mode(app) == "SEARCH"
        await pilot.press("escape", "e")
        await pilot.pause()
        assert isinstance(app.focused, TextArea) and app.input_mode() == "EDIT"


LAZY_PANES = ("routing", "configs", "training", "trials")
"""Panes built the first time they are shown (every pane that keeps the Pane contract)."""


async def test_only_the_shown_pane_is_built_at_start_the_others_when_shown(
    workspace: Path,
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.pane("traces").is_mounted
        assert all(not app.pane(pid).is_mounted for pid in LAZY_PANES)
        await pilot.press("C")
        await settle(app, pilot)
        assert app.active_pane_id() == "configs" and app.pane("configs").is_mounted
        status = str(app.query_one("#configs-status", Static).render())
        assert "No agent configs in agents/" in status  # it loaded what it shows
        assert isinstance(app.focused, DataTable) and app.focused.id == "configs-agents"
        assert all(not app.pane(pid).is_mounted for pid in LAZY_PANES if pid != "configs")
        await pilot.press("T", "C")  # shown again: the same pane, built once
        await settle(app, pilot)
        assert len(app.query("#configs-pane")) == 1


async def test_the_palette_lists_and_runs_entries_of_panes_not_built_yet(
    workspace: Path,
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert not app.pane("configs").is_mounted
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"configs: run the evolver", "configs: reload"} <= titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"configs: reload")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.active_pane_id() == "configs" and app.pane("configs").is_mounted
        assert "No agent configs" in str(app.query_one("#configs-status", Static).render())
        await pilot.press("j")  # the keys reach the pane
        assert mode(app) == "NAV"


async def test_a_keymap_for_a_pane_not_built_yet_is_known_and_applies(workspace: Path) -> None:
    write_user_config('[keymap]\n"configs.start" = "S"\n')
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert not [n for n in notices if "unknown" in n]
        await pilot.press("C")
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert ("S", "Run evolver") in app.screen.rows


async def test_quitting_closes_the_workspace_session(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        store = app.workspace.traces
        assert store.count() > 0
    assert app.workspace.closed and not app.workspace.traces_open
    with pytest.raises((sqlite3.ProgrammingError, StoreError)):
        store.count()


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def test_help_scrolls_with_the_navigation_keys_of_the_grammar(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        top = screen_text(app)
        assert "Keys everywhere" in top and "escape closes this help" not in top
        assert "/ / F" not in top and re.search(r"\n\W*/ +search\b", top)
        await pilot.press("G")
        await pilot.pause()
        bottom = screen_text(app)
        assert "escape closes this help" in bottom and "Keys everywhere" not in bottom
        await pilot.press("g")
        await pilot.pause()
        assert "Keys everywhere" in screen_text(app)
        await pilot.press("j", "j")
        await pilot.pause()
        assert "Keys everywhere" not in screen_text(app)
        await pilot.press("k", "k")
        await pilot.pause()
        assert "Keys everywhere" in screen_text(app)
        assert isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("width", [120, 80])
async def test_the_footer_shows_whole_key_entries_pane_actions_first(
    workspace: Path, width: int
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(app, pilot)
        for _pid, _title, key in PANES:
            await pilot.press(key)
            await settle(app, pilot)
            whole = {
                f"{app.get_key_display(b.binding)} {b.binding.description}"
                for b in app.screen.active_bindings.values()
                if b.binding.show
            }
            footer = screen_text(app).splitlines()[-1]
            hints, _bar, palette = footer.partition("▏")
            assert palette.strip() == "^p palette", footer
            entries = re.split(r"\s{2,}", hints.strip())
            assert entries[0] == "NAV"
            assert all(entry in whole for entry in entries[1:]), footer
            assert "? Help" in entries, footer
            # The pane's own actions come before the app's keys.
            assert entries[1] not in ("? Help", "^q Quit"), footer


async def run_screenshot_command(app: JarvisApp, pilot) -> str:
    notices = record_notices(app)
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"Screenshot")
    await settle(app, pilot)
    await pilot.press("enter")
    await wait_until(
        pilot, lambda: any("creenshot" in n for n in notices), timeout=30, what="a notice"
    )
    return next(n for n in notices if "creenshot" in n)


async def test_the_screenshot_command_saves_into_the_workspace_and_says_where(
    workspace: Path,
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        note = await run_screenshot_command(app, pilot)
        saved = list((workspace / "screenshots").glob("*.svg"))
        assert len(saved) == 1 and saved[0].read_text().startswith("<svg")
        assert note == f"Saved screenshot to {saved[0]}"
        assert stat.S_IMODE(saved[0].stat().st_mode) == 0o600


async def test_a_screenshot_that_cannot_be_saved_says_why(workspace: Path) -> None:
    (workspace / "screenshots").write_text("a file, not a folder")
    app = JarvisApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        note = await run_screenshot_command(app, pilot)
        assert note.startswith("Screenshot not saved:")
        assert str(workspace / "screenshots") in note and "not a directory" in note


async def test_the_keys_command_opens_the_help_and_escape_closes_it(workspace: Path) -> None:
    # Textual's own "Keys" panel docked beside the pane, cut the tab bar and ignored
    # escape; the palette's Keys is our help modal.
    app = JarvisApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Keys")
        await settle(app, pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Keys everywhere" in screen_text(app), what="help")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, HelpScreen)
        assert "Keys everywhere" not in screen_text(app)
        assert "Routing [R]" in screen_text(app)  # the tab bar whole


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The homes the CLI opens the app on (the app itself replaced)."""
    homes: list[Path] = []
    module = types.ModuleType("jarvis_tui.ui.app")
    module.run_app = lambda home: homes.append(home) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jarvis_tui.ui.app", module)
    return homes


def test_a_home_that_does_not_exist_is_refused_in_one_line(
    tmp_path: Path, opened: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "typo" / "path"
    assert main(["--home", str(typo)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{typo} does not exist" in err and "--create" in err
    assert opened == [] and not typo.exists() and not typo.parent.exists()


def test_create_starts_a_new_workspace_and_the_default_home_opens_when_new(
    tmp_path: Path, opened: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    new = tmp_path / "new"
    assert main(["--home", str(new), "--create"]) == 0
    monkeypatch.setenv("HOME", str(tmp_path / "user"))  # ~/.openjarvis missing: a fresh machine
    assert main([]) == 0
    assert opened == [new, tmp_path / "user" / ".openjarvis"]


async def test_the_footer_shows_more_keys_when_the_terminal_widens(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        narrow = screen_text(app).splitlines()[-1]
        assert "n Failure" not in narrow and "? Help" in narrow
        await pilot.resize_terminal(120, 24)
        await settle(app, pilot)
        wide = screen_text(app).splitlines()[-1]
        assert "n Failure" in wide and "? Help" in wide and "^q Quit" in wide
