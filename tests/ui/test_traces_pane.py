"""Pilot tests: what the user sees in the Traces pane and what lands on disk."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Input, Select, Static

from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import HelpScreen, JarvisApp
from jarvis_tui.ui.panes.traces import TraceDetail, TracesPane, TraceTable
from jarvis_tui.ui.screens.trace_screens import NoteScreen
from jarvis_tui.ui.testing import record_notices, run_command, settle, wait_until
from tests.ui.conftest import make_traces, pick_filters


def plain(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


async def test_opens_on_first_page_of_whole_store(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.query_one("#trace-table", TraceTable)
        pane = app.query_one(TracesPane)
        assert len(pane.rows) == 100  # one page read, not the store
        assert "rows 1–" in status(app) and "of 401" in status(app)
        assert "labelled 200 of 401" in status(app)
        # newest first, on screen under the header
        assert pane.rows[0].trace_id == "t1-00399"
        assert table.cursor_key == "t1-00399" and pane.cursor_position == 0
        lines = screen_text(app).splitlines()
        header = next(i for i, line in enumerate(lines) if "Time" in line and "Query" in line)
        assert pane.rows[0].snippet[:20] in lines[header + 1]


async def test_label_three_by_key_and_undo_one(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pick_filters(app, pilot, labelled="unlabelled")
        ids = [pane.rows[i].trace_id for i in range(4)]
        await pilot.press("7")  # first unlabelled → 0.7, cursor advances
        await pilot.press("equals_sign")  # second → 1.0
        await pilot.press("n")  # third: outcome failure (an outcome does not advance)
        await pilot.press("2")  # third → 0.2, advance to the fourth
        await settle(app, pilot)
        await pilot.press("u")  # undo the 0.2 on the third (cursor goes back to it)
        await pilot.press("u")  # undo the outcome on the third
        await settle(app, pilot)
        assert "labels/min" in status(app)
    store = TraceStore(workspace / "traces.db")
    try:
        got = {i: (store.get(i).feedback, store.get(i).outcome) for i in ids}
        assert got[ids[0]] == (0.7, None)
        assert got[ids[1]] == (1.0, None)
        assert got[ids[2]] == (None, None)
        assert got[ids[3]] == (None, None)
        hist = store.label_history(ids[2])
        assert [(h.field, h.old_value, h.new_value) for h in hist] == [
            ("outcome", None, "failure"),
            ("feedback", None, 0.2),
            ("feedback", 0.2, None),
            ("outcome", "failure", None),
        ]
        assert hist[-1].source == "undo"
    finally:
        store.close()


async def test_search_and_filters_combine(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("slash")
        await pilot.press(*"photosynthesis")
        await pilot.press("enter")
        await settle(app, pilot)
        assert pane.rows and all("photosynthesis" in r.snippet for r in pane.rows)
        assert "of 80" in status(app)
        await pilot.press("F")
        await settle(app, pilot)
        pane.query_one("#f-agent", Select).value = "react"
        await settle(app, pilot)
        assert pane.rows and all(r.agent == "react" for r in pane.rows)
        assert all("photosynthesis" in r.snippet for r in pane.rows)
        pane.query_one("#f-class", Select).value = "code"
        await settle(app, pilot)
        assert not pane.rows and "0 of 0 rows" in status(app)


async def test_bad_search_syntax_is_read_as_words(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("slash")
        for text in ('"needle', "AND *", "needle -", "-x"):
            pane.query_one("#search", Input).value = text
            await pilot.press("enter")
            await settle(app, pilot)
            await pilot.press("slash")
        assert "search:" in status(app)  # the note says what was reinterpreted
        pane.query_one("#search", Input).value = '"needle'
        await pilot.press("enter")
        await settle(app, pilot)
        assert [r.trace_id for r in pane.rows] == ["evil"]
        assert "unbalanced quote" in status(app)


async def test_markup_and_escapes_render_literally(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("slash")
        pane.query_one("#search", Input).value = "needle"
        await pilot.press("enter")
        await settle(app, pilot)
        table = app.query_one("#trace-table", TraceTable)
        cell = table.cell_text(pane.rows[0].trace_id, "query") or ""
        assert "[bold red]not bold[/]" in cell and "[bold red]not bold[/]" in screen_text(app)
        assert "\x1b" not in cell and "␛" in screen_text(app)
        body = plain(app.query_one(TraceDetail).query_one("#detail-body", Static).content)
        assert "[link=http://x.invalid]click[/link]" in body
        assert "\x07" not in body and "\x00" not in body


async def test_read_only_store_refuses_labels_and_says_so(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.store.read_only = True  # as if the file were read-only
        first = pane.rows[0]
        notices = record_notices(app)
        await pilot.press("3")
        await settle(app, pilot)
        assert any("read-only" in n for n in notices)
        assert pane.rows[0].feedback == first.feedback
    store = TraceStore(workspace / "traces.db")
    assert store.get(first.trace_id).feedback == first.feedback
    store.close()


async def test_scrolling_pages_through_the_store(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        for _ in range(6):
            await pilot.press("pagedown")
            await settle(app, pilot)
        assert len(pane.rows) > 100  # next pages fetched by keyset
        await pilot.press("G")
        await settle(app, pilot)
        assert pane.rows[-1].trace_id == "evil"  # oldest
        assert len(pane.rows) == 100 and pane.rows_offset == 301  # one page, no runaway loads
        assert "of 401" in status(app) and "401" in status(app).split("of")[0]


async def test_new_traces_from_another_writer_appear(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.poll_store()
        await settle(app, pilot)
        other = TraceStore(workspace / "traces.db")
        other.save_many(make_traces(25, seed=2, start=1_790_000_000.0))
        other.close()
        pane.poll_store()
        await settle(app, pilot)
        assert "of 426" in status(app)
        assert pane.rows[0].trace_id.startswith("t2-")


async def test_help_lists_keys_and_panes_switch(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.rows
        descriptions = {d for _, d in keys}
        for word in ("Score (0–9, =)", "Search", "Note", "Success", "Failure", "Filters"):
            assert word in descriptions
        assert "Undo (not available now)" in descriptions  # nothing labelled yet
        assert ("0-9", "Score (0–9, =)") in keys
        await pilot.press("escape")
        await pilot.press("P")
        await pilot.pause()
        assert app.query_one("#panes").active == "trials"
        body = " ".join(str(s.render()) for s in app.query("#trials-pane Static"))
        assert "No optimization runs yet" in body
        await pilot.press("T")
        assert app.query_one("#panes").active == "traces"


async def test_note_lands_in_store(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        tid = pane.rows[0].trace_id
        await pilot.press("e")
        await pilot.pause()
        await pilot.press(*"too verbose")
        await pilot.press("enter")  # a new line: the note takes several
        await pilot.press(*"and vague")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
    store = TraceStore(workspace / "traces.db")
    assert store.note(tid) == "too verbose\nand vague"
    store.close()


async def test_enter_opens_full_trace_with_huge_body(tmp_path: Path) -> None:
    from jarvis_tui.core.types import Trace
    from jarvis_tui.ui.screens.trace_screens import TraceScreen

    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    big = "line of output\n" * 350_000  # ~5 MB
    store.save_many([Trace(trace_id="big", query="huge result", result=big, started_at=1.0)])
    store.close()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        body = plain(app.query_one(TraceDetail).query_one("#detail-body", Static).content)
        assert "more characters" in body  # truncated in the side panel
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TraceScreen)
        text = app.screen.query_one("#trace-full").text
        assert big in text and "truncated" not in text  # whole, as the README says
        await pilot.press("G")  # its end is on screen
        await settle(app, pilot)
        lines = [line.strip("│▌ ") for line in screen_text(app).splitlines()]
        assert "== METADATA" in lines and "line of output" in lines
        await pilot.press("escape")
        assert not isinstance(app.screen, TraceScreen)


async def test_full_view_folds_a_long_word_to_the_screen(tmp_path: Path) -> None:
    """A 5,000-character base64 blob with no space is folded into lines that fit the
    view (nothing runs off screen), whole and in order, at 80x24 and 120x40."""
    import base64

    from jarvis_tui.core.types import Trace

    blob = base64.b64encode(bytes(range(256)) * 15)[:5000].decode()
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many([Trace(trace_id="b64", query="an image", result=f"data: {blob} end",
                           started_at=1.0)])  # fmt: skip
    store.close()
    for size in ((80, 24), (120, 40)):
        app = JarvisApp(home)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)
            view = app.screen.query_one("#trace-full")
            start = view.lines.index("data:")
            stop = next(i for i in range(start, len(view.lines)) if view.lines[i].endswith("end"))
            pieces = view.lines[start + 1 : stop + 1]
            assert len(pieces) > 30 and "".join(pieces).removesuffix("end").rstrip() == blob
            assert all(len(line) <= size[0] - 8 for line in view.lines)
            screen = screen_text(app).splitlines()
            assert any(pieces[0] in line for line in screen)
            assert all(len(line.rstrip()) <= size[0] for line in screen)


async def test_a_label_that_cannot_be_saved_says_so_and_logs_its_traceback(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed label write was a bare notification: it goes through the app's one
    error path (one line with where the details are; the traceback in the log) and the
    row shows the stored truth again."""
    from jarvis_tui.traces.store import StoreError

    def broken(self: TraceStore, *_args: object, **_kwargs: object) -> None:
        raise StoreError("database disk image is malformed")

    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pick_filters(app, pilot, labelled="unlabelled")
        tid = pane.current_trace_id
        monkeypatch.setattr(TraceStore, "set_label", broken)
        await pilot.press("7")
        await settle(app, pilot)
        line = next(n for n in notices if "label not saved" in n)
        assert "database disk image is malformed" in line and "(details in " in line
        assert next(r for r in pane.rows if r.trace_id == tid).feedback is None
    log = (workspace / "logs" / "jarvis-tui.log").read_text()
    assert f"save label of {tid} failed" in log and "Traceback" in log
    assert "database disk image is malformed" in log


