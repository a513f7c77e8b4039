"""Bad input the foundation issue names: locked files, foreign tables, the CLI's one line."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.traces import StoreError, TraceStore
from tests.engine.conftest import build_trace


def test_locked_database_is_a_clear_error_and_nothing_is_lost(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    store = TraceStore(db, busy_timeout_ms=200)
    store.save(build_trace(1, trace_id="a"))
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another program"):
            store.set_label("a", feedback=0.9)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.get("a").feedback is None  # nothing half-written
    store.set_label("a", feedback=0.9)  # and it works once the lock is gone
    assert store.get("a").feedback == 0.9
    store.close()


def test_openjarvis_db_with_unknown_extra_tables_opens(oj_copy) -> None:
    db = oj_copy("traces.db")
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE plugin_stuff (x)")
    conn.commit()
    conn.close()
    store = TraceStore(db)
    assert store.count() == 300
    store.close()


def test_cli_refuses_a_home_whose_traces_db_is_not_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "traces.db").write_text("this is not a database\n" * 10)
    before = (home / "traces.db").read_bytes()
    assert main(["--home", str(home)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jarvis-tui: error:")
    assert "not an SQLite database" in err[0] and "Traceback" not in err[0]
    assert (home / "traces.db").read_bytes() == before


def test_cli_refuses_a_foreign_sqlite_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    conn = sqlite3.connect(home / "traces.db")
    conn.execute("CREATE TABLE invoices (n)")
    conn.commit()
    conn.close()
    assert main(["--home", str(home)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an OpenJarvis trace store" in err[0]


def test_cli_home_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert main(["--home", str(f)]) == 1
    assert "not a directory" in capsys.readouterr().err


def test_fixture_with_messages_opens_and_labels(oj_copy) -> None:
    db = oj_copy("traces_with_messages.db")
    store = TraceStore(db)
    tid = store.page(limit=1).rows[0].trace_id
    store.set_label(tid, feedback=0.25, outcome="failure")
    store.close()
    raw = (
        sqlite3.connect(db)
        .execute("SELECT feedback, outcome, messages FROM traces WHERE trace_id = ?", (tid,))
        .fetchone()
    )
    assert raw[:2] == (0.25, "failure") and raw[2] is not None
    shutil.rmtree(db.parent, ignore_errors=True)
