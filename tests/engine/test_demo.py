"""The demo workspace: deterministic, realistic, and with clear per-class winners."""

from __future__ import annotations

import re
import sqlite3
import stat
from collections import Counter, defaultdict
from contextlib import closing
from pathlib import Path

import pytest

from jarvis_tui.core.types import StepType, Trace
from jarvis_tui.demo import PINNED_NOW, build_demo
from jarvis_tui.learning.classify import QUERY_CLASSES, classify_query
from jarvis_tui.traces.store import TraceStore

N = 2_000
TOOLS = {"web_search", "code_exec", "calculator", "file_read", "retrieval"}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo") / "ws", traces=N, seed=7)


@pytest.fixture(scope="module")
def traces(demo_root: Path) -> list[Trace]:
    with TraceStore(demo_root / "traces.db") as store:
        return list(store.iter_traces())


def _rows(db: Path) -> tuple[list[tuple], list[tuple]]:
    with closing(sqlite3.connect(db)) as conn:
        traces = conn.execute("SELECT * FROM traces ORDER BY id").fetchall()
        steps = conn.execute("SELECT * FROM trace_steps ORDER BY id").fetchall()
    return traces, steps


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path) -> None:
    a = build_demo(tmp_path / "a", traces=300, seed=11, now=PINNED_NOW)
    b = build_demo(tmp_path / "b", traces=300, seed=11, now=PINNED_NOW)
    c = build_demo(tmp_path / "c", traces=300, seed=12, now=PINNED_NOW)
    rows_a, rows_b, rows_c = (_rows(p / "traces.db") for p in (a, b, c))
    assert len(rows_a[0]) == 300
    assert rows_a == rows_b
    assert rows_a[0] != rows_c[0]
    assert {r[1] for r in rows_a[0]}.isdisjoint({r[1] for r in rows_c[0]})


def test_count_and_returns_root(demo_root: Path, traces: list[Trace]) -> None:
    assert demo_root.name == "ws"
    assert len(traces) == N
    assert len({t.trace_id for t in traces}) == N


def test_every_query_class_is_well_represented(traces: list[Trace]) -> None:
    counts = Counter(classify_query(t.query) for t in traces)
    assert set(counts) == set(QUERY_CLASSES)
    for cls in QUERY_CLASSES:
        assert counts[cls] / N >= 0.05, (cls, counts)


def test_store_classes_match_classify_query(demo_root: Path, traces: list[Trace]) -> None:
    with TraceStore(demo_root / "traces.db") as store:
        assert store.class_counts() == dict(Counter(classify_query(t.query) for t in traces))


def test_about_sixty_percent_labelled(demo_root: Path, traces: list[Trace]) -> None:
    labelled = [t for t in traces if t.feedback is not None]
    assert 0.55 <= len(labelled) / N <= 0.65
    # "labelled" counts a score or an outcome (an outcome alone is a label too)
    any_label = [t for t in traces if t.feedback is not None or t.outcome is not None]
    with TraceStore(demo_root / "traces.db") as store:
        assert store.count_filtered() == (N, len(any_label))
    for t in labelled:
        assert 0.0 <= t.feedback <= 1.0
        assert round(t.feedback, 2) == t.feedback
    # outcome follows the score on labelled traces, and is mostly unknown otherwise
    assert all(t.outcome in ("success", "failure") for t in labelled)
    mean = {
        o: sum(t.feedback for t in labelled if t.outcome == o)
        / sum(1 for t in labelled if t.outcome == o)
        for o in ("success", "failure")
    }
    assert mean["success"] > mean["failure"] + 0.2
    unlabelled = [t for t in traces if t.feedback is None]
    assert sum(t.outcome is None for t in unlabelled) / len(unlabelled) >= 0.8


def test_agents_models_and_engines(demo_root: Path, traces: list[Trace]) -> None:
    with TraceStore(demo_root / "traces.db") as store:
        facets = store.facets()
    assert set(facets["agents"]) == {"simple", "orchestrator", "react"}
    assert 4 <= len(facets["models"]) <= 5
    engines = {t.model: t.engine for t in traces}
    assert set(engines.values()) >= {"ollama", "openai"}
    assert all(t.metadata.get("session") and t.metadata.get("user") for t in traces)


def test_per_class_winners_differ(traces: list[Trace]) -> None:
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t in traces:
        if t.feedback is not None:
            scores[classify_query(t.query), t.model].append(t.feedback)
    best = {}
    for cls in QUERY_CLASSES:
        means = {m: sum(v) / len(v) for (c, m), v in scores.items() if c == cls and len(v) >= 5}
        best[cls] = max(means, key=means.__getitem__)
    assert len(set(best.values())) >= 2, best
    assert best["code"] == "qwen2.5-coder:7b", best


