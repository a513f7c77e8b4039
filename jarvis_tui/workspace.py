"""One workspace, opened once: its file layout and the stores over it.

:class:`Workspace` says where a workspace's files live (pure paths, no I/O).
:class:`WorkspaceSession` opens and owns what the app and the CLI read and write there:
the trace store, the optimization store, the agent config version store and the run
folders, with one :meth:`~WorkspaceSession.close`. Panes receive the session and take
their stores from it; nothing else builds a store from a path.

The trace store is opened explicitly (:meth:`WorkspaceSession.open_traces`: a first
open of a large OpenJarvis store indexes it, which takes a while and reports progress);
the other stores open on first use, so a session that never shows the Trials pane never
creates ``optimize.db``. Stores are imported on first use too: opening a session imports
neither numpy nor the optimization engine.

Engine code: no Textual.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jarvis_tui.paths import resolve_home

if TYPE_CHECKING:
    from jarvis_tui.configs.versions import VersionStore
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
    from jarvis_tui.learning.optimize.store import OptimizationStore
    from jarvis_tui.learning.training.runs import RunInfo
    from jarvis_tui.traces import TraceStore

ProgressFn = Callable[[str, int, int], None]
"""``progress(phase, done, total)`` while a first open indexes the trace store."""


@dataclass(frozen=True)
class Workspace:
    """The files of one workspace (an OpenJarvis home directory)."""

    root: Path

    @classmethod
    def at(cls, home: str | os.PathLike[str] | None = None) -> Workspace:
        """The workspace at *home* (``--home``, else ``$JARVIS_TUI_HOME``, else ``~/.openjarvis``)."""
        return cls(resolve_home(home))

    @property
    def traces_db(self) -> Path:
        """OpenJarvis's trace store (and our ``jt_`` tables)."""
        return self.root / "traces.db"

    @property
    def optimize_db(self) -> Path:
        """Optimization runs and trials."""
        return self.root / "optimize.db"

    @property
    def agents_dir(self) -> Path:
        """Agent config files, their versions under ``.history/``."""
        return self.root / "agents"

    @property
    def checkpoints_dir(self) -> Path:
        """One folder per training run."""
        return self.root / "checkpoints"

    @property
    def models_dir(self) -> Path:
        """Local base models (the tiny demo LM is built here)."""
        return self.root / "models"

    @property
    def logs_dir(self) -> Path:
        """``jarvis-tui.log``: failures of background work, with their tracebacks."""
        return self.root / "logs"


class WorkspaceError(Exception):
    """A workspace store cannot be opened; the message is one line for the user."""


