"""The Traces pane's modal screens: the note editor and the full view of one trace.

Both show trace content as literal text (never markup). The full view labels through
the pane that opened it (:class:`TraceLabeller`), so a label there goes through the
pane's one ordered writer like a label typed in the table.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional, Protocol

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.widgets import Button, Static

from jarvis_tui.core.types import Trace
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.scrolling import KeyScroll
from jarvis_tui.ui.text import one_line, visible
from jarvis_tui.ui.widgets.focus import focus_now

if TYPE_CHECKING:  # imported where a note is edited: TextArea is not needed to start
    from textual.widgets import TextArea


def fold_lines(text: str, width: int, console: Optional[Console] = None) -> list[str]:
    """*text* as lines of at most *width* cells: each line broken at its last space that
    fits, a word longer than the line (a base64 blob) folded, tabs expanded.

    ASCII lines (nearly all of a trace) are broken with ``str.rfind``, so megabytes
    fold in a few tens of milliseconds; a line with wide or combining characters goes
    through Rich's wrap (cell-aware, ``overflow="fold"``)."""
    width = max(width, 8)
    lines = text.expandtabs(8).split("\n")
    ascii_only = text.isascii()
    if ascii_only and max(map(len, lines)) <= width:
        return lines  # nothing to fold (most traces): no loop in Python
    out: list[str] = []
    for line in lines:
        if len(line) <= width and (ascii_only or line.isascii() or cell_len(line) <= width):
            out.append(line)
        elif not (ascii_only or line.isascii()):
            for part in Text(line).wrap(console or Console(), width, overflow="fold"):
                out.append(part.plain.rstrip(" "))
        else:
            start, end = 0, len(line)
            while end - start > width:
                cut = line.rfind(" ", start + 1, start + width + 1)
                if cut <= start:  # one word wider than the line: fold it
                    out.append(line[start : start + width])
                    start += width
                else:
                    out.append(line[start:cut])
                    start = cut + 1
            out.append(line[start:])
    return out


