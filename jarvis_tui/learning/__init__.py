"""Learning primitive: router policies, reward functions and trace-driven learning.

Names mirror ``openjarvis.learning``. Nothing here imports torch; the LoRA trainer
lives in ``jarvis_tui.learning.training.lora`` and imports it only when training.
No module of this package may import ``jarvis_tui.traces.store`` at import time
(the store imports ``classify`` from here).
"""

from __future__ import annotations

from typing import Any

from jarvis_tui.learning._stubs import QueryAnalyzer, RewardFunction, RouterPolicy, RoutingContext
from jarvis_tui.learning.classify import QUERY_CLASSES, classify_query
from jarvis_tui.learning.heuristic_reward import HeuristicRewardFunction
from jarvis_tui.learning.router import HeuristicRouter, build_routing_context
from jarvis_tui.learning.training.data import TrainingDataMiner

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
    "BanditRouterPolicy": "jarvis_tui.learning.bandit_router",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jarvis_tui.learning' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def ensure_registered() -> None:
    """Ensure all learning policies are registered in ``RouterPolicyRegistry``.

    Registers ``heuristic``, ``trace`` (alias ``learned``) and ``bandit``; safe to
    call any number of times.
    """
    from jarvis_tui.learning.bandit_router import ensure_registered as _reg_bandit
    from jarvis_tui.learning.heuristic_policy import ensure_registered as _reg_heuristic
    from jarvis_tui.learning.trace_policy import ensure_registered as _reg_trace

    _reg_heuristic()
    _reg_bandit()
    _reg_trace()


__all__ = [
    "AgentConfigEvolver",
    "BanditRouterPolicy",
    "HeuristicRewardFunction",
    "HeuristicRouter",
    "LearningOrchestrator",
    "QUERY_CLASSES",
    "QueryAnalyzer",
    "RewardFunction",
    "RouterPolicy",
    "RoutingContext",
    "TraceDrivenPolicy",
    "TrainingDataMiner",
    "build_routing_context",
    "classify_query",
    "ensure_registered",
]
