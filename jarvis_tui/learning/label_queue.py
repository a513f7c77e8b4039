"""A labelling queue ordered by what a label decides.

Time order spreads a user's labels over every query class × model cell in proportion
to traffic; most of them land where the routing decision is already settled. This
queue puts first the unrated traces of the cells where a label can still change a
routing decision, as the Routing matrix decides it (:meth:`TrainingDataMiner.routing_matrix`,
the one source of the recommendation, its intervals and its evidence minimum):

* **tier 0**: a class whose recommendation is not ``clear``: first a few ratings
  (:data:`FLOOR`) on every model the class was served by, then the recommended model
  and the runner-up (their 95% intervals overlap, or the best has fewer ratings than
  the evidence minimum);
* **tier 1**: other models of such a class that could still win (their interval
  reaches the best's, or they are below the evidence minimum);
* **tier 2**: models below the evidence minimum in a ``clear`` class (a label there can
  still change the decision, but is the least likely to).

How far from settling: for the best and the runner-up, the labels each needs so that
the intervals stop overlapping if the means stay where they are (the optimal split of
``z·sd_b/√N_b + z·sd_r/√N_r < margin`` is ``N ∝ sd^(2/3)``), and at least the evidence
minimum on the best, within the unlabelled traces each side has left (when the two
cannot be separated with those, or are too close to call, the line says so, gives no
number, and every unlabelled trace of both stays queued). Classes closest to settling come first (each label brings a
decision soonest); within a class, the cell that needs more labels. Only cells with
unlabelled traces are asked for: when a close call's two cells are labelled to the
last trace the queue runs dry, and says so, rather than pad it with labels that cannot
change the decision.

Measured on the demo with its hidden true qualities (``python -m bench.bench_label_queue``):
from no labels, the labels until every class is clear, against time order.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

from jarvis_tui.learning.stats import Z95
from jarvis_tui.learning.training.data import MatrixCell, RoutingMatrix, TrainingDataMiner

TOO_CLOSE = 0.005
"""Means closer than this are not worth separating (the estimate says so)."""
MAX_ESTIMATE = 1_000_000
FLOOR = 3
"""Ratings every model of an open class gets before the rest of its queue: with fewer,
a model nobody rated could be the best (and a class rated on one model only would be
called clear on that model alone)."""
_PRIOR_SD = 0.25  # spread assumed for a cell with fewer than two ratings
_N = "\x00n\x00"
"""Where a line's template has its label count (never in a model or class name: those
are one_line()d, control characters made visible)."""


@dataclass(frozen=True)
class CellNeed:
    """One cell where a label can change a decision."""

    query_class: str
    model: str
    tier: int
    rated: int
    labels: int
    """Labels this cell needs by the estimate (at least 1 while it is in the queue)."""
    why: str
    kind: str = "separate"
    """``floor`` (too few ratings to rule the model out), ``separate`` (the best or the
    runner-up of an open class), ``contender`` (another model that could still win) or
    ``thin`` (below the evidence minimum in a clear class)."""
    brief: str = ""
    """:attr:`why` without each model's figures (mean ± interval, ratings), for a
    narrow status bar."""


@dataclass(frozen=True)
class ClassStatus:
    """Where one class's recommendation stands."""

    query_class: str
    confidence: str
    best: Optional[str]
    runner_up: Optional[str]
    labels_to_settle: Optional[int]
    """Labels until the recommendation is clear (None: too close to call, or no data)."""
    line: str
    needs: tuple[CellNeed, ...] = ()
    short: str = ""
    """:attr:`line` without the model names, for a narrow status bar."""
    rated: int = 0
    """Ratings of the class over every model (each label on it adds one)."""
    template: str = ""
    """:attr:`line` with its count left open (empty: the line has no count), so a
    caller can say a smoothed count in the same words (:meth:`QueueStatus.told`)."""
    short_template: str = ""
    """:attr:`short` likewise."""

    def told(self, count: Optional[int] = None) -> tuple[str, str]:
        """(line, short) with *count* for the labels to settle (None: the estimate)."""
        if count is None or not self.template:
            return self.line, self.short
        n = say_count(count)
        return self.template.replace(_N, n), (self.short_template or self.template).replace(_N, n)

    @property
    def open(self) -> bool:
        """Not clear yet, and labels can change that (a class with no rated trace is
        open while it has traces to label)."""
        if self.confidence == "clear":
            return False
        return self.confidence != "no data" or bool(self.needs)