class FoldedText(KeyScroll, ScrollView, can_focus=True):
    """A read-only text of any size, folded to the view's width (no horizontal
    scrolling). Only the lines on screen are drawn (Textual's Line API, as its ``Log``
    and toolong do), so a 5 MB trace opens without a pause; a resize folds it again.
    The mouse selects text to copy, as in a ``Log``."""

    BINDINGS = [
        Binding("j", "scroll_down", "", show=False, id="text.down"),
        Binding("k", "scroll_up", "", show=False, id="text.up"),
        Binding("g", "scroll_home", "", show=False, id="text.top"),
        Binding("G", "scroll_end", "", show=False, id="text.bottom"),
        Binding("space", "page_down", "", show=False, id="text.page"),
    ]

    DEFAULT_CSS = """
    FoldedText {
        background: $surface;
        color: $text;
        overflow-x: hidden;
        overflow-y: auto;
        padding: 0 1;
    }
    """

    def __init__(self, text: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._text = text
        self._lines: list[str] = []
        self._folded_at = 0
        self._strips: LRUCache[int, Strip] = LRUCache(1024)

    @property
    def text(self) -> str:
        """The whole text shown (before folding)."""
        return self._text

    @property
    def lines(self) -> list[str]:
        """The text as folded to the view's width (what the lines on screen show)."""
        return self._lines

    @property
    def allow_select(self) -> bool:
        return True

    def _fold(self) -> None:
        # The scrollbar's room is kept whether or not it shows, so folding never
        # changes whether it is needed (no fold-resize loop).
        width = self.size.width - self.styles.scrollbar_size_vertical
        if width <= 0 or width == self._folded_at:
            return
        top = self.scroll_y / max(len(self._lines), 1)
        self._folded_at = width
        self._lines = fold_lines(self._text, width, self.app.console)
        self._strips.clear()
        self.virtual_size = Size(width, len(self._lines))
        self.scroll_to(y=round(top * len(self._lines)), animate=False)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._fold()

    def get_selection(self, selection: Selection) -> Optional[tuple[str, str]]:
        return selection.extract("\n".join(self._lines)), "\n"

    def selection_updated(self, selection: Optional[Selection]) -> None:
        self._strips.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            line = Text(self._lines[index], no_wrap=True)
            line.stylize(style)  # a span: render() does not apply a Text's base style
            selection = self.text_selection
            span = selection.get_span(index) if selection is not None else None
            if span is not None:
                start, end = span
                sel_style = self.screen.get_component_rich_style("screen--selection")
                line.stylize(sel_style, start, len(line) if end == -1 else end)
            strip = Strip(line.render(self.app.console), cell_len(line.plain))
            self._strips[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)


class TraceLabeller(Protocol):
    """What the full view asks of the pane that opened it (``TracesPane``)."""

    def label_trace(self, trace_id: str, **fields: Any) -> None: ...

    def action_undo(self) -> None: ...

    def edit_note(self, trace_id: str, current: str, trace: Optional[Trace]) -> None: ...


def score_style(fb: float) -> str:
    """Green from 0.7, yellow from 0.4, else red (the table's score colours)."""
    return "green" if fb >= 0.7 else "yellow" if fb >= 0.4 else "red"


def compact_json(value: Any, limit: int = 400) -> str:
    """*value* as one line of JSON, cut with "…" at *limit* characters (``WHOLE``: not
    cut)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return text if limit == WHOLE or len(text) <= limit else text[: limit - 1] + "…"


WHOLE = 0
"""``compact_json``'s limit for the full view: the whole value."""


def json_field(value: Any, limit: int = 400) -> tuple[str, str]:
    """A step's input or output, or the metadata, as (what it is, its text): a value
    the store could not read as JSON (``{"_invalid_json": raw}``, its wrapper) is
    ``(" (not JSON)", raw)``, the raw text as written, never the wrapper; any other
    is ``("", compact_json(value, limit))``."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("_invalid_json"), str):
        raw: str = value["_invalid_json"]
        cut = limit != WHOLE and len(raw) > limit
        return " (not JSON)", raw[: limit - 1] + "…" if cut else raw
    return "", compact_json(value, limit)


HISTORY_LINES = 4
"""Lines the full view's label box has for the history (its max-height is 9: score,
the judge's score when there is one, note, the history heading, four lines and the
border)."""


def history_value(value: Any, limit: int = 40) -> str:
    """One old or new value of a label change as a person reads it: ``(none)`` for no
    value, a score with two decimals, text on one line (a newline as ⏎), never a repr."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    text = one_line(str(value), limit)
    return text if text.strip() else "(empty)"


def history_entry(ev: Any, limit: int = 40) -> str:
    """``field: old → new (source)`` of one label change, as text (see
    :func:`history_value`)."""
    source = f" ({one_line(ev.source, 20)})" if ev.source else ""
    field = "score" if ev.field == "feedback" else one_line(str(ev.field), 20)  # as shown
    return (
        f"{field}: {history_value(ev.old_value, limit)} → "
        f"{history_value(ev.new_value, limit)}{source}"
    )


JudgeVerdict = tuple[str, float, str]
"""The newest judge score of a trace: (judge model, score, reason)."""


def judge_line(verdict: JudgeVerdict, limit: int = 300) -> Text:
    """``judge <model>: 0.80 — <reason>``: the judge's score of a trace, as literal text
    (the model and the reason are the endpoint's words: never markup)."""
    model, score, reason = verdict
    out = Text()
    out.append("judge", style="bold")
    out.append(f" {one_line(model, 40)}: ")
    out.append(f"{score:.2f}", style=score_style(score))
    if reason.strip():
        out.append(f" — {one_line(reason, limit)}")
    return out