def test_model_latency_differs(traces: list[Trace]) -> None:
    lat: dict[str, list[float]] = defaultdict(list)
    for t in traces:
        lat[t.model].append(t.total_latency_seconds)
    mean = {m: sum(v) / len(v) for m, v in lat.items()}
    assert mean["llama3.1:70b"] > 2 * mean["phi3:3.8b"]


def test_steps_are_plausible(traces: list[Trace]) -> None:
    tools_seen: set[str] = set()
    for t in traces:
        assert 2 <= len(t.steps) <= 6, t.trace_id
        assert t.steps[-1].step_type == StepType.RESPOND
        assert any(s.step_type == StepType.GENERATE for s in t.steps)
        for s in t.steps:
            assert isinstance(s.step_type, StepType)
            if s.step_type == StepType.TOOL_CALL:
                assert s.input["tool"] in TOOLS
                tools_seen.add(s.input["tool"])
        tokens = sum(s.output.get("tokens", 0) for s in t.steps)
        assert tokens == t.total_tokens
        duration = sum(s.duration_seconds for s in t.steps)
        assert duration == pytest.approx(t.total_latency_seconds, abs=1e-3)
        assert t.ended_at >= t.started_at
    assert tools_seen == TOOLS


def test_time_increases_over_about_sixty_days(traces: list[Trace]) -> None:
    starts = [t.started_at for t in traces]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)
    assert 55 * 86_400 <= starts[-1] - starts[0] <= 61 * 86_400


def test_adversarial_traces_are_present(traces: list[Trace]) -> None:
    kinds = {t.metadata.get("adversarial"): t for t in traces if "adversarial" in t.metadata}
    assert {"markup", "ansi", "controls", "huge"} <= set(kinds)
    assert "[bold red]x[/]" in kinds["markup"].query
    assert "[link=http://x]y[/link]" in kinds["markup"].query
    assert "\x1b[31m" in kinds["ansi"].result and "\x1b]0;" in kinds["ansi"].result
    assert "\x00" in kinds["controls"].query and "\x07" in kinds["controls"].query
    assert 1_500_000 <= len(kinds["huge"].result) <= 2_500_000


def test_search_index_is_filled(demo_root: Path) -> None:
    with TraceStore(demo_root / "traces.db") as store:
        assert store.search("pwned")  # from the ANSI trace's OSC title
        assert len(store.search("vegetarian", limit=5)) == 5


