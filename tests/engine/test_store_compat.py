"""Compatibility with files OpenJarvis wrote, and with OpenJarvis reading/writing ours."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.traces.store import TraceFilter, TraceStore

FIXTURES = ["traces.db", "traces_with_messages.db"]
JT_TABLES = {"jt_meta", "jt_rows", "jt_label_history", "jt_notes"}


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=15)


def _table_info(path: Path, table: str = "traces") -> list[tuple]:
    conn = _raw(path)
    try:
        return conn.execute(f"PRAGMA table_info({table})").fetchall()
    finally:
        conn.close()


def _tables(path: Path) -> set[str]:
    conn = _raw(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def oj_row_to_trace(row: tuple, step_rows: list[tuple]) -> Trace:
    """OpenJarvis's ``_row_to_trace``: positional, straight off ``SELECT *``."""
    steps = [
        TraceStep(
            step_type=StepType(s[3]),
            timestamp=s[4],
            duration_seconds=s[5],
            input=json.loads(s[6]),
            output=json.loads(s[7]),
            metadata=json.loads(s[8]),
        )
        for s in step_rows
    ]
    messages = json.loads(row[14]) if len(row) > 14 and row[14] else []
    return Trace(
        trace_id=row[1],
        query=row[2],
        agent=row[3],
        model=row[4],
        engine=row[5],
        steps=steps,
        result=row[6],
        outcome=row[7],
        feedback=row[8],
        started_at=row[9],
        ended_at=row[10],
        total_tokens=row[11],
        total_latency_seconds=row[12],
        metadata=json.loads(row[13]) if row[13] else {},
        messages=messages,
    )


def oj_read_all(path: Path) -> tuple[list[tuple], list[Trace]]:
    """Every trace as OpenJarvis reads it (``SELECT *`` + positional indexes)."""
    conn = _raw(path)
    try:
        rows = conn.execute("SELECT * FROM traces ORDER BY id").fetchall()
        traces = []
        for row in rows:
            steps = conn.execute(
                "SELECT * FROM trace_steps WHERE trace_id = ? ORDER BY step_index", (row[1],)
            ).fetchall()
            traces.append(oj_row_to_trace(row, steps))
    finally:
        conn.close()
    for t in traces:
        assert isinstance(t.trace_id, str) and isinstance(t.query, str)
        assert isinstance(t.started_at, float) and isinstance(t.total_tokens, int)
        assert t.feedback is None or isinstance(t.feedback, float)
        assert t.outcome in (None, "success", "failure")
        assert isinstance(t.metadata, dict) and isinstance(t.messages, list)
    return rows, traces


@pytest.mark.parametrize("name", FIXTURES)
def test_opens_openjarvis_file_and_adds_only_our_tables(oj_copy, name):
    path = oj_copy(name)
    cols_before = _table_info(path)
    steps_before = _table_info(path, "trace_steps")
    tables_before = _tables(path)
    assert not tables_before & JT_TABLES
    with TraceStore(path) as store:
        assert store.count() == 300
        assert store.count_filtered() == (300, 267)  # 184 scored + 83 with an outcome only
        t = store.get("tr0000")
        assert [s.step_type for s in t.steps] == [
            StepType.ROUTE,
            StepType.TOOL_CALL,
            StepType.RESPOND,
        ]
        assert t.steps[1].input == {"tool": "calculator"}
        assert t.metadata == {"i": 0}
        assert t.result == "result 0 [bold]markup[/bold]"
        everything = store.list_traces(limit=1000)
        assert len(everything) == 300
        assert all(len(x.steps) == 3 for x in everything)
        assert store.search("equation")
    assert _table_info(path) == cols_before
    assert _table_info(path, "trace_steps") == steps_before
    assert _tables(path) >= tables_before | JT_TABLES
    # a second open does not migrate again and sees the same data
    with TraceStore(path) as store:
        assert not store.needs_migration()
        assert store.count() == 300


