"""classify_query: the class rules, and the fast path gives the same answers as every probe."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.learning import classify_query
from jarvis_tui.learning.classify import _classify_reference


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("```py\nprint(1)\n```", "code"),
        ("what does `x` mean", "code"),
        ("def foo(): pass", "code"),
        ("how do I IMPORT numpy", "code"),
        ("undefined behaviour in a classic novel, describe it at length please ok", "general"),
        ("Solve 2x + 3 = 5", "math"),
        ("please compute the mean", "math"),
        ("computed values are stale and we need to look at the cache again ok", "general"),
        ("hi", "short"),
        ("x" * 49, "short"),
        ("x" * 50, "general"),
        ("x" * 500, "general"),
        ("x" * 501, "long"),
        # Matching is ASCII-only: a long-s "claſſ" is not the keyword (the reference's
        # Unicode IGNORECASE folded it to "class").
        ("claſſ Foo: a long-s spelled keyword is not the keyword at all, just text", "general"),
    ],
)
def test_class_rules(query: str, expected: str) -> None:
    assert classify_query(query) == expected == _classify_reference(query)


_pieces = st.sampled_from(
    ["def", "class", "import", "function", "solve", "integral", "equation", "calculate",
     "compute", "`", "```", " ", "\n", "\t", "x", "DEF", "Class", "ſ", "K", "é", "_", "(", "1"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(_pieces, st.text(max_size=8)), max_size=40).map("".join))
def test_fast_path_matches_reference(query: str) -> None:
    assert classify_query(query) == _classify_reference(query)
