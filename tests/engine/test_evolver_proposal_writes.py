"""An evolver proposal writes only what it changes (walkthrough finding 37): no
``system_prompt = ""`` or default temperature the config did not have, for a new agent
and for a hand-written config; a prompt and temperature the config has are kept."""

from __future__ import annotations

import tomllib
from pathlib import Path

from jarvis_tui.configs.diff import toml_diff
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver


def recommendation(agent: str, tools: list[str], turns: int) -> dict:
    return {
        "query_class": "math",
        "recommended_agent": agent,
        "recommended_tools": tools,
        "recommended_max_turns": turns,
        "sample_count": 10,
    }


def test_a_new_agent_gets_only_name_tools_and_max_turns(tmp_path: Path) -> None:
    ev = AgentConfigEvolver(None, config_dir=tmp_path / "agents")
    (p,) = ev.propose_configs([recommendation("react", ["calculator", "web_search"], 6)])
    assert p.proposed == {
        "agent": {"name": "react", "tools": ["calculator", "web_search"], "max_turns": 6}
    }
    ev.write_proposal(p)
    written = tomllib.loads(ev.config_path("react").read_text())
    assert written == p.proposed  # no system_prompt = "", no temperature = 0.3
    assert "system_prompt" not in ev.config_path("react").read_text()


def test_a_hand_written_config_keeps_what_it_has_and_gains_nothing_else(
    tmp_path: Path,
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    hand = '# mine\n[agent]\nname = "react"\ntools = ["calculator"]\nmax_turns = 3\n'
    (agents / "react.toml").write_text(hand)
    (agents / "simple.toml").write_text(
        '[agent]\nname = "simple"\ntools = ["calculator"]\nmax_turns = 3\n'
        'temperature = 0.7\nsystem_prompt = "be brief"\n'
    )
    ev = AgentConfigEvolver(None, config_dir=agents)
    react, simple = ev.propose_configs(
        [recommendation("react", ["code_exec"], 8), recommendation("simple", ["web"], 5)]
    )
    # what the pane shows (and the file then holds) is the two keys that change
    assert [str(c) for c in toml_diff(react.current, react.proposed)] == [
        "agent.tools: - calculator",
        "agent.tools: + code_exec",
        "~ agent.max_turns: 3 → 8",
    ]
    ev.write_proposal(react)
    text = ev.config_path("react").read_text()
    assert text.startswith("# mine\n") and "system_prompt" not in text
    assert "temperature" not in text
    assert tomllib.loads(text) == react.proposed
    ev.write_proposal(simple)
    agent = tomllib.loads(ev.config_path("simple").read_text())["agent"]
    assert agent["temperature"] == 0.7 and agent["system_prompt"] == "be brief"
    assert agent["tools"] == ["web"] and agent["max_turns"] == 5


def test_write_config_still_writes_what_openjarvis_writes(tmp_path: Path) -> None:
    ev = AgentConfigEvolver(None, config_dir=tmp_path / "agents")
    ev.write_config("bot", tools=["a"])
    assert tomllib.loads(ev.config_path("bot").read_text())["agent"] == {
        "name": "bot", "tools": ["a"], "max_turns": 10, "temperature": 0.3, "system_prompt": "",
    }  # fmt: skip
