"""TraceStore behaviour: round trip, listing, counts, search, labels, bad input, files."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.learning.classify import classify_query
from jarvis_tui.traces.store import (
    NotATraceStore,
    ReadOnlyStore,
    StoreError,
    TraceFilter,
    TraceStore,
    to_fts_query,
)


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=15)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- round trip


def _full_trace() -> Trace:
    steps = [
        TraceStep(StepType.ROUTE, 1.25, 0.01, {"query": "q"}, {"model": "m"}, {"a": [1, 2]}),
        TraceStep(StepType.RETRIEVE, 1.5, 0.02, {"k": 3}, {"docs": ["d1", "d2"]}, {}),
        TraceStep(StepType.GENERATE, 1.75, 0.5, {"prompt": "p"}, {"content": "c", "tokens": 7}),
        TraceStep(
            StepType.TOOL_CALL,
            2.0,
            0.2,
            {"tool": "calculator", "args": {"expr": "1+1", "nested": {"x": None}}},
            {"result": 2, "ok": True},
            {"retries": 0},
        ),
        TraceStep(StepType.RESPOND, 2.5, 0.3, {}, {"content": "deux — ✓"}, {"final": True}),
    ]
    return Trace(
        trace_id="rt-1",
        query="what is 1+1? — ünïcode ✓",
        agent="react",
        model="gpt-4o-mini",
        engine="ollama",
        steps=steps,
        result="2",
        outcome="success",
        feedback=0.75,
        started_at=1_760_000_000.125,
        ended_at=1_760_000_002.5,
        total_tokens=1234,
        total_latency_seconds=2.375,
        metadata={"user": "u1", "tags": ["a", "b"], "nested": {"n": 1.5, "none": None}},
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is 1+1?"},
            {"role": "assistant", "content": "2", "tool_calls": [{"id": "c1"}]},
        ],
    )


def test_save_get_round_trips_every_field(store):
    trace = _full_trace()
    store.save(trace)
    got = store.get("rt-1")
    assert got == trace
    assert [type(s.step_type) for s in got.steps] == [StepType] * 5
    assert [s.step_type for s in got.steps] == [s.step_type for s in trace.steps]
    assert got.steps[3].input == {
        "tool": "calculator",
        "args": {"expr": "1+1", "nested": {"x": None}},
    }


def test_round_trip_survives_reopen(tmp_path):
    trace = _full_trace()
    with TraceStore(tmp_path / "t.db") as s:
        s.save(trace)
    with TraceStore(tmp_path / "t.db") as s:
        assert s.get("rt-1") == trace
        assert s.count() == 1


def test_get_unknown_id_is_none(store, make_trace):
    store.save(make_trace(1))
    assert store.get("nope") is None
    assert store.get("") is None


def test_duplicate_save_is_a_noop(store, make_trace):
    original = make_trace(1, n_steps=2)
    store.save(original)
    imposter = make_trace(1, n_steps=4, query="changed", feedback=0.1, result="other")
    store.save(imposter)
    assert store.count() == 1
    got = store.get(original.trace_id)
    assert got == original
    assert len(got.steps) == 2
    with _raw(store.path) as c:
        assert c.execute("SELECT count(*) FROM trace_steps").fetchone()[0] == 2


def test_save_many_counts_only_new_traces(store, make_trace):
    assert store.save_many([make_trace(1), make_trace(2)]) == 2
    batch = [make_trace(2), make_trace(3), make_trace(3), make_trace(1), make_trace(4)]
    assert store.save_many(batch) == 2
    assert store.count() == 4
    assert store.save_many([]) == 0
    # small batches: duplicates spanning batch boundaries are still skipped
    assert store.save_many((make_trace(i) for i in range(10)), batch_size=3) == 6
    assert store.count() == 10
    with _raw(store.path) as c:
        assert c.execute("SELECT count(*) FROM trace_steps").fetchone()[0] == 20


def test_save_rejects_out_of_range_feedback(store, make_trace):
    with pytest.raises(ValueError):
        store.save(make_trace(1, feedback=1.5))
    assert store.count() == 0
    assert store.get("t00001") is None


# --------------------------------------------------------------------------- list_traces


@pytest.fixture
def listed(store, make_trace):
    traces = [
        make_trace(
            i,
            agent=["simple", "react"][i % 2],
            model=["m1", "m2", "m3"][i % 3],
            outcome=[None, "success", "failure"][i % 3],
            started_at=1000.0 + (i * 7) % 20,  # shuffled insertion order vs time
            n_steps=1 + i % 3,
        )
        for i in range(20)
    ]
    store.save_many(traces)
    return store, traces


def test_list_traces_newest_first_with_steps(listed):
    store, traces = listed
    got = store.list_traces(limit=100)
    assert len(got) == 20
    assert [t.started_at for t in got] == sorted((t.started_at for t in traces), reverse=True)
    by_id = {t.trace_id: t for t in traces}
    for t in got:
        assert t == by_id[t.trace_id]
        assert len(t.steps) == len(by_id[t.trace_id].steps) > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"agent": "react"},
        {"model": "m2"},
        {"outcome": "success"},
        {"outcome": "failure", "agent": "simple"},
        {"since": 1005.0},
        {"until": 1005.0},
        {"since": 1003.0, "until": 1003.0},
        {"since": 1004.0, "until": 1012.0, "model": "m1"},
    ],
)
def test_list_traces_filters(listed, kwargs):
    store, traces = listed

    def keep(t: Trace) -> bool:
        for k in ("agent", "model", "outcome"):
            if k in kwargs and getattr(t, k) != kwargs[k]:
                return False
        if "since" in kwargs and t.started_at < kwargs["since"]:
            return False
        if "until" in kwargs and t.started_at > kwargs["until"]:
            return False
        return True

    expected = sorted((t for t in traces if keep(t)), key=lambda t: -t.started_at)
    got = store.list_traces(**kwargs)
    assert [t.trace_id for t in got] == [t.trace_id for t in expected]
    assert got, "filter chosen to match something"


def test_list_traces_since_until_inclusive_single(listed):
    store, traces = listed
    exact = [t for t in traces if t.started_at == 1003.0]
    got = store.list_traces(since=1003.0, until=1003.0)
    assert [t.trace_id for t in got] == [t.trace_id for t in exact]


def test_list_traces_limit(listed):
    store, traces = listed
    got = store.list_traces(limit=5)
    newest = sorted(traces, key=lambda t: -t.started_at)[:5]
    assert [t.trace_id for t in got] == [t.trace_id for t in newest]
    assert store.list_traces(limit=0) == []


# --------------------------------------------------------------------------- counts

QUERIES = [
    "def add(a, b): return a + b",
    "solve the equation x^2 = 4",
    "hi",
    "x" * 600,
    "please tell me a little about the history of the printing press",
    "```python\nprint(1)\n```",
    "ok",
]


@pytest.fixture
def counted(store, make_trace):
    traces = [
        make_trace(
            i,
            query=QUERIES[i % len(QUERIES)],
            agent=["simple", "react", "orchestrator"][i % 3],
            model=["m1", "m2"][i % 2],
            outcome=[None, "success", "failure", "success"][i % 4],
            feedback=[None, 0.0, 1.0, None, 0.5][i % 5],
            started_at=2000.0 + i,
        )
        for i in range(40)
    ]
    store.save_many(traces)
    return store, traces


def test_count_and_count_filtered(counted):
    store, traces = counted
    assert store.count() == 40

    def is_labelled(t):  # a score or an outcome
        return t.feedback is not None or t.outcome is not None

    assert store.count_filtered() == (40, sum(map(is_labelled, traces)))

    def expect(pred):
        sel = [t for t in traces if pred(t)]
        return len(sel), sum(map(is_labelled, sel))

    assert store.count_filtered(TraceFilter(agent="react")) == expect(lambda t: t.agent == "react")
    assert store.count_filtered(TraceFilter(outcome="unknown")) == expect(
        lambda t: t.outcome is None
    )
    assert store.count_filtered(TraceFilter(labelled=True)) == expect(is_labelled)
    assert store.count_filtered(TraceFilter(labelled=False)) == (
        sum(not is_labelled(t) for t in traces),
        0,
    )
    assert store.count_filtered(TraceFilter(query_class="code", model="m1")) == expect(
        lambda t: classify_query(t.query) == "code" and t.model == "m1"
    )
    assert store.count_filtered(TraceFilter(since=2010.0, until=2019.0)) == expect(
        lambda t: 2010.0 <= t.started_at <= 2019.0
    )
    assert store.count_filtered(TraceFilter(agent="nobody")) == (0, 0)


def test_class_counts(counted):
    store, traces = counted
    expected: dict[str, int] = {}
    for t in traces:
        c = classify_query(t.query)
        expected[c] = expected.get(c, 0) + 1
    assert set(expected) == {"code", "math", "short", "long", "general"}
    assert store.class_counts() == expected
    react = {}
    for t in traces:
        if t.agent == "react":
            c = classify_query(t.query)
            react[c] = react.get(c, 0) + 1
    assert store.class_counts(TraceFilter(agent="react")) == react


def test_facets(counted):
    store, _ = counted
    assert store.facets() == {"agents": ["orchestrator", "react", "simple"], "models": ["m1", "m2"]}


def test_counts_on_empty_store(store):
    assert store.count() == 0
    assert store.count_filtered() == (0, 0)
    assert store.class_counts() == {}
    assert store.facets() == {"agents": [], "models": []}
    assert store.page().rows == []
    assert store.list_traces() == []


# --------------------------------------------------------------------------- search


@pytest.fixture
def searchable(store, make_trace):
    filler = " ".join(f"filler{k}" for k in range(60))
    traces = [
        make_trace(1, query=f"zebra {filler}", agent="simple"),
        make_trace(2, query="zebra zebra zebra crossing", agent="react"),
        make_trace(3, query="the quick brown fox", agent="simple"),
        make_trace(4, query="brown quick fox jumps", agent="react"),
        make_trace(5, query="apples and oranges", agent="simple"),
        make_trace(6, query="zebras are striped", agent="simple"),
    ]
    store.save_many(traces)
    return store


def _ids(results):
    return [r["trace_id"] for r in results]


def test_search_best_match_first(searchable):
    got = searchable.search("zebra")
    assert _ids(got) == ["t00002", "t00001"]
    assert got[0]["query"] == "zebra zebra zebra crossing"
    assert set(got[0]) >= {"trace_id", "query", "result", "agent", "model", "outcome", "started_at"}


def test_search_agent_filter_and_limit(searchable):
    assert _ids(searchable.search("zebra", agent="simple")) == ["t00001"]
    assert _ids(searchable.search("zebra", agent="nobody")) == []
    assert len(searchable.search("zebra", limit=1)) == 1


def test_search_syntax(searchable):
    assert set(_ids(searchable.search("zeb*"))) == {"t00001", "t00002", "t00006"}
    assert _ids(searchable.search('"quick brown"')) == ["t00003"]
    assert set(_ids(searchable.search("quick brown"))) == {"t00003", "t00004"}
    assert _ids(searchable.search("fox -jumps")) == ["t00003"]
    assert set(_ids(searchable.search("apples OR crossing"))) == {"t00005", "t00002"}


@pytest.mark.parametrize(
    "text",
    ['"', 'zebra "cross', "AND", "zebra AND", "*", "-", "OR", "", "   ", "-foo", "-foo -bar",
     "NOT", "(", ")", "a:b", "NEAR(a b)", "^zebra", '""', "zebra OR", "OR zebra", "*zebra",
     "zebra*", "-*", "'", "\\", "\x00", "{col}: x", "zebra\x1b[31m"],
)  # fmt: skip
def test_search_user_syntax_never_raises(searchable, text):
    res = searchable.search(text)
    assert isinstance(res, list)
    page = searchable.page(TraceFilter(text=text))
    assert isinstance(page.rows, list)
    matching, _ = searchable.count_filtered(TraceFilter(text=text))
    assert matching == len(page.rows)


def test_search_stray_quote_reads_as_words(searchable):
    assert _ids(searchable.search('"zebra zebra crossing')) == ["t00002"]
    assert _ids(searchable.search("zebra AND crossing")) == ["t00002"]


def test_search_exclusion_only_keeps_every_trace_without_it(searchable):
    assert searchable.search("-zebra") == []  # nothing to rank by
    page = searchable.page(TraceFilter(text="-zebra"))
    # the word zebra, not "zebras" (no prefix)
    assert sorted(r.trace_id for r in page.rows) == ["t00003", "t00004", "t00005", "t00006"]
    assert "without" in page.fts_note


def test_to_fts_query_notes():
    expr, note = to_fts_query('"foo bar')
    assert expr == '"foo" AND "bar"'  # a stray quote reads as words
    assert "quote" in note
    assert to_fts_query("foo bar") == ('"foo" AND "bar"', "")
    assert to_fts_query("") == ("", "")
    expr, note = to_fts_query("-foo")
    assert expr == "" and note
    expr, note = to_fts_query("a AND b")
    assert expr == '"a" AND "b"' and "AND" in note
    assert to_fts_query("a OR b")[0] == '("a" OR "b")'
    assert to_fts_query("pre*")[0] == '"pre"*'


# --------------------------------------------------------------------------- labels


def _raw_label(store: TraceStore, trace_id: str):
    with _raw(store.path) as c:
        return c.execute(
            "SELECT feedback, outcome FROM traces WHERE trace_id = ?", (trace_id,)
        ).fetchone()


def test_update_feedback(store, make_trace):
    store.save(make_trace(1))
    assert store.update_feedback("t00001", 0.25) is True
    assert _raw_label(store, "t00001") == (0.25, None)
    assert store.get("t00001").feedback == 0.25
    assert store.update_feedback("missing", 0.5) is False
    assert store.label_history("missing") == []
    hist = store.label_history("t00001")
    assert [(h.field, h.old_value, h.new_value) for h in hist] == [("feedback", None, 0.25)]


@pytest.mark.parametrize("bad", [7, -0.1, 1.0000001, math.nan, math.inf, True, False, "0.5", [0.5]])
def test_out_of_range_score_rejected_and_nothing_written(store, make_trace, bad):
    store.save(make_trace(1, feedback=0.5))
    token = store.change_token()
    with pytest.raises(ValueError):
        store.update_feedback("t00001", bad)
    with pytest.raises(ValueError):
        store.set_label("t00001", feedback=bad, outcome="success", note="must not land")
    assert _raw_label(store, "t00001") == (0.5, None)
    assert store.label_history("t00001") == []
    assert store.note("t00001") is None
    assert store.change_token() == token


def test_set_label_writes_traces_and_history(store, make_trace):
    store.save(make_trace(1))
    change = store.set_label("t00001", feedback=0.9, outcome="success", note="looks right")
    assert (change.old_feedback, change.new_feedback) == (None, 0.9)
    assert (change.old_outcome, change.new_outcome) == (None, "success")
    assert _raw_label(store, "t00001") == (0.9, "success")
    assert store.note("t00001") == "looks right"
    hist = store.label_history("t00001")
    assert [(h.field, h.old_value, h.new_value) for h in hist] == [
        ("feedback", None, 0.9),
        ("outcome", None, "success"),
        ("note", None, "looks right"),
    ]
    assert all(h.trace_id == "t00001" and h.source == "tui" for h in hist)
    page = store.page(TraceFilter(labelled=True))
    assert [(r.trace_id, r.feedback, r.outcome) for r in page.rows] == [("t00001", 0.9, "success")]


def test_correction_keeps_previous_value(store, make_trace):
    store.save(make_trace(1))
    store.set_label("t00001", feedback=0.2)
    store.set_label("t00001", feedback=0.8)
    store.set_label("t00001", outcome="failure")
    store.set_label("t00001", outcome=None)
    store.set_label("t00001", note="first")
    store.set_label("t00001", note="second")
    assert _raw_label(store, "t00001") == (0.8, None)
    assert store.note("t00001") == "second"
    hist = [(h.field, h.old_value, h.new_value) for h in store.label_history("t00001")]
    assert hist == [
        ("feedback", None, 0.2),
        ("feedback", 0.2, 0.8),
        ("outcome", None, "failure"),
        ("outcome", "failure", None),
        ("note", None, "first"),
        ("note", "first", "second"),
    ]
    store.set_label("t00001", feedback=None)
    assert _raw_label(store, "t00001") == (None, None)
    assert store.count_filtered(TraceFilter(labelled=True)) == (0, 0)


def test_set_label_bad_outcome_and_unknown_id(store, make_trace):
    store.save(make_trace(1, outcome="success"))
    for bad in ("bogus", "unknown", "SUCCESS", 1):
        with pytest.raises(ValueError):
            store.set_label("t00001", outcome=bad)
    with pytest.raises(ValueError):
        store.set_label("t00001", feedback=0.5, outcome="bogus")
    assert _raw_label(store, "t00001") == (None, "success")
    assert store.label_history("t00001") == []
    with pytest.raises(KeyError):
        store.set_label("missing", feedback=0.5)


def test_label_bumps_change_token(store, make_trace):
    store.save(make_trace(1))
    top, gen = store.change_token()
    store.set_label("t00001", feedback=0.4)
    assert store.change_token() == (top, gen + 1)
    store.set_label("t00001", note="n")
    assert store.change_token()[1] > gen + 1


# --------------------------------------------------------------------------- bad input


def test_directory_path_is_store_error(tmp_path):
    with pytest.raises(StoreError):
        TraceStore(tmp_path)


def test_parent_that_is_a_file_is_store_error(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StoreError):
        TraceStore(tmp_path / "plain" / "traces.db")


@pytest.mark.parametrize("name", ["my db?x=1#frag%20.db", "ünï cødé.db", "a&mode=ro.db"])
def test_path_with_uri_characters(tmp_path, name):
    path = tmp_path / name
    with TraceStore(path) as s:
        s.save(Trace(trace_id="a", query="q"))
    assert path.is_file()
    with TraceStore(path, read_only=True) as s:
        assert s.count() == 1
        assert s.get("a").query == "q"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == [name]


def test_text_file_is_not_a_trace_store(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("just some text, definitely not sqlite\n" * 10)
    before = _sha(p)
    with pytest.raises(NotATraceStore):
        TraceStore(p)
    assert _sha(p) == before
    short = tmp_path / "short.db"
    short.write_bytes(b"hi")
    with pytest.raises(NotATraceStore):
        TraceStore(short)


def test_unrelated_sqlite_db_is_rejected_unchanged(tmp_path):
    p = tmp_path / "users.db"
    with sqlite3.connect(p) as c:
        c.execute("CREATE TABLE users(x)")
        c.execute("INSERT INTO users VALUES (1)")
    c.close()
    before = _sha(p)
    listing = sorted(os.listdir(tmp_path))
    with pytest.raises(NotATraceStore, match="users"):
        TraceStore(p)
    assert _sha(p) == before
    assert sorted(os.listdir(tmp_path)) == listing
    with sqlite3.connect(p) as c:
        names = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    c.close()
    assert names == {"users"}


def test_traces_table_missing_columns_rejected(tmp_path):
    p = tmp_path / "other.db"
    with sqlite3.connect(p) as c:
        c.execute("CREATE TABLE traces(id INTEGER PRIMARY KEY, trace_id TEXT, query TEXT)")
        c.execute("INSERT INTO traces(trace_id, query) VALUES ('a', 'b')")
    c.close()
    before = _sha(p)
    with pytest.raises(NotATraceStore, match="missing"):
        TraceStore(p)
    assert _sha(p) == before


def test_read_only_flag_browses_but_refuses_writes(oj_copy):
    path = oj_copy("traces.db")
    before = _sha(path)
    with TraceStore(path, read_only=True) as s:
        assert s.read_only
        assert s.count() == 300
        assert len(s.page(limit=50).rows) == 50
        assert s.count_filtered(TraceFilter(agent="react"))[0] > 0
        assert s.search("equation")
        assert len(s.get("tr0001").steps) == 3
        assert all(len(t.steps) == 3 for t in s.list_traces(limit=300))
        with pytest.raises(ReadOnlyStore):
            s.set_label("tr0001", feedback=0.5)
        with pytest.raises(ReadOnlyStore):
            s.update_feedback("tr0001", 0.5)
        with pytest.raises(ReadOnlyStore):
            s.save(Trace(trace_id="new"))
        assert s.get("tr0001").feedback is None
    assert _sha(path) == before
    with _raw(path) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    c.close()
    assert not any(t.startswith("jt_") for t in tables)


def test_read_only_missing_file_is_error(tmp_path):
    with pytest.raises(StoreError):
        TraceStore(tmp_path / "absent.db", read_only=True)
    assert not (tmp_path / "absent.db").exists()


def test_chmod_read_only_file_opens_read_only(oj_copy):
    path = oj_copy("traces.db")
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)
    try:
        if os.geteuid() == 0:
            pytest.skip("root ignores file modes; read_only=True is tested separately")
        with TraceStore(path) as s:
            assert s.read_only
            assert s.count() == 300
            with pytest.raises(ReadOnlyStore):
                s.set_label("tr0001", feedback=0.5)
    finally:
        os.chmod(path.parent, 0o755)


def test_invalid_json_is_kept_marked_not_raised(store, make_trace):
    store.save(make_trace(1))
    with _raw(store.path) as c:
        c.execute(
            "INSERT INTO traces(trace_id, query, metadata, messages) VALUES (?, ?, ?, ?)",
            ("bad", "broken json", "{not json", "[oops"),
        )
        c.execute(
            "INSERT INTO trace_steps(trace_id, step_index, step_type, input, output, metadata)"
            " VALUES ('bad', 0, 'route', '{\"unterminated', 'nan-ish', '')"
        )
        c.execute(
            "INSERT INTO trace_steps(trace_id, step_index, step_type, input, output, metadata)"
            " VALUES ('bad', 1, 'teleport', '{}', '{}', '{}')"
        )
    c.close()
    t = store.get("bad")
    assert t is not None
    assert t.metadata == {"_invalid_json": "{not json"}
    assert t.messages == [{"_invalid_json": "[oops"}]
    assert t.steps[0].input == {"_invalid_json": '{"unterminated'}
    assert t.steps[0].output == {"_invalid_json": "nan-ish"}
    assert t.steps[0].metadata == {}
    assert t.steps[1].step_type == "teleport"  # foreign step type kept as text
    store.sync()
    assert "bad" in [r.trace_id for r in store.page().rows]
    assert [t.trace_id for t in store.list_traces(limit=10)].count("bad") == 1


def test_five_megabyte_result_round_trips(store, make_trace):
    big = ("0123456789abcdef✓" * (5 * 1024 * 1024 // 17 + 1))[: 5 * 1024 * 1024]
    trace = make_trace(
        1, result=big, steps=[TraceStep(StepType.RESPOND, 1.0, 0.0, {}, {"content": big})]
    )
    store.save(trace)
    got = store.get("t00001")
    assert len(got.result) == len(big)
    assert got.result == big
    assert got.steps[0].output["content"] == big


HOSTILE = (
    "[bold red]not markup[/] [link=https://x]y[/link] \\[escaped] "
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ "
    "\x07bell\r\ncrlf\ttab \u202eRTL\u202c emoji 🧪 zero\u200bwidth"
)


def test_rich_markup_and_ansi_round_trip_byte_exact(store, make_trace):
    trace = make_trace(
        1,
        query=HOSTILE,
        result=HOSTILE,
        agent="[red]agent[/red]",
        metadata={"h": HOSTILE},
        messages=[{"role": "user", "content": HOSTILE}],
        steps=[TraceStep(StepType.GENERATE, 1.0, 0.1, {"prompt": HOSTILE}, {"content": HOSTILE})],
    )
    store.save(trace)
    got = store.get("t00001")
    assert got.query.encode() == HOSTILE.encode()
    assert got.result.encode() == HOSTILE.encode()
    assert got.metadata["h"].encode() == HOSTILE.encode()
    assert got.messages[0]["content"].encode() == HOSTILE.encode()
    assert got.steps[0].input["prompt"].encode() == HOSTILE.encode()
    assert got.steps[0].output["content"].encode() == HOSTILE.encode()
    assert got.agent == "[red]agent[/red]"
    row = store.page().rows[0]
    assert row.snippet == HOSTILE[:240]
    with _raw(store.path) as c:
        raw_meta = c.execute("SELECT metadata FROM traces WHERE trace_id='t00001'").fetchone()[0]
    c.close()
    assert json.loads(raw_meta) == {"h": HOSTILE}


# --------------------------------------------------------------------------- files


def test_new_db_file_0600_and_new_parent_dirs_0700(tmp_path):
    old = os.umask(0)  # the modes must not depend on the umask
    try:
        path = tmp_path / "new" / "deeper" / "traces.db"
        with TraceStore(path) as s:
            s.save(Trace(trace_id="x", query="q"))
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            for side in (path.with_name("traces.db-wal"), path.with_name("traces.db-shm")):
                if side.exists():
                    assert stat.S_IMODE(os.stat(side).st_mode) == 0o600, side
        assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
        assert stat.S_IMODE(os.stat(tmp_path / "new" / "deeper").st_mode) == 0o700
    finally:
        os.umask(old)


def test_existing_parent_dir_keeps_its_mode(tmp_path):
    os.chmod(tmp_path, 0o755)
    with TraceStore(tmp_path / "traces.db"):
        pass
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "traces.db").st_mode) == 0o600
