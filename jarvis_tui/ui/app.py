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
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from jarvis_tui.paths import Workspace
from jarvis_tui.traces import StoreError, TraceStore
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.panes.routing import RoutingPane
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.panes.trials import TrialsPane


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


class HelpScreen(ModalScreen[None]):
    """Every key that works right now, with what it does."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, title: str, intro: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._intro = intro
        self._rows = rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Action")
        for key, desc in self._rows:
            table.add_row(key, desc)
        with VerticalScroll(id="help-body"):
            yield Static(Text(self._title, style="bold"), id="help-title")
            yield Static(Text(self._intro), id="help-intro")
            yield Static(table, id="help-keys")
            yield Static(Text("escape closes this help", style="dim"))

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


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
    ]

    def __init__(self, home: Path | str, *, theme: str | None = None) -> None:
        super().__init__()
        self.workspace = Workspace.at(home)
        self.store: TraceStore | None = None
        """The open trace store, shared by the panes (None until opened)."""
        self.sub_title = str(self.workspace.root)
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
        yield Footer()

    def on_mount(self) -> None:
        self._open_store()

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
        self.query_one(TracesPane).show_filter(event.filter)

    @on(StoreFailed)
    def _store_failed(self, event: StoreFailed) -> None:
        self.query_one(TracesPane).store_failed(event.reason)

    @on(StoreProgress)
    def _store_progress(self, event: StoreProgress) -> None:
        self.query_one(TracesPane).store_progress(event.phase, event.done, event.total)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors become something the user sees."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            what = event.worker.description or event.worker.name
            msg = str(err) if isinstance(err, (StoreError, ValueError, OSError)) else repr(err)
            self.notify(f"{what} failed: {msg}", severity="error", timeout=8)

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

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
        rows: list[tuple[str, str]] = []
        seen: set[str] = set()
        active = self.screen.active_bindings
        focused = self.screen.focused
        chain = list(focused.ancestors_with_self) if focused is not None else [self.screen, self]
        for node in chain:
            for _key, bindings in node._bindings.key_to_bindings.items():
                for binding in bindings:
                    if not binding.description or binding.action in seen:
                        continue
                    seen.add(binding.action)
                    shown = binding.key_display or self.get_key_display(binding)
                    now = active.get(binding.key)
                    usable = (
                        now is not None and now.binding.action == binding.action and now.enabled
                    )
                    rows.append(
                        (shown, binding.description + ("" if usable else " (not available now)"))
                    )
        tabs = self.query_one("#panes", TabbedContent)
        pane = self.query_one(f"#{tabs.active}-pane")
        title, intro = getattr(pane, "HELP_TITLE", "jarvis-tui"), getattr(pane, "HELP_TEXT", "")
        self.push_screen(HelpScreen(title, intro, rows))

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
