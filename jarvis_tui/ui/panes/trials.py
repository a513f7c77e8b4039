"""Trials pane: optimization trials on a Pareto frontier, and a human steering the run.

The pane holds the widgets and the user's steering; what a run looks like on screen
is in :mod:`trials_view` (pure functions of a :class:`RunView`) and the detail panel
in :mod:`trials_detail`.

Every engine call is a private ``@work(thread=True, exclusive=True, …)`` method that
gets what it needs as arguments and posts typed messages back. A run executes in one
(``OptimizationEngine.run``, with Optuna-storage workers when ``optimize.toml`` asks
for ``workers = N``); its event callback, on the engine thread, builds a snapshot of
the run and posts it as :class:`TrialsPane.RunProgressed`. The engine never waits for
the screen: a newer snapshot replaces one still queued (``can_replace``) and the pane
applies at most one every :data:`APPLY_EVERY` (the newest, the last one always), so a
fast run is shown at the pace the terminal can take; notices travel in their own
messages so none is lost. The pane steers through the run's :class:`RunControl`
only (it is made for both threads): pause, resume, stop, queued configs, review
decisions, merge picks and objective bounds. Runs already in ``optimize.db``
(finished here, by ``jarvis-tui optimize``, or by OpenJarvis) are shown the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Static

from jarvis_tui.core.fmt import duration, money, plural
from jarvis_tui.learning.optimize.session import EVALUATE_MODES
from jarvis_tui.learning.optimize.types import ObjectiveBound, SearchSpace, TrialResult
from jarvis_tui.ui.panes.base import Pane
from jarvis_tui.ui.panes.evidence import export_target
from jarvis_tui.ui.panes.trials_detail import (
    SAMPLE_ROWS_MAX,
    empty_detail,
    proposal_detail,
    proposal_params,
    sample_rows,
    trial_detail,
)
from jarvis_tui.ui.panes.trials_view import (
    COLUMNS,
    ESTIMATE_GLYPH,
    MEASURED_GLYPH,
    MERGE_GLYPH,
    NARROW_WORKER_COLUMNS,
    PARTIAL_GLYPH,
    SHORT,
    SORTS,
    WORKER_COLUMNS,
    RunView,
    add_notices,
    check_agent_name,
    columns_for,
    counts_by_scoring,
    fit_parts,
    fmt_metric,
    frontier_order,
    has_workers,
    ordered,
    read_view,
    row_cells,
    scoring,
    short_bound,
    show_value,
    tradeoff,
    tradeoffs_text,
    view_of_event,
    workers_line,
)
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.screens.forms import ConfigFormScreen, PromptScreen
from jarvis_tui.ui.scrolling import KeyedScroll
from jarvis_tui.ui.text import one_line, visible
from jarvis_tui.ui.widgets.focus import focus_now
from jarvis_tui.ui.widgets.forms import check_field, describe
from jarvis_tui.ui.widgets.scatter import ScatterPlot
from jarvis_tui.ui.widgets.trial_table import TrialTable

__all__ = [  # the view model's names stay importable from here, as before the split
    "COLUMNS", "ESTIMATE_GLYPH", "MEASURED_GLYPH", "NARROW_WORKER_COLUMNS", "PARTIAL_GLYPH",
    "SAMPLE_ROWS_MAX", "SHORT", "SORTS", "WORKER_COLUMNS", "MeasureRequests", "RunView",
    "TrialsPane", "add_notices", "fit_parts", "fmt_metric", "tradeoff",
]  # fmt: skip

DEFAULT_TRIALS = 20
DEFAULT_PATIENCE = 5
MAX_TRIALS = 100_000
PLOT_EVERY = 0.25
"""Seconds between plot redraws while trials stream in."""

NARROW_BELOW = 100
"""Below this many columns the plot is stacked over the table (side by side it is unreadable)."""

PAUSE_TIP = "The trial in progress finishes, no new one starts; p again resumes"
"""What p does (its help line and palette entry): the engine holds between trials."""

RUN_GROUP = "trials.run"
QUIT_GRACE_S = 5.0
"""How long ctrl+q waits for a run or measurement it stopped before the app ends anyway."""
APPLY_EVERY = 0.1
"""Seconds between applying the live run's snapshots (table, status, prompt)."""

if TYPE_CHECKING:
    from jarvis_tui.workspace import WorkspaceSession


class MeasureRequests:
    """Configs queued by M during a run, which the run's runner must measure.

    The UI thread adds a queued config's id; the engine thread takes it right before
    that config is evaluated (then sets ``measure_next`` on its runner), so the runner
    measures exactly that trial, not the one already going."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, trial_id: str) -> None:
        with self._lock:
            self._ids.add(trial_id)

    def take(self, trial_id: str) -> bool:
        """True (once) when *trial_id* was asked to be measured."""
        with self._lock:
            if trial_id in self._ids:
                self._ids.discard(trial_id)
                return True
            return False


class DetailResized(Message):
    """The detail panel got another height, or its text another width (a scrollbar
    came or went): what is fitted to it (a waiting proposal, a sample table) is
    fitted again, so the screen never shows text fitted to an older layout."""


class DetailScroll(KeyedScroll):
    """The detail panel's scrolling frame (a new height re-fits the detail)."""

    def on_resize(self, event: events.Resize) -> None:
        if event.size.height != getattr(self, "_fitted_height", None):
            self._fitted_height = event.size.height
            self.post_message(DetailResized())


class DetailText(Static):
    """The detail panel's text (a new width re-fits it)."""

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != getattr(self, "_fitted_width", None):
            self._fitted_width = event.size.width
            self.post_message(DetailResized())


