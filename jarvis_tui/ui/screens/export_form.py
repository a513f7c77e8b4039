"""The Traces pane's export-labels form (palette: "traces: export labels…").

Its own module, imported when the form opens: the forms pull in the search-space
types (numpy), which the first paint never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from textual import on
from textual.widgets import Input, Select, Static

from jarvis_tui.learning.export_labels import DEFAULT_NAMES, format_mismatch
from jarvis_tui.ui.screens.forms import ConfigFormScreen

if TYPE_CHECKING:
    from jarvis_tui.learning.optimize.types import SearchSpace


class ExportLabelsForm(ConfigFormScreen):
    """The palette's "traces: export labels…" form.

    The path follows the format until you type one of your own (labels.csv for csv, a
    ``labels-hf`` folder for hf), and a name whose extension is another format's is
    refused beside the path field, with the engine's reason (``format_mismatch``). So is
    a path the export rule refuses (:func:`evidence.export_target` for the workspace
    *root*: a missing folder outside it, a symbolic link, an existing dataset folder):
    the form stays open with what was typed, as the Trials ``w`` prompt does.
    """

    def __init__(self, space: SearchSpace, root: Any = None, **kwargs: Any) -> None:
        initial = {"format": "jsonl", "with judge": "no", "path": DEFAULT_NAMES["jsonl"]}
        super().__init__("Export labels", space, initial, checks={"path": self._path_problem},
                         **kwargs)  # fmt: skip
        self._root = root
        names = [d.name for d in space.dimensions]
        self._format_i, self._path_i = names.index("format"), names.index("path")

    def _format(self) -> str:
        value = self.query_one(f"#field-{self._format_i}", Select).value
        return value if isinstance(value, str) else "jsonl"

    def _path_problem(self, value: Any) -> Optional[str]:
        text, fmt = str(value or ""), self._format()
        problem = format_mismatch(text, fmt)
        if problem is None and self._root is not None:
            from jarvis_tui.ui.panes.evidence import export_target

            problem = export_target(self._root, text, folder=fmt == "hf")[1]
        return problem

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