async def test_escape_on_a_changed_note_asks_before_the_text_is_lost(workspace: Path) -> None:
    """Escape on an edited note discarded it silently: it asks (n keeps editing with
    the text intact, y discards); escape on an unchanged note closes as before."""
    from jarvis_tui.ui.screens.trace_screens import DiscardNoteScreen, NoteScreen

    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tid = app.query_one(TracesPane).current_trace_id
        await pilot.press("e")
        await settle(app, pilot)
        await pilot.press("escape")  # nothing typed: closes at once
        await settle(app, pilot)
        assert not isinstance(app.screen, (NoteScreen, DiscardNoteScreen))
        await pilot.press("e")
        await settle(app, pilot)
        await pilot.press(*"wrong tool")
        await pilot.press("escape")
        await settle(app, pilot)
        text = screen_text(app)
        assert "Discard the changes to this note?" in text and "wrong tool" in text
        assert "n / escape: keep editing" in text
        await pilot.press("n")
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*" again")  # typing goes on where it was
        assert app.screen.query_one("#note-input").text == "wrong tool again"
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("escape")  # escape on the question keeps editing too
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        await pilot.press("escape", "y")
        await settle(app, pilot)
        assert not isinstance(app.screen, (NoteScreen, DiscardNoteScreen))
    _trace, note = _store_row(workspace, tid)
    assert note is None  # discarded, as asked


