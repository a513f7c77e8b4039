"""JarvisApp: one pane per job, switched by single keys and visible tabs."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal, VerticalScroll
from textual.dom import DOMNode
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import (
    Footer,
    Header,
    Input,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.worker import Worker, WorkerState
from textual.worker_manager import WorkerManager

from jarvis_tui.paths import Workspace
from jarvis_tui.traces import StoreError, TraceStore
from jarvis_tui.ui.errorlog import ErrorLog
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.panes.routing import RoutingPane
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.panes.trials import TrialsPane
from jarvis_tui.ui.settings import load_settings, save_theme
from jarvis_tui.ui.text import one_line


def _styles_dir() -> Path:
    """``styles/`` inside the installed wheel, else the repo's top-level folder."""
    here = Path(__file__).resolve().parent.parent  # jarvis_tui/
    for candidate in (here / "styles", here.parent / "styles"):
        if (candidate / "global.tcss").is_file():
            return candidate
    return here / "styles"


STYLES_DIR = _styles_dir()

PANES: tuple[tuple[str, str, str], ...] = (
    # (id, title, key)
    ("traces", "Traces", "T"),
    ("routing", "Routing", "R"),
    ("configs", "Configs", "C"),
    ("training", "Training", "L"),
    ("trials", "Trials", "P"),
)


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


KEYS_EVERYWHERE: tuple[tuple[str, str], ...] = (
    ("j k ↑ ↓ g G PgUp PgDn h l", "move (navigation keys never change anything)"),
    ("enter / escape", "open / back to the pane's navigation, close a dialog"),
    ("tab", "next field"),
    ("T R C L P", "Traces, Routing, Configs, Training, Trials pane; [ ] cycle"),
    ("? F1 / ctrl+p / ctrl+q", "this help / command palette (also: theme) / quit"),
    ("/ / F", "search / filter bar"),
    ("y / n", "accept, yes, success / reject, no, failure"),
    ("e / a / A", "edit / add to the queue / toggle auto-advance"),
    ("s / x / p / c", "start / stop, cancel / pause, resume / continue a stopped run"),
    ("r / o O / d", "refresh / cycle the sort, reverse it / detail panel"),
    ("m / w / + / u", "mark / write to a file / promote / undo the last label"),
    ("backspace", "clear the label"),
    ("NAV EDIT SEARCH", "the mode word, bottom left: keys act in NAV, type in EDIT and SEARCH"),
)
"""The app-wide key grammar: one meaning per key in every pane."""


class HelpScreen(ModalScreen[None]):
    """The keys that mean the same everywhere, then every key of the current pane."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, title: str, intro: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._intro = intro
        self._rows = rows
        """The pane's keys (key, what it does), as shown."""

    @staticmethod
    def _table(rows: Iterable[tuple[str, str]]) -> Table:
        table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Action", ratio=1)
        for key, desc in rows:
            table.add_row(Text(key), Text(desc))
        return table

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(
                Text.assemble(
                    (f"Help · {self._title} pane", "bold"),
                    "  ",
                    ("(the keys of every pane, then this pane's own)", "dim"),
                ),
                id="help-where",
            )
            yield Static(Text("Keys everywhere", style="bold"), id="help-everywhere")
            yield Static(self._table(KEYS_EVERYWHERE), id="help-global")
            yield Static(Text(self._title, style="bold"), id="help-title", classes="help-heading")
            yield Static(Text(self._intro), id="help-intro")
            yield Static(self._table(self._rows), id="help-keys")
            yield Static(Text("escape closes this help", style="dim"))

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


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


def binding_ids() -> set[str]:
    """Every binding id the app's classes (panes, widgets, screens) declare."""
    ids: set[str] = set()
    stack: list[type] = [DOMNode]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        for b in cls.__dict__.get("BINDINGS", ()):
            if isinstance(b, Binding) and b.id:
                ids.add(b.id)
    return ids


