"""The run folder: what a LoRA run writes, and how anyone else reads it.

One folder per run under a workspace's ``checkpoints/``::

    checkpoints/20261129-081530-ab12/
        run.json        # config, model, data sizes, status, timestamps, pid, host
        metrics.jsonl   # one JSON object per line: step, eval and epoch records
        epoch-1/ …      # adapters saved at epoch ends (peft folders)
        final/          # the adapter at the end (or at a cancel)

The trainer writes it through :class:`RunWriter`; the Training pane (or any other
process, on this host or on a shared disk) follows it with :func:`list_runs`,
:meth:`RunInfo.load` and :class:`MetricsTail`. Nothing here imports torch.

Record shapes in ``metrics.jsonl``:

* ``{"type": "step", "step", "epoch", "loss", "lr", "grad_norm", "tokens",
  "tokens_per_s", "elapsed", "eta"}`` — ``step`` is 1-based and global,
  ``epoch`` fractional (1.25 = a quarter into the second epoch), ``tokens`` the
  real (non-pad) tokens of the step;
* ``{"type": "eval", "epoch", "step", "eval_loss"}`` — held-out loss at an epoch end;
* ``{"type": "epoch", "epoch", "step", "adapter"}`` — ``adapter`` is the saved
  folder relative to the run folder, or ``None`` when that epoch saved none.

Files are read totally: a malformed, too deep (``[[[[…`` 1,000 levels) or mistyped
line is skipped and reported once in :attr:`MetricsTail.problems` (its line number
and why); a follower never stops on one. A killed writer's temp files (``.*.tmp``,
``.final.tmp-<pid>-…``) are removed by :func:`list_runs` once the run is over.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from jarvis_tui.core import safejson
from jarvis_tui.paths import DIR_MODE, FILE_MODE, atomic_write_text, ensure_dir

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"

STATUSES = ("running", "completed", "cancelled", "failed", "diverged", "interrupted")
FINAL_STATUSES = ("completed", "cancelled", "failed", "diverged")

STALE_AFTER_S = 120.0
"""A "running" run whose heartbeat is older than this is shown as interrupted."""

HEARTBEAT_S = 5.0
"""How often a live writer refreshes ``updated`` in run.json (from its own thread)."""

LEFTOVER_AGE_S = 60.0
"""A temp file of a finished or interrupted run is removed once this old."""

MAX_LINE_BYTES = 16 * 1024 * 1024
"""A metrics.jsonl line longer than this is skipped unread (a record is a few hundred bytes)."""

# Temp names the writers use: atomic_write_text's ``.run.json.<random>.tmp``, the
# trainer's ``.final.tmp-<pid>-<thread>`` and ``.final.old-<pid>`` adapter folders.
_LEFTOVER = re.compile(r"^\..+\.(?:tmp|tmp-(\d+)-\d+|old-(\d+))$")

# Fields of the documented records and the types a follower may rely on.
_NUMERIC_FIELDS = (
    "step", "epoch", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed", "eta",
    "eval_loss", "total_steps",
)  # fmt: skip


def new_run_id(now: Optional[float] = None) -> str:
    """``20261129-081530-ab12``: sortable by start time, unique enough per second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(2)}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _finite_or_none(x: Any) -> Optional[float]:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _json_safe(obj: Any) -> Any:
    """NaN/inf become ``None`` (strict JSON); other values pass through ``default=str``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(_json_safe(obj), default=str, allow_nan=False, **kw)


@dataclass
class RunInfo:
    """What ``run.json`` says about one run, as a reader sees it now."""

    run_id: str
    path: Path
    status: str
    """``running`` | ``completed`` | ``cancelled`` | ``failed`` | ``diverged`` | ``interrupted``."""
    model: str
    created: float
    updated: float
    """Last heartbeat (or the finish time)."""
    steps_done: int
    total_steps: int
    final_loss: Optional[float]
    duration: Optional[float]
    """Seconds from start to finish; ``None`` while running."""
    config: dict
    data: dict
    """Sizes: ``pairs``, ``train_examples``, ``eval_examples``, ``truncated``, ..."""
    message: str
    pid: Optional[int] = None
    host: str = ""
    summary: dict = field(default_factory=dict)
    """The trainer's summary when finished (extra keys beyond the fields above)."""

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def adapter_path(self) -> Optional[Path]:
        """The newest adapter on disk: ``final/``, else the highest ``epoch-N/``."""
        final = self.path / "final"
        if (final / "adapter_config.json").is_file():
            return final
        best: tuple[int, Optional[Path]] = (0, None)
        try:
            entries = list(self.path.iterdir())
        except OSError:
            return None
        for p in entries:
            if p.name.startswith("epoch-") and (p / "adapter_config.json").is_file():
                try:
                    n = int(p.name[len("epoch-") :])
                except ValueError:
                    continue
                if n > best[0]:
                    best = (n, p)
        return best[1]

    def clean_leftovers(self, *, now: Optional[float] = None) -> List[Path]:
        """Remove temp files a killed writer left in the run folder; returns them.

        Only once the run is over (any status but ``running``: a live writer's temp
        files are never touched), only entries older than :data:`LEFTOVER_AGE_S`, and
        never one named after a process that is still alive on this host.
        """
        if self.status == "running":
            return []
        try:
            entries = list(self.path.iterdir())
        except OSError:
            return []
        now = time.time() if now is None else now
        here = self.host in ("", socket.gethostname())
        removed: List[Path] = []
        for entry in entries:
            m = _LEFTOVER.match(entry.name)
            if m is None:
                continue
            pid = m.group(1) or m.group(2)
            if pid is not None and here and _pid_alive(int(pid)):
                continue
            try:
                st = entry.lstat()
                if now - st.st_mtime < LEFTOVER_AGE_S:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except OSError as exc:
                logger.debug("leftover %s not removed: %s", entry, exc)
                continue
            removed.append(entry)
        if removed:
            logger.info("run %s: removed %d leftover temp file(s)", self.run_id, len(removed))
        return removed

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunInfo:
        """Read ``path/run.json``; never raises for a folder.

        A missing or malformed run.json gives status ``failed`` with the reason in
        ``message``. A run that says ``running`` but whose writer is gone (its pid
        is dead on this host, or its heartbeat is older than
        :data:`STALE_AFTER_S`) gives ``interrupted``.
        """
        p = Path(path)
        try:
            raw, why_not = safejson.parse((p / RUN_FILE).read_bytes())
            if why_not is not None:
                raise ValueError(why_not)
            if not isinstance(raw, dict):
                raise ValueError("run.json is not a JSON object")
        except (OSError, ValueError) as exc:
            try:
                mtime = p.stat().st_mtime
            except OSError:
                mtime = 0.0
            why = (
                "no run.json"
                if isinstance(exc, FileNotFoundError)
                else f"unreadable run.json: {exc}"
            )
            return cls(
                run_id=p.name, path=p, status="failed", model="", created=mtime, updated=mtime,
                steps_done=0, total_steps=0, final_loss=None, duration=None, config={}, data={},
                message=why,
            )  # fmt: skip

        def num(key: str, default: float = 0.0) -> float:
            v = _finite_or_none(raw.get(key))
            return default if v is None else v

        def whole(key: str) -> int:
            v = raw.get(key)
            return (
                int(v)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                else 0
            )

        def mapping(key: str) -> dict:
            v = raw.get(key)
            return v if isinstance(v, dict) else {}

        status = raw.get("status")
        raw_message = raw.get("message")
        message = raw_message if isinstance(raw_message, str) else ""
        if status not in STATUSES:
            message = message or f"unknown status {status!r}"
            status = "failed"
        pid = raw.get("pid") if isinstance(raw.get("pid"), int) else None
        raw_host = raw.get("host")
        host = raw_host if isinstance(raw_host, str) else ""
        created = num("created")
        updated = num("updated", created)
        if status == "running":
            dead = pid is not None and host == socket.gethostname() and not _pid_alive(pid)
            stale = time.time() - updated > STALE_AFTER_S
            if dead or stale:
                status = "interrupted"
                why = "its process is gone" if dead else "no heartbeat for over 2 minutes"
                message = f"interrupted: {why}; the last saved adapter is kept"
        model = raw.get("model")
        return cls(
            run_id=str(raw.get("run_id") or p.name),
            path=p,
            status=status,
            model=model if isinstance(model, str) else "",
            created=created,
            updated=updated,
            steps_done=whole("steps_done"),
            total_steps=whole("total_steps"),
            final_loss=_finite_or_none(raw.get("final_loss")),
            duration=_finite_or_none(raw.get("duration")),
            config=mapping("config"),
            data=mapping("data"),
            message=message,
            pid=pid,
            host=host,
            summary=mapping("summary"),
        )


