"""Routing pane: which model wins each query class, how sure that is, and why.

Everything is computed in thread workers from the whole store (SQL aggregates, no
trace loaded); labels typed in the Traces pane mark the numbers stale and they are
recomputed in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from jarvis_tui.learning.training.data import RoutingMatrix, TrainingDataMiner
from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.ui.text import one_line, visible
from jarvis_tui.ui.widgets.focus import focus_now

MIN_EVIDENCE = 30
"""Ratings a class's best model needs before its recommendation counts."""


@dataclass(frozen=True)
class ReplayEstimate:
    """What routing every class to its recommended model would have changed."""

    rated: int
    d_feedback: float
    d_latency: float
    d_tokens: float


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


def cell_text(matrix: RoutingMatrix, qc: str, model: str) -> Text:
    cell = matrix.cells.get((qc, model))
    if cell is None:
        return Text("·", style="dim")
    rec = matrix.recommendations.get(qc)
    ci = cell.rated
    if ci.n == 0:
        out = Text("unrated", style="dim")
    else:
        style = ""
        if rec is not None and rec.best == model:
            style = "bold green" if rec.confidence == "clear" else "bold yellow"
        elif ci.n < matrix.min_samples:
            style = "dim"
        out = Text(f"{ci.mean:.2f} ±{ci.half_width:.2f}", style=style)
        if rec is not None and rec.best == model:
            out.append(" ★", style=style)
        if ci.n < matrix.min_samples:
            out.append(" ?", style="yellow")
    out.append(
        f"\n{_compact(ci.n)}/{_compact(cell.n)} {cell.latency:.1f}s {cell.tokens:.0f}t", style="dim"
    )
    return out


def _compact(n: int) -> str:
    """4,213 → 4.2k; 1,250,000 → 1.2M (a cell has 20 columns)."""
    if n < 1_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1_000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


