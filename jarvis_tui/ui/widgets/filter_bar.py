"""FilterBar: a row of pickers that are made the first time the bar is shown.

The Traces pane's filter bar is hidden until ``F``; its six pickers (a Select each:
the current value, the overlay and its option list) were a third of the pane's
widgets at start, built, styled and their stylesheets parsed before the first rows
could be painted (issue 15). The bar holds each picker's options, prompt and value
until then, so the pane reads and sets the filters the same way whether or not the
pickers exist yet, and :meth:`build` makes them with exactly that state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from textual import on
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Select
from textual.widgets._select import SelectOverlay  # Textual has no public name for it

from jarvis_tui.ui.widgets.typing_select import TypingSelect


@dataclass
class Picker:
    """One picker of the bar, as it is until (and when) it is built."""

    id: str
    """The picker's DOM id (``f-agent``)."""
    prompt: str
    """What the picker says when nothing is picked."""
    options: list[tuple[str, str]] = field(default_factory=list)
    """(label, value) pairs, in order."""
    value: Optional[str] = None
    """The picked value (None: nothing picked)."""


class FilterPicker(TypingSelect):
    """A picker of the bar: a choice taken from its open list (enter, a click) says so
    with :class:`FilterBar.Picked`, and the picker does not take the focus back."""

    @on(SelectOverlay.UpdateSelection)
    def _picked(self, event: SelectOverlay.UpdateSelection) -> None:
        # Runs before Select's own handler, which would set the value and focus the
        # picker again: the pane puts the focus back on the table instead (a choice
        # made is the end of the edit, as in lazygit), so this one does the rest of
        # that handler's work without the focus.
        event.stop()
        event.prevent_default()
        options = self._options  # Select keeps them private; (label, value) pairs
        if 0 <= event.option_index < len(options):
            value = options[event.option_index][1]
            if value != self.value:
                self.value = value  # posts Select.Changed: the filter applies
        self.expanded = False
        self.post_message(FilterBar.Picked(self))


class FilterBar(Horizontal):
    """A row of :class:`TypingSelect` pickers, built on first :meth:`build`.

    Until then :meth:`value`, :meth:`set_value`, :meth:`set_options` and :meth:`clear`
    act on the held state, with a Select's rules (a value it does not list is
    refused); once built they act on the pickers, which are the state from then on.
    """

    class Picked(Message):
        """A choice was taken from a picker's open list (the same value again too)."""

        def __init__(self, picker: FilterPicker) -> None:
            super().__init__()
            self.picker = picker
            """The picker it was taken from."""

        @property
        def control(self) -> FilterPicker:
            return self.picker

    def __init__(self, pickers: Sequence[Picker], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pickers = {p.id: p for p in pickers}
        """The held state of each picker, by id (used until the bar is built)."""
        self._built = False

    @property
    def built(self) -> bool:
        """The pickers exist (the bar was shown once)."""
        return self._built

    def build(self) -> Any:
        """Make the pickers from the held state (once); an awaitable for their mount."""
        if self._built:
            return None
        self._built = True
        # Made where Changed is prevented, so their mount (which sets the held value)
        # does not announce a pick: the filter already has it (Textual keeps the
        # prevented messages a widget was made under for its Mount).
        with self.prevent(Select.Changed):
            selects = [
                FilterPicker(p.options, prompt=p.prompt, id=p.id,
                             value=Select.NULL if p.value is None else p.value)
                for p in self._pickers.values()
            ]  # fmt: skip
        return self.mount_all(selects)

    def _select(self, picker_id: str) -> Select[str]:
        return self.query_one(f"#{picker_id}", Select)

    def picker(self, picker_id: str) -> Select[str] | None:
        """The picker *picker_id*, None while the bar is not built."""
        return self._select(picker_id) if self._built else None

    def value(self, picker_id: str) -> Optional[str]:
        """The value picked in *picker_id* (None: nothing)."""
        if not self._built:
            return self._pickers[picker_id].value
        v = self._select(picker_id).value
        return None if v is Select.NULL or v is None else str(v)

    def set_value(self, picker_id: str, value: Optional[str]) -> bool:
        """Pick *value* in *picker_id* (None clears it); a value the picker does not
        list clears it instead (False)."""
        if not self._built:
            p = self._pickers[picker_id]
            listed = value is None or any(v == value for _label, v in p.options)
            p.value = value if listed else None
            return listed
        sel = self._select(picker_id)
        try:
            sel.value = Select.NULL if value is None else value
        except Exception:  # an option the picker does not list (yet)
            sel.value = Select.NULL
            return False
        return True

    def set_options(self, picker_id: str, options: Iterable[tuple[str, str]], prompt: str,
                    keep: Optional[str] = None) -> None:  # fmt: skip
        """List *options* in *picker_id* with *prompt*; *keep* stays picked (it must be
        among the options), anything else picked is cleared, as ``Select.set_options``."""
        options = list(options)
        if not self._built:
            p = self._pickers[picker_id]
            p.options, p.prompt = options, prompt
            p.value = keep if keep is not None and any(v == keep for _l, v in options) else None
            return
        sel = self._select(picker_id)
        sel.set_options(options)
        if keep is not None:
            sel.value = keep
        sel.prompt = prompt

    def clear(self) -> None:
        """Nothing picked in any picker."""
        for picker_id in self._pickers:
            self.set_value(picker_id, None)


__all__ = ["FilterBar", "FilterPicker", "Picker"]
