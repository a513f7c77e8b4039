"""How far the label queue is from settling, said steadily; why a trace is next, briefly."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

from jarvis_tui.core.types import Trace
from jarvis_tui.learning.label_queue import (
    ClassStatus,
    LabelQueue,
    QueueStatus,
    SettleSmoother,
    say_count,
)
from jarvis_tui.traces.store import TraceStore

_N = "\x00n\x00"


def _status(raw: int, rated: int) -> QueueStatus:
    c = ClassStatus("general", "likely", "gpt-4o-mini", "llama3.1:70b", raw,
                    f"general: {raw:,} more labels to separate gpt-4o-mini from llama3.1:70b",
                    (), f"general: {raw:,} more labels to settle", rated,
                    f"general: {_N} more labels to separate gpt-4o-mini from llama3.1:70b",
                    f"general: {_N} more labels to settle")  # fmt: skip
    return QueueStatus([c])


def test_a_jumpy_estimate_is_said_steadily() -> None:
    """The demo's estimate over five labels (walkthrough W 30): 278, 242, 209, 238, 268.
    Said steadied, it moves a few labels per label, and rounded to two figures."""
    smoother = SettleSmoother()
    said, lines = [], []
    estimates = (278, 242, 209, 238, 268, 251, 230, 262)
    for k, raw in enumerate(estimates):
        status = _status(raw, 1236 + k)
        counts = smoother.counts(status)
        said.append(counts["general"])
        lines.append(status.told(counts)[0])
    assert said[0] == 278  # the first is the estimate itself
    steps = [abs(b - a) for a, b in itertools.pairwise(said)]
    jumps = [abs(b - a) for a, b in itertools.pairwise(estimates)]
    assert max(steps) * 3 <= max(jumps), said  # a third of the estimate's jumps at most
    words = [line.split()[1] for line in lines]  # ~280, ~270, … one step of ten at most
    assert all(abs(int(b[1:]) - int(a[1:])) <= 10 for a, b in itertools.pairwise(words)), words
    assert lines[0] == ("general: ~280 more labels to separate gpt-4o-mini from "
                        "llama3.1:70b")  # fmt: skip
    assert all("~2" in line for line in lines)


def test_a_small_count_is_said_as_estimated() -> None:
    smoother = SettleSmoother()
    smoother.counts(_status(40, 100))
    assert smoother.counts(_status(6, 101)) == {"general": 6}
    assert _status(6, 101).told({"general": 6})[1] == "general: 6 more labels to settle"
    assert [say_count(n) for n in (7, 99, 100, 278, 1_234, 56_789)] == [
        "7", "99", "~100", "~280", "~1,200", "~57,000"]  # fmt: skip


def test_why_a_trace_is_next_has_a_brief_form(tmp_path: Path) -> None:
    """The why names each model with its figures; the brief, the names only."""
    rng = random.Random(5)
    traces, t = [], 1_700_000_000.0
    for model, mean, rated, unrated in (("A", 0.72, 8, 40), ("B", 0.66, 8, 40)):
        for i in range(rated + unrated):
            t += 1
            fb = round(min(1, max(0, rng.gauss(mean, 0.1))), 2) if i < rated else None
            traces.append(Trace(trace_id=f"t{int(t)}", query="What is the capital of Peru?",
                                agent="simple", model=model, feedback=fb,
                                started_at=t))  # fmt: skip
    store = TraceStore(tmp_path / "traces.db")
    store.save_many(traces)
    try:
        items = LabelQueue(store).next(4)
    finally:
        store.close()
    assert items
    for item in items:
        assert "rated)" in item.why and "\x00" not in item.why
        assert "rated)" not in item.brief and "±" not in item.brief
        assert item.brief == re.sub(r" \([^)]*\)", "", item.why)
