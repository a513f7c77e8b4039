"""Trials evaluated by several workers through Optuna's shared study storage.

One optimization run is one Optuna study in a storage every worker can reach: a
``JournalStorage`` file by default (one machine, or a shared filesystem), or an RDB
URL (``postgresql://…``, ``mysql://…``, ``sqlite:///…``) through Optuna's
``RDBStorage``. Nothing here schedules anything: Optuna's trial states do.

* The coordinator (:class:`StudyDispatcher`, driven by ``OptimizationEngine.run``)
  enqueues each accepted config as a ``WAITING`` trial (``study.enqueue_trial``) whose
  user attributes carry the config; it never enqueues a proposal still waiting for
  review, nor more than the run's budget.
* A worker (:func:`run_worker`, ``jarvis-tui optimize-worker``) claims a ``WAITING``
  trial with ``storage.set_trial_state_values(…, RUNNING)`` — Optuna's own atomic claim,
  the one ``study.ask()`` uses, so each trial is claimed by exactly one worker —
  evaluates it, writes the result into the trial's user attributes and tells
  ``COMPLETE`` (or ``FAIL`` with the reason).
* While it evaluates, the worker records Optuna heartbeats for the trial; the
  coordinator calls ``optuna.storages.fail_stale_trials``, so a worker that dies leaves
  its trial ``FAIL``-ed after the grace period and the run goes on. ``RDBStorage`` has
  heartbeats built in; Optuna's ``JournalStorage`` has none (3.6–5.0), so
  :class:`HeartbeatJournalStorage` implements Optuna's ``BaseHeartbeat`` interface for
  it (the beat is a trial system attribute) and the same Optuna function fails stale
  trials.
* The coordinator's lease is a ``RUNNING`` trial of kind ``coordinator`` with its own
  heartbeat: the live one with the lowest number owns the run, so a second coordinator
  on the same run refuses (:class:`RunBusy`), and one whose coordinator died is taken
  over once its lease goes stale.
* The study's user attribute ``jt_state`` (``running`` / ``paused`` / ``draining`` /
  ``ended``) is how pause and stop reach every worker: a worker claims nothing unless
  the run is ``running``; a trial already running always finishes.

Optuna never sees our params: configs may hold lists, text and values no Optuna
distribution describes, so they travel as JSON in user attributes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState, create_trial

from jarvis_tui.learning.optimize.types import (
    BenchmarkScore,
    ObjectiveSpec,
    RunSummary,
    SampleScore,
    TrialConfig,
    TrialResult,
)
from jarvis_tui.paths import FILE_MODE, ensure_dir

try:  # Optuna >= 4.0
    from optuna.storages.journal import JournalFileBackend
except ImportError:  # pragma: no cover - Optuna 3.6
    from optuna.storages import JournalFileStorage as JournalFileBackend

LOGGER = logging.getLogger(__name__)

JOURNAL_FILE = "optimize-studies.journal"
"""The default storage: an Optuna journal file in the workspace, beside ``optimize.db``."""

STUDY_PREFIX = "jarvis-tui-"
"""A run's study is named ``jarvis-tui-<run_id>``."""

HEARTBEAT_S = 5.0
"""How often a worker (and the coordinator's lease) records its heartbeat."""

GRACE_S = 30.0
"""A running trial without a heartbeat for this long is failed (its worker is gone)."""

POLL_S = 0.05
"""How often the coordinator and idle workers look at the storage."""

MAX_CONSECUTIVE_FAILURES = 3
"""A worker whose evaluations fail this many times in a row leaves the run, so a broken
backend does not eat the run's budget."""

KIND = "jt_kind"
CONFIG_KIND = "config"
LEASE_KIND = "coordinator"
STATES = ("running", "paused", "draining", "ended")

_BEAT_ATTR = "jt_heartbeat"


class StorageError(ValueError):
    """The shared storage cannot be used (one line for the user)."""


class RunBusy(StorageError):
    """Another coordinator is driving the run."""


@dataclass(frozen=True, slots=True)
class Liveness:
    """Heartbeat interval and grace period (seconds) of one run's workers."""

    heartbeat_s: float = HEARTBEAT_S
    grace_s: float = GRACE_S

    def __post_init__(self) -> None:
        for name in ("heartbeat_s", "grace_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{name} must be a number of seconds, not {v!r}")
            if v <= 0:
                raise ValueError(f"{name} must be positive, not {v}")
        if self.grace_s <= self.heartbeat_s:
            raise ValueError(
                f"the grace period ({self.grace_s:g} s) must be longer than the heartbeat "
                f"interval ({self.heartbeat_s:g} s)"
            )


