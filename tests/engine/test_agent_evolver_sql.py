"""AgentConfigEvolver.analyze() in SQL (issue 15) gives what streaming every trace gives.

The reference is the streaming analysis (``_analyze_streaming``: every trace read as a
``Trace``, one at a time), run on the same store. Workspaces are varied and hostile:
step inputs that are deep, invalid, NaN-bearing, duplicate-keyed, escaped, not UTF-8,
not text; feedback that is text, infinite or too large to square; agents with odd names (two invalid-UTF-8
names that read the same); labels changed after the first open, by us and by
"OpenJarvis" (a plain UPDATE)."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.learning.learning_orchestrator import _AgentView
from jarvis_tui.traces import TraceStore

QUERIES = [
    "'hi there'",
    "'tell me about the history of the printing press in europe please'",
    "'please calculate the area of a circle'",
    "'def f(x): return x  # why does this python code fail'",
    "CAST(X'ff706c656173652063616c63756c617465' AS TEXT)",  # not UTF-8
]
AGENTS = [
    "'simple'", "'react'", "'Assistant (prod)'", "'support bot/v2'", "''", "'名前 \"q\" ''s'",
    "CAST(X'ff' AS TEXT)", "CAST(X'fe' AS TEXT)",  # both read as U+FFFD: one agent
]  # fmt: skip
DEEP = "[" * 150 + "]" * 150
SHALLOW = "[" * 90 + "]" * 90
STEP_INPUTS = [
    '\'{"tool": "calculator", "arguments": {"expression": "2 * 3"}}\'',
    '\'{"tool": "web_search"}\'',
    '\'{"tool": "a", "tool": "b"}\'',  # Python keeps the last
    '\'{"tool": {"name": "x"}}\'',  # not a name
    '\'{"tool": ""}\'',
    "'{\"tool\": 5}'",
    '\'{"tool": "nan_tool", "x": NaN}\'',  # Python reads NaN
    f'\'{{"tool": "deep", "a": {DEEP}}}\'',  # deeper than the store reads
    f'\'{{"tool": "shallow", "a": {SHALLOW}}}\'',
    '\'{"tool": "caf\\u00e9"}\'',
    '\'{"tool": "\\ud800x"}\'',  # a lone surrogate
    '\'{"tool": "a\\"b"}\'',
    "CAST(X'7b22746f6f6c223a2022ff61227d' AS TEXT)",  # {"tool": "\xffa"}
    "X'7b22746f6f6c223a2022626c6f62227d'",  # a BLOB: {"tool": "blob"}
    "42",
    "CAST(X'7b22746f6f6c223a202278227d006a756e6b' AS TEXT)",  # {"tool": "x"}\0junk
    "'{' || char(10) || '  \"tool\": \"pretty\"' || char(10) || '}'",
    '\'[{"tool": "arr"}]\'',
    '\'{"tool": "t", }\'',  # JSON5 only
    "'{tool: \"unquoted\"}'",  # JSON5 only
    "''",
    '\'{"tool": "big", "n": 1e999}\'',
    '\'  {"tool": "spaced"}  \'',
    '\'{"tool": "tool"}\'',
]
STEP_TYPES = ["'tool_call'"] * 6 + ["'respond'", "'TOOL_CALL'", "'route'"]
FEEDBACK = [
    "NULL", "NULL", "0.0", "0.125", "0.5", "0.625", "0.75", "1.0", "1", "-0.25",
    "'abc'", "9e999", "-9e999", "X'01'", "1e308",
]  # fmt: skip
"""No rating: NULL, text, a BLOB, ±inf and 1e308 (beyond the store's RATING_LIMIT)."""
ANY_FEEDBACK = list(range(len(FEEDBACK)))
OUTCOMES = ["NULL", "NULL", "'success'", "'failure'", "'SUCCESS'", "''"]

trace_st = st.tuples(
    st.integers(0, len(QUERIES) - 1),
    st.integers(0, len(AGENTS) - 1),
    st.sampled_from(ANY_FEEDBACK),
    st.integers(0, len(OUTCOMES) - 1),
    st.lists(
        st.tuples(st.integers(0, len(STEP_TYPES) - 1), st.integers(0, len(STEP_INPUTS) - 1)),
        max_size=5,
    ),
)


def build(db: Path, traces: list[tuple], *, start: int = 0) -> None:
    """Insert *traces* the way another process would (raw SQL, OpenJarvis's schema)."""
    conn = sqlite3.connect(db)
    try:
        for i, (q, a, fb, out, steps) in enumerate(traces, start):
            conn.execute(
                "INSERT INTO traces(trace_id, query, agent, model, outcome, feedback, started_at)"
                f" VALUES (?, {QUERIES[q]}, {AGENTS[a]}, 'm', {OUTCOMES[out]}, {FEEDBACK[fb]}, ?)",
                (f"t{i}", float(i)),
            )
            for k, (kind, inp) in enumerate(steps):
                conn.execute(
                    "INSERT INTO trace_steps(trace_id, step_index, step_type, input)"
                    f" VALUES (?, ?, {STEP_TYPES[kind]}, {STEP_INPUTS[inp]})",
                    (f"t{i}", k),
                )
        conn.commit()
    finally:
        conn.close()


def analyses(store: Any, tmp: Path, min_quality: float) -> tuple[list, list]:
    ev = AgentConfigEvolver(store, config_dir=tmp / "agents", min_quality=min_quality)
    return ev.analyze(), ev._analyze_streaming(None, None)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    first=st.lists(trace_st, max_size=25),
    later=st.lists(trace_st, max_size=10),
    relabels=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(ANY_FEEDBACK)), max_size=8),
    ours=st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from([None, 0.0, 0.5, 0.875, 1.0])), max_size=5
    ),
    min_quality=st.sampled_from([0.0, 0.5, 0.625, 0.75, -0.5]),
)
def test_sql_analysis_equals_streaming_on_hostile_workspaces(
    first: list, later: list, relabels: list, ours: list, min_quality: float
) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        db = tmp / "traces.db"
        TraceStore(db).close()
        build(db, first)
        store = TraceStore(db)  # mirrors what was there
        try:
            build(db, later, start=len(first))  # new traces from another process
            conn = sqlite3.connect(db)  # OpenJarvis relabels through its own connection
            for i, fb in relabels:
                conn.execute(
                    f"UPDATE traces SET feedback = {FEEDBACK[fb]} WHERE trace_id = ?", (f"t{i}",)
                )
            conn.commit()
            conn.close()
            for i, fb in ours:
                if i < len(first):
                    store.set_label(f"t{i}", feedback=fb)
            sql, streamed = analyses(store, tmp, min_quality)
            assert sql == streamed  # dyadic scores: every sum is exact, in any order
            for agent in ("react", "Assistant (prod)", "\ufffd"):
                view = _AgentView(store, agent)
                assert analyses(view, tmp, min_quality)[0] == analyses(view, tmp, min_quality)[1]
        finally:
            store.close()


