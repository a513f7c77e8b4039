"""The workspace session: opens the stores of one workspace, closes them together."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.learning.optimize.store import OptimizationStore
from jarvis_tui.learning.optimize.store import StoreError as OptStoreError
from jarvis_tui.paths import Workspace as PathsWorkspace
from jarvis_tui.traces import StoreError, TraceStore
from jarvis_tui.workspace import Workspace, WorkspaceError, WorkspaceSession


def _with_traces(home: Path, n: int = 3) -> Path:
    store = TraceStore(home / "traces.db")
    store.save_many([Trace(trace_id=f"t{i}", query=f"q {i}", started_at=1.0 + i) for i in range(n)])
    store.close()
    return home


def _connections_work(store: TraceStore) -> bool:
    try:
        store.get("t0")
    except (sqlite3.ProgrammingError, StoreError):
        return False
    return True


def test_paths_workspace_is_the_same_class(tmp_path: Path) -> None:
    assert PathsWorkspace is Workspace
    ws = PathsWorkspace(tmp_path)
    assert ws.traces_db == tmp_path / "traces.db"
    assert ws.agents_dir == tmp_path / "agents"


def test_open_reads_the_traces_and_knows_the_layout(tmp_path: Path) -> None:
    home = _with_traces(tmp_path / "ws")
    with WorkspaceSession.open(home) as session:
        assert session.traces_open
        assert session.traces.get("t1").query == "q 1"
        assert session.open_traces() is session.traces  # opened once
        assert session.root == home
        assert session.optimize_db == home / "optimize.db"
        assert session.checkpoints_dir == home / "checkpoints"
        assert session.list_runs() == []


def test_optimization_store_is_not_created_until_asked(tmp_path: Path) -> None:
    home = _with_traces(tmp_path / "ws")
    with WorkspaceSession.open(home) as session:
        assert session.optimization_store() is None
        assert not (home / "optimize.db").exists()
        opt = session.optimization_store(create=True)
        assert isinstance(opt, OptimizationStore)
        assert session.optimization_store() is opt
    assert (home / "optimize.db").exists()


def test_close_closes_every_store_it_opened_and_twice_is_harmless(tmp_path: Path) -> None:
    home = _with_traces(tmp_path / "ws")
    session = WorkspaceSession.open(home)
    traces = session.traces
    opt = session.optimization_store(create=True)
    assert opt is not None
    assert _connections_work(traces) and opt.list_runs() == []
    session.close()
    assert not _connections_work(traces)
    with pytest.raises((sqlite3.ProgrammingError, OptStoreError)):
        opt.list_runs()
    session.close()  # harmless
    assert session.closed and not session.traces_open
    with pytest.raises(WorkspaceError, match="closed"):
        _ = session.traces
    with pytest.raises(WorkspaceError, match="closed"):
        session.optimization_store()


def test_a_missing_traces_db_is_one_clear_error_when_not_creating(tmp_path: Path) -> None:
    home = tmp_path / "nothing-here"
    home.mkdir()
    with pytest.raises(WorkspaceError) as err:
        WorkspaceSession.open(home, create=False)
    msg = str(err.value)
    assert "traces.db" in msg and "jarvis-tui demo" in msg and "\n" not in msg
    assert not (home / "traces.db").exists()
    # Creating (the app's default) starts an empty store instead.
    with WorkspaceSession.open(home) as session:
        assert session.traces.count() == 0


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: p.write_bytes(b"this is not sqlite at all" * 100), id="garbage"),
        pytest.param(lambda p: p.mkdir(), id="a-folder"),
    ],
)
def test_an_unreadable_traces_db_is_one_clear_error(tmp_path: Path, make) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    make(home / "traces.db")
    session = WorkspaceSession(home)
    with pytest.raises(WorkspaceError) as err:
        session.open_traces()
    msg = str(err.value)
    assert "traces.db" in msg and "\n" not in msg
    assert not session.traces_open
    session.close()


def test_a_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "file"
    home.write_text("x")
    with pytest.raises(WorkspaceError, match="not a directory"):
        WorkspaceSession.open(home)


def test_opening_a_session_imports_no_numpy_or_optimizer(tmp_path: Path) -> None:
    home = _with_traces(tmp_path / "ws")
    code = (
        "import sys\n"
        "from jarvis_tui.workspace import WorkspaceSession\n"
        f"s = WorkspaceSession.open({str(home)!r})\n"
        "s.traces.get('t0'); s.close()\n"
        "bad = [m for m in ('numpy', 'optuna', 'torch', 'textual') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