@dataclass(frozen=True)
class QueueItem:
    """The next trace to label and why."""

    trace_id: str
    query_class: str
    model: str
    why: str
    brief: str = ""
    """:attr:`why` without the models' figures (:attr:`CellNeed.brief`)."""


@dataclass
class QueueStatus:
    """The whole queue: per class, and one line for the status bar."""

    classes: List[ClassStatus] = field(default_factory=list)
    line: str = ""
    short: str = ""
    """:attr:`line` in fewer words (the class and the count first), for a narrow bar."""

    @property
    def settled(self) -> bool:
        """Every class's recommendation is clear."""
        return not any(c.open for c in self.classes)

    @property
    def labels_to_settle(self) -> Optional[int]:
        """Sum over the unsettled classes (None if any is too close to call)."""
        total = 0
        for c in self.classes:
            if not c.open:
                continue
            if c.labels_to_settle is None:
                return None
            total += c.labels_to_settle
        return total

    def told(self, counts: Optional[Dict[str, int]] = None) -> tuple[str, str]:
        """(:attr:`line`, :attr:`short`), with *counts* (class → labels to settle) said
        in place of the estimates of those classes: the nearest decision (by the
        estimates), then how many classes are open and the labels in all."""
        counts = counts or {}
        open_ = [c for c in self.classes if c.open]
        if not open_:
            thin = sum(1 for c in self.classes for n in c.needs)
            line = "every routing recommendation is clear" + (
                f" ({thin} thin cells left to check)" if thin else ""
            )
            return line, line
        first = min(open_, key=lambda c: (c.labels_to_settle is None,
                                          c.labels_to_settle or 0, c.query_class))  # fmt: skip
        total: Optional[int] = 0
        for c in open_:
            if c.labels_to_settle is None or total is None:
                total = None
            else:
                total += counts.get(c.query_class, c.labels_to_settle)
        head, head_short = first.told(counts.get(first.query_class))
        in_all = ""
        if total is not None:  # always an estimate: "~", rounded once smoothed
            in_all = say_count(total) if counts else f"{total:,}"
            in_all = in_all if in_all.startswith("~") else f"~{in_all}"
        line = head + (
            f" · {len(open_)} classes open, {in_all} labels in all"
            if total is not None and len(open_) > 1
            else f" · {len(open_)} classes open"
            if len(open_) > 1
            else ""
        )
        short = head_short + (f" · {len(open_)} classes open" if len(open_) > 1 else "")
        return line, short


def _sd(cell: MatrixCell) -> float:
    r = cell.rated
    if r.n < 2 or math.isnan(r.mean):
        return _PRIOR_SD
    half = max(r.high - r.mean, r.mean - r.low)  # the side not clipped at 0 or 1
    return max(half * math.sqrt(r.n) / Z95, 0.1 / math.sqrt(12))


def _separation(
    best: MatrixCell, runner: MatrixCell, min_samples: int
) -> Optional[tuple[int, int]]:
    """Labels (best, runner-up) so their intervals stop overlapping, if the means hold."""
    margin = best.rated.mean - runner.rated.mean
    if margin < TOO_CLOSE:
        return None
    a, c = Z95 * _sd(best), Z95 * _sd(runner)
    na, nc = best.rated.n, runner.rated.n
    wa, wc = a ** (2 / 3), c ** (2 / 3)
    t = ((wa + wc) / margin) ** 2
    ka, kc = max(0.0, t * wa - na), max(0.0, t * wc - nc)
    if ka == 0.0 or kc == 0.0:  # one side already has enough: solve for the other alone
        if ka == 0.0:
            left = margin - a / math.sqrt(max(na, 1))
            kc = (c / left) ** 2 - nc if left > 0 else MAX_ESTIMATE
        else:
            left = margin - c / math.sqrt(max(nc, 1))
            ka = (a / left) ** 2 - na if left > 0 else MAX_ESTIMATE
    ka = max(ka, min_samples - na, 0.0)
    kb, kr = math.ceil(ka), math.ceil(max(kc, 0.0))
    if kb + kr == 0:
        kb = 1  # not clear yet by the matrix's own test: one more label at least
    if kb + kr > MAX_ESTIMATE:
        return None
    return kb, kr


