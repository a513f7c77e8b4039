"""The labelling queue puts the traces whose label can change a routing decision first."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.learning.label_queue import LabelQueue
from jarvis_tui.traces.store import TraceStore

CODE = "Write a Python function that parses a line. Use `def f()`"
SHORT = "What is the capital of Peru?"


@pytest.fixture()
def store(tmp_path: Path):
    """code: A clearly beats B (60 ratings each); short: A and B overlap (8 ratings each).

    The newest unrated traces are all code traces, so time order labels them first."""
    rng = random.Random(3)
    traces = []
    t = 1_700_000_000.0

    def add(query: str, model: str, n: int, mean: float | None) -> None:
        nonlocal t
        for _ in range(n):
            t += 1
            fb = None if mean is None else round(min(1, max(0, rng.gauss(mean, 0.1))), 2)
            traces.append(Trace(trace_id=f"t{int(t)}", query=query, agent="simple", model=model,
                                feedback=fb, started_at=t))  # fmt: skip

    add(CODE, "A", 60, 0.85)
    add(CODE, "B", 60, 0.45)
    add(SHORT, "A", 8, 0.72)
    add(SHORT, "B", 8, 0.66)
    add(SHORT, "A", 60, None)
    add(SHORT, "B", 60, None)
    add(CODE, "A", 50, None)  # newest: what time order would show first
    add(CODE, "B", 50, None)
    s = TraceStore(tmp_path / "traces.db")
    s.save_many(traces)
    yield s
    s.close()


def test_decisive_traces_first(store: TraceStore) -> None:
    q = LabelQueue(store)
    items = q.next(30)
    assert len(items) == 30
    got = {store.get(i.trace_id).query for i in items}
    assert got == {SHORT}  # never a code trace: code is settled
    assert {i.model for i in items} == {"A", "B"}
    assert all(i.why.startswith("short: ") for i in items)
    assert all(store.get(i.trace_id).feedback is None for i in items)
    # time order (the Traces pane's default, newest first) would have shown code traces
    newest = store.list_traces(limit=10)
    assert {t.query for t in newest} == {CODE}


def test_status_says_why_and_how_far(store: TraceStore) -> None:
    st = LabelQueue(store).status()
    by = {c.query_class: c for c in st.classes}
    assert by["code"].confidence == "clear" and by["code"].labels_to_settle == 0
    assert by["short"].confidence != "clear"
    assert by["short"].labels_to_settle and by["short"].labels_to_settle > 0
    assert st.line.startswith("short: ") and "more labels" in st.line
    assert not st.settled


def test_labels_move_the_queue(store: TraceStore) -> None:
    q = LabelQueue(store)
    before = q.status().classes
    first = q.next(1)[0]
    store.set_label(first.trace_id, feedback=0.7)
    again = q.next(5)
    assert first.trace_id not in {i.trace_id for i in again}  # labelled: out of the queue
    assert [c.query_class for c in q.status().classes] == [c.query_class for c in before]


def test_one_cell_only(store: TraceStore) -> None:
    items = LabelQueue(store, query_class="short", model="B").next(4)
    assert len(items) == 4 and {i.model for i in items} == {"B"}
    assert {i.query_class for i in items} == {"short"}


def test_empty_store(tmp_path: Path) -> None:
    s = TraceStore(tmp_path / "traces.db")
    try:
        q = LabelQueue(s)
        assert q.next(3) == []
        assert q.status().settled and q.status().line == "every routing recommendation is clear"
    finally:
        s.close()


def _plain_store(
    path: Path, cells: dict[tuple[str, str], tuple[int, tuple[float, ...] | None]]
) -> TraceStore:
    """{(query, model): (count, feedback scores to cycle through, or None)}."""
    traces = []
    t = 1_700_000_000.0
    for (query, model), (count, fbs) in cells.items():
        for i in range(count):
            t += 1
            fb = None if fbs is None else fbs[i % len(fbs)]
            traces.append(Trace(trace_id=f"t{int(t)}", query=query, agent="simple", model=model,
                                feedback=fb, started_at=t))  # fmt: skip
    s = TraceStore(path / "traces.db")
    s.save_many(traces)
    return s


def test_every_model_rated_before_the_class_settles(tmp_path: Path) -> None:
    """Labelling one trace at a time from nothing: the other model gets ratings too,
    so the class is never called clear on the one model it has seen."""
    s = _plain_store(tmp_path, {(SHORT, "A"): (40, None), (SHORT, "B"): (40, None)})
    try:
        q = LabelQueue(s)
        for _ in range(8):
            s.set_label(q.next(1)[0].trace_id, feedback=0.5)
        rated = {m: sum(1 for t in s.list_traces(limit=100) if t.model == m and t.feedback is not None)
                 for m in ("A", "B")}  # fmt: skip
        assert rated["A"] >= 3 and rated["B"] >= 3
    finally:
        s.close()


def test_traces_without_ratings_are_not_settled(tmp_path: Path) -> None:
    s = _plain_store(tmp_path, {(SHORT, "A"): (5, None), (SHORT, "B"): (5, None)})
    try:
        st = LabelQueue(s).status()
        assert not st.settled
        assert st.line == "short: no rated traces"
    finally:
        s.close()


def test_a_cell_with_nothing_left_to_label_is_skipped(tmp_path: Path) -> None:
    """short/B is all rated: the queue fills its k from short/A instead of coming up short."""
    s = _plain_store(tmp_path, {(SHORT, "A"): (8, (0.5, 0.9)), (SHORT, "B"): (8, (0.4, 0.9)),
                                (SHORT + " ", "A"): (30, None)})  # fmt: skip
    try:
        items = LabelQueue(s).next(10)
        assert len(items) == 10 and {i.model for i in items} == {"A"}
    finally:
        s.close()


def test_a_file_replaced_at_the_same_path_is_read_afresh(tmp_path: Path) -> None:
    """A rebuilt traces.db at the same path: the queue offers the new file's traces."""
    first = _plain_store(tmp_path, {(SHORT, "A"): (5, None)})
    assert LabelQueue(first).next(1)[0].trace_id.startswith("t")
    first.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"traces.db{suffix}").unlink(missing_ok=True)
    second = TraceStore(tmp_path / "traces.db")
    try:
        second.save_many([Trace(trace_id=f"new{i}", query=SHORT, agent="simple", model="A",
                                started_at=1_800_000_000.0 + i) for i in range(5)])  # fmt: skip
        assert LabelQueue(second).next(1)[0].trace_id.startswith("new")
    finally:
        second.close()


def test_a_close_call_labelled_to_the_last_trace_says_so(tmp_path: Path) -> None:
    """Both cells of the close call are fully labelled: nothing to offer, and the line
    says why instead of asking for more labels."""
    s = _plain_store(tmp_path, {(SHORT, "A"): (40, (0.5, 0.9)), (SHORT, "B"): (40, (0.45, 0.9))})
    try:
        q = LabelQueue(s)
        assert q.next(3) == []
        st = q.status()
        assert not st.settled
        assert (
            st.line == "short: every trace that could settle it is labelled; A and B still overlap"
        )
    finally:
        s.close()
