"""Numbers for people: money, durations and measured values, never ``1.20e-04``.

Shared by the CLI and the UI (plain ``str`` out, no Rich, no Textual). Machine
output (``--json``) keeps full precision and never goes through these.
"""

from __future__ import annotations

import math

MISSING = "–"
"""Shown for a value that is absent or not a finite number."""

MAX_DECIMALS = 12
"""Beyond this many decimals a number reads as zero to a person (``≈$0``)."""


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _decimals_for(value: float, digits: int) -> int:
    """Decimals that show *value* (non-zero) with *digits* significant digits."""
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def sig(value: object, digits: int = 4) -> str:
    """*value* rounded to *digits* significant digits, no exponent.

    ``sig(6.223599844200667)`` is ``6.224``, ``sig(0.000012345)`` is ``0.00001235``,
    ``sig(123456.7)`` is ``123,457`` (whole numbers are never cut).
    """
    v = _finite(value)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    decimals = _decimals_for(v, digits)
    if decimals > MAX_DECIMALS:
        return "≈0"
    rounded = round(v, decimals)  # 9.9996 -> 10.0 needs one decimal fewer
    if rounded != 0:
        decimals = min(decimals, _decimals_for(rounded, digits))
    return f"{rounded:,.{decimals}f}"


def money(value: object, *, signed: bool = False, decimals: int | None = None) -> str:
    """US dollars for people: ``$0.00012``, ``$0.034``, ``$1.20``, ``$1,234``.

    Amounts under a dollar keep two significant digits (estimated per-trial costs are
    often a fraction of a cent); ``signed`` prefixes ``+`` for a difference. With
    *decimals*, every amount has exactly that many (an axis's ticks: ``$0.00010``,
    ``$0.00015``: one precision for all).
    """
    v = _finite(value)
    if v is None:
        return MISSING
    if decimals is not None:
        v = round(v, decimals)  # no "-$0.00000" for a value that rounds to zero
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    a = abs(v)
    if decimals is not None:
        body = f"{a:,.{max(0, decimals)}f}"
    elif a == 0:
        body = "0"
    elif a >= 1000:
        body = f"{a:,.0f}"
    elif a >= 1:
        body = f"{a:,.2f}"
    else:
        decimals = _decimals_for(a, 2)
        if decimals > MAX_DECIMALS:
            return "≈$0"
        body = f"{a:.{decimals}f}"
        if decimals > 2:  # $0.00003, not $0.000030; cents keep two places ($0.10)
            body = body.rstrip("0")
            body = body if len(body.split(".")[1]) >= 2 else f"{a:.2f}"
        if body.startswith("1.") or body == "1":  # 0.9996 rounded up to a dollar
            body = f"{a:,.2f}"
    return f"{sign}${body}"


def duration(seconds: object) -> str:
    """A span of time for people: ``0.4 s``, ``3 s``, ``2 min 05 s``, ``1 h 02 min``."""
    v = _finite(seconds)
    if v is None or v < 0:
        return MISSING
    if v < 1:
        return f"{v:.1f} s"
    total = round(v)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """*count* and the word in the right number, count with thousands separators:
    ``plural(1, "run")`` is ``1 run``, ``plural(4358, "pair")`` is ``4,358 pairs``,
    ``plural(2, "frontier member")`` is ``2 frontier members``; give *plural_form* for
    an irregular word (``plural(3, "query", "queries")``)."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def signed(value: float, decimals: int = 2) -> str:
    """*value* with its sign, as a difference is read: ``signed(0.061)`` is ``+0.06``,
    ``signed(-0.2)`` is ``-0.20``, and a difference that rounds to zero has no sign
    (``signed(-0.001)`` is ``0.00``, never ``-0.00``)."""
    shown = f"{value:+.{decimals}f}"
    return shown[1:] if float(shown) == 0 else shown
