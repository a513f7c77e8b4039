"""The queue's estimate is honest (issue 10): never more labels than there are unlabelled
traces to give, the same for the same data, and a close call keeps its traces queued."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jarvis_tui.core.types import Trace
from jarvis_tui.learning.label_queue import LabelQueue
from jarvis_tui.traces.store import TraceStore

SHORT = "What is the capital of Peru?"


def _store(path: Path, cells: dict[str, tuple[int, tuple[float, ...], int]]) -> TraceStore:
    """{model: (rated count, scores to cycle through, unrated count)}, all short queries."""
    traces = []
    t = 1_700_000_000.0
    for model, (rated, scores, unrated) in cells.items():
        for i in range(rated + unrated):
            t += 1
            fb = scores[i % len(scores)] if i < rated else None
            traces.append(Trace(trace_id=f"t{int(t)}", query=SHORT, agent="simple", model=model,
                                feedback=fb, started_at=t))  # fmt: skip
    s = TraceStore(path / "traces.db")
    s.save_many(traces)
    return s


def test_more_labels_than_traces_left_says_it_cannot_separate(tmp_path: Path) -> None:
    """A and B overlap and separating them would take more labels than the 10 + 10
    unlabelled traces: the line says so instead of '150 more labels', and every one of
    those 20 traces is still queued."""
    s = _store(tmp_path, {"A": (40, (0.5, 0.9), 10), "B": (40, (0.45, 0.85), 10)})
    try:
        q = LabelQueue(s)
        st_ = q.status()
        assert st_.line == (
            "short: A and B cannot be separated with the traces left (0.70 vs 0.65)"
        )
        assert "more labels" not in st_.line
        assert st_.labels_to_settle is None
        assert len(q.next(50)) == 20
    finally:
        s.close()


def test_a_too_close_call_keeps_all_its_traces_queued(tmp_path: Path) -> None:
    """Means 0.002 apart: too close to separate; the queue still offers every unlabelled
    trace of both cells (it used to offer one each: '2 queued', then '50 queued' once a
    label moved the margin past the threshold, then 2 again)."""
    s = _store(tmp_path, {"A": (40, (0.5, 0.9), 30), "B": (40, (0.498, 0.898), 30)})
    try:
        q = LabelQueue(s)
        assert "too close to separate" in q.status().line
        items = q.next(50)
        assert len(items) == 50 and {i.model for i in items} == {"A", "B"}
    finally:
        s.close()


def test_the_same_data_gives_the_same_line(tmp_path: Path) -> None:
    s = _store(tmp_path, {"A": (20, (0.6, 0.9), 200), "B": (20, (0.5, 0.8), 200)})
    try:
        lines = {(LabelQueue(s).status().line, LabelQueue(s).status().short) for _ in range(3)}
    finally:
        s.close()
    again = TraceStore(tmp_path / "traces.db")
    try:
        lines.add((LabelQueue(again).status().line, LabelQueue(again).status().short))
    finally:
        again.close()
    assert len(lines) == 1
    ((line, short),) = lines
    assert line.startswith("short: ") and "more labels to separate A from B" in line
    assert short.startswith("short: ") and short.endswith("more labels to settle")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rated=st.tuples(st.integers(2, 60), st.integers(2, 60)),
    unrated=st.tuples(st.integers(0, 80), st.integers(0, 80)),
    gap=st.sampled_from([0.0, 0.01, 0.03, 0.08, 0.2]),
)
# Floor labels on the best or the runner-up were counted twice (once as floor, once in
# the separation): (2, 2) rated, (20, 80) unrated gave 102 labels for 100 traces, and
# (2, 3) with (10, 20) said 30 while its queue asked for 20.
@example(rated=(2, 2), unrated=(20, 80), gap=0.08)
@example(rated=(2, 3), unrated=(10, 20), gap=0.08)
@example(rated=(2, 2), unrated=(20, 80), gap=0.2)
@example(rated=(2, 3), unrated=(10, 20), gap=0.2)
def test_the_estimate_never_exceeds_what_can_be_labelled(
    tmp_path_factory, rated: tuple[int, int], unrated: tuple[int, int], gap: float
) -> None:
    path = tmp_path_factory.mktemp("q")
    s = _store(path, {"A": (rated[0], (0.5 + gap, 0.9 + gap / 2), unrated[0]),
                      "B": (rated[1], (0.5, 0.9), unrated[1])})  # fmt: skip
    try:
        q = LabelQueue(s, min_samples=10)
        (cls,) = q.status().classes
        if cls.labels_to_settle is not None:
            assert cls.labels_to_settle <= unrated[0] + unrated[1]
            assert cls.labels_to_settle == sum(n.labels for n in cls.needs if n.tier == 0)
        for n in cls.needs:
            assert n.labels <= unrated["AB".index(n.model)]
    finally:
        s.close()
