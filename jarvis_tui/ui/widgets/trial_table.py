"""A virtual table of trials: only the rows on screen are ever rendered.

Textual's ``DataTable`` builds every row up front (``add_row`` ×10k ≈ 0.9 s, a
re-sort ≈ 1.8 s). ``TrialTable`` instead holds a plain tuple of row keys and a
``render_row(key) -> cells`` callback, and draws with the Line API:
``render_line(y)`` asks for one row at a time, so ``set_rows`` (a new order, a
filter, a sort), cursor moves and repaints cost O(visible rows) plus O(n) for
copying and indexing the key list.

Layout::

    name         score  status        <- header (line 0, never scrolls)
    trial-0001   0.912  ok            <- rows: virtual line 1 + row index
    trial-0002   0.870  pruned        <- cursor row (block cursor colours)

Each cell is cut to its column's width (``…`` when it does not fit) and padded;
one space separates columns; a last column of width 0 takes the rest of the
line. A cell is a ``rich.text.Text`` (its styles and ``justify`` are kept) or a
``str``, which is always shown literally: never parsed as markup, control
characters made visible.

Rendered rows are cached per key (without the cursor style, which is applied at
paint time), so moving the cursor re-styles two rows and calls ``render_row``
for none. ``invalidate`` drops rows whose content changed; ``set_rows`` drops
them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["RenderRow", "TrialTable"]

RenderRow = Callable[[str], Sequence[Text | str]]
"""Builds the cells of one row from its key (called only for rows being drawn)."""

# Control characters mapped to exactly one visible character each, so a rich
# ``Text``'s spans stay aligned: C0 -> control pictures (␛, ␍ ...), DEL -> ␡,
# C1 -> U+FFFD, newline -> ⏎, tab -> space.
_CLEAN = {code: chr(0x2400 + code) for code in range(0x20)}
_CLEAN.update({0x0A: "⏎", 0x09: " ", 0x7F: "\u2421"})
_CLEAN.update({code: "\ufffd" for code in range(0x80, 0xA0)})
_CONTROL = frozenset(chr(code) for code in _CLEAN)

_GAP = Segment(" ")
_NULL = Style.null()

#: Longest string cell kept before cutting (a huge cell must not cost O(size)).
_MAX_CELL_CHARS = 1_000


def _clean(text: str) -> str:
    if _CONTROL.isdisjoint(text):
        return text
    return text.translate(_CLEAN)


def _fit_plain(text: str, width: int, justify: str | None) -> str:
    """*text* cut to *width* cells (ending in ``…``) and padded per *justify*."""
    length = cell_len(text)
    if length > width:
        text = set_cell_size(text, width - 1) + "…"
        length = cell_len(text)
    pad = width - length
    if pad <= 0:
        return text
    if justify == "right":
        return " " * pad + text
    if justify == "center":
        return " " * (pad // 2) + text + " " * (pad - pad // 2)
    return text + " " * pad


def _fit_text(cell: Text, width: int) -> Text:
    """A copy of *cell* with control characters made visible, cut and padded to *width*."""
    if len(cell.plain) > _MAX_CELL_CHARS:
        cell = cell[:_MAX_CELL_CHARS]
    plain = cell.plain
    clean = _clean(plain)
    # `clean` has the same length as `plain`, so the spans still line up.
    text = Text(clean, style=cell.style, end="", no_wrap=True, spans=list(cell.spans))
    length = cell_len(clean)
    if length > width:
        text.truncate(width, overflow="ellipsis")
        length = cell_len(text.plain)
    pad = width - length
    if pad > 0:
        if cell.justify == "right":
            text.pad_left(pad)
        elif cell.justify == "center":
            text.pad_left(pad // 2)
            text.pad_right(pad - pad // 2)
        else:
            text.pad_right(pad)
    return text


def _cell_segments(cell: Text | str, width: int, console: Console) -> list[Segment]:
    """*cell* as segments exactly *width* cells wide. A ``str`` is shown literally."""
    if isinstance(cell, Text):
        if cell.spans:
            return list(_fit_text(cell, width).render(console))
        plain, justify = cell.plain[:_MAX_CELL_CHARS], cell.justify
        style = cell.style
        rich_style = console.get_style(style, default=_NULL) if isinstance(style, str) else style
    else:
        plain, justify, rich_style = str(cell)[:_MAX_CELL_CHARS], None, None
    return [Segment(_fit_plain(_clean(plain), width, justify), rich_style or None)]


class _PaintStyles(NamedTuple):
    base: Style
    header: Style
    cursor: Style
    empty: Style


class TrialTable(ScrollView, can_focus=True, inherit_bindings=False):
    """A keyboard-first virtual table: row keys plus a row-render callback.

    Line 0 is the header; row *i* is virtual line ``i + 1`` (scrolled by
    ``scroll_y``, so the header stays put). The widget does not scroll sideways:
    columns past the right edge are cut off.
    """

    DEFAULT_CSS = """
    TrialTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        height: 1fr;
        width: 1fr;

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

    #: Rendered rows kept (per key). Several screens' worth, so scrolling back is free.
    CACHE_SIZE: ClassVar[int] = 512

    #: The line shown under the header when there are no rows.
    empty_text: str = "no rows"

    class Highlighted(Message):
        """The cursor moved to another row (not sent when it stays on the same key)."""

        def __init__(self, table: TrialTable, key: str, row: int) -> None:
            super().__init__()
            self.table = table
            self.key = key
            self.row = row

        @property
        def control(self) -> TrialTable:
            return self.table

        def __repr__(self) -> str:
            return f"TrialTable.Highlighted(key={self.key!r}, row={self.row})"

    def __init__(
        self,
        columns: Sequence[tuple[str, int]],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._columns: tuple[tuple[str, int], ...] = tuple(
            (str(label), max(int(width), 0)) for label, width in columns
        )
        self._keys: tuple[str, ...] = ()
        self._index: dict[str, int] = {}
        self._render_row: RenderRow = lambda _key: ()
        self._cursor_row = 0
        # key -> (width, unstyled strip of exactly `width` cells)
        self._cache: LRUCache[str, tuple[int, Strip]] = LRUCache(self.CACHE_SIZE)
        self._header_cache: tuple[int, Strip] | None = None
        self._pass_styles: _PaintStyles | None = None

    # ------------------------------------------------------------------ data

    @property
    def keys(self) -> Sequence[str]:
        """Row keys, top to bottom."""
        return self._keys

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def columns(self) -> Sequence[tuple[str, int]]:
        return self._columns

    @property
    def cursor_row(self) -> int:
        """Index of the cursor row (0 when the table is empty)."""
        return self._cursor_row

    @cursor_row.setter
    def cursor_row(self, row: int) -> None:
        self._set_cursor(row)

    @property
    def cursor_key(self) -> str | None:
        """Key of the cursor row; None when the table is empty."""
        return self._keys[self._cursor_row] if self._keys else None

    def set_rows(self, keys: Sequence[str], render_row: RenderRow) -> None:
        """Show *keys* (in this order), drawn by *render_row* when they come into view.

        The cursor stays on the same key if it is still present, else on the same
        row index (clamped). ``Highlighted`` is posted if the cursor key changed to
        another key (not when the table becomes empty). Keys must be unique.
        """
        new_keys = tuple(keys)
        index = dict(zip(new_keys, range(len(new_keys)), strict=True))
        if len(index) != len(new_keys):
            raise ValueError("TrialTable row keys must be unique")
        old_key = self.cursor_key
        old_row = self._cursor_row
        self._keys = new_keys
        self._index = index
        self._render_row = render_row
        self._cache.clear()
        if not new_keys:
            row = 0
        elif old_key is not None and old_key in index:
            row = index[old_key]
        else:
            row = min(old_row, len(new_keys) - 1)
        self._cursor_row = row
        self._update_virtual_size()
        self._scroll_to_cursor(center=row != old_row)
        self.refresh()
        new_key = self.cursor_key
        if new_key is not None and new_key != old_key:
            self.post_message(self.Highlighted(self, new_key, row))

    def invalidate(self, keys: Iterable[str] | None = None) -> None:
        """Render these rows again (all rows when *keys* is None) on the next paint."""
        if keys is None:
            self._cache.clear()
            self.refresh()
            return
        for key in keys:
            self._cache.discard(key)
            row = self._index.get(key)
            if row is not None:
                self.refresh_line(row + 1)

    def move_to(self, key: str, *, scroll: bool = True) -> bool:
        """Move the cursor to *key* and (with *scroll*) into view; False if unknown."""
        row = self._index.get(key)
        if row is None:
            return False
        self._set_cursor(row, scroll=scroll, center=True)
        return True

    # --------------------------------------------------------------- cursor

    @property
    def _page_rows(self) -> int:
        """Rows that fit under the header."""
        return max(self.scrollable_content_region.height - 1, 1)

    def _set_cursor(self, row: int, *, scroll: bool = True, center: bool = False) -> None:
        if not self._keys:
            return
        row = min(max(row, 0), len(self._keys) - 1)
        old = self._cursor_row
        if row == old:
            if scroll:
                self._scroll_to_cursor(center=center)
            return
        self._cursor_row = row
        self.refresh_line(old + 1)
        self.refresh_line(row + 1)
        if scroll:
            self._scroll_to_cursor(center=center)
        self.post_message(self.Highlighted(self, self._keys[row], row))

    def _scroll_to_cursor(self, *, center: bool = False) -> None:
        """Scroll so the cursor row is visible: minimally when it is near, else centred."""
        view = self.scrollable_content_region.height - 1
        if view <= 0 or not self._keys:
            return
        row = self._cursor_row
        top = round(self.scroll_y)
        if top <= row < top + view:
            return
        if row < top:
            target, distance = row, top - row
        else:
            target, distance = row - view + 1, row - (top + view - 1)
        if center and distance > view // 2:
            target = row - view // 2
        target = min(max(target, 0), max(len(self._keys) - view, 0))
        self.scroll_to(y=target, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self._set_cursor(self._cursor_row + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor and the view by one screen, keeping the cursor's screen line."""
        if not self._keys:
            return
        page = self._page_rows * (1 if direction > 0 else -1)
        self.scroll_to(y=round(self.scroll_y) + page, animate=False, immediate=True)
        self._set_cursor(self._cursor_row + page)

    def action_first(self) -> None:
        self._set_cursor(0)

    def action_last(self) -> None:
        self._set_cursor(len(self._keys) - 1)

    # ---------------------------------------------------------------- events

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = round(self.scroll_y) + offset.y - 1
        if 0 <= row < len(self._keys):
            self._set_cursor(row)

    def _on_resize(self, event: events.Resize) -> None:
        # A tall terminal must not thrash the row cache within one paint.
        self._cache.grow(max(self.CACHE_SIZE, 4 * event.size.height))
        self._update_virtual_size()
        self.call_after_refresh(self._scroll_to_cursor)

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh_line(self._cursor_row + 1)

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh_line(self._cursor_row + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()  # cached strips are unstyled: the new styles apply at paint time

    # ------------------------------------------------------------- rendering

    def _update_virtual_size(self) -> None:
        natural = sum(width for _, width in self._columns) + max(len(self._columns) - 1, 0)
        self.virtual_size = Size(natural, max(len(self._keys), 1) + 1)

    def _widths(self, width: int) -> list[int]:
        """Column widths for a line of *width* cells (the last may take the rest)."""
        widths = [w for _, w in self._columns]
        if widths and widths[-1] == 0:
            used = sum(widths[:-1]) + len(widths) - 1
            widths[-1] = max(width - used, 0)
        return widths

    def _line_strip(self, cells: Sequence[Text | str], width: int) -> Strip:
        """An unstyled strip of exactly *width* cells holding *cells* in columns."""
        console = self.app.console
        segments: list[Segment] = []
        used = 0
        for i, col_width in enumerate(self._widths(width)):
            if used >= width:
                break
            if i:
                segments.append(_GAP)
                used += 1
            if col_width > 0:
                cell = cells[i] if i < len(cells) else ""
                segments.extend(_cell_segments(cell, col_width, console))
                used += col_width
        return Strip(segments, used).adjust_cell_length(width)

    def _row_strip(self, key: str, width: int) -> Strip:
        cached = self._cache.get(key)
        if cached is not None and cached[0] == width:
            return cached[1]
        strip = self._line_strip(self._render_row(key), width)
        self._cache.set(key, (width, strip))
        return strip

    def _header_strip(self, width: int) -> Strip:
        if self._header_cache is None or self._header_cache[0] != width:
            labels = [label for label, _ in self._columns]
            self._header_cache = (width, self._line_strip(labels, width))
        return self._header_cache[1]

    def _styles(self) -> _PaintStyles:
        base = self.rich_style
        return _PaintStyles(
            base,
            base + self.get_component_rich_style("trial-table--header"),
            base + self.get_component_rich_style("trial-table--cursor"),
            base + self.get_component_rich_style("trial-table--empty"),
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        # Resolve the styles once per paint, not once per line.
        self._pass_styles = self._styles()
        try:
            return super().render_lines(crop)
        finally:
            self._pass_styles = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width <= 0:
            return Strip.blank(0)
        styles = self._pass_styles or self._styles()
        if y == 0:
            return self._header_strip(width).apply_style(styles.header)
        if not self._keys:
            if y == 1:
                strip = Strip(_cell_segments(self.empty_text, width, self.app.console), width)
                return strip.apply_style(styles.empty)
            return Strip.blank(width, styles.base)
        row = round(self.scroll_y) + y - 1
        if not 0 <= row < len(self._keys):
            return Strip.blank(width, styles.base)
        strip = self._row_strip(self._keys[row], width)
        return strip.apply_style(styles.cursor if row == self._cursor_row else styles.base)
