"""Closing the trace store while another thread still reads (the app quitting while a
count over a million rows runs): the read is stopped, so quitting never waits for it;
a write transaction in flight is left to finish, so no label is lost."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.traces.store import StoreError, TraceStore

ENDLESS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)"
    " SELECT count(*) FROM n"  # never ends on its own
)


def test_close_stops_a_read_another_thread_is_running(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.db")
    got: list[BaseException] = []
    running = threading.Event()

    def reader() -> None:
        try:
            with store._conn() as conn:  # no public API runs an endless query
                conn.set_progress_handler(lambda: running.set() or 0, 1000)
                conn.execute(ENDLESS).fetchone()
        except BaseException as exc:
            got.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert running.wait(60), "the query never started"
    store.close()
    thread.join(60)  # a hang guard: without the interrupt this query never ends
    assert not thread.is_alive()
    assert len(got) == 1 and isinstance(got[0], StoreError)
    assert "closed" in str(got[0])
    # the interrupted connection, closed last when its thread handed it back, still
    # folded the WAL into traces.db
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traces.db"]


def test_close_lets_a_write_in_flight_finish(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    store = TraceStore(path)
    store.save(Trace(trace_id="t1", query="q", result="a"))
    in_write, closed = threading.Event(), threading.Event()
    got: list[BaseException] = []

    def pause_inside_the_statement() -> int:
        if not in_write.is_set():
            in_write.set()
            closed.wait(60)  # close() runs while this UPDATE is executing
        return 0

    def writer() -> None:
        try:
            with store._write() as conn:
                conn.set_progress_handler(pause_inside_the_statement, 1)
                conn.execute("UPDATE traces SET feedback = 0.9 WHERE trace_id = 't1'")
                conn.set_progress_handler(None, 1)
        except BaseException as exc:
            got.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    assert in_write.wait(60), "the write never started"
    store.close()  # does not interrupt the write: it finishes and commits
    closed.set()
    thread.join(60)
    assert not thread.is_alive()
    assert got == []
    reopened = TraceStore(path)
    try:
        trace = reopened.get("t1")
        assert trace is not None and trace.feedback == pytest.approx(0.9)
    finally:
        reopened.close()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("traces.db"))


def test_a_closed_store_leaves_only_traces_db(demo_copy) -> None:
    """A closed store left traces.db-wal and -shm behind (close interrupted its idle
    connections too, and an interrupted connection's close skips the checkpoint)."""
    home = demo_copy(traces=300)
    store = TraceStore(home / "traces.db")
    store.save(Trace(trace_id="new-one", query="q", result="a"))
    assert "traces.db-wal" in _files(home)
    store.close()
    assert _files(home) == ["traces.db"]
    again = TraceStore(home / "traces.db")
    try:
        assert again.get("new-one") is not None
    finally:
        again.close()


def test_the_wal_stays_while_another_connection_has_the_file_open(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "traces.db"
    store = TraceStore(path)
    store.save(Trace(trace_id="t1", query="q", result="a"))
    other = sqlite3.connect(path)  # OpenJarvis, say
    try:
        assert other.execute("SELECT count(*) FROM traces").fetchone() == (1,)
        store.close()
        assert "traces.db-wal" in _files(tmp_path)  # not ours to remove under a reader
        assert other.execute("SELECT trace_id FROM traces").fetchall() == [("t1",)]
    finally:
        other.close()
    assert _files(tmp_path) == ["traces.db"]  # the last one out checkpoints