# --------------------------------------------------------------------------- storage


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's ``JournalStorage`` with Optuna's heartbeat interface.

    ``record_heartbeat`` writes the time into a trial system attribute; a running trial
    whose last beat (else its start) is older than the grace period is stale, so
    ``optuna.storages.fail_stale_trials`` works on a journal file as on an RDB. Clocks
    of machines sharing the file should agree to well within the grace period.
    """

    def __init__(self, backend: Any, liveness: Liveness) -> None:
        super().__init__(backend)
        self._liveness = liveness

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, _BEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            beat = t.system_attrs.get(_BEAT_ATTR)
            if not isinstance(beat, int | float) or isinstance(beat, bool):
                beat = t.datetime_start.timestamp() if t.datetime_start else None
            if beat is not None and now - float(beat) > self._liveness.grace_s:
                stale.append(t._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return max(1, math.ceil(self._liveness.heartbeat_s))

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None

    def get_failed_trial_callback(self) -> None:  # Optuna < 4.9 asks for this name
        return None


def storage_label(url: str) -> str:
    """*url* fit to print: an RDB URL without its password."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a label must never fail
        return url.split("://", 1)[0] + "://…"


def default_storage_url(root: Path) -> str:
    """The workspace's storage: ``storage`` in ``optimize.toml``'s ``[optimize]``, else
    the journal file :data:`JOURNAL_FILE` in the workspace."""
    import tomllib

    path = root / "optimize.toml"
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}  # the search space loader reports a broken file
        value = data.get("optimize", {}).get("storage") if isinstance(data, dict) else None
        if isinstance(value, str) and value.strip():
            value = value.strip()
            return value if "://" in value else str((root / value).expanduser())
    return str(root / JOURNAL_FILE)


def default_workers(root: Path) -> int:
    """How many local workers a run started in the Trials pane uses: ``workers`` in
    ``optimize.toml``'s ``[optimize]`` (a whole number), else 1 (no workers: trials are
    evaluated in the pane's own process)."""
    import tomllib

    path = root / "optimize.toml"
    if not path.is_file():
        return 1
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return 1  # the search space loader reports a broken file
    section = data.get("optimize") if isinstance(data, dict) else None
    value = section.get("workers") if isinstance(section, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return 1
    return min(value, 64)


def open_storage(url: str, liveness: Liveness | None = None) -> BaseStorage:
    """Optuna storage for *url* (a journal file path or an RDB URL); StorageError when it
    is wrong or cannot be reached (nothing is started then)."""
    liveness = liveness or Liveness()
    url = str(url).strip()
    if not url:
        raise StorageError("the storage is empty: give a journal file path or an RDB URL")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if "://" not in url:
        return _open_journal(Path(url).expanduser(), liveness)
    return _open_rdb(url, liveness)


def _open_journal(path: Path, liveness: Liveness) -> BaseStorage:
    if path.is_symlink():
        raise StorageError(f"{path} is a symbolic link: give the journal file itself")
    if path.is_dir():
        raise StorageError(f"{path} is a directory, not a journal file")
    if not path.parent.is_dir():
        raise StorageError(f"{path.parent} does not exist: cannot create the journal file")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE)
        os.close(fd)
        return HeartbeatJournalStorage(JournalFileBackend(str(path)), liveness)
    except OSError as exc:
        raise StorageError(f"{path}: cannot open the journal file: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - Optuna's replay of a file that is not a journal
        raise StorageError(f"{path}: not an Optuna journal file ({_one_line(exc)})") from None


_DRIVERS = {"postgresql": ("psycopg", "psycopg2"), "mysql": ("pymysql", "MySQLdb")}


def _open_rdb(url: str, liveness: Liveness) -> BaseStorage:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    label = storage_label(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"{label}: not a storage URL ({_one_line(exc)})") from None
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "mysql", "sqlite"):
        raise StorageError(
            f"{label}: unknown storage {backend!r} (use a journal file path, "
            "postgresql://…, mysql://… or sqlite:///…)"
        )
    connect_args: dict[str, Any] = {}
    if backend in _DRIVERS:
        if "+" not in parsed.drivername:
            for module in _DRIVERS[backend]:
                if _importable(module):
                    parsed = parsed.set(drivername=f"{backend}+{module.lower()}")
                    break
            else:
                raise StorageError(
                    f"{label}: no {backend} driver installed "
                    f"(pip install 'jarvis-tui[postgres]' for PostgreSQL)"
                )
        connect_args["connect_timeout"] = 10  # an unreachable host fails in seconds
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False),
                engine_kwargs={"connect_args": connect_args, "pool_pre_ping": True},
                heartbeat_interval=max(1, math.ceil(liveness.heartbeat_s)),
                grace_period=max(2, math.ceil(liveness.grace_s)),
            )
    except ModuleNotFoundError as exc:
        raise StorageError(f"{label}: driver not installed ({exc.name})") from None
    except (SQLAlchemyError, OSError, RuntimeError, ValueError) as exc:
        orig = getattr(exc, "orig", None) or exc
        raise StorageError(f"cannot use the storage {label}: {_one_line(orig)}") from None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- results


