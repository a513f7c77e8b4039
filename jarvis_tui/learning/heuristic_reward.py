"""Heuristic reward: a weighted score from latency, cost and token efficiency.

Same formula as ``openjarvis.learning.heuristic_reward``::

    latency    = 1 - latency_seconds / max_latency          (clamped to [0, 1])
    cost       = 1 - cost_usd / max_cost                    (clamped to [0, 1])
    efficiency = completion_tokens / (prompt + completion)  (0.5 with no tokens)
    reward     = w_latency * latency + w_cost * cost + w_efficiency * efficiency

and the result is clamped to [0, 1]. Where OpenJarvis lets odd input leak through,
this one holds the bound (a property test checks it):

* each component is clamped on its own, so a negative latency or cost cannot lift
  the sum above what a perfect measurement would earn; negative token counts count
  as 0;
* **NaN** means "measured, but broken": that component scores 0 (pessimistic, so a
  bad measurement never raises a reward). A NaN token count makes efficiency 0.
  Infinity is a real (if absurd) value: ``inf`` latency or cost scores 0;
* a missing keyword or ``None`` is "not measured" and takes OpenJarvis's default
  (0 seconds, 0 USD, 0 tokens);
* integers too large for a float count as infinity instead of raising.

The constructor rejects what would make the formula meaningless: a non-positive or
non-finite ``max_latency``/``max_cost`` (division by it) and negative or non-finite
weights. Weights need not sum to 1; the final clamp handles any excess, as in the
reference.
"""

from __future__ import annotations

import math
from typing import Any

from jarvis_tui.learning._stubs import RewardFunction, RoutingContext


def _as_float(name: str, value: Any) -> float:
    """*value* as a float (``None`` -> 0.0); ints beyond float range -> +/-inf."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {value!r}") from exc


def _unit(x: float) -> float:
    """Clamp to [0, 1]; NaN -> 0."""
    if math.isnan(x):
        return 0.0
    return min(1.0, max(0.0, x))


class HeuristicRewardFunction(RewardFunction):
    """Computes a scalar reward based on latency, cost, and token efficiency.

    Each component is normalised to [0, 1] and combined via a weighted sum; the
    result is always in [0, 1] (see the module docstring for NaN and other odd input).
    """

    def __init__(
        self,
        *,
        weight_latency: float = 0.4,
        weight_cost: float = 0.3,
        weight_efficiency: float = 0.3,
        max_latency: float = 30.0,
        max_cost: float = 0.01,
    ) -> None:
        for name, value in (
            ("weight_latency", weight_latency),
            ("weight_cost", weight_cost),
            ("weight_efficiency", weight_efficiency),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name, value in (("max_latency", max_latency), ("max_cost", max_cost)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        self.weight_latency = weight_latency
        """Weight of the latency score."""
        self.weight_cost = weight_cost
        """Weight of the cost score."""
        self.weight_efficiency = weight_efficiency
        """Weight of the token-efficiency score."""
        self.max_latency = max_latency
        """Latency (seconds) at and above which the latency score is 0."""
        self.max_cost = max_cost
        """Cost (USD) at and above which the cost score is 0."""

    def components(self, **kwargs: Any) -> dict[str, float]:
        """The three normalised scores, each in [0, 1]: ``latency``, ``cost``, ``efficiency``."""
        latency = _as_float("latency_seconds", kwargs.get("latency_seconds"))
        cost = _as_float("cost_usd", kwargs.get("cost_usd"))
        prompt = _as_float("prompt_tokens", kwargs.get("prompt_tokens"))
        completion = _as_float("completion_tokens", kwargs.get("completion_tokens"))

        latency_score = _unit(1.0 - latency / self.max_latency)
        cost_score = _unit(1.0 - cost / self.max_cost)

        if math.isnan(prompt) or math.isnan(completion):
            efficiency = 0.0
        else:
            prompt, completion = max(prompt, 0.0), max(completion, 0.0)
            total = prompt + completion
            if total <= 0:
                efficiency = 0.5
            elif math.isinf(completion):
                # inf/inf is NaN: with both infinite there is no telling, so neutral.
                efficiency = 0.5 if math.isinf(prompt) else 1.0
            else:
                efficiency = _unit(completion / total)
        return {"latency": latency_score, "cost": cost_score, "efficiency": efficiency}

    def compute(
        self,
        context: RoutingContext,
        model_key: str,
        response: str,
        **kwargs: Any,
    ) -> float:
        """Reward in [0, 1] from ``latency_seconds``, ``cost_usd``, ``prompt_tokens``, ``completion_tokens``."""
        parts = self.components(**kwargs)
        reward = (
            self.weight_latency * parts["latency"]
            + self.weight_cost * parts["cost"]
            + self.weight_efficiency * parts["efficiency"]
        )
        return _unit(reward)


__all__ = ["HeuristicRewardFunction"]
