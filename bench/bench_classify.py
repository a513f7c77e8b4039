"""classify_query speed (it runs as an SQL function over every trace on a store's first open).

Run: ``python -m bench.bench_classify``. 50,000 demo queries (the five classes mixed as
the demo writes them), best of 5 passes, against OpenJarvis's own ``classify_query``
(two keyword regexes) measured in the same run. The detector finds far more (loops,
SQL, calls, tracebacks, equations...) and must still cost no more than those two
regexes (the previous keyword-substring fast path cost about a third of this detector).
Absolute numbers swing with machine load; the ratio is what is held.
"""

from __future__ import annotations

import random
import re
import sys
import time

from bench.common import Figure, parse_options, report
from jarvis_tui import demo
from jarvis_tui.learning.classify import classify_query

_CODE_RE = re.compile(r"```|`[^`]+`|\bdef\s|\bclass\s|\bimport\s|\bfunction\s", re.IGNORECASE)
_MATH_RE = re.compile(
    r"\bsolve\b|\bintegral\b|\bequation\b|\bcalculate\b|\bcompute\b", re.IGNORECASE
)


def reference_classify(query: str) -> str:
    """OpenJarvis's classify_query: two regexes, then length."""
    if _CODE_RE.search(query):
        return "code"
    if _MATH_RE.search(query):
        return "math"
    return "short" if len(query) < 50 else "long" if len(query) > 500 else "general"


def _best(fn, queries: list[str], passes: int = 5) -> float:
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for q in queries:
            fn(q)
        best = min(best, time.perf_counter() - t0)
    return best / len(queries) * 1e6


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    rng = random.Random(7)
    makers = list(demo._QUERY_MAKERS.values())
    queries = [rng.choice(makers)(rng) for _ in range(50_000)]
    ours = _best(classify_query, queries)
    ref = _best(reference_classify, queries)
    figs = [
        Figure(
            "classify_query, demo mix (µs per query)",
            "≤ the reference",
            ours,
            "µs",
            ours <= ref,
            ref,
            "OpenJarvis's two regexes",
        ),  # fmt: skip
        Figure("  …so a million traces take", "", ours, "s", True, ref, "reference"),
    ]
    return 0 if report(figs, "Query classification (the code/maths detector)") else 1


if __name__ == "__main__":
    sys.exit(main())
