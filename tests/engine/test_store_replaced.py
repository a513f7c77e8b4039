"""A traces.db replaced under an open store (``jarvis-tui demo --force`` while the app
runs, finding 72 of issue 10's walkthrough): the store reads the new file, on every
pooled connection, instead of the old, unlinked one."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from jarvis_tui.core.types import Trace
from jarvis_tui.demo import _remove_db
from jarvis_tui.traces import TraceFilter, TraceStore


def _build(path: Path, n: int, prefix: str) -> None:
    store = TraceStore(path)
    try:
        store.save_many(
            Trace(trace_id=f"{prefix}{i}", query=f"{prefix} question {i}", started_at=float(i))
            for i in range(n)
        )
    finally:
        store.close()


def test_a_replaced_file_is_reopened_on_every_connection(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    _build(path, 3, "old")
    store = TraceStore(path)
    try:
        # several pooled connections, as the app's worker threads leave them
        seen: list[int] = []
        threads = [threading.Thread(target=lambda: seen.append(store.count())) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [3, 3, 3] and store.reopened == 0
        _build(tmp_path / "new.db", 5, "new")
        with closing(sqlite3.connect(tmp_path / "new.db")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # as demo --force does: the old file and its WAL unlinked, the new one renamed in
        _remove_db(path)
        os.replace(tmp_path / "new.db", path)
        for _ in range(6):  # whichever pooled connection answers: the new file
            assert store.count() == 5
            rows = store.page(TraceFilter(), limit=10).rows
            assert sorted(r.trace_id for r in rows) == [f"new{i}" for i in range(5)]
        assert store.reopened == 1
        assert [r["trace_id"] for r in store.search("question", limit=10)][:1] == ["new4"]
        store.set_label("new1", feedback=0.5)  # writes go to the new file too
    finally:
        store.close()
    again = TraceStore(path)
    try:
        assert again.get("new1").feedback == 0.5 and again.get("old1") is None
    finally:
        again.close()
