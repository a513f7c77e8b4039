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


_CODE_WORDS = ("def", "class", "import", "function")
_MATH_WORDS = ("solve", "integral", "equation", "calculate", "compute")


def classify_query(query: str) -> str:
    """Classify a query: ``code``, ``math``, ``short`` (<50 chars), ``long`` (>500) or ``general``.

    Same answer as the reference's two regexes (a property test checks), but an
    ASCII query that contains none of the keywords skips them: the regexes cost
    15 µs per query, the substring checks under 1 µs, and a store's first open
    classifies every trace once.
    """
    if query.isascii():
        # Outside ASCII, IGNORECASE also folds e.g. 'ſ' to 's': no shortcut there.
        low = query.lower()
        code = "`" in query or any(w in low for w in _CODE_WORDS)
        if code and _CODE_RE.search(query):
            return "code"
        if any(w in low for w in _MATH_WORDS) and _MATH_RE.search(query):
            return "math"
        return _by_length(query)
    return _classify_reference(query)


def _by_length(query: str) -> str:
    if len(query) < 50:
        return "short"
    if len(query) > 500:
        return "long"
    return "general"


def _classify_reference(query: str) -> str:
    """The reference implementation (two regexes), kept for the equivalence test."""
    if _CODE_RE.search(query):
        return "code"
    if _MATH_RE.search(query):
        return "math"
    return _by_length(query)


__all__ = ["QUERY_CLASSES", "classify_query"]