class TradeoffLine(Static):
    """The trade-off line(s) under the plot, fitted to the size the widget has when it
    is drawn (a resize re-fits it; nothing is cut by the terminal without a ``…``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._order: list[TrialResult] = []
        self._selected: str | None = None

    def show(self, order: list[TrialResult], selected: str | None) -> None:
        self._order, self._selected = list(order), selected
        self.refresh()

    def render(self) -> Text:
        width, height = self.size
        return tradeoffs_text(self._order, self._selected, max(1, width), max(1, height))


class TrialsPane(Pane):
    """Optimization runs: scatter + frontier, trial table, detail, steering."""

    PANE_ID = "trials"
    HELP_TITLE = "Trials"
    HELP_TEXT = (
        "Optimization trials of the workspace's optimize.db. The plot shows every trial "
        "on two objectives (X and Y cycle them; the third is the colour): frontier "
        "members are joined, dominated and infeasible trials dimmed. j/k move through "
        "the table, h/l (or ←/→) along the frontier; enter opens the selected trial whole "
        "in a window (escape closes it); o cycles the table's sort, O reverses "
        "it; d hides the detail, r reloads the run, < and > show older and newer runs. The "
        "detail shows params against the parent and the best trial, the optimizer's "
        "reasoning and analysis. s starts a run in the background (offline: Optuna "
        "proposals, trials estimated by replaying labelled traces). p pauses it: the "
        "trial in progress finishes, no new one starts, and the header says paused until "
        "p again resumes it. x stops (a trial being measured is abandoned, an estimate "
        "finishes), c continues a stopped run, scored as it was started (a measured run "
        "stays measured; an early-stopped run does not go on: s starts a new one with more "
        "patience); ctrl+q stops a run or a measurement first "
        "(a second ctrl+q quits at once). a queues a hand-written config (evaluated "
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
        Binding("p", "pause", "Pause/resume", id="trials.pause", tooltip=PAUSE_TIP),
        Binding("x", "stop", "Stop run", id="trials.stop"),
        Binding("c", "continue_run", "Continue run", id="trials.continue"),
        Binding("a", "enqueue", "Queue config", id="trials.queue"),
        Binding("v", "review", "Review mode", id="trials.review"),
        Binding("y", "accept", "Accept", id="trials.accept"),
        Binding("e", "edit", "Edit+accept", id="trials.edit"),
        Binding("n", "reject", "Reject", id="trials.reject"),
        Binding(
            "comma", "proposal_step(-1)", "Prev param", key_display=",", id="trials.param_prev"
        ),
        Binding(
            "full_stop", "proposal_step(1)", "Next param", key_display=".", id="trials.param_next"
        ),
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
        Binding(
            "enter", "open_trial", "Open trial", show=False, key_display="enter", id="trials.open"
        ),  # fmt: skip
        Binding("d", "toggle_detail", "Detail panel", show=False, id="trials.detail"),
        Binding("r", "reload", "Reload run", show=False, id="trials.refresh"),
        Binding("less_than_sign", "other_run(1)", "Older run", show=False, id="trials.older"),
        Binding(
            "greater_than_sign", "other_run(-1)", "Newer run", show=False, id="trials.newer"
        ),  # fmt: skip
    ]

    # ------------------------------------------------------------ messages
    # Posted by the pane's thread workers (never a widget call from a thread).

    @dataclass(eq=False)
    class RunLoaded(Message):
        """A run read back from optimize.db (*view* None: the store holds none)."""

        view: RunView | None
        runs: list[dict]
        space: SearchSpace | None
        origin: str
        error: str = ""
        space_error: str = ""
        """Why there is no search space (said in the header and when s is pressed)."""
        space_fix: str = ""
        """What the user can do about it."""
        failure: BaseException | None = None
        """What raised *error* (its traceback goes to the error log)."""

    @dataclass(eq=False)
    class RunOpened(Message):
        """The run's session is open: what its trial runner can do (M during the run)."""

        can_measure_next: bool
        scoring: str

    @dataclass(eq=False)
    class RunProgressed(Message):
        """The run's state after an engine event (*kind*: the ``RunEvent`` kind).

        A newer one replaces one still queued: every snapshot holds the whole run."""

        kind: str
        view: RunView
        config: Any = None
        source: str = ""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TrialsPane.RunProgressed)

    @dataclass(eq=False)
    class TrialProgressed(Message):
        """(done, total) of the live run's measured trial (answering, then scoring)."""

        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TrialsPane.TrialProgressed)

    @dataclass(eq=False)
    class RunNoticed(Message):
        """A line the run wants the user to read (never replaced: none is lost)."""

        text: str

    @dataclass(eq=False)
    class RunEnded(Message):
        run_id: str
        status: str
        message: str
        failure: BaseException | None = None
        """What raised, when the run ended by an error (its traceback goes to the log)."""

    @dataclass(eq=False)
    class Promoted(Message):
        """A trial's config became a new version of *agent* (the Configs pane reloads)."""

        agent: str
        version: int

    @dataclass(eq=False)
    class PromotePreviewed(Message):
        """The agent config before and after promoting *trial* (the user confirms)."""

        trial: TrialResult
        agent: str
        old: str
        new: str
        version: int = 0
        """The version number the promotion would be recorded as."""
        via: Any = None
        """The agent-name prompt that asked for it (closed once the preview is read)."""

    @dataclass(eq=False)
    class AgentsListed(Message):
        """The agents in agents/ (VersionStore.agents' labels), for promoting *trial*."""

        trial: TrialResult
        agents: list[str]

    @dataclass(eq=False)
    class PromoteRefused(Message):
        """A promotion cannot be previewed (*text* says why; *via*: the prompt asking)."""

        text: str
        via: Any = None
        failure: BaseException | None = None
        """What raised, when the file could not be read (its traceback is logged)."""
        agent: str = ""

    @dataclass(eq=False)
    class MeasureProgressed(Message):
        """(done, total) of the measurement going on; the newest replaces a queued one."""

        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TrialsPane.MeasureProgressed)

    @dataclass(eq=False)
    class Measured(Message):
        """A measurement of *source* finished (``result.trial_id`` None: nothing saved)."""

        source: str
        run_id: str
        result: Any = None
        error: str = ""
        failure: BaseException | None = None
        """What raised *error* (its traceback goes to the error log)."""

    @dataclass(eq=False)
    class SamplesLoaded(Message):
        """The per-sample rows of a measured trial's eval result file (or why not)."""

        path: str
        rows: list[dict] | None
        error: str = ""

    @dataclass(eq=False)
    class Done(Message):
        """An export or promotion finished; *text* says what was written."""

        text: str
        severity: str = "information"
        failure: BaseException | None = None
        """What raised (an error's traceback goes to the error log)."""
        what: str = ""
        """What failed, as the log names it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace: WorkspaceSession | None = None
        """The workspace (``paths.Workspace``) once the store is open."""
        self.store: Any = None
        """The workspace's trace store (read by replayed trials)."""
        self.view = RunView()
        """The run on screen."""
        self.runs: list[dict] = []
        """Runs in optimize.db, newest first."""
        self.space: SearchSpace | None = None
        self.space_origin = ""
        self.space_error = ""
        """Why the workspace has no search space yet (empty: it has one)."""
        self.space_fix = ""
        """What to do about it (said with the reason)."""
        self.store_error = ""
        """Why optimize.db could not be read (said in the header until a reload reads it)."""
        self.control: Any = None
        """The RunControl of the run executing in this window (None when idle)."""
        self.running = False
        self.pending: tuple[Any, str] | None = None
        """A proposal waiting for review: (config, source)."""
        self.proposal_at = 0
        """Which of the waiting proposal's params the detail marks (``,`` / ``.`` step)."""
        self.review_on = False
        self.patience = DEFAULT_PATIENCE
        """Trials without a better accuracy before a run started here stops early."""
        self.last_trials = DEFAULT_TRIALS
        """The trial count of the last run started here (the start form offers it again)."""
        self.evaluate = "replay"
        """How the next run started here scores its trials (the start form's choice)."""
        self.bounds: list[ObjectiveBound] = []
        self.merge_ids: list[str] = []
        self.idle_queue: list[dict] = []
        """Configs queued while no run was going: the next run started here evaluates them first."""
        self.notices: list[str] = []
        """The newest notices of the run or of a measurement (the prompt line shows two)."""
        self.x_metric = "mean_latency_seconds"
        self.y_metric = "accuracy"
        self.sort_key = "num"
        self.sort_reverse = False
        """O flips the table's order (best-first becomes worst-first; # newest first)."""
        self.selected: str | None = None
        self.measuring: str | None = None
        """The trial being measured in this window (None when no measurement runs)."""
        self._loaded = False
        self._reloading = False
        self._plot_dirty = False
        self._rebuild_next = False
        """A notice came (bounds changed, say): the next snapshot re-renders every row."""
        self._by_id: dict[str, tuple[int, TrialResult]] = {}
        self._frontier_set: set[str] = set()
        self._measure_cancel: threading.Event | None = None
        self._measure_requests: MeasureRequests | None = None
        """The live run's M requests (read by its engine thread)."""
        self._measure_next_ok = False
        self._measure_remote = False
        """The measurement going on asks an endpoint (no local model to load)."""
        self._measure_notice = ""
        """The prompt line's notice of what it measures with (gone when it ends)."""
        self._run_scoring = ""
        """What the live run's runner can do: measure a queued config on request, how it scores."""
        self._select_after: str | None = None
        """Select this trial once the run is read back (a new measured trial)."""
        self._samples: dict[str, list[dict] | str] = {}
        """Eval result file -> its per-sample rows, or why it could not be read."""
        self._swapping = False
        self._latest: TrialsPane.RunProgressed | None = None
        """The newest run snapshot not applied yet."""
        self._applied_at = 0.0
        self._apply_timer: Timer | None = None
        self._evaluating = False
        """A trial of the live run is being evaluated (from its events; a paused run
        lets it finish)."""
        self._evaluating_id: str | None = None
        """Which (its per-sample progress names it)."""
        self._sample_words = ""
        """The header's words on that trial's samples (a measured trial), once some came."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Waiting for the workspace…", style="dim"), id="trials-status")
        yield Static(id="trials-workers")
        with Horizontal(id="trials-main"):
            with Vertical(id="trials-left"):
                yield ScatterPlot(id="trials-plot")
                yield TradeoffLine(id="trials-tradeoff")
            with Vertical(id="trials-right"):
                yield TrialTable(COLUMNS, id="trials-table")
                with DetailScroll(id="trials-detail-scroll"):
                    yield DetailText(id="trials-detail")
        yield Static(id="trials-prompt")

    def on_mount(self) -> None:
        self.set_interval(PLOT_EVERY, self._redraw_if_dirty)
        self._prompt()

    def workspace_ready(self, session: WorkspaceSession) -> None:
        super().workspace_ready(session)
        self.store = session.traces
        if self._visible():
            self.on_shown()

    def _visible(self) -> bool:
        try:
            return self.app.query_one("#panes").active == "trials"  # type: ignore[attr-defined]
        except Exception:
            return False

    def focus_default(self) -> None:
        table = self._table()
        if table is not None:
            focus_now(table)
        self.on_shown()

    def on_shown(self) -> None:
        if self.store is not None and not self._loaded:
            self._loaded = True
            self._load_run(self.workspace, self.store, None)

    def on_unmount(self) -> None:
        if self.control is not None:
            self.control.set_review(False)
            self.control.stop()

    # ------------------------------------------------------------ loading runs

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.load",
          description="load optimization run")  # fmt: skip
    def _load_run(
        self, workspace: WorkspaceSession, trace_store: Any, run_id: Optional[str]
    ) -> None:
        from jarvis_tui.learning.optimize.session import load_workspace_space, search_space_path
        from jarvis_tui.workspace import WorkspaceError

        space, origin, space_error, fix = None, "", "", ""
        try:
            space, origin = load_workspace_space(workspace.paths, trace_store)
        except (ValueError, OSError) as exc:
            # Said in the header (and once when s is pressed), not in a toast on every
            # load: an empty workspace would repeat it at each reload and failed start.
            reason = " ".join(str(exc).split())
            path = search_space_path(workspace.paths)
            if path.exists():  # the file by its name (the header has room for the why)
                reason = reason.replace(str(path), path.name)
                space_error = reason if path.name in reason else f"{path.name}: {reason}"
                fix = f"fix {path.name}, then r reloads it and s starts a run"
            else:
                space_error = f"nothing to optimize yet: {reason}"
                fix = ("use OpenJarvis with this workspace so it logs traces (or list the "
                       f"dimensions in {path.name} as [[optimize.search]]), then r reloads "
                       "and s starts a run")  # fmt: skip
        try:  # the session's store (it owns and closes it); None: no optimize.db yet
            store = workspace.optimization_store()
        except WorkspaceError as exc:
            self.post_message(self.RunLoaded(None, [], space, origin, str(exc), space_error, fix,
                                             failure=exc))  # fmt: skip
            return
        if store is None:
            self.post_message(self.RunLoaded(None, [], space, origin, "", space_error, fix))
            return
        runs = store.list_runs(limit=200)
        view = None
        rid = run_id or (runs[0]["run_id"] if runs else None)
        if rid is not None:
            view = read_view(store, rid)
        self.post_message(self.RunLoaded(view, runs, space, origin, "", space_error, fix))

    @on(RunLoaded)
    def _run_loaded(self, msg: TrialsPane.RunLoaded) -> None:
        self.runs = msg.runs
        if msg.space is not None:
            self.space, self.space_origin = msg.space, msg.origin
        self.space_error, self.space_fix = msg.space_error, msg.space_fix
        error = self._store_words(msg.error)
        if error and error != self.store_error:  # once; the header keeps saying it
            if msg.failure is not None:
                self.report_failure("open optimize.db", msg.failure, error)
            else:
                self.notify(one_line(error, 300), severity="error", timeout=8, markup=False)
        self.store_error = error
        self.refresh_bindings()  # "queue config" and "continue" depend on what loaded
        if self.running:
            return  # the live run owns the view
        if (msg.view.run_id if msg.view else None) != self.view.run_id:
            self.notices = []  # another run: the last one's notices (a rejection) are not its
        self.view = msg.view or RunView()
        if self.bounds:  # the bounds are the pane's: they apply to whichever run shows
            self._apply_pane_bounds()
        else:  # a run written before reasons were stored as typed: say them as typed
            for m in self.view.meta.values():
                if m.get("infeasible"):
                    m["infeasible"] = [_as_typed(str(b)) for b in m["infeasible"]]
        self.merge_ids = []
        if self._reloading:
            self._reloading = False
            self.notify(f"reloaded run {one_line(self.view.run_id or '(none)', 20)}: "
                        f"{plural(len(self.view.trials), 'trial')}", markup=False)  # fmt: skip
        self._rebuild_table()
        if self._select_after is not None:
            self._select(self._select_after)
            self._select_after = None
        self._redraw()
        self._status()
        self._workers()
        self._prompt()

    def _store_words(self, error: str) -> str:
        """*error* with optimize.db by its name (the header has room for the why)."""
        if not error or self.workspace is None:
            return error
        path = str(self.workspace.optimize_db)
        return error.replace(path, Path(path).name) if path in error else error

    def action_other_run(self, step: int) -> None:
        if self.running or not self.runs:
            self.notify("no other run to show" if not self.running
                        else "a run is going: other runs show once it ends")  # fmt: skip
            return
        ids = [r["run_id"] for r in self.runs]
        i = ids.index(self.view.run_id) if self.view.run_id in ids else 0
        j = max(0, min(len(ids) - 1, i + step))
        if j != i:
            self._load_run(self.workspace, self.store, ids[j])
        else:
            which = "oldest" if step > 0 else "newest"
            self.notify(f"this is the {which} run ({len(ids)} in optimize.db)")

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("start", "start a run", "Propose and evaluate configs in the background"),
        ("pause", "pause / resume the run", PAUSE_TIP),
        ("stop", "stop the run", "End it now, a trial being measured abandoned (resumable)"),
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
        ("open_trial", "open the selected trial", "Its whole detail in a window"),
        ("toggle_detail", "show / hide the detail panel", "Params, reasoning, analysis"),
        ("reload", "reload the run", "Read the run back from optimize.db"),
        ("export", "export the best recipe", "Write the best trial as a TOML recipe"),
        ("promote", "promote the selected trial", "A new agent config version from it"),
        ("measure", "measure the selected trial", "Answer held-out queries with its config"),
    )

    # palette_commands: the Pane default (PALETTE above, "trials: …").

    # ------------------------------------------------------------ running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("accept", "edit", "reject", "proposal_step"):
            return self.pending is not None
        if action == "pause":
            return self.running
        if action == "stop":
            return self.running or self.measuring is not None
        if action == "start":
            return not self.running and self.measuring is None
        if action == "measure":
            return self.selected is not None
        if action == "continue_run":  # not on a completed run (early stop: the hint says s)
            return self._can_continue()
        if action == "enqueue":  # (a queued config waits for a run: none can start)
            return self.space is not None and not self.store_error
        if action in ("merge_pick", "open_trial"):  # enter with no trial: nothing to open
            return self.selected is not None
        if action == "reload":
            return not self.running and self.store is not None
        return True  # export / promote explain themselves when there is nothing to act on

    def binding_description(self, binding: Binding) -> str:
        """The footer's words for a key: x cancels a measurement when no run goes."""
        if binding.action == "stop" and self.measuring is not None and not self.running:
            return "Stop measuring"
        return binding.description

    def action_start(self) -> None:
        if self.running or self.store is None:
            return
        if self.store_error:  # optimize.db cannot be read: a run could not be stored (W3 11)
            self._status("not started: move optimize.db away (s then starts a new run) or "
                         "restore it")  # fmt: skip
            return
        if self.space is None and self.space_error:  # one message: why, and what to do
            self.notify(one_line(f"Cannot start a run: {self.space_error}. "
                                 f"{self.space_fix[:1].upper()}{self.space_fix[1:]}.", 400),
                        severity="warning", timeout=10, markup=False)  # fmt: skip
            return
        from jarvis_tui.evals.measure import measure_options
        from jarvis_tui.learning.optimize.types import SearchDimension

        opts, origin = measure_options([], {}, self.session.paths)  # what a new run measures with
        who = f"; measured with {origin}" + (TINY_WORDS if _tiny(opts) else "")
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
                self.last_trials = int(values["trials"])
                self._begin(max_trials=self.last_trials, resume=None)

        self.app.push_screen(
            StartRunForm(
                "Start an optimization run",
                form,
                {"trials": DEFAULT_TRIALS, "patience": DEFAULT_PATIENCE, "evaluate": "replay"},
                last={
                    "trials": self.last_trials,
                    "patience": self.patience,
                    "evaluate": self.evaluate,
                },
                intro="The run stops after the trials, or earlier once patience trials in "
                "a row bring no better accuracy.",
                hints={"evaluate": describe(form.dimensions[2]) + who},  # whole, with who
                submit="start",
                done="started",
            ),
            go,
        )

    def _can_continue(self) -> bool:
        """c applies: a stored run that stopped, failed or was cut off (walkthrough W2 24:
        it was offered on an early-stopped completed run, and answered with a toast)."""
        return (not self.running and bool(self.view.run_id)
                and self.view.status in ("stopped", "failed", "running", "interrupted"))  # fmt: skip

    def _stopped_early(self) -> bool:
        return self.view.status == "completed" and self.view.message.startswith("early stop")

    def action_continue_run(self) -> None:
        if not self._can_continue():  # hidden then (an early stop: the hint says s)
            return
        # The run goes on scoring as it was started (walkthrough W2 3: a stopped measured
        # run went on with estimates); a run that did not store how is replayed, said.
        mode = self.view.evaluate or "replay"
        if self.view.evaluate:
            said = f"continuing run {self.view.run_id}: {EVALUATE_WORDS[mode]}, as it was started"
        else:
            said = (f"continuing run {self.view.run_id} by replay: how it scored its trials "
                    "was not stored (an older run), so its new trials are estimates (M "
                    "measures one)")  # fmt: skip
        self._begin(max_trials=max(self.view.max_trials, len(self.view.trials) + 1),
                    resume=self.view.run_id, evaluate=mode)  # fmt: skip
        self.notices = add_notices(self.notices, [one_line(said, 300)])
        self._prompt()

    def _begin(self, *, max_trials: int, resume: str | None, evaluate: str = "replay") -> None:
        """Start a run (*resume*: go on with that stored one, scored by *evaluate*)."""
        from jarvis_tui.learning.optimize.optimizer import RunControl

        self.control = RunControl(review=self.review_on, bounds=self.bounds)
        for params in self.idle_queue:  # configs queued while no run was going
            self.control.enqueue(params)
        self.idle_queue = []
        self.running = True
        self.pending = None
        self.notices = []
        self._evaluating = False
        self._measure_requests = MeasureRequests()
        self._measure_next_ok, self._run_scoring = False, ""
        # The header's wall clock goes on between the run's events (a measured trial
        # sends none while a model loads or a slow sample is answered): ticked here.
        self._wall_from = time.monotonic() - (self.view.elapsed if resume else 0.0)
        if self._wall_timer is not None:
            self._wall_timer.stop()
        self._wall_timer = self.set_interval(1.0, self._tick_wall)
        if resume is None:
            self.view = RunView(max_trials=max_trials, status="starting")
            self._rebuild_table()
            self._redraw()
        self._status("starting…")
        self.refresh_bindings()
        if resume is None:
            evaluate = self.evaluate
        self._execute(self.workspace, self.store, self.control, self._measure_requests,
                      max_trials=max_trials, patience=self.patience, evaluate=evaluate,
                      resume=resume)  # fmt: skip

    @work(thread=True, exclusive=True, exit_on_error=False, group=RUN_GROUP,
          description="optimization run")  # fmt: skip
    def _execute(self, workspace: Any, trace_store: Any, control: Any,
                 requests: MeasureRequests, *, max_trials: int, patience: int, evaluate: str,
                 resume: Optional[str]) -> None:  # fmt: skip
        """The run, on a thread: everything it needs comes in as arguments."""
        from jarvis_tui.evals.measure import measure_options
        from jarvis_tui.learning.optimize.session import open_session

        try:
            opts = None
            if evaluate != "replay":  # what M measures with: the environment, else tiny
                opts, _origin = measure_options([], {}, workspace)
            # The workspace session's store (it closes it), opened once the run can start.
            session = open_session(workspace, max_trials=max_trials, patience=patience,
                                   trace_store=trace_store, evaluate=evaluate, eval_options=opts,
                                   store=lambda: workspace.optimization_store(create=True))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.post_message(self.RunEnded("", "failed", " ".join(str(exc).split()), exc))
            return
        runner = session.engine.trial_runner
        self.post_message(self.RunOpened(hasattr(runner, "measure_next"),
                                         str(getattr(runner, "scoring", ""))))  # fmt: skip
        measured = getattr(runner, "measured", runner)
        if hasattr(measured, "progress"):  # a measured trial: its samples as they are done
            measured.progress = lambda done, total: self.post_message(
                self.TrialProgressed(done, total))  # fmt: skip
        try:
            dispatcher = _workers_dispatcher(workspace, evaluate, opts, session)

            def on_event(ev: Any) -> None:  # the engine thread: post, never touch a widget
                if ev.kind == "trial_started" and ev.config is not None:
                    if requests.take(ev.config.trial_id):
                        runner.measure_next = True  # right before this config is evaluated
                if ev.kind == "started" and dispatcher is not None:
                    self.post_message(self.RunNoticed(_workers_notice(dispatcher, ev.run.run_id)))
                if ev.kind == "notice":
                    self.post_message(self.RunNoticed(ev.message))
                elif ev.kind == "rejected":
                    self.post_message(self.RunNoticed(f"rejected: {ev.message}"))
                elif ev.kind == "trial_failed" and ev.config is not None:
                    self.post_message(self.RunNoticed(f"trial {ev.config.trial_id} failed: "
                                                      f"{ev.message}"))  # fmt: skip
                self.post_message(self.RunProgressed(ev.kind, view_of_event(ev, control.bounds),
                                                     ev.config, ev.source))  # fmt: skip

            run = session.engine.run(control=control, on_event=on_event, resume_run_id=resume,
                                     dispatcher=dispatcher)  # fmt: skip
            message = session.opt_store.get_run_meta(run.run_id).get("message", "")
            self.post_message(self.RunEnded(run.run_id, run.status, message))
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.RunEnded("", "failed", " ".join(str(exc).split()), exc))
        finally:
            session.close()

    @on(TrialProgressed)
    def _trial_progressed(self, msg: TrialsPane.TrialProgressed) -> None:
        if not self.running or self.pending is not None:
            return
        n = max(1, msg.total // 2)
        done = msg.done
        phase = (f"answered {min(done, n)}/{n}" if done < n
                 else f"scored {min(done - n, n)}/{n}")  # fmt: skip
        which = one_line(self._evaluating_id or "a trial", 20)
        self._sample_words = f"measuring {which}: {phase} samples · x abandons it"
        self._status(self._sample_words)

    @on(RunOpened)
    def _run_opened(self, msg: TrialsPane.RunOpened) -> None:
        if self.running:
            self._measure_next_ok, self._run_scoring = msg.can_measure_next, msg.scoring

    @on(RunNoticed)
    def _run_noticed(self, msg: TrialsPane.RunNoticed) -> None:
        if not self.running:
            return
        self.notices = add_notices(self.notices, [msg.text])
        self._rebuild_next = True
        self._prompt()

    @on(RunProgressed)
    def _run_progressed(self, msg: TrialsPane.RunProgressed) -> None:
        if not self.running:
            return  # a snapshot posted before the run ended: the stored run follows
        # A fast run makes snapshots far quicker than a terminal can show them: apply
        # at most one per APPLY_EVERY (the newest; the last one always), a proposal
        # waiting for review at once.
        self._latest = msg
        # Every event, not only the applied ones: a coalesced trial_done must still
        # end "the trial in progress" of a paused run.
        if msg.kind == "trial_started":
            self._evaluating = True
            self._evaluating_id = msg.config.trial_id if msg.config is not None else None
            self._sample_words = ""  # the new trial has answered nothing yet
        elif msg.kind in ("trial_done", "trial_failed", "paused", "rejected", "review",
                          "proposing", "finished"):  # fmt: skip
            self._evaluating = False
        wait = self._applied_at + APPLY_EVERY - time.monotonic()
        if wait <= 0 or msg.kind == "review":
            self._apply_latest()
        elif self._apply_timer is None:
            self._apply_timer = self.set_timer(wait, self._apply_latest)

    def _apply_latest(self) -> None:
        if self._apply_timer is not None:
            self._apply_timer.stop()
            self._apply_timer = None
        msg, self._latest = self._latest, None
        if msg is None or not self.running:
            return
        self._applied_at = time.monotonic()
        was = (self.pending is not None, self.running)
        old_ids = {t.trial_id for t in self.view.trials}
        old_frontier = set(self.view.frontier)
        old_columns = columns_for(self.view, self.has_class("-narrow"))
        self.view = msg.view
        # What waits for review is the control's (made for both threads), not the
        # snapshot's: workers finish trials while a proposal waits, and a decision made
        # here must not come back from a snapshot posted before it.
        review = self.control.pending if self.control is not None else None
        waited = self.pending[0] if self.pending is not None else None
        if review is not None:
            if self.pending is None or self.pending[0] is not review.config:
                self.app.bell()
                self.proposal_at = 0
            self.pending = (review.config, review.source)
        else:
            self.pending = None
        new = [t for t in self.view.trials if t.trial_id not in old_ids]
        noticed, self._rebuild_next = self._rebuild_next, False
        columns = columns_for(self.view, self.has_class("-narrow"))
        if new or set(self.view.frontier) != old_frontier or noticed or columns != old_columns:
            if (new and len(new) == len(self.view.trials) - len(old_ids)
                    and columns == old_columns
                    and self.sort_key == "num" and not self.sort_reverse):  # fmt: skip
                self._append_rows(new, old_frontier)
            else:
                self._rebuild_table()
            self._plot_dirty = True
        kind = msg.kind
        if kind == "trial_started" and msg.config is not None:
            # applied late (coalesced): its samples may be on their way already
            self._status(self._sample_words or f"evaluating {msg.config.trial_id} ({msg.source})")
        elif kind == "proposing":
            self._status("asking the optimizer for the next config…")
        else:  # a paused run says so itself (_pause_words)
            self._status()
        self._workers()
        self._prompt()
        if (self.pending[0] if self.pending is not None else None) is not waited:
            self._detail()  # the detail panel lists what waits (or stops listing it)
            # and again once the layout has given the panel its room (the plot gives
            # way to a waiting proposal): the list is fitted to the panel's height
            self.call_after_refresh(self._detail)
        if (self.pending is not None, self.running) != was:
            self.refresh_bindings()

    @on(RunEnded)
    def _run_ended(self, msg: TrialsPane.RunEnded) -> None:
        if self._apply_timer is not None:
            self._apply_timer.stop()
            self._apply_timer = None
        if self._latest is not None and self.running and msg.run_id:
            # The newest snapshot, not applied yet (a fast run's events come closer than
            # APPLY_EVERY): shown until the stored run is read back, else the header said
            # 'completed · 0/1 trial' over 'no rows' (walkthrough W2 9).
            self._apply_latest()
        self._latest = None  # the stored run follows, with everything persisted
        self.running = False
        self.pending = None
        self.control = None
        self._measure_requests = None
        self._evaluating = False
        self._measure_next_ok, self._run_scoring = False, ""
        # The message may be an endpoint's reply: shown as text (never markup, no escapes).
        if msg.status == "failed" and msg.failure is not None:
            said = f"optimization run failed: {one_line(msg.message, 300)}"
            self.report_failure("optimization run", msg.failure, said)
        elif msg.status == "failed":
            self.notify(f"optimization run failed: {one_line(msg.message, 300)}",
                        severity="error", timeout=10, markup=False)  # fmt: skip
        else:
            self.notify(f"run {one_line(msg.run_id, 40)}: {one_line(msg.status, 20)} "
                        f"({one_line(msg.message, 200)})", timeout=6, markup=False)  # fmt: skip
        self.view.status = msg.status or self.view.status
        self.view.message = msg.message
        self.view.workers = {}  # the stored run's counts (running ones are done now)
        self._plot_dirty = True
        self._status()
        self._workers()
        self._prompt()
        self.refresh_bindings()
        # the stored run, with everything persisted
        self._load_run(self.workspace, self.store, msg.run_id or None)

    def _in_progress(self) -> bool:
        """A trial of the live run is being evaluated now (a parallel run: on any worker)."""
        if self.view.workers:
            return any(w.get("running", 0) for w in self.view.workers.values())
        return self._evaluating

    def _pause_words(self) -> str:
        """What a paused run does now, and how it goes on (the header and p's notice)."""
        if self.pending is not None:
            return "y still evaluates the waiting proposal, no new one is proposed · p resumes"
        if self._in_progress():
            return "the trial in progress finishes, no new one starts · p resumes"
        return "no trial runs, no new one starts · p resumes"

    def action_pause(self) -> None:
        if self.control is None:
            return
        if self.control.paused:
            self.control.resume()
            self.notify("resumed: the next trial starts", markup=False)
            self._status("resumed: the next trial starts")
        else:
            self.control.pause()
            self.notify(f"paused: {self._pause_words()}", markup=False)
            self._status()
        self._prompt()

    def action_stop(self) -> None:
        if self.measuring is not None and self._measure_cancel is not None:
            self._measure_cancel.set()
            self._status("cancelling the measurement: the samples done are kept (partial)…")
            return
        if self.control is not None:
            self.control.stop()  # a trial being measured is abandoned (RunControl.stop)
            self._status("stopping: the trial being measured is abandoned…"
                         if self._run_scoring == "measured" and self._evaluating
                         else "stopping after the current trial…")  # fmt: skip

    # ------------------------------------------------------------ quitting

    _quitting = False
    _quit_words = ""
    """ctrl+q was pressed while a run or a measurement went on (see :meth:`hold_quit`)."""

    def _quit_busy(self) -> list[Any]:
        """This pane's run and measurement workers still going (threads of this process)."""
        return [w for w in self.app.workers if w.node is self and not w.is_finished
                and w.group in (RUN_GROUP, "trials.measure")]  # fmt: skip

    def hold_quit(self) -> bool:
        """The app is asked to quit (ctrl+q) while a run or a measurement goes on (a
        thread of this process, walkthrough 43): stop it now, a trial being measured is
        abandoned (the run ends stopped, M's samples done are kept partial), say so and
        hold the quit (True) until it is gone, then end the app; a second ctrl+q, or
        QUIT_GRACE_S later, ends it at once (the app leaves a thread still busy behind)."""
        if not self._quit_busy() or self._quitting:
            return False  # nothing going, or the second ctrl+q: quit now
        self._quitting = True
        if self._measure_cancel is not None:
            self._measure_cancel.set()
        if self.control is not None:
            self.control.stop()  # a measured trial is abandoned (RunControl.stop)
        what = "the measurement" if self.measuring is not None else "the optimization run"
        self.app.notify(f"stopping {what}: a trial being measured is abandoned … (ctrl+q "
                        "again: quit now)", title="Quitting", timeout=QUIT_GRACE_S + 10,
                        markup=False)  # fmt: skip
        self._quit_words = f"quitting: stopping {what}… (ctrl+q again: quit now)"
        self._status(self._quit_words)  # kept by the run's later events (see _status)
        self.set_timer(QUIT_GRACE_S, self.app.exit)
        return True

    def on_worker_state_changed(self, _event: Any) -> None:
        if self._quitting and not self._quit_busy():
            self.app.exit()  # what ctrl+q waited for is done

    # ------------------------------------------------------------ steering

    def action_enqueue(self) -> None:
        if self.space is None:
            return
        # Start from something close: the waiting proposal, the selected or best trial,
        # else the space's defaults.
        from jarvis_tui.learning.optimize.optimizer import default_config

        base = self._trial(self.selected) or self._trial(self.view.best)
        initial = default_config(self.space)  # what a trial does not say (a newer dimension)
        said: dict[str, Any] = {}
        if self.pending is not None:
            said = dict(self.pending[0].params)
            origin = f"from {one_line(self.pending[0].trial_id, 16)}"
        elif base is not None:
            said = dict(base.config.params)
            origin = f"from {one_line(base.trial_id, 16)}"
        else:
            origin = "default"
        initial.update(said)
        # A field the trial has no value for shows the space's default, said so (W3 29:
        # "from t00: orchestrator" for a param t00 never had).
        labels = {name: "default" for name in initial if origin != "default" and name not in said}

        def queued(params: dict | None) -> None:
            if params is None:
                return
            from jarvis_tui.learning.optimize.optimizer import same_config, same_config_words

            twin = same_config(params, self.view.trials)
            measured = (self._run_scoring if self.running else self.evaluate) == "measured"
            words = "" if twin is None else same_config_words(twin, measured=measured)
            again = one_line(words, 200)
            if twin is not None and not measured:  # the same numbers again: refused
                self.notify(again, severity="warning", timeout=10, markup=False)
                return
            if self.control is not None and self.running:
                cfg = self.control.enqueue(params)
                self.notify(f"queued {one_line(cfg.trial_id, 40)}: evaluated before the next "
                            "proposal" + (f" · {again}" if again else ""), markup=False)  # fmt: skip
            else:
                self.idle_queue.append(params)
                self.notify("queued: evaluated first when you start a run (s)"
                            + (f" · {again}" if again else ""), markup=False)  # fmt: skip
            self._prompt()

        intro = ("Evaluated before the next proposal." if self.running
                 else "No run is going: this config is evaluated first in the next run you "
                      "start (s).")  # fmt: skip
        self.app.push_screen(
            TrialsForm(
                "Queue a config",
                form_order(self.space),
                initial,
                intro=intro,
                initial_label=origin,
                initial_labels=labels,
                submit="queue",
                done="queued",
            ),  # fmt: skip
            queued,
        )

    def action_proposal_step(self, step: int) -> None:
        """Mark the previous / next param of the waiting proposal in the detail (the
        panel shows the marked one, however short it is)."""
        if self.pending is None:
            return
        n = len(proposal_params(self.pending[0], self.view))
        self.proposal_at = min(max(self.proposal_at + step, 0), max(0, n - 1))
        self._detail()

    def action_review(self) -> None:
        self.review_on = not self.review_on
        if self.control is not None:
            self.control.set_review(self.review_on)
            if not self.review_on and self.pending is not None:
                self.pending = None
                self._detail()
        # The state is said in the header ("review on"), not in a toast that would
        # cover the proposal's prompt at 80 columns.
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
        self._detail()
        self.refresh_bindings()

    def action_accept(self) -> None:
        if self.control is not None:
            self._decide(self.control.accept)

    def action_edit(self) -> None:
        if self.pending is None or self.control is None or self.space is None:
            return
        config, _source = self.pending

        def edited(params: dict | None) -> None:
            if params is None or self.control is None:
                return
            if _same_params(params, config.params):  # nothing changed: a plain accept
                self._decide(self.control.accept)
            else:
                self._decide(lambda c=self.control: c.accept(params))

        self.app.push_screen(
            TrialsForm(
                f"Edit proposal {one_line(config.trial_id, 40)}, then accept",
                form_order(self.space),
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
        current = ", ".join(short_bound(b, typed=True) for b in self.bounds)
        if not self.bounds and self.view.bounds:  # the run's own, to keep or change
            current = self._run_bounds_words()

        def parse(text: str) -> list[ObjectiveBound]:
            return [ObjectiveBound.parse(p) for p in text.split(",") if p.strip()]

        def check(text: str) -> str | None:
            try:
                bounds = parse(text)
            except ValueError as exc:
                return str(exc)
            return self._unmeasured_bound(bounds)

        def set_bounds(text: str | None) -> None:
            if text is None:
                return
            self.bounds = parse(text)
            if self.control is not None:
                self.control.set_bounds(self.bounds)
            # Re-mark what is on screen now (a waiting proposal means no new snapshot
            # comes until the user decides); a live run's next snapshot agrees.
            self._remark_bounds()
            self.notify("bounds: " + (", ".join(short_bound(b) for b in self.bounds) or "none"),
                        markup=False)  # fmt: skip
            self._status()
            self._prompt()

        self.app.push_screen(
            PromptScreen(
                "Objective bounds",
                label="bounds",
                value=current,
                placeholder="latency <= 2s, cost <= 0.001, accuracy >= 0.7",
                help="comma separated: metric <= or >= value (accuracy 0–1, latency in "
                "s or ms, cost in $, energy in j, tokens a count); trials outside are "
                "infeasible; empty clears them. They hold while the app runs: a run "
                "started with them (s) keeps them, a finished run keeps its own",
                hint="enter: set · escape: keep the current bounds",
                check=check,
            ),  # fmt: skip
            set_bounds,
        )

    def _unmeasured_bound(self, bounds: list[ObjectiveBound]) -> str | None:
        """Why a bound cannot apply to the shown run: a metric that is not one of its
        objectives and that no trial has a figure of (replay estimates no energy), so
        every trial would meet it and the × marks would say nothing."""
        import math

        objectives = {o.metric for o in self.view.objectives}
        for b in bounds:
            if b.metric in objectives or not self.view.trials:
                continue
            values = [getattr(t, b.metric, None) for t in self.view.trials]
            if not any(isinstance(v, int | float) and math.isfinite(v) and v != 0
                       for v in values):  # fmt: skip
                name = SHORT.get(b.metric, b.metric).split(" ")[0]
                return (f"{name}: no trial of this run has a figure for it (0 or missing in "
                        f"all {len(values)}), so the bound cannot apply")  # fmt: skip
        return None

    def _bounds_words(self) -> str:
        """The bounds the shown trials are marked by: the pane's, else the run's own."""
        if not self.bounds and self.view.bounds:
            return self._run_bounds_words()
        return ", ".join(short_bound(b) for b in self.bounds) or "none"

    def _run_bounds_words(self) -> str:
        """The shown run's own bounds as the user types them (``latency <= 8s``)."""
        return ", ".join(_as_typed(b) for b in self.view.bounds)

    def _remark_bounds(self) -> None:
        """Without a live run: re-mark the shown trials and their frontier locally."""
        self._apply_pane_bounds()
        self._rebuild_table()
        self._redraw()

    def _apply_pane_bounds(self) -> None:
        """Mark the shown run's trials under the pane's bounds (× and ★ and the frontier
        follow them; optimize.db keeps the run as it was written)."""
        from jarvis_tui.learning.optimize.optimizer import apply_bounds

        front, best = apply_bounds(self.view.trials, self.bounds, self.view.objectives,
                                   self.view.meta)  # fmt: skip
        self.view.frontier = [t.trial_id for t in front]
        self.view.best = best.trial_id if best else None

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
        self._rebuild_table()  # the ⊕ in the last column; the detail says what it means
        self._prompt()

    # ------------------------------------------------------------ measuring

    def _scoring(self, trial_id: str) -> str:
        """``measured`` or ``estimate`` (older runs: what the run says)."""
        return scoring(self.view, trial_id)

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

        opts, origin = measure_options(self.view.trials, self.view.meta, self.session.paths,
                                       run_estimate=self.view.estimate)  # fmt: skip
        problem = missing_backend(opts)
        if problem:
            self.notices = add_notices(self.notices, [problem])
            self._prompt()
            self.notify(problem, severity="warning", timeout=10, markup=False)
            return
        if _tiny(opts):  # said before the wait, not after 50 empty answers
            self._measure_notice = f"measuring with {origin}{TINY_WORDS}"
            self.notices = add_notices(self.notices, [self._measure_notice])
        self.measuring = trial.trial_id
        self._measure_remote = bool(opts.backend_url)
        self._measure_cancel = threading.Event()
        self._status(f"measuring {name} with {one_line(origin, 60)}…")
        self._prompt()
        self.refresh_bindings()
        self._measure(self.workspace, self.store, self.view.run_id, trial.trial_id, opts,
                      self._measure_cancel)  # fmt: skip

    def _measure_in_run(self, trial: TrialResult) -> None:
        """During a run: queue the config and have the run's runner measure it."""
        name = one_line(trial.trial_id, 24)
        if self.control is None or self._measure_requests is None:
            return
        if not self._measure_next_ok:
            how = ("measures every trial already" if self._run_scoring == "measured"
                   else "estimates every trial by replaying traces")  # fmt: skip
            self.notify(f"this run {how}: M measures {name} once the run ends (x stops it)",
                        severity="warning", timeout=8, markup=False)  # fmt: skip
            return
        cfg = self.control.enqueue(dict(trial.config.params),
                                   note=f"{trial.trial_id}'s config, measured on request")  # fmt: skip
        self._measure_requests.add(cfg.trial_id)
        self.notify(f"queued {one_line(cfg.trial_id, 24)}: the run measures {name}'s config "
                    "next", markup=False)  # fmt: skip
        self._prompt()

    def _measure_words(self, done: int, total: int) -> str:
        n = max(1, total // 2)
        phase = (f"answered {min(done, n)}/{n}" if done < n
                 else f"scored {min(done - n, n)}/{n}")  # fmt: skip
        if done == 0:  # the first answer waits for the model to load (or the endpoint)
            phase += (" samples · waiting for the first answer…" if self._measure_remote
                      else " samples · loading the model…")  # fmt: skip
        else:
            phase += " samples"
        return f"measuring {one_line(self.measuring or '', 20)}: {phase} · x cancels"

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.measure",
          description="measure a trial")  # fmt: skip
    def _measure(self, workspace: Any, trace_store: Any, run_id: str, trial_id: str, opts: Any,
                 cancel: threading.Event) -> None:  # fmt: skip
        from jarvis_tui.evals.measure import measure_trial

        def progress(done: int, total: int) -> None:  # the newest replaces a queued one
            self.post_message(self.MeasureProgressed(done, total))

        try:
            result = measure_trial(workspace, run_id, trial_id, opts, trace_store=trace_store,
                                   cancel=cancel, progress=progress,
                                   store=workspace.optimization_store(create=True))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback logged
            self.post_message(self.Measured(trial_id, run_id, error=" ".join(str(exc).split()),
                                            failure=exc))  # fmt: skip
            return
        self.post_message(self.Measured(trial_id, run_id, result))

    @on(MeasureProgressed)
    def _measure_progressed(self, msg: TrialsPane.MeasureProgressed) -> None:
        if self.measuring is not None:
            self._status(self._measure_words(msg.done, msg.total))

    @on(Measured)
    def _measured(self, msg: TrialsPane.Measured) -> None:
        self.measuring = None
        if self._measure_notice:  # what it measured with is over (walkthrough W2 24)
            self.notices = [
                n for n in self.notices if n.partition(" (×")[0] != self._measure_notice
            ]
            self._measure_notice = ""
        self._measure_cancel = None
        self.refresh_bindings()
        res = msg.result
        if msg.error or res is None:
            text = f"measuring {one_line(msg.source, 24)} failed: {one_line(msg.error, 300)}"
            self.notices = add_notices(self.notices, [text])
            if msg.failure is not None:
                self.report_failure(f"measure {msg.source}", msg.failure, text)
            else:
                self.notify(text, severity="error", timeout=10, markup=False)
            self._status()
            self._prompt()
            return
        if res.trial_id is None:
            why = res.note or "no sample was done: nothing saved"
            text = f"measurement of {one_line(msg.source, 24)} cancelled: {one_line(why, 200)}"
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
            self._load_run(self.workspace, self.store, msg.run_id)
        self._status()
        self._prompt()

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

    # ------------------------------------------------------------ export, promote

    def action_export(self) -> None:
        if not self.view.run_id:
            self.notify("no optimization run yet: start one with s", severity="warning")
            return
        if self.view.best is None or self.workspace is None:
            if (self.bounds or self.view.bounds) and self.view.trials:
                n = len(self.view.trials)
                which = f"all {n} trials are" if n > 1 else "the one trial is"
                self.notify(f"nothing to export: {which} outside the bounds "
                            f"({self._bounds_words()})", severity="warning",
                            markup=False)  # fmt: skip
            else:
                self.notify("this run has no best trial to export", severity="warning")
            return
        run_id, best = self.view.run_id, self.view.best
        within = self._bounds_words() if self.bounds else ""
        default = str(Path("recipes") / f"{one_line(run_id, 40)}-best.toml")
        workspace = self.workspace

        def check(text: str) -> str | None:
            return self._target(text)[1]

        def go(text: str | None) -> None:
            if not text:
                return
            path, _problem, inside = self._target(text)
            if path is None:
                return

            def write() -> None:
                self._export(workspace, run_id, str(path), best, within)

            if path.exists():  # a recipe there (perhaps edited by hand): asked first
                self._confirm_overwrite(path, inside, write)
            elif inside:
                write()
            else:
                self._confirm_outside(path, write)

        self.app.push_screen(
            PromptScreen(
                "Export the best trial as a TOML recipe",
                label="file",
                value=default,
                help=f"writes trial {one_line(best, 24)} (the ★"
                + (f", best within bounds {within}" if within else "")
                + "); a file path; a relative path is taken inside the workspace; elsewhere "
                "asks first",
                hint="enter: write · escape: cancel",
                check=check,
            ),  # fmt: skip
            go,
        )

    def _target(self, text: str) -> tuple[Path | None, str | None, bool]:
        """Where a typed path points: (absolute path, why it is refused, inside workspace),
        by the one rule of every export (:func:`evidence.export_target`)."""
        return export_target(self.session.root, text)

    def _confirm_overwrite(self, path: Path, inside: bool, write: Any) -> None:
        """Ask before replacing a file that exists (walkthrough 32: w overwrote a recipe
        edited by hand without a word); the dialog names it and where it is."""
        where = "" if inside else ", outside the workspace"
        self._confirm_write("Replace the existing file?", f"This file exists{where}:", path,
                            "y replaces it; n or escape keeps it and writes nothing.",
                            "nothing written: the file was kept", write)  # fmt: skip

    def _confirm_outside(self, path: Path, write: Any) -> None:
        """Ask before writing outside the workspace; the dialog names the resolved path."""
        self._confirm_write("Write outside the workspace?", "The file is outside the workspace:",
                            path, "y writes it there; n or escape writes nothing.",
                            "nothing written", write)  # fmt: skip

    def _confirm_write(
        self, title: str, lead: str, path: Path, keys: str, kept: str, write: Any
    ) -> None:
        """One y/n dialog before a write: *lead*, the path (as text), what y and n do; *write*
        runs on y, *kept* is said on n."""
        body = Text()
        body.append(lead + "\n\n  ")
        body.append(visible(str(path)), style="bold")
        body.append("\n\n" + keys, style="dim")

        def answer(yes: bool | None) -> None:
            if yes:
                write()
            else:
                self.notify(kept, markup=False)

        self.app.push_screen(ConfirmScreen(title, body), answer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.export",
          description="export best recipe")  # fmt: skip
    def _export(self, workspace: WorkspaceSession, run_id: str, path: str,
                trial_id: str, within: str = "") -> None:  # fmt: skip
        """Write *trial_id* (the ★ on screen) as the run's best recipe; *within*: the
        pane's bounds that made it the best (the stored run's best may break them)."""
        from dataclasses import replace

        from jarvis_tui.learning.optimize.optimizer import export_best_recipe
        from jarvis_tui.workspace import WorkspaceError

        try:
            store = workspace.optimization_store()  # the session's (it closes it)
            run = store.get_run(run_id) if store is not None else None
            trial = next((t for t in run.trials if t.trial_id == trial_id), None) if run else None
            if store is None or run is None or trial is None:
                raise ValueError(f"run {run_id} has no trial {trial_id} to export")
            if run.best_trial is not None and run.best_trial.trial_id == trial_id:
                written = export_best_recipe(run, path, parents=False, workspace=workspace.root)
                store.save_run(run)  # records the recipe's path with the run
            else:  # the best within the pane's bounds: optimize.db keeps the run's own best
                written = export_best_recipe(replace(run, best_trial=trial), path,
                                             parents=False, workspace=workspace.root)  # fmt: skip
        except (ValueError, OSError, WorkspaceError) as exc:  # said, and logged (_done)
            self.post_message(self.Done(f"export failed: {exc}", "error", failure=exc,
                                        what=f"export the best trial to {path}"))  # fmt: skip
            return
        why = f", best within bounds {within}" if within else ""
        self.post_message(self.Done(f"wrote {written} (trial {trial_id}{why})"))

    def action_promote(self) -> None:
        trial = self._trial(self.selected)
        if trial is None or self.workspace is None:
            self.notify("select a trial to promote first", severity="warning")
            return
        agent = trial.config.params.get("agent.name") or trial.config.params.get("agent.type")
        if agent:
            self._preview_promote(self.workspace, trial, str(agent))
            return

        self._list_agents_for(trial)  # agents/ is read off the UI thread

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.promote",
          description="list agents to promote into")  # fmt: skip
    def _list_agents_for(self, trial: TrialResult) -> None:
        self.post_message(self.AgentsListed(trial, self._agent_names()))

    @on(AgentsListed)
    def _ask_promote_agent(self, msg: TrialsPane.AgentsListed) -> None:
        """The prompt for the agent to promote into, naming the agents there are."""
        if isinstance(self.app.screen, ModalScreen) or self.workspace is None:
            return  # another form opened meanwhile: the key is not acted on twice
        trial, agents = msg.trial, msg.agents
        prompt = PromotePrompt(
            f"Promote {one_line(trial.trial_id, 40)} into an agent's config",
            label="agent",
            placeholder="agent name, e.g. react",
            help="a name (letters, digits, _ . -): its config in agents/ gets a new "
            "version" + (f"; existing: {one_line(', '.join(agents), 80)}" if agents else ""),
            hint="enter: show the diff · escape: cancel",
            check=check_agent_name,
        )  # fmt: skip
        # The prompt stays open until the preview is read: a refusal (an agent file that
        # is not valid TOML) is said under the field, with the name as typed.
        prompt.preview = lambda name: self._preview_promote(self.workspace, trial, name, prompt)
        self.app.push_screen(prompt)

    def _agent_names(self) -> list[str]:
        """The agents as the Configs pane lists them (VersionStore.agents: a file that
        names no agent is left out, an unusable one says why: 'broken (invalid TOML)')."""
        try:
            return [a.label for a in self.session.evolver.agents()]
        except Exception:  # an agents/ that cannot be read: the prompt lists none
            return []

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.promote",
          description="preview promotion")  # fmt: skip
    def _preview_promote(self, workspace: WorkspaceSession, trial: TrialResult, agent: str,
                         via: Any = None) -> None:  # fmt: skip
        from jarvis_tui.workspace import WorkspaceError

        try:  # the session's evolver (its version store locks each write)
            old, new = workspace.evolver.promoted_config(agent, trial.config.params)
            versions = workspace.evolver.list_versions(agent)
        except ValueError as exc:  # an agent file it refuses (invalid TOML): said, not logged
            why = str(exc).replace(f"{workspace.root}/", "")  # agents/x.toml, by the folder
            self.post_message(self.PromoteRefused(f"cannot promote: {why}", via))
            return
        except (OSError, WorkspaceError) as exc:
            self.post_message(self.PromoteRefused(f"cannot promote: {exc}", via, exc, agent))
            return
        number = (versions[-1]["version"] if versions else 0) + 1
        self.post_message(self.PromotePreviewed(trial, agent, old, new, number, via))

    def _prompt_gone(self, via: Any) -> bool:
        """The promote prompt *via* was closed (escape) before its preview came."""
        return via is not None and not (via.is_attached and self.app.screen is via)

    @on(PromoteRefused)
    def _promote_refused(self, msg: TrialsPane.PromoteRefused) -> None:
        if msg.failure is not None:  # a file that cannot be read: said, and logged
            self.report_failure(f"preview promoting into {msg.agent}", msg.failure, msg.text)
        if msg.via is not None and not self._prompt_gone(msg.via):
            msg.via.refuse(msg.text)  # beside the field; what was typed stays
            return
        if msg.failure is None:  # said where it stays: the hint line
            self.notices = add_notices(self.notices, [msg.text])
            self._prompt()
            self.notify(one_line(msg.text, 400), severity="warning", timeout=8, markup=False)

    @on(PromotePreviewed)
    def _confirm_promote(self, msg: TrialsPane.PromotePreviewed) -> None:
        import difflib

        if self._prompt_gone(msg.via):
            return  # the user closed the prompt meanwhile: nothing to confirm
        if msg.via is not None:
            msg.via.dismiss(msg.agent)
        trial, agent = msg.trial, msg.agent
        body = Text(f"agents/{one_line(agent, 60)}.toml will be recorded as version "
                    f"{msg.version} (cause: promoted-trial).\n\n", style="dim")  # fmt: skip
        changed = False
        for line in difflib.unified_diff(msg.old.splitlines(), msg.new.splitlines(), "current",
                                         "promoted", lineterm="", n=2):  # fmt: skip
            style = ("green" if line.startswith("+") else "red" if line.startswith("-")
                     else "dim")  # fmt: skip
            body.append(visible(line) + "\n", style=style)
            changed = True
        if not changed:
            body.append("the config would not change", style="dim")
        run_id = self.view.run_id

        def answer(yes: bool | None) -> None:
            if yes:
                self._promote(self.workspace, run_id, trial, agent)

        self.app.push_screen(
            ConfirmScreen(
                f"Promote {one_line(trial.trial_id, 40)} to {one_line(agent, 40)} as version "
                f"{msg.version}",
                body,
            ),
            answer,  # fmt: skip
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="trials.promote",
          description="promote trial")  # fmt: skip
    def _promote(
        self, workspace: WorkspaceSession, run_id: str, trial: TrialResult, agent: str
    ) -> None:
        from jarvis_tui.workspace import WorkspaceError

        note = (f"trial {trial.trial_id} of run {run_id}: accuracy "
                f"{trial.accuracy:.3f}, latency {trial.mean_latency_seconds:.2f}s")  # fmt: skip
        try:
            version = workspace.evolver.promote_params(agent, trial.config.params, note=note)
        except (ValueError, OSError, WorkspaceError) as exc:
            self.post_message(self.Done(f"promotion failed: {exc}", "error", failure=exc,
                                        what=f"promote {trial.trial_id} into {agent}"))  # fmt: skip
            return
        self.post_message(self.Done(f"{agent}: version {version} (promoted-trial) written"))
        self.post_message(self.Promoted(agent, version))

    @on(Done)
    def _done(self, msg: TrialsPane.Done) -> None:
        # Paths, agent names and engine errors are data: text, never markup.
        if msg.failure is not None:
            self.report_failure(msg.what or "trials", msg.failure, msg.text)
            return
        self.notify(one_line(msg.text, 400), severity=msg.severity, timeout=8,  # type: ignore[arg-type]
                    markup=False)  # fmt: skip

    # ------------------------------------------------------------ table, plot, detail

    def _table(self) -> TrialTable | None:
        """The trials table (None for the moment it is swapped for one with other columns)."""
        found = self.query("#trials-table")
        return found.first(TrialTable) if found else None

    def _trial(self, trial_id: str | None) -> TrialResult | None:
        if trial_id is None:
            return None
        hit = self._by_id.get(trial_id)
        if hit is not None and hit[1] in self.view.trials:
            return hit[1]
        return next((t for t in self.view.trials if t.trial_id == trial_id), None)

    def _render_row(self, key: str) -> tuple:
        """TrialTable callback: the cells of one visible row (rows are rendered lazily)."""
        num, t = self._by_id[key]
        table = self._table()
        columns = table.columns if table is not None else COLUMNS
        return row_cells(self.view, num, t, self._frontier_set, self.merge_ids, columns)

    def _index(self) -> None:
        self._by_id = {t.trial_id: (i, t) for i, t in enumerate(self.view.trials, 1)}
        self._frontier_set = set(self.view.frontier)

    def _rebuild_table(self) -> None:
        """Re-key the (virtual) table: O(trials) for the key list, rows render lazily."""
        self._index()
        table = self._table()
        if table is None:
            return  # being swapped: the new table is filled once mounted
        wanted = columns_for(self.view, self.has_class("-narrow"))
        if tuple(table.columns) != wanted:
            set_columns = getattr(table, "set_columns", None)
            if set_columns is None:
                self._swap_table()  # a table that takes its columns only when made
                return
            set_columns(wanted)
        keep = self.selected
        table.set_rows([t.trial_id for _, t in ordered(self.view, self.sort_key,
                                                        self.sort_reverse)], self._render_row)  # fmt: skip
        if keep is not None and keep in self._by_id:
            table.move_to(keep)
        self.selected = table.cursor_key
        self._detail()

    def _swap_table(self) -> None:
        """Mount a table with the columns the run needs (a worker column when its trials
        name their worker; narrow: the source gives way). TrialTable takes its columns
        once, so a run with other columns gets a new table, keeping focus and cursor."""
        if self._swapping:
            return
        self._swapping = True

        async def swap() -> None:
            try:
                old = self._table()
                focused = old is not None and old.has_focus
                if old is not None:
                    await old.remove()
                table = TrialTable(columns_for(self.view, self.has_class("-narrow")),
                                   id="trials-table")  # fmt: skip
                await self.query_one("#trials-right").mount(table, before=0)
                if focused:
                    focus_now(table)
            finally:
                self._swapping = False
            self._rebuild_table()

        self.call_next(swap)

    def _append_rows(self, new: list[TrialResult], old_frontier: set[str]) -> None:
        """Trials arrived in run order: extend the keys, re-render rows whose flag changed."""
        table = self._table()
        if table is None:
            return
        follow = table.row_count > 0 and table.cursor_row == table.row_count - 1
        self._index()
        table.set_rows([t.trial_id for t in self.view.trials], self._render_row)
        changed = set(self.view.frontier) ^ old_frontier
        if self.view.best is not None:
            changed.add(self.view.best)
        table.invalidate(changed | {t.trial_id for t in new})
        if follow and new:
            table.move_to(new[-1].trial_id)  # follow the newest trial
        self.selected = table.cursor_key
        self._detail()

    def _redraw_if_dirty(self) -> None:
        if self._plot_dirty:
            self._redraw()

    def _redraw(self) -> None:
        import math

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
            x_money=self.x_metric == "total_cost_usd",  # ticks say $0.00015, never 1.5e-4
            y_money=self.y_metric == "total_cost_usd",
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

    def action_open_trial(self) -> None:
        """enter: the selected trial's whole detail in a window of its own."""
        from jarvis_tui.ui.screens.trial_detail import TrialDetailScreen

        t = self._trial(self.selected)
        if t is None:
            return  # not offered without a selected trial (check_action)
        samples: tuple[list[dict], str] = ([], "")
        if self._scoring(t.trial_id) == "measured":
            rows, note, to_read = sample_rows(t, self.view.meta.get(t.trial_id, {}),
                                              self._samples)  # fmt: skip
            if to_read is not None:
                self._load_samples(to_read)
            samples = (rows, note)
        # the window's text width: its box (100 cells, at most 96% of the screen) less
        # the border, the padding and the scrollbar
        width = max(40, min(100, int(self.app.size.width * 0.96)) - 6)
        body = trial_detail(self.view, t, samples=samples, width=width,
                            merge=t.trial_id in self.merge_ids)  # fmt: skip
        self.app.push_screen(TrialDetailScreen(t.trial_id, body))

    def action_toggle_detail(self) -> None:
        self.toggle_class("-no-detail")
        shown = not self.has_class("-no-detail")
        self.notify("detail panel shown" if shown else "detail panel hidden (d shows it)")

    def action_reload(self) -> None:
        if not self.running and self.store is not None:
            self._reloading = True
            self._status("reloading…")
            self._load_run(self.workspace, self.store, self.view.run_id or None)

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW_BELOW
        self.set_class(narrow, "-narrow")
        table = self._table()
        if table is not None and tuple(table.columns) != columns_for(self.view, narrow):
            self._rebuild_table()  # a worker run: the narrow table drops the source
        self._status()
        self._workers()
        self._prompt()
        self.call_after_refresh(self._detail)  # the sample table fits the detail's width

    def _frontier_order(self) -> list[TrialResult]:
        return frontier_order(self.view, self.x_metric)

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
        table = self._table()
        if table is not None and table.move_to(trial_id):
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
        line = self.query_one("#trials-tradeoff", TradeoffLine)
        line.show(self._frontier_order(), self.selected)

    @on(DetailResized)
    def _detail_resized(self, event: DetailResized) -> None:
        event.stop()
        self._detail()

    def _detail(self) -> None:
        detail = self.query_one("#trials-detail", Static)
        t = self._trial(self.selected)
        width = max(20, detail.size.width or 60)
        proposal = Text()
        if self.pending is not None:  # what y would accept, first: one param per line
            scroll = self.query_one("#trials-detail-scroll", VerticalScroll)
            height = scroll.size.height or None
            # its own width: the list may be narrower than 20 cells, and a scrollbar
            # that is not there yet may take 2 of them
            gutter = 0 if scroll.show_vertical_scrollbar else 2
            pwidth = max(8, detail.size.width - gutter) if detail.size.width else width
            proposal = proposal_detail(self.view, self.pending[0], self.pending[1], pwidth,
                                       selected=self.proposal_at, rows=height)  # fmt: skip
            if t is not None:
                proposal.append("\n")
        if t is None:
            detail.update(proposal if self.pending is not None else
                          empty_detail(self.view, running=self.running, pending=False,
                                       space_error=self.space_error,
                                       space_fix=self.space_fix))  # fmt: skip
            return
        samples: tuple[list[dict], str] = ([], "")
        if self._scoring(t.trial_id) == "measured":
            rows, note, to_read = sample_rows(t, self.view.meta.get(t.trial_id, {}),
                                              self._samples)  # fmt: skip
            if to_read is not None:
                self._load_samples(to_read)
            samples = (rows, note)
        detail.update(proposal + trial_detail(self.view, t, samples=samples, width=width,
                                              merge=t.trial_id in self.merge_ids))  # fmt: skip

    def _workers(self) -> None:
        """The line under the header: each worker's trials running, done and failed."""
        shown = has_workers(self.view)
        self.set_class(shown, "-workers")
        line = workers_line(self.view, max(20, self.size.width - 2)) if shown else Text()
        self.query_one("#trials-workers", Static).update(line)

    _wall_timer: Timer | None = None
    _wall_from = 0.0
    _status_extra = ""

    def _tick_wall(self) -> None:
        """Once a second while a run goes: the header again, its wall clock live."""
        if not self.running:
            if self._wall_timer is not None:
                self._wall_timer.stop()
                self._wall_timer = None
            return
        self._status(self._status_extra)

    def _status(self, extra: str = "") -> None:
        """The header: state words first, fitted to the width by priority (two lines at
        most; what does not fit is dropped, least important first, never cut mid-word)."""
        v = self.view
        if self._quitting and self._quit_words:  # what ctrl+q waits for outranks the rest
            extra = self._quit_words
        self._status_extra = extra  # what the wall clock's tick shows again
        parts: list[tuple[int, Text]] = []  # (priority: lower is kept longer, part)
        if not v.run_id and not self.running and self.store_error:
            parts.append((0, Text("No run can be shown", style="bold")))
            parts.append((1, Text(one_line(self.store_error, 160), style="bold red")))
            parts.append((5, Text("move it away (s then starts a new one) or restore it; "
                                  "r reloads", style="dim")))  # fmt: skip
        elif not v.run_id and not self.running:
            parts.append((0, Text("No optimization runs yet", style="bold")))
            if self.space_error:
                parts.append((1, Text(one_line(self.space_error, 160), style="yellow")))
            else:
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
            # Right after the state, and kept next (walkthrough W2 20: at 80x24 the bounds
            # pushed it out); measured trials come on top of the planned count.
            planned = max(v.max_trials, len(v.trials))
            parts.append((1, Text(f"{len(v.trials)}/{plural(planned, 'trial')}")))
            if state == "paused":  # what it does now, and how it goes on: always shown
                parts.append((1, Text(self._pause_words(), style="cyan")))
            if self.space_error:  # the run shows; a and s need the space
                parts.append((2, Text(one_line(self.space_error, 160), style="yellow")))
        if extra:
            parts.append((1, Text(one_line(extra, 120),
                                  style="bold yellow" if self.measuring else "")))  # fmt: skip
        elif self.measuring is not None:
            parts.append((1, Text(f"measuring {one_line(self.measuring, 20)}… · x cancels",
                                  style="bold yellow")))  # fmt: skip
        if self.pending is not None:
            parts.append((1, Text("proposal waiting", style="bold magenta")))
        if self.review_on:
            parts.append((1, Text("review on", style="bold magenta")))
        # The bounds give way before the trial count and the reason a run ended (B
        # shows them): walkthrough W2 20, at 80x24.
        ended_why = (not extra and bool(v.message) and not self.running
                     and not v.message.startswith("reached "))  # fmt: skip
        bounds_at = 3 if ended_why else 2
        if self.bounds:
            parts.append((bounds_at, Text("bounds " + one_line(", ".join(short_bound(b)
                                                                 for b in self.bounds), 70),
                                  style="cyan")))  # fmt: skip
        elif v.bounds:  # none set here: the run's own (its × marks follow them)
            parts.append((bounds_at, Text(f"bounds {one_line(self._run_bounds_words(), 70)} "
                                  "(the run's)", style="cyan")))  # fmt: skip
        if self.sort_key != "num" or self.sort_reverse:
            arrow = "↑" if self.sort_reverse else "↓"
            parts.append((2, Text(f"sort {dict(SORTS)[self.sort_key]} {arrow}")))
        if v.run_id or self.running:
            # OpenJarvis stores no wall time: unknown, never "0.0 s"
            known = v.elapsed > 0 or self.running
            live = self.running and self._evaluating  # a trial going: no event till its end
            wall = max(v.elapsed, time.monotonic() - self._wall_from) if live else v.elapsed
            parts.append((4, Text(f"{duration(wall)} wall" if known else "wall –")))
            cost = sum(t.total_cost_usd for t in v.trials)
            parts.append((5, Text(f"Σ est. cost {money(cost)}")))
            n_measured, n_estimated = counts_by_scoring(v)
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
            # Why the run ended early (or failed, or was cut off) is a state word: it
            # outranks the cost and the optimizer's name; "reached N trials" does not.
            why = not v.message.startswith("reached ")
            # An interrupted run's message names the CLI's way on; here it is c.
            said = v.message.replace(f"continue it with --resume {v.run_id}", "c continues it")
            parts.append((2 if why else 8, Text(one_line(said, 160),
                                                 style="yellow" if why else "dim")))  # fmt: skip
        width = max(20, self.size.width - 2)
        self.query_one("#trials-status", Static).update(fit_parts(parts, width, lines=2))

    def _prompt(self) -> None:
        self.set_class(self.pending is not None, "-pending")  # the plot gives way (narrow)
        self.set_class(not self.view.trials, "-empty")  # ...all of it, with no trial to plot
        out = Text()
        width = max(20, self.size.width - 2)
        if self.pending is not None:
            config, source = self.pending
            head = Text(f"Proposal {one_line(config.trial_id, 24)} ({one_line(source, 16)}) "
                        "waits: ", style="bold magenta")  # fmt: skip
            keys = Text("y accept · e edit then accept · n reject with a reason · , . step "
                        "params", style="bold")  # fmt: skip
            out.append_text(head)
            if head.cell_len + keys.cell_len > width:
                out.append("\n")
            out.append_text(keys)
            out.append("\n")
            params = ", ".join(f"{k}={show_value(v)}" for k, v in sorted(config.params.items()))
            out.append(one_line(params, width))
            if config.reasoning:
                out.append("\n" + one_line(config.reasoning, width), style="italic")
        else:
            queued = len(self.control.queued()) if self.control is not None else 0
            if self.idle_queue and not self.running:
                n = len(self.idle_queue)
                out.append(f"{plural(n, 'queued config')} {'runs' if n == 1 else 'run'} first "
                           "when you start a run · ", style="bold")  # fmt: skip
            elif queued:
                out.append(f"{plural(queued, 'queued config')} {'runs' if queued == 1 else 'run'} "
                           "before the next proposal · ",
                           style="bold")  # fmt: skip
            if self.merge_ids:  # what the ⊕ in the table's last column means
                out.append(f"{MERGE_GLYPH} {plural(len(self.merge_ids), 'trial')} marked for "
                           "the next merge (m) · ", style="bold magenta")  # fmt: skip
            if self.notices:
                # Two lines at most (the prompt's height): a notice may say what to install.
                out.append(one_line(" · ".join(self.notices[-2:]), 2 * width), style="yellow")
            elif self.measuring is not None:
                out.append(one_line("x cancels the measurement (the samples done are kept, "
                                    "marked partial)", width), style="dim")  # fmt: skip
            elif not self.running:
                if self._stopped_early():  # c cannot go on: what would
                    start = "s start a new run (more patience gives more trials)"
                else:
                    start = "s start · c continue" if self._can_continue() else "s start"
                hint = (
                    f"{start} · a queue · M measure · v review · B bounds · o/O "
                    "sort · X/Y axes · h/l frontier · w export · + promote · ? keys"
                )
                out.append(one_line(hint, width), style="dim")
            else:
                paused = self.control is not None and self.control.paused
                p_does = ("p resumes the run" if paused
                          else "p pauses (the trial in progress finishes)")  # fmt: skip
                out.append(one_line(f"{p_does} · x stop · a queue a config · M measure · "
                                    "v review mode · B bounds", width), style="dim")  # fmt: skip
        self.query_one("#trials-prompt", Static).update(out)


class PromotePrompt(PromptScreen):
    """The agent-name prompt of +: enter asks the pane for the promotion's preview
    (:attr:`preview`) and the prompt stays open until it comes; :meth:`refuse` says
    why it cannot be promoted under the field, keeping what was typed."""

    preview: Any = None
    """Called with the checked name (the pane reads the preview on a worker)."""

    @on(Input.Submitted, "#prompt-input")
    def _ask_preview(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()  # PromptScreen's own handler would close the prompt
        problem = self._check(event.value) if self._check else None
        self._show_problem(problem)
        if not problem and self.preview is not None:
            self.preview(event.value.strip())

    def refuse(self, reason: str) -> None:
        self._show_problem(reason)


class TrialsForm(ConfigFormScreen):
    """The pane's config forms (start, queue, edit then accept): each field is checked
    as it is typed, as the Training form does, not only on submit (finding 26)."""

    @on(Input.Changed)
    def _check_as_typed(self, event: Input.Changed) -> None:
        i = self._index_of(event.control)
        if i is None or i >= len(self._space.dimensions):
            return
        dim = self._space.dimensions[i]
        value, problem = check_field(dim, event.value)
        if _empty_text(dim, event.value):
            value, problem = "", None
        if problem is None and dim.name in self._checks:
            problem = self._checks[dim.name](value)
        self._show_problem(i, problem)
        if problem is None:  # a summary that no longer holds goes with the last ✗
            if not any(self.query(".cf-field.-invalid")):
                self.query_one("#cf-summary", Static).update("")

    def values(self) -> tuple[dict[str, Any], list[str]]:
        """As the generic form's, but an empty text field is a value (an empty system
        prompt: the optimizer proposes it, walkthrough 40), not 'required'."""
        params, problems = super().values()
        empty = [(i, d) for i, d in enumerate(self._space.dimensions)
                 if d.dim_type == "text"
                 and _empty_text(d, self.query_one(f"#field-{i}", Input).value)]  # fmt: skip
        if not empty:
            return params, problems
        for i, dim in empty:
            self._show_problem(i, None)
            params[dim.name] = ""
            problems = [p for p in problems if not p.startswith(f"{dim.name}: ")]
        if not problems:  # the space's own checks, skipped while a field was refused
            from jarvis_tui.learning.optimize.search_space import validate_config

            problems = validate_config(self._space, params)
        return params, problems


def _empty_text(dim: Any, raw: Any) -> bool:
    """*raw* is an empty value of a text dimension (legal in a config)."""
    return dim.dim_type == "text" and not str(raw).strip()


class StartRunForm(TrialsForm):
    """The start form: a field holds the value used last time (*last*), while the
    'default' beside it stays the real default (it said 'default: 3' after a run with
    patience 3), and 'last used' is said when the two differ."""

    def __init__(self, *args: Any, last: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last = dict(last)

    def _field(self, i: int, dim: Any) -> Any:
        defaults, self._initial = self._initial, {**self._initial, **self._last}
        try:
            return super()._field(i, dim)
        finally:
            self._initial = defaults

    def _help(self, dim: Any) -> Text:
        out = super()._help(dim)
        last = self._last.get(dim.name)
        if dim.name in self._last and str(last) != str(self._initial.get(dim.name)):
            out.append(f" · last used: {one_line(show_value(last), 60)}", style="italic")
        return out


EVALUATE_WORDS = {
    "replay": "its new trials are estimated by replay",
    "measured": "its new trials are measured",
    "replay-then-measure": "its new trials are estimated, frontier candidates measured",
}
"""What continuing a run does, by the evaluate mode stored with it."""

TINY_WORDS = (
    " (a tiny model for trying the loop: its answers are mostly empty, so few samples "
    "score; set JARVIS_TUI_EVAL_URL, and _MODEL, to measure with an endpoint)"
)
"""What measuring with the workspace's tiny local model gives, said before it starts."""


def _tiny(opts: Any) -> bool:
    """*opts* measure with the workspace's tiny local model (no endpoint, no model named)."""
    return not getattr(opts, "backend_url", None) and not getattr(opts, "local", None)


def _as_typed(reason: str) -> str:
    """A stored infeasible reason as the user types it (``mean_latency_seconds <= 8`` reads
    ``latency <= 8s``); one that does not read as a bound stays as it is."""
    from jarvis_tui.learning.optimize.optimizer import bound_text

    try:
        return bound_text(ObjectiveBound.parse(reason))
    except ValueError:
        return reason


def _same_params(edited: Mapping[str, Any], proposed: Mapping[str, Any]) -> bool:
    """True when the edit form came back with the proposal's own values (a value read
    back from its text, such as ``0.5`` for ``0.5``, is the same value)."""
    if set(edited) != set(proposed):
        return False
    return all(edited[k] == proposed[k] or str(edited[k]) == str(proposed[k]) for k in edited)


# --------------------------------------------------------------------------- workers


def _workers_dispatcher(workspace: Any, evaluate: str, opts: Any, session: Any) -> Any:
    """A ``StudyDispatcher`` when the workspace's ``optimize.toml`` asks for workers
    (``[optimize] workers = N``, N ≥ 2), else None (trials evaluated in this process).

    Runs on the run's thread: opening the storage may take a moment, and a wrong or
    unreachable one fails the run with one line before anything starts."""
    from jarvis_tui.learning.optimize.workers import (
        StudyDispatcher,
        default_storage_url,
        default_workers,
    )

    n = default_workers(Path(workspace.root))
    if n < 2:
        return None
    worker_args = ["--home", str(workspace.root)]
    if opts is not None:  # the workers measure with what this window measures with
        if getattr(opts, "backend_url", None):
            worker_args += ["--eval-backend", str(opts.backend_url)]
        if getattr(opts, "local", None):
            worker_args += ["--local", str(opts.local)]
    dispatcher = StudyDispatcher(default_storage_url(Path(workspace.root)), local_workers=n,
                                 worker_args=worker_args,
                                 log_dir=Path(workspace.root) / "optimize-workers")  # fmt: skip
    info: dict[str, Any] = {"evaluate": evaluate}
    measured = getattr(session.engine.trial_runner, "measured", session.engine.trial_runner)
    eval_set = getattr(measured, "eval_set", None)
    if eval_set is not None:
        info["eval_set"] = {"id": eval_set.set_id, "hash": eval_set.content_hash}
    dispatcher.info.update(info)
    return dispatcher


def _workers_notice(dispatcher: Any, run_id: str) -> str:
    return (
        f"{dispatcher.local_workers} workers on {dispatcher.label}; more join with: "
        f"jarvis-tui optimize-worker --run {run_id} --storage {dispatcher.label}"
    )


def form_order(space: SearchSpace) -> SearchSpace:
    """*space* with its fields in the order the proposal and the detail list params
    (by name: ``agent.name`` before ``intelligence.model``)."""
    import dataclasses

    return dataclasses.replace(space, dimensions=sorted(space.dimensions, key=lambda d: d.name))


# Names the pane's helpers had before the split (kept for callers of the old module).
_short_bound = short_bound
_check_agent_name = check_agent_name
_show_value = show_value
