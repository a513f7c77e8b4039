"""Small modal forms: one line of text, and a form built from a SearchSpace.

Every field shows its name, its value (prefilled with the current or default
one), what it accepts (the options, the range, the kind of value) and, beside
it, why a value is refused. Both forms validate before they close: a value the
engine would refuse is refused here, the reason is shown next to the field, and
the form stays open with what was typed. Inputs are compact (one line each) and
the fields scroll inside the modal, so a form fits an 80×24 terminal.

Class names are prefixed ``cf-``: the app's stylesheets style plain ``.form-row``
and ``.form-label`` for the Training pane's own form, and app CSS wins over
``DEFAULT_CSS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from jarvis_tui.learning.optimize.search_space import validate_config
from jarvis_tui.learning.optimize.types import SearchDimension, SearchSpace
from jarvis_tui.ui.text import one_line

NAME_WIDTH = 24
"""Cells for a field's name; longer names end in ``…`` (the help line repeats them whole)."""

_BOX_CSS = """
    align: center middle;
    #cf-box {
        width: 92;
        max-width: 96%;
        height: auto;
        max-height: 96%;
        border: round $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    #cf-title { text-style: bold; width: 1fr; }
    #cf-intro { color: $text-muted; height: auto; }
    #cf-scroll { height: auto; max-height: 60vh; }
    .cf-field { height: auto; margin-top: 1; }
    .cf-line { height: 1; }
    .cf-name { width: 24; color: $text; text-style: bold; }
    .cf-input { width: 1fr; }
    Input.cf-input { background: $boost; padding: 0 1; }
    Input.cf-input:focus { background: $primary 25%; }
    .cf-help { color: $text-muted; height: auto; padding-left: 24; }
    .cf-error { color: $error; height: auto; padding-left: 24; display: none; }
    .cf-error.-shown { display: block; }
    .cf-field.-invalid .cf-name { color: $error; }
    #cf-summary { color: $error; height: auto; }
    #cf-hint { color: $text-muted; margin-top: 1; }
"""


def _options_text(values: list[Any], limit: int = 160) -> str:
    return one_line(", ".join(str(v) for v in values), limit)


def describe(dim: SearchDimension) -> str:
    """What a field of *dim* accepts, in words."""
    t = dim.dim_type
    about = f" — {one_line(dim.description, 120)}" if dim.description else ""
    if t == "categorical":
        return f"one of {len(dim.values)}: {_options_text(dim.values)}{about}"
    if t == "integer":
        return f"whole number, {dim.low:g} … {dim.high:g}{about}"
    if t == "continuous":
        return f"number, {dim.low:g} … {dim.high:g}{about}"
    if t == "subset":
        return f"comma list (empty for none) from: {_options_text(dim.values)}{about}"
    return f"text{about}"


