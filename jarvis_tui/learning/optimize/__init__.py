"""Configuration optimization: types, search spaces, Pareto frontier and the store.

Engine code only: no Textual, no torch.
"""

from jarvis_tui.learning.optimize.pareto import compute_pareto_frontier, dominates
from jarvis_tui.learning.optimize.search_space import (
    build_search_space,
    load_search_space,
    validate_config,
)
from jarvis_tui.learning.optimize.store import OptimizationStore, StoreError
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

__all__ = [
    "DEFAULT_OBJECTIVES",
    "BenchmarkScore",
    "ObjectiveBound",
    "ObjectiveSpec",
    "OptimizationRun",
    "OptimizationStore",
    "RunSummary",
    "SampleScore",
    "SearchDimension",
    "SearchSpace",
    "StoreError",
    "TrialConfig",
    "TrialFeedback",
    "TrialResult",
    "build_search_space",
    "compute_pareto_frontier",
    "dominates",
    "load_search_space",
    "validate_config",
]
