"""Measure: answer an eval set with a generator, score each answer, sum it up.

:func:`evaluate` gives an :class:`EvalResult`: every sample (query, reference, answer,
score, reason, latency, tokens, error) and the metrics people compare configs by —
accuracy (mean score) with a 95% interval, latency p50 / p95, prompt and completion
tokens, cost from the workspace's price table, errors counted apart from zeros, and the
same per query class. :class:`EvalTrialRunner` plays the spec's trial-runner role
(``run_trial(config) -> TrialResult``), so the optimizer's trials are *measured*.
"""

from __future__ import annotations

import math
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from jarvis_tui.core.fmt import plural
from jarvis_tui.evals.generators import Generation, GenerationSettings
from jarvis_tui.evals.scorers import Score, judge_fingerprint
from jarvis_tui.evals.sets import EvalSample, EvalSet
from jarvis_tui.learning.optimize.trial_runner import DEFAULT_PRICES, price_per_million
from jarvis_tui.learning.optimize.types import (
    BenchmarkScore,
    RunSummary,
    SampleScore,
    TrialConfig,
    TrialResult,
)

#: A score at least this high counts as correct (``SampleScore.is_correct``).
CORRECT_SCORE = 0.5
#: Name of the user-editable price table in a workspace.
PRICES_FILE = "prices.toml"

ProgressFn = Callable[[int, int], None]


class EvalError(ValueError):
    """An evaluation that produced nothing to score (every sample failed)."""


# Two-sided 95% Student t quantiles for small samples (df = n - 1); 1.96 beyond.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042,
        40: 2.021, 60: 2.000, 120: 1.980}  # fmt: skip


