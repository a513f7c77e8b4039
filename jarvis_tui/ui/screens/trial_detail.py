"""The Trials pane's ``enter`` on a trial: its whole detail in a window of its own.

The detail panel beside the table is a few rows high at 80×24; this shows the same
text (:func:`jarvis_tui.ui.panes.trials_detail.trial_detail`, every string from the
data already made visible text) at the width of the window, scrolled with the
navigation keys.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from jarvis_tui.ui.scrolling import KeyedScroll, scroll_pages, scroll_rows
from jarvis_tui.ui.text import one_line


class TrialDetailScreen(ModalScreen[None]):
    """One trial in full; escape (or enter, q) closes it, j / k / g / G scroll."""

    DEFAULT_CSS = """
    TrialDetailScreen {
        align: center middle;
    }
    #trial-detail-box {
        width: 100;
        max-width: 96%;
        height: auto;
        max-height: 94%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    #trial-detail-title { text-style: bold; }
    #trial-detail-body { height: auto; max-height: 70vh; }  /* the hint stays in view */
    #trial-detail-hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,q,enter", "close", "Close", id="trial.close"),
        Binding("j,down", "scroll(1)", "Down", show=False, id="trial.down"),
        Binding("k,up", "scroll(-1)", "Up", show=False, id="trial.up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="trial.pagedown"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="trial.pageup"),
        Binding("g,home", "edge(0)", "Top", show=False, id="trial.top"),
        Binding("G,end", "edge(1)", "End", show=False, id="trial.end"),
    ]

    def __init__(self, trial_id: str, body: Text) -> None:
        super().__init__()
        self._trial_id = trial_id
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="trial-detail-box"):
            yield Label(Text("Trial " + one_line(self._trial_id, 60)), id="trial-detail-title")
            with KeyedScroll(id="trial-detail-body"):
                yield Static(self._body, id="trial-detail-text")
            yield Label(Text("escape: close · j / k, PgUp / PgDn, g / G: scroll"),
                        id="trial-detail-hint")  # fmt: skip

    def _scroll(self) -> VerticalScroll:
        return self.query_one("#trial-detail-body", VerticalScroll)

    def action_scroll(self, rows: int) -> None:
        scroll_rows(self._scroll(), rows)

    def action_page(self, pages: int) -> None:
        # The focused body's own PgUp / PgDn (KeyedScroll) answer first; this is for
        # keys a keymap gives trial.pagedown / trial.pageup: the same page.
        scroll_pages(self._scroll(), pages)

    def action_edge(self, end: int) -> None:
        scroll = self._scroll()
        if end:
            scroll.scroll_end(animate=False)
        else:
            scroll.scroll_home(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
