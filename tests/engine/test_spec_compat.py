"""Every class and function on the spec page (``openjarvis.learning``), imported from
``jarvis_tui.learning``, with the spec's signature: parameter names, kinds, order and
defaults.

The table is the spec page's signatures, copied by hand. A call written against the
spec must work here, so: every spec parameter exists with the same kind and default,
positional ones at the same position; ``**kwargs`` stays; anything extra must be
optional and come after the spec's positional parameters (keyword-only or defaulted).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

import jarvis_tui.learning as learning

REQ = inspect.Parameter.empty
P = inspect.Parameter.POSITIONAL_OR_KEYWORD
K = inspect.Parameter.KEYWORD_ONLY
VK = inspect.Parameter.VAR_KEYWORD


class Factory:
    """A dataclass field whose default comes from a factory returning *value*."""

    def __init__(self, value: Any) -> None:
        self.value = value


S = "self"
SPEC: dict[str, list[tuple[str, Any, Any]]] = {
    # name or "Class.method": [(param, kind, default), ...]
    "QueryAnalyzer.analyze": [(S, P, REQ), ("query", P, REQ), ("kwargs", VK, REQ)],
    "RewardFunction.compute": [
        (S, P, REQ), ("context", P, REQ), ("model_key", P, REQ), ("response", P, REQ),
        ("kwargs", VK, REQ),
    ],
    "RouterPolicy.select_model": [(S, P, REQ), ("context", P, REQ)],
    "RoutingContext": [
        ("query", P, ""), ("query_length", P, 0), ("has_code", P, False), ("has_math", P, False),
        ("language", P, "en"), ("urgency", P, 0.5), ("metadata", P, Factory({})),
    ],
    "AgentConfigEvolver": [("trace_store", P, REQ), ("config_dir", K, REQ), ("min_quality", K, 0.5)],
    "AgentConfigEvolver.analyze": [(S, P, REQ)],
    "AgentConfigEvolver.write_config": [
        (S, P, REQ), ("agent_name", P, REQ), ("tools", K, REQ), ("max_turns", K, 10),
        ("temperature", K, 0.3), ("system_prompt", K, ""),
    ],
    "AgentConfigEvolver.list_versions": [(S, P, REQ), ("agent_name", P, REQ)],
    "AgentConfigEvolver.rollback": [(S, P, REQ), ("agent_name", P, REQ), ("version", P, REQ)],
    "HeuristicRewardFunction": [
        ("weight_latency", K, 0.4), ("weight_cost", K, 0.3), ("weight_efficiency", K, 0.3),
        ("max_latency", K, 30.0), ("max_cost", K, 0.01),
    ],
    "LearningOrchestrator": [
        ("trace_store", K, REQ), ("config_dir", K, REQ), ("eval_fn", K, None),
        ("min_improvement", K, 0.02), ("min_sft_pairs", K, 10), ("min_quality", K, 0.7),
        ("lora_config", K, None), ("model_name", K, None),
    ],
    "LearningOrchestrator.run": [(S, P, REQ), ("agent_id", K, None)],
    "LLMOptimizer": [
        ("search_space", P, REQ), ("optimizer_model", P, "claude-sonnet-4-6"),
        ("optimizer_backend", P, None),
    ],
    "LLMOptimizer.propose_initial": [(S, P, REQ)],
    "LLMOptimizer.propose_next": [
        (S, P, REQ), ("history", P, REQ), ("traces", P, None), ("frontier_ids", P, None),
    ],
    "LLMOptimizer.analyze_trial": [
        (S, P, REQ), ("trial", P, REQ), ("summary", P, REQ), ("traces", P, None),
        ("sample_scores", P, None), ("per_benchmark", P, None),
    ],
    "LLMOptimizer.propose_targeted": [
        (S, P, REQ), ("history", P, REQ), ("base_config", P, REQ), ("target_primitive", P, REQ),
        ("frontier_ids", P, None),
    ],
    "LLMOptimizer.propose_merge": [
        (S, P, REQ), ("candidates", P, REQ), ("history", P, REQ), ("frontier_ids", P, None),
    ],
    "OptimizationEngine": [
        ("search_space", P, REQ), ("llm_optimizer", P, REQ), ("trial_runner", P, REQ),
        ("store", P, None), ("max_trials", P, 20), ("early_stop_patience", P, 5),
    ],
    "OptimizationEngine.run": [(S, P, REQ), ("progress_callback", P, None)],
    "OptimizationEngine.export_best_recipe": [(S, P, REQ), ("run", P, REQ), ("path", P, REQ)],
    "OptimizationStore": [("db_path", P, REQ)],
    "OptimizationStore.save_run": [(S, P, REQ), ("run", P, REQ)],
    "OptimizationStore.get_run": [(S, P, REQ), ("run_id", P, REQ)],
    "OptimizationStore.list_runs": [(S, P, REQ), ("limit", P, 50)],
    "OptimizationStore.save_trial": [(S, P, REQ), ("run_id", P, REQ), ("trial", P, REQ)],
    "OptimizationStore.get_trials": [(S, P, REQ), ("run_id", P, REQ)],
    "OptimizationStore.close": [(S, P, REQ)],
    "HeuristicRouter": [
        ("available_models", P, None), ("default_model", K, ""), ("fallback_model", K, ""),
    ],
    "TrainingDataMiner": [
        ("trace_store", P, REQ), ("min_quality", K, 0.7), ("min_samples_per_class", K, 1),
    ],
    "TrainingDataMiner.extract_sft_pairs": [(S, P, REQ), ("agent", K, None)],
    "TrainingDataMiner.extract_routing_pairs": [(S, P, REQ), ("agent", K, None)],
    "TrainingDataMiner.extract_agent_config_pairs": [(S, P, REQ), ("agent", K, None)],
    "LoRATrainer": [("config", P, REQ), ("model_name", K, "Qwen/Qwen3-0.6B"), ("device", K, None)],
    "LoRATrainer.prepare_dataset": [(S, P, REQ), ("pairs", P, REQ)],
    "LoRATrainer.train": [(S, P, REQ), ("pairs", P, REQ)],
    "LoRATrainingConfig": [
        ("lora_rank", P, 16), ("lora_alpha", P, 32), ("lora_dropout", P, 0.05),
        ("target_modules", P, Factory(["q_proj", "v_proj"])), ("num_epochs", P, 3),
        ("batch_size", P, 4), ("learning_rate", P, 2e-05), ("weight_decay", P, 0.01),
        ("warmup_ratio", P, 0.1), ("max_grad_norm", P, 1.0), ("max_seq_length", P, 2048),
        ("use_4bit", P, False), ("output_dir", P, "checkpoints/lora"),
        ("save_every_n_epochs", P, 1), ("gradient_checkpointing", P, True),
    ],
    "build_routing_context": [("query", P, REQ), ("urgency", K, 0.5)],
    "ensure_registered": [],
}  # fmt: skip

ABSTRACT = {"QueryAnalyzer.analyze", "RewardFunction.compute", "RouterPolicy.select_model"}
"""The spec's abstract methods: abstract here too."""