# --------------------------------------------------------------------------- every key


def _store_row(home: Path, tid: str):
    store = TraceStore(home / "traces.db")
    try:
        return store.get(tid), store.note(tid)
    finally:
        store.close()


# key pressed → what the user sees or what the store holds afterwards
KEY_CHECKS = {
    "Score (0–9, =)": ("7",),
    "Success": ("y",),
    "Failure": ("n",),
    "Clear label": ("backspace",),
    "Undo": ("u",),
    "Note": ("e",),
    "Sort": ("o",),
    "Reverse sort": ("O",),
    "Detail panel": ("d",),
    "Auto-advance": ("A",),
    "Refresh": ("r",),
    "Top": ("g",),
    "Bottom": ("G",),
    "Search": ("slash",),
    "Filters": ("F",),
    "Open trace": ("enter",),
    "Leave the field / clear the search": ("escape",),
    # tested in tests/ui/test_evidence.py (queue, judge, copy)
    "Queue order": ("Q",),
    "Run the judge": ("J",),
    "Stop the judge": ("x",),
    "Accept judge score": ("Y",),
    "Copy to clipboard": ("ctrl+y",),
    # tested in tests/ui/test_traces_leftovers.py (X, and backspace in the filter bar)
    "Clear filters": ("X",),
    # tested in tests/ui/test_help_keys_only.py (the cursor moves)
    "Up": ("k", "up"),
    "Down": ("j", "down"),
}


async def test_every_help_key_is_tested(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        _title, _intro, rows = app.help_for_pane()
        pane_rows = {d.replace(" (not available now)", "") for _k, d in rows}
        from textual.binding import Binding

        # the table's own moves (j k PgUp PgDn home end enter), tested above and in
        # test_big_bodies
        table_nav = {
            b.description
            for cls in TraceTable.__mro__
            for b in cls.__dict__.get("BINDINGS", ())
            if isinstance(b, Binding)
        }
        assert pane_rows - table_nav - set(KEY_CHECKS) == set()


async def test_label_keys_each_change_the_store(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("A")  # auto-advance off: every key acts on the first row
        assert "auto-advance off" in status(app)
        tid = pane.rows[0].trace_id
        await pilot.press("7")
        await settle(app, pilot)
        assert _store_row(workspace, tid)[0].feedback == 0.7
        await pilot.press("equals_sign", "y")
        await settle(app, pilot)
        t = _store_row(workspace, tid)[0]
        assert (t.feedback, t.outcome) == (1.0, "success")
        await pilot.press("n")
        await settle(app, pilot)
        assert _store_row(workspace, tid)[0].outcome == "failure"
        await pilot.press("backspace")
        await settle(app, pilot)
        t = _store_row(workspace, tid)[0]
        assert (t.feedback, t.outcome) == (None, None)
        await pilot.press("u")  # undo the clear
        await settle(app, pilot)
        t = _store_row(workspace, tid)[0]
        assert (t.feedback, t.outcome) == (1.0, "failure")
        await pilot.press("delete")
        await settle(app, pilot)
        assert _store_row(workspace, tid)[0].feedback is None


async def test_view_keys_each_change_the_screen(workspace: Path) -> None:
    from jarvis_tui.ui.screens.trace_screens import NoteScreen, TraceScreen

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        table = app.query_one("#trace-table", TraceTable)
        await pilot.press("o")
        await settle(app, pilot)
        assert "sort score ↓" in status(app)
        await pilot.press("O")
        await settle(app, pilot)
        assert "sort score ↑" in status(app)
        await pilot.press("d")
        await pilot.pause()
        assert not app.query_one(TraceDetail).display
        await pilot.press("d", "G")
        await settle(app, pilot)
        assert table.cursor_row == 400 and pane.cursor_position == 400  # the last of 401
        assert table.cursor_key == pane.rows[-1].trace_id
        await pilot.press("g")
        await settle(app, pilot)
        assert table.cursor_row == 0
        other = TraceStore(workspace / "traces.db")
        other.save_many(make_traces(3, seed=5, start=1_790_000_000.0))
        other.close()
        await pilot.press("r")
        await settle(app, pilot)
        assert "of 404" in status(app)
        await pilot.press("F")
        await settle(app, pilot)
        assert app.query_one("#filter-bar").display and isinstance(app.focused, Select)
        await pilot.press("escape")
        await settle(app, pilot)
        assert not app.query_one("#filter-bar").display
        await pilot.press("slash", *"needle", "enter")
        await settle(app, pilot)
        assert "of 1 " in status(app) + " "
        await pilot.press("escape")  # in the table: clears the search
        await settle(app, pilot)
        assert "of 404" in status(app)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, NoteScreen)
        await pilot.press("escape")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TraceScreen)


