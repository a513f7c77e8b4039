"""A DataTable that also moves with the app's navigation keys (j k h l g G)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class NavTable(DataTable):
    """``DataTable`` plus vim-style navigation: keys that move, never change anything."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="nav.down"),
        Binding("k", "cursor_up", "Up", show=False, id="nav.up"),
        Binding("h", "cursor_left", "Left", show=False, id="nav.left"),
        Binding("l", "cursor_right", "Right", show=False, id="nav.right"),
        Binding("g", "scroll_top", "Top", show=False, id="nav.top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="nav.bottom"),
    ]