class JarvisApp(App[int]):
    """The jarvis-tui application over one workspace."""

    TITLE = "jarvis-tui"
    CSS_PATH = [
        STYLES_DIR / "global.tcss",
        STYLES_DIR / "traces.tcss",
        STYLES_DIR / "routing.tcss",
        STYLES_DIR / "configs.tcss",
        STYLES_DIR / "training.tcss",
        STYLES_DIR / "trials.tcss",
    ]
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        *(
            Binding(key, f"show_pane('{pid}')", title, id=f"app.pane.{pid}", key_display=key)
            for pid, title, key in PANES
        ),
        Binding("right_square_bracket", "next_pane", "Next pane", show=False, id="app.next"),
        Binding("left_square_bracket", "prev_pane", "Prev pane", show=False, id="app.prev"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit"),
        Binding("escape", "navigate", "Back to navigation", show=False, id="app.escape"),
    ]

    def __init__(self, home: Path | str, *, theme: str | None = None) -> None:
        super().__init__()
        self._workers = ObservedWorkers(self)  # reports every failed worker (see the class)
        self.workspace = Workspace.at(home)
        self.store: TraceStore | None = None
        """The open trace store, shared by the panes (None until opened)."""
        self.error_log = ErrorLog(self.workspace.root)
        """Where failed background work is logged with its traceback."""
        self.sub_title = str(self.workspace.root)
        self._theme_given = bool(theme)
        if theme:
            self.theme = theme

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with TabbedContent(id="panes", initial="traces"):
            for pid, title, key in PANES:
                with TabPane(f"{title} \\[{key}]", id=pid):
                    if pid == "traces":
                        yield TracesPane(id="traces-pane")
                    elif pid == "routing":
                        yield RoutingPane(id="routing-pane")
                    elif pid == "configs":
                        yield ConfigsPane(id="configs-pane")
                    elif pid == "training":
                        yield TrainingPane(id="training-pane")
                    else:
                        yield TrialsPane(id="trials-pane")
        with Horizontal(id="app-footer"):
            yield Static("NAV", id="mode")
            yield Footer()

    def on_mount(self) -> None:
        self._apply_settings()
        self.watch(self.screen, "focused", self._focus_changed)
        self._open_store()

    # ------------------------------------------------------------ settings & mode

    def _apply_settings(self) -> None:
        """The user's keymap and theme; a problem in a file is one notification."""
        settings = load_settings(self.workspace.root, binding_ids())
        if settings.keymap:
            self.set_keymap(settings.keymap)
        if settings.theme and not self._theme_given:
            if settings.theme in self.available_themes:
                self.theme = settings.theme
            else:
                settings.problems.append(f"unknown theme {settings.theme!r} in the settings")
        for problem in settings.problems:
            self.notify(problem, severity="warning", timeout=10, markup=False)
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, theme: object) -> None:
        problem = save_theme(self.theme)
        if problem:
            self.notify(problem, severity="warning", markup=False)

    def input_mode(self) -> str:
        """NAV, EDIT or SEARCH: what keys do right now (typed into a field or acted on)."""
        focused = self.screen.focused
        if focused is None:
            return "NAV"
        if isinstance(focused, Input) and (focused.id == "search" or focused.has_class("search")):
            return "SEARCH"
        for node in focused.ancestors_with_self:
            if isinstance(node, (Input, Select)):
                return "EDIT"
            if isinstance(node, TextArea):
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

    def action_navigate(self) -> None:
        """Escape: leave any field (or nothing focused) for the pane's main table."""
        if isinstance(self.screen, ModalScreen):
            return
        tabs = self.query_one("#panes", TabbedContent)
        pane = self.query_one(f"#{tabs.active}-pane")
        focus = getattr(pane, "focus_default", None)
        if callable(focus):
            focus()

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
            store = TraceStore(self.workspace.traces_db, progress=progress)
        except StoreError as exc:
            self.post_message(StoreFailed(str(exc)))
            return
        self.post_message(StoreOpened(store))

    @on(StoreOpened)
    def _store_opened(self, event: StoreOpened) -> None:
        self.store = event.store
        self.query_one(TracesPane).store_opened(event.store)
        self.query_one(RoutingPane).store_opened(event.store)
        self.query_one(ConfigsPane).store_opened(event.store, self.workspace.agents_dir)
        self.query_one(TrainingPane).store_opened(event.store, self.workspace)
        self.query_one(TrialsPane).store_opened(event.store, self.workspace)

    @on(TracesPane.Labelled)
    def _labels_changed(self) -> None:
        self.query_one(RoutingPane).mark_stale()

    @on(TracesPane.StoreChanged)
    def _store_changed(self) -> None:
        self.query_one(RoutingPane).mark_stale()

    @on(TrialsPane.Promoted)
    def _promoted(self) -> None:
        configs = self.query_one(ConfigsPane)
        if configs._loaded:
            configs.action_refresh()

    @on(TabbedContent.TabActivated, "#panes")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A pane shown by any means (key, click, focus) loads what it shows lazily."""
        pane_id = event.pane.id if event.pane is not None else None
        if pane_id:
            pane = self.query_one(f"#{pane_id}-pane")
            shown = getattr(pane, "pane_shown", None)
            if callable(shown):
                shown()

    @on(RoutingPane.DrillDown)
    def _drill_down(self, event: RoutingPane.DrillDown) -> None:
        self.action_show_pane("traces")
        if getattr(event, "queue", False):
            self.query_one(TracesPane).show_queue(event.filter.query_class, event.filter.model)
        else:
            self.query_one(TracesPane).show_filter(event.filter)

    @on(StoreFailed)
    def _store_failed(self, event: StoreFailed) -> None:
        self.query_one(TracesPane).store_failed(event.reason)

    @on(StoreProgress)
    def _store_progress(self, event: StoreProgress) -> None:
        self.query_one(TracesPane).store_progress(event.phase, event.done, event.total)

    def worker_failed(self, worker: Worker) -> None:
        """The one place worker errors become something the user sees (and the log)."""
        err = worker.error
        assert err is not None
        what = worker.description or worker.name or "background work"
        msg = str(err) if isinstance(err, (StoreError, ValueError, OSError)) else repr(err)
        logged = self.error_log.record(what, err)
        where = f" (details in {logged})" if logged is not None else ""
        self.notify(
            one_line(f"{one_line(what, 60)} failed: {msg}", 300) + where,
            severity="error", timeout=10, markup=False,
        )  # fmt: skip

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()
        self.error_log.close()

    # ------------------------------------------------------------ panes

    def action_show_pane(self, pane_id: str) -> None:
        tabs = self.query_one("#panes", TabbedContent)
        # Drop focus first: a focused widget inside the old pane would pull the
        # TabbedContent straight back to it.
        self.screen.set_focus(None)
        tabs.active = pane_id
        pane = self.query_one(f"#{pane_id}-pane")
        focus = getattr(pane, "focus_default", None)
        if callable(focus):
            focus()

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
        self.push_screen(HelpScreen(*self.help_for_pane()))

    def help_for_pane(self) -> tuple[str, str, list[tuple[str, str]]]:
        """(title, intro, rows) of the current pane's help: its keys as mapped now.

        The keys come from the focused widget's binding chain with the user's
        keymap applied; the app's own keys are in "Keys everywhere".
        """
        tabs = self.query_one("#panes", TabbedContent)
        pane = self.query_one(f"#{tabs.active}-pane")
        active = self.screen.active_bindings
        grouped: dict[tuple[int, str], tuple[list[str], Binding, DOMNode]] = {}
        for node, bindings in self.screen._binding_chain:  # keymap applied (Textual)
            if node is self or node is self.screen:
                continue
            for _key, binding in bindings:
                if not binding.description:
                    continue
                entry = grouped.setdefault((id(node), binding.action), ([], binding, node))
                shown = binding.key_display or self.get_key_display(binding)
                if shown not in entry[0]:
                    entry[0].append(shown)
        rows: list[tuple[str, str]] = []
        seen: set[str] = set()
        for (_node, action), (keys, binding, node) in grouped.items():
            if action in seen:
                continue  # the same action bound lower in the chain shadows this one
            seen.add(action)
            usable = any(
                now.binding.action == action and now.node is node and now.enabled
                for now in active.values()
            )
            rows.append(
                (" ".join(keys), binding.description + ("" if usable else " (not available now)"))
            )
        title, intro = getattr(pane, "HELP_TITLE", "jarvis-tui"), getattr(pane, "HELP_TEXT", "")
        return title, intro, rows

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pid, title, key in PANES:
            yield SystemCommand(
                f"go: {title.lower()}", f"Show the {title} pane ({key})",
                lambda pid=pid: self.action_show_pane(pid),
            )  # fmt: skip
        yield SystemCommand("help: keys", "Every key of the current pane", self.action_help)
        try:
            pane = self.query_one(TracesPane)
            trials = self.query_one(TrialsPane)
        except Exception:
            return
        yield from pane.palette_commands()
        yield from trials.palette_commands()
        yield from self.query_one(RoutingPane).palette_commands()
        yield from self.query_one(ConfigsPane).palette_commands()
        try:
            training = self.query_one(TrainingPane)
        except Exception:
            return
        yield from training.palette_commands()


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
        try:
            TraceStore(ws.traces_db, migrate=False).close()
        except StoreError as exc:
            return str(exc)
    return None


def run_app(home: Path | str, *, theme: str | None = None) -> int:
    """Open the app on *home*; refuse up front (one line on stderr) if the store is bad."""
    problem = precheck(home)
    if problem is not None:
        from jarvis_tui.ui.text import plain  # a foreign store's table names are data

        print(f"jarvis-tui: error: {plain(problem, 2000)}", file=sys.stderr)
        return 1
    app = JarvisApp(Workspace.at(home).root, theme=theme)
    result = app.run()
    return int(result or 0)
