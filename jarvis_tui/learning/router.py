"""Heuristic model router: picks a model from the shape of the query (``openjarvis.learning.router``).

Differences from the reference, on purpose:

* **Code/math detection** uses the two regexes of :mod:`jarvis_tui.learning.classify`
  (the ones ``classify_query`` and the trace store use), not the reference router's
  wider ones (``const``, ``=>``, ``sum``, ``limit``...). So a query that the Traces
  pane files under "code" is also the one this router treats as code.
* **Model sizes** come from the :class:`ModelRegistry` spec when one is registered and
  otherwise from the name (``llama3.1:70b`` -> 70, ``mixtral:8x7b`` -> 56). The reference
  only asks the registry and counts every unregistered model as size 0, so with an
  unregistered list its "largest"/"smallest" is simply the first model. Here an unknown
  size is never picked as smallest or largest over a known one.
* **When no size is known at all**, a size rule (2, 3, 4, or 1 without a coder model)
  cannot decide and routing continues with rule 6 (default model -> fallback model ->
  first available). The reference returns the first available model there, ignoring a
  configured default.
* **Rule 5 (urgency)** is applied after rules 1-4 as an override, which gives the same
  model as the reference (which checks it first) whenever a size is known, and lets
  :meth:`HeuristicRouter.explain` say what it overrode. With no known size there is no
  smaller model to switch to and the earlier decision stands.
* ``query_length`` of 0 with a non-empty ``query`` (a hand-built context) is read as
  ``len(query)``.

Ties (two coder models, two models of the same size) go to the one listed first, as in
the reference.
"""

from __future__ import annotations

import math
import re
from typing import List, Optional, Tuple

from jarvis_tui.core.registry import ModelRegistry
from jarvis_tui.core.types import RoutingContext
from jarvis_tui.learning._stubs import QueryAnalyzer, RouterPolicy
from jarvis_tui.learning.classify import _CODE_RE, _MATH_RE

SHORT_QUERY_CHARS = 50
"""Rule 3: a query shorter than this (and neither code nor math) is "short"."""
LONG_QUERY_CHARS = 500
"""Rule 4: a query longer than this is "long"."""
HIGH_URGENCY = 0.8
"""Rule 5: urgency strictly above this overrides to the smallest model."""
CODE_TAGS: Tuple[str, ...] = ("code", "coder")
"""Rule 1: a model whose name contains one of these (any case) is a coder model."""

_REASONING_RE = re.compile(
    r"\bexplain\b|\banalyze\b|\bcompare\b|\bwhy\b|\bstep[- ]by[- ]step\b|\breason\b|\bthink\b",
    re.IGNORECASE,
)
"""Rule 4's reasoning keywords (the reference's list)."""

# "8x7b" (mixture of experts: 8 * 7 = 56) first, then "70b", "3.8b", "0.6B", "135m". The
# number must start a name part (":70b", "-7B", "/1b") and the unit must end it, so
# "llama3.1" or the "a3b" in "qwen3-30b-a3b" are not sizes.
_MOE_SIZE_RE = re.compile(r"(?<![a-z0-9.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z0-9])", re.IGNORECASE)
_SIZE_RE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z0-9])", re.IGNORECASE)


def build_routing_context(query: str, *, urgency: float = 0.5) -> RoutingContext:
    """Populate a ``RoutingContext`` from a raw query string."""
    return RoutingContext(
        query=query,
        query_length=len(query),
        has_code=bool(_CODE_RE.search(query)),
        has_math=bool(_MATH_RE.search(query)),
        urgency=urgency,
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
    The module docstring lists where this differs from the reference. Stateless after
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

        model, reason = self._rules_1_to_4(context, available)
        if model is None:
            model, chosen = self._rule_6(available)
            reason = f"{reason}; {chosen}" if reason else chosen

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
        keyword = _REASONING_RE.search(context.query)
        if length > LONG_QUERY_CHARS or keyword is not None:
            why = (
                f"long query ({length} > {LONG_QUERY_CHARS} chars)"
                if length > LONG_QUERY_CHARS
                else f"reasoning keyword {keyword.group(0)!r}"  # type: ignore[union-attr]
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
    "DefaultQueryAnalyzer",
    "HeuristicRouter",
    "build_routing_context",
    "model_size",
    "parse_model_size",
]
