"""Trace-driven router policy: learns ``query class -> model`` from interaction history.

Mirrors ``openjarvis.learning.trace_policy``: traces are grouped by
:func:`classify_query`, each model is scored within a class from trace outcomes and
user feedback, and a class's best model is used once the class has ``min_samples``
samples; otherwise the fallback chain (default model -> fallback model -> first
available) answers.

Differences from OpenJarvis, on purpose:

* **Every trace is read.** OpenJarvis reads the newest 10,000 traces
  (``list_traces(limit=10_000)``), so on a larger store the oldest evidence is
  silently dropped. :meth:`TraceDrivenPolicy.update_from_traces` streams the whole store
  through ``TraceStore.iter_traces`` (memory bounded by one batch; steps are skipped
  when the store offers ``with_steps=False``) and can be stopped between batches.
* **Unknown is not bad.** A sample is a trace with a feedback score or a known outcome.
  Traces with neither are counted as *unrated* and carry no weight; a missing feedback
  is never read as 0 and a missing outcome never as a failure (OpenJarvis counts
  unknown outcomes as failures in the success rate). ``min_samples`` counts samples,
  not raw traces.
* **Score.** ``0.6 * success rate + 0.4 * mean feedback`` as in OpenJarvis when both
  are known; with only one of them known the score is that one (OpenJarvis
  substitutes 0.5 for missing feedback). Ties go to more samples, then to the model name.
* **Unavailable winner.** When the class's best model is not in ``available_models``
  the best *available* learned model is used (OpenJarvis falls straight back to the
  default model).
* **observe()** adds the observation to the same per-model statistics that
  :meth:`~TraceDrivenPolicy.update_from_traces` builds, and re-ranks (OpenJarvis
  keeps a separate, ad-hoc rule for online updates). An update replaces the statistics
  of every class it sees, so an observation also saved to the store is not counted twice.
* The store is duck-typed (anything with ``iter_traces``, else ``list_traces``), and
  :mod:`jarvis_tui.traces.store` is never imported here: the store imports
  :mod:`jarvis_tui.learning.classify`, so importing it back would be circular.
  OpenJarvis's way in, ``TraceDrivenPolicy(analyzer)`` with a ``TraceAnalyzer``
  (anything holding its store as ``_store`` or ``store``), works too; with neither a
  store nor an analyzer an update answers ``{"error": "no analyzer configured"}``.
* It is also an :class:`~jarvis_tui.learning._stubs.IntelligenceLearningPolicy`:
  ``update(trace_store)`` is :meth:`TraceDrivenPolicy.update_from_traces`.

Thread-safety: statistics are swapped under a lock; an update reads the store without
holding it, so ``select_model`` keeps answering from the previous statistics meanwhile.
"""

from __future__ import annotations

import math
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from jarvis_tui.core.registry import RouterPolicyRegistry
from jarvis_tui.core.types import RoutingContext
from jarvis_tui.learning._stubs import IntelligenceLearningPolicy, RouterPolicy
from jarvis_tui.learning.classify import classify_query

if TYPE_CHECKING:
    from jarvis_tui.traces.store import TraceStore

SUCCESS_WEIGHT = 0.6
"""Share of the success rate in a model's score when feedback is known too."""
FEEDBACK_WEIGHT = 0.4
"""Share of the mean feedback in a model's score when the outcome rate is known too."""
PROGRESS_EVERY = 1_000
"""``update_from_traces`` reports progress after this many traces."""


class _ModelScore:
    """Evidence about one model within one query class."""

    __slots__ = (
        "samples", "unrated", "rated", "feedback_sum", "known", "successes", "latency", "timed",
    )  # fmt: skip

    def __init__(self) -> None:
        self.samples = 0
        self.unrated = 0
        self.rated = 0
        self.feedback_sum = 0.0
        self.known = 0
        self.successes = 0
        self.latency = 0.0
        self.timed = 0

    def add(
        self, outcome: Optional[str], feedback: Optional[float], latency: Optional[float] = None
    ) -> None:
        fb = _clean_feedback(feedback)
        result = _clean_outcome(outcome)
        if fb is None and result is None:
            self.unrated += 1
            return
        self.samples += 1
        if latency is not None and math.isfinite(latency) and latency >= 0:
            self.latency += latency
            self.timed += 1
        if fb is not None:
            self.rated += 1
            self.feedback_sum += fb
        if result is not None:
            self.known += 1
            self.successes += result

    def score(self) -> Optional[float]:
        """Composite score in [0, 1], or ``None`` without any sample."""
        sr = self.successes / self.known if self.known else None
        fb = self.feedback_sum / self.rated if self.rated else None
        if sr is not None and fb is not None:
            return SUCCESS_WEIGHT * sr + FEEDBACK_WEIGHT * fb
        if sr is not None:
            return sr
        return fb

    def as_dict(self) -> Dict[str, Any]:
        return {
            "samples": self.samples,
            "unrated": self.unrated,
            "rated": self.rated,
            "avg_feedback": self.feedback_sum / self.rated if self.rated else None,
            "outcomes": self.known,
            "success_rate": self.successes / self.known if self.known else None,
            "avg_latency": self.latency / self.timed if self.timed else None,
            "score": self.score(),
        }


