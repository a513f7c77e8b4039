"""The Trials pane's view model: what a run looks like on screen, as pure functions.

Nothing here touches a widget, the app or a thread: a :class:`RunView` is a snapshot
of one run (read back from optimize.db, or built from an engine event on the engine's
thread), and the functions turn it into table cells, header parts, worker counts and
trade-off lines. Untrusted strings (trial ids, sources, worker names, messages) are
always made one visible line here before they reach a ``Text``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from jarvis_tui.core.fmt import money, plural
from jarvis_tui.evals.measure import scoring_of
from jarvis_tui.learning.optimize.types import (
    DEFAULT_OBJECTIVES,
    ObjectiveBound,
    ObjectiveSpec,
    TrialResult,
)
from jarvis_tui.ui.text import one_line

SORTS: tuple[tuple[str, str], ...] = (
    ("num", "#"),
    ("accuracy", "accuracy"),
    ("mean_latency_seconds", "latency"),
    ("total_cost_usd", "cost"),
)

COLUMNS: tuple[tuple[str, int], ...] = (
    ("#", 4), ("", 1), ("trial", 12), ("source", 8), ("acc", 5), ("lat s", 6), ("cost", 10), ("", 1),
)  # fmt: skip
"""The table of a run evaluated in one process."""

WORKER_WIDTH = 6
"""The worker column: ``w1``…``w99`` and ``host-1`` whole, a longer name cut with ``…``."""

WORKER_COLUMNS: tuple[tuple[str, int], ...] = (
    *COLUMNS[:4], ("worker", WORKER_WIDTH), COLUMNS[4], ("lat s", 5), *COLUMNS[6:],
)  # fmt: skip
"""A run whose trials name their worker: the worker after the source (the latency
column one cell narrower, ``13.60`` still whole, so the flag keeps its place at 120
columns)."""

NARROW_WORKER_COLUMNS: tuple[tuple[str, int], ...] = (
    *COLUMNS[:3], ("worker", WORKER_WIDTH), *COLUMNS[4:],
)  # fmt: skip
"""The same in a narrow pane: the source gives way to the worker (the detail says it)."""

MEASURED_GLYPH = "■"
"""Table glyph of a measured trial (the plot draws measured points as squares too)."""
PARTIAL_GLYPH = "□"
"""A measurement cancelled midway: the samples done so far."""
ESTIMATE_GLYPH = "≈"
"""Table glyph of an estimate (replayed traces)."""
MERGE_GLYPH = "⊕"
"""Flag of a trial marked for the next merge (m); not ``M``, which is the measure key."""

SHORT = {
    "accuracy": "accuracy",
    "mean_latency_seconds": "latency s",
    "total_cost_usd": "cost $",
    "total_energy_joules": "energy J",
    "total_tokens": "tokens",
}


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
    evaluate: str = ""
    """How the run scores its trials, as stored with it (``replay``, ``measured``,
    ``replay-then-measure``); empty: not stored (a run from before it was, or
    OpenJarvis's own)."""
    workers: dict[str, dict[str, int]] = field(default_factory=dict)
    """A live parallel run: per worker, its trials ``running`` / ``completed`` / ``failed``
    (from the shared storage); empty for a stored run (counted from ``meta`` then)."""


# --------------------------------------------------------------------------- reading runs


def read_view(store: Any, run_id: str) -> RunView | None:
    """The run *run_id* of an ``OptimizationStore`` as the pane shows it (None: no such run)."""
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
        evaluate=_stored_mode(run_meta.get("evaluate")),
    )


def _stored_mode(value: Any) -> str:
    """A stored evaluate mode, or "" when missing or not one we know."""
    from jarvis_tui.learning.optimize.session import EVALUATE_MODES

    return value if isinstance(value, str) and value in EVALUATE_MODES else ""


def view_of_event(ev: Any, bounds: Sequence[ObjectiveBound]) -> RunView:
    """A snapshot of the run an engine ``RunEvent`` carries (O(trials) pointer copies,
    a few ms at 10,000 trials): the engine goes on changing its own lists."""
    run = ev.run
    return RunView(
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
        bounds=[str(b) for b in bounds],
        workers={str(w): dict(c) for w, c in (getattr(ev, "workers", None) or {}).items()},
    )


