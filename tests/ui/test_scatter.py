"""ScatterPlot: what a user sees in the cells, the mouse, and robustness on odd data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from textual.app import App, ComposeResult

from jarvis_tui.ui.widgets.scatter import (
    DOMINATED,
    EMPTY_TEXT,
    FRONTIER,
    INFEASIBLE,
    SELECTED,
    ScatterPlot,
    axis_ticks,
    format_tick,
)

SIZE = (60, 20)


class PlotApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.picked: list[int] = []

    def compose(self) -> ComposeResult:
        yield ScatterPlot()

    def on_scatter_plot_point_selected(self, message: ScatterPlot.PointSelected) -> None:
        assert message.control is self.query_one(ScatterPlot)
        self.picked.append(message.index)


def lines(plot: ScatterPlot) -> list[str]:
    return [plot.render_line(y).text for y in range(plot.size.height)]


def plot_area(plot: ScatterPlot) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) plot cells, read off the drawn axes."""
    rows = lines(plot)
    axis_y = next(y for y, line in enumerate(rows) if "└" in line)
    corner_x = rows[axis_y].index("└")
    right = len(rows[axis_y].rstrip()) - 1
    return corner_x + 1, 1, right, axis_y - 1


def glyphs(plot: ScatterPlot, chars: str) -> list[tuple[int, int, str]]:
    """(x, y, char) of every cell of the plot area showing one of *chars*."""
    left, top, right, bottom = plot_area(plot)
    rows = lines(plot)
    return [
        (x, y, rows[y][x])
        for y in range(top, bottom + 1)
        for x in range(left, right + 1)
        if rows[y][x] in chars
    ]


POINTS = FRONTIER + SELECTED + INFEASIBLE + DOMINATED + "∙•"


async def test_points_land_in_the_corners_with_their_glyphs() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        plot.set_data([0.0, 10.0, 5.0], [0.0, 100.0, 50.0], frontier=[True, False, False])
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        rows = lines(plot)
        assert rows[bottom][left] == FRONTIER  # min x, min y: bottom-left, on the frontier
        assert rows[top][right] == DOMINATED[0]  # max x, max y: top-right, dominated
        assert len(glyphs(plot, POINTS)) == 3


async def test_selected_infeasible_and_glyph_priority() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        # 0/1 share a cell (frontier + infeasible), 2/3 share one (dominated + infeasible),
        # 4 is alone and infeasible, 5 is alone and dominated.
        plot.set_data(
            [0, 0, 10, 10, 5, 2],
            [0, 0, 10, 10, 5, 8],
            frontier=[True, False, False, False, False, False],
            infeasible=[False, True, False, True, True, False],
        )
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        rows = lines(plot)
        assert rows[bottom][left] == FRONTIER
        assert rows[top][right] == DOMINATED[0]
        cells = {(x, y): ch for x, y, ch in glyphs(plot, POINTS)}
        assert sorted(cells.values()).count(INFEASIBLE) == 1  # only the lone one shows ×

        plot.selected = 5
        await pilot.pause()
        marked = glyphs(plot, SELECTED)
        assert len(marked) == 1
        x, y, _ = marked[0]
        assert plot.point_at(x, y) == 5
        plot.selected = 0  # the selection is drawn over a frontier point
        await pilot.pause()
        assert lines(plot)[bottom][left] == SELECTED
        assert (x, y, DOMINATED[0]) in glyphs(plot, POINTS)
        plot.selected = 99  # out of range: nothing marked, no error
        await pilot.pause()
        assert glyphs(plot, SELECTED) == []


