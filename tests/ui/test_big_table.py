"""BigTable over a row source: a million rows, rows not loaded yet, narrow lines, messages."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import App, ComposeResult

from jarvis_tui.ui.widgets.big_table import BigTable, Column

SIZE = (60, 12)


class LazySource:
    """A million rows, of which only the rows in ``loaded`` are held (like a page cache)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.loaded: set[int] = set(range(50))
        self.asked: list[tuple[int, int]] = []

    def count(self) -> int:
        return self.n

    def rows(self, offset: int, limit: int) -> Sequence[str | None]:
        self.asked.append((offset, limit))
        end = min(offset + limit, self.n)
        return [f"r{i}" if i in self.loaded else None for i in range(offset, end)]

    def cells(self, key: str) -> Sequence[Text | str]:
        i = int(key[1:])
        return [key, Text(f"{i % 7}", justify="right"), f"note {i}"]

    def index_of(self, key: str) -> int | None:
        i = int(key[1:])
        return i if i in self.loaded else None


COLUMNS = [
    Column("name", "Name", 9),
    Column("score", "Score", 5, drop=1),
    Column("note", "Note", 0, min_width=30),
]


class TableApp(App[None]):
    def __init__(self, source: LazySource) -> None:
        super().__init__()
        self.source = source
        self.events: list[object] = []

    def compose(self) -> ComposeResult:
        yield BigTable(COLUMNS, self.source)

    def on_mount(self) -> None:
        self.query_one(BigTable).focus()

    def on_big_table_row_highlighted(self, msg: BigTable.RowHighlighted) -> None:
        self.events.append(("highlighted", msg.key, msg.row))

    def on_big_table_row_selected(self, msg: BigTable.RowSelected) -> None:
        self.events.append(("selected", msg.key, msg.row))

    def on_big_table_header_selected(self, msg: BigTable.HeaderSelected) -> None:
        self.events.append(("header", msg.column))


def screen_text(app: App) -> list[str]:
    table = app.query_one(BigTable)
    return [table.render_line(y).text for y in range(table.size.height)]


async def test_end_of_a_million_rows_asks_only_for_the_rows_in_view() -> None:
    source = LazySource(1_000_000)
    app = TableApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one(BigTable)
        source.asked.clear()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == 999_999
        lines = screen_text(app)
        assert lines[-1].startswith("…")  # the last row is not loaded yet
        assert all(limit <= 12 for _offset, limit in source.asked)
        # The page arrives: the source holds it now and says so.
        source.loaded |= set(range(999_980, 1_000_000))
        table.source_changed()
        await pilot.pause()
        lines = screen_text(app)
        assert lines[-1].startswith("r999999")
        assert ("highlighted", "r999999", 999_999) in app.events
        # The scrollbar is the position in the million rows: at the bottom.
        assert table.scroll_y == table.max_scroll_y > 999_000
        await pilot.press("enter")
        await pilot.pause()
        assert app.events[-1] == ("selected", "r999999", 999_999)


async def test_a_narrow_line_drops_the_column_with_the_highest_drop_first() -> None:
    app = TableApp(LazySource(10))
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        assert screen_text(app)[0].split() == ["Name", "Score", "Note"]
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert screen_text(app)[0].split() == ["Name", "Note"]


async def test_a_header_click_names_the_column() -> None:
    app = TableApp(LazySource(10))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.click(BigTable, offset=(11, 0))
        await pilot.pause()
        assert ("header", "score") in app.events
