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
