"""One bad row never bricks a workspace (issue 12.4), search that reads stray quotes
and bare operators as the README says (issue 10), labelled counts, the event bus."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.core.events import Event, EventBus, EventType
from jarvis_tui.traces import TraceFilter, TraceStore, to_fts_query
from tests.engine.conftest import build_trace

REPO = Path(__file__).resolve().parents[2]
DEEP = "[" * 1000 + "]" * 1000  # 2 KB that makes json.loads raise RecursionError
GOOD = 40


def _hostile_workspace(home: Path) -> Path:
    """A workspace with GOOD ordinary, labelled traces plus two written by "someone
    else" with plain sqlite3: one whose query and result are not valid UTF-8, one
    whose metadata, messages and step input are JSON nested 1,000 deep."""
    home.mkdir(parents=True, exist_ok=True)
    db = home / "traces.db"
    store = TraceStore(db)
    store.save_many(
        build_trace(
            i,
            model=["m-a", "m-b"][i % 2],
            feedback=[0.9, 0.4, 0.7, 0.2][i % 4],
            outcome=["success", "failure"][i % 2],
        )
        for i in range(GOOD)
    )
    store.close()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO traces(trace_id, query, agent, model, engine, result, feedback,"
        " started_at, metadata, messages)"
        " VALUES ('bad-utf8', CAST(x'ff616263' AS TEXT), 'simple', 'm-a', 'e',"
        " CAST(x'c328' AS TEXT), 0.8, 1700000100.0, '{}', '[]')"
    )
    conn.execute(
        "INSERT INTO traces(trace_id, query, agent, model, engine, result, feedback,"
        " started_at, metadata, messages)"
        " VALUES ('deep', 'deeply nested question', 'simple', 'm-b', 'e', 'ok', 0.6,"
        " 1700000101.0, ?, ?)",
        (DEEP, DEEP),
    )
    conn.execute(
        "INSERT INTO trace_steps(trace_id, step_index, step_type, input, output, metadata)"
        " VALUES ('deep', 0, 'tool_call', ?, '{}', '{}')",
        (DEEP,),
    )
    conn.commit()
    conn.close()
    return db


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return _hostile_workspace(tmp_path / "w")


def test_workspace_with_bad_rows_opens_and_everything_else_works(hostile: Path) -> None:
    store = TraceStore(hostile)  # raised "user-defined function raised exception"
    try:
        assert store.count() == GOOD + 2
        bad = store.get("bad-utf8")
        assert bad is not None and bad.query == "\ufffdabc" and "\ufffd" in bad.result
        deep = store.get("deep")
        assert deep is not None and deep.query == "deeply nested question"
        assert deep.metadata == {"_invalid_json": DEEP}  # the raw text, shown as it is
        assert deep.messages == [{"_invalid_json": DEEP}]
        assert deep.steps[0].input == {"_invalid_json": DEEP}
        # every read path of the browser and the learning loop
        page = store.page(limit=100)
        assert {r.trace_id for r in page.rows} >= {"bad-utf8", "deep", "t00000"}
        assert next(r for r in page.rows if r.trace_id == "bad-utf8").snippet == "\ufffdabc"
        assert len(store.list_traces(limit=1000)) == GOOD + 2
        assert len(list(store.iter_traces())) == GOOD + 2
        assert len(list(store.iter_pairs())) == GOOD + 2
        assert sum(store.class_counts().values()) == GOOD + 2
        assert store.facets()["models"] == ["m-a", "m-b"]
        assert store.feedback_stats() and store.cube(min_quality=0.5)
        assert store.tool_counts()
        assert [r["trace_id"] for r in store.search("abc")] == ["bad-utf8"]
        assert store.search("nested")[0]["trace_id"] == "deep"
        # and the bad rows can still be labelled
        store.set_label("bad-utf8", feedback=0.1, note="garbled")
        assert store.get("bad-utf8").feedback == 0.1
        assert [h.field for h in store.label_history("bad-utf8")] == ["feedback", "note"]
    finally:
        store.close()


def test_each_bad_row_is_reported_once_with_its_reason(
    hostile: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jarvis_tui.traces.store")
    with TraceStore(hostile) as store:
        for _ in range(3):  # reading again adds nothing
            store.get("bad-utf8")
            store.get("deep")
            store.page()
            list(store.iter_traces())
        problems = {p.trace_id: p.why for p in store.problems}
        assert set(problems) == {"bad-utf8", "deep"}
        assert "UTF-8" in problems["bad-utf8"] and "query" in problems["bad-utf8"]
        assert "deeper than" in problems["deep"] and "metadata" in problems["deep"]
        assert "step input" in problems["deep"]
    lines = [r.getMessage() for r in caplog.records]
    for line in set(lines):
        assert lines.count(line) == 1, line
    assert any("'deep'" in line and "metadata" in line for line in lines)


def test_json_within_limits_still_parses(store) -> None:
    nested: object = {"leaf": 1}
    for _ in range(40):
        nested = {"k": [nested]}
    store.save(build_trace(1, metadata={"tree": nested, "s": "[[[[" * 200}))
    assert store.get("t00001").metadata == {"tree": nested, "s": "[[[[" * 200}
    assert store.problems == []


def test_cli_learn_and_optimize_work_on_a_hostile_workspace(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(hostile.parent)
    assert main(["learn", "--home", home]) == 0
    assert main(["optimize", "--home", home, "--trials", "2"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "user-defined function" not in err


def test_app_opens_a_hostile_workspace(hostile: Path) -> None:
    # A subprocess keeps Textual out of the engine tests' interpreter.
    script = textwrap.dedent(
        """
        import asyncio, sys
        from textual.widgets import Static
        from jarvis_tui.ui.app import JarvisApp
        from jarvis_tui.ui.testing import settle

        async def run() -> None:
            app = JarvisApp(sys.argv[1])
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(app, pilot)
                print(app.query_one("#traces-status", Static).render())

        asyncio.run(run())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(hostile.parent)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"of {GOOD + 2:,}" in proc.stdout


