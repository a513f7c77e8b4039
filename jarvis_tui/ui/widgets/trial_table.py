"""A virtual table of trials: a :class:`~jarvis_tui.ui.widgets.big_table.BigTable`
over an in-memory key list.

``TrialTable`` holds a plain tuple of row keys and a ``render_row(key) -> cells``
callback (a :class:`KeyListSource`); ``set_rows`` (a new order, a filter, a sort),
cursor moves and repaints cost O(visible rows) plus O(n) for copying and indexing
the key list. Everything else (drawing, the row cache, the cursor) is ``BigTable``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.binding import Binding, BindingType

from jarvis_tui.ui.widgets.big_table import BigTable, Column, KeyListSource, RenderRow

__all__ = ["RenderRow", "TrialTable"]


class TrialTable(BigTable, inherit_bindings=False):
    """A keyboard-first virtual table: row keys plus a row-render callback.

    Line 0 is the header; row *i* is virtual line ``i + 1``. Columns are
    ``(label, width)`` pairs; a last column of width 0 takes the rest of the line.
    """

    COMPONENT_PREFIX: ClassVar[str] = "trial-table"

    DEFAULT_CSS = """
    TrialTable {
        & > .trial-table--header {
            color: $text-muted;
            text-style: bold;
            background: $panel;
        }
        &:ansi > .trial-table--header {
            color: ansi_default;
            background: ansi_default;
        }
        & > .trial-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .trial-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        &:ansi:blur > .trial-table--cursor {
            text-style: underline;  /* ANSI themes have no blurred cursor colour */
        }
        & > .trial-table--empty {
            color: $text-muted;
            text-style: italic;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "trial-table--header",
        "trial-table--cursor",
        "trial-table--empty",
    }

    # Only these keys (inherit_bindings=False): no horizontal scrolling here, and
    # left/right belong to the pane (the Trials pane walks the frontier with them).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Previous row", show=False, id="trialtable.up"),
        Binding("down,j", "cursor(1)", "Next row", show=False, id="trialtable.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="trialtable.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="trialtable.pagedown"),
        Binding("home,g", "first", "First row", show=False, id="trialtable.home"),
        Binding("end,G", "last", "Last row", show=False, id="trialtable.end"),
    ]

    class Highlighted(BigTable.RowHighlighted):
        """The cursor moved to another row (not sent when it stays on the same key)."""

        def __repr__(self) -> str:
            return f"TrialTable.Highlighted(key={self.key!r}, row={self.row})"

    RowHighlighted = Highlighted  # what BigTable posts, under the name the panes use

    def __init__(
        self,
        columns: Sequence[tuple[str, int]],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            [Column(str(label), str(label), max(int(width), 0)) for label, width in columns],
            KeyListSource(),
            name=name,
            id=id,
            classes=classes,
        )

    @property
    def keys(self) -> Sequence[str]:
        """Row keys, top to bottom."""
        source = self.source
        return source.keys if isinstance(source, KeyListSource) else ()

    @property
    def columns(self) -> Sequence[tuple[str, int]]:  # type: ignore[override]
        """``(label, width)`` per column, as given."""
        return tuple((c.label, c.width) for c in super().columns)

    def set_rows(self, keys: Sequence[str], render_row: RenderRow) -> None:
        """Show *keys* (in this order), drawn by *render_row* when they come into view.

        The cursor stays on the same key if it is still present, else on the same
        row index (clamped). ``Highlighted`` is posted if the cursor key changed to
        another key (not when the table becomes empty). Keys must be unique.
        """
        try:
            source = KeyListSource(keys, render_row)
        except ValueError:
            raise ValueError("TrialTable row keys must be unique") from None
        self.set_source(source)
