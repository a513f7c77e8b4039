"""Small modal forms: one line of text (:class:`PromptScreen`), and a config of a
SearchSpace (:class:`ConfigFormScreen`).

Every field shows its name, its value, what it accepts and, beside it, why a value is
refused (the field checks are in :mod:`jarvis_tui.ui.widgets.forms`). Both forms
validate before they close: the form stays open with what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Optional, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from jarvis_tui.core.fmt import plural
from jarvis_tui.ui.scrolling import KeyedScroll
from jarvis_tui.ui.text import one_line
from jarvis_tui.ui.widgets.forms import FORM_CSS, NAME_WIDTH, check_field, describe, show_value

if TYPE_CHECKING:  # the optimize package (numpy) is imported when a form is submitted
    from jarvis_tui.learning.optimize.types import SearchDimension, SearchSpace


FormResult = TypeVar("FormResult")


class FormScreen(ModalScreen[FormResult], Generic[FormResult]):
    """A modal form, shown the first time without styling every widget again.

    Textual restyles a screen each time it is shown (``ScreenResume``); the first time
    is right after each widget was styled as it was mounted, so that pass redid the
    same work (a third of opening a form: bench_forms). Later resumes (after a dialog
    over the form closes) restyle as usual. The same as ``AppScreen`` in the app.
    """

    _shown = False

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Called before Screen's own handler of the event (Textual calls each class's).
        if not self._shown:
            self._shown = True
            event.refresh_styles = False


class PromptScreen(FormScreen[Optional[str]]):
    """Ask for one line of text; *check* returns an error message or None.

    *label* names the field, *help* says what it accepts; the refusal is shown
    under the field and the prompt stays open.
    """

    DEFAULT_CSS = "PromptScreen {" + FORM_CSS + "}"
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
            yield Static("", id="cf-notice")
            yield Label(Text(self._hint), id="cf-hint")

    def show_notice(self, message: str, severity: str = "information") -> None:
        """A notification while this form is open (:func:`show_notice`)."""
        show_notice(self, message, severity)

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

    def unsaved_input(self) -> Optional[tuple[str, Text]]:
        """ctrl+q's question (screens.quit_unsaved) while the field differs from what it
        opened with, else None."""
        value = self.query_one("#prompt-input", Input).value
        if value == self._value:
            return None
        return discard_question(self._title, [(self._label, value)])


def discard_question(title: str, typed: list[tuple[str, Any]]) -> tuple[str, Text]:
    """ctrl+q's question over the form *title* whose fields *typed* (name, value) differ
    from what it opened with."""
    body = Text("You typed, not saved:\n", style="bold")
    for name, value in typed[:8]:
        body.append(f"  {one_line(name, 40)}: ")
        body.append(one_line(show_value(value) or "(empty)", 160) if value is not Select.NULL
                    else "(none)")  # fmt: skip
        body.append("\n")
    if len(typed) > 8:
        body.append(f"  … {plural(len(typed) - 8, 'more field')}\n", style="dim")
    body.append("in the form ", style="dim")
    body.append(one_line(title, 80), style="dim")
    return "Discard what you typed in this form?", body


def show_notice(screen: ModalScreen[Any], message: str, severity: str) -> None:
    """A notification while a form is open: on the form's own notice line, above its
    keys, instead of a toast over its fields (JarvisApp.notify sends it here)."""
    line = screen.query_one("#cf-notice", Static)
    line.update(Text(one_line(message, 300)))
    line.add_class("-shown")
    for level in ("warning", "error"):
        line.set_class(severity == level, f"-{level}")


class FormSelect(Select[Any]):
    """A form's list field: enter submits the form, as it does in a text field (the hint
    says "enter / ctrl+s: …" in every form; on a form of lists only, enter reopened the
    list); space, ↑ and ↓ open the list, and enter in the open list picks an option."""

    BINDINGS = [
        Binding("down,space,up", "show_overlay", "Show menu", show=False),
        Binding("enter", "screen.submit", "Submit", show=False),
    ]


class ConfigFormScreen(FormScreen[Optional[dict]]):
    """A config of *space*: one field per dimension, validated against the space.

    Dismisses with the params (dotted keys → values), or None when cancelled.
    *initial* prefills the fields; *initial_label* says where those values come
    from ("default", "proposed", "from t-…"), shown beside each field.
    *hints* replace a field's line under it (what it accepts, in words); an empty
    text field says what it is for in its placeholder only, not again under it.
    *checks* refuse a value beside its field (the text, or None if it is fine).
    """

    DEFAULT_CSS = "ConfigFormScreen {" + FORM_CSS + "}"
    AUTO_FOCUS = ".cf-input"
    """The first field: by default the fields' scroll box took the focus first and gave
    it to the field on mount, restyling the whole form twice (bench_forms)."""
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
        hints: Optional[dict[str, str]] = None,
        checks: Optional[dict[str, Callable[[Any], Optional[str]]]] = None,
        initial_labels: Optional[dict[str, str]] = None,
    ) -> None:
        super().__init__()
        self._initial_labels = dict(initial_labels or {})
        """Where one field's value comes from, where it differs from *initial_label*
        (a trial without that param: "default")."""
        self._hints = dict(hints or {})
        self._checks = dict(checks or {})
        self._title = title
        self._space = space
        self._initial = dict(initial)
        self._intro = intro
        self._initial_label = initial_label
        self._submit_word = submit
        self._done = done
        self._opened_with: dict[int, Any] = {}
        """Each field's value as the form opened (unsaved_input compares with it)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="cf-box"):
            yield Label(Text(self._title), id="cf-title")
            if self._intro:
                yield Static(Text(self._intro), id="cf-intro")
            with KeyedScroll(id="cf-scroll"):
                for i, dim in enumerate(self._space.dimensions):
                    with Vertical(classes="cf-field", id=f"row-{i}"):
                        with Horizontal(classes="cf-line"):
                            yield Label(Text(one_line(dim.name, NAME_WIDTH - 2)),
                                        classes="cf-name")  # fmt: skip
                            yield self._field(i, dim)
                        yield Static(self._help(dim), classes="cf-help")
                        yield Static("", id=f"error-{i}", classes="cf-error")
            yield Static("", id="cf-summary")
            yield Static("", id="cf-notice")
            yield Label(
                Text(f"enter / ctrl+s: {self._submit_word} · tab: next field · escape: cancel"),
                id="cf-hint",
            )

    def _help(self, dim: SearchDimension) -> Text:
        if dim.name in self._hints:
            out = Text(self._hints[dim.name])
        elif dim.dim_type == "text" and not show_value(self._initial.get(dim.name)):
            out = Text()  # its placeholder says what it is for: not twice
        else:
            out = Text(describe(dim))
        if dim.name in self._initial:
            shown = show_value(self._initial[dim.name]) or "(empty)"
            lead = " · " if out.cell_len else ""  # no stray ' · ' first (walkthrough 40)
            label = self._initial_labels.get(dim.name, self._initial_label)
            out.append(f"{lead}{label}: {one_line(shown, 60)}", style="italic")
        if len(dim.name) > NAME_WIDTH - 2:
            out.append(f"{' · ' if out.cell_len else ''}{one_line(dim.name, 80)}", style="dim")
        return out

    def _field(self, i: int, dim: SearchDimension) -> Any:
        value = self._initial.get(dim.name)
        fid = f"field-{i}"
        if dim.dim_type == "categorical":
            options = [(one_line(str(v), 60), v) for v in dim.values]
            start = value if value in dim.values else Select.NULL
            self._opened_with[i] = start
            # Every list field is required (check_field): one with a default offers no
            # blank choice to pick; one without starts blank, saying "(pick one)".
            return FormSelect(options, value=start, id=fid, classes="cf-input",
                              allow_blank=start is Select.NULL, prompt="(pick one)",
                              compact=True)  # fmt: skip
        if dim.dim_type == "subset":
            # not the choices themselves: a grey list of every tool read as "all three"
            # and queued none (walkthrough W3 38); the line under it lists them
            placeholder = "(empty: none of them)"
        elif dim.dim_type == "text":
            placeholder = dim.description or "(empty)"  # 'text' read like a value
        else:
            placeholder = f"{dim.low:g} … {dim.high:g}"
        self._opened_with[i] = show_value(value)
        return Input(value=show_value(value), placeholder=one_line(placeholder, 60), id=fid,
                     classes="cf-input", compact=True)  # fmt: skip

    def show_notice(self, message: str, severity: str = "information") -> None:
        """A notification while this form is open (:func:`show_notice`)."""
        show_notice(self, message, severity)

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
            dim = self._space.dimensions[i]
            value, problem = check_field(dim, event.value)
            if problem is None and dim.name in self._checks:
                problem = self._checks[dim.name](value)
            self._show_problem(i, problem)
            self._recount()

    def _recount(self) -> None:
        """The summary under the form counts the fields marked ✗ now (it said "2 fields"
        after one was fixed, walkthrough W3 16); none left: it goes."""
        summary = self.query_one("#cf-summary", Static)
        if not str(summary.render()).strip():
            return
        beside = self._marked()
        if beside:
            summary.update(Text(f"nothing {self._done}: {plural(beside, 'field')} marked ✗ "
                                f"{'needs' if beside == 1 else 'need'} fixing"))  # fmt: skip
        else:
            summary.update("")

    def _marked(self) -> int:
        """How many fields are marked ✗ beside them."""
        return sum(1 for i in range(len(self._space.dimensions))
                   if self.query_one(f"#error-{i}").has_class("-shown"))  # fmt: skip

    def values(self) -> tuple[dict[str, Any], list[str]]:
        """The params typed, and every problem (each field's also shown beside it)."""
        params: dict[str, Any] = {}
        problems: list[str] = []
        for i, dim in enumerate(self._space.dimensions):
            widget = self.query_one(f"#field-{i}")
            value, problem = check_field(dim, widget.value)  # type: ignore[attr-defined]
            if problem is None and dim.name in self._checks:
                problem = self._checks[dim.name](value)
            self._show_problem(i, problem)
            if problem:
                problems.append(f"{dim.name}: {problem}")
            else:
                params[dim.name] = value
        if not problems:
            from jarvis_tui.learning.optimize.search_space import validate_config

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
            beside = self._marked()
            out = Text(f"nothing {self._done}: ")
            if beside:
                out.append(
                    f"{plural(beside, 'field')} marked ✗ "
                    f"{'needs' if beside == 1 else 'need'} fixing"
                )
            else:  # the space's own checks (several fields together)
                out.append("; ".join(one_line(p, 200) for p in problems))
            summary.update(out)
            return
        summary.update("")
        self.dismiss(params)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def unsaved_input(self) -> Optional[tuple[str, Text]]:
        """ctrl+q's question (screens.quit_unsaved) while a field differs from what the
        form opened with, else None."""
        typed = []
        for i, dim in enumerate(self._space.dimensions):
            value = self.query_one(f"#field-{i}").value  # type: ignore[attr-defined]
            if i in self._opened_with and value != self._opened_with[i]:
                typed.append((dim.name, value))
        return discard_question(self._title, typed) if typed else None