class RoutingPane(Widget):
    """Per-class routing recommendations with their evidence."""

    HELP_TITLE = "Routing"
    HELP_TEXT = (
        "Each cell is one model on one query class: mean feedback ± its 95% interval, then "
        "rated/total traces, mean latency and tokens. ★ marks the recommendation (green: "
        "intervals do not overlap; yellow: likely). ? marks cells with fewer ratings than "
        "the evidence minimum: press enter on a cell to label its unrated traces in the "
        "Traces pane. / asks every router how it would route a query you type."
    )

    BINDINGS = [
        Binding("r", "recompute", "Recompute", id="routing.recompute"),
        Binding("c", "learning_cycle", "Learning cycle", id="routing.cycle"),
        Binding("slash", "focus_query", "Ask routers", id="routing.query"),
        Binding(
            "plus,equals_sign", "evidence(10)", "More evidence", show=False, id="routing.more"
        ),  # fmt: skip
        Binding("minus", "evidence(-10)", "Less evidence", show=False, id="routing.less"),
        Binding("escape", "leave_query", "Back to the matrix", show=False, id="routing.escape"),
    ]

    class Computed(Message):
        def __init__(self, matrix: RoutingMatrix, agents: dict[str, dict[str, Any]]) -> None:
            super().__init__()
            self.matrix, self.agents = matrix, agents

    class RoutersReady(Message):
        def __init__(self, routers: dict[str, Any]) -> None:
            super().__init__()
            self.routers = routers

    class CycleDone(Message):
        def __init__(self, result: dict[str, Any]) -> None:
            super().__init__()
            self.result = result

    class DrillDown(Message):
        """The user wants the unlabelled traces behind a cell."""

        def __init__(self, flt: TraceFilter) -> None:
            super().__init__()
            self.filter = flt

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store: Optional[TraceStore] = None
        self.matrix: Optional[RoutingMatrix] = None
        """The last computed evidence (None until computed)."""
        self.min_evidence = MIN_EVIDENCE
        self.stale = True
        """Labels changed since the last computation."""
        self._routers: dict[str, Any] = {}
        self._routers_started = False
        self._cycle: Optional[dict[str, Any]] = None

    def compose(self) -> ComposeResult:
        yield Static(Text("Waiting for the trace store…", style="dim"), id="routing-status")
        yield DataTable(id="routing-matrix", cursor_type="cell", zebra_stripes=True)
        yield DataTable(id="routing-recs", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="routing-bottom"):
            with Vertical(id="routing-ask"):
                yield Input(placeholder="/ type a query: how would each router route it?",
                            id="routing-query")  # fmt: skip
                with VerticalScroll():
                    yield Static(id="routing-decisions")
            with VerticalScroll(id="routing-side"):
                yield Static(id="routing-replay")

    def on_mount(self) -> None:
        recs = self.query_one("#routing-recs", DataTable)
        for label in ("Class", "Recommended", "Runner-up", "Margin", "Confidence", "Rated",
                      "Best agent", "Tools"):  # fmt: skip
            recs.add_column(label, key=label.lower())

    def focus_default(self) -> None:
        focus_now(self.query_one("#routing-matrix", DataTable))  # immediate
        self.pane_shown()

    def action_leave_query(self) -> None:
        self.query_one("#routing-matrix", DataTable).focus()

    def pane_shown(self) -> None:
        """On screen: compute what is stale, learn the routers once."""
        if self.store is not None:
            if self.stale:
                self.action_recompute()
            if not self._routers_started:
                self._routers_started = True
                self._load_routers()

    def store_opened(self, store: TraceStore) -> None:
        """Nothing is computed until the pane is first shown: startup stays fast."""
        self.store = store
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
        try:
            return self.app.query_one("#panes").active == "routing"  # type: ignore[attr-defined]
        except Exception:
            return False

    # ------------------------------------------------------------ compute

    def action_recompute(self) -> None:
        if self.store is None:
            return
        self.stale = False
        self.query_one("#routing-status", Static).update(
            Text("Computing evidence over every trace…", style="dim")
        )
        self._compute(self.min_evidence)

    def action_evidence(self, delta: int) -> None:
        self.min_evidence = max(1, self.min_evidence + delta)
        self.action_recompute()

    @work(thread=True, exclusive=True, exit_on_error=False, group="routing.compute",
          description="compute routing evidence")  # fmt: skip
    def _compute(self, min_evidence: int) -> None:
        assert self.store is not None
        miner = TrainingDataMiner(self.store, min_quality=0.0)
        matrix = miner.routing_matrix(min_samples=min_evidence)
        agents = TrainingDataMiner(self.store).extract_agent_config_pairs()
        if not get_current_worker().is_cancelled:
            self.post_message(self.Computed(matrix, agents))

    @on(Computed)
    def _computed(self, msg: RoutingPane.Computed) -> None:
        self.matrix = msg.matrix
        m = msg.matrix
        table = self.query_one("#routing-matrix", DataTable)
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        table.add_column("Class", key="class", width=8)
        for model in m.models:
            table.add_column(one_line(model, 20), key=model, width=20)
        for qc in m.classes:
            table.add_row(
                Text(qc, style="bold"), *(cell_text(m, qc, model) for model in m.models),
                key=qc, height=2,
            )  # fmt: skip
        if m.classes:
            table.cursor_coordinate = cursor if cursor.row < len(m.classes) else (0, 1)
        recs = self.query_one("#routing-recs", DataTable)
        recs.clear()
        for qc in m.classes:
            r = m.recommendations[qc]
            conf_style = {"clear": "green", "likely": "yellow"}.get(r.confidence, "red")
            agent = msg.agents.get(qc, {})
            recs.add_row(
                qc,
                Text(one_line(r.best or "–", 24), style="bold"),
                one_line(r.runner_up or "–", 24),
                "–" if r.margin is None else f"+{r.margin:.3f}",
                Text(r.confidence, style=conf_style),
                f"{r.rated:,}",
                one_line(agent.get("best_agent", "–"), 14),
                Text(one_line(", ".join(agent.get("best_tools", [])) or "–", 40)),
                key=qc,
            )
        rated = sum(c.rated.n for c in m.cells.values())
        total = sum(c.n for c in m.cells.values())
        self.query_one("#routing-status", Static).update(
            Text.assemble(
                (f"{total:,} traces", "bold"),
                f" · {rated:,} rated · {len(m.models)} models · evidence minimum "
                f"{m.min_samples} ratings (+/-) · enter: label a cell's unrated traces",
            )
        )
        self._render_side()

    def _render_side(self) -> None:
        parts: list[Any] = []
        if self.matrix is not None:
            est = replay(self.matrix)
            parts.append(Text("Replay (estimate)", style="bold underline"))
            parts.append(
                Text("Had every class gone to its recommended model over the logged traces:")
            )
            t = Table.grid(padding=(0, 2))
            t.add_row("Δ mean feedback", Text(f"{est.d_feedback:+.3f}",
                      style="green" if est.d_feedback >= 0 else "red"))  # fmt: skip
            t.add_row("Δ latency", f"{est.d_latency:+.2f} s per trace")
            t.add_row("Δ tokens", f"{est.d_tokens:+.0f} per trace")
            parts.append(t)
            parts.append(
                Text(
                    f"from {est.rated:,} rated traces; assumes a model scores on other "
                    "traces as it did on its own",
                    style="dim",
                )  # fmt: skip
            )
        if self._cycle is not None:
            r = self._cycle
            parts.append(Text("\nLast learning cycle", style="bold underline"))
            line = Text(f"status {r.get('status')}", style="bold")
            if r.get("reason"):
                line.append(f" — {r['reason']}", style="")
            parts.append(line)
            parts.append(
                Text(
                    f"{r.get('sft_pairs', 0):,} SFT pairs · {r.get('routing_classes', 0)} "
                    f"routing classes · {r.get('agent_classes', 0)} agent classes"
                )
            )
            written = r.get("configs_written") or []
            if written:
                parts.append(Text("configs: " + ", ".join(f"{a} v{v}" for a, v in written)))
            if "accepted" in r:
                parts.append(Text(f"accepted: {r['accepted']}"))
        self.query_one("#routing-replay", Static).update(Group(*parts))

    # ------------------------------------------------------------ drill down

    @on(DataTable.CellSelected, "#routing-matrix")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        if self.matrix is None or event.coordinate.column == 0:
            return
        qc = self.matrix.classes[event.coordinate.row]
        model = self.matrix.models[event.coordinate.column - 1]
        self.post_message(self.DrillDown(TraceFilter(model=model, query_class=qc, labelled=False)))

    # ------------------------------------------------------------ routers

    @work(thread=True, exclusive=True, exit_on_error=False, group="routing.routers",
          description="learn router policies")  # fmt: skip
    def _load_routers(self) -> None:
        assert self.store is not None
        from jarvis_tui.core.registry import RouterPolicyRegistry
        from jarvis_tui.learning import ensure_registered
        from jarvis_tui.learning.bandit_router import BanditRouterPolicy
        from jarvis_tui.learning.router import HeuristicRouter
        from jarvis_tui.learning.trace_policy import TraceDrivenPolicy

        ensure_registered()
        models = self.store.facets()["models"]
        routers: dict[str, Any] = {}
        for key in RouterPolicyRegistry.keys():
            cls = RouterPolicyRegistry.get(key)
            if cls is HeuristicRouter:
                routers[key] = HeuristicRouter(models)
            elif cls is TraceDrivenPolicy and "trace" not in routers:
                policy = TraceDrivenPolicy(self.store, available_models=models, min_samples=30)
                policy.update_from_traces()
                routers["trace"] = policy
            elif cls is BanditRouterPolicy:
                bandit = BanditRouterPolicy(models, seed=0)
                bandit.update_from_traces(self.store)
                routers[key] = bandit
        self.post_message(self.RoutersReady(routers))

    @on(RoutersReady)
    def _routers_ready(self, msg: RoutingPane.RoutersReady) -> None:
        self._routers = msg.routers
        self._ask(self.query_one("#routing-query", Input).value)

    def action_focus_query(self) -> None:
        self.query_one("#routing-query", Input).focus()

    @on(Input.Changed, "#routing-query")
    def _query_changed(self, event: Input.Changed) -> None:
        self._ask(event.value)

    def _ask(self, query: str) -> None:
        from jarvis_tui.learning.classify import classify_query
        from jarvis_tui.learning.router import build_routing_context

        out = self.query_one("#routing-decisions", Static)
        if not query.strip():
            out.update(Text("Type a query above to see how each router would route it.",
                            style="dim"))  # fmt: skip
            return
        ctx = build_routing_context(query)
        parts: list[Any] = [
            Text.assemble(("class ", "dim"), (classify_query(query), "bold")),
            Text(
                f"RoutingContext(query_length={ctx.query_length}, has_code={ctx.has_code}, "
                f"has_math={ctx.has_math}, language={visible(ctx.language)!r}, "
                f"urgency={ctx.urgency})",
                style="dim",
            ),
        ]
        if not self._routers:
            parts.append(Text("routers are learning from the traces…", style="dim italic"))
        for name, router in self._routers.items():
            try:
                model, why = router.explain(ctx)
            except Exception as exc:  # a router's bug must not take the pane down
                model, why = "–", f"error: {exc}"
            line = Text.assemble((f"{name:<10}", "bold"), (f"{one_line(model, 24):<24} ", "cyan"))
            line.append(one_line(why, 200), style="dim")
            parts.append(line)
        if self.matrix is not None:
            rec = self.matrix.recommendations.get(classify_query(query))
            if rec is not None and rec.best:
                parts.append(
                    Text(
                        f"evidence: {rec.best} ({rec.confidence}, margin "
                        f"{'–' if rec.margin is None else f'{rec.margin:+.3f}'})"
                    )  # fmt: skip
                )
        out.update(Group(*parts))

    # ------------------------------------------------------------ learning cycle

    def action_learning_cycle(self) -> None:
        if self.store is None:
            return
        self.app.notify("learning cycle started")
        self._run_cycle()

    @work(thread=True, exclusive=True, exit_on_error=False, group="routing.cycle",
          description="learning cycle")  # fmt: skip
    def _run_cycle(self) -> None:
        assert self.store is not None
        from jarvis_tui.learning.learning_orchestrator import LearningOrchestrator

        agents_dir = self.app.workspace.agents_dir  # type: ignore[attr-defined]
        orch = LearningOrchestrator(trace_store=self.store, config_dir=agents_dir)
        status = self.query_one("#routing-status", Static)

        def progress(step: str, message: str) -> None:
            line = Text(f"Learning cycle: {step}… {message}".rstrip(), style="yellow")
            self.app.call_from_thread(status.update, line)

        result = orch.run(progress=progress, stop=get_current_worker().cancelled_event)
        self.post_message(self.CycleDone(result))

    @on(CycleDone)
    def _cycle_done(self, msg: RoutingPane.CycleDone) -> None:
        self._cycle = msg.result
        status = msg.result.get("status")
        self.app.notify(f"learning cycle {status}", timeout=4)
        self._render_side()
