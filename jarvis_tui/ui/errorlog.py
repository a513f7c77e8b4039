"""The app's error log: every failed background job, with its traceback.

Failures a pane handles itself and only notifies about (the judge's endpoint refusing
the connection) are logged too, one line each (:meth:`ErrorLog.note`).

``<workspace>/logs/jarvis-tui.log`` (rotated at 1 MB, three old files kept), or
``$XDG_STATE_HOME/jarvis-tui/jarvis-tui.log`` when the workspace cannot take it
(read-only, or ``logs`` is not a plain directory). The file is created owner-only
and never opened through a symlink. Nothing is created until the first error.
"""

from __future__ import annotations

import io
import logging
import os
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path

from jarvis_tui.paths import FILE_MODE, ensure_dir
from jarvis_tui.ui.settings import user_state_dir

LOG_NAME = "jarvis-tui.log"
MAX_BYTES = 1_000_000
BACKUPS = 3


def _prepare(path: Path) -> bool:
    """Make *path* a plain owner-only file we can append to; False if it cannot be."""
    try:
        if path.parent.is_symlink() or path.is_symlink():
            return False
        ensure_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE)
        os.close(fd)
        return os.access(path, os.W_OK)
    except OSError:
        return False


class _OwnerOnlyHandler(RotatingFileHandler):
    """Rotated files are created owner-only too, and never through a symlink."""

    def _open(self) -> io.TextIOWrapper:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        fd = os.open(self.baseFilename, flags, FILE_MODE)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class ErrorLog:
    """Appends failures to the first usable log file (opened on first use)."""

    def __init__(self, workspace_root: Path) -> None:
        self.candidates = [workspace_root / "logs" / LOG_NAME, user_state_dir() / LOG_NAME]
        self.path: Path | None = None
        """Where the log is written (None until the first error, or if nowhere can be)."""
        self._logger: logging.Logger | None = None

    def _open(self) -> logging.Logger | None:
        if self._logger is not None:
            return self._logger
        for candidate in self.candidates:
            if _prepare(candidate):
                handler = _OwnerOnlyHandler(
                    candidate, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
                )
                handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
                logger = logging.getLogger(f"jarvis_tui.errors.{id(self)}")
                logger.propagate = False
                logger.setLevel(logging.INFO)
                logger.addHandler(handler)
                self._logger, self.path = logger, candidate
                return logger
        return None

    def record(self, what: str, error: BaseException) -> Path | None:
        """Log *error* (with its traceback) under *what*; the file it went to."""
        logger = self._open()
        if logger is None:
            return None
        tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        logger.error("%s failed: %r\n%s", what, error, tb.rstrip())
        return self.path

    def note(self, what: str, message: str, *, warning: bool = False) -> Path | None:
        """Log a failure that was handled (no traceback to keep): one line under *what*.

        For the errors a pane catches and only notifies about (a judge endpoint that
        refuses the connection, answers HTTP 500), so the log holds them too.
        """
        logger = self._open()
        if logger is None:
            return None
        text = " ".join(str(message).split())  # one line: a reply may hold newlines
        logger.log(logging.WARNING if warning else logging.ERROR, "%s failed: %s", what, text)
        return self.path

    def close(self) -> None:
        if self._logger is not None:
            for handler in list(self._logger.handlers):
                handler.close()
                self._logger.removeHandler(handler)
            self._logger = None