def _resolve(name: str) -> Any:
    owner, _, method = name.partition(".")
    obj = getattr(learning, owner)  # imported from jarvis_tui.learning, as the spec does
    return getattr(obj, method) if method else obj


def _default(obj: Any, param: inspect.Parameter) -> Any:
    """The parameter's default; a dataclass field's factory is called."""
    if dataclasses.is_dataclass(obj) and isinstance(obj, type):
        field = {f.name: f for f in dataclasses.fields(obj)}.get(param.name)
        if field is not None and field.default_factory is not dataclasses.MISSING:
            return Factory(field.default_factory())
    return param.default


def _same_default(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Factory):
        return isinstance(actual, Factory) and actual.value == expected.value
    if expected is REQ or actual is REQ:
        return expected is actual
    return type(expected) is type(actual) and expected == actual


def test_every_spec_name_is_exported_by_jarvis_tui_learning() -> None:
    owners = {name.partition(".")[0] for name in SPEC}
    assert owners <= set(learning.__all__)


@pytest.mark.parametrize("name", sorted(SPEC))
def test_signature_matches_the_spec(name: str) -> None:
    obj = _resolve(name)
    params = list(inspect.signature(obj).parameters.values())  # a class's drops self
    expected = SPEC[name]
    actual = {p.name: p for p in params}
    problems = []
    for i, (pname, kind, default) in enumerate(expected):
        p = actual.get(pname)
        if p is None:
            problems.append(f"{pname}: missing")
            continue
        if p.kind is not kind:
            problems.append(f"{pname}: {p.kind.description}, spec: {kind.description}")
        if kind is P and params.index(p) != i:
            problems.append(f"{pname}: at position {params.index(p)}, spec: {i}")
        if kind is not VK and not _same_default(default, _default(obj, p)):
            problems.append(f"{pname}: default {_default(obj, p)!r}, spec: {default!r}")
    spec_names = {pname for pname, _, _ in expected}
    for p in params:
        if p.name in spec_names or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty and _default(obj, p) is REQ:
            problems.append(f"{p.name}: an extra required parameter (spec calls would break)")
        n_spec_positional = sum(1 for _, k, _ in expected if k is P)
        if p.kind is P and params.index(p) < n_spec_positional:
            problems.append(f"{p.name}: an extra positional parameter before the spec's")
    assert problems == [], f"{name}: " + "; ".join(problems)
    if name in ABSTRACT:
        assert getattr(obj, "__isabstractmethod__", False), f"{name} is not abstract"