def _solve_other(fixed: float, n_fixed: float, other: float, n_other: int, margin: float
                 ) -> Optional[int]:  # fmt: skip
    """Labels the other side needs once one side has *n_fixed* ratings (None: never)."""
    left = margin - fixed / math.sqrt(max(n_fixed, 1))
    if left <= 0:
        return None
    return max(math.ceil((other / left) ** 2 - n_other), 0)


def _separation_within(
    best: MatrixCell, runner: MatrixCell, min_samples: int, sep: tuple[int, int]
) -> Optional[tuple[int, int]]:
    """*sep* (the optimal split) capped by the unrated traces each side has left: with
    one side labelled to its last trace, what the other needs (None: the traces left
    cannot separate them if the means hold)."""
    left_b, left_r = _unrated(best), _unrated(runner)
    if sep[0] <= left_b and sep[1] <= left_r:
        return sep
    margin = best.rated.mean - runner.rated.mean
    a, c = Z95 * _sd(best), Z95 * _sd(runner)
    na, nc = best.rated.n, runner.rated.n
    options: List[tuple[int, int]] = []
    kr = _solve_other(a, na + left_b, c, nc, margin)  # every best trace labelled
    if kr is not None:
        options.append((max(left_b, min_samples - na, 0), kr))
    kb = _solve_other(c, nc + left_r, a, na, margin)  # every runner-up trace labelled
    if kb is not None:
        options.append((max(kb, min_samples - na, 0), left_r))
    fits = [o for o in options if o[0] <= left_b and o[1] <= left_r]
    return min(fits, key=lambda o: (o[0] + o[1], o)) if fits else None


_FIGURES = re.compile("\x00[^\x00]*\x00")
"""A model's figures in a why (:func:`_fmt`): kept in :attr:`CellNeed.why`, left out of
its brief."""


def _fmt(cell: MatrixCell) -> str:
    """The cell's model and its figures, the figures marked (:data:`_FIGURES`)."""
    r = cell.rated
    if r.n == 0:
        return f"{cell.model}\x00 (unrated)\x00"
    return f"{cell.model}\x00 ({r.mean:.2f} ± {(r.high - r.low) / 2:.2f}, {r.n:,} rated)\x00"


def _unrated(cell: MatrixCell) -> int:
    return max(cell.n - cell.rated.n, 0)


