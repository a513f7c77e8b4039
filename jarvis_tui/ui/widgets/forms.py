"""The fields of the small modal forms (:mod:`jarvis_tui.ui.screens.forms`: one line
of text, and a form built from a SearchSpace): what each accepts and why a value is
refused, and the forms' look.

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
from typing import Any

from textual.widgets import Select

from jarvis_tui.learning.optimize.types import SearchDimension
from jarvis_tui.ui.text import one_line

NAME_WIDTH = 24
"""Cells for a field's name; longer names end in ``…`` (the help line repeats them whole)."""

FORM_CSS = """
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
    #cf-notice { color: $text-muted; height: auto; display: none; }
    #cf-notice.-shown { display: block; }
    #cf-notice.-warning { color: $warning; }
    #cf-notice.-error { color: $error; }
    #cf-hint { color: $text-muted; margin-top: 1; }
"""


def _options_text(values: list[Any], limit: int = 160) -> str:
    return one_line(", ".join(str(v) for v in values), limit)


def describe(dim: SearchDimension) -> str:
    """What a field of *dim* accepts, in words."""
    t = dim.dim_type
    about = f" — {one_line(dim.description, 200)}" if dim.description else ""
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
    if not text:  # a URL, a model, a path: a form asks for text it needs
        return None, "required"
    return text, None


def parse_field(dim: SearchDimension, raw: Any) -> tuple[Any, str | None]:
    """The value of one form field for *dim*, or an error message naming the field."""
    value, problem = check_field(dim, raw)
    return value, (f"{dim.name}: {problem}" if problem else None)
