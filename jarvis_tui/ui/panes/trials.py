"""Trials pane: optimization trials on a Pareto frontier, and a human steering the run.

The run executes in a thread worker (``OptimizationEngine.run``); the engine reports
each step through its event callback, which hands the pane a snapshot on the UI
thread (``call_from_thread``: the engine waits while the pane applies it, so the
pane never reads state the engine is changing). The pane steers through the run's
:class:`RunControl` only: pause, resume, stop, queued configs, review decisions,
merge picks and objective bounds. Runs already in ``optimize.db`` (finished here,
by ``jarvis-tui optimize``, or by OpenJarvis) are shown the same way.
"""

from __future__ import annotations

import gc
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from jarvis_tui.core.fmt import duration, money
from jarvis_tui.evals.measure import scoring_of, worst_first
from jarvis_tui.learning.optimize.session import EVALUATE_MODES
from jarvis_tui.learning.optimize.types import (
    DEFAULT_OBJECTIVES,
    ObjectiveBound,
    ObjectiveSpec,
    SearchSpace,
    TrialResult,
)
from jarvis_tui.ui.panes.configs import ConfirmScreen
from jarvis_tui.ui.text import one_line, visible
from jarvis_tui.ui.widgets.focus import focus_now
from jarvis_tui.ui.widgets.forms import ConfigFormScreen, PromptScreen
from jarvis_tui.ui.widgets.scatter import ScatterPlot
from jarvis_tui.ui.widgets.trial_table import TrialTable

DEFAULT_TRIALS = 20
MAX_TRIALS = 100_000
PLOT_EVERY = 0.25
"""Seconds between plot redraws while trials stream in."""
FREEZE_AT = 2_000
"""Runs with at least this many trials are exempted from the cyclic GC once loaded."""
DRAIN_EVERY = 0.1
"""Seconds between applying the engine's newest snapshot (table, status, prompt)."""

SORTS: tuple[tuple[str, str], ...] = (
    ("num", "#"),
    ("accuracy", "accuracy"),
    ("mean_latency_seconds", "latency"),
    ("total_cost_usd", "cost"),
)

COLUMNS: tuple[tuple[str, int], ...] = (
    ("#", 4), ("", 1), ("trial", 12), ("source", 8), ("acc", 5), ("lat s", 6), ("cost", 10), ("", 1),
)  # fmt: skip

MEASURED_GLYPH = "■"
"""Table glyph of a measured trial (the plot draws measured points as squares too)."""
PARTIAL_GLYPH = "□"
"""A measurement cancelled midway: the samples done so far."""
ESTIMATE_GLYPH = "≈"
"""Table glyph of an estimate (replayed traces)."""
SAMPLE_ROWS_MAX = 500
"""At most this many per-sample rows in the detail (worst first)."""

NARROW_BELOW = 100
"""Below this many columns the plot is stacked over the table (side by side it is unreadable)."""

SHORT = {
    "accuracy": "accuracy",
    "mean_latency_seconds": "latency s",
    "total_cost_usd": "cost $",
    "total_energy_joules": "energy J",
    "total_tokens": "tokens",
}


def fmt_metric(metric: str, value: float) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    if metric == "accuracy":
        return f"{value:.3f}"
    if metric == "mean_latency_seconds":
        return f"{value:.2f}"
    if metric == "total_cost_usd":
        return money(value)
    return f"{value:,.0f}"


def tradeoff(a: TrialResult, b: TrialResult) -> str:
    """What +1 point of accuracy costs going from frontier member *a* to *b*."""
    d_acc = (b.accuracy - a.accuracy) * 100
    d_lat = (b.mean_latency_seconds - a.mean_latency_seconds) * 1000
    d_cost = b.total_cost_usd - a.total_cost_usd
    name = one_line(b.trial_id, 24)
    if abs(d_acc) < 1e-9:
        return f"{name}: same accuracy, {d_lat:+.0f} ms, {money(d_cost, signed=True)}"
    return (
        f"{name}: {d_acc:+.1f} pt accuracy; per +1 pt: "
        f"{d_lat / d_acc:+.0f} ms, {money(d_cost / d_acc, signed=True)}"
    )


@dataclass
class RunView:
    """What the pane shows of one run (a snapshot; the engine never touches it)."""

    run_id: str = ""
    status: str = ""
    trials: list[TrialResult] = field(default_factory=list)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    frontier: list[str] = field(default_factory=list)
    best: str | None = None
    objectives: list[ObjectiveSpec] = field(default_factory=lambda: list(DEFAULT_OBJECTIVES))
    elapsed: float = 0.0
    max_trials: int = 0
    message: str = ""
    optimizer: str = ""
    benchmark: str = ""
    estimate: bool = False
    bounds: list[str] = field(default_factory=list)