def label_summary(
    feedback: Optional[float],
    outcome: Optional[str],
    note: Optional[str],
    history: list[Any],
    width: int = 0,
    judge: Optional[JudgeVerdict] = None,
) -> Text:
    """Score, outcome, the judge's score (when it scored the trace), note and label
    history of one trace, as literal text.

    The history lists the newest change first, in at most ``HISTORY_LINES`` lines; when
    there are more, the last line says how many older ones are left out and where they
    all are. With *width* (the box's cells), the judge, the note and each entry take
    one line, cut with "…", so the box never wraps the newest change out of view (the
    judge's whole reason is in the text below)."""
    out = Text()
    out.append("score ", style="bold")
    if feedback is None:
        out.append("–", style="dim")
    else:
        out.append(f"{feedback:.2f}", style=score_style(feedback))
    out.append("   ")
    out.append("outcome", style="bold")
    out.append(" ")
    if outcome in ("success", "failure"):
        out.append(outcome, style="bold green" if outcome == "success" else "bold red")
    else:
        out.append(visible(outcome) if outcome else "–", style="" if outcome else "dim")

    def fit(line: Text) -> Text:
        if width > 0:
            line.truncate(width, overflow="ellipsis")
        return line

    if judge is not None:
        out.append("\n")
        out.append_text(fit(judge_line(judge)))
    note_line = Text()
    note_line.append("note", style="bold")
    note_line.append(" ")
    if note:
        note_line.append(one_line(note, 300))
    else:
        note_line.append("– (e adds one)", style="dim")
    out.append("\n")
    out.append_text(fit(note_line))
    if history:
        out.append(f"\nlabel history ({len(history)}, newest first)", style="bold")
        newest = list(reversed(history))
        shown = newest if len(newest) <= HISTORY_LINES else newest[: HISTORY_LINES - 1]
        for ev in shown:
            when = datetime.fromtimestamp(ev.at).strftime("%m-%d %H:%M:%S")
            entry = Text(f"  {when} {history_entry(ev)}", style="dim")
            out.append("\n")
            out.append_text(fit(entry))
        older = len(newest) - len(shown)
        if older:
            more = Text(
                f"  … {older} older not shown: esc, then the side panel (d) lists them; "
                "traces: export labels writes them all",
                style="italic",
            )
            out.append("\n")
            out.append_text(fit(more))
    else:
        out.append("\nlabel history –", style="dim")
    return out


def typed_note(trace_id: str, typed: str) -> Text:
    """What was typed in a note and not saved, for the question before it is lost."""
    body = Text("You typed, not saved:\n", style="bold")
    lines = typed.strip().splitlines() or [""]
    for line in lines[:6]:
        body.append("  ")
        body.append(one_line(line, 200))
        body.append("\n")
    if len(lines) > 6:
        body.append(f"  … {len(lines) - 6} more lines\n", style="dim")
    body.append("on trace ", style="dim")
    body.append(one_line(trace_id, 60), style="dim")
    return body