async def test_frontier_is_joined_by_a_line_in_x_order() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        # Same y: (10, 0) is a frontier member (of more objectives) but dominated on
        # the two shown, so the line, the trade-off curve of this view, skips it.
        plot.set_data([10, 0, 5], [0, 0, 5], frontier=[True, True, False])
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        row = lines(plot)[bottom][left : right + 1]
        assert row[0] == FRONTIER and row[-1] == FRONTIER
        assert set(row[1:-1]) == {" "}
        # Higher x better: a rising trade-off is joined with ─ runs and ╱ steps.
        plot.set_data([0, 10, 5], [0, 10, 20], frontier=[True, True, False], x_better="high")
        await pilot.pause()
        assert "╱" in "\n".join(lines(plot)) or "─" in "\n".join(lines(plot))

        # A falling diagonal, given out of x order: drawn left to right with ╲ steps.
        plot.set_data([10, 0, 5], [0, 10, 5], frontier=[True, True, True])
        await pilot.pause()
        text = "\n".join(lines(plot))
        assert "╲" in text and "╱" not in text
        assert len(glyphs(plot, FRONTIER)) == 3

        # Dominated points never get a line.
        plot.set_data([0, 10], [0, 10], frontier=[False, False])
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        area = "".join(r[left : right + 1] for r in lines(plot)[top : bottom + 1])
        assert not set("─│╱╲") & set(area)


async def test_axis_ticks_show_the_data_range_and_labels_are_plain() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        plot.set_data(
            [0.25, 0.75, 0.5],
            [10, 50, 30],
            frontier=[True, False, False],
            x_label="latency [bold]s[/]",
            y_label="error\x1b[31m",
            x_better="low",
            y_better="high",
        )
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        rows = lines(plot)
        assert rows[top][: left - 1].strip() == "50" and rows[top][left - 1] == "┤"
        assert rows[bottom][: left - 1].strip() == "10" and rows[bottom][left - 1] == "┤"
        ticks = rows[bottom + 2].split()
        assert ticks[0] == "0.25" and ticks[-1] == "0.75"
        assert 4 <= sum(r[left - 1] == "┤" for r in rows) <= 6
        assert rows[0].startswith("error␛[31m ↑ better")
        assert "latency [bold]s[/]  ← better" in rows[bottom + 3]
        legend = rows[bottom + 4]
        assert "● frontier" in legend and "· dominated" in legend
        assert "× infeasible" in legend and "◆ selected" in legend

        plot.set_data([1e-4, 3e-4], [2e6, 5e6], frontier=[True, True])
        await pilot.pause()
        text = "\n".join(lines(plot))
        # one precision per axis: 1.0e-4 … 3.0e-4 (never 1e-4 beside 1.5e-4)
        assert "1.0e-4" in text and "3.0e-4" in text and "2e6" in text and "5e6" in text

        plot.set_data([1.3e-5, 1.5e-4], [0.636, 0.799], frontier=[True, True], x_money=True)
        await pilot.pause()
        rows = lines(plot)
        left, top, right, bottom = plot_area(plot)
        x_ticks = rows[bottom + 2].split()
        assert x_ticks[0] == "$0.00001" and x_ticks[-1] == "$0.00015", x_ticks
        assert all(t.startswith("$0.000") and len(t) == 8 for t in x_ticks), x_ticks
        y_ticks = [r[: left - 1].strip() for r in rows[top : bottom + 1] if r[left - 1] == "┤"]
        assert y_ticks[0] == "0.80" and y_ticks[-1] == "0.64", y_ticks
        assert {len(t) for t in y_ticks} == {4}, y_ticks  # 0.70, never 0.7 beside 0.799


def test_format_tick() -> None:
    assert format_tick(0.85, 0.05) == "0.85"
    assert format_tick(0.5, 0.25) == "0.50"  # the step's precision: 0.25, 0.50, 0.75
    assert format_tick(1500, 500) == "1500"
    assert format_tick(0.00023, 0.00005) == "2.3e-4"
    assert format_tick(2_300_000, 100_000) == "2.3e6"
    assert format_tick(0, 1) == "0"
    assert format_tick(1e-17, 0.25) == "0.00"
    assert format_tick(0.00015, 0.00005, money=True) == "$0.00015"
    assert format_tick(0.0001, 0.00005, money=True) == "$0.00010"
    assert format_tick(1.2, 0.5, money=True) == "$1.20"
    assert format_tick(-1.25, 0.25) == "-1.25"


