"""OpenJarvis parity: the names, keyword arguments and answers code written against
``openjarvis.learning`` relies on."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import jarvis_tui.learning as learning
from jarvis_tui.core.registry import RouterPolicyRegistry
from jarvis_tui.core.types import Trace
from jarvis_tui.learning import _stubs, build_routing_context
from jarvis_tui.learning.bandit_router import ArmStats, BanditRouterPolicy
from jarvis_tui.learning.optimize import DEFAULT_SEARCH_SPACE
from jarvis_tui.learning.optimize.pareto import compute_pareto_frontier
from jarvis_tui.learning.optimize.types import ObjectiveSpec, TrialConfig, TrialResult
from jarvis_tui.learning.trace_policy import LearnedRouterPolicy, TraceDrivenPolicy
from jarvis_tui.learning.training.data import TrainingDataMiner

CODE_Q = "def parse(line): return line.split()"


def _trace(i: int, model: str, *, query: str = CODE_Q, feedback: float | None = 1.0,
           outcome: str | None = "success") -> Trace:  # fmt: skip
    return Trace(trace_id=f"t{i}", query=query, model=model, feedback=feedback,
                 outcome=outcome, started_at=1_700_000_000.0 + i)  # fmt: skip


class ListOnlyStore:
    """OpenJarvis's store interface: only list_traces(since=, until=, limit=)."""

    def __init__(self, traces: list[Trace]) -> None:
        self.traces = traces

    def list_traces(self, *, since: Any = None, until: Any = None, limit: int = 100) -> list[Trace]:
        return self.traces[:limit]


class Analyzer:
    """Like OpenJarvis's TraceAnalyzer: holds its store as ``_store``."""

    def __init__(self, store: Any) -> None:
        self._store = store


# ------------------------------------------------------------------ package names


def test_learning_exports_the_spec_names() -> None:
    for name in ("LLMOptimizer", "OptimizationEngine", "OptimizationStore", "LoRATrainer",
                 "LoRATrainingConfig", "HAS_TORCH", "LearnedRouterPolicy"):  # fmt: skip
        assert name in learning.__all__ and name in dir(learning)
    assert learning.LoRATrainingConfig().lora_rank == 16
    assert isinstance(learning.HAS_TORCH, bool)


def test_policy_base_classes() -> None:
    assert _stubs.LearningPolicy.target == ""
    assert _stubs.IntelligenceLearningPolicy.target == "intelligence"
    assert _stubs.AgentLearningPolicy.target == "agent"
    with pytest.raises(TypeError):
        _stubs.LearningPolicy()  # type: ignore[abstract]
    assert issubclass(TraceDrivenPolicy, _stubs.IntelligenceLearningPolicy)
    assert issubclass(LearnedRouterPolicy, _stubs.IntelligenceLearningPolicy)
    assert TraceDrivenPolicy.target == "intelligence"


# ------------------------------------------------------------------ bandit


def test_arm_stats_mean_reward() -> None:
    assert ArmStats().mean_reward == 0.0
    assert ArmStats(total_reward=3.0, pulls=4).mean_reward == 0.75


def test_bandit_accepts_openjarvis_keywords_and_thresholds_rewards() -> None:
    policy = BanditRouterPolicy(strategy="thompson", min_pulls=3, reward_threshold=0.6)
    for r in (0.6, 0.59, 0.9):
        policy.update("code", "m", r)
    stats = policy.get_stats("code")["m"]
    assert stats["successes"] == 2 and stats["failures"] == 1
    assert stats["pulls"] == 3
    assert stats["total_reward"] == pytest.approx(2.09)
    assert stats["mean_reward"] == pytest.approx(2.09 / 3)


def test_min_pulls_tries_every_arm_first() -> None:
    policy = BanditRouterPolicy(["a", "b", "c"], min_pulls=2, seed=1)
    ctx = build_routing_context(CODE_Q)
    picks = []
    for _ in range(6):
        model, why = policy.explain(ctx)
        assert why.startswith("exploring:")
        picks.append(model)
        policy.update("code", model, 1.0 if model == "c" else 0.0)
    assert sorted(picks) == ["a", "a", "b", "b", "c", "c"]
    assert not policy.explain(ctx)[1].startswith("exploring:")


