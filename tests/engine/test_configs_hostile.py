"""A hostile workspace: planted symlinks, names that are not file names, huge and deep TOML.

Nothing under agents/ is followed through a link, nothing is written outside it, one
bad agent never stops the others, and no file is read whole when it is too large.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Dict

import pytest

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.learning import LearningOrchestrator
from jarvis_tui.learning.agent_evolver import (
    AgentConfigEvolver,
    BadConfigError,
    ConfigTooLargeError,
    UnsafePathError,
    agent_file_stem,
    agent_from_stem,
)
from jarvis_tui.traces import TraceStore

AGENT = "bot"
OUTSIDE_TEXT = '[agent]\nname = "evil"\ntools = ["rm_rf"]\n'


class _NoStore:
    def iter_traces(self, **_kw: Any) -> Any:
        return iter(())


@pytest.fixture
def ev(tmp_path: Path) -> AgentConfigEvolver:
    ev = AgentConfigEvolver(_NoStore(), config_dir=tmp_path / "agents")
    ev.write_config(AGENT, tools=["a"], max_turns=1)
    ev.write_config(AGENT, tools=["b"], max_turns=2)
    return ev


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim.toml").write_text(OUTSIDE_TEXT)
    return d


def _tree(root: Path) -> Dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# ---------------------------------------------------------------------------------------
# symlinks
# ---------------------------------------------------------------------------------------


def test_symlinked_history_log_is_never_appended_to(ev: AgentConfigEvolver, outside: Path) -> None:
    log = ev.history_dir / f"{AGENT}.log.jsonl"
    log.unlink()
    log.symlink_to(outside / "victim.toml")
    before_agents, before_outside = _tree(ev.config_dir), _tree(outside)
    with pytest.raises(UnsafePathError) as err:
        ev.write_config(AGENT, tools=["c"])
    message = str(err.value)
    assert "\n" not in message and "symbolic link" in message and "nothing was written" in message
    assert _tree(outside) == before_outside
    assert _tree(ev.config_dir) == before_agents
    with pytest.raises(UnsafePathError):
        ev.rollback(AGENT, 1)
    assert _tree(outside) == before_outside


def test_symlinked_lock_is_not_created_at_its_target(ev: AgentConfigEvolver, outside: Path) -> None:
    lock = ev.history_dir / ".lock"
    lock.unlink()
    lock.symlink_to(outside / "planted.lock")  # dangling: O_CREAT would create the target
    with pytest.raises(UnsafePathError, match="symbolic link"):
        ev.write_config(AGENT, tools=["c"])
    assert not (outside / "planted.lock").exists()
    assert ev.load_version(AGENT, 2)["agent"]["tools"] == ["b"]  # reads still work


def test_symlinked_archive_is_not_read_as_a_version(ev: AgentConfigEvolver, outside: Path) -> None:
    archive = ev.history_dir / f"{AGENT}.v000001.toml"
    archive.unlink()
    archive.symlink_to(outside / "victim.toml")
    versions = ev.list_versions(AGENT)
    assert [v["version"] for v in versions] == [1, 2]  # OpenJarvis counts it too
    assert "symbolic link" in versions[0]["error"] and versions[1]["error"] is None
    with pytest.raises(UnsafePathError):
        ev.load_version(AGENT, 1)
    with pytest.raises(UnsafePathError):
        ev.read_version(AGENT, 1)
    with pytest.raises(UnsafePathError):
        ev.preview_rollback(AGENT, 1)
    current = ev.config_path(AGENT).read_bytes()
    with pytest.raises(UnsafePathError):
        ev.rollback(AGENT, 1)
    assert ev.config_path(AGENT).read_bytes() == current  # the outside file never became current
    assert (outside / "victim.toml").read_text() == OUTSIDE_TEXT
    # other versions still work, and a new write archives next to the link, not through it
    ev.write_config(AGENT, tools=["c"], max_turns=3)
    assert archive.is_symlink() and (outside / "victim.toml").read_text() == OUTSIDE_TEXT
    assert ev.load_version(AGENT, 2)["agent"]["tools"] == ["b"]


def test_symlinked_current_config_is_refused(ev: AgentConfigEvolver, outside: Path) -> None:
    cfg = ev.config_path(AGENT)
    cfg.unlink()
    cfg.symlink_to(outside / "victim.toml")
    versions = ev.list_versions(AGENT)
    assert versions[-1]["current"] and "symbolic link" in versions[-1]["error"]
    with pytest.raises(UnsafePathError):
        ev.load_version(AGENT, 2)
    with pytest.raises(UnsafePathError, match="nothing was written|symbolic link"):
        ev.write_config(AGENT, tools=["c"])
    assert AGENT in ev.list_agents()  # listed, so the user sees why
    assert (outside / "victim.toml").read_text() == OUTSIDE_TEXT
    assert cfg.is_symlink()


def test_symlinked_history_directory_is_refused(tmp_path: Path, outside: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / ".history").symlink_to(outside)
    ev = AgentConfigEvolver(_NoStore(), config_dir=agents)
    before = _tree(outside)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        ev.write_config(AGENT, tools=["a"])
    with pytest.raises(UnsafePathError):
        ev.list_versions(AGENT)
    assert _tree(outside) == before and sorted(os.listdir(outside)) == ["victim.toml"]


def test_hard_linked_log_and_fifo_config_are_refused(ev: AgentConfigEvolver, outside: Path) -> None:
    log = ev.history_dir / f"{AGENT}.log.jsonl"
    log.unlink()
    os.link(outside / "victim.toml", log)
    with pytest.raises(UnsafePathError, match="hard links"):
        ev.write_config(AGENT, tools=["c"])
    assert (outside / "victim.toml").read_text() == OUTSIDE_TEXT
    fifo = ev.config_path("piped")
    os.mkfifo(fifo)
    versions = ev.list_versions("piped")  # does not block on the FIFO
    assert "not a regular file" in versions[-1]["error"]


# ---------------------------------------------------------------------------------------
# agent names that are not file names
# ---------------------------------------------------------------------------------------

_NAMES = [
    "Assistant (prod)",
    "support bot/v2",
    "ассистент",
    "助手",
    "../../etc/passwd",
    ".hidden",
    "..",
    "a\\b",
    "nul\x00byte",
    "new\nline",
    "100%",
    "glob*?[x]",
    "bidi\u202eevil",
    "x" * 150,
]


@pytest.mark.parametrize("name", _NAMES, ids=ascii)
def test_any_agent_name_maps_to_a_file_inside_agents(tmp_path: Path, name: str) -> None:
    agents = tmp_path / "agents"
    ev = AgentConfigEvolver(_NoStore(), config_dir=agents)
    ev.write_config(name, tools=["a"])
    ev.write_config(name, tools=["b"])
    stem = agent_file_stem(name)
    assert agent_from_stem(stem) == name
    assert "/" not in stem and "\x00" not in stem and not stem.startswith(".")
    assert ev.config_path(name) == agents / f"{stem}.toml" and ev.config_path(name).is_file()
    # nothing outside agents/, and only this agent's files inside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agents"]
    assert sorted(os.listdir(agents)) == sorted([".history", f"{stem}.toml"])
    assert ev.list_agents() == [name]  # the real name, decoded
    assert ev.load_version(name, 1)["agent"] == {
        "name": name, "tools": ["a"], "max_turns": 10, "temperature": 0.3, "system_prompt": "",
    }  # fmt: skip
    ev.rollback(name, 1)
    assert len(ev.list_versions(name)) == 3


def test_plain_names_keep_the_file_names_openjarvis_uses() -> None:
    for name in ("simple", "native_react", "gpt-4.1", "Assistant (prod)", "ассистент"):
        assert agent_file_stem(name) == name
    assert agent_file_stem("support bot/v2") == "support bot%2Fv2"
    assert agent_from_stem("not%zz") is None and agent_from_stem("%41") is None


def _trace(i: int, agent: str, query: str, tool: str) -> Trace:
    return Trace(
        trace_id=f"h{i}", query=query, agent=agent, model="m", result="r", feedback=0.9,
        started_at=float(i), steps=[TraceStep(StepType.TOOL_CALL, float(i), 0.1, {"tool": tool}, {})],
    )  # fmt: skip


def test_one_bad_agent_never_stops_the_learning_cycle(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.db")
    too_long = "z" * 300  # no file system can hold this name
    queries = {  # one agent wins each query class
        "Assistant (prod)": "please calculate the integral of x squared",  # math
        too_long: "hi",  # short
        "support bot/v2": "def f(x): return x  # fix this python function",  # code
        "ассистент": "tell me about the history of the printing press in europe please",
    }
    traces = [
        _trace(i * 10 + k, agent, q, f"tool{k}")
        for k, (agent, q) in enumerate(queries.items())
        for i in range(20)
    ]
    store.save_many(traces)
    agents = tmp_path / "agents"
    result = LearningOrchestrator(trace_store=store, config_dir=agents).run()
    store.close()
    assert result["status"] == "completed"
    written = {name for name, _ in result["configs_written"]}
    assert written == {"Assistant (prod)", "support bot/v2", "ассистент"}
    assert [name for name, _ in result["config_errors"]] == [too_long]
    (reason,) = [why for _, why in result["config_errors"]]
    assert "too long" in reason and "\n" not in reason
    ev = AgentConfigEvolver(_NoStore(), config_dir=agents)
    assert ev.list_agents() == sorted(written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agents", "traces.db"] or all(
        p.name.startswith("traces.db") or p.name == "agents" for p in tmp_path.iterdir()
    )


def test_a_config_that_cannot_be_archived_is_reported_and_others_still_evolve(
    tmp_path: Path,
) -> None:
    store = TraceStore(tmp_path / "traces.db")
    store.save_many(
        [_trace(i, "mathbot", "please calculate the integral of x squared", "calc") for i in range(20)]
        + [_trace(100 + i, "chat", "hi", "search") for i in range(20)]
    )  # fmt: skip
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "mathbot.toml").write_bytes(b"# " + b"x" * (2 << 20) + b"\n")  # 2 MB
    result = LearningOrchestrator(trace_store=store, config_dir=agents).run()
    store.close()
    assert [n for n, _ in result["configs_written"]] == ["chat"]
    ((name, reason),) = result["config_errors"]
    assert name == "mathbot" and "config too large: 2 MB, limit 1 MB" in reason


# ---------------------------------------------------------------------------------------
# huge and deep files
# ---------------------------------------------------------------------------------------


def test_a_huge_config_is_reported_not_loaded(tmp_path: Path) -> None:
    ev = AgentConfigEvolver(_NoStore(), config_dir=tmp_path / "agents")
    big = ev.config_path(AGENT)
    with open(big, "wb") as fh:  # sparse: 100 MB on paper, nothing on disk
        fh.truncate(100 << 20)
    versions = ev.list_versions(AGENT)
    assert versions[-1]["error"].endswith("config too large: 100 MB, limit 1 MB")
    # the summary (the Configs What column) says why without the path
    assert versions[-1]["summary"] == "config too large: 100 MB, limit 1 MB"
    with pytest.raises(ConfigTooLargeError, match="config too large: 100 MB, limit 1 MB"):
        ev.load_version(AGENT, 1)
    with pytest.raises(ConfigTooLargeError):
        ev.read_version(AGENT, 1)
    with pytest.raises(ConfigTooLargeError, match="100 MB"):
        ev.write_config(AGENT, tools=["a"])  # it could not be archived: nothing is written
    assert big.stat().st_size == 100 << 20
    assert not list(ev.history_dir.glob("*.toml"))


@pytest.mark.parametrize(
    "text",
    [
        "[" + ".".join(["a"] * 10_000) + "]\n",  # 10k nested tables
        "x = " + "[" * 10_000 + "]" * 10_000 + "\n",
        "x = " + "{a = " * 5_000 + "1" + "}" * 5_000 + "\n",
    ],
    ids=["tables", "arrays", "inline-tables"],
)
def test_deeply_nested_toml_is_a_reported_bad_file(tmp_path: Path, text: str) -> None:
    ev = AgentConfigEvolver(_NoStore(), config_dir=tmp_path / "agents")
    ev.config_path(AGENT).write_text(text)
    with pytest.raises(BadConfigError, match="nested more than 64 levels deep"):
        ev.load_version(AGENT, 1)
    assert ev.list_versions(AGENT)[-1]["summary"] == "nested more than 64 levels deep"
    # a new version replaces it whole; the deep one is kept as history
    ev.write_config(AGENT, tools=["ok"])
    assert ev.load_version(AGENT, 2)["agent"]["tools"] == ["ok"]
    assert ev.read_version(AGENT, 1) == text
    with pytest.raises(BadConfigError):
        ev.rollback(AGENT, 1)


def test_written_files_are_owner_only(ev: AgentConfigEvolver) -> None:
    os.chmod(ev.config_path(AGENT), 0o644)
    old_umask = os.umask(0)
    try:
        ev.write_config(AGENT, tools=["c"])
    finally:
        os.umask(old_umask)
    for p in [ev.config_path(AGENT), *ev.history_dir.iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