def test_axis_ticks_label_the_ends_and_round_values_between() -> None:
    ticks = axis_ticks(0.0132, 0.987, 100, 6, min_gap=3)
    assert list(ticks.values()) == ["0.01", "0.20", "0.40", "0.60", "0.80", "0.99"]
    assert list(axis_ticks(2.5, 9.7, 40, 6, min_gap=6).values()) == [
        "2.5", "4.0", "6.0", "8.0", "9.7"]  # fmt: skip
    money = list(axis_ticks(0.0000049, 0.000115, 40, 6, min_gap=6, money=True).values())
    assert money[0] == "$0.000005" and money[-1] == "$0.000115"  # an end never reads $0.00000
    assert {len(t) for t in money} == {9}, money
    assert min(ticks) == 0 and max(ticks) == 99
    assert axis_ticks(10, 50, 15, 5, min_gap=2) == {0: "10", 4: "20", 7: "30", 10: "40", 14: "50"}
    assert axis_ticks(3, 3.5, 1, 4, min_gap=2) == {0: "3.00"}


async def test_nan_and_inf_are_skipped() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        plot.set_data(
            [0, math.nan, 10, math.inf, 3],
            [0, 5, 10, 3, -math.inf],
            frontier=[True, True, False, False, False],
            shade=[0.2, 0.5, math.nan, 1.0, 0.0],
        )
        plot.selected = 1  # a skipped point: not marked
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        assert len(glyphs(plot, POINTS)) == 2
        rows = lines(plot)
        assert rows[top][: left - 1].strip() == "10.0" and rows[bottom][: left - 1].strip() == "0.0"

        # Extremes: a span beyond the float range, huge equal values, a subnormal span.
        for xs in ([-1e308, 1e308, 0.0], [1.7e308] * 3, [5e-324, 1e-323, 0.0]):
            plot.set_data(xs, [1, 2, 3], frontier=[True, False, False])
            await pilot.pause()
            assert len(glyphs(plot, POINTS)) >= 1
            assert "nan" not in "\n".join(lines(plot)).lower()

        plot.set_data([math.nan, math.inf], [1, 2], frontier=[True, False])
        await pilot.pause()
        assert "no plottable trials" in "\n".join(lines(plot))
        assert plot.point_at(10, 10) is None


