"""The help screen: the app-wide key grammar, then the current pane's text and keys."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from jarvis_tui.ui.scrolling import KeyedScroll, scroll_rows

KEYS_EVERYWHERE: tuple[tuple[str, str], ...] = (
    ("j k ↑ ↓ g G PgUp PgDn h l", "move (navigation keys never change anything)"),
    ("enter / escape", "open / back to the pane's navigation, close a dialog"),
    ("tab", "next field"),
    ("T R C L P", "Traces, Routing, Configs, Training, Trials pane; [ ] cycle"),
    ("? F1 / ctrl+p / ctrl+q", "this help / command palette (also: theme) / quit"),
    ("/", "search"),
    ("F", "filter bar (agent, model, class, outcome, labelled, time)"),
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
        # The key grammar's navigation keys work here too (the scroll view has the
        # arrows, PgUp/PgDn and Home/End of its own).
        Binding("j", "scroll('down')", "Scroll down", show=False, id="help.down"),
        Binding("k", "scroll('up')", "Scroll up", show=False, id="help.up"),
        Binding("g", "scroll('home')", "Top", show=False, id="help.top"),
        Binding("G", "scroll('end')", "Bottom", show=False, id="help.bottom"),
    ]

    def __init__(
        self, title: str, intro: str, rows: list[tuple[str, str]], *,
        settings: Iterable[str] = (), settings_log: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self._title = title
        self._intro = intro
        self.rows = rows
        """The pane's keys (key, what it does), as shown."""
        self.settings = list(settings)
        """What the settings files had that was ignored (shown first; usually none)."""
        self._settings_log = settings_log

    @staticmethod
    def _table(rows: Iterable[tuple[str, str]]) -> Table:
        table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Action", ratio=1)
        for key, desc in rows:
            table.add_row(Text(key), Text(desc))
        return table

    def compose(self) -> ComposeResult:
        with KeyedScroll(id="help-body"):
            yield Static(
                Text.assemble(
                    (f"Help · {self._title} pane", "bold"),
                    "  ",
                    ("(the keys of every pane, then this pane's own)", "dim"),
                ),
                id="help-where",
            )
            if self.settings:  # said as toasts at start; here for as long as the app runs
                yield Static(
                    Text.assemble(
                        ("Settings ignored at start", "bold"),
                        (
                            f"  (also in {self._settings_log})" if self._settings_log else "",
                            "dim",
                        ),
                        *(("\n· " + line) for line in self.settings),  # text, never markup
                    ),
                    id="help-settings",
                )
            yield Static(Text("Keys everywhere", style="bold"), id="help-everywhere")
            yield Static(self._table(KEYS_EVERYWHERE), id="help-global")
            yield Static(Text(self._title, style="bold"), id="help-title", classes="help-heading")
            yield Static(Text(self._intro), id="help-intro")
            yield Static(self._table(self.rows), id="help-keys")
            yield Static(Text("escape closes this help", style="dim"))

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)

    def action_scroll(self, where: str) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        if where in ("down", "up"):
            scroll_rows(body, 1 if where == "down" else -1)
        else:
            (body.scroll_home if where == "home" else body.scroll_end)(animate=False)
