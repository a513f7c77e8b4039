"""Exported recipes and promoted configs never write the routing placeholder, and the
recipe names the trial's agent in ``[agent]`` as OpenJarvis's loader reads it (issue 14).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.learning.optimize import TrialConfig, TrialResult
from jarvis_tui.learning.optimize.optimizer import recipe_to_params, trial_to_recipe_dict

PARAMS = {
    "intelligence.model": "llama3.1:8b",
    "agent.name": "react",
    "routing.code.model": "default",  # no override: the class uses intelligence.model
    "routing.math.model": "qwen2.5-coder:7b",
}


def trial() -> TrialResult:
    return TrialResult(
        trial_id="t-1",
        config=TrialConfig("t-1", dict(PARAMS)),
        accuracy=0.8,
        mean_latency_seconds=1.5,
        total_cost_usd=0.0001,
    )


def test_recipe_has_the_agent_and_no_placeholder_model() -> None:
    data = trial_to_recipe_dict(trial())
    assert data["agent"] == {"name": "react", "type": "react"}
    assert data["intelligence"]["model"] == "llama3.1:8b"
    own = data["jarvis_tui"]["params"]
    assert own == {"routing.math.model": "qwen2.5-coder:7b"}
    assert "default" not in repr(data)
    back = recipe_to_params(data)
    assert back == {k: v for k, v in PARAMS.items() if v != "default"}


def test_an_agent_type_param_wins_over_the_agent_name() -> None:
    t = trial()
    t.config.params["agent.type"] = "native_react"
    assert trial_to_recipe_dict(t)["agent"]["type"] == "native_react"


def test_promoting_a_trial_never_writes_the_placeholder(tmp_path: Path) -> None:
    ev = AgentConfigEvolver(trace_store=None, config_dir=tmp_path / "agents")
    ev.write_config("react", tools=["web_search"], max_turns=8, cause="manual")
    _old, new = ev.promoted_config("react", PARAMS)
    assert '"default"' not in new
    data = tomllib.loads(new)
    assert "code" not in data.get("routing", {})
    assert data["routing"]["math"]["model"] == "qwen2.5-coder:7b"
    ev.promote_params("react", PARAMS, note="t-1")
    assert '"default"' not in ev.config_path("react").read_text()
