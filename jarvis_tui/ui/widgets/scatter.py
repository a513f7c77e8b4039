"""A fast character-cell scatter plot of optimizer trials (the Trials pane).

Two objectives on x/y; the Pareto frontier highlighted and joined by a line,
dominated and infeasible trials dimmed, one selected trial marked. Built for
10,000+ points: ``set_data`` only stores numpy arrays; the first ``render_line``
after a change bins every point into the cell grid with numpy in O(n) and builds
all strips at once, which are cached until the data, the selection, the size or
the theme change. Scrolling past, repainting or moving the mouse costs nothing.

Layout (rows, top to bottom)::

    y label ↓ better                   ●●●● shade: low→high
     0.91┤ ●·  ·
         │  ╲──●  ·      <- plot area: one cell per (column, row) bin
     0.12┤        ●──●
         └┬───┬────┬─┬
         0.11 0.4  0.8 0.93   <- ticks: the data min and max, round values between
           x label  ← better
    ● frontier  · dominated  × infeasible  ◆ selected
    ■ ▪ measured (frontier, dominated)  ● · estimated   <- only with measured points

Measured trials (``set_data(measured=...)``) are squares, estimates round: ``■`` a
measured frontier member, ``▪`` a measured dominated one.

Rows are dropped from the bottom up (scoring legend, legend, then x label) when the
widget is short; a short widget puts ``■ measured`` on the legend line if it fits, and
the legend (in short words if need be) on the x label's line when it has no row.

Colours come from component classes (``scatter--*``) that use theme variables, so
light, dark and ANSI themes all work. Labels are plain text: never markup, control
characters made visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar, Literal

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from jarvis_tui.core import fmt
from jarvis_tui.ui.text import one_line

Better = Literal["low", "high"]

#: Glyphs, one per meaning (the legend names each). A cell shows the highest-priority
#: point in it: selected > frontier > dominated > infeasible.
SELECTED = "◆"
FRONTIER = "●"
DOMINATED = "·"  # however many dominated points share the cell (∙ and • read as others)
INFEASIBLE = "×"
MEASURED_FRONTIER = "■"
MEASURED_DOMINATED = "▪"
EMPTY_TEXT = "no trials yet"
NO_FINITE_TEXT = "no plottable trials (NaN/inf values)"
TOO_SMALL_TEXT = "plot too small"

RAMP_STEPS = 4
_RAMP = tuple(f"scatter--ramp-{i}" for i in range(RAMP_STEPS))

# Style slots of the plot grid (index into the per-render style table).
_S_BLANK, _S_LINE, _S_INFEASIBLE, _S_DOMINATED, _S_FRONTIER, _S_SELECTED = range(6)
_S_DOM_RAMP = 6  # .. 6 + RAMP_STEPS - 1
_S_FRONT_RAMP = _S_DOM_RAMP + RAMP_STEPS

_LINE_CHARS = np.array(["─", "│", "╱", "╲"])

_LEGEND_WORDS = (
    ("  ", ("frontier", "dominated", "infeasible", "selected")),
    (" ", ("frontier", "dominated", "infeasible", "selected")),
    (" ", ("front", "dom", "infeas", "sel")),
)
"""The legend's gap and words, roomiest first (the first that fits is shown)."""


def _step_decimals(step: float) -> int:
    """Decimals that write every multiple of *step* exactly (0.05: 2, 0.025: 3, 10: 0)."""
    if not (step > 0 and math.isfinite(step)):
        return 0
    for d in range(13):
        scaled = step * 10.0**d
        if abs(scaled - round(scaled)) <= 1e-6 * max(1.0, scaled):
            return d
    return 12


