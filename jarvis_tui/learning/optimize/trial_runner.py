"""Evaluating a config offline, by replaying the labelled traces of the trace store.

:class:`TraceReplayRunner` answers "how would this config have done on the work the
assistant actually saw?" without running a model: for each query class it takes the
traces of the model the config chooses there (and of its agent), and reads accuracy
(mean user feedback), latency and tokens off them. Classes are weighted by their share
of all traces, so the figures describe the real workload mix.

It is an *estimate*, and says so: it knows only what the traces record. A parameter
the traces cannot speak for (temperature, a prompt, max turns…) is listed as "not
replayable" instead of being given an invented effect, and a model nobody tried on a
class scores 0 there (with the slowest, costliest figures logged for that class), so a
config can never win by choosing a model without evidence.

The statistics come from one SQL aggregate (:meth:`TraceStore.cube`, a covering-index
scan: about 0.3 s at a million traces) read on the first :meth:`run_trial` and cached;
every trial after that is a few dictionary lookups. :meth:`TraceReplayRunner.refresh`
re-reads them (after new traces or labels).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from jarvis_tui.learning.classify import QUERY_CLASSES
from jarvis_tui.learning.optimize.types import (
    BenchmarkScore,
    RunSummary,
    TrialConfig,
    TrialResult,
)
from jarvis_tui.traces.store import TraceStore

DEFAULT_PRICES: dict[str, float] = {
    "gpt-4o-mini": 0.375,  # API: $0.15 in / $0.60 out per 1M tokens, averaged
    "llama3.1:70b": 0.35,  # local (vLLM): compute and power of a large GPU
    "llama3.1:8b": 0.04,  # local (Ollama): small compute price
    "qwen2.5-coder:7b": 0.035,
    "phi3:3.8b": 0.019,
}
"""USD per 1M tokens (prompt + completion) for the demo's models. Local models get a
small compute price (about ``LOCAL_PRICE_PER_BILLION`` per billion parameters) so that
cost is never degenerate: a 70B model costs more to run than a 3.8B one."""

LOCAL_PRICE_PER_BILLION = 0.005
"""USD per 1M tokens per billion parameters, for a model whose name states its size
(``qwen3:8b``, ``mistral-7b``) and that is not in the price table."""

FALLBACK_PRICE = 1.0
"""USD per 1M tokens for a model of unknown size and price: deliberately above the
demo's prices, so an unknown model never looks cheap."""

CORRECT_FEEDBACK = 0.5
"""A rated trace with feedback at least this high counts as correct in the summary."""

NO_OVERRIDE = ("default", "")
"""``routing.<class>.model`` values meaning "use intelligence.model" (the derived search
space offers ``"default"`` as the first choice of every routing dimension)."""

_SIZE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b\b")
_ROUTING_RE = re.compile(r"routing\.(.+)\.model")
_MODEL_KEY = "intelligence.model"
_AGENT_KEYS = ("agent.name", "agent.type")


def price_per_million(model: str, prices: Mapping[str, float] | None = None) -> float:
    """USD per 1M tokens for *model*: *prices*, else :data:`DEFAULT_PRICES`, else a
    size-based local price (``…:8b``), else :data:`FALLBACK_PRICE`."""
    for table in (prices or {}, DEFAULT_PRICES):
        if model in table:
            return float(table[model])
    m = _SIZE_RE.search(model.lower())
    if m:
        return max(0.01, LOCAL_PRICE_PER_BILLION * float(m.group(1)))
    return FALLBACK_PRICE


@runtime_checkable
class TrialRunner(Protocol):
    """Evaluates one config; what the optimization engine calls for every trial."""

    benchmark: str

    def run_trial(self, config: TrialConfig) -> TrialResult: ...


@dataclass(slots=True, frozen=True)
class _Stats:
    """Sums over a group of traces (one query class, a model or all, an agent or all)."""

    n: int = 0  # traces
    rated: int = 0  # traces with feedback
    correct: int = 0  # rated with feedback >= CORRECT_FEEDBACK
    fb_sum: float = 0.0
    latency_sum: float = 0.0
    tokens_sum: float = 0.0
    cost_sum: float = 0.0  # USD: tokens x price of each trace's model

    def __add__(self, o: _Stats) -> _Stats:
        return _Stats(
            self.n + o.n,
            self.rated + o.rated,
            self.correct + o.correct,
            self.fb_sum + o.fb_sum,
            self.latency_sum + o.latency_sum,
            self.tokens_sum + o.tokens_sum,
            self.cost_sum + o.cost_sum,
        )


