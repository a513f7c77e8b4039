"""The optimization loop (propose → evaluate → analyze → repeat), and a human at the wheel.

:class:`OptimizationEngine` follows OpenJarvis's loop: a first proposal, then per
trial evaluate, analyze, record, recompute the Pareto frontier, persist, track the
best trial, stop early after *early_stop_patience* trials without a better accuracy;
the next proposal merges frontier members every 5th trial (when there are ≥ 2),
targets one primitive after trial 2 when the analysis names one, and otherwise asks
for the next config.

What OpenJarvis lacks, and this adds through a :class:`RunControl` the UI drives
from another thread:

* pause / resume / stop, honoured between trials (a trial is never cut in half);
* a queue of hand-written configs, each evaluated before the next proposal;
* review mode: each proposal waits for accept, edit (accept changed params) or
  reject with a reason, and the reason goes into the next proposal's prompt;
* which frontier members the next merge combines;
* objective bounds ("latency <= 2 s"): a trial outside them stays in the history,
  marked infeasible, but never joins the frontier nor becomes the best trial;
* a run persisted per trial can be resumed later from the store (same run id).

A reply the proposer cannot use (:class:`ValueError`, e.g. ``ProposalError``) is fed
back and retried; after :data:`PROPOSAL_RETRIES` failures a random config from the
space stands in, marked as such. An unreachable optimizer or a runner that cannot
evaluate ends the run as ``failed`` with the reason (resumable), never a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

import tomli_w

from jarvis_tui.core.fmt import plural
from jarvis_tui.learning.optimize.pareto import compute_pareto_frontier
from jarvis_tui.learning.optimize.search_space import validate_config
from jarvis_tui.learning.optimize.types import (
    DEFAULT_OBJECTIVES,
    ObjectiveBound,
    ObjectiveSpec,
    OptimizationRun,
    SearchSpace,
    TrialConfig,
    TrialResult,
)
from jarvis_tui.paths import atomic_write_bytes, check_export_path

LOGGER = logging.getLogger(__name__)

PROPOSAL_RETRIES = 2
"""Unusable optimizer replies tolerated per proposal before a random config stands in."""

UNUSABLE_PROPOSALS = 2
"""Proposals in a row whose every reply was unusable before the run fails: an optimizer
that never answers a usable config is a broken endpoint, not a run to complete on random
stand-ins (the run stays resumable)."""

MERGE_EVERY = 5
"""Frontier members are merged after every 5th trial (as OpenJarvis does)."""

#: Where a trial's config came from (shown in the Trials pane).
SOURCES = ("initial", "next", "targeted", "merge", "queued", "edited", "fallback")


class Proposer(Protocol):
    """What the engine needs of a proposer: LLMOptimizer and OptunaProposer both fit."""

    optimizer_model: str

    def propose_initial(self) -> TrialConfig: ...

    def propose_next(
        self, history: list[TrialResult], traces: Any = None, frontier_ids: Optional[set] = None
    ) -> TrialConfig: ...

    def propose_targeted(
        self,
        history: list[TrialResult],
        base_config: TrialConfig,
        target_primitive: str,
        frontier_ids: Optional[set] = None,
    ) -> TrialConfig: ...

    def propose_merge(
        self,
        candidates: list[TrialResult],
        history: list[TrialResult],
        frontier_ids: Optional[set] = None,
    ) -> TrialConfig: ...

    def analyze_trial(self, trial: TrialConfig, summary: Any, **kw: Any) -> Any: ...


# --------------------------------------------------------------------------- control


@dataclass(slots=True)
class Review:
    """A proposal waiting for the reviewer, and the decision once made."""

    config: TrialConfig
    source: str
    decision: str = ""  # "" (waiting) | accept | edit | reject
    params: dict[str, Any] | None = None
    reason: str = ""


class RunControl:
    """Steering for one optimization run, shared by the UI thread and the engine.

    Every method is thread-safe. The engine checks the control only between trials
    and while it waits for a review, so a decision never interrupts an evaluation.
    """

    def __init__(self, *, review: bool = False, bounds: Sequence[ObjectiveBound] = ()) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._stopped = False
        self._review_mode = review
        self._queue: deque[TrialConfig] = deque()
        self._pending: Review | None = None
        self._merge_pick: list[str] = []
        self._bounds: list[ObjectiveBound] = list(bounds)
        self._bounds_changed = False
        self._cancels: list[Any] = []

    # -- run state -------------------------------------------------------------------

    def pause(self) -> None:
        """Hold the run before its next trial (a running trial finishes)."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> None:
        """End the run; it stays resumable from the store. A trial being measured is
        abandoned at once (its runner's ``cancel`` is set: no sample more is started,
        the trial is dropped); an estimate (quick) finishes."""
        with self._cond:
            self._stopped = True
            cancels = list(self._cancels)
            self._cond.notify_all()
        for cancel in cancels:
            cancel.set()

    def _cancel_with_stop(self, cancel: Any) -> None:
        """Set *cancel* (a trial runner's ``threading.Event``) when the run is stopped."""
        with self._cond:
            self._cancels.append(cancel)
            stopped = self._stopped
        if stopped:
            cancel.set()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    # -- queue -------------------------------------------------------------------------

    def enqueue(self, params: dict[str, Any], *, note: str = "") -> TrialConfig:
        """Queue a hand-written config; it is evaluated before the next proposal."""
        config = TrialConfig(
            trial_id=f"q-{uuid.uuid4().hex[:10]}",
            params=dict(params),
            reasoning=note or "hand-written config (queued by the user)",
        )
        with self._cond:
            self._queue.append(config)
            self._cond.notify_all()
        return config

    def queued(self) -> list[TrialConfig]:
        with self._cond:
            return list(self._queue)

    def drop_queued(self, trial_id: str) -> bool:
        with self._cond:
            for c in self._queue:
                if c.trial_id == trial_id:
                    self._queue.remove(c)
                    return True
        return False

    def _pop_queued(self) -> TrialConfig | None:
        with self._cond:
            return self._queue.popleft() if self._queue else None

    # -- review ------------------------------------------------------------------------

    @property
    def review_mode(self) -> bool:
        return self._review_mode

    def set_review(self, on: bool) -> None:
        """Turn review mode on or off; off also accepts a proposal that is waiting."""
        with self._cond:
            self._review_mode = on
            if not on and self._pending is not None and not self._pending.decision:
                self._pending.decision = "accept"
            self._cond.notify_all()

    @property
    def pending(self) -> Review | None:
        """The proposal waiting for a decision, if any."""
        with self._cond:
            p = self._pending
            return p if p is not None and not p.decision else None

    def accept(self, params: dict[str, Any] | None = None) -> None:
        """Accept the waiting proposal, with edited *params* when given."""
        with self._cond:
            if self._pending is None or self._pending.decision:
                raise ValueError("no proposal is waiting for review")
            self._pending.decision = "edit" if params is not None else "accept"
            self._pending.params = dict(params) if params is not None else None
            self._cond.notify_all()

    def reject(self, reason: str) -> None:
        """Reject the waiting proposal; *reason* goes into the next prompt."""
        reason = " ".join(str(reason).split())
        if not reason:
            raise ValueError("say why the proposal is rejected: the reason guides the next one")
        with self._cond:
            if self._pending is None or self._pending.decision:
                raise ValueError("no proposal is waiting for review")
            self._pending.decision = "reject"
            self._pending.reason = reason
            self._cond.notify_all()

    def _await_review(self, review: Review, on_wait: Callable[[], None]) -> Review | None:
        """Block until *review* is decided; None when the run is stopped meanwhile."""
        with self._cond:
            self._pending = review
        on_wait()
        with self._cond:
            while not review.decision and not self._stopped and self._review_mode:
                self._cond.wait()
            self._pending = None
            if self._stopped and not review.decision:
                return None
            if not review.decision:
                review.decision = "accept"
            return review

    # -- merge pick and bounds -------------------------------------------------------

    def pick_for_merge(self, trial_ids: Sequence[str]) -> None:
        """The frontier members the next merge combines (empty: the engine chooses)."""
        with self._cond:
            self._merge_pick = [str(t) for t in trial_ids]

    @property
    def merge_pick(self) -> list[str]:
        with self._cond:
            return list(self._merge_pick)

    def set_bounds(self, bounds: Sequence[ObjectiveBound]) -> None:
        """Replace the objective bounds; the engine re-marks every trial."""
        with self._cond:
            self._bounds = list(bounds)
            self._bounds_changed = True
            self._cond.notify_all()

    @property
    def bounds(self) -> list[ObjectiveBound]:
        with self._cond:
            return list(self._bounds)

    def _take_bounds_change(self) -> bool:
        with self._cond:
            changed, self._bounds_changed = self._bounds_changed, False
            return changed

    # -- waiting -------------------------------------------------------------------------

    def _wait_change(self, timeout: float) -> None:
        """Wait up to *timeout* seconds, or less when a steering call changes something."""
        with self._cond:
            self._cond.wait(timeout)

    def _post_review(self, review: Review) -> None:
        """Show *review* as the waiting proposal without blocking (parallel runs poll it)."""
        with self._cond:
            self._pending = review

    def _end_review(self, review: Review) -> None:
        with self._cond:
            if self._pending is review:
                self._pending = None
            if not review.decision and not self._stopped and not self._review_mode:
                review.decision = "accept"

    def _wait_runnable(self, on_pause: Callable[[], None]) -> bool:
        """Wait while paused (and no stop); False when the run must end."""
        with self._cond:
            if self._stopped:
                return False
            if not self._paused:
                return True
        on_pause()
        with self._cond:
            while self._paused and not self._stopped:
                self._cond.wait()
            return not self._stopped


