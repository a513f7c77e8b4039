"""Bandit router: Thompson sampling (or UCB1) over models, one bandit per query class.

Mirrors ``openjarvis.learning.bandit_router``: each ``(query class, model)`` pair is an
arm. ``strategy="thompson"`` (default) keeps a Beta posterior per arm and routes to the
highest of one draw per candidate; ``strategy="ucb"`` routes to the highest
``mean reward + exploration_factor * sqrt(ln(pulls in the class) / pulls of the arm)``
(an arm never pulled goes first). ``min_pulls`` makes every candidate be tried that
many times (the least-tried first) before the strategy decides; ``reward_threshold``
turns rewards into whole successes (``reward >= threshold``) and failures, as the
reference does.

Differences from OpenJarvis, on purpose:

* **Fractional rewards by default.** With ``reward_threshold=None`` (the default) a
  reward ``r`` in [0, 1] (feedback, or a
  :class:`~jarvis_tui.learning.heuristic_reward.HeuristicRewardFunction` value) adds
  ``r`` to alpha and ``1 - r`` to beta. OpenJarvis thresholds at 0.5 and counts a
  whole success or failure, which throws away how good a 0.55 or a 0.95 was; pass
  ``reward_threshold=0.5`` for that. Rewards outside [0, 1] are clamped; NaN raises
  ``ValueError``.
* **min_pulls defaults to 0** (OpenJarvis: 3): an unpulled arm's Beta(1, 1) prior
  already explores, and UCB1 tries every unpulled arm first. The under-tried arm with
  the fewest pulls is taken (the first listed on a tie), not a random one.
* **UCB1 counts pulls per query class** (each class is its own bandit); the
  reference uses the total over all classes.
* **Reproducible.** All draws come from one ``random.Random(seed)``; the same seed and
  the same calls give the same choices. OpenJarvis uses the global ``random``.
* **A RouterPolicy.** ``select_model(context)`` chooses among ``available_models`` (or,
  without that list, among the models this class has seen, else the fallback chain).
  OpenJarvis's ``route(context, models)`` is kept.
* Query classes come from :func:`classify_query` on the query text, the same classes as
  the trace store and :class:`~jarvis_tui.learning.trace_policy.TraceDrivenPolicy`.

Thread-safety: one lock guards the posteriors and the random generator.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from jarvis_tui.core.registry import RouterPolicyRegistry
from jarvis_tui.core.types import RoutingContext
from jarvis_tui.learning._stubs import RouterPolicy
from jarvis_tui.learning.classify import QUERY_CLASSES, classify_query
from jarvis_tui.learning.trace_policy import _stream

if TYPE_CHECKING:
    from jarvis_tui.traces.store import TraceStore


STRATEGIES = ("thompson", "ucb")


@dataclass(slots=True)
class ArmStats:
    """Evidence for one arm (a model within a query class), on top of the prior."""

    successes: float = 0.0
    """Successes added to the prior's alpha: the sum of rewards, or (with a
    ``reward_threshold``) the number of rewards at or above it."""
    failures: float = 0.0
    """Failures added to the prior's beta: the sum of ``1 - reward``, or the count below
    the threshold."""
    total_reward: float = 0.0
    """Sum of the (clamped) rewards."""
    pulls: int = 0
    """Number of updates."""

    @property
    def mean_reward(self) -> float:
        """``total_reward / pulls`` (0.0 before any update)."""
        return self.total_reward / self.pulls if self.pulls else 0.0


def _query_class(query_or_class: str) -> str:
    """A class name is taken as is; anything else is classified as a query."""
    return query_or_class if query_or_class in QUERY_CLASSES else classify_query(query_or_class)


def _number(name: str, value: Any, *, low: float, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < low or (strict and v == low):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


class BanditRouterPolicy(RouterPolicy):
    """Multi-armed bandit router (Thompson sampling or UCB1), one bandit per query class."""

    def __init__(
        self,
        available_models: Optional[List[str]] = None,
        *,
        strategy: str = "thompson",
        exploration_factor: float = 2.0,
        min_pulls: int = 0,
        reward_threshold: Optional[float] = None,
        seed: Optional[int] = None,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        default_model: str = "",
        fallback_model: str = "",
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'thompson' or 'ucb', got {strategy!r}")
        if isinstance(min_pulls, bool) or not isinstance(min_pulls, int) or min_pulls < 0:
            raise ValueError(f"min_pulls must be a whole number >= 0, got {min_pulls!r}")
        for name, value in (("prior_alpha", prior_alpha), ("prior_beta", prior_beta)):
            _number(name, value, low=0.0, strict=True)
        self.strategy: str = strategy
        """``"thompson"`` or ``"ucb"``."""
        self.exploration_factor = _number("exploration_factor", exploration_factor, low=0.0)
        """UCB1's exploration constant."""
        self.min_pulls: int = min_pulls
        """Pulls every candidate gets before the strategy decides."""
        self.reward_threshold: Optional[float] = (
            None if reward_threshold is None
            else _number("reward_threshold", reward_threshold, low=-math.inf)
        )  # fmt: skip
        """A reward at or above it is one whole success (None: fractional rewards)."""
        self._available: List[str] = list(available_models or [])
        self._default = default_model
        self._fallback = fallback_model
        self.prior_alpha = float(prior_alpha)
        """Beta prior alpha for every arm (1.0: uniform prior)."""
        self.prior_beta = float(prior_beta)
        """Beta prior beta for every arm."""
        self._rng = random.Random(seed)
        self._arms: Dict[str, Dict[str, ArmStats]] = {}
        self._lock = threading.Lock()

    @property
    def available_models(self) -> List[str]:
        """The models this policy chooses among (empty: those it has seen)."""
        return list(self._available)

    # ------------------------------------------------------------------ learning

    def update(self, query_or_class: str, model: str, reward: float) -> None:
        """Add one observed *reward* in [0, 1] for *model* on a query or a query class.

        A string that is exactly a class name (``code``, ``math``, ``short``, ``long``,
        ``general``) is taken as the class; any other string is classified as a query.
        """
        value = float(reward)
        if math.isnan(value):
            raise ValueError("reward must be a number in [0, 1], got NaN")
        value = min(1.0, max(0.0, value))
        qclass = _query_class(query_or_class)
        with self._lock:
            arms = self._arms.setdefault(qclass, {})
            stats = arms.get(model)
            if stats is None:
                stats = arms[model] = ArmStats()
            if self.reward_threshold is None:
                stats.successes += value
                stats.failures += 1.0 - value
            elif value >= self.reward_threshold:
                stats.successes += 1.0
            else:
                stats.failures += 1.0
            stats.total_reward += value
            stats.pulls += 1

    def update_from_traces(
        self,
        store: TraceStore,
        *,
        agent: Optional[str] = None,
        stop: Optional[threading.Event] = None,
        progress: Optional[Callable[[int], None]] = None,
    ) -> int:
        """Feed every rated trace's feedback as a reward; returns how many were used.

        Unrated traces are skipped (never read as reward 0). Adds to what is already
        known: call :meth:`reset` first to learn from the store alone.
        """
        used = 0
        for trace in _stream(store.iter_traces, agent=agent, labelled=True, stop=stop):
            if not trace.model or trace.feedback is None:
                continue
            fb = float(trace.feedback)
            if math.isnan(fb):
                continue
            self.update(classify_query(trace.query), trace.model, fb)
            used += 1
            if progress is not None and used % 1_000 == 0:
                progress(used)
        return used

    def reset(self) -> None:
        """Forget all evidence (the random generator keeps its state)."""
        with self._lock:
            self._arms.clear()

    # ------------------------------------------------------------------ reading

    def posterior(self, query_class: str) -> Dict[str, Tuple[float, float, float]]:
        """``{model: (alpha, beta, posterior mean)}`` for every model seen in the class."""
        qclass = _query_class(query_class)
        with self._lock:
            arms = dict(self._arms.get(qclass, {}))
            return {m: self._beta(s) for m, s in arms.items()}

    def get_stats(self, query_class: Optional[str] = None) -> Dict[str, Any]:
        """Pulls and mean reward per arm: for one class, or ``{class: {...}}`` for all."""
        with self._lock:
            if query_class is not None:
                arms = self._arms.get(_query_class(query_class), {})
                return {
                    m: {
                        "pulls": s.pulls,
                        "mean_reward": s.mean_reward,
                        "total_reward": s.total_reward,
                        "successes": s.successes,
                        "failures": s.failures,
                    }
                    for m, s in arms.items()
                }
            return {
                qc: {m: {"pulls": s.pulls, "mean_reward": s.mean_reward} for m, s in arms.items()}
                for qc, arms in self._arms.items()
            }

    def _beta(self, stats: Optional[ArmStats]) -> Tuple[float, float, float]:
        a = self.prior_alpha + (stats.successes if stats else 0.0)
        b = self.prior_beta + (stats.failures if stats else 0.0)
        return a, b, a / (a + b)

    # ------------------------------------------------------------------ routing

    def route(self, context: RoutingContext, models: List[str]) -> str:
        """Choose among *models* with the configured strategy (OpenJarvis's entry point)."""
        if not models:
            raise ValueError("No models available")
        return self._choose(classify_query(context.query), list(models))[0]

    def select_model(self, context: RoutingContext) -> str:
        """Select a model with the configured strategy within the context's query class."""
        return self.explain(context)[0]

    def explain(self, context: RoutingContext) -> Tuple[str, str]:
        """``(model, why)``: the winning draw and its posterior, or why the fallback answered."""
        qclass = classify_query(context.query)
        candidates = list(self._available)
        if not candidates:
            with self._lock:
                candidates = sorted(self._arms.get(qclass, {}))
        if not candidates:
            note = f"class {qclass!r}: no models to sample"
            if self._default:
                return self._default, f"{note} → default model {self._default}"
            if self._fallback:
                return self._fallback, f"{note} → fallback model {self._fallback}"
            return "", f"{note} → no model configured"
        return self._choose(qclass, candidates)

    def _choose(self, qclass: str, candidates: List[str]) -> Tuple[str, str]:
        """``(model, why)`` by min_pulls exploration, then the strategy."""
        n = len(candidates)
        if self.min_pulls:
            with self._lock:
                arms = self._arms.get(qclass, {})
                pulls = [(arms[m].pulls if m in arms else 0, i) for i, m in enumerate(candidates)]
            fewest, i = min(pulls)
            if fewest < self.min_pulls:
                model = candidates[i]
                return model, (
                    f"exploring: class {qclass!r} → {model} ({fewest} of min_pulls"
                    f" {self.min_pulls} pulls; {n} candidates)"
                )
        if self.strategy == "ucb":
            return self._ucb(qclass, candidates)
        model, draw, (a, b, mean), pulls_ = self._sample(qclass, candidates)
        return model, (
            f"thompson: class {qclass!r} → {model} (drew {draw:.2f} from"
            f" Beta({a:.1f}, {b:.1f}), mean {mean:.2f} over {pulls_} updates;"
            f" {n} candidates)"
        )

    def _ucb(self, qclass: str, candidates: List[str]) -> Tuple[str, str]:
        """UCB1: an unpulled arm first (in order), else the highest upper bound."""
        with self._lock:
            arms = dict(self._arms.get(qclass, {}))
        total = sum(s.pulls for s in arms.values())
        best: Optional[Tuple[float, str, float, float, int]] = None
        for model in candidates:
            stats = arms.get(model)
            if stats is None or stats.pulls == 0:
                return model, f"ucb1: class {qclass!r} → {model} (never pulled; tried first)"
            bonus = self.exploration_factor * math.sqrt(math.log(max(total, 1)) / stats.pulls)
            value = stats.mean_reward + bonus
            if best is None or value > best[0]:
                best = (value, model, stats.mean_reward, bonus, stats.pulls)
        assert best is not None  # candidates is never empty here
        value, model, mean, bonus, pulls = best
        return model, (
            f"ucb1: class {qclass!r} → {model} (mean {mean:.2f} + bonus {bonus:.2f}"
            f" = {value:.2f} over {pulls} of {total} pulls; {len(candidates)} candidates)"
        )

    def _sample(
        self, qclass: str, candidates: List[str]
    ) -> Tuple[str, float, Tuple[float, float, float], int]:
        """Draw once per candidate, in order; the first highest draw wins."""
        best: Optional[Tuple[str, float, Tuple[float, float, float], int]] = None
        with self._lock:
            arms = self._arms.get(qclass, {})
            for model in candidates:
                stats = arms.get(model)
                post = self._beta(stats)
                draw = self._rng.betavariate(post[0], post[1])
                if best is None or draw > best[1]:
                    best = (model, draw, post, stats.pulls if stats else 0)
        assert best is not None  # candidates is never empty here
        return best


def ensure_registered() -> None:
    """Register BanditRouterPolicy as ``bandit`` if not already present."""
    if not RouterPolicyRegistry.contains("bandit"):
        try:
            RouterPolicyRegistry.register_value("bandit", BanditRouterPolicy)
        except ValueError:
            pass  # another thread registered it between the check and here


__all__ = ["ArmStats", "BanditRouterPolicy", "ensure_registered"]
