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
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from jarvis_tui.paths import DIR_MODE, FILE_MODE, atomic_write_text, ensure_dir

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"

STATUSES = ("running", "completed", "cancelled", "failed", "diverged", "interrupted")
FINAL_STATUSES = ("completed", "cancelled", "failed", "diverged")

STALE_AFTER_S = 120.0
"""A "running" run whose heartbeat is older than this is shown as interrupted."""

HEARTBEAT_S = 5.0
"""How often a live writer refreshes ``updated`` in run.json (from its own thread)."""


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
            raw = json.loads((p / RUN_FILE).read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("run.json is not a JSON object")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
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
        message = raw.get("message") if isinstance(raw.get("message"), str) else ""
        if status not in STATUSES:
            message = message or f"unknown status {status!r}"
            status = "failed"
        pid = raw.get("pid") if isinstance(raw.get("pid"), int) else None
        host = raw.get("host") if isinstance(raw.get("host"), str) else ""
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


def list_runs(checkpoints_dir: str | os.PathLike[str]) -> List[RunInfo]:
    """Every run folder (a folder with a run.json) under *checkpoints_dir*, newest first."""
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
    return runs


class MetricsTail:
    """Follow a ``metrics.jsonl`` incrementally (another process may be appending).

    Each :meth:`read_new` reads only the bytes added since the last call and
    returns the complete new lines as dicts; a partial last line stays for the
    next call, malformed lines are skipped. A file that does not exist yet gives
    ``[]``; a file that shrank or was replaced is read again from the start.
    """

    CHUNK = 1 << 20

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0
        """Bytes consumed: the end of the last complete line returned."""
        self._inode: Optional[tuple[int, int]] = None
        self.skipped = 0
        """Malformed lines seen so far."""

    def reset(self) -> None:
        self.offset = 0
        self._inode = None

    def read_new(self) -> List[Dict[str, Any]]:
        try:
            fh = open(self.path, "rb")
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return []
        with fh:
            st = os.fstat(fh.fileno())
            ident = (st.st_dev, st.st_ino)
            if self._inode is not None and ident != self._inode:
                self.offset = 0  # replaced (e.g. rewritten atomically): start over
            self._inode = ident
            if st.st_size < self.offset:
                self.offset = 0  # truncated
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
                end = data.rfind(b"\n")
                if end < 0:
                    pending = data
                    continue
                self._parse(data[:end], out)
                self.offset += end + 1
                pending = data[end + 1 :]
            return out

    def _parse(self, block: bytes, out: List[Dict[str, Any]]) -> None:
        for line in block.split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                self.skipped += 1
                continue
            if isinstance(rec, dict):
                out.append(rec)
            else:
                self.skipped += 1


class RunWriter:
    """Create and keep a run folder up to date (the trainer's side; thread-safe).

    ``run.json`` is rewritten atomically (a reader never sees half a file); it is
    refreshed by a small daemon thread every :data:`HEARTBEAT_S` while the run is
    live, so a long step or a slow save never makes a live run look interrupted.
    ``metrics.jsonl`` gets one line per :meth:`append`, written through to the OS
    at once (a follower sees it immediately) and fsynced every *fsync_every*
    lines or *fsync_interval* seconds.
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
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        self._metrics = os.fdopen(fd, "a", encoding="utf-8")
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
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            if self._metrics.closed:
                raise ValueError(f"run {self.run_id} is finished; cannot append")
            self._metrics.write(line + "\n")
            self._metrics.flush()  # to the OS: a follower sees the line now
            self._unsynced += 1
            if record.get("type") == "step" and isinstance(record.get("step"), int):
                self._state["steps_done"] = record["step"]
            now = time.monotonic()
            if self._unsynced >= self._fsync_every or now - self._last_sync >= self._fsync_interval:
                self._sync()

    def _sync(self) -> None:
        try:
            os.fsync(self._metrics.fileno())
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
            if not self._metrics.closed:
                self._metrics.flush()
                self._sync()
                self._metrics.close()
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
            if not self._metrics.closed:
                self._metrics.close()

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
