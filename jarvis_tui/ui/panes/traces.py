"""Traces pane: browse the whole store a page at a time and label at one key per trace.

The table is a :class:`~jarvis_tui.ui.widgets.big_table.BigTable` over the whole
filtered store (its scrollbar is the position in the store); it draws only the rows
on screen, from a :class:`TraceWindow` of at most ``WINDOW_MAX`` rows read by keyset
pages (a jump reads the page at that position); it never loads the store, and no row
is rebuilt when a page arrives. Every database call runs in a thread worker
(STYLE rule 2); labels go through one ordered writer thread so a label and its
undo can never land out of order.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

from rich.cells import cell_len
from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from jarvis_tui.core.classify import QUERY_CLASSES  # not via learning/: first paint
from jarvis_tui.core.fmt import plural
from jarvis_tui.core.types import Trace
from jarvis_tui.evals import judge_scores as judged
from jarvis_tui.traces import (
    LabelChange,
    StoreError,
    TraceFilter,
    TraceRow,
    TraceStore,
)
from jarvis_tui.traces.store import ALL_ROWS_NOTE, EXCLUDE_ONLY_NOTE, SORT_EXPR
from jarvis_tui.ui.panes import evidence
from jarvis_tui.ui.panes.base import Pane
from jarvis_tui.ui.screens import evidence as screens_evidence
from jarvis_tui.ui.screens.trace_screens import (
    JudgeVerdict,
    NoteScreen,
    TraceScreen,
    history_entry,
    json_field,
    judge_line,
    score_style,
)
from jarvis_tui.ui.scrolling import KeyedScroll
from jarvis_tui.ui.text import one_line, safe_text, visible
from jarvis_tui.ui.widgets.big_table import BigTable, Column, RowSource
from jarvis_tui.ui.widgets.filter_bar import FilterBar, Picker
from jarvis_tui.ui.widgets.focus import focus_now

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from jarvis_tui.workspace import WorkspaceSession

PAGE = 100
WINDOW_MAX = 600
EDGE = 8  # rows from the window edge at which the next page is fetched
POLL_SECONDS = 2.0
DETAIL_CHARS = 4_000
DETAIL_HISTORY = 50
"""The side panel lists this many label changes, newest first (then says how many more)."""

COLUMNS: tuple[tuple[str, str, int], ...] = (
    # (key, label, width); the query column's width is what is left
    ("time", "Time", 11),
    ("class", "Class", 7),
    ("agent", "Agent", 11),
    ("model", "Model", 14),
    ("query", "Query", 20),
    ("outcome", "Out", 3),
    ("score", "Score", 5),
    ("latency", "Latency", 7),
    ("tokens", "Tokens", 6),
)
TIME_RANGES = (("last hour", 3600), ("last 24 h", 86_400), ("last 7 days", 7 * 86_400),
               ("last 30 days", 30 * 86_400))  # fmt: skip
SORT_LABELS = {"time": "time", "score": "score", "latency": "latency", "tokens": "tokens"}
SORT_NOTE = "the trace you were on is further down: cursor on the top row"
"""The status line after a sort change whose first page does not hold the cursor's trace."""
SORT_NOTE_SHORT = "your trace is further down: cursor on top"
FTS_NOTE_SHORT = {ALL_ROWS_NOTE: "no words", EXCLUDE_ONLY_NOTE: "all but -words"}
"""The store's search notes in fewer words, for a narrow status line."""


