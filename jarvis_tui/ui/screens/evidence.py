"""The Traces pane's evidence modals: judge agreement, and what to copy of a trace.

Their text is data (judge model names, trace ids) shown as literal text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from jarvis_tui.learning.export_labels import DEFAULT_NAMES, format_mismatch
from jarvis_tui.ui.screens.forms import ConfigFormScreen
from jarvis_tui.ui.text import one_line, visible

if TYPE_CHECKING:
    from jarvis_tui.learning.optimize.types import SearchSpace

BOX_CSS = """
    align: center middle;
    #ev-box {
        width: 72;
        max-width: 96%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    #ev-title { text-style: bold; }
    #ev-hint { color: $text-muted; margin-top: 1; }
    OptionList { height: auto; max-height: 8; }
"""


class AgreementScreen(ModalScreen[None]):
    """Judge against human: MAE, correlation and the confusion table."""

    DEFAULT_CSS = "AgreementScreen {" + BOX_CSS + "}"
    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="agreement.close")]

    def __init__(self, lines: list[str], judges: str = "") -> None:
        super().__init__()
        self._lines = lines
        self._judges = judges

    def compose(self) -> ComposeResult:
        with Vertical(id="ev-box"):
            yield Label(Text("Judge agreement with the human labels"), id="ev-title")
            body = Text()
            if self._judges:
                body.append(visible(self._judges) + "\n\n", style="dim")
            body.append("\n".join(visible(line) for line in self._lines))
            body.append("\n\nlow < 0.4 ≤ mid < 0.7 ≤ high; traces with both a human score "
                        "and a judge score", style="dim")  # fmt: skip
            yield Static(body, id="agreement-body")
            yield Label(Text("escape: close"), id="ev-hint")

    def action_close(self) -> None:
        self.dismiss(None)


COPY_CHOICES = (("id", "trace id"), ("query", "query"), ("result", "result"),
                ("json", "whole trace as JSON"))  # fmt: skip


class CopyScreen(ModalScreen[Optional[str]]):
    """What of the selected trace goes to the clipboard."""

    DEFAULT_CSS = "CopyScreen {" + BOX_CSS + "}"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="copy.cancel"),
        *(
            Binding(str(i + 1), f"pick('{key}')", "", show=False, id=f"copy.{key}")
            for i, (key, _) in enumerate(COPY_CHOICES)
        ),  # fmt: skip
    ]

    def __init__(self, trace_id: str) -> None:
        super().__init__()
        self._trace_id = trace_id

    def compose(self) -> ComposeResult:
        with Vertical(id="ev-box"):
            yield Label(Text(f"Copy from trace {one_line(self._trace_id, 40)}"), id="ev-title")
            yield OptionList(
                *(
                    Option(Text(f"{i + 1}  {label}"), id=key)
                    for i, (key, label) in enumerate(COPY_CHOICES)
                ),  # fmt: skip
                id="copy-choices",
            )
            yield Label(Text("enter / 1–4: copy (OSC 52, works over ssh) · escape: cancel"),
                        id="ev-hint")  # fmt: skip

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_pick(self, key: str) -> None:
        self.dismiss(key)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportLabelsForm(ConfigFormScreen):
    """The palette's "traces: export labels…" form.

    The path follows the format until you type one of your own (labels.csv for csv, a
    ``labels-hf`` folder for hf), and a name whose extension is another format's is
    refused beside the path field, with the engine's reason (``format_mismatch``).
    """

    def __init__(self, space: SearchSpace, **kwargs: Any) -> None:
        initial = {"format": "jsonl", "with judge": "no", "path": DEFAULT_NAMES["jsonl"]}
        super().__init__("Export labels", space, initial, checks={"path": self._path_problem},
                         **kwargs)  # fmt: skip
        names = [d.name for d in space.dimensions]
        self._format_i, self._path_i = names.index("format"), names.index("path")

    def _format(self) -> str:
        value = self.query_one(f"#field-{self._format_i}", Select).value
        return value if isinstance(value, str) else "jsonl"

    def _path_problem(self, value: Any) -> Optional[str]:
        return format_mismatch(str(value or ""), self._format())

    @on(Select.Changed)
    def _format_changed(self, event: Select.Changed) -> None:
        if event.control.id != f"field-{self._format_i}" or not isinstance(event.value, str):
            return
        fmt = event.value
        path = self.query_one(f"#field-{self._path_i}", Input)
        if path.value.strip() in ("", *DEFAULT_NAMES.values()):  # not typed by you
            path.value = DEFAULT_NAMES[fmt]
        self._initial["path"] = DEFAULT_NAMES[fmt]  # the "default:" beside the field
        dim = self._space.dimensions[self._path_i]
        self.query_one(f"#row-{self._path_i} .cf-help", Static).update(self._help(dim))
        if self.query_one(f"#error-{self._path_i}").has_class("-shown"):
            self._show_problem(self._path_i, self._path_problem(path.value))

    def _show_problem(self, i: int, problem: str | None) -> None:
        super()._show_problem(i, problem)
        if problem and i == self._path_i:  # on a short screen the reason is below the fold
            self.query_one(f"#error-{i}").scroll_visible(animate=False)
