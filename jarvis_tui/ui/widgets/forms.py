"""Small modal forms: one line of text, and a config form built from a SearchSpace.

Both validate before they close: a value the engine would refuse is refused here,
with the reason under the field, and the form stays open with what was typed.
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

FORM_CSS = """
PromptScreen, ConfigFormScreen {
    align: center middle;
}
#prompt-box, #form-box {
    width: 84;
    max-width: 95%;
    height: auto;
    max-height: 90%;
    border: round $primary;
    background: $surface;
    padding: 0 1;
}
#prompt-title, #form-title {
    text-style: bold;
    width: 1fr;
}
#prompt-error, #form-errors {
    color: $error;
    height: auto;
}
#form-scroll {
    height: auto;
    max-height: 28;
}
ConfigFormScreen .form-row {
    height: auto;
    margin-bottom: 0;
}
ConfigFormScreen .form-label {
    width: 30;
    padding-top: 1;
    color: $text-muted;
}
ConfigFormScreen .form-field {
    width: 1fr;
}
#prompt-hint, #form-hint {
    color: $text-muted;
}
"""


class PromptScreen(ModalScreen[Optional[str]]):
    """Ask for one line of text; *check* returns an error message or None."""

    DEFAULT_CSS = FORM_CSS
    AUTO_FOCUS = "#prompt-input"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        placeholder: str = "",
        hint: str = "enter: OK · escape: cancel",
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._value = value
        self._placeholder = placeholder
        self._hint = hint
        self._check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(Text(self._title), id="prompt-title")
            yield Input(value=self._value, placeholder=self._placeholder, id="prompt-input")
            yield Static("", id="prompt-error")
            yield Label(self._hint, id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).focus()

    @on(Input.Submitted, "#prompt-input")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value
        problem = self._check(value) if self._check else None
        if problem:
            self.query_one("#prompt-error", Static).update(Text(problem))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _describe(dim: SearchDimension) -> str:
    if dim.dim_type in ("continuous", "integer"):
        return f"{dim.name}  [{dim.low:g}, {dim.high:g}]"
    if dim.dim_type == "subset":
        return f"{dim.name}  (comma list)"
    return dim.name


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def parse_field(dim: SearchDimension, raw: Any) -> tuple[Any, str | None]:
    """The value of one form field for *dim*, or an error message."""
    if dim.dim_type == "categorical":
        if raw is Select.NULL or raw is None:
            return None, f"{dim.name}: pick one of {len(dim.values)} options"
        return raw, None
    text = str(raw).strip()
    if dim.dim_type == "integer":
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            return None, f"{dim.name}: {text!r} is not a whole number"
        if not dim.low <= value <= dim.high:
            return None, f"{dim.name}: {value} is outside [{dim.low:g}, {dim.high:g}]"
        return value, None
    if dim.dim_type == "continuous":
        try:
            value = float(text)
        except ValueError:
            return None, f"{dim.name}: {text!r} is not a number"
        if not math.isfinite(value) or not dim.low <= value <= dim.high:
            return None, f"{dim.name}: {text} is outside [{dim.low:g}, {dim.high:g}]"
        return value, None
    if dim.dim_type == "subset":
        items = [p.strip() for p in text.split(",") if p.strip()]
        by_text = {str(v): v for v in dim.values}
        unknown = [i for i in items if i not in by_text]
        if unknown:
            return None, f"{dim.name}: {', '.join(unknown)} not among {', '.join(by_text)}"
        return [by_text[i] for i in items], None
    return text, None


class ConfigFormScreen(ModalScreen[Optional[dict]]):
    """A config of *space*: one field per dimension, validated against the space.

    Dismisses with the params (dotted keys → values), or None when cancelled.
    """

    DEFAULT_CSS = FORM_CSS
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
    ]

    def __init__(self, title: str, space: SearchSpace, initial: dict[str, Any]) -> None:
        super().__init__()
        self._title = title
        self._space = space
        self._initial = dict(initial)

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Label(Text(self._title), id="form-title")
            with VerticalScroll(id="form-scroll"):
                for i, dim in enumerate(self._space.dimensions):
                    with Horizontal(classes="form-row"):
                        yield Label(Text(_describe(dim)), classes="form-label")
                        yield self._field(i, dim)
            yield Static("", id="form-errors")
            yield Label("ctrl+s or enter: submit · tab: next field · escape: cancel",
                        id="form-hint")  # fmt: skip

    def _field(self, i: int, dim: SearchDimension) -> Any:
        value = self._initial.get(dim.name)
        fid = f"field-{i}"
        if dim.dim_type == "categorical":
            options = [(str(v), v) for v in dim.values]
            start = value if value in dim.values else Select.NULL
            return Select(options, value=start, id=fid, classes="form-field", allow_blank=True)
        if dim.dim_type == "subset":
            placeholder = ", ".join(str(v) for v in dim.values)
        elif dim.dim_type == "text":
            placeholder = dim.description or "text"
        else:
            placeholder = f"{dim.low:g} … {dim.high:g}"
        return Input(value=_show(value), placeholder=placeholder, id=fid, classes="form-field")

    def on_mount(self) -> None:
        fields = self.query(".form-field")
        if fields:
            fields.first().focus()

    def values(self) -> tuple[dict[str, Any], list[str]]:
        params: dict[str, Any] = {}
        problems: list[str] = []
        for i, dim in enumerate(self._space.dimensions):
            widget = self.query_one(f"#field-{i}")
            raw = widget.value  # type: ignore[attr-defined]
            value, problem = parse_field(dim, raw)
            if problem:
                problems.append(problem)
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
        if problems:
            self.query_one("#form-errors", Static).update(Text("\n".join(problems)))
            return
        self.dismiss(params)

    def action_cancel(self) -> None:
        self.dismiss(None)
