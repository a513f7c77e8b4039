"""LearningOrchestrator.plan_configs: what a cycle would write, before it writes
(walkthrough findings W17, W27: the Routing pane's s asks first with these words)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from unittest import mock

import pytest

from jarvis_tui.cli import main
from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.learning import LearningOrchestrator
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.traces import TraceStore
from tests.engine.test_orchestrator import traces


@pytest.fixture
def store(tmp_path: Path):
    s = TraceStore(tmp_path / "traces.db")
    s.save_many(traces())
    yield s
    s.close()


def _rated_after_now(n: int = 30) -> list[Trace]:
    return [
        Trace(trace_id=f"n{i}", query="solve the equation x + 1 = 3", agent="react",
              model="big:70b", result="r", feedback=0.9, started_at=time.time() + 10 + i,
              steps=[TraceStep(StepType.TOOL_CALL, 0.0, 0.1, {"tool": "calculator"}, {})])
        for i in range(n)
    ]  # fmt: skip


def test_the_plan_says_what_run_writes_and_writes_nothing(
    store: TraceStore, tmp_path: Path
) -> None:
    agents = tmp_path / "agents"
    orch = LearningOrchestrator(trace_store=store, config_dir=agents)
    plan = orch.plan_configs()
    assert not agents.exists() or not any(agents.glob("*.toml"))  # nothing written
    assert [p["agent"] for p in plan] == ["react"]  # it wins every class
    react = next(p for p in plan if p["agent"] == "react")
    assert react["version"] == 1 and react["was"] == 0 and react["kept"] is None
    assert react["hand"] is None and react["error"] is None
    assert any("calculator" in c for c in react["changes"])
    written = orch.run()["configs_written"]
    assert sorted(written) == sorted((p["agent"], p["version"]) for p in plan)
    assert orch.plan_configs() == []  # nothing left to change


def test_the_plan_names_a_rollback_it_would_overwrite_or_keep(
    store: TraceStore, tmp_path: Path
) -> None:
    agents = tmp_path / "agents"
    evolver = AgentConfigEvolver(store, config_dir=agents)
    with mock.patch("time.time", lambda: -1.0):  # v1, before the traces
        evolver.write_config("react", tools=["web_search"], cause="manual", note="mine")
    orch = LearningOrchestrator(trace_store=store, config_dir=agents)
    orch.run(agent_id="react")  # v2: calculator
    evolver.rollback("react", 1)  # v3: web_search again, chosen by hand just now
    (plan,) = orch.plan_configs(agent_id="react")
    assert plan["hand"] == "rollback" and plan["hand_at"] is not None
    assert plan["was"] == 3 and plan["version"] == 4
    assert "under the evidence minimum of 30" in plan["kept"]  # no ratings since: kept
    store.save_many(_rated_after_now())
    (plan,) = orch.plan_configs(agent_id="react")
    assert plan["hand"] == "rollback" and plan["kept"] is None  # the evidence says more
    assert any("calculator" in c for c in plan["changes"])
    assert len(evolver.list_versions("react")) == 3  # the plan wrote nothing


def rolled_back_home(tmp_path: Path) -> Path:
    """react: v1 by hand, v2 by a cycle, v3 a rollback to v1 made now; then 30 rated
    traces, so the evidence since the rollback is enough for a cycle to overwrite it."""
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    try:
        store.save_many(traces())
        evolver = AgentConfigEvolver(store, config_dir=home / "agents")
        with mock.patch("time.time", lambda: -1.0):
            evolver.write_config("react", tools=["web_search"], cause="manual", note="mine")
        LearningOrchestrator(trace_store=store, config_dir=home / "agents").run(agent_id="react")
        evolver.rollback("react", 1)
        store.save_many(_rated_after_now())
    finally:
        store.close()
    return home


def react_versions(home: Path) -> int:
    store = TraceStore(home / "traces.db")
    try:
        return len(AgentConfigEvolver(store, config_dir=home / "agents").list_versions("react"))
    finally:
        store.close()


def test_learn_warns_when_it_overwrites_a_rollback_and_keep_manual_keeps_it(
    tmp_path: Path, capsys
) -> None:
    home = rolled_back_home(tmp_path)
    kept = tmp_path / "kept"
    import shutil

    shutil.copytree(home, kept)
    assert main(["learn", "--home", str(kept), "--agent", "react", "--keep-manual"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "agents/react.toml: kept version 3 (rollback): chosen by hand (--keep-manual)" in out
    assert "wrote agents/react.toml" not in out and react_versions(kept) == 3
    # without the flag: written, as OpenJarvis's cycle does, and said
    assert main(["learn", "--home", str(home), "--agent", "react"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "wrote agents/react.toml (version 4)" in out
    assert re.search(r"warning: react v3 was rolled back by hand at \d\d:\d\d: this "
                     r"overwrites it \(--keep-manual keeps it\)", out)  # fmt: skip
    assert react_versions(home) == 4