def show_value(value: Any) -> str:
    """A value as a form field shows it."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def check_field(dim: SearchDimension, raw: Any) -> tuple[Any, str | None]:
    """The value of one field for *dim*, or why it is refused (without the field's name)."""
    if dim.dim_type == "categorical":
        if raw is Select.NULL or raw is None:
            return None, f"required: pick one of the {len(dim.values)} options"
        if raw not in dim.values:
            return None, f"{one_line(str(raw), 40)!r} is not one of the options"
        return raw, None
    text = str(raw).strip()
    # A numeric dimension without a bound is open on that side.
    low = dim.low if dim.low is not None else -math.inf
    high = dim.high if dim.high is not None else math.inf
    if dim.dim_type == "integer":
        if not text:
            return None, f"required: a whole number in [{low:g}, {high:g}]"
        try:
            whole = int(text.replace("_", ""))
        except ValueError:
            return None, f"{one_line(text, 40)!r} is not a whole number"
        if not low <= whole <= high:
            return None, f"{whole} is outside [{low:g}, {high:g}]"
        return whole, None
    if dim.dim_type == "continuous":
        if not text:
            return None, f"required: a number in [{low:g}, {high:g}]"
        try:
            number = float(text)
        except ValueError:
            return None, f"{one_line(text, 40)!r} is not a number"
        if not math.isfinite(number) or not low <= number <= high:
            return None, f"{one_line(text, 40)} is outside [{low:g}, {high:g}]"
        return number, None
    if dim.dim_type == "subset":
        items = [p.strip() for p in text.split(",") if p.strip()]
        by_text = {str(v): v for v in dim.values}
        unknown = [i for i in items if i not in by_text]
        if unknown:
            return None, (f"{one_line(', '.join(unknown), 60)} not among "
                          f"{_options_text(list(by_text), 80)}")  # fmt: skip
        return [by_text[i] for i in items], None
    return text, None


def parse_field(dim: SearchDimension, raw: Any) -> tuple[Any, str | None]:
    """The value of one form field for *dim*, or an error message naming the field."""
    value, problem = check_field(dim, raw)
    return value, (f"{dim.name}: {problem}" if problem else None)


class PromptScreen(ModalScreen[Optional[str]]):
    """Ask for one line of text; *check* returns an error message or None.

    *label* names the field, *help* says what it accepts; the refusal is shown
    under the field and the prompt stays open.
    """

    DEFAULT_CSS = "PromptScreen {" + _BOX_CSS + "}"
    AUTO_FOCUS = "#prompt-input"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(
        self,
        title: str,
        *,
        label: str = "value",
        value: str = "",
        placeholder: str = "",
        help: str = "",
        hint: str = "enter: OK · escape: cancel",
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._label = label
        self._value = value
        self._placeholder = placeholder
        self._help = help
        self._hint = hint
        self._check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="cf-box"):
            yield Label(Text(self._title), id="cf-title")
            with Vertical(classes="cf-field", id="prompt-field"):
                with Horizontal(classes="cf-line"):
                    yield Label(Text(one_line(self._label, NAME_WIDTH - 2)), classes="cf-name")
                    yield Input(value=self._value, placeholder=self._placeholder,
                                id="prompt-input", classes="cf-input", compact=True)  # fmt: skip
                if self._help:
                    yield Static(Text(self._help), classes="cf-help")
                yield Static("", id="prompt-error", classes="cf-error")
            yield Label(Text(self._hint), id="cf-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).focus()

    def _show_problem(self, problem: str | None) -> None:
        error = self.query_one("#prompt-error", Static)
        error.update(Text("✗ " + one_line(problem, 300)) if problem else "")
        error.set_class(bool(problem), "-shown")
        self.query_one("#prompt-field").set_class(bool(problem), "-invalid")

    @on(Input.Submitted, "#prompt-input")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value
        problem = self._check(value) if self._check else None
        self._show_problem(problem)
        if not problem:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfigFormScreen(ModalScreen[Optional[dict]]):
    """A config of *space*: one field per dimension, validated against the space.

    Dismisses with the params (dotted keys → values), or None when cancelled.
    *initial* prefills the fields; *initial_label* says where those values come
    from ("default", "proposed", "from t-…"), shown beside each field.
    """

    DEFAULT_CSS = "ConfigFormScreen {" + _BOX_CSS + "}"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
    ]

    def __init__(
        self,
        title: str,
        space: SearchSpace,
        initial: dict[str, Any],
        *,
        intro: str = "",
        initial_label: str = "default",
        submit: str = "submit",
        done: str = "submitted",
    ) -> None:
        super().__init__()
        self._title = title
        self._space = space
        self._initial = dict(initial)
        self._intro = intro
        self._initial_label = initial_label
        self._submit_word = submit
        self._done = done

    def compose(self) -> ComposeResult:
        with Vertical(id="cf-box"):
            yield Label(Text(self._title), id="cf-title")
            if self._intro:
                yield Static(Text(self._intro), id="cf-intro")
            with VerticalScroll(id="cf-scroll"):
                for i, dim in enumerate(self._space.dimensions):
                    with Vertical(classes="cf-field", id=f"row-{i}"):
                        with Horizontal(classes="cf-line"):
                            yield Label(Text(one_line(dim.name, NAME_WIDTH - 2)),
                                        classes="cf-name")  # fmt: skip
                            yield self._field(i, dim)
                        yield Static(self._help(dim), classes="cf-help")
                        yield Static("", id=f"error-{i}", classes="cf-error")
            yield Static("", id="cf-summary")
            yield Label(
                Text(f"enter / ctrl+s: {self._submit_word} · tab: next field · escape: cancel"),
                id="cf-hint",
            )

    def _help(self, dim: SearchDimension) -> Text:
        out = Text(describe(dim))
        if dim.name in self._initial:
            shown = show_value(self._initial[dim.name]) or "(none)"
            out.append(f" · {self._initial_label}: {one_line(shown, 60)}", style="italic")
        if len(dim.name) > NAME_WIDTH - 2:
            out.append(f" · {one_line(dim.name, 80)}", style="dim")
        return out

    def _field(self, i: int, dim: SearchDimension) -> Any:
        value = self._initial.get(dim.name)
        fid = f"field-{i}"
        if dim.dim_type == "categorical":
            options = [(one_line(str(v), 60), v) for v in dim.values]
            start = value if value in dim.values else Select.NULL
            return Select(options, value=start, id=fid, classes="cf-input", allow_blank=True,
                          prompt="(pick one)", compact=True)  # fmt: skip
        if dim.dim_type == "subset":
            placeholder = ", ".join(str(v) for v in dim.values)
        elif dim.dim_type == "text":
            placeholder = dim.description or "text"
        else:
            placeholder = f"{dim.low:g} … {dim.high:g}"
        return Input(value=show_value(value), placeholder=one_line(placeholder, 60), id=fid,
                     classes="cf-input", compact=True)  # fmt: skip

    def on_mount(self) -> None:
        fields = self.query(".cf-input")
        if fields:
            fields.first().focus()

    def _show_problem(self, i: int, problem: str | None) -> None:
        error = self.query_one(f"#error-{i}", Static)
        error.update(Text("✗ " + one_line(problem, 300)) if problem else "")
        error.set_class(bool(problem), "-shown")
        self.query_one(f"#row-{i}").set_class(bool(problem), "-invalid")

    def _index_of(self, widget: Any) -> int | None:
        wid = getattr(widget, "id", None) or ""
        return int(wid[6:]) if wid.startswith("field-") else None

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Select.Changed) -> None:
        """Re-check a field as it is edited, so a fixed value clears its message."""
        i = self._index_of(event.control)
        if i is None or i >= len(self._space.dimensions):
            return
        if self.query_one(f"#error-{i}").has_class("-shown"):
            _, problem = check_field(self._space.dimensions[i], event.value)
            self._show_problem(i, problem)

    def values(self) -> tuple[dict[str, Any], list[str]]:
        """The params typed, and every problem (each field's also shown beside it)."""
        params: dict[str, Any] = {}
        problems: list[str] = []
        for i, dim in enumerate(self._space.dimensions):
            widget = self.query_one(f"#field-{i}")
            value, problem = check_field(dim, widget.value)  # type: ignore[attr-defined]
            self._show_problem(i, problem)
            if problem:
                problems.append(f"{dim.name}: {problem}")
            else:
                params[dim.name] = value
        if not problems:
            problems = validate_config(self._space, params)
        return params, problems

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        params, problems = self.values()
        summary = self.query_one("#cf-summary", Static)
        if problems:
            beside = sum(1 for i in range(len(self._space.dimensions))
                         if self.query_one(f"#error-{i}").has_class("-shown"))  # fmt: skip
            out = Text(f"nothing {self._done}: ")
            if beside:
                out.append(f"{beside} field(s) marked ✗ need fixing")
            else:  # the space's own checks (several fields together)
                out.append("; ".join(one_line(p, 200) for p in problems))
            summary.update(out)
            return
        summary.update("")
        self.dismiss(params)

    def action_cancel(self) -> None:
        self.dismiss(None)