def format_tick(
    value: float, step: float, *, money: bool = False, scale: float = 0.0,
    decimals: int | None = None,
) -> str:  # fmt: skip
    """*value* as an axis tick whose ticks are *step* apart: every tick of an axis with
    one precision, enough to tell them apart (``0.65 0.70 0.75``, never ``0.65 0.7``).

    ``0.85``, ``12``, ``1500``, ``2.3e-4``, ``1.2e6``; *money*: dollars, never an
    exponent (``$0.00015``, :func:`jarvis_tui.core.fmt.money`). *scale*: the largest
    magnitude on the axis (it decides between decimals and an exponent for all ticks);
    *decimals*: the axis's precision (default: the step's).
    """
    if not math.isfinite(value):
        return str(value)
    step = abs(step) if step and math.isfinite(step) else abs(value)
    own = _step_decimals(step) if step > 0 else 0
    if decimals is None:
        decimals = own
    if money:
        return fmt.money(value, decimals=min(max(decimals, 2), 8))
    if abs(value) < step * 1e-6:  # floating-point dust on a tick that is really zero
        value = 0.0
    top = max(abs(scale), abs(value))
    if top > 0 and (top >= 1e6 or top < 1e-3) and step > 0:
        exp = math.floor(math.log10(top))
        unit = 10.0**exp  # 0.0 or inf at the ends of the float range (5e-324, 1e308)
        relative = step / unit if unit and math.isfinite(unit) else 1.0
        mantissa = min(_step_decimals(relative) + max(decimals - own, 0), 3)
        if value == 0:
            return "0"
        head, _, tail = f"{value:.{mantissa}e}".partition("e")
        return f"{head}e{int(tail)}"
    text = f"{value:.{min(decimals, 6)}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _reads_as(label: str, value: float, step: float) -> bool:
    """*label* says *value* closely enough for an end of the axis: within a tenth of a
    step, and never 0 for a value that is not (``$0.00000`` for $0.0000049)."""
    try:
        said = float(label.replace("$", "").replace(",", ""))
    except ValueError:
        return True
    if said == 0 and abs(value) > step * 1e-6:
        return False
    return abs(said - value) <= 0.1 * step


def _nice_step(raw: float) -> float | None:
    """The smallest 1/2/2.5/5 × 10^k step at least *raw*."""
    if not (raw > 0 and math.isfinite(raw)):
        return None
    exp = math.floor(math.log10(raw))
    unit = 10.0**exp
    if unit == 0 or not math.isfinite(unit):
        return None
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if mult * unit >= raw * (1 - 1e-9):
            return mult * unit
    return 10.0 * unit


def axis_ticks(
    lo: float, hi: float, cells: int, count: int, min_gap: int, *, money: bool = False
) -> dict[int, str]:
    """Tick labels along an axis of *cells* cells spanning lo..hi: cell -> label.

    Both ends are labelled with the data min and max; in between, round values
    (multiples of a 1/2/2.5/5 step) at least *min_gap* cells from other ticks,
    about *count* ticks in all. Every label has the step's precision (the ends are
    rounded to it); an interior tick that would read like an end is left out."""
    scale = max(abs(lo), abs(hi))
    if cells <= 1:
        return {0: format_tick(lo, hi / 2 - lo / 2, money=money, scale=scale)}
    step = _nice_step((hi / 2 - lo / 2) / max(count - 1, 1) * 2)
    values: dict[int, float] = {0: lo, cells - 1: hi}
    if step is not None:
        k0, k1 = math.ceil(lo / step), math.floor(hi / step)
        if 0 <= k1 - k0 <= 2 * count:
            taken = [0, cells - 1]
            for k in range(k0, k1 + 1):
                v = k * step
                c = int(round(float(_unit(np.array([v]), lo, hi)[0]) * (cells - 1)))
                if all(abs(c - t) >= min_gap for t in taken):
                    values[c] = v
                    taken.append(c)
    fmt_step = step if step is not None else (hi / 2 - lo / 2) * 2
    # One precision for the axis: the step's, one or two decimals more when an end
    # would read a tenth of a step off (2.5 … 9.7 by 2s: "2.5 4.0 … 9.7", not "2 … 10").
    decimals = _step_decimals(fmt_step)
    for extra in range(3):
        labels = {c: format_tick(v, fmt_step, money=money, scale=scale,
                                 decimals=decimals + extra)
                  for c, v in sorted(values.items())}  # fmt: skip
        if all(_reads_as(labels[c], values[c], fmt_step) for c in (0, cells - 1)):
            break
    ends = (labels[0], labels[cells - 1])
    return {c: t for c, t in labels.items() if c in (0, cells - 1) or t not in ends}


