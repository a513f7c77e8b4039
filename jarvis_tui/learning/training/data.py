"""TrainingDataMiner — extract supervised training pairs and routing evidence from traces.

Three extraction modes, as in OpenJarvis:

* **SFT pairs** — (input, output) pairs from high-quality traces;
* **routing pairs** — per query class, the model with the best feedback;
* **agent config pairs** — per query class, the best agent and its tools.

Differences from the reference, on purpose:

* Every trace is read, not the newest 10,000: on our :class:`TraceStore` the
  statistics are computed in SQL over the whole store, and the SFT pairs are
  streamed; any other store object is streamed through ``iter_traces`` (or read
  whole through ``list_traces``).
* Quality data is a trace with feedback ≥ ``min_quality`` whose outcome is
  ``success`` *or unknown*. Real OpenJarvis traces usually carry no outcome (its
  collector never sets one, and a feedback label sets only the score), so the
  reference's ``outcome == "success"`` mines nothing from real data. An explicit
  ``failure`` stays out.
* Ties are broken deterministically (higher mean, then more samples, then name).
* :meth:`routing_matrix` gives, for every class × model cell, the sample count,
  mean feedback with a 95% interval, mean latency and tokens, and marks a
  recommendation "not enough evidence" below a minimum; an unrated trace is
  unrated there, never a 0.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional

from jarvis_tui.core.types import StepType, Trace
from jarvis_tui.learning.classify import QUERY_CLASSES, classify_query
from jarvis_tui.learning.stats import MeanCI, mean_ci


def _empty_cell(qclass: str, model: str) -> Dict[str, Any]:
    """Accumulator for one class × model cell (sums; means are taken at the end)."""
    return {"qclass": qclass, "model": model, "n": 0, "rated": 0, "fb_sum": 0.0,
            "fb_sq_sum": 0.0, "latency": 0.0, "tokens": 0.0, "success": 0, "failure": 0}  # fmt: skip


def _rank_key(item: tuple[str, float, int]) -> tuple[float, int, str]:
    name, avg, count = item
    return (-avg, -count, name)


@dataclass(frozen=True)
class MatrixCell:
    """Evidence for one model on one query class (all rated traces, not only good ones)."""

    query_class: str
    model: str
    n: int
    """Traces in the cell."""
    rated: MeanCI
    """Mean feedback over the rated traces, with its 95% interval."""
    latency: float
    tokens: float
    success: int
    failure: int


@dataclass(frozen=True)
class ClassRecommendation:
    """Which model wins a query class, and how sure that is."""

    query_class: str
    best: Optional[str]
    runner_up: Optional[str]
    margin: Optional[float]
    """Mean-feedback lead of the best over the runner-up."""
    confidence: str
    """``clear`` (intervals do not overlap), ``likely`` (they overlap),
    ``not enough evidence`` (too few ratings), or ``no data``."""
    rated: int
    challenger: Optional[str] = None
    """A model with a higher mean than *best* but fewer ratings than the evidence
    minimum (it "could be better"), or None."""
    challenger_needs: int = 0
    """Ratings *challenger* still needs to reach the evidence minimum."""


@dataclass
class RoutingMatrix:
    """Class × model evidence over every trace of the store."""

    cells: Dict[tuple[str, str], MatrixCell] = field(default_factory=dict)
    recommendations: Dict[str, ClassRecommendation] = field(default_factory=dict)
    models: List[str] = field(default_factory=list)
    classes: List[str] = field(default_factory=list)
    min_samples: int = 30


class TrainingDataMiner:
    """Extract supervised training pairs from stored traces.

    Parameters
    ----------
    trace_store:
        Any object with a ``list_traces(limit=...)`` method returning
        ``List[Trace]`` (typically a :class:`TraceStore`; then every statistic is
        computed in SQL and nothing is capped).
    min_quality:
        Minimum ``feedback`` score for a trace to be included.
    min_samples_per_class:
        Minimum number of samples a query class must have to appear in
        routing/agent-config results.
    """

    def __init__(
        self,
        trace_store: Any,
        *,
        min_quality: float = 0.7,
        min_samples_per_class: int = 1,
    ) -> None:
        self._store = trace_store
        self._min_quality = min_quality
        self._min_samples_per_class = min_samples_per_class
        self._cube_cache: Dict[str, Any] = {}

    @property
    def min_quality(self) -> float:
        return self._min_quality

    # -- helpers ----------------------------------------------------------------

    def _fast(self) -> bool:
        """Our own store: aggregate in SQL."""
        return all(hasattr(self._store, name) for name in ("cube", "tool_counts", "iter_pairs"))

    def _cube(self, agent: Optional[str]) -> List[Dict[str, Any]]:
        """One index scan gives every statistic; cached until the store changes."""
        token = self._store.change_token() if hasattr(self._store, "change_token") else None
        key = (agent, self._min_quality, token)
        if token is None or self._cube_cache.get("key") != key:
            self._cube_cache = {
                "key": key,
                "rows": self._store.cube(min_quality=self._min_quality, agent=agent),
            }
        return self._cube_cache["rows"]

    def _iter_all(self, agent: Optional[str]) -> Iterator[Trace]:
        if hasattr(self._store, "iter_traces"):
            yield from self._store.iter_traces(agent=agent)
            return
        kwargs: Dict[str, Any] = {"limit": sys.maxsize}
        if agent is not None:
            kwargs["agent"] = agent
        yield from self._store.list_traces(**kwargs)

    def _is_quality(self, t: Trace) -> bool:
        return t.feedback is not None and t.feedback >= self._min_quality and t.outcome != "failure"

    def _quality_traces(self, *, agent: Optional[str] = None) -> Iterator[Trace]:
        """Traces with feedback ≥ min_quality and outcome success or unknown."""
        for t in self._iter_all(agent):
            if self._is_quality(t):
                yield t

    @staticmethod
    def _tools_from_trace(trace: Trace) -> List[str]:
        """Tool names from TOOL_CALL steps (``input={"tool": name}``)."""
        tools: List[str] = []
        for step in trace.steps:
            stype = getattr(step.step_type, "value", step.step_type)
            if stype == StepType.TOOL_CALL.value and isinstance(step.input, dict):
                name = step.input.get("tool")
                if isinstance(name, str) and name:
                    tools.append(name)
        return tools

    # -- public API -------------------------------------------------------------

    def extract_sft_pairs(self, *, agent: str | None = None) -> List[Dict[str, Any]]:
        """Return SFT training pairs from high-quality traces.

        Each entry is a dict with keys: ``input``, ``output``,
        ``query_class``, ``model``, ``feedback``.

        Duplicate ``(input, output)`` pairs are collapsed; the first occurrence
        (newest first, as the reference reads) is kept. A store with only
        ``list_traces`` gives its pairs in the order it returns the traces.
        """
        return list(self.iter_sft_pairs(agent=agent))

    def iter_sft_pairs(self, *, agent: str | None = None) -> Iterator[Dict[str, Any]]:
        """:meth:`extract_sft_pairs` as a stream."""
        seen: set[tuple[str, str]] = set()
        source: Iterable[tuple[str, str, str, Optional[float], Optional[str]]]
        if self._fast():
            source = self._store.iter_pairs(
                agent=agent, min_feedback=self._min_quality, exclude_failures=True
            )
        elif hasattr(self._store, "iter_traces"):
            ordered = sorted(
                self._quality_traces(agent=agent), key=lambda t: t.started_at, reverse=True
            )
            source = ((t.query, t.result, t.model, t.feedback, None) for t in ordered)
        else:
            # A store with only list_traces (the reference's interface) already returns
            # its traces in the order it means (OpenJarvis: newest first): keep it, as
            # the reference does, and stream instead of sorting everything in memory.
            source = (
                (t.query, t.result, t.model, t.feedback, None)
                for t in self._quality_traces(agent=agent)
            )
        for query, result, model, feedback, qclass in source:
            key = (query, result)  # shares the strings kept in the output
            if key in seen:
                continue
            seen.add(key)
            yield {
                "input": query,
                "output": result,
                "query_class": qclass or classify_query(query),
                "model": model,
                "feedback": feedback,
            }

    def _class_group_stats(
        self, column: str, agent: Optional[str]
    ) -> Dict[str, Dict[str, tuple[float, int]]]:
        """``{class: {key: (sum_feedback, count)}}`` over quality traces."""
        out: Dict[str, Dict[str, tuple[float, int]]] = defaultdict(dict)
        if self._fast():
            for row in self._cube(agent):
                if row["outcome"] == "failure" or not row["q_n"]:
                    continue
                qc = row["qclass"] or "general"
                fb, n = out[qc].get(row[column], (0.0, 0))
                out[qc][row[column]] = (fb + row["q_fb_sum"], n + row["q_n"])
            return out
        acc: Dict[str, Dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for t in self._quality_traces(agent=agent):
            key = t.model if column == "model" else t.agent
            acc[classify_query(t.query)][key].append(float(t.feedback or 0.0))
        for qc, groups in acc.items():
            for key, scores in groups.items():
                out[qc][key] = (sum(scores), len(scores))
        return out

    def extract_routing_pairs(self, *, agent: str | None = None) -> Dict[str, Dict[str, Any]]:
        """Return per-query-class routing recommendations.

        Returns a dict mapping query class to:

        * ``best_model`` — model with highest average feedback for the class.
        * ``avg_feedback`` — average feedback across all models for the class.
        * ``sample_count`` — total number of qualifying traces in the class.
        * ``all_models`` — dict of ``{model: {"avg_feedback": float, "count": int}}``.
        """
        result: Dict[str, Dict[str, Any]] = {}
        for qc, models in sorted(self._class_group_stats("model", agent).items()):
            total = sum(c for _, c in models.values())
            if total < self._min_samples_per_class or total == 0:
                continue
            ranked = sorted(((m, s / c, c) for m, (s, c) in models.items() if c), key=_rank_key)
            result[qc] = {
                "best_model": ranked[0][0],
                "avg_feedback": sum(s for s, _ in models.values()) / total,
                "sample_count": total,
                "all_models": {m: {"avg_feedback": a, "count": c} for m, a, c in ranked},
            }
        return result

    def extract_agent_config_pairs(self, *, agent: str | None = None) -> Dict[str, Dict[str, Any]]:
        """Return per-query-class agent and tool recommendations.

        Returns a dict mapping query class to:

        * ``best_agent`` — agent with the highest average feedback.
        * ``best_tools`` — most frequently used tools by the best agent.
        * ``avg_feedback`` — average feedback across all agents for the class.
        * ``sample_count`` — total number of qualifying traces in the class.
        """
        stats = self._class_group_stats("agent", agent)
        if self._fast():
            best_pairs = sorted(
                (qc, min(((a, s / c, c) for a, (s, c) in agents.items() if c), key=_rank_key)[0])
                for qc, agents in stats.items()
                if any(c for _, c in agents.values())
            )
            tools = self._store.tool_counts(
                ("qclass", "agent"),
                agent=agent,
                min_feedback=self._min_quality,
                exclude_failures=True,
                pairs=best_pairs,
            )
        else:
            tools = defaultdict(lambda: defaultdict(int))
            for t in self._quality_traces(agent=agent):
                for name in self._tools_from_trace(t):
                    tools[(classify_query(t.query), t.agent)][name] += 1
        result: Dict[str, Dict[str, Any]] = {}
        for qc, agents in sorted(stats.items()):
            total = sum(c for _, c in agents.values())
            if total < self._min_samples_per_class or total == 0:
                continue
            ranked = sorted(((a, s / c, c) for a, (s, c) in agents.items() if c), key=_rank_key)
            best = ranked[0][0]
            freq = tools.get((qc, best), {})
            result[qc] = {
                "best_agent": best,
                "best_tools": sorted(freq, key=lambda n: (-freq[n], n)),
                "avg_feedback": sum(s for s, _ in agents.values()) / total,
                "sample_count": total,
            }
        return result

    # -- evidence for the Routing pane -------------------------------------------

    def routing_matrix(self, *, agent: str | None = None, min_samples: int = 30) -> RoutingMatrix:
        """Class × model evidence over every rated trace (not only good ones).

        A class's recommendation needs *min_samples* ratings on its best model;
        below that it says "not enough evidence".
        """
        matrix = RoutingMatrix(min_samples=min_samples)
        rows: List[Dict[str, Any]]
        if self._fast():
            merged: Dict[tuple[str, str], Dict[str, Any]] = {}
            for c in self._cube(agent):
                key = (c["qclass"], c["model"])
                d = merged.setdefault(key, _empty_cell(*key))
                d["n"] += c["n"]
                d["rated"] += c["rated"]
                d["fb_sum"] += c["fb_sum"]
                d["fb_sq_sum"] += c["fb_sq_sum"]
                d["latency"] += c["latency_sum"]
                d["tokens"] += c["tokens_sum"]
                d["success"] += c["n"] if c["outcome"] == "success" else 0
                d["failure"] += c["n"] if c["outcome"] == "failure" else 0
            rows = []
            for d in merged.values():
                d["latency"] /= d["n"]
                d["tokens"] /= d["n"]
                rows.append(d)
        else:
            acc: Dict[tuple[str, str], Dict[str, Any]] = {}
            for t in self._iter_all(agent):
                key = (classify_query(t.query), t.model)
                d = acc.setdefault(key, _empty_cell(*key))
                d["n"] += 1
                d["latency"] += t.total_latency_seconds
                d["tokens"] += t.total_tokens
                d["success"] += t.outcome == "success"
                d["failure"] += t.outcome == "failure"
                if t.feedback is not None:
                    d["rated"] += 1
                    d["fb_sum"] += t.feedback
                    d["fb_sq_sum"] += t.feedback * t.feedback
            rows = []
            for d in acc.values():
                d["latency"] /= d["n"]
                d["tokens"] /= d["n"]
                rows.append(d)
        models: set[str] = set()
        for d in rows:
            qc = d["qclass"] or "general"
            models.add(d["model"])
            matrix.cells[(qc, d["model"])] = MatrixCell(
                query_class=qc,
                model=d["model"],
                n=d["n"],
                rated=mean_ci(d["rated"], d["fb_sum"], d["fb_sq_sum"]),
                latency=d["latency"],
                tokens=d["tokens"],
                success=int(d["success"]),
                failure=int(d["failure"]),
            )
        matrix.models = sorted(models)
        matrix.classes = [c for c in QUERY_CLASSES if any(k[0] == c for k in matrix.cells)]
        for qc in matrix.classes:
            matrix.recommendations[qc] = self.recommend(matrix, qc, min_samples)
        return matrix

    @staticmethod
    def recommend(matrix: RoutingMatrix, qc: str, min_samples: int) -> ClassRecommendation:
        """The model to route class *qc* to on *matrix*'s rated cells: the best mean
        feedback, with how sure that is ("no data" without a rated cell).

        A cell with fewer than *min_samples* ratings does not win over one that has
        them (one lucky rating does not beat thirty) unless its whole interval lies
        above that one's (then it wins, as "not enough evidence"); otherwise it is
        named as the ``challenger`` that could be better, with the ratings it still
        needs. When no cell has enough ratings, the best mean wins as "not enough
        evidence" (as before), except that a single rating does not win over a cell
        with two or more (it is the challenger then).
        """
        cells = [c for (q, _), c in matrix.cells.items() if q == qc and c.rated.n > 0]
        rated = sum(c.rated.n for c in cells)
        if not cells:
            return ClassRecommendation(qc, None, None, None, "no data", 0)
        cells.sort(key=lambda c: (-c.rated.mean, -c.rated.n, c.model))
        settled = [c for c in cells if c.rated.n >= min_samples]
        challenger = None
        if settled:
            bar = settled[0]
            # Thin cells that are not clearly better than the best settled one cannot win.
            eligible = [
                c for c in cells if c.rated.n >= min_samples or c.rated.low > bar.rated.high
            ]
            best = eligible[0]
            challenger = next((c for c in cells if c not in eligible), None)
            if challenger is not None and challenger.rated.mean <= best.rated.mean:
                challenger = None
            after = cells[cells.index(best) + 1 :]  # the next best mean, whatever its ratings
            runner = after[0] if after else None
        else:
            # Nothing settled: the best mean, but one rating (an interval of [0, 1]:
            # nothing known) does not win over a cell with two or more.
            known = [c for c in cells if c.rated.n >= 2] or cells
            best = known[0]
            if cells[0] is not best and cells[0].rated.mean > best.rated.mean:
                challenger = cells[0]
            after = cells[cells.index(best) + 1 :]
            runner = after[0] if after else None
        margin = best.rated.mean - runner.rated.mean if runner else None
        if best.rated.n < min_samples:
            confidence = "not enough evidence"
        elif challenger is None and (runner is None or best.rated.low > runner.rated.high):
            confidence = "clear"
        else:
            confidence = "likely"
        return ClassRecommendation(
            qc, best.model, runner.model if runner else None, margin, confidence, rated,
            challenger.model if challenger else None,
            min_samples - challenger.rated.n if challenger else 0,
        )  # fmt: skip


__all__ = [
    "ClassRecommendation",
    "MatrixCell",
    "RoutingMatrix",
    "TrainingDataMiner",
]
