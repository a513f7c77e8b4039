"""JSON from files we do not control, parsed totally: a value, or why there is none.

The stdlib parser recurses once per nesting level, so 1,000 ``[`` in 2 KB raise
RecursionError (and every renderer after it recurses too); a column or line that
is not text at all raises TypeError. :func:`parse` checks the nesting first (a
C-speed regex scan that skips string literals) and never raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 100
"""Deeper JSON is refused (kept as raw text by callers that show it)."""

MAX_CHARS = 64 * 1024 * 1024
"""Larger JSON is refused rather than parsed into objects."""

_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def depth(text: str) -> int:
    """Deepest bracket nesting of *text* (stops counting past :data:`MAX_DEPTH`)."""
    level = deepest = 0
    for m in _NESTING.finditer(text):
        c = m.group()
        if c in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if deepest > MAX_DEPTH:
                    return deepest
        elif c in "]}":
            level -= 1
    return deepest


def parse(raw: Any) -> tuple[Any, str | None]:
    """``(value, None)`` for readable JSON text (or UTF-8 bytes), else ``(None, why)``."""
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return None, "not UTF-8 text"
    if not isinstance(raw, str):
        return None, f"not JSON text (a {type(raw).__name__})"
    if len(raw) > MAX_CHARS:
        return None, f"JSON larger than {MAX_CHARS:,} characters"
    # Cheap bound first: fewer opening brackets than the limit cannot nest deeper.
    if raw.count("[") + raw.count("{") > MAX_DEPTH and depth(raw) > MAX_DEPTH:
        return None, f"JSON nested deeper than {MAX_DEPTH} levels"
    try:
        return json.loads(raw), None
    except RecursionError:
        return None, "JSON nested too deep"
    except ValueError as exc:
        return None, f"invalid JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
