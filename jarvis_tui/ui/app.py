"""JarvisApp: one pane per job, switched by single keys and visible tabs."""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import constants, events, on, work
from textual._files import generate_datetime_filename  # Textual's own screenshot names
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal
from textual.content import Content
from textual.dom import DOMNode
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import (
    Header,
    Input,
    Select,
    Static,
    TabbedContent,
    TabPane,
)
from textual.worker import Worker, WorkerState
from textual.worker_manager import WorkerManager

from jarvis_tui.paths import atomic_write_text
from jarvis_tui.traces import StoreError, TraceStore
from jarvis_tui.ui.binding_table import BINDINGS as BINDING_TABLE
from jarvis_tui.ui.css_cache import CssCache
from jarvis_tui.ui.errorlog import ErrorLog
from jarvis_tui.ui.panes.base import Pane
from jarvis_tui.ui.screens.help import HelpScreen
from jarvis_tui.ui.settings import load_settings, save_theme
from jarvis_tui.ui.text import one_line
from jarvis_tui.ui.textual_fixes import apply as apply_textual_fixes
from jarvis_tui.ui.widgets.footer import KeyFooter
from jarvis_tui.workspace import Workspace, WorkspaceError, WorkspaceSession

if TYPE_CHECKING:  # the pane modules are imported when a pane is first needed
    from jarvis_tui.ui.panes.routing import RoutingPane


def _styles_dir() -> Path:
    """``styles/`` inside the installed wheel, else the repo's top-level folder."""
    here = Path(__file__).resolve().parent.parent  # jarvis_tui/
    for candidate in (here / "styles", here.parent / "styles"):
        if (candidate / "global.tcss").is_file():
            return candidate
    return here / "styles"


STYLES_DIR = _styles_dir()

apply_textual_fixes()  # before any widget is rendered (jarvis_tui.ui.textual_fixes)

FIRST_FREEZE_S = 5.0
"""The latest the first collect-and-freeze waits for the first rows (see on_mount)."""

MODAL_TOAST_SECONDS = 3.0
"""How long a toast stays over a dialog that has no notice line of its own."""

PANES: tuple[tuple[str, str, str], ...] = (
    # (id, title, key)
    ("traces", "Traces", "T"),
    ("routing", "Routing", "R"),
    ("configs", "Configs", "C"),
    ("training", "Training", "L"),
    ("trials", "Trials", "P"),
)

INITIAL_PANE = "traces"
"""The pane on screen at start: the only one built before the first paint."""

PANE_CLASSES: dict[str, tuple[str, str]] = {
    "traces": ("jarvis_tui.ui.panes.traces", "TracesPane"),
    "routing": ("jarvis_tui.ui.panes.routing", "RoutingPane"),
    "configs": ("jarvis_tui.ui.panes.configs", "ConfigsPane"),
    "training": ("jarvis_tui.ui.panes.training", "TrainingPane"),
    "trials": ("jarvis_tui.ui.panes.trials", "TrialsPane"),
}
"""Where each pane's class lives; a module is imported when its pane is first needed."""


def pane_class(pane_id: str) -> type[Widget]:
    """The class of pane *pane_id* (importing its module on first use)."""
    module, name = PANE_CLASSES[pane_id]
    cls: type[Widget] = getattr(importlib.import_module(module), name)
    return cls


class StoreOpened(Message):
    """The workspace's trace store is open (migrated if needed)."""

    def __init__(self, store: TraceStore) -> None:
        super().__init__()
        self.store = store


