"""Canonical data types, field-for-field compatible with ``openjarvis.core.types``.

Traces written by OpenJarvis load into these classes and back without loss.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional, Sequence


class StepType(str, Enum):
    """Types of steps within an agent trace."""

    ROUTE = "route"
    RETRIEVE = "retrieve"
    GENERATE = "generate"
    TOOL_CALL = "tool_call"
    RESPOND = "respond"


class Quantization(str, Enum):
    """Model quantization formats."""

    NONE = "none"
    FP8 = "fp8"
    FP4 = "fp4"
    INT8 = "int8"
    INT4 = "int4"
    GGUF = "gguf"
    GGUF_Q4 = "gguf_q4"
    GGUF_Q8 = "gguf_q8"


def _trace_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(slots=True)
class TraceStep:
    """A single step within an agent trace (route, retrieve, generate, tool_call, respond)."""

    step_type: StepType
    timestamp: float
    duration_seconds: float = 0.0
    input: Dict[str, Any] = field(default_factory=dict)
    output: Dict[str, Any] = field(default_factory=dict)
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Trace:
    """Complete trace of an agent handling a query.

    ``outcome`` is ``None`` (unknown), ``"success"`` or ``"failure"``;
    ``feedback`` is the user's quality score in [0, 1], ``None`` when unrated.
    """

    trace_id: str = field(default_factory=_trace_id)
    query: str = ""
    agent: str = ""
    model: str = ""
    engine: str = ""
    steps: List[TraceStep] = field(default_factory=list)
    result: str = ""
    outcome: Optional[str] = None
    feedback: Optional[float] = None
    started_at: float = 0.0
    ended_at: float = 0.0
    total_tokens: int = 0
    total_latency_seconds: float = 0.0
    metadata: Dict[str, Any] = field(default_factory=dict)
    messages: List[Dict[str, Any]] = field(default_factory=list)

    def add_step(self, step: TraceStep) -> None:
        """Append a step and update running totals."""
        self.steps.append(step)
        self.total_latency_seconds += step.duration_seconds
        tokens = step.output.get("tokens", 0) if isinstance(step.output, dict) else 0
        self.total_tokens += tokens if isinstance(tokens, int) else 0


@dataclass(slots=True)
class RoutingContext:
    """Context describing a query for model routing decisions.

    The first seven fields are the spec's, in its order; the last three are
    OpenJarvis's later additions, appended so positional construction still works.
    """

    query: str = ""
    query_length: int = 0
    has_code: bool = False
    has_math: bool = False
    language: str = "en"
    urgency: float = 0.5
    metadata: Dict[str, Any] = field(default_factory=dict)
    has_reasoning: bool = False
    """The query asks for reasoning ("why", "explain", "step by step", "prove"...)."""
    complexity_score: float = 0.0
    """0.0 (trivial) to 1.0 (very complex), from length, code, maths and reasoning."""
    suggested_max_tokens: int = 1024
    """Token budget for the answer that the complexity suggests."""


@dataclass(slots=True)
class ModelSpec:
    """Metadata describing a language model."""

    model_id: str
    name: str
    parameter_count_b: float
    context_length: int
    active_parameter_count_b: Optional[float] = None
    quantization: Quantization = Quantization.NONE
    min_vram_gb: float = 0.0
    supported_engines: Sequence[str] = ()
    provider: str = ""
    requires_api_key: bool = False
    metadata: Dict[str, Any] = field(default_factory=dict)


__all__ = [
    "ModelSpec",
    "Quantization",
    "RoutingContext",
    "StepType",
    "Trace",
    "TraceStep",
]
