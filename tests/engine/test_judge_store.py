"""The LLM judge beside the human: scores apart, never a 0 for a failure, agreement."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.evals.judge import (
    JUDGE_TABLE,
    JudgeStore,
    QueryJudge,
    accept_judge_score,
    agreement,
    judge_traces,
)
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.learning.optimize.backends import OpenAICompatibleBackend
from jarvis_tui.traces.store import TraceStore


def _judge_answer(user: str, system: str) -> str:
    """Scores the number written in the answer; 'garbage' answers get garbage back."""
    answer = user.split("## Assistant's answer\n", 1)[1]
    if "garbage" in answer:
        return "I think it is fine?"
    value = float(answer.split()[1])
    return f'```json\n{{"score": {value}, "reason": "looks {value}"}}\n```'


@pytest.fixture()
def store(tmp_path: Path):
    s = TraceStore(tmp_path / "traces.db")
    human = [0.9, 0.8, 0.2, 0.1, 0.5, None, None, None]
    judged = ["0.85", "0.9", "0.3", "0.2", "0.5", "0.7", "garbage", "0.0"]
    s.save_many(
        Trace(
            trace_id=f"t{i}",
            query=f"question {i}",
            result=f"answer {j} text",
            agent="simple",
            model="m",
            feedback=h,
            started_at=1_700_000_000.0 + i,
        )  # fmt: skip
        for i, (h, j) in enumerate(zip(human, judged, strict=True))
    )
    yield s
    s.close()


def _human(store: TraceStore) -> dict:
    return {t.trace_id: t.feedback for t in store.iter_traces(with_steps=False)}


def test_judge_scores_apart_and_never_change_labels(store: TraceStore) -> None:
    before = _human(store)
    seen = []
    with ChatServer({"judge": _judge_answer}) as srv:
        judge = QueryJudge(OpenAICompatibleBackend(srv.url, role="judge", retries=0), "judge")
        run = judge_traces(store, judge, progress=lambda d, t, e: seen.append((d, t, e)))
        assert "## Reference answer" not in srv.requests[0]["messages"][1]["content"]
    assert (run.total, run.scored, run.errors) == (8, 7, 1)
    assert "no score" in run.first_error
    assert seen[-1] == (8, 8, 1)
    assert _human(store) == before  # human labels untouched
    with JudgeStore(store.path) as js:
        scores = js.scores()
    assert "t6" not in scores  # garbage: missing, never 0
    assert scores["t7"].score == 0.0 and scores["t0"].score == 0.85
    assert scores["t0"].judge_model == "judge" and len(scores["t0"].prompt_hash) == 12
    # OpenJarvis's traces table has no judge column: the scores are in our table only
    conn = sqlite3.connect(store.path)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(traces)")]
    assert (
        "score" not in cols
        and conn.execute(f"SELECT count(*) FROM {JUDGE_TABLE}").fetchone()[0] == 7
    )
    conn.close()


def test_judge_down_leaves_scores_missing(store: TraceStore) -> None:
    with ChatServer({"judge": _judge_answer}) as srv:
        url = srv.url
    judge = QueryJudge(OpenAICompatibleBackend(url, role="judge", retries=0, timeout=2), "judge")
    run = judge_traces(store, judge, limit=3)
    assert (run.scored, run.errors) == (0, 1) and "judge" in run.first_error
    assert run.stopped is not None and run.stopped.endswith("stopped after 1 of 3")
    with JudgeStore(store.path) as js:
        assert js.scores() == {}


def test_cancel_keeps_what_was_scored(store: TraceStore) -> None:
    cancel = threading.Event()
    with ChatServer({"judge": _judge_answer}) as srv:
        judge = QueryJudge(OpenAICompatibleBackend(srv.url, role="judge"), "judge")
        cancel.set()
        run = judge_traces(store, judge, cancel=cancel)
    assert run.cancelled and run.scored == 0


def test_accept_and_agreement(store: TraceStore) -> None:
    with ChatServer({"judge": _judge_answer}) as srv:
        judge = QueryJudge(OpenAICompatibleBackend(srv.url, role="judge"), "judge")
        judge_traces(store, judge)
        again = judge_traces(store, judge)  # already scored by this judge: skipped
    assert (again.total, again.skipped) == (1, 7)  # only the unscored one is tried again
    ag = agreement(store)
    assert ag.n == 5
    assert ag.mean_abs_diff == pytest.approx((0.05 + 0.1 + 0.1 + 0.1 + 0.0) / 5)
    assert ag.pearson > 0.95
    assert ag.confusion["high"]["high"] == 2 and ag.confusion["low"]["low"] == 2
    assert ag.confusion["mid"]["mid"] == 1
    assert "5 traces" in ag.lines()[0]

    accept_judge_score(store, "t5")
    assert store.get("t5").feedback == 0.7
    store.set_label("t3", note="mine")
    accept_judge_score(store, "t3")  # labelled: the judge replaces the score, not the note
    assert store.note("t3") == "mine" and store.get("t3").feedback == 0.2
    hist = store.label_history("t5")
    assert [(h.field, h.new_value, h.source) for h in hist] == [("feedback", 0.7, "judge-accepted")]
    assert store.label_history("t3")[-1].old_value == 0.1
    with pytest.raises(KeyError):
        accept_judge_score(store, "t6")  # the judge gave no usable score
    assert store.get("t6").feedback is None
    assert json.dumps(agreement(store).confusion)  # plain data
