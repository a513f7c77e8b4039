"""ctrl+q over a form with typed, unsaved input asks first (walkthrough finding W23).

It exited at once and the typed note was lost, while escape in the same editor asked.
Now: y discards and quits, n / escape go back to editing with the text intact, a second
ctrl+q quits at once; a form whose fields hold what it opened with quits at once.
"""

from __future__ import annotations

from pathlib import Path

from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import settle
from tests.ui.test_traces_pane import screen_text


def _note(home: Path, tid: str):
    store = TraceStore(home / "traces.db")
    try:
        return store.note(tid)
    finally:
        store.close()


async def test_ctrl_q_with_a_typed_note_asks_and_y_quits_without_saving(workspace: Path) -> None:
    from jarvis_tui.ui.screens.trace_screens import NoteScreen

    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tid = app.query_one(TracesPane).current_trace_id
        await pilot.press("e")
        await settle(app, pilot)
        await pilot.press(*"unsaved text", "ctrl+q")
        await settle(app, pilot)
        text = screen_text(app)
        assert app.return_code is None  # nothing exited
        assert "Discard the changes to this note?" in text and "unsaved text" in text
        assert "y: discard it and quit" in text and "n / escape: keep editing" in text
        await pilot.press("n")  # back to editing, the text intact
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        assert app.screen.query_one("#note-input").text == "unsaved text"
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        await pilot.press("escape")  # escape on the question keeps editing too
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen) and app.return_code is None
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert app.return_code == 0
    assert _note(workspace, tid) is None  # discarded, as asked


async def test_a_second_ctrl_q_in_the_question_quits_at_once(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        tid = app.query_one(TracesPane).current_trace_id
        await pilot.press("e")
        await settle(app, pilot)
        await pilot.press(*"half a thought", "ctrl+q")
        await settle(app, pilot)
        assert app.return_code is None
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        assert app.return_code == 0
    assert _note(workspace, tid) is None


async def test_an_untouched_note_quits_at_once(workspace: Path) -> None:
    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        assert app.return_code == 0


async def test_a_form_asks_only_once_a_field_differs_from_what_it_opened_with(
    workspace: Path,
) -> None:
    """The judge form (J): untouched, ctrl+q quits; with a URL typed, it asks and names
    the field and what was typed."""
    from jarvis_tui.ui.screens.forms import ConfigFormScreen

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("J")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)
        await pilot.press(*"http://judge:8000/v1", "ctrl+q")
        await settle(app, pilot)
        text = screen_text(app)
        assert app.return_code is None
        assert "Discard what you typed in this form?" in text
        assert "url: http://judge:8000/v1" in text and "Run the LLM judge" in text
        await pilot.press("n")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)
        await pilot.press(*["backspace"] * len("http://judge:8000/v1"))  # as it opened
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        assert app.return_code == 0


def test_quitting_abandons_a_worker_thread_still_busy_instead_of_hanging() -> None:
    """Walkthrough 43: ctrl+q while a trial was measured in a worker thread left a blank
    terminal for minutes (Textual's run() waits for its threads). The app's loop runs
    them in WorkerThreads: finish() is False for one still busy (run_app then says so
    and exits), True once none is."""
    import asyncio
    import threading

    from jarvis_tui.ui.app import WorkerThreads

    release = threading.Event()
    busy = WorkerThreads()
    loop = asyncio.new_event_loop()
    loop.set_default_executor(busy)
    loop.run_in_executor(None, release.wait)  # a measurement that goes on and on
    try:
        assert busy.finish(0.05) is False
    finally:
        release.set()
        loop.close()
    idle = WorkerThreads()
    assert idle.submit(lambda: 7).result() == 7
    assert idle.finish(5.0) is True


def test_the_abandoned_work_is_named_not_called_a_measured_trial() -> None:
    """W3 48: ctrl+q on a workspace whose panes were still reading printed 'a trial
    being measured … abandoned' with nothing measured; the line names what ran."""
    from jarvis_tui.ui.app import abandoned_words

    line = abandoned_words(["configs.agents", "training.mine", "training.mine"])
    assert "configs pane: agents, training pane: mine" in line
    assert "trial" not in line and "optimize --resume" not in line
    line = abandoned_words(["trials.measure"])
    assert "(a trial being measured): abandoned" in line and "optimize --resume RUN" in line


async def test_exit_notes_the_thread_workers_still_busy(workspace: Path) -> None:
    """What run_app names comes from the workers busy when the app exits."""
    import threading

    from textual import work

    release = threading.Event()
    app = JarvisApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)

        @work(thread=True, group="configs.agents")
        def slow_read(self) -> None:
            release.wait(30)

        slow_read(app.query_one(TracesPane))
        await pilot.pause()
        app.exit()
        release.set()
    assert app.busy_at_exit == ["configs.agents"]
