"""Numbers for people (jarvis_tui.core.fmt): no exponents, sensible rounding."""

from __future__ import annotations

import math

import pytest

from jarvis_tui.core.fmt import duration, money, sig


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1.2e-4, "$0.00012"),
        (3e-5, "$0.00003"),
        (0.034, "$0.034"),
        (0.1, "$0.10"),
        (1.2, "$1.20"),
        (1234.5, "$1,234"),
        (0, "$0"),
        (-0.00012, "-$0.00012"),
        (0.99996, "$1.00"),
        (1e-15, "≈$0"),
        (math.nan, "–"),
        (None, "–"),
    ],
)
def test_money_reads_without_exponent(value, shown):
    assert money(value) == shown


def test_money_signed_difference():
    assert money(0.00012, signed=True) == "+$0.00012"
    assert money(-0.5, signed=True) == "-$0.50"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (6.223599844200667, "6.224"),
        (123456.7, "123,457"),
        (9.9996, "10.00"),
        (0.0001234567, "0.0001235"),
        (0, "0"),
        (math.inf, "–"),
    ],
)
def test_sig_four_significant_digits(value, shown):
    assert sig(value) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4, "0.4 s"), (3.2, "3 s"), (125, "2 min 05 s"), (3725, "1 h 02 min"),
     (90000, "1 d 1 h"), (-1, "–")],
)  # fmt: skip
def test_duration(seconds, shown):
    assert duration(seconds) == shown


def test_plural_words_follow_the_count():
    from jarvis_tui.core.fmt import plural

    assert plural(1, "run") == "1 run"
    assert plural(0, "run") == "0 runs"
    assert plural(4358, "SFT pair") == "4,358 SFT pairs"
    assert plural(1, "frontier member") == "1 frontier member"
    assert plural(2, "query", "queries") == "2 queries"
