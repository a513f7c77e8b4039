"""A new user's Traces walkthrough (issue 10): what the screen shows is what works."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Select, Static

from jarvis_tui.core.types import Trace
from jarvis_tui.demo import build_demo
from jarvis_tui.learning.label_queue import LabelQueue
from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import record_notices, settle
from tests.ui.conftest import BASE, pick_filters


def status(app: JarvisApp) -> str:
    return str(app.query_one("#traces-status", Static).render())


def summary(app: JarvisApp) -> str:
    return str(app.query_one("#filter-summary", Static).render())


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def test_refresh_keeps_the_agent_and_model_filters(workspace: Path) -> None:
    """Finding 1: `r` re-lists the agents and models for the pickers; the picked
    agent and model stay picked, in the bar and in the rows."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pick_filters(app, pilot, agent="simple", model="llama3.1:8b", labelled="unlabelled")
        before_status, before_summary = status(app), summary(app)
        assert "agent simple" in before_summary and "model llama3.1:8b" in before_summary
        rows = {r.trace_id for r in pane.rows}
        assert rows and all(r.agent == "simple" and r.model == "llama3.1:8b" for r in pane.rows)
        for _ in range(3):
            await pilot.press("r")
            await settle(app, pilot)
            assert summary(app) == before_summary
            assert status(app).split(" · ")[0] == before_status.split(" · ")[0]
            assert {r.trace_id for r in pane.rows} == rows
            assert pane.query_one("#f-agent", Select).value == "simple"
            assert pane.query_one("#f-model", Select).value == "llama3.1:8b"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("wdemo") / "ws", traces=1500, seed=5)


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(demo_home, dest)
    return dest


async def test_a_cells_queue_shows_exactly_its_unrated_traces_and_counts_them(home: Path) -> None:
    """Finding 2, by the one rule the plan counts (only a score moves routing): Routing's
    enter on a cell opens 'unrated · model … · class …'; the rows are exactly the cell's
    unrated traces the queue offers, a ✓ without a score among them (marked ✓), a
    scored one not, and 'rated 0 of N' counts those N."""
    store = TraceStore(home / "traces.db")
    try:
        item = LabelQueue(store).next(1)[0]
        cell = LabelQueue(store, query_class=item.query_class, model=item.model)
        first = [i.trace_id for i in cell.next(6)]
        outcome_only, scored = first[:3], first[3:]
        for tid in outcome_only:  # an outcome, no score: still asked for a rating
            store.set_label(tid, outcome="success", feedback=None)
        for tid in scored:  # a score: rated, no longer offered
            store.set_label(tid, feedback=0.7)
        flt = TraceFilter(model=item.model, query_class=item.query_class, rated=False)
        unrated, rated = store.count_filtered(flt, rated=True)
        offered = [i.trace_id for i in cell.next(10_000)]
    finally:
        store.close()
    assert rated == 0 and unrated == len(offered) and set(outcome_only) <= set(offered)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        pane.show_queue(item.query_class, item.model)
        await settle(app, pilot)
        assert "queue order (Q)" in status(app)
        assert f"rated 0 of {unrated:,}" in status(app)
        assert summary(app).startswith("F filters: unrated ·")
        shown = [r.trace_id for r in pane.rows]
        assert shown == offered[: len(shown)] and len(shown) == min(len(offered), len(shown))
        assert set(outcome_only) <= set(shown) and not set(shown) & set(scored)
        assert all(r.feedback is None for r in pane.rows)
        table = screen_text(app).split("Query", 1)[1].split("queue order", 1)[0]
        assert "✓" in table  # the outcome-only traces, marked as they are


async def test_backspace_on_an_unlabelled_trace_clears_nothing(workspace: Path) -> None:
    """Finding 12: backspace with nothing to clear says so; it is no label (labels/min),
    no undo step (the next u undoes the = before it) and no history row."""
    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        await pick_filters(app, pilot, labelled="unlabelled")
        first, second = pane.rows[0].trace_id, pane.rows[1].trace_id
        notices = record_notices(app)
        await pilot.press("equals_sign")  # first → 1.0, the cursor moves to the second
        await settle(app, pilot)
        assert pane.current_trace_id == second
        await pilot.press("backspace")
        await settle(app, pilot)
        assert any("nothing to clear" in n for n in notices)
        assert "1 label/min" in status(app)
        await pilot.press("u")  # undoes the = on the first
        await settle(app, pilot)
        assert pane.rows[0].feedback is None
    store = TraceStore(workspace / "traces.db")
    try:
        assert store.get(first).feedback is None
        assert store.label_history(second) == []
    finally:
        store.close()


async def test_a_nul_in_a_query_shows_in_the_list_with_the_text_after_it(tmp_path: Path) -> None:
    """Finding 10: the list showed only 'NUL' of 'NUL\\x00in query' (SQLite's text
    functions stop at a NUL); it shows ␀ and the rest, as the side panel does."""
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many([
        Trace(trace_id="nul", query="NUL\x00in query \x08bs é end", agent="simple",
              model="m", started_at=BASE, ended_at=BASE + 1),
        Trace(trace_id="plain", query="ordinary question", agent="simple", model="m",
              started_at=BASE - 60, ended_at=BASE - 59),
    ])  # fmt: skip
    store.close()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        assert [r.snippet for r in pane.rows] == [
            "NUL\x00in query \x08bs é end",
            "ordinary question",
        ]
        assert "NUL␀in query ␈bs é end" in screen_text(app)


async def test_queue_order_with_nothing_to_label_says_so(tmp_path: Path) -> None:
    """Finding 14: Q on a workspace whose only trace is labelled showed '0 unlabelled,
    time order' over an empty table; the pane says there is nothing to label and how
    to see the traces."""
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many([
        Trace(trace_id="done", query="already labelled", agent="simple", model="m",
              feedback=0.8, started_at=BASE, ended_at=BASE + 1),
    ])  # fmt: skip
    store.close()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "already labelled" in screen_text(app)
        await pilot.press("Q")
        await settle(app, pilot)
        text = screen_text(app)
        assert "queue order (Q)" in status(app)
        assert "Nothing to label in queue order" in text
        assert "Q turns queue order off" in text
        await pilot.press("Q")
        await settle(app, pilot)
        text = screen_text(app)
        assert "Nothing to label" not in text and "already labelled" in text
