"""Bulk saves feed the FTS index in one statement; OpenJarvis's trigger survives intact."""

from __future__ import annotations

import sqlite3

from jarvis_tui.core.types import Trace
from jarvis_tui.traces import TraceFilter, TraceStore


def _trigger_sql(db) -> str | None:
    conn = sqlite3.connect(db)
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type='trigger' AND name='traces_fts_ai'"
    ).fetchone()
    conn.close()
    return row[0] if row else None


def test_bulk_save_indexes_every_row_and_keeps_the_trigger(oj_copy) -> None:
    db = oj_copy("traces.db")
    original = _trigger_sql(db)
    assert original
    store = TraceStore(db)
    batch = [
        Trace(trace_id=f"bulk{i}", query=f"zebra crossing number {i}", result="striped",
              started_at=2e9 + i)
        for i in range(500)
    ]  # fmt: skip
    assert store.save_many(batch, batch_size=200) == 500
    assert _trigger_sql(db) == original  # byte-identical, as OpenJarvis created it
    assert len(store.search("zebra", limit=1000)) == 500
    assert store.count_filtered(TraceFilter(text="zebra striped")) == (500, 0)
    # a single save goes through the trigger and is found too
    store.save(Trace(trace_id="one", query="lonely zebra", started_at=3e9))
    assert {r["trace_id"] for r in store.search("lonely")} == {"one"}
    # OpenJarvis inserting on its own connection is still indexed by its trigger
    raw = sqlite3.connect(db)
    raw.execute(
        "INSERT INTO traces (trace_id, query, agent, model, engine, result, outcome, feedback,"
        " started_at, ended_at, total_tokens, total_latency_seconds, metadata)"
        " VALUES ('oj', 'okapi sighting', '', '', '', '', NULL, NULL, 4e9, 4e9, 0, 0, '{}')"
    )
    raw.commit()
    raw.close()
    assert {r["trace_id"] for r in store.search("okapi")} == {"oj"}
    # the FTS index is consistent with its content table
    check = sqlite3.connect(db)
    check.execute("INSERT INTO traces_fts(traces_fts, rank) VALUES('integrity-check', 1)")
    check.close()
    store.close()


def test_failed_bulk_batch_leaves_trigger_and_rows_untouched(tmp_path) -> None:
    db = tmp_path / "traces.db"
    store = TraceStore(db)
    original = _trigger_sql(db)
    good = [Trace(trace_id=f"g{i}", query="q", started_at=i) for i in range(100)]
    bad = good[:99] + [Trace(trace_id="bad", query="q", feedback=7.0)]
    try:
        store.save_many(bad)
    except ValueError:
        pass
    else:
        raise AssertionError("a score of 7 must be refused")
    assert store.count() == 0 and _trigger_sql(db) == original
    store.close()