# --------------------------------------------------------------------------- workers


def worker_counts(view: RunView) -> dict[str, dict[str, int]]:
    """Per worker: its trials running, completed and failed, in worker order.

    A live parallel run reports them (``view.workers``, from the shared storage); a
    stored run is counted from its trial meta (``worker``, ``status: failed``)."""
    counts: dict[str, dict[str, int]] = {}
    if view.workers:
        counts = {w: dict(c) for w, c in view.workers.items()}
    else:
        for m in view.meta.values():
            w = m.get("worker")
            if not isinstance(w, str) or not w:
                continue
            c = counts.setdefault(w, {"running": 0, "completed": 0, "failed": 0})
            c["failed" if m.get("status") == "failed" else "completed"] += 1
    return dict(sorted(counts.items(), key=lambda kv: _natural(kv[0])))


def has_workers(view: RunView) -> bool:
    """True when the run's trials were evaluated by named workers (a parallel run)."""
    return bool(view.workers) or any(m.get("worker") for m in view.meta.values())


NARROW_COLUMNS: tuple[tuple[str, int], ...] = (*COLUMNS[:3], *COLUMNS[4:])
"""A narrow pane's table: the source gives way (the detail beside it says it), so the
detail keeps room enough to read (walkthrough W2 20: ~17 columns at 80)."""


def columns_for(view: RunView, narrow: bool) -> tuple[tuple[str, int], ...]:
    """The table's columns for *view* in a wide or a narrow pane."""
    if not has_workers(view):
        return NARROW_COLUMNS if narrow else COLUMNS
    return NARROW_WORKER_COLUMNS if narrow else WORKER_COLUMNS


def workers_line(view: RunView, width: int) -> Text:
    """``workers  w1 2 running · 5 done · w2 1 running · 4 done, 1 failed`` fitted to
    *width* cells: a worker's counts never break, and workers that do not fit are
    summed up as ``+N more`` (never cut mid-word)."""
    counts = worker_counts(view)
    out = Text()
    if not counts:
        return out
    parts: list[Text] = []
    for w, c in counts.items():
        part = Text(one_line(w, 16), style="bold")
        words = []
        if c.get("running"):
            words.append((f"{c['running']} running", "yellow"))
        words.append((f"{c.get('completed', 0)} done", "green"))
        if c.get("failed"):
            words.append((f"{c['failed']} failed", "red"))
        for text, style in words:
            part.append(" ")
            part.append(text, style=style)
        parts.append(part)
    out.append("workers ", style="dim")
    shown = 0
    for i, part in enumerate(parts):
        sep = 3 if shown else 0
        rest = len(parts) - i - 1
        more = len(f" · +{rest} more") if rest else 0
        if out.cell_len + sep + part.cell_len + more > width:
            break
        if shown:
            out.append(" · ", style="dim")
        out.append_text(part)
        shown += 1
    if shown < len(parts):
        out.append((" · " if shown else "") + f"+{len(parts) - shown} more", style="dim")
    out.no_wrap = True
    return out


