"""Line charts drawn with plotext away from the UI thread (the Training pane).

A chart is described by a :class:`ChartSpec` (plain data: title, series, epoch
lines, the x range for whole-step ticks), and :func:`draw` turns a spec into the
picture at a size and a plotext theme: the plotext canvas and its ANSI decoding,
the costly part (tens of ms a chart). A pane builds specs and pictures in a thread
worker from a snapshot of its data and hands them to :meth:`Chart.show`; the widget
only swaps what it shows, so a run streaming its metrics never draws on the UI
thread (issues 11 and 15: that drawing was most of the app's lag while training).

The widget draws on the UI thread only when the picture it was given does not fit
any more (the chart was resized, it just appeared, or the theme changed): once per
such change, from the spec it holds, so it is never shown cut or stretched. Both
paths call the same :func:`draw`, so a picture is the same whichever thread drew it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional, cast

from rich.text import Text
from textual._context import active_app  # Content reads the app's ANSI theme from it
from textual.content import Content
from textual.message import Message
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

_PLOTEXT = threading.Lock()
"""plotext keeps module-level state: one canvas is built at a time, in any thread."""

Y_LABELS = 10
"""About what plotext's y tick labels take of a chart's width (a title wider than the
rest is dropped by plotext)."""


def step_ticks(lo: float, hi: float, count: int) -> list[int]:
    """At most *count* integer step ticks from *lo* to *hi* (whole steps, a round
    stride: 1, 2, 5, 10, 20, 25, 50 …), never a fraction of a step."""
    lo_i, hi_i = int(math.floor(lo)), int(math.ceil(hi))
    span = max(1, hi_i - lo_i)
    raw = span / max(1, count)
    base = 1
    while base * 5 < raw:
        base *= 10
    nice = (1, 2, 5, 10) if base == 1 else (1, 2, 2.5, 5, 10)  # whole steps only
    stride = int(next(base * m for m in nice if base * m >= raw))
    first = -(-lo_i // stride) * stride
    return list(range(first, hi_i + 1, stride)) or [lo_i]


def value_ticks(lo: float, hi: float, count: int, decimals: int) -> list[float]:
    """At most about *count* ticks from *lo* to *hi* at a round stride (1, 2, 2.5, 5 ×
    a power of ten), never finer than *decimals* decimals."""
    span = hi - lo
    if not (math.isfinite(lo) and math.isfinite(hi)) or span <= 0:
        return [round(lo, decimals)] if math.isfinite(lo) else []
    raw = span / max(1, count)
    base = 10.0 ** math.floor(math.log10(raw))
    stride = next(base * m for m in (1, 2, 2.5, 5, 10) if base * m >= raw)
    stride = max(stride, 10.0**-decimals)
    first = math.ceil(lo / stride - 1e-9)
    ticks = []
    k = first
    while k * stride <= hi + 1e-9 * stride:
        ticks.append(round(k * stride, decimals))
        k += 1
    return ticks or [round(lo, decimals)]


@dataclass(frozen=True)
class Series:
    """One line (or scatter) of a chart."""

    xs: Sequence[float]
    ys: Sequence[float]
    label: Optional[str] = None
    """The legend's text (plain text, already cut to length)."""
    scatter: bool = False
    marker: str = "braille"


@dataclass(frozen=True)
class ChartSpec:
    """What a chart shows, independent of its size: :func:`draw` fits the title and
    the ticks to the size it draws at."""

    title: str
    short_title: str = ""
    """Shown instead of *title* when the chart is too narrow for it (never no title)."""
    series: tuple[Series, ...] = ()
    vlines: tuple[float, ...] = ()
    """Vertical marks (epoch ends)."""
    steps: Optional[tuple[float, float]] = None
    """The x range in whole steps: ticks at round steps (plotext's own are fractions:
    22.2, 43.5); None leaves plotext's."""
    y_decimals: Optional[int] = None
    """The y ticks at round values with this many decimals (tokens/s: 21,800, not
    21799.8); None leaves plotext's."""


@dataclass(frozen=True)
class Picture:
    """A spec drawn at a size and a plotext theme."""

    spec: ChartSpec
    width: int
    height: int
    theme: str
    text: Text
    strips: Optional[list[Strip]] = None
    """The lines Textual paints for it (:meth:`Chart.lines`), made where it was drawn."""
    style: Optional[Style] = None
    """The chart's visual style the strips were made with."""


LEGEND_ROOM_ROWS = 14
"""A chart's canvas at least this high keeps its top rows free for the legend."""


