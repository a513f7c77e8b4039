"""Small statistics for feedback evidence: means with 95% intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964


@dataclass(frozen=True)
class MeanCI:
    """Mean feedback of *n* rated traces with a 95% interval clipped to [0, 1]."""

    n: int
    mean: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_ci(n: int, total: float, total_sq: float) -> MeanCI:
    """Normal-approximation interval from sums (feedback lies in [0, 1]).

    With fewer than two ratings nothing is known: the interval is [0, 1]. The
    variance is floored at that of a 0.1-wide spread so that ten identical
    ratings do not claim certainty.
    """
    if n <= 0:
        return MeanCI(0, float("nan"), 0.0, 1.0)
    mean = total / n
    if n < 2:
        return MeanCI(n, mean, 0.0, 1.0)
    var = max((total_sq - n * mean * mean) / (n - 1), 0.0)
    var = max(var, 0.1**2 / 12)
    half = Z95 * math.sqrt(var / n)
    return MeanCI(n, mean, max(0.0, mean - half), min(1.0, mean + half))
