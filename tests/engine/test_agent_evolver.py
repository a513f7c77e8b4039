"""AgentConfigEvolver: analysis, versioned writes, rollback, history and diffs (no Textual)."""

from __future__ import annotations

import json
import os
import stat
import threading
import tomllib
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jarvis_tui.configs import versions as versions_mod
from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.learning.agent_evolver import (
    AgentConfigEvolver,
    Change,
    ConfigWriteError,
    MalformedConfigError,
    toml_diff,
    validate_agent_name,
)

# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

_seq = iter(range(10**9))


def tr(
    query: str = "hi",
    *,
    agent: str = "simple",
    feedback: Optional[float] = None,
    outcome: Optional[str] = None,
    tools: tuple[str, ...] = (),
    started_at: Optional[float] = None,
) -> Trace:
    """A trace whose TOOL_CALL steps use *tools* (one step per entry)."""
    i = next(_seq)
    steps = [TraceStep(StepType.ROUTE, 0.0, 0.0, {"query": query}, {})]
    steps += [TraceStep(StepType.TOOL_CALL, 0.0, 0.1, {"tool": t}, {}) for t in tools]
    steps.append(TraceStep(StepType.RESPOND, 0.0, 0.0, {}, {"content": "ok"}))
    return Trace(
        trace_id=f"tr{i}",
        query=query,
        agent=agent,
        feedback=feedback,
        outcome=outcome,
        steps=steps,
        started_at=float(i) if started_at is None else started_at,
    )


class FakeStore:
    """iter_traces streams everything; list_traces returns only the newest *limit*."""

    def __init__(self, traces: List[Trace]) -> None:
        self.traces = traces
        self.list_calls: List[int] = []
        self.iter_calls = 0

    def iter_traces(self, **_kw: Any) -> Iterator[Trace]:
        self.iter_calls += 1
        yield from self.traces

    def list_traces(self, *, limit: int = 100, **_kw: Any) -> List[Trace]:
        self.list_calls.append(limit)
        return sorted(self.traces, key=lambda t: -t.started_at)[:limit]


class ListOnlyStore:
    """A store without iter_traces (like OpenJarvis's own)."""

    def __init__(self, traces: List[Trace]) -> None:
        self.traces = traces
        self.limits: List[int] = []

    def list_traces(self, *, limit: int = 100) -> List[Trace]:
        self.limits.append(limit)
        return sorted(self.traces, key=lambda t: -t.started_at)[:limit]


@pytest.fixture
def ev(tmp_path: Path) -> AgentConfigEvolver:
    return AgentConfigEvolver(FakeStore([]), config_dir=tmp_path / "agents")


