"""Pareto frontier of trials over any number of objectives.

Definitions (each objective is oriented by its ``direction``):

* *a dominates b* when a is at least as good as b on every objective and strictly
  better on at least one.
* The frontier is every trial no other trial dominates. Equal points do not dominate
  each other, so duplicates of a frontier point are **all** on the frontier. With no
  objectives nothing dominates anything, so every trial is on it.

A metric is read from the trial (``trial.<metric>``), else from ``trial.summary``
(``summary.<metric>``, then ``summary.<metric>_stats.mean`` — OpenJarvis keeps e.g.
``ipw`` and ``energy`` as statistics there).
A metric a trial lacks — or a NaN or non-numeric value — is a ValueError naming the
metric and the trial (OpenJarvis scores a missing metric as 0.0, which puts every
trial on the frontier).

Cost: two objectives sort then sweep, O(n log n). Three or more sort lexicographically
(a dominator always sorts strictly before what it dominates) and filter blocks of
points against the archive of frontier points found so far with numpy, so the work
is O(n·|frontier|·k) vectorised instead of a pairwise O(n²) Python loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from jarvis_tui.learning.optimize.types import ObjectiveSpec

_BLOCK = 512


# OpenJarvis's names for the RunSummary statistics behind some metrics
# (``throughput_tok_per_sec`` -> ``summary.throughput_stats.mean``); any other metric
# ``m`` is looked up as ``summary.m_stats.mean``.
SUMMARY_STATS = {
    "throughput_tok_per_sec": "throughput_stats",
    "mfu_pct": "mfu_stats",
    "mbu_pct": "mbu_stats",
    "energy_per_output_token": "energy_per_output_token_stats",
    "mean_itl_ms": "itl_stats",
}


def _summary_stat(summary: Any, metric: str) -> Any:
    """``summary.<metric>_stats.mean`` (OpenJarvis keeps ipw, energy... as stats objects)."""
    for name in dict.fromkeys((SUMMARY_STATS.get(metric, ""), f"{metric}_stats")):
        stats = getattr(summary, name, None) if name else None
        if stats is None:
            continue
        mean = stats.get("mean") if isinstance(stats, dict) else getattr(stats, "mean", None)
        if mean is not None:
            return mean
    return None


def _metric(trial: Any, metric: str) -> float:
    value = getattr(trial, metric, None)
    if value is None:
        summary = getattr(trial, "summary", None)
        if summary is not None:
            value = getattr(summary, metric, None)
            if value is None:
                value = _summary_stat(summary, metric)
    tid = getattr(trial, "trial_id", "?")
    if value is None:
        raise ValueError(f"objective metric {metric!r} is missing on trial {tid!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"objective metric {metric!r} on trial {tid!r} is not a number: {value!r}")
    if math.isnan(value):
        raise ValueError(f"objective metric {metric!r} on trial {tid!r} is NaN")
    return float(value)


def _sign(obj: ObjectiveSpec) -> float:
    """+1 to minimise, -1 to maximise: every column becomes 'smaller is better'."""
    if obj.direction == "minimize":
        return 1.0
    if obj.direction == "maximize":
        return -1.0
    raise ValueError(
        f"objective {obj.metric!r}: direction must be 'maximize' or 'minimize', not {obj.direction!r}"
    )


def _matrix(trials: Sequence[Any], objectives: Sequence[ObjectiveSpec]) -> np.ndarray:
    signs = [_sign(o) for o in objectives]
    rows = [
        [s * _metric(t, o.metric) for o, s in zip(objectives, signs, strict=True)] for t in trials
    ]
    return np.asarray(rows, dtype=float).reshape(len(trials), len(objectives))


def dominates(a: Any, b: Any, objectives: Sequence[ObjectiveSpec]) -> bool:
    """Whether trial *a* dominates trial *b* on *objectives*."""
    better = False
    for o in objectives:
        s = _sign(o)
        va, vb = s * _metric(a, o.metric), s * _metric(b, o.metric)
        if va > vb:
            return False
        if va < vb:
            better = True
    return better


def frontier_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of *values* (n×k, smaller is better)."""
    n, k = values.shape
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if k == 0:
        mask[:] = True
        return mask
    if k == 1:
        return values[:, 0] == values[:, 0].min()
    # Lexicographic order: np.lexsort sorts by the last key first.
    order = np.lexsort(values.T[::-1])
    v = values[order]
    if k == 2:
        _sweep2(v, order, mask)
        return mask
    if k == 3:
        _sweep3(v, order, mask)
        return mask
    archive = np.empty((0, k))
    for start in range(0, n, _BLOCK):
        block = v[start : start + _BLOCK]
        keep = np.ones(len(block), dtype=bool)
        if len(archive):
            # Archive rows sort before the block, so column 0 is already <=; and a row
            # <= everywhere is a dominator unless it is an exact duplicate.
            a, b = archive[None, :, 1:], block[:, None, 1:]
            le = (a <= b).all(axis=2)
            eq = le & (a == b).all(axis=2) & (archive[None, :, 0] == block[:, None, 0])
            keep &= ~(le & ~eq).any(axis=1)
        # Within the block, a dominator sorts before what it dominates.
        cand = np.flatnonzero(keep)
        if len(cand) > 1:
            c = block[cand]
            le = (c[None, :, :] <= c[:, None, :]).all(axis=2)
            lt = (c[None, :, :] < c[:, None, :]).any(axis=2)
            keep[cand[np.any(le & lt, axis=1)]] = False
        mask[order[start : start + _BLOCK][keep]] = True
        archive = np.concatenate([archive, block[keep]])
    return mask