def test_file_modes_and_no_leftovers(demo_root: Path) -> None:
    assert stat.S_IMODE(demo_root.stat().st_mode) == 0o700
    assert stat.S_IMODE((demo_root / "traces.db").stat().st_mode) == 0o600
    assert sorted(p.name for p in demo_root.iterdir()) == [
        ".jarvis-tui-demo", "agents", "optimize.db", "optimize.toml", "traces.db",
    ]  # fmt: skip
    for name in ("optimize.db", "optimize.toml", ".jarvis-tui-demo"):
        assert stat.S_IMODE((demo_root / name).stat().st_mode) == 0o600
    for f in (demo_root / "agents").glob("*.toml"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_three_agents_with_a_history_and_traces_that_end_now(tmp_path: Path) -> None:
    import time

    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    before = time.time()
    root = build_demo(tmp_path / "ws", traces=600, seed=3, optimize=False)
    ev = AgentConfigEvolver(None, config_dir=root / "agents")
    assert ev.list_agents() == ["orchestrator", "react", "simple"]
    for name in ev.list_agents():
        causes = [v["cause"] for v in ev.list_versions(name)]
        assert causes[0] == "manual" and len(causes) >= 2
    assert [v["cause"] for v in ev.list_versions("react")][-2:] == ["manual", "rollback"]
    with TraceStore(root / "traces.db") as store:
        newest = max(t.started_at for t in store.iter_traces(with_steps=False))
    assert before - 86_400 < newest <= time.time()  # "last 24 h" shows the newest traffic
    pinned = build_demo(tmp_path / "p", traces=600, seed=3, optimize=False, now=PINNED_NOW)
    with TraceStore(pinned / "traces.db") as store:
        assert max(t.started_at for t in store.iter_traces(with_steps=False)) <= PINNED_NOW


def test_versions_are_dated_across_the_traces_so_each_served_some(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every demo version served traces of its own: none were all written at build time
    (which put every trace "before v1" and left the outcome columns empty)."""
    import json

    from jarvis_tui.cli import main

    root = build_demo(tmp_path / "ws", traces=1500, seed=3, optimize=False, now=PINNED_NOW)
    for agent in ("simple", "orchestrator", "react"):
        assert main(["versions", agent, "--home", str(root), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))  # no "before v1"
        times = [r["written_at"] for r in rows]
        assert times == sorted(times) and PINNED_NOW - 63 * 86_400 < times[0] < times[-1]
        assert times[-1] < PINNED_NOW - 7 * 86_400
        assert all(r["traces"] > 0 and r["rated"] > 0 for r in rows), rows
        assert not any(r["approximate"] for r in rows)  # log and file times agree


def test_existing_db_is_kept_unless_forced(tmp_path: Path) -> None:
    root = build_demo(tmp_path / "ws", traces=150, seed=1)
    before = _rows(root / "traces.db")
    with pytest.raises(FileExistsError):
        build_demo(root, traces=150, seed=2)
    assert _rows(root / "traces.db") == before
    build_demo(root, traces=120, seed=2, force=True)
    assert len(_rows(root / "traces.db")[0]) == 120


def test_progress_reaches_total(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    build_demo(tmp_path / "ws", traces=4_500, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (4_500, 4_500)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(calls) >= 3


def test_interrupted_build_leaves_no_database(tmp_path: Path) -> None:
    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_demo(tmp_path / "ws", traces=4_500, progress=stop)
    assert list((tmp_path / "ws").iterdir()) == []


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "10"])
def test_bad_trace_count_is_rejected(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError):
        build_demo(tmp_path / "ws", traces=bad)  # type: ignore[arg-type]


def test_root_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OSError):
        build_demo(f, traces=10)


def _good_answers(traces: list[Trace], pattern: str) -> list[tuple[re.Match[str], str]]:
    """(query match, result) of the traces that went well whose query fits *pattern*."""
    out = []
    for t in traces:
        m = re.match(pattern, t.query)
        if m and t.outcome == "success" and not t.metadata.get("adversarial"):
            out.append((m, t.result))
    return out


def test_good_answers_answer_their_queries(traces: list[Trace]) -> None:
    """Walkthrough W 42: an answer fits its query ("Define backpressure" was answered
    "Lima."), and the arithmetic in a good one is right."""
    capitals = {"Peru": "Lima", "Kenya": "Nairobi", "Norway": "Oslo", "Vietnam": "Hanoi",
                "Chile": "Santiago", "Ghana": "Accra", "Laos": "Vientiane", "Malta": "Valletta"}  # fmt: skip
    checked = 0
    for m, result in _good_answers(traces, r"What's the capital of (\w+)\?$"):
        assert capitals[m.group(1)] in result, (m.group(0), result)
        checked += 1
    for m, result in _good_answers(traces, r"Compute the determinant of \[\[(\d+), (\d+)\], \[(\d+), (\d+)\]\]"):  # fmt: skip
        a, b, c, d = map(int, m.groups())
        assert f"= {a * d - b * c}" in result, (m.group(0), result)
        checked += 1
    for m, result in _good_answers(traces, r"Define (\w+)$"):
        assert result.lower().count(m.group(1)) >= 1, (m.group(0), result)
        checked += 1
    for m, result in _good_answers(
        traces, r"Convert this to a dataclass: class (\w+):.* (\d+) fields"
    ):
        assert f"class {m.group(1)}:" in result and "@dataclass" in result, result
        assert len(re.findall(r"^    \w+: ", result, re.M)) == int(m.group(2)), result
        checked += 1
    for _m, result in _good_answers(
        traces, r"Draft a polite email to my landlord about (.+)\. Keep"
    ):
        assert "Subject: " in result and "Dear " in result, result
        checked += 1
    for _m, result in _good_answers(traces, r"Here are my notes from \w+'s planning meeting"):
        assert "Decisions:" in result and "Action items:" in result, result
        checked += 1
    assert checked >= 100


def test_answers_vary_in_wording_so_training_keeps_the_pairs(traces: list[Trace]) -> None:
    """The same query asked again is worded a little differently (as a model answers),
    so the SFT pairs are not mostly duplicates that training drops."""
    rated = [t for t in traces if (t.feedback or 0) >= 0.7 and t.outcome != "failure"]
    assert len({(t.query, t.result) for t in rated}) >= 0.6 * len(rated)