class DiscardNoteScreen(ConfirmScreen):
    """Escape on a note with unsaved changes asks before they are lost: y discards
    them, n or escape goes back to the editor (where ctrl+s saves)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Discard", id="note.discard"),
        Binding("n,escape", "answer(False)", "Keep editing", id="note.keep"),
    ]

    def __init__(self, trace_id: str, typed: str) -> None:
        super().__init__(
            "Discard the changes to this note?",
            typed_note(trace_id, typed),
            hint="y: discard them   n / escape: keep editing (ctrl+s there saves)",
        )


class NoteScreen(ModalScreen[Optional[str]]):
    """Write a note on a trace (several lines), with the trace it annotates in view.
    Escape on a changed note asks before the typed text is lost (``DiscardNoteScreen``);
    on an unchanged one it closes."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="note.cancel"),
        Binding("ctrl+s", "save", "Save", priority=True, id="note.save"),
    ]

    def __init__(self, trace_id: str, current: str = "", trace: Optional[Trace] = None) -> None:
        super().__init__()
        self._trace_id = trace_id
        self._current = current
        self._trace = trace

    def compose(self) -> ComposeResult:
        with Vertical(id="note-box"):
            title = Text("Note on trace ", style="bold")
            title.append(one_line(self._trace_id, 60))
            yield Static(title, id="note-title")
            about = Text()
            if self._trace is not None:
                about.append("Query  ", style="bold")
                about.append(one_line(self._trace.query, 240))
                about.append("\nResult ", style="bold")
                about.append(one_line(self._trace.result, 240))
            else:
                about.append("(the trace is still loading)", style="dim")
            yield Static(about, id="note-trace")
            from textual.widgets import TextArea  # here: not before the first paint (issue 15)

            yield TextArea(self._current, id="note-input", soft_wrap=True, show_line_numbers=False)
            with Horizontal(id="note-buttons"):
                yield Button("Save", id="note-save", variant="primary")
                yield Button("Cancel", id="note-cancel")
                yield Static(
                    Text("ctrl+s saves · enter: new line · escape closes", style="dim"),
                    id="note-hint",
                )

    def _area(self) -> TextArea:
        from textual.widgets import TextArea

        return self.query_one("#note-input", TextArea)

    def on_mount(self) -> None:
        area = self._area()
        focus_now(area)
        area.move_cursor(area.document.end)

    @on(Button.Pressed, "#note-save")
    def action_save(self) -> None:
        self.dismiss(self._area().text.strip())

    def unsaved_input(self) -> Optional[tuple[str, Text]]:
        """ctrl+q's question (screens.quit_unsaved) while the note differs from what it
        opened with, else None."""
        text = str(getattr(self.query_one("#note-input"), "text", ""))
        if text.strip() == self._current.strip():
            return None
        return "Discard the changes to this note?", typed_note(self._trace_id, text)

    @on(Button.Pressed, "#note-cancel")
    def action_cancel(self) -> None:
        area = self._area()
        if area.text.strip() == self._current.strip():
            self.dismiss(None)
            return

        def answered(discard: Optional[bool]) -> None:
            if discard:
                self.dismiss(None)
            else:
                focus_now(area)

        self.app.push_screen(DiscardNoteScreen(self._trace_id, area.text), answered)


