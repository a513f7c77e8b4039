"""Judge agreement compares the judge with *human* labels (finding 57): a label accepted
from the judge (``Y``, source ``judge-accepted``) is a copy of its score and agrees by
construction, so it is left out, and the count left out is said."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.evals.judge import JudgeScore, JudgeStore, accept_judge_score, agreement
from jarvis_tui.traces import TraceStore


@pytest.fixture
def store(tmp_path: Path):
    s = TraceStore(tmp_path / "traces.db")
    s.save_many(
        [Trace(trace_id=f"t{i}", query=f"q{i}", result="r", started_at=float(i)) for i in range(3)]
    )
    s.set_label("t0", feedback=0.9)  # a human label
    with JudgeStore.for_store(s) as js:
        js.save([JudgeScore(f"t{i}", 0.8, "", "okj", "h", 1.0) for i in range(3)])
    yield s
    s.close()


def test_a_judge_accepted_label_is_not_a_human_label(store: TraceStore) -> None:
    accept_judge_score(store, "t1")  # Y: the label is now the judge's 0.8
    ag = agreement(store)
    assert ag.n == 1 and ag.judge_accepted == 1
    assert ag.mean_abs_diff == pytest.approx(0.1)  # only t0's human 0.9 against 0.8
    lines = ag.lines()
    assert lines[0].startswith("1 trace · mean |judge − human| 0.10")
    assert (
        lines[1]
        == "1 label accepted from the judge left out (a copy of its score agrees by construction)"
    )


def test_a_human_relabel_after_accepting_counts_again(store: TraceStore) -> None:
    accept_judge_score(store, "t1")
    store.set_label("t1", feedback=0.2)  # the human disagrees after all
    ag = agreement(store)
    assert ag.n == 2 and ag.judge_accepted == 0


def test_only_judge_accepted_labels_say_so(tmp_path: Path) -> None:
    s = TraceStore(tmp_path / "traces.db")
    try:
        s.save_many([Trace(trace_id="a", query="q", result="r", started_at=1.0)])
        with JudgeStore.for_store(s) as js:
            js.save([JudgeScore("a", 0.8, "", "okj", "h", 1.0)])
        accept_judge_score(s, "a")
        assert agreement(s).lines() == [
            "no trace has both a human label and a judge score · 1 label accepted from the "
            "judge left out (a copy of its score agrees by construction)"
        ]
    finally:
        s.close()