async def test_full_view_shows_labels_and_takes_them(workspace: Path) -> None:
    from jarvis_tui.ui.screens.trace_screens import NoteScreen, TraceScreen

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        tid = app.query_one(TracesPane).rows[0].trace_id
        await pilot.press("enter")
        await pilot.pause()
        view = app.screen
        assert isinstance(view, TraceScreen)

        def labels() -> str:
            return str(view.query_one("#trace-labels", Static).render())

        assert "score –" in labels() and "label history –" in labels()
        await pilot.press("8")
        await settle(app, pilot)
        assert "score 0.80" in labels() and "label history (1, newest first)" in labels()
        await pilot.press("y")
        await settle(app, pilot)
        assert "outcome success" in labels()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, NoteScreen)
        assert "Query" in str(app.screen.query_one("#note-trace", Static).render())
        await pilot.press(*"first line", "enter", *"second")
        await pilot.click("#note-save")
        await settle(app, pilot)
        assert app.screen is view and "first line" in labels()
        await pilot.press("backspace")
        await settle(app, pilot)
        assert "score –" in labels() and "outcome –" in labels()
        await pilot.press("u")
        await settle(app, pilot)
        assert "score 0.80" in labels()
        await pilot.press("escape")
        assert not isinstance(app.screen, TraceScreen)
    trace, note = _store_row(workspace, tid)
    assert (trace.feedback, trace.outcome, note) == (0.8, "success", "first line\nsecond")