def tree(root: Path) -> dict[str, bytes]:
    """Every file under *root* with its bytes (a before/after snapshot)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def by_class(recs: List[dict]) -> dict[str, dict]:
    return {r["query_class"]: r for r in recs}


SHORT = "hi there"  # "short"
GENERAL = "tell me about the history of the printing press in europe please"  # "general"
MATH = "please calculate the area of a circle"  # "math"

# ---------------------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------------------


def test_analyze_spec_keys_and_tool_semantics(tmp_path: Path) -> None:
    traces = [
        tr(SHORT, feedback=0.9, tools=("web_search", "calculator")),
        tr(SHORT, feedback=0.8, tools=("web_search", "web_search", "web_search")),
        tr(SHORT, feedback=0.9, tools=("web_search",)),
        tr(SHORT, feedback=0.7, tools=("calculator", "code_exec")),
        tr(SHORT, feedback=0.1, tools=("shell",) * 20),  # bad: its tool is not recommended
    ]
    ev = AgentConfigEvolver(FakeStore(traces), config_dir=tmp_path / "a")
    (rec,) = ev.analyze()
    assert set(rec) >= {
        "query_class",
        "recommended_tools",
        "recommended_agent",
        "recommended_max_turns",
        "sample_count",
    }
    assert rec["query_class"] == "short"
    assert rec["recommended_tools"] == ["web_search", "calculator", "code_exec"]
    assert rec["tool_counts"] == {"web_search": 3, "calculator": 2, "code_exec": 1}
    assert rec["recommended_agent"] == "simple"
    assert rec["sample_count"] == 5
    assert rec["rated_count"] == 5
    assert rec["good_count"] == 4
    # tool calls of good traces: [1, 2, 2, 3] -> sorted[int(4 * .75)] = 3 -> 3 + 2 = 5;
    # the bad trace's 20 calls would have made it 22.
    assert rec["recommended_max_turns"] == 5


def test_max_turns_is_p75_plus_two(tmp_path: Path) -> None:
    calls = [1, 2, 3, 8, 9, 9, 10, 12]  # sorted[int(8 * .75) = 6] = 10
    traces = [tr(SHORT, feedback=1.0, tools=("t",) * n) for n in calls]
    ev = AgentConfigEvolver(FakeStore(traces), config_dir=tmp_path / "a")
    assert ev.analyze()[0]["recommended_max_turns"] == 12


def test_min_quality_is_honoured(tmp_path: Path) -> None:
    traces = [tr(SHORT, feedback=f) for f in (0.2, 0.4, 0.6)]  # mean 0.4
    traces += [tr(GENERAL, feedback=f) for f in (0.5, 0.5)]  # mean exactly 0.5
    store = FakeStore(traces)
    high = AgentConfigEvolver(store, config_dir=tmp_path / "a", min_quality=0.5)
    assert [r["query_class"] for r in high.analyze()] == ["general"]
    low = AgentConfigEvolver(store, config_dir=tmp_path / "a", min_quality=0.35)
    recs = by_class(low.analyze())
    assert set(recs) == {"general", "short"}
    assert recs["short"]["avg_feedback"] == pytest.approx(0.4)
    strict = AgentConfigEvolver(store, config_dir=tmp_path / "a", min_quality=0.9)
    assert strict.analyze() == []


def test_unrated_traces_are_not_scored_zero(tmp_path: Path) -> None:
    traces = [tr(SHORT, agent="A", feedback=0.9, tools=("web_search",)) for _ in range(2)]
    traces += [tr(SHORT, agent="A", tools=("web_search",)) for _ in range(5)]  # unrated
    traces += [tr(SHORT, agent="A", outcome="success", tools=("web_search",)) for _ in range(3)]
    traces += [tr(SHORT, agent="B", feedback=0.6, tools=("calculator",)) for _ in range(2)]
    ev = AgentConfigEvolver(FakeStore(traces), config_dir=tmp_path / "a", min_quality=0.5)
    (rec,) = ev.analyze()
    # The reference would average (0.9 * 2 + 0.6 * 2) over 12 traces = 0.25 and favour B.
    assert rec["avg_feedback"] == pytest.approx(0.75)
    assert rec["rated_count"] == 4
    assert rec["sample_count"] == 12
    assert rec["recommended_agent"] == "A"
    # web_search: 2 well-rated + 3 unrated successes; the 5 unknown ones do not count against it
    assert rec["recommended_tools"] == ["web_search", "calculator"]
    assert rec["tool_counts"] == {"web_search": 5, "calculator": 2}


def test_one_lucky_rating_does_not_win_agent(tmp_path: Path) -> None:
    traces = [tr(SHORT, agent="steady", feedback=0.9) for _ in range(30)]
    traces.append(tr(SHORT, agent="lucky", feedback=1.0))
    ev = AgentConfigEvolver(FakeStore(traces), config_dir=tmp_path / "a")
    assert ev.analyze()[0]["recommended_agent"] == "steady"


def test_unrated_class_needs_min_quality_zero(tmp_path: Path) -> None:
    traces = [tr(SHORT, outcome="success", tools=("t",)) for _ in range(3)]
    store = FakeStore(traces)
    assert AgentConfigEvolver(store, config_dir=tmp_path / "a").analyze() == []
    (rec,) = AgentConfigEvolver(store, config_dir=tmp_path / "a", min_quality=0).analyze()
    assert rec["avg_feedback"] is None and rec["rated_count"] == 0
    assert rec["recommended_tools"] == ["t"]  # unrated successes count as good


def test_analyze_reads_every_trace_not_the_newest_10000(tmp_path: Path) -> None:
    old = [tr(MATH, feedback=0.9, started_at=float(i)) for i in range(50)]
    new = [tr(SHORT, feedback=0.9, started_at=1e6 + i) for i in range(10_000)]
    store = FakeStore(old + new)
    recs = by_class(AgentConfigEvolver(store, config_dir=tmp_path / "a").analyze())
    assert recs["math"]["sample_count"] == 50
    assert recs["short"]["sample_count"] == 10_000
    assert store.iter_calls == 1 and store.list_calls == []


def test_store_without_iter_traces_falls_back_to_list_traces(tmp_path: Path) -> None:
    store = ListOnlyStore([tr(MATH, feedback=0.9, started_at=float(i)) for i in range(20_000)])
    (rec,) = AgentConfigEvolver(store, config_dir=tmp_path / "a").analyze()
    assert rec["sample_count"] == 20_000
    assert store.limits and store.limits[0] >= 20_000


def test_analyze_on_a_real_store(store: Any, tmp_path: Path) -> None:
    traces = [tr(MATH, feedback=0.8, outcome="success", tools=("calculator",)) for _ in range(5)]
    traces += [tr(SHORT, tools=("web_search",)) for _ in range(5)]
    store.save_many(traces)
    ev = AgentConfigEvolver(store, config_dir=tmp_path / "a")
    (rec,) = ev.analyze()
    assert rec["query_class"] == "math"
    assert rec["recommended_tools"] == ["calculator"]
    assert rec["sample_count"] == 5


def test_analyze_stop_and_progress(tmp_path: Path) -> None:
    store = FakeStore([tr(SHORT, feedback=0.9) for _ in range(12_000)])
    seen: List[int] = []
    ev = AgentConfigEvolver(store, config_dir=tmp_path / "a")
    (rec,) = ev.analyze(progress=seen.append)
    assert seen == [5_000, 10_000, 12_000] and rec["sample_count"] == 12_000
    stop = threading.Event()
    stop.set()
    assert ev.analyze(stop=stop) == []


def test_analyze_empty_store(ev: AgentConfigEvolver) -> None:
    assert ev.analyze() == []


def test_bad_min_quality(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_quality"):
        AgentConfigEvolver(FakeStore([]), config_dir=tmp_path, min_quality=float("nan"))


# ---------------------------------------------------------------------------------------
# write_config / rollback / list_versions
# ---------------------------------------------------------------------------------------


def test_write_three_then_rollback_to_one(ev: AgentConfigEvolver) -> None:
    for i in range(3):
        ev.write_config("bot", tools=[f"t{i}"], max_turns=i + 1)
    hist = ev.history_dir
    # as OpenJarvis does: .history holds the previous versions only
    assert sorted(p.name for p in hist.glob("bot.v*.toml")) == [
        "bot.v000001.toml",
        "bot.v000002.toml",
    ]
    v1 = (hist / "bot.v000001.toml").read_bytes()
    v3 = ev.config_path("bot").read_bytes()
    ev.rollback("bot", 1)
    assert (hist / "bot.v000003.toml").read_bytes() == v3
    assert not (hist / "bot.v000004.toml").exists()
    versions = ev.list_versions("bot")
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert [v["seq"] for v in versions] == [1, 2, 3, 4]
    assert [v["current"] for v in versions] == [False, False, False, True]
    assert [v["cause"] for v in versions] == ["evolver", "evolver", "evolver", "rollback"]
    assert versions[-1]["note"] == "rollback to version 1"
    assert versions[-1]["path"] == str(ev.config_path("bot"))
    assert ev.config_path("bot").read_bytes() == v1
    # version 3 (the one rolled back from) is archived, not lost
    assert ev.load_version("bot", 3)["agent"]["max_turns"] == 3
    assert (hist / "bot.v000003.toml").is_file()
    # the rollback itself can be rolled back
    ev.rollback("bot", 3)
    assert ev.load_version("bot", 5)["agent"]["max_turns"] == 3
    assert len(ev.list_versions("bot")) == 5


def test_rollback_to_missing_version_names_available(ev: AgentConfigEvolver) -> None:
    for i in range(3):
        ev.write_config("bot", tools=[f"t{i}"])
    before = tree(ev.config_dir)
    with pytest.raises(ValueError, match=r"Version 7 not found .*Available versions: 1, 2, 3"):
        ev.rollback("bot", 7)
    with pytest.raises(ValueError, match="Available versions: 1, 2, 3"):
        ev.rollback("bot", 0)
    with pytest.raises(ValueError, match="must be an int"):
        ev.rollback("bot", "2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no versions"):
        ev.rollback("nobody", 1)
    assert tree(ev.config_dir) == before


def test_rollback_to_current_is_a_noop(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["a"])
    ev.write_config("bot", tools=["b"])
    before = tree(ev.config_dir)
    ev.rollback("bot", 2)
    after = tree(ev.config_dir)
    after.pop(".history/.lock", None)
    before.pop(".history/.lock", None)
    assert after == before


def test_many_versions_order_numerically(ev: AgentConfigEvolver) -> None:
    for i in range(1, 121):
        ev.write_config("bot", tools=["t"], max_turns=i)
    versions = ev.list_versions("bot")
    assert [v["version"] for v in versions] == list(range(1, 121))
    assert [v["seq"] for v in versions] == list(range(1, 121))
    for n in (1, 9, 10, 11, 99, 100, 101, 120):
        assert ev.load_version("bot", n)["agent"]["max_turns"] == n
    assert Path(versions[99]["path"]).name == "bot.v000100.toml"
    ev.rollback("bot", 10)
    assert ev.load_version("bot", 121)["agent"]["max_turns"] == 10
    assert ev.list_versions("bot")[-1]["note"] == "rollback to version 10"


def test_reference_style_archives_order_numerically(ev: AgentConfigEvolver) -> None:
    # The reference names archives bot.v1.toml ... and sorts them as strings (v10 < v2).
    for i in range(1, 13):
        (ev.history_dir / f"bot.v{i}.toml").write_text(f"[agent]\nmax_turns = {i}\n")
    ev.config_path("bot").write_text("[agent]\nmax_turns = 13\n")
    versions = ev.list_versions("bot")
    assert [v["seq"] for v in versions] == list(range(1, 14))
    assert [ev.load_version("bot", n)["agent"]["max_turns"] for n in range(1, 14)] == list(
        range(1, 14)
    )
    assert {v["cause"] for v in versions} == {"external"}
    ev.write_config("bot", tools=[], max_turns=14)
    versions = ev.list_versions("bot")
    assert [v["seq"] for v in versions] == list(range(1, 15))
    assert (ev.history_dir / "bot.v000013.toml").read_text() == "[agent]\nmax_turns = 13\n"


def test_versions_written_in_the_same_second_never_collide(
    ev: AgentConfigEvolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(versions_mod.time, "time", lambda: 1_700_000_000.0)
    for i in range(5):
        ev.write_config("bot", tools=[f"t{i}"])
    assert len(list(ev.history_dir.glob("bot.v*.toml"))) == 4  # the previous versions
    assert [ev.load_version("bot", n)["agent"]["tools"] for n in range(1, 6)] == [
        [f"t{i}"] for i in range(5)
    ]


def test_log_records_cause_note_and_hash(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["a"])
    ev.write_config("bot", tools=["b"], cause="manual", note="edited in the TUI")
    ev.write_config("bot", tools=["c"], cause="promoted-trial", note="trial 7")
    lines = (ev.history_dir / "bot.log.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert [e["cause"] for e in entries] == ["evolver", "manual", "promoted-trial"]
    assert entries[1]["note"] == "edited in the TUI"
    import hashlib

    assert entries[2]["sha256"] == hashlib.sha256(ev.config_path("bot").read_bytes()).hexdigest()
    v = ev.list_versions("bot")
    assert [x["note"] for x in v] == ["", "edited in the TUI", "trial 7"]
    assert v[2]["summary"].startswith("tools: c")
    assert all(isinstance(x["created"], float) for x in v)


def test_hand_edit_shows_as_external_and_is_kept(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["a"])
    ev.write_config("bot", tools=["b"])
    hand = ev.config_path("bot").read_text() + "# tuned by hand\n"
    ev.config_path("bot").write_text(hand)
    last = ev.list_versions("bot")[-1]
    assert last["cause"] == "external" and last["seq"] == 2 and last["current"]
    ev.write_config("bot", tools=["c"])
    versions = ev.list_versions("bot")
    # as in OpenJarvis, the version the hand edit overwrote (tools b) is not kept
    assert [v["cause"] for v in versions] == ["evolver", "external", "evolver"]
    assert [v["seq"] for v in versions] == [1, 2, 3]
    assert ev.read_version("bot", 2) == hand  # the hand edit is history, not lost
    assert "# tuned by hand" in ev.read_version("bot", 3)  # and its comment is kept


def test_preview_rollback_is_exactly_what_rollback_writes(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["a"], system_prompt='line one\nline "two" \\ é')
    ev.write_config("bot", tools=["b"])
    text = ev.preview_rollback("bot", 1)
    assert ev.preview_rollback("bot", 2) == ev.config_path("bot").read_text()
    ev.rollback("bot", 1)
    assert ev.config_path("bot").read_text(encoding="utf-8") == text
    assert ev.read_version("bot", 3) == text


def test_torn_log_line_is_tolerated(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["a"])
    with open(ev.history_dir / "bot.log.jsonl", "ab") as fh:
        fh.write(b'{"seq": 2, "cau')  # a writer killed mid-line
    ev.write_config("bot", tools=["b"])
    ev.write_config("bot", tools=["c"])
    versions = ev.list_versions("bot")
    assert [v["cause"] for v in versions] == ["evolver"] * 3
    assert [v["seq"] for v in versions] == [1, 2, 3]
    lines = (ev.history_dir / "bot.log.jsonl").read_bytes().splitlines()
    assert json.loads(lines[-1])["seq"] == 3


def test_killed_after_archiving_before_the_rename_is_listed_once(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["a"])
    ev.write_config("bot", tools=["b"])  # current is version 2
    # a writer logged version 3, archived version 2 and was killed before the rename
    current = ev.config_path("bot").read_bytes()
    (ev.history_dir / "bot.v000002.toml").write_bytes(current)
    with open(ev.history_dir / "bot.log.jsonl", "a") as fh:
        fh.write(json.dumps({"seq": 3, "sha256": "0" * 64, "cause": "evolver"}) + "\n")
    versions = ev.list_versions("bot")
    assert [(v["seq"], v["current"], v["cause"]) for v in versions] == [
        (1, False, "evolver"),
        (2, True, "evolver"),
    ]
    ev.write_config("bot", tools=["c"])
    assert [v["seq"] for v in ev.list_versions("bot")] == [1, 2, 3]
    assert ev.load_version("bot", 2)["agent"]["tools"] == ["b"]
    assert sorted(p.name for p in ev.history_dir.glob("bot.v*.toml")) == [
        "bot.v000001.toml",
        "bot.v000002.toml",
    ]


def test_threads_in_one_process_do_not_lose_versions(ev: AgentConfigEvolver) -> None:
    def work(k: int) -> None:
        for i in range(15):
            ev.write_config("bot", tools=[f"w{k}-{i}"])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = ev.list_versions("bot")
    assert [v["seq"] for v in versions] == list(range(1, 61))
    tools = {ev.load_version("bot", v["version"])["agent"]["tools"][0] for v in versions}
    assert len(tools) == 60


# ---------------------------------------------------------------------------------------
# argument validation and round trips
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tools": "calculator"}, "list of tool names"),
        ({"tools": None}, "list of tool names"),
        ({"tools": ["ok", 3]}, r"tools\[1\] must be a string"),
        ({"tools": [""]}, r"tools\[0\] is empty"),
        ({"tools": ["\ud800"]}, "lone surrogate"),
        ({"tools": [], "max_turns": 0}, "max_turns"),
        ({"tools": [], "max_turns": True}, "max_turns must be an int"),
        ({"tools": [], "max_turns": 2.0}, "max_turns must be an int"),
        ({"tools": [], "temperature": -0.1}, "temperature"),
        ({"tools": [], "temperature": 2.01}, "temperature"),
        ({"tools": [], "temperature": float("nan")}, "temperature"),
        ({"tools": [], "temperature": float("inf")}, "temperature"),
        ({"tools": [], "temperature": "0.3"}, "temperature must be a number"),
        ({"tools": [], "system_prompt": None}, "system_prompt must be a string"),
        ({"tools": [], "system_prompt": "a\udcffb"}, "lone surrogate"),
        ({"tools": [], "cause": "bogus"}, "cause must be one of"),
        ({"tools": [], "note": "x" * 501}, "note"),
    ],
)
def test_write_config_rejects_bad_arguments(
    ev: AgentConfigEvolver, kwargs: dict, match: str
) -> None:
    ev.write_config("bot", tools=["keep"])
    before = tree(ev.config_dir)
    with pytest.raises(ValueError, match=match):
        ev.write_config("bot", **kwargs)
    assert tree(ev.config_dir) == before


def test_write_config_accepts_edges(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=(), max_turns=1, temperature=0)
    ev.write_config("bot", tools=["x"], temperature=2)
    data = ev.load_version("bot", 2)["agent"]
    assert data["temperature"] == 2.0 and isinstance(data["temperature"], float)
    assert ev.load_version("bot", 1)["agent"]["tools"] == []


# Any other name maps to a file name (tests/engine/test_configs_hostile.py).
_BAD_NAMES = [
    "",
    "x" * 201,
    "é" * 101,  # 202 bytes
    "lone \ud800 surrogate",
    5,
    None,
]


@pytest.mark.parametrize("name", _BAD_NAMES, ids=repr)
def test_bad_agent_names_are_rejected_everywhere(
    ev: AgentConfigEvolver, tmp_path: Path, name: Any
) -> None:
    before = tree(tmp_path)
    with pytest.raises(ValueError, match="agent name"):
        ev.write_config(name, tools=[])
    with pytest.raises(ValueError, match="agent name"):
        ev.list_versions(name)
    with pytest.raises(ValueError, match="agent name"):
        ev.rollback(name, 1)
    with pytest.raises(ValueError, match="agent name"):
        ev.read_version(name, 1)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", ["simple", "orchestrator", "native_react", "gpt-4.1", "A_b-9.x"])
def test_good_agent_names(name: str) -> None:
    assert validate_agent_name(name) == name


@pytest.fixture(scope="module")
def shared_ev(tmp_path_factory: pytest.TempPathFactory) -> AgentConfigEvolver:
    return AgentConfigEvolver(FakeStore([]), config_dir=tmp_path_factory.mktemp("rt") / "agents")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=st.text(),
    tools=st.lists(st.text(min_size=1, max_size=12), max_size=4),
    temperature=st.floats(0, 2, allow_nan=False),
)
def test_system_prompt_round_trips_exactly(
    shared_ev: AgentConfigEvolver, prompt: str, tools: List[str], temperature: float
) -> None:
    path = shared_ev.write_config("rt", tools=tools, system_prompt=prompt, temperature=temperature)
    data = tomllib.loads(path.read_text(encoding="utf-8"))["agent"]
    assert data["system_prompt"] == prompt
    assert data["tools"] == tools
    assert data["temperature"] == temperature
    assert shared_ev.load_version("rt", len(shared_ev.list_versions("rt")))["agent"] == data


@pytest.mark.parametrize(
    "prompt",
    [
        'multi\nline\n"""triple"""\n',
        "back\\slash \\n not a newline",
        "ctrl \x00\x1b\x7f\r\n",
        "🦀 é ß",
    ],
)
def test_awkward_prompts_round_trip(ev: AgentConfigEvolver, prompt: str) -> None:
    ev.write_config("bot", tools=[], system_prompt=prompt)
    assert ev.load_version("bot", 1)["agent"]["system_prompt"] == prompt


# ---------------------------------------------------------------------------------------
# malformed files, list_agents, directories
# ---------------------------------------------------------------------------------------


def test_malformed_toml_is_listed_read_and_reported(ev: AgentConfigEvolver) -> None:
    bad = '[agent]\nname = "bot"\ntools = ["a",\nmax_turns = = 3\n'
    ev.config_path("bot").write_text(bad)
    assert "bot" in ev.list_agents()
    assert ev.read_version("bot", 1) == bad
    with pytest.raises(MalformedConfigError) as err:
        ev.load_version("bot", 1)
    assert isinstance(err.value, ValueError)
    assert "bot.toml" in str(err.value) and err.value.line == 4
    assert "line 4" in str(err.value)
    # writing over it keeps it as an external version; rolling back to it is refused
    ev.write_config("bot", tools=["ok"])
    versions = ev.list_versions("bot")
    assert [v["cause"] for v in versions] == ["external", "evolver"]
    assert versions[0]["summary"] == "not valid TOML"
    assert ev.read_version("bot", 1) == bad
    before = tree(ev.config_dir)
    with pytest.raises(MalformedConfigError, match=r"bot\.v000001\.toml"):
        ev.rollback("bot", 1)
    with pytest.raises(MalformedConfigError):
        ev.preview_rollback("bot", 1)
    assert tree(ev.config_dir) == before


def test_malformed_error_at_end_of_document_and_non_utf8(ev: AgentConfigEvolver) -> None:
    ev.config_path("eod").write_text('[agent]\nname = "x')
    with pytest.raises(MalformedConfigError, match="line 2"):
        ev.load_version("eod", 1)
    ev.config_path("bin").write_bytes(b"[agent]\nname = '\xff'\n")
    with pytest.raises(MalformedConfigError, match="line 2.*not UTF-8"):
        ev.load_version("bin", 1)
    assert "\ufffd" in ev.read_version("bin", 1)


def test_list_agents(ev: AgentConfigEvolver) -> None:
    assert ev.list_agents() == []
    ev.write_config("zeta", tools=[])
    ev.write_config("alpha", tools=[])
    ev.write_config("gone", tools=[])
    ev.write_config("gone", tools=["x"])
    ev.config_path("gone").unlink()  # only its history remains
    (ev.config_dir / "not%zz a name.toml").write_text("")  # no agent maps to it
    (ev.config_dir / ".alpha.toml.abcdefgh.tmp").write_text("")
    (ev.config_dir / "notes.txt").write_text("")
    (ev.config_dir / "with space.toml").write_text("")  # OpenJarvis's file for "with space"
    assert ev.list_agents() == ["alpha", "gone", "with space", "zeta"]
    # only its previous version remains (the current file was the last one)
    assert [v["current"] for v in ev.list_versions("gone")] == [False]


def test_leftover_temp_files_are_cleaned_by_the_next_write(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=[])
    (ev.config_dir / ".bot.toml.k3j4h5z_.tmp").write_text("half")
    (ev.history_dir / ".bot.v000007.toml.abcdefgh.tmp").write_text("half")
    ev.write_config("bot", tools=["x"])
    assert not list(ev.config_dir.rglob("*.tmp"))


def test_files_are_owner_only(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=[])
    ev.write_config("bot", tools=["x"])
    for p in (ev.config_path("bot"), ev.history_dir / "bot.v000001.toml"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE((ev.history_dir / "bot.log.jsonl").stat().st_mode) == 0o600
    for d in (ev.config_dir, ev.history_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_missing_config_dir_is_created_on_write(tmp_path: Path) -> None:
    ev = AgentConfigEvolver(FakeStore([]), config_dir=tmp_path / "ws" / "agents")
    import shutil

    shutil.rmtree(tmp_path / "ws")
    assert ev.list_agents() == [] and ev.list_versions("bot") == []
    ev.write_config("bot", tools=[])
    assert stat.S_IMODE((tmp_path / "ws" / "agents").stat().st_mode) == 0o700
    assert ev.load_version("bot", 1)["agent"]["name"] == "bot"


def test_config_dir_that_cannot_exist_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    ev = AgentConfigEvolver(FakeStore([]), config_dir=tmp_path / "file" / "agents")
    assert ev.list_versions("bot") == [] and ev.list_agents() == []
    with pytest.raises(ConfigWriteError, match="cannot create the agent config directory"):
        ev.write_config("bot", tools=[])
    assert (tmp_path / "file").read_text() == "not a directory"


def test_read_only_config_dir_writes_nothing(
    ev: AgentConfigEvolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev.write_config("bot", tools=["a"])
    before = tree(ev.config_dir)
    monkeypatch.setattr(versions_mod.os, "access", lambda *a, **k: False)
    with pytest.raises(ConfigWriteError, match="not writable; nothing was written"):
        ev.write_config("bot", tools=["b"])
    with pytest.raises(ConfigWriteError, match="not writable"):
        ev.rollback("bot", 1)
    assert tree(ev.config_dir) == before
    monkeypatch.undo()
    assert ev.list_versions("bot")[-1]["current"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_config_dir_for_real(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["a"])
    before = tree(ev.config_dir)
    os.chmod(ev.config_dir, 0o500)
    try:
        with pytest.raises(ConfigWriteError, match="not writable"):
            ev.write_config("bot", tools=["b"])
        assert ev.load_version("bot", 1)["agent"]["tools"] == ["a"]
    finally:
        os.chmod(ev.config_dir, 0o700)
    assert tree(ev.config_dir) == before


def test_failed_replace_leaves_current_intact(
    ev: AgentConfigEvolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev.write_config("bot", tools=["a"])
    ev.write_config("bot", tools=["b"])
    current = ev.config_path("bot").read_bytes()
    real = os.replace

    def failing(src: Any, dst: Any, **kw: Any) -> None:
        if dst == "bot.toml":
            raise PermissionError(13, "Permission denied", str(dst))
        real(src, dst, **kw)

    monkeypatch.setattr(versions_mod.os, "replace", failing)
    with pytest.raises(ConfigWriteError, match="current config is unchanged"):
        ev.write_config("bot", tools=["c"])
    monkeypatch.undo()
    assert ev.config_path("bot").read_bytes() == current
    assert [v["seq"] for v in ev.list_versions("bot")] == [1, 2]
    ev.write_config("bot", tools=["d"])
    # numbers are positions, as in OpenJarvis: the failed write's number is used now
    assert [v["seq"] for v in ev.list_versions("bot")] == [1, 2, 3]
    assert ev.load_version("bot", 2)["agent"]["tools"] == ["b"]
    assert ev.load_version("bot", 3)["agent"]["tools"] == ["d"]
    assert len(list(ev.history_dir.glob("bot.v*.toml"))) == 2


def test_lock_timeout(tmp_path: Path) -> None:
    import fcntl

    ev = AgentConfigEvolver(FakeStore([]), config_dir=tmp_path / "a", lock_timeout=0.05)
    ev.write_config("bot", tools=[])
    fd = os.open(ev.history_dir / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(TimeoutError, match="another process"):
            ev.write_config("bot", tools=["x"])
    finally:
        os.close(fd)
    ev.write_config("bot", tools=["x"])


# ---------------------------------------------------------------------------------------
# toml_diff
# ---------------------------------------------------------------------------------------


def test_toml_diff_identical_is_empty() -> None:
    doc = {"agent": {"tools": ["a"], "max_turns": 3, "nested": {"x": [1, 2]}}}
    assert toml_diff(doc, json.loads(json.dumps(doc))) == []


def test_toml_diff_scalars_and_dotted_keys() -> None:
    old = {"agent": {"name": "bot", "max_turns": 10, "temperature": 0.3, "gone": True}}
    new = {"agent": {"name": "bot", "max_turns": 12, "temperature": 0.3, "fresh": "x"}}
    assert toml_diff(old, new) == [
        Change("agent.max_turns", "changed", old=10, new=12),
        Change("agent.gone", "removed", old=True),
        Change("agent.fresh", "added", new="x"),
    ]
    assert [str(c) for c in toml_diff(old, new)] == [
        "~ agent.max_turns: 10 → 12",
        "- agent.gone = true",
        '+ agent.fresh = "x"',
    ]


def test_toml_diff_tools_element_level() -> None:
    old = {"agent": {"tools": ["calculator", "web_search", "shell"]}}
    new = {"agent": {"tools": ["web_search", "shell", "code_exec"]}}
    changes = toml_diff(old, new)
    assert changes == [
        Change("agent.tools", "removed", old="calculator", element=True),
        Change("agent.tools", "added", new="code_exec", element=True),
    ]
    assert [str(c) for c in changes] == ["agent.tools: - calculator", "agent.tools: + code_exec"]
    assert [c.symbol for c in changes] == ["-", "+"]


def test_toml_diff_list_duplicates_reorder_and_tables() -> None:
    dup = toml_diff({"t": ["a", "a", "b"]}, {"t": ["a", "b"]})
    assert dup == [Change("t", "removed", old="a", element=True)]
    reorder = toml_diff({"t": ["a", "b"]}, {"t": ["b", "a"]})
    assert reorder == [Change("t", "changed", old=["a", "b"], new=["b", "a"])]
    tables = toml_diff({"t": [{"a": 1}]}, {"t": [{"a": 2}]})
    assert tables == [Change("t", "changed", old=[{"a": 1}], new=[{"a": 2}])]


def test_toml_diff_types_nesting_and_quoted_keys() -> None:
    assert toml_diff({"x": 1}, {"x": 1.0}) == [Change("x", "changed", old=1, new=1.0)]
    assert toml_diff({"x": 1}, {"x": True}) == [Change("x", "changed", old=1, new=True)]
    assert toml_diff({"x": float("nan")}, {"x": float("nan")}) == []
    assert toml_diff({"x": {"y": 1}}, {"x": 5}) == [Change("x", "changed", old={"y": 1}, new=5)]
    deep = toml_diff({"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 2, "d": 3}}})
    assert [c.key for c in deep] == ["a.b.c", "a.b.d"]
    quoted = toml_diff({"a": {"x.y": 1}}, {"a": {"x.y": 2}})
    assert quoted[0].key == 'a."x.y"'
    with pytest.raises(TypeError):
        toml_diff([], {})  # type: ignore[arg-type]


def test_toml_diff_between_versions(ev: AgentConfigEvolver) -> None:
    ev.write_config("bot", tools=["calculator", "web_search"], max_turns=10)
    ev.write_config("bot", tools=["web_search", "code_exec"], max_turns=14)
    changes = toml_diff(ev.load_version("bot", 1), ev.load_version("bot", 2))
    assert [str(c) for c in changes] == [
        "agent.tools: - calculator",
        "agent.tools: + code_exec",
        "~ agent.max_turns: 10 → 14",
    ]


def test_promoted_trial_settings_survive_a_later_evolver_write(tmp_path) -> None:
    import tomllib

    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    ev = AgentConfigEvolver(None, config_dir=tmp_path / "agents")
    ev.write_config("react", tools=["calc"], system_prompt="be brief")
    old, new = ev.promoted_config(
        "react",
        {
            "intelligence.model": "m1",
            "agent.max_turns": 4,
            "agent.name": "react",
            "routing.code.model": "c",
        },
    )
    assert "[intelligence]" in new and 'model = "m1"' in new and "max_turns = 10" in old
    v = ev.promote_params("react", {"intelligence.model": "m1", "agent.max_turns": 4,
                                    "agent.name": "react", "routing.code.model": "c"},
                          note="trial t1")  # fmt: skip
    versions = ev.list_versions("react")
    assert versions[-1]["version"] == v and versions[-1]["cause"] == "promoted-trial"
    assert versions[-1]["note"] == "trial t1"
    ev.write_config("react", tools=["calc", "web"], max_turns=6)  # the evolver, later
    data = tomllib.loads(ev.config_path("react").read_text())
    assert data["intelligence"] == {"model": "m1"} and data["routing"]["code"]["model"] == "c"
    assert data["agent"]["tools"] == ["calc", "web"] and data["agent"]["max_turns"] == 6
    assert data["agent"]["system_prompt"] == ""  # what write_config sets, it sets
    # a rollback restores the exact bytes of the version, extra tables and all
    ev.rollback("react", 1)
    assert "intelligence" not in tomllib.loads(ev.config_path("react").read_text())
