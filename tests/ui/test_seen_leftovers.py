"""What a new user saw (issue 10, leftovers): the label queue's status line, the footer
in the filter bar, the judge form, Routing on an empty workspace, toasts over forms."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jarvis_tui.demo import build_demo
from jarvis_tui.learning.label_queue import LabelQueue
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle

from .test_traces_pane import screen_text


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("leftovers") / "ws", traces=1500, seed=5)


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(demo_home, dest)
    return dest


def _row(app: JarvisApp, start: str) -> str:
    """The screen row that starts with *start* (after the bar's padding)."""
    rows = [r for r in screen_text(app).splitlines() if r.strip().startswith(start)]
    assert rows, f"no row starts with {start!r}:\n{screen_text(app)}"
    return rows[0].rstrip()


@pytest.mark.parametrize("size", [(80, 24), (150, 40)])
async def test_queue_line_keeps_the_class_and_the_count(home: Path, size) -> None:
    """The queue's line is shown in fewer words where the whole does not fit (the class
    and what it needs, never 'general: 278 more l…'), and a segment that is cut ends in
    '…' on screen (the bar's padding used to crop the '…' away)."""
    store = TraceStore(home / "traces.db")
    queue = LabelQueue(store).status()
    store.close()
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("Q")
        await settle(app, pilot)
        row = _row(app, "queue order (Q)")
        assert queue.short.split(" · ")[0] in row or queue.line in row
        assert len(row) <= size[0]
        last = row.split(" · ")[-1]
        if size[0] == 150:  # the "next:" reason takes the room left, cut with "…"
            assert last.startswith("next: ") and last.endswith("…")


async def test_filter_bar_keys_type_into_the_field_and_the_footer_says_so(home: Path) -> None:
    """In the filter bar (mode EDIT) the label keys neither label the trace nor show in
    the footer; a letter picks in the list instead (it used to score the trace)."""
    from jarvis_tui.ui.panes.traces import TracesPane
    from jarvis_tui.ui.widgets.footer import KeyFooter

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        footer = app.query_one(KeyFooter)
        assert {"score(0.5)", "outcome('success')"} <= set(footer.shown_actions)  # NAV
        first = pane.rows[0]
        await pilot.press("F")
        await settle(app, pilot)
        assert app.input_mode() == "EDIT"
        shown = footer.shown_actions
        assert not [a for a in shown if a.startswith(("score", "outcome", "undo", "note"))]
        assert "EDIT" in _row(app, "EDIT")
        await pilot.press("7", "y", "escape", "escape")
        await settle(app, pilot)
        assert app.input_mode() == "NAV"
    store = TraceStore(home / "traces.db")
    try:
        now = store.get(first.trace_id)
        assert (now.feedback, now.outcome) == (first.feedback, first.outcome)
    finally:
        store.close()