def result_to_dict(result: TrialResult) -> dict[str, Any]:
    """A trial result as JSON-able data (what a worker writes into the storage)."""
    data = dataclasses.asdict(result)
    data.pop("structured_feedback", None)  # the coordinator analyses
    for bench in data.get("per_benchmark", []):
        if not _jsonable(bench.get("summary")):
            bench["summary"] = None
    return json.loads(json.dumps(data, default=str))


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _build(cls: type, data: Any) -> Any:
    """*cls* from the JSON object *data*, known fields only, numbers checked; ValueError."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} is a {type(data).__name__}, not an object")
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )
        if isinstance(default, bool):
            if v is not None and not isinstance(v, bool):
                raise ValueError(f"{cls.__name__}.{f.name} is not a boolean")
        elif isinstance(default, int | float) and not isinstance(default, bool):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"{cls.__name__}.{f.name} is not a number")
            v = type(default)(v)
        elif isinstance(default, str) and not isinstance(v, str):
            raise ValueError(f"{cls.__name__}.{f.name} is not text")
        kw[f.name] = v
    return cls(**kw)


def result_from_dict(data: Any) -> TrialResult:
    """The :class:`TrialResult` written by :func:`result_to_dict` (ValueError if not one)."""
    if not isinstance(data, dict):
        raise ValueError("the result is not an object")
    cfg = data.get("config") or {}
    if not isinstance(cfg, dict) or not isinstance(cfg.get("params", {}), dict):
        raise ValueError("the result's config is not an object")
    config = TrialConfig(
        trial_id=str(cfg.get("trial_id", "")),
        params=dict(cfg.get("params", {})),
        reasoning=str(cfg.get("reasoning", "")),
    )
    plain = {
        k: v
        for k, v in data.items()
        if k not in ("config", "summary", "sample_scores", "per_benchmark", "structured_feedback")
    }
    result = _build(TrialResult, {**plain, "trial_id": str(data.get("trial_id", "")),
                                  "config": config})  # fmt: skip
    if data.get("summary") is not None:
        result.summary = _build(RunSummary, data["summary"])
    result.sample_scores = [_build(SampleScore, s) for s in data.get("sample_scores") or []]
    benches = []
    for b in data.get("per_benchmark") or []:
        if not isinstance(b, dict):
            raise ValueError("a per-benchmark entry is not an object")
        bench = _build(
            BenchmarkScore, {k: v for k, v in b.items() if k not in ("summary", "sample_scores")}
        )
        bench.sample_scores = [_build(SampleScore, s) for s in b.get("sample_scores") or []]
        if b.get("summary") is not None:
            bench.summary = _build(RunSummary, b["summary"])
        benches.append(bench)
    result.per_benchmark = benches
    if not isinstance(result.failure_modes, list):
        raise ValueError("failure_modes is not a list")
    result.failure_modes = [str(m) for m in result.failure_modes]
    return result


# --------------------------------------------------------------------------- the run's study


def study_name(run_id: str) -> str:
    return f"{STUDY_PREFIX}{run_id}"


@dataclass(slots=True)
class Flight:
    """A config trial in the storage that is not finished yet (or just finished)."""

    number: int
    config: TrialConfig
    source: str
    parent: str | None
    worker: str = ""
    state: str = "waiting"  # waiting | running


@dataclass(slots=True)
class Finished:
    """A config trial that finished in the storage, as the coordinator records it."""

    config: TrialConfig
    source: str
    parent: str | None
    worker: str
    ok: bool
    result: TrialResult | None = None
    error: str = ""
    started_at: float = 0.0
    seconds: float = 0.0
    scoring: dict[str, Any] = field(default_factory=dict)


class SharedRun:
    """One run's study in the shared storage, as the coordinator and workers see it."""

    def __init__(self, storage: BaseStorage, run_id: str, label: str) -> None:
        self.storage = storage
        self.run_id = run_id
        self.label = label
        try:
            self.study_id = storage.get_study_id_from_name(study_name(run_id))
        except KeyError:
            names = [
                s.study_name.removeprefix(STUDY_PREFIX)
                for s in storage.get_all_studies()
                if s.study_name.startswith(STUDY_PREFIX)
            ]
            raise StorageError(
                f"no run {run_id!r} in {label}"
                + (f" (runs there: {', '.join(names[-5:])})" if names else " (it holds no runs)")
            ) from None

    @classmethod
    def create(
        cls,
        storage: BaseStorage,
        run_id: str,
        label: str,
        objectives: Sequence[ObjectiveSpec],
        info: dict[str, Any],
    ) -> SharedRun:
        """The run's study, created when new (a resumed run keeps its study)."""
        directions = [
            optuna.study.StudyDirection.MAXIMIZE
            if o.direction == "maximize"
            else optuna.study.StudyDirection.MINIMIZE
            for o in objectives
        ]
        try:
            study_id = storage.create_new_study(directions, study_name(run_id))
        except DuplicatedStudyError:
            study_id = storage.get_study_id_from_name(study_name(run_id))
        storage.set_study_user_attr(study_id, "jt_run", info)
        return cls(storage, run_id, label)

    # -- run-wide state ----------------------------------------------------------------

    def attrs(self) -> dict[str, Any]:
        return self.storage.get_study_user_attrs(self.study_id)

    def info(self) -> dict[str, Any]:
        value = self.attrs().get("jt_run")
        return value if isinstance(value, dict) else {}

    def state(self) -> dict[str, Any]:
        value = self.attrs().get("jt_state")
        return value if isinstance(value, dict) else {"state": "running"}

    def set_state(self, state: str, message: str = "") -> None:
        self.storage.set_study_user_attr(
            self.study_id, "jt_state", {"state": state, "message": message, "at": time.time()}
        )

    def register_worker(self, worker_id: str, *, left: bool = False, why: str = "") -> None:
        self.storage.set_study_user_attr(
            self.study_id,
            f"jt_worker:{worker_id}",
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "at": time.time(),
                "left": left,
                "why": why,
            },
        )

    def workers(self) -> dict[str, dict[str, Any]]:
        out = {}
        for key, value in self.attrs().items():
            if key.startswith("jt_worker:") and isinstance(value, dict):
                out[key.removeprefix("jt_worker:")] = value
        return out

    # -- trials --------------------------------------------------------------------------

    def trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return list(
            self.storage.get_all_trials(
                self.study_id, deepcopy=False, states=tuple(states) if states else None
            )
        )

    def enqueue(self, config: TrialConfig, source: str, parent: str | None) -> None:
        attrs = {
            KIND: CONFIG_KIND,
            "jt_config": {
                "trial_id": config.trial_id,
                "params": config.params,
                "reasoning": config.reasoning,
            },
            "jt_source": source,
            "jt_parent": parent,
        }
        # Round-trip through JSON now: what a worker reads is exactly what is stored.
        attrs = json.loads(json.dumps(attrs, default=str))
        self.storage.create_new_trial(
            self.study_id, template_trial=create_trial(state=TrialState.WAITING, user_attrs=attrs)
        )

    def claim(self, worker_id: str) -> tuple[int, TrialConfig] | None:
        """Claim the oldest waiting config trial (Optuna's WAITING -> RUNNING, atomic)."""
        for t in sorted(self.trials((TrialState.WAITING,)), key=lambda t: t.number):
            if t.user_attrs.get(KIND) != CONFIG_KIND:
                continue
            try:
                won = self.storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
            except UpdateFinishedTrialError:
                continue  # cancelled meanwhile
            if not won:
                continue  # another worker was first
            self.storage.set_trial_user_attr(t._trial_id, "jt_worker", worker_id)
            self.storage.set_trial_user_attr(t._trial_id, "jt_started_at", time.time())
            try:
                config = _config_of(t)
            except ValueError as exc:
                self.fail(t._trial_id, f"unreadable config: {exc}")
                continue
            return t._trial_id, config
        return None

    def complete(self, trial_id: int, result: TrialResult, scoring: dict, seconds: float,
                 values: list[float] | None) -> None:  # fmt: skip
        self.storage.set_trial_user_attr(trial_id, "jt_result", result_to_dict(result))
        self.storage.set_trial_user_attr(trial_id, "jt_scoring", scoring)
        self.storage.set_trial_user_attr(trial_id, "jt_seconds", round(seconds, 4))
        ok = values is not None and all(math.isfinite(v) for v in values)
        self.storage.set_trial_state_values(
            trial_id, TrialState.COMPLETE, values=values if ok else None
        )

    def fail(self, trial_id: int, reason: str, seconds: float | None = None) -> None:
        self.storage.set_trial_user_attr(trial_id, "jt_error", reason)
        if seconds is not None:
            self.storage.set_trial_user_attr(trial_id, "jt_seconds", round(seconds, 4))
        self.storage.set_trial_state_values(trial_id, TrialState.FAIL)

    def fail_stale(self) -> None:
        """Optuna's ``fail_stale_trials``: running trials without a heartbeat fail."""
        study = optuna.load_study(study_name=study_name(self.run_id), storage=self.storage)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def _config_of(t: FrozenTrial) -> TrialConfig:
    raw = t.user_attrs.get("jt_config")
    if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict):
        raise ValueError("no config in the trial")
    return TrialConfig(
        trial_id=str(raw.get("trial_id") or f"t-{t.number}"),
        params=dict(raw["params"]),
        reasoning=str(raw.get("reasoning", "")),
    )