class TraceScreen(ModalScreen[None]):
    """Everything of one trace, scrollable, with its labels; it can be labelled here."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="trace.close"),
        Binding("5", "score(0.5)", "Score (0–9, =)", key_display="0-9", id="trace.score"),
        *(
            Binding(str(d), f"score({d / 10})", "", show=False, id=f"trace.score{d}")
            for d in (0, 1, 2, 3, 4, 6, 7, 8, 9)
        ),  # fmt: skip
        Binding("equals_sign", "score(1.0)", "", show=False, id="trace.score10"),
        Binding("y", "outcome('success')", "Success", id="trace.success"),
        Binding("n", "outcome('failure')", "Failure", id="trace.failure"),
        # priority: the read-only text view would take backspace for itself
        Binding("backspace,delete", "clear_label", "Clear label", priority=True, id="trace.clear"),
        Binding("e", "note", "Note", id="trace.note"),
        Binding("u", "undo", "Undo", id="trace.undo"),
        Binding("Y", "accept_judge", "Accept judge score", id="trace.accept_judge"),
    ]

    def __init__(
        self,
        pane: TraceLabeller,
        trace: Trace,
        note: Optional[str],
        history: list[Any],
        judge: Optional[JudgeVerdict] = None,
    ) -> None:
        super().__init__()
        self._pane = pane
        self.trace = trace
        """The trace shown (its label fields follow what is saved)."""
        self._note = note
        self._history = history
        self._judge = judge

    def compose(self) -> ComposeResult:
        t = self.trace

        def field(name: str, value: Any) -> str:
            what, text = json_field(value, WHOLE)
            label = f"{name}{what}:"
            return f"      {label:<7} {text}"  # "input:  " lines up with "output: "

        steps = "\n".join(
            f"  [{i}] {getattr(s.step_type, 'value', s.step_type)} {s.duration_seconds:.3f}s\n"
            f"{field('input', s.input)}\n{field('output', s.output)}"
            for i, s in enumerate(t.steps)
        )
        meta_what, meta = json_field(t.metadata, WHOLE)
        body = (
            f"trace {t.trace_id}\nagent {t.agent}  model {t.model}  engine {t.engine}\n"
            f"\n== QUERY ({len(t.query):,} chars)\n{t.query}\n"
            f"\n== RESULT ({len(t.result):,} chars)\n{t.result}\n"
            f"\n== STEPS\n{steps}\n\n== METADATA{meta_what.upper()}\n{meta}\n"
        )
        if self._judge is not None:  # the whole reason (the box above cuts it to a line)
            body += f"\n== JUDGE\n{judge_line(self._judge).plain}\n"
        # Whole, however large (the README's promise): only the lines on screen are
        # drawn. (A soft-wrapped TextArea measured 5 s to open on 3 MB of prose and
        # 47 s on a 3 MB base64 line; it was cut at 1,000,000 characters for that.)
        with Vertical(id="trace-view"):
            yield Static(self._summary(), id="trace-labels")
            yield FoldedText(visible(body), id="trace-full")
            judge_key = " · Y judge's score" if self._judge is not None else ""
            yield Static(
                Text(
                    f"0–9 = score · y/n outcome{judge_key} · ⌫ clear · e note · u undo · esc close",
                    style="dim",
                ),
                id="trace-hint",
            )

    def on_mount(self) -> None:
        focus_now(self.query_one("#trace-full", FoldedText))

    def _summary(self) -> Text:
        # The box's text width (it may not be laid out yet): #trace-view is 95% of
        # the screen, less its border and the box's padding.
        width = int(self.app.size.width * 0.95) - 4
        return label_summary(
            self.trace.feedback, self.trace.outcome, self._note, self._history, width,
            self._judge,
        )  # fmt: skip

    def show_labels(
        self,
        feedback: Optional[float],
        outcome: Optional[str],
        note: Optional[str] = None,
        history: Optional[list[Any]] = None,
        judge: Optional[JudgeVerdict] = None,
    ) -> None:
        """Show the trace's labels as they are now (history/note/judge: None keeps the
        last)."""
        self.trace = replace(self.trace, feedback=feedback, outcome=outcome)
        if note is not None:
            self._note = note
        if history is not None:
            self._history = history
        if judge is not None:
            self._judge = judge
        # A detail load can finish between the push and the compose: the box is built
        # from the state just stored, so there is nothing to update yet.
        for labels in self.query("#trace-labels").results(Static):
            labels.update(self._summary())

    def action_score(self, value: float) -> None:
        self._pane.label_trace(self.trace.trace_id, feedback=round(float(value), 2))

    def action_outcome(self, outcome: str) -> None:
        self._pane.label_trace(self.trace.trace_id, outcome=outcome)

    def action_clear_label(self) -> None:
        self._pane.label_trace(self.trace.trace_id, feedback=None, outcome=None)

    def action_undo(self) -> None:
        self._pane.action_undo()

    def action_accept_judge(self) -> None:
        """Y: the judge's score becomes this trace's label, as Y does in the list (W3 28:
        it did nothing here, though the view shows the judge's line)."""
        from jarvis_tui.evals.judge import JUDGE_SOURCE

        if self._judge is None:
            self.app.notify("no judge score for this trace: J in the list runs the judge",
                            severity="warning", markup=False)  # fmt: skip
            return
        self._pane.label_trace(self.trace.trace_id, feedback=round(float(self._judge[1]), 4),
                               source=JUDGE_SOURCE)  # fmt: skip

    def action_note(self) -> None:
        self._pane.edit_note(self.trace.trace_id, self._note or "", self.trace)

    def action_close(self) -> None:
        self.dismiss(None)
