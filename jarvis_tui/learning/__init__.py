"""Learning primitive: router policies, reward functions and trace-driven learning.

Names mirror ``openjarvis.learning``. Importing this package imports neither torch,
transformers, peft, optuna nor numpy: the optimizer, the optimization store and the
LoRA trainer are imported on first use (module ``__getattr__``), and ``HAS_TORCH`` is
computed with ``importlib.util.find_spec`` without importing torch. ``classify`` is
:mod:`jarvis_tui.core.classify`, re-exported (the trace store imports it from core).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from jarvis_tui.learning._stubs import (
    AgentLearningPolicy,
    IntelligenceLearningPolicy,
    LearningPolicy,
    QueryAnalyzer,
    RewardFunction,
    RouterPolicy,
    RoutingContext,
)
from jarvis_tui.learning.classify import QUERY_CLASSES, classify_query
from jarvis_tui.learning.heuristic_reward import HeuristicRewardFunction
from jarvis_tui.learning.router import (
    ComplexityResult,
    DefaultQueryAnalyzer,
    HeuristicRouter,
    build_routing_context,
    score_complexity,
)
from jarvis_tui.learning.training.data import TrainingDataMiner

HAS_TORCH: bool = importlib.util.find_spec("torch") is not None
"""Whether torch is installed (LoRA training also needs transformers and peft)."""

_LAZY = {
    "AgentConfigEvolver": "jarvis_tui.learning.agent_evolver",
    "Change": "jarvis_tui.learning.agent_evolver",
    "ConfigWriteError": "jarvis_tui.learning.agent_evolver",
    "MalformedConfigError": "jarvis_tui.learning.agent_evolver",
    "VERSION_CAUSES": "jarvis_tui.learning.agent_evolver",
    "toml_diff": "jarvis_tui.learning.agent_evolver",
    "validate_agent_name": "jarvis_tui.learning.agent_evolver",
    "LearningOrchestrator": "jarvis_tui.learning.learning_orchestrator",
    "TraceDrivenPolicy": "jarvis_tui.learning.trace_policy",
    "LearnedRouterPolicy": "jarvis_tui.learning.trace_policy",
    "BanditRouterPolicy": "jarvis_tui.learning.bandit_router",
    "ArmStats": "jarvis_tui.learning.bandit_router",
    "LLMOptimizer": "jarvis_tui.learning.optimize.llm_optimizer",
    "OptimizationEngine": "jarvis_tui.learning.optimize.optimizer",
    "OptimizationStore": "jarvis_tui.learning.optimize.store",
    "LoRATrainer": "jarvis_tui.learning.training.lora",
    "LoRATrainingConfig": "jarvis_tui.learning.training.lora",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jarvis_tui.learning' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def ensure_registered() -> None:
    """Ensure all learning policies are registered in ``RouterPolicyRegistry``.

    Registers ``heuristic``, ``trace``, ``learned`` and ``bandit``; safe to call any
    number of times.
    """
    from jarvis_tui.learning.bandit_router import ensure_registered as _reg_bandit
    from jarvis_tui.learning.heuristic_policy import ensure_registered as _reg_heuristic
    from jarvis_tui.learning.trace_policy import ensure_registered as _reg_trace

    _reg_heuristic()
    _reg_bandit()
    _reg_trace()


__all__ = [
    "HAS_TORCH",
    "QUERY_CLASSES",
    "AgentConfigEvolver",
    "AgentLearningPolicy",
    "ArmStats",
    "BanditRouterPolicy",
    "ComplexityResult",
    "DefaultQueryAnalyzer",
    "HeuristicRewardFunction",
    "HeuristicRouter",
    "IntelligenceLearningPolicy",
    "LLMOptimizer",
    "LearnedRouterPolicy",
    "LearningOrchestrator",
    "LearningPolicy",
    "LoRATrainer",
    "LoRATrainingConfig",
    "OptimizationEngine",
    "OptimizationStore",
    "QueryAnalyzer",
    "RewardFunction",
    "RouterPolicy",
    "RoutingContext",
    "TraceDrivenPolicy",
    "TrainingDataMiner",
    "build_routing_context",
    "classify_query",
    "ensure_registered",
    "score_complexity",
]