def every_input(n: int = 3) -> list[tuple]:
    """Each hostile step input alone in a good trace, *n* times, plus plain traces."""
    out = []
    for inp in range(len(STEP_INPUTS)):
        out += [(2, 0, 7, 2, [(0, inp), (0, 0)])] * n
    return out


def test_each_hostile_step_input_reads_as_the_store_reads_it(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    TraceStore(db).close()
    build(db, every_input())
    with TraceStore(db) as store:
        sql, streamed = analyses(store, tmp_path, 0.5)
    assert sql == streamed
    (rec,) = sql
    counts = rec["tool_counts"]
    assert counts["calculator"] == 3 * len(STEP_INPUTS)
    for name in ("b", "nan_tool", "shallow", "café", "\ud800x", 'a"b', "\ufffda", "blob",
                 "pretty", "big", "spaced", "tool", "web_search"):  # fmt: skip
        assert counts[name] == 3, name
    for name in ("a", "deep", "x", "arr", "t", "unquoted"):
        assert name not in counts, name
    assert rec["recommended_max_turns"] == 5 and rec["good_count"] == 3 * len(STEP_INPUTS)


def test_hostile_feedback_and_odd_agents(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    TraceStore(db).close()
    # +inf and -inf in one agent, class and hour (their totals were NaN before schema 6)
    traces = [(1, a, fb, out, [(0, 0)]) for a in range(len(AGENTS))
              for fb in range(len(FEEDBACK)) for out in range(len(OUTCOMES))]  # fmt: skip
    build(db, traces)
    with TraceStore(db) as store:
        for q in (0.5, 0.75, 0.0):  # the class's mean is 0.47: recommended at 0.0 only
            sql, streamed = analyses(store, tmp_path, q)
            assert sql == streamed
    # NULL (twice), 'abc', both infinities, a BLOB and 1e308 are no ratings: 7 of 15
    (rec,) = sql
    assert rec["rated_count"] == len(AGENTS) * len(OUTCOMES) * (len(FEEDBACK) - 7)


def test_analyze_never_streams_a_trace_store(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    TraceStore(db).close()
    build(db, every_input(1))
    with TraceStore(db) as store:
        expected = AgentConfigEvolver(store, config_dir=tmp_path / "a")._analyze_streaming(
            None, None
        )

        def no_streaming(*_a: Any, **_kw: Any) -> Any:
            raise AssertionError("analyze() read the traces one by one")

        store.iter_traces = no_streaming  # type: ignore[method-assign]
        store.list_traces = no_streaming  # type: ignore[method-assign]
        seen: list[int] = []
        assert (
            AgentConfigEvolver(store, config_dir=tmp_path / "a").analyze(progress=seen.append)
            == expected
        )
        assert seen == [len(STEP_INPUTS)]
        stop = threading.Event()
        stop.set()
        assert AgentConfigEvolver(store, config_dir=tmp_path / "a").analyze(stop=stop) == []


def test_a_trace_id_that_is_not_utf8_keeps_its_tools(tmp_path: Path) -> None:
    """Streaming loses the steps of such a trace (its id reads back changed, so the
    step lookup finds nothing); the SQL analysis counts them."""
    db = tmp_path / "traces.db"
    TraceStore(db).close()
    conn = sqlite3.connect(db)
    bad = "CAST(X'74ff31' AS TEXT)"
    conn.execute(
        "INSERT INTO traces(trace_id, query, agent, feedback)"
        f" VALUES ({bad}, 'please calculate the area of a circle', 'react', 0.9)"
    )
    conn.execute(
        "INSERT INTO trace_steps(trace_id, step_index, step_type, input)"
        f" VALUES ({bad}, 0, 'tool_call', '{{\"tool\": \"calculator\"}}')"
    )
    conn.commit()
    conn.close()
    with TraceStore(db) as store:
        (rec,) = AgentConfigEvolver(store, config_dir=tmp_path / "a").analyze()
    assert rec["tool_counts"] == {"calculator": 1}


@pytest.mark.parametrize("version", [(3, 40, 1), (3, 43, 0), (3, 46, 0)])
def test_every_sqlite_json_dialect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: tuple
) -> None:
    """Where json_valid accepts JSON5 (3.42–3.44) Python reads every step; 3.45+ asks
    for RFC 8259 only (skipped where this SQLite is older than what is pretended)."""
    real = sqlite3.sqlite_version_info
    if (version >= (3, 45, 0) > real) or (version < (3, 42, 0) <= real):
        pytest.skip(f"this SQLite ({sqlite3.sqlite_version}) speaks another JSON dialect")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", version)
    db = tmp_path / "traces.db"
    TraceStore(db).close()
    build(db, every_input(1))
    with TraceStore(db) as store:
        sql, streamed = analyses(store, tmp_path, 0.5)
    assert sql == streamed


def test_a_store_from_before_schema_6_counts_its_tool_sets_at_open(tmp_path: Path) -> None:
    """Tool sets per trace (what analyze() reads) are counted for the traces mirrored
    before schema 6 at the next open; until then analyze() reads the steps."""
    db = tmp_path / "traces.db"
    TraceStore(db).close()
    build(db, every_input(2))
    with TraceStore(db) as store:
        expected = analyses(store, tmp_path, 0.5)[1]
    conn = sqlite3.connect(db)  # as schema 5 left it: no tool sets
    conn.execute("DROP TABLE jt_calls")
    conn.execute("DROP TABLE jt_tool_sets")
    conn.execute("UPDATE jt_meta SET value = 5 WHERE key = 'schema'")
    conn.commit()
    with TraceStore(db) as store:
        with_calls = conn.execute(
            "SELECT count(DISTINCT trace_id) FROM trace_steps WHERE step_type = 'tool_call'"
        ).fetchone()[0]
        assert conn.execute("SELECT count(*) FROM jt_calls").fetchone()[0] == with_calls
        assert analyses(store, tmp_path, 0.5) == (expected, expected)
        # A backfill still under way (a killed open): the steps are read instead.
        conn.execute("DELETE FROM jt_calls")
        conn.execute("INSERT INTO jt_meta(key, value) VALUES ('calls_from', 1000000000)")
        conn.commit()
        assert analyses(store, tmp_path, 0.5)[0] == expected
    conn.close()
