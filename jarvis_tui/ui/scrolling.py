"""Scrolling by keys where every key counts.

Textual's ``scroll_down`` / ``scroll_up`` / ``scroll_relative`` / ``scroll_page_*`` defer
the scroll until after the next refresh and count from the position the view is at
then. Keys that arrive in one read (key repeat over ssh, where the network batches
them; a burst sent by tmux) are all handled before that refresh, so each scrolled to the
same place: ten ``j`` moved a text one row. Here the scroll happens at once, from where
the last key left it.
"""

from __future__ import annotations

from typing import Any

from textual.actions import SkipAction
from textual.containers import VerticalScroll
from textual.widget import Widget


def scroll_rows(widget: Widget, rows: float) -> None:
    """Scroll *widget* by *rows* (negative: up) now, clamped to its content."""
    widget.scroll_to(y=widget.scroll_y + rows, animate=False, immediate=True)


def scroll_pages(widget: Widget, pages: int) -> None:
    """Scroll *widget* by *pages* of its height now (a page as Textual's page keys)."""
    scroll_rows(widget, pages * max(1, widget.scrollable_content_region.height))


class KeyScroll:
    """For a scrolling widget: its ``scroll_down`` / ``scroll_up`` / ``page_down`` /
    ``page_up`` actions (the bindings j, k, space …) scroll at once (:func:`scroll_rows`).
    Put it before the widget class in the bases."""

    def _vertical(self) -> Widget:
        widget: Any = self
        if not widget.allow_vertical_scroll:
            raise SkipAction()  # as Textual's own actions: the key goes on up
        return widget

    def action_scroll_down(self) -> None:
        scroll_rows(self._vertical(), 1)

    def action_scroll_up(self) -> None:
        scroll_rows(self._vertical(), -1)

    def action_page_down(self) -> None:
        scroll_pages(self._vertical(), 1)

    def action_page_up(self) -> None:
        scroll_pages(self._vertical(), -1)


class KeyedScroll(KeyScroll, VerticalScroll):
    """Textual's ``VerticalScroll`` whose keys (↑ ↓ PgUp PgDn, and any j / k bound to its
    scroll actions) each count (:class:`KeyScroll`); the app's scroll areas are these."""
