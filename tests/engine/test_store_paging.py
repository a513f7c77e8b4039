"""Keyset paging: every trace exactly once, in order, for every sort and filter."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pytest

from jarvis_tui.core.types import Trace
from jarvis_tui.learning.classify import classify_query
from jarvis_tui.traces.store import SORT_EXPR, TraceFilter, TraceRow, TraceStore

N = 2_500
AGENTS = ("simple", "react", "orchestrator")
MODELS = ("qwen3:8b", "gpt-4o-mini", "llama3.1:70b", "deepseek-coder:6.7b")
QUERY_KINDS = (
    "def f{i}(x): return x  # alpha",  # code
    "solve the equation x + {i} = 0 beta",  # math
    "hi {i} alpha",  # short
    "long beta {i} " + "word " * 120,  # long
    "tell me something interesting about the number {i} and alpha centauri",  # general
)


@dataclass(frozen=True)
class Truth:
    rowid: int
    trace_id: str
    started_at: float
    qclass: str
    agent: str
    model: str
    outcome: Optional[str]
    feedback: Optional[float]
    latency: float
    tokens: int
    words: frozenset[str]

    def value(self, sort: str) -> Any:
        return {
            "time": self.started_at,
            "score": -1.0 if self.feedback is None else self.feedback,
            "latency": self.latency,
            "tokens": self.tokens,
            "agent": self.agent,
            "model": self.model,
            "class": self.qclass,
        }[sort]


def _traces() -> list[Trace]:
    rng = random.Random(20240601)
    out = []
    for i in range(N):
        q = rng.choice(QUERY_KINDS).format(i=i)
        out.append(
            Trace(
                trace_id=f"p{i:05d}",
                query=q,
                agent=rng.choice(AGENTS),
                model=rng.choice(MODELS),
                outcome=rng.choice([None, None, "success", "failure"]),
                # half unrated; few distinct scores: long runs of ties
                feedback=rng.choice([None, None, None, None, 0.0, 0.25, 0.5, 1.0]),
                started_at=1_760_000_000.0 + rng.randrange(400),  # ~6 traces per second
                total_latency_seconds=rng.choice([0.5, 1.0, 1.0, 2.0, 3.5]),
                total_tokens=rng.choice([0, 10, 100, 1000]),
                result="r",
            )
        )
    return out


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    path = tmp_path_factory.mktemp("paging") / "traces.db"
    traces = _traces()
    store = TraceStore(path)
    assert store.save_many(traces, batch_size=1_000) == N
    conn = sqlite3.connect(path)
    ids = dict(conn.execute("SELECT trace_id, id FROM traces"))
    conn.close()
    truth = [
        Truth(
            rowid=ids[t.trace_id],
            trace_id=t.trace_id,
            started_at=t.started_at,
            qclass=classify_query(t.query),
            agent=t.agent,
            model=t.model,
            outcome=t.outcome,
            feedback=t.feedback,
            latency=t.total_latency_seconds,
            tokens=t.total_tokens,
            words=frozenset(t.query.split()),
        )
        for t in traces
    ]
    yield store, truth
    store.close()


def expected_order(truth: list[Truth], sort: str, descending: bool, keep=lambda t: True):
    rows = [t for t in truth if keep(t)]
    rows.sort(key=lambda t: (t.value(sort), t.rowid), reverse=descending)
    return [t.trace_id for t in rows]


def walk(store: TraceStore, flt: TraceFilter, sort: str, descending: bool, limit: int = 100):
    """Page forward to the end; returns the pages."""
    pages = []
    after = None
    for _ in range(N // max(limit, 1) + 5):
        page = store.page(flt, sort=sort, descending=descending, after=after, limit=limit)
        pages.append(page)
        if not page.has_more:
            return pages
        assert len(page.rows) == limit, "a page with more after it must be full"
        after = page.rows[-1].sort_key(sort)
    raise AssertionError("paging did not terminate")


SORTS = sorted(SORT_EXPR)


def test_dataset_has_ties(paged):
    _, truth = paged
    for sort in SORTS:
        values = [t.value(sort) for t in truth]
        assert len(set(values)) < len(values) / 5, f"{sort}: needs many ties"


@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
@pytest.mark.parametrize("sort", SORTS)
def test_forward_paging_visits_every_trace_once_in_order(paged, sort, descending):
    store, truth = paged
    pages = walk(store, TraceFilter(), sort, descending)
    got = [r.trace_id for p in pages for r in p.rows]
    assert len(got) == N
    assert len(set(got)) == N
    assert got == expected_order(truth, sort, descending)
    assert len(pages) == -(-N // 100)


@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
@pytest.mark.parametrize("sort", SORTS)
def test_before_returns_previous_page_in_display_order(paged, sort, descending):
    store, _ = paged
    pages = walk(store, TraceFilter(), sort, descending)
    assert len(pages) > 3
    for k in range(len(pages) - 1, 0, -1):
        first = pages[k].rows[0].sort_key(sort)
        prev = store.page(sort=sort, descending=descending, before=first, limit=100)
        assert [r.trace_id for r in prev.rows] == [r.trace_id for r in pages[k - 1].rows]
        assert prev.has_more == (k - 1 > 0)


@pytest.mark.parametrize("sort", ["time", "score", "latency"])
def test_small_pages_through_ties(tmp_path, make_trace, sort):
    """250 traces with identical time, latency and (no) score: limit 7 pages through all."""
    with TraceStore(tmp_path / "ties.db") as store:
        store.save_many(
            make_trace(i, started_at=5.0, total_latency_seconds=1.0, feedback=None)
            for i in range(250)
        )
        for descending in (True, False):
            pages = walk(store, TraceFilter(), sort, descending, limit=7)
            got = [r.rowid for p in pages for r in p.rows]
            assert got == sorted(range(1, 251), reverse=descending)
            # and back again from the end
            back = []
            before = pages[-1].rows[0].sort_key(sort)
            while True:
                page = store.page(sort=sort, descending=descending, before=before, limit=7)
                back = [r.rowid for r in page.rows] + back
                if not page.has_more:
                    break
                before = page.rows[0].sort_key(sort)
            assert back + [r.rowid for r in pages[-1].rows] == got


FILTERS: list[tuple[str, TraceFilter, Callable[[Truth], bool]]] = [
    ("agent", TraceFilter(agent="react"), lambda t: t.agent == "react"),
    ("model", TraceFilter(model="qwen3:8b"), lambda t: t.model == "qwen3:8b"),
    ("success", TraceFilter(outcome="success"), lambda t: t.outcome == "success"),
    ("unknown", TraceFilter(outcome="unknown"), lambda t: t.outcome is None),
    ("class", TraceFilter(query_class="code"), lambda t: t.qclass == "code"),
    # labelled: a score or an outcome
    ("labelled", TraceFilter(labelled=True), lambda t: t.feedback is not None or bool(t.outcome)),
    ("unlabelled", TraceFilter(labelled=False), lambda t: t.feedback is None and not t.outcome),
    (
        "since-until",
        TraceFilter(since=1_760_000_100.0, until=1_760_000_200.0),
        lambda t: 1_760_000_100.0 <= t.started_at <= 1_760_000_200.0,
    ),
    ("text", TraceFilter(text="alpha"), lambda t: "alpha" in t.words),
    (
        "combined",
        TraceFilter(agent="simple", outcome="unknown", labelled=False, since=1_760_000_050.0),
        lambda t: (
            t.agent == "simple"
            and t.outcome is None
            and t.feedback is None
            and t.started_at >= 1_760_000_050.0
        ),
    ),
    (
        "combined-text",
        TraceFilter(text="beta", query_class="math", model="gpt-4o-mini", until=1_760_000_300.0),
        lambda t: (
            "beta" in t.words
            and t.qclass == "math"
            and t.model == "gpt-4o-mini"
            and t.started_at <= 1_760_000_300.0
        ),
    ),
    (
        "everything",
        TraceFilter(
            agent="orchestrator",
            model="llama3.1:70b",
            outcome="failure",
            query_class="short",
            labelled=True,
            since=1_760_000_000.0,
            until=1_760_000_399.0,
            text="alpha",
        ),
        lambda t: (
            t.agent == "orchestrator"
            and t.model == "llama3.1:70b"
            and t.outcome == "failure"
            and t.qclass == "short"  # labelled: it has an outcome
            and "alpha" in t.words
        ),
    ),
    ("nothing", TraceFilter(agent="nobody"), lambda t: False),
]


@pytest.mark.parametrize(
    ("sort", "descending"), [("time", True), ("score", False), ("latency", True), ("tokens", False)]
)
@pytest.mark.parametrize(("name", "flt", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filtered_paging_and_counts(paged, name, flt, keep, sort, descending):
    store, truth = paged
    expected = expected_order(truth, sort, descending, keep)
    if name != "nothing":
        assert expected, "the filter is meant to match something"
    pages = walk(store, flt, sort, descending, limit=37)
    got = [r.trace_id for p in pages for r in p.rows]
    assert got == expected
    labelled = sum(1 for t in truth if keep(t) and (t.feedback is not None or t.outcome))
    assert store.count_filtered(flt) == (len(expected), labelled)


def test_rows_carry_the_narrow_columns(paged):
    store, truth = paged
    by_id = {t.trace_id: t for t in truth}
    for row in store.page(limit=300).rows:
        t = by_id[row.trace_id]
        assert isinstance(row, TraceRow)
        assert (row.rowid, row.started_at, row.query_class, row.agent, row.model) == (
            t.rowid, t.started_at, t.qclass, t.agent, t.model,
        )  # fmt: skip
        assert (row.outcome, row.feedback, row.latency, row.tokens) == (
            t.outcome, t.feedback, t.latency, t.tokens,
        )  # fmt: skip
        assert len(row.snippet) <= 240


@pytest.mark.parametrize(
    ("sort", "descending"), [("time", True), ("score", False), ("tokens", True)]
)
def test_position_matches_paging_index(paged, sort, descending):
    store, _ = paged
    flt = TraceFilter(outcome="unknown")
    rows = [r for p in walk(store, flt, sort, descending) for r in p.rows]
    for idx in (0, 1, 99, 100, len(rows) // 2, len(rows) - 1):
        assert store.position(flt, sort, descending, rows[idx].sort_key(sort)) == idx


@pytest.mark.parametrize(
    ("sort", "descending"), [("time", True), ("score", False), ("latency", True)]
)
def test_key_at_is_the_key_of_the_row_at_that_position(paged, sort, descending):
    """A jump deep into the store: the page after ``key_at(n - 1)`` starts at row n."""
    store, _ = paged
    flt = TraceFilter(outcome="unknown")
    rows = [r for p in walk(store, flt, sort, descending) for r in p.rows]
    for idx in (0, 1, 99, 100, len(rows) // 2, len(rows) - 1):
        assert store.key_at(flt, sort, descending, idx) == rows[idx].sort_key(sort)
        after = store.key_at(flt, sort, descending, idx - 1)
        page = store.page(flt, sort=sort, descending=descending, after=after, limit=3)
        assert [r.trace_id for r in page.rows] == [r.trace_id for r in rows[idx : idx + 3]]
    assert store.key_at(flt, sort, descending, len(rows)) is None


def test_unknown_sort_is_value_error(paged):
    store, _ = paged
    with pytest.raises(ValueError):
        store.page(sort="query; DROP TABLE traces")


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize(
    "flt",
    [
        TraceFilter(text="alpha"),
        TraceFilter(text="beta", agent="react"),
        TraceFilter(text="alpha -centauri", labelled=False),
        TraceFilter(text="alpha OR beta", outcome="unknown"),
        TraceFilter(text="nomatchword"),
    ],
    ids=lambda f: f.text,
)
def test_frequent_term_probe_pages_like_the_match_set(paged, monkeypatch, flt, descending):
    """The time-index probe (used above FTS_SET_MAX matches) returns the same pages,
    forwards and backwards, as materialising the match set."""
    import jarvis_tui.traces.store as store_mod

    store, _ = paged
    monkeypatch.setattr(store_mod, "FTS_SET_MAX", 10**9)  # always the match set
    expected = [r.trace_id for p in walk(store, flt, "time", descending, 37) for r in p.rows]
    monkeypatch.setattr(store_mod, "FTS_SET_MAX", -1)  # always the probe
    pages = walk(store, flt, "time", descending, 37)
    assert [r.trace_id for p in pages for r in p.rows] == expected
    if len(pages) > 2:
        back = store.page(flt, descending=descending, before=pages[2].rows[0].sort_key("time"),
                          limit=37)  # fmt: skip
        assert [r.trace_id for r in back.rows] == [r.trace_id for r in pages[1].rows]