def test_ucb_tries_unpulled_arms_then_follows_the_upper_bound() -> None:
    policy = BanditRouterPolicy(["a", "b"], strategy="ucb", exploration_factor=0.1)
    ctx = build_routing_context(CODE_Q)
    assert policy.select_model(ctx) == "a"
    policy.update("code", "a", 0.2)
    assert policy.select_model(ctx) == "b"
    policy.update("code", "b", 0.9)
    # mean 0.9 + 0.1*sqrt(ln 2 / 1) beats 0.2 + the same bonus
    model, why = policy.explain(ctx)
    assert model == "b" and why.startswith("ucb1:")
    bonus = 0.1 * math.sqrt(math.log(2) / 1)
    assert f"{0.9 + bonus:.2f}" in why
    # a large exploration factor sends it to the less-pulled arm
    wide = BanditRouterPolicy(["a", "b"], strategy="ucb", exploration_factor=5.0)
    for _ in range(5):
        wide.update("code", "a", 1.0)
    wide.update("code", "b", 0.5)
    assert wide.select_model(ctx) == "b"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "nonsense"}, "strategy must be 'thompson' or 'ucb'"),
        ({"min_pulls": -1}, "min_pulls must be a whole number >= 0"),
        ({"min_pulls": 1.5}, "min_pulls"),
        ({"reward_threshold": float("nan")}, "reward_threshold"),
        ({"exploration_factor": -1.0}, "exploration_factor"),
    ],
)
def test_bandit_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BanditRouterPolicy(**kwargs)


# ------------------------------------------------------------------ trace / learned


def test_trace_policy_takes_an_analyzer() -> None:
    store = ListOnlyStore([_trace(i, "coder") for i in range(6)])
    for policy in (TraceDrivenPolicy(analyzer=Analyzer(store)), TraceDrivenPolicy(Analyzer(store))):
        summary = policy.update_from_traces()
        assert summary["updated"] is True and summary["total_traces"] == 6
        assert policy.select_model(build_routing_context(CODE_Q)) == "coder"
    assert TraceDrivenPolicy().update_from_traces() == {
        "updated": False,
        "reason": "no analyzer configured",
        "error": "no analyzer configured",
    }
    with pytest.raises(TypeError, match="analyzer"):
        TraceDrivenPolicy(analyzer=object())


def test_learned_router_is_registered_and_updates_in_batch() -> None:
    learning.ensure_registered()
    assert RouterPolicyRegistry.get("learned") is LearnedRouterPolicy
    traces = [_trace(i, "good") for i in range(6)] + [
        _trace(10 + i, "bad", feedback=0.0, outcome="failure") for i in range(6)
    ]
    policy = RouterPolicyRegistry.create("learned", available_models=["good", "bad"])
    result = policy.update(ListOnlyStore(traces))
    assert result["updated"] is True
    assert result["changes"] == {"code": "good"}
    assert result["policy_map"] == {"code": "good"}
    assert policy.update(ListOnlyStore(traces))["updated"] is False  # nothing changed
    assert policy.select_model(build_routing_context(CODE_Q)) == "good"

    class Broken:
        def list_traces(self, **_: Any) -> list[Trace]:
            raise OSError("database is locked")

    assert policy.update(Broken())["reason"] == "Could not access trace store"


# ------------------------------------------------------------------ routing context


def test_routing_context_defaults_and_fill() -> None:
    from jarvis_tui.core.types import RoutingContext

    ctx = RoutingContext()
    assert (ctx.has_reasoning, ctx.complexity_score, ctx.suggested_max_tokens) == (False, 0.0, 1024)
    filled = build_routing_context("Why does the proof of the theorem need induction?")
    assert filled.has_reasoning and filled.has_math
    assert 0.0 < filled.complexity_score <= 1.0
    assert filled.suggested_max_tokens in (1024, 2048, 4096, 8192, 16384)


# ------------------------------------------------------------------ optimize


