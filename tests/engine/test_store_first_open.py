"""The first open of a large OpenJarvis file (issue 15): traces are classified ahead of
the writer, outside any transaction, and mirrored in short write transactions. A
killed open resumes from its watermark, a trace OpenJarvis adds meanwhile is
mirrored, and the totals equal a fresh scan whichever way the open went."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from jarvis_tui.traces import TraceStore
from jarvis_tui.traces import store as store_mod
from tests.engine.conftest import build_trace
from tests.engine.test_store_aggregates import _assert_equal_to_scan, _trace

N = 90


class Killed(BaseException):
    """What a kill looks like to the open: it stops between two statements."""


@pytest.fixture
def oj_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An OpenJarvis file of N traces (none of our tables) that opens by the large-file
    path, in transactions of a few traces each."""
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(
            _trace(i, (i % 4, i % 2, i % 3, i % 6, (i // 2) % 3, [i % 3, (i + 1) % 3][: i % 3]))
            for i in range(N)
        )
    conn = sqlite3.connect(db)
    for kind, name in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name LIKE 'jt_%' AND type != 'index'"
        " ORDER BY type = 'table'"
    ).fetchall():
        conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
    conn.commit()
    conn.close()
    monkeypatch.setattr(store_mod, "BULK_MIGRATE_ROWS", 10)
    monkeypatch.setattr(store_mod, "MIGRATE_CLASSIFY_BATCH", 7)
    monkeypatch.setattr(store_mod, "MIGRATE_FIRST_TX_ROWS", 5)
    monkeypatch.setattr(store_mod, "MIGRATE_MAX_TX_ROWS", 10)
    return db


def _meta(db: Path, key: str) -> int | None:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT value FROM jt_meta WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else int(row[0])


def _counts(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT (SELECT count(*) FROM traces), (SELECT count(*) FROM jt_rows),"
            " (SELECT total(n) FROM jt_agg)"
        ).fetchone()
    finally:
        conn.close()


def test_a_large_first_open_mirrors_every_trace_with_its_totals(oj_file: Path) -> None:
    with TraceStore(oj_file) as s:
        assert s.count() == N
        _assert_equal_to_scan(s, oj_file)
        assert not s.needs_migration()
    traces, rows, totals = _counts(oj_file)
    assert traces == rows == totals == N


def test_a_first_open_killed_mid_mirror_resumes_at_the_next_open(
    oj_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = TraceStore._mirror_classified
    calls = []

    def dies_on_the_fourth(self: TraceStore, conn: sqlite3.Connection) -> int:
        calls.append(1)
        if len(calls) == 4:
            raise Killed
        return real(self, conn)

    monkeypatch.setattr(TraceStore, "_mirror_classified", dies_on_the_fourth)
    with pytest.raises(Killed):
        TraceStore(oj_file)
    # Three short transactions were committed before the kill; the fourth was not.
    mirrored = _meta(oj_file, "mirrored_id")
    assert mirrored is not None and 0 < mirrored < N
    assert _meta(oj_file, "schema") is None  # the open is not finished
    traces, rows, totals = _counts(oj_file)
    assert rows == totals == mirrored
    monkeypatch.setattr(TraceStore, "_mirror_classified", real)
    with TraceStore(oj_file) as s:
        assert s.count() == N
        _assert_equal_to_scan(s, oj_file)
    assert _counts(oj_file) == (N, N, N)


def test_a_trace_openjarvis_adds_during_the_first_open_is_mirrored(
    oj_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = TraceStore._classify_row
    added = []

    def classify_and_write(self: TraceStore, trace_id: object, query: object) -> str:
        if not added:  # OpenJarvis saves a trace while the classifier runs
            added.append(1)
            t = build_trace(10_000, query="solve 2x + 3 = 7", agent="react", feedback=0.9)
            oj = sqlite3.connect(oj_file, timeout=30)
            oj.execute(
                "INSERT INTO traces (trace_id, query, agent, model, feedback, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (t.trace_id, t.query, t.agent, t.model, t.feedback, t.started_at),
            )
            oj.commit()
            oj.close()
        return real(self, trace_id, query)

    monkeypatch.setattr(TraceStore, "_classify_row", classify_and_write)
    with TraceStore(oj_file) as s:
        assert s.count() == N + 1
        _assert_equal_to_scan(s, oj_file)
    assert _counts(oj_file) == (N + 1, N + 1, N + 1)


def test_an_error_while_classifying_fails_the_open_and_it_opens_later(
    oj_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = TraceStore._classify_row
    seen = []

    def breaks_later(self: TraceStore, trace_id: object, query: object) -> str:
        seen.append(1)
        if len(seen) == 30:
            raise RuntimeError("classifier broke")
        return real(self, trace_id, query)

    monkeypatch.setattr(TraceStore, "_classify_row", breaks_later)
    with pytest.raises(RuntimeError, match="classifier broke"):
        TraceStore(oj_file)
    monkeypatch.setattr(TraceStore, "_classify_row", real)
    with TraceStore(oj_file) as s:
        assert s.count() == N
        _assert_equal_to_scan(s, oj_file)


def _steps_on_disk(db: Path) -> dict[str, list[tuple]]:
    """Every trace's steps as OpenJarvis stored them, in step order."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, list[tuple]] = {}
        for tid, kind, inp in conn.execute(
            "SELECT trace_id, step_type, input FROM trace_steps ORDER BY trace_id, step_index"
        ):
            out.setdefault(tid, []).append((kind, json.loads(inp)))
        return out
    finally:
        conn.close()


def _steps_read(store: TraceStore) -> dict[str, list[tuple]]:
    return {
        t.trace_id: [(getattr(st.step_type, "value", st.step_type), st.input) for st in t.steps]
        for t in store.iter_traces()
        if t.steps
    }


def _indexes_on_trace_steps(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trace_steps'"
            )
        ]
    finally:
        conn.close()


def test_a_first_open_maps_the_steps_in_short_transactions_and_resumes_after_a_kill(
    oj_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No index is built on OpenJarvis's trace_steps (one long transaction at 1M):
    our steps map is filled a few steps per transaction, and a killed open resumes."""
    monkeypatch.setattr(store_mod, "MIGRATE_FIRST_TX_STEPS", 20)
    monkeypatch.setattr(store_mod, "MIGRATE_MAX_TX_STEPS", 20)
    expected = _steps_on_disk(oj_file)
    n_steps = sum(len(v) for v in expected.values())
    assert n_steps > 100
    real = TraceStore._map_steps
    calls = []

    def dies_on_the_fourth(self: TraceStore, conn: sqlite3.Connection, lo: int, hi: int) -> None:
        calls.append((lo, hi))
        if len(calls) == 4:
            raise Killed
        real(self, conn, lo, hi)

    monkeypatch.setattr(TraceStore, "_map_steps", dies_on_the_fourth)
    with pytest.raises(Killed):
        TraceStore(oj_file)
    # Three transactions of 20 steps each were committed before the kill.
    assert _meta(oj_file, "steps_done") == 60
    assert _meta(oj_file, "steps_from") == n_steps
    assert _meta(oj_file, "schema") is None  # the open is not finished
    assert _indexes_on_trace_steps(oj_file) == []
    monkeypatch.setattr(TraceStore, "_map_steps", real)
    with TraceStore(oj_file) as s:
        assert _steps_read(s) == expected
        _assert_equal_to_scan(s, oj_file)  # tool totals read the steps through the map
    assert _meta(oj_file, "steps_from") is None
    assert _indexes_on_trace_steps(oj_file) == []


def test_steps_openjarvis_saves_after_the_open_are_read_before_and_after_a_sync(
    oj_file: Path,
) -> None:
    with TraceStore(oj_file) as s:
        conn = sqlite3.connect(oj_file)
        conn.execute("INSERT INTO traces(trace_id, query) VALUES ('late', 'late one')")
        conn.executemany(
            "INSERT INTO trace_steps(trace_id, step_index, step_type, input) VALUES (?, ?, ?, ?)",
            [("late", 1, "respond", '{"b": 2}'), ("late", 0, "tool_call", '{"tool": "calc"}')],
        )
        conn.commit()
        conn.close()
        for _ in range(2):  # not mirrored yet, then mirrored
            late = s.get("late")
            assert late is not None
            assert [st.input for st in late.steps] == [{"tool": "calc"}, {"b": 2}]
            s.sync()
        assert _steps_read(s) == _steps_on_disk(oj_file)
        _assert_equal_to_scan(s, oj_file)


def test_a_schema_7_file_with_the_old_steps_index_keeps_it_and_reads_through_the_map(
    tmp_path: Path,
) -> None:
    db = tmp_path / "traces.db"
    with TraceStore(db) as s:
        s.save_many(
            _trace(i, (i % 4, i % 2, i % 3, i % 6, (i // 2) % 3, [i % 3])) for i in range(40)
        )
    conn = sqlite3.connect(db)  # as schema 7 left it: its index on trace_steps, no map
    conn.execute("DROP TABLE jt_steps")
    conn.execute("DELETE FROM jt_meta WHERE key LIKE 'steps_%'")
    conn.execute("UPDATE jt_meta SET value = 7 WHERE key = 'schema'")
    conn.execute("CREATE INDEX jt_steps_trace ON trace_steps(trace_id, step_index)")
    conn.commit()
    conn.close()
    expected = _steps_on_disk(db)
    with TraceStore(db) as s:
        assert not s.needs_migration()
        assert _steps_read(s) == expected
        _assert_equal_to_scan(s, db)
        s.save(_trace(40, (0, 0, 0, 0, 0, [1, 2])))
        assert len(s.get("t00040").steps) == 4
    assert _indexes_on_trace_steps(db) == ["jt_steps_trace"]
    assert _meta(db, "steps_mapped") == sum(len(v) for v in expected.values()) + 4
