"""Feedback that is no rating (±inf, NaN, 1e308, text) never bricks a store (issue 12).

OpenJarvis's ``traces.feedback`` is a plain REAL column: its ``update_feedback`` or its
``save`` can leave +inf, -inf, NaN (which SQLite keeps as NULL) or a number whose
square overflows. Before schema 6 such values reached the totals the store keeps
(``inf - inf`` is NaN, NULL in a NOT NULL column), so the store failed to open or a
relabel failed. Here a file written as OpenJarvis writes it (the fixtures, then plain
``sqlite3`` with bound parameters) gets random feedback of every kind, before and
after jarvis-tui first opened it: it opens, every aggregate is finite and counts
exactly the ratings on disk, every row can be relabelled, and it opens again.
"""

from __future__ import annotations

import math
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jarvis_tui.learning.outcomes import VersionSpan, outcomes_for_spans
from jarvis_tui.traces import TraceStore
from tests.engine.conftest import OJ_FIXTURES

SOURCES = [OJ_FIXTURES / "traces.db", OJ_FIXTURES.parent / "openjarvis-2026-08" / "traces.db"]
START = 1760000000.0  # the fixtures' first trace; all 300 lie in one hour

ODD = [math.inf, -math.inf, math.nan, 1e308, -1e308, 1e200, 2.0**53, 1e6, 5e-324, None, 0.5]
feedback_st = st.one_of(
    st.sampled_from(ODD),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
number_st = st.one_of(
    st.sampled_from([math.inf, -math.inf, 1e308, 2.5]), st.floats(allow_nan=False)
)
"""Latencies (NOT NULL in OpenJarvis's schema: NaN, stored as NULL, is refused there)."""


def rating(value: Any) -> float | None:
    """What counts as a rating: a number within the store's RATING_LIMIT (1e6)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= 1e6:
        return float(value)
    return None


def oj_update(db: Path, changes: Iterable[tuple[str, Any]]) -> None:
    """OpenJarvis's update_feedback: a plain UPDATE on its own connection."""
    conn = sqlite3.connect(db)
    conn.executemany(
        "UPDATE traces SET feedback = ? WHERE trace_id = ?", [(v, t) for t, v in changes]
    )
    conn.commit()
    conn.close()


def oj_save(db: Path, rows: list[tuple[str, Any, Any, Any]]) -> None:
    """OpenJarvis's save: one INSERT with bound values per trace."""
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO traces (trace_id, query, agent, model, engine, result, outcome, feedback,"
        " started_at, ended_at, total_tokens, total_latency_seconds, metadata)"
        " VALUES (?, 'what is 2 + 2', 'react', 'm', 'e', 'r', NULL, ?, ?, ?, 10, ?, '{}')",
        [
            (tid, fb, START + 10 + i, START + 11 + i, lat)
            for i, (tid, fb, _, lat) in enumerate(rows)
        ],
    )
    conn.commit()
    conn.close()


def finite(*values: Any) -> bool:
    return all(v is None or math.isfinite(v) for v in values)


def check(store: TraceStore, db: Path) -> None:
    """Every aggregate is finite and counts exactly the ratings on disk."""
    conn = sqlite3.connect(db)
    on_disk: dict[str, list[float]] = {}
    traces: dict[str, int] = {}
    for agent, fb in conn.execute("SELECT agent, feedback FROM traces"):
        traces[agent] = traces.get(agent, 0) + 1
        r = rating(fb)
        if r is not None:
            on_disk.setdefault(agent, []).append(r)
    hours = conn.execute("SELECT n, rated, fb, fb_sq, latency, tokens FROM jt_hour").fetchall()
    conn.close()
    for row in hours:  # the hour buckets on disk
        assert None not in row and finite(*row), row
    stats = {d["agent"]: d for d in store.feedback_stats(("agent",))}
    assert {a: d["n"] for a, d in stats.items()} == traces
    for agent, d in stats.items():
        ratings = on_disk.get(agent, [])
        assert d["rated"] == len(ratings), agent
        assert finite(d["fb_sum"], d["fb_sq_sum"], d["latency"], d["tokens"]), d
        assert math.isclose(d["fb_sum"], math.fsum(ratings), rel_tol=1e-9, abs_tol=1e-6)
    for min_quality in (0.0, 0.5, 0.7, 0.3):  # 0.3: a threshold registered on first use
        for d in store.cube(min_quality=min_quality):
            assert finite(
                d["fb_sum"], d["fb_sq_sum"], d["latency_sum"], d["tokens_sum"], d["q_fb_sum"]
            ), d
        for d in store.feedback_stats(("qclass", "model"), min_feedback=min_quality):
            assert finite(d["fb_sum"], d["fb_sq_sum"], d["latency"], d["tokens"]), d
    span = [
        VersionSpan(1, "written", start=START - 10.0),
        VersionSpan(2, "written", start=START + 150.0),
    ]
    for agent in traces:
        out = outcomes_for_spans(store, agent, span, use_metadata=False)
        assert out.total_traces == traces[agent]
        for v in out.versions:
            assert finite(v.feedback.mean, v.feedback.low, v.feedback.high, v.feedback_sq_sum), v
            assert finite(v.mean_latency_seconds, v.mean_tokens), v
        assert sum(v.rated for v in out.versions) == len(on_disk.get(agent, []))
        for p in out.series:
            assert finite(p.mean_feedback), p


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    source=st.sampled_from(SOURCES),
    before=st.lists(st.tuples(st.integers(0, 299), feedback_st), max_size=12),
    opened_first=st.booleans(),
    after=st.lists(st.tuples(st.integers(0, 299), feedback_st), max_size=8),
    new=st.lists(st.tuples(feedback_st, number_st), max_size=6),
    relabel=st.lists(st.integers(0, 299), max_size=6),
)
def test_feedback_that_is_no_rating_never_bricks_the_store(
    source: Path, before: list, opened_first: bool, after: list, new: list, relabel: list
) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "traces.db"
        shutil.copyfile(source, db)
        if opened_first:  # jarvis-tui has mirrored the file: OpenJarvis writes go by trigger
            TraceStore(db).close()
        oj_update(db, [(f"tr{i:04d}", fb) for i, fb in before])
        oj_save(db, [(f"new{k}", fb, None, lat) for k, (fb, lat) in enumerate(new)])
        with TraceStore(db) as store:
            check(store, db)
            oj_update(db, [(f"tr{i:04d}", fb) for i, fb in after])  # while it is open
            store.sync()
            check(store, db)
            odd = {f"tr{i:04d}" for i, _ in (*before, *after)} | {
                f"new{k}" for k in range(len(new))
            }
            for tid in sorted(odd | {f"tr{i:04d}" for i in relabel}):
                change = store.set_label(tid, feedback=0.25, outcome="success")
                assert change.new_feedback == 0.25
            check(store, db)
            for tid in sorted(odd)[:3]:  # and back to no rating, by OpenJarvis
                oj_update(db, [(tid, math.inf)])
                store.set_label(tid, feedback=None)
            check(store, db)
        with TraceStore(db) as store:  # it opens again, unchanged
            check(store, db)


