"""A read-only connection to a trace store's file, kept between calls.

Used by the readers beside the store (judge scores, outcomes, the labelling queue,
the labels export). It lives here, not under :mod:`jarvis_tui.learning`, so the
Traces pane's first workers read judge scores without importing the learning
package (~30 ms of imports holding the GIL during the first paint, issue 15);
:mod:`jarvis_tui.learning.outcomes` re-exports ``read_connection``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

_IDLE: Dict[str, List[tuple[sqlite3.Connection, tuple[int, int]]]] = {}
_IDLE_LOCK = threading.Lock()


def _file_id(path: str) -> Optional[tuple[int, int]]:
    """The file behind *path* (device, inode): a kept connection to a file that was
    since replaced at the same path (a rebuilt demo, a restored copy) still reads the
    old one, so it is closed instead of reused."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class _Conn:
    """Our own read connection to the store's file (never its pool).

    Kept between calls (two per file at most, each used by one thread at a time): a
    fresh connection starts with a cold page cache, which costs more than the query.
    """

    def __init__(self, store: Any) -> None:
        path = getattr(store, "path", None)
        schema = getattr(store, "_schema", "main")
        self.schema = schema if schema in ("main", "jtmem") else "main"
        self.borrowed = None
        self.key = ""
        self.file_id: Optional[tuple[int, int]] = None
        if path is None or self.schema != "main" or str(path) == ":memory:":
            # A read-only or in-memory store mirrors jt_rows in a database only its own
            # connections see: borrow one of them, read only.
            self.borrowed = store._conn()
            self.conn = self.borrowed.__enter__()
            return
        self.key = Path(path).resolve().as_posix()
        self.file_id = _file_id(self.key)
        conn = None
        stale: List[sqlite3.Connection] = []
        with _IDLE_LOCK:
            idle = _IDLE.get(self.key) or []
            while idle and conn is None:
                kept, kept_id = idle.pop()
                if kept_id == self.file_id:
                    conn = kept
                else:
                    stale.append(kept)
        for old in stale:
            old.close()
        if conn is None:
            conn = sqlite3.connect(
                f"file:{self.key}?mode=ro", uri=True, timeout=15, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            conn.execute("PRAGMA cache_size=-65536")
        self.conn = conn

    def close(self) -> None:
        if self.borrowed is not None:
            self.borrowed.__exit__(None, None, None)
            return
        with _IDLE_LOCK:
            idle = _IDLE.setdefault(self.key, [])
            if len(idle) < 2 and self.file_id is not None and _file_id(self.key) == self.file_id:
                idle.append((self.conn, self.file_id))
                return
        self.conn.close()

    def __enter__(self) -> _Conn:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


read_connection = _Conn
"""``with read_connection(store) as c``: ``c.conn`` reads, ``c.schema`` names ``jt_rows``'s schema."""
