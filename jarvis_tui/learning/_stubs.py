"""Learning ABCs: router policies, query analyzers and reward functions.

Same names and signatures as ``openjarvis.learning._stubs``; ``RoutingContext`` is
re-exported from its canonical home, :mod:`jarvis_tui.core.types`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Dict

from jarvis_tui.core.types import RoutingContext


class QueryAnalyzer(ABC):
    """Query analysis for routing contexts."""

    @abstractmethod
    def analyze(self, query: str, **kwargs: object) -> RoutingContext:
        """Analyze a query and return a RoutingContext."""


class RewardFunction(ABC):
    """Compute a scalar reward for a routing decision."""

    @abstractmethod
    def compute(
        self,
        context: RoutingContext,
        model_key: str,
        response: str,
        **kwargs: object,
    ) -> float:
        """Return reward in [0, 1]."""


class RouterPolicy(ABC):
    """Model selection policy (used by the learning system)."""

    @abstractmethod
    def select_model(self, context: RoutingContext) -> str:
        """Select the best model key for the given routing context."""


class LearningPolicy(ABC):
    """Base for all learning policies; ``target`` names the primitive it updates."""

    target: ClassVar[str] = ""
    """``"intelligence"`` (model routing), ``"agent"`` or ``"tools"``."""

    @abstractmethod
    def update(self, trace_store: Any, **kwargs: object) -> Dict[str, Any]:
        """Analyze traces and return update actions."""


class IntelligenceLearningPolicy(LearningPolicy):
    """Updates intelligence (model routing) from traces."""

    target: ClassVar[str] = "intelligence"


class AgentLearningPolicy(LearningPolicy):
    """Updates agent logic from traces."""

    target: ClassVar[str] = "agent"


__all__ = [
    "AgentLearningPolicy",
    "IntelligenceLearningPolicy",
    "LearningPolicy",
    "QueryAnalyzer",
    "RewardFunction",
    "RouterPolicy",
    "RoutingContext",
]
