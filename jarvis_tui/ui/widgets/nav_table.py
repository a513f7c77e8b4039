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

    def drop_render_caches(self) -> None:
        """Forget the rendered rows, cells and lines kept for reuse.

        ``DataTable`` keys them by an update count that each ``update_cell`` bumps, so
        after a cell update the old ones are never used again, yet they stay in its LRU
        caches (1,000 lines, 10,000 cells) until pushed out: a row updated twice a second
        for a whole training run kept ~30,000 objects alive for every garbage collection
        to walk (a full one 20-45 ms on the UI thread, ``bench_ui_lag``). Textual has no
        public call for this; ``DataTable._clear_caches`` is what its own updates use
        (Textual is pinned to one patch release, see pyproject.toml)."""
        self._clear_caches()
