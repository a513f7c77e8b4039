"""Configuration optimization: types, search spaces, the store, and
(imported on first use) the Pareto frontier (numpy), the LLM optimizer and the
optimization engine.

Engine code only: no Textual, no torch.
"""

from typing import TYPE_CHECKING, Any

from jarvis_tui.learning.optimize.search_space import (
    DEFAULT_SEARCH_SPACE,
    build_search_space,
    default_search_space,
    load_search_space,
    validate_config,
)
from jarvis_tui.learning.optimize.store import OptimizationStore, OptimizeStoreError, StoreError
from jarvis_tui.learning.optimize.types import (
    DEFAULT_OBJECTIVES,
    BenchmarkScore,
    ObjectiveBound,
    ObjectiveSpec,
    OptimizationRun,
    RunSummary,
    SampleScore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialFeedback,
    TrialResult,
)

if TYPE_CHECKING:
    from jarvis_tui.learning.optimize.pareto import compute_pareto_frontier, dominates

_LAZY = {
    # numpy: a form built from a SearchSpace (the Traces judge form) needs none of it
    "compute_pareto_frontier": "jarvis_tui.learning.optimize.pareto",
    "dominates": "jarvis_tui.learning.optimize.pareto",
    "LLMOptimizer": "jarvis_tui.learning.optimize.llm_optimizer",
    "OptimizationEngine": "jarvis_tui.learning.optimize.optimizer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jarvis_tui.learning.optimize' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DEFAULT_OBJECTIVES",
    "DEFAULT_SEARCH_SPACE",
    "LLMOptimizer",
    "OptimizationEngine",
    "BenchmarkScore",
    "ObjectiveBound",
    "ObjectiveSpec",
    "OptimizationRun",
    "OptimizationStore",
    "RunSummary",
    "SampleScore",
    "SearchDimension",
    "SearchSpace",
    "OptimizeStoreError",
    "StoreError",
    "TrialConfig",
    "TrialFeedback",
    "TrialResult",
    "build_search_space",
    "compute_pareto_frontier",
    "default_search_space",
    "dominates",
    "load_search_space",
    "validate_config",
]
