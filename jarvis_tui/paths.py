"""Where a workspace's files live, and how we create them (owner-only, atomically)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jarvis_tui.workspace import Workspace as Workspace

ENV_HOME = "JARVIS_TUI_HOME"
DEFAULT_HOME = Path("~/.openjarvis")

FILE_MODE = 0o600
DIR_MODE = 0o700


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The workspace directory: ``--home``, else ``$JARVIS_TUI_HOME``, else ``~/.openjarvis``,
    made absolute once, here: a path stored from it (a run's model and adapter folders
    in ``run.json``) must still name the same folder from another working directory."""
    if home is None:
        home = os.environ.get(ENV_HOME) or DEFAULT_HOME
    try:
        return Path(home).expanduser().absolute()
    except RuntimeError:  # "~name" naming no user (pathlib cannot expand it)
        raise ValueError(f"cannot expand {str(home)!r}: no such user or home directory") from None


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create *path* (and parents) owner-only; an existing directory keeps its mode."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{p} exists and is not a directory")
    missing = []
    cur = p
    while not cur.exists():
        missing.append(cur)
        cur = cur.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)  # mkdir's mode is filtered by the umask
    return p


def secure_touch(path: str | os.PathLike[str]) -> Path:
    """Create an empty owner-only file if it does not exist yet (never truncates)."""
    p = Path(path)
    ensure_dir(p.parent)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return p
    os.close(fd)
    return p


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write *data* to *path* atomically: temp file in the same dir, fsync, rename.

    A reader sees either the old file or the new one, never a partial write.
    The file is created owner-only.
    """
    p = Path(path)
    ensure_dir(p.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename durable
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Text variant of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


class ExportPathError(ValueError):
    """A path an export refuses to write to: ``"<path> <reason>"``.

    The fields are kept so a screen can say it its own way (the path cut in the
    middle, the reason whole) instead of editing the message.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, *,
                 missing_folder: Path | None = None) -> None:  # fmt: skip
        super().__init__(f"{path} {reason}")
        self.path = path
        """The path the reason is about (the target, or the folder that is missing)."""
        self.reason = reason
        """Why it is refused, after the path ("is a symbolic link: give another path")."""
        self.missing_folder = missing_folder
        """The parent folder that does not exist, when that is the reason."""


WORKSPACE_FILES = {
    "traces.db": "the trace store",
    "optimize.db": "the optimization store",
    "optimize.toml": "the search space",
    "optimize-studies.journal": "the optimization studies' journal",
    "jarvis-tui.toml": "the settings file",
    ".traces.db.building": "the demo build's temporary store",
}
"""The workspace's own files at its root (and their SQLite ``-wal``/``-shm``/
``-journal`` sidecars): an export never writes over one."""

WORKSPACE_DIRS = {
    "agents": "the agent configs",
    "checkpoints": "the training runs",
    "models": "the local models",
    "evals": "the evaluations",
    "logs": "the logs",
    "optimize-workers": "the optimization workers",
}
"""The workspace's own folders: an export never writes anything inside one."""


def workspace_own(path: str | os.PathLike[str], workspace: str | os.PathLike[str]) -> str | None:
    """Why *path* is one of the *workspace*'s own files (its trace store, optimize.db,
    settings, anything under ``agents/``, ``checkpoints/`` …), in words after the path,
    else None. Compared without following the last component (a link there is refused
    by its own rule), so ``./traces.db`` and ``../ws/traces.db`` are caught too."""
    try:
        root = Path(workspace).expanduser().resolve()
        target = Path(os.path.abspath(Path(path).expanduser()))
        target = target.parent.resolve() / target.name
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(root) or target == root:
        return None
    parts = target.relative_to(root).parts
    if parts[0] in WORKSPACE_DIRS:
        return (f"is inside the workspace's {parts[0]}/ ({WORKSPACE_DIRS[parts[0]]}): an "
                "export never writes there: give another path")  # fmt: skip
    if len(parts) == 1:
        for own, what in WORKSPACE_FILES.items():
            if parts[0] in (own, f"{own}-wal", f"{own}-shm", f"{own}-journal"):
                return f"is {what} of the workspace: an export never writes over it"
    return None


def check_export_path(
    path: str | os.PathLike[str],
    *,
    workspace: str | os.PathLike[str] | None = None,
    parents: bool = False,
    folder_ok: bool = False,
) -> Path:
    """The one rule for every export target (the CLI's, the panes', the engine's).

    Returns *path* expanded; raises :class:`ExportPathError` saying why it is refused:
    a symbolic link (the write would land wherever it points), an existing directory
    (unless *folder_ok*), a parent that is not a folder, a missing parent folder, or,
    with *workspace*, one of the workspace's own files (:func:`workspace_own`).
    Missing parents are created by the write only with *parents*, or when *path* is
    inside *workspace* (the workspace's own folders, such as ``recipes/``); a missing
    folder elsewhere is most likely a typo, so it is refused, never made.
    """
    try:
        target = Path(path).expanduser()
    except RuntimeError:  # "~name" naming no user
        raise ExportPathError(str(path), "names no user: cannot expand it") from None
    if workspace is not None:
        own = workspace_own(target, workspace)
        if own is not None:
            raise ExportPathError(target, own)
    if target.is_symlink():
        raise ExportPathError(target, "is a symbolic link: give another path")
    if target.is_dir() and not folder_ok:
        raise ExportPathError(target, "is a directory: give a file name to write")
    parent = Path(os.path.abspath(target)).parent
    existing = parent
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ExportPathError(existing, "is not a folder: give another path")
    if existing != parent and not parents:
        inside = False
        if workspace is not None:
            root = Path(workspace).expanduser().resolve()
            inside = Path(os.path.abspath(target)).resolve().is_relative_to(root)
        if not inside:
            raise ExportPathError(parent, "does not exist: create it first", missing_folder=parent)
    return target


def trace_store_problem(path: str | os.PathLike[str]) -> str | None:
    """Why *path* cannot be read as a trace store (one line), or None when it is a file.

    Says what is wrong: missing, a directory, a dangling link, not a regular file. What
    the file holds (not SQLite, unreadable, not a trace store) is the store's own check
    when it is opened.
    """
    p = Path(path)
    if p.is_dir():
        return f"{p} is a directory, not a trace database"
    if p.is_symlink() and not p.exists():
        return f"{p} is a symbolic link to nothing ({os.readlink(p)}), not a trace database"
    if not os.path.lexists(p):
        return f"no trace store at {p}"
    if not p.is_file():
        return f"{p} is not a regular file, not a trace database"
    return None


def __getattr__(name: str) -> Any:
    # ``Workspace`` moved to :mod:`jarvis_tui.workspace` (with the session over it); it is
    # re-exported here lazily, since that module imports this one.
    if name == "Workspace":
        from jarvis_tui.workspace import Workspace

        return Workspace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