def t95(df: int) -> float:
    """The 95% two-sided t quantile for *df* degrees of freedom (table, conservative)."""
    if df <= 0:
        return math.inf
    for k in sorted(_T95):
        if df <= k:
            return _T95[k]
    return 1.96


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean with its 95% t interval, clipped to [0, 1]."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0, 0.0
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0, 1.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t95(n - 1) * math.sqrt(var / n)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def percentile(values: list[float], q: float) -> float:
    """The *q*-th percentile (linear interpolation), 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def load_prices(workspace: str | Path | None) -> dict[str, float]:
    """USD per 1M tokens by model: the built-in table, overridden by the workspace's
    ``prices.toml`` (``[prices]`` table, or top-level ``"model" = price``). A bad file is
    a ValueError naming it; a missing one is not an error."""
    prices = dict(DEFAULT_PRICES)
    if workspace is None:
        return prices
    path = Path(workspace) / PRICES_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return prices
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    if len(raw) > 1_000_000:
        raise ValueError(f"{path}: over 1 MB, not a price table")
    try:
        data = tomllib.loads(raw.decode("utf-8", "replace"))
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    table = data.get("prices", data)
    for model, value in table.items() if isinstance(table, dict) else ():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(
                f"{path}: price of {model!r} must be a number >= 0 (USD per 1M tokens)"
            )
        prices[str(model)] = float(value)
    return prices


EMPTY_ANSWER = "empty answer"
"""The error of a sample whose answer is empty or only whitespace."""


@dataclass(slots=True)
class SampleResult:
    """One sample as evaluated."""

    record_id: str
    query_class: str
    query: str
    reference: str
    answer: str = ""
    score: Optional[float] = None
    reason: str = ""
    latency_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: Optional[str] = None


def _timed(s: SampleResult) -> bool:
    """Whether *s*'s latency is a real answer's: an empty answer took its time too."""
    return s.error is None or s.error == EMPTY_ANSWER


@dataclass(slots=True)
class EvalResult:
    """Every sample of one evaluation and the metrics over them."""

    eval_set: dict[str, Any]
    generator: str
    scorer: dict[str, Any]
    samples: list[SampleResult] = field(default_factory=list)
    partial: bool = False

    # -- metrics -----------------------------------------------------------------------

    @property
    def scored(self) -> list[SampleResult]:
        return [s for s in self.samples if s.score is not None]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.error is not None)

    def error_reasons(self) -> dict[str, int]:
        """How many samples failed for each reason, the most common first."""
        counts = Counter(s.error for s in self.samples if s.error is not None)
        return dict(counts.most_common())

    @property
    def accuracy_stats(self) -> tuple[float, float, float]:
        return mean_ci([float(s.score) for s in self.scored])  # type: ignore[arg-type]

    @property
    def accuracy(self) -> float:
        return self.accuracy_stats[0]

    def _latencies(self) -> list[float]:
        return [s.latency_seconds for s in self.samples if _timed(s)]

    def metrics(self) -> dict[str, Any]:
        """What the CLI prints and ``--json`` holds."""
        acc, low, high = self.accuracy_stats
        lat = self._latencies()
        per_class: dict[str, Any] = {}
        for qc in sorted({s.query_class for s in self.samples}):
            group = [s for s in self.samples if s.query_class == qc]
            scores = [float(s.score) for s in group if s.score is not None]
            c_acc, c_low, c_high = mean_ci(scores)
            per_class[qc] = {
                "accuracy": c_acc,
                "accuracy_ci": [c_low, c_high],
                "samples": len(group),
                "scored": len(scores),
                "errors": sum(1 for s in group if s.error is not None),
            }
        prompt = sum(s.prompt_tokens for s in self.samples)
        completion = sum(s.completion_tokens for s in self.samples)
        return {
            "accuracy": acc,
            "accuracy_ci": [low, high],
            "mean_latency_seconds": (sum(lat) / len(lat)) if lat else 0.0,
            "p50_latency_seconds": percentile(lat, 50),
            "p95_latency_seconds": percentile(lat, 95),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "total_cost_usd": sum(s.cost_usd for s in self.samples),
            "samples": len(self.samples),
            "scored": len(self.scored),
            "errors": self.errors,
            "error_reasons": self.error_reasons(),
            "partial": self.partial,
            "per_class": per_class,
            "eval_set": self.eval_set,
            "generator": self.generator,
            "scorer": self.scorer,
        }

    def to_dict(self, *, with_samples: bool = True) -> dict[str, Any]:
        out = self.metrics()
        if with_samples:
            out["sample_results"] = [asdict(s) for s in self.samples]
        return out

    def worst_first(self) -> list[SampleResult]:
        """Errors first, then by score ascending (what a user reads first)."""
        return sorted(
            self.samples, key=lambda s: (s.error is None, s.score if s.score is not None else -1)
        )

    # -- as a trial --------------------------------------------------------------------

    def to_trial_result(self, config: TrialConfig, *, model: str = "") -> TrialResult:
        """The spec's TrialResult: summary, per-sample scores, one BenchmarkScore per
        query class."""
        m = self.metrics()
        scored = self.scored
        correct = sum(1 for s in scored if (s.score or 0.0) >= CORRECT_SCORE)
        summary = RunSummary(
            benchmark=f"eval:{self.eval_set.get('id', '')}",
            category="measured",
            backend=self.generator,
            model=model,
            accuracy=m["accuracy"],
            mean_latency_seconds=m["mean_latency_seconds"],
            total_cost_usd=m["total_cost_usd"],
            total_samples=len(self.samples),
            scored_samples=len(scored),
            correct=correct,
            errors=m["errors"],
            total_input_tokens=m["prompt_tokens"],
            total_output_tokens=m["completion_tokens"],
        )
        sample_scores = [
            SampleScore(
                record_id=s.record_id,
                is_correct=None if s.score is None else s.score >= CORRECT_SCORE,
                score=s.score,
                latency_seconds=s.latency_seconds,
                prompt_tokens=s.prompt_tokens,
                completion_tokens=s.completion_tokens,
                cost_usd=s.cost_usd,
                error=s.error,
            )
            for s in self.samples
        ]
        per_benchmark = []
        for qc, c in m["per_class"].items():
            group = [s for s in self.samples if s.query_class == qc]
            lat = [s.latency_seconds for s in group if _timed(s)]
            per_benchmark.append(
                BenchmarkScore(
                    benchmark=qc,
                    accuracy=c["accuracy"],
                    mean_latency_seconds=(sum(lat) / len(lat)) if lat else 0.0,
                    total_cost_usd=sum(s.cost_usd for s in group),
                    total_tokens=sum(s.prompt_tokens + s.completion_tokens for s in group),
                    samples_evaluated=c["samples"],
                    errors=c["errors"],
                    weight=c["samples"] / max(1, len(self.samples)),
                )
            )
        failures = [f"{s.record_id}: {s.error}" for s in self.samples if s.error is not None][:5]
        return TrialResult(
            trial_id=config.trial_id,
            config=config,
            accuracy=m["accuracy"],
            mean_latency_seconds=m["mean_latency_seconds"],
            total_cost_usd=m["total_cost_usd"],
            total_tokens=m["total_tokens"],
            samples_evaluated=len(self.samples),
            failure_modes=failures,
            summary=summary,
            sample_scores=sample_scores,
            per_benchmark=per_benchmark,
        )


def evaluate(
    eval_set: EvalSet,
    generator: Any,
    scorer: Any,
    settings: GenerationSettings,
    *,
    prices: Mapping[str, float] | None = None,
    cancel: threading.Event | None = None,
    progress: ProgressFn | None = None,
) -> EvalResult:
    """Answer every sample of *eval_set* with *generator*, score with *scorer*.

    A sample whose generation or scoring fails, or whose answer is empty (or only
    whitespace), keeps its error and counts in ``errors``, never as a 0. With *cancel* set midway, the samples done so far are
    kept and the result is marked ``partial``.
    """
    samples: list[EvalSample] = list(eval_set.samples)
    total = len(samples)
    gens: list[Optional[Generation]] = generator.generate(
        samples,
        settings,
        cancel=cancel,
        progress=(lambda done, n: progress(done, 2 * n)) if progress else None,
    )
    price = _price(generator, settings.model, prices)
    results: list[SampleResult] = []
    for i, (sample, gen) in enumerate(zip(samples, gens, strict=True)):
        if cancel is not None and cancel.is_set() and gen is None:
            continue
        if gen is None:
            continue
        res = SampleResult(
            record_id=sample.record_id,
            query_class=sample.query_class,
            query=sample.query,
            reference=sample.reference,
            answer=gen.answer,
            latency_seconds=gen.latency_seconds,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            cost_usd=(gen.prompt_tokens + gen.completion_tokens) * price / 1e6,
            error=gen.error,
        )
        if gen.error is None and not gen.answer.strip():
            # Nothing to score: an error (kept out of the mean), never a 0.
            res.error = EMPTY_ANSWER
        elif gen.error is None:
            try:
                sc: Score = scorer.score(sample.query, sample.reference, gen.answer)
            except Exception as exc:  # a scorer bug or a judge failure: an error, not a 0
                sc = Score(None, error=f"scoring failed: {exc}")
            res.score = sc.value
            res.reason = sc.reason
            if sc.value is None:
                res.error = sc.error or "not scored"
        results.append(res)
        if progress is not None:
            progress(total + i + 1, 2 * total)
    partial = len(results) < total
    return EvalResult(
        eval_set=eval_set.describe(),
        generator=generator.describe(settings),
        scorer={
            "name": getattr(scorer, "name", type(scorer).__name__),
            **judge_fingerprint(scorer),
        },
        samples=results,
        partial=partial,
    )


def _price(generator: Any, model: str, prices: Mapping[str, float] | None) -> float:
    """USD per 1M tokens: the price table, else (an endpoint) the size-based or fallback
    price; a local model with no price in the table costs 0 (it runs on this machine)."""
    if not model:
        return 0.0
    if getattr(generator, "kind", "") == "local" and model not in (prices or DEFAULT_PRICES):
        return 0.0
    return price_per_million(model, prices)


class EvalTrialRunner:
    """Measures each config on an eval set: the spec's trial-runner role.

    ``run_trial(config)`` generates with the config's model, temperature, max tokens,
    system prompt (and ``intelligence.adapter``, for a local generator), scores every
    answer and returns a TrialResult whose ``summary``, ``sample_scores`` and
    ``per_benchmark`` (one per query class) are filled. A config whose every sample
    failed raises EvalError (the run fails with the reason and stays resumable).
    """

    is_estimate = False
    scoring = "measured"

    def __init__(
        self,
        eval_set: EvalSet,
        generator: Any,
        scorer: Any,
        *,
        prices: Mapping[str, float] | None = None,
        default_model: str = "",
    ) -> None:
        self.eval_set = eval_set
        self.generator = generator
        self.scorer = scorer
        self.prices = dict(prices) if prices is not None else None
        self.default_model = default_model
        self.benchmark = f"eval:{eval_set.set_id}"
        self.cancel = threading.Event()
        self.progress: ProgressFn | None = None
        self.last_result: EvalResult | None = None

    def run_trial(self, config: TrialConfig) -> TrialResult:
        settings = GenerationSettings.from_params(config.params, default_model=self.default_model)
        local_name = getattr(self.generator, "model_name", "")
        if local_name:  # a local generator answers with its own model, whatever the config says
            settings = replace(settings, model=local_name)
        result = evaluate(
            self.eval_set,
            self.generator,
            self.scorer,
            settings,
            prices=self.prices,
            cancel=self.cancel,
            progress=self.progress,
        )
        self.last_result = result
        if result.samples and result.errors == len(result.samples):
            first = result.samples[0].error or "no answer"
            raise EvalError(f"every sample of {config.trial_id} failed: {first}")
        trial = result.to_trial_result(config, model=settings.model)
        if result.partial:
            trial.analysis = (
                f"partial: {len(result.samples):,} of {plural(len(self.eval_set), 'sample')}"
            )
        return trial


class ReplayThenMeasureRunner:
    """Estimate every config by replay; measure only the ones whose estimate would
    join the frontier of the estimates so far (or that are asked for by hand).

    :attr:`last_scoring` says how the last trial was scored (``estimate`` or
    ``measured``); the engine records it with the trial.
    """

    is_estimate = False

    def __init__(self, replay: Any, measured: EvalTrialRunner, objectives: Any = None) -> None:
        from jarvis_tui.learning.optimize.types import DEFAULT_OBJECTIVES

        self.replay = replay
        self.measured = measured
        self.objectives = list(objectives or DEFAULT_OBJECTIVES)
        self.benchmark = measured.benchmark
        self.eval_set = measured.eval_set
        self.last_scoring = ""
        self.measure_next = False
        """Set by a user (the Trials pane's "measure this"): the next trial is measured."""
        self._estimates: list[TrialResult] = []

    def run_trial(self, config: TrialConfig) -> TrialResult:
        from jarvis_tui.learning.optimize.pareto import dominates

        estimate = self.replay.run_trial(config)
        joins = not any(dominates(e, estimate, self.objectives) for e in self._estimates)
        self._estimates.append(estimate)
        if joins or self.measure_next:
            self.measure_next = False
            result = self.measured.run_trial(config)
            note = (
                f"measured (estimate: accuracy {estimate.accuracy:.3f}, latency "
                f"{estimate.mean_latency_seconds:.2f} s)"
            )
            result.analysis = f"{result.analysis}; {note}" if result.analysis else note
            self.last_scoring = "measured"
            return result
        self.last_scoring = "estimate"
        return estimate


__all__ = [
    "ReplayThenMeasureRunner",
    "CORRECT_SCORE",
    "PRICES_FILE",
    "EvalError",
    "EMPTY_ANSWER",
    "EvalResult",
    "EvalTrialRunner",
    "SampleResult",
    "evaluate",
    "load_prices",
    "mean_ci",
    "percentile",
]
