"""Core data types of the optimization loop, field-for-field as in OpenJarvis.

Names, field order, types and defaults match ``openjarvis.learning.optimize.types``
so runs written by OpenJarvis load here and ours load there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The dimension kinds a SearchSpace may hold.
DIM_TYPES = ("categorical", "continuous", "integer", "subset", "text")


@dataclass(slots=True)
class SearchDimension:
    """One tunable dimension of the config space."""

    name: str
    dim_type: str  # one of DIM_TYPES
    values: list[Any] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    description: str = ""
    primitive: str = ""  # intelligence | engine | agent | tools | learning


@dataclass(slots=True)
class SearchSpace:
    """The full space of configs the optimizer may propose."""

    dimensions: list[SearchDimension] = field(default_factory=list)
    fixed: dict[str, Any] = field(default_factory=dict)
    constraints: list[str] = field(default_factory=list)

    def dimension(self, name: str) -> SearchDimension | None:
        """The dimension called *name*, or None."""
        for d in self.dimensions:
            if d.name == name:
                return d
        return None

    def to_prompt_description(self) -> str:
        """The space as structured Markdown for the optimizer model's prompt."""
        lines = ["# Search Space", ""]
        by_primitive: dict[str, list[SearchDimension]] = {}
        for dim in self.dimensions:
            by_primitive.setdefault(dim.primitive or "other", []).append(dim)
        for primitive, dims in sorted(by_primitive.items()):
            lines.append(f"## {primitive.title()}")
            for dim in dims:
                lines.append(f"- **{dim.name}** ({dim.dim_type})")
                if dim.description:
                    lines.append(f"  Description: {dim.description}")
                if dim.dim_type in ("categorical", "subset"):
                    lines.append(f"  Options: {dim.values}")
                elif dim.dim_type in ("continuous", "integer"):
                    lines.append(f"  Range: [{dim.low}, {dim.high}]")
                elif dim.dim_type == "text":
                    lines.append("  Free-form text")
            lines.append("")
        if self.fixed:
            lines.append("## Fixed Parameters")
            lines.extend(f"- {k} = {v}" for k, v in sorted(self.fixed.items()))
            lines.append("")
        if self.constraints:
            lines.append("## Constraints")
            lines.extend(f"- {c}" for c in self.constraints)
            lines.append("")
        return "\n".join(lines)


@dataclass(slots=True)
class SampleScore:
    """Per-sample metrics from an evaluation trial."""

    record_id: str
    is_correct: bool | None = None
    score: float | None = None
    latency_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    ttft: float = 0.0
    energy_joules: float = 0.0
    power_watts: float = 0.0
    gpu_utilization_pct: float = 0.0
    throughput_tok_per_sec: float = 0.0
    mfu_pct: float = 0.0
    mbu_pct: float = 0.0
    ipw: float = 0.0
    ipj: float = 0.0
    energy_per_output_token_joules: float = 0.0
    throughput_per_watt: float = 0.0
    mean_itl_ms: float = 0.0


@dataclass(slots=True)
class BenchmarkScore:
    """Per-benchmark metrics from a multi-benchmark trial."""

    benchmark: str
    accuracy: float = 0.0
    mean_latency_seconds: float = 0.0
    total_cost_usd: float = 0.0
    total_energy_joules: float = 0.0
    total_tokens: int = 0
    samples_evaluated: int = 0
    errors: int = 0
    weight: float = 1.0
    summary: Any | None = None  # a RunSummary; not persisted
    sample_scores: list[SampleScore] = field(default_factory=list)  # not persisted


@dataclass(slots=True)
class TrialFeedback:
    """Structured feedback from the analysis of one trial."""

    summary_text: str = ""
    failure_patterns: list[str] = field(default_factory=list)
    primitive_ratings: dict[str, str] = field(default_factory=dict)
    suggested_changes: list[str] = field(default_factory=list)
    target_primitive: str = ""


@dataclass(slots=True)
class ObjectiveSpec:
    """One optimization objective: a TrialResult attribute and its direction."""

    metric: str
    direction: str  # "maximize" or "minimize"
    weight: float = 1.0


DEFAULT_OBJECTIVES = [
    ObjectiveSpec("accuracy", "maximize"),
    ObjectiveSpec("mean_latency_seconds", "minimize"),
    ObjectiveSpec("total_cost_usd", "minimize"),
]


# Short names a user may type for the metrics of DEFAULT_OBJECTIVES.
METRIC_ALIASES = {
    "accuracy": "accuracy",
    "acc": "accuracy",
    "latency": "mean_latency_seconds",
    "mean_latency_seconds": "mean_latency_seconds",
    "cost": "total_cost_usd",
    "total_cost_usd": "total_cost_usd",
    "energy": "total_energy_joules",
    "total_energy_joules": "total_energy_joules",
    "tokens": "total_tokens",
    "total_tokens": "total_tokens",
}

# What each metric a bound may name can be: a limit outside it makes every trial
# infeasible (or none), which is a typo, not a choice.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "mean_latency_seconds": (0.0, float("inf")),
    "total_cost_usd": (0.0, float("inf")),
    "total_energy_joules": (0.0, float("inf")),
    "total_tokens": (0.0, float("inf")),
}