def _clean_feedback(feedback: Any) -> Optional[float]:
    """Feedback in [0, 1], or ``None`` for unrated (missing or not a finite number)."""
    if feedback is None or isinstance(feedback, bool):
        return None
    try:
        value = float(feedback)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(value):
        return None
    return min(1.0, max(0.0, value))


def _clean_outcome(outcome: Any) -> Optional[int]:
    """1 for success, 0 for any other recorded outcome, ``None`` when unknown."""
    if not outcome or not isinstance(outcome, str):
        return None
    return 1 if outcome.strip().lower() == "success" else 0


def _latency(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


_ClassStats = Dict[str, _ModelScore]


def _analyzer_store(analyzer: Any) -> Any:
    """The trace store an analyzer reads (OpenJarvis's ``TraceAnalyzer._store``), or None."""
    for name in ("_store", "store"):
        inner = getattr(analyzer, name, None)
        if inner is not None and (hasattr(inner, "iter_traces") or hasattr(inner, "list_traces")):
            return inner
    return None


def _list_all(source: Any, since: Optional[float], until: Optional[float]) -> Iterator[Any]:
    """Every trace of a store that has only ``list_traces`` (OpenJarvis's interface)."""
    try:
        return iter(source.list_traces(since=since, until=until, limit=sys.maxsize))
    except TypeError:  # a list_traces without since/until
        return iter(source.list_traces(limit=sys.maxsize))


def _stream(iter_traces: Callable[..., Iterator[Any]], **kwargs: Any) -> Iterator[Any]:
    """``iter_traces(**kwargs)`` without steps where the store can skip them (we never
    read steps); a store whose ``iter_traces`` lacks ``with_steps`` streams them all."""
    try:
        return iter_traces(with_steps=False, **kwargs)
    except TypeError:  # a generator binds its arguments at the call, before any row
        return iter_traces(**kwargs)


def _ranking(models: _ClassStats) -> List[Tuple[str, float, int]]:
    """``(model, score, samples)`` best first: score, then samples, then name."""
    ranked = [(m, s.score(), s.samples) for m, s in models.items()]
    scored = [(m, sc, n) for m, sc, n in ranked if sc is not None]
    scored.sort(key=lambda r: (-r[1], -r[2], r[0]))
    return scored


class TraceDrivenPolicy(RouterPolicy, IntelligenceLearningPolicy):
    """Router policy that learns from historical traces.

    Maintains ``query_class -> best_model`` from trace outcomes and feedback; falls back
    to ``default_model`` -> ``fallback_model`` -> first available when a class has fewer
    than :attr:`min_samples` samples. Call :meth:`update_from_traces` to (re)learn from
    a store and :meth:`observe` after single interactions.
    """

    def __init__(
        self,
        store: Optional[TraceStore] = None,
        *,
        analyzer: Optional[Any] = None,
        available_models: Optional[List[str]] = None,
        default_model: str = "",
        fallback_model: str = "",
        min_samples: int = 5,
    ) -> None:
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 0:
            raise ValueError(f"min_samples must be an int >= 0, got {min_samples!r}")
        if store is not None and not (
            hasattr(store, "iter_traces") or hasattr(store, "list_traces")
        ):
            if analyzer is None and _analyzer_store(store) is not None:
                analyzer, store = store, None  # OpenJarvis: TraceDrivenPolicy(analyzer)
            else:
                # Catches TraceDrivenPolicy(["m1", "m2"]): models are a keyword here.
                raise TypeError(
                    f"store must be a TraceStore (with iter_traces), got {type(store).__name__};"
                    " pass models as available_models=[...]"
                )
        if analyzer is not None and _analyzer_store(analyzer) is None:
            raise TypeError(
                f"analyzer must hold a trace store as ._store or .store, got {type(analyzer).__name__}"
            )
        self._store = store
        self._analyzer = analyzer
        self._available: List[str] = list(available_models or [])
        self._default = default_model
        self._fallback = fallback_model
        self.min_samples: int = min_samples
        """Samples a query class needs before its learned model is trusted."""
        self._stats: Dict[str, _ClassStats] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    @property
    def available_models(self) -> List[str]:
        """The models this policy may answer with (empty: any)."""
        return list(self._available)

    @property
    def policy_map(self) -> Dict[str, str]:
        """Current learned routing decisions: class -> best model (a copy, any confidence)."""
        with self._lock:
            out: Dict[str, str] = {}
            for qclass, models in self._stats.items():
                ranking = _ranking(models)
                if ranking:
                    out[qclass] = ranking[0][0]
            return out

    @property
    def sample_counts(self) -> Dict[str, int]:
        """Samples (traces with feedback or a known outcome) per query class."""
        with self._lock:
            return {q: sum(s.samples for s in m.values()) for q, m in self._stats.items()}

    def class_stats(self) -> Dict[str, Dict[str, Dict[str, Any]]]:
        """``{class: {model: {samples, unrated, rated, avg_feedback, outcomes,
        success_rate, avg_latency, score}}}`` (a snapshot, for tables and charts)."""
        with self._lock:
            return {
                q: {model: s.as_dict() for model, s in models.items()}
                for q, models in self._stats.items()
            }

    def select_model(self, context: RoutingContext) -> str:
        """Select the best model based on learned policy or fallback."""
        return self.explain(context)[0]

    def explain(self, context: RoutingContext) -> Tuple[str, str]:
        """``(model, why)``: the learned choice with its evidence, or why the fallback answered."""
        qclass = classify_query(context.query)
        with self._lock:
            models = self._stats.get(qclass, {})
            ranking = _ranking(models)
            samples = sum(s.samples for s in models.values())
        avail = self._available
        if not ranking:
            note = f"class {qclass!r}: no samples"
        elif samples < self.min_samples:
            note = f"class {qclass!r}: {samples:,} samples < min_samples {self.min_samples:,}"
        else:
            for rank, (model, score, n) in enumerate(ranking):
                if not avail or model in avail:
                    skipped = f", better {rank} not available" if rank else ""
                    return model, (
                        f"learned: class {qclass!r} → {model}"
                        f" (score {score:.2f} from {n:,} of {samples:,} samples{skipped})"
                    )
            note = f"class {qclass!r}: no learned model is available"
        return self._fallback_chain(note)

    def _fallback_chain(self, note: str) -> Tuple[str, str]:
        avail = self._available
        if self._default and (not avail or self._default in avail):
            return self._default, f"{note} → default model {self._default}"
        if self._fallback and (not avail or self._fallback in avail):
            return self._fallback, f"{note} → fallback model {self._fallback}"
        if avail:
            return avail[0], f"{note} → first available model {avail[0]}"
        return "", f"{note} → no model configured"

    # ------------------------------------------------------------------ learning

    def update_from_traces(
        self,
        store: Optional[TraceStore] = None,
        *,
        since: Optional[float] = None,
        until: Optional[float] = None,
        agent: Optional[str] = None,
        stop: Optional[threading.Event] = None,
        progress: Optional[Callable[[int], None]] = None,
    ) -> Dict[str, Any]:
        """Recompute the policy from every trace in *store* (default: the constructor's).

        ``since``/``until`` bound ``started_at`` (inclusive). ``progress(traces_read)``
        is called every :data:`PROGRESS_EVERY` traces, from the calling thread. When
        *stop* is set the read ends after the current batch and nothing changes.

        Returns a summary: ``updated``, ``query_classes``, ``total_traces``, ``samples``,
        ``unrated_traces`` and ``changes`` (``{class: {"old": model, "new": model}}``);
        or ``updated: False`` with a ``reason`` (``error`` too without a store).
        """
        source = store if store is not None else self._store
        if source is None and self._analyzer is not None:
            source = _analyzer_store(self._analyzer)
        if source is None:
            return {
                "updated": False,
                "reason": "no analyzer configured",
                "error": "no analyzer configured",
            }
        iter_traces = getattr(source, "iter_traces", None)
        if iter_traces is not None:
            traces = _stream(iter_traces, agent=agent, stop=stop)
        elif hasattr(source, "list_traces"):
            traces = _list_all(source, since, until)
        else:
            raise TypeError(
                f"{type(source).__name__} has neither iter_traces() nor list_traces(): "
                "cannot read traces"
            )

        fresh: Dict[str, _ClassStats] = {}
        total = 0
        for trace in traces:
            if agent is not None and getattr(trace, "agent", agent) != agent:
                continue
            if since is not None and trace.started_at < since:
                continue
            if until is not None and trace.started_at > until:
                continue
            total += 1
            if progress is not None and total % PROGRESS_EVERY == 0:
                progress(total)
            if not trace.model:
                continue
            models = fresh.setdefault(classify_query(trace.query), {})
            score = models.get(trace.model)
            if score is None:
                score = models[trace.model] = _ModelScore()
            score.add(trace.outcome, trace.feedback, _latency(trace.total_latency_seconds))
        if progress is not None and total % PROGRESS_EVERY:
            progress(total)

        if stop is not None and stop.is_set():
            return {"updated": False, "reason": "stopped", "total_traces": total}
        if total == 0:
            return {"updated": False, "reason": "no traces", "total_traces": 0}

        with self._lock:
            old = {q: _ranking(m) for q, m in self._stats.items() if q in fresh}
            self._stats.update(fresh)
            changes: Dict[str, Dict[str, str]] = {}
            for qclass, models in fresh.items():
                new_rank = _ranking(models)
                before = old.get(qclass) or [("", 0.0, 0)]
                after = new_rank[0][0] if new_rank else ""
                if before[0][0] != after:
                    changes[qclass] = {"old": before[0][0], "new": after}
        samples = sum(s.samples for m in fresh.values() for s in m.values())
        unrated = sum(s.unrated for m in fresh.values() for s in m.values())
        return {
            "updated": True,
            "query_classes": len(fresh),
            "total_traces": total,
            "samples": samples,
            "unrated_traces": unrated,
            "changes": changes,
        }

    def observe(
        self,
        query: str,
        model: str,
        outcome: Optional[str],
        feedback: Optional[float],
    ) -> None:
        """Record one interaction (online update); no feedback and no outcome = unrated."""
        if not model:
            return
        qclass = classify_query(query)
        with self._lock:
            models = self._stats.setdefault(qclass, {})
            score = models.get(model)
            if score is None:
                score = models[model] = _ModelScore()
            score.add(outcome, feedback)

    def update(self, trace_store: Any, **kwargs: object) -> Dict[str, Any]:
        """Learn from *trace_store* (:meth:`update_from_traces`; the LearningPolicy interface)."""
        return self.update_from_traces(trace_store, **kwargs)  # type: ignore[arg-type]

    def reset(self) -> None:
        """Forget everything learned."""
        with self._lock:
            self._stats.clear()


class LearnedRouterPolicy(TraceDrivenPolicy):
    """OpenJarvis's ``learned`` router: TraceDrivenPolicy's runtime routing plus a
    batch :meth:`update` from a trace store.

    Same constructor as :class:`TraceDrivenPolicy` (``analyzer`` first, as in
    OpenJarvis). :meth:`update` relearns from *trace_store* with this module's scoring
    (unknown outcomes and missing feedback carry no weight) and answers in the
    reference's shape: ``updated`` (whether any class changed model), ``changes``
    (``{class: new model}``), ``policy_map``; a store that cannot be read gives
    ``{"updated": False, "reason": "Could not access trace store"}``.
    """

    def update(self, trace_store: Any, **kwargs: object) -> Dict[str, Any]:
        """Batch update: relearn the policy map from every trace in *trace_store*."""
        try:
            summary = self.update_from_traces(trace_store, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:  # OpenJarvis's contract: a dict, not a raise
            return {
                "updated": False,
                "reason": "Could not access trace store",
                "error": f"{type(exc).__name__}: {exc}",
            }
        changes = {q: c["new"] for q, c in summary.get("changes", {}).items() if c["new"]}
        return {
            **summary,
            "updated": bool(changes),
            "changes": changes,
            "policy_map": self.policy_map,
        }


def ensure_registered() -> None:
    """Register TraceDrivenPolicy as ``trace`` and LearnedRouterPolicy as ``learned``."""
    for key, cls in (("trace", TraceDrivenPolicy), ("learned", LearnedRouterPolicy)):
        if not RouterPolicyRegistry.contains(key):
            try:
                RouterPolicyRegistry.register_value(key, cls)
            except ValueError:
                pass  # another thread registered it between the check and here


__all__ = ["LearnedRouterPolicy", "TraceDrivenPolicy", "classify_query", "ensure_registered"]