def _natural(name: str) -> list[Any]:
    """Sort key: ``w2`` before ``w10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


# --------------------------------------------------------------------------- cells


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


def scoring(view: RunView, trial_id: str) -> str:
    """``measured`` or ``estimate`` (older runs: what the run says)."""
    return scoring_of(view.meta.get(trial_id, {}), view.estimate)


def flag(view: RunView, t: TrialResult, frontier: set[str], merge_ids: Sequence[str]) -> Text:
    m = view.meta.get(t.trial_id, {})
    if m.get("infeasible"):
        return Text("×", style="red")
    if t.trial_id == view.best:
        return Text("★", style="bold yellow")
    if t.trial_id in merge_ids:
        return Text(MERGE_GLYPH, style="bold magenta")
    if t.trial_id in frontier:
        return Text("●", style="bold")
    return Text("·", style="dim")


def row_cells(
    view: RunView,
    num: int,
    t: TrialResult,
    frontier: set[str],
    merge_ids: Sequence[str],
    columns: Sequence[tuple[str, int]] = COLUMNS,
) -> tuple:
    """The cells of trial *t* (number *num* in the run) for a table of *columns*."""
    m = view.meta.get(t.trial_id, {})
    dim = "dim" if (t.trial_id not in frontier) else ""
    if scoring(view, t.trial_id) == "measured":
        glyph = Text(PARTIAL_GLYPH if m.get("partial") else MEASURED_GLYPH, style="bold green")
    else:
        glyph = Text(ESTIMATE_GLYPH, style="dim")
    cells = {
        "#": Text(str(m.get("num", num)), style="dim"),
        "trial": Text(one_line(t.trial_id, 12), style=dim),
        "source": Text(one_line(str(m.get("source", "")), 12), style="dim"),
        "worker": Text(one_line(str(m.get("worker", "")), 16), style="cyan"),
        "acc": Text(fmt_metric("accuracy", t.accuracy), style=dim),
        "lat s": Text(fmt_metric("mean_latency_seconds", t.mean_latency_seconds), style=dim),
        "cost": Text(fmt_metric("total_cost_usd", t.total_cost_usd), style=dim),
    }
    out = []
    for i, (label, _w) in enumerate(columns):
        if label:
            out.append(cells[label])
        else:  # the two unlabelled columns: the scoring glyph, then the flag
            out.append(glyph if i == 1 else flag(view, t, frontier, merge_ids))
    return tuple(out)


def ordered(view: RunView, sort_key: str, reverse: bool) -> list[tuple[int, TrialResult]]:
    """(number, trial) in the table's order: run order, or best first by *sort_key*."""
    items = list(enumerate(view.trials, 1))
    if sort_key == "num":
        return items[::-1] if reverse else items
    obj = next((o for o in view.objectives if o.metric == sort_key), None)
    best_first = obj is None or obj.direction == "maximize"
    if reverse:
        best_first = not best_first

    def key(item: tuple[int, TrialResult]) -> float:
        v = getattr(item[1], sort_key, 0.0)
        v = v if isinstance(v, int | float) and math.isfinite(v) else math.inf
        return -v if best_first and v != math.inf else v

    return sorted(items, key=key)


# --------------------------------------------------------------------------- frontier


def frontier_order(view: RunView, x_metric: str) -> list[TrialResult]:
    """The frontier members along the plot's x axis (h/l walks them)."""
    front_ids = set(view.frontier)
    front = [t for t in view.trials if t.trial_id in front_ids]
    return sorted(front, key=lambda t: (getattr(t, x_metric, 0.0), t.trial_id))


def tradeoff(a: TrialResult, b: TrialResult, detail: int = 3, short: bool = False) -> str:
    """Going from frontier member *a* to *b*: what accuracy it gains and what that costs
    in latency and dollars, in the table's own units (``+9.4 pt accuracy, -0.41 s,
    +$0.000088``: the differences of its acc, lat s and cost columns; ``same cost``
    for a difference the table's cost column cannot show).

    *detail* says how much: 1 the accuracy only, 2 and the latency, 3 and the cost;
    *short* says ``acc`` for ``accuracy``.
    """
    d_acc = (b.accuracy - a.accuracy) * 100
    d_lat = b.mean_latency_seconds - a.mean_latency_seconds
    d_cost = b.total_cost_usd - a.total_cost_usd
    acc = "acc" if short else "accuracy"
    words = [f"same {acc}" if abs(d_acc) < 0.05 else f"{d_acc:+.1f} pt {acc}"]
    if detail >= 2:
        words.append("same latency" if abs(d_lat) < 0.005 else f"{d_lat:+.2f} s")
    if detail >= 3:
        # The table shows costs to 2 significant digits: a difference under 1% of the
        # dearer one is not there to see (and reads as $0.000000051).
        scale = max(abs(a.total_cost_usd), abs(b.total_cost_usd))
        words.append("same cost" if abs(d_cost) < 0.01 * scale or d_cost == 0
                     else money(d_cost, signed=True))  # fmt: skip
    return f"{one_line(b.trial_id, 24)}: {', '.join(words)}"


