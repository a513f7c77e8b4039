"""The Training pane's ``enter`` on a run: its run.json as a summary (model, data, LoRA
settings, figures, its comparison with the base, what it picked to go fast, its folder).

A run.json is written by any process (another machine sharing checkpoints/): every
value is shown as literal text, never markup, with control characters made visible.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Optional

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from jarvis_tui.core.fmt import duration
from jarvis_tui.ui.scrolling import KeyedScroll, scroll_rows
from jarvis_tui.ui.text import one_line, visible

DATA_FIELDS = (
    ("pairs", "SFT pairs"),
    ("train_examples", "train examples"),
    ("eval_examples", "eval examples"),
    ("train_tokens", "train tokens"),
    ("truncated", "truncated"),
    ("dropped", "dropped"),
)
"""run.json's ``data`` sizes, in the pane's words."""


class PathText:
    """A path that wraps after its ``/`` (or ``\\``) separators: a folder's name is cut
    only when it is wider than the whole column (then it folds), never mid-word where it
    fits; the path shown whole where the line has room."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.parts = [p for p in re.split(r"(?<=[/\\])", path) if p]
        """The path's pieces, each ending in its separator (the last: the name)."""

    def lines(self, width: int) -> list[str]:
        """The path in lines of at most *width* cells."""
        width = max(1, width)
        out: list[str] = []
        line = ""
        for part in self.parts:
            if line and cell_len(line) + cell_len(part) > width:
                out.append(line)
                line = ""
            while cell_len(part) > width:  # a name wider than the column: folded
                cut = next(i for i in range(len(part), 0, -1) if cell_len(part[:i]) <= width)
                out.append(part[: max(1, cut)])
                part = part[max(1, cut) :]
            line += part
        return [*out, line] if line or not out else out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text("\n".join(self.lines(options.max_width)))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((cell_len(p) for p in self.parts), default=1)
        return Measurement(min(longest, options.max_width), cell_len(self.path))


class Columns:
    """Two stacks of sections side by side where they are at least :data:`TWO_COLUMNS`
    cells wide; the sections of *stacked* one above the other where they are not: at 80
    columns a right column of ~30 cells folded every fast-path value into three lines
    beside an empty left one."""

    def __init__(self, left: list[Any], right: list[Any], *, stacked: list[Any]) -> None:
        self.left, self.right, self.stacked = left, right, stacked

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if options.max_width < TWO_COLUMNS:
            yield Group(*self.stacked)
            return
        grid = Table.grid(padding=(0, 3, 0, 0), expand=False)
        grid.add_column(no_wrap=False)
        grid.add_column(no_wrap=False)
        grid.add_row(Group(*self.left), Group(*self.right))
        yield grid


TWO_COLUMNS = 90
"""Cells the summary needs for two columns (the box is 106 inside at 120 columns, 70 at
80)."""


