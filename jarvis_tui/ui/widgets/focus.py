"""Focus that takes effect now, so keys typed right after a pane switch land there."""

from __future__ import annotations

from textual.widget import Widget


def focus_now(widget: Widget) -> None:
    """Focus *widget* immediately (``Widget.focus()`` is deferred to a later message,
    after keys that may already be queued); if it cannot take focus yet (not laid
    out), fall back to the deferred call."""
    widget.screen.set_focus(widget)
    if widget.screen.focused is not widget:
        widget.focus()