@dataclass(slots=True, frozen=True)
class ObjectiveBound:
    """A hard limit on one metric ("latency <= 2 s"): a trial outside it is infeasible.

    Not in OpenJarvis: the steering control adds bounds while a run goes on, and
    an infeasible trial stays in the history but never joins the frontier.
    """

    metric: str
    op: str  # "<=" or ">="
    value: float

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"bound on {self.metric}: operator must be <= or >=, not {self.op!r}")

    def violation(self, trial: Any) -> float:
        """How far *trial* is outside the bound (0.0 when it satisfies it)."""
        got = float(getattr(trial, self.metric))
        return max(0.0, got - self.value) if self.op == "<=" else max(0.0, self.value - got)

    def satisfied_by(self, trial: Any) -> bool:
        return self.violation(trial) <= 0.0

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    @classmethod
    def parse(cls, text: str) -> ObjectiveBound:
        """``"latency <= 2s"``, ``"cost<=0.01"``, ``"accuracy >= 0.8"``, ``"latency <= 1500ms"``.

        Raises ValueError with a one-line reason for anything else.
        """
        import re

        m = re.fullmatch(
            r"\s*([A-Za-z_]+)\s*(<=|>=|<|>|≤|≥)\s*\$?\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*([a-z%]*)\s*",
            text or "",
        )
        if not m:
            raise ValueError(f"cannot read bound {text!r}: write it like 'latency <= 2s'")
        name, op, num, unit = m.groups()
        metric = METRIC_ALIASES.get(name.lower())
        if metric is None:
            raise ValueError(
                f"unknown metric {name!r} in bound (known: accuracy, latency, cost, energy, tokens)"
            )
        if op in ("<", ">"):
            # A strict limit is not what the check does (a trial exactly on it passes):
            # refuse it rather than change it silently.
            raise ValueError(
                f"strict {op} is not supported: use {op}= (a value on the limit passes)"
            )
        op = {"≤": "<=", "≥": ">="}.get(op, op)
        value = float(num)
        scale = {"": 1.0, "s": 1.0, "ms": 0.001, "%": 0.01, "usd": 1.0, "j": 1.0}.get(unit)
        if scale is None:
            raise ValueError(f"unknown unit {unit!r} in bound {text!r}")
        if unit == "ms" and metric != "mean_latency_seconds":
            raise ValueError(f"'ms' only applies to latency, not {name}")
        value *= scale
        low, high = METRIC_RANGES[metric]
        if not low <= value <= high:
            what = "0–1 (or 0–100%)" if metric == "accuracy" else "0 or more"
            raise ValueError(f"{name} {num}{unit} is out of range: {name} is {what}")
        return cls(metric, op, value)


@dataclass(slots=True)
class RunSummary:
    """Aggregate result of one evaluation run (the subset of OpenJarvis' eval summary
    the optimizer reads)."""

    benchmark: str = ""
    category: str = ""
    backend: str = ""
    model: str = ""
    accuracy: float = 0.0
    mean_latency_seconds: float = 0.0
    total_cost_usd: float = 0.0
    total_energy_joules: float = 0.0
    total_samples: int = 0
    scored_samples: int = 0
    correct: int = 0
    errors: int = 0
    total_input_tokens: int = 0
    total_output_tokens: int = 0


@dataclass(slots=True)
class TrialConfig:
    """One candidate configuration proposed by the optimizer."""

    trial_id: str
    params: dict[str, Any] = field(default_factory=dict)  # dotted keys -> values
    reasoning: str = ""


@dataclass(slots=True)
class TrialResult:
    """Result of evaluating a trial: scalar metrics plus textual feedback."""

    trial_id: str
    config: TrialConfig
    accuracy: float = 0.0
    mean_latency_seconds: float = 0.0
    total_cost_usd: float = 0.0
    total_energy_joules: float = 0.0
    total_tokens: int = 0
    samples_evaluated: int = 0
    analysis: str = ""
    failure_modes: list[str] = field(default_factory=list)
    per_sample_feedback: list[dict[str, Any]] = field(default_factory=list)
    summary: RunSummary | None = None
    sample_scores: list[SampleScore] = field(default_factory=list)
    structured_feedback: TrialFeedback | None = None
    per_benchmark: list[BenchmarkScore] = field(default_factory=list)


@dataclass(slots=True)
class OptimizationRun:
    """A complete optimization session."""

    run_id: str
    search_space: SearchSpace
    trials: list[TrialResult] = field(default_factory=list)
    best_trial: TrialResult | None = None
    best_recipe_path: str | None = None
    status: str = "running"  # running | completed | failed
    optimizer_model: str = ""
    benchmark: str = ""
    benchmarks: list[str] = field(default_factory=list)
    pareto_frontier: list[TrialResult] = field(default_factory=list)
    objectives: list[ObjectiveSpec] = field(default_factory=lambda: list(DEFAULT_OBJECTIVES))


__all__ = [
    "DEFAULT_OBJECTIVES",
    "DIM_TYPES",
    "BenchmarkScore",
    "METRIC_ALIASES",
    "ObjectiveBound",
    "ObjectiveSpec",
    "OptimizationRun",
    "RunSummary",
    "SampleScore",
    "SearchDimension",
    "SearchSpace",
    "TrialConfig",
    "TrialFeedback",
    "TrialResult",
]