def _value(value: Any) -> str:
    """A run.json value as text: numbers for people, anything else one line."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return one_line(", ".join(f"{k}: {_value(v)}" for k, v in value.items()), 300)
    return one_line(visible(str(value)), 300)


def run_summary(run: Any, comparison: Optional[dict[str, Any]] = None) -> Group:
    """*run* (a RunInfo) as labelled sections: the run, its data, its LoRA settings, the
    comparison with its base (*comparison*, its eval.json) and where it is on disk."""
    from jarvis_tui.learning.training.settings import SETTINGS

    def section(title: str, rows: list[tuple[str, Any]]) -> list[Any]:
        if not rows:
            return []
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), pad_edge=False,
                      expand=False)  # fmt: skip
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in rows:
            table.add_row(Text(label), Text(value) if isinstance(value, str) else value)
        return [Text(title, style="bold"), table, Text("")]

    config = run.config if isinstance(run.config, dict) else {}
    data = run.data if isinstance(run.data, dict) else {}
    summary = run.summary if isinstance(run.summary, dict) else {}
    created = run.created if isinstance(run.created, (int, float)) else None
    model = _value(run.model) if run.model else ""
    model_path = "/" in model or "\\" in model  # a folder: its name here, whole below
    shown_model = model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if model_path else model
    figures = [("status", _value(run.status)), ("model", shown_model or "–")]
    if run.message:
        figures.append(("said", _value(run.message)))
    if created:
        figures.append(("started", time.strftime("%Y-%m-%d %H:%M", time.localtime(created))))
    figures.append(("steps", f"{run.steps_done:,} of {run.total_steps:,}"))
    figures.append(("took", duration(run.duration)))
    for key, label in (("final_loss", "final loss"), ("eval_loss", "eval loss"),
                       ("tokens_per_s", "tokens/s"), ("device", "device")):  # fmt: skip
        value = run.final_loss if key == "final_loss" else summary.get(key, config.get(key))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and key.endswith("loss"):
            figures.append((label, f"{value:.3f}"))  # as the runs list and the charts say it
        elif number and key == "tokens_per_s":
            figures.append((label, f"{value:,.0f}"))
        elif value is not None:
            figures.append((label, _value(value)))
    sizes = [(label, _value(data[key])) for key, label in DATA_FIELDS if key in data]
    settings = [(s.label or s.name.replace("_", " "), _value(config[s.name])) for s in SETTINGS
                if s.name in config and s.name != "model"]  # fmt: skip
    # Two columns where there is room (the run and its data | its settings, verdict and
    # fast path), then where it is: the whole summary in one screen at 120x40; one
    # column where there is not, and folded paths stay whole.
    run_, data_ = section("Run", figures), section("Data", sizes)
    settings_, against = section("LoRA settings", settings), []
    if comparison:
        verdict = comparison.get("verdict")
        rows = [("verdict", _value(verdict))] if verdict else []
        if comparison.get("partial"):
            rows = [("verdict", "cancelled: not saved, no verdict")]
        against = section("Against its base (E)", rows)
    fast = config.get("fast_path")
    fast_ = section("Fast path", fast_path_rows(fast if isinstance(fast, dict) else {}))
    columns = Columns(
        run_ + data_, settings_ + against + fast_,
        stacked=run_ + against + data_ + settings_ + fast_,  # the verdict near the top
    )  # fmt: skip
    where: list[tuple[str, Any]] = []
    if model_path:
        where.append(("model", PathText(visible(str(run.model)))))
    where.append(("folder", PathText(visible(str(run.path)))))
    adapter = run.adapter_path
    where.append(("adapter", PathText(visible(str(adapter))) if adapter is not None
                  else "none saved"))  # fmt: skip
    return Group(columns, *section("On disk", where)[:-1])


FAST_NOTES = 12
"""Notes of a run's fast path shown at most (run.json is anyone's file)."""


def fast_path_rows(fast: dict[str, Any]) -> list[tuple[str, str]]:
    """run.json's ``config.fast_path`` (what the run picked to go fast, and why) as
    labelled rows; none for a run that does not say."""
    if not fast:
        return []

    def text(key: str) -> str:
        value = fast.get(key)
        return _value(value) if value not in (None, "") else ""

    rows: list[tuple[str, str]] = []
    precision, why = text("precision") or "?", text("precision_why")
    why = why.removesuffix(f": {precision}")  # "… (no AVX512-BF16 or AMX): fp32"
    rows.append(("precision", f"{precision} — {why}" if why else precision))
    ckpt = fast.get("checkpointing")
    if isinstance(ckpt, bool) or text("checkpointing_why"):
        said = text("checkpointing_why")
        rows.append(("checkpointing", said or ("on" if ckpt else "off")))
    for key, label in (("attention", "attention"), ("matmul", "matmuls"),
                       ("lora_dropout", "dropout"), ("loss", "loss")):  # fmt: skip
        if text(key):
            rows.append((label, text(key)))
    threads, world = fast.get("threads"), fast.get("world_size")
    if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0:
        rows.append(("threads", f"{threads:,}"))
    if isinstance(world, int) and not isinstance(world, bool) and world > 1:
        rows.append(("ranks", f"{world:,}"))
    notes = fast.get("notes")
    if isinstance(notes, list):
        shown = [one_line(visible(str(n)), 200) for n in notes[:FAST_NOTES]]
        if len(notes) > FAST_NOTES:
            shown.append(f"… and {len(notes) - FAST_NOTES:,} more in run.json")
        rows.extend(("also" if i == 0 else "", n) for i, n in enumerate(shown))
    return rows


class RunDetailScreen(ModalScreen[None]):
    """One training run's summary; escape (or enter, q) closes it."""

    DEFAULT_CSS = """
    RunDetailScreen {
        align: center middle;
    }
    #run-detail-box {
        width: 112;
        max-width: 96%;
        height: auto;
        max-height: 96%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    /* docked rows the whole width: the scrolled summary never shows beside them */
    #run-detail-title { text-style: bold; dock: top; width: 100%; }
    #run-detail-body { height: auto; }
    #run-detail-hint { color: $text-muted; dock: bottom; width: 100%; }
    """
    BINDINGS = [
        Binding("escape,q,enter", "close", "Close", id="run.close"),
        Binding("j,down", "scroll(1)", "Down", show=False, id="run.down"),
        Binding("k,up", "scroll(-1)", "Up", show=False, id="run.up"),
    ]

    def __init__(self, run: Any, comparison: Optional[dict[str, Any]] = None) -> None:
        super().__init__()
        self._run = run
        self._comparison = comparison

    def compose(self) -> ComposeResult:
        with Vertical(id="run-detail-box"):
            yield Label(Text("Training run " + one_line(str(self._run.run_id), 60)),
                        id="run-detail-title")  # fmt: skip
            with KeyedScroll(id="run-detail-body"):
                yield Static(run_summary(self._run, self._comparison), id="run-detail-text")
            yield Label(Text("escape: close · j / k: scroll"), id="run-detail-hint")

    def on_mount(self) -> None:
        self._fit_body()

    def on_resize(self) -> None:
        self._fit_body()

    def _fit_body(self) -> None:
        """The summary scrolls inside the box: its height is at most what the box's
        max-height (96%) leaves after the border, the title and the hint. (An auto-height
        scroll area in an auto-height box grows to its content and is clipped by the box
        instead, where j / k cannot reach what is below.)"""
        rows = max(3, int(self.size.height * 0.96) - 4)
        self.query_one("#run-detail-body", VerticalScroll).styles.max_height = rows

    def action_scroll(self, rows: int) -> None:
        scroll_rows(self.query_one("#run-detail-body", VerticalScroll), rows)

    def action_close(self) -> None:
        self.dismiss(None)