class StoreFailed(Message):
    """The trace store could not be opened; *reason* is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class StoreProgress(Message):
    """First-open indexing progress."""

    def __init__(self, phase: str, done: int, total: int) -> None:
        super().__init__()
        self.phase, self.done, self.total = phase, done, total


class ObservedWorkers(WorkerManager):
    """The app's worker manager, which reports every worker that fails.

    ``Worker.StateChanged`` is posted to the worker's own node and does not bubble,
    so an app-level handler never hears about a pane's workers. Every worker's end
    (success, error or cancel) passes through the manager's done callback instead:
    that one hook covers the workers of every pane and widget, present and future.
    """

    def __init__(self, app: JarvisApp) -> None:
        super().__init__(app)
        self._jarvis = app

    def _remove_worker(self, worker: Worker) -> None:
        super()._remove_worker(worker)
        if worker.state == WorkerState.ERROR and worker.error is not None:
            self._jarvis.worker_failed(worker)


class AppScreen(Screen[None]):
    """The app's screen: Textual's default one, but shown the first time without styling
    every widget again.

    Textual restyles a whole screen each time it is shown (``ScreenResume``), for the
    style changes made while it was hidden; the first time is right after each widget
    was styled as it was mounted, so that pass redoes the same work for nothing before
    the first frame. Later resumes (after a modal closes, say) restyle as usual.
    """

    _shown = False

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Called before Screen's own handler of the event (Textual calls each class's).
        if not self._shown:
            self._shown = True
            event.refresh_styles = False


class JarvisApp(App[int]):
    """The jarvis-tui application over one workspace."""

    TITLE = "jarvis-tui"
    CSS_PATH = [STYLES_DIR / "global.tcss", STYLES_DIR / f"{INITIAL_PANE}.tcss"]
    """What the first frame needs; every other pane's ``<pane id>.tcss`` is read when
    the pane is made (:meth:`pane`), as Textual reads a screen's ``CSS_PATH`` when it is
    first pushed. Styles a pane's modals share (``ConfirmScreen``) live in global.tcss."""
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        *(
            Binding(key, f"show_pane('{pid}')", title, id=f"app.pane.{pid}", key_display=key)
            for pid, title, key in PANES
        ),
        Binding("right_square_bracket", "next_pane", "Next pane", show=False, id="app.next"),
        Binding("left_square_bracket", "prev_pane", "Prev pane", show=False, id="app.prev"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),  # from modals too
        Binding("escape", "navigate", "Back to navigation", show=False, id="app.escape"),
    ]

    def __init__(
        self, home: Path | str, *, theme: str | None = None, css_cache: CssCache | None = None
    ) -> None:
        super().__init__()
        if css_cache is not None:  # parsed rules kept between starts (run_app's)
            css_cache.install(self.stylesheet)
        self._workers = ObservedWorkers(self)  # reports every failed worker (see the class)
        self.workspace = WorkspaceSession(home)
        """The workspace and its stores, handed to every pane (``Pane.workspace_ready``)."""
        self.store: TraceStore | None = None
        """The open trace store, shared by the panes (None until opened)."""
        self._panes: dict[str, Widget] = {}
        """Every pane made so far, built (mounted) or not, by pane id."""
        self._building: dict[str, list[Callable[[], object]]] = {}
        """Panes being mounted, with what to run once each is ready."""
        self._delivered: set[str] = set()
        """Panes that have been handed the open workspace."""
        self.error_log = ErrorLog(self.workspace.root)
        """Where failed background work is logged with its traceback."""
        self.sub_title = str(self.workspace.root)
        self._theme_given = bool(theme)
        if theme:
            self.theme = theme

    def get_default_screen(self) -> Screen:
        return AppScreen(id="_default")

    def update_styles(self, node: DOMNode, animate: bool = True) -> None:
        """Restyle *node* after a class change, unless it is not mounted yet: Textual
        styles every widget as it is mounted, so restyling one being built (``Input(...,
        compact=True)`` and each ``Select`` toggle a class in their constructor) applied
        the whole stylesheet to it for nothing, a few ms each (bench_forms)."""
        if node is not self and not node.is_attached:
            return
        super().update_styles(node, animate)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with TabbedContent(id="panes", initial=INITIAL_PANE):
            for pid, title, key in PANES:
                with TabPane(f"{title} \\[{key}]", id=pid):
                    # Only the shown pane is built (and its module imported) now, for
                    # the first paint; the others the first time they are shown.
                    if pid == INITIAL_PANE:
                        yield self.pane(pid)
        with Horizontal(id="app-footer"):
            yield Static("NAV", id="mode")
            yield KeyFooter()

    def on_mount(self) -> None:
        self._apply_settings()
        self.watch(self.screen, "focused", self._focus_changed)
        # Not from compose: opened sooner, its StoreOpened can come before the screen's
        # first ScreenResume and change which widget has the focus at start.
        self._open_store()
        # The first freeze waits for the first rows (first_rows_shown): run after the
        # first frame it took 12-20 ms of the main thread before the rows came (issue
        # 15). Without rows to wait for (a store that fails), at once; at the latest
        # after FIRST_FREEZE_S, so the GC is never left off.
        self.set_timer(FIRST_FREEZE_S, self.first_rows_shown)

    def first_rows_shown(self) -> None:
        """The Traces pane has put its first rows (or none) in the table: once they are
        painted, the first collect-and-freeze and the GC back on (once). Two refreshes
        on: the status line's "rows 1–N" is set after the refresh that lays the rows
        out, and painted in the next."""
        if not self._first_freeze_done:
            self._first_freeze_done = True
            self.call_after_refresh(self.call_after_refresh, self._freeze_long_lived)

    _first_freeze_done = False

    @staticmethod
    def _freeze_long_lived() -> None:
        """Exempt what exists now from the cyclic GC (``gc.freeze``): the modules, styles
        and widgets of the panes built so far live as long as the app. A full collection
        then scans what came since, not every object of the process: over ~180,000
        objects each one held the UI (any thread's collection holds the GIL) 130-160 ms,
        every few seconds while a run streamed (bench_ui_lag; measured again 2026-12-01
        with the collections paced between metrics batches, jarvis_tui.ui.gc_pacing:
        max lag 149-347 ms without the freeze, 16-46 ms with it). After the first rows
        and each pane's first build; young garbage is collected first so none is kept.
        The GC is turned on here too: the command that opens the app turns it off until
        the first rows are painted (``cli._open_app``, issue 15)."""
        gc.collect(1)
        gc.freeze()
        gc.enable()

    # ------------------------------------------------------------ settings & mode

    def _apply_settings(self) -> None:
        """The user's keymap and theme; a problem in a file is one notification."""
        # Ids checked against the static table of every class's bindings, not the
        # classes imported so far: a pane not built yet is not imported for it (issue
        # 15). A key another binding of the same scope keeps: reported, default kept.
        settings = load_settings(self.workspace.root, BINDING_TABLE, BINDING_TABLE)
        if settings.keymap:
            self.set_keymap(settings.keymap)
        if settings.theme and not self._theme_given:
            if settings.theme in self.available_themes:
                self.theme = settings.theme
            else:
                settings.problems.append(f"unknown theme {settings.theme!r} in the settings")
        self.settings_problems = list(settings.problems)
        """What the settings files had that was ignored: toasts at start (they go), a
        WARNING line each in the log and the top of the help (``?``), for later."""
        for problem in self.settings_problems:
            self.error_log.note("apply the settings", problem, warning=True)
            self.notify(f"{problem} · ? shows it again", severity="warning", timeout=15,
                        markup=False)  # fmt: skip
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, theme: object) -> None:
        problem = save_theme(self.theme)
        if problem:
            self.notify(problem, severity="warning", markup=False)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A toast, or, while a form is open, a line in the form: a toast at 80x24 lay
        over its fields for 8 s (issue 10). A form says it takes them (``show_notice``)."""
        show = self._notice_line()
        if show is not None:
            text = message
            if markup:
                try:
                    text = Content.from_markup(message).plain
                except Exception:  # not valid markup: shown as it is
                    pass
            show(f"{title}: {text}" if title else text, severity)
            return
        if self.screen_stack and isinstance(self.screen, ModalScreen):
            # over another dialog (a note, the full view, help): briefly
            timeout = min(self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
                          MODAL_TOAST_SECONDS)  # fmt: skip
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _notice_line(self) -> Callable[[str, str], None] | None:
        """Where a notification goes instead of a toast: the open form screen's notice
        line, or that of a form inside a pane while one of its fields has the focus (a
        widget above the focus offers it: ``form_notice_line``, the Training pane's LoRA
        settings). None: a toast."""
        if not self.screen_stack:
            return None
        show = getattr(self.screen, "show_notice", None)
        if callable(show):
            return show
        node = self.screen.focused
        while node is not None:
            offer = getattr(node, "form_notice_line", None)
            if callable(offer):
                return offer()
            node = node.parent  # type: ignore[assignment]
        return None

    def input_mode(self) -> str:
        """NAV, EDIT or SEARCH: what keys do right now (typed into a field or acted on)."""
        focused = self.screen.focused
        if focused is None:
            return "NAV"
        if isinstance(focused, Input) and (focused.id == "search" or focused.has_class("search")):
            return "SEARCH"
        # TextArea (and its document and tree-sitter modules) is imported by the screens
        # that use it (the note editor, the full trace): not before the first paint.
        text_area = getattr(sys.modules.get("textual.widgets._text_area"), "TextArea", None)
        for node in focused.ancestors_with_self:
            if isinstance(node, (Input, Select)):
                return "EDIT"
            if text_area is not None and isinstance(node, text_area):
                return "NAV" if node.read_only else "EDIT"
        return "NAV"

    def _focus_changed(self, _focused: Widget | None = None) -> None:
        mode = self.input_mode()
        try:
            label = self.query_one("#mode", Static)
        except Exception:  # shutting down
            return
        label.update(mode)
        for word in ("NAV", "EDIT", "SEARCH"):
            label.set_class(mode == word, f"-{word.lower()}")

    async def action_quit(self) -> None:
        """ctrl+q: quit, unless a form holds typed input not saved (a note, a reason, a
        form's fields changed: ``unsaved_input()``), which asks first (y discards it and
        quits, n / escape go back to it, a second ctrl+q quits at once), or a pane first
        stops work of its own (a training child finishing its step): it says so on
        screen and ends the app once that is done; a second ctrl+q quits at once (a
        pane's ``hold_quit()``: TrainingPane)."""
        from jarvis_tui.ui.screens.quit_unsaved import QuitUnsavedScreen, unsaved_input

        if isinstance(self.screen, QuitUnsavedScreen):  # ctrl+q again in the question
            self.screen.dismiss(True)
            return
        unsaved = unsaved_input(self.screen_stack)
        if unsaved is not None:

            def answered(discard: bool | None) -> None:
                if discard:
                    self._quit_unless_held()

            self.push_screen(QuitUnsavedScreen(*unsaved), answered)
            return
        self._quit_unless_held()

    def exit(self, *args: Any, **kwargs: Any) -> None:
        """End the app, noting which thread workers were still busy (:attr:`busy_at_exit`):
        quitting waits for them a moment only, then names the ones it abandoned."""
        self.busy_at_exit: list[str | None] = [
            w.group for w in self.workers
            if w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            and getattr(w, "_thread_worker", True)
        ]  # fmt: skip
        super().exit(*args, **kwargs)

    def _quit_unless_held(self) -> None:
        panes = [p for p in self._panes.values() if p.is_mounted and hasattr(p, "hold_quit")]
        holding = [p.hold_quit() for p in panes]  # every one is asked
        if not any(holding):
            self.exit()

    def action_navigate(self) -> None:
        """Escape: leave any field (or nothing focused) for the pane's main table."""
        if isinstance(self.screen, ModalScreen):
            return
        pid = self.active_pane_id()
        pane = self._panes.get(pid or "")
        if pane is not None and pane.is_mounted:
            self._focus_pane(pane)

    def action_command_palette(self) -> None:
        """ctrl+p: Textual's palette, whose enter waits for the search it follows."""
        from jarvis_tui.ui.screens.palette import JarvisPalette

        if self.use_command_palette and not isinstance(self.screen, CommandPalette):
            self.push_screen(JarvisPalette(id="--command-palette"))

    @on(CommandPalette.Closed)
    def _palette_closed(self) -> None:
        # A command may leave nothing focused (or the palette may have been opened
        # with nothing focused): give the keys back to the pane so j/k work.
        self.call_after_refresh(self._ensure_focus)

    def _ensure_focus(self) -> None:
        if not isinstance(self.screen, ModalScreen) and self.screen.focused is None:
            self.action_navigate()

    # ------------------------------------------------------------ store

    @work(thread=True, exclusive=True, exit_on_error=False, group="store", description="open store")
    def _open_store(self) -> None:
        def progress(phase: str, done: int, total: int) -> None:
            self.post_message(StoreProgress(phase, done, total))

        try:
            store = self.workspace.open_traces(progress=progress)
        except WorkspaceError as exc:
            self.post_message(StoreFailed(str(exc)))
            return
        self.post_message(StoreOpened(store))

    @on(StoreOpened)
    def _store_opened(self, event: StoreOpened) -> None:
        self.store = event.store
        for pane in list(self._panes.values()):
            if pane.is_mounted:
                self._deliver(pane)

    def _deliver(self, pane: Widget) -> None:
        """Hand the open workspace to *pane* (once; only when it is built)."""
        pid = self._pane_id(pane)
        if pid in self._delivered or self.store is None or not self.workspace.traces_open:
            return
        self._delivered.add(pid)
        if isinstance(pane, Pane):  # every pane keeps the contract
            pane.workspace_ready(self.workspace)

    @staticmethod
    def _pane_id(pane: Widget) -> str:
        return (pane.id or "").removesuffix("-pane")

    # Pane messages are handled by name (``on_<pane class>_<message>``), so that the
    # app need not import a pane's module before the pane is first shown.

    def on_traces_pane_labelled(self) -> None:
        self._routing_stale()

    def on_traces_pane_store_changed(self) -> None:
        self._routing_stale()

    def _routing_stale(self) -> None:
        routing = self._panes.get("routing")
        if routing is not None:
            routing.mark_stale()  # type: ignore[attr-defined]

    def on_trials_pane_promoted(self) -> None:
        configs = self._panes.get("configs")
        if configs is not None and configs.is_mounted and getattr(configs, "_loaded", False):
            configs.action_refresh()  # type: ignore[attr-defined]

    def on_routing_pane_drill_down(self, event: RoutingPane.DrillDown) -> None:
        self.action_show_pane("traces")
        traces = self.pane("traces")
        if getattr(event, "queue", False):
            traces.show_queue(event.filter.query_class, event.filter.model)  # type: ignore[attr-defined]
        else:
            traces.show_filter(event.filter)  # type: ignore[attr-defined]

    @on(TabbedContent.TabActivated, "#panes")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A pane shown by any means (key, click, focus) is built, then loads lazily."""
        pane_id = event.pane.id if event.pane is not None else None
        if not pane_id or pane_id not in PANE_CLASSES:
            return
        pane = self.pane(pane_id)
        if not pane.is_mounted:
            self._build(pane_id)
        else:
            self._shown(pane)

    @on(StoreFailed)
    def _store_failed(self, event: StoreFailed) -> None:
        self.first_rows_shown()  # no rows will come
        self.pane("traces").store_failed(event.reason)  # type: ignore[attr-defined]

    @on(StoreProgress)
    def _store_progress(self, event: StoreProgress) -> None:
        self.pane("traces").store_progress(event.phase, event.done, event.total)  # type: ignore[attr-defined]

    def worker_failed(self, worker: Worker) -> None:
        """The one place worker errors become something the user sees (and the log)."""
        err = worker.error
        assert err is not None
        if self.workspace.closed:
            return  # quitting: close() stopped the reads still running, on purpose
        self.report_failure(worker.description or worker.name or "background work", err)

    def report_failure(self, what: str, error: BaseException, message: str = "") -> None:
        """A failure the user must see: one line (*message*, else "<what> failed: <error>")
        and where its traceback went; the traceback in the error log. The path of a
        worker's error, and of an error a pane caught to say it its own way."""
        if not message:
            known = (StoreError, WorkspaceError, ValueError, OSError)
            msg = str(error) if isinstance(error, known) else repr(error)
            message = f"{one_line(what, 60)} failed: {msg}"
        logged = self.error_log.record(what, error)
        where = f" (details in {logged})" if logged is not None else ""
        self.notify(one_line(message, 300) + where, severity="error", timeout=10, markup=False)

    def on_unmount(self) -> None:
        self.workspace.close()  # every store it opened
        self.error_log.close()
        gc.unfreeze()  # what this app froze can be collected once it is gone

    # ------------------------------------------------------------ panes

    def pane(self, pane_id: str) -> Widget:
        """The pane *pane_id*, built (mounted) or not: made on first use."""
        pane = self._panes.get(pane_id)
        if pane is None:
            self._load_pane_css(pane_id)
            pane = self._panes[pane_id] = pane_class(pane_id)(id=f"{pane_id}-pane")
        return pane

    def _load_pane_css(self, pane_id: str) -> None:
        """Read ``<pane id>.tcss`` into the app's stylesheet once, before the pane is
        mounted (what ``App._load_screen_css`` does for a screen, but with ``parse``:
        the parsed rules of the sources already read are cached, so only the new file
        is parsed, and the selector map is rebuilt). Its rules style only the pane's
        own widgets, which are styled as they mount."""
        path = STYLES_DIR / f"{pane_id}.tcss"
        if self.stylesheet.has_source(str(path.absolute())) or not path.is_file():
            return
        self.stylesheet.read(path)
        self.stylesheet.parse()  # read() alone leaves the old selector map in use
        if self.css_monitor is not None:  # textual run --dev: live-reload it too
            self.css_monitor.add_paths([path])

    def active_pane_id(self) -> str | None:
        """The id of the pane on screen (None before the tabs exist)."""
        try:
            return self.query_one("#panes", TabbedContent).active or None
        except Exception:
            return None

    def action_show_pane(self, pane_id: str) -> None:
        self.show_pane(pane_id)

    def show_pane(self, pane_id: str, then: Callable[[], object] | None = None) -> None:
        """Show *pane_id* and give it the keys; *then* runs once the pane is ready
        (at once when it is built, else when its first build is done)."""
        tabs = self.query_one("#panes", TabbedContent)
        # Drop focus first: a focused widget inside the old pane would pull the
        # TabbedContent straight back to it.
        self.screen.set_focus(None)
        tabs.active = pane_id
        pane = self.pane(pane_id)
        if not pane.is_mounted:
            self._build(pane_id, then)
            return
        self._focus_pane(pane)
        self._shown(pane)
        if then is not None:
            then()

    def _focus_pane(self, pane: Widget) -> None:
        focus = getattr(pane, "focus_default", None)
        if callable(focus):
            focus()

    def _shown(self, pane: Widget) -> None:
        shown = pane.on_shown if isinstance(pane, Pane) else getattr(pane, "pane_shown", None)
        if callable(shown):
            shown()

    def _build(self, pane_id: str, then: Callable[[], object] | None = None) -> None:
        """Mount pane *pane_id* into its tab (once), then hand it the workspace, focus
        it if it is on screen, and run what waited for it."""
        waiting = self._building.get(pane_id)
        if waiting is not None:
            if then is not None:
                waiting.append(then)
            return
        self._building[pane_id] = [then] if then is not None else []
        pane = self.pane(pane_id)
        mounted = self.query_one(f"#{pane_id}", TabPane).mount(pane)

        async def ready() -> None:
            await mounted
            callbacks = self._building.pop(pane_id, [])
            self._deliver(pane)
            self.call_after_refresh(self._freeze_long_lived)
            if self.active_pane_id() == pane_id and not isinstance(self.screen, ModalScreen):
                self._focus_pane(pane)
                self._shown(pane)
            for callback in callbacks:
                callback()

        self.call_later(ready)

    def _cycle(self, step: int) -> None:
        ids = [p[0] for p in PANES]
        tabs = self.query_one("#panes", TabbedContent)
        idx = ids.index(tabs.active) if tabs.active in ids else 0
        self.action_show_pane(ids[(idx + step) % len(ids)])

    def action_next_pane(self) -> None:
        self._cycle(1)

    def action_prev_pane(self) -> None:
        self._cycle(-1)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(
            HelpScreen(
                *self.help_for_pane(),
                settings=getattr(self, "settings_problems", ()),
                settings_log=str(self.error_log.path or "") or None,
            )
        )

    @property
    def screenshots_dir(self) -> Path:
        """Where the palette's "Screenshot" saves: ``<workspace>/screenshots``."""
        return self.workspace.root / "screenshots"

    def save_screen_picture(self) -> Path | None:
        """Save the screen as SVG in :attr:`screenshots_dir`; say where, or why not."""
        folder = self.screenshots_dir
        try:
            if folder.is_symlink():
                raise OSError(f"{folder} is a symbolic link (not written through)")
            path = atomic_write_text(
                folder / generate_datetime_filename(self.title, ".svg"), self.export_screenshot()
            )
        except OSError as exc:
            reason = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else exc
            self.notify(
                one_line(f"Screenshot not saved: {reason}", 400),
                title="Screenshot", severity="error", timeout=10, markup=False,
            )  # fmt: skip
            return None
        self.notify(one_line(f"Saved screenshot to {path}", 400), title="Screenshot", markup=False)
        return path

    def help_for_pane(self) -> tuple[str, str, list[tuple[str, str]]]:
        """(title, intro, rows) of the current pane's help: its keys as mapped now.

        The keys come from the focused widget's binding chain with the user's
        keymap applied; the app's own keys are in "Keys everywhere". Only actions the
        app binds itself (a binding with an id) are listed, each once: what Textual's
        widgets bind on their own (DataTable's ctrl+pgup "Page Left", home, end; a
        scroll view's arrows) is left out, though a key of theirs for an action of ours
        (↓ beside j) is shown with it.
        """
        pane = self.pane(self.active_pane_id() or INITIAL_PANE)
        active = self.screen.active_bindings
        grouped: dict[tuple[int, str], tuple[list[str], Binding, DOMNode]] = {}
        ours: set[tuple[int, str]] = set()
        for node, bindings in self.screen._binding_chain:  # keymap applied (Textual)
            if node is self or node is self.screen:
                continue
            for _key, binding in bindings:
                if not binding.description:
                    continue
                group = (id(node), binding.action)
                entry = grouped.setdefault(group, ([], binding, node))
                if binding.id and group not in ours:  # our description, not Textual's
                    ours.add(group)
                    grouped[group] = entry = (entry[0], binding, node)
                shown = binding.key_display or self.get_key_display(binding)
                if shown not in entry[0]:
                    entry[0].append(shown)
        rows: list[tuple[str, str]] = []
        seen: set[str] = set()
        for (node_id, action), (keys, binding, node) in grouped.items():
            if (node_id, action) not in ours or action in seen:
                continue  # a widget's own binding, or shadowed lower in the chain
            seen.add(action)
            usable = any(
                now.binding.action == action and now.node is node and now.enabled
                for now in active.values()
            )
            if not usable and not any(
                now.binding.action == action and now.node is node for now in active.values()
            ):  # its key is taken lower in the chain (the focused table's own enter, whose
                # row-selected message the pane acts on): the pane says if it applies
                usable = _check_action(node, action)
            # A binding's tooltip says what its short description cannot (p: what a
            # paused run does): on the help row too, not only when hovering the footer.
            tip = binding.tooltip
            what = binding.description + (f": {tip[:1].lower()}{tip[1:]}" if tip else "")
            rows.append((" ".join(keys), what + ("" if usable else " (not available now)")))
        title, intro = getattr(pane, "HELP_TITLE", "jarvis-tui"), getattr(pane, "HELP_TEXT", "")
        return title, intro, rows

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title == "Keys":
                # Textual's keys panel docks beside the pane, escape does not close it
                # and it cuts the tab bar: our help (?) lists the same keys, in a modal.
                command = SystemCommand("Keys", "Every key of the current pane (?)",
                                        self.action_help)  # fmt: skip
            if command.title == "Screenshot":
                # Textual's saves to ~/Downloads and, when that is missing, says only
                # "Failed to save screenshot": ours goes into the workspace.
                command = SystemCommand(
                    "Screenshot",
                    f"Save an SVG picture of the screen in {self.screenshots_dir}",
                    lambda: self.set_timer(0.1, self.save_screen_picture),
                )  # the timer lets the palette close first, as Textual's does
            yield command
        for pid, title, key in PANES:
            yield SystemCommand(
                f"go: {title.lower()}", f"Show the {title} pane ({key})",
                lambda pid=pid: self.action_show_pane(pid),
            )  # fmt: skip
        yield SystemCommand("help: keys", "Every key of the current pane", self.action_help)
        if not self._panes:  # not composed yet
            return
        # Every pane's entries, built or not (an unbuilt pane is made, not mounted).
        for pid, _title, _key in PANES:
            pane = self.pane(pid)
            if isinstance(pane, Pane):
                yield from pane.palette_commands()


def precheck(home: Path | str) -> str | None:
    """Why the app cannot open *home* (one line for the user), or None when it can.

    A workspace that does not exist yet is fine (the app starts empty); a path that
    is not a directory, or a trace store that is not one (or is locked, or newer),
    is refused before any screen is drawn.
    """
    ws = Workspace.at(home)
    if ws.root.exists() and not ws.root.is_dir():
        return f"{ws.root} is not a directory"
    if ws.traces_db.exists():
        session = WorkspaceSession(ws)
        try:
            session.open_traces(migrate=False)
        except WorkspaceError as exc:
            return str(exc)
        finally:
            session.close()
    return None


def terminal_problem() -> str | None:
    """Why the app cannot draw here (one line for the user), or None when it can.

    Textual's terminal driver reads keys from standard input and draws on standard error
    (standard output on Windows). Without a terminal there, the app is invisible, and
    with standard input at its end (a pipe, ``/dev/null``, a script or a CI job) its
    input thread spins on the closed input at 100% CPU until it is killed. A driver set
    in ``TEXTUAL_DRIVER`` (textual-serve's web driver, say) brings its own input and
    output and is not asked."""
    if constants.DRIVER:
        return None
    windows = sys.platform == "win32"
    draws = ("standard output", sys.__stdout__) if windows else ("standard error", sys.__stderr__)
    for name, stream in (("standard input", sys.__stdin__), draws):
        try:
            tty = stream is not None and stream.isatty()
        except (ValueError, OSError):  # closed
            tty = False
        if not tty:
            return f"the app needs a terminal, and {name} is not one"
    return None


def run_app(home: Path | str, *, theme: str | None = None) -> int:
    """Open the app on *home*; refuse up front (one line on stderr) if the store is bad
    or there is no terminal to draw on."""
    problem = precheck(home)
    no_terminal = terminal_problem() if problem is None else None
    if no_terminal is not None:
        import shlex

        where = shlex.quote(str(Workspace.at(home).root.absolute()))
        problem = (f"{no_terminal}: run jarvis-tui --home {where} in one (the headless "
                   "commands are in jarvis-tui --help)")  # fmt: skip
    if problem is not None:
        from jarvis_tui.ui.text import plain  # a foreign store's table names are data

        print(f"jarvis-tui: error: {plain(problem, 2000)}", file=sys.stderr)
        return 1  # the status of every error (tests/test_cli_leftovers.py)
    css_cache = CssCache()
    app = JarvisApp(Workspace.at(home).root, theme=theme, css_cache=css_cache)
    loop = asyncio.new_event_loop()  # its own: closed here, not waiting on busy threads
    workers = WorkerThreads()
    loop.set_default_executor(workers)  # where Textual runs thread workers
    result = app.run(loop=loop)
    css_cache.save()  # what this start parsed, for the next (only if it added any)
    note = getattr(app, "exit_note", None)  # what ctrl+q did to a run (TrainingPane)
    if note:
        print(note)
    code = int(result or 0)
    if not workers.finish(QUIT_JOIN_S):
        # Work still running in a thread (a trial being measured in this process) kept
        # the process alive, blank, for minutes after ctrl+q (walkthrough 43): it is
        # abandoned, said on the terminal; a run it belonged to is left interrupted.
        print(f"jarvis-tui: {abandoned_words(getattr(app, 'busy_at_exit', []))}",
              file=sys.stderr)  # fmt: skip
        import logging
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    loop.close()
    return code


def _check_action(node: DOMNode, action: str) -> bool:
    """Whether *node* would run *action* now (its ``check_action``, True when it has no
    opinion); False for an action string it cannot parse."""
    from textual.actions import ActionError, parse

    try:
        _namespace, name, params = parse(action)
    except ActionError:
        return False
    return node.check_action(name, params) is True


BUSY_WORDS = {
    "trials.measure": "a trial being measured",
    "trials.samples": "a trial's samples being read",
    "traces.judge": "the judge scoring traces",
    "traces.export": "a labels export",
    "trials.export": "a recipe export",
    "routing.cycle": "a learning cycle",
    "configs.write": "an agent config being written",
    "configs.evolve": "the evolver",
    "training.eval": "an evaluation being read",
}
"""What a busy thread worker's group was doing, in the words quitting uses."""


def abandoned_words(groups: Iterable[str | None]) -> str:
    """The line quitting prints when thread workers were still busy after the join
    timeout: what each was doing (walkthrough W3 48: it said "a trial being measured"
    for any pane's background read), and how a measured run goes on."""
    groups = list(groups)
    seen: list[str] = []
    for group in groups:
        pane, _, verb = (group or "").partition(".")
        words = BUSY_WORDS.get(group or "") or (
            f"{pane} pane: {verb.replace('_', ' ')}" if verb else "background work"
        )
        if words not in seen:
            seen.append(words)
    what = ", ".join(seen) if seen else "background work"
    line = f"quit while work was still running in the app ({what}): abandoned"
    if "trials.measure" in groups or "trials.samples" in groups:
        line += "; an optimization run continues with `c` in Trials or `jarvis-tui optimize --resume RUN`"
    return line


QUIT_JOIN_S = 2.0
"""How long quitting waits for the app's worker threads to end before it abandons them."""


class WorkerThreads(ThreadPoolExecutor):
    """The app loop's default executor (Textual's thread workers run there), which
    knows whether any is still busy: :meth:`finish` waits for them a moment only, where
    Textual's own ``run()`` waits however long they take."""

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="jarvis-worker")
        self._busy = 0
        self._changed = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()

        with self._changed:
            self._busy += 1
        try:
            return super().submit(run)
        except BaseException:
            with self._changed:
                self._busy -= 1
            raise

    def finish(self, timeout: float) -> bool:
        """True once no task runs (the threads are then shut down); False when some
        still run after *timeout* seconds (nothing more is started)."""
        with self._changed:
            idle = self._changed.wait_for(lambda: self._busy == 0, timeout)
        self.shutdown(wait=idle, cancel_futures=True)
        return idle
