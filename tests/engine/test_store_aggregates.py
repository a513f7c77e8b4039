"""Totals kept current by triggers (issue 15): after any mix of saves, labels,
OpenJarvis-style UPDATEs and inserts, and deletes, ``cube()``, ``feedback_stats()``
and ``tool_counts()`` equal a fresh scan of the mirror."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.core.types import StepType, TraceStep
from jarvis_tui.traces import TraceStore
from jarvis_tui.traces import store as store_mod
from tests.engine.conftest import build_trace

QUERIES = ["solve 2x + 3 = 7", "def f(x): return x", "write a poem about rain", "hello there"]
AGENTS = ["simple", "react"]
MODELS = ["qwen3:8b", "llama3.1:8b", "gpt [/] mini"]
TOOLS = ["calculator", "web_search", "code_exec"]
SCORES = [None, 0.0, 0.3, 0.7, 0.9, 1.0]
OUTCOMES = [None, "success", "failure"]

# --------------------------------------------------------------------------- the scans


def _scan_cube(db: Path, q: float) -> dict:
    """The per-trace scan cube() ran before the totals existed."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT r.qclass, r.model, r.agent, r.outcome, count(*), count(r.feedback),"
            " total(r.feedback), total(r.feedback * r.feedback), total(r.latency),"
            " total(r.tokens), total(r.feedback >= ?),"
            " total(CASE WHEN r.feedback >= ? THEN r.feedback END)"
            " FROM jt_rows r GROUP BY r.qclass, r.model, r.agent, r.outcome",
            (q, q),
        ).fetchall()
    finally:
        conn.close()
    return {tuple(r[:4]): r[4:] for r in rows}


def _scan_tools(db: Path, min_fb: float | None) -> dict:
    conn = sqlite3.connect(db)
    cond = "" if min_fb is None else f" AND r.feedback >= {min_fb}"
    try:
        rows = conn.execute(
            "SELECT r.qclass, r.agent, json_extract(s.input, '$.tool') AS tool, count(*)"
            " FROM jt_rows r JOIN traces t ON t.id = r.id JOIN trace_steps s"
            " ON s.trace_id = t.trace_id WHERE s.step_type = 'tool_call'"
            " AND (r.outcome IS NULL OR r.outcome != 'failure')" + cond + " GROUP BY 1, 2, 3"
        ).fetchall()
    finally:
        conn.close()
    out: dict = {}
    for qc, agent, tool, n in rows:
        if isinstance(tool, str) and tool:
            out.setdefault((qc, agent), {})[tool] = n
    return out


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _assert_equal_to_scan(store: TraceStore, db: Path) -> None:
    for q in (0.0, 0.7, 0.95):
        got = {
            (d["qclass"], d["model"], d["agent"], d["outcome"]): d
            for d in store.cube(min_quality=q)
        }
        want = _scan_cube(db, q)
        assert set(got) == set(want)
        for key, w in want.items():
            d = got[key]
            assert (d["n"], d["rated"], d["q_n"]) == (w[0], w[1], int(w[6])), key
            for name, value in zip(
                ("fb_sum", "fb_sq_sum", "latency_sum", "tokens_sum", "q_fb_sum"),
                (w[2], w[3], w[4], w[5], w[7]),
                strict=True,
            ):
                assert _close(d[name], value), (key, name, d[name], value)
    stats = {(d["qclass"], d["model"]): d for d in store.feedback_stats()}
    want_stats: dict = {}
    for (qc, model, _agent, outcome), w in _scan_cube(db, 0.0).items():
        acc = want_stats.setdefault((qc, model), [0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0])
        for i, v in enumerate((w[0], w[1], w[2], w[3], w[4], w[5])):
            acc[i] += v
        acc[6] += w[0] if outcome == "success" else 0
        acc[7] += w[0] if outcome == "failure" else 0
    assert set(stats) == set(want_stats)
    for key, (n, rated, fb, fb_sq, lat, tok, succ, fail) in want_stats.items():
        d = stats[key]
        assert (d["n"], d["rated"], d["success"], d["failure"]) == (n, rated, succ, fail)
        assert _close(d["fb_sum"], fb) and _close(d["fb_sq_sum"], fb_sq)
        assert _close(d["latency"], lat / n) and _close(d["tokens"], tok / n)
    for min_fb in (None, 0.7):
        assert store.tool_counts(min_feedback=min_fb, exclude_failures=True) == _scan_tools(
            db, min_fb
        )


# --------------------------------------------------------------------------- the property


def _trace(i: int, draw_vals: tuple) -> object:
    qi, ai, mi, si, oi, tools = draw_vals
    steps = [TraceStep(StepType.ROUTE, 0.0, 0.1, {"query": "q"}, {})]
    steps += [TraceStep(StepType.TOOL_CALL, 0.0, 0.1, {"tool": TOOLS[t]}, {}) for t in tools]
    steps.append(TraceStep(StepType.TOOL_CALL, 0.0, 0.1, {"no": "tool"}, {}))
    return build_trace(
        i, query=QUERIES[qi], agent=AGENTS[ai], model=MODELS[mi], feedback=SCORES[si],
        outcome=OUTCOMES[oi], total_latency_seconds=0.1 * (i % 17), total_tokens=7 * i,
        steps=steps,
    )  # fmt: skip