class _Beat:
    """Records Optuna heartbeats for one trial from a thread until stopped."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{trial_id}", daemon=True
        )

    def __enter__(self) -> _Beat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _beat(self) -> None:
        try:
            self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]
        except UpdateFinishedTrialError:
            self._stop.set()
        except Exception as exc:  # noqa: BLE001 - a missed beat is retried; grace covers it
            LOGGER.debug("heartbeat of trial %s not recorded: %s", self._trial_id, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat()


# --------------------------------------------------------------------------- coordinator


class StudyDispatcher:
    """The coordinator's side: hands accepted configs to the workers of one run.

    ``OptimizationEngine.run(dispatcher=…)`` drives it: :meth:`begin` creates (or loads)
    the run's study and takes the coordinator lease, :meth:`submit` enqueues a config,
    :meth:`collect` returns what workers started and finished, :meth:`close` ends the
    run for every worker. *local_workers* ``optimize-worker`` processes are started on
    this machine with *worker_args*; remote ones join with the same command.
    """

    def __init__(
        self,
        storage_url: str,
        *,
        local_workers: int = 0,
        worker_args: Sequence[str] = (),
        liveness: Liveness | None = None,
        log_dir: Path | None = None,
        poll_s: float = POLL_S,
        info: dict[str, Any] | None = None,
    ) -> None:
        if (
            isinstance(local_workers, bool)
            or not isinstance(local_workers, int)
            or local_workers < 0
        ):
            raise ValueError(f"workers must be 0 or more, not {local_workers!r}")
        self.url = str(storage_url)
        self.label = storage_label(self.url)
        self.liveness = liveness or Liveness()
        self.storage = open_storage(self.url, self.liveness)  # wrong or unreachable: raises now
        self.local_workers = local_workers
        self.worker_args = list(worker_args)
        self.log_dir = log_dir
        self.poll_s = poll_s
        self.info = dict(info or {})
        self.run: SharedRun | None = None
        self._lease: tuple[int, _Beat] | None = None
        self._procs: dict[str, tuple[subprocess.Popen, Path | None]] = {}
        self._said_exit: set[str] = set()
        self._seen_started: set[int] = set()
        self._seen_finished: set[int] = set()
        self._known: set[str] = set()
        self._state = ""
        self._last_stale = 0.0
        self._counts: dict[str, dict[str, int]] = {}
        self._flights: list[Flight] = []
        self._notices: list[str] = []

    # -- lifecycle -----------------------------------------------------------------------

    def begin(self, run_id: str, objectives: Sequence[ObjectiveSpec], *, known: set[str]) -> None:
        """Create or load the study, take the lease (RunBusy if taken), start workers.

        *known* are the trial ids already in optimize.db (a resumed run): finished
        trials of the study with those ids are not reported again."""
        info = {
            **self.info,
            "run_id": run_id,
            "heartbeat_s": self.liveness.heartbeat_s,
            "grace_s": self.liveness.grace_s,
            "objectives": [[o.metric, o.direction] for o in objectives],
        }
        self.run = SharedRun.create(self.storage, run_id, self.label, objectives, info)
        self._known = set(known)
        self._take_lease()
        self.set_state("running")
        for t in self.run.trials((TrialState.COMPLETE, TrialState.FAIL)):
            cfg = t.user_attrs.get("jt_config")
            if isinstance(cfg, dict) and str(cfg.get("trial_id")) in self._known:
                self._seen_finished.add(t.number)
        for i in range(1, self.local_workers + 1):
            self._spawn(f"w{i}")

    def _take_lease(self) -> None:
        run = self.run
        assert run is not None
        run.fail_stale()  # a dead coordinator's lease goes first
        attrs = {KIND: LEASE_KIND, "host": socket.gethostname(), "pid": os.getpid(),
                 "since": time.time()}  # fmt: skip
        trial_id = self.storage.create_new_trial(
            run.study_id, template_trial=create_trial(state=TrialState.RUNNING, user_attrs=attrs)
        )
        beat = _Beat(self.storage, trial_id, self.liveness.heartbeat_s).__enter__()
        mine = self.storage.get_trial(trial_id).number
        for t in run.trials((TrialState.RUNNING,)):
            if t.user_attrs.get(KIND) == LEASE_KIND and t.number < mine:
                beat.stop()
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                who = f"pid {t.user_attrs.get('pid')} on {t.user_attrs.get('host')}"
                raise RunBusy(
                    f"run {run.run_id} already has a coordinator ({who}); stop it first, or "
                    f"join it with: jarvis-tui optimize-worker --run {run.run_id} "
                    f"--storage {self.label}"
                )
        self._lease = (trial_id, beat)

    def close(self, status: str, message: str) -> int:
        """End the run for every worker: cancel waiting trials, release the lease, wait for
        local workers. Returns how many waiting trials were cancelled."""
        cancelled = 0
        if self.run is None:
            return 0
        try:
            self.set_state("ended", f"{status}: {message}")
            for t in self.run.trials((TrialState.WAITING,)):
                if t.user_attrs.get(KIND) != CONFIG_KIND:
                    continue
                try:
                    self.run.fail(t._trial_id, f"cancelled: the run {status} ({message})")
                    cancelled += 1
                except UpdateFinishedTrialError:
                    pass
        finally:
            if self._lease is not None:
                trial_id, beat = self._lease
                beat.stop()
                try:
                    self.storage.set_trial_state_values(trial_id, TrialState.PRUNED)
                except UpdateFinishedTrialError:
                    pass
                self._lease = None
            self._stop_workers()
        return cancelled

    # -- local worker processes ----------------------------------------------------------

    def _spawn(self, worker_id: str) -> None:
        assert self.run is not None
        argv = [sys.executable, "-m", "jarvis_tui", "optimize-worker", "--run", self.run.run_id,
                "--storage", self.url, "--worker-id", worker_id,
                "--parent-pid", str(os.getpid()), *self.worker_args]  # fmt: skip
        log: Path | None = None
        err: Any = subprocess.DEVNULL
        if self.log_dir is not None:
            ensure_dir(self.log_dir)
            log = self.log_dir / f"{self.run.run_id}-{worker_id}.log"
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
            err = os.fdopen(fd, "wb")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)  # fmt: skip
        finally:
            if hasattr(err, "close"):
                err.close()
        self._procs[worker_id] = (proc, log)

    def worker_pids(self) -> dict[str, int]:
        """Local worker processes started by this coordinator: worker id -> pid."""
        return {w: p.pid for w, (p, _log) in self._procs.items()}

    def _stop_workers(self) -> None:
        # The workers see the "ended" state and leave; one that does not is terminated.
        deadline = time.monotonic() + max(10.0, 2 * self.liveness.heartbeat_s)
        for _w, (proc, _log) in self._procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def _check_workers(self) -> None:
        for wid, (proc, log) in self._procs.items():
            code = proc.poll()
            if code is None or wid in self._said_exit:
                continue
            self._said_exit.add(wid)
            last = _last_line(log) if log else ""
            self._notices.append(f"worker {wid} left (exit {code})" + (f": {last}" if last else ""))

    def gone(self) -> str:
        """Why no worker can take trials any more ('' while one can)."""
        if not self._procs:
            return ""
        if any(p.poll() is None for p, _ in self._procs.values()):
            return ""
        assert self.run is not None
        remote = [
            w for w, v in self.run.workers().items() if w not in self._procs and not v.get("left")
        ]
        if remote:
            return ""
        reasons = [_last_line(log) for _p, log in self._procs.values() if log]
        reasons = [r for r in reasons if r]
        return "every worker has left" + (f" (last: {reasons[-1]})" if reasons else "")

    # -- the engine's calls ----------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Trials to keep enqueued or running: one per worker (local, or joined)."""
        joined = 0
        if self.run is not None:
            joined = sum(
                1
                for w, v in self.run.workers().items()
                if w not in self._procs and not v.get("left")
            )
        return max(1, self.local_workers + joined)

    def set_state(self, state: str, message: str = "") -> None:
        if state == self._state:
            return
        assert self.run is not None and state in STATES
        self.run.set_state(state, message)
        self._state = state

    def submit(self, config: TrialConfig, source: str, parent: str | None) -> None:
        assert self.run is not None
        self.run.enqueue(config, source, parent)
        self._flights.append(Flight(-1, config, source, parent))

    def in_flight(self) -> list[Flight]:
        """Config trials waiting or running, as of the last :meth:`collect` (plus those
        submitted since). One snapshot with the finished ones: a trial that finishes
        meanwhile is never counted in neither (nor in both), so the budget holds."""
        return list(self._flights)

    def collect(self) -> tuple[list[Flight], list[Finished], list[str]]:
        """What workers started and finished since the last call, and notices."""
        assert self.run is not None
        self._check_workers()
        now = time.monotonic()
        if now - self._last_stale >= min(1.0, self.liveness.heartbeat_s):
            self._last_stale = now
            self.run.fail_stale()
        started: list[Flight] = []
        finished: list[Finished] = []
        flights: list[Flight] = []
        counts: dict[str, dict[str, int]] = {}
        for t in sorted(self.run.trials(), key=lambda t: t.number):
            if t.user_attrs.get(KIND) != CONFIG_KIND:
                continue
            worker = str(t.user_attrs.get("jt_worker") or "")
            if t.state in (TrialState.WAITING, TrialState.RUNNING):
                try:
                    flights.append(Flight(
                        t.number, _config_of(t), str(t.user_attrs.get("jt_source") or "next"),
                        _str_or_none(t.user_attrs.get("jt_parent")), worker=worker,
                        state="running" if t.state == TrialState.RUNNING else "waiting",
                    ))  # fmt: skip
                except ValueError:
                    pass
            if worker:
                c = counts.setdefault(worker, {"running": 0, "completed": 0, "failed": 0})
                if t.state == TrialState.RUNNING:
                    c["running"] += 1
                elif t.state == TrialState.COMPLETE:
                    c["completed"] += 1
                elif t.state == TrialState.FAIL:
                    c["failed"] += 1
            if t.state == TrialState.RUNNING and worker and t.number not in self._seen_started:
                self._seen_started.add(t.number)
                try:
                    started.append(Flight(t.number, _config_of(t),
                                          str(t.user_attrs.get("jt_source") or "next"),
                                          _str_or_none(t.user_attrs.get("jt_parent")),
                                          worker=worker, state="running"))  # fmt: skip
                except ValueError:
                    pass
            if t.state not in (TrialState.COMPLETE, TrialState.FAIL):
                continue
            if t.number in self._seen_finished:
                continue
            self._seen_finished.add(t.number)
            fin = self._finished(t, worker)
            if fin is not None:
                finished.append(fin)
        self._counts = counts
        self._flights = flights
        notices, self._notices = self._notices, []
        return started, finished, notices

    def _finished(self, t: FrozenTrial, worker: str) -> Finished | None:
        try:
            config = _config_of(t)
        except ValueError:
            return None
        if config.trial_id in self._known:
            return None
        started_at = t.user_attrs.get("jt_started_at")
        started_at = float(started_at) if isinstance(started_at, int | float) else 0.0
        seconds = t.user_attrs.get("jt_seconds")
        seconds = float(seconds) if isinstance(seconds, int | float) else 0.0
        fin = Finished(
            config=config,
            source=str(t.user_attrs.get("jt_source") or "next"),
            parent=_str_or_none(t.user_attrs.get("jt_parent")),
            worker=worker,
            ok=False,
            started_at=started_at,
            seconds=seconds,
        )
        if t.state == TrialState.FAIL:
            error = t.user_attrs.get("jt_error")
            if isinstance(error, str) and error:
                fin.error = error
            elif not worker:
                fin.error = "cancelled before a worker took it"
            else:
                fin.error = (
                    f"worker {worker} stopped answering (no heartbeat for "
                    f"{self.liveness.grace_s:g} s)"
                )
            return fin
        try:
            fin.result = result_from_dict(t.user_attrs.get("jt_result"))
        except (ValueError, TypeError) as exc:
            fin.error = f"worker {worker} sent an unreadable result: {_one_line(exc)}"
            return fin
        scoring = t.user_attrs.get("jt_scoring")
        fin.scoring = scoring if isinstance(scoring, dict) else {}
        fin.ok = True
        return fin

    def counts(self) -> dict[str, dict[str, int]]:
        """Per worker: trials running, completed and failed (as of the last collect)."""
        return {w: dict(c) for w, c in self._counts.items()}

    def wait(self, control: Any) -> None:
        """Wait one poll interval, or less when the run's control changes."""
        waiter = getattr(control, "_wait_change", None)
        if waiter is not None:
            waiter(self.poll_s)
        else:  # pragma: no cover - a control without the method
            time.sleep(self.poll_s)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _last_line(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------- worker


def objective_values(
    result: TrialResult, objectives: Sequence[Sequence[Any]]
) -> list[float] | None:
    out = []
    for o in objectives:
        try:
            out.append(float(getattr(result, str(o[0]))))
        except (AttributeError, TypeError, ValueError, IndexError):
            return None
    return out


def run_worker(
    storage_url: str,
    run_id: str,
    make_runner: Callable[[dict[str, Any]], Any],
    *,
    worker_id: str | None = None,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = lambda _line: None,
    poll_s: float = POLL_S,
) -> int:
    """Join run *run_id* in *storage_url* and evaluate its trials until it ends.

    *make_runner(info)* builds the trial runner from the run's info (its evaluate mode).
    Returns the number of trials this worker completed. Raises StorageError when the
    storage or the run cannot be used, or when :data:`MAX_CONSECUTIVE_FAILURES`
    evaluations in a row failed (the worker leaves the run; others go on).
    """
    stop = stop or threading.Event()
    worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
    label = storage_label(storage_url)
    storage = open_storage(storage_url)
    run = SharedRun(storage, run_id, label)
    info = run.info()
    try:
        liveness = Liveness(float(info.get("heartbeat_s", HEARTBEAT_S)),
                            float(info.get("grace_s", GRACE_S)))  # fmt: skip
    except (TypeError, ValueError):
        liveness = Liveness()
    if isinstance(storage, HeartbeatJournalStorage):
        storage._liveness = liveness
    state = run.state()
    if state.get("state") == "ended":
        raise StorageError(
            f"run {run_id} has ended ({state.get('message') or 'no message'}); continue it "
            f"with: jarvis-tui optimize --resume {run_id} --storage {label}"
        )
    runner = make_runner(info)
    objectives = info.get("objectives") or [["accuracy"], ["mean_latency_seconds"],
                                            ["total_cost_usd"]]  # fmt: skip
    run.register_worker(worker_id)
    say(f"worker {worker_id} joined run {run_id} on {label}")
    done = 0
    failures = 0
    why = "the run ended"
    try:
        while not stop.is_set():
            st = run.state().get("state")
            if st == "ended":
                break
            if st != "running":
                stop.wait(poll_s)
                continue
            claimed = run.claim(worker_id)
            if claimed is None:
                stop.wait(poll_s)
                continue
            trial_id, config = claimed
            t0 = time.monotonic()
            with _Beat(storage, trial_id, liveness.heartbeat_s):
                try:
                    result = runner.run_trial(config)
                    error = ""
                except Exception as exc:  # noqa: BLE001 - the trial fails with the reason
                    result, error = None, _one_line(exc)
            seconds = time.monotonic() - t0
            try:
                if result is None:
                    run.fail(trial_id, f"worker {worker_id}: {error}", seconds)
                    failures += 1
                    say(f"trial {config.trial_id} failed: {error}")
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        why = f"{failures} trials in a row failed (last: {error})"
                        raise StorageError(f"worker {worker_id} leaves run {run_id}: {why}")
                    continue
                from jarvis_tui.learning.optimize.optimizer import _scoring_meta

                result.trial_id = config.trial_id
                result.config = config
                run.complete(trial_id, result, _scoring_meta(runner), seconds,
                             objective_values(result, objectives))  # fmt: skip
            except UpdateFinishedTrialError:
                say(f"trial {config.trial_id} was cancelled by the coordinator")
                continue
            failures = 0
            done += 1
            say(f"trial {config.trial_id} done in {seconds:.2f} s")
    finally:
        try:
            run.register_worker(worker_id, left=True, why=why)
        except Exception:  # noqa: BLE001 - leaving must not mask the real outcome
            pass
    return done


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


__all__ = [
    "GRACE_S",
    "HEARTBEAT_S",
    "JOURNAL_FILE",
    "Finished",
    "Flight",
    "HeartbeatJournalStorage",
    "Liveness",
    "RunBusy",
    "SharedRun",
    "StorageError",
    "StudyDispatcher",
    "default_storage_url",
    "open_storage",
    "result_from_dict",
    "result_to_dict",
    "run_worker",
    "storage_label",
]