def _legend_headroom(spec: ChartSpec, height: int) -> Optional[tuple[float, float]]:
    """The y range that keeps the legend's rows (plotext draws it at the canvas's top
    left, one row per labelled series) above the curves: a loss starts high at the
    left, right under it. None when the chart is too low to spare them (80x24: the
    curve keeps its rows) or there is no legend."""
    labelled = sum(1 for s in spec.series if s.label)
    ys = [float(y) for s in spec.series for y in s.ys
          if isinstance(y, (int, float)) and math.isfinite(y)]  # fmt: skip
    rows = height - 4  # the title, the frame's two rows, the x ticks
    if not labelled or not ys or rows < LEGEND_ROOM_ROWS:
        return None
    lo, hi = min(ys), max(ys)
    if hi <= lo:
        return None
    need = labelled + 1  # its rows and a gap
    return lo, hi + (hi - lo) * need / (rows - need)


def draw(spec: ChartSpec, width: int, height: int, theme: str) -> Picture:
    """*spec* drawn at *width* × *height* cells with the plotext *theme* (any thread).

    The same calls, in the same order, as a ``PlotextPlot`` given the data and then
    rendered: the picture is the one the widget would have drawn itself."""
    with _PLOTEXT:
        plt = Plot()
        plt.clear_data()
        plt.clear_figure()
        short = spec.short_title or spec.title
        plt.title(spec.title if len(spec.title) <= width - Y_LABELS else short)
        for s in spec.series:
            add = plt.scatter if s.scatter else plt.plot
            add(list(s.xs), list(s.ys), label=s.label, marker=s.marker)
        headroom = _legend_headroom(spec, height)
        if headroom is not None:
            plt.ylim(*headroom)
        for x in spec.vlines:
            plt.vline(x)
        if spec.y_decimals is not None:
            ys = [float(y) for s in spec.series for y in s.ys
                  if isinstance(y, (int, float)) and math.isfinite(y)]  # fmt: skip
            if ys:
                dec = spec.y_decimals
                yt = value_ticks(min(ys), max(ys), max(3, height - 4), dec)  # a row each
                plt.yticks(yt, [f"{t:,.{dec}f}" for t in yt])
        if spec.steps is not None:
            lo, hi = spec.steps
            room = len(f"{hi:,}") + 4  # a label and the gap to the next
            ticks = step_ticks(lo, hi, max(2, max(10, width) // room))
            plt.xticks(cast(list[float], ticks), [f"{t:,}" for t in ticks])
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render (textual-plotext issue 5)
        plt.theme(theme)
        ansi = plt.build()
    return Picture(spec, width, height, theme, Text.from_ansi(ansi))


class Chart(PlotextPlot):
    """A plotext chart that shows the picture it is handed (:meth:`show`), drawn
    elsewhere; it draws itself only when that picture does not fit its size or theme
    (see the module's docstring). Repaints for any other reason (a layout pass, several
    a second while a run streams) reuse what it shows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = ChartSpec(title="")
        """What the chart shows (its data)."""
        self._picture: Optional[Picture] = None
        self._content: Optional[Content] = None  # the picture, as Textual renders it

    class Resized(Message):
        """The chart got a new size (a spec fitted to the old one may be made again)."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    @property
    def plotext_theme(self) -> str:
        """The plotext theme a picture for this chart is drawn with (the app's)."""
        return self._get_plotext_theme_name(self.app.theme)

    def lines(self, picture: Picture, style: Style) -> Picture:
        """*picture* with the lines Textual would paint for it on this chart with *style*
        (the chart's ``visual_style``, read on the UI thread): made in the drawing
        worker, so a new picture costs the UI thread nothing but painting them."""
        active_app.set(self.app)  # (a worker thread has no active app)
        content = Content.from_rich_text(picture.text, console=self.app.console)
        strips = Visual.to_strips(self, content, picture.width, picture.height, style)
        return replace(picture, strips=strips, style=style)

    def show(self, spec: ChartSpec, picture: Optional[Picture] = None) -> None:
        """Show *spec*, with its *picture* when one was drawn for it (else the chart
        draws it at its size on the next repaint)."""
        self.spec = spec
        self._picture = picture if picture is not None and picture.spec is spec else None
        self._content = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        pic = self._picture
        if (
            pic is not None and pic.strips is not None
            and (pic.width, pic.height) == tuple(self.size)
            and pic.theme == self.plotext_theme and pic.style == self.visual_style
        ):  # fmt: skip
            if y < len(pic.strips):
                return pic.strips[y]
            return Strip.blank(self.size.width, self.visual_style.rich_style)
        return super().render_line(y)  # render(): drawn here, at this size

    def render(self) -> Any:
        width, height = self.size
        if width <= 0 or height <= 0:
            return Content("")
        theme = self.plotext_theme
        pic = self._picture
        if pic is None or (pic.width, pic.height, pic.theme) != (width, height, theme):
            # Resized, just shown or a new theme: the worker drew at what it knew then.
            self._picture = pic = draw(self.spec, width, height, theme)
            self._content = None
        if self._content is None:
            # As Textual turns a returned Text into Content, once per picture.
            self._content = Content.from_rich_text(pic.text, console=self.app.console)
        return self._content