@dataclass(slots=True, frozen=True)
class _Workload:
    """Everything :meth:`TraceReplayRunner.run_trial` reads, from one SQL aggregate."""

    groups: dict[tuple[str, str | None, str | None], _Stats]
    """(class, model or None for all, agent or None for all) → sums."""
    class_n: dict[str, int]
    """Traces per query class (every model and agent): the workload mix."""
    worst: dict[str, tuple[float, float, float]]
    """Per class: the highest mean latency, tokens and cost of any logged model."""
    total: int
    rated: int
    models: tuple[str, ...]


SHADOWED = "<shadowed by routing overrides>"
"""What :func:`effective_params` puts for ``intelligence.model`` when no class uses it."""


def effective_params(params: Mapping[str, Any], classes: Iterable[str] | None = None) -> dict:
    """*params* as the replay reads them: two configs with equal results are equal here.

    Each ``routing.<class>.model`` becomes the model that class is answered by (its
    override, or ``intelligence.model`` for ``"default"`` / empty), and
    ``intelligence.model`` becomes :data:`SHADOWED` when every class of *classes*
    (default: the classes *params* route) has an override of its own: no query is
    then answered by it, so changing it changes nothing. Other keys stay as they are.
    """
    out = dict(params)
    model = params.get(_MODEL_KEY)
    routed: set[str] = set()
    for key, value in params.items():
        m = _ROUTING_RE.fullmatch(key)
        if m is None:
            continue
        if value is None or value in NO_OVERRIDE:
            out[key] = model
        else:
            routed.add(m.group(1))
    every = (
        set(classes)
        if classes is not None
        else {m.group(1) for k in params if (m := _ROUTING_RE.fullmatch(k))}
    )
    if every and every <= routed:
        out[_MODEL_KEY] = SHADOWED
    return out


def shadowed_model_note(params: Mapping[str, Any], classes: Iterable[str] | None = None) -> str:
    """Why changing ``intelligence.model`` in *params* changes nothing ("" when it does)."""
    if _MODEL_KEY in params and effective_params(params, classes).get(_MODEL_KEY) == SHADOWED:
        return f"{_MODEL_KEY} is shadowed by routing overrides for all classes"
    return ""


