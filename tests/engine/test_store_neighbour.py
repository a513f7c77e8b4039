"""OpenJarvis never loses a trace because jarvis-tui is open (issue 12.5).

The writer is OpenJarvis's ``TraceStore`` statement for statement (plain ``sqlite3``,
default 5 s timeout) in another process, for a bounded time; the long version
(60 s, 600,000 traces) is ``bench/bench_store_neighbour.py``.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from bench.bench_store_neighbour import beside_first_open, beside_save_many, build_oj_file
from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.traces import store as store_mod
from tests.engine.conftest import build_trace

SECONDS = 3.0


@pytest.fixture(scope="module")
def oj_20k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OpenJarvis-written file of 20,000 traces never opened by jarvis-tui, built
    once (seconds) and copied by each test that opens it first (``oj_file``)."""
    return build_oj_file(tmp_path_factory.mktemp("oj20k") / "traces.db", 20_000)


@pytest.fixture
def oj_file(oj_20k: Path, tmp_path: Path) -> Path:
    db = tmp_path / "traces.db"
    shutil.copyfile(oj_20k, db)
    return db


def _schema(path: Path) -> tuple[int, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        objects = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()
    return version, objects


def test_save_many_never_changes_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    with TraceStore(db) as store:
        store.save(build_trace(0))
        before = _schema(db)
        assert store.save_many(build_trace(i) for i in range(1, 501)) == 500
        assert _schema(db) == before  # the FTS trigger was never dropped and re-created
        assert store.count_filtered(TraceFilter(text="number 250"))[0] == 1


def test_openjarvis_writer_beside_save_many_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    (saved, failed, errors, _longest), ours = beside_save_many(db, SECONDS)
    assert failed == 0, errors
    assert saved > 0 and ours > 0
    with TraceStore(db) as store:
        assert store.count() == saved + ours
        assert (
            store.count_filtered(TraceFilter(agent="react"))[0]
            + store.count_filtered(TraceFilter(text="answer"))[0]
            >= saved
        )  # OpenJarvis's rows are mirrored and searchable


def test_openjarvis_writer_beside_a_first_open_loses_nothing(oj_file: Path) -> None:
    db = oj_file
    (saved, failed, errors, _longest), _took, _schema_tx, _mirror_tx = beside_first_open(
        db, SECONDS
    )
    assert failed == 0, errors
    with TraceStore(db) as store:
        assert store.count() == 20_000 + saved


def test_a_writer_with_a_short_busy_timeout_beside_a_large_first_open_loses_nothing(
    oj_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The large-file path (mirror and steps map in short transactions, no index
    built on OpenJarvis's trace_steps) beside a writer that waits 0.5 s at most."""
    db = oj_file
    monkeypatch.setattr(store_mod, "BULK_MIGRATE_ROWS", 1_000)
    monkeypatch.setattr(store_mod, "BULK_MIGRATE_STEPS", 1_000)
    monkeypatch.setattr(store_mod, "MIGRATE_FIRST_TX_STEPS", 2_000)
    # Transactions of ~0.1 s: a loaded machine may stretch one several times over
    # before the writer's 0.5 s run out.
    monkeypatch.setattr(store_mod, "MIGRATE_TX_SECONDS", 0.1)
    monkeypatch.setattr(store_mod, "MIGRATE_IDLE_TX_SECONDS", 0.1)
    (saved, failed, errors, _longest), _took, _schema_tx, _tx = beside_first_open(
        db, SECONDS, timeout=0.5
    )
    assert failed == 0, errors
    conn = sqlite3.connect(db)
    indexes = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trace_steps'"
    ).fetchall()
    written = [r[0] for r in conn.execute("SELECT trace_id FROM traces WHERE id > 20000")]
    conn.close()
    assert indexes == []
    with TraceStore(db) as store:
        assert store.count() == 20_000 + saved
        for tid in ["oj3-0000000", "oj3-0019999", *written[-3:]]:
            trace = store.get(tid)
            assert trace is not None and len(trace.steps) == 3, tid


def test_openjarvis_feedback_updates_are_in_the_label_history(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    with TraceStore(db) as store:
        store.save(build_trace(1))
        store.set_label("t00001", feedback=0.9, note="mine")
        conn = sqlite3.connect(db)  # exactly OpenJarvis's update_feedback
        conn.execute("UPDATE traces SET feedback = ? WHERE trace_id = ?", (0.1, "t00001"))
        conn.commit()
        conn.execute("UPDATE traces SET outcome = 'failure' WHERE trace_id = 't00001'")
        conn.commit()
        conn.close()
        history = [
            (h.field, h.old_value, h.new_value, h.source) for h in store.label_history("t00001")
        ]
        assert history == [
            ("feedback", None, 0.9, "tui"),
            ("note", None, "mine", "tui"),
            ("feedback", 0.9, 0.1, "external"),
            ("outcome", None, "failure", "external"),
        ]
        assert store.get("t00001").feedback == 0.1
        # our own labels are still recorded once, with their source
        store.set_label("t00001", feedback=0.5, source="tui")
        assert [h.source for h in store.label_history("t00001")][-1] == "tui"
        assert len(store.label_history("t00001")) == 5
