"""Measure one trial of an optimization run after the fact (the Trials pane's ``M``).

An estimated trial (replayed traces) is measured by answering held-out queries with its
config; the result becomes a new trial of the same run in ``optimize.db`` (source
``measured``, parent the estimated trial, scoring ``measured`` with the eval set), and the
full :class:`~jarvis_tui.evals.runner.EvalResult` (query, reference, answer per sample) is
kept under ``<workspace>/evals/`` with its path in the trial's meta (``eval_result``).

Which generator measures: the run's own (the endpoint or local model its measured
trials used), else ``JARVIS_TUI_EVAL_URL`` + ``JARVIS_TUI_EVAL_MODEL`` (or
``JARVIS_TUI_EVAL_LOCAL``), else the workspace's tiny local model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from jarvis_tui.evals.gate import ENV_EVAL_LOCAL, ENV_EVAL_MODEL, ENV_EVAL_URL
from jarvis_tui.evals.setup import EvalOptions
from jarvis_tui.paths import Workspace

SOURCE = "measured"
"""The source of a trial measured by hand (jt_trial_meta ``source``)."""
MAX_RESULT_BYTES = 20_000_000
"""An eval result file larger than this is not read back for the detail panel."""


def scoring_of(meta: Mapping[str, Any], run_estimate: bool) -> str:
    """``measured`` or ``estimate``: what the trial's meta says, else (an older run with
    no ``scoring``) the run's ``estimate`` flag, else the per-trial ``estimate`` flag."""
    scoring = meta.get("scoring")
    if scoring in ("measured", "estimate"):
        return str(scoring)
    if run_estimate or meta.get("estimate"):
        return "estimate"
    return "measured"


def measure_options(
    trials: list[Any],
    meta: Mapping[str, Mapping[str, Any]],
    ws: Workspace,
    *,
    run_estimate: bool = False,
    env: Mapping[str, str] | None = None,
) -> tuple[EvalOptions, str]:
    """The options to measure a trial of this run with, and a few words on where they
    came from (shown to the user)."""
    env = os.environ if env is None else env
    env_model = (env.get(ENV_EVAL_MODEL) or "").strip() or None
    for t in reversed(trials):  # the newest measurement first
        m = meta.get(t.trial_id, {})
        if scoring_of(m, run_estimate) != "measured" or m.get("source") == SOURCE:
            continue  # an estimate, or measured by hand (the defaults then apply again)
        backend = str(m.get("generator") or "")
        if " via " in backend:
            url = backend.rsplit(" via ", 1)[1].strip().removesuffix("/chat/completions")
            if url.startswith(("http://", "https://")):
                return EvalOptions(backend_url=url, model=env_model), f"the run's endpoint {url}"
        elif backend:
            name = backend.split(" + adapter ", 1)[0].strip()
            folder = Path(ws.models_dir) / name
            if name and (folder / "config.json").is_file():
                return EvalOptions(local=str(folder)), f"the run's local model {name}"
    url = (env.get(ENV_EVAL_URL) or "").strip()
    if url:
        return EvalOptions(backend_url=url, model=env_model), f"{url} ({ENV_EVAL_URL})"
    local = (env.get(ENV_EVAL_LOCAL) or "").strip()
    if local and local != "tiny":
        return EvalOptions(local=local), f"{local} ({ENV_EVAL_LOCAL})"
    return EvalOptions(), "the workspace's tiny local model"


def missing_backend(opts: EvalOptions) -> Optional[str]:
    """What to install or set when *opts* cannot generate here (None when it can)."""
    if opts.backend_url:
        return None
    if (
        importlib.util.find_spec("torch") is None
        or importlib.util.find_spec("transformers") is None
    ):
        return (
            "measuring needs a model: pip install 'jarvis-tui[train]' (the local tiny model), "
            "or set JARVIS_TUI_EVAL_URL and JARVIS_TUI_EVAL_MODEL (an OpenAI-compatible endpoint)"
        )
    return None