class TraceReplayRunner:
    """Estimates a config's accuracy, latency and cost from the stored, labelled traces.

    Units of the result: ``accuracy`` is the workload-weighted mean feedback in [0, 1];
    ``mean_latency_seconds`` the weighted mean end-to-end latency of a query;
    ``total_cost_usd`` **USD per query** (weighted mean tokens × the model's price per
    1M tokens, see :func:`price_per_million`), not a total over the workload;
    ``total_tokens`` the weighted mean tokens per query; energy is not measured (0.0).

    Parameters it replays: ``intelligence.model`` (the model of every query class),
    ``routing.<class>.model`` (that class's model instead; ``"default"`` or empty: no
    override), and ``agent.name`` (or
    ``agent.type``; else the constructor's *agent*; else every agent) choosing whose
    traces to replay. Where that agent has fewer than *min_samples* rated traces of the
    model on a class, every agent's traces of the model there are used (with a note).
    A class with fewer than *min_samples* rated traces of the chosen model has no
    evidence: accuracy 0 and one error. Thread-safe.
    """

    benchmark = "trace-replay"
    """Name of this evaluation in the run's records."""
    is_estimate = True
    """Its figures are estimates from logged traces, not fresh measurements."""

    def __init__(
        self,
        store: TraceStore,
        *,
        prices: Mapping[str, float] | None = None,
        min_samples: int = 5,
        agent: str | None = None,
    ) -> None:
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ValueError(f"min_samples must be a positive integer, got {min_samples!r}")
        self.store = store
        """Where the traces come from."""
        self.prices: dict[str, float] = dict(prices or {})
        """USD per 1M tokens per model, over :data:`DEFAULT_PRICES`."""
        self.min_samples = min_samples
        """Rated traces a (class, model) needs to count as evidence."""
        self.agent = agent
        """Agent whose traces are replayed when a config names none (None: every agent)."""
        self._lock = threading.Lock()
        self._workload: _Workload | None = None

    # ------------------------------------------------------------ statistics

    def price(self, model: str) -> float:
        """USD per 1M tokens for *model* under this runner's prices."""
        return price_per_million(model, self.prices)

    def refresh(self) -> None:
        """Re-read the statistics from the store (after new traces or labels)."""
        workload = self._read()
        with self._lock:
            self._workload = workload

    def effective_params(self, params: Mapping[str, Any]) -> dict:
        """*params* as :meth:`run_trial` reads them (see :func:`effective_params`): the
        optimizer compares proposals by this, so an effective repeat is not replayed."""
        return effective_params(params, self._stats().class_n)

    def shadowed_model_note(self, params: Mapping[str, Any]) -> str:
        """Why ``intelligence.model`` does not matter in *params* here ("" when it does)."""
        return shadowed_model_note(params, self._stats().class_n)

    def _stats(self) -> _Workload:
        with self._lock:
            if self._workload is None:
                self._workload = self._read()
            return self._workload

    def _read(self) -> _Workload:
        groups: dict[tuple[str, str | None, str | None], _Stats] = {}
        class_n: dict[str, int] = {}
        models: set[str] = set()
        price_cache: dict[str, float] = {}
        for row in self.store.cube(min_quality=CORRECT_FEEDBACK):
            qclass = row["qclass"] or "general"
            model, agent = row["model"] or "", row["agent"] or ""
            if model not in price_cache:
                price_cache[model] = self.price(model)
            tokens = float(row["tokens_sum"] or 0.0)
            s = _Stats(
                n=int(row["n"]),
                rated=int(row["rated"]),
                correct=int(row["q_n"]),
                fb_sum=float(row["fb_sum"] or 0.0),
                latency_sum=float(row["latency_sum"] or 0.0),
                tokens_sum=tokens,
                cost_sum=tokens * price_cache[model] / 1e6,
            )
            models.add(model)
            class_n[qclass] = class_n.get(qclass, 0) + s.n
            for key in (
                (qclass, model, agent),
                (qclass, model, None),
                (qclass, None, agent),
                (qclass, None, None),
            ):
                groups[key] = groups.get(key, _Stats()) + s
        worst: dict[str, tuple[float, float, float]] = {}
        for (qclass, model, agent), s in groups.items():
            if model is None or agent is not None or not s.n:
                continue
            lat, tok, cost = worst.get(qclass, (0.0, 0.0, 0.0))
            worst[qclass] = (
                max(lat, s.latency_sum / s.n),
                max(tok, s.tokens_sum / s.n),
                max(cost, s.cost_sum / s.n),
            )
        total = sum(class_n.values())
        rated = sum(s.rated for (_c, m, a), s in groups.items() if m is None and a is None)
        return _Workload(groups, class_n, worst, total, rated, tuple(sorted(models)))

    def workload_mix(self) -> dict[str, float]:
        """Share of all traces per query class (the weights of the estimate)."""
        w = self._stats()
        return {c: n / w.total for c, n in self._ordered(w.class_n)} if w.total else {}

    def models(self) -> list[str]:
        """Every model that appears in the store."""
        return list(self._stats().models)

    @staticmethod
    def _ordered(class_n: dict[str, int]) -> list[tuple[str, int]]:
        known = [(c, class_n[c]) for c in QUERY_CLASSES if c in class_n]
        return known + sorted((c, n) for c, n in class_n.items() if c not in QUERY_CLASSES)

    # ------------------------------------------------------------ one trial

    def run_trial(self, config: TrialConfig) -> TrialResult:
        """The estimated result of *config* (see the class docstring for units and rules).

        Raises ValueError when no trace in the store is rated.
        """
        w = self._stats()
        if w.rated == 0:
            raise ValueError("no labelled traces to replay: label some traces first")
        params = dict(config.params or {})
        model = params.get(_MODEL_KEY)
        model = model if isinstance(model, str) and model else None
        agent = next((params[k] for k in _AGENT_KEYS if isinstance(params.get(k), str)), None)
        agent = agent or self.agent

        routed: dict[str, str] = {}
        not_replayable: list[str] = []
        unknown_classes: list[str] = []
        for key, value in params.items():
            if key == _MODEL_KEY or key in _AGENT_KEYS:
                continue
            m = _ROUTING_RE.fullmatch(key)
            if m and (value is None or value in NO_OVERRIDE):
                continue  # no override: the class keeps intelligence.model
            if m and isinstance(value, str):
                if m.group(1) in w.class_n:
                    routed[m.group(1)] = value
                else:
                    unknown_classes.append(m.group(1))
                continue
            not_replayable.append(key)

        min_n = self.min_samples
        per_class: list[BenchmarkScore] = []
        fallbacks: list[str] = []
        no_evidence: list[str] = []
        acc = lat = tok = cost = 0.0
        used_n = used_rated = correct = 0
        for qclass, class_n in self._ordered(w.class_n):
            share = class_n / w.total
            chosen = routed.get(qclass, model)
            s = w.groups.get((qclass, chosen, agent)) if agent is not None else None
            if agent is not None and (s is None or s.rated < min_n):
                fallbacks.append(f"{qclass} ({s.rated if s else 0})")
                s = None
            if s is None:
                s = w.groups.get((qclass, chosen, None), _Stats())
            if s.rated < min_n:
                no_evidence.append(
                    f"no evidence for {chosen or 'the logged models'} on {qclass}:"
                    f" {s.rated} rated (need {min_n})"
                )
                c_lat, c_tok, c_cost = w.worst.get(qclass, (0.0, 0.0, 0.0))
                if chosen is not None:
                    c_cost = max(c_cost, c_tok * self.price(chosen) / 1e6)
                c_acc, rated, errors = 0.0, 0, 1
            else:
                c_acc = s.fb_sum / s.rated
                c_lat, c_tok, c_cost = s.latency_sum / s.n, s.tokens_sum / s.n, s.cost_sum / s.n
                rated, errors = s.rated, 0
                used_n += s.n
                used_rated += s.rated
                correct += s.correct
            acc += share * c_acc
            lat += share * c_lat
            tok += share * c_tok
            cost += share * c_cost
            per_class.append(
                BenchmarkScore(
                    benchmark=qclass,
                    accuracy=c_acc,
                    mean_latency_seconds=c_lat,
                    total_cost_usd=c_cost,
                    total_tokens=round(c_tok),
                    samples_evaluated=rated,
                    errors=errors,
                    weight=share,
                )
            )

        notes = [
            f"estimate from {used_n:,} replayed traces ({used_rated:,} rated) of"
            f" {len(per_class)} query classes, weighted by the workload mix"
            + (f"; agent {agent}" if agent else "; every agent")
        ]
        if model is None:
            notes.append(f"estimate: no {_MODEL_KEY} in the config: replayed the logged models")
        if fallbacks:
            notes.append(
                f"estimate: agent {agent} has fewer than {min_n} rated traces for "
                + ", ".join(fallbacks)
                + ": replayed every agent's traces of the model there"
            )
        notes.extend(no_evidence)
        if unknown_classes:
            notes.append(
                "no traces of class "
                + ", ".join(sorted(unknown_classes))
                + ": its routing has no effect"
            )
        if not_replayable:
            notes.append("not replayable from traces: " + ", ".join(sorted(not_replayable)))

        summary = RunSummary(
            benchmark=self.benchmark,
            category="replay",
            backend="trace-store",
            model=model or "",
            accuracy=acc,
            mean_latency_seconds=lat,
            total_cost_usd=cost,
            total_samples=used_rated,
            scored_samples=used_rated,
            correct=correct,
            errors=len(no_evidence),
        )
        return TrialResult(
            trial_id=config.trial_id,
            config=config,
            accuracy=acc,
            mean_latency_seconds=lat,
            total_cost_usd=cost,
            total_energy_joules=0.0,
            total_tokens=round(tok),
            samples_evaluated=used_rated,
            analysis="",
            failure_modes=notes,
            summary=summary,
            per_benchmark=per_class,
        )


__all__ = [
    "CORRECT_FEEDBACK",
    "DEFAULT_PRICES",
    "FALLBACK_PRICE",
    "LOCAL_PRICE_PER_BILLION",
    "NO_OVERRIDE",
    "SHADOWED",
    "TraceReplayRunner",
    "TrialRunner",
    "effective_params",
    "price_per_million",
    "shadowed_model_note",
]
