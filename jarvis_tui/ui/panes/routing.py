"""Routing pane: which model wins each query class, how sure that is, and why.

Everything is computed in thread workers from the whole store (SQL aggregates, no
trace loaded); labels typed in the Traces pane mark the numbers stale and they are
recomputed in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from jarvis_tui.core.fmt import plural
from jarvis_tui.learning.training.data import RoutingMatrix, TrainingDataMiner
from jarvis_tui.learning.training.settings import defaults as training_defaults
from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.ui.panes.base import Pane
from jarvis_tui.ui.scrolling import KeyedScroll
from jarvis_tui.ui.text import one_line, visible
from jarvis_tui.ui.widgets.focus import focus_now
from jarvis_tui.ui.widgets.nav_table import NavTable

if TYPE_CHECKING:
    from pathlib import Path

    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
    from jarvis_tui.workspace import WorkspaceSession

MIN_EVIDENCE = 30
"""Ratings a class's best model needs before its recommendation counts."""
RECS_COLUMNS = (("Class", "class"), ("Model", "recommended"), ("Agent", "best agent"),
                ("Confidence", "confidence"), ("Runner-up", "runner-up"),
                ("Margin", "margin"), ("Rated", "rated"), ("OpenJarvis rule", "reference"),
                ("Tools", "tools"))  # fmt: skip
"""The recommendations table's columns, most important first: a narrow pane drops
from the end (whole columns, never a cut one)."""
SHORT_CONFIDENCE = {"not enough evidence": "few ratings"}
"""Confidence words as the table shows them (the best model has fewer ratings than
the evidence minimum: the ? of the matrix)."""
NARROW = 100
"""Narrower than this, the side panel makes room while the routers are asked."""
TOOLS_MIN_WIDTH = 12
"""Narrower than this, the Tools column is left out rather than squeezed."""


def _tools_text(tools: list[str], width: int) -> Text:
    """Tool names, most used first, as many whole ones as fit in *width*, then "+N"
    (a first name too long for *width* ends in …)."""
    if not tools:
        return Text("–", style="dim")
    out = ""
    for i, name in enumerate(tools):
        cand = (out + ", " if out else "") + visible(name)
        more = f" +{len(tools) - i - 1}" if i < len(tools) - 1 else ""
        if len(cand) + len(more) > width:
            if not out:
                return Text(one_line(name, width))
            return Text(f"{out} +{len(tools) - i}")
        out = cand
    return Text(out)