def _padded_range(lo: float, hi: float) -> tuple[float, float]:
    """The data range; all-equal values get 5% either side (never overflowing)."""
    if hi > lo:
        return lo, hi
    pad = abs(lo) * 0.05 or 1.0
    if not math.isfinite(hi + pad):
        return lo - 2 * pad, hi
    if not math.isfinite(lo - pad):
        return lo, hi + 2 * pad
    return lo - pad, hi + pad


def _unit(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """*values* mapped to 0..1 over lo..hi; halved first so hi - lo cannot overflow."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t = (values * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5)
    return np.clip(np.nan_to_num(t, nan=0.5, posinf=1.0, neginf=0.0), 0.0, 1.0)


def _plain(text: str) -> str:
    return one_line(text, 120)


@dataclass
class _Layout:
    """Everything derived from (data, size), independent of selection and theme."""

    message: str | None = None
    gutter: int = 0
    plot_w: int = 0
    plot_h: int = 0
    top: int = 1  # first plot row
    show_xlabel: bool = False
    show_legend: bool = False
    show_scoring: bool = False
    chars: Any = None  # (plot_h, plot_w) '<U1'
    slots: Any = None  # (plot_h, plot_w) int8 style slots
    y_ticks: dict[int, str] | None = None  # plot row -> label
    x_tick_cols: list[int] | None = None
    x_tick_line: str = ""
    # point_at / selection: per data index, cell coordinates (-1 when not plotted)
    col: Any = None
    row: Any = None
    fcol: Any = None  # fractional cell coordinates
    frow: Any = None
    priority: Any = None  # 3 frontier, 2 dominated, 1 infeasible, 0 not plotted


class ScatterPlot(Widget):
    """Trials scatter plot: x/y objectives, Pareto frontier, selection marker."""

    DEFAULT_CSS = """
    ScatterPlot {
        height: 1fr;
        width: 1fr;
        min-height: 8;
    }
    ScatterPlot > .scatter--frontier { color: $primary; text-style: bold; }
    ScatterPlot > .scatter--dominated { color: $foreground; text-style: dim; }
    ScatterPlot > .scatter--infeasible { color: $error; text-style: dim; }
    ScatterPlot > .scatter--selected { color: $accent; text-style: bold; }
    ScatterPlot > .scatter--line { color: $primary; text-style: dim; }
    ScatterPlot > .scatter--axis { color: $text-muted; }
    ScatterPlot > .scatter--label { color: $foreground; }
    ScatterPlot > .scatter--ramp-0 { color: $primary; }
    ScatterPlot > .scatter--ramp-1 { color: $success; }
    ScatterPlot > .scatter--ramp-2 { color: $warning; }
    ScatterPlot > .scatter--ramp-3 { color: $error; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "scatter--frontier",
        "scatter--dominated",
        "scatter--infeasible",
        "scatter--selected",
        "scatter--line",
        "scatter--axis",
        "scatter--label",
        *_RAMP,
    }

    selected: reactive[int | None] = reactive(None)
    """Index (into the data) of the marked trial, or None."""

    class PointSelected(Message):
        """A point was clicked: *index* is its index into the data."""

        def __init__(self, plot: ScatterPlot, index: int) -> None:
            super().__init__()
            self.plot = plot
            self.index = index

        @property
        def control(self) -> ScatterPlot:
            return self.plot

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._xs = np.empty(0)
        self._ys = np.empty(0)
        self._frontier = np.zeros(0, dtype=bool)
        self._infeasible = np.zeros(0, dtype=bool)
        self._shade: np.ndarray | None = None
        self._measured: np.ndarray | None = None
        self.x_label = ""
        self.y_label = ""
        self.shade_label = ""
        self.x_better: Better = "low"
        self.y_better: Better = "low"
        self.x_money = False
        """The x axis is in US dollars (its ticks say ``$0.00015``)."""
        self.y_money = False
        """The y axis is in US dollars."""
        self._version = 0
        self._style_version = 0
        self._layout: _Layout | None = None
        self._layout_key: tuple[Any, ...] | None = None
        self._strips: list[Strip] = []
        self._strips_key: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ data

    @property
    def count(self) -> int:
        """Number of trials in the data (plotted or not)."""
        return len(self._xs)

    def set_data(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        *,
        frontier: Sequence[bool],
        infeasible: Sequence[bool] | None = None,
        shade: Sequence[float] | None = None,
        measured: Sequence[bool] | None = None,
        x_label: str = "",
        y_label: str = "",
        shade_label: str = "",
        x_better: Better = "low",
        y_better: Better = "low",
        x_money: bool = False,
        y_money: bool = False,
    ) -> None:
        """Replace the data. Cheap: arrays are stored, binning happens at the next paint.

        A point flagged both frontier and infeasible is drawn as infeasible. NaN/inf
        x or y values are not drawn; *shade* (clipped to 0..1, NaN = unshaded)
        colours frontier and dominated points along a small ramp. *measured* marks
        the points that were measured (squares) rather than estimated (round).
        *x_money* / *y_money*: that axis is in US dollars (ticks ``$0.00015``).
        """
        x = np.asarray(xs, dtype=float).reshape(-1)
        y = np.asarray(ys, dtype=float).reshape(-1)
        n = len(x)
        f = np.asarray(frontier, dtype=bool).reshape(-1)
        inf = (
            np.zeros(n, dtype=bool)
            if infeasible is None
            else np.asarray(infeasible, dtype=bool).reshape(-1)
        )
        sh = None if shade is None else np.asarray(shade, dtype=float).reshape(-1)
        ms = None if measured is None else np.asarray(measured, dtype=bool).reshape(-1)
        for what, arr in (("ys", y), ("frontier", f), ("infeasible", inf), ("shade", sh),
                          ("measured", ms)):  # fmt: skip
            if arr is not None and len(arr) != n:
                raise ValueError(f"{what} has {len(arr)} values, xs has {n}")
        for what, better in (("x_better", x_better), ("y_better", y_better)):
            if better not in ("low", "high"):
                raise ValueError(f"{what} must be 'low' or 'high', not {better!r}")
        self._xs, self._ys, self._frontier, self._infeasible, self._shade = x, y, f, inf, sh
        self._measured = ms if ms is not None and ms.any() else None
        self.x_label, self.y_label, self.shade_label = x_label, y_label, shade_label
        self.x_better, self.y_better = x_better, y_better
        self.x_money, self.y_money = x_money, y_money
        self._version += 1
        self.refresh()

    def clear(self) -> None:
        """No data: shows the "no trials yet" message."""
        self.set_data([], [], frontier=[])

    def watch_selected(self) -> None:
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_version += 1
        self._strips_key = None

    # ---------------------------------------------------------------- layout

    def _get_layout(self, size: Size) -> _Layout:
        key = (size.width, size.height, self._version)
        if self._layout is None or self._layout_key != key:
            self._layout = self._compute_layout(size.width, size.height)
            self._layout_key = key
        return self._layout

    def _compute_layout(self, width: int, height: int) -> _Layout:
        n = len(self._xs)
        if n == 0:
            return _Layout(message=EMPTY_TEXT)
        x, y = self._xs, self._ys
        finite = np.isfinite(x) & np.isfinite(y)
        idx = np.flatnonzero(finite)
        if len(idx) == 0:
            return _Layout(message=NO_FINITE_TEXT)

        show_legend = height >= 10
        show_xlabel = height >= 8
        show_scoring = self._measured is not None and height >= 12
        plot_h = height - 3 - show_legend - show_xlabel - show_scoring
        if plot_h < 2 or width < 16:
            return _Layout(message=TOO_SMALL_TEXT)

        fx, fy = x[idx], y[idx]
        x0, x1 = _padded_range(float(fx.min()), float(fx.max()))
        y0, y1 = _padded_range(float(fy.min()), float(fy.max()))

        # Left axis: tick rows first (they fix the gutter width), then the plot width.
        y_count = min(6, max(2, (plot_h - 1) // 3 + 1))
        y_ticks = {
            plot_h - 1 - c: label
            for c, label in axis_ticks(
                y0, y1, plot_h, y_count, min_gap=2, money=self.y_money
            ).items()  # fmt: skip
        }
        gutter = max(cell_len(t) for t in y_ticks.values()) + 1
        plot_w = width - gutter - 1  # one column of right margin for the last x tick
        if plot_w < 4:
            return _Layout(message=TOO_SMALL_TEXT)

        # Bin: fractional cell coordinates, then rounded cells (row 0 is the top).
        fcol = np.full(n, np.nan)
        frow = np.full(n, np.nan)
        fcol[idx] = _unit(fx, x0, x1) * (plot_w - 1)
        frow[idx] = (1.0 - _unit(fy, y0, y1)) * (plot_h - 1)
        col = np.full(n, -1, dtype=np.int64)
        row = np.full(n, -1, dtype=np.int64)
        col[idx] = np.clip(np.rint(fcol[idx]), 0, plot_w - 1).astype(np.int64)
        row[idx] = np.clip(np.rint(frow[idx]), 0, plot_h - 1).astype(np.int64)

        infeasible = self._infeasible & finite
        front = self._frontier & finite & ~self._infeasible
        dominated = finite & ~front & ~infeasible
        priority = np.zeros(n, dtype=np.int8)
        priority[infeasible] = 1
        priority[dominated] = 2
        priority[front] = 3

        cells = plot_w * plot_h
        chars = np.full(cells, " ", dtype="<U1")
        slots = np.zeros(cells, dtype=np.int8)
        flat = row * plot_w + col

        # The frontier line (under the points), in x order. With more than two
        # objectives some frontier members are dominated on the two shown: the line
        # joins only those that are not, so it reads as the trade-off curve of this view.
        fidx = np.flatnonzero(front)
        if len(fidx) >= 2:
            sx = x[fidx] if self.x_better == "low" else -x[fidx]
            sy = y[fidx] if self.y_better == "low" else -y[fidx]
            order = np.lexsort((sy, sx))
            keep: list[Any] = []
            best = np.inf
            for i in order:
                if sy[i] < best:
                    keep.append(i)
                    best = sy[i]
            if len(keep) >= 2:
                line = fidx[np.asarray(keep)]
                by_x = np.argsort(x[line], kind="stable")
                self._draw_line(chars, slots, col[line][by_x], row[line][by_x], plot_w)

        shade = self._shade
        if np.any(infeasible):
            ids = flat[infeasible]
            chars[ids] = INFEASIBLE
            slots[ids] = _S_INFEASIBLE
        if np.any(dominated):
            ids = flat[dominated]
            counts = np.bincount(ids, minlength=cells)
            hit = counts > 0
            chars[hit] = DOMINATED
            slots[hit] = _S_DOMINATED
            if shade is not None:
                self._apply_ramp(slots, ids, shade[dominated], cells, _S_DOM_RAMP)
            if self._measured is not None:  # a cell with a measured point reads measured
                chars[flat[dominated & self._measured]] = MEASURED_DOMINATED
        if len(fidx):
            ids = flat[fidx]
            chars[ids] = FRONTIER
            slots[ids] = _S_FRONTIER
            if shade is not None:
                self._apply_ramp(slots, ids, shade[fidx], cells, _S_FRONT_RAMP)
            if self._measured is not None:
                chars[flat[front & self._measured]] = MEASURED_FRONTIER

        # Bottom axis: tick columns spaced by the widest label.
        widest = max(cell_len(format_tick(v, (x1 / 2 - x0 / 2) / 2, money=self.x_money,
                                          scale=max(abs(x0), abs(x1))))
                     for v in (x0, x1))  # fmt: skip
        x_count = min(6, max(2, plot_w // (widest + 4) + 1))
        x_ticks = axis_ticks(x0, x1, plot_w, x_count, min_gap=widest + 2, money=self.x_money)
        x_cols = list(x_ticks)
        line = [" "] * width
        last_end = -1
        placed: list[tuple[int, str]] = []
        for i, (c, label) in enumerate(x_ticks.items()):
            w = cell_len(label)
            start = gutter + c - w // 2
            if i == len(x_ticks) - 1:
                start = min(start, width - w)
            start = max(start, 0)
            placed.append((start, label))
        # Keep both ends; drop interior labels that would collide.
        kept: list[tuple[int, str]] = []
        for i, (start, label) in enumerate(placed):
            is_last = i == len(placed) - 1
            nxt = placed[-1][0] if not is_last else width + 1
            if start > last_end and (is_last or start + cell_len(label) < nxt):
                kept.append((start, label))
                last_end = start + cell_len(label)
        for start, label in kept:
            line[start : start + len(label)] = list(label)
        x_tick_line = "".join(line[:width])

        return _Layout(
            gutter=gutter,
            plot_w=plot_w,
            plot_h=plot_h,
            show_xlabel=show_xlabel,
            show_legend=show_legend,
            show_scoring=show_scoring,
            chars=chars.reshape(plot_h, plot_w),
            slots=slots.reshape(plot_h, plot_w),
            y_ticks=y_ticks,
            x_tick_cols=x_cols,
            x_tick_line=x_tick_line,
            col=col,
            row=row,
            fcol=fcol,
            frow=frow,
            priority=priority,
        )

    @staticmethod
    def _apply_ramp(
        slots: np.ndarray, ids: np.ndarray, shade: np.ndarray, cells: int, base: int
    ) -> None:
        """Mean shade of the points in each cell -> one of RAMP_STEPS style slots."""
        ok = np.isfinite(shade)
        if not ok.any():
            return
        ids, shade = ids[ok], np.clip(shade[ok], 0.0, 1.0)
        total = np.bincount(ids, weights=shade, minlength=cells)
        count = np.bincount(ids, minlength=cells)
        hit = count > 0
        step = np.minimum((total[hit] / count[hit] * RAMP_STEPS).astype(np.int64), RAMP_STEPS - 1)
        cells_hit = np.flatnonzero(hit)
        # Only where this category owns the cell (a higher priority may have drawn over).
        own = slots[cells_hit] == (_S_DOMINATED if base == _S_DOM_RAMP else _S_FRONTIER)
        slots[cells_hit[own]] = base + step[own]

    @staticmethod
    def _draw_line(
        chars: np.ndarray, slots: np.ndarray, cols: np.ndarray, rows: np.ndarray, plot_w: int
    ) -> None:
        """Join consecutive (col, row) cells with box-drawing steps, vectorised."""
        keep = np.ones(len(cols), dtype=bool)
        keep[1:] = (cols[1:] != cols[:-1]) | (rows[1:] != rows[:-1])
        cols, rows = cols[keep], rows[keep]
        if len(cols) < 2:
            return
        c0, r0 = cols[:-1], rows[:-1]
        dc, dr = cols[1:] - c0, rows[1:] - r0
        steps = np.maximum(np.abs(dc), np.abs(dr))  # >= 1 after dedupe
        seg = np.repeat(np.arange(len(steps)), steps + 1)
        starts = np.cumsum(steps + 1) - (steps + 1)
        k = np.arange(len(seg)) - starts[seg]
        t = k / steps[seg]
        pc = np.rint(c0[seg] + t * dc[seg]).astype(np.int64)
        pr = np.rint(r0[seg] + t * dr[seg]).astype(np.int64)
        # Direction of each step to the next point of the same segment.
        last = k == steps[seg]
        nc = np.empty_like(pc)
        nr = np.empty_like(pr)
        nc[:-1], nr[:-1] = pc[1:] - pc[:-1], pr[1:] - pr[:-1]
        nc[-1] = nr[-1] = 0
        pc, pr, nc, nr = pc[~last], pr[~last], nc[~last], nr[~last]
        kind = np.where(nr == 0, 0, np.where(nc == 0, 1, np.where(nr < 0, 2, 3)))
        ids = pr * plot_w + pc
        chars[ids] = _LINE_CHARS[kind]
        slots[ids] = _S_LINE

    # ------------------------------------------------------------- rendering

    def _styles(self) -> list[Style]:
        get = self.get_component_rich_style
        dim = Style(dim=True)
        ramp = [get(name) for name in _RAMP]
        return [
            self.rich_style,
            get("scatter--line"),
            get("scatter--infeasible"),
            get("scatter--dominated"),
            get("scatter--frontier"),
            get("scatter--selected"),
            *[style + dim for style in ramp],
            *[style + Style(bold=True) for style in ramp],
        ]

    def _build_strips(self, width: int, height: int) -> list[Strip]:
        base = self.rich_style
        layout = self._get_layout(Size(width, height))
        if layout.message is not None:
            strips = [Strip.blank(width, base)] * height
            if height:
                text = layout.message[:width]
                pad = max((width - cell_len(text)) // 2, 0)
                label = self.get_component_rich_style("scatter--label")
                strips[height // 2] = Strip(
                    [Segment(" " * pad, base), Segment(text, label)]
                ).adjust_cell_length(width, base)
            return strips

        styles = self._styles()
        axis = self.get_component_rich_style("scatter--axis")
        label = self.get_component_rich_style("scatter--label")
        gutter, plot_w, plot_h = layout.gutter, layout.plot_w, layout.plot_h
        chars, slots = layout.chars, layout.slots

        sel = self.selected
        sel_cell: tuple[int, int] | None = None
        if sel is not None and 0 <= sel < len(layout.col) and layout.col[sel] >= 0:
            sel_cell = (int(layout.row[sel]), int(layout.col[sel]))

        def fit(segments: list[Segment]) -> Strip:
            return Strip(segments).adjust_cell_length(width, base)

        strips = [self._title_row(styles, axis, label, width)]
        y_ticks = layout.y_ticks or {}
        right_pad = Segment(" " * (width - gutter - plot_w), base)
        for r in range(plot_h):
            tick = y_ticks.get(r)
            gut = (tick or "").rjust(gutter - 1) + ("┤" if tick is not None else "│")
            row_chars = chars[r]
            row_slots = slots[r]
            if sel_cell is not None and sel_cell[0] == r:
                row_chars = row_chars.copy()
                row_slots = row_slots.copy()
                row_chars[sel_cell[1]] = SELECTED
                row_slots[sel_cell[1]] = _S_SELECTED
            text = "".join(row_chars.tolist())
            cuts = (np.flatnonzero(row_slots[1:] != row_slots[:-1]) + 1).tolist()
            bounds = [0, *cuts, plot_w]
            segments = [Segment(gut, axis)]
            slot_list = row_slots.tolist()
            segments.extend(Segment(text[a:b], styles[slot_list[a]]) for a, b in pairwise(bounds))
            segments.append(right_pad)
            strips.append(Strip(segments, width))

        axis_chars = ["─"] * plot_w
        for c in layout.x_tick_cols or ():
            axis_chars[c] = "┬"
        strips.append(fit([Segment(" " * (gutter - 1) + "└" + "".join(axis_chars), axis)]))
        strips.append(fit([Segment(layout.x_tick_line, axis)]))
        if layout.show_xlabel:
            x_hint = "← better" if self.x_better == "low" else "better →"
            x_title = _plain(self.x_label)
            body = [Segment(f"{x_title}  " if x_title else "", label), Segment(x_hint, axis)]
            w = sum(cell_len(s.text) for s in body)
            pad = max(gutter + (plot_w - w) // 2, 0)
            row = [Segment(" " * pad, base), *body]
            if not layout.show_legend:  # no row of its own: the legend goes before the label
                legend = self._legend(styles, label, width - w - 3)
                used = sum(cell_len(seg.text) for seg in legend)
                if used + 3 + w <= width:
                    row = [*legend, Segment(" " * max(3, pad - used), base), *body]
            strips.append(fit(row))
        if layout.show_legend:
            legend = self._legend(styles, label, width)
            if self._measured is not None and not layout.show_scoring:
                extra = [Segment("  " if width >= 50 else " ", label),
                         Segment(MEASURED_FRONTIER, styles[_S_FRONTIER]),
                         Segment(" measured", label)]  # fmt: skip
                if sum(cell_len(s.text) for s in legend + extra) <= width:
                    legend += extra
            strips.append(fit(legend))
        if layout.show_scoring:
            strips.append(fit(self._scoring_legend(styles, label, width)))
        while len(strips) < height:
            strips.append(Strip.blank(width, base))
        return strips[:height]

    def _legend(self, styles: list[Style], label: Style, width: int) -> list[Segment]:
        """The glyph key that fits *width*: roomy, then with single spaces, then with
        short words (``● front · dom × infeas ◆ sel``)."""
        glyphs = ((FRONTIER, _S_FRONTIER), (DOMINATED, _S_DOMINATED),
                  (INFEASIBLE, _S_INFEASIBLE), (SELECTED, _S_SELECTED))  # fmt: skip
        for gap, words in _LEGEND_WORDS:
            out: list[Segment] = []
            for i, ((glyph, slot), word) in enumerate(zip(glyphs, words, strict=True)):
                out.append(Segment(glyph, styles[slot]))
                out.append(Segment(f" {word}" + (gap if i < len(words) - 1 else ""), label))
            if sum(cell_len(seg.text) for seg in out) <= width:
                break
        return out

    def _scoring_legend(self, styles: list[Style], label: Style, width: int) -> list[Segment]:
        """Squares are measured trials, round glyphs estimates."""
        gap = "  " if width >= 50 else " "
        return [
            Segment(MEASURED_FRONTIER, styles[_S_FRONTIER]),
            Segment(" "),
            Segment(MEASURED_DOMINATED, styles[_S_DOMINATED]),
            Segment(" measured" + (" (frontier, dominated)" if width >= 56 else "") + gap, label),
            Segment(FRONTIER, styles[_S_FRONTIER]),
            Segment(" "),
            Segment(DOMINATED, styles[_S_DOMINATED]),
            Segment(" estimated", label),
        ]

    def _title_row(self, styles: list[Style], axis: Style, label: Style, width: int) -> Strip:
        """y label and its better-hint on the left; the shade ramp key on the right."""
        base = self.rich_style
        hint = "↓ better" if self.y_better == "low" else "↑ better"
        y_title = _plain(self.y_label)
        left = [Segment(f"{y_title} " if y_title else "", label), Segment(hint, axis)]
        used = sum(cell_len(seg.text) for seg in left)
        if self._shade is not None:
            shade_title = _plain(self.shade_label)
            right = [Segment(FRONTIER, styles[_S_FRONT_RAMP + i]) for i in range(RAMP_STEPS)]
            right.append(
                Segment(f" {shade_title}: low→high" if shade_title else " low→high", label)
            )
            need = sum(cell_len(seg.text) for seg in right) + 1
            if used + 2 + need <= width:
                left.append(Segment(" " * (width - used - need), base))
                left.extend(right)
        return Strip(left).adjust_cell_length(width, base)

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (width, height, self._version, self.selected, self._style_version)
        if self._strips_key != key:
            self._strips = self._build_strips(width, height)
            self._strips_key = key
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    # ---------------------------------------------------------------- mouse

    def point_at(self, x: int, y: int) -> int | None:
        """The data index of the point nearest to cell (*x*, *y*) of the content area
        (widget-relative unless padding/border is added), or None when no point is
        within two columns / one row. Among equally near cells, the point drawn on
        top (frontier over dominated over infeasible) wins."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return None
        layout = self._get_layout(Size(width, height))
        if layout.message is not None or layout.col is None:
            return None
        pc, pr = x - layout.gutter, y - layout.top
        if not (-2 <= pc < layout.plot_w + 2 and -1 <= pr < layout.plot_h + 1):
            return None
        plotted = np.flatnonzero(layout.priority > 0)
        dc = layout.col[plotted] - pc
        dr = layout.row[plotted] - pr
        dist = dc * dc + 4 * dr * dr  # a cell is about twice as tall as wide
        near = dist <= 4
        if not near.any():
            return None
        cand = plotted[near]
        cdist = dist[near]
        exact = (layout.fcol[cand] - pc) ** 2 + 4 * (layout.frow[cand] - pr) ** 2
        order = np.lexsort((exact, -layout.priority[cand].astype(np.int64), cdist))
        sel = self.selected
        best_cell = cdist[order[0]]
        if sel is not None and sel in cand[cdist == best_cell]:
            return int(sel)  # the marked point is what the user sees there
        return int(cand[order[0]])

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.point_at(offset.x, offset.y)
        if index is not None:
            event.stop()
            self.post_message(self.PointSelected(self, index))
