"""One answer to "which agent should handle this query class?".

Three places used to rank agents, each its own way: the Routing pane (the mean of
the traces rated ≥ ``min_quality`` only, OpenJarvis's ``TrainingDataMiner`` rule),
the evolver (every rating, shrunk toward 0.5) and the learning cycle's notes (the
evolver's pick). They disagreed. This module holds the rule; the evolver, the
learning cycle and the Routing pane all use it.

The rule (:func:`agent_rank`): first the evidence, as for the model ★ (an agent with
fewer ratings than the evidence minimum never beats one that has them; one rating
never beats two or more: :func:`evidence_tier`), then (:func:`agent_score`) mean
feedback over *every* rated trace of the agent in the class, shrunk toward a
neutral 0.5 as if it had :data:`PRIOR_WEIGHT` more ratings of 0.5 (one lucky rating
does not beat a steady record), then the success rate (Laplace-smoothed), then the
trace count.

OpenJarvis's rule is kept beside it (:attr:`AgentRecommendation.reference`): it
averages only the traces rated ≥ ``min_quality``, which says nothing about how
often an agent is rated *below* it — an agent with 10 great and 90 poor ratings
can win. Where the two differ, both are shown with :attr:`AgentRecommendation.why`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

from jarvis_tui.core.fmt import plural
from jarvis_tui.learning.classify import classify_query

PRIOR_WEIGHT = 3.0
"""Pseudo-ratings of 0.5 added to every agent's mean feedback."""

MIN_RATINGS = 30
"""The evidence minimum (the Routing matrix's default, ``>`` ``<`` there): an agent with
fewer ratings in a class never beats one that has them, as for the model ★."""


def evidence_tier(rated: int, min_ratings: int = MIN_RATINGS) -> int:
    """How much an agent's ratings are worth before its score is compared (lower wins):
    0 at the evidence minimum, 1 two ratings or more, 2 one rating (an interval of
    [0, 1]: nothing known), 3 none. The model ★'s rule (``TrainingDataMiner.recommend``)."""
    if rated >= min_ratings:
        return 0
    if rated >= 2:
        return 1
    return 2 if rated == 1 else 3


def agent_rank(
    feedback_sum: float, rated: int, successes: int, known_outcomes: int, traces: int,
    min_ratings: int = MIN_RATINGS,
) -> tuple[float, ...]:  # fmt: skip
    """The one rule's sort key (higher is better): the evidence tier, then the score."""
    return (-evidence_tier(rated, min_ratings),
            *agent_score(feedback_sum, rated, successes, known_outcomes, traces))  # fmt: skip


def agent_score(
    feedback_sum: float, rated: int, successes: int, known_outcomes: int, traces: int
) -> tuple[float, float, int]:
    """The sort key of the one rule (higher is better)."""
    fb = (feedback_sum + 0.5 * PRIOR_WEIGHT) / (rated + PRIOR_WEIGHT)
    sr = (successes + 0.5) / (known_outcomes + 1)
    return (fb, sr, traces)


@dataclass
class AgentEvidence:
    """What the traces say about one agent on one query class."""

    agent: str
    traces: int = 0
    rated: int = 0
    feedback_sum: float = 0.0
    successes: int = 0
    known_outcomes: int = 0
    quality_n: int = 0
    """Traces rated ≥ min_quality (and not failed): what OpenJarvis's rule averages."""
    quality_sum: float = 0.0

    @property
    def score(self) -> tuple[float, float, int]:
        return agent_score(
            self.feedback_sum, self.rated, self.successes, self.known_outcomes, self.traces
        )

    @property
    def mean(self) -> Optional[float]:
        """Mean feedback over every rating (None when unrated)."""
        return self.feedback_sum / self.rated if self.rated else None

    @property
    def quality_mean(self) -> Optional[float]:
        return self.quality_sum / self.quality_n if self.quality_n else None


@dataclass(frozen=True)
class AgentRecommendation:
    """The agent for one query class, with the evidence and OpenJarvis's pick."""

    query_class: str
    agent: str
    """The answer (the one rule)."""
    ranked: tuple[AgentEvidence, ...]
    """Every agent seen in the class, best first."""
    reference: Optional[str]
    """What OpenJarvis's miner rule picks (mean of quality traces only); None: no quality traces."""
    why: Optional[str]
    """Why the two differ (None when they agree)."""

    @property
    def best(self) -> AgentEvidence:
        return self.ranked[0]

    @property
    def differs(self) -> bool:
        return self.reference is not None and self.reference != self.agent


def _fmt(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.2f}"


def _fmt_pair(a: Optional[float], b: Optional[float]) -> tuple[str, str]:
    """*a* and *b* with the digits (2 to 4) that tell them apart: '0.692 vs 0.687',
    not '0.69 vs 0.69' (issue 10); equal to 4 digits, they are the same 2-digit text."""
    if a is None or b is None:
        return _fmt(a), _fmt(b)
    for digits in (2, 3, 4):
        sa, sb = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if sa != sb:
            return sa, sb
    return _fmt(a), _fmt(b)


