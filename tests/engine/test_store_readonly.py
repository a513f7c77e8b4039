"""A WAL-mode traces.db in a folder the user cannot write opens read-only (issue 12.9).

Root ignores file permissions, so the reader runs in a child process as an
unprivileged user (uid 65534 through ``setpriv``); as a normal user the child runs
as that user, for whom the 0555 folder is as unwritable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from jarvis_tui.traces import TraceStore
from tests.engine.conftest import build_trace

_REPO = Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, sys
from jarvis_tui.traces import TraceStore
from jarvis_tui.traces.store import ReadOnlyStore, StoreError
out = {}
try:
    with TraceStore(sys.argv[1]) as s:
        out["read_only"] = s.read_only
        out["snapshot"] = s.snapshot
        out["count"] = s.count()
        out["ids"] = sorted(r.trace_id for r in s.page(limit=1000).rows)
        out["found"] = [r["trace_id"] for r in s.search("number")][:3]
        out["sync"] = s.sync()
        try:
            s.set_label(out["ids"][0], feedback=0.5)
            out["label"] = "written"
        except ReadOnlyStore as exc:
            out["label"] = "refused: " + str(exc)
except StoreError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


def _as_other_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot read as an unprivileged user")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def _read_as_other_user(db: Path) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "PYTHONPATH": str(_REPO), "HOME": "/"}
    proc = subprocess.run(
        [*_as_other_user(), sys.executable, "-c", _CHILD, str(db)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=120,
    )
    if proc.returncode != 0 and "Permission denied" in proc.stderr and "python" in proc.stderr:
        pytest.skip(f"the unprivileged user cannot run this Python: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def shared_dir():
    """A folder the unprivileged user can reach (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="jt-ro-"))
    os.chmod(d, 0o755)
    yield d
    for p in [d, *d.rglob("*")]:
        if p.is_dir():
            os.chmod(p, 0o755)
    shutil.rmtree(d, ignore_errors=True)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _wal_store(folder: Path, n: int) -> Path:
    db = folder / "traces.db"
    with TraceStore(db) as s:
        s.save_many([build_trace(i) for i in range(n)])
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    return db


def test_wal_file_in_unwritable_folder_opens_as_a_snapshot(shared_dir: Path) -> None:
    folder = shared_dir / "home"
    folder.mkdir()
    db = _wal_store(folder, 30)
    assert not Path(f"{db}-wal").exists()  # closed cleanly: every commit in the file
    os.chmod(db, 0o644)
    os.chmod(folder, 0o555)
    before = _digest(folder)

    got = _read_as_other_user(db)

    assert "error" not in got, got["error"] if "error" in got else ""
    assert got["read_only"] is True
    assert got["count"] == 30
    assert got["ids"] == [f"t{i:05d}" for i in range(30)]
    assert got["found"]  # full-text search works on the snapshot
    assert "snapshot" in got["snapshot"] and "new traces will not appear" in got["snapshot"]
    assert got["sync"] == 0
    assert got["label"].startswith("refused:") and "read-only" in got["label"]
    assert _digest(folder) == before  # nothing written, nothing created beside it


@pytest.mark.parametrize("shm_mode", [0o644, 0o600], ids=["shm-readable", "shm-private"])
def test_wal_content_not_yet_checkpointed_is_read_too(shared_dir: Path, shm_mode: int) -> None:
    """Readable -shm: read live; a -shm the user cannot open: a private snapshot copy."""
    folder = shared_dir / "home"
    folder.mkdir()
    db = _wal_store(folder, 20)
    # A writer (OpenJarvis) still has the file open: its last commits are in the WAL.
    writer = sqlite3.connect(db)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        for i in range(20, 25):
            writer.execute(
                "INSERT INTO traces (trace_id, query, agent, model, started_at)"
                " VALUES (?, ?, 'simple', 'qwen3:8b', ?)",
                (f"t{i:05d}", f"question number {i}", 1_700_000_000.0 + i),
            )
            writer.commit()
        assert Path(f"{db}-wal").stat().st_size > 0
        main_only = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
        assert main_only.execute("SELECT count(*) FROM traces").fetchone()[0] == 20
        main_only.close()
        for p in folder.iterdir():
            os.chmod(p, 0o644)
        os.chmod(f"{db}-shm", shm_mode)
        os.chmod(folder, 0o555)
        before = _digest(folder)

        got = _read_as_other_user(db)

        assert "error" not in got, got.get("error")
        assert got["read_only"] is True
        assert got["count"] == 25  # the 5 traces only in the WAL are there
        assert got["ids"] == [f"t{i:05d}" for i in range(25)]
        assert got["label"].startswith("refused:")
        if shm_mode == 0o600:
            assert "snapshot copied" in got["snapshot"]
            assert "new traces will not appear" in got["snapshot"]
        else:
            assert got["snapshot"] is None  # live: OpenJarvis's next trace will appear
        assert _digest(folder) == before
    finally:
        writer.close()
