"""A virtual table over a row source: only the rows on screen are ever rendered.

Textual's ``DataTable`` builds every row up front (``add_row`` ×10k ≈ 0.9 s, a
re-sort ≈ 1.8 s) and cannot stand for a million rows. ``BigTable`` instead asks a
:class:`RowSource` for its ``count()`` and for the keys of the rows in view
(``rows(offset, limit)``), and draws with the Line API: ``render_line(y)`` builds
one row at a time from ``source.cells(key)``. A source may not have a row yet
(it is fetching that page): the row is drawn as a placeholder, and the source
calls :meth:`BigTable.source_changed` when the page arrives. The scrollbar is the
position in the whole source (row N of ``count()``), not in a loaded window.

Layout::

    name         score  status        <- header (line 0, never scrolls)
    trial-0001   0.912  ok            <- rows: virtual line 1 + row index
    trial-0002   0.870  pruned        <- cursor row (block cursor colours)

Each cell is cut to its column's width (``…`` when it does not fit) and padded;
one space separates columns; a column of width 0 takes the rest of the line.
When the line is too narrow, columns with the highest ``drop`` priority are left
out first. A cell is a ``rich.text.Text`` (its styles and ``justify`` are kept)
or a ``str``, which is always shown literally: never parsed as markup, control
characters made visible.

Rendered rows are cached per key (without the cursor style, which is applied at
paint time), so moving the cursor re-styles two rows and builds none.
``invalidate`` drops rows whose content changed; ``source_changed`` keeps the
cache (a key's cells are the same wherever the row moved), ``set_source`` and
``set_columns`` drop it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Protocol

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

__all__ = ["BigTable", "Column", "KeyListSource", "RenderRow", "RowSource"]

Cells = Sequence[Text | str]

RenderRow = Callable[[str], Cells]
"""Builds the cells of one row from its key (called only for rows being drawn)."""


class RowSource(Protocol):
    """What a :class:`BigTable` shows: a count, the keys in a range, one row's cells.

    Called on the UI thread at paint time, so every method must be cheap (no I/O):
    a source backed by a database answers from the pages it holds and fetches the
    missing ones in a worker, then calls ``BigTable.source_changed()``.
    """

    def count(self) -> int:
        """Rows in the whole source (the scrollbar's length)."""
        ...

    def rows(self, offset: int, limit: int) -> Sequence[str | None]:
        """Keys of rows ``offset`` … ``offset + limit - 1`` (fewer at the end); ``None``
        for a row not loaded yet (drawn as a placeholder)."""
        ...

    def cells(self, key: str) -> Cells:
        """The cells of the row with *key* (only asked for keys ``rows`` returned)."""
        ...

    def index_of(self, key: str) -> int | None:
        """The row index of *key*, or ``None`` when the source does not hold it."""
        ...


class KeyListSource:
    """A source of rows held in memory: a tuple of unique keys and a render callback."""

    def __init__(self, keys: Sequence[str] = (), render_row: RenderRow | None = None) -> None:
        self.keys: tuple[str, ...] = tuple(keys)
        """Row keys, top to bottom."""
        self._index = dict(zip(self.keys, range(len(self.keys)), strict=True))
        if len(self._index) != len(self.keys):
            raise ValueError("row keys must be unique")
        self._render: RenderRow = render_row or (lambda _key: ())

    def count(self) -> int:
        return len(self.keys)

    def rows(self, offset: int, limit: int) -> Sequence[str | None]:
        return self.keys[max(offset, 0) : max(offset, 0) + max(limit, 0)]

    def cells(self, key: str) -> Cells:
        return self._render(key)

    def index_of(self, key: str) -> int | None:
        return self._index.get(key)


@dataclass(frozen=True)
class Column:
    """One column: a key (for sort clicks), a header label, a width and a drop priority."""

    key: str
    label: str
    width: int
    """Cells wide; 0: takes what is left of the line (at least ``min_width``)."""
    drop: int = 0
    """0: always shown; higher numbers are left out first when the line is too narrow."""
    min_width: int = 0
    """For a width-0 column: the least it may shrink to before others are dropped."""


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
    even: Style
    selected: Style


class BigTable(ScrollView, can_focus=True, inherit_bindings=False):
    """A keyboard-first virtual table over a :class:`RowSource`.

    Line 0 is the header; row *i* is virtual line ``i + 1`` (scrolled by
    ``scroll_y``, so the header stays put). The widget does not scroll sideways:
    columns past the right edge are cut off.
    """

    COMPONENT_PREFIX: ClassVar[str] = "big-table"
    """Prefix of the component classes (``<prefix>--header``, ``--cursor``, …)."""

    DEFAULT_CSS = """
    BigTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        height: 1fr;
        width: 1fr;

        & > .big-table--header {
            color: $text-muted;
            text-style: bold;
            background: $panel;
        }
        &:ansi > .big-table--header {
            color: ansi_default;
            background: ansi_default;
        }
        & > .big-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .big-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        &:ansi:blur > .big-table--cursor {
            text-style: underline;  /* ANSI themes have no blurred cursor colour */
        }
        & > .big-table--empty {
            color: $text-muted;
            text-style: italic;
        }
        & > .big-table--even-row {
        }
        & > .big-table--selected {
            text-style: reverse;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "big-table--header",
        "big-table--cursor",
        "big-table--empty",
        "big-table--even-row",
        "big-table--selected",
    }

    # Only these keys (inherit_bindings=False): no horizontal scrolling here, and
    # left/right belong to the pane (the Trials pane walks the frontier with them).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Previous row", show=False, id="bigtable.up"),
        Binding("down,j", "cursor(1)", "Next row", show=False, id="bigtable.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="bigtable.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="bigtable.pagedown"),
        Binding("home,g", "first", "First row", show=False, id="bigtable.home"),
        Binding("end,G", "last", "Last row", show=False, id="bigtable.end"),
        Binding("enter", "select", "Open row", show=False, id="bigtable.select"),
    ]

    #: Rendered rows kept (per key). Several screens' worth, so scrolling back is free.
    CACHE_SIZE: ClassVar[int] = 512

    empty_text: str = "no rows"
    """The line shown under the header when there are no rows."""

    loading_text: str = "…"
    """A row the source has not loaded yet."""

    class RowHighlighted(Message):
        """The cursor moved to another row (not sent when it stays on the same key)."""

        def __init__(self, table: BigTable, key: str, row: int) -> None:
            super().__init__()
            self.table = table
            """The table the cursor moved in."""
            self.key = key
            """Key of the row the cursor is on now."""
            self.row = row
            """Its index in the source."""

        @property
        def control(self) -> BigTable:
            return self.table

        def __repr__(self) -> str:
            return f"{type(self).__qualname__}(key={self.key!r}, row={self.row})"

    class RowSelected(RowHighlighted):
        """Enter (or a click on the cursor row) on a loaded row."""

    class HeaderSelected(Message):
        """A click on a column's header."""

        def __init__(self, table: BigTable, column: str) -> None:
            super().__init__()
            self.table = table
            """The table clicked."""
            self.column = column
            """The column's key."""

        @property
        def control(self) -> BigTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column | tuple[str, int]] = (),
        source: RowSource | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._columns: tuple[Column, ...] = ()
        self._source: RowSource = source if source is not None else KeyListSource()
        self._count = 0
        self._cursor_row = 0
        self._posted_key: str | None = None
        self.zebra = False
        """Every other row drawn in the ``--even-row`` style."""
        self.selected: set[str] = set()
        """Keys of the selected (marked) rows, drawn in the ``--selected`` style; the
        owner changes it and calls ``invalidate`` with the keys it changed."""
        # key -> (width, unstyled strip of exactly `width` cells)
        self._cache: LRUCache[str, tuple[int, Strip]] = LRUCache(self.CACHE_SIZE)
        self._header_cache: tuple[int, Strip] | None = None
        self._column_layout: tuple[int, list[tuple[int, int]]] | None = None
        self._pass_styles: _PaintStyles | None = None
        self._pass_keys: tuple[int, Sequence[str | None]] | None = None
        self._set_columns(columns)
        self._count = self._source.count()

    # ------------------------------------------------------------------ data

    @property
    def source(self) -> RowSource:
        """Where the rows come from."""
        return self._source

    @property
    def row_count(self) -> int:
        """Rows in the source, as of the last ``set_source`` / ``source_changed``."""
        return self._count

    @property
    def columns(self) -> Sequence[Column]:
        return self._columns

    @property
    def cursor_row(self) -> int:
        """Index of the cursor row in the source (0 when the table is empty)."""
        return self._cursor_row

    @cursor_row.setter
    def cursor_row(self, row: int) -> None:
        self._set_cursor(row)

    @property
    def cursor_key(self) -> str | None:
        """Key of the cursor row; None when the table is empty or the row is not loaded."""
        return self._key_at(self._cursor_row)

    def visible_rows(self) -> tuple[int, int]:
        """``(first, last)`` row indices on screen (``last < first`` when empty)."""
        top = round(self.scroll_y)
        last = min(top + self._page_rows, self._count) - 1
        return top, last

    def _key_at(self, row: int) -> str | None:
        if not 0 <= row < self._count:
            return None
        keys = self._source.rows(row, 1)
        return keys[0] if keys else None

    def _set_columns(self, columns: Sequence[Column | tuple[str, int]]) -> None:
        self._columns = tuple(
            c if isinstance(c, Column) else Column(str(c[0]), str(c[0]), max(int(c[1]), 0))
            for c in columns
        )
        self._cache.clear()
        self._header_cache = None
        self._column_layout = None

    def set_columns(self, columns: Sequence[Column | tuple[str, int]]) -> None:
        """Show these columns (every row is rendered again)."""
        self._set_columns(columns)
        self._update_virtual_size()
        self.refresh()

    def set_source(self, source: RowSource, *, keep: str | None = None) -> None:
        """Show *source* in place of the current one (every row is rendered again).

        The cursor goes to *keep* (default: the current cursor key) if the new source
        holds it, else stays on the same row index (clamped).
        """
        keep = keep if keep is not None else self.cursor_key
        self._source = source
        self._cache.clear()
        self._sync(keep, follow=True)

    def source_changed(self, *, keep: str | None = None, rendered: bool = True) -> None:
        """The source's count or loaded rows changed: paint again.

        The cursor moves to *keep* when the source holds it (else it stays on its row
        index, clamped). *rendered* False: rows may render differently now (drop the
        cached rows).
        """
        if not rendered:
            self._cache.clear()
        self._sync(keep, follow=False)

    def _sync(self, keep: str | None, *, follow: bool) -> None:
        """Re-read the count; *follow*: scroll to the cursor even if it did not move (a
        page arriving must not pull a view the user scrolled away back to the cursor)."""
        old_row = self._cursor_row
        self._count = max(self._source.count(), 0)
        if self._count == 0:
            self._posted_key = None
        row = old_row
        if keep is not None:
            found = self._source.index_of(keep)
            if found is not None:
                row = found
        row = min(max(row, 0), max(self._count - 1, 0))
        self._cursor_row = row
        self._update_virtual_size()
        if follow or row != old_row:
            self._scroll_to_cursor(center=row != old_row)
        self.refresh()
        self._post_highlight()

    def _post_highlight(self) -> None:
        """Post ``RowHighlighted`` when the cursor's key is another loaded key now."""
        key = self.cursor_key
        if key is not None and key != self._posted_key:
            self._posted_key = key
            self.post_message(self.RowHighlighted(self, key, self._cursor_row))

    def invalidate(self, keys: Iterable[str] | None = None) -> None:
        """Render these rows again (all rows when *keys* is None) on the next paint."""
        if keys is None:
            self._cache.clear()
            self.refresh()
            return
        for key in keys:
            self._cache.discard(key)
            row = self._source.index_of(key)
            if row is not None:
                self._refresh_row(row)

    def move_to(self, key: str, *, scroll: bool = True) -> bool:
        """Move the cursor to *key* and (with *scroll*) into view; False if unknown."""
        row = self._source.index_of(key)
        if row is None:
            return False
        self._set_cursor(row, scroll=scroll, center=True)
        return True

    # --------------------------------------------------------------- cursor

    @property
    def _page_rows(self) -> int:
        """Rows that fit under the header."""
        return max(self.scrollable_content_region.height - 1, 1)

    def _refresh_row(self, row: int) -> None:
        # ScrollView.refresh_line takes a virtual line (it subtracts the scroll itself).
        top = round(self.scroll_y)
        if top <= row <= top + self._page_rows:
            self.refresh_line(row + 1)

    def _set_cursor(self, row: int, *, scroll: bool = True, center: bool = False) -> None:
        if self._count <= 0:
            return
        row = min(max(row, 0), self._count - 1)
        old = self._cursor_row
        if row == old:
            if scroll:
                self._scroll_to_cursor(center=center)
            return
        self._cursor_row = row
        self._refresh_row(old)
        self._refresh_row(row)
        if scroll:
            self._scroll_to_cursor(center=center)
        self._post_highlight()

    def _scroll_to_cursor(self, *, center: bool = False) -> None:
        """Scroll so the cursor row is visible: minimally when it is near, else centred."""
        view = self.scrollable_content_region.height - 1
        if view <= 0 or self._count <= 0:
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
        target = min(max(target, 0), max(self._count - view, 0))
        self.scroll_to(y=target, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self._set_cursor(self._cursor_row + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor and the view by one screen, keeping the cursor's screen line."""
        if self._count <= 0:
            return
        page = self._page_rows * (1 if direction > 0 else -1)
        self.scroll_to(y=round(self.scroll_y) + page, animate=False, immediate=True)
        self._set_cursor(self._cursor_row + page)

    def action_first(self) -> None:
        self._set_cursor(0)

    def action_last(self) -> None:
        self._set_cursor(self._count - 1)

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key, self._cursor_row))

    # ---------------------------------------------------------------- events

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < 1:
            column = self._column_at(offset.x)
            if column is not None:
                self.post_message(self.HeaderSelected(self, column.key))
            return
        row = round(self.scroll_y) + offset.y - 1
        if 0 <= row < self._count:
            if row == self._cursor_row and event.chain > 1:
                self.action_select()
            self._set_cursor(row)

    def _column_at(self, x: int) -> Column | None:
        used = 0
        for i, width in self._layout(self.scrollable_content_region.width):
            if used <= x < used + width:
                return self._columns[i]
            used += width + 1
        return None

    def _on_resize(self, event: events.Resize) -> None:
        # A tall terminal must not thrash the row cache within one paint.
        self._cache.grow(max(self.CACHE_SIZE, 4 * event.size.height))
        self._update_virtual_size()
        self.call_after_refresh(self._scroll_to_cursor)

    def _on_focus(self, event: events.Focus) -> None:
        self._refresh_row(self._cursor_row)

    def _on_blur(self, event: events.Blur) -> None:
        self._refresh_row(self._cursor_row)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()  # cached strips are unstyled: the new styles apply at paint time

    # ------------------------------------------------------------- rendering

    def _update_virtual_size(self) -> None:
        cols = self._columns
        natural = sum(c.width or c.min_width for c in cols) + max(len(cols) - 1, 0)
        self.virtual_size = Size(natural, max(self._count, 1) + 1)

    def layout_columns(self, width: int) -> list[tuple[int, int]]:
        """The columns shown on a line of *width* cells: ``(index in columns, width)``.

        Columns with the highest ``drop`` are left out until the fixed widths and the
        flexible columns' ``min_width`` fit; a width-0 column takes what is left.
        """
        shown = list(range(len(self._columns)))
        cols = self._columns

        def need(idx: list[int]) -> int:
            return sum(cols[i].width or cols[i].min_width for i in idx) + max(len(idx) - 1, 0)

        while need(shown) > width and any(cols[i].drop for i in shown):
            worst = max(cols[i].drop for i in shown)
            shown = [i for i in shown if cols[i].drop != worst]
        flex = [i for i in shown if cols[i].width == 0]
        spare = width - need(shown)
        out: list[tuple[int, int]] = []
        for i in shown:
            w = cols[i].width
            if w == 0:
                share = spare // len(flex)
                if i == flex[-1]:
                    share = spare - share * (len(flex) - 1)
                w = max(cols[i].min_width + share, 0)
            out.append((i, w))
        return out

    def _layout(self, width: int) -> list[tuple[int, int]]:
        if self._column_layout is None or self._column_layout[0] != width:
            self._column_layout = (width, self.layout_columns(width))
        return self._column_layout[1]

    def _line_strip(self, cells: Sequence[Text | str] | None, width: int) -> Strip:
        """An unstyled strip of exactly *width* cells holding *cells* in columns
        (the header labels when *cells* is None)."""
        console = self.app.console
        segments: list[Segment] = []
        used = 0
        for n, (i, col_width) in enumerate(self._layout(width)):
            if used >= width:
                break
            if n:
                segments.append(_GAP)
                used += 1
            if col_width > 0:
                if cells is None:
                    cell: Text | str = self._columns[i].label
                else:
                    cell = cells[i] if i < len(cells) else ""
                segments.extend(_cell_segments(cell, col_width, console))
                used += col_width
        return Strip(segments, used).adjust_cell_length(width)

    def _row_strip(self, key: str, width: int) -> Strip:
        cached = self._cache.get(key)
        if cached is not None and cached[0] == width:
            return cached[1]
        strip = self._line_strip(self._source.cells(key), width)
        self._cache.set(key, (width, strip))
        return strip

    def _header_strip(self, width: int) -> Strip:
        if self._header_cache is None or self._header_cache[0] != width:
            self._header_cache = (width, self._line_strip(None, width))
        return self._header_cache[1]

    def _styles(self) -> _PaintStyles:
        base = self.rich_style
        p = self.COMPONENT_PREFIX
        return _PaintStyles(
            base,
            base + self.get_component_rich_style(f"{p}--header"),
            base + self.get_component_rich_style(f"{p}--cursor"),
            base + self.get_component_rich_style(f"{p}--empty"),
            base + self.get_component_rich_style(f"{p}--even-row", partial=True)
            if f"{p}--even-row" in self.COMPONENT_CLASSES
            else base,
            base + self.get_component_rich_style(f"{p}--selected", partial=True)
            if f"{p}--selected" in self.COMPONENT_CLASSES
            else base,
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        # Resolve the styles and the keys in view once per paint, not once per line.
        self._pass_styles = self._styles()
        top = round(self.scroll_y)
        self._pass_keys = (top, self._source.rows(top, self._page_rows + 1))
        try:
            return super().render_lines(crop)
        finally:
            self._pass_styles = None
            self._pass_keys = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width <= 0:
            return Strip.blank(0)
        styles = self._pass_styles or self._styles()
        if y == 0:
            return self._header_strip(width).apply_style(styles.header)
        if self._count <= 0:
            if y == 1:
                strip = Strip(_cell_segments(self.empty_text, width, self.app.console), width)
                return strip.apply_style(styles.empty)
            return Strip.blank(width, styles.base)
        row = round(self.scroll_y) + y - 1
        if not 0 <= row < self._count:
            return Strip.blank(width, styles.base)
        passed = self._pass_keys
        if passed is not None and passed[0] <= row < passed[0] + len(passed[1]):
            key = passed[1][row - passed[0]]
        else:
            key = self._key_at(row)
        if row == self._cursor_row:
            style = styles.cursor
        elif key is not None and key in self.selected:
            style = styles.selected
        elif self.zebra and row % 2:
            style = styles.even
        else:
            style = styles.base
        if key is None:
            strip = Strip(_cell_segments(self.loading_text, width, self.app.console), width)
            return strip.apply_style(styles.empty if row != self._cursor_row else style)
        return self._row_strip(key, width).apply_style(style)