def _decide(
    qclass: str, agents: Dict[str, AgentEvidence], min_ratings: int = MIN_RATINGS
) -> Optional[AgentRecommendation]:
    if not agents:
        return None

    def tier(e: AgentEvidence) -> int:
        return evidence_tier(e.rated, min_ratings)

    # The evidence tier, then the best score; on a full tie the first name (as the
    # evolver always did).
    ranked = tuple(
        sorted(agents.values(), key=lambda e: (tier(e), tuple(-x for x in e.score), e.agent))
    )
    best = ranked[0]
    quality = [e for e in agents.values() if e.quality_n]
    reference = None
    if quality:
        reference = min(quality, key=lambda e: (-(e.quality_mean or 0.0), -e.quality_n, e.agent))
    why = None
    if reference is not None and reference.agent != best.agent:
        q_ref, q_best = _fmt_pair(reference.quality_mean, best.quality_mean)
        m_best, m_ref = _fmt_pair(best.mean, reference.mean)
        bar = f"{q_ref} vs {q_best}" if q_ref != q_best else f"tied at {q_ref}"
        if m_best != m_ref:
            every = (f"scores {m_best} ({plural(best.rated, 'rating')}) against {m_ref} "
                     f"({plural(reference.rated, 'rating')})")  # fmt: skip
        else:  # the same mean: the shrinkage toward 0.5 and the success rate decide
            every = (f"ties at {m_best} ({plural(best.rated, 'rating')} against {reference.rated:,});"
                     " the count of ratings and the success rate break the tie")  # fmt: skip
        if tier(reference) > tier(best):  # the evidence decided, whatever the scores
            if tier(best) == 0:
                every += (f"; {reference.agent} has fewer than the evidence minimum of "
                          f"{plural(min_ratings, 'rating')}")  # fmt: skip
            else:
                every += "; one rating does not win over two or more"
        why = (
            f"{reference.agent} has the best mean of its {reference.quality_n:,} traces rated "
            f"at or above the quality bar ({bar}), but over every rating {best.agent} "
            f"{every}"
        )
    return AgentRecommendation(
        qclass, best.agent, ranked, reference.agent if reference else None, why
    )


def _finite(fb: Any) -> Optional[float]:
    if fb is None or isinstance(fb, bool) or not isinstance(fb, (int, float)):
        return None
    fb = float(fb)
    return fb if math.isfinite(fb) else None


def evidence_from_traces(
    traces: Iterable[Any], *, min_quality: float = 0.7
) -> Dict[str, Dict[str, AgentEvidence]]:
    """``{class: {agent: evidence}}`` streamed from trace objects (any store)."""
    out: Dict[str, Dict[str, AgentEvidence]] = {}
    for t in traces:
        name = getattr(t, "agent", "") or ""
        if not name:
            continue
        qc = classify_query(getattr(t, "query", "") or "")
        ev = out.setdefault(qc, {}).setdefault(name, AgentEvidence(name))
        add_trace(ev, _finite(getattr(t, "feedback", None)), getattr(t, "outcome", None),
                  min_quality)  # fmt: skip
    return out


def add_trace(ev: AgentEvidence, fb: Optional[float], outcome: Any, min_quality: float) -> None:
    """Count one trace into *ev* (the evolver's streaming analysis calls this too)."""
    ev.traces += 1
    if fb is not None:
        ev.rated += 1
        ev.feedback_sum += fb
        if fb >= min_quality and outcome != "failure":
            ev.quality_n += 1
            ev.quality_sum += fb
    if outcome in ("success", "failure"):
        ev.known_outcomes += 1
        ev.successes += outcome == "success"


def evidence_from_store(
    store: Any, *, min_quality: float = 0.7, agent: Optional[str] = None
) -> Dict[str, Dict[str, AgentEvidence]]:
    """The same evidence; on our TraceStore from one SQL aggregate (no trace loaded)."""
    if not hasattr(store, "cube"):
        it = getattr(store, "iter_traces", None)
        traces = it() if callable(it) else store.list_traces(limit=2**31 - 1)
        if agent is not None:
            traces = (t for t in traces if getattr(t, "agent", None) == agent)
        return evidence_from_traces(traces, min_quality=min_quality)
    out: Dict[str, Dict[str, AgentEvidence]] = {}
    for row in store.cube(min_quality=min_quality, agent=agent):
        name = row["agent"] or ""
        if not name:
            continue
        qc = row["qclass"] or "general"
        ev = out.setdefault(qc, {}).setdefault(name, AgentEvidence(name))
        ev.traces += row["n"]
        ev.rated += row["rated"]
        ev.feedback_sum += row["fb_sum"]
        if row["outcome"] in ("success", "failure"):
            ev.known_outcomes += row["n"]
            ev.successes += row["n"] if row["outcome"] == "success" else 0
        if row["outcome"] != "failure":
            ev.quality_n += row["q_n"]
            ev.quality_sum += row["q_fb_sum"]
    return out


def decide(
    evidence: Dict[str, Dict[str, AgentEvidence]], *, min_ratings: int = MIN_RATINGS
) -> Dict[str, AgentRecommendation]:
    """One recommendation per class that has any agent."""
    out: Dict[str, AgentRecommendation] = {}
    for qc in sorted(evidence):
        rec = _decide(qc, evidence[qc], min_ratings)
        if rec is not None:
            out[qc] = rec
    return out


def best_agent(
    agents: Dict[str, AgentEvidence], *, min_ratings: int = MIN_RATINGS
) -> Optional[str]:
    """The one rule's pick among *agents* (None when empty)."""
    rec = _decide("", agents, min_ratings)
    return rec.agent if rec else None


def recommend_agents(
    store: Any, *, min_quality: float = 0.7, agent: Optional[str] = None,
    min_ratings: int = MIN_RATINGS,
) -> Dict[str, AgentRecommendation]:  # fmt: skip
    """Per query class: the agent to use, why, and the pick by OpenJarvis's rule."""
    return decide(evidence_from_store(store, min_quality=min_quality, agent=agent),
                  min_ratings=min_ratings)  # fmt: skip


__all__: List[str] = [
    "MIN_RATINGS",
    "PRIOR_WEIGHT",
    "AgentEvidence",
    "AgentRecommendation",
    "add_trace",
    "agent_rank",
    "agent_score",
    "best_agent",
    "decide",
    "evidence_from_store",
    "evidence_from_traces",
    "evidence_tier",
    "recommend_agents",
]
