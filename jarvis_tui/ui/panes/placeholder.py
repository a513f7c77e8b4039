"""Empty state for a pane whose engine has not landed yet: says so plainly."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.widget import Widget
from textual.widgets import Static


class PlaceholderPane(Widget):
    """A pane that is not built yet, and what it will do."""

    def __init__(self, title: str, head: str, body: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="placeholder-pane")
        self.HELP_TITLE = title
        self.HELP_TEXT = f"{head} {body}"
        self._head = head
        self._body = body

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                yield Static(Text(self._head, style="bold"), classes="placeholder-head")
            with Center():
                yield Static(Text(self._body), classes="placeholder-body")
            with Center():
                yield Static(
                    Text("T: back to Traces   ?: keys", style="dim"), classes="placeholder-hint"
                )