@pytest.mark.parametrize("name", FIXTURES)
def test_openjarvis_positional_reader_survives_our_labels_and_saves(oj_copy, name):
    path = oj_copy(name)
    rows_before, traces_before = oj_read_all(path)
    width = len(rows_before[0])
    assert width == (15 if "messages" in name else 14)
    with TraceStore(path) as store:
        store.set_label("tr0001", feedback=0.9, outcome="success", note="fixed")
        store.set_label("tr0002", outcome="failure")
        store.set_label("tr0000", feedback=None)
        store.update_feedback("tr0003", 0.125)
        new = Trace(
            trace_id="ours-1",
            query="written by jarvis_tui",
            agent="simple",
            model="qwen3:8b",
            engine="ollama",
            result="done",
            outcome="success",
            feedback=1.0,
            started_at=1_770_000_000.0,
            ended_at=1_770_000_001.0,
            total_tokens=42,
            total_latency_seconds=1.0,
            metadata={"src": "tui"},
            messages=[{"role": "user", "content": "hi"}],
            steps=[TraceStep(StepType.ROUTE, 1_770_000_000.0, 0.1, {"q": 1}, {"m": "x"})],
        )
        store.save(new)
    rows, traces = oj_read_all(path)
    assert len(rows) == 301
    assert {len(r) for r in rows} == {width}
    assert _table_info(path)[-1][1] == ("messages" if width == 15 else "metadata")
    by_id = {t.trace_id: t for t in traces}
    assert (by_id["tr0001"].feedback, by_id["tr0001"].outcome) == (0.9, "success")
    assert by_id["tr0002"].outcome == "failure"
    assert by_id["tr0000"].feedback is None
    assert by_id["tr0003"].feedback == 0.125
    ours = by_id["ours-1"]
    expected_messages = new.messages if width == 15 else []
    assert ours == Trace(**{**_fields(new), "messages": expected_messages})
    # everything OpenJarvis did not touch is as it was
    for before in traces_before[4:]:
        assert by_id[before.trace_id] == before


def _fields(t: Trace) -> dict:
    return {f: getattr(t, f) for f in Trace.__slots__}


@pytest.mark.parametrize("name", FIXTURES)
def test_openjarvis_update_feedback_is_seen_through_trigger(oj_copy, name):
    path = oj_copy(name)
    with TraceStore(path) as store:
        before_counts = store.count_filtered(TraceFilter(labelled=True))
        unrated = store.page(TraceFilter(labelled=False), limit=1).rows[0]
        top, gen = store.change_token()
        conn = _raw(path)
        with conn:  # exactly OpenJarvis's update_feedback
            conn.execute(
                "UPDATE traces SET feedback = ? WHERE trace_id = ?", (0.7, unrated.trace_id)
            )
        conn.close()
        top2, gen2 = store.change_token()
        assert top2 == top
        assert gen2 > gen
        assert store.count_filtered(TraceFilter(labelled=True)) == (
            before_counts[0] + 1,
            before_counts[1] + 1,
        )
        row = next(
            r
            for r in store.page(TraceFilter(labelled=True), limit=300).rows
            if r.trace_id == unrated.trace_id
        )
        assert row.feedback == 0.7
        assert store.get(unrated.trace_id).feedback == 0.7
        # an outcome change by OpenJarvis is mirrored too
        conn = _raw(path)
        with conn:
            conn.execute(
                "UPDATE traces SET outcome = 'success' WHERE trace_id = ?", (unrated.trace_id,)
            )
        conn.close()
        assert store.change_token()[1] > gen2
        hits = store.page(TraceFilter(outcome="success", labelled=True), limit=300).rows
        assert unrated.trace_id in {r.trace_id for r in hits}