class WorkspaceSession:
    """The open stores of one workspace, closed together by :meth:`close`.

    Thread-safe: stores may be asked for from worker threads; each is opened once.
    A context manager (``with WorkspaceSession.open(home) as ws: ...``). After
    :meth:`close` (idempotent) asking for a store raises :class:`WorkspaceError`.
    """

    def __init__(self, home: str | os.PathLike[str] | Workspace | None = None) -> None:
        """A session over *home* with nothing open yet (no I/O)."""
        self.paths: Workspace = home if isinstance(home, Workspace) else Workspace.at(home)
        """Where the workspace's files live."""
        self._lock = threading.RLock()
        self._traces: TraceStore | None = None
        self._optimization: OptimizationStore | None = None
        self._versions: VersionStore | None = None
        self._evolver: AgentConfigEvolver | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        home: str | os.PathLike[str] | Workspace | None = None,
        *,
        create: bool = True,
        progress: ProgressFn | None = None,
    ) -> WorkspaceSession:
        """A session with its trace store open (see :meth:`open_traces`)."""
        session = cls(home)
        session.open_traces(create=create, progress=progress)
        return session

    # ------------------------------------------------------------ the layout

    @property
    def root(self) -> Path:
        return self.paths.root

    @property
    def traces_db(self) -> Path:
        return self.paths.traces_db

    @property
    def optimize_db(self) -> Path:
        return self.paths.optimize_db

    @property
    def agents_dir(self) -> Path:
        return self.paths.agents_dir

    @property
    def checkpoints_dir(self) -> Path:
        return self.paths.checkpoints_dir

    @property
    def models_dir(self) -> Path:
        return self.paths.models_dir

    @property
    def logs_dir(self) -> Path:
        return self.paths.logs_dir

    # ------------------------------------------------------------ stores

    def _check_open(self) -> None:
        if self._closed:
            raise WorkspaceError(f"the session over {self.root} is closed")

    def open_traces(
        self,
        *,
        create: bool = True,
        migrate: bool = True,
        progress: ProgressFn | None = None,
    ) -> TraceStore:
        """Open the trace store (once; later calls return the same store).

        *create* False refuses a workspace with no ``traces.db`` instead of starting an
        empty one. Any reason the store cannot be opened (not a directory, not an
        SQLite file, not a trace store, locked, newer than this version) is one
        :class:`WorkspaceError` naming the file.
        """
        from jarvis_tui.traces import StoreError, TraceStore

        with self._lock:
            self._check_open()
            if self._traces is not None:
                return self._traces
            root, path = self.root, self.traces_db
            if root.exists() and not root.is_dir():
                raise WorkspaceError(f"{root} is not a directory")
            if not create and not path.exists():
                raise WorkspaceError(
                    f"no trace store in {root} (no traces.db): point --home at an OpenJarvis "
                    "workspace, or run `jarvis-tui demo` to build one"
                )
            try:
                self._traces = TraceStore(path, migrate=migrate, progress=progress)
            except StoreError as exc:
                raise WorkspaceError(_one_line(str(exc)) or f"cannot open {path}") from exc
            except OSError as exc:
                raise WorkspaceError(f"cannot open {path}: {exc.strerror or exc}") from exc
            return self._traces

    @property
    def traces_open(self) -> bool:
        """Whether :meth:`open_traces` has succeeded (and the session is not closed)."""
        return self._traces is not None and not self._closed

    @property
    def traces(self) -> TraceStore:
        """The open trace store; :class:`WorkspaceError` before :meth:`open_traces`."""
        self._check_open()
        if self._traces is None:
            raise WorkspaceError(f"the trace store of {self.root} is not open yet")
        return self._traces

    def optimization_store(self, *, create: bool = False) -> OptimizationStore | None:
        """The optimization store, opened on first use.

        None when the workspace has no ``optimize.db`` yet and *create* is False: only a
        run that is started creates it. An unreadable file is a :class:`WorkspaceError`.
        """
        from jarvis_tui.learning.optimize.store import OptimizationStore, StoreError

        with self._lock:
            self._check_open()
            if self._optimization is not None:
                return self._optimization
            if not create and not self.optimize_db.exists():
                return None
            try:
                self._optimization = OptimizationStore(self.optimize_db)
            except StoreError as exc:
                raise WorkspaceError(
                    _one_line(str(exc)) or f"cannot open {self.optimize_db}"
                ) from exc
            except OSError as exc:
                raise WorkspaceError(
                    f"cannot open {self.optimize_db}: {exc.strerror or exc}"
                ) from exc
            return self._optimization

    @property
    def config_versions(self) -> VersionStore:
        """Every version of each agent config under ``agents/`` (opened on first use)."""
        from jarvis_tui.configs.versions import VersionStore

        with self._lock:
            self._check_open()
            if self._versions is None:
                self._versions = VersionStore(self.agents_dir)
            return self._versions

    @property
    def evolver(self) -> AgentConfigEvolver:
        """The agent config evolver over the trace store and ``agents/`` (first use)."""
        from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

        with self._lock:
            self._check_open()
            if self._evolver is None:
                self._evolver = AgentConfigEvolver(self._traces, config_dir=self.agents_dir)
            return self._evolver

    def list_runs(self) -> list[RunInfo]:
        """The training runs under ``checkpoints/``, newest first."""
        from jarvis_tui.learning.training.runs import list_runs

        self._check_open()
        return list_runs(self.checkpoints_dir)

    # ------------------------------------------------------------ lifecycle

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close every store this session opened; a second call does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            stores = [self._optimization, self._traces]
            self._optimization = self._traces = None
            self._versions = self._evolver = None
        errors: list[BaseException] = []
        for store in stores:
            if store is None:
                continue
            try:
                store.close()
            except Exception as exc:  # close the others first, then report
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> WorkspaceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WorkspaceSession({str(self.root)!r}{', closed' if self._closed else ''})"


def _one_line(text: str) -> str:
    return " ".join(text.split())
