"""Recipes and proposals as OpenJarvis reads them (issue: OpenJarvis parity).

- ``export_best_recipe`` writes OpenJarvis's recipe layout, and the file round-trips
  every param of the trial;
- ``export-best`` refuses a missing parent folder unless ``--parents``;
- a proposal with a value outside the search space is rejected with the reason, which
  the next prompt carries and the trial's reasoning records.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.cli import main
from jarvis_tui.learning.optimize import (
    OptimizationStore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialResult,
)
from jarvis_tui.learning.optimize.backends import ScriptedBackend
from jarvis_tui.learning.optimize.llm_optimizer import LLMOptimizer
from jarvis_tui.learning.optimize.optimizer import (
    OptimizationEngine,
    export_best_recipe,
    recipe_to_params,
)
from jarvis_tui.learning.optimize.types import OptimizationRun, RunSummary

PARAMS: dict[str, Any] = {
    "intelligence.model": "qwen3:8b",
    "intelligence.temperature": 0.3,
    "intelligence.max_tokens": 2048,
    "intelligence.top_p": 0.9,
    "intelligence.system_prompt": "Be brief.",
    "intelligence.quantization": "q4_K_M",
    "engine.backend": "vllm",
    "agent.type": "native_react",
    "agent.max_turns": 6,
    "agent.system_prompt": "You are a careful agent.",
    "tools.tool_set": ["calculator", "web_search"],
    "learning.routing_policy": "bandit",
    "learning.agent_policy": "icl_updater",
    "routing.code": "qwen2.5-coder:7b",  # maps to no OpenJarvis table
    "agent.planner": {"depth": 2},  # neither
}


def load_like_openjarvis(path: Path) -> dict[str, Any]:
    """The fields OpenJarvis's ``recipes.loader.load_recipe`` reads, key for key (its
    Recipe dataclass: model, quantization, engine_key, agent_type, max_turns,
    temperature, tools, system_prompt, routing_policy, agent_policy, name, ...)."""
    data = tomllib.loads(path.read_text())
    recipe = data.get("recipe", {})
    intel, engine = data.get("intelligence", {}), data.get("engine", {})
    agent, learning = data.get("agent", {}), data.get("learning", {})
    return {
        "name": recipe.get("name", path.stem),
        "description": recipe.get("description", ""),
        "version": recipe.get("version", "1.0.0"),
        "model": intel.get("model"),
        "quantization": intel.get("quantization"),
        "engine_key": engine.get("key"),
        "agent_type": agent.get("type"),
        "max_turns": agent.get("max_turns"),
        "temperature": agent.get("temperature"),
        "tools": agent.get("tools", []),
        "system_prompt": agent.get("system_prompt"),
        "routing_policy": learning.get("routing"),
        "agent_policy": learning.get("agent"),
    }


def best_run(params: dict[str, Any]) -> OptimizationRun:
    trial = TrialResult(
        "t-abc123",
        TrialConfig("t-abc123", dict(params)),
        accuracy=0.8125,
        mean_latency_seconds=1.5,
        total_cost_usd=0.00012,
    )
    return OptimizationRun(
        run_id="run-1", search_space=SearchSpace(), trials=[trial], best_trial=trial,
        benchmark="trace-replay",
    )  # fmt: skip


def test_recipe_has_openjarvis_layout(tmp_path: Path) -> None:
    out = export_best_recipe(best_run(PARAMS), tmp_path / "best.toml")
    data = tomllib.loads(out.read_text())
    assert data["recipe"]["name"] == "optimized-t-abc123"
    assert data["recipe"]["version"] == "1.0.0"
    assert "accuracy 0.812" in data["recipe"]["description"]
    assert "estimated by replaying traces" in data["recipe"]["description"]
    assert data["intelligence"] == {
        "model": "qwen3:8b",
        "temperature": 0.3,
        "max_tokens": 2048,
        "top_p": 0.9,
        "system_prompt": "Be brief.",
        "quantization": "q4_K_M",
    }
    assert data["engine"] == {"key": "vllm"}
    assert data["agent"]["type"] == "native_react"
    assert data["agent"]["max_turns"] == 6
    assert data["agent"]["tools"] == ["calculator", "web_search"]
    assert data["agent"]["system_prompt"] == "You are a careful agent."
    assert data["learning"]["routing_policy"] == "bandit"
    assert data["learning"]["agent_policy"] == "icl_updater"
    # params no OpenJarvis table holds live in our own table
    assert data["jarvis_tui"]["params"] == {
        "routing.code": "qwen2.5-coder:7b",
        "agent.planner": {"depth": 2},
    }
    assert data["jarvis_tui"]["trial_id"] == "t-abc123"


def test_openjarvis_loader_reads_every_field(tmp_path: Path) -> None:
    out = export_best_recipe(best_run(PARAMS), tmp_path / "best.toml")
    recipe = load_like_openjarvis(out)
    assert recipe == {
        "name": "optimized-t-abc123",
        "description": recipe["description"],
        "version": "1.0.0",
        "model": "qwen3:8b",
        "quantization": "q4_K_M",
        "engine_key": "vllm",
        "agent_type": "native_react",
        "max_turns": 6,
        "temperature": 0.3,
        "tools": ["calculator", "web_search"],
        "system_prompt": "You are a careful agent.",
        "routing_policy": "bandit",
        "agent_policy": "icl_updater",
    }


def test_recipe_round_trips_every_param(tmp_path: Path) -> None:
    params = {**PARAMS, "intelligence.stop": None}  # TOML has no null: left out
    out = export_best_recipe(best_run(params), tmp_path / "best.toml")
    assert recipe_to_params(tomllib.loads(out.read_text())) == PARAMS


# ------------------------------------------------------------------------ export-best CLI


@pytest.fixture
def home_with_run(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "ws"
    home.mkdir()
    run = best_run(PARAMS)
    with OptimizationStore(home / "optimize.db") as store:
        store.save_run(run)
        store.save_trial(run.run_id, run.best_trial)
    return home, run.run_id


def test_export_best_refuses_a_missing_parent(home_with_run, tmp_path: Path, capsys) -> None:
    home, run_id = home_with_run
    dest = tmp_path / "no-such-dir" / "deeper" / "x.toml"
    assert main(["export-best", run_id, str(dest), "--home", str(home)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0] and "--parents" in err[0]
    assert not (tmp_path / "no-such-dir").exists()  # nothing created

    assert main(["export-best", run_id, str(dest), "--home", str(home), "--parents"]) == 0
    assert tomllib.loads(dest.read_text())["recipe"]["name"] == "optimized-t-abc123"


# ------------------------------------------------------------------------ proposals


SPACE = SearchSpace(
    dimensions=[
        SearchDimension(
            "intelligence.model", "categorical", ["small", "large"], primitive="intelligence"
        ),
        SearchDimension("agent.max_turns", "integer", low=1, high=10, primitive="agent"),
    ],
    fixed={"engine.backend": "ollama"},
)


class Runner:
    benchmark = "fake"

    def run_trial(self, config: TrialConfig) -> TrialResult:
        acc = 0.9 if config.params["intelligence.model"] == "large" else 0.5
        return TrialResult(
            config.trial_id, config, accuracy=acc, samples_evaluated=10,
            summary=RunSummary(benchmark="fake", accuracy=acc),
        )  # fmt: skip


def fenced(obj: Any) -> str:
    return "```json\n" + json.dumps(obj) + "\n```"


def test_a_value_outside_the_space_is_fed_back_and_recorded() -> None:
    feedback = fenced({"summary_text": "fine"})
    backend = ScriptedBackend(
        [
            fenced({"params": {"intelligence.model": "model-1", "agent.max_turns": 2}}),
            fenced({"params": {"intelligence.model": "large", "agent.max_turns": 2}}),
            feedback,
        ]
    )
    opt = LLMOptimizer(SPACE, optimizer_backend=backend)
    run = OptimizationEngine(SPACE, opt, Runner(), max_trials=1).run()
    trial = run.trials[0]
    assert trial.config.params == {
        "intelligence.model": "large",
        "agent.max_turns": 2,
        "engine.backend": "ollama",
    }
    assert "earlier replies rejected" in trial.config.reasoning
    assert '"model-1" is not an option' in trial.config.reasoning
    second_prompt = backend.calls[1]["prompt"]
    assert "## Your previous reply" in second_prompt and "model-1" in second_prompt
