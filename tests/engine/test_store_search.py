"""Ranked search that never ranks a million rows (issue 15): bm25 over the newest
``RANK_WINDOW`` matches, exact below it, every match counted, time order as before."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jarvis_tui.traces import TraceStore
from jarvis_tui.traces import store as store_mod
from jarvis_tui.traces.store import ALL_ROWS_NOTE, RANK_WINDOW
from tests.engine.conftest import build_trace

WORDS = ["kernel", "ledger", "zebra", "csv", "plot", "cloud"]


def _full_rank(db, expr: str, limit: int) -> list[str]:
    """Every match ranked (the query search() ran before): the reference."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT t.trace_id FROM traces_fts f JOIN traces t ON t.id = f.rowid"
            " WHERE traces_fts MATCH ? ORDER BY f.rank, f.rowid DESC LIMIT ?",
            (expr, limit),
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def wordy(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "traces.db"
    traces = []
    for i in range(300):
        words = [WORDS[(i * k + i // 7) % len(WORDS)] for k in range(1, 2 + i % 9)]
        traces.append(build_trace(i, query=" ".join(words), result=f"answer {i % 13}"))
    with TraceStore(path) as s:
        s.save_many(traces)
    s = TraceStore(path)
    yield path, s
    s.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=2, unique=True),
    limit=st.integers(1, 30),
)
def test_ranked_search_is_exact_below_the_window(wordy, words, limit):
    path, s = wordy
    text = " ".join(words)
    got = s.search_matches(text, limit=limit)
    expr = store_mod.to_fts_query(text)[0]
    assert [r["trace_id"] for r in got.rows] == _full_rank(path, expr, limit)
    assert [r["trace_id"] for r in s.search(text, limit=limit)] == _full_rank(path, expr, limit)
    assert got.total == s.count_filtered(store_mod.TraceFilter(text=text))[0]
    assert got.ranked == got.total  # every match ranked: no approximation note
    assert "newest" not in got.note


def test_above_the_window_ranks_the_newest_matches_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "RANK_WINDOW", 4)
    with TraceStore(tmp_path / "traces.db") as s:
        # The best match for "zebra" is the OLDEST trace; 9 newer ones match weakly.
        filler = " ".join(f"w{k}" for k in range(40))
        s.save_many(
            [build_trace(0, query="zebra zebra zebra")]
            + [build_trace(i, query=f"zebra {filler}") for i in range(1, 10)]
        )
        got = s.search_matches("zebra", limit=3)
        assert got.total == 10  # every match counted
        assert got.ranked == 4
        assert got.note == "best of the newest 4 matches"
        assert [r["trace_id"] for r in got.rows] == ["t00009", "t00008", "t00007"]
        # Time order: newest first, no ranking, exact total.
        by_time = s.search_matches("zebra", limit=3, order="time")
        assert [r["trace_id"] for r in by_time.rows] == ["t00009", "t00008", "t00007"]
        assert (by_time.total, by_time.ranked) == (10, 0)
        # At most the window: exact again.
        exact = s.search_matches("zebra zebra", limit=1)
        assert exact.ranked <= 4


def test_window_note_uses_the_real_window():
    assert RANK_WINDOW == 5_000


@pytest.mark.parametrize("text", ["*", "AND", "OR", '""', "   ", "-", "NOT *"])
def test_operators_only_count_everything_in_time_order(wordy, text):
    _, s = wordy
    got = s.search_matches(text, limit=5)
    assert got.total == 300
    assert got.ranked == 0
    assert [r["trace_id"] for r in got.rows] == [f"t{i:05d}" for i in range(299, 294, -1)]
    if text.strip():
        assert ALL_ROWS_NOTE in got.note


def test_agent_filter_applies_inside_the_window(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "RANK_WINDOW", 2)
    with TraceStore(tmp_path / "traces.db") as s:
        s.save_many(
            [build_trace(i, query="zebra", agent="react" if i < 3 else "simple") for i in range(8)]
        )
        got = s.search_matches("zebra", agent="react", limit=10)
        assert got.total == 3
        assert {r["trace_id"] for r in got.rows} == {"t00001", "t00002"}  # newest 2 of react
        assert all(r["agent"] == "react" for r in got.rows)


def test_no_match_and_bad_order(wordy):
    _, s = wordy
    got = s.search_matches("nothingmatchesthis")
    assert (got.rows, got.total, got.ranked) == ([], 0, 0)
    with pytest.raises(ValueError, match="unknown order"):
        s.search_matches("zebra", order="sideways")


def test_a_word_in_most_traces_of_a_large_store_is_not_ranked_and_says_so(tmp_path, monkeypatch):
    """bm25 gives a word in over half of the traces (almost) no weight, and its first
    call passes over every match: the newest matches instead, said in the note."""
    monkeypatch.setattr(store_mod, "RANK_WINDOW", 4)
    monkeypatch.setattr(store_mod, "COMMON_MIN_MATCHES", 5)
    with TraceStore(tmp_path / "traces.db") as s:
        s.save_many(
            [build_trace(i, query="zebra " * (1 + i % 3) + "tail") for i in range(12)]
            + [build_trace(100 + i, query=f"okapi {i}") for i in range(3)]
        )
        got = s.search_matches("zebra", limit=3)
        assert got.ranked == 0 and got.total == 12
        assert got.note == store_mod.COMMON_NOTE
        assert [r["trace_id"] for r in got.rows] == ["t00011", "t00010", "t00009"]
        rare = s.search_matches("okapi", limit=3)  # below the window: ranked, exact
        assert rare.ranked == 3 and rare.note == ""
