"""The confirm dialog: exactly what will be written before it is written.

Used by every pane that writes a file a person should see first (a rollback, a
promoted trial, an export outside the workspace). Its look is in ``global.tcss``
(``#confirm-box``): the panes that open it share it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from jarvis_tui.ui.scrolling import KeyedScroll


class ConfirmScreen(ModalScreen[bool]):
    """Show exactly what will be written; y writes, n/escape cancels.

    With ``ask=False`` it only informs (a write that was refused, with why in the
    title): there is nothing to say yes to, so ``y`` does nothing and the hint says so.
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Write it", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="confirm.no"),
    ]

    def __init__(self, title: str, body: Text, *, ask: bool = True, hint: str = "") -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._ask = ask
        self._hint = hint
        """The keys line, when y / n mean something else than write / cancel."""

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(Text(self._title), id="confirm-title")
            with KeyedScroll(id="confirm-scroll"):
                yield Static(self._body, id="confirm-body")
            hint = self._hint or (
                "y: write it   n / escape: cancel"
                if self._ask
                else "nothing to write   escape: close"
            )
            yield Label(hint, id="confirm-hint")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value and self._ask)