def tradeoffs_text(
    order: Sequence[TrialResult], selected: str | None, width: int = 0, lines: int = 1
) -> Text:
    """The line(s) under the plot: the selected member's neighbours on the frontier
    (``←`` the one before it on the x axis, ``→`` the one after: h and l go there) and
    what moving to each gains and costs, fitted to *lines* lines of *width* cells
    (0: no limit).

    What does not fit goes first, least important first: where the selected member
    stands ("4/13 on the frontier"), the long word for accuracy, each neighbour's
    cost, then its latency, then the second neighbour; a part never breaks across lines and the one left is cut
    with ``…``. Nothing ends in a dangling separator.
    """
    ids = [t.trial_id for t in order]
    if selected not in ids or len(order) < 2:
        out = Text()
        if order:
            out.append(f"{plural(len(order), 'frontier member')}; h/l walks along "
                       + ("it" if len(order) == 1 else "them"),
                       style="dim")  # fmt: skip
        if width:
            out.truncate(width, overflow="ellipsis")
        out.no_wrap = True
        return out
    i = ids.index(selected)
    head = Text(f"{i + 1}/{len(order)} on the frontier", style="bold")
    sides = [("← ", order[i - 1])] if i > 0 else []
    if i + 1 < len(order):
        sides.append(("→ ", order[i + 1]))

    def part(arrow: str, b: TrialResult, detail: int, short: bool) -> Text:
        return Text.assemble((arrow, "bold"), tradeoff(order[i], b, detail, short))

    tries: list[list[Text]] = []
    for detail in (3, 2, 1):
        for short in (False, True):
            sides_at = [part(arrow, b, detail, short) for arrow, b in sides]
            tries += [[head, *sides_at], sides_at]
    tries.append([part(*sides[0], 1, True)])
    for parts in tries:
        text = _fit_whole(parts, width, lines)
        if text is not None:
            return text
    last = tries[-1][0].copy()
    last.truncate(max(width, 1), overflow="ellipsis")
    last.no_wrap = True
    return last


def _fit_whole(parts: Sequence[Text], width: int, lines: int) -> Text | None:
    """*parts* joined with `` · `` into at most *lines* lines of *width* cells, none
    broken across lines; None when they do not fit."""
    sep = " · "
    rows: list[Text] = []
    for p in parts:
        if width and p.cell_len > width:
            return None
        if rows and (not width or rows[-1].cell_len + len(sep) + p.cell_len <= width):
            rows[-1].append(sep, style="dim")
            rows[-1].append_text(p)
        else:
            rows.append(p.copy())
    if width and len(rows) > lines:
        return None
    out = Text("\n").join(rows)
    out.no_wrap = True
    return out


# --------------------------------------------------------------------------- words


def short_bound(bound: ObjectiveBound, typed: bool = False) -> str:
    """The bound as a user writes it, with its unit: ``latency <= 8s``, ``cost <= $0.001``.

    *typed*: the form the B prompt reads back (energy's unit in lower case).
    """
    name = SHORT.get(bound.metric, bound.metric).split(" ")[0]
    v = f"{bound.value:g}"
    value = {
        "mean_latency_seconds": f"{v}s",
        "total_cost_usd": f"${v}",
        "total_energy_joules": f"{v}j" if typed else f"{v} J",
    }.get(bound.metric, v)
    return f"{name} {bound.op} {value}"


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


def check_agent_name(text: str) -> str | None:
    """Why *text* cannot name an agent config (a plain name inside agents/), or None."""
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


def cell(text: Any, width: int) -> str:
    """*text* on one line, exactly *width* terminal cells (cut with ``…``, padded)."""
    from rich.cells import cell_len, set_cell_size

    line = one_line(str(text), width)
    if cell_len(line) > width:
        line = set_cell_size(line, width - 1) + "…"
    return set_cell_size(line, width)


def show_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def counts_by_scoring(view: RunView) -> tuple[int, int]:
    """(measured, estimated) trials of the run."""
    n_measured = sum(1 for t in view.trials if scoring(view, t.trial_id) == "measured")
    return n_measured, len(view.trials) - n_measured


def meta_of(view: RunView, trial_id: str) -> Mapping[str, Any]:
    return view.meta.get(trial_id, {})