def plan(matrix: RoutingMatrix) -> List[ClassStatus]:
    """Per class of *matrix*: its standing and the cells a label would help.

    A cell with no unrated trace left is never asked for (nothing to label there),
    and no cell is asked for more labels than it has unrated traces.
    """
    out: List[ClassStatus] = []
    min_n = matrix.min_samples
    floor_n = min(FLOOR, min_n)
    for qc in matrix.classes:
        rec = matrix.recommendations[qc]
        cells = {m: c for (q, m), c in matrix.cells.items() if q == qc}
        best = cells.get(rec.best) if rec.best else None
        runner = cells.get(rec.runner_up) if rec.runner_up else None
        needs: List[CellNeed] = []

        def need(cell: MatrixCell, tier: int, kind: str, labels: int, why: str,
                 needs: List[CellNeed] = needs) -> None:  # fmt: skip
            labels = min(labels, _unrated(cell))
            if labels > 0:
                brief = _FIGURES.sub("", why)
                needs.append(CellNeed(cell.query_class, cell.model, tier, cell.rated.n,
                                      labels, why.replace("\x00", ""), kind,
                                      brief))  # fmt: skip

        estimate: Optional[int] = None
        short = ""
        template = short_template = ""  # the line with its count open (_N)
        if rec.confidence == "clear":
            assert best is not None
            line = f"{qc}: {rec.best} is clear"
            for _m, c in sorted(cells.items()):
                if c.rated.n < min_n and c.rated.high >= best.rated.low:
                    need(c, 2, "thin", min_n - c.rated.n,
                         f"{qc}: {_fmt(c)} is below the evidence minimum ({min_n}); "
                         f"{rec.best} is clear so far")  # fmt: skip
            estimate = 0
        else:
            # Every model the class was served by gets a few ratings first: with
            # fewer, a model nobody rated could be the best, and the matrix would
            # call the class clear on the one model it has seen.
            # The best and the runner-up count their floor inside their separation
            # labels (the larger of the two), never on top of it.
            floor_k = {
                m: k
                for m, c in sorted(cells.items())
                if c.rated.n < floor_n and (k := min(floor_n - c.rated.n, _unrated(c))) > 0
            }
            pair = {rec.best, rec.runner_up} if best is not None else set()
            for m, k in floor_k.items():
                if m not in pair:
                    need(cells[m], 0, "floor", k,
                         f"{qc}: {_fmt(cells[m])} has too few ratings to rule it out")  # fmt: skip
            floor_total = sum(k for m, k in floor_k.items() if m not in pair)
            if best is None:
                line = short = f"{qc}: no rated traces"
            else:
                if runner is None:
                    k_best, k_run = max(min_n - best.rated.n, 1), 0
                    if k_best > _unrated(best):
                        line = (
                            f"{qc}: {rec.best} has fewer unlabelled traces "
                            f"({_unrated(best):,}) than the evidence minimum needs"
                        )
                        short = f"{qc}: fewer traces left than the evidence minimum needs"
                    else:
                        estimate = floor_total + max(k_best, floor_k.get(best.model, 0))
                        template = (f"{qc}: {_N} more labels to give {rec.best} the "
                                    "evidence minimum")  # fmt: skip
                        short_template = f"{qc}: {_N} more labels to settle"
                else:
                    means = f"{best.rated.mean:.2f} vs {runner.rated.mean:.2f}"
                    sep = _separation(best, runner, min_n)
                    fit = _separation_within(best, runner, min_n, sep) if sep else None
                    if sep is None or fit is None:
                        # Labels can still move the means: every unlabelled trace of
                        # both cells stays queued (not one each: a queue of two that
                        # became fifty and two again as the margin crossed TOO_CLOSE).
                        k_best = k_run = MAX_ESTIMATE
                        why = (
                            "are too close to separate"
                            if sep is None
                            else "cannot be separated with the traces left"
                        )
                        line = f"{qc}: {rec.best} and {rec.runner_up} {why} ({means})"
                        short = f"{qc}: " + (
                            "too close to separate" if sep is None
                            else "too few traces left to separate"
                        )  # fmt: skip
                    else:
                        k_best, k_run = fit
                        estimate = (floor_total + max(k_best, floor_k.get(best.model, 0))
                                    + max(k_run, floor_k.get(runner.model, 0)))  # fmt: skip
                        template = f"{qc}: {_N} more labels to separate {rec.best} from "
                        template += f"{rec.runner_up}"
                        short_template = f"{qc}: {_N} more labels to settle"
                floors = set(floor_k)
                b_floor = floor_k.get(best.model, 0)
                if max(k_best, b_floor) > 0:
                    why = (
                        f"{qc}: {_fmt(best)} has {best.rated.n} of {min_n} ratings needed"
                        if best.rated.n < min_n
                        else f"{qc}: {_fmt(best)} overlaps {_fmt(runner)}"
                        if runner
                        else f"{qc}: {_fmt(best)}"
                    )
                    need(best, 0, "separate" if k_best >= b_floor else "floor",
                         max(k_best, b_floor), why)  # fmt: skip
                r_floor = floor_k.get(runner.model, 0) if runner is not None else 0
                if runner is not None and max(k_run, r_floor) > 0:
                    need(runner, 0, "separate" if k_run >= r_floor else "floor",
                         max(k_run, r_floor),
                         f"{qc}: runner-up {_fmt(runner)} overlaps {_fmt(best)}")  # fmt: skip
                for m, c in sorted(cells.items()):
                    if m in (rec.best, rec.runner_up) or m in floors:
                        continue
                    thin = c.rated.n < min_n
                    if thin or c.rated.high >= best.rated.low:
                        k = max(min_n - c.rated.n, 1) if thin else max(1, min_n // 3)
                        need(c, 1, "contender", k,
                             f"{qc}: {_fmt(c)} could still beat {rec.best}")  # fmt: skip
                if not any(n.tier == 0 for n in needs):
                    estimate = None
                    template = short_template = ""
                    line = (
                        f"{qc}: every trace that could settle it is labelled; {rec.best} and "
                        f"{rec.runner_up} still overlap"
                        if runner is not None
                        else f"{qc}: every trace of {rec.best} is labelled, below the "
                        f"evidence minimum ({min_n})"
                    )
                    short = f"{qc}: every trace that could settle it is labelled"
        if template:
            line = template.replace(_N, f"{estimate:,}")
            short = short_template.replace(_N, f"{estimate:,}")
        rated = sum(c.rated.n for c in cells.values())
        out.append(ClassStatus(qc, rec.confidence, rec.best, rec.runner_up, estimate, line,
                               tuple(needs), short or line, rated, template,
                               short_template))  # fmt: skip
    return out


_KIND_RANK = {"floor": 0, "separate": 1, "contender": 2, "thin": 3}


def order(classes: Sequence[ClassStatus], k: int) -> List[CellNeed]:
    """The next *k* cells to label: tier by tier (a few ratings on every model of an
    open class before separating its best from its runner-up); classes closest to
    settling first; within a class the cell with the most labels still to give (so
    both sides of a close call advance together)."""
    need_of = {(n.query_class, n.model, n.tier): n for c in classes for n in c.needs}
    left = {key: n.labels for key, n in need_of.items()}
    remaining = {c.query_class: c.labels_to_settle for c in classes}
    picked: List[CellNeed] = []
    while len(picked) < k and any(v > 0 for v in left.values()):

        def rank(key: tuple[str, str, int]) -> tuple[Any, ...]:
            qc, _m, tier = key
            rem = remaining.get(qc)
            kind = _KIND_RANK.get(need_of[key].kind, 9)
            return (tier, kind, math.inf if rem is None else rem, -left[key], key)

        key = min((key for key, v in left.items() if v > 0), key=rank)
        left[key] -= 1
        if remaining.get(key[0]) is not None and key[2] == 0:
            remaining[key[0]] = max((remaining[key[0]] or 0) - 1, 0)
        picked.append(need_of[key])
    return picked


SMOOTHING = 0.15
"""Weight of a new estimate against the running one (:class:`SettleSmoother`)."""


def say_count(count: int) -> str:
    """A smoothed count in words that do not claim more than it knows: two significant
    figures from 100 on (``~270``), whole below."""
    if count < 100:
        return f"{count:,}"
    step = 10 ** (len(str(count)) - 2)
    return f"~{round(count / step) * step:,}"


class SettleSmoother:
    """How far each class is from settling, steadied over the labels given.

    The estimate is what the best and the runner-up need if their means stay where
    they are; each label moves the means a little and the estimate (a difference of
    large numbers) a lot: on the demo, 278, 242, 209, 238, 268 over five labels on a
    cell with ~460 ratings. Here each new rating of a class counts one label off the
    running figure, which then moves a :data:`SMOOTHING` share of the way to the new
    estimate (an average over about the last ten labels); a count of 10 or fewer is
    said as estimated (its swings are a label or two)."""

    def __init__(self, weight: float = SMOOTHING) -> None:
        self.weight = weight
        self._held: Dict[tuple[Any, str], tuple[float, int]] = {}
        """(scope, class) → (running figure, the class's ratings then)."""

    def counts(self, status: QueueStatus, scope: Any = None) -> Dict[str, int]:
        """Class → labels to settle, steadied, for the open classes that have an
        estimate; *scope* keeps apart figures of different matrices (an agent filter)."""
        out: Dict[str, int] = {}
        for c in status.classes:
            key = (scope, c.query_class)
            raw = c.labels_to_settle
            if not c.open or raw is None or not c.template:
                self._held.pop(key, None)
                continue
            held = self._held.get(key)
            if held is None or raw <= 10:
                value = float(raw)
            else:
                before, rated_then = held
                expected = max(before - max(c.rated - rated_then, 0), 0.0)
                value = expected + self.weight * (raw - expected)
            self._held[key] = (value, c.rated)
            out[c.query_class] = max(1, round(value))
        return out


class LabelQueue:
    """Unrated traces in the order that settles routing decisions soonest.

    *store* is our :class:`TraceStore`; *agent*, *query_class* and *model* narrow the
    queue (the Routing pane's "label where it matters" passes its cell).
    """

    def __init__(
        self,
        store: Any,
        *,
        agent: Optional[str] = None,
        query_class: Optional[str] = None,
        model: Optional[str] = None,
        min_samples: int = 30,
    ) -> None:
        self._store = store
        self.agent = agent
        self.query_class = query_class
        self.model = model
        self.min_samples = min_samples
        self._miner = TrainingDataMiner(store)

    def matrix(self) -> RoutingMatrix:
        return self._miner.routing_matrix(agent=self.agent, min_samples=self.min_samples)

    def _classes(self) -> List[ClassStatus]:
        classes = plan(self.matrix())
        if self.query_class is not None:
            classes = [c for c in classes if c.query_class == self.query_class]
        if self.model is not None:
            classes = [
                ClassStatus(
                    c.query_class,
                    c.confidence,
                    c.best,
                    c.runner_up,
                    c.labels_to_settle,
                    c.line,
                    tuple(n for n in c.needs if n.model == self.model),
                    c.short,
                    c.rated,
                    c.template,
                    c.short_template,
                )  # fmt: skip
                for c in classes
            ]
        return classes

    def status(self) -> QueueStatus:
        """Every class's standing; :attr:`QueueStatus.line` names the nearest decision."""
        status = QueueStatus(self._classes())
        status.line, status.short = status.told()
        return status

    def next(self, k: int = 1, *, exclude: Iterable[str] = ()) -> List[QueueItem]:
        """The next *k* unrated traces, most decisive first, each with a one-line why."""
        skip = set(exclude)
        cells = order(self._classes(), k)
        wanted: Dict[tuple[str, str], int] = {}
        for n in cells:
            wanted[(n.query_class, n.model)] = wanted.get((n.query_class, n.model), 0) + 1
        pools = {key: self._unrated(key[0], key[1], count + len(skip), skip)
                 for key, count in wanted.items()}  # fmt: skip
        out: List[QueueItem] = []
        used: set[str] = set()
        for n in cells:
            pool = pools[(n.query_class, n.model)]
            while pool and pool[0] in used:
                pool.pop(0)
            if not pool:
                continue
            tid = pool.pop(0)
            used.add(tid)
            out.append(QueueItem(tid, n.query_class, n.model, n.why, n.brief))
        return out

    def _unrated(self, qclass: str, model: str, limit: int, skip: set[str]) -> List[str]:
        """Unrated traces of one cell (no feedback score), newest first (the cell's index,
        then a sort).

        Only a score moves routing, and :func:`plan` counts a cell's traces without one
        (``cell.n - cell.rated.n``) as labelable, so a trace with an outcome (✓/✗) but
        no score is offered too: offering only traces with neither left the plan asking
        for labels the queue could not give (the demo's queue never cleared). The Traces
        pane's queue view filters and counts by this rule (``TraceFilter.rated``)."""
        from jarvis_tui.traces.read_conn import read_connection

        where = ["r.model = ?", "r.feedback IS NULL"]
        params: List[Any] = [model]
        if qclass == "general":
            where.append("(r.qclass = 'general' OR r.qclass IS NULL)")
        else:
            where.append("r.qclass = ?")
            params.append(qclass)
        if self.agent is not None:
            where.append("r.agent = ?")
            params.append(self.agent)
        with read_connection(self._store) as c:
            rows = c.conn.execute(
                f"SELECT t.trace_id FROM {c.schema}.jt_rows r JOIN main.traces t ON t.id = r.id"
                f" WHERE {' AND '.join(where)} ORDER BY r.started_at DESC, r.id DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [r[0] for r in rows if r[0] not in skip]


__all__ = [
    "CellNeed",
    "ClassStatus",
    "LabelQueue",
    "QueueItem",
    "QueueStatus",
    "SettleSmoother",
    "order",
    "plan",
]