async def test_every_palette_command_acts(workspace: Path) -> None:
    from jarvis_tui.ui.screens.trace_screens import NoteScreen, TraceScreen

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        names = [c.title for c in app.get_system_commands(app.screen)]
        ours = [n for n in names if n.startswith(("traces:", "go:", "help:"))]

        async def run(name: str) -> None:
            if name != "go: trials":  # each entry as the palette runs it (run_command)
                await run_command(app, pilot, name)
                return
            await pilot.press("ctrl+p")  # the first through the palette itself
            await pilot.pause()
            app.screen.query_one(Input).insert_text_at_cursor(name)  # as a paste
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)

        checked = set()

        async def check(name: str, ok) -> None:
            await run(name)
            assert ok(), f"{name!r} changed nothing on screen"
            checked.add(name)

        def fb() -> float | None:
            return pane.rows[0].feedback

        await check("go: trials", lambda: app.query_one("#panes").active == "trials")
        await check("go: configs", lambda: app.query_one("#panes").active == "configs")
        await check("go: training", lambda: app.query_one("#panes").active == "training")
        await check("go: routing", lambda: app.query_one("#panes").active == "routing")
        await check("go: traces", lambda: app.query_one("#panes").active == "traces")
        await check("help: keys", lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await check("traces: toggle auto-advance", lambda: "auto-advance off" in status(app))
        for d in range(11):
            await check(f"traces: score {d / 10:.1f}", lambda d=d: fb() == d / 10)
        await check("traces: mark success", lambda: pane.rows[0].outcome == "success")
        await check("traces: mark failure", lambda: pane.rows[0].outcome == "failure")
        await check("traces: clear label", lambda: fb() is None and pane.rows[0].outcome is None)
        await check("traces: undo last label", lambda: fb() == 1.0)
        await check("traces: edit note", lambda: isinstance(app.screen, NoteScreen))
        await pilot.press("escape")
        await check("traces: open trace", lambda: isinstance(app.screen, TraceScreen))
        await pilot.press("escape")
        for key in ("latency", "tokens", "score", "time"):
            await check(f"traces: sort by {key}", lambda k=key: f"sort {k} ↓" in status(app))
        await check("traces: reverse sort", lambda: "sort time ↑" in status(app))
        await check("traces: toggle detail panel", lambda: not app.query_one(TraceDetail).display)
        await check(
            "traces: show unlabelled only",
            lambda: "(filtered;" in status(app) and all(r.feedback is None for r in pane.rows),
        )
        await check("traces: clear filters", lambda: "of 401" in status(app))
        await check("traces: filters", lambda: app.query_one("#filter-bar").display)
        await pilot.press("escape")
        await check("traces: search", lambda: app.input_mode() == "SEARCH")
        await pilot.press("escape")
        await check("traces: refresh", lambda: "of 401" in status(app))
        from tests.ui.test_evidence import EVIDENCE_PALETTE

        assert set(ours) - checked - EVIDENCE_PALETTE == set(), "palette entries without a test"


async def test_full_view_shows_a_saved_note_and_its_history_at_once(workspace: Path) -> None:
    """enter, 8, e, a note, ctrl+s: the full view shows the note and two history entries
    without closing and reopening it (issue 10)."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("Q")  # queue order: a labelled trace leaves the table
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        view = app.screen
        tid = view.trace.trace_id

        def labels() -> str:
            return str(view.query_one("#trace-labels", Static).render())

        await pilot.press("8")  # the write, then the history read: waited for as below
        await wait_until(pilot, lambda: "label history (1, newest first)" in labels(),
                         what="the label's history entry")  # fmt: skip
        await pilot.press("e")
        # a chain of messages and workers (the editor's mount, the write, the history):
        # each step waits for what the screen shows
        await wait_until(pilot, lambda: isinstance(app.screen, NoteScreen)
                         and app.focused is app.screen.query_one("#note-input"),
                         what="the note editor, focused")  # fmt: skip
        await pilot.press(*"checked by hand")
        await wait_until(pilot, lambda: "checked by hand" in str(
            app.screen.query_one("#note-input").text), what="the typed note")  # fmt: skip
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "note checked by hand" in labels(), what="the saved note")
        assert app.screen is view
        await wait_until(pilot, lambda: "label history (2, newest first)" in labels(),
                         what="the note's history entry")  # fmt: skip
        await pilot.press("y")  # the view still labels its trace
        await wait_until(pilot, lambda: "outcome success" in labels()
                         and "label history (3, newest first)" in labels(),
                         what="the outcome and its history entry")  # fmt: skip
        await settle(app, pilot)
    trace, note = _store_row(workspace, tid)
    assert (trace.feedback, trace.outcome, note) == (0.8, "success", "checked by hand")


def table_lines(app: JarvisApp, rows: int = 6) -> list[str]:
    """The Traces table's header and first *rows* rows, as the screen shows them."""
    lines = screen_text(app).splitlines()
    header = next(i for i, line in enumerate(lines) if "Time" in line and "Query" in line)
    return [line.rstrip() for line in lines[header : header + 1 + rows]]


async def test_column_widths_follow_rows_that_arrive_later_and_a_resize(tmp_path: Path) -> None:
    """The columns were laid out once, on the first (empty) store: traces written after
    start (a demo built meanwhile) showed 'orche…' in a 5-wide Agent column. They are
    laid out as a fresh start on the same traces lays them out, and again on a resize."""
    home = tmp_path / "ws"
    TraceStore(home / "traces.db").close()
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "No traces yet" in screen_text(app)
        pane = app.query_one(TracesPane)
        pane.poll_store()  # what the store holds now (the 2 s watch does the same)
        await settle(app, pilot)
        store = TraceStore(home / "traces.db")
        store.save_many(make_traces(30))
        store.close()
        pane.poll_store()
        await settle(app, pilot)
        assert len(pane.rows) == 30
        late_80 = table_lines(app)
        await pilot.resize_terminal(120, 40)
        await settle(app, pilot)
        late_120 = table_lines(app)
    for size, late in (((80, 24), late_80), ((120, 40), late_120)):
        fresh = JarvisApp(home)
        async with fresh.run_test(size=size) as pilot:
            await settle(fresh, pilot)
            assert late == table_lines(fresh), size
    assert "orchestrat… llama3.1:8b" in "\n".join(late_120)  # not 'orc…' in 'Agent' wide
    assert "orchest…" in "\n".join(late_80) and "qwen2.5-cod…" in "\n".join(late_80)


async def test_sort_change_keeps_the_cursors_trace_or_says_where_it_went(workspace: Path) -> None:
    """o / O: the cursor stays on its trace when the new order's first page holds it;
    else it goes to the top row and the status line says the trace is further down."""
    for size in ((120, 40), (80, 24)):
        app = JarvisApp(workspace)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            pane = app.query_one(TracesPane)
            await pilot.press("j")  # t1-00398: latency 6.5 s, the longest
            await settle(app, pilot)
            assert pane.current_trace_id == "t1-00398"
            for key, sort in (("o", "score"), ("o", "latency ↓")):
                await pilot.press(key)
                await settle(app, pilot)
                assert f"sort {sort}" in status(app)
            # by latency ↓ it is near the top: the cursor stayed on it, in view
            assert pane.current_trace_id == "t1-00398" and pane.cursor_position < 20
            assert "further down" not in status(app)
            await pilot.press("O")  # latency ↑: the 6.5 s traces are at the bottom
            await settle(app, pilot)
            assert pane.cursor_position == 0 and pane.current_trace_id != "t1-00398"
            assert "sort latency ↑" in status(app)
            note = "the trace you were on" if size[0] >= 120 else "your trace"
            assert f"{note} is further down: cursor on" in screen_text(app)
            await pilot.press("j")  # the next key: the note goes
            await settle(app, pilot)
            assert "further down" not in status(app)


async def test_filter_dropdowns_stay_on_screen_and_cut_names_with_an_ellipsis(
    workspace: Path,
) -> None:
    """The rightmost picker's list ran off the screen at 120 columns ('last 30 day' at
    80) and a picked name was cut mid-word ('qwen2.5-'): the list stays within the
    screen with every option whole, and a name too long for its picker ends in "…"."""
    from textual.widgets._select import SelectOverlay

    for size in ((120, 40), (80, 24)):
        app = JarvisApp(workspace)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("F", "tab", "q", "enter")  # model: qwen2.5-coder:7b
            await settle(app, pilot)
            await pilot.press("F")  # the choice closed the bar: back to the model picker
            await settle(app, pilot)
            bar = next(line for line in screen_text(app).splitlines() if "class" in line
                       and "outcome" in line)  # fmt: skip
            assert "qwen2.5-coder:7b" in bar or "qwen2.5…" in bar or "qwen2.5-coder:…" in bar
            await pilot.press("tab", "tab", "tab", "tab", "space")  # the time picker
            await settle(app, pilot)
            overlay = app.query_one("#f-time").query_one(SelectOverlay)
            assert overlay.region.right <= size[0]
            text = screen_text(app)
            for option in ("last hour", "last 24 h", "last 7 days", "last 30 days"):
                assert option in text


async def test_narrow_table_cuts_names_with_an_ellipsis(workspace: Path) -> None:
    """80x24: a model name is whole or ends in "…", never cut into another model's name
    (llama3.1:70b → llama3.1:7); the sort by a hidden column is on screen (issue 10)."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = screen_text(app)
        assert "llama3.1:70b" in screen and "llama3.1:8b" in screen
        assert "orchest…" in screen and "qwen2.5-cod…" in screen
        for cut in ("llama3.1:7 ", "llama3.1:8 ", "orchestr ", "qwen2.5-co "):
            assert cut not in screen
        await pilot.press("o", "o")  # time → score → latency, a column 80 does not show
        await settle(app, pilot)
        assert "Latency" not in screen_text(app)
        assert "sort latency" in status(app)


async def test_status_line_keeps_state_words_and_fits(workspace: Path) -> None:
    """The status line has no empty segment, keeps rows/labelled/sort at 120 and the
    queue state and sort at 80, fits its width, and a judge result shown there goes
    on the next key (issue 10)."""
    from types import SimpleNamespace

    for size in ((220, 40), (120, 40), (80, 24)):
        app = JarvisApp(workspace)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            pane = app.query_one(TracesPane)
            await pilot.press("Q")
            await settle(app, pilot)
            line = status(app)
            assert "·  ·" not in line and not line.rstrip().endswith("·")
            # queue order is the sort: the status says so, not "sort time ↓"
            assert "queue order (Q)" in line and "sort time" not in line and "queued" in line
            assert len(line.rstrip()) <= size[0]
            if size[0] >= 120:  # the queue asks for scores: it counts rated traces
                assert "rated 0 of" in line and "labelled" not in line
            run = SimpleNamespace(model="judge-x", scored=0, errors=489, skipped=0,
                                  cancelled=False, first_error="")  # fmt: skip
            pane.post_message(TracesPane.JudgeProgress(489, 489, 489, run))
            await settle(app, pilot)
            line = status(app)
            assert "sort time" not in line and "queue order (Q)" in line
            if size[0] >= 120:
                assert "judge judge-x: 0 scored, 489 missing" in line
            assert line.index("queue order") < line.index("queued")
            await pilot.press("j")
            await settle(app, pilot)
            assert "judge judge-x" not in status(app)


async def test_filter_summary_shortens_by_priority_with_an_ellipsis(workspace: Path) -> None:
    """Five filters on, more than the row holds: the most important (unlabelled, the
    model, at 120 the agent too) show whole, the summary ends in "…" and fits its
    row (issue 10)."""
    from jarvis_tui.traces import TraceFilter

    flt = TraceFilter(agent="orchestrator", model="qwen2.5-coder:7b", query_class="code",
                      outcome="failure", labelled=False)  # fmt: skip
    for size in ((120, 40), (80, 24)):
        app = JarvisApp(workspace)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            app.query_one(TracesPane).show_filter(flt)
            await settle(app, pilot)
            head = "F filters: " if size[0] == 120 else "F: "  # short where room is short
            row = next(ln for ln in screen_text(app).splitlines() if head in ln)
            summary = row[row.index(head) :].rstrip()
            assert len(row.rstrip()) <= size[0]
            assert f"{head}unlabelled · model qwen2.5-coder:7b" in summary
            assert summary.endswith("…") and "outcome failure" not in summary
            assert ("agent orchestrator" in summary) == (size[0] == 120)


async def test_a_choice_in_the_filter_bar_applies_and_goes_back_to_the_list(
    workspace: Path,
) -> None:
    """F, enter on an agent: it applies and the focus is back on the table (NAV, j moves
    the cursor, the bar closes); F comes back to that picker, tab to the model, enter on
    one: both filters apply (walkthrough W2 26: the focus stayed in the bar, EDIT)."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("F")
        await settle(app, pilot)
        assert app.focused is app.query_one("#f-agent", Select)
        await pilot.press("enter", "down", "down", "enter")  # first agent
        await settle(app, pilot)
        assert "F filters: agent" in str(app.query_one("#filter-summary", Static).render())
        assert isinstance(app.focused, TraceTable)
        assert str(app.query_one("#mode", Static).render()).strip() == "NAV"
        assert not app.query_one("#filter-bar").display
        await pilot.press("j")
        await settle(app, pilot)
        assert pane.cursor_position == 1
        await pilot.press("F")  # back into the bar, at the picker last used
        await settle(app, pilot)
        assert app.focused is app.query_one("#f-agent", Select)
        await pilot.press("tab", "enter", "down", "down", "enter")  # first model
        await settle(app, pilot)
        summary = str(app.query_one("#filter-summary", Static).render())
        assert "agent" in summary and "model" in summary and "(filtered;" in status(app)
        assert isinstance(app.focused, TraceTable) and not app.query_one("#filter-bar").display
        await pilot.press("F")
        await settle(app, pilot)
        assert app.focused is app.query_one("#f-model", Select)
        await pilot.press("space", "enter")  # the same model again: back to the list too
        await settle(app, pilot)
        assert isinstance(app.focused, TraceTable)
        assert "model" in str(app.query_one("#filter-summary", Static).render())


async def test_facets_start_after_the_first_rows_and_pickers_say_counting(
    workspace: Path, monkeypatch
) -> None:
    """The facets (every agent and model, a scan of the whole store) start only once the
    first rows are on screen; until they answer the pickers say "counting…" (issue 15)."""
    import threading

    from jarvis_tui.ui.testing import wait_until

    calls: list[str] = []
    release = threading.Event()
    page, facets = TraceStore.page, TraceStore.facets

    def slow_facets(self):
        calls.append("facets")
        release.wait(60)
        return facets(self)

    def counted_page(self, *args, **kwargs):
        calls.append("page")
        return page(self, *args, **kwargs)

    monkeypatch.setattr(TraceStore, "facets", slow_facets)
    monkeypatch.setattr(TraceStore, "page", counted_page)
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "facets" in calls, what="the facets asked")
        assert calls.index("page") < calls.index("facets")
        assert "rows 1–" in status(app)
        await pilot.press("F")
        await pilot.pause()
        bar = [ln for ln in screen_text(app).splitlines() if "outcome" in ln][0]
        assert bar.count("counting…") == 2 and "agent" not in bar
        release.set()
        await settle(app, pilot)
        bar = [ln for ln in screen_text(app).splitlines() if "outcome" in ln][0]
        assert "counting…" not in bar and "agent" in bar and "model" in bar