def _fmt_time(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "?"


def _is_labelled(row: TraceRow) -> bool:
    """A score or an outcome: what the store's ``LABELLED_SQL`` counts as labelled."""
    return row.feedback is not None or row.outcome is not None


def _is_rated(row: TraceRow) -> bool:
    """A feedback score: what the labelling queue asks for (only a score moves routing)."""
    return row.feedback is not None


_LABEL_CHOICES = {
    "unlabelled": ("labelled", False),
    "labelled": ("labelled", True),
    "unrated": ("rated", False),
    "rated": ("rated", True),
}
"""The labels picker's values → the :class:`TraceFilter` field and value each sets."""


def _label_choice(flt: TraceFilter) -> Optional[str]:
    """The labels picker's value for *flt* (None: no such filter)."""
    if flt.rated is not None:
        return "rated" if flt.rated else "unrated"
    if flt.labelled is not None:
        return "labelled" if flt.labelled else "unlabelled"
    return None


def _score_cell(fb: Optional[float]) -> Text:
    if fb is None:
        return Text("–", style="dim", justify="right")
    return Text(f"{fb:.2f}", style=score_style(fb), justify="right")


def _outcome_cell(outcome: Optional[str]) -> Text:
    if outcome == "success":
        return Text(" ✓", style="bold green")
    if outcome == "failure":
        return Text(" ✗", style="bold red")
    if outcome is None:
        return Text(" ·", style="dim")
    return Text(visible(outcome)[:3])


NARROW_DROPS = ("latency", "tokens")
"""Columns left out below ``COMPACT_WIDTH`` columns (the detail panel shows them)."""
COMPACT_WIDTH = 96


JUDGE_COLUMN = ("judge", "Judge", 5)
"""Shown after Score once the store has judge scores (J runs the judge)."""


def _judge_cell(score: Optional[float]) -> Text:
    """The judge's score; a missing one is "–" (never 0), shown in italics."""
    if score is None:
        return Text("–", style="dim", justify="right")
    style = "italic green" if score >= 0.7 else "italic yellow" if score >= 0.4 else "italic red"
    return Text(f"{score:.2f}", style=style, justify="right")


def row_cells(
    row: TraceRow, compact: bool = False, judge: Optional[dict[str, float]] = None
) -> list[Any]:
    """The table cells of a row, all plain ``Text`` (never markup); *judge* (the judge
    scores by trace id) adds the Judge column after the human Score."""
    cells = _all_cells(row)
    if judge is not None:
        at = [key for key, _l, _w in COLUMNS].index("score") + 1
        cells.insert(at, _judge_cell(judge.get(row.trace_id)))
    keys = table_keys(judge is not None)
    if compact:
        return [c for key, c in zip(keys, cells, strict=True) if key not in NARROW_DROPS]
    return cells


def table_columns(judge: bool) -> list[tuple[str, str, int]]:
    cols = list(COLUMNS)
    if judge:
        at = [key for key, _l, _w in COLUMNS].index("score") + 1
        cols.insert(at, JUDGE_COLUMN)
    return cols


def table_keys(judge: bool) -> list[str]:
    return [key for key, _l, _w in table_columns(judge)]


def _cut(text: str) -> Text:
    """A name cell: one line, and cut with "…" when the column is narrower than it
    (``llama3.1:7…``, never ``llama3.1:7``, which reads as another model)."""
    return Text(text, no_wrap=True, overflow="ellipsis")


def _all_cells(row: TraceRow) -> list[Any]:
    return [
        Text(_fmt_time(row.started_at), style="dim"),
        _cut(one_line(row.query_class or "?", 20)),
        _cut(one_line(row.agent, 40)),
        _cut(one_line(row.model, 40)),
        _cut(one_line(row.snippet, 160)),
        _outcome_cell(row.outcome),
        _score_cell(row.feedback),
        Text(f"{row.latency:.2f}s", justify="right"),
        Text(f"{row.tokens:,}", justify="right"),
    ]


def fit_filter_summary(parts: list[str], width: int) -> str:
    """The filter summary ("F filters: a · b · c") in *width* cells: the parts (most
    important first) that fit whole, then the next one cut with "…" (or a lone "…"
    for what is left out), so a shortened summary always ends in "…"."""
    head = "F filters: " if width >= 60 else "F: "
    out = head
    for i, part in enumerate(parts):
        sep = " · " if i else ""
        rest = i + 1 < len(parts)
        # keep room for a closing " …" while more parts follow
        room = width - cell_len(out) - cell_len(sep) - (2 if rest else 0)
        if cell_len(part) <= room:
            out += sep + part
            continue
        room = width - cell_len(out) - cell_len(sep)
        if room >= 6:
            cut = Text(part)
            cut.truncate(min(room, cell_len(part) - 1), overflow="ellipsis")
            return out + sep + cut.plain
        return out + (" …" if cell_len(out) + 2 <= width else "…")
    return out


# --------------------------------------------------------------------------- widgets


class TraceTable(BigTable, inherit_bindings=False):
    """The Traces table: a :class:`BigTable` over the pane's :class:`TraceWindow`. Row
    keys are trace ids; the scrollbar is the position in the filtered store."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open trace", show=False, id="traces.open"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="traces.down"),
        Binding("up,k", "cursor(-1)", "Up", show=False, id="traces.up"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="traces.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="traces.pagedown"),
        Binding("home", "first", "First trace", show=False, id="traces.home"),
        Binding("end", "last", "Last trace", show=False, id="traces.end"),
    ]

    # The DataTable look the pane had: a bold header on the panel colour, zebra rows.
    DEFAULT_CSS = """
    TraceTable {
        padding-left: 1;  /* the focus edge is drawn over the first cell, not the time */
        &:focus {
            background-tint: $foreground 5%;
            & > .big-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .big-table--header {
            color: $foreground;
            text-style: bold;
            background: $panel;
        }
        &:ansi > .big-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .big-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .big-table--even-row {
            background: $surface-darken-1 40%;
        }
    }
    """

    loading_text = "loading…"
    empty_text = ""

    class Resized(Message):
        """The table changed size (the filter bar or the detail panel came or went):
        the status line's "rows N–M" counts the rows it shows now."""

    def __init__(self, source: RowSource, **kwargs: Any) -> None:
        super().__init__(_trace_columns(False), source, **kwargs)
        self.zebra = True
        self.judge: Optional[dict[str, float]] = None
        """Judge scores by trace id; None: no Judge column (the store has none)."""
        self.name_widths: dict[str, int] = {}
        """Longest agent and model name in the store (the columns need no more)."""

    @property
    def compact(self) -> bool:
        """Narrow terminal: latency and tokens are left out (see ``NARROW_DROPS``)."""
        return 0 < self.scrollable_content_region.width < COMPACT_WIDTH

    def on_resize(self) -> None:
        self.call_after_refresh(self.post_message, self.Resized())

    def show_judge(self) -> None:
        """Add the Judge column after Score (its scores fill in as pages arrive)."""
        if self.judge is None:
            self.judge = {}
            self.set_columns(_trace_columns(True))

    def fit_columns(self) -> None:
        """Lay the columns out again (the longest names in the store are known now)."""
        self.set_columns(_trace_columns(self.judge is not None))

    def widen_for(self, rows: list[TraceRow]) -> None:
        """Rows arrived (a first page on a store that was empty, new traces, another
        filter): a name column too narrow for one of their names widens to it (the
        store's longest names, from the facets, are known only once they are listed;
        a column never narrows while pages arrive, so it does not jump as one scrolls)."""
        if not self.name_widths:
            return  # no facets yet: the columns keep their full widths
        grown = False
        for key in ("agent", "model"):
            longest = max((len(one_line(getattr(r, key), 40)) for r in rows), default=0)
            if longest > self.name_widths.get(key, 0):
                self.name_widths[key] = longest
                grown = True
        if grown:
            self.fit_columns()

    def layout_columns(self, width: int) -> list[tuple[int, int]]:
        """Under ``COMPACT_WIDTH`` latency and tokens go; under 110 the agent and model
        columns narrow; no name column is wider than the longest name; the query takes
        what is left."""
        narrow = width < 110
        cols = self.columns
        wanted = {c.key: c.width for c in cols}
        if narrow:
            # Models first: a cut model name is the one that misleads, so the model
            # column gets up to 12 (llama3.1:70b whole), the agent what is left.
            wanted.update(agent=8, model=12)
            if self.judge is not None:
                wanted.update(agent=7)
        for key in ("agent", "model"):
            longest = self.name_widths.get(key)
            if longest is not None:
                wanted[key] = max(len(key), min(wanted[key], longest))
        shown = [i for i, c in enumerate(cols)
                 if not (width < COMPACT_WIDTH and c.key in NARROW_DROPS)]  # fmt: skip
        fixed = sum(wanted[cols[i].key] for i in shown if cols[i].key != "query")
        query = max(10 if narrow else 20, width - fixed - (len(shown) - 1))
        return [(i, query if cols[i].key == "query" else wanted[cols[i].key]) for i in shown]

    def cell_text(self, trace_id: str, column: str) -> Optional[str]:
        """The text of one cell of a loaded row, as drawn before it is cut to the
        column (None: the row is not loaded, or there is no such column)."""
        keys = [c.key for c in self.columns]
        if column not in keys or self.source.index_of(trace_id) is None:
            return None
        cell = self.source.cells(trace_id)[keys.index(column)]
        return cell.plain if isinstance(cell, Text) else str(cell)


def _trace_columns(judge: bool) -> list[Column]:
    # Widths as laid out at 110 columns and more; TraceTable.layout_columns fits them.
    return [Column(key, label, width) for key, label, width in table_columns(judge)]


class TraceWindow:
    """The Traces table's row source: keyset pages held at their position in the store.

    At most ``WINDOW_MAX`` contiguous rows are held, ``offset`` being the position of
    the first in the filtered, sorted store and ``total`` the count under the filter.
    A row outside them is ``None`` to the table (drawn as "loading…"); asking for one
    calls *want*, which the pane turns into a page fetch in a worker.
    """

    def __init__(self, cells: Callable[[TraceRow], list[Any]], want: Callable[[], None]) -> None:
        self.held: list[TraceRow] = []
        """The rows held, in table order."""
        self.offset = 0
        """Position of ``held[0]`` in the filtered store."""
        self.total = 0
        """Rows under the filter, as last counted (0: not counted yet)."""
        self.more_after = False
        """More rows follow the last one held (its page said so)."""
        self.index: dict[str, int] = {}
        """Trace id -> index in ``held``."""
        self._cells = cells
        self._want = want

    def replace(self, rows: list[TraceRow], offset: int, more_after: bool) -> None:
        self.held = list(rows)
        self.index = {r.trace_id: i for i, r in enumerate(self.held)}
        self.offset = max(offset, 0)
        self.more_after = more_after

    @property
    def end(self) -> int:
        """Position after the last row held."""
        return self.offset + len(self.held)

    def count(self) -> int:
        return max(self.total, self.end)

    def rows(self, offset: int, limit: int) -> list[Optional[str]]:
        end = min(offset + limit, self.count())
        out: list[Optional[str]] = []
        missing = False
        held, base = self.held, self.offset
        for i in range(max(offset, 0), end):
            j = i - base
            if 0 <= j < len(held):
                out.append(held[j].trace_id)
            else:
                out.append(None)
                missing = True
        if missing:
            self._want()
        return out

    def cells(self, key: str) -> list[Any]:
        return self._cells(self.held[self.index[key]])

    def index_of(self, key: str) -> Optional[int]:
        i = self.index.get(key)
        return None if i is None else self.offset + i

    def row(self, trace_id: Optional[str]) -> Optional[TraceRow]:
        """The held row of *trace_id* (None: not held)."""
        i = self.index.get(trace_id) if trace_id is not None else None
        return None if i is None else self.held[i]


class TraceDetail(KeyedScroll):
    """Side panel: the highlighted trace in full, rendered as literal text."""

    def compose(self) -> ComposeResult:
        yield Static(Text("No trace selected.", style="dim"), id="detail-body")

    def show(self, trace: Trace, note: Optional[str], history: list[Any],
             judge: Optional[JudgeVerdict] = None, queued: str = "") -> None:  # fmt: skip
        """*queued*: why the label queue offers this trace (queue order), said whole here
        (the status line has room for few of its words)."""
        parts: list[Any] = []
        parts.append(Text(trace.trace_id, style="bold"))
        if queued:
            line = Text()
            line.append("queued: ", style="bold")
            line.append(one_line(queued, 400))
            parts.append(line)
        parts.append(
            Text(f"{visible(trace.agent)} · {visible(trace.model)} · {visible(trace.engine)}")
        )
        meta = Text(style="dim")
        meta.append(
            f"{_fmt_time(trace.started_at)}  {trace.total_latency_seconds:.2f}s  "
            f"{trace.total_tokens:,} tokens  outcome {trace.outcome or '–'}  "
            f"score {'–' if trace.feedback is None else f'{trace.feedback:.2f}'}"
        )
        parts.append(meta)
        if judge is not None:  # the judge's score and why, beside the human label
            parts.append(judge_line(judge))
        if note:  # beside the labels, in view without scrolling (it was under Metadata)
            line = Text("note ", style="bold")
            line.append_text(safe_text(note, limit=DETAIL_CHARS))
            parts.append(line)
        parts.append(Text("\nQuery", style="bold underline"))
        parts.append(safe_text(trace.query, limit=DETAIL_CHARS))
        parts.append(Text("\nResult", style="bold underline"))
        parts.append(safe_text(trace.result, limit=DETAIL_CHARS))
        parts.append(Text(f"\nSteps ({len(trace.steps)})", style="bold underline"))
        for i, st in enumerate(trace.steps):
            stype = getattr(st.step_type, "value", st.step_type)
            tool = st.input.get("tool", "") if isinstance(st.input, dict) else ""
            line = Text()
            line.append(f"{i:>2} ", style="dim")
            line.append(f"{visible(str(stype)):<10}", style="bold")
            line.append(f"{st.duration_seconds:7.2f}s")
            if tool:
                line.append(f"  {one_line(str(tool), 24)}", style="cyan")
            parts.append(line)
            for name, value in (("in", st.input), ("out", st.output)):
                what, text = json_field(value, 300)  # a value not JSON: its text, said so
                label = f"{name}{what}"
                parts.append(Text(f"   {label:<3} {one_line(text, 300)}", style="dim"))
        what, text = json_field(trace.metadata, 2_000)
        parts.append(Text(f"\nMetadata{what}", style="bold underline"))
        parts.append(safe_text(text))
        if history:
            parts.append(
                Text(f"\nLabel history ({len(history)}, newest first)", style="bold underline")
            )
            for ev in list(reversed(history))[:DETAIL_HISTORY]:
                when = datetime.fromtimestamp(ev.at).strftime("%m-%d %H:%M:%S")
                parts.append(Text(f"{when} {history_entry(ev, 200)}", style="dim"))
            if len(history) > DETAIL_HISTORY:
                parts.append(Text(f"… {len(history) - DETAIL_HISTORY:,} older: traces: export "
                                  "labels writes every change", style="italic"))  # fmt: skip
        self.query_one("#detail-body", Static).update(Group(*parts))
        self.scroll_home(animate=False)

    def clear(self, message: str = "No trace selected.") -> None:
        self.query_one("#detail-body", Static).update(Text(message, style="dim"))


# --------------------------------------------------------------------------- pane


OPEN_NOTICE_CHARS = 200_000
"""A trace with more query and result text than this says "loading…" before its full
view is built (building it takes a noticeable moment: about 0.5 s for 1 MB)."""

SCORE_STEPS = tuple(range(11))
"""Palette scores: 0.0, 0.1, … 1.0 (``action_score_<tenths>``)."""


def _judge_url_problem(url: Any) -> Optional[str]:
    """Why the judge form refuses *url* (None: an http(s) URL with a host)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url).strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return "not a URL: write it as http(s)://host:port/v1"
    return None


def _judge_failure(error: Optional[str], url: Any) -> str:
    """What a judge run that scored nothing ran into, the reason first: "connection
    refused (http://…/v1)" from the backend's "… is unreachable (connection refused)"."""
    text = one_line(error or "no score", 200).removeprefix("judge failed: ")  # said once
    if " is unreachable (" in text and text.endswith(")"):
        text = text.rsplit(" is unreachable (", 1)[1][:-1]
    return f"{text} ({one_line(str(url or ''), 80)})" if url else text


class TracesPane(Pane):
    """Browse, filter, search and label traces."""

    PANE_ID = "traces"
    HELP_TITLE = "Traces"
    HELP_TEXT = (
        "Browse every trace of the workspace, newest first. Scores: 0–9 set tenths, = sets "
        "1.0; y / n mark the outcome success / failure; backspace clears the label; u undoes "
        "the last label; e edits the note. After a score the cursor jumps to the next "
        'unlabelled trace (A toggles). / searches: words, "exact phrase", prefix*, '
        "-exclude, a OR b. F opens the filter bar (tab moves between its pickers, space or a "
        "letter opens one, enter on a choice applies it and goes back to the list, F goes "
        "back to that picker; escape leaves the bar, backspace there clears every filter); "
        "X clears them too. o cycles the sort "
        "column, O reverses it; d hides or shows the detail panel. enter opens the whole trace, "
        "where the same label keys work. Q turns queue order on or off: the unrated "
        "traces (no score yet; a ✓/✗ without a score counts) whose label can change a "
        "routing decision first, most decisive first, within the agent, model and class "
        "filters (a search, outcome or time filter applies once Q is off: the status line "
        "says it is ignored); the "
        "status line says how far the queue is from settling (the labels the recommended "
        "model and the runner-up need before their 95% intervals stop overlapping, if their "
        "means hold; each label moves the means, so it is steadied over about the last ten "
        "labels and said in two figures from 100 on, ~270: a rough guide) and, where it "
        "fits, why a trace is next (whole in the side panel: queued: …). "
        "J runs the LLM judge (JARVIS_TUI_JUDGE_URL / _MODEL, else a form asks) over the "
        "unlabelled traces of the filter, x cancels it; the Judge column shows its score "
        "beside yours (– is missing, never 0) and Y accepts it as your label. ctrl+y "
        "copies the trace's id, query, result or JSON to the clipboard (OSC 52, works over "
        "ssh). The palette has traces: judge agreement and traces: export labels…."
    )

    BINDINGS = [
        Binding("slash", "focus_search", "Search", id="traces.search"),
        Binding("F", "open_filters", "Filters", id="traces.filters"),
        Binding("5", "score(0.5)", "Score (0–9, =)", key_display="0-9", id="traces.score"),
        *(
            Binding(str(d), f"score({d / 10})", "", show=False, id=f"traces.score{d}")
            for d in (0, 1, 2, 3, 4, 6, 7, 8, 9)
        ),  # fmt: skip
        Binding("equals_sign", "score(1.0)", "", show=False, id="traces.score10"),
        Binding("y", "outcome('success')", "Success", id="traces.success"),
        Binding("n", "outcome('failure')", "Failure", id="traces.failure"),
        Binding("backspace,delete", "clear_label", "Clear label", show=False, id="traces.clear"),
        Binding("X", "clear_filters", "Clear filters", show=False, id="traces.clear_filters"),
        Binding("u", "undo", "Undo", id="traces.undo"),
        Binding("e", "note", "Note", id="traces.note"),
        Binding("o", "cycle_sort", "Sort", id="traces.sort"),
        Binding("O", "reverse_sort", "Reverse sort", show=False, id="traces.reverse"),
        Binding("d", "toggle_detail", "Detail panel", show=False, id="traces.detail"),
        Binding("A", "toggle_advance", "Auto-advance", show=False, id="traces.advance"),
        Binding("r", "refresh", "Refresh", show=False, id="traces.refresh"),
        Binding("Q", "toggle_queue", "Queue order", show=False, id="traces.queue"),
        Binding("J", "judge", "Run the judge", show=False, id="traces.judge"),
        Binding("x", "cancel_judge", "Stop the judge", show=False, id="traces.stop"),
        Binding("Y", "accept_judge", "Accept judge score", show=False, id="traces.accept_judge"),
        Binding("ctrl+y", "copy", "Copy to clipboard", show=False, id="traces.copy"),
        Binding("g", "top", "Top", show=False, id="traces.top"),
        Binding("G", "bottom", "Bottom", show=False, id="traces.bottom"),
        Binding(
            "escape", "back", "Leave the field / clear the search", show=False, id="traces.escape"
        ),  # fmt: skip
    ]

    PALETTE = (
        ("focus_search", "search", "Focus the search box (/)"),
        ("open_filters", "filters", "Open the filter bar (F)"),
        # before "clear label": enter on "clear" runs the first of equal matches, and
        # the harmless one comes first (walkthrough 11)
        ("clear_filters", "clear filters", "Show every trace (X; backspace in the filter bar)"),
        *((f"score_{d}", f"score {d / 10:.1f}", "Set the score of the selected trace")
          for d in SCORE_STEPS),
        ("mark_success", "mark success", "Outcome success (y)"),
        ("mark_failure", "mark failure", "Outcome failure (n)"),
        ("clear_label", "clear label", "Clear score and outcome (backspace)"),
        ("undo", "undo last label", "Undo (u)"),
        ("note", "edit note", "Note on the selected trace (e)"),
        ("open_trace", "open trace", "Full view (enter)"),
        *((f"sort_by_{key}", f"sort by {key}", f"Sort the table by {key} (o)")
          for key in SORT_EXPR),
        ("reverse_sort", "reverse sort", "Reverse the sort (O)"),
        ("toggle_advance", "toggle auto-advance",
         "Jump to the next unlabelled trace after a score (A)"),
        ("toggle_detail", "toggle detail panel", "Hide or show the detail panel (d)"),
        ("refresh", "refresh", "Re-read the store (r)"),
        ("unlabelled_only", "show unlabelled only", "Filter to traces with neither a score nor an outcome"),
        ("toggle_queue", "queue order", "Most decisive unrated traces first (Q)"),
        ("judge", "run the judge", "LLM judge over the filter's unlabelled traces (J)"),
        ("ask_judge_endpoint", "run the judge on another endpoint",
         "Ask for the judge's URL and model"),
        ("cancel_judge", "stop the judge", "Cancel the judge run (x)"),
        ("accept_judge", "accept judge score", "The judge's score becomes the label (Y)"),
        ("show_agreement", "judge agreement", "Judge vs human: MAE, correlation, confusion table"),
        ("copy", "copy trace", "id, query, result or JSON (ctrl+y)"),
        ("export_labels", "export labels…", "jsonl, csv, parquet or a datasets folder"),
    )  # fmt: skip
    """``traces: …`` palette entries (the Pane default shows the pane, then acts)."""

    class PageLoaded(Message):
        """A page of rows arrived for request *token* (stale tokens are dropped)."""

        def __init__(self, token: int, mode: str, rows: list[TraceRow], has_more: bool,
                     note: str, anchor: Optional[tuple[Any, int]], offset: int) -> None:  # fmt: skip
            super().__init__()
            self.token, self.mode, self.rows, self.has_more = token, mode, rows, has_more
            self.note, self.anchor, self.offset = note, anchor, offset
            self.judge: Optional[dict[str, float]] = None

    class CountsLoaded(Message):
        def __init__(self, token: int, total: int, labelled: int, store_total: int) -> None:
            super().__init__()
            self.token, self.total, self.labelled, self.store_total = (
                token, total, labelled, store_total,
            )  # fmt: skip

    class DetailLoaded(Message):
        def __init__(self, trace: Optional[Trace], note: Optional[str], history: list,
                     judge: Optional[JudgeVerdict] = None) -> None:  # fmt: skip
            super().__init__()
            self.trace, self.note, self.history = trace, note, history
            self.judge = judge
            """The newest judge score of the trace (model, score, reason), if any."""

    class Labelled(Message):
        """A label reached the store (or failed: *error* says why)."""

        def __init__(self, change: Optional[LabelChange], trace_id: str, error: str = "",
                     exc: Optional[BaseException] = None) -> None:  # fmt: skip
            super().__init__()
            self.change, self.trace_id, self.error = change, trace_id, error
            self.exc = exc
            """The failure itself (its traceback goes to the error log)."""

    class StoreChanged(Message):
        def __init__(self, new_traces: int, labels_changed: bool, replaced: bool = False) -> None:
            super().__init__()
            self.new_traces, self.labels_changed = new_traces, labels_changed
            self.replaced = replaced
            """traces.db was replaced by another file (demo --force): reopened."""

    class QueueLoaded(Message):
        """The labelling queue's next traces (rows in queue order) and its status line."""

        def __init__(self, token: int, rows: list[TraceRow], why: dict[str, str], line: str,
                     judge: Optional[dict[str, float]], short: str = "",
                     time_order: bool = False, status: Any = None,
                     brief: Optional[dict[str, str]] = None) -> None:  # fmt: skip
            super().__init__()
            self.token, self.rows, self.why, self.line, self.judge = token, rows, why, line, judge
            self.short = short
            """The line in fewer words (the class and the count first), for a narrow bar."""
            self.time_order = time_order
            """Nothing can change a decision: the rows are the scope's unrated traces."""
            self.status = status
            """The queue's :class:`QueueStatus` (its line is said with steadied counts)."""
            self.brief = brief or {}
            """Each row's why without the models' figures (a narrow status bar)."""

    class JudgeProgress(Message):
        def __init__(self, done: int, total: int, errors: int, final: Any = None,
                     error: str = "") -> None:  # fmt: skip
            super().__init__()
            self.done, self.total, self.errors, self.final, self.error = (
                done, total, errors, final, error,
            )  # fmt: skip

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store: Optional[TraceStore] = None
        """The workspace store; None until the app opened it."""
        self.filter = TraceFilter()
        """What the table shows."""
        self.sort = "time"
        self.descending = True
        self.auto_advance = True
        """After a label, jump to the next unlabelled trace."""
        self.window = TraceWindow(self._cells_of, self._want_rows)
        """The pages of the filtered store held for the table (its row source)."""
        self._last_picker = "f-agent"
        """The filter-bar picker F puts the focus in: the one a choice was last taken from."""
        self._fill_queued = False
        self._counted_token = -1
        """The request whose count ``window.total`` is (a new filter's is not known yet)."""
        self._loading = False
        self._token = 0
        self._total = 0
        self._labelled = 0
        self._store_total = 0
        self._fts_note = ""
        self._undo: list[tuple[str, Optional[float], Optional[str]]] = []
        self._label_times: deque[float] = deque()
        self._labels_done = 0
        self._writes: deque[tuple] = deque()
        self._write_lock = threading.Lock()
        self._writer_running = False
        self._last_token: Optional[tuple[int, int]] = None
        self._reopened_seen = 0  # the store's reopen count last looked at
        self._replaced_note = ""  # "traces.db was replaced: reopened", until a key
        self._opening: Optional[str] = None
        """The trace enter opens once it is loaded (enter before its detail came)."""
        self._own_label_gen = 0
        self._reclass_shown = False
        """The status line shows a re-classification's progress (refreshed per poll)."""
        self._poll_timer: Optional[Timer] = None
        self._search_timer: Optional[Timer] = None
        self._pending_cursor: Optional[str] = None
        self._detail_trace: Optional[Trace] = None
        self._searching = False
        self._detail_note: Optional[str] = None
        self._detail_history: list[Any] = []
        self._detail_judge: Optional[JudgeVerdict] = None
        self._full_view: Optional[TraceScreen] = None
        self._counted = False
        self._facets_started = False
        self.queue_mode = False
        """Q: the table shows the labelling queue (most decisive unlabelled first)."""
        self.queue_scope: tuple[Optional[str], Optional[str]] = (None, None)
        """(query class, model) the queue is narrowed to (the Routing pane's cell)."""
        self._queue_why: dict[str, str] = {}
        self._queue_brief: dict[str, str] = {}
        """Each queued trace's why in fewer words (without the models' figures)."""
        self._settle: Optional[Any] = None
        """How far the queue is from settling, steadied over the labels given
        (a :class:`~jarvis_tui.learning.label_queue.SettleSmoother`, made on first use)."""
        self._queue_line = ""
        self._queue_short = ""
        self._queue_time_order = False
        self._judge_cancel: Optional[threading.Event] = None
        self._judge_line = ""
        """The judge run's progress (or its last result) for the status line."""
        self._judge_short: dict[str, tuple[str, ...]] = {}
        """The judge's last result → the same in fewer words, shortest last (a narrow
        status line); nothing for its progress."""
        self._sort_from: Optional[str] = None
        """The trace the cursor was on when the sort changed (until the new page came)."""
        self._sort_note = ""
        """Where the cursor went after a sort change, when not to its trace (until the
        next key)."""

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="search-row"):
            yield Input(
                placeholder='/ search: words "phrase" pre* -not a OR b', id="search",
            )  # fmt: skip
            yield Static(Text("F filters", style="dim"), id="filter-summary")
        # The pickers are made on the first F (FilterBar), not for the first paint
        # (issue 15); letters type into them (TypingSelect, issue 10).
        yield FilterBar([
            Picker("f-agent", "counting…"),  # until the facets come
            Picker("f-model", "counting…"),
            Picker("f-class", "class", [(c, c) for c in QUERY_CLASSES]),
            Picker("f-outcome", "outcome",
                   [("success", "success"), ("failure", "failure"), ("unknown", "unknown")]),
            Picker("f-labelled", "labels", [(v, v) for v in _LABEL_CHOICES]),
            Picker("f-time", "time", [(label, str(secs)) for label, secs in TIME_RANGES]),
        ], id="filter-bar")  # fmt: skip
        yield Static(Text("Opening trace store…", style="dim"), id="traces-status")
        with Horizontal(id="traces-main"):
            yield TraceTable(self.window, id="trace-table")
            yield TraceDetail(id="trace-detail")
            yield Static(id="traces-empty")
            yield Static(id="traces-nomatch")

    def on_mount(self) -> None:
        table = self.query_one(TraceTable)
        self.watch(table, "scroll_y", lambda _old, _new: self._scrolled(), init=False)
        # The table has the keys from the first frame (the status line says the store
        # is opening): no loading indicator to mount and animate, and the footer is
        # made once with the table's keys, not again when the store opens (issue 15).
        focus_now(table)

    def _cells_of(self, row: TraceRow) -> list[Any]:
        return row_cells(row, False, self.query_one(TraceTable).judge)

    def on_resize(self) -> None:
        self.set_class(self.size.height < 26, "-short")
        self.call_after_refresh(self._render_status)  # the status line fits its width
        self.call_after_refresh(self._render_filter_summary)  # and so does the summary

    def on_key(self, event: Any) -> None:
        """The judge's last result shows until the next key (its progress stays); j/k
        in the open filter bar move the table's cursor (the bar stays open)."""
        if self._judge_line and self._judge_cancel is None:
            self._judge_line = ""
            self.call_after_refresh(self._render_status)
        if self._sort_note or self._replaced_note:
            self._sort_note = self._replaced_note = ""
            self.call_after_refresh(self._render_status)
        focused = self.screen.focused
        if event.key in ("j", "k") and isinstance(focused, Select) and not focused.expanded:
            self.query_one(TraceTable).action_cursor(1 if event.key == "j" else -1)
            event.stop()

    def focus_default(self) -> None:
        # Immediate (Widget.focus() is deferred): keys typed right after a pane
        # switch or a search must already reach the table.
        focus_now(self.query_one(TraceTable))

    # ------------------------------------------------------------ store lifecycle

    def workspace_ready(self, session: WorkspaceSession) -> None:
        """The trace store is open: the first page, then the live poll."""
        super().workspace_ready(session)
        store = session.traces
        self.store = store
        self.query_one(TraceTable).loading = False
        # The facets (every agent and model, for the pickers) scan the whole store:
        # they start once the first rows are painted (_first_rows_painted), not beside
        # the first page (issue 15); the pickers say "counting…" until they answer.
        self.reload()
        self._poll_timer = self.set_interval(POLL_SECONDS, self.poll_store)
        self.focus_default()

    def on_shown(self) -> None:
        """Back on screen: the status line fits the width it has now."""
        self.call_after_refresh(self._render_status)

    def store_failed(self, reason: str) -> None:
        table = self.query_one(TraceTable)
        table.loading = False
        self.query_one("#traces-status", Static).update(
            Text(f"Cannot open the trace store: {reason}", style="bold red")
        )
        msg = Text(f"Cannot open the trace store: {reason}\n\n", style="bold red")
        msg.append(
            "Nothing was changed. Point --home at an OpenJarvis workspace, or run\n\n"
            "    jarvis-tui demo\n\nto build a demo workspace (./jarvis-demo) and open it.",
            style="",
        )
        self.query_one("#traces-empty", Static).update(msg)
        self.add_class("-empty")
        self.query_one(TraceDetail).clear(
            "Nothing was changed. Point --home at an OpenJarvis workspace, or run "
            "`jarvis-tui demo` to build one."
        )

    def _update_empty(self) -> None:
        """An empty store says how to get traces (the demo) in place of an empty table."""
        empty = self._counted and self._store_total == 0 and self.filter.is_empty()
        if empty and self.store is not None:
            msg = Text("No traces yet\n\n", style="bold")
            msg.append(
                "This workspace (its folder is in the title bar) has no traces. OpenJarvis writes one here for every interaction once "
                "your assistant runs with this home; they appear within two seconds.\n\n"
                "To try the app now on a realistic workspace (20,000 traces, five models, "
                "three agents; offline), quit (ctrl+q) and run:\n\n"
            )
            msg.append("    jarvis-tui demo\n\n", style="bold")
            msg.append("It builds ./jarvis-demo and opens the app on it.", style="dim")
            self.query_one("#traces-empty", Static).update(msg)
        # A search or filter that matches nothing says so, and how to widen it.
        nomatch = (self._counted and not empty and self._total == 0 and not self.queue_mode
                   and self.store is not None)  # fmt: skip
        # Queue order with nothing unlabelled under the filter: say so (issue 10: an
        # empty table under '0 unlabelled, time order').
        queue_empty = (self.queue_mode and not self._loading and not self.window.held and not empty
                       and self.store is not None)  # fmt: skip
        if queue_empty:
            msg = Text("Nothing to label in queue order\n", style="bold")
            msg.append(
                "Every trace here has a score. Q turns queue order off "
                "(every trace, newest first)"
                + ("; F changes the filters." if not self.filter.is_empty() else "."),
                style="dim",
            )
            self.query_one("#traces-nomatch", Static).update(msg)
            nomatch = True
        elif nomatch:
            msg = Text("No trace matches", style="bold")
            if self.filter.text:
                msg.append(" this search: ", style="bold")
                msg.append(one_line(self.filter.text, 60))
            msg.append("\n")
            how = []
            if self.filter.text:
                how.append("escape clears the search")
            if replace(self.filter, text=None) != TraceFilter():
                how.append("F opens the filters (X clears them)")
            if how:
                line = "; ".join(how)
                msg.append(line[0].upper() + line[1:] + ".", style="dim")
            self.query_one("#traces-nomatch", Static).update(msg)
        self.set_class(nomatch, "-nomatch")
        was = self.has_class("-empty")
        self.set_class(empty, "-empty")
        if was and not empty:
            self.focus_default()

    def store_progress(self, phase: str, done: int, total: int) -> None:
        pct = f" {100 * done // total}%" if total else ""
        self.query_one("#traces-status", Static).update(
            Text(f"First open: {phase} the trace store{pct} (once per file)…", style="yellow")
        )

    # ------------------------------------------------------------ loading

    def reload(self, *, keep: Optional[str] = None, locate: bool = False) -> None:
        """Fetch the first page for the current filter and sort; the cursor goes to
        *keep* if that page holds it (with *locate*: to wherever *keep* is now, the
        page around it read)."""
        if self.store is None:
            return
        self._token += 1
        self._sort_from = None  # a sort change sets it again after this
        self._sort_note = ""  # about the order before this reload
        self._pending_cursor = keep
        self._loading = True
        if self.queue_mode:
            self._fetch_queue(self._token)
        else:
            row = self.window.row(keep) if locate else None
            if row is not None:
                self._fetch_page(self._token, "locate", self._request(key=row.sort_key(self.sort)))
            else:
                self._fetch_page(self._token, "reset", self._request())
        self._fetch_counts(self._token, self._count_filter(), self.queue_mode)

    def _count_filter(self) -> TraceFilter:
        """What the status line counts: the filter, or in queue order the traces the
        queue can offer (its scope's unrated traces: what is counted is what is offered)."""
        if not self.queue_mode:
            return self.filter
        flt = self.filter
        return TraceFilter(agent=flt.agent, model=flt.model, query_class=flt.query_class,
                           rated=False)  # fmt: skip

    def _request(self, **kw: Any) -> dict[str, Any]:
        """What a page worker needs, read here on the UI thread."""
        return {"flt": self.filter, "sort": self.sort, "desc": self.descending,
                "judge": self.query_one(TraceTable).judge is not None, **kw}  # fmt: skip

    def _want_rows(self) -> None:
        """The table asked for rows the window does not hold: fetch after this paint."""
        if not self._fill_queued:
            self._fill_queued = True
            self.call_later(self._fill)

    def _scrolled(self) -> None:
        self._render_status()
        self._fill()

    def _fill(self) -> None:
        """Fetch the page the view needs next: the rows on screen, and a margin of
        ``EDGE`` rows past them when the window ends there. Next to the window it is
        the next (or previous) keyset page; far from it (a jump) the page at that
        position (``store.key_at``), so nothing between is ever read."""
        self._fill_queued = False
        if self._loading or self.store is None or self.queue_mode:
            return
        table = self.query_one(TraceTable)
        win = self.window
        total = win.count()
        if total == 0:
            return
        first, last = table.visible_rows()
        last = max(last, first)
        lo, hi = max(first - EDGE, 0), min(last + EDGE, total - 1)
        held = bool(win.held)
        if held and win.offset <= lo and hi < win.end:
            return
        if held and win.offset <= first <= win.end + PAGE and hi >= win.end:
            if not win.more_after:
                return
            mode, req = "after", self._request(key=win.held[-1].sort_key(self.sort))
        elif held and win.offset - PAGE <= last < win.end and lo < win.offset:
            mode, req = "before", self._request(key=win.held[0].sort_key(self.sort))
        elif hi >= total - PAGE:
            mode, req = "bottom", self._request()
        elif lo < PAGE:
            mode, req = "top", self._request()
        else:
            mode, req = "seek", self._request(target=max(first - PAGE // 2, 0))
        self._loading = True
        self._fetch_page(self._token, mode, req)
        self._render_status()

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.page",
          description="load traces")  # fmt: skip
    def _fetch_page(self, token: int, mode: str, req: dict[str, Any]) -> None:
        assert self.store is not None
        store = self.store
        flt, sort, desc = req["flt"], req["sort"], req["desc"]
        key = req.get("key")
        offset = -1  # -1: next to the window (after / before)
        if mode == "before":
            page = store.page(flt, sort=sort, descending=desc, before=key, limit=PAGE)
            rows, has_more = page.rows, True
        elif mode == "bottom":
            page = store.page(flt, sort=sort, descending=not desc, limit=PAGE)
            rows, has_more = list(reversed(page.rows)), False
            total, _ = store.count_filtered(flt)
            offset = max(0, total - len(rows))
        elif mode == "seek":  # a jump: the page at that position, by one index walk
            target = req["target"]
            after = store.key_at(flt, sort, desc, target - 1) if target > 0 else None
            page = store.page(flt, sort=sort, descending=desc, after=after, limit=PAGE)
            rows, has_more, offset = page.rows, page.has_more, target
        elif mode == "locate":  # the page around the row with *key*, wherever it is now
            assert key is not None
            pos = store.position(flt, sort, desc, key)
            if pos <= PAGE:  # near the top: from the top (new traces above it included)
                page = store.page(flt, sort=sort, descending=desc, limit=pos + PAGE)
                rows, has_more, offset = page.rows, page.has_more, 0
            else:  # a screen's worth before it (the cursor was on screen), the rest after
                back = store.page(flt, sort=sort, descending=desc, before=key,
                                  limit=PAGE // 2).rows  # fmt: skip
                after = back[-1].sort_key(sort) if back else None  # the key's row is next
                page = store.page(flt, sort=sort, descending=desc, after=after, limit=PAGE)
                rows, has_more, offset = back + page.rows, page.has_more, pos - len(back)
        elif mode == "after":
            page = store.page(flt, sort=sort, descending=desc, after=key, limit=PAGE)
            rows, has_more = page.rows, page.has_more
        else:  # reset, top
            page = store.page(flt, sort=sort, descending=desc, limit=PAGE)
            rows, has_more, offset = page.rows, page.has_more, 0
        if get_current_worker().is_cancelled:
            return
        msg = self.PageLoaded(token, mode, rows, has_more, page.fts_note, None, offset)
        if req["judge"]:
            msg.judge = judged.judge_scores(store, [r.trace_id for r in rows])
        self.post_message(msg)

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.count",
          description="count traces")  # fmt: skip
    def _fetch_counts(self, token: int, flt: TraceFilter, rated: bool = False) -> None:
        assert self.store is not None
        total, labelled = self.store.count_filtered(flt, rated=rated)
        store_total = total if flt.is_empty() else self.store.count()
        self.post_message(self.CountsLoaded(token, total, labelled, store_total))

    def _refresh_facets(self) -> None:
        """The agent and model pickers listed again (and the judge column, once scores
        exist), in a worker given what the screen shows now."""
        self._load_facets(self.query_one(TraceTable).judge is not None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.facets",
          description="list agents and models")  # fmt: skip
    def _load_facets(self, judge_shown: bool) -> None:
        assert self.store is not None
        facets = self.store.facets()
        self.app.call_from_thread(self._set_facets, facets)
        if not judge_shown and judged.has_judge_scores(self.store):
            self.app.call_from_thread(self._show_judge_column)

    def _first_rows_painted(self) -> None:
        """The first rows are on screen: now the facets may scan the store (once)."""
        if not self._facets_started:
            self._facets_started = True
            self.call_after_refresh(self._refresh_facets)
            shown = getattr(self.app, "first_rows_shown", None)  # the app's first GC freeze
            if callable(shown):
                shown()

    def _set_facets(self, facets: dict[str, list[str]]) -> None:
        bar = self.query_one(FilterBar)
        for picker_id, name in (("f-agent", "agent"), ("f-model", "model")):
            # The filter stays what it was (set_options clears the pick, which would
            # drop it from the filter on `r`): its value stays listed and picked, even
            # one the store no longer has (a drill-down's, or every such trace deleted).
            keep = getattr(self.filter, name)
            values = list(facets[name + "s"])
            if keep is not None and keep not in values:
                values.append(keep)
            with self.prevent(Select.Changed):
                bar.set_options(picker_id, ((one_line(v, 30), v) for v in values), name, keep)
        table = self.query_one(TraceTable)
        table.name_widths = {
            key: max((len(one_line(n, 40)) for n in facets[key + "s"]), default=0)
            for key in ("agent", "model")
        }
        table.fit_columns()

    @on(PageLoaded)
    def _page_loaded(self, msg: TracesPane.PageLoaded) -> None:
        if msg.token != self._token:
            return  # superseded by a newer filter/sort
        self._loading = False
        table = self.query_one(TraceTable)
        if msg.judge and table.judge is not None:
            table.judge.update(msg.judge)
        win = self.window
        keep: Optional[str] = None
        to_top = False
        if msg.mode in ("reset", "top", "bottom", "seek", "locate"):
            if msg.mode in ("reset", "locate"):
                self._fts_note = msg.note
                if self._counted_token != self._token:
                    win.total = 0  # the new filter's count is not known yet
            win.replace(msg.rows, msg.offset, msg.has_more)
            if msg.mode == "bottom":
                win.total = max(win.total, win.end)
            if msg.mode in ("reset", "locate"):
                keep = self._pending_cursor if self._pending_cursor in win.index else None
                to_top = keep is None and msg.mode == "reset"
                self._pending_cursor = None
                if self._sort_from is not None and msg.mode == "reset":
                    self._sort_note = "" if keep is not None else SORT_NOTE
                    self._sort_from = None
        elif msg.mode == "after":
            new = [r for r in msg.rows if r.trace_id not in win.index]
            win.replace(win.held + new, win.offset, msg.has_more)
            if not msg.has_more:
                win.total = win.end
            self._trim(front=True)
        elif msg.mode == "before":
            new = [r for r in msg.rows if r.trace_id not in win.index]
            win.replace(new + win.held, max(0, win.offset - len(new)), win.more_after)
            self._trim(front=False)
        if not win.held:
            self.query_one(TraceDetail).clear(
                "No traces match." if not self.filter.is_empty() else "The store has no traces yet."
            )
        table.widen_for(msg.rows)
        # A new page may hold new labels or judge scores for keys drawn before.
        table.source_changed(keep=keep, rendered=msg.mode in ("after", "before"))
        if to_top:
            table.cursor_row = 0
        self._render_status()
        self.call_after_refresh(self._render_status)  # once the table knows its height
        self.call_after_refresh(self._fill)  # the view may need the next page already
        self.refresh_bindings()  # label keys apply only when a row is selected
        self._first_rows_painted()

    def _trim(self, *, front: bool) -> None:
        """Keep the window bounded: drop the rows at the end away from the view."""
        win = self.window
        extra = len(win.held) - WINDOW_MAX
        if extra <= 0:
            return
        if front:
            win.replace(win.held[extra:], win.offset + extra, win.more_after)
        else:
            win.replace(win.held[:WINDOW_MAX], win.offset, True)

    @on(CountsLoaded)
    def _counts_loaded(self, msg: TracesPane.CountsLoaded) -> None:
        if msg.token != self._token:
            return
        self._total, self._labelled, self._store_total = msg.total, msg.labelled, msg.store_total
        self._counted = True
        if not self.queue_mode:
            self._counted_token = msg.token
            self.window.total = msg.total
            self.query_one(TraceTable).source_changed()
        self._update_empty()
        self._render_status()

    # ------------------------------------------------------------ what the table shows

    @property
    def rows(self) -> tuple[TraceRow, ...]:
        """The rows the pane holds now, in table order: one contiguous run of the
        filter's rows (at most ``WINDOW_MAX``), starting at :attr:`rows_offset`."""
        return tuple(self.window.held)

    @property
    def rows_offset(self) -> int:
        """Where the first held row is among all rows of the filter (0-based)."""
        return self.window.offset

    @property
    def current_trace_id(self) -> Optional[str]:
        """The selected trace's id (None when the table is empty or its row is still
        loading)."""
        return self._current_id()

    @property
    def cursor_position(self) -> Optional[int]:
        """The selected row's position among all rows of the filter (0-based), as
        "rows N–M of T" counts it; None when the table is empty."""
        table = self.query_one(TraceTable)
        return table.cursor_row if table.row_count else None

    def _current_id(self) -> Optional[str]:
        return self.query_one(TraceTable).cursor_key

    def _rows_in_view(self, limit: int) -> list[TraceRow]:
        """Up to *limit* held rows from the first one on screen."""
        win = self.window
        first, _last = self.query_one(TraceTable).visible_rows()
        start = min(max(first - win.offset, 0), len(win.held))
        return win.held[start : start + limit]

    # ------------------------------------------------------------ status line

    def _render_status(self) -> None:
        """The status line, built from segments by priority: what does not fit is left
        out whole (the least important first) and the rest keeps its order, so the
        state words (rows, labelled, sort, read-only) show at 120 columns and the most
        important at 80; a long explanation is cut with "…" to the room left."""
        if self.store is None:  # "Opening trace store…" (or its progress, or why it
            return  # failed) stays: not "0 of 0 rows" before anything was counted
        status = self.query_one("#traces-status", Static)
        table = self.query_one(TraceTable)
        # (priority: 0 shows first, text, style, may be cut to fit)
        segs: list[tuple[int, str, str, bool]] = []
        briefs: dict[str, str] = {}  # a segment → the same in fewer words
        if self._searching:
            segs.append((0, "search: enter applies, escape leaves", "bold", False))
        elif self._in_filter_bar():  # what the bar's keys do (the footer has room for few)
            segs.append((0, "tab next · esc leaves · ⌫ clears filters", "bold", False))
        if self.queue_mode:
            segs.append((0, "queue order (Q)", "bold reverse", False))
            # The queue offers its scope's unrated traces (agent, model, class): the rest
            # of the filter does not narrow it, and the rows would seem to ignore it
            # silently (walkthrough W3 1)
            flt = self.filter
            left_out = [name for name, value in (
                ("search", flt.text), ("outcome", flt.outcome),
                ("time", flt.since if flt.since is not None else flt.until),
                ("labelled", flt.labelled)) if value is not None]  # fmt: skip
            if left_out:
                ignored = f"queue ignores {', '.join(left_out)}"
                segs.append((0, f"{ignored} (Q off applies it)", "bold yellow", True))
                briefs[f"{ignored} (Q off applies it)"] = ignored
            held = len(self.window.held)
            if self._queue_time_order:  # a page of the scope's unrated traces: say so
                count = (f"first {held:,} of {self._total:,} unrated, time order"
                         if self._counted and self._total > held
                         else f"{held:,} unrated, time order")  # fmt: skip
            else:
                cap = "first " if held >= evidence.QUEUE_ROWS else ""  # the queue's cap
                count = f"{cap}{held:,} queued"
            segs.append((1, count, "bold", False))
        elif self.window.count():
            first, last = table.visible_rows()
            total = self.window.count()
            last = max(first, min(last, total - 1))
            segs.append((0, f"rows {first + 1:,}–{last + 1:,} of {total:,}", "bold", False))
        else:
            segs.append((0, f"0 of {self._total:,} rows", "bold", False))
        fts_line = f"search: {one_line(self._fts_note, 80)}" if self._fts_note else ""
        if fts_line:  # what the store made of the search: right after the count; before
            # "auto-advance off" (same priority, placed first), in fewer words at 80
            segs.append((2, fts_line, "yellow", True))
        # in queue order every row is unrated (the queue asks for scores): how far the
        # queue is from settling (below) comes before the count
        counted = "rated" if self.queue_mode else "labelled"
        segs.append((2 if self.queue_mode else 1, f"{counted} {self._labelled:,} of {self._total:,}",
                     "", False))  # fmt: skip
        if self._labels_done and self.queue_mode:
            # a label takes its trace out of the queue, so the count above stays put:
            # what was labelled here is said beside it (before the queue's reason,
            # which is cut to the room left)
            segs.append((1, f"{self._labels_done:,} labelled this session", "", False))
        if not self.filter.is_empty() and self._total != self._store_total:
            # glued to the count it qualifies (a leading space: no " · " before it);
            # not when nothing is left out (a search of operators only filters nothing)
            segs.append((6, f" (filtered; {self._store_total:,} in store)", "dim", False))
        if not self.queue_mode:  # in queue order, "queue order (Q)" is the sort
            arrow = "↓" if self.descending else "↑"
            segs.append((0, f"sort {SORT_LABELS[self.sort]} {arrow}", "", False))
        if not self.auto_advance:  # after the search note (same priority, placed later)
            segs.append((2, "auto-advance off", "yellow", False))
        if self.store is not None and self.store.read_only:
            snapshot = getattr(self.store, "snapshot", None)
            segs.append((0, one_line(snapshot, 90) if snapshot else "read-only", "bold yellow",
                         bool(snapshot)))  # fmt: skip
        reclass = getattr(self.store, "reclassifying", None) if self.store is not None else None
        if reclass is not None and reclass[1]:
            segs.append((2, f"re-classifying queries: {100 * reclass[0] // reclass[1]}%",
                         "yellow", False))  # fmt: skip
        if self._loading:
            segs.append((3, "loading…", "dim", False))
        if self._judge_line:  # progress, or the last result until the next key
            # the last result, when it has fewer words, outranks the counts at 80 (until
            # the next key); progress and a failure's reason come after them
            prio = 0 if self._judge_line in self._judge_short else 1
            segs.append((prio, one_line(self._judge_line, 160), "bold magenta", True))
        if self._sort_note:  # where a sort change left the cursor, until the next key
            segs.append((0, self._sort_note, "bold yellow", True))
        if self._opening is not None:  # enter on a trace not loaded yet, or a big one
            segs.append((0, "opening the trace: loading…", "bold", False))
        if self._replaced_note:  # the file was replaced under the app, until the next key
            segs.append((0, self._replaced_note, "bold yellow", True))
        if self.queue_mode:
            # How far the queue is from settling is the queue's key state: right after
            # the counts, whole if it fits, else in fewer words, else cut with "…"; why
            # this trace is next where there is room.
            if self._queue_line:
                segs.append((1, one_line(self._queue_line, 200), "bold", True))
            why = self._queue_why.get(self._current_id() or "")
            if why:  # whole or not at all (the side panel has it whole: "queued: …")
                segs.append((4, f"next: {one_line(why, 120)}", "", False))
                brief = self._queue_brief.get(self._current_id() or "")
                if brief:  # the models' figures are in Routing; their names fit at 120
                    briefs[f"next: {one_line(why, 120)}"] = f"next: {one_line(brief, 120)}"
        now = time.monotonic()
        while self._label_times and now - self._label_times[0] > 60:
            self._label_times.popleft()
        segs.append((7, f"{plural(len(self._label_times), 'label')}/min", "", False))
        # the content width: the bar's padding would crop the "…" of a cut segment
        width = status.content_size.width or self.size.width or 120
        shorter: dict[str, str | tuple[str, ...]] = {
            # the queue's line: in fewer words, then without "· N classes open"
            one_line(self._queue_line, 200): (self._queue_short,
                                              self._queue_short.split(" · ")[0]),
            SORT_NOTE: SORT_NOTE_SHORT,
        }  # fmt: skip
        if self._judge_line in self._judge_short:
            shorter[one_line(self._judge_line, 160)] = self._judge_short[self._judge_line]
        shorter.update(briefs)
        if self._fts_note in FTS_NOTE_SHORT:
            shorter[fts_line] = f"search: {FTS_NOTE_SHORT[self._fts_note]}"
        status.update(self._fit_segments(segs, width, shorter))

    @staticmethod
    def _fit_segments(
        segs: list[tuple[int, str, str, bool]],
        width: int,
        shorter: Optional[dict[str, str | tuple[str, ...]]] = None,
    ) -> Text:
        """*shorter*: a segment's text → the same in fewer words (or several such forms,
        shortest last). Such a segment is placed in its fewest words first (so the state
        words, priorities 0–2, still fit) and gets back the longest form (its whole text
        first) that the room left after them allows."""
        sep = " · "
        shown: dict[int, str] = {}
        used = 0

        def forms(i: int) -> list[str]:
            """Segment *i*'s shorter forms, longest first."""
            text = segs[i][1]
            more = (shorter or {}).get(text)
            chain = [more] if isinstance(more, str) else list(more or ())
            return [f for f in chain if f and cell_len(f) < cell_len(text)]

        def place(i: int) -> None:
            nonlocal used
            _prio, text, _style, cuttable = segs[i]
            extra = len(sep) if shown and not text.startswith(" ") else 0
            room = width - used - extra
            fewer = forms(i)
            short = fewer[-1] if fewer else None
            if short:
                text = short  # the whole text comes back below if there is room
            if cell_len(text) <= room:
                shown[i] = text
            elif cuttable and room >= 12:
                cut = Text(text)
                cut.truncate(room, overflow="ellipsis")
                shown[i] = cut.plain
            else:
                return
            used += extra + cell_len(shown[i])

        order = sorted(range(len(segs)), key=lambda i: segs[i][0])
        for i in (i for i in order if segs[i][0] <= 2):
            place(i)

        def grow_all() -> None:
            nonlocal used
            for i in list(shown):  # the longest form that fits, most important first
                for form in (segs[i][1], *forms(i)):
                    grow = cell_len(form) - cell_len(shown[i])
                    if grow <= 0:
                        break
                    if grow <= width - used:
                        shown[i], used = form, used + grow
                        break

        grow_all()  # the state words first
        for i in (i for i in order if segs[i][0] > 2):
            place(i)
        grow_all()  # then the rest
        out = Text(no_wrap=True, overflow="ellipsis")
        for i in sorted(shown):
            if len(out) and not shown[i].startswith(" "):
                out.append(sep)
            out.append(shown[i], style=segs[i][2])
        return out

    # ------------------------------------------------------------ table events

    @on(BigTable.RowHighlighted, "#trace-table")
    def _row_highlighted(self, event: BigTable.RowHighlighted) -> None:
        if self._opening is not None and self._opening != event.key:
            self._opening = None  # the cursor moved on: open nothing
        self._fetch_detail(event.key)
        self._render_status()

    @on(TraceTable.Resized)
    def _table_resized(self) -> None:
        self._render_status()
        self._fill()

    @on(BigTable.RowSelected, "#trace-table")
    def _row_selected(self, event: BigTable.RowSelected) -> None:
        self.action_open_trace()

    @on(BigTable.HeaderSelected, "#trace-table")
    def _header_selected(self, event: BigTable.HeaderSelected) -> None:
        key = event.column
        if key not in SORT_EXPR:
            self.app.notify(f"cannot sort by {key}", severity="warning", markup=False)
            return
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, key in ("time", "score", "latency", "tokens")
        self._resort()

    def _resort(self) -> None:
        """The rows again in the new order: the cursor stays on its trace when the first
        page of the new order holds it, else it goes to the top row and the status line
        says so (the trace is further down)."""
        keep = self._current_id()
        self.reload(keep=keep)
        self._sort_from = keep

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.detail",
          description="load trace")  # fmt: skip
    def _fetch_detail(self, trace_id: str) -> None:
        assert self.store is not None
        trace = self.store.get(trace_id)
        if get_current_worker().is_cancelled:
            return
        note = self.store.note(trace_id)
        history = self.store.label_history(trace_id)
        verdict = judged.judge_verdict(self.store, trace_id)
        self.post_message(self.DetailLoaded(trace, note, history, verdict))

    @on(DetailLoaded)
    def _detail_loaded(self, msg: TracesPane.DetailLoaded) -> None:
        if msg.trace is None:
            self.query_one(TraceDetail).clear("This trace no longer exists.")
            return
        # The full view follows its own trace even when the cursor is elsewhere (a
        # label in queue order takes the trace out of the table and moves the cursor).
        view = self._full_view
        if view is not None and view.trace.trace_id == msg.trace.trace_id:
            view.show_labels(msg.trace.feedback, msg.trace.outcome, msg.note or "", msg.history,
                             msg.judge)  # fmt: skip
        if msg.trace.trace_id == self._current_id():
            queued = self._queue_why.get(msg.trace.trace_id, "") if self.queue_mode else ""
            self.query_one(TraceDetail).show(msg.trace, msg.note, msg.history, msg.judge,
                                             queued)  # fmt: skip
            self._detail_trace = msg.trace
            self._detail_note = msg.note
            self._detail_history = msg.history
            self._detail_judge = msg.judge
            if self._opening == msg.trace.trace_id:  # enter came before the trace
                self.action_open_trace()

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """A trace whose detail cannot be loaded must not leave the previous one on screen
        (the app reports the error itself)."""
        if event.state == WorkerState.ERROR and event.worker.group == "traces.page":
            self._loading = False  # the next scroll may try again
        if event.state == WorkerState.ERROR and event.worker.group == "traces.detail":
            self._detail_trace = None
            self.query_one(TraceDetail).clear(
                f"This trace cannot be shown: {one_line(repr(event.worker.error), 200)}"
            )

    # ------------------------------------------------------------ filters

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.3, self._apply_filters)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._apply_filters()
        self.focus_default()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        # Each pick applies at once (a choice from the list, a value set by a drill-down).
        self._apply_filters()

    @on(FilterBar.Picked)
    def _filter_picked(self, event: FilterBar.Picked) -> None:
        """A choice taken from a picker's list ends the edit: back to the table (NAV, j
        and k move), as lazygit does; F comes back to this picker (tab: the next one)."""
        self._last_picker = event.picker.id or "f-agent"
        self.focus_default()  # the bar closes as the focus leaves it

    def _render_filter_summary(self) -> None:
        flt = self.filter
        # Most important first: what the rows are (labelled or not), then who made
        # them, then the narrower filters.
        parts = []
        choice = _label_choice(flt)
        if choice is not None:
            parts.append(choice)
        for name, value in (("model", flt.model), ("agent", flt.agent),
                            ("class", flt.query_class), ("outcome", flt.outcome)):  # fmt: skip
            if value:
                parts.append(f"{name} {one_line(value, 24)}")
        if flt.since is not None:
            window = self.query_one(FilterBar).value("f-time")
            label = next((lb for lb, secs in TIME_RANGES if str(secs) == window), "since …")
            parts.append(label)
        summary = self.query_one("#filter-summary", Static)
        if parts:
            # The summary may take 60% of the row (traces.tcss), less its padding.
            room = max(12, int((self.size.width or 120) * 0.6) - 2)
            summary.update(Text(fit_filter_summary(parts, room), style="bold"))
        else:
            summary.update(Text("F filters", style="dim"))
        self.set_class(bool(parts), "-filtered")

    def action_open_filters(self) -> None:
        """Show the filter bar and put the focus in its first picker (escape leaves);
        the first time, its pickers are made first."""
        self.add_class("-filters")
        self.call_later(self._focus_filters, self.query_one(FilterBar).build())

    async def _focus_filters(self, mounting: Any) -> None:
        if mounting is not None:  # the pickers were just made: once they are mounted
            await mounting
        self.call_after_refresh(focus_now, self.query_one(f"#{self._last_picker}", Select))

    def action_back(self) -> None:
        """Escape: leave a field for the table; in the table, clear an active search."""
        table = self.query_one(TraceTable)
        focused = self.screen.focused
        if focused is not table:
            if focused is self.query_one("#search", Input) and self._search_timer is not None:
                self._search_timer.stop()
                self._apply_filters()  # what was typed is what is shown
            self.remove_class("-filters")
            self.focus_default()
            return
        self.action_clear_search()

    def action_refresh(self) -> None:
        self._refresh_facets()
        self.reload(keep=self._current_id())

    def apply_filters(self) -> None:
        """Apply what the search box and the pickers say now (what the search's
        debounce timer does when typing pauses)."""
        if self._search_timer is not None:
            self._search_timer.stop()
        self._apply_filters()

    def _apply_filters(self) -> None:
        value = self.query_one(FilterBar).value
        field, chosen = _LABEL_CHOICES.get(value("f-labelled") or "", ("", None))
        window = value("f-time")
        text = self.query_one("#search", Input).value.strip() or None
        flt = TraceFilter(
            agent=value("f-agent"),
            model=value("f-model"),
            outcome=value("f-outcome"),
            query_class=value("f-class"),
            labelled=chosen if field == "labelled" else None,
            rated=chosen if field == "rated" else None,
            since=None if window is None else time.time() - float(window),
            text=text,
        )
        if flt != self.filter:
            self.filter = flt
            self.reload(keep=self._current_id())
        self._render_filter_summary()

    def show_filter(self, flt: TraceFilter) -> None:
        """Show *flt* in the filter bar (and so in the table): drill-downs from other panes."""
        self.query_one("#search", Input).value = flt.text or ""
        bar = self.query_one(FilterBar)
        with self.prevent(Select.Changed):
            for picker_id, value in (
                ("f-agent", flt.agent),
                ("f-model", flt.model),
                ("f-class", flt.query_class),
                ("f-outcome", flt.outcome),
                ("f-labelled", _label_choice(flt)),
                ("f-time", None),
            ):
                bar.set_value(picker_id, value)  # one it does not list (yet): none
        if self._search_timer is not None:
            self._search_timer.stop()
        self.filter = flt
        self.reload()
        self._render_filter_summary()
        self.focus_default()

    def set_filter(self, flt: TraceFilter) -> None:
        """Programmatic filter change (command palette, tests)."""
        self.filter = flt
        self.reload()
        self._render_filter_summary()

    def on_descendant_focus(self, event: Any) -> None:
        if getattr(event.widget, "id", None) == "search":
            self._searching = True
            self._render_status()
        elif self._in_filter_bar():  # its keys, on the status line
            self._render_status()

    def _in_filter_bar(self) -> bool:
        """The focus is in the filter bar (a picker, or its open list)."""
        focused = self.screen.focused if self.is_attached else None
        return focused is not None and self.query_one("#filter-bar") in focused.ancestors

    def on_descendant_blur(self, event: Any) -> None:
        if getattr(event.widget, "id", None) == "search":
            self._searching = False
            self._render_status()
        self.call_after_refresh(self._maybe_close_filters)

    def _maybe_close_filters(self) -> None:
        """The filter bar stays open only while the focus is in it."""
        focused = self.screen.focused
        bar = self.query_one("#filter-bar")
        if focused is None or bar not in focused.ancestors:
            self.remove_class("-filters")
            self._render_status()  # without the filter bar's keys

    def action_focus_search(self) -> None:
        focus_now(self.query_one("#search", Input))

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.value:
            search.value = ""
            self._apply_filters()
        self.focus_default()

    # ------------------------------------------------------------ sorting & moving

    def action_cycle_sort(self) -> None:
        keys = list(SORT_EXPR)
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
        self.descending = self.sort in ("time", "score", "latency", "tokens")
        self._resort()

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        self._resort()

    def action_top(self) -> None:
        """g: the first trace (its page is read if the window does not hold it)."""
        self.query_one(TraceTable).action_first()

    def action_bottom(self) -> None:
        """G: the last trace of the filter, by one reversed keyset page."""
        self.query_one(TraceTable).action_last()

    def action_toggle_detail(self) -> None:
        """d: hide or show the detail panel; on a short terminal (under 26 rows) it
        starts hidden and d shows it below the table."""
        if self.has_class("-short"):
            self.toggle_class("-short-detail")
        else:
            self.toggle_class("-no-detail")

    def action_toggle_advance(self) -> None:
        self.auto_advance = not self.auto_advance
        self._render_status()

    # ------------------------------------------------------------ labelling

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action.startswith(("score_", "mark_")):  # the palette's score and outcome
            action = "score"
        if action == "clear_label" and self._in_filter_bar():
            return True  # backspace in the filter bar clears the filters, rows or not
        if action in ("score", "outcome", "clear_label", "note", "open_trace", "copy",
                      "accept_judge"):  # fmt: skip
            return self._current_id() is not None
        if action == "cancel_judge":
            return self._judge_cancel is not None
        if action == "undo":
            return bool(self._undo)
        return True

    def action_score(self, value: float) -> None:
        self._label(feedback=round(float(value), 2))

    def action_outcome(self, outcome: str) -> None:
        self._label(outcome=outcome)

    def action_clear_label(self) -> None:
        if self._in_filter_bar():  # backspace on the bar: every filter, not the label
            self._clear_filters()
            return
        self._label(feedback=None, outcome=None, advance=False)

    def label_trace(self, trace_id: str, **fields: Any) -> None:
        """Label *trace_id* (the full view's trace) without moving the cursor."""
        self._label(trace_id=trace_id, advance=False, **fields)

    def _label(self, *, trace_id: Optional[str] = None, advance: bool = True,
               **fields: Any) -> None:  # fmt: skip
        trace_id = trace_id or self._current_id()
        if trace_id is None or self.store is None:
            return
        view = self._full_view
        in_view = view is not None and view.trace.trace_id == trace_id
        row = self.window.row(trace_id)
        if row is None and not in_view:
            return  # scrolled out of the window meanwhile: nothing to label against
        if self.store.read_only:
            self.app.notify(
                f"{self.store.path} is read-only: labels cannot be saved",
                severity="error", markup=False,
            )  # fmt: skip
            return
        source = fields.pop("source", "tui")
        if row is not None:
            old_fb, old_outcome = row.feedback, row.outcome
        else:  # the full view's trace, no longer in the table (queue order)
            assert view is not None
            old_fb, old_outcome = view.trace.feedback, view.trace.outcome
        new_fb = fields.get("feedback", old_fb)
        new_outcome = fields.get("outcome", old_outcome)
        if (new_fb, new_outcome) == (old_fb, old_outcome):
            # Nothing changes: no write, no undo step, no label in labels/min (issue
            # 10: backspace on an unlabelled trace used up an undo step). The same
            # score again still moves on, as a label would.
            if "feedback" in fields and new_fb is None and "outcome" in fields:
                self.app.notify("nothing to clear: no score and no outcome", timeout=2)
            elif advance and self.auto_advance and "feedback" in fields:
                position = self.window.index_of(trace_id)
                if position is not None:
                    self._advance_from(position)
            return
        self._undo.append((trace_id, old_fb, old_outcome))
        if len(self._undo) == 1:
            self.refresh_bindings()
        if row is not None:
            # optimistic; reverted if the write fails
            self._apply_row(replace(row, feedback=new_fb, outcome=new_outcome))
        self._show_in_full_view(trace_id, new_fb, new_outcome)
        self._enqueue_write(("set", trace_id, fields, source))
        self._label_times.append(time.monotonic())
        self._labels_done += 1
        position = self.window.index_of(trace_id)
        if advance and self.auto_advance and "feedback" in fields and position is not None:
            self._advance_from(position)
        self._render_status()

    def _apply_row(self, row: TraceRow) -> None:
        win = self.window
        idx = win.index.get(row.trace_id)
        if idx is None:
            return
        old = win.held[idx]
        win.held[idx] = row
        if (old.feedback, old.outcome) != (row.feedback, row.outcome):
            self.query_one(TraceTable).invalidate([row.trace_id])
        # labelled = a score or an outcome, as the store counts it (LABELLED_SQL); in
        # queue order the count is of rated traces (a score)
        done = _is_rated if self.queue_mode else _is_labelled
        self._labelled += done(row) - done(old)

    def _advance_from(self, position: int) -> None:
        """The cursor to the next unlabelled trace held after *position* (else one on)."""
        table = self.query_one(TraceTable)
        win = self.window
        done = _is_rated if self.queue_mode else _is_labelled  # the queue asks for scores
        for j in range(max(position + 1 - win.offset, 0), len(win.held)):
            if not done(win.held[j]):
                table.cursor_row = win.offset + j
                return
        # Nothing unlabelled left in the window: step on; paging continues the hunt.
        table.cursor_row = position + 1

    def action_undo(self) -> None:
        if not self._undo:
            self.app.notify("nothing to undo")
            return
        trace_id, fb, outcome = self._undo.pop()
        if not self._undo:
            self.refresh_bindings()
        # An undone label is not a label given (issue 10): take it out of labels/min.
        # Undo steps and label times are in the same order, so the undone label is the
        # newest time left (or aged out already, with every older one).
        if self._label_times:
            self._label_times.pop()
        self._labels_done = max(self._labels_done - 1, 0)
        row = self.window.row(trace_id)
        if row is not None:
            self._apply_row(replace(row, feedback=fb, outcome=outcome))
            self.query_one(TraceTable).move_to(trace_id)
        self._show_in_full_view(trace_id, fb, outcome)
        self._enqueue_write(("set", trace_id, {"feedback": fb, "outcome": outcome}, "undo"))
        self.app.notify(f"undone: {one_line(trace_id, 80)}", timeout=2, markup=False)
        self._render_status()

    def action_note(self) -> None:
        trace_id = self._current_id()
        if trace_id is None:
            return
        detail = self._detail_trace
        mine = detail is not None and detail.trace_id == trace_id
        self.edit_note(
            trace_id, (self._detail_note or "") if mine else "", detail if mine else None
        )

    def edit_note(self, trace_id: str, current: str, trace: Optional[Trace]) -> None:
        """Open the note editor on *trace_id*; a saved note goes to the store."""
        if self.store is not None and self.store.read_only:
            self.app.notify(
                f"{self.store.path} is read-only: notes cannot be saved",
                severity="error", markup=False,
            )  # fmt: skip
            return

        def done(note: Optional[str]) -> None:
            if note is not None and note != current:
                self._enqueue_write(("set", trace_id, {"note": note}, "tui"))

        self.app.push_screen(NoteScreen(trace_id, current, trace), done)

    def action_open_trace(self) -> None:
        """enter: the whole trace. Before its detail is loaded (a big trace takes a
        moment), the status line says "loading…" at once and the view opens when it
        comes; a big one says so for the frame before its view is built."""
        trace, current = self._detail_trace, self._current_id()
        if current is None:
            return
        if trace is None or trace.trace_id != current:
            self._opening = current
            self._render_status()
            return
        self._opening = None
        if len(trace.query) + len(trace.result) < OPEN_NOTICE_CHARS:
            self._push_full_view(trace)
            return
        self._opening = current  # "opening the trace…" on the frame before its view
        self._render_status()
        self.call_after_refresh(self._push_full_view, trace)

    def _push_full_view(self, trace: Trace) -> None:
        self._opening = None
        self._render_status()
        if trace.trace_id != self._current_id():
            return
        view = TraceScreen(self, trace, self._detail_note, self._detail_history,
                           self._detail_judge)  # fmt: skip
        self._full_view = view

        def closed(_result: None) -> None:
            if self._full_view is view:
                self._full_view = None

        self.app.push_screen(view, closed)

    def _show_in_full_view(
        self, trace_id: str, fb: Optional[float], outcome: Optional[str]
    ) -> None:
        view = self._full_view
        if view is not None and view.trace.trace_id == trace_id and view.is_attached:
            view.show_labels(fb, outcome)

    def _enqueue_write(self, item: tuple) -> None:
        """Queue a label write; one drainer at a time keeps them in typing order."""
        with self._write_lock:
            self._writes.append(item)
            if self._writer_running:
                return
            self._writer_running = True
        self._drain_writes()

    @work(thread=True, exit_on_error=False, group="traces.labels", description="save labels")
    def _drain_writes(self) -> None:
        while True:
            with self._write_lock:
                if not self._writes or self.store is None:
                    self._writer_running = False
                    return
                _, trace_id, fields, source = self._writes.popleft()
            try:
                change = self.store.set_label(trace_id, source=source, **fields)
            except (StoreError, ValueError, KeyError) as exc:
                msg = f"unknown trace {trace_id}" if isinstance(exc, KeyError) else str(exc)
                self.post_message(self.Labelled(None, trace_id, msg, exc))
            else:
                with self._write_lock:
                    self._own_label_gen += 1
                self.post_message(self.Labelled(change, trace_id))

    @on(Labelled)
    def _labelled_done(self, msg: TracesPane.Labelled) -> None:
        if msg.error:
            # the app's one error path: one line here, the traceback in the log
            self.report_failure(f"save label of {one_line(msg.trace_id, 40)}",
                                msg.exc or RuntimeError(msg.error),
                                f"label not saved: {one_line(msg.error, 200)}")  # fmt: skip
            # Re-read the truth for that row.
            self._refresh_rows([msg.trace_id])
            return
        view = self._full_view
        if msg.trace_id == self._current_id() or (
            view is not None and view.trace.trace_id == msg.trace_id
        ):
            self._fetch_detail(msg.trace_id)
        if self.queue_mode:
            # The label moved the evidence: the queue (and how far it is from settling)
            # is recomputed; the cursor stays on the trace it advanced to.
            with self._write_lock:
                idle = not self._writes
            if idle:
                self.reload(keep=self._current_id())

    @work(thread=True, exit_on_error=False, group="traces.refresh", description="refresh rows")
    def _refresh_rows(self, trace_ids: list[str]) -> None:
        assert self.store is not None
        for tid in trace_ids:
            t = self.store.get(tid)
            if t is not None:
                self.app.call_from_thread(self._apply_trace_values, tid, t.feedback, t.outcome)

    def _apply_trace_values(
        self, trace_id: str, fb: Optional[float], outcome: Optional[str]
    ) -> None:
        row = self.window.row(trace_id)
        if row is not None:
            self._apply_row(replace(row, feedback=fb, outcome=outcome))
            self._render_status()

    # ------------------------------------------------------------ live updates

    def poll_store(self) -> None:
        """Look for new traces and outside label changes now (a timer does it every
        ``POLL_SECONDS``)."""
        if self.store is not None:
            self._check_changes()
            if getattr(self.store, "reclassifying", None) is not None or self._reclass_shown:
                self._reclass_shown = self.store.reclassifying is not None
                self._render_status()

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.poll",
          description="watch store")  # fmt: skip
    def _check_changes(self) -> None:
        assert self.store is not None
        token = self.store.change_token()
        last = self._last_token
        self._last_token = token
        reopened = getattr(self.store, "reopened", 0)
        if reopened != self._reopened_seen:  # another file at the path: read it afresh
            self._reopened_seen = reopened
            self.post_message(self.StoreChanged(0, True, replaced=True))
            return
        if last is None or token == last:
            return
        new = self.store.sync() if token[0] > last[0] else 0
        with self._write_lock:
            own, self._own_label_gen = self._own_label_gen, 0
        labels_changed = token[1] - last[1] > own
        if new or labels_changed or token[0] > last[0]:
            self.post_message(self.StoreChanged(max(new, token[0] - last[0]), labels_changed))

    @on(StoreChanged)
    def _store_changed(self, msg: TracesPane.StoreChanged) -> None:
        if msg.replaced:
            name = self.store.path.name if self.store is not None else "traces.db"
            self._replaced_note = f"{one_line(name, 60)} was replaced: reopened"
            self.reload(keep=self._current_id())
            if self._facets_started:
                self._refresh_facets()
            return
        if msg.new_traces and not self.queue_mode:
            # New rows may sit above the view: read the window again where the cursor's
            # trace is now, so the cursor stays on it and the positions stay true.
            self.reload(keep=self._current_id(), locate=True)
        else:
            self._fetch_counts(self._token, self._count_filter(), self.queue_mode)
            if msg.labels_changed:
                self._refresh_rows([r.trace_id for r in self._rows_in_view(200)])
        if msg.new_traces:
            self.app.notify(f"{msg.new_traces:,} new trace(s)", timeout=2)
            if self._facets_started:  # new agents and models: the pickers and widths
                self._refresh_facets()

    # ------------------------------------------------------------ labelling queue

    def action_toggle_queue(self) -> None:
        """Q: queue order (the unrated traces whose label decides most) or time order."""
        self.queue_mode = not self.queue_mode
        self._queue_why, self._queue_line = {}, ""
        self.app.notify(
            "queue order: the most decisive unrated traces first" if self.queue_mode
            else "queue order off", timeout=2, markup=False,
        )  # fmt: skip
        self.reload(keep=self._current_id())
        if not self.queue_mode and self._current_id() is not None:
            self._fetch_detail(self._current_id())  # without its "queued: …" line

    def show_queue(self, query_class: Optional[str], model: Optional[str]) -> None:
        """Queue order for one Routing cell ("label where it matters")."""
        self.queue_mode = True
        self._queue_why, self._queue_line = {}, ""
        self.show_filter(TraceFilter(model=model, query_class=query_class, rated=False))

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.page",
          description="compute the labelling queue")  # fmt: skip
    def _fetch_queue(self, token: int) -> None:
        from jarvis_tui.learning.label_queue import LabelQueue

        assert self.store is not None
        flt = self.filter
        queue = LabelQueue(self.store, agent=flt.agent, query_class=flt.query_class,
                           model=flt.model)  # fmt: skip
        status = queue.status()
        items = queue.next(evidence.QUEUE_ROWS)
        rows: list[TraceRow] = []
        why: dict[str, str] = {}
        brief: dict[str, str] = {}
        for item in items:
            t = self.store.get(item.trace_id)
            if t is None or get_current_worker().is_cancelled:
                continue
            rows.append(TraceRow(0, t.trace_id, t.started_at, item.query_class, t.agent,
                                 t.model, t.outcome, t.feedback, t.total_latency_seconds,
                                 t.total_tokens, one_line(t.query, 160)))  # fmt: skip
            why[t.trace_id] = item.why
            brief[t.trace_id] = item.brief
        line, short, time_order = status.line, status.short, not rows
        if not rows:
            # Nothing here can change a decision: the scope's unrated traces (what the
            # count counts), in time order, so a drill-down still lands on something to
            # label.
            page = self.store.page(self._count_filter(), limit=evidence.QUEUE_ROWS)
            rows = page.rows
            line = f"no label here can change a routing decision ({line})"
            short = "no label here can change a routing decision"
        judge = None
        if self.query_one(TraceTable).judge is not None:
            judge = judged.judge_scores(self.store, [r.trace_id for r in rows])
        if not get_current_worker().is_cancelled:
            self.post_message(self.QueueLoaded(token, rows, why, line, judge, short, time_order,
                                               None if time_order else status, brief))  # fmt: skip

    @on(QueueLoaded)
    def _queue_loaded(self, msg: TracesPane.QueueLoaded) -> None:
        if msg.token != self._token or not self.queue_mode:
            return
        self._loading = False
        self._fts_note = ""
        self._queue_why, self._queue_line = msg.why, msg.line
        self._queue_short, self._queue_time_order = msg.short, msg.time_order
        self._queue_brief = msg.brief
        if msg.status is not None:  # the counts steadied over the labels given
            from jarvis_tui.learning.label_queue import SettleSmoother

            if self._settle is None:
                self._settle = SettleSmoother()
            counts = self._settle.counts(msg.status, scope=self.filter.agent)
            self._queue_line, self._queue_short = msg.status.told(counts)
        table = self.query_one(TraceTable)
        if msg.judge and table.judge is not None:
            table.judge.update(msg.judge)
        win = self.window
        win.replace(msg.rows, 0, False)
        win.total = len(msg.rows)
        self._counted_token = -1  # the filter's count is not the queue's length
        keep = self._pending_cursor if self._pending_cursor in win.index else None
        table.widen_for(msg.rows)
        table.source_changed(keep=keep, rendered=False)
        if keep is None:
            table.cursor_row = 0
        if not win.held:
            self.query_one(TraceDetail).clear("No traces match.")
        elif self._current_id() is not None:  # its "queued: …" line, on the same trace too
            self._fetch_detail(self._current_id())
        self._pending_cursor = None
        self._update_empty()
        self._render_status()
        self.call_after_refresh(self._render_status)
        self.refresh_bindings()
        self._first_rows_painted()

    # ------------------------------------------------------------ the LLM judge

    def _show_judge_column(self) -> None:
        table = self.query_one(TraceTable)
        if table.judge is not None:
            return
        table.show_judge()
        self.reload(keep=self._current_id())  # with the scores

    def action_judge(self) -> None:
        """J: the judge over the unlabelled traces of the filter (a form asks for the
        endpoint when JARVIS_TUI_JUDGE_URL / _MODEL are not set)."""
        if self.store is None:
            return
        if self._judge_cancel is not None:
            self.app.notify("the judge is running: x stops it", markup=False)
            return
        if self.store.read_only:
            self.app.notify(f"{self.store.path} is read-only: judge scores cannot be saved",
                            severity="error", markup=False)  # fmt: skip
            return
        env = evidence.judge_endpoint_from_env()
        if env is not None:
            self._start_judge(*env)
        else:
            self.ask_judge_endpoint()

    def ask_judge_endpoint(self) -> None:
        from jarvis_tui.ui.screens.forms import ConfigFormScreen
        from jarvis_tui.ui.settings import load_judge_form, save_judge_form

        root = self.workspace.root if self.workspace is not None else None
        last = load_judge_form(root) if root is not None else {}

        def done(values: Optional[dict]) -> None:
            if values is None:
                return
            url, model = str(values.get("url", "")).strip(), str(values.get("model", "")).strip()
            if not url or not model:
                self.app.notify("judge not run: it needs both a URL and a model",
                                severity="warning", markup=False)  # fmt: skip
                return
            # the next form opens with these (the workspace file; never an API key)
            problem = save_judge_form(root, values) if root is not None else None
            if problem:
                log = getattr(self.app, "error_log", None)
                if log is not None:
                    log.note("remember the judge endpoint", problem, warning=True)
                self.app.notify(one_line(problem, 300), severity="warning", markup=False)
            self._start_judge(url, model)

        self.app.push_screen(
            ConfigFormScreen(
                "Run the LLM judge",
                evidence.judge_form_space(),
                last,
                initial_label="last run" if last else "default",
                intro=f"Scores the unlabelled traces of the current filter (up to "
                f"{judged.JUDGE_MAX:,}); {evidence.JUDGE_URL_ENV} and "
                f"{evidence.JUDGE_MODEL_ENV} skip this form.",
                submit="run the judge",
                done="run",
                # not the placeholders again: the form each takes
                hints={
                    "url": "http(s)://host:port/v1 (vLLM, Ollama, OpenAI…)",
                    "model": "the name the endpoint serves it under",
                },
                checks={"url": _judge_url_problem},
            ),  # fmt: skip
            done,
        )

    def _start_judge(self, url: str, model: str) -> None:
        self._judge_cancel = threading.Event()
        self._judge_line = f"judge {one_line(model, 30)}: starting…"
        self.refresh_bindings()
        self._show_judge_column()
        self._render_status()
        self._run_judge(url, model, self.filter, self._judge_cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.judge",
          description="run the judge")  # fmt: skip
    def _run_judge(self, url: str, model: str, flt: TraceFilter,
                   cancel: threading.Event) -> None:  # fmt: skip
        from jarvis_tui.evals.judge import judge_traces

        assert self.store is not None
        try:
            ids = judged.unlabelled_ids(self.store, flt)
            judge = evidence.make_judge(url, model)

            def progress(done: int, total: int, errors: int) -> None:
                self.post_message(self.JudgeProgress(done, total, errors))

            run = judge_traces(
                self.store, judge, trace_ids=ids, labelled=False, cancel=cancel,
                progress=progress,
            )  # fmt: skip
        except (ValueError, OSError, StoreError) as exc:
            log = getattr(self.app, "error_log", None)  # handled, but logged as README says
            if log is not None:
                log.record(f"run the judge {model} at {url}", exc)
            self.post_message(self.JudgeProgress(0, 0, 0, None, f"{model}: {exc}"))
            return
        run.model = model  # type: ignore[attr-defined]
        run.url = url  # type: ignore[attr-defined]
        self.post_message(self.JudgeProgress(run.scored + run.errors, run.total, run.errors, run))

    @on(JudgeProgress)
    def _judge_progress(self, msg: TracesPane.JudgeProgress) -> None:
        if msg.final is None and not msg.error:
            if self._judge_cancel is not None and not self._judge_cancel.is_set():
                missing = f" · {msg.errors:,} missing" if msg.errors else ""
                self._judge_line = f"judging {msg.done:,}/{msg.total:,}{missing} · x stops"
                self._render_status()
            return
        self._judge_cancel = None
        self.refresh_bindings()
        if msg.error:
            self._judge_line = ""
            self.app.notify(one_line(f"judge not run: {msg.error}", 300), severity="error",
                            timeout=8, markup=False)  # fmt: skip
            self._render_status()
            return
        run = msg.final
        model = one_line(getattr(run, "model", ""), 30)
        # Also in fewer words, for a narrow status line (the notice has it whole): the
        # counts stay whole at 120 columns, "stopped" and the scored count at 80.
        counts = f"{run.scored:,} scored" + (f", {run.errors:,} missing" if run.errors else "")
        before = f", {run.skipped:,} already scored" if run.skipped else ""
        short: tuple[str, ...] = ()
        stopped = getattr(run, "stopped", None)
        if stopped:  # the endpoint cannot be reached: "… stopped after 1 of 500"
            text = f"judge {model}: {stopped.removeprefix('judge: ')}"
            text += f" ({run.scored:,} scored before)" if run.scored else ""
        elif run.cancelled:  # x: the request in flight was abandoned, nothing "failed"
            done = f"{run.scored + run.errors:,}/{run.total:,}"
            text = (f"judge {model} stopped by you after {run.scored + run.errors:,} of "
                    f"{run.total:,}: {counts}")  # fmt: skip
            short = (f"judge {model} stopped by you at {done}: {counts}{before}",
                     f"judge {model} stopped at {done}: {counts}{before}",
                     f"judge {model} stopped at {done}: {counts}",  # the least news last
                     f"judge {model} stopped: {counts}",
                     f"judge {model} stopped: {run.scored:,} scored")  # fmt: skip
        elif run.errors and not run.scored and run.first_error:
            # nothing scored: what happened, not "0 scored, 2,000 missing"
            url = getattr(run, "url", "")
            text = f"judge {model} failed: {_judge_failure(run.first_error, url)}"
        else:
            text = f"judge {model}: {counts}"
            short = (f"judge {model}: {counts}",)  # whole counts: it has ended
        if run.skipped:
            text += before
        self._judge_line = text
        self._judge_short = {text: short} if short else {}
        if run.first_error and run.scored:
            text += f" · {run.first_error}"
        log = getattr(self.app, "error_log", None)
        if run.errors and run.first_error and log is not None:  # the endpoint's errors
            log.note(f"judge {model} at {getattr(run, 'url', '')}",
                     f"{run.errors:,} of {run.total:,} not scored: {run.first_error}",
                     warning=bool(run.scored))  # fmt: skip
        severity: SeverityLevel = ("error" if stopped else "information" if run.cancelled
                                   else "warning" if run.errors else "information")  # fmt: skip
        self.app.notify(one_line(text, 300), severity=severity, timeout=8, markup=False)
        self.reload(keep=self._current_id())
        current = self._current_id()
        if run.scored and current is not None:  # its judge line, in the side panel
            self._fetch_detail(current)

    def action_cancel_judge(self) -> None:
        if self._judge_cancel is None:
            self.app.notify("no judge is running", markup=False)
            return
        self._judge_cancel.set()
        self._judge_line = "stopping the judge…"
        self._render_status()

    def action_accept_judge(self) -> None:
        """Y: the judge's score of the selected trace becomes its human label."""
        from jarvis_tui.evals.judge import JUDGE_SOURCE

        trace_id = self._current_id()
        if trace_id is None:
            return
        score = (self.query_one(TraceTable).judge or {}).get(trace_id)
        if score is None:
            self.app.notify("no judge score for this trace: J runs the judge",
                            severity="warning", markup=False)  # fmt: skip
            return
        self._label(feedback=round(score, 4), source=JUDGE_SOURCE)

    def show_agreement(self) -> None:
        self._agreement()

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.agreement",
          description="judge agreement")  # fmt: skip
    def _agreement(self) -> None:
        from jarvis_tui.evals.judge import agreement

        assert self.store is not None
        if not judged.has_judge_scores(self.store):
            lines = ["no judge scores yet: J runs the judge over the unlabelled traces"]
        else:
            lines = agreement(self.store).lines()
        self.app.call_from_thread(self.app.push_screen, screens_evidence.AgreementScreen(lines))

    # ------------------------------------------------------------ copy, export

    def action_copy(self) -> None:
        """ctrl+y: copy the selected trace's id, query, result or JSON (OSC 52)."""
        trace_id = self._current_id()
        if trace_id is None or self.store is None:
            return

        def chosen(what: Optional[str]) -> None:
            if what:
                self._copy(trace_id, what)

        self.app.push_screen(screens_evidence.CopyScreen(trace_id), chosen)

    @work(thread=True, exit_on_error=False, group="traces.copy", description="copy a trace")
    def _copy(self, trace_id: str, what: str) -> None:
        assert self.store is not None
        trace = self.store.get(trace_id)
        if trace is None:
            self.app.call_from_thread(self.app.notify, "this trace no longer exists",
                                      severity="warning", markup=False)  # fmt: skip
            return
        self.app.call_from_thread(self._copied, trace_id, what, evidence.copy_text(trace, what))

    def _copied(self, trace_id: str, what: str, text: str) -> None:
        self.app.copy_to_clipboard(text)
        label = dict(screens_evidence.COPY_CHOICES)[what]
        self.app.notify(f"copied the {label} of {one_line(trace_id, 40)} ({len(text):,} chars)",
                        timeout=3, markup=False)  # fmt: skip

    def export_labels(self) -> None:
        """The palette's "traces: export labels…": a form, then a worker."""
        from jarvis_tui.ui.screens.export_form import ExportLabelsForm

        if self.store is None:
            return
        root = self.session.root

        def done(values: Optional[dict]) -> None:
            if values is None:
                return
            fmt = values["format"]
            path, problem, inside = evidence.export_target(root, str(values.get("path", "")),
                                                           folder=fmt == "hf")  # fmt: skip
            if path is None:
                self.app.notify(f"nothing exported: {one_line(problem or '', 200)}",
                                severity="error", markup=False)  # fmt: skip
                return
            with_judge = values["with judge"] == "yes"
            exists = path.exists()
            if inside and not exists:
                self._export(str(path), fmt, with_judge)
                return
            from jarvis_tui.ui.screens.confirm import ConfirmScreen

            # One rule with the Trials w export (W3 36: this one replaced a file silently):
            # a file that exists, or a path outside the workspace, is asked about first.
            where = "" if inside else ", outside the workspace"
            lead = f"This file exists{where}:" if exists else "The export is outside the workspace:"
            body = Text(f"{lead}\n\n  ")
            body.append(visible(str(path)), style="bold")
            act = "replaces it" if exists else "writes it there"
            body.append(f"\n\ny {act}; n or escape writes nothing.", style="dim")
            title = "Replace the existing file?" if exists else "Export outside the workspace?"

            def answer(yes: bool | None) -> None:
                if yes:
                    self._export(str(path), fmt, with_judge)
                else:
                    self.app.notify("nothing exported", markup=False)

            self.app.push_screen(ConfirmScreen(title, body), answer)

        self.app.push_screen(
            ExportLabelsForm(  # the path follows the format; a refused one is said beside it
                evidence.export_space(),
                root,
                intro="Every labelled trace with its query, result, score, outcome, note and "
                "label history (hf: the SFT pairs as a datasets folder).",
                initial_label="default",
                submit="export",
                done="exported",
            ),  # fmt: skip
            done,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="traces.export",
          description="export labels")  # fmt: skip
    def _export(self, path: str, fmt: str, with_judge: bool) -> None:
        from jarvis_tui.learning.export_labels import export_labels

        assert self.store is not None
        try:
            n = export_labels(self.store, path, fmt=fmt, with_judge=with_judge,
                              workspace=self.session.root)  # fmt: skip
        except (ValueError, OSError) as exc:
            # the app's one error path: one line, the traceback in the log
            self.app.call_from_thread(self.report_failure, f"export labels to {path}", exc,
                                      f"export failed: {exc}")  # fmt: skip
            return
        what = "SFT pairs" if fmt == "hf" else "labelled traces"
        self.app.call_from_thread(self.app.notify, one_line(f"exported {n:,} {what} to {path}", 300),
                                  timeout=5, markup=False)  # fmt: skip

    # ------------------------------------------------------------ palette

    # The palette's entries (PALETTE) that take an argument the keys give
    # (score(0.3), outcome('success'), the sort column) are methods of their own.

    def action_mark_success(self) -> None:
        self.action_outcome("success")

    def action_mark_failure(self) -> None:
        self.action_outcome("failure")

    def action_unlabelled_only(self) -> None:
        self._set_select("f-labelled", "unlabelled")

    def action_clear_filters(self) -> None:
        self._clear_filters()

    def _sort_by(self, key: str) -> None:
        self.sort = key
        self.descending = key in ("time", "score", "latency", "tokens")
        self.reload(keep=self._current_id())

    def _set_select(self, picker_id: str, value: str) -> None:
        bar = self.query_one(FilterBar)
        bar.set_value(picker_id, value)
        if not bar.built:  # a built picker says Changed, which applies it
            self._apply_filters()

    def _clear_filters(self) -> None:
        self.query_one(FilterBar).clear()
        self.query_one("#search", Input).value = ""
        self._apply_filters()


def _palette_score(tenths: int) -> Callable[[TracesPane], None]:
    def score(self: TracesPane) -> None:
        self.action_score(tenths / 10)

    score.__doc__ = f"Palette: score {tenths / 10:.1f}."
    return score


def _palette_sort(key: str) -> Callable[[TracesPane], None]:
    def sort(self: TracesPane) -> None:
        self._sort_by(key)

    sort.__doc__ = f"Palette: sort by {key}."
    return sort


for _d in SCORE_STEPS:
    setattr(TracesPane, f"action_score_{_d}", _palette_score(_d))
for _key in SORT_EXPR:
    setattr(TracesPane, f"action_sort_by_{_key}", _palette_sort(_key))