@pytest.mark.parametrize("name", FIXTURES)
def test_openjarvis_insert_appears_after_sync(oj_copy, name):
    path = oj_copy(name)
    with TraceStore(path) as store:
        top, gen = store.change_token()
        code_before = store.count_filtered(TraceFilter(query_class="code"))[0]
        cols = [
            "trace_id", "query", "agent", "model", "engine", "result", "outcome", "feedback",
            "started_at", "ended_at", "total_tokens", "total_latency_seconds", "metadata",
        ]  # fmt: skip
        values = [
            "oj-new", "def oj_written(): return 1", "react", "qwen3:8b", "ollama",
            "fine", "success", None, 1_770_000_000.0, 1_770_000_002.0, 77, 2.0, '{"n": 1}',
        ]  # fmt: skip
        if "messages" in name:
            cols.append("messages")
            values.append('[{"role": "user", "content": "x"}]')
        conn = _raw(path)
        with conn:  # OpenJarvis's save(): positional INSERT of its 13/14 columns
            conn.execute(
                f"INSERT INTO traces ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                values,
            )
            for k, kind in enumerate(["route", "tool_call", "respond"]):
                conn.execute(
                    "INSERT INTO trace_steps (trace_id, step_index, step_type, timestamp,"
                    " duration_seconds, input, output, metadata) VALUES (?,?,?,?,?,?,?,?)",
                    ("oj-new", k, kind, 1_770_000_000.0 + k, 0.1, '{"tool": "t"}', "{}", "{}"),
                )
        conn.close()
        top2, _ = store.change_token()
        assert top2 > top
        assert store.sync() == 1
        assert store.sync() == 0
        assert store.count() == 301
        assert store.count_filtered(TraceFilter(query_class="code"))[0] == code_before + 1
        first = store.page(limit=1).rows[0]
        assert (first.trace_id, first.query_class, first.agent) == ("oj-new", "code", "react")
        got = store.get("oj-new")
        assert len(got.steps) == 3
        assert got.steps[1].step_type is StepType.TOOL_CALL
        assert got.metadata == {"n": 1}
        assert [r["trace_id"] for r in store.search("oj_written")] == ["oj-new"]
        assert store.change_token()[0] == top2


def test_fixture_without_messages_column_saves_without_it(oj_copy, make_trace):
    path = oj_copy("traces.db")
    with TraceStore(path) as store:
        trace = make_trace(9)
        assert store.save_many([trace]) == 1
        got = store.get(trace.trace_id)
        assert got.messages == []
        assert got.steps == trace.steps
    assert "messages" not in {c[1] for c in _table_info(path)}


def test_fixture_with_messages_round_trips_messages(oj_copy, make_trace):
    path = oj_copy("traces_with_messages.db")
    with TraceStore(path) as store:
        trace = make_trace(9)
        store.save(trace)
        assert store.get(trace.trace_id) == trace


# ------------------------------------------------------------------ read-only mode


def test_read_only_sync_loads_steps_of_new_traces(oj_copy):
    path = oj_copy("traces.db")
    with TraceStore(path, read_only=True) as store:
        conn = _raw(path)
        with conn:
            conn.execute(
                "INSERT INTO traces (trace_id, query, agent, started_at) VALUES"
                " ('late', 'arrived later', 'react', 1770000000.0)"
            )
            conn.executemany(
                "INSERT INTO trace_steps (trace_id, step_index, step_type) VALUES ('late', ?, ?)",
                [(0, "route"), (1, "respond")],
            )
        conn.close()
        assert store.sync() == 1
        assert store.page(limit=1).rows[0].trace_id == "late"
        assert len(store.get("late").steps) == 2


def test_read_only_sees_openjarvis_feedback_updates(oj_copy):
    path = oj_copy("traces.db")
    with TraceStore(path, read_only=True) as store:
        labelled = store.count_filtered(TraceFilter(labelled=True))[0]
        tid = store.page(TraceFilter(labelled=False), limit=1).rows[0].trace_id
        gen = store.change_token()[1]
        conn = _raw(path)
        with conn:
            conn.execute("UPDATE traces SET feedback = 0.5 WHERE trace_id = ?", (tid,))
        conn.close()
        store.sync()
        assert store.get(tid).feedback == 0.5  # the file itself is read fine
        assert store.change_token()[1] > gen
        assert store.count_filtered(TraceFilter(labelled=True))[0] == labelled + 1


def test_file_we_create_has_openjarvis_tables(tmp_path, oj_copy, make_trace):
    reference = oj_copy("traces_with_messages.db")
    ours = tmp_path / "fresh" / "traces.db"
    with TraceStore(ours) as store:
        trace = make_trace(3)
        store.save(trace)
    for table in ("traces", "trace_steps", "traces_fts"):
        assert _table_info(ours, table) == _table_info(reference, table), table
    conn = _raw(ours)
    try:
        triggers = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
    finally:
        conn.close()
    assert "traces_fts_ai" in triggers
    _, traces = oj_read_all(ours)
    assert traces == [trace]