@dataclass
class Measurement:
    """What :func:`measure_trial` did: the new trial (None when nothing was measured)."""

    trial_id: Optional[str]
    source_id: str
    samples: int = 0
    total: int = 0
    accuracy: float = 0.0
    errors: int = 0
    partial: bool = False
    eval_set: str = ""
    result_path: Optional[str] = None
    # Cancelled by the user (x) before every sample was done: *partial* too, never a
    # failure; *note* says what happened to the samples done when nothing was saved.
    cancelled: bool = False
    note: str = ""


def measure_trial(
    ws: Workspace,
    run_id: str,
    trial_id: str,
    opts: EvalOptions,
    *,
    trace_store: Any = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    store: Any = None,
) -> Measurement:
    """Measure trial *trial_id* of run *run_id*; save the result as a new trial.

    *store* (an ``OptimizationStore`` of ``ws.optimize_db``) is used when given and
    left open (its owner closes it: the app's workspace session); without it one is
    opened for the call and closed.

    *progress* gets ``(done, total)`` over answering then scoring (``total`` is twice
    the samples). With *cancel* set midway the samples done so far are saved and the
    trial is marked partial and the Measurement ``cancelled``; cancelled before any
    sample, or with every sample done failed, nothing is saved (``cancelled``, and
    ``note`` says why), never a failure. Problems a user can fix (no eval set, no
    model, every sample of a finished measurement failed) raise ValueError.
    """
    from jarvis_tui.core.fmt import plural
    from jarvis_tui.evals.runner import EvalError, EvalTrialRunner, load_prices
    from jarvis_tui.evals.setup import build_generator, build_scorer, build_set, save_result
    from jarvis_tui.learning.optimize.optimizer import apply_bounds
    from jarvis_tui.learning.optimize.store import OptimizationStore
    from jarvis_tui.learning.optimize.types import ObjectiveBound, ObjectiveSpec, TrialConfig

    problem = missing_backend(opts)
    if problem:
        raise ValueError(problem)
    own_store = store is None
    if own_store:
        store = OptimizationStore(ws.optimize_db)
    try:
        run = store.get_run(run_id)
        if run is None:
            raise ValueError(f"no optimization run {run_id!r} in {ws.optimize_db}")
        source = next((t for t in run.trials if t.trial_id == trial_id), None)
        if source is None:
            raise ValueError(f"run {run_id} has no trial {trial_id!r}")
        scorer = build_scorer(opts)
        eval_set = build_set(opts, ws, trace_store)
        generator, _settings = build_generator(opts, ws, per_config=True)
        runner = EvalTrialRunner(
            eval_set, generator, scorer, prices=load_prices(ws.root), default_model=opts.model or ""
        )
        if cancel is not None:
            runner.cancel = cancel
        runner.progress = progress
        config = TrialConfig(
            trial_id=f"m-{uuid.uuid4().hex[:10]}",
            params=dict(source.config.params),
            reasoning=f"{trial_id}'s config, measured on held-out queries (it was an estimate)",
        )
        started = time.time()
        if progress is not None:  # a count from the start (a local model loads first)
            progress(0, 2 * len(eval_set))
        cancelled = lambda: cancel is not None and cancel.is_set()  # noqa: E731
        try:
            trial = runner.run_trial(config)
        except EvalError as exc:
            done = runner.last_result
            if not cancelled() or done is None:
                raise
            # Cancelled, and the samples answered before all failed: a cancelled
            # measurement (nothing worth saving), not a failed one.
            return Measurement(None, trial_id, samples=len(done.samples), total=len(eval_set),
                               errors=done.errors, partial=True, eval_set=eval_set.set_id,
                               cancelled=True,
                               note=f"the {plural(len(done.samples), 'sample')} done all failed "
                                    f"({str(exc).rpartition(': ')[2]}): nothing saved")  # fmt: skip
        result = runner.last_result
        if result is None or not result.samples:
            return Measurement(None, trial_id, total=len(eval_set), partial=True,
                               eval_set=eval_set.set_id, cancelled=cancelled(),
                               note="no sample was done: nothing saved")  # fmt: skip
        path = save_result(ws, result, label=f"run {run_id} trial {trial_id} ({config.trial_id})")
        metas = store.get_trial_meta(run_id)
        nums = [int(m.get("num", 0) or 0) for m in metas.values() if isinstance(m, dict)]
        trial_meta: dict[str, Any] = {
            "source": SOURCE,
            "parent": trial_id,
            "started_at": started,
            "seconds": round(time.time() - started, 4),
            "num": max([len(run.trials), *nums]) + 1,
            "scoring": "measured",
            "estimate": False,
            "eval_set": {"id": eval_set.set_id, "hash": eval_set.content_hash},
            "eval_result": str(path),
            "generator": result.generator,
            "partial": result.partial,
        }
        # The run's frontier and best now include the measured trial (as a run measured
        # by the engine would), with the run's own bounds and objectives.
        run_meta = store.get_run_meta(run_id)
        objectives = list(run.objectives)
        try:
            if run_meta.get("objectives"):
                objectives = [ObjectiveSpec(m, d, float(w)) for m, d, w in run_meta["objectives"]]
            bounds = [ObjectiveBound(*b) for b in run_meta.get("bounds", [])]
        except (TypeError, ValueError):
            bounds = []
        metas[config.trial_id] = trial_meta
        front, best = apply_bounds([*run.trials, trial], bounds, objectives, metas)
        store.save_trial(run_id, trial)
        store.save_trial_meta(run_id, config.trial_id, metas[config.trial_id])
        if run.status != "running":  # a live run elsewhere writes its own frontier
            run.trials.append(trial)
            run.pareto_frontier, run.best_trial = front, best
            store.save_run(run)
    finally:
        if own_store:
            store.close()
    return Measurement(
        config.trial_id,
        trial_id,
        samples=len(result.samples),
        total=len(eval_set),
        accuracy=result.accuracy,
        errors=result.errors,
        partial=result.partial,
        eval_set=eval_set.set_id,
        result_path=str(path),
        cancelled=result.partial and cancelled(),
    )