def list_runs(checkpoints_dir: str | os.PathLike[str], *, clean: bool = True) -> List[RunInfo]:
    """Every run folder (a folder with a run.json) under *checkpoints_dir*, newest first.

    With *clean* (the default), temp files that killed writers left in runs that are
    over are removed on the way (:meth:`RunInfo.clean_leftovers`).
    """
    root = Path(checkpoints_dir)
    try:
        entries = list(root.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    runs = [
        RunInfo.load(p)
        for p in entries
        if not p.name.startswith(".") and p.is_dir() and (p / RUN_FILE).exists()
    ]
    runs.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    if clean:
        for run in runs:
            run.clean_leftovers()
    return runs


class MetricsTail:
    """Follow a ``metrics.jsonl`` incrementally (another process may be appending).

    Each :meth:`read_new` reads only the bytes added since the last call and
    returns the complete new lines as dicts; a partial last line stays for the
    next call. A malformed line (not JSON, nested deeper than the limit, not an
    object, a known field of the wrong type, longer than :data:`MAX_LINE_BYTES`) is
    skipped and reported once in :attr:`problems`. A file that does not exist yet
    gives ``[]``; a file that shrank or was replaced is read again from the start
    (:attr:`restarts` counts those, so a follower knows to drop what it had).

    Calls from several threads are serialized: each line is returned once, to one
    caller (a follower whose previous read is still running when its timer fires
    again must not get the file twice).
    """

    CHUNK = 1 << 20

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0
        """Bytes consumed: the end of the last complete line returned."""
        self._inode: Optional[tuple[int, int]] = None
        self.skipped = 0
        """Malformed lines seen so far."""
        self.problems: List[str] = []
        """One line per skipped line: ``metrics.jsonl line 17: JSON nested deeper …``."""
        self._line = 0  # lines consumed so far (the next line's number is this + 1)
        self._overlong = False  # inside a line longer than MAX_LINE_BYTES
        self.restarts = 0
        """Times the file was replaced or truncated and read again from its start."""
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.offset = 0
        self._inode = None
        self._line = 0
        self._overlong = False

    def read_new(self) -> List[Dict[str, Any]]:
        with self._lock:
            return self._read_new()

    def _read_new(self) -> List[Dict[str, Any]]:
        try:
            fh = open(self.path, "rb")
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return []
        with fh:
            st = os.fstat(fh.fileno())
            ident = (st.st_dev, st.st_ino)
            if self._inode is not None and ident != self._inode:
                self.reset()  # replaced (e.g. rewritten atomically): start over
                self.restarts += 1
            self._inode = ident
            if st.st_size < self.offset:
                self.reset()  # truncated
                self.restarts += 1
                self._inode = ident
            if st.st_size == self.offset:
                return []
            fh.seek(self.offset)
            out: List[Dict[str, Any]] = []
            pending = b""
            while True:
                chunk = fh.read(self.CHUNK)
                if not chunk:
                    break
                data = pending + chunk
                if self._overlong:  # drop the rest of an overlong line, up to its end
                    cut = data.find(b"\n")
                    if cut < 0:
                        self.offset += len(data)
                        pending = b""
                        continue
                    self.offset += cut + 1
                    data = data[cut + 1 :]
                    self._overlong = False
                end = data.rfind(b"\n")
                if end < 0:
                    if len(data) > MAX_LINE_BYTES:
                        self._line += 1
                        self._skip(f"longer than {MAX_LINE_BYTES:,} bytes")
                        self._overlong = True
                        self.offset += len(data)
                        pending = b""
                    else:
                        pending = data
                    continue
                self._parse(data[:end], out)
                self.offset += end + 1
                pending = data[end + 1 :]
            return out

    def _skip(self, why: str) -> None:
        self.skipped += 1
        problem = f"{self.path.name} line {self._line}: skipped: {why}"
        self.problems.append(problem)
        logger.warning("%s: %s", self.path.parent.name, problem)

    def _parse(self, block: bytes, out: List[Dict[str, Any]]) -> None:
        for line in block.split(b"\n"):
            self._line += 1
            if not line.strip():
                continue
            if len(line) > MAX_LINE_BYTES:
                self._skip(f"longer than {MAX_LINE_BYTES:,} bytes")
                continue
            rec, why = safejson.parse(line)
            if why is None:
                why = _record_problem(rec)
            if why is not None:
                self._skip(why)
                continue
            out.append(rec)


def _record_problem(rec: Any) -> Optional[str]:
    """Why *rec* is not a record a follower can use, or None."""
    if not isinstance(rec, dict):
        return f"a JSON {type(rec).__name__}, not an object"
    kind = rec.get("type")
    if kind is not None and not isinstance(kind, str):
        return f"type is a {type(kind).__name__}"
    for key in _NUMERIC_FIELDS:
        v = rec.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return f"{key} is a {type(v).__name__}, not a number"
    return None


class RunWriter:
    """Create and keep a run folder up to date (the trainer's side; thread-safe).

    ``run.json`` is rewritten atomically (a reader never sees half a file); it is
    refreshed by a small daemon thread every :data:`HEARTBEAT_S` while the run is
    live, so a long step or a slow save never makes a live run look interrupted.
    ``metrics.jsonl`` gets one line per :meth:`append`, written through to the OS
    at once (a follower sees it immediately) and fsynced every *fsync_every*
    lines or *fsync_interval* seconds. An append is all or nothing: when the disk
    is full the line is not in the file (a partial write is cut off again) and
    the error says so, so a caller that retries never writes a record twice.
    """

    def __init__(
        self,
        checkpoints_dir: str | os.PathLike[str],
        *,
        model: str,
        config: Optional[dict] = None,
        data: Optional[dict] = None,
        total_steps: int = 0,
        run_id: Optional[str] = None,
        fsync_every: int = 50,
        fsync_interval: float = 1.0,
        heartbeat_interval: float = HEARTBEAT_S,
        heartbeat_thread: bool = True,
    ) -> None:
        root = ensure_dir(Path(checkpoints_dir).expanduser())
        for _ in range(20):
            rid = run_id or new_run_id()
            path = root / rid
            try:
                path.mkdir(mode=DIR_MODE)
            except FileExistsError:
                if run_id:
                    raise
                continue
            break
        else:  # pragma: no cover - 20 collisions of 16 random bits in one second
            raise FileExistsError(f"could not create a new run folder in {root}")
        os.chmod(path, DIR_MODE)
        self.run_id = rid
        self.path = path
        self.metrics_path = path / METRICS_FILE
        self._lock = threading.RLock()
        self._fsync_every = max(1, fsync_every)
        self._fsync_interval = fsync_interval
        self._heartbeat_interval = heartbeat_interval
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._last_beat = 0.0
        self._t0 = time.monotonic()
        now = time.time()
        self._state: Dict[str, Any] = {
            "run_id": rid,
            "status": "running",
            "model": model,
            "created": now,
            "updated": now,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "steps_done": 0,
            "total_steps": int(total_steps),
            "final_loss": None,
            "duration": None,
            "message": "",
            "config": dict(config or {}),
            "data": dict(data or {}),
            "summary": {},
        }
        # The folder is new (mkdir above), and a link planted in it is never followed.
        self._fd = os.open(
            self.metrics_path,
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0),
            FILE_MODE,
        )
        self._metrics_closed = False
        self._pending_newline = False  # a partial line that could not be cut back
        self._size = os.fstat(self._fd).st_size  # where the next line starts
        self._write_run()
        self._stop_beat = threading.Event()
        self._beat: Optional[threading.Thread] = None
        if heartbeat_thread:
            self._beat = threading.Thread(
                target=self._beat_loop, name=f"run-heartbeat-{rid}", daemon=True
            )
            self._beat.start()

    # -- state --------------------------------------------------------------

    @property
    def status(self) -> str:
        return self._state["status"]

    @property
    def finished(self) -> bool:
        return self._state["status"] != "running"

    def update(self, **fields: Any) -> None:
        """Change run.json fields (``total_steps``, ``data``, ``message``, ...) and write it."""
        with self._lock:
            for key, value in fields.items():
                if key in ("data", "config", "summary") and isinstance(value, dict):
                    self._state[key] = {**self._state[key], **value}
                else:
                    self._state[key] = value
            self._write_run()

    def _write_run(self) -> None:
        self._state["updated"] = time.time()
        atomic_write_text(self.path / RUN_FILE, _dumps(self._state, indent=2) + "\n")
        self._last_beat = time.monotonic()

    # -- metrics ------------------------------------------------------------

    def append(self, record: Dict[str, Any]) -> None:
        """Append one record as a line of metrics.jsonl."""
        # NaN/Infinity stay as such here (Python's json reads them back): a
        # diverging step must reach a follower as a NaN loss, not as null.
        data = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        with self._lock:
            if self._metrics_closed:
                raise ValueError(f"run {self.run_id} is finished; cannot append")
            self._write_all(data)  # straight to the OS: a follower sees the line now
            self._unsynced += 1
            if record.get("type") == "step" and isinstance(record.get("step"), int):
                self._state["steps_done"] = record["step"]
            now = time.monotonic()
            if self._unsynced >= self._fsync_every or now - self._last_sync >= self._fsync_interval:
                self._sync()

    def _write_all(self, data: bytes) -> None:
        """Write one whole line or, on failure, none of it (cut back to the line start)."""
        if self._pending_newline:
            data = b"\n" + data
        start = self._size
        done = 0
        try:
            while done < len(data):
                n = os.write(self._fd, data[done:])
                if n <= 0:  # pragma: no cover - a regular file never writes 0 bytes
                    raise OSError(errno.EIO, "write returned 0")
                done += n
        except OSError as exc:
            if done:
                try:
                    os.ftruncate(self._fd, start)
                except OSError:
                    # Cannot cut it back: end the partial line, which a follower skips
                    # as malformed, so the next record starts on a line of its own.
                    self._size = start + done
                    self._pending_newline = True
            raise OSError(
                exc.errno,
                f"{self.metrics_path}: record not written ({exc.strerror or exc})",
            ) from exc
        self._size = start + done
        self._pending_newline = False

    def _sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError:
            pass
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def heartbeat(self, *, force: bool = False) -> None:
        """Refresh ``updated`` (and ``steps_done``) in run.json, at most every few seconds."""
        with self._lock:
            if self.finished:
                return
            if force or time.monotonic() - self._last_beat >= self._heartbeat_interval:
                self._write_run()

    def _beat_loop(self) -> None:
        while not self._stop_beat.wait(self._heartbeat_interval):
            try:
                self.heartbeat()
            except OSError:
                pass  # a full disk must not kill the run; the next beat retries

    # -- end ----------------------------------------------------------------

    def finish(self, status: str, **summary: Any) -> None:
        """Record the final *status* and summary; closes metrics.jsonl. Idempotent.

        ``final_loss``, ``duration`` (default: since this writer started),
        ``message`` and ``steps_done`` go to their run.json fields; every other
        keyword goes to run.json's ``summary``.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {FINAL_STATUSES}, got {status!r}")
        self._stop_beat.set()
        with self._lock:
            if self.finished:
                return
            if not self._metrics_closed:
                self._sync()
                self._close_metrics()
            self._state["status"] = status
            self._state["duration"] = summary.pop("duration", time.monotonic() - self._t0)
            for key in ("final_loss", "message", "steps_done", "total_steps"):
                if key in summary:
                    self._state[key] = summary.pop(key)
            self._state["summary"] = {**self._state["summary"], **summary}
            self._write_run()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join(timeout=5)

    def close(self) -> None:
        """Stop the heartbeat and close the file without a final status (a crash, in tests)."""
        self._stop_beat.set()
        with self._lock:
            if not self._metrics_closed:
                self._close_metrics()

    def _close_metrics(self) -> None:
        self._metrics_closed = True
        os.close(self._fd)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.finished:
            why = f"{exc_type.__name__}: {exc}" if exc_type else "ended without a final status"
            self.finish("failed", message=why)


__all__ = [
    "FINAL_STATUSES",
    "METRICS_FILE",
    "RUN_FILE",
    "STATUSES",
    "MetricsTail",
    "RunInfo",
    "RunWriter",
    "list_runs",
    "new_run_id",
]
