"""Traces and forms leftovers of issue 10 (walkthrough findings 7, 58, 4, 8, 73, 9, 10,
48, 39): what the screen says, and what is (or is not) written on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import ConfigFormScreen
from jarvis_tui.ui.testing import settle

from .test_traces_findings2 import screen_text


def flat(text: str) -> str:
    """Screen text without spaces, line breaks and box borders (a message may wrap)."""
    return "".join(ch for ch in text if not ch.isspace() and not 0x2500 <= ord(ch) < 0x25A0)


def panel_text(app: JarvisApp) -> str:
    """The whole side panel's text, scrolled or not."""
    import io

    from rich.console import Console
    from textual.widgets import Static

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one("#detail-body", Static).content)
    return console.export_text()


@pytest.fixture
def home(demo_copy) -> Path:
    return demo_copy(traces=1500, seed=3)


async def open_export_form(app: JarvisApp, pilot) -> None:
    """The palette's "traces: export labels…" (the palette itself: test_export_labels_form)."""
    from jarvis_tui.ui.panes.traces import TracesPane

    app.query_one(TracesPane).export_labels()
    await settle(app, pilot)
    assert isinstance(app.screen, ConfigFormScreen)


# ---------------------------------------------------------------- finding 7


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_export_to_a_missing_folder_outside_is_refused_beside_the_path(
    home: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    target = tmp_path / "nosuch" / "labels.jsonl"  # outside the workspace, folder missing
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await open_export_form(app, pilot)
        app.screen.query_one("#field-2", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)  # still open, with what was typed
        assert app.screen.query_one("#field-2", Input).value == str(target)
        shown = flat(screen_text(app))
        assert "✗" in shown and "doesnotexist:createitfirst" in shown, shown
        assert "nothingexported:1fieldmarked✗needsfixing" in shown
        # fixed in place: the message goes and the export runs (after the outside question)
        ok = tmp_path / "labels.jsonl"
        app.screen.query_one("#field-2", Input).value = str(ok)
        await settle(app, pilot)
        assert "doesnotexist" not in flat(screen_text(app))
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "Exportoutsidetheworkspace?" in flat(screen_text(app))
        await pilot.press("y")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
    assert not target.parent.exists()
    assert ok.read_text().count("\n") > 10


async def test_export_onto_a_symlink_is_refused_beside_the_path(home: Path) -> None:
    (home / "elsewhere.jsonl").write_text("keep me\n")
    (home / "link.jsonl").symlink_to(home / "elsewhere.jsonl")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await open_export_form(app, pilot)
        app.screen.query_one("#field-2", Input).value = "link.jsonl"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)
        assert "isasymboliclink:giveanotherpath" in flat(screen_text(app))
    assert (home / "elsewhere.jsonl").read_text() == "keep me\n"
    assert (home / "link.jsonl").is_symlink()


async def test_export_to_a_missing_folder_inside_the_workspace_creates_it(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await open_export_form(app, pilot)
        app.screen.query_one("#field-2", Input).value = "exports/new/labels.jsonl"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfigFormScreen)
    assert (home / "exports" / "new" / "labels.jsonl").read_text().count("\n") > 10


# ---------------------------------------------------------------- finding 58

JUDGE_REPLY = "Score: 0.8 because [bold red]good[/] \x1b]0;x\x07"
"""A judge that answers in prose, with markup and a terminal escape in its reason."""


