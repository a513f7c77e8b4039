"""Heuristic model router: picks a model from the shape of the query (``openjarvis.learning.router``).

Differences from OpenJarvis, on purpose:

* **Code/math/reasoning detection** is the one detector of
  :mod:`jarvis_tui.learning.classify` (the one ``classify_query`` and the trace store
  use), not the keyword regexes of OpenJarvis's router (``const``, ``=>``, ``sum``,
  ``limit``...). So a query that the Traces pane files under "code" is also the one
  this router treats as code, and "the rate limit" is not maths.
* **complexity_score / suggested_max_tokens** follow OpenJarvis's
  ``score_complexity`` (length 20%, code/maths 25%, reasoning and multi-step 25%,
  several questions or sub-tasks 15%, a creative request 15%; tiers of 1,024 to
  16,384 tokens), on top of this detector.
* **Model sizes** come from the :class:`ModelRegistry` spec when one is registered and
  otherwise from the name (``llama3.1:70b`` -> 70, ``mixtral:8x7b`` -> 56). OpenJarvis
  only asks the registry and counts every unregistered model as size 0, so with an
  unregistered list its "largest"/"smallest" is simply the first model. Here an unknown
  size is never picked as smallest or largest over a known one.
* **When no size is known at all**, a size rule (2, 3, 4, or 1 without a coder model)
  cannot decide and routing continues with rule 6 (default model -> fallback model ->
  first available). OpenJarvis returns the first available model there, ignoring a
  configured default.
* **Rule 5 (urgency)** is applied after rules 1-4 as an override, which gives the same
  model as OpenJarvis (which checks it first) whenever a size is known, and lets
  :meth:`HeuristicRouter.explain` say what it overrode. With no known size there is no
  smaller model to switch to and the earlier decision stands.
* ``query_length`` of 0 with a non-empty ``query`` (a hand-built context) is read as
  ``len(query)``.

Ties (two coder models, two models of the same size) go to the one listed first, as in
OpenJarvis.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from jarvis_tui.core.registry import ModelRegistry
from jarvis_tui.core.types import RoutingContext
from jarvis_tui.learning._stubs import QueryAnalyzer, RouterPolicy
from jarvis_tui.learning.classify import detect, reasoning_word

SHORT_QUERY_CHARS = 50
"""Rule 3: a query shorter than this (and neither code nor math) is "short"."""
LONG_QUERY_CHARS = 500
"""Rule 4: a query longer than this is "long"."""
HIGH_URGENCY = 0.8
"""Rule 5: urgency strictly above this overrides to the smallest model."""
CODE_TAGS: Tuple[str, ...] = ("code", "coder")
"""Rule 1: a model whose name contains one of these (any case) is a coder model."""


# "8x7b" (mixture of experts: 8 * 7 = 56) first, then "70b", "3.8b", "0.6B", "135m". The
# number must start a name part (":70b", "-7B", "/1b") and the unit must end it, so
# "llama3.1" or the "a3b" in "qwen3-30b-a3b" are not sizes.
_MOE_SIZE_RE = re.compile(r"(?<![a-z0-9.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z0-9])", re.IGNORECASE)
_SIZE_RE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z0-9])", re.IGNORECASE)


_MULTI_STEP_RE = re.compile(
    r"\bstep\s*\d|\b(?:and\s+also|additionally|furthermore)\b|\b\d+\.\s"
    r"|\bfirst\b.*?\bnext\b|\bthen\b.*?\bthen\b",
    re.IGNORECASE | re.DOTALL,
)
_CREATIVE_RE = re.compile(
    r"\b(?:create|design|draft|compose)\b"
    r"|\bwrite\b[^\n]*?\b(?:essay|story|article|report|poem)\b"
    r"|\bgenerate\b[^\n]*?\b(?:code|script|program)\b",
    re.IGNORECASE,
)
_SUBTASK_RE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s", re.MULTILINE)

TOKEN_TIERS: Dict[str, int] = {
    "trivial": 1024,
    "simple": 2048,
    "moderate": 4096,
    "complex": 8192,
    "very_complex": 16384,
}
"""Suggested ``max_tokens`` per complexity tier (OpenJarvis's budgets)."""


@dataclass(frozen=True)
class ComplexityResult:
    """How complex a query looks: score in [0, 1], its tier and token budget."""

    score: float
    tier: str
    suggested_max_tokens: int
    signals: Dict[str, Any] = field(default_factory=dict)


def score_complexity(query: str) -> ComplexityResult:
    """Score *query* from 0.0 (trivial) to 1.0 (very complex), as OpenJarvis does.

    Weighted signals: length (20%), code/maths (25%, from :func:`classify.detect`),
    reasoning words and multi-step structure (25%), several questions or listed
    sub-tasks (15%), a creative request (15%).
    """
    n = len(query)
    length = 0.0 if n < 20 else 0.3 if n < 100 else 0.6 if n < 300 else 0.8 if n < 800 else 1.0
    sig = detect(query)
    domain = (
        1.0
        if sig.has_code and sig.has_math
        else 0.8
        if sig.has_math
        else 0.7
        if sig.has_code
        else 0.0
    )
    # Bounded: the lazy ".*?" pairs would be quadratic on a multi-megabyte paste.
    head = query[:20_000]
    multi_step = bool(_MULTI_STEP_RE.search(head))
    reasoning = (
        1.0 if sig.has_reasoning and multi_step
        else 0.8 if multi_step
        else 0.6 if sig.has_reasoning
        else 0.0
    )  # fmt: skip
    parts = head.count("?") + len(_SUBTASK_RE.findall(head))
    multi = 0.0 if parts <= 1 else 0.5 if parts <= 3 else 1.0
    creative = 0.7 if _CREATIVE_RE.search(head) else 0.0
    score = 0.20 * length + 0.25 * domain + 0.25 * reasoning + 0.15 * multi + 0.15 * creative
    score = round(min(1.0, max(0.0, score)), 3)
    tier = (
        "trivial" if score < 0.15
        else "simple" if score < 0.30
        else "moderate" if score < 0.55
        else "complex" if score < 0.80
        else "very_complex"
    )  # fmt: skip
    signals = {
        "length": length,
        "domain": domain,
        "has_code": sig.has_code,
        "has_math": sig.has_math,
        "has_reasoning": sig.has_reasoning,
        "has_multi_step": multi_step,
        "reasoning": reasoning,
        "multi_part": multi,
        "creative": creative,
    }
    return ComplexityResult(score, tier, TOKEN_TIERS[tier], signals)


def build_routing_context(query: str, *, urgency: float = 0.5) -> RoutingContext:
    """Populate a ``RoutingContext`` from a raw query string.

    ``has_code`` / ``has_math`` / ``has_reasoning`` come from the detector that
    :func:`classify_query` uses; ``complexity_score`` and ``suggested_max_tokens``
    from :func:`score_complexity` (its tier is in ``metadata["complexity_tier"]``).
    """
    result = score_complexity(query)
    s = result.signals
    return RoutingContext(
        query=query,
        query_length=len(query),
        has_code=s["has_code"],
        has_math=s["has_math"],
        urgency=urgency,
        metadata={"complexity_tier": result.tier},
        has_reasoning=s["has_reasoning"],
        complexity_score=result.score,
        suggested_max_tokens=result.suggested_max_tokens,
    )


def parse_model_size(name: str) -> Optional[float]:
    """Billions of parameters written in a model name, or ``None`` if it has none.

    ``llama3.1:70b`` -> 70.0, ``phi3:3.8b`` -> 3.8, ``qwen2.5-coder:7b`` -> 7.0,
    ``mixtral:8x7b`` -> 56.0, ``smollm:135m`` -> 0.135, ``gpt-4o`` -> None.
    """
    moe = _MOE_SIZE_RE.search(name)
    if moe:
        return int(moe.group(1)) * float(moe.group(2))
    m = _SIZE_RE.search(name)
    if m is None:
        return None
    value = float(m.group(1))
    if m.group(2).lower() == "m":
        value /= 1000.0
    return value if value > 0 else None


def model_size(key: str) -> Optional[float]:
    """Parameter count in billions: the registered spec's, else parsed from the name."""
    if ModelRegistry.contains(key):
        try:
            size = float(ModelRegistry.get(key).parameter_count_b)
        except (KeyError, AttributeError, TypeError, ValueError):
            size = math.nan  # unregistered meanwhile, or not a ModelSpec
        if math.isfinite(size) and size > 0:
            return size
    return parse_model_size(key)


def _fmt_size(size: float) -> str:
    return f"{size:g}B"


def _by_size(available: List[str], *, largest: bool) -> Optional[Tuple[str, float]]:
    """The largest (or smallest) model of known size; the first listed wins a tie."""
    best: Optional[Tuple[str, float]] = None
    for key in available:
        size = model_size(key)
        if size is None:
            continue
        if best is None or (size > best[1] if largest else size < best[1]):
            best = (key, size)
    return best


class HeuristicRouter(RouterPolicy):
    """Rule-based model router.

    Rules (applied in order): 1. Code detected → prefer model with "code"/"coder" in
    name (none: the largest model) 2. Math detected → prefer larger model 3. Short query
    (<50 chars, no code/math) → prefer smaller/faster model 4. Long/complex query (>500
    chars OR reasoning keywords) → prefer larger model 5. High urgency (>0.8) → override
    to smaller model 6. Default fallback → default_model → fallback_model → first
    available.

    With no ``available_models`` the keys of :class:`ModelRegistry` are the candidates;
    with none there either, the answer is ``default_model or fallback_model or ""``.
    The module docstring lists where this differs from OpenJarvis. Stateless after
    construction, so one instance can serve many threads.
    """

    def __init__(
        self,
        available_models: List[str] | None = None,
        *,
        default_model: str = "",
        fallback_model: str = "",
    ) -> None:
        self._available: List[str] = list(available_models or [])
        self._default = default_model
        self._fallback = fallback_model

    @property
    def available_models(self) -> List[str]:
        """The models this router was given (a copy)."""
        return list(self._available)

    def select_model(self, context: RoutingContext) -> str:
        """Select the best model key for the given routing context."""
        return self.explain(context)[0]

    def explain(self, context: RoutingContext) -> Tuple[str, str]:
        """``(model, the rule that decided, in words)``, e.g. ``"rule 3: short query → ..."``."""
        available = self._available or list(ModelRegistry.keys())
        if not available:
            model = self._default or self._fallback or ""
            source = (
                "default_model"
                if self._default
                else "fallback_model"
                if self._fallback
                else "nothing"
            )
            return model, f"rule 6: no models available → {source} {model!r}"

        picked, reason = self._rules_1_to_4(context, available)
        if picked is None:
            model, chosen = self._rule_6(available)
            reason = f"{reason}; {chosen}" if reason else chosen
        else:
            model = picked

        urgency = context.urgency
        if urgency > HIGH_URGENCY:
            smallest = _by_size(available, largest=False)
            if smallest is None:
                reason += f"; rule 5 (urgency {urgency:g} > {HIGH_URGENCY:g}) skipped: no model size known"
            elif smallest[0] == model:
                reason = (
                    f"rule 5: urgency {urgency:g} > {HIGH_URGENCY:g} → smallest model"
                    f" {model} ({_fmt_size(smallest[1])}); agrees with {reason}"
                )
            else:
                reason = (
                    f"rule 5: urgency {urgency:g} > {HIGH_URGENCY:g} → smallest model"
                    f" {smallest[0]} ({_fmt_size(smallest[1])}); overrides {reason}"
                )
                model = smallest[0]
        return model, reason

    def _rules_1_to_4(
        self, context: RoutingContext, available: List[str]
    ) -> Tuple[Optional[str], str]:
        """The model rules 1-4 pick, or ``None`` and why the matching rule could not decide."""
        unsized = "no model size known"
        if context.has_code:
            for key in available:
                low = key.lower()
                if any(tag in low for tag in CODE_TAGS):
                    return key, f"rule 1: code detected → coder model {key}"
            largest = _by_size(available, largest=True)
            if largest is None:
                return None, f"rule 1: code detected, no coder model and {unsized}"
            return largest[0], (
                f"rule 1: code detected, no coder model → largest model"
                f" {largest[0]} ({_fmt_size(largest[1])})"
            )
        if context.has_math:
            largest = _by_size(available, largest=True)
            if largest is None:
                return None, f"rule 2: math detected but {unsized}"
            return largest[0], (
                f"rule 2: math detected → largest model {largest[0]} ({_fmt_size(largest[1])})"
            )
        length = context.query_length or len(context.query)
        if length < SHORT_QUERY_CHARS:
            why = f"short query ({length} < {SHORT_QUERY_CHARS} chars)"
            smallest = _by_size(available, largest=False)
            if smallest is None:
                return None, f"rule 3: {why} but {unsized}"
            return smallest[0], (
                f"rule 3: {why} → smallest model {smallest[0]} ({_fmt_size(smallest[1])})"
            )
        keyword = reasoning_word(context.query)
        if keyword is None and context.has_reasoning:
            keyword = "(has_reasoning)"
        if length > LONG_QUERY_CHARS or keyword is not None:
            why = (
                f"long query ({length} > {LONG_QUERY_CHARS} chars)"
                if length > LONG_QUERY_CHARS
                else f"reasoning keyword {keyword!r}"
            )
            largest = _by_size(available, largest=True)
            if largest is None:
                return None, f"rule 4: {why} but {unsized}"
            return largest[0], (
                f"rule 4: {why} → largest model {largest[0]} ({_fmt_size(largest[1])})"
            )
        return None, ""

    def _rule_6(self, available: List[str]) -> Tuple[str, str]:
        if self._default and self._default in available:
            return self._default, f"rule 6: default model {self._default}"
        if self._fallback and self._fallback in available:
            return self._fallback, f"rule 6: fallback model {self._fallback}"
        return available[0], f"rule 6: first available model {available[0]}"


class DefaultQueryAnalyzer(QueryAnalyzer):
    """Default query analyzer wrapping :func:`build_routing_context`."""

    def analyze(self, query: str, **kwargs: object) -> RoutingContext:
        """A context for *query*; a numeric ``urgency`` keyword is passed through."""
        urgency = kwargs.get("urgency", 0.5)
        if isinstance(urgency, bool) or not isinstance(urgency, (int, float)):
            urgency = 0.5
        return build_routing_context(query, urgency=float(urgency))


__all__ = [
    "TOKEN_TIERS",
    "ComplexityResult",
    "DefaultQueryAnalyzer",
    "HeuristicRouter",
    "build_routing_context",
    "score_complexity",
    "model_size",
    "parse_model_size",
]
