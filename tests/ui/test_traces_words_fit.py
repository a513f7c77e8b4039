"""Traces pane: its status line's words fit 120 and 80 columns, by priority."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widgets import Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import record_notices, settle


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


def _stopped(model: str, scored: int, errors: int, skipped: int, total: int) -> SimpleNamespace:
    """What x leaves of a judge run."""
    return SimpleNamespace(model=model, url="http://127.0.0.1:9/v1", scored=scored,
                           errors=errors, skipped=skipped, total=total, cancelled=True,
                           stopped=None, first_error="")  # fmt: skip


@pytest.mark.parametrize(
    ("run", "at_120"),
    [
        # walkthrough W2 38: 'judge j1 stopped by you after 0 of 32: 0 scored, 1 already sco…'
        (_stopped("j1", 0, 0, 1, 32), ("0/32", "0 scored", "1 already scored")),
        # a longer name and more counts: the least news (already scored) goes first, whole
        (_stopped("gpt-4o-mini", 1, 1, 31, 232), ("2/232", "1 scored", "1 missing")),
    ],
)
async def test_the_judges_end_words_keep_their_counts_whole(
    workspace: Path, run: SimpleNamespace, at_120: tuple[str, ...]
) -> None:
    """x on a judge run: at 120 columns its counts are whole (the least news left out
    whole, never cut), at 80 that it stopped and what it scored; rows and sort stay,
    the notice has the whole line."""
    for size in ((120, 40), (80, 24)):
        app = JarvisApp(workspace)
        notices = record_notices(app)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            pane = app.query_one(TracesPane)
            done = run.scored + run.errors
            pane.post_message(TracesPane.JudgeProgress(done, run.total, run.errors, run))
            await settle(app, pilot)
            line = status(app)
            assert len(line.rstrip()) <= size[0] and "…" not in line, line
            assert "rows 1–" in line and "sort time ↓" in line, line
            assert f"judge {run.model} stopped" in line and f"{run.scored} scored" in line, line
            if size[0] == 120:
                assert "labelled 200 of 401" in line, line
                for count in at_120:
                    assert count in line, line
            assert any(f"stopped by you after {done} of {run.total}" in n for n in notices)


async def test_queue_order_says_why_whole_in_the_side_panel(workspace: Path) -> None:
    """Q: why the selected trace is next is whole in the side panel ('queued: …', with
    each model's figures); the status line has it only whole or not at all, never cut
    (walkthrough W 30: 'next: general: runner-up …' at 120 columns)."""
    import io

    from rich.console import Console

    for size in ((120, 40), (80, 24)):
        app = JarvisApp(workspace)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("Q")
            await settle(app, pilot)
            line = status(app)
            assert "queue order (Q)" in line and len(line.rstrip()) <= size[0], line
            assert "next:" not in line or "…" not in line.split("next:")[1], line
            if size[0] == 120:
                body = app.query_one("#detail-body", Static).content
                console = Console(width=400, record=True, file=io.StringIO())
                console.print(body)
                queued = next(t for t in console.export_text().splitlines() if "queued:" in t)
                # each model with its figures ("(unrated)", "(0.80 ± 0.01, 459 rated)")
                assert queued.startswith("queued: ") and "rated)" in queued, queued


async def test_queue_order_says_which_filters_it_ignores(workspace: Path) -> None:
    """Q, then a search: the queue's rows do not follow it, and the status line says so
    (walkthrough W3 1: the search box said 'csv -large', the rows were the queue's)."""
    from textual.widgets import Input

    for size in ((120, 40), (80, 24)):
        app = JarvisApp(workspace)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("Q")
            await settle(app, pilot)
            assert "ignores" not in status(app)
            app.query_one("#search", Input).value = "photosynthesis"
            app.query_one(TracesPane).apply_filters()
            await settle(app, pilot)
            line = status(app)
            assert "queue order (Q)" in line and "queue ignores search" in line, line
            assert len(line.rstrip()) <= size[0]
            await pilot.press("Q")  # time order: the search applies
            await settle(app, pilot)
            assert "ignores" not in status(app) and "(filtered;" in status(app)