class MatrixTable(NavTable):
    """The class × model matrix: its own words for enter (label this cell) and for
    ← → (they scroll to the models that do not fit), in the help and the keymap."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Label this cell", show=False, id="routing.label",
                tooltip="Its unrated traces in the Traces pane, in queue order"),
        Binding("h", "cursor_left", "Left", show=False, id="nav.left",
                tooltip="The matrix scrolls to the models that do not fit"),
        Binding("l", "cursor_right", "Right", show=False, id="nav.right",
                tooltip="The matrix scrolls to the models that do not fit"),
    ]  # fmt: skip


@dataclass(frozen=True)
class ReplayEstimate:
    """What routing every class to its recommended model would have changed."""

    rated: int
    d_feedback: float
    d_latency: float
    d_tokens: float


CYCLE_MIN_QUALITY: float = training_defaults()["min_quality"]
"""The learning cycle's min quality for SFT pairs: the Training pane's default, so the
two count the same pairs (the side panel names it)."""


def replay(matrix: RoutingMatrix) -> ReplayEstimate:
    """Counterfactual over the logged traces, per class weighted by its traffic:
    the recommended model's cell means against the mix that was actually served.
    An estimate: it assumes a model would score on the other traces as it did on its own.
    """
    rated = 0
    d_fb = d_lat = d_tok = 0.0
    total_n = 0
    for qc, rec in matrix.recommendations.items():
        if rec.best is None:
            continue
        cells = [c for (q, _), c in matrix.cells.items() if q == qc]
        n = sum(c.n for c in cells)
        r = sum(c.rated.n for c in cells)
        if not n:
            continue
        best = matrix.cells[(qc, rec.best)]
        actual_fb = sum(c.rated.mean * c.rated.n for c in cells if c.rated.n) / r if r else 0.0
        actual_lat = sum(c.latency * c.n for c in cells) / n
        actual_tok = sum(c.tokens * c.n for c in cells) / n
        d_fb += (best.rated.mean - actual_fb) * r
        d_lat += (best.latency - actual_lat) * n
        d_tok += (best.tokens - actual_tok) * n
        rated += r
        total_n += n
    if not total_n:
        return ReplayEstimate(0, 0.0, 0.0, 0.0)
    return ReplayEstimate(rated, d_fb / rated if rated else 0.0, d_lat / total_n, d_tok / total_n)


def cell_text(matrix: RoutingMatrix, qc: str, model: str, *, compact: bool = False,
              judged: bool = False) -> Text:  # fmt: skip
    """One class × model cell: mean ± interval (★ best, ? thin evidence, j judge scores
    counted), then the evidence.

    *compact* (a short terminal): one line, ``0.86±.03★?j`` only.
    """
    cell = matrix.cells.get((qc, model))
    if cell is None:
        return Text("·", style="dim")
    rec = matrix.recommendations.get(qc)
    ci = cell.rated
    best = rec is not None and rec.best == model
    if ci.n == 0:
        out = Text("unrated", style="dim")
    else:
        style = ""
        if best:
            style = "bold green" if rec is not None and rec.confidence == "clear" else "bold yellow"
        elif ci.n < matrix.min_samples:
            style = "dim"
        if compact:
            half = f"{ci.half_width:.2f}".lstrip("0") or "0"
            out = Text(f"{ci.mean:.2f}±{half}", style=style)
        else:
            out = Text(f"{ci.mean:.2f} ±{ci.half_width:.2f}", style=style)
        if best:
            out.append("★" if compact else " ★", style=style)
        if ci.n < matrix.min_samples:
            out.append("?" if compact else " ?", style="yellow")
    if judged:
        out.append("j" if compact else " j", style="bold magenta")
    if not compact:
        out.append(
            f"\n{_compact(ci.n)}/{_compact(cell.n)} {cell.latency:.1f}s {cell.tokens:.0f}t",
            style="dim",
        )
    return out


def _fit(name: str, width: int) -> Text:
    """*name* (untrusted) in *width* terminal cells, ending in … when cut: a wide
    character (模型, an emoji) takes two cells, which a count of characters misses
    (the column cropped '模型🧪-xxxxx' with no …)."""
    text = Text(one_line(name, 10_000))
    text.truncate(width, overflow="ellipsis")
    return text


def _compact(n: int) -> str:
    """4,213 → 4.2k; 1,250,000 → 1.2M (a cell has 20 columns)."""
    if n < 1_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1_000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


def _yes(flag: bool) -> Text:
    return Text("yes", style="bold") if flag else Text("no", style="dim")


def context_table(query: str, *, per_row: int = 3) -> Table:
    """What the routers are told about a query, as a labelled table (not a repr)."""
    from jarvis_tui.learning.classify import classify_query
    from jarvis_tui.learning.router import build_routing_context

    ctx = build_routing_context(query)
    pairs: list[tuple[str, Text]] = [
        ("class", Text(classify_query(query), style="bold")),
        ("length", Text(f"{ctx.query_length:,} chars")),
        ("has code", _yes(ctx.has_code)),
        ("has math", _yes(ctx.has_math)),
        ("language", Text(one_line(ctx.language, 12))),
        ("urgency", Text(f"{ctx.urgency:.1f}")),
    ]
    grid = Table.grid(padding=(0, 1))
    for _ in range(per_row):
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(no_wrap=True, min_width=8)
    for i in range(0, len(pairs), per_row):
        row: list[Any] = []
        for label, value in pairs[i : i + per_row]:
            row.extend((label, value))
        grid.add_row(*row)
    return grid


def _cell_words(matrix: RoutingMatrix, qc: str, model: str) -> str:
    """A matrix cell in words: "0.86 ±0.04 of 38 ratings" (the matrix's own numbers)."""
    cell = matrix.cells.get((qc, model))
    if cell is None or not cell.rated.n:
        return "no ratings"
    ci = cell.rated
    return f"{ci.mean:.2f} ±{ci.half_width:.2f} of {plural(ci.n, 'rating')}"


def _router_basis(router: Any, qc: str, model: str, why: str) -> str:
    """What *router* decided by, with the numbers a user can hold against the matrix's:
    the trace policy's score and its parts, the bandit's posterior and the plain mean
    of its ratings; any other router (or a fallback answer) explains itself."""
    from jarvis_tui.learning.bandit_router import BanditRouterPolicy
    from jarvis_tui.learning.trace_policy import TraceDrivenPolicy

    if isinstance(router, TraceDrivenPolicy) and why.startswith("learned:"):
        st = router.class_stats().get(qc, {}).get(model)
        if st and st.get("score") is not None:
            sr, fb = st.get("success_rate"), st.get("avg_feedback")
            if sr is not None and fb is not None:
                how = f"0.6 × success {sr:.2f} + 0.4 × rating {fb:.2f}"
            else:
                how = "success rate" if sr is not None else "mean rating"
            return f"{st['score']:.2f} = {how}, {plural(st['samples'], 'sample')}"
    if isinstance(router, BanditRouterPolicy) and why.startswith("thompson:"):
        arm = router.get_stats(qc).get(model)
        post = router.posterior(qc).get(model)
        if arm and post:
            drew = why.split("drew ", 1)[1].split(" ", 1)[0] if "drew " in why else "?"
            return (f"drew {drew}; mean {post[2]:.2f} = {plural(arm['pulls'], 'rating')} "
                    f"averaging {arm['mean_reward']:.2f} + the prior")  # fmt: skip
    # "rule 1: code detected → coder model qwen2.5-coder:7b": the model is beside it
    return why.removesuffix(" " + model) if model else why


class ReportScroll(KeyedScroll):
    """The side panel / whole-pane cycle report: j k g G scroll it, as in a text view."""

    BINDINGS = [
        Binding("j", "scroll_down", "", show=False, id="text.down"),
        Binding("k", "scroll_up", "", show=False, id="text.up"),
        Binding("g", "scroll_home", "", show=False, id="text.top"),
        Binding("G", "scroll_end", "", show=False, id="text.bottom"),
    ]


class RoutingPane(Pane):
    """Per-class routing recommendations with their evidence."""

    PANE_ID = "routing"
    HELP_TITLE = "Routing"
    HELP_TEXT = (
        "Each cell is one model on one query class: mean feedback ± its 95% interval, then "
        "rated/total traces, mean latency and tokens (one line on a short terminal). ★ marks "
        "the recommendation (green: intervals do not overlap; yellow: likely). ? marks cells "
        'with fewer ratings than the evidence minimum (> / < change it; "few ratings" in '
        "the table below). ← → scroll to models that do not fit. enter on a cell labels "
        "where it matters: the Traces pane in queue order for that cell's unrated traces "
        "(no score yet: only a score moves routing; a ✓/✗ without one is offered too). "
        "The table below has one row per class: the model, the one agent recommendation "
        "(an agent under the evidence minimum never beats one at it, as for the ★; "
        "the evolver and the learning cycle use the same rule; ≠ names the agent "
        "OpenJarvis's rule picks instead, the side panel says why) and its tools; a narrow "
        "terminal leaves out its last columns whole. / asks every router how it would "
        "route a query you type, each with its own number beside the matrix's for that "
        "class and why they differ; s runs one learning cycle (it asks first, y / n, "
        "listing what it would write, when it would overwrite a version a person chose: a "
        "rollback, a manual version, a promoted trial) and the side panel lists the "
        "route it gives each class and the configs it wrote (on a short terminal it takes "
        "the pane; d toggles it; under 100 columns it sits under the query box, whose "
        "answers show while it has the focus); r recomputes. J counts the LLM judge's "
        "scores of unrated traces as ratings (a "
        "provisional answer for a class with few labels); every cell they change is marked j, "
        "the status line says how many judged traces count, and a trace with both keeps your "
        "label. "
        "Counts: rated = traces with a feedback score (a label, or OpenJarvis's own "
        "feedback; the judge's with J); the Traces pane's labelled also counts an outcome "
        "without a score, and Training's SFT pairs are the rated traces at or above its "
        "min quality."
    )

    BINDINGS = [
        Binding("s", "learning_cycle", "Learning cycle", id="routing.start"),
        Binding("r", "recompute", "Recompute", id="routing.refresh"),
        Binding("slash", "focus_query", "Ask routers", id="routing.search"),
        Binding("d", "toggle_detail", "Detail panel", id="routing.detail"),
        Binding("J", "toggle_judge", "Include judge scores", show=False, id="routing.judge"),
        Binding(
            "greater_than_sign",
            "evidence(10)",
            "More evidence needed",
            show=False,
            id="routing.more",
        ),  # fmt: skip
        Binding(
            "less_than_sign",
            "evidence(-10)",
            "Less evidence needed",
            show=False,
            id="routing.less",
        ),  # fmt: skip
        Binding("escape", "leave_query", "Back to the matrix", show=False, id="routing.back"),
    ]

    class Computed(Message):
        def __init__(
            self,
            matrix: RoutingMatrix,
            agents: dict[str, Any],
            tools: dict[str, list[str]],
            judged: frozenset = frozenset(),
            coverage: tuple[int, int] = (0, 0),
        ) -> None:
            super().__init__()
            self.matrix, self.agents, self.tools = matrix, agents, tools
            self.judged = judged
            self.coverage = coverage

    class RoutersReady(Message):
        def __init__(self, routers: dict[str, Any]) -> None:
            super().__init__()
            self.routers = routers

    class CycleProgressed(Message):
        """A learning-cycle step for the status line (a newer one replaces it)."""

        def __init__(self, step: str, message: str) -> None:
            super().__init__()
            self.step, self.message = step, message

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RoutingPane.CycleProgressed)

    class CyclePlanned(Message):
        """What the cycle would write to agents/ (``LearningOrchestrator.plan_configs``),
        read before it runs: s asks first when it overwrites a version a person chose."""

        def __init__(self, plan: list[dict[str, Any]]) -> None:
            super().__init__()
            self.plan = plan

    class CycleDone(Message):
        def __init__(self, result: dict[str, Any], written: list[dict[str, Any]]) -> None:
            super().__init__()
            self.result, self.written = result, written

    class DrillDown(Message):
        """The user wants the unlabelled traces behind a cell (*queue*: in queue order,
        "label where it matters")."""

        def __init__(self, flt: TraceFilter, queue: bool = False) -> None:
            super().__init__()
            self.filter = flt
            self.queue = queue

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store: Optional[TraceStore] = None
        self.matrix: Optional[RoutingMatrix] = None
        """The last computed evidence (None until computed)."""
        self.agents: dict[str, Any] = {}
        """The agent recommendation per class (jarvis_tui.learning.recommend)."""
        self.min_evidence = MIN_EVIDENCE
        self.include_judge = False
        """J: the judge's scores of unrated traces count as ratings."""
        self.judged: frozenset = frozenset()
        """The (class, model) cells the judge's scores changed."""
        self.judge_coverage: tuple[int, int] = (0, 0)
        """Judge-scored traces (without a human score, with one): what J adds as
        ratings, and where the human label wins instead."""
        self.tools: dict[str, list[str]] = {}
        """The recommended agent's tools per class, most used in good traces first."""
        self._recs_hidden: list[str] = []
        self.stale = True
        """Labels changed since the last computation."""
        self._routers: dict[str, Any] = {}
        self._routers_started = False
        self._cycle: Optional[dict[str, Any]] = None
        self._written: list[dict[str, Any]] = []
        self._cycle_running = False
        self._layout: tuple[bool, int] = (False, 0)

    def compose(self) -> ComposeResult:
        yield Static(Text("Waiting for the trace store…", style="dim"), id="routing-status")
        yield MatrixTable(id="routing-matrix", cursor_type="cell", zebra_stripes=True,
                          fixed_columns=1)  # fmt: skip
        yield Static(id="routing-empty")  # what to do while there is nothing to compare
        yield NavTable(id="routing-recs", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="routing-bottom"):
            with Vertical(id="routing-ask"):
                yield Input(placeholder="/ ask: how would each router route a query?",
                            id="routing-query")  # fmt: skip
                with KeyedScroll(id="routing-decisions-scroll"):
                    yield Static(id="routing-decisions")
            with ReportScroll(id="routing-side"):
                yield Static(id="routing-replay")

    def on_mount(self) -> None:
        self._render_side()

    def _compact(self) -> bool:
        """A short terminal: one-line cells."""
        return self.app.size.height < 32

    def on_resize(self) -> None:
        layout = (self._compact(), self.size.width)
        self.set_class(layout[0], "-compact")
        self.set_class(self.size.width < NARROW, "-narrow")
        if self.matrix is not None and layout != self._layout:
            self._fill_matrix()
            self._fill_recs()

    def focus_default(self) -> None:
        focus_now(self.query_one("#routing-matrix", DataTable))  # immediate
        self.on_shown()

    def action_leave_query(self) -> None:
        """escape: back to the matrix, from the query box or the whole-pane report."""
        if self.has_class("-detail"):
            self._show_detail(False)
        else:
            focus_now(self.query_one("#routing-matrix", DataTable))

    def action_toggle_detail(self) -> None:
        """d: the side panel (replay, agent picks, the last cycle) gets the whole pane,
        or goes back beside the query box."""
        self._show_detail(not self.has_class("-detail"))

    def _show_detail(self, on: bool) -> None:
        self.set_class(on, "-detail")
        if on:
            focus_now(self.query_one("#routing-side", VerticalScroll))
        else:
            focus_now(self.query_one("#routing-matrix", DataTable))
        self._status()

    def on_shown(self) -> None:
        """On screen: compute what is stale, learn the routers once."""
        if self.store is not None:
            if self.stale:
                self.action_recompute()
            if not self._routers_started:
                self._routers_started = True
                self._load_routers(self.store)

    def workspace_ready(self, session: WorkspaceSession) -> None:
        """Nothing is computed until the pane is first shown: startup stays fast."""
        super().workspace_ready(session)
        self.store = session.traces
        self.query_one("#routing-status", Static).update(
            Text("Evidence is computed when this pane is shown.", style="dim")
        )
        if self._visible():
            self.focus_default()

    def mark_stale(self) -> None:
        """Labels changed: recompute now if visible, else when next shown."""
        self.stale = True
        if self.store is not None and self.is_attached and self.display and self._visible():
            self.action_recompute()

    def _visible(self) -> bool:
        return self.is_active

    # ------------------------------------------------------------ compute

    def action_recompute(self, relearn: bool = True) -> None:
        """r: the matrix again, and the routers learn again from the same labels
        (*relearn*; J and > < change only what the matrix counts)."""
        if self.store is None:
            return
        self.stale = False
        if relearn and self._routers_started:
            self._load_routers(self.store)
        self.query_one("#routing-status", Static).update(
            Text("Computing evidence over every trace…", style="dim")
        )
        self._compute(self.store, self.min_evidence, self.include_judge)

    def action_toggle_judge(self) -> None:
        """J: count the judge's scores of traces without a human score as ratings, or
        not; the status line says what the matrix counts once it is recomputed."""
        self.include_judge = not self.include_judge
        self.action_recompute(relearn=False)

    def action_evidence(self, delta: int) -> None:
        self.min_evidence = max(1, self.min_evidence + delta)
        self.action_recompute(relearn=False)

    def more_evidence(self) -> None:
        """The palette's > (its entries take no parameters)."""
        self.action_evidence(10)

    def less_evidence(self) -> None:
        """The palette's <."""
        self.action_evidence(-10)

    def _to_model_column(self, last: bool) -> None:
        """The matrix's cursor to its last (or first) model column, in its row: the
        table scrolls there, as → / ← do one column at a time."""
        if self.has_class("-detail"):  # the matrix is hidden behind the side panel
            self._show_detail(False)
        table = self.query_one("#routing-matrix", DataTable)
        focus_now(table)
        if self.matrix is None or not self.matrix.models:
            return
        col = len(self.matrix.models) if last else 1
        table.cursor_coordinate = Coordinate(table.cursor_coordinate.row, col)

    def models_right(self) -> None:
        self._to_model_column(True)

    def models_left(self) -> None:
        self._to_model_column(False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="routing.compute",
          description="compute routing evidence")  # fmt: skip
    def _compute(self, store: TraceStore, min_evidence: int, include_judge: bool = False) -> None:
        from jarvis_tui.evals.judge_scores import judge_coverage, matrix_with_judge
        from jarvis_tui.learning.recommend import recommend_agents

        miner = TrainingDataMiner(store, min_quality=0.0)
        matrix = miner.routing_matrix(min_samples=min_evidence)
        judged: set = set()
        coverage = judge_coverage(store)
        if include_judge and coverage[0]:
            matrix, judged = matrix_with_judge(store, matrix)
        agents = recommend_agents(store, min_ratings=min_evidence)  # the ★'s minimum too
        tools: dict[str, list[str]] = {}
        pairs = sorted((qc, rec.agent) for qc, rec in agents.items())
        if pairs and hasattr(store, "tool_counts"):
            counts = store.tool_counts(
                ("qclass", "agent"), min_feedback=0.7, exclude_failures=True, pairs=pairs
            )
            for qc, agent in pairs:
                freq = counts.get((qc, agent), {})
                tools[qc] = sorted(freq, key=lambda n: (-freq[n], n))
        if not get_current_worker().is_cancelled:
            self.post_message(self.Computed(matrix, agents, tools, frozenset(judged), coverage))

    @on(Computed)
    def _computed(self, msg: RoutingPane.Computed) -> None:
        self.matrix = msg.matrix
        self.agents = msg.agents
        self.judged = msg.judged
        self.judge_coverage = msg.coverage
        self.tools = msg.tools
        self._fill_matrix()
        self._fill_recs()
        self._status()
        self._render_side()
        self._show_guidance()

    def _show_guidance(self) -> None:
        """No traces, or no rated trace: say what to do below the matrix (issue 10: a
        bare 'Class' header, as if something had failed)."""
        m = self.matrix
        rated = 0 if m is None else sum(c.rated.n for c in m.cells.values())
        msg = None
        if m is not None and not m.classes:
            msg = Text("No traces yet\n", style="bold")
            msg.append(
                "Routing compares the models per query class on rated traces. OpenJarvis "
                "writes a trace here for every interaction; to try the app on a demo "
                "workspace, quit (ctrl+q) and run jarvis-tui demo.",
                style="dim",
            )
        elif m is not None and not rated:
            msg = Text("No rated traces yet: nothing to recommend\n", style="bold")
            msg.append(
                "Label traces in the Traces pane (T, then 0–9 or =), or press enter on a "
                "cell here to label that cell's traces; r recomputes.",
                style="dim",
            )
        self.query_one("#routing-empty", Static).update(msg or "")
        self.set_class(msg is not None, "-guidance")

    def _recs_cells(self) -> dict[str, list[Text]]:
        """The recommendations table's cells per column key, one entry per class."""
        m = self.matrix
        assert m is not None
        cols: dict[str, list[Text]] = {key: [] for _, key in RECS_COLUMNS}
        for qc in m.classes:
            r = m.recommendations[qc]
            conf_style = {"clear": "green", "likely": "yellow"}.get(r.confidence, "red")
            agent = self.agents.get(qc)
            if agent is None or agent.best.rated == 0:  # no rating: no evidence to pick by
                pick, ref = Text("–"), Text("–", style="dim")
            else:
                pick = Text(one_line(agent.agent, 14), style="bold")
                if agent.differs:  # ≠: OpenJarvis's rule picks another agent
                    ref = Text("≠ " + one_line(agent.reference or "", 14), style="yellow")
                else:
                    ref = Text("same", style="dim")
            conf = SHORT_CONFIDENCE.get(r.confidence, r.confidence)
            cols["class"].append(Text(qc))
            cols["recommended"].append(Text(one_line(r.best or "–", 24), style="bold"))
            cols["best agent"].append(pick)
            cols["confidence"].append(Text(conf, style=conf_style))
            cols["margin"].append(Text("–" if r.margin is None else f"+{r.margin:.3f}"))
            cols["runner-up"].append(Text(one_line(r.runner_up or "–", 24)))
            cols["rated"].append(Text(f"{r.rated:,}"))
            cols["reference"].append(ref)
            cols["tools"].append(Text())  # sized to the room left: _tools_text
        return cols

    def _fill_recs(self) -> None:
        """(Re)build the recommendations for the current width: the columns that fit,
        in :data:`RECS_COLUMNS` order (what to use first, the evidence after), each
        whole; the tools take the room left, whole names then "+N"."""
        if self.matrix is None:
            return
        recs = self.query_one("#routing-recs", DataTable)
        width = (self.size.width or self.app.size.width) - 2  # a scrollbar's room
        cols = self._recs_cells()
        pad = 2 * recs.cell_padding
        used = 0
        shown: list[tuple[str, str, int]] = []
        for label, key in RECS_COLUMNS:
            w = max([len(label), *(c.cell_len for c in cols[key])])
            if key == "tools":
                tools = [self.tools.get(qc, []) for qc in self.matrix.classes]
                want = max([len(label), *(_tools_text(t, 10_000).cell_len for t in tools)])
                room = width - used - pad
                if room < min(want, TOOLS_MIN_WIDTH):
                    continue
                w = min(want, room)
                cols[key] = [_tools_text(t, w) for t in tools]
            elif used + w + pad > width:
                continue
            shown.append((label, key, w))
            used += w + pad
        self._recs_hidden = [label for label, key in RECS_COLUMNS
                             if key not in {k for _, k, _ in shown}]  # fmt: skip
        cursor = recs.cursor_row
        recs.clear(columns=True)
        for label, key, w in shown:
            recs.add_column(Text(label), key=key, width=w)
        for i, qc in enumerate(self.matrix.classes):
            recs.add_row(*(cols[key][i] for _, key, _ in shown), key=qc)
        if self.matrix.classes:
            recs.move_cursor(row=min(cursor, len(self.matrix.classes) - 1), animate=False)

    def _fill_matrix(self) -> None:
        """(Re)build the matrix for the current size: cells fit, names end in …."""
        m = self.matrix
        if m is None:
            return
        compact = self._compact()
        width = self.size.width or self.app.size.width
        self._layout = (compact, self.size.width)
        n = max(1, len(m.models))
        # Each column is its width + 2 of padding; "general" needs 7.
        col = max(12 if compact else 14, min(20, (width - 10) // n - 2))
        table = self.query_one("#routing-matrix", DataTable)
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        table.add_column(Text("Class"), key="class", width=7)
        for model in m.models:
            table.add_column(_fit(model, col), key=model, width=col)
        for qc in m.classes:
            table.add_row(
                Text(qc, style="bold"),
                *(cell_text(m, qc, model, compact=compact, judged=(qc, model) in self.judged)
                  for model in m.models),
                key=qc, height=1 if compact else 2,
            )  # fmt: skip
        if m.classes:
            ok = cursor.row < len(m.classes) and 1 <= cursor.column <= len(m.models)
            table.cursor_coordinate = cursor if ok else Coordinate(0, 1)
        self._hidden_models = max(0, len(m.models) - max(1, (width - 10) // (col + 2)))
        self._status()

    def _judge_words(self) -> Optional[tuple[str, str, int]]:
        """What J means now, for the status line: (text, style, priority). While on,
        it says that J turns it off (not "J: off", read as "the judge is off")."""
        judged_only, both = self.judge_coverage
        if self.include_judge:
            if judged_only:
                mine = f", your label wins on {both:,}" if both else ""
                return (f"judge counted: {judged_only:,} judged traces (j){mine} · J turns it off",
                        "bold magenta", 0)  # fmt: skip
            if both:
                return (f"judge: nothing to add, your label wins on all {both:,} judged · "
                        "J turns it off", "bold magenta", 0)  # fmt: skip
            return ("no judge scores yet: J in Traces (T) runs the judge · J turns it off",
                    "bold magenta", 0)  # fmt: skip
        if judged_only:
            return (f"J: add {judged_only:,} judge scores", "magenta", 3)
        return None

    def _status(self) -> None:
        """One or two lines, most important first: counts, what J counts, hidden
        models, the cycle state; the least important parts go first when they do not
        fit (the state words stay at 80 columns)."""
        m = self.matrix
        if m is None:
            return
        rated = sum(c.rated.n for c in m.cells.values())
        total = sum(c.n for c in m.cells.values())
        # (text, style, priority: 0 always shown, higher goes first)
        parts: list[tuple[str, str, int]] = [(f"{rated:,} rated", "", 0)]
        if self._cycle_running:
            parts.append(("learning cycle running…", "bold yellow", 0))
        judge = self._judge_words()
        if judge is not None:
            parts.append(judge)
        hidden = getattr(self, "_hidden_models", 0)
        if hidden:
            parts.append((f"{plural(hidden, 'more model')}: ← →", "bold yellow", 0))
        parts.append((f"{len(m.models)} models", "", 2))
        parts.append((f"evidence ≥ {plural(m.min_samples, 'rating')} (> <)", "", 1))
        if self.has_class("-detail"):
            parts.append(("d: back to the matrix", "bold", 0))
        elif self.app.size.width >= 110:
            parts.append(("enter: label a cell's unrated traces", "dim", 4))
        elif self._cycle is not None:  # the footer has no room for d here
            parts.append(("d: the whole cycle report", "bold", 0))
        # two lines, less what word wrapping may leave unused at the first line's end
        room = 2 * max(20, (self.size.width or self.app.size.width) - 2) - 12
        head = f"{total:,} traces"

        def length(ps: list[tuple[str, str, int]]) -> int:
            return len(head) + sum(3 + len(t) for t, _, _ in ps)

        while length(parts) > room and any(p[2] for p in parts):
            worst = max(p[2] for p in parts)
            parts.remove(next(p for p in reversed(parts) if p[2] == worst))
        line = Text.assemble((head, "bold"))
        for text, style, _ in parts:
            line.append(" · " + text, style=style)
        self.query_one("#routing-status", Static).update(line)

    def _render_side(self) -> None:
        parts: list[Any] = []
        if self._cycle is not None or self._cycle_running:
            parts.extend(self._cycle_parts())
        if self.matrix is not None:
            est = replay(self.matrix)
            parts.append(Text(("\n" if parts else "") + "Replay (estimate)",
                              style="bold underline"))  # fmt: skip
            parts.append(Text("Had every class gone to its recommended model:"))
            t = Table.grid(padding=(0, 2))
            t.add_column(style="dim", no_wrap=True)
            t.add_column()
            if est.rated:
                t.add_row("Δ mean feedback", Text(f"{est.d_feedback:+.3f}",
                          style="green" if est.d_feedback >= 0 else "red"))  # fmt: skip
                t.add_row("Δ latency", Text(f"{est.d_latency:+.2f} s per trace"))
                t.add_row("Δ tokens", Text(f"{est.d_tokens:+.0f} per trace"))
            else:  # no recommendation to replay: no number computed from nothing
                for name in ("Δ mean feedback", "Δ latency", "Δ tokens"):
                    t.add_row(name, Text("–", style="dim"))
            parts.append(t)
            parts.append(
                Text(
                    f"from {est.rated:,} rated traces; assumes a model scores on other "
                    "traces as it did on its own"
                    if est.rated
                    else "no rated traces yet: label some in Traces (T) to replay them",
                    style="dim",
                )  # fmt: skip
            )
        differ = [a for a in self.agents.values() if a.differs]
        if differ:
            parts.append(Text("\nAgent picks: two rules differ", style="bold underline"))
            for a in differ:
                line = Text.assemble((a.query_class, "bold"), ": ", (one_line(a.agent, 20),
                                     "bold green"), " (every rating) vs ",
                                     (one_line(a.reference or "", 20), "yellow"),
                                     " (OpenJarvis: quality traces only)")  # fmt: skip
                parts.append(line)
                parts.append(Text(visible(a.why or ""), style="dim"))
        if not parts:
            parts.append(Text("s runs one learning cycle · / asks the routers", style="dim"))
        self.query_one("#routing-replay", Static).update(Group(*parts))

    def _cycle_parts(self) -> list[Any]:
        parts: list[Any] = [Text("Last learning cycle", style="bold underline")]
        if self._cycle_running:
            parts.append(Text("running…", style="yellow"))
            return parts
        r = self._cycle or {}
        t = Table.grid(padding=(0, 2))
        t.add_column(style="dim", no_wrap=True)
        t.add_column()
        status = str(r.get("status", "?"))
        t.add_row("status", Text(status, style="bold green" if status == "completed" else "bold"))
        if r.get("reason"):
            t.add_row("why", Text(one_line(str(r["reason"]), 200)))
        if r.get("gate") == "none":
            t.add_row("eval gate", Text("not configured — accepted without measurement",
                                        style="yellow"))  # fmt: skip
        elif "accepted" in r:
            t.add_row("eval gate", Text("accepted" if r["accepted"] else "rejected: rolled back"))
        # Training's count at the same min quality (held-out pairs included, as there)
        q = float(r.get("min_quality", CYCLE_MIN_QUALITY))
        t.add_row(f"SFT pairs (rated ≥ {q:.2f})", Text(f"{r.get('sft_pairs', 0):,}"))
        parts.append(t)
        parts.extend(self._route_parts(r))
        if self._written:
            parts.append(Text(f"wrote {plural(len(self._written), 'agent config')} in agents/:"))
            for w in self._written:
                head = Text.assemble(
                    ("  " + one_line(w["agent"], 24), "bold"), f" → version {w['version']}",
                    (f" ({w['what']})" if w.get("what") else "", "dim"),
                )  # fmt: skip
                parts.append(head)
                for ch in w["changes"][:6]:
                    parts.append(Text("    " + one_line(ch, 120), style="cyan"))
                if len(w["changes"]) > 6:
                    parts.append(Text(f"    … {len(w['changes']) - 6} more", style="dim"))
        elif self._cycle is not None and status == "completed" and not r.get("configs_kept"):
            parts.append(Text("no agent config changed: the current ones already match"))
        for name, _version, why in r.get("configs_kept") or []:  # a hand-chosen version
            parts.append(Text(f"{one_line(str(name), 24)}: {one_line(str(why), 160)}",
                              style="yellow"))  # fmt: skip
        return parts

    @staticmethod
    def _route_parts(result: dict[str, Any]) -> list[Any]:
        """The route the cycle gives each class, in ``jarvis-tui learn``'s words
        (:func:`~jarvis_tui.learning.learning_orchestrator.routes`): class → model,
        and where OpenJarvis's rule picks another model, that one and why."""
        from jarvis_tui.learning.learning_orchestrator import routes

        found = routes(result)
        if not found:
            return []
        parts: list[Any] = [Text(f"routed {plural(len(found), 'class', 'classes')}:")]
        pad = max(len(one_line(r.query_class, 12)) for r in found)
        for route in found:
            line = Text.assemble("  " + one_line(route.query_class, 12).ljust(pad), (" → ", "dim"),
                                 (one_line(route.model, 40), "bold"))  # fmt: skip
            if route.note:
                line.append(f" ({route.note})", style="dim")
            if route.openjarvis:
                line.append(" ≠ " + one_line(route.openjarvis, 40), style="yellow")
            parts.append(line)
            if route.why:
                parts.append(Padding(Text("why: " + visible(route.why), style="dim"),
                                     (0, 0, 0, 4)))  # fmt: skip
        return parts

    # ------------------------------------------------------------ drill down

    @on(DataTable.CellSelected, "#routing-matrix")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        if self.matrix is None or event.coordinate.column == 0:
            return
        qc = self.matrix.classes[event.coordinate.row]
        model = self.matrix.models[event.coordinate.column - 1]
        self.post_message(
            self.DrillDown(TraceFilter(model=model, query_class=qc, rated=False), queue=True)
        )

    def label_where_it_matters(self) -> None:
        """The cell under the cursor, in queue order in the Traces pane."""
        table = self.query_one("#routing-matrix", DataTable)
        if self.matrix is None or not self.matrix.classes:
            self.app.notify("nothing computed yet", markup=False)
            return
        row, col = table.cursor_coordinate
        qc = self.matrix.classes[min(row, len(self.matrix.classes) - 1)]
        model = self.matrix.models[col - 1] if col >= 1 else None
        self.post_message(
            self.DrillDown(TraceFilter(model=model, query_class=qc, rated=False), queue=True)
        )

    PALETTE = (
        ("recompute", "recompute", "Recompute the evidence (r)"),
        ("learning_cycle", "run a learning cycle", "One learning cycle (s)"),
        ("toggle_judge", "include judge scores", "Count judge scores of unrated traces (J)"),
        ("label_where_it_matters", "label where it matters",
         "The selected cell's queue in Traces (enter)"),
        ("focus_query", "ask routers", "How each router would route a query you type (/)"),
        ("toggle_detail", "detail panel",
         "The side panel (replay, agent picks, the last cycle) takes the pane, or gives it "
         "back (d)"),
        ("more_evidence", "more evidence needed", "Raise the evidence minimum by 10 (>)"),
        ("less_evidence", "less evidence needed", "Lower the evidence minimum by 10 (<)"),
        ("models_right", "scroll to the models on the right",
         "The matrix's last model column (→ / l move one)"),
        ("models_left", "scroll to the models on the left",
         "The matrix's first model column (← / h move one)"),
    )  # fmt: skip
    """``routing: …`` palette entries (the Pane default shows the pane, then acts)."""

    # ------------------------------------------------------------ routers

    @work(thread=True, exclusive=True, exit_on_error=False, group="routing.routers",
          description="learn router policies")  # fmt: skip
    def _load_routers(self, store: TraceStore) -> None:
        from jarvis_tui.core.registry import RouterPolicyRegistry
        from jarvis_tui.learning import ensure_registered
        from jarvis_tui.learning.bandit_router import BanditRouterPolicy
        from jarvis_tui.learning.router import HeuristicRouter
        from jarvis_tui.learning.trace_policy import TraceDrivenPolicy

        ensure_registered()
        models = store.facets()["models"]
        routers: dict[str, Any] = {}
        for key in RouterPolicyRegistry.keys():
            cls = RouterPolicyRegistry.get(key)
            if cls is HeuristicRouter:
                routers[key] = HeuristicRouter(models)
            elif cls is TraceDrivenPolicy and "trace" not in routers:
                policy = TraceDrivenPolicy(store, available_models=models, min_samples=30)
                policy.update_from_traces()
                routers["trace"] = policy
            elif cls is BanditRouterPolicy:
                bandit = BanditRouterPolicy(models, seed=0)
                bandit.update_from_traces(store)
                routers[key] = bandit
        if not get_current_worker().is_cancelled:  # a newer learning replaces this one
            self.post_message(self.RoutersReady(routers))

    @on(RoutersReady)
    def _routers_ready(self, msg: RoutingPane.RoutersReady) -> None:
        self._routers = msg.routers
        self._ask(self.query_one("#routing-query", Input).value)

    def action_focus_query(self) -> None:
        focus_now(self.query_one("#routing-query", Input))

    def on_descendant_focus(self, event: Any) -> None:
        self.set_class(isinstance(event.widget, Input), "-asking")

    def on_descendant_blur(self, event: Any) -> None:
        self.set_class(False, "-asking")

    @on(Input.Changed, "#routing-query")
    def _query_changed(self, event: Input.Changed) -> None:
        self._ask(event.value)

    def _ask(self, query: str) -> None:
        from jarvis_tui.learning.classify import classify_query
        from jarvis_tui.learning.router import build_routing_context

        out = self.query_one("#routing-decisions", Static)
        if not query.strip():
            out.update(Text("Each router's choice for the query, and why, shows here.",
                            style="dim"))  # fmt: skip
            return
        ctx = build_routing_context(query)
        qc = classify_query(query)
        # a narrow pane stacks the query box over the side panel (styles/routing.tcss)
        full = self.has_class("-narrow")
        room = (self.size.width or self.app.size.width) * (1 if full else 3) // (1 if full else 5)
        parts: list[Any] = [context_table(query, per_row=3 if room >= 64 else 2)]
        if not self._routers:
            parts.append(Text("routers are learning from the traces…", style="dim italic"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(no_wrap=True, style="cyan")
        grid.add_column(ratio=1, overflow="fold")  # the why wraps in its own column
        m = self.matrix
        rec = m.recommendations.get(qc) if m is not None else None
        for name, router in self._routers.items():
            try:
                model, why = router.explain(ctx)
                basis = _router_basis(router, qc, model, why)
            except Exception as exc:  # a router's bug must not take the pane down
                model, basis = "–", f"error: {exc}"
            row = Text(one_line(basis, 200), style="dim")
            if m is not None and model and rec is not None and model != rec.best:
                row.append(f" · matrix: {_cell_words(m, qc, model)}", style="yellow")
            grid.add_row(one_line(name, 10), one_line(model or "–", 24), row)
        if m is not None and rec is not None and rec.best:
            margin = "" if rec.margin is None else f", margin {rec.margin:+.3f}"
            grid.add_row(
                "matrix", one_line(rec.best, 24),
                Text(f"{_cell_words(m, qc, rec.best)} ({rec.confidence}{margin})"),
            )  # fmt: skip
            if rec.challenger:  # a higher mean on too few ratings: not recommended yet
                grid.add_row(
                    "could be", one_line(rec.challenger, 24),
                    Text(f"{_cell_words(m, qc, rec.challenger)}: needs "
                         f"{plural(rec.challenger_needs, 'more rating')}", style="dim"),
                )  # fmt: skip
        if self._routers or (m is not None and rec is not None and rec.best):
            parts.append(grid)
        if self._routers and m is not None:
            parts.append(Text(self._why_they_differ(), style="dim italic"))
        out.update(Group(*parts))

    def _why_they_differ(self) -> str:
        """Why the routers' numbers are not the matrix's, in the words of this screen."""
        why = ("Why the numbers differ: the matrix is the mean of the ratings; trace "
               "scores 0.6 × success rate + 0.4 × mean rating over traces with either; "
               "bandit adds a Beta(1, 1) prior to the same ratings.")  # fmt: skip
        if self.include_judge and self.judge_coverage[0]:
            why += " J is on: the matrix counts judge scores, the routers do not."
        trace = self._routers.get("trace")
        need = getattr(trace, "min_samples", None)
        if need is not None and self.matrix is not None and need != self.matrix.min_samples:
            why += (f" The matrix needs {self.matrix.min_samples} ratings a cell (> <), "
                    f"trace {need} a class.")  # fmt: skip
        return why

    # ------------------------------------------------------------ learning cycle

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "learning_cycle":
            return self.store is not None and not self._cycle_running
        return True

    def action_learning_cycle(self) -> None:
        if self.store is None or self._cycle_running:
            return
        self._cycle_running = True
        self.refresh_bindings()
        self._render_side()
        self._status()
        assert self.workspace is not None
        self._plan_cycle(self.store, self.workspace.agents_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="routing.cycle",
          description="what the learning cycle would write")  # fmt: skip
    def _plan_cycle(self, store: TraceStore, agents_dir: Path) -> None:
        from jarvis_tui.learning.learning_orchestrator import LearningOrchestrator

        orch = LearningOrchestrator(trace_store=store, config_dir=agents_dir,
                                    min_quality=CYCLE_MIN_QUALITY)  # fmt: skip
        try:
            plan = orch.plan_configs(stop=get_current_worker().cancelled_event)
        except Exception:  # the cycle itself says why (it fails the same way, in the panel)
            plan = []
        self.post_message(self.CyclePlanned(plan))

    @on(CyclePlanned)
    def _cycle_planned(self, msg: RoutingPane.CyclePlanned) -> None:
        """Run the cycle, or first ask when it overwrites a version a person chose
        (walkthrough W27): y runs it, n / escape runs nothing."""
        if not self._cycle_running or self.store is None or self.workspace is None:
            return
        store, agents_dir, ev = self.store, self.workspace.agents_dir, self.workspace.evolver
        writes = [p for p in msg.plan if not p.get("kept") and not p.get("error")]
        if not any(p.get("hand") for p in writes):
            self._run_cycle(store, agents_dir, ev)
            return
        from jarvis_tui.ui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_cycle(store, agents_dir, ev)
                return
            self._cycle_running = False
            self.refresh_bindings()
            self._render_side()
            self._status()
            self.app.notify("learning cycle not run: nothing written", timeout=4, markup=False)

        hand = [p for p in writes if p.get("hand")]
        title = (f"Run the learning cycle? It overwrites "
                 f"{plural(len(hand), 'version')} a person chose")  # fmt: skip
        self.app.push_screen(
            ConfirmScreen(title, cycle_plan_text(msg.plan),
                          hint="y: run the cycle and write them   n / escape: run nothing"),
            answered,
        )  # fmt: skip

    @work(thread=True, exclusive=True, exit_on_error=False, group="routing.cycle",
          description="learning cycle")  # fmt: skip
    def _run_cycle(self, store: TraceStore, agents_dir: Path, ev: AgentConfigEvolver) -> None:
        from jarvis_tui.learning.agent_evolver import toml_diff
        from jarvis_tui.learning.learning_orchestrator import LearningOrchestrator

        orch = LearningOrchestrator(trace_store=store, config_dir=agents_dir,
                                    min_quality=CYCLE_MIN_QUALITY)  # fmt: skip

        def progress(step: str, message: str) -> None:  # the engine thread: post only
            self.post_message(self.CycleProgressed(step, message))

        try:
            result = orch.run(progress=progress, stop=get_current_worker().cancelled_event)
        except Exception as exc:  # shown in the side panel, not lost in a toast
            result = {"status": "failed", "reason": str(exc)}
        result.setdefault("min_quality", CYCLE_MIN_QUALITY)
        # Say exactly what landed in agents/: which agent, which version, what changed.
        written: list[dict[str, Any]] = []
        for name, version in result.get("configs_written") or []:
            entry: dict[str, Any] = {"agent": name, "version": version, "changes": []}
            try:
                new = ev.load_version(name, version)
                # A first version: list its keys one by one, not as one new table.
                old = (
                    ev.load_version(name, version - 1)
                    if version > 1
                    else {k: {} for k, v in new.items() if isinstance(v, dict)}
                )
                entry["changes"] = [str(c) for c in toml_diff(old, new)]
                entry["what"] = "new config" if version == 1 else f"was version {version - 1}"
            except (ValueError, OSError) as exc:
                entry["changes"] = [f"cannot compare: {exc}"]
            written.append(entry)
        self.post_message(self.CycleDone(result, written))

    @on(CycleProgressed)
    def _cycle_progressed(self, msg: RoutingPane.CycleProgressed) -> None:
        if self._cycle_running:
            line = Text(f"Learning cycle: {msg.step}… {msg.message}".rstrip(), style="yellow")
            self.query_one("#routing-status", Static).update(line)

    @on(CycleDone)
    def _cycle_done(self, msg: RoutingPane.CycleDone) -> None:
        self._cycle = msg.result
        self._written = msg.written
        self._cycle_running = False
        self.refresh_bindings()
        status = msg.result.get("status")
        n = len(msg.written)
        self.app.notify(
            f"learning cycle {status}: {n} agent config{'s' if n != 1 else ''} written",
            timeout=4, markup=False,
        )  # fmt: skip
        self._render_side()
        if self._compact():  # a short terminal: show the report, not the matrix
            self._show_detail(True)
        self.stale = True
        self.action_recompute()


def hand_line(entry: dict[str, Any]) -> str:
    """'react v5 was rolled back by hand at 01:41: this overwrites it' for a planned
    write over a version a person chose (``plan_configs``), else ''."""
    from jarvis_tui.learning.learning_orchestrator import overwrite_line

    cause = entry.get("hand")
    if not cause:
        return ""
    return overwrite_line(str(entry["agent"]), int(entry["was"]), str(cause), entry.get("hand_at"))


def cycle_plan_text(plan: list[dict[str, Any]]) -> Text:
    """What a learning cycle would write, per agent, with the keys that change (the
    cycle panel's words), a version a person chose named, and what it keeps."""
    out = Text()
    for entry in plan:
        name = one_line(str(entry["agent"]), 40)
        if entry.get("error"):
            out.append(f"{name}: cannot be written: {one_line(str(entry['error']), 160)}\n",
                       style="red")  # fmt: skip
            continue
        if entry.get("kept"):
            out.append(f"{name}: {one_line(str(entry['kept']), 160)}\n", style="dim")
            continue
        was = f"was version {entry['was']}" if entry.get("was") else "new config"
        out.append(f"{name}", style="bold")
        out.append(f" → version {entry['version']} ({was})\n")
        if entry.get("hand"):
            out.append(f"  {hand_line(entry)}\n", style="bold yellow")
        for change in entry.get("changes", [])[:6]:
            out.append(f"    {one_line(str(change), 120)}\n", style="cyan")
        if len(entry.get("changes", [])) > 6:
            out.append(f"    … {len(entry['changes']) - 6} more\n", style="dim")
    out.append("\nConfigs' b rolls any of them back afterwards.", style="dim")
    return out