def _sweep3(v: np.ndarray, order: np.ndarray, mask: np.ndarray) -> None:
    """Three objectives in O(n log n + n·h): rows sorted by (f1, f2, f3), so every
    dominator of a row comes before it. A staircase of the (f2, f3) frontier seen so far
    (f2 ascending, f3 strictly descending, with the smallest f1 of each point) answers
    "is there an earlier row ≤ in f2 and f3?" with one bisect; an exact duplicate of a
    frontier point is kept, as everywhere here."""
    import bisect

    s2: list[float] = []
    s3: list[float] = []
    s1: list[float] = []
    f1, f2, f3 = v[:, 0].tolist(), v[:, 1].tolist(), v[:, 2].tolist()
    for i in range(len(f1)):
        a, b, c = f1[i], f2[i], f3[i]
        j = bisect.bisect_right(s2, b) - 1
        if j >= 0 and s3[j] <= c:
            if not (s2[j] == b and s3[j] == c and s1[j] == a):
                continue  # dominated
            mask[order[i]] = True  # exact duplicate of a frontier point
            continue
        mask[order[i]] = True
        # Insert (b, c); drop the staircase points it now dominates (f2 ≥ b, f3 ≥ c).
        k = j + 1
        end = k
        while end < len(s2) and s3[end] >= c:
            end += 1
        s2[k:end] = [b]
        s3[k:end] = [c]
        s1[k:end] = [a]


def _sweep2(v: np.ndarray, order: np.ndarray, mask: np.ndarray) -> None:
    """Two objectives, rows sorted by (f1, f2): keep each f1-group's minimum f2 if it
    beats every earlier group's best (ties with an earlier group are dominated)."""
    best = math.inf
    n = len(v)
    i = 0
    f1, f2 = v[:, 0].tolist(), v[:, 1].tolist()
    while i < n:
        j = i
        m = f2[i]  # sorted, so the group's minimum comes first
        if m < best:
            while j < n and f1[j] == f1[i]:
                if f2[j] == m:
                    mask[order[j]] = True
                j += 1
            best = m
        else:
            while j < n and f1[j] == f1[i]:
                j += 1
        i = j


def compute_pareto_frontier(
    trials: Sequence[Any], objectives: Sequence[ObjectiveSpec]
) -> list[Any]:
    """The non-dominated *trials* under *objectives*, in their input order."""
    trials = list(trials)
    if not trials:
        return []
    mask = frontier_mask(_matrix(trials, objectives))
    return [t for t, keep in zip(trials, mask.tolist(), strict=True) if keep]


def pareto_frontier_pairwise(
    trials: Sequence[Any], objectives: Sequence[ObjectiveSpec]
) -> list[Any]:
    """The O(n²) definition, pure Python: the baseline for tests and benchmarks."""
    trials = list(trials)
    vals = _matrix(trials, objectives).tolist()
    out = []
    for i, a in enumerate(vals):
        dominated = False
        for j, b in enumerate(vals):
            if i != j and all(x <= y for x, y in zip(b, a, strict=True)) and b != a:
                dominated = True
                break
        if not dominated:
            out.append(trials[i])
    return out


__all__ = ["compute_pareto_frontier", "dominates", "frontier_mask", "pareto_frontier_pairwise"]