async def test_the_judges_score_and_reason_are_on_the_trace(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.evals.judge import JudgeStore
    from jarvis_tui.evals.local_server import ChatServer
    from jarvis_tui.traces import TraceFilter, TraceStore
    from jarvis_tui.ui.panes.traces import TracesPane
    from jarvis_tui.ui.screens.trace_screens import TraceScreen

    shown_reason = "because [bold red]good[/] ␛]0;x␇"  # literal, the escape made visible
    with ChatServer({"*": lambda user, system: JUDGE_REPLY}) as server:
        monkeypatch.setenv("JARVIS_TUI_JUDGE_URL", server.url)
        monkeypatch.setenv("JARVIS_TUI_JUDGE_MODEL", "judge-m")
        app = JarvisApp(home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            pane = app.query_one(TracesPane)
            pane.set_filter(TraceFilter(model="llama3.1:8b", labelled=False))
            await settle(app, pilot)
            trace_id = pane.current_trace_id
            await pilot.press("J")
            await settle(app, pilot)
            await app.workers.wait_for_complete()
            await settle(app, pilot)
            assert pane.current_trace_id == trace_id
            side = screen_text(app)
            assert f"judge judge-m: 0.80 — {shown_reason}" in side, side
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, TraceScreen)
            full = screen_text(app)
            assert f"judge judge-m: 0.80 — {shown_reason}" in full, full
            assert "== JUDGE" in full or "== JUDGE" in "\n".join(
                app.screen.query_one("#trace-full").lines  # type: ignore[attr-defined]
            )
            # W3 28: Y takes the judge's score as the label here too (it did nothing)
            assert "Y judge's score" in full
            await pilot.press("Y")
            await settle(app, pilot)
            await app.workers.wait_for_complete()
            await settle(app, pilot)
            assert "score 0.80" in screen_text(app)
    store = TraceStore(home / "traces.db")
    try:
        with JudgeStore.for_store(store) as js:  # the engine's record: the reason is kept
            kept = js.get(trace_id)
        labelled = store.get(trace_id)
    finally:
        store.close()
    assert kept is not None and kept.reason == "because [bold red]good[/] \x1b]0;x\x07"
    assert labelled is not None and labelled.feedback == 0.8


# ---------------------------------------------------------------- finding 4


async def test_the_note_is_beside_the_labels_in_the_side_panel(home: Path) -> None:
    app = JarvisApp(home)  # 80x24 has no side panel until d
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        await pilot.press(*"check [b]units[/b]")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        lines = screen_text(app).splitlines()
        # on screen without scrolling, on the line after "outcome … score …"
        at = next(i for i, x in enumerate(lines) if "outcome " in x and "score " in x)
        assert "note check [b]units[/b]" in lines[at + 1], lines[at : at + 3]


# ---------------------------------------------------------------- finding 8


async def test_a_list_field_offers_a_blank_choice_only_without_a_default() -> None:
    from textual.app import App

    from jarvis_tui.learning.optimize.types import SearchDimension, SearchSpace

    space = SearchSpace([
        SearchDimension("format", "categorical", ["jsonl", "csv"]),
        SearchDimension("agent", "categorical", ["react", "simple"]),
    ])  # fmt: skip
    got: list = []

    class FormApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ConfigFormScreen("Pick", space, {"format": "csv"}), got.append)

    app = FormApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("space")  # format (default csv): its list has the two formats only
        await pilot.pause()
        shown = screen_text(app)
        assert "jsonl" in shown
        blank = [ln for ln in shown.splitlines() if "(pick one)" in ln and " agent " not in ln]
        assert not blank, shown
        await pilot.press("escape", "tab")
        await pilot.pause()
        assert "(pick one)" in screen_text(app)  # agent has no default: it starts blank
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "required: pick one of the 2 options" in screen_text(app)
        await pilot.press("space", "down", "enter")  # the list: first option, then enter
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert got == [{"format": "csv", "agent": "react"}], got


# ---------------------------------------------------------------- finding 73


async def test_a_step_output_that_is_not_json_is_shown_as_its_text(home: Path) -> None:
    import sqlite3

    from jarvis_tui.ui.screens.trace_screens import FoldedText, TraceScreen

    with sqlite3.connect(home / "traces.db") as c:  # the newest trace: the first row
        (trace_id,) = c.execute("SELECT trace_id FROM traces ORDER BY started_at DESC LIMIT 1"
                                ).fetchone()  # fmt: skip
        c.execute("UPDATE trace_steps SET output = '{not json' WHERE trace_id = ?"
                  " AND step_index = 0", (trace_id,))  # fmt: skip
    c.close()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        shown = panel_text(app)  # the whole side panel (the steps are below the fold)
        assert "out (not JSON) {not json" in shown, shown
        assert "_invalid_json" not in shown
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen)
        full = app.screen.query_one(FoldedText).text
        assert "      output (not JSON): {not json\n" in full, full
        assert "_invalid_json" not in full
        assert "      input:  {" in full  # JSON as before, lined up


# ---------------------------------------------------------------- findings 10, 48


def status_line(app: JarvisApp) -> str:
    """The Traces status line as shown (fitted to the screen's width)."""
    from textual.widgets import Static

    return str(app.query_one("#traces-status", Static).render())


async def test_a_routing_cells_queue_says_its_first_page_is_a_part(home: Path) -> None:
    from jarvis_tui.ui.panes.traces import TracesPane

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        # general × llama3.1:8b: no label there can change a decision; 68 unrated
        app.query_one(TracesPane).show_queue("general", "llama3.1:8b")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        line = status_line(app)
        assert "first 50 of 68 unrated, time order" in line, line
        assert " 50 unrated" not in line
        for _ in range(3):  # each label takes its trace out of the list
            await pilot.press("7")
            await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert "3 labelled this session" in status_line(app), status_line(app)


