"""Query classification shared by the store (class index) and the learning engine.

Same rules, in the same order, as OpenJarvis's ``classify_query`` so that
per-class statistics agree with what OpenJarvis itself would compute.
"""

from __future__ import annotations

import re

QUERY_CLASSES: tuple[str, ...] = ("code", "math", "short", "long", "general")

_CODE_RE = re.compile(
    r"```|`[^`]+`|\bdef\s|\bclass\s|\bimport\s|\bfunction\s",
    re.IGNORECASE,
)
_MATH_RE = re.compile(
    r"\bsolve\b|\bintegral\b|\bequation\b|\bcalculate\b|\bcompute\b",
    re.IGNORECASE,
)


def classify_query(query: str) -> str:
    """Classify a query: ``code``, ``math``, ``short`` (<50 chars), ``long`` (>500) or ``general``."""
    if _CODE_RE.search(query):
        return "code"
    if _MATH_RE.search(query):
        return "math"
    if len(query) < 50:
        return "short"
    if len(query) > 500:
        return "long"
    return "general"


__all__ = ["QUERY_CLASSES", "classify_query"]