def test_a_mirror_written_before_schema_6_is_repaired(tmp_path: Path) -> None:
    """A store whose mirror already holds an infinity (mirrored before schema 6, after
    OpenJarvis wrote one) is repaired at the next open: its totals are recounted, and
    a relabel of that trace (inf - inf in its totals before) works."""
    db = tmp_path / "traces.db"
    shutil.copyfile(SOURCES[0], db)
    TraceStore(db).close()
    oj_update(db, [("tr0000", math.inf)])
    conn = sqlite3.connect(db)  # what an older jarvis-tui mirrored: the value itself
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'jt_rows'"
    ).fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE jt_rows SET feedback = 9e999, latency = 'slow' WHERE id = 1")
    conn.commit()
    conn.close()
    with TraceStore(db) as old:
        old.rebuild_aggregates()  # its totals, with the infinity in them
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT max(fb) FROM jt_hour").fetchone()[0] == math.inf
    conn.execute("UPDATE jt_meta SET value = 5 WHERE key = 'schema'")
    conn.execute("DROP TABLE jt_calls")
    conn.commit()
    conn.close()
    with TraceStore(db) as store:
        check(store, db)
        store.set_label("tr0000", feedback=1.0)
        oj_update(db, [("tr0001", -math.inf)])
        store.set_label("tr0001", feedback=0.0)
        check(store, db)