async def test_empty_single_and_equal_values() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        await pilot.pause()
        rows = lines(plot)  # before any data
        middle = rows[len(rows) // 2]
        assert middle.strip() == EMPTY_TEXT
        pad = middle.index(EMPTY_TEXT)
        assert abs(pad - (len(middle) - pad - len(EMPTY_TEXT))) <= 1  # centred
        assert plot.point_at(30, 10) is None

        plot.set_data([3.0], [7.0], frontier=[True])
        plot.selected = 0
        await pilot.pause()
        ((x, y, ch),) = glyphs(plot, POINTS)
        assert ch == SELECTED
        assert plot.point_at(x, y) == 0
        left, top, right, bottom = plot_area(plot)
        assert left < x < right and top < y < bottom  # padded range: the point is inside

        plot.set_data([2, 2, 2], [5, 5, 5], frontier=[False, False, False])
        await pilot.pause()
        assert [ch for _, _, ch in glyphs(plot, POINTS)] == [SELECTED]  # selection is kept
        plot.selected = None
        await pilot.pause()
        # 3 in one cell: the one dominated glyph (one glyph per meaning, finding 31)
        assert [ch for _, _, ch in glyphs(plot, POINTS)] == [DOMINATED] == ["·"]

        plot.clear()
        await pilot.pause()
        assert EMPTY_TEXT in "\n".join(lines(plot))


async def test_point_at_and_click_post_point_selected() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        plot.set_data([0, 10, 5], [0, 10, 5], frontier=[True, False, False])
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        assert plot.point_at(left, bottom) == 0
        assert plot.point_at(right, top) == 1
        assert plot.point_at(right - 1, top) == 1  # a column off still finds it
        assert plot.point_at(left + 8, top) is None  # far from every point
        assert plot.point_at(0, 0) is None

        ((mx, my, _),) = [
            g for g in glyphs(plot, POINTS) if g[:2] not in {(left, bottom), (right, top)}
        ]
        assert plot.point_at(mx, my) == 2

        assert await pilot.click(ScatterPlot, offset=(mx, my))
        await pilot.pause()
        assert await pilot.click(ScatterPlot, offset=(left, bottom))
        await pilot.pause()
        assert await pilot.click(ScatterPlot, offset=(left + 8, top))  # empty: no message
        await pilot.pause()
        assert app.picked == [2, 0]


async def test_shade_colours_points_along_the_ramp() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        plot.set_data(
            [0, 10, 0, 10],
            [0, 10, 10, 0],
            frontier=[True, True, False, False],
            shade=[0.0, 1.0, 0.0, 1.0],
            shade_label="cost",
        )
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)

        def style_at(x: int, y: int):
            cell = 0
            for seg in plot.render_line(y):
                if cell <= x < cell + len(seg.text):
                    return seg.style
                cell += len(seg.text)
            raise AssertionError

        low, high = style_at(left, bottom), style_at(right, top)
        assert low.color != high.color
        assert not low.dim and style_at(left, top).dim  # dominated stays dim
        assert style_at(left, top).color == low.color  # same shade, same hue
        assert lines(plot)[0].endswith("●●●● cost: low→high ")


async def test_ten_thousand_points_render_and_cache() -> None:
    app = PlotApp()
    async with app.run_test(size=(120, 30)) as pilot:
        plot = app.query_one(ScatterPlot)
        rng = np.random.default_rng(42)
        n = 10_000
        xs, ys = rng.lognormal(size=n), rng.normal(size=n)
        xs[rng.integers(0, n, 50)] = np.nan
        plot.set_data(
            xs,
            ys,
            frontier=rng.random(n) < 0.01,
            infeasible=rng.random(n) < 0.05,
            shade=rng.random(n),
            x_label="latency",
            y_label="error",
        )
        plot.selected = 123
        await pilot.pause()
        strips = [plot.render_line(y) for y in range(plot.size.height)]
        assert all(s.cell_length == plot.size.width for s in strips)
        assert len(glyphs(plot, SELECTED)) == 1
        assert plot.render_line(5) is strips[5]  # cached until something changes
        plot.selected = 7
        assert plot.render_line(5) is not strips[5]

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert all(plot.render_line(y).cell_length == 80 for y in range(24))

        plot.set_data([1, 2], [3, 4], frontier=[True, False])  # and back to a tiny set
        plot.selected = None
        await pilot.pause()
        assert len(glyphs(plot, POINTS)) == 2


async def test_theme_change_restyles() -> None:
    app = PlotApp()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        plot.set_data([0, 10], [0, 10], frontier=[True, False])
        await pilot.pause()
        left, top, right, bottom = plot_area(plot)
        before = list(plot.render_line(bottom))
        app.theme = "textual-light"
        await pilot.pause()
        assert list(plot.render_line(bottom)) != before


def test_set_data_rejects_mismatched_lengths() -> None:
    plot = ScatterPlot()
    with pytest.raises(ValueError, match="frontier"):
        plot.set_data([1, 2], [1, 2], frontier=[True])
    with pytest.raises(ValueError, match="x_better"):
        plot.set_data([1], [1], frontier=[True], x_better="up")  # type: ignore[arg-type]
