"""Learning ABCs: router policies, query analyzers and reward functions.

Same names and signatures as ``openjarvis.learning._stubs``; ``RoutingContext`` is
re-exported from its canonical home, :mod:`jarvis_tui.core.types`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

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


__all__ = ["QueryAnalyzer", "RewardFunction", "RouterPolicy", "RoutingContext"]