# --------------------------------------------------------------------------- search


@pytest.fixture
def words(store) -> TraceStore:
    store.save_many(
        [
            build_trace(1, query="csv large export"),
            build_trace(2, query="large csv file"),
            build_trace(3, query="small json"),
        ]
    )
    return store


def _ids(page) -> list[str]:
    return [r.trace_id for r in page.rows]


@pytest.mark.parametrize("text", ['"csv large', 'csv large"', 'csv "large', 'csv large "'])
def test_a_stray_quote_anywhere_is_read_as_words(words: TraceStore, text: str) -> None:
    page = words.page(TraceFilter(text=text))
    assert _ids(page) == ["t00002", "t00001"]  # both, as for `csv large`
    assert "quote" in page.fts_note and "words" in page.fts_note
    assert words.count_filtered(TraceFilter(text=text))[0] == 2


def test_balanced_quotes_still_make_a_phrase(words: TraceStore) -> None:
    assert _ids(words.page(TraceFilter(text='"csv large"'))) == ["t00001"]
    assert _ids(words.page(TraceFilter(text='"csv large" "small'))) == []
    expr, note = to_fts_query('"csv large" export "stray')
    assert expr == '"csv large" AND "export" AND "stray"' and "quote" in note


@pytest.mark.parametrize("text", ["*", "AND", "OR", "NOT", "AND OR *", '""', "- *"])
def test_only_operators_says_so_and_shows_every_trace(words: TraceStore, text: str) -> None:
    page = words.page(TraceFilter(text=text))
    assert _ids(page) == ["t00003", "t00002", "t00001"]  # all, newest first
    assert "showing all" in page.fts_note
    assert words.count_filtered(TraceFilter(text=text)) == (3, 0)


# --------------------------------------------------------------------------- labelled


def test_an_outcome_alone_counts_as_labelled(store) -> None:
    store.save_many(
        [
            build_trace(1, feedback=0.5),
            build_trace(2, outcome="success"),
            build_trace(3, outcome="failure"),
            build_trace(4),
        ]
    )
    assert store.count_filtered() == (4, 3)
    assert store.count_filtered(TraceFilter(labelled=True)) == (3, 3)
    assert store.count_filtered(TraceFilter(labelled=False)) == (1, 0)
    store.set_label("t00004", outcome="success")
    assert store.count_filtered() == (4, 4)


# --------------------------------------------------------------------------- bus


def test_subscribe_to_bus_saves_completed_traces(store) -> None:
    bus = EventBus()
    store.subscribe_to_bus(bus)
    trace = build_trace(7)
    bus.publish(EventType.TRACE_COMPLETE, {"trace": trace})
    bus.publish(EventType.TRACE_COMPLETE, {"trace": trace})  # a re-save is a no-op
    bus.publish(EventType.TRACE_STEP, {"trace": build_trace(8)})  # not ours
    bus.publish(EventType.TRACE_COMPLETE, {"trace": "not a trace"})
    assert store.count() == 1
    got = store.get("t00007")
    assert got is not None and got.query == trace.query and len(got.steps) == 2


def test_an_openjarvis_style_bus_works_too(store) -> None:
    """Duck typing: any bus with ``subscribe(event_type, callback)`` whose events carry
    ``data["trace"]`` (OpenJarvis's EventBus) can feed the store."""

    class ForeignBus:
        def __init__(self) -> None:
            self.subs: dict[str, list] = {}

        def subscribe(self, event_type, callback) -> None:
            self.subs.setdefault(str(getattr(event_type, "value", event_type)), []).append(callback)

    bus = ForeignBus()
    store.subscribe_to_bus(bus)
    for cb in bus.subs["trace_complete"]:
        cb(Event(EventType.TRACE_COMPLETE, 0.0, {"trace": build_trace(3)}))
    assert store.get("t00003") is not None
    assert store.count() == 1