def read_sample_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-sample rows of a saved eval result (``save_result``'s JSON), for display:
    each with record_id, query, reference, answer, score, latency_seconds, error.

    A file that is missing, too large or not an eval result is a ValueError with one line.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_RESULT_BYTES:
            raise ValueError(f"{p.name}: over {MAX_RESULT_BYTES // 1_000_000} MB, not read")
        data = json.loads(p.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        raise ValueError(f"{p.name}: no such file (moved or deleted)") from None
    except OSError as exc:
        raise ValueError(f"{p.name}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{p.name}: not an eval result (broken JSON)") from None
    rows = data.get("sample_results") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ValueError(f"{p.name}: not an eval result (no sample_results)")
    out = []
    for r in rows:
        if not isinstance(r, dict):
            continue
        score = r.get("score")
        lat = r.get("latency_seconds")
        out.append(
            {
                "record_id": str(r.get("record_id", "")),
                "query": str(r.get("query", "")),
                "reference": str(r.get("reference", "")),
                "answer": str(r.get("answer", "")),
                "score": float(score)
                if isinstance(score, int | float) and not isinstance(score, bool)
                else None,
                "latency_seconds": float(lat) if isinstance(lat, int | float) else 0.0,
                "error": None if r.get("error") is None else str(r.get("error")),
            }
        )
    return out


def worst_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors first, then by score ascending (as ``EvalResult.worst_first``)."""
    return sorted(
        rows,
        key=lambda r: (
            r.get("error") is None,
            r["score"] if r.get("score") is not None else -1.0,
            str(r.get("record_id", "")),
        ),
    )


__all__ = [
    "SOURCE",
    "Measurement",
    "measure_options",
    "measure_trial",
    "missing_backend",
    "read_sample_rows",
    "scoring_of",
    "worst_first",
]