async def test_palette_lists_the_traces_entries_that_apply_in_order(workspace: Path) -> None:
    """The Traces pane's palette entries, through the pane contract: in their order, and
    only those that apply now (undo once there is a label, stop the judge only while it
    runs) (issue 11)."""
    scores = [f"score {d / 10:.1f}" for d in range(11)]
    sorts = ["sort by time", "sort by score", "sort by latency", "sort by tokens"]
    expected = ["search", "filters", "clear filters", *scores, "mark success",
                "mark failure", "clear label", "undo last label", "edit note", "open trace",
                *sorts, "reverse sort", "toggle auto-advance", "toggle detail panel",
                "refresh", "show unlabelled only", "queue order", "run the judge",
                "run the judge on another endpoint", "accept judge score",
                "judge agreement", "copy trace", "export labels…"]  # fmt: skip

    def titles(app: JarvisApp) -> list[str]:
        return [
            c.title.removeprefix("traces: ")
            for c in app.get_system_commands(app.screen)
            if c.title.startswith("traces: ")
        ]

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert titles(app) == [t for t in expected if t != "undo last label"]
        await pilot.press("5")
        await settle(app, pilot)
        assert titles(app) == expected


# ------------------------------------------------------------ issue 10: a new user's findings


async def test_one_label_a_minute_is_singular(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "0 labels/min" in status(app)
        await pilot.press("7")
        await settle(app, pilot)
        assert "1 label/min" in status(app) and "1 labels/min" not in status(app)
        await pilot.press("8")
        await settle(app, pilot)
        assert "2 labels/min" in status(app)


async def test_d_shows_the_detail_panel_on_a_short_terminal(workspace: Path) -> None:
    """80x24: the panel starts hidden (no room), d shows it below the table and hides it
    again; the status line counts the rows the table shows each time."""
    app = JarvisApp(workspace)

    def rows_on_screen() -> int:
        lines = screen_text(app).splitlines()
        return sum(1 for line in lines if line.startswith("▌") and not line.startswith("▌Time"))

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        tid = pane.current_trace_id
        assert f"{tid}" not in screen_text(app)  # the trace id shows in the panel only
        full = rows_on_screen()
        assert f"rows 1–{full} of 401" in status(app)
        await pilot.press("d")
        await settle(app, pilot)
        assert tid in screen_text(app)
        assert app.query_one(TraceDetail).region.height >= 5
        shown = rows_on_screen()
        assert shown < full and f"rows 1–{shown} of 401" in status(app)
        await pilot.press("d")
        await settle(app, pilot)
        assert tid not in screen_text(app)
        assert f"rows 1–{full} of 401" in status(app)


async def test_query_column_takes_the_free_width_at_80_columns(workspace: Path) -> None:
    """The compact table (no latency / tokens) gives their width to the query: the
    row ends near the right edge, no blank band of ten columns."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        header = next(line for line in screen_text(app).splitlines() if "Query" in line)
        assert "Latency" not in header
        assert len(header.rstrip()) >= 80 - 4, header


async def test_row_count_follows_the_filter_bar_closing(workspace: Path) -> None:
    """F, a filter, escape: the bar closes, the table grows a row and "rows 1–N"
    counts it (it said one row less)."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pilot.press("F")
        await settle(app, pilot)
        pane.query_one("#f-agent", Select).value = "react"
        pane.query_one("#f-labelled", Select).value = "unlabelled"
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        lines = screen_text(app).splitlines()
        shown = sum(1 for line in lines if line.startswith("▌") and "react" in line)
        assert shown > 10 and f"rows 1–{shown} of " in status(app), status(app)


async def test_a_search_that_matches_nothing_says_so_and_how_to_clear_it(
    workspace: Path,
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.press(*'"refund [bold]')
        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "No trace matches this search" in text
        assert '"refund [bold]' in text  # literally, never as markup
        assert "Escape clears the search" in text
        await pilot.press("escape")
        await settle(app, pilot)
        assert "No trace matches" not in screen_text(app)
        assert "of 401" in status(app)


async def test_full_view_lists_the_newest_label_first_and_says_how_many_more(
    workspace: Path,
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        view = app.screen
        for key in ("1", "2", "3", "4", "5", "6", "y"):
            await pilot.press(key)
            await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        await pilot.press(*"checked ")
        app.screen.query_one("#note-input").insert("a long note " * 30)  # wider than the box
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is view
        await pilot.pause()
        text = screen_text(app)
        assert "note checked a long note" in text
        assert "label history (8, newest first)" in text
        assert "note: (none) → checked a long" in text  # the newest change, on screen
        assert "outcome: (none) → success" in text and "0.50 → 0.60" in text
        assert "… 5 older not shown" in text


async def test_an_outcome_alone_counts_as_labelled(workspace: Path) -> None:
    """The store counts a score or an outcome as labelled; so do the status line and
    the unlabelled filter."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pick_filters(app, pilot, labelled="unlabelled")
        assert "labelled 0 of 201" in status(app)
        tid = pane.current_trace_id
        await pilot.press("y")
        await settle(app, pilot)
        assert "labelled 1 of 201" in status(app)
        await pilot.press("r")  # re-read: the trace left the unlabelled filter
        await settle(app, pilot)
        assert tid not in [r.trace_id for r in pane.rows]
        assert "labelled 0 of 200" in status(app)
        assert all(r.outcome is None and r.feedback is None for r in pane.rows)


# --------------------------------------------------------------------------- the big table


async def test_the_scrollbar_is_the_position_in_the_store(workspace: Path) -> None:
    """The table spans all 401 traces though one page is read; a jump (the scrollbar
    dragged) reads the page at that position and nothing between."""
    store = TraceStore(workspace / "traces.db")
    try:
        order = [r.trace_id for r in store.page(limit=1_000).rows]
    finally:
        store.close()
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        table = app.query_one("#trace-table", TraceTable)
        on_screen = table.scrollable_content_region.height - 1  # rows under the header
        assert len(pane.rows) == 100 and table.max_scroll_y == 401 - on_screen
        table.scroll_to(y=250, animate=False, immediate=True)
        await settle(app, pilot)
        first, last = table.visible_rows()
        assert first == 250 and f"rows 251–{last + 1} of 401" in status(app)
        assert pane.rows_offset > 100 and len(pane.rows) <= 200  # rows 100-249 never read
        shown = [pane.rows[i - pane.rows_offset].trace_id for i in range(first, last + 1)]
        assert shown == order[first : last + 1]
        lines = screen_text(app).splitlines()
        header = next(i for i, line in enumerate(lines) if "Time" in line and "Query" in line)
        assert pane.rows[first - pane.rows_offset].snippet[:20] in lines[header + 1]


async def test_the_cursor_keeps_its_trace_deep_in_the_store_when_new_ones_arrive(
    workspace: Path,
) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.poll_store()
        await settle(app, pilot)
        for _ in range(6):  # past the first page
            await pilot.press("pagedown")
            await settle(app, pilot)
        tid, position = pane.current_trace_id, pane.cursor_position
        assert tid is not None and position is not None and position > 100
        other = TraceStore(workspace / "traces.db")
        other.save_many(make_traces(25, seed=2, start=1_790_000_000.0))
        other.close()
        pane.poll_store()
        await settle(app, pilot)
        assert "of 426" in status(app)
        assert pane.current_trace_id == tid and pane.cursor_position == position + 25
        assert pane.rows[position + 25 - pane.rows_offset].trace_id == tid
