"""TrialTable: what is drawn, the cursor and its messages, and that it stays virtual."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from jarvis_tui.ui.widgets.trial_table import TrialTable

SIZE = (60, 12)  # 12 lines: the header and 11 rows
VISIBLE = SIZE[1] - 1
COLUMNS = [("name", 8), ("score", 5), ("note", 0)]


def keys_of(n: int) -> list[str]:
    return [f"k{i:02d}" for i in range(n)]


class TableApp(App[None]):
    def __init__(self, keys: Sequence[str] = (), *, focus: bool = True) -> None:
        super().__init__()
        self.initial_keys = list(keys)
        self.focus_table = focus
        self.cells: dict[str, list[Text | str]] = {}
        self.calls: list[str] = []
        self.highlighted: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        yield TrialTable(COLUMNS)

    def on_mount(self) -> None:
        table = self.query_one(TrialTable)
        if self.initial_keys:
            table.set_rows(self.initial_keys, self.render_row)
        if self.focus_table:
            table.focus()

    def render_row(self, key: str) -> Sequence[Text | str]:
        self.calls.append(key)
        return self.cells.get(key, [key, Text("0.5", justify="right"), f"note {key}"])

    def on_trial_table_highlighted(self, message: TrialTable.Highlighted) -> None:
        assert message.control is message.table is self.query_one(TrialTable)
        self.highlighted.append((message.key, message.row))


def lines(table: TrialTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def screen_line(table: TrialTable) -> int:
    """The widget line the cursor row is drawn on."""
    return table.cursor_row - round(table.scroll_y) + 1


def background(strip: Strip):
    return next(seg.style.bgcolor for seg in strip if seg.style is not None)


async def started(app: TableApp, pilot) -> TrialTable:
    await pilot.pause()
    app.highlighted.clear()
    return app.query_one(TrialTable)


async def test_header_rows_truncation_and_literal_markup() -> None:
    app = TableApp(keys_of(5))
    app.cells["k01"] = [
        "a-very-long-name",
        Text("12345678", justify="right"),
        "[bold]x[/] \x1b[31m",
    ]
    app.cells["k02"] = ["ab", Text("1", style="bold"), Text("x\ny")]
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        drawn = lines(table)
        assert drawn[0].startswith("name     score note ")
        assert drawn[1].startswith("k00        0.5 note k00")
        # Cut to the column widths with an ellipsis; a str cell shows its markup as typed.
        assert drawn[2].startswith("a-very-… 1234… [bold]x[/] ␛[31m")
        assert drawn[3].startswith("ab       1     x⏎y")
        assert all(len(line) == SIZE[0] for line in drawn)
        bold = [seg for seg in table.render_line(3) if seg.text.startswith("1")]
        assert bold and bold[0].style.bold  # a rich Text cell keeps its style
        plain = [seg for seg in table.render_line(2) if "[bold]" in seg.text]
        assert plain and not plain[0].style.bold
        assert table.row_count == 5 and list(table.keys) == keys_of(5)
        assert "[bold]x[/]" in drawn[2]
        app.export_screenshot()


async def test_keys_move_the_cursor_and_post_highlighted() -> None:
    app = TableApp(keys_of(30))
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        assert table.cursor_key == "k00" and table.cursor_row == 0
        await pilot.press("j", "j", "k", "down", "up", "up")
        await pilot.pause()
        moves = [("k01", 1), ("k02", 2), ("k01", 1), ("k02", 2), ("k01", 1), ("k00", 0)]
        assert app.highlighted == moves
        assert table.cursor_key == "k00"

        app.highlighted.clear()
        await pilot.press("up")  # already on the first row: nothing
        await pilot.pause()
        assert app.highlighted == []

        await pilot.press("pagedown")
        await pilot.pause()
        assert app.highlighted == [(f"k{VISIBLE:02d}", VISIBLE)]

        await pilot.press("end")
        await pilot.pause()
        assert app.highlighted[-1] == ("k29", 29)
        count = len(app.highlighted)
        await pilot.press("down", "j", "end")  # already on the last row: nothing
        await pilot.pause()
        assert len(app.highlighted) == count

        await pilot.press("pageup")
        await pilot.pause()
        assert app.highlighted[-1] == (f"k{29 - VISIBLE:02d}", 29 - VISIBLE)
        await pilot.press("home")
        await pilot.pause()
        assert app.highlighted[-1] == ("k00", 0)
        assert table.scroll_y == 0


async def test_cursor_stays_visible() -> None:
    app = TableApp(keys_of(30))
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        await pilot.press("end")
        await pilot.pause()
        drawn = lines(table)
        assert drawn[-1].startswith("k29")
        assert screen_line(table) == VISIBLE
        assert drawn[0].startswith("name")  # the header does not scroll away
        # The cursor row is drawn in the cursor colours.
        assert background(table.render_line(VISIBLE)) != background(table.render_line(1))

        await pilot.press(*["up"] * VISIBLE)  # one row above the view: scroll by one
        await pilot.pause()
        assert table.cursor_key == f"k{29 - VISIBLE:02d}"
        assert screen_line(table) == 1
        assert lines(table)[1].startswith(table.cursor_key)

        await pilot.press("home", "pagedown", "pagedown")
        await pilot.pause()
        assert 1 <= screen_line(table) <= VISIBLE
        assert lines(table)[screen_line(table)].startswith(table.cursor_key)


async def test_focus_changes_the_cursor_colours() -> None:
    app = TableApp(keys_of(5))
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        focused = background(table.render_line(1))
        app.set_focus(None)
        await pilot.pause()
        blurred = background(table.render_line(1))
        assert blurred != focused
        assert blurred != background(table.render_line(2))


async def test_set_rows_keeps_the_cursor_key_or_clamps() -> None:
    app = TableApp(keys_of(30))
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        assert table.move_to("k05")
        await pilot.pause()
        assert app.highlighted == [("k05", 5)]

        app.highlighted.clear()
        table.set_rows(list(reversed(keys_of(30))), app.render_row)
        await pilot.pause()
        assert table.cursor_key == "k05" and table.cursor_row == 24
        assert app.highlighted == []  # same key: no message
        assert lines(table)[screen_line(table)].startswith("k05")

        table.move_to("k00")  # the last row now
        await pilot.pause()
        app.highlighted.clear()
        table.set_rows(keys_of(20), app.render_row)  # k00 is now row 0, not gone
        await pilot.pause()
        assert table.cursor_key == "k00" and app.highlighted == []

        table.move_to("k19")
        await pilot.pause()
        app.highlighted.clear()
        table.set_rows(keys_of(10), app.render_row)  # k19 removed: clamp to the last row
        await pilot.pause()
        assert table.cursor_key == "k09" and table.cursor_row == 9
        assert app.highlighted == [("k09", 9)]

        app.highlighted.clear()
        table.set_rows([], app.render_row)
        await pilot.pause()
        assert table.cursor_key is None and table.cursor_row == 0 and table.row_count == 0
        assert app.highlighted == []

        with pytest.raises(ValueError):
            table.set_rows(["a", "b", "a"], app.render_row)


async def test_move_to_centres_far_rows_and_rejects_unknown_keys() -> None:
    app = TableApp([f"t{i}" for i in range(1000)])
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        assert not table.move_to("nope")
        assert table.move_to("t500")
        await pilot.pause()
        assert app.highlighted == [("t500", 500)]
        assert abs(screen_line(table) - (VISIBLE + 1) // 2) <= 1  # centred
        assert table.move_to("t500")  # already there: no message
        await pilot.pause()
        assert app.highlighted == [("t500", 500)]
        top = round(table.scroll_y)
        table.move_to("t502", scroll=False)
        assert round(table.scroll_y) == top


async def test_invalidate_renders_only_those_rows_again() -> None:
    app = TableApp(keys_of(30))
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        assert set(app.calls) == set(keys_of(VISIBLE))  # only the visible rows were rendered
        app.cells["k03"] = ["changed", "1", ""]
        app.calls.clear()
        await pilot.press("j")  # a cursor move re-styles rows without re-rendering them
        await pilot.pause()
        lines(table)
        assert app.calls == []
        assert lines(table)[4].startswith("k03")  # cached until invalidated

        table.invalidate(["k03", "not-a-key"])
        await pilot.pause()
        drawn = lines(table)
        assert set(app.calls) == {"k03"}
        assert drawn[4].startswith("changed")

        app.calls.clear()
        table.invalidate()
        lines(table)
        assert sorted(app.calls) == keys_of(VISIBLE)


async def test_ten_thousand_rows_render_only_what_is_visible() -> None:
    keys = [f"trial-{i:05d}" for i in range(10_000)]
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        table.set_rows(keys, app.render_row)
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_key == "trial-09999"
        assert lines(table)[-1].startswith("trial-0…")
        await pilot.press("pageup", "up", "home")
        await pilot.pause()
        table.set_rows(list(reversed(keys)), app.render_row)  # a re-sort
        await pilot.pause()
        assert table.cursor_key == "trial-00000"
        assert len(app.calls) < 100, len(app.calls)


async def test_click_moves_the_cursor() -> None:
    app = TableApp(keys_of(30), focus=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        assert await pilot.click(TrialTable, offset=(2, 3))
        await pilot.pause()
        assert table.cursor_key == "k02"
        assert app.highlighted == [("k02", 2)]
        assert table.has_focus
        await pilot.click(TrialTable, offset=(2, 0))  # the header: no move
        await pilot.pause()
        assert table.cursor_key == "k02"


async def test_resize_keeps_the_cursor_visible() -> None:
    app = TableApp(keys_of(30))
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        table.move_to("k09")
        await pilot.resize_terminal(60, 5)
        await pilot.pause()
        assert 1 <= screen_line(table) <= table.size.height - 1
        assert lines(table)[screen_line(table)].startswith("k09")


async def test_empty_table() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        drawn = lines(table)
        assert drawn[0].startswith("name")
        assert drawn[1].startswith("no rows")
        assert table.cursor_key is None and table.row_count == 0
        await pilot.press("j", "k", "end", "home", "pagedown", "pageup")
        await pilot.click(TrialTable, offset=(2, 3))
        await pilot.pause()
        assert app.highlighted == [] and app.calls == []
        app.export_screenshot()


@pytest.mark.parametrize("theme", ["textual-light", "ansi-dark"])
async def test_other_themes_render(theme: str) -> None:
    app = TableApp(keys_of(5))
    async with app.run_test(size=SIZE) as pilot:
        table = await started(app, pilot)
        app.theme = theme
        await pilot.pause()
        drawn = lines(table)
        assert drawn[0].startswith("name") and drawn[1].startswith("k00")


def test_bindings_have_ids_and_descriptions() -> None:
    ids = set()
    for binding in TrialTable.BINDINGS:
        assert binding.id and binding.id.startswith("trialtable.")
        assert binding.description and binding.show is False
        ids.add(binding.id)
    assert len(ids) == len(TrialTable.BINDINGS) == 6
