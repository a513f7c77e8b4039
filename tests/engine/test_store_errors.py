"""The stores' errors: one class per store under one base, old names still importable,
and the CLI reports any of them as one line."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.core.errors import JarvisStoreError, OptimizeStoreError, TraceStoreError
from jarvis_tui.learning.optimize import StoreError as OptimizeStoreErrorFromPackage
from jarvis_tui.learning.optimize.store import OptimizationStore
from jarvis_tui.learning.optimize.store import StoreError as OldOptimizeStoreError
from jarvis_tui.traces import StoreError as TraceStoreErrorFromPackage
from jarvis_tui.traces.store import NotATraceStore, TraceStore
from jarvis_tui.traces.store import StoreError as OldTraceStoreError


def test_each_store_has_its_own_error_under_one_base() -> None:
    assert issubclass(TraceStoreError, JarvisStoreError)
    assert issubclass(OptimizeStoreError, JarvisStoreError)
    assert not issubclass(TraceStoreError, OptimizeStoreError)
    assert not issubclass(OptimizeStoreError, TraceStoreError)
    # The old name where it was is the store's own class.
    assert OldOptimizeStoreError is OptimizeStoreError
    assert OptimizeStoreErrorFromPackage is OptimizeStoreError
    assert OldTraceStoreError is TraceStoreError
    assert TraceStoreErrorFromPackage is TraceStoreError
    assert issubclass(NotATraceStore, TraceStoreError)


def test_a_file_that_is_not_an_optimize_db_raises_the_optimize_error(tmp_path: Path) -> None:
    bad = tmp_path / "optimize.db"
    bad.write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(OptimizeStoreError) as info:
        OptimizationStore(bad)
    assert isinstance(info.value, JarvisStoreError)
    assert not isinstance(info.value, TraceStoreError)


def test_a_folder_as_the_trace_store_raises_the_trace_error(tmp_path: Path) -> None:
    folder = tmp_path / "traces.db"
    folder.mkdir()
    with pytest.raises(TraceStoreError) as info:
        TraceStore(folder)
    assert "is a directory" in str(info.value)
    assert not isinstance(info.value, OptimizeStoreError)


class _SomeOtherStoreError(JarvisStoreError):
    """A store error the CLI has never heard of by name."""


@pytest.mark.parametrize(
    "exc",
    [
        OptimizeStoreError("optimize.db: cannot open: file is not a database"),
        TraceStoreError("traces.db is locked by another program; try again in a moment"),
        _SomeOtherStoreError("x.db is locked"),
    ],
)
def test_the_cli_reports_any_store_error_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception
) -> None:
    module = types.ModuleType("jarvis_tui.ui.app")

    def run_app(home: Path) -> int:
        raise exc

    module.run_app = run_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jarvis_tui.ui.app", module)
    assert main(["--home", "/tmp"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"jarvis-tui: error: {exc}"]
