"""TypingSelect: a Select whose letters are typed into it, never run as the pane's keys."""

from __future__ import annotations

from textual import events
from textual.widgets import Select
from textual.widgets._select import SelectOverlay  # Textual has no public name for it


class TypingSelect(Select[str]):
    """A Select that takes the printable keys typed at it (issue 10).

    Textual's Select, closed, lets every letter through to the keys of the panes around
    it: in the Traces filter bar (mode EDIT) ``7`` scored the selected trace and ``y``
    marked it a success, and the footer listed those keys. This one says it consumes
    them (``check_consume_key``), so Textual leaves the pane's printable keys out of the
    footer and of the key dispatch while it has the focus, and a letter opens the list
    and jumps to the first option that matches it (the open list's own type-to-search).
    Space still opens the list, escape still leaves the field.
    """

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        return character is not None and character.isprintable() and character != " "

    async def _on_key(self, event: events.Key) -> None:
        character = event.character
        if self.expanded or character is None or not self.check_consume_key(event.key, character):
            return
        event.stop()
        event.prevent_default()
        self.expanded = True
        # The open list searches as it is typed to: the first letter goes to it too.
        overlay = self.query_one(SelectOverlay)
        overlay.post_message(events.Key(event.key, character))


__all__ = ["TypingSelect"]