# --------------------------------------------------------------------------- events


@dataclass(slots=True)
class RunEvent:
    """What the engine tells its watcher (the Trials pane, the CLI) as the run goes.

    ``kind`` is one of: ``started``, ``proposing``, ``review`` (a proposal waits;
    ``config``), ``trial_started`` (``config``, ``source``), ``trial_done``
    (``result``), ``rejected`` (``config``, ``reason``), ``paused``, ``resumed``,
    ``notice`` (``message``), ``finished`` (``status``, ``message``).
    Every event carries the run's state at that moment so a watcher can redraw from
    any single event.
    """

    kind: str
    run: OptimizationRun
    trial_num: int
    max_trials: int
    elapsed: float
    config: TrialConfig | None = None
    source: str = ""
    result: TrialResult | None = None
    message: str = ""
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: dict[str, dict[str, int]] = field(default_factory=dict)
    """Parallel runs: per worker id, its trials ``running`` / ``completed`` / ``failed``."""


EventFn = Callable[[RunEvent], None]


# --------------------------------------------------------------------------- engine


class OptimizationEngine:
    """Orchestrates the optimize loop: propose -> evaluate -> analyze -> repeat."""

    def __init__(
        self,
        search_space: SearchSpace,
        llm_optimizer: Any,
        trial_runner: Any,
        store: Any = None,
        max_trials: int = 20,
        early_stop_patience: int = 5,
        *,
        objectives: Sequence[ObjectiveSpec] | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
            raise ValueError(f"max_trials must be a positive integer, not {max_trials!r}")
        if (
            isinstance(early_stop_patience, bool)
            or not isinstance(early_stop_patience, int)
            or early_stop_patience < 1
        ):
            raise ValueError(
                f"early_stop_patience must be a positive integer, not {early_stop_patience!r}"
            )
        self.search_space = search_space
        self.llm_optimizer = llm_optimizer
        self.trial_runner = trial_runner
        self.store = store
        self.max_trials = max_trials
        self.early_stop_patience = early_stop_patience
        self.objectives = list(objectives or DEFAULT_OBJECTIVES)
        self._rng = random.Random(seed)
        self.evaluate: str | None = None
        """How the run scores its trials (``replay``, ``measured``…), kept with the run in
        ``jt_run_meta`` so that continuing it (``c``, ``--resume``) scores the same way;
        None: not said (the key is then not written)."""
        self._unusable_in_a_row = 0
        """Proposals in a row whose every optimizer reply was rejected (see
        :data:`UNUSABLE_PROPOSALS`)."""

    # -- the loop ------------------------------------------------------------------------

    def run(
        self,
        progress_callback: Optional[Callable[[int, int], None]] = None,
        *,
        control: RunControl | None = None,
        on_event: EventFn | None = None,
        resume_run_id: str | None = None,
        dispatcher: Any = None,
    ) -> OptimizationRun:
        """Execute the optimization loop; returns the run (also persisted per trial).

        *progress_callback* ``(trial_num, max_trials)`` is called after each trial, as in
        OpenJarvis. *control* steers the run (see :class:`RunControl`); *on_event*
        receives a :class:`RunEvent` at each step. With *resume_run_id* the run's
        trials are read back from the store and the loop continues until the run holds
        ``max_trials`` trials.

        With a *dispatcher* (``workers.StudyDispatcher``) trials are evaluated by
        workers through Optuna's shared storage, up to ``dispatcher.capacity`` at a
        time; see :meth:`_run_parallel`.
        """
        control = control or RunControl()
        t0 = time.monotonic()
        history: list[TrialResult] = []
        meta: dict[str, dict[str, Any]] = {}
        if resume_run_id is not None:
            opt_run, history, meta, run_meta = self._load_for_resume(resume_run_id)
            t0 -= float(run_meta.get("elapsed", 0.0) or 0.0)
            if not control.bounds and run_meta.get("bounds"):
                try:
                    control.set_bounds([ObjectiveBound(*b) for b in run_meta["bounds"]])
                except (TypeError, ValueError):
                    pass  # unreadable bounds from an older file: run unbounded
                control._take_bounds_change()
        else:
            opt_run = OptimizationRun(
                run_id=uuid.uuid4().hex[:16],
                search_space=self.search_space,
                status="running",
                optimizer_model=str(getattr(self.llm_optimizer, "optimizer_model", "")),
                benchmark=str(getattr(self.trial_runner, "benchmark", "")),
                objectives=list(self.objectives),
            )
        opt_run.status = "running"
        self._apply_bounds(control, history, meta, opt_run)
        cancel = _runner_cancel(self.trial_runner)
        if cancel is not None and dispatcher is None:  # x abandons a measured trial
            control._cancel_with_stop(cancel)

        def emit(kind: str, **kw: Any) -> None:
            if on_event is not None:
                on_event(
                    RunEvent(
                        kind=kind,
                        run=opt_run,
                        trial_num=len(history),
                        max_trials=self.max_trials,
                        elapsed=time.monotonic() - t0,
                        meta=meta,
                        **kw,
                    )
                )

        if dispatcher is not None:
            return self._run_parallel(
                dispatcher, control, emit, history, meta, opt_run, t0, progress_callback,
                resumed=resume_run_id is not None,
            )  # fmt: skip
        self._persist_run(opt_run, control, t0)
        emit("started", message="resumed" if resume_run_id else "")

        pending: tuple[TrialConfig, str] | None = None
        status, message = "completed", ""
        try:
            while len(history) < self.max_trials:
                if not control._wait_runnable(lambda: emit("paused")):
                    status, message = "stopped", "stopped by the user"
                    break
                if control._take_bounds_change():
                    self._apply_bounds(control, history, meta, opt_run)
                    self._persist_run(opt_run, control, t0)
                    emit("notice", message="bounds changed: " + _bounds_text(control.bounds))

                queued = control._pop_queued()
                if queued is not None:
                    config, source = queued, "queued"
                    problems = validate_config(self.search_space, config.params)
                    if problems:
                        emit("notice", message=f"queued config dropped: {problems[0]}")
                        continue
                else:
                    if pending is None:
                        emit("proposing")
                        pending = self._propose(history, opt_run, control, emit)
                    config, source = pending
                    pending = None
                    if control.review_mode:
                        review = control._await_review(
                            Review(config, source),
                            functools.partial(emit, "review", config=config, source=source),
                        )
                        if review is None:
                            status, message = "stopped", "stopped by the user"
                            break
                        if review.decision == "reject":
                            self._note_rejection(config, review.reason)
                            emit("rejected", config=config, message=review.reason)
                            continue
                        if review.decision == "edit" and review.params is not None:
                            problems = validate_config(self.search_space, review.params)
                            if problems:
                                # The UI validates first; a bad edit here is a bug, not a crash.
                                emit("notice", message=f"edited config refused: {problems[0]}")
                                pending = (config, source)
                                continue
                            config = TrialConfig(
                                trial_id=config.trial_id,
                                params=dict(review.params),
                                reasoning=config.reasoning
                                + "\n[edited by the reviewer before evaluation]",
                            )
                            source = "edited"

                if any(t.trial_id == config.trial_id for t in history):
                    # A proposer restarted on a resumed run may reuse ids; a trial id
                    # names one row in the store, so give this one its own.
                    config.trial_id = f"t-{uuid.uuid4().hex[:10]}"
                emit("trial_started", config=config, source=source)
                started = time.time()
                try:
                    result = self.trial_runner.run_trial(config)
                    cut = _abandoned(self.trial_runner, control, partial_only=True)
                except Exception:
                    if not _abandoned(self.trial_runner, control):
                        raise
                    cut = True
                if cut:
                    # x (or quit) during a measured trial: it is dropped, not half-kept.
                    status = "stopped"
                    message = f"stopped by the user (trial {config.trial_id} abandoned)"
                    break
                result.trial_id = config.trial_id
                result.config = config
                self._analyze(config, result, emit)
                history.append(result)
                opt_run.trials.append(result)
                trial_meta = {
                    "source": source,
                    "parent": self._parent_of(source, history),
                    "started_at": started,
                    "seconds": round(time.time() - started, 4),
                    "num": len(history),
                    **_scoring_meta(self.trial_runner),
                }
                meta[result.trial_id] = trial_meta
                self._apply_bounds(control, history, meta, opt_run)
                if self.store is not None:
                    self.store.save_trial(opt_run.run_id, result)
                    self.store.save_trial_meta(opt_run.run_id, result.trial_id, trial_meta)
                self._persist_run(opt_run, control, t0)
                if progress_callback is not None:
                    progress_callback(len(history), self.max_trials)
                emit("trial_done", result=result, source=source)

                stale = self._trials_without_improvement(history, meta)
                # The last trial of the budget ends the run as "reached", not as an early
                # stop (walkthrough W3 2: 'early stop' beside '3/3 trials').
                if stale >= self.early_stop_patience and len(history) < self.max_trials:
                    message = early_stop_message(
                        history, meta, self.early_stop_patience, control.bounds
                    )
                    LOGGER.info(message)
                    break
            else:
                message = f"reached {plural(self.max_trials, 'trial')}"
        except Exception as exc:  # the watcher gets the reason; the run stays resumable
            if not _is_expected_failure(exc):
                raise
            status, message = "failed", _one_line(exc)
        opt_run.status = status
        self._persist_run(opt_run, control, t0, message=message)
        emit("finished", message=message)
        return opt_run

    # -- several workers -------------------------------------------------------------------

    def _run_parallel(
        self,
        dispatcher: Any,
        control: RunControl,
        emit: Callable[..., None],
        history: list[TrialResult],
        meta: dict[str, dict[str, Any]],
        opt_run: OptimizationRun,
        t0: float,
        progress_callback: Optional[Callable[[int, int], None]],
        *,
        resumed: bool,
    ) -> OptimizationRun:
        """The loop with trials evaluated by workers (``workers.StudyDispatcher``).

        This process stays the one proposer and the one writer of optimize.db: it keeps
        up to ``dispatcher.capacity`` accepted configs enqueued or running (never past
        the budget), records each finished trial (analysis, frontier, store) as it
        arrives, and steers every worker: pause holds them before their next trial,
        stop and the end of the run let running trials finish and cancel waiting ones.
        A proposal under review is enqueued only once accepted. A failed trial (its
        worker's error, or a worker that died) counts toward the budget, is kept in
        ``jt_trial_meta`` with ``status: failed`` and the reason, and the run goes on.
        """
        failed = {tid for tid, m in meta.items() if m.get("status") == "failed"}
        dispatcher.begin(
            opt_run.run_id, self.objectives, known={t.trial_id for t in history} | failed
        )

        def emit_w(kind: str, **kw: Any) -> None:
            emit(kind, workers=dispatcher.counts(), **kw)

        def record() -> None:
            started, finished, notices = dispatcher.collect()
            for line in notices:
                emit_w("notice", message=line)
            for f in started:
                emit_w("trial_started", config=f.config, source=f.source, message=f.worker)
            for f in finished:
                base = {
                    "source": f.source,
                    "parent": f.parent,
                    "started_at": f.started_at,
                    "seconds": round(f.seconds, 4),
                    "worker": f.worker,
                }
                if not f.ok or f.result is None:
                    failed.add(f.config.trial_id)
                    meta[f.config.trial_id] = {**base, "status": "failed", "error": f.error}
                    if self.store is not None:
                        self.store.save_trial_meta(opt_run.run_id, f.config.trial_id,
                                                   meta[f.config.trial_id])  # fmt: skip
                    emit_w("trial_failed", config=f.config, source=f.source, message=f.error)
                    continue
                result = f.result
                result.trial_id = f.config.trial_id
                result.config = f.config
                self._analyze(f.config, result, emit)
                history.append(result)
                opt_run.trials.append(result)
                trial_meta = {**base, "num": len(history), **f.scoring}
                meta[result.trial_id] = trial_meta
                self._apply_bounds(control, history, meta, opt_run)
                if self.store is not None:
                    self.store.save_trial(opt_run.run_id, result)
                    self.store.save_trial_meta(opt_run.run_id, result.trial_id, trial_meta)
                self._persist_run(opt_run, control, t0)
                if progress_callback is not None:
                    progress_callback(len(history), self.max_trials)
                emit_w("trial_done", result=result, source=f.source)

        status, message = "completed", ""
        try:
            self._persist_run(opt_run, control, t0)
            emit_w("started", message="resumed" if resumed else "")
            ending: tuple[str, str] | None = None
            paused = False
            retry: tuple[TrialConfig, str, str | None] | None = None
            while True:
                record()
                flights = dispatcher.in_flight()
                done = len(history) + len(failed)
                if ending is None:
                    if done >= self.max_trials:
                        ending = ("completed", f"reached {plural(self.max_trials, 'trial')}")
                    elif (
                        history
                        and self._trials_without_improvement(history, meta)
                        >= self.early_stop_patience
                    ):
                        ending = ("completed", early_stop_message(
                            history, meta, self.early_stop_patience, control.bounds))  # fmt: skip
                    elif control.stopped:
                        ending = ("stopped", "stopped by the user")
                    elif dispatcher.gone():
                        ending = ("failed", dispatcher.gone())
                if ending is not None:
                    dispatcher.set_state("draining", ending[1])
                    if not any(f.state == "running" for f in flights):
                        status, message = ending
                        break
                    dispatcher.wait(control)
                    continue
                if control.paused:
                    dispatcher.set_state("paused")
                    if not paused:
                        paused = True
                        emit_w("paused")
                    dispatcher.wait(control)
                    continue
                if paused:
                    paused = False
                    emit_w("resumed")
                dispatcher.set_state("running")
                if control._take_bounds_change():
                    self._apply_bounds(control, history, meta, opt_run)
                    self._persist_run(opt_run, control, t0)
                    emit_w("notice", message="bounds changed: " + _bounds_text(control.bounds))
                if len(flights) >= dispatcher.capacity or done + len(flights) >= self.max_trials:
                    dispatcher.wait(control)
                    continue
                nxt, retry = self._next_for_workers(
                    history, flights, opt_run, control, emit_w, record, dispatcher, retry
                )
                if nxt is None:
                    continue
                config, source, parent = nxt
                taken = (
                    {t.trial_id for t in history} | failed | {f.config.trial_id for f in flights}
                )
                if config.trial_id in taken:
                    config.trial_id = f"t-{uuid.uuid4().hex[:10]}"
                dispatcher.submit(config, source, parent)
        except Exception as exc:  # the watcher gets the reason; the run stays resumable
            if not _is_expected_failure(exc):
                dispatcher.close("failed", _one_line(exc))
                raise
            status, message = "failed", _one_line(exc)
        except BaseException:  # Ctrl+C: the workers must not wait for a run that has gone
            dispatcher.close("stopped", "interrupted")
            raise
        cancelled = dispatcher.close(status, message)
        if cancelled:
            message += f"; {cancelled} waiting trial(s) cancelled"
        opt_run.status = status
        self._persist_run(opt_run, control, t0, message=message)
        emit_w("finished", message=message)
        return opt_run

    def _next_for_workers(
        self,
        history: list[TrialResult],
        flights: Sequence[Any],
        opt_run: OptimizationRun,
        control: RunControl,
        emit: Callable[..., None],
        record: Callable[[], None],
        dispatcher: Any,
        retry: tuple[TrialConfig, str, str | None] | None,
    ) -> tuple[tuple[TrialConfig, str, str | None] | None, Any]:
        """The next accepted config for the workers, or None (dropped, rejected, stopped).

        Returns it with the proposal to review again (an edit the engine refused)."""
        queued = control._pop_queued()
        if queued is not None:
            problems = validate_config(self.search_space, queued.params)
            if problems:
                emit("notice", message=f"queued config dropped: {problems[0]}")
                return None, retry
            return (queued, "queued", None), retry
        if retry is not None:
            config, source, parent = retry
        else:
            emit("proposing")
            config, source = self._propose(
                history, opt_run, control, emit, in_flight=[f.config for f in flights]
            )
            parent = history[-1].trial_id if source == "targeted" and history else None
        if not control.review_mode:
            return (config, source, parent), None
        review = Review(config, source)
        control._post_review(review)
        emit("review", config=config, source=source)
        # Workers go on while the reviewer thinks: finished trials are still recorded.
        while not review.decision and control.review_mode and not control.stopped:
            record()
            dispatcher.wait(control)
        control._end_review(review)
        if not review.decision:  # stopped while waiting
            return None, None
        if review.decision == "reject":
            self._note_rejection(config, review.reason)
            emit("rejected", config=config, message=review.reason)
            return None, None
        if review.decision == "edit" and review.params is not None:
            problems = validate_config(self.search_space, review.params)
            if problems:
                emit("notice", message=f"edited config refused: {problems[0]}")
                return None, (config, source, parent)
            config = TrialConfig(
                trial_id=config.trial_id,
                params=dict(review.params),
                reasoning=config.reasoning + "\n[edited by the reviewer before evaluation]",
            )
            source = "edited"
        return (config, source, parent), None

    # -- proposals -----------------------------------------------------------------------

    def _propose(
        self,
        history: list[TrialResult],
        opt_run: OptimizationRun,
        control: RunControl,
        emit: Callable[..., None],
        in_flight: Sequence[TrialConfig] = (),
    ) -> tuple[TrialConfig, str]:
        """The next config by OpenJarvis's strategy, retrying unusable replies and
        exact repeats of evaluated configs (and, with workers, of configs enqueued or
        being evaluated: *in_flight*)."""
        opt = self.llm_optimizer
        frontier = opt_run.pareto_frontier
        frontier_ids = {t.trial_id for t in frontier}
        if hasattr(opt, "extra_constraints"):
            opt.extra_constraints = [str(b) for b in control.bounds]
        if hasattr(opt, "set_bounds"):
            opt.set_bounds(control.bounds)
        last_error = ""
        key = self._effective_key
        evaluated = {key(t.config.params): t.trial_id for t in history}
        for c in in_flight:
            evaluated.setdefault(key(c.params), c.trial_id)
        exact = {_params_key({**self.search_space.fixed, **t.config.params}) for t in history}
        repeat = False  # after a repeated config, ask for a fresh one (not the same merge)
        rejected: list[str] = []
        for _attempt in range(PROPOSAL_RETRIES + 1):
            try:
                config, source = self._strategy(
                    history, frontier, frontier_ids, control, repeat, started=len(in_flight)
                )
            except ValueError as exc:
                if not _is_proposal_error(exc):
                    raise
                last_error = _one_line(exc)
                rejected.append(last_error)
                emit("notice", message=f"optimizer reply rejected: {last_error}")
                if hasattr(opt, "note_reply_error"):  # said once, in the next prompt
                    opt.note_reply_error(last_error)
                continue
            twin = evaluated.get(key(config.params))
            self._unusable_in_a_row = 0  # the optimizer answered something usable
            if twin is None:
                if rejected:  # the trial says what the optimizer got wrong before it
                    note = "[earlier replies rejected: " + " | ".join(rejected) + "]"
                    config.reasoning = f"{config.reasoning}\n{note}" if config.reasoning else note
                return config, source
            # Evaluating the same config twice teaches nothing (replay is deterministic):
            # say so and ask for another. "The same" is what the evaluator reads: a
            # change of a value it ignores (a model every class overrides) is a repeat.
            if _params_key({**self.search_space.fixed, **config.params}) in exact:
                last_error = f"the proposed config repeats trial {twin} exactly"
            else:
                last_error = f"the proposed config repeats trial {twin} in effect"
                why = self._shadow_note(config.params)
                last_error += f" ({why})" if why else " (the evaluator reads both the same)"
            emit("notice", message=f"{source} proposal skipped: {last_error}")
            if hasattr(opt, "note_reply_error"):
                opt.note_reply_error(last_error + "; propose a config not evaluated yet")
            repeat = True
        if len(rejected) == PROPOSAL_RETRIES + 1:  # not one usable reply (not repeats)
            self._unusable_in_a_row += 1
            if self._unusable_in_a_row >= UNUSABLE_PROPOSALS:
                from jarvis_tui.learning.optimize.backends import BackendError

                raise BackendError(  # the run fails with this line (resumable)
                    f"the optimizer answered no usable config in "
                    f"{self._unusable_in_a_row * (PROPOSAL_RETRIES + 1)} replies in a row "
                    f"(last: {last_error}); check its endpoint and model",
                    kind="garbage",
                )
        config = random_config(self.search_space, self._rng)
        config.reasoning = (
            f"random config from the search space: the optimizer's proposals were unusable "
            f"{PROPOSAL_RETRIES + 1} times (last: {last_error})"
        )
        return config, "fallback"

    def _strategy(
        self,
        history: list[TrialResult],
        frontier: list[TrialResult],
        frontier_ids: set[str],
        control: RunControl,
        fresh: bool,
        started: int = 0,
    ) -> tuple[TrialConfig, str]:
        """OpenJarvis's choice of proposal method (*fresh*: plain propose_next;
        *started*: trials handed to workers and not finished yet)."""
        opt = self.llm_optimizer
        n = len(history)
        if n == 0 and started == 0:
            return opt.propose_initial(), "initial"
        if n == 0:
            return opt.propose_next(history, frontier_ids=frontier_ids), "next"
        if not fresh:
            last = history[-1]
            target = ""
            if last.structured_feedback is not None:
                target = last.structured_feedback.target_primitive or ""
            if n % MERGE_EVERY == 0 and len(frontier) >= 2:
                picked = [t for t in frontier if t.trial_id in set(control.merge_pick)]
                candidates = picked if len(picked) >= 2 else frontier[:3]
                return opt.propose_merge(candidates, history, frontier_ids=frontier_ids), "merge"
            if target and n > 2:
                why = self._shadow_note(last.config.params) if target == "intelligence" else ""
                routes = (
                    d.primitive == "routing" or d.name.startswith("routing.")
                    for d in self.search_space.dimensions
                )
                if why and any(routes):
                    target = "routing"  # the one thing that changes which model answers
                config = opt.propose_targeted(
                    history, last.config, target, frontier_ids=frontier_ids
                )
                if why:
                    note = f"[targeted at {target}, not intelligence: {why}]"
                    config.reasoning = f"{config.reasoning}\n{note}" if config.reasoning else note
                return config, "targeted"
        return opt.propose_next(history, frontier_ids=frontier_ids), "next"

    def _effective_key(self, params: dict[str, Any]) -> str:
        """A config's identity as the trial runner reads it (a runner that says how, as
        the trace replay does, through ``effective_params``; else the params as they are)."""
        full = {**self.search_space.fixed, **params}
        effective = getattr(self.trial_runner, "effective_params", None)
        if effective is not None:
            try:
                full = effective(full)
            except Exception:  # an unreadable store: the trial itself will say why
                LOGGER.debug("effective_params failed", exc_info=True)
        return _params_key(full)

    def _shadow_note(self, params: dict[str, Any]) -> str:
        """Why ``intelligence.model`` changes nothing in *params* for this runner, or ""."""
        note = getattr(self.trial_runner, "shadowed_model_note", None)
        if note is None:
            return ""
        try:
            return str(note({**self.search_space.fixed, **params}))
        except Exception:  # as in _effective_key
            return ""

    def _note_rejection(self, config: TrialConfig, reason: str) -> None:
        if hasattr(self.llm_optimizer, "note_rejection"):
            self.llm_optimizer.note_rejection(config, reason)

    def _analyze(self, config: TrialConfig, result: TrialResult, emit: Callable) -> None:
        """Fill the result's analysis; a failing analysis never loses the trial."""
        summary = result.summary
        if summary is None and not result.per_benchmark:
            result.analysis = result.analysis or ""
            return
        if summary is None:
            from jarvis_tui.learning.optimize.types import RunSummary

            summary = RunSummary(
                benchmark="multi",
                category="multi",
                backend="jarvis-agent",
                model=str(config.params.get("intelligence.model", "")),
                accuracy=result.accuracy,
                mean_latency_seconds=result.mean_latency_seconds,
                total_cost_usd=result.total_cost_usd,
                total_energy_joules=result.total_energy_joules,
                total_samples=result.samples_evaluated,
                scored_samples=result.samples_evaluated,
                correct=int(result.accuracy * result.samples_evaluated),
                total_output_tokens=result.total_tokens,
            )
        try:
            feedback = self.llm_optimizer.analyze_trial(
                config,
                summary,
                sample_scores=result.sample_scores or None,
                per_benchmark=result.per_benchmark or None,
            )
        except Exception as exc:
            if not _is_expected_failure(exc):
                raise
            emit("notice", message=f"analysis of {config.trial_id} failed: {_one_line(exc)}")
            return
        result.structured_feedback = feedback
        result.analysis = feedback.summary_text

    @staticmethod
    def _parent_of(source: str, history: list[TrialResult]) -> str | None:
        """The trial a targeted proposal changed (its base config): the one before it.

        Other proposals come from the whole history (or a merge of several), so they
        have no single parent to diff against."""
        if source == "targeted" and len(history) >= 2:
            return history[-2].trial_id
        return None

    # -- frontier, bounds, best --------------------------------------------------------

    def _apply_bounds(
        self,
        control: RunControl,
        history: list[TrialResult],
        meta: dict[str, dict[str, Any]],
        opt_run: OptimizationRun,
    ) -> None:
        """Mark feasibility under the current bounds; recompute frontier and best."""
        opt_run.pareto_frontier, opt_run.best_trial = apply_bounds(
            history, control.bounds, self.objectives, meta
        )

    @staticmethod
    def _trials_without_improvement(
        history: list[TrialResult], meta: dict[str, dict[str, Any]]
    ) -> int:
        """Trials since the best accuracy last improved (infeasible trials never improve)."""
        best = -math.inf
        stale = 0
        for t in history:
            if not meta.get(t.trial_id, {}).get("infeasible") and t.accuracy > best:
                best = t.accuracy
                stale = 0
            else:
                stale += 1
        return stale

    # -- persistence -----------------------------------------------------------------------

    def _persist_run(
        self, opt_run: OptimizationRun, control: RunControl, t0: float, message: str = ""
    ) -> None:
        if self.store is None:
            return
        self.store.save_run(opt_run)
        run_meta: dict[str, Any] = {
            "objectives": [[o.metric, o.direction, o.weight] for o in self.objectives],
            "bounds": [[b.metric, b.op, b.value] for b in control.bounds],
            "max_trials": self.max_trials,
            "early_stop_patience": self.early_stop_patience,
            "elapsed": round(time.monotonic() - t0, 3),
            "estimate": bool(getattr(self.trial_runner, "is_estimate", False)),
            "message": message,
        }
        if self.evaluate is not None:  # our own table: OpenJarvis never reads it
            run_meta["evaluate"] = self.evaluate
        self.store.save_run_meta(opt_run.run_id, run_meta)

    def _load_for_resume(
        self, run_id: str
    ) -> tuple[OptimizationRun, list[TrialResult], dict[str, dict[str, Any]], dict[str, Any]]:
        if self.store is None:
            raise ValueError("resuming a run needs the store it was saved in")
        opt_run = self.store.get_run(run_id)
        if opt_run is None:
            raise ValueError(f"no optimization run {run_id!r} in the store")
        run_meta = self.store.get_run_meta(run_id)
        objectives = run_meta.get("objectives")
        if objectives:
            try:
                self.objectives = [ObjectiveSpec(m, d, float(w)) for m, d, w in objectives]
            except (TypeError, ValueError):
                pass
        opt_run.objectives = list(self.objectives)
        opt_run.search_space = opt_run.search_space or self.search_space
        meta = self.store.get_trial_meta(run_id)
        return opt_run, list(opt_run.trials), meta, run_meta

    # -- export ----------------------------------------------------------------------------

    def export_best_recipe(self, run: OptimizationRun, path: Path) -> Path:
        """Write the best trial's config as a TOML recipe (atomically, owner-only).

        Raises ValueError when the run has no best trial, or when *path* is a
        directory.
        """
        return export_best_recipe(run, path)


# --------------------------------------------------------------------------- helpers


def export_best_recipe(
    run: OptimizationRun,
    path: str | Path,
    *,
    parents: bool = True,
    workspace: str | Path | None = None,
) -> Path:
    """Module-level form of :meth:`OptimizationEngine.export_best_recipe`.

    *path* follows :func:`jarvis_tui.paths.check_export_path` (the rule the CLI and the
    Trials pane share): *parents* (OpenJarvis's behaviour, the default) creates missing
    parent folders; with ``parents=False`` they are created only inside *workspace*,
    and a missing folder elsewhere is an :class:`~jarvis_tui.paths.ExportPathError`.
    """
    if run.best_trial is None:
        raise ValueError("No best trial to export.")
    path = Path(path).expanduser()
    if workspace is not None:  # before the folder hint: never "agents/best.toml"
        from jarvis_tui.paths import ExportPathError, workspace_own

        own = workspace_own(path, workspace)
        if own is not None:
            raise ExportPathError(path, own)
    if path.is_dir() and not path.is_symlink():
        raise ValueError(f"{path} is a directory: give a file name such as {path / 'best.toml'}")
    path = check_export_path(path, workspace=workspace, parents=parents)
    data = trial_to_recipe_dict(run.best_trial, run)
    atomic_write_bytes(path, tomli_w.dumps(data).encode("utf-8"))
    run.best_recipe_path = str(path)
    return path


#: Where OpenJarvis's recipe loader reads each config param: dotted key -> (table, key).
RECIPE_LAYOUT: dict[str, tuple[str, str]] = {
    "intelligence.model": ("intelligence", "model"),
    "intelligence.temperature": ("intelligence", "temperature"),
    "intelligence.quantization": ("intelligence", "quantization"),
    "intelligence.system_prompt": ("intelligence", "system_prompt"),
    "intelligence.max_tokens": ("intelligence", "max_tokens"),
    "intelligence.top_p": ("intelligence", "top_p"),
    "engine.backend": ("engine", "key"),
    "agent.name": ("agent", "name"),
    "agent.type": ("agent", "type"),
    "agent.max_turns": ("agent", "max_turns"),
    "tools.tool_set": ("agent", "tools"),
    "agent.system_prompt": ("agent", "system_prompt"),
    "learning.routing_policy": ("learning", "routing_policy"),
    "learning.agent_policy": ("learning", "agent_policy"),
}
#: Copies written for the keys OpenJarvis's ``load_recipe`` itself reads (it takes the
#: temperature from ``[agent]`` and the policies as ``routing`` / ``agent``); never read back.
_LOADER_ALIASES: dict[str, tuple[str, str]] = {
    "intelligence.temperature": ("agent", "temperature"),
    # the agent a trial replays is OpenJarvis's agent key ("react", "orchestrator"),
    # which its loader reads as [agent] type; an agent.type param wins
    "agent.name": ("agent", "type"),
    "learning.routing_policy": ("learning", "routing"),
    "learning.agent_policy": ("learning", "agent"),
}
#: Our own table: the trial's provenance and metrics, and the params no OpenJarvis table
#: holds (dotted keys, so the file round-trips every param).
OWN_TABLE = "jarvis_tui"


def trial_to_recipe_dict(trial: TrialResult, run: OptimizationRun | None = None) -> dict:
    """A trial's config in OpenJarvis's recipe layout.

    ``[recipe]`` (name ``optimized-<trial_id>``, description, version), ``[intelligence]``,
    ``[engine] key``, ``[agent]`` (name, type — the agent's name unless a param sets
    it —, max_turns, tools, system_prompt) and ``[learning]``
    as OpenJarvis's recipe loader reads them; every other param, the trial's metrics and
    where it came from in ``[jarvis_tui]``. :func:`recipe_to_params` reads the params back.
    TOML has no null: a None param is left out.
    """
    params = dict(run.search_space.fixed) if run is not None else {}
    params.update(trial.config.params)
    data: dict[str, Any] = {}
    own_params: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or _is_route_placeholder(key, value):
            continue  # "default" routing means "no override": not a model name to write
        key = str(key)
        where = RECIPE_LAYOUT.get(key)
        if where is None:
            own_params[key] = value
            continue
        table, name = where
        data.setdefault(table, {})[name] = value
        alias = _LOADER_ALIASES.get(key)
        if alias is not None and alias[1] not in data.get(alias[0], {}):
            data.setdefault(alias[0], {})[alias[1]] = value
    how = ""
    if run is not None and run.benchmark:
        how = (
            " (estimated by replaying traces)"
            if run.benchmark == "trace-replay"
            else f" (measured on {run.benchmark})"
        )
    description = (
        f"Best trial {trial.trial_id}"
        + (f" of optimization run {run.run_id}" if run is not None else "")
        + f": accuracy {float(trial.accuracy):.3f}, latency "
        f"{float(trial.mean_latency_seconds):.2f} s, cost ${float(trial.total_cost_usd):.6f}" + how
    )
    recipe: dict[str, Any] = {
        "name": f"optimized-{trial.trial_id}",
        "description": description,
        "version": "1.0.0",
        "trial_id": trial.trial_id,
    }
    own: dict[str, Any] = {
        "trial_id": trial.trial_id,
        "accuracy": float(trial.accuracy),
        "mean_latency_seconds": float(trial.mean_latency_seconds),
        "total_cost_usd": float(trial.total_cost_usd),
    }
    if run is not None:
        recipe["run_id"] = run.run_id
        own["run_id"] = run.run_id
        if run.benchmark:
            own["benchmark"] = run.benchmark
    if own_params:
        own["params"] = own_params
    return {"recipe": recipe, **data, OWN_TABLE: own}


def _is_route_placeholder(key: object, value: object) -> bool:
    """A ``routing.<class>.model`` value that means "use intelligence.model"."""
    from jarvis_tui.learning.optimize.trial_runner import NO_OVERRIDE

    return str(key).startswith("routing.") and value in NO_OVERRIDE


def recipe_to_params(data: dict[str, Any]) -> dict[str, Any]:
    """The config params of a recipe written by :func:`trial_to_recipe_dict` (or any
    OpenJarvis recipe: its tables map back to the dotted names)."""
    params: dict[str, Any] = {}
    for key, (table, name) in RECIPE_LAYOUT.items():
        section = data.get(table)
        if isinstance(section, dict) and name in section:
            params[key] = section[name]
    if "agent.name" in params and params.get("agent.type") == params["agent.name"]:
        del params["agent.type"]  # the loader's copy of the name (see _LOADER_ALIASES)
    own = data.get(OWN_TABLE)
    if isinstance(own, dict) and isinstance(own.get("params"), dict):
        params.update(own["params"])
    return params


def random_config(space: SearchSpace, rng: random.Random) -> TrialConfig:
    """A uniformly random config inside *space* (the proposal of last resort)."""
    params: dict[str, Any] = {}
    for dim in space.dimensions:
        if dim.dim_type == "categorical" and dim.values:
            params[dim.name] = rng.choice(dim.values)
        elif dim.dim_type == "continuous" and dim.low is not None and dim.high is not None:
            params[dim.name] = round(rng.uniform(dim.low, dim.high), 4)
        elif dim.dim_type == "integer" and dim.low is not None and dim.high is not None:
            params[dim.name] = rng.randint(int(dim.low), int(dim.high))
        elif dim.dim_type == "subset":
            params[dim.name] = [v for v in dim.values if rng.random() < 0.5]
        elif dim.dim_type == "text":
            params[dim.name] = str(space.fixed.get(dim.name, ""))
    return TrialConfig(trial_id=f"t-{uuid.uuid4().hex[:10]}", params=params)


def apply_bounds(
    trials: Sequence[TrialResult],
    bounds: Sequence[ObjectiveBound],
    objectives: Sequence[ObjectiveSpec],
    meta: dict[str, dict[str, Any]],
) -> tuple[list[TrialResult], TrialResult | None]:
    """Mark each trial's violated bounds in ``meta[id]["infeasible"]``; return the
    Pareto frontier and the best (highest accuracy) trial of the feasible ones.

    A trial missing a metric or holding a NaN is never feasible (it cannot be ranked).
    """
    feasible: list[TrialResult] = []
    for t in trials:
        bad = [bound_text(b) for b in bounds if not b.satisfied_by(t)]
        meta.setdefault(t.trial_id, {})["infeasible"] = bad
        if not bad and _finite(t, objectives):
            feasible.append(t)
    frontier = compute_pareto_frontier(feasible, objectives) if feasible else []
    best = max(feasible, key=lambda t: t.accuracy, default=None)
    return frontier, best


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or str(a) == str(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return sorted(map(str, a)) == sorted(map(str, b))  # a subset: order is not a choice
    return a == b or str(a) == str(b)  # a value read back from its text is the same value


def same_config(params: dict[str, Any], trials: Sequence[Any]) -> Any:
    """The first of *trials* (TrialResults) whose config is *params*, else None.

    What queueing checks before it evaluates a config again: a replayed one gives the
    same numbers; a measured one may differ (the answers are generated again).
    """
    for t in trials:
        tried = dict(getattr(t.config, "params", {}) or {})
        if set(tried) == set(params) and all(_same_value(params[k], tried[k]) for k in params):
            return t
    return None


def same_config_words(trial: Any, *, measured: bool) -> str:
    """What to tell a user who queues *trial*'s config again."""
    head = f"same config as {trial.trial_id} (accuracy {float(trial.accuracy):.3f})"
    if measured:
        return f"{head}: measured again, its numbers may differ"
    return f"{head}: a trace replay gives the same numbers, so it is not queued; change a value"


def default_config(space: SearchSpace) -> dict[str, Any]:
    """A plain starting config: fixed value, else first option / middle of the range."""
    params: dict[str, Any] = {}
    for dim in space.dimensions:
        if dim.name in space.fixed:
            params[dim.name] = space.fixed[dim.name]
        elif dim.dim_type == "categorical" and dim.values:
            params[dim.name] = dim.values[0]
        elif dim.dim_type == "continuous" and dim.low is not None and dim.high is not None:
            params[dim.name] = (dim.low + dim.high) / 2
        elif dim.dim_type == "integer" and dim.low is not None and dim.high is not None:
            params[dim.name] = int(round((dim.low + dim.high) / 2))
        elif dim.dim_type == "subset":
            params[dim.name] = []
        elif dim.dim_type == "text":
            params[dim.name] = ""
    return params


def _params_key(params: dict[str, Any]) -> str:
    """A config's identity for spotting exact repeats."""
    return json.dumps(params, sort_keys=True, default=str)


def _finite(trial: TrialResult, objectives: Sequence[ObjectiveSpec]) -> bool:
    for o in objectives:
        try:
            v = float(getattr(trial, o.metric))
        except (AttributeError, TypeError, ValueError):
            return False
        if not math.isfinite(v):
            return False
    return True


#: A bound's metric as a user types it (``latency``, not ``mean_latency_seconds``).
_TYPED_METRIC = {
    "mean_latency_seconds": "latency",
    "total_cost_usd": "cost",
    "total_energy_joules": "energy",
    "total_tokens": "tokens",
}


def bound_text(bound: ObjectiveBound) -> str:
    """The bound as a user writes it, with its unit: ``latency <= 8s``, ``cost <= $0.0001``.

    What a trial's ``infeasible`` reasons and the "bounds changed" notice say (the
    Trials pane and ``jarvis-tui optimize`` show them as they are); ``str(bound)``
    keeps the field names OpenJarvis's optimizer prompt reads.
    """
    v = f"{bound.value:g}"
    value = {
        "mean_latency_seconds": f"{v}s",
        "total_cost_usd": f"${v}",
        "total_energy_joules": f"{v} J",
    }.get(bound.metric, v)
    return f"{_TYPED_METRIC.get(bound.metric, bound.metric)} {bound.op} {value}"


def _bounds_text(bounds: Sequence[ObjectiveBound]) -> str:
    return ", ".join(bound_text(b) for b in bounds) or "none"


def early_stop_message(
    history: Sequence[TrialResult],
    meta: dict[str, dict[str, Any]],
    patience: int,
    bounds: Sequence[ObjectiveBound] = (),
) -> str:
    """Why a run stopped early, counted as :meth:`OptimizationEngine._trials_without_improvement`
    counts: an infeasible trial never brings a better accuracy, so with bounds the
    message says so (it read "no better accuracy in the last 3 trials" after 3 trials
    of which the first set the best accuracy but broke a bound)."""
    if not bounds:
        return f"early stop: no better accuracy in the last {plural(patience, 'trial')}"
    last = list(history)[-patience:]
    if all(meta.get(t.trial_id, {}).get("infeasible") for t in last):
        which = "the last trial is" if len(last) == 1 else f"the last {len(last)} trials are all"
        return f"early stop: {which} outside the bounds ({_bounds_text(bounds)})"
    return (f"early stop: no better accuracy within the bounds ({_bounds_text(bounds)}) in "
            f"the last {plural(patience, 'trial')}")  # fmt: skip


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _is_proposal_error(exc: ValueError) -> bool:
    """A reply the proposer could not use (retry), not a missing backend (fatal)."""
    try:
        from jarvis_tui.learning.optimize.llm_optimizer import ProposalError
    except ImportError:  # pragma: no cover - the module ships with the package
        return False
    return isinstance(exc, ProposalError)


def _runner_cancel(runner: Any) -> Any:
    """The cancel event of a measuring runner (an ``EvalTrialRunner``, or the measuring
    half of replay-then-measure), else None (a replay estimate is never cut)."""
    cancel = getattr(getattr(runner, "measured", runner), "cancel", None)
    return cancel if isinstance(cancel, threading.Event) else None


def _abandoned(runner: Any, control: RunControl, *, partial_only: bool = False) -> bool:
    """The trial that just raised (or, *partial_only*, returned partial: samples not
    answered) was cut short by the run's stop."""
    cancel = _runner_cancel(runner)
    if not (control.stopped and cancel is not None and cancel.is_set()):
        return False
    if not partial_only:
        return True
    if getattr(runner, "last_scoring", "measured") != "measured":
        return False  # replay-then-measure: this one was an estimate, whole
    last = getattr(getattr(runner, "measured", runner), "last_result", None)
    return last is None or bool(getattr(last, "partial", False))


def _scoring_meta(runner: Any) -> dict[str, Any]:
    """How the runner scored its last trial: ``scoring`` (``estimate`` or ``measured``),
    ``estimate`` (bool, as older runs recorded it) and the eval set it was measured on."""
    scoring = getattr(runner, "last_scoring", "") or (
        "estimate" if getattr(runner, "is_estimate", False) else "measured"
    )
    meta: dict[str, Any] = {"scoring": scoring, "estimate": scoring == "estimate"}
    eval_set = getattr(runner, "eval_set", None)
    if scoring == "measured" and eval_set is not None:
        meta["eval_set"] = {"id": eval_set.set_id, "hash": eval_set.content_hash}
        # What answered ("model via URL", or a local model's folder name): the Trials
        # pane measures more of the run's trials the same way.
        last = getattr(getattr(runner, "measured", runner), "last_result", None)
        generator = getattr(last, "generator", "")
        if generator:
            meta["generator"] = str(generator)
    return meta


def _is_expected_failure(exc: BaseException) -> bool:
    """Failures a user can act on (endpoint down, nothing to replay, bad config, disk)."""
    from jarvis_tui.learning.optimize.backends import BackendError
    from jarvis_tui.learning.optimize.store import StoreError

    return isinstance(exc, (BackendError, StoreError, ValueError, OSError))


__all__ = [
    "MERGE_EVERY",
    "PROPOSAL_RETRIES",
    "SOURCES",
    "OptimizationEngine",
    "Proposer",
    "Review",
    "RunControl",
    "RunEvent",
    "apply_bounds",
    "bound_text",
    "default_config",
    "early_stop_message",
    "export_best_recipe",
    "random_config",
    "trial_to_recipe_dict",
    "recipe_to_params",
    "RECIPE_LAYOUT",
]