_vals = st.tuples(
    st.integers(0, len(QUERIES) - 1),
    st.integers(0, len(AGENTS) - 1),
    st.integers(0, len(MODELS) - 1),
    st.integers(0, len(SCORES) - 1),
    st.integers(0, len(OUTCOMES) - 1),
    st.lists(st.integers(0, len(TOOLS) - 1), max_size=3),
)
_op = st.one_of(
    st.tuples(st.just("save"), st.lists(_vals, min_size=1, max_size=6)),
    st.tuples(
        st.just("label"),
        st.integers(0, 10**6),
        st.integers(0, len(SCORES) - 1),
        st.integers(0, len(OUTCOMES) - 1),
    ),  # fmt: skip
    st.tuples(
        st.just("oj_update"),
        st.integers(0, 10**6),
        st.integers(0, len(SCORES) - 1),
        st.integers(0, len(OUTCOMES) - 1),
    ),  # fmt: skip
    st.tuples(st.just("oj_insert"), _vals),
    st.tuples(st.just("delete"), st.integers(0, 10**6)),
)


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(_op, min_size=1, max_size=25))
def test_totals_equal_a_fresh_scan_after_any_changes(ops):
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "traces.db"
        store = TraceStore(db)
        oj = sqlite3.connect(db, timeout=5)  # OpenJarvis's own connection: plain SQL
        try:
            n = 0
            for op in ops:
                ids = [r[0] for r in oj.execute("SELECT trace_id FROM traces ORDER BY id")]
                if op[0] == "save":
                    store.save_many([_trace(n + k, v) for k, v in enumerate(op[1])])
                    n += len(op[1])
                elif op[0] == "label" and ids:
                    store.set_label(ids[op[1] % len(ids)], feedback=SCORES[op[2]],
                                    outcome=OUTCOMES[op[3]])  # fmt: skip
                elif op[0] == "oj_update" and ids:
                    oj.execute(
                        "UPDATE traces SET feedback = ?, outcome = ? WHERE trace_id = ?",
                        (SCORES[op[2]], OUTCOMES[op[3]], ids[op[1] % len(ids)]),
                    )
                    oj.commit()
                elif op[0] == "oj_insert":
                    t = _trace(n, op[1])
                    n += 1
                    oj.execute(
                        "INSERT INTO traces (trace_id, query, agent, model, outcome, feedback,"
                        " started_at, total_tokens, total_latency_seconds)"
                        " VALUES (?,?,?,?,?,?,?,?,?)",
                        (t.trace_id, t.query, t.agent, t.model, t.outcome, t.feedback,
                         t.started_at, t.total_tokens, t.total_latency_seconds),
                    )  # fmt: skip
                    for k, s in enumerate(t.steps):
                        oj.execute(
                            "INSERT INTO trace_steps (trace_id, step_index, step_type, input)"
                            " VALUES (?,?,?,?)",
                            (t.trace_id, k, s.step_type.value, str(s.input).replace("'", '"')),
                        )
                    oj.commit()
                    store.sync()
                elif op[0] == "delete" and ids:
                    oj.execute(
                        "DELETE FROM jt_rows WHERE id = (SELECT id FROM traces WHERE trace_id = ?)",
                        (ids[op[1] % len(ids)],),
                    )
                    oj.commit()
            store.sync()
            _assert_equal_to_scan(store, db)
        finally:
            oj.close()
            store.close()


# --------------------------------------------------------------------------- the paths in


