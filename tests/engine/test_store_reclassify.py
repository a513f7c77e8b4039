"""A store whose query classes came from an older classifier is re-classified on open
(issue: store round three): short transactions, resumable from a watermark, totals
moved with the classes, in the background above ``RECLASS_BLOCKING_ROWS``."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from jarvis_tui.core.types import StepType, TraceStep
from jarvis_tui.learning.classify import CLASSIFIER_VERSION, classify_query
from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.traces import store as store_mod
from tests.engine.conftest import build_trace
from tests.engine.test_store_aggregates import _assert_equal_to_scan

QUERIES = [
    "for i in range(10): print(i)",
    "Find the derivative of sin(x)",
    "hi",
    "tell me about the history of the printing press and how it spread across Europe",
    "SELECT name FROM users WHERE id = 3",
    "x" * 600,
]


def _traces(n: int) -> list:
    out = []
    for i in range(n):
        steps = [TraceStep(StepType.TOOL_CALL, 1.7e9 + i, 0.1, {"tool": "calculator"}, {})]
        out.append(
            build_trace(
                i, query=QUERIES[i % len(QUERIES)], steps=steps if i % 3 == 0 else [],
                feedback=[None, 0.2, 0.8, 1.0][i % 4], outcome=[None, "success", "failure"][i % 3],
            )
        )  # fmt: skip
    return out


def _make_stale(db: Path, version: object = 1) -> None:
    """What an older jarvis-tui left: every class 'general', totals counted that way,
    and the classifier version it used (or none recorded: *version* None)."""
    conn = sqlite3.connect(db)
    conn.execute("UPDATE jt_rows SET qclass = 'general'")
    if version is None:
        conn.execute("DELETE FROM jt_meta WHERE key = 'classifier'")
    else:
        conn.execute("UPDATE jt_meta SET value = ? WHERE key = 'classifier'", (version,))
    conn.commit()
    conn.close()
    with TraceStore(db, migrate=False) as s:  # migrate=False: no re-classification yet
        s.rebuild_aggregates()


def _classes(db: Path) -> set[tuple[str, str]]:
    """Every (query, stored class) pair."""
    conn = sqlite3.connect(db)
    try:
        return set(
            conn.execute("SELECT t.query, r.qclass FROM jt_rows r JOIN traces t ON t.id = r.id")
        )
    finally:
        conn.close()


def _meta(db: Path, key: str) -> object:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT value FROM jt_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


@pytest.fixture
def stale(tmp_path):
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(_traces(60))
    assert _meta(db, "classifier") == CLASSIFIER_VERSION
    return db


@pytest.mark.parametrize("version", [1, None])
def test_an_open_reclassifies_stale_classes_and_keeps_totals(stale, version):
    _make_stale(stale, version)
    assert {c for _, c in _classes(stale)} == {"general"}
    with TraceStore(stale) as s:
        assert _classes(stale) == {(q, classify_query(q)) for q in QUERIES}
        _assert_equal_to_scan(s, stale)
        counts = s.class_counts()
        assert counts["code"] == 20 and counts["math"] == 10
        assert s.page(TraceFilter(query_class="math")).rows
        assert s.reclassifying is None
    assert _meta(stale, "classifier") == CLASSIFIER_VERSION


def test_an_open_with_the_current_classifier_changes_nothing(stale):
    conn = sqlite3.connect(stale)
    conn.execute("UPDATE jt_rows SET qclass = 'general' WHERE id = 1")  # deliberately odd
    conn.commit()
    conn.close()
    with TraceStore(stale):
        pass
    conn = sqlite3.connect(stale)
    assert conn.execute("SELECT qclass FROM jt_rows WHERE id = 1").fetchone()[0] == "general"
    conn.close()  # not re-run: the version matched


def test_a_large_store_reclassifies_in_the_background_and_says_how_far(stale, monkeypatch):
    _make_stale(stale)
    monkeypatch.setattr(store_mod, "RECLASS_BLOCKING_ROWS", 10)
    monkeypatch.setattr(store_mod, "RECLASS_BATCH", 7)
    gate = threading.Event()
    real = TraceStore._classify_row
    calls = []

    def slow(self, tid, query):  # the first batch waits until the test has looked
        calls.append(1)
        if len(calls) == 8:
            gate.wait(10)
        return real(self, tid, query)

    monkeypatch.setattr(TraceStore, "_classify_row", slow)
    with TraceStore(stale) as s:
        state = s.reclassifying
        assert state is not None and state[1] == 60 and state[0] < 60
        assert s.page(limit=5).rows  # the store answers meanwhile
        s.set_label(s.page(limit=1).rows[0].trace_id, feedback=0.4)  # and takes labels
        gate.set()
        assert s.wait_reclassified(30)
        assert s.reclassifying is None
        assert _classes(stale) == {(q, classify_query(q)) for q in QUERIES}
        _assert_equal_to_scan(s, stale)
    assert _meta(stale, "classifier") == CLASSIFIER_VERSION


def test_a_killed_reclassification_resumes_from_its_watermark(stale, monkeypatch):
    _make_stale(stale)
    monkeypatch.setattr(store_mod, "RECLASS_BLOCKING_ROWS", 0)
    with TraceStore(stale, migrate=False) as s:
        stop = threading.Event()
        s.reclassify(batch=20, stop=stop, progress=lambda *a: stop.set())  # one batch
        assert _meta(stale, "reclass_done") == 20
        assert _meta(stale, "classifier") == 1  # not finished
        _assert_equal_to_scan(s, stale)  # the totals moved with the 20 classes
    seen = []
    monkeypatch.setattr(store_mod, "RECLASS_BLOCKING_ROWS", 10**6)
    real = TraceStore._classify_row
    monkeypatch.setattr(
        TraceStore, "_classify_row", lambda self, t, q: seen.append(t) or real(self, t, q)
    )
    with TraceStore(stale) as s:
        assert len(seen) == 40  # only the rest: ids 21..60
        assert _classes(stale) == {(q, classify_query(q)) for q in QUERIES}
        _assert_equal_to_scan(s, stale)
    assert _meta(stale, "reclass_done") is None


def test_traces_saved_during_a_reclassification_get_the_new_classes(stale, monkeypatch):
    _make_stale(stale)
    with TraceStore(stale, migrate=False) as s:
        stop = threading.Event()
        s.reclassify(batch=10, stop=stop, progress=lambda *a: stop.set())
        s.save_many([build_trace(1000 + i, query=QUERIES[1]) for i in range(5)])
        s.reclassify()
        _assert_equal_to_scan(s, stale)
        assert s.class_counts()["math"] == 15