async def test_labels_in_queue_order_are_counted_this_session(home: Path) -> None:
    from jarvis_tui.traces import TraceFilter
    from jarvis_tui.ui.panes.traces import TracesPane

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.query_one(TracesPane).set_filter(TraceFilter(labelled=False))
        await settle(app, pilot)
        await pilot.press("Q")  # the unlabelled filter in queue order
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert "labelled this session" not in status_line(app)
        for key in ("5", "7", "9"):  # each takes its trace out of the queue
            await pilot.press(key)
            await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert "3 labelled this session" in status_line(app), status_line(app)
        await pilot.press("u")  # an undone label is not a label given
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert "2 labelled this session" in status_line(app), status_line(app)


# ---------------------------------------------------------------- finding 39


async def test_enter_before_the_trace_is_loaded_says_loading_and_then_opens_it(
    home: Path,
) -> None:
    import threading

    from jarvis_tui.ui.panes.traces import TracesPane
    from jarvis_tui.ui.screens.trace_screens import TraceScreen
    from jarvis_tui.ui.testing import wait_until

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        assert pane.store is not None
        store_get = pane.store.get
        release, asked = threading.Event(), threading.Event()

        def slow_get(trace_id: str):  # a big trace, still being read
            asked.set()
            release.wait(30)
            return store_get(trace_id)

        pane.store.get = slow_get  # type: ignore[method-assign]
        await pilot.press("j")
        await wait_until(pilot, asked.is_set)
        await pilot.press("enter")  # it did nothing until the detail had come
        await pilot.pause()
        assert "opening the trace: loading…" in status_line(app), status_line(app)
        assert not isinstance(app.screen, TraceScreen)
        release.set()
        await wait_until(pilot, lambda: isinstance(app.screen, TraceScreen))
        assert app.screen.trace.trace_id == pane.current_trace_id
        await pilot.press("escape")
        await settle(app, pilot)
        assert "opening the trace" not in status_line(app)


# ---------------------------------------------------------------- findings 9, W


def labels_on_disk(home: Path) -> dict[str, tuple]:
    from jarvis_tui.traces import TraceStore

    store = TraceStore(home / "traces.db")
    try:
        return {t.trace_id: (t.feedback, t.outcome) for t in store.iter_traces(with_steps=False)}
    finally:
        store.close()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_filter_bar_says_its_keys_and_backspace_clears_every_filter(
    home: Path, size: tuple[int, int]
) -> None:
    from jarvis_tui.traces import TraceFilter
    from jarvis_tui.ui.panes.traces import TracesPane

    before = labels_on_disk(home)
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.set_filter(TraceFilter(model="llama3.1:8b", outcome="success"))
        await settle(app, pilot)
        assert "of 1,500" not in status_line(app)
        await pilot.press("F")
        await settle(app, pilot)
        line = status_line(app)
        assert "tab next · esc leaves · ⌫ clears filters" in line, line
        await pilot.press("tab")  # to the next picker: still said
        await settle(app, pilot)
        assert "⌫ clears filters" in status_line(app)
        await pilot.press("backspace")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert "rows 1–" in status_line(app) and "of 1,500" in status_line(app), status_line(app)
        assert pane.filter.is_empty()
        await pilot.press("escape")
        await settle(app, pilot)
        assert "⌫ clears filters" not in status_line(app)
    assert labels_on_disk(home) == before  # backspace in the bar cleared no label


async def test_X_clears_every_filter(home: Path) -> None:
    from jarvis_tui.traces import TraceFilter
    from jarvis_tui.ui.panes.traces import TracesPane

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.set_filter(TraceFilter(query_class="math", labelled=False))
        await settle(app, pilot)
        assert "of 1,500" not in status_line(app)
        await pilot.press("X")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert "of 1,500" in status_line(app), status_line(app)
        assert pane.filter.is_empty()
        _title, _intro, rows = app.help_for_pane()
        assert ("X", "Clear filters") in [(k, d) for k, d in rows], rows


# ---------------------------------------------------------------- W2 walkthrough, 1


async def test_labels_that_arrive_before_the_full_view_is_built_are_shown_in_it(
    home: Path,
) -> None:
    """A detail load can finish between enter's push and the view's compose (a cold start
    on a 1 MB trace): it crashed the app with NoMatches '#trace-labels'."""
    from jarvis_tui.ui.panes.traces import TracesPane
    from jarvis_tui.ui.screens.trace_screens import TraceScreen
    from jarvis_tui.ui.testing import wait_until

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TraceScreen))
        trace = app.screen.trace
        await pilot.press("escape")
        await settle(app, pilot)
        view = TraceScreen(pane, trace, "", [], None)
        view.show_labels(0.3, "failure", "a note that came before the view")
        await app.push_screen(view)
        await settle(app, pilot)
        text = screen_text(app)
        assert "a note that came before the view" in text, text
        assert app.is_running