@pytest.fixture
def mixed():
    return [
        _trace(i, (i % 4, i % 2, i % 3, i % 6, (i // 2) % 3, [i % 3, (i + 1) % 3][: i % 3]))
        for i in range(120)
    ]


def test_first_open_of_a_large_openjarvis_file_keeps_totals(tmp_path, mixed, monkeypatch):
    """The large-file path (mirrored in short transactions) and the small one agree."""
    for bulk_rows in (10**6, 10):
        monkeypatch.setattr(store_mod, "BULK_MIGRATE_ROWS", bulk_rows)
        db = tmp_path / f"oj-{bulk_rows}.db"
        with TraceStore(db) as s:
            s.save_many(mixed)
        conn = sqlite3.connect(db)  # as OpenJarvis leaves it: none of our tables
        for kind, name in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name LIKE 'jt_%' AND type != 'index'"
            " ORDER BY type = 'table'"
        ).fetchall():
            conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
        conn.commit()
        conn.close()
        with TraceStore(db) as s:
            _assert_equal_to_scan(s, db)
            s.set_label(mixed[3].trace_id, feedback=0.9, outcome="success")
            _assert_equal_to_scan(s, db)


def test_a_schema_3_store_gets_its_totals_on_open(tmp_path, mixed):
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(mixed)
    conn = sqlite3.connect(db)  # what schema 3 had: no totals, no tool table
    for name in ("jt_rows_agg_au", "jt_rows_agg_ad"):
        conn.execute(f"DROP TRIGGER {name}")
    for name in ("jt_agg", "jt_tools", "jt_agg_tool", "jt_thresholds"):
        conn.execute(f"DROP TABLE {name}")
    conn.execute("UPDATE jt_meta SET value = 3 WHERE key = 'schema'")
    conn.commit()
    conn.close()
    with TraceStore(db) as s:
        _assert_equal_to_scan(s, db)
        assert s.tool_counts(exclude_failures=True)  # from the totals, backfilled
        s.set_label(mixed[0].trace_id, feedback=0.2)
        _assert_equal_to_scan(s, db)


def test_read_only_store_keeps_totals_of_openjarvis_changes(tmp_path, mixed):
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(mixed)
    with TraceStore(db, read_only=True) as ro:
        oj = sqlite3.connect(db)
        oj.execute("UPDATE traces SET feedback = 0.8, outcome = 'success' WHERE id % 5 = 0")
        oj.commit()
        oj.close()
        ro.sync()
        with TraceStore(db) as rw:
            want_cube = sorted(map(sorted, (d.items() for d in rw.cube(min_quality=0.7))))
            want_tools = rw.tool_counts(exclude_failures=True)
        got = sorted(map(sorted, (d.items() for d in ro.cube(min_quality=0.7))))
        assert len(got) == len(want_cube)
        for g, w in zip(got, want_cube, strict=True):
            assert [k for k, _ in g] == [k for k, _ in w]
            for (_, a), (_, b) in zip(g, w, strict=True):
                assert a == b or (isinstance(a, float) and _close(a, b))
        assert ro.tool_counts(exclude_failures=True) == want_tools


def test_rebuild_aggregates_is_a_no_op_on_a_consistent_store(tmp_path, mixed):
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(mixed)
        before = s.cube(min_quality=0.5)
        s.rebuild_aggregates()
        after = s.cube(min_quality=0.5)
        assert [(d["qclass"], d["n"]) for d in before] == [(d["qclass"], d["n"]) for d in after]
        _assert_equal_to_scan(s, db)


def test_a_schema_4_store_gets_bands_and_hour_totals_in_short_transactions(tmp_path, mixed):
    """Schema 4 kept "rated >= th" totals per threshold and no hour totals: the open
    turns them into bands (arithmetic on the totals) and counts the hours by range."""
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(mixed)
    conn = sqlite3.connect(db)  # what schema 4 left: cumulative totals, no jt_hour
    conn.execute("DELETE FROM jt_agg")
    conn.execute(
        "INSERT INTO jt_agg SELECT coalesce(qclass, ''), model, agent, coalesce(outcome, ''),"
        " t.th, count(*), count(feedback), total(feedback), total(feedback * feedback),"
        " total(latency), total(tokens) FROM jt_rows r JOIN jt_thresholds t"
        " ON (t.th < -1.0 OR r.feedback >= t.th) GROUP BY 1, 2, 3, 4, 5"
    )
    conn.execute("DELETE FROM jt_agg_tool")
    conn.execute(
        "INSERT INTO jt_agg_tool SELECT coalesce(qclass, ''), model, agent,"
        " coalesce(outcome, ''), t.th, j.tool, sum(j.calls) FROM jt_tools j"
        " JOIN jt_rows r ON r.id = j.id JOIN jt_thresholds t"
        " ON (t.th < -1.0 OR r.feedback >= t.th) GROUP BY 1, 2, 3, 4, 5, 6"
    )
    conn.execute("DROP TABLE jt_hour")
    conn.execute("UPDATE jt_meta SET value = 4 WHERE key = 'schema'")
    conn.commit()
    conn.close()
    phases = []
    with TraceStore(db, progress=lambda phase, done, total: phases.append(phase)) as s:
        assert "hour totals" in phases
        assert s.hours_complete()
        _assert_equal_to_scan(s, db)
        s.set_label(mixed[5].trace_id, feedback=0.75, outcome="failure")
        _assert_equal_to_scan(s, db)
    conn = sqlite3.connect(db)
    hours = conn.execute("SELECT total(n), total(rated), total(fb) FROM jt_hour").fetchone()
    rows = conn.execute("SELECT count(*), count(feedback), total(feedback) FROM jt_rows").fetchone()
    conn.close()
    assert hours[0] == rows[0] and hours[1] == rows[1] and _close(hours[2], rows[2])


def test_an_hour_backfill_cut_short_resumes_at_the_next_open(tmp_path, mixed):
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(mixed)
    conn = sqlite3.connect(db)  # a kill after the schema transaction, mid-backfill
    conn.execute("DELETE FROM jt_hour")
    conn.execute("INSERT INTO jt_meta(key, value) VALUES ('hours_from', 120)")
    conn.commit()
    conn.close()
    with TraceStore(db) as s:
        assert s.hours_complete()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT total(n) FROM jt_hour").fetchone()[0] == len(mixed)
    conn.close()