def test_default_search_space_is_openjarvis_s() -> None:
    dims = {d.name: d for d in DEFAULT_SEARCH_SPACE.dimensions}
    assert dims["intelligence.model"].values[:3] == ["qwen3:8b", "qwen3:4b", "qwen3:1.7b"]
    assert (dims["intelligence.temperature"].low, dims["intelligence.temperature"].high) == (
        0.0,
        1.0,
    )
    assert (dims["intelligence.max_tokens"].low, dims["intelligence.max_tokens"].high) == (
        256,
        8192,
    )
    assert dims["agent.type"].values == [
        "simple",
        "orchestrator",
        "native_react",
        "native_openhands",
    ]
    assert (dims["agent.max_turns"].low, dims["agent.max_turns"].high) == (1, 30)
    assert (
        "calculator" in dims["tools.tool_set"].values
        and dims["tools.tool_set"].dim_type == "subset"
    )
    assert dims["learning.routing_policy"].values == ["heuristic", "grpo", "bandit", "learned"]
    from jarvis_tui.learning.optimize import LLMOptimizer, OptimizationEngine

    assert (
        LLMOptimizer.__name__ == "LLMOptimizer"
        and OptimizationEngine.__name__ == "OptimizationEngine"
    )


def test_pareto_reads_summary_stats_means() -> None:
    def trial(tid: str, acc: float, ipw: float) -> TrialResult:
        t = TrialResult(trial_id=tid, config=TrialConfig(trial_id=tid), accuracy=acc)
        t.summary = SimpleNamespace(ipw_stats=SimpleNamespace(mean=ipw))  # type: ignore[assignment]
        return t

    trials = [trial("a", 0.9, 1.0), trial("b", 0.8, 3.0), trial("c", 0.7, 2.0)]
    objectives = [ObjectiveSpec("accuracy", "maximize"), ObjectiveSpec("ipw", "maximize")]
    assert [t.trial_id for t in compute_pareto_frontier(trials, objectives)] == ["a", "b"]
    with pytest.raises(ValueError, match="'energy' is missing"):
        compute_pareto_frontier(trials, [ObjectiveSpec("energy", "minimize")])


# ------------------------------------------------------------------ training


def test_miner_keeps_the_list_traces_order() -> None:
    traces = [_trace(i, "m", query=f"question {i}") for i in (3, 1, 2)]  # not by time
    pairs = TrainingDataMiner(ListOnlyStore(traces)).extract_sft_pairs()
    assert [p["input"] for p in pairs] == ["question 3", "question 1", "question 2"]


torch_only = pytest.mark.skipif(not learning.HAS_TORCH, reason="needs the train extra")


@torch_only
def test_lora_trainer_defaults_and_empty_data(tmp_path: Path) -> None:
    from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig

    trainer = LoRATrainer(LoRATrainingConfig(output_dir=str(tmp_path)), device="cpu")
    assert trainer.model_name == "Qwen/Qwen3-0.6B"
    assert trainer.train([]) == {"status": "skipped", "reason": "no training data"}
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """huggingface_hub's snapshot lookup reads this (empty) cache, never the user's."""
    import huggingface_hub

    cache = tmp_path / "hub"
    cache.mkdir()
    original = huggingface_hub.snapshot_download

    def lookup(*args: Any, **kwargs: Any) -> str:
        kwargs["cache_dir"] = cache
        return original(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lookup)
    return cache


@torch_only
def test_an_uncached_hub_id_fails_in_one_line_naming_the_way_out(
    tmp_path: Path, hub_cache: Path
) -> None:
    from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig, ModelLoadError

    trainer = LoRATrainer(LoRATrainingConfig(output_dir=str(tmp_path / "runs")), device="cpu")
    with pytest.raises(ModelLoadError) as err:
        trainer.train([{"input": "q", "output": "a"}], run_dir=tmp_path / "runs")
    message = str(err.value)
    assert "\n" not in message
    assert "--model" in message and "tiny model" in message and "Qwen/Qwen3-0.6B" in message
    runs = tmp_path / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []  # no run folder was started


@torch_only
def test_a_cached_hub_id_loads_from_the_cache(tmp_path: Path, hub_cache: Path) -> None:
    import shutil

    from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig
    from jarvis_tui.learning.training.tinylm import build_tiny_lm

    # The tiny model laid out as the Hugging Face cache does: models--org--name/snapshots/<rev>.
    built = build_tiny_lm(tmp_path / "tiny-lm", seed=0)
    repo = hub_cache / "models--acme--tiny"
    shutil.copytree(built, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    shutil.rmtree(built)  # only the cache has it now
    trainer = LoRATrainer(LoRATrainingConfig(output_dir=str(tmp_path)), model_name="acme/tiny")
    examples = trainer.prepare_dataset([{"input": "What is 2 plus 2?", "output": "4."}])
    assert len(examples) == 1
