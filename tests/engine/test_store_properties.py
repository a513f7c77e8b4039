"""Property tests: whatever a user types into the search box, nothing raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jarvis_tui.core.types import Trace
from jarvis_tui.traces.store import TraceFilter, TraceStore, to_fts_query

WORDS = ["alpha", "beta", "gamma", "zebra", "crossing", "ünï", "数据"]

# FTS5 syntax fragments mixed with words: what breaks naive MATCH strings.
FRAGMENTS = st.sampled_from(
    ['"', "'", "AND", "OR", "NOT", "NEAR", "*", "-", "+", "^", ":", "(", ")", "{", "}",
     "_", "²", "\u0300", "alp*", "-beta", "query:", "\\", "\x00", "\x1b[31m", *WORDS]
)  # fmt: skip
USER_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(FRAGMENTS, max_size=8).map(" ".join),
    st.lists(FRAGMENTS, max_size=8).map("".join),
)

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def fts_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("props") / "traces.db"
    store = TraceStore(path)
    store.save_many(
        Trace(
            trace_id=f"s{i:03d}",
            query=" ".join(WORDS[j] for j in range(len(WORDS)) if (i >> j) & 1) or "empty",
            agent=["simple", "react"][i % 2],
            started_at=float(i),
        )
        for i in range(2 ** len(WORDS))
    )
    yield store
    store.close()


@SETTINGS
@given(text=USER_TEXT)
def test_any_text_never_raises(fts_store, text):
    expr, note = to_fts_query(text)
    assert isinstance(expr, str) and isinstance(note, str)
    results = fts_store.search(text)
    assert isinstance(results, list)
    assert isinstance(fts_store.search(text, agent="react", limit=5), list)
    page = fts_store.page(TraceFilter(text=text), limit=500)
    assert fts_store.count_filtered(TraceFilter(text=text))[0] == len(page.rows)
    fts_store.page(TraceFilter(text=text, agent="simple"), sort="score", descending=False)
    fts_store.class_counts(TraceFilter(text=text))
    if expr:
        # search() and page() agree on what matches (search is capped by its limit)
        found = {r["trace_id"] for r in fts_store.search(text, limit=1000)}
        assert found == {r.trace_id for r in page.rows}
    else:
        assert results == []
        # no words (an empty box, operators, punctuation) shows everything and says
        # so; only exclusions show every trace without them
        every = not text.strip() or "showing all" in note
        if "without them" in note:
            assert len(page.rows) <= 2 ** len(WORDS)
        else:
            assert len(page.rows) == (2 ** len(WORDS) if every else 0)


@SETTINGS
@given(words=st.lists(st.sampled_from(WORDS[:5]), min_size=1, max_size=3, unique=True))
def test_plain_words_are_anded(fts_store, words):
    text = " ".join(words)
    got = {r.trace_id for r in fts_store.page(TraceFilter(text=text), limit=500).rows}
    expected = set()
    for i in range(2 ** len(WORDS)):
        present = {WORDS[j] for j in range(len(WORDS)) if (i >> j) & 1}
        if set(words) <= present:
            expected.add(f"s{i:03d}")
    assert got == expected


@SETTINGS
@given(text=st.text(max_size=40))
def test_unbalanced_quote_is_noted(text):
    expr, note = to_fts_query(text + ' "alpha')
    if text.count('"') % 2 == 0:
        assert "quote" in note
        assert '"alpha"' in expr


@SETTINGS
@given(words=st.lists(st.sampled_from(WORDS[:5]), min_size=1, max_size=2, unique=True))
def test_exclusions_alone_keep_every_trace_without_them(fts_store, words):
    """`-a -b` alone (finding 1 of issue 10's walkthrough): every trace with neither."""
    text = " ".join(f"-{w}" for w in words)
    got = {r.trace_id for r in fts_store.page(TraceFilter(text=text), limit=500).rows}
    expected = set()
    for i in range(2 ** len(WORDS)):
        present = {WORDS[j] for j in range(len(WORDS)) if (i >> j) & 1}
        if not set(words) & present:
            expected.add(f"s{i:03d}")
    assert got == expected
    assert fts_store.count_filtered(TraceFilter(text=text))[0] == len(expected)