class TrialsPane(Widget):
    """Optimization runs: scatter + frontier, trial table, detail, steering."""

    HELP_TITLE = "Trials"
    HELP_TEXT = (
        "Optimization trials of the workspace's optimize.db. The plot shows every trial "
        "on two objectives (X and Y cycle them; the third is the colour): frontier "
        "members are joined, dominated and infeasible trials dimmed. j/k move through "
        "the table, h/l (or ←/→) along the frontier; o cycles the table's sort, O reverses "
        "it; d hides the detail, r reloads the run, < and > show older and newer runs. The "
        "detail shows params against the parent and the best trial, the optimizer's "
        "reasoning and analysis. s starts a run in the background (offline: Optuna "
        "proposals, trials estimated by replaying labelled traces), p pauses or resumes, "
        "x stops, c continues a stopped run. a queues a hand-written config (evaluated "
        "before the next proposal); v turns review on: each proposal then waits for y "
        "accept, e edit then accept, or n reject with a reason (the reason goes to the "
        "optimizer). B sets bounds such as 'latency <= 2s', m marks frontier trials for "
        "the next merge, w exports the best recipe, + promotes the selected trial to an "
        "agent config. A path outside the workspace is written only after you confirm it. "
        "■ marks a measured trial, ≈ an estimate (□: a measurement cancelled midway). M "
        "measures the selected estimate: its config answers held-out queries (through "
        "JARVIS_TUI_EVAL_URL / _MODEL when set, else the workspace's tiny local model), "
        "progress in the status line, x cancels (the samples done are kept, marked "
        "partial); the result is a new trial of the run, and its detail lists every "
        "sample, worst first. During a run, M asks the run to measure that config next."
    )

    BINDINGS = [
        Binding("s", "start", "Start run", id="trials.start"),
        Binding("p", "pause", "Pause/resume", id="trials.pause"),
        Binding("x", "stop", "Stop run", id="trials.stop"),
        Binding("c", "continue_run", "Continue run", id="trials.continue"),
        Binding("a", "enqueue", "Queue config", id="trials.queue"),
        Binding("v", "review", "Review mode", id="trials.review"),
        Binding("y", "accept", "Accept", id="trials.accept"),
        Binding("e", "edit", "Edit+accept", id="trials.edit"),
        Binding("n", "reject", "Reject", id="trials.reject"),
        Binding("B", "bounds", "Bounds", id="trials.bounds"),
        Binding("w", "export", "Export best", id="trials.export"),
        Binding("plus", "promote", "Promote", id="trials.promote", key_display="+"),
        Binding("M", "measure", "Measure", id="trials.measure"),
        Binding("m", "merge_pick", "Mark for merge", show=False, id="trials.mark"),
        Binding("X", "cycle_axis('x')", "Next x axis", show=False, id="trials.x"),
        Binding("Y", "cycle_axis('y')", "Next y axis", show=False, id="trials.y"),
        Binding("h,left", "frontier(-1)", "Frontier ←", show=False, id="trials.fprev"),
        Binding("l,right", "frontier(1)", "Frontier →", show=False, id="trials.fnext"),
        Binding("o", "sort", "Sort table", show=False, id="trials.sort"),
        Binding("O", "reverse_sort", "Reverse sort", show=False, id="trials.reverse"),
        Binding("d", "toggle_detail", "Detail panel", show=False, id="trials.detail"),
        Binding("r", "reload", "Reload run", show=False, id="trials.refresh"),
        Binding("less_than_sign", "other_run(1)", "Older run", show=False, id="trials.older"),
        Binding(
            "greater_than_sign", "other_run(-1)", "Newer run", show=False, id="trials.newer"
        ),  # fmt: skip
    ]

    class RunLoaded(Message):
        """A run read back from optimize.db (or None: the store holds none)."""

        def __init__(self, view: RunView | None, runs: list[dict], space: Any, origin: str,
                     error: str = "") -> None:  # fmt: skip
            super().__init__()
            self.view, self.runs, self.space, self.origin = view, runs, space, origin
            self.error = error

    class RunEnded(Message):
        def __init__(self, run_id: str, status: str, message: str) -> None:
            super().__init__()
            self.run_id, self.status, self.message = run_id, status, message

    class Promoted(Message):
        """A trial's config became a new version of *agent* (the Configs pane reloads)."""

        def __init__(self, agent: str, version: int) -> None:
            super().__init__()
            self.agent, self.version = agent, version

    class Measured(Message):
        """A measurement of *source* finished (*trial_id* None: nothing was saved)."""

        def __init__(self, source: str, run_id: str, result: Any = None, error: str = "") -> None:
            super().__init__()
            self.source, self.run_id, self.result, self.error = source, run_id, result, error

    class SamplesLoaded(Message):
        """The per-sample rows of a measured trial's eval result file (or why not)."""

        def __init__(self, path: str, rows: list[dict] | None, error: str = "") -> None:
            super().__init__()
            self.path, self.rows, self.error = path, rows, error

    class Done(Message):
        """An export or promotion finished; *text* says what was written."""

        def __init__(self, text: str, severity: str = "information") -> None:
            super().__init__()
            self.text, self.severity = text, severity

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace: Any = None
        self.store: Any = None
        self.view = RunView()
        """The run on screen."""
        self.runs: list[dict] = []
        """Runs in optimize.db, newest first."""
        self.space: SearchSpace | None = None
        self.space_origin = ""
        self.control: Any = None
        """The RunControl of the run executing in this window (None when idle)."""
        self.running = False
        self.pending: tuple[Any, str] | None = None
        """A proposal waiting for review: (config, source)."""
        self.review_on = False
        self.patience = 5
        self.evaluate = "replay"
        """How the next run started here scores its trials (the start form's choice)."""
        """Trials without a better accuracy before a run started here stops early."""
        self.bounds: list[ObjectiveBound] = []
        self.merge_ids: list[str] = []
        self.idle_queue: list[dict] = []
        """Configs queued while no run was going: the next run started here evaluates them first."""
        self.x_metric = "mean_latency_seconds"
        self.y_metric = "accuracy"
        self.sort_key = "num"
        self.sort_reverse = False
        """O flips the table's order (best-first becomes worst-first; # newest first)."""
        self.selected: str | None = None
        self._loaded = False
        self._reloading = False
        self._plot_dirty = False
        self._by_id: dict[str, tuple[int, TrialResult]] = {}
        self._frontier_set: set[str] = set()
        self._notices: list[str] = []
        self._snap_lock = threading.Lock()
        self._snap: dict[str, Any] | None = None
        """The newest run snapshot the engine thread left for the UI (latest wins)."""
        self._notice_q: list[str] = []
        self.measuring: str | None = None
        """The trial being measured in this window (None when no measurement runs)."""
        self._measure_cancel: threading.Event | None = None
        self._measure_progress: tuple[int, int] | None = None
        """(done, total) of the measurement, left by its thread (latest wins)."""
        self._measure_ids: set[str] = set()
        """Queued configs of the live run that its runner must measure (M during a run)."""
        self._runner: Any = None
        """The live run's trial runner (``measure_next`` for a replay-then-measure run)."""
        self._select_after: str | None = None
        """Select this trial once the run is read back (a new measured trial)."""
        self._samples: dict[str, list[dict] | str] = {}
        """Eval result file -> its per-sample rows, or why it could not be read."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Waiting for the workspace…", style="dim"), id="trials-status")
        with Horizontal(id="trials-main"):
            with Vertical(id="trials-left"):
                yield ScatterPlot(id="trials-plot")
                yield Static(id="trials-tradeoff")
            with Vertical(id="trials-right"):
                yield TrialTable(COLUMNS, id="trials-table")
                with VerticalScroll(id="trials-detail-scroll"):
                    yield Static(id="trials-detail")
        yield Static(id="trials-prompt")

    def on_mount(self) -> None:
        self.set_interval(PLOT_EVERY, self._redraw_if_dirty)
        self.set_interval(DRAIN_EVERY, self._drain)
        self._prompt()

    def store_opened(self, store: Any, workspace: Any) -> None:
        self.store = store
        self.workspace = workspace
        if self._visible():
            self.pane_shown()

    def _visible(self) -> bool:
        try:
            return self.app.query_one("#panes").active == "trials"  # type: ignore[attr-defined]
        except Exception:
            return False

    def focus_default(self) -> None:
        focus_now(self.query_one("#trials-table", TrialTable))
        self.pane_shown()

    def pane_shown(self) -> None:
        if self.store is not None and not self._loaded:
            self._loaded = True
            self._load_run(None)

    def on_unmount(self) -> None:
        if self.control is not None:
            self.control.set_review(False)
            self.control.stop()

    # ------------------------------------------------------------ loading runs

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.load",
          description="load optimization run")  # fmt: skip
    def _load_run(self, run_id: Optional[str]) -> None:
        from jarvis_tui.learning.optimize.session import load_workspace_space
        from jarvis_tui.learning.optimize.store import OptimizationStore, StoreError

        space, origin, error = None, "", ""
        try:
            space, origin = load_workspace_space(self.workspace, self.store)
        except (ValueError, OSError) as exc:
            error = f"search space: {exc}"
        if not self.workspace.optimize_db.exists():
            self.post_message(self.RunLoaded(None, [], space, origin, error))
            return
        try:
            store = OptimizationStore(self.workspace.optimize_db)
        except StoreError as exc:
            self.post_message(self.RunLoaded(None, [], space, origin, str(exc)))
            return
        try:
            runs = store.list_runs(limit=200)
            view = None
            rid = run_id or (runs[0]["run_id"] if runs else None)
            if rid is not None:
                view = self._read_view(store, rid)
        finally:
            store.close()
        if view is not None and len(view.trials) >= FREEZE_AT:
            # Tens of thousands of long-lived trial objects make every full garbage
            # collection walk them: 100 ms pauses of the UI (measured at 10,000 trials).
            # They hold no reference cycles, so exempt what exists now from the cyclic GC.
            gc.freeze()
        self.post_message(self.RunLoaded(view, runs, space, origin, error))

    @staticmethod
    def _read_view(store: Any, run_id: str) -> RunView | None:
        run = store.get_run(run_id)
        if run is None:
            return None
        run_meta = store.get_run_meta(run_id)
        meta = store.get_trial_meta(run_id)
        objectives = list(run.objectives)
        if run_meta.get("objectives"):
            try:
                objectives = [ObjectiveSpec(m, d, float(w)) for m, d, w in run_meta["objectives"]]
            except (TypeError, ValueError):
                pass
        frontier = [t.trial_id for t in run.pareto_frontier]
        if not frontier and run.trials:
            # A run written without its frontier ids (older OpenJarvis): compute it.
            from jarvis_tui.learning.optimize.pareto import compute_pareto_frontier

            feasible = [t for t in run.trials if not meta.get(t.trial_id, {}).get("infeasible")]
            try:
                frontier = [t.trial_id for t in compute_pareto_frontier(feasible, objectives)]
            except ValueError:
                frontier = []
        return RunView(
            run_id=run.run_id,
            status=run.status,
            trials=list(run.trials),
            meta=meta,
            frontier=frontier,
            best=run.best_trial.trial_id if run.best_trial else None,
            objectives=objectives,
            elapsed=float(run_meta.get("elapsed", 0.0) or 0.0),
            max_trials=int(run_meta.get("max_trials", len(run.trials)) or len(run.trials)),
            message=str(run_meta.get("message", "")),
            optimizer=run.optimizer_model,
            benchmark=run.benchmark,
            estimate=bool(run_meta.get("estimate", False)),
            bounds=[" ".join(str(x) for x in b) for b in run_meta.get("bounds", [])],
        )

    @on(RunLoaded)
    def _run_loaded(self, msg: TrialsPane.RunLoaded) -> None:
        self.runs = msg.runs
        if msg.space is not None:
            self.space, self.space_origin = msg.space, msg.origin
        if msg.error:
            self.notify(one_line(msg.error, 300), severity="error", timeout=8, markup=False)
        self.refresh_bindings()  # "queue config" and "continue" depend on what loaded
        if self.running:
            return  # the live run owns the view
        self.view = msg.view or RunView()
        self.merge_ids = []
        if self._reloading:
            self._reloading = False
            self.notify(f"reloaded run {one_line(self.view.run_id or '(none)', 20)}: "
                        f"{len(self.view.trials)} trials", markup=False)  # fmt: skip
        self._rebuild_table()
        if self._select_after is not None:
            self._select(self._select_after)
            self._select_after = None
        self._redraw()
        self._status()

    def action_other_run(self, step: int) -> None:
        if self.running or not self.runs:
            self.notify("no other run to show" if not self.running
                        else "a run is going: other runs show once it ends")  # fmt: skip
            return
        ids = [r["run_id"] for r in self.runs]
        i = ids.index(self.view.run_id) if self.view.run_id in ids else 0
        j = max(0, min(len(ids) - 1, i + step))
        if j != i:
            self._load_run(ids[j])
        else:
            which = "oldest" if step > 0 else "newest"
            self.notify(f"this is the {which} run ({len(ids)} in optimize.db)")

    PALETTE: tuple[tuple[str, str, str], ...] = (
        ("start", "start a run", "Propose and evaluate configs in the background"),
        ("pause", "pause / resume the run", "Hold the run before its next trial"),
        ("stop", "stop the run", "End the run after the current trial (resumable)"),
        ("continue_run", "continue this run", "Resume the stopped run from optimize.db"),
        ("enqueue", "queue a config", "A hand-written config, evaluated next"),
        ("review", "toggle review mode", "Each proposal waits for accept, edit or reject"),
        ("accept", "accept the waiting proposal", "Evaluate it as proposed"),
        ("edit", "edit the waiting proposal", "Change its params, then evaluate it"),
        ("reject", "reject the waiting proposal", "With a reason the optimizer reads"),
        ("bounds", "set objective bounds", "e.g. latency <= 2s: trials outside are infeasible"),
        ("sort", "sort the table by the next column", "#, accuracy, latency, cost"),
        ("reverse_sort", "reverse the table's order", "Best first / worst first"),
        ("merge_pick", "mark the selected trial for merge", "The next merge combines marked"),
        ("toggle_detail", "show / hide the detail panel", "Params, reasoning, analysis"),
        ("reload", "reload the run", "Read the run back from optimize.db"),
        ("export", "export the best recipe", "Write the best trial as a TOML recipe"),
        ("promote", "promote the selected trial", "A new agent config version from it"),
        ("measure", "measure the selected trial", "Answer held-out queries with its config"),
    )

    def palette_commands(self):
        """``trials: …`` commands for the palette: the pane's actions that apply now."""
        from textual.app import SystemCommand

        for action, title, help_text in self.PALETTE:
            if self.check_action(action, ()):
                yield SystemCommand(f"trials: {title}", help_text,
                                    lambda a=action: self._palette(a))  # fmt: skip

    def _palette(self, action: str) -> None:
        """Run a palette entry: show the pane, then the action itself (synchronously:
        ``run_action`` is a coroutine, and a coroutine nobody awaits does nothing)."""
        self.app.action_show_pane("trials")  # type: ignore[attr-defined]
        if self.check_action(action, ()):
            getattr(self, f"action_{action}")()

    # ------------------------------------------------------------ running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("accept", "edit", "reject"):
            return self.pending is not None
        if action == "pause":
            return self.running
        if action == "stop":
            return self.running or self.measuring is not None
        if action == "start":
            return not self.running and self.measuring is None
        if action == "measure":
            return self.selected is not None
        if action == "continue_run":
            return (not self.running and bool(self.view.run_id)
                    and self.view.status in ("stopped", "failed", "running"))  # fmt: skip
        if action == "enqueue":
            return self.space is not None
        if action == "merge_pick":
            return self.selected is not None
        if action == "reload":
            return not self.running and self.store is not None
        return True  # export / promote explain themselves when there is nothing to act on

    def action_start(self) -> None:
        if self.running or self.store is None:
            return
        from jarvis_tui.learning.optimize.types import SearchDimension

        form = SearchSpace(dimensions=[
            SearchDimension("trials", "integer", low=1, high=MAX_TRIALS,
                            description="how many configs to evaluate"),
            SearchDimension("patience", "integer", low=1, high=MAX_TRIALS,
                            description="stop early after this many trials without a "
                                        "better accuracy"),
            SearchDimension("evaluate", "categorical", list(EVALUATE_MODES),
                            description="replay: estimate from traces; measured: answer "
                                        "held-out queries; replay-then-measure: measure "
                                        "frontier candidates (and what M asks for)"),
        ])  # fmt: skip

        def go(values: dict | None) -> None:
            if values is not None:
                self.patience = int(values["patience"])
                self.evaluate = str(values.get("evaluate") or "replay")
                self._begin(max_trials=int(values["trials"]), resume=None)

        self.app.push_screen(
            ConfigFormScreen(
                "Start an optimization run",
                form,
                {"trials": DEFAULT_TRIALS, "patience": self.patience, "evaluate": self.evaluate},
                intro="The run stops after the trials, or earlier once `patience` trials in "
                "a row bring no better accuracy.",
                submit="start",
                done="started",
            ),
            go,
        )

    def action_continue_run(self) -> None:
        if self.running or not self.view.run_id:
            return
        self._begin(max_trials=max(self.view.max_trials, len(self.view.trials) + 1),
                    resume=self.view.run_id)  # fmt: skip

    def _begin(self, *, max_trials: int, resume: str | None) -> None:
        from jarvis_tui.learning.optimize.optimizer import RunControl

        self.control = RunControl(review=self.review_on, bounds=self.bounds)
        for params in self.idle_queue:  # configs queued while no run was going
            self.control.enqueue(params)
        self.idle_queue = []
        self.running = True
        self.pending = None
        self._notices = []
        if resume is None:
            self.view = RunView(max_trials=max_trials, status="starting")
            self._rebuild_table()
            self._redraw()
        self._status("starting…")
        self.refresh_bindings()
        self._execute(self.control, max_trials, resume)

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.run",
          description="optimization run")  # fmt: skip
    def _execute(self, control: Any, max_trials: int, resume: Optional[str]) -> None:
        from jarvis_tui.evals.measure import measure_options
        from jarvis_tui.learning.optimize.session import open_session

        try:
            # A continued run is estimated by replay, as before (its runner is not stored).
            evaluate = self.evaluate if resume is None else "replay"
            opts = None
            if evaluate != "replay":  # what M measures with: the environment, else tiny
                opts, _origin = measure_options([], {}, self.workspace)
            session = open_session(self.workspace, max_trials=max_trials, patience=self.patience,
                                   trace_store=self.store, evaluate=evaluate,
                                   eval_options=opts)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.post_message(self.RunEnded("", "failed", " ".join(str(exc).split())))
            return
        self._runner = session.engine.trial_runner
        try:
            run = session.engine.run(
                control=control, on_event=self._from_engine, resume_run_id=resume
            )
            message = session.opt_store.get_run_meta(run.run_id).get("message", "")
            self.post_message(self.RunEnded(run.run_id, run.status, message))
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.RunEnded("", "failed", " ".join(str(exc).split())))
        finally:
            session.close()

    def _from_engine(self, ev: Any) -> None:
        """Engine thread: leave a snapshot of the run for the UI thread (latest wins).

        The engine never waits for the screen: a fast run produces trials far quicker
        than a terminal can show them, so the pane applies the newest snapshot at most
        every DRAIN_EVERY seconds (notices are queued, none is lost). The copy is
        O(trials) pointer work, a few ms at 10,000 trials.
        """
        run = ev.run
        if ev.kind == "trial_started" and ev.config is not None:
            if ev.config.trial_id in self._measure_ids:
                # Set here, on the engine thread, right before this config is evaluated:
                # the runner measures exactly this trial (not the one already going).
                self._measure_ids.discard(ev.config.trial_id)
                self._runner.measure_next = True
        snap = {
            "kind": ev.kind,
            "view": RunView(
                run_id=run.run_id,
                status=run.status,
                trials=list(run.trials),
                meta={k: dict(v) for k, v in ev.meta.items()},
                frontier=[t.trial_id for t in run.pareto_frontier],
                best=run.best_trial.trial_id if run.best_trial else None,
                objectives=list(run.objectives),
                elapsed=ev.elapsed,
                max_trials=ev.max_trials,
                optimizer=run.optimizer_model,
                benchmark=run.benchmark,
                estimate=run.benchmark == "trace-replay",
                bounds=[str(b) for b in (self.control.bounds if self.control else [])],
            ),
            "config": ev.config,
            "source": ev.source,
            "message": ev.message,
        }
        with self._snap_lock:
            if ev.kind == "notice":
                self._notice_q.append(ev.message)
            elif ev.kind == "rejected":
                self._notice_q.append(f"rejected: {ev.message}")
            self._snap = snap

    def _drain(self) -> None:
        """UI thread: show the newest snapshot the engine left, if any."""
        with self._snap_lock:
            snap, self._snap = self._snap, None
            notices, self._notice_q = self._notice_q, []
            progress, self._measure_progress = self._measure_progress, None
        if progress is not None and self.measuring is not None:
            self._status(self._measure_words(*progress))
        if notices:
            self._notices = add_notices(self._notices, notices)
        if snap is not None and self.running:
            self._apply_event(snap, bool(notices))

    def _apply_event(self, snap: dict[str, Any], noticed: bool = False) -> None:
        kind = snap["kind"]
        was = (self.pending is not None, self.running)
        old_ids = {t.trial_id for t in self.view.trials}
        old_frontier = set(self.view.frontier)
        self.view = snap["view"]
        if kind == "review":
            if self.pending is None or self.pending[0] is not snap["config"]:
                self.app.bell()
            self.pending = (snap["config"], snap["source"])
        else:
            self.pending = None
        new = [t for t in self.view.trials if t.trial_id not in old_ids]
        if new or set(self.view.frontier) != old_frontier or noticed:
            if (new and len(new) == len(self.view.trials) - len(old_ids)
                    and self.sort_key == "num" and not self.sort_reverse):  # fmt: skip
                self._append_rows(new, old_frontier)
            else:
                self._rebuild_table()
            self._plot_dirty = True
        if kind == "trial_started" and snap["config"] is not None:
            self._status(f"evaluating {snap['config'].trial_id} ({snap['source']})")
        elif kind == "proposing":
            self._status("asking the optimizer for the next config…")
        elif kind == "paused":
            self._status("paused")
        else:
            self._status()
        self._prompt()
        if (self.pending is not None, self.running) != was:
            self.refresh_bindings()

    @on(RunEnded)
    def _run_ended(self, msg: TrialsPane.RunEnded) -> None:
        self.running = False
        self.pending = None
        self.control = None
        self._runner = None
        self._measure_ids.clear()
        # The message may be an endpoint's reply: shown as text (never markup, no escapes).
        if msg.status == "failed":
            self.notify(f"optimization run failed: {one_line(msg.message, 300)}",
                        severity="error", timeout=10, markup=False)  # fmt: skip
        else:
            self.notify(f"run {one_line(msg.run_id, 40)}: {one_line(msg.status, 20)} "
                        f"({one_line(msg.message, 200)})", timeout=6, markup=False)  # fmt: skip
        self.view.status = msg.status or self.view.status
        self.view.message = msg.message
        self._plot_dirty = True
        self._status()
        self._prompt()
        self.refresh_bindings()
        self._load_run(msg.run_id or None)  # the stored run, with everything persisted

    def action_pause(self) -> None:
        if self.control is None:
            return
        if self.control.paused:
            self.control.resume()
            self._status("resumed")
        else:
            self.control.pause()
            self._status("pausing after the current trial…")

    def action_stop(self) -> None:
        if self.measuring is not None and self._measure_cancel is not None:
            self._measure_cancel.set()
            self._status("cancelling the measurement: the samples done are kept (partial)…")
            return
        if self.control is not None:
            self.control.stop()
            self._status("stopping after the current trial…")

    # ------------------------------------------------------------ steering

    def action_enqueue(self) -> None:
        if self.space is None:
            return
        # Start from something close: the waiting proposal, the selected or best trial,
        # else the space's defaults.
        from jarvis_tui.learning.optimize.optimizer import default_config

        base = self._trial(self.selected) or self._trial(self.view.best)
        initial = default_config(self.space)  # what a trial does not say (a newer dimension)
        if self.pending is not None:
            initial.update(self.pending[0].params)
            origin = f"from {one_line(self.pending[0].trial_id, 16)}"
        elif base is not None:
            initial.update(base.config.params)
            origin = f"from {one_line(base.trial_id, 16)}"
        else:
            origin = "default"

        def queued(params: dict | None) -> None:
            if params is None:
                return
            if self.control is not None and self.running:
                cfg = self.control.enqueue(params)
                self.notify(f"queued {one_line(cfg.trial_id, 40)}: evaluated before the next "
                            "proposal", markup=False)  # fmt: skip
            else:
                self.idle_queue.append(params)
                self.notify("queued: evaluated first when you start a run (s)")
            self._prompt()

        intro = ("Evaluated before the next proposal." if self.running
                 else "No run is going: this config is evaluated first in the next run you "
                      "start (s).")  # fmt: skip
        self.app.push_screen(
            ConfigFormScreen(
                "Queue a config",
                self.space,
                initial,
                intro=intro,
                initial_label=origin,
                submit="queue",
                done="queued",
            ),  # fmt: skip
            queued,
        )

    def action_review(self) -> None:
        self.review_on = not self.review_on
        if self.control is not None:
            self.control.set_review(self.review_on)
            if not self.review_on:
                self.pending = None
        self.notify("review mode on: each proposal waits for you" if self.review_on
                    else "review mode off: proposals run as they come")  # fmt: skip
        self._status()
        self._prompt()
        self.refresh_bindings()

    def _decide(self, decision: Any) -> None:
        """Hand the waiting proposal's decision to the run (a RunControl method)."""
        if self.pending is None or self.control is None:
            return  # the run ended or moved on while a form was open
        try:
            decision()
        except ValueError as exc:  # nothing waits any more (review was turned off)
            self.notify(one_line(str(exc), 300), severity="warning", markup=False)
        self.pending = None
        self._prompt()
        self.refresh_bindings()

    def action_accept(self) -> None:
        if self.control is not None:
            self._decide(self.control.accept)

    def action_edit(self) -> None:
        if self.pending is None or self.control is None or self.space is None:
            return
        config, _source = self.pending

        def edited(params: dict | None) -> None:
            if params is not None and self.control is not None:
                self._decide(lambda c=self.control: c.accept(params))

        self.app.push_screen(
            ConfigFormScreen(
                f"Edit proposal {one_line(config.trial_id, 40)}, then accept",
                self.space,
                config.params,
                initial_label="proposed",
                intro="Change what you want; the edited config is evaluated "
                "in place of the proposal.",
                submit="accept",
                done="accepted",
            ),  # fmt: skip
            edited,
        )

    def action_reject(self) -> None:
        if self.pending is None or self.control is None:
            return
        config, _ = self.pending

        def rejected(reason: str | None) -> None:
            if reason is not None and self.control is not None:
                self._decide(lambda c=self.control: c.reject(reason))

        self.app.push_screen(
            PromptScreen(
                f"Reject proposal {one_line(config.trial_id, 40)}",
                label="reason",
                placeholder="e.g. too slow for chat; keep latency under 1 s",
                help="required: one line the optimizer reads before its next proposal",
                hint="enter: reject · escape: keep it waiting",
                check=lambda t: (
                    None if t.strip() else "required: say why; the reason guides the next proposal"
                ),
            ),
            rejected,
        )

    def action_bounds(self) -> None:
        current = ", ".join(str(b) for b in self.bounds)

        def parse(text: str) -> list[ObjectiveBound]:
            return [ObjectiveBound.parse(p) for p in text.split(",") if p.strip()]

        def check(text: str) -> str | None:
            try:
                parse(text)
            except ValueError as exc:
                return str(exc)
            return None

        def set_bounds(text: str | None) -> None:
            if text is None:
                return
            self.bounds = parse(text)
            if self.control is not None:
                self.control.set_bounds(self.bounds)
            # Re-mark what is on screen now (a waiting proposal means no new snapshot
            # comes until the user decides); a live run's next snapshot agrees.
            self._remark_bounds()
            self.notify("bounds: " + (", ".join(str(b) for b in self.bounds) or "none"),
                        markup=False)  # fmt: skip
            self._status()
            self._prompt()

        self.app.push_screen(
            PromptScreen(
                "Objective bounds",
                label="bounds",
                value=current,
                placeholder="latency <= 2s, cost <= 0.001, accuracy >= 0.7",
                help="comma separated: metric <= or >= value (latency in s or ms, "
                "cost in $, accuracy 0–1); trials outside are infeasible; "
                "empty clears them",
                hint="enter: set · escape: keep the current bounds",
                check=check,
            ),  # fmt: skip
            set_bounds,
        )

    def _remark_bounds(self) -> None:
        """Without a live run: re-mark the shown trials and their frontier locally."""
        from jarvis_tui.learning.optimize.optimizer import apply_bounds

        front, best = apply_bounds(self.view.trials, self.bounds, self.view.objectives,
                                   self.view.meta)  # fmt: skip
        self.view.frontier = [t.trial_id for t in front]
        self.view.best = best.trial_id if best else None
        self._rebuild_table()
        self._redraw()

    def action_merge_pick(self) -> None:
        if self.selected is None:
            return
        if self.selected not in self.view.frontier:
            self.notify("only frontier members can be merged", severity="warning")
            return
        if self.selected in self.merge_ids:
            self.merge_ids.remove(self.selected)
        else:
            self.merge_ids.append(self.selected)
        if self.control is not None:
            self.control.pick_for_merge(self.merge_ids)
        picked = ", ".join(one_line(i, 24) for i in self.merge_ids) or "the engine picks"
        self.notify(f"next merge combines: {picked}", markup=False)
        self._rebuild_table()

    # ------------------------------------------------------------ measuring

    def _scoring(self, trial_id: str) -> str:
        """``measured`` or ``estimate`` (older runs: what the run says)."""
        return scoring_of(self.view.meta.get(trial_id, {}), self.view.estimate)

    def action_measure(self) -> None:
        trial = self._trial(self.selected)
        if trial is None or self.workspace is None:
            self.notify("select a trial to measure first", severity="warning")
            return
        name = one_line(trial.trial_id, 24)
        if self.measuring is not None:
            self.notify(f"measuring {one_line(self.measuring, 24)} already: x cancels it",
                        severity="warning", markup=False)  # fmt: skip
            return
        if self.running:
            self._measure_in_run(trial)
            return
        if self._scoring(trial.trial_id) == "measured":
            self.notify(f"{name} is measured already: M measures an estimate (≈)",
                        severity="warning", markup=False)  # fmt: skip
            return
        from jarvis_tui.evals.measure import measure_options, missing_backend

        opts, origin = measure_options(self.view.trials, self.view.meta, self.workspace,
                                       run_estimate=self.view.estimate)  # fmt: skip
        problem = missing_backend(opts)
        if problem:
            self._notices = add_notices(self._notices, [problem])
            self._prompt()
            self.notify(problem, severity="warning", timeout=10, markup=False)
            return
        self.measuring = trial.trial_id
        self._measure_cancel = threading.Event()
        self._status(f"measuring {name} with {one_line(origin, 60)}…")
        self._prompt()
        self.refresh_bindings()
        self._measure(self.view.run_id, trial.trial_id, opts, self._measure_cancel)

    def _measure_in_run(self, trial: TrialResult) -> None:
        """During a run: queue the config and have the run's runner measure it."""
        name = one_line(trial.trial_id, 24)
        runner = self._runner
        if self.control is None or runner is None:
            return
        if not hasattr(runner, "measure_next"):
            how = ("measures every trial already" if getattr(runner, "scoring", "") == "measured"
                   else "estimates every trial by replaying traces")  # fmt: skip
            self.notify(f"this run {how}: M measures {name} once the run ends (x stops it)",
                        severity="warning", timeout=8, markup=False)  # fmt: skip
            return
        cfg = self.control.enqueue(dict(trial.config.params),
                                   note=f"{trial.trial_id}'s config, measured on request")  # fmt: skip
        self._measure_ids.add(cfg.trial_id)
        self.notify(f"queued {one_line(cfg.trial_id, 24)}: the run measures {name}'s config "
                    "next", markup=False)  # fmt: skip
        self._prompt()

    def _measure_words(self, done: int, total: int) -> str:
        n = max(1, total // 2)
        phase = (f"answered {min(done, n)}/{n}" if done < n
                 else f"scored {min(done - n, n)}/{n}")  # fmt: skip
        return f"measuring {one_line(self.measuring or '', 20)}: {phase} samples · x cancels"

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.measure",
          description="measure a trial")  # fmt: skip
    def _measure(self, run_id: str, trial_id: str, opts: Any, cancel: threading.Event) -> None:
        from jarvis_tui.evals.measure import measure_trial

        def progress(done: int, total: int) -> None:
            with self._snap_lock:  # the UI shows the newest at its next drain
                self._measure_progress = (done, total)

        try:
            result = measure_trial(self.workspace, run_id, trial_id, opts,
                                   trace_store=self.store, cancel=cancel,
                                   progress=progress)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
            self.post_message(self.Measured(trial_id, run_id, error=" ".join(str(exc).split())))
            return
        self.post_message(self.Measured(trial_id, run_id, result))

    @on(Measured)
    def _measured(self, msg: TrialsPane.Measured) -> None:
        self.measuring = None
        self._measure_cancel = None
        with self._snap_lock:
            self._measure_progress = None
        self.refresh_bindings()
        res = msg.result
        if msg.error or res is None:
            text = f"measuring {one_line(msg.source, 24)} failed: {one_line(msg.error, 300)}"
            self._notices = add_notices(self._notices, [text])
            self.notify(text, severity="error", timeout=10, markup=False)
            self._status()
            self._prompt()
            return
        if res.trial_id is None:
            text = f"measurement of {one_line(msg.source, 24)} cancelled before any sample: nothing saved"
            self.notify(text, markup=False)
            self._status(text)
            self._prompt()
            return
        words = (f"{one_line(res.trial_id, 16)}: accuracy {res.accuracy:.3f} on {res.samples}"
                 f"/{res.total} samples" + (f", {res.errors} errors" if res.errors else "")
                 + (" (partial: cancelled)" if res.partial else ""))  # fmt: skip
        self.notify(f"measured {one_line(msg.source, 16)} → {words}", timeout=8, markup=False)
        self._select_after = res.trial_id
        if not self.running:
            self._load_run(msg.run_id)
        self._status()
        self._prompt()

    def _sample_rows(self, t: TrialResult, m: dict) -> tuple[list[dict], str]:
        """The trial's per-sample rows, worst first, and a note (why answers are missing).

        Rows come from the eval result file when there is one (query, reference and
        answer), read once in a worker; else from ``sample_scores`` (record ids only).
        """
        path = m.get("eval_result")
        note = ""
        if isinstance(path, str) and path:
            got = self._samples.get(path)
            if isinstance(got, list):
                return worst_first(got), ""
            if got is None:
                self._samples[path] = "reading…"
                self._load_samples(path)
                got = "reading…"
            note = f"answers: {got}"
        rows = [{"record_id": s.record_id, "score": s.score, "latency_seconds": s.latency_seconds,
                 "error": s.error} for s in t.sample_scores]  # fmt: skip
        return worst_first(rows), note

    @work(thread=True, exclusive=False, exit_on_error=False, group="trials.samples",
          description="read an eval result")  # fmt: skip
    def _load_samples(self, path: str) -> None:
        from jarvis_tui.evals.measure import read_sample_rows

        try:
            self.post_message(self.SamplesLoaded(path, read_sample_rows(path)))
        except ValueError as exc:
            self.post_message(self.SamplesLoaded(path, None, str(exc)))

    @on(SamplesLoaded)
    def _samples_loaded(self, msg: TrialsPane.SamplesLoaded) -> None:
        if len(self._samples) > 32:  # a few screens' worth of measured trials
            self._samples.pop(next(iter(self._samples)))
        self._samples[msg.path] = msg.rows if msg.rows is not None else msg.error
        t = self._trial(self.selected)
        if t is not None and self.view.meta.get(t.trial_id, {}).get("eval_result") == msg.path:
            self._detail()

    def _sample_table(self, t: TrialResult, m: dict, out: Text) -> None:
        """The per-sample table of a measured trial (worst first) appended to *out*."""
        rows, note = self._sample_rows(t, m)
        if not rows:
            return
        width = max(20, self.query_one("#trials-detail", Static).size.width or 60)
        errors = sum(1 for r in rows if r.get("error") is not None)
        out.append(f"\nsamples, worst first ({len(rows)}", style="bold")
        out.append(f", {errors} errors" if errors else "", style="bold red")
        out.append(")\n", style="bold")
        if note:
            out.append(one_line(note, width) + "\n", style="dim")
        rest = width - 14  # "score  lat s " before the texts
        full = "query" in rows[0]
        if full:
            wq = max(8, rest * 2 // 5)
            wr = max(6, (rest - wq) // 2 - 1)
            wa = max(6, rest - wq - wr - 2)
            head = (f"{'score':>5} {'lat s':>6}  {_cell('query', wq)} {_cell('reference', wr)} "
                    f"{_cell('answer', wa)}")  # fmt: skip
        else:
            head = f"{'score':>5} {'lat s':>6}  sample"
        out.append(one_line(head, width) + "\n", style="dim underline")
        for r in rows[:SAMPLE_ROWS_MAX]:
            err = r.get("error")
            score = r.get("score")
            cell = "error" if err is not None else ("–" if score is None else f"{score:.3f}")
            style = "red" if err is not None else ("yellow" if (score or 0.0) < 0.5 else "")
            out.append(f"{cell:>5} ", style=style or None)
            out.append(f"{r.get('latency_seconds', 0.0):6.2f}  ")
            if full:
                answer = f"✗ {err}" if err is not None else r.get("answer", "")
                for text, w in ((r.get("query", ""), wq), (r.get("reference", ""), wr),
                                (answer, wa)):  # fmt: skip
                    out.append(_cell(text, w) + " ")
            else:
                out.append(one_line(r.get("record_id", ""), max(8, rest // 2)))
                if err is not None:
                    out.append(f"  ✗ {one_line(err, max(8, rest // 2))}", style="red")
            out.append("\n")
        if len(rows) > SAMPLE_ROWS_MAX:
            out.append(f"… {len(rows) - SAMPLE_ROWS_MAX} better samples not listed\n", style="dim")

    # ------------------------------------------------------------ export, promote

    def action_export(self) -> None:
        if self.view.best is None or self.workspace is None:
            self.notify("this run has no best trial to export", severity="warning")
            return
        run_id = self.view.run_id
        default = str(Path("recipes") / f"{one_line(run_id, 40)}-best.toml")

        def check(text: str) -> str | None:
            return self._target(text)[1]

        def go(text: str | None) -> None:
            if not text:
                return
            path, _problem, inside = self._target(text)
            if path is None:
                return
            if inside:
                self._export(run_id, str(path))
                return
            self._confirm_outside(path, lambda: self._export(run_id, str(path)))

        self.app.push_screen(
            PromptScreen(
                "Export the best trial as a TOML recipe",
                label="file",
                value=default,
                help="a file path; a relative path is taken inside the workspace; elsewhere asks first",
                hint="enter: write · escape: cancel",
                check=check,
            ),  # fmt: skip
            go,
        )

    def _target(self, text: str) -> tuple[Path | None, str | None, bool]:
        """Where a typed path points: (absolute path, why it is refused, inside workspace).

        Relative paths are taken inside the workspace. A symbolic link as the target is
        refused (the write would land wherever it points); a folder is refused.
        """
        raw = text.strip()
        if not raw:
            return None, "required: a file path", False
        root = Path(self.workspace.root).resolve()
        try:
            path = Path(raw).expanduser()
        except RuntimeError:  # ~user that does not exist
            return None, f"{one_line(raw, 60)}: no such user", False
        if not path.is_absolute():
            path = root / path
        if path.is_symlink():
            return None, f"{one_line(str(path), 80)} is a symbolic link: give another path", False
        resolved = path.resolve()
        if resolved.is_dir():
            return None, f"{one_line(str(resolved), 80)} is a folder: give a file name", False
        return resolved, None, resolved.is_relative_to(root)

    def _confirm_outside(self, path: Path, write: Any) -> None:
        """Ask before writing outside the workspace; the dialog names the resolved path."""
        body = Text()
        body.append("The file is outside the workspace:\n\n  ")
        body.append(visible(str(path)), style="bold")
        body.append("\n\ny writes it there; n or escape writes nothing.", style="dim")

        def answer(yes: bool | None) -> None:
            if yes:
                write()
            else:
                self.notify("nothing written", markup=False)

        self.app.push_screen(ConfirmScreen("Write outside the workspace?", body), answer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.export",
          description="export best recipe")  # fmt: skip
    def _export(self, run_id: str, path: str) -> None:
        from jarvis_tui.learning.optimize.optimizer import export_best_recipe
        from jarvis_tui.learning.optimize.store import OptimizationStore

        store = OptimizationStore(self.workspace.optimize_db)
        try:
            run = store.get_run(run_id)
            if run is None or run.best_trial is None:
                raise ValueError(f"run {run_id} has no best trial to export")
            written = export_best_recipe(run, path)
            store.save_run(run)
        except (ValueError, OSError) as exc:
            self.post_message(self.Done(f"export failed: {exc}", "error"))
            return
        finally:
            store.close()
        self.post_message(self.Done(f"wrote {written} (trial {run.best_trial.trial_id})"))

    def action_promote(self) -> None:
        trial = self._trial(self.selected)
        if trial is None or self.workspace is None:
            self.notify("select a trial to promote first", severity="warning")
            return
        agent = trial.config.params.get("agent.name") or trial.config.params.get("agent.type")
        if agent:
            self._preview_promote(trial, str(agent))
            return

        def chosen(name: str | None) -> None:
            if name and name.strip():
                self._preview_promote(trial, name.strip())

        agents = self._agent_names()
        self.app.push_screen(
            PromptScreen(
                f"Promote {one_line(trial.trial_id, 40)} into an agent's config",
                label="agent",
                placeholder="agent name, e.g. react",
                help="a name (letters, digits, _ . -): its config in agents/ gets a new "
                "version" + (f"; existing: {one_line(', '.join(agents), 80)}" if agents else ""),
                hint="enter: show the diff · escape: cancel",
                check=_check_agent_name,
            ),  # fmt: skip
            chosen,
        )

    def _agent_names(self) -> list[str]:
        try:
            return sorted(p.stem for p in Path(self.workspace.agents_dir).glob("*.toml"))
        except OSError:
            return []

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.promote",
          description="preview promotion")  # fmt: skip
    def _preview_promote(self, trial: TrialResult, agent: str) -> None:
        from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

        try:
            evolver = AgentConfigEvolver(trace_store=None, config_dir=self.workspace.agents_dir)
            old, new = evolver.promoted_config(agent, trial.config.params)
        except (ValueError, OSError) as exc:
            self.post_message(self.Done(f"cannot promote: {exc}", "error"))
            return
        self.app.call_from_thread(self._confirm_promote, trial, agent, old, new)

    def _confirm_promote(self, trial: TrialResult, agent: str, old: str, new: str) -> None:
        import difflib

        body = Text()
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), "current",
                                         "promoted", lineterm="", n=2):  # fmt: skip
            style = ("green" if line.startswith("+") else "red" if line.startswith("-")
                     else "dim")  # fmt: skip
            body.append(visible(line) + "\n", style=style)
        if not body:
            body.append("the config would not change", style="dim")

        def answer(yes: bool | None) -> None:
            if yes:
                self._promote(trial, agent)

        self.app.push_screen(
            ConfirmScreen(
                f"Promote {one_line(trial.trial_id, 40)} to a new version of {one_line(agent, 40)}",
                body,
            ),
            answer,  # fmt: skip
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.promote",
          description="promote trial")  # fmt: skip
    def _promote(self, trial: TrialResult, agent: str) -> None:
        from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

        note = (f"trial {trial.trial_id} of run {self.view.run_id}: accuracy "
                f"{trial.accuracy:.3f}, latency {trial.mean_latency_seconds:.2f}s")  # fmt: skip
        try:
            evolver = AgentConfigEvolver(trace_store=None, config_dir=self.workspace.agents_dir)
            version = evolver.promote_params(agent, trial.config.params, note=note)
        except (ValueError, OSError) as exc:
            self.post_message(self.Done(f"promotion failed: {exc}", "error"))
            return
        self.post_message(self.Done(f"{agent}: version {version} (promoted-trial) written"))
        self.post_message(self.Promoted(agent, version))

    @on(Done)
    def _done(self, msg: TrialsPane.Done) -> None:
        # Paths, agent names and engine errors are data: text, never markup.
        self.notify(one_line(msg.text, 400), severity=msg.severity, timeout=8,  # type: ignore[arg-type]
                    markup=False)  # fmt: skip

    # ------------------------------------------------------------ table, plot, detail

    def _trial(self, trial_id: str | None) -> TrialResult | None:
        if trial_id is None:
            return None
        return next((t for t in self.view.trials if t.trial_id == trial_id), None)

    def _flag(self, t: TrialResult) -> Text:
        m = self.view.meta.get(t.trial_id, {})
        if m.get("infeasible"):
            return Text("×", style="red")
        if t.trial_id == self.view.best:
            return Text("★", style="bold yellow")
        if t.trial_id in self.merge_ids:
            return Text("M", style="bold magenta")
        if t.trial_id in self._frontier_set:
            return Text("●", style="bold")
        return Text("·", style="dim")

    def _row(self, num: int, t: TrialResult) -> tuple:
        m = self.view.meta.get(t.trial_id, {})
        dim = "dim" if (t.trial_id not in self._frontier_set) else ""
        if self._scoring(t.trial_id) == "measured":
            glyph = Text(PARTIAL_GLYPH if m.get("partial") else MEASURED_GLYPH, style="bold green")
        else:
            glyph = Text(ESTIMATE_GLYPH, style="dim")
        return (
            Text(str(m.get("num", num)), style="dim"),
            glyph,
            Text(one_line(t.trial_id, 12), style=dim),
            Text(str(m.get("source", "")), style="dim"),
            Text(fmt_metric("accuracy", t.accuracy), style=dim),
            Text(fmt_metric("mean_latency_seconds", t.mean_latency_seconds), style=dim),
            Text(fmt_metric("total_cost_usd", t.total_cost_usd), style=dim),
            self._flag(t),
        )

    def _render_row(self, key: str) -> tuple:
        """TrialTable callback: the cells of one visible row (rows are rendered lazily)."""
        num, t = self._by_id[key]
        return self._row(num, t)

    def _index(self) -> None:
        self._by_id = {t.trial_id: (i, t) for i, t in enumerate(self.view.trials, 1)}
        self._frontier_set = set(self.view.frontier)

    def _ordered(self) -> list[tuple[int, TrialResult]]:
        items = list(enumerate(self.view.trials, 1))
        if self.sort_key == "num":
            return items[::-1] if self.sort_reverse else items
        obj = next((o for o in self.view.objectives if o.metric == self.sort_key), None)
        best_first = obj is None or obj.direction == "maximize"
        if self.sort_reverse:
            best_first = not best_first

        def key(item: tuple[int, TrialResult]) -> float:
            v = getattr(item[1], self.sort_key, 0.0)
            v = v if isinstance(v, int | float) and math.isfinite(v) else math.inf
            return -v if best_first and v != math.inf else v

        return sorted(items, key=key)

    def _rebuild_table(self) -> None:
        """Re-key the (virtual) table: O(trials) for the key list, rows render lazily."""
        self._index()
        table = self.query_one("#trials-table", TrialTable)
        keep = self.selected
        table.set_rows([t.trial_id for _, t in self._ordered()], self._render_row)
        if keep is not None and keep in self._by_id:
            table.move_to(keep)
        self.selected = table.cursor_key
        self._detail()

    def _append_rows(self, new: list[TrialResult], old_frontier: set[str]) -> None:
        """Trials arrived in run order: extend the keys, re-render rows whose flag changed."""
        table = self.query_one("#trials-table", TrialTable)
        follow = table.row_count > 0 and table.cursor_row == table.row_count - 1
        self._index()
        table.set_rows([t.trial_id for t in self.view.trials], self._render_row)
        changed = (set(self.view.frontier) ^ old_frontier) | ({self.view.best} - {None})
        table.invalidate(changed | {t.trial_id for t in new})
        if follow and new:
            table.move_to(new[-1].trial_id)  # follow the newest trial
        self.selected = table.cursor_key
        self._detail()

    def _redraw_if_dirty(self) -> None:
        if self._plot_dirty:
            self._redraw()

    def _redraw(self) -> None:
        self._plot_dirty = False
        plot = self.query_one("#trials-plot", ScatterPlot)
        trials = self.view.trials
        front = set(self.view.frontier)
        metrics = [o.metric for o in self.view.objectives]
        if self.x_metric not in metrics:
            self.x_metric = metrics[1] if len(metrics) > 1 else metrics[0]
        if self.y_metric not in metrics:
            self.y_metric = metrics[0]
        rest = [m for m in metrics if m not in (self.x_metric, self.y_metric)]
        shade_metric = rest[0] if rest else None
        shade = None
        if shade_metric and trials:
            vals = [float(getattr(t, shade_metric, 0.0)) for t in trials]
            finite = [v for v in vals if math.isfinite(v)]
            lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
            span = (hi - lo) or 1.0
            shade = [((v - lo) / span) if math.isfinite(v) else 0.0 for v in vals]
        direction = {o.metric: o.direction for o in self.view.objectives}
        plot.set_data(
            [float(getattr(t, self.x_metric, math.nan)) for t in trials],
            [float(getattr(t, self.y_metric, math.nan)) for t in trials],
            frontier=[t.trial_id in front for t in trials],
            infeasible=[
                bool(self.view.meta.get(t.trial_id, {}).get("infeasible")) for t in trials
            ],  # fmt: skip
            shade=shade,
            measured=[self._scoring(t.trial_id) == "measured" for t in trials],
            x_label=SHORT.get(self.x_metric, self.x_metric),
            y_label=SHORT.get(self.y_metric, self.y_metric),
            shade_label=SHORT.get(shade_metric, shade_metric or "") if shade_metric else "",
            x_better="high" if direction.get(self.x_metric) == "maximize" else "low",
            y_better="high" if direction.get(self.y_metric) == "maximize" else "low",
        )
        ids = [t.trial_id for t in trials]
        plot.selected = ids.index(self.selected) if self.selected in ids else None
        self._tradeoffs()

    def action_cycle_axis(self, axis: str) -> None:
        metrics = [o.metric for o in self.view.objectives]
        cur = self.x_metric if axis == "x" else self.y_metric
        other = self.y_metric if axis == "x" else self.x_metric
        choices = [m for m in metrics if m != other] or metrics
        nxt = choices[(choices.index(cur) + 1) % len(choices)] if cur in choices else choices[0]
        if axis == "x":
            self.x_metric = nxt
        else:
            self.y_metric = nxt
        self._redraw()

    def action_sort(self) -> None:
        keys = [k for k, _ in SORTS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._rebuild_table()
        self._status()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._rebuild_table()
        self._status()

    def action_toggle_detail(self) -> None:
        self.toggle_class("-no-detail")
        shown = not self.has_class("-no-detail")
        self.notify("detail panel shown" if shown else "detail panel hidden (d shows it)")

    def action_reload(self) -> None:
        if not self.running and self.store is not None:
            self._reloading = True
            self._status("reloading…")
            self._load_run(self.view.run_id or None)

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW_BELOW, "-narrow")
        self._status()
        self._prompt()
        self.call_after_refresh(self._detail)  # the sample table fits the detail's width

    def _frontier_order(self) -> list[TrialResult]:
        front_ids = self._frontier_set
        front = [t for t in self.view.trials if t.trial_id in front_ids]
        return sorted(front, key=lambda t: (getattr(t, self.x_metric, 0.0), t.trial_id))

    def action_frontier(self, step: int) -> None:
        order = self._frontier_order()
        if not order:
            return
        ids = [t.trial_id for t in order]
        if self.selected in ids:
            i = max(0, min(len(ids) - 1, ids.index(self.selected) + step))
        else:
            i = 0 if step > 0 else len(ids) - 1
        self._select(ids[i])

    def _select(self, trial_id: str) -> None:
        table = self.query_one("#trials-table", TrialTable)
        if table.move_to(trial_id):
            self.selected = trial_id
            self._after_select()

    @on(TrialTable.Highlighted, "#trials-table")
    def _row_highlighted(self, event: TrialTable.Highlighted) -> None:
        if event.key != self.selected:
            self.selected = event.key
            self._after_select()

    @on(ScatterPlot.PointSelected)
    def _point_clicked(self, event: ScatterPlot.PointSelected) -> None:
        if 0 <= event.index < len(self.view.trials):
            self._select(self.view.trials[event.index].trial_id)

    def _after_select(self) -> None:
        ids = [t.trial_id for t in self.view.trials]
        plot = self.query_one("#trials-plot", ScatterPlot)
        plot.selected = ids.index(self.selected) if self.selected in ids else None
        self._detail()
        self._tradeoffs()

    def _tradeoffs(self) -> None:
        out = Text()
        order = self._frontier_order()
        ids = [t.trial_id for t in order]
        if self.selected in ids and len(order) > 1:
            i = ids.index(self.selected)
            out.append(f"{self.selected} on the frontier ({i + 1}/{len(order)}) → ", style="bold")
            parts = []
            if i > 0:
                parts.append(tradeoff(order[i], order[i - 1]))
            if i + 1 < len(order):
                parts.append(tradeoff(order[i], order[i + 1]))
            out.append(" | ".join(parts))
        elif order:
            out.append(f"{len(order)} frontier members; h/l walks along them", style="dim")
        self.query_one("#trials-tradeoff", Static).update(out)

    def _detail(self) -> None:
        t = self._trial(self.selected)
        out = Text()
        if t is None:
            if not self.view.trials and self.running:
                out.append("No trials yet. ", style="bold")
                out.append("The proposal below waits for your decision." if self.pending
                           else "The first trial is on its way.", style="dim")  # fmt: skip
            elif not self.view.trials:
                out.append("No trials yet. ", style="bold")
                out.append("s starts a run: Optuna proposes configs offline and each one is "
                           "estimated by replaying your labelled traces.", style="dim")  # fmt: skip
            self.query_one("#trials-detail", Static).update(out)
            return
        m = self.view.meta.get(t.trial_id, {})
        out.append(t.trial_id, style="bold")
        src = m.get("source")
        if src:
            out.append(f" · {src}", style="dim")
        if m.get("parent"):
            out.append(f" (after {m['parent']})", style="dim")
        if t.trial_id == self.view.best:
            out.append(" · best", style="bold yellow")
        if t.trial_id in self.view.frontier:
            out.append(" · frontier", style="bold")
        if m.get("infeasible"):
            out.append(" · infeasible: " + ", ".join(m["infeasible"]), style="red")
        out.append("\n")
        out.append(
            f"accuracy {t.accuracy:.3f} · latency {t.mean_latency_seconds:.2f}s · "
            f"cost {money(t.total_cost_usd)}"
            f" · {t.samples_evaluated:,} samples"
        )
        measured = self._scoring(t.trial_id) == "measured"
        if not measured:
            out.append("\n")
            out.append(f"{ESTIMATE_GLYPH} estimate from replayed traces", style="italic dim")
            out.append(" · M measures it", style="dim")
        else:
            out.append("\n")
            out.append(f"{PARTIAL_GLYPH if m.get('partial') else MEASURED_GLYPH} measured ",
                       style="bold green")  # fmt: skip
            es = m.get("eval_set")
            if isinstance(es, dict) and es.get("id"):
                out.append(f"on eval set {one_line(str(es['id']), 24)}")
            if m.get("generator"):
                out.append(f" · {one_line(str(m['generator']), 48)}", style="dim")
            if m.get("partial"):
                out.append(" · partial: cancelled midway", style="yellow")
        out.append("\n")
        if measured:  # the evidence first: the worst samples, then the params
            self._sample_table(t, m, out)
        out.append("\n")
        best = self._trial(self.view.best)
        best = best if best is not t else None
        parent = self._trial(m.get("parent"))
        against = []
        if parent is not None:
            against.append(Text(f"← parent {parent.trial_id}", style="cyan"))
        if best is not None:
            against.append(Text(f"≠ best {best.trial_id}", style="yellow"))
        out.append("params", style="bold")
        if against:
            out.append(" (")
            out.append(Text(", ").join(against))
            out.append(")")
        out.append("\n")
        for key, value in sorted(t.config.params.items()):
            out.append(f"  {one_line(key, 22):<22} ")
            out.append(one_line(_show_value(value), 24))
            shown = value
            for other_trial, mark, style in ((parent, "←", "cyan"), (best, "≠", "yellow")):
                if other_trial is None:
                    continue
                other = other_trial.config.params.get(key)
                if other != value and other != shown:  # say a value once
                    out.append(f" {mark} {one_line(_show_value(other), 16)}", style=style)
                    shown = other
            out.append("\n")
        if t.config.reasoning:
            out.append("\nreasoning\n", style="bold")
            out.append(t.config.reasoning.strip() + "\n")
        if t.analysis:
            out.append("\nanalysis\n", style="bold")
            out.append(t.analysis.strip() + "\n")
        fb = t.structured_feedback
        patterns = list(fb.failure_patterns) if fb else []
        patterns += [f for f in t.failure_modes if f not in patterns]
        if patterns:
            out.append("\nfailure patterns & notes\n", style="bold")
            for p in patterns[:12]:
                out.append(f"  • {p}\n")
        if fb and fb.suggested_changes:
            out.append("\nsuggested\n", style="bold")
            for s in fb.suggested_changes[:6]:
                out.append(f"  • {s}\n")
        if t.per_benchmark:
            out.append("\nper benchmark\n", style="bold")
            for b in t.per_benchmark:
                out.append(
                    f"  {one_line(b.benchmark, 14):<14} acc {b.accuracy:.3f}  "
                    f"lat {b.mean_latency_seconds:5.2f}s  n {b.samples_evaluated:>6,}"
                    f"  w {b.weight:.2f}" + (f"  errors {b.errors}" if b.errors else "") + "\n"
                )
        self.query_one("#trials-detail", Static).update(out)

    def _status(self, extra: str = "") -> None:
        """The header: state words first, fitted to the width by priority (two lines at
        most; what does not fit is dropped, least important first, never cut mid-word)."""
        v = self.view
        parts: list[tuple[int, Text]] = []  # (priority: lower is kept longer, part)
        if not v.run_id and not self.running:
            parts.append((0, Text("No optimization runs yet", style="bold")))
            parts.append((5, Text("s starts one", style="dim")))
            if self.space_origin:
                parts.append((9, Text(f"search space {one_line(self.space_origin, 40)}",
                                      style="dim")))  # fmt: skip
        else:
            state = "running" if self.running else (v.status or "…")
            if self.running and self.control is not None and self.control.paused:
                state = "paused"
            style = {"running": "bold yellow", "paused": "bold cyan", "completed": "bold green",
                     "failed": "bold red", "stopped": "bold cyan"}.get(state, "bold")  # fmt: skip
            head = Text(f"run {one_line(v.run_id or '…', 20)} ", style="bold")
            head.append(one_line(state, 16), style=style)
            parts.append((0, head))
        if extra:
            parts.append((1, Text(one_line(extra, 80),
                                  style="bold yellow" if self.measuring else "")))  # fmt: skip
        elif self.measuring is not None:
            parts.append((1, Text(f"measuring {one_line(self.measuring, 20)}… · x cancels",
                                  style="bold yellow")))  # fmt: skip
        if self.pending is not None:
            parts.append((1, Text("proposal waiting", style="bold magenta")))
        if self.review_on:
            parts.append((1, Text("review on", style="bold magenta")))
        if self.bounds:
            parts.append((2, Text("bounds " + one_line(", ".join(_short_bound(b)
                                                                 for b in self.bounds), 70),
                                  style="cyan")))  # fmt: skip
        if self.sort_key != "num" or self.sort_reverse:
            arrow = "↑" if self.sort_reverse else "↓"
            parts.append((2, Text(f"sort {dict(SORTS)[self.sort_key]} {arrow}")))
        if v.run_id or self.running:
            planned = max(v.max_trials, len(v.trials))  # measured trials come on top
            parts.append((3, Text(f"{len(v.trials)}/{planned} trials")))
            parts.append((4, Text(f"{duration(v.elapsed)} wall")))
            cost = sum(t.total_cost_usd for t in v.trials)
            parts.append((5, Text(f"Σ est. cost {money(cost)}")))
            n_measured = sum(1 for t in v.trials if self._scoring(t.trial_id) == "measured")
            n_estimated = len(v.trials) - n_measured
            counts = Text()
            if n_measured:
                counts.append(f"{n_measured} measured", style="green")
            if n_estimated:
                if n_measured:
                    counts.append(" · ", style="dim")
                counts.append(f"{n_estimated} estimated", style="italic dim")
            if counts:
                parts.append((3, counts))
            if v.optimizer:
                parts.append((7, Text(one_line(v.optimizer, 28), style="dim")))
        if not extra and v.message and not self.running:
            parts.append((8, Text(one_line(v.message, 80), style="dim")))
        width = max(20, self.size.width - 2)
        self.query_one("#trials-status", Static).update(fit_parts(parts, width, lines=2))

    def _prompt(self) -> None:
        out = Text()
        width = max(20, self.size.width - 2)
        if self.pending is not None:
            config, source = self.pending
            head = Text(f"Proposal {one_line(config.trial_id, 24)} ({one_line(source, 16)}) "
                        "waits: ", style="bold magenta")  # fmt: skip
            keys = Text("y accept · e edit then accept · n reject with a reason", style="bold")
            out.append_text(head)
            if head.cell_len + keys.cell_len > width:
                out.append("\n")
            out.append_text(keys)
            out.append("\n")
            params = ", ".join(f"{k}={_show_value(v)}" for k, v in sorted(config.params.items()))
            out.append(one_line(params, width))
            if config.reasoning:
                out.append("\n" + one_line(config.reasoning, width), style="italic")
        else:
            queued = len(self.control.queued()) if self.control is not None else 0
            if self.idle_queue and not self.running:
                out.append(f"{len(self.idle_queue)} queued config(s) run first when you start "
                           "a run · ", style="bold")  # fmt: skip
            elif queued:
                out.append(f"{queued} queued config(s) run before the next proposal · ",
                           style="bold")  # fmt: skip
            if self._notices:
                # Two lines at most (the prompt's height): a notice may say what to install.
                out.append(one_line(" · ".join(self._notices[-2:]), 2 * width), style="yellow")
            elif self.measuring is not None:
                out.append(one_line("x cancels the measurement (the samples done are kept, "
                                    "marked partial)", width), style="dim")  # fmt: skip
            elif not self.running:
                hint = (
                    "s start · c continue · a queue · M measure · v review · B bounds · o/O "
                    "sort · X/Y axes · h/l frontier · w export · + promote · ? keys"
                )
                out.append(one_line(hint, width), style="dim")
            else:
                out.append(one_line("p pause/resume · x stop · a queue a config · M measure · "
                                    "v review mode · B bounds", width), style="dim")  # fmt: skip
        self.query_one("#trials-prompt", Static).update(out)


def _short_bound(bound: ObjectiveBound) -> str:
    return f"{SHORT.get(bound.metric, bound.metric).split(' ')[0]} {bound.op} {bound.value:g}"


def fit_parts(parts: list[tuple[int, Text]], width: int, lines: int = 2) -> Text:
    """Join *parts* with `` · `` into at most *lines* lines of *width* cells.

    Parts keep their order; a part never breaks across lines. When they do not fit,
    the part with the largest priority number goes first (ties: the later one), and
    so on until the rest fits. A single part wider than a line ends in ``…``.
    """
    sep = " · "
    kept = list(parts)
    while True:
        rows: list[Text] = []
        for _, part in kept:
            if part.cell_len > width:
                part = part.copy()
                part.truncate(width, overflow="ellipsis")
            if rows and rows[-1].cell_len + len(sep) + part.cell_len <= width:
                rows[-1].append(sep, style="dim")
                rows[-1].append_text(part)
            else:
                rows.append(part.copy())
        if len(rows) <= lines or len(kept) <= 1:
            out = Text("\n").join(rows[:lines])
            out.no_wrap = True
            return out
        drop = max(range(len(kept)), key=lambda i: (kept[i][0], i))
        del kept[drop]


def _check_agent_name(text: str) -> str | None:
    """Why *text* cannot name an agent config (a plain name inside agents/), or None."""
    import re

    name = text.strip()
    if not name:
        return "required: an agent name"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}", name):
        return (f"{one_line(name, 40)!r} is not a plain agent name: letters, digits, _ . - "
                "(no folders)")  # fmt: skip
    return None


def add_notices(shown: list[str], new: list[str], keep: int = 3) -> list[str]:
    """The newest notices, each said once: a repeat moves to the end with a count."""
    out = list(shown)
    for text in new:
        count = 1
        for i, old in enumerate(out):
            base, _, times = old.partition(" (×")
            if base == text:
                count = (int(times[:-1]) if times[:-1].isdigit() else 1) + 1
                del out[i]
                break
        out.append(text if count == 1 else f"{text} (×{count})")
    return out[-keep:]


def _cell(text: Any, width: int) -> str:
    """*text* on one line, exactly *width* terminal cells (cut with ``…``, padded)."""
    from rich.cells import cell_len, set_cell_size

    line = one_line(str(text), width)
    if cell_len(line) > width:
        line = set_cell_size(line, width - 1) + "…"
    return set_cell_size(line, width)


def _show_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
