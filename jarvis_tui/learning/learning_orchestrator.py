"""LearningOrchestrator — one trace → learn → eval cycle (``openjarvis.learning``).

Differences from OpenJarvis, on purpose:

* ``run(agent_id=...)`` considers *and evolves* only that agent: the miner and the
  evolver see only its traces, and only its config is written (OpenJarvis mines
  one agent but then rewrites the config of whatever agent won any class).
* The evolver's per-class recommendations are merged per agent before writing:
  one new version per agent per cycle (OpenJarvis writes one version per class,
  so an agent recommended for three classes got three versions and kept the last).
  The tools are the union ordered by how often the classes used them; ``max_turns``
  is the largest recommended.
* The agent's other settings (temperature, system prompt) are kept from its current
  config; OpenJarvis reset them to defaults, wiping the user's system prompt.
  A config that would not change is not rewritten; tools are a set there (an
  order-only difference is no change, and the current order is kept).
* One agent whose config cannot be written (a name no file can hold, a config that
  is a link or too large to archive, a read-only file) is reported in
  ``result["config_errors"]`` as ``(agent, one-line reason)``; the other agents still
  get theirs (OpenJarvis aborted the whole cycle at the first bad agent).
* When the eval gate rejects the cycle, the configs written by it are rolled back
  (each rollback is itself a recorded version); OpenJarvis reported "rejected"
  and left the new configs in place.
* ``result["gate"]`` says how the cycle was accepted: ``"measured"`` (an eval gate ran
  before and after) or ``"none"`` (no eval configured: ``accepted`` is True, as in
  OpenJarvis, and ``result["gate_note"]`` says it was accepted without measurement).
* LoRA training runs only when configured, with enough pairs, and when torch is
  importable; it is imported lazily.
* ``result["routing"]`` is the Routing matrix's recommendation per class (every
  rating, a model with the evidence minimum first: the Routing pane's ★), one source
  for the pane and the cycle. ``extract_routing_pairs`` keeps OpenJarvis's documented
  rule (the mean of the traces rated ≥ min_quality); its pick is in
  ``result["routing_openjarvis"]`` and, where it differs, ``result["routing_differs"]``
  says why (OpenJarvis returned the miner's pick only as a count).
* ``run`` takes an optional ``progress(step, message)`` callback and a ``stop``
  event (checked between steps).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from jarvis_tui.core.fmt import plural
from jarvis_tui.learning.training.data import TrainingDataMiner

STEPS = (
    "mine traces",
    "check data",
    "baseline eval",
    "routing recommendations",
    "evolve agent configs",
    "LoRA training",
    "post-learning eval",
    "accept or reject",
)


ROUTING_MIN_EVIDENCE = 30
"""Ratings a class's best model needs before the route is settled (the Routing pane's
default evidence minimum)."""

GATE_NONE = "eval gate: not configured — accepted without measurement"
"""What a cycle with no eval gate reports beside ``accepted`` (``result["gate_note"]``)."""


class _AgentView:
    """A trace store restricted to one agent (for the evolver's analysis)."""

    def __init__(self, store: Any, agent: str) -> None:
        self._store = store
        self._agent = agent

    def iter_traces(self, **kwargs: Any) -> Iterator[Any]:
        kwargs["agent"] = self._agent
        return self._store.iter_traces(**kwargs)

    def list_traces(self, **kwargs: Any) -> List[Any]:
        kwargs["agent"] = self._agent
        return self._store.list_traces(**kwargs)

    def evolver_profile(self, **kwargs: Any) -> Any:
        """The store's SQL analysis for this agent (None: the evolver streams instead)."""
        profile = getattr(self._store, "evolver_profile", None)
        return profile(**kwargs, agent=self._agent) if callable(profile) else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


HAND_CAUSES = ("rollback", "manual", "promoted-trial")
"""Causes of a version a person chose in jarvis-tui; a learning cycle keeps it until the
traces it served hold the evidence minimum of ratings (walkthrough finding W27). Not
``external``: OpenJarvis's own learning cycle writes those too."""


def _rated_since(store: Any, agent: str, since: float) -> Optional[int]:
    """Ratings on *agent*'s traces started at or after *since* (None: the store
    cannot say)."""
    count = getattr(store, "count_filtered", None)
    if not callable(count):
        return None
    from jarvis_tui.traces.store import TraceFilter

    return int(count(TraceFilter(agent=agent, since=since), rated=True)[1])


HAND_NAMES = {
    "rollback": "is a rollback by hand",
    "manual": "was written by hand",
    "promoted-trial": "is a trial promoted by hand",
}
"""What a version a person chose is, by its cause (a proposal over it says so)."""


@dataclass(frozen=True)
class HandChoice:
    """An agent's current version that a person chose (:data:`HAND_CAUSES`), and the
    evidence since: the one rule by which a learning cycle keeps it (``held``) and the
    Configs pane's evolver proposal asks twice before writing over it."""

    agent: str
    version: int
    """Its public version number."""
    cause: str
    """``rollback``, ``manual`` or ``promoted-trial``."""
    at: Optional[float]
    """When it was written (epoch seconds), or None."""
    rated: Optional[int]
    """Ratings on the agent's traces since it was written (None: the store cannot say)."""
    minimum: int
    """The evidence minimum (``recommend.MIN_RATINGS``)."""

    @property
    def held(self) -> bool:
        """Whether a cycle keeps it: its traces since hold fewer ratings than the minimum."""
        return self.rated is not None and self.rated < self.minimum

    @property
    def word(self) -> str:
        """The cause in a word or two ("rollback", "promoted trial")."""
        return {"promoted-trial": "promoted trial"}.get(self.cause, self.cause)

    @property
    def by_hand(self) -> str:
        """How it came to be ("rolled back by hand", "written by hand", …)."""
        return HAND_WORDS.get(self.cause, self.cause)

    def kept_line(self) -> str:
        """'kept version 5 (rollback): 0 ratings since it was written, under the
        evidence minimum of 30' (what a cycle reports for a held version)."""
        return (
            f"kept version {self.version} ({self.word}): {plural(self.rated or 0, 'rating')} "
            f"since it was written, under the evidence minimum of {self.minimum}"
        )

    def proposal_line(self) -> str:
        """'version 5 is a rollback by hand, 0 ratings since it was written (the cycle
        keeps it until 30)' (the Configs pane, above a proposal that would replace it)."""
        what = HAND_NAMES.get(self.cause, self.cause)
        if self.rated is None:
            return f"version {self.version} {what}"
        since = f"{plural(self.rated, 'rating')} since it was written"
        if self.held:
            return (
                f"version {self.version} {what}, {since} (the cycle keeps it until {self.minimum})"
            )
        return (
            f"version {self.version} {what}, {since} (the evidence minimum of "
            f"{self.minimum} is reached: a cycle writes over it too)"
        )


def hand_choice(store: Any, agent: str, versions: List[Dict[str, Any]]) -> Optional[HandChoice]:
    """The current version of *agent* (*versions*: ``list_versions``) when a person
    chose it, with the ratings on its traces since; None for a version the evolver, a
    cycle or OpenJarvis wrote (or one without a time)."""
    from jarvis_tui.learning.recommend import MIN_RATINGS

    if not versions or not versions[-1].get("current"):
        return None
    cur = versions[-1]
    cause = str(cur.get("cause") or "")
    if cause not in HAND_CAUSES:
        return None
    since = cur.get("created") or cur.get("modified")
    if not since:
        return None
    rated = _rated_since(store, agent, float(since))
    return HandChoice(agent, int(cur["version"]), cause, float(since), rated, MIN_RATINGS)


class LearningOrchestrator:
    """Orchestrate a single trace->learn->eval cycle.

    Parameters
    ----------
    trace_store:
        Object with ``list_traces(limit=...)`` returning ``List[Trace]`` (typically a
        :class:`TraceStore`).
    config_dir:
        Directory where agent TOML configs are written / evolved.
    eval_fn:
        Optional callable returning a float score (higher = better). Called before
        and after learning to gate acceptance. When None and an evaluation backend is
        configured (``JARVIS_TUI_EVAL_URL`` + ``_MODEL``, or ``JARVIS_TUI_EVAL_LOCAL``),
        the measured gate of :mod:`jarvis_tui.evals.gate` is used.
    min_improvement:
        Minimum improvement in eval score required to accept the update.
    min_sft_pairs:
        Minimum number of SFT pairs required to trigger LoRA training.
    min_quality:
        Minimum feedback quality threshold for :class:`TrainingDataMiner`.
    lora_config:
        Optional ``LoRATrainingConfig``. When provided (and enough SFT pairs exist
        and torch is available), LoRA training runs.
    model_name:
        Model name for LoRA training (passed to ``LoRATrainer``).
    """

    def __init__(
        self,
        *,
        trace_store: Any,
        config_dir: Union[str, Path],
        eval_fn: Optional[Callable[[], float]] = None,
        min_improvement: float = 0.02,
        min_sft_pairs: int = 10,
        min_quality: float = 0.7,
        lora_config: Optional[Any] = None,
        model_name: Optional[str] = None,
        keep_manual: bool = False,
    ) -> None:
        self._keep_manual = keep_manual
        """Keep every version a person chose (:data:`HAND_CAUSES`), whatever the
        evidence since (``learn --keep-manual``); by default it is kept only until its
        traces hold the evidence minimum of ratings."""
        self._trace_store = trace_store
        self._config_dir = Path(config_dir)
        if eval_fn is None:
            # A measured gate when an evaluation backend is configured (see
            # jarvis_tui.evals.gate); none otherwise, as in OpenJarvis.
            from jarvis_tui.evals.gate import default_eval_fn

            eval_fn = default_eval_fn(trace_store, self._config_dir)
        self._eval_fn = eval_fn
        self._min_improvement = min_improvement
        self._min_sft_pairs = min_sft_pairs
        self._min_quality = min_quality
        self._lora_config = lora_config
        self._model_name = model_name
        self._miner = TrainingDataMiner(trace_store, min_quality=min_quality)

    def _evolver(self, agent_id: Optional[str]) -> Any:
        from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

        store = self._trace_store if agent_id is None else _AgentView(self._trace_store, agent_id)
        return AgentConfigEvolver(store, config_dir=self._config_dir)

    def run(
        self,
        *,
        agent_id: str | None = None,
        progress: Optional[Callable[[str, str], None]] = None,
        stop: Optional[threading.Event] = None,
    ) -> Dict[str, Any]:
        """Execute one learning cycle.

        Parameters
        ----------
        agent_id:
            When provided, only traces from this agent are considered, and only
            this agent's config is evolved.

        Returns a dict with at least ``timestamp`` and ``status`` keys.

        Steps
        -----
        1. Mine traces: extract sft_pairs, routing_pairs, agent_pairs
        2. If no data: return skipped
        3. Run baseline eval (if eval_fn provided)
        4. Update routing recommendations
        5. Evolve agent configs
        6. Run LoRA training (if lora_config provided AND enough pairs
           AND torch available)
        7. Run post-learning eval (if eval_fn provided)
        8. Accept/reject based on improvement threshold
        """
        say = progress or (lambda step, message: None)
        result: Dict[str, Any] = {"timestamp": time.time(), "agent": agent_id}

        def stopped() -> bool:
            if stop is not None and stop.is_set():
                result["status"] = "cancelled"
                result["reason"] = "stopped by the user"
                return True
            return False

        # 1. Mine training data from every trace
        say(STEPS[0], "mining SFT pairs, routing and agent statistics")
        sft_pairs = self._miner.extract_sft_pairs(agent=agent_id)
        routing_pairs = self._miner.extract_routing_pairs(agent=agent_id)
        agent_pairs = self._miner.extract_agent_config_pairs(agent=agent_id)
        result["sft_pairs"] = len(sft_pairs)
        result["routing_classes"] = len(routing_pairs)
        result["agent_classes"] = len(agent_pairs)
        result.update(self._routing(routing_pairs, agent_id))
        if stopped():
            return result

        # 2. Any data at all?
        say(STEPS[1], "")
        if len(sft_pairs) + len(routing_pairs) + len(agent_pairs) == 0:
            result["status"] = "skipped"
            result["reason"] = "no training data available"
            return result

        # 3. Baseline eval. "gate" says whether acceptance was measured at all.
        result["gate"] = "measured" if self._eval_fn is not None else "none"
        if self._eval_fn is None:
            result["gate_note"] = GATE_NONE
        baseline: Optional[float] = None
        if self._eval_fn is not None:
            say(STEPS[2], "")
            baseline = float(self._eval_fn())
            result["baseline_score"] = baseline

        # 4. Routing recommendations (returned; the Routing pane shows the evidence)
        say(STEPS[3], "")
        result["routing_updated"] = len(routing_pairs) > 0
        if stopped():
            return result

        # 5. Evolve agent configs
        say(STEPS[4], "analysing traces for agent configs")
        evolver = self._evolver(agent_id)
        recommendations = evolver.analyze(stop=stop)
        if stopped():
            return result
        errors: List[tuple[str, str]] = []
        kept: List[tuple[str, int, str]] = []
        written = self._write_configs(evolver, recommendations, agent_id, errors, kept)
        result["agent_configs_evolved"] = bool(written)
        result["configs_written"] = [(name, version) for name, version, _ in written]
        result["configs_kept"] = kept
        result["config_errors"] = errors

        # 6. LoRA training (optional)
        result["lora_training"] = None
        if self._lora_config is not None and len(sft_pairs) >= self._min_sft_pairs:
            say(STEPS[5], f"{len(sft_pairs)} pairs")
            result["lora_training"] = self._try_lora_training(sft_pairs)

        # 7. Post-learning eval
        post: Optional[float] = None
        if self._eval_fn is not None:
            say(STEPS[6], "")
            post = float(self._eval_fn())
            result["post_score"] = post

        # 8. Accept / reject
        say(STEPS[7], "")
        if baseline is not None and post is not None:
            improvement = post - baseline
            result["improvement"] = improvement
            if improvement >= self._min_improvement:
                result["accepted"] = True
                result["status"] = "completed"
            else:
                result["accepted"] = False
                result["status"] = "rejected"
                result["reason"] = (
                    f"eval improvement {improvement:.4f} below threshold {self._min_improvement}"
                )
                result["rolled_back"] = self._undo(evolver, written, errors)
        else:
            # No eval gate: accepted as OpenJarvis does ("accepted" kept for its
            # readers), but said plainly, so nobody reads an unrun gate as a pass.
            result["accepted"] = True
            result["status"] = "completed"
        return result

    # -- steps ----------------------------------------------------------------------

    def _routing(
        self, routing_pairs: Dict[str, Dict[str, Any]], agent_id: Optional[str]
    ) -> Dict[str, Any]:
        """The route per class: the Routing matrix's recommendation (one source).

        ``routing`` is what the Routing pane recommends (every rating, the evidence
        minimum first); ``routing_openjarvis`` what OpenJarvis's miner rule picks
        (``extract_routing_pairs``: the mean of the traces rated ≥ min_quality, kept
        as the spec documents it); ``routing_differs`` says why, per class, where the
        two differ; ``routing_confidence`` is the matrix's confidence per class.
        """
        matrix = self._miner.routing_matrix(agent=agent_id, min_samples=ROUTING_MIN_EVIDENCE)
        routing: Dict[str, str] = {}
        confidence: Dict[str, str] = {}
        for qc, rec in matrix.recommendations.items():
            if rec.best is not None:
                routing[qc] = rec.best
                confidence[qc] = rec.confidence
        openjarvis = {qc: p["best_model"] for qc, p in routing_pairs.items() if p["best_model"]}
        differs: Dict[str, str] = {}
        minq = self._miner.min_quality
        for qc, model in sorted(openjarvis.items()):
            ours = routing.get(qc)
            if ours is None or ours == model:
                continue
            cell = matrix.cells.get((qc, ours))
            ref = routing_pairs[qc]["all_models"].get(model, {})
            every = (
                f"{cell.rated.mean:.2f} over {plural(cell.rated.n, 'rating')}"
                if cell is not None and cell.rated.n
                else "–"
            )
            differs[qc] = (
                f"{ours} has the best mean over every rating ({every}, "
                f"{confidence.get(qc, '?')}); OpenJarvis's rule (the mean of the traces "
                f"rated at or above {minq:g}) picks {model} "
                f"({ref.get('avg_feedback', 0.0):.2f} over "
                f"{plural(int(ref.get('count', 0)), 'trace')})"
            )
        return {
            "routing": routing,
            "routing_confidence": confidence,
            "routing_openjarvis": openjarvis,
            "routing_differs": differs,
        }

    @staticmethod
    def _merge(recommendations: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
        """Per agent: tools ordered by use across the classes it wins, largest max_turns."""
        from jarvis_tui.learning.agent_evolver import merge_recommendations

        return merge_recommendations(recommendations)

    def _write_configs(
        self,
        evolver: Any,
        recommendations: List[Dict[str, Any]],
        agent_id: Optional[str],
        errors: Optional[List[tuple[str, str]]] = None,
        kept: Optional[List[tuple[str, int, str]]] = None,
    ) -> List[tuple[str, int, int]]:
        """Write one version per agent that changes; returns ``(agent, new, previous)``.

        An agent that cannot be written is appended to *errors* and skipped; one whose
        current version a person chose (:data:`HAND_CAUSES`) and whose traces since
        hold fewer ratings than the evidence minimum is kept, ``(agent, version, why)``
        appended to *kept*: a cycle does not undo a rollback before it has evidence.
        """
        from jarvis_tui.learning.agent_evolver import cycle_note

        errors = [] if errors is None else errors
        kept = [] if kept is None else kept
        written: List[tuple[str, int, int]] = []
        for p in evolver.propose_configs(recommendations, agent_id=agent_id):
            if p.error:
                errors.append((p.agent, _one_line(p.error)))
                continue
            try:
                versions = evolver.list_versions(p.agent)
                held = self._chosen_by_hand(p.agent, versions)
                if held is not None:
                    kept.append((p.agent, versions[-1]["version"], held))
                    continue
                before = len(versions)
                evolver.write_proposal(p, note=cycle_note(p.classes))
                written.append((p.agent, len(evolver.list_versions(p.agent)), before))
            except (ValueError, OSError) as exc:  # TimeoutError is an OSError
                errors.append((p.agent, _one_line(str(exc))))
        return written

    def _chosen_by_hand(self, agent: str, versions: List[Dict[str, Any]]) -> Optional[str]:
        """Why the current version of *agent* stays (a person chose it and its traces
        since hold fewer ratings than the evidence minimum), or None."""
        choice = hand_choice(self._trace_store, agent, versions)
        if choice is None:
            return None
        if not choice.held:
            if self._keep_manual:
                return (
                    f"kept version {choice.version} ({choice.word}): chosen by hand (--keep-manual)"
                )
            return None
        return choice.kept_line()

    @staticmethod
    def _undo(
        evolver: Any,
        written: List[tuple[str, int, int]],
        errors: Optional[List[tuple[str, str]]] = None,
    ) -> List[tuple[str, int]]:
        undone = []
        for name, _new, previous in written:
            if previous >= 1:
                try:
                    evolver.rollback(name, previous)
                except (ValueError, OSError) as exc:
                    if errors is not None:
                        errors.append((name, _one_line(f"rollback failed: {exc}")))
                    continue
                undone.append((name, previous))
        return undone

    def _try_lora_training(self, sft_pairs: List[Dict[str, Any]]) -> Dict[str, Any]:
        if importlib.util.find_spec("torch") is None:
            return {
                "status": "skipped",
                "reason": "torch is not installed (pip install '.[train]')",
            }
        try:
            from jarvis_tui.learning.training.lora import LoRATrainer
        except ImportError as exc:
            return {"status": "skipped", "reason": f"LoRA trainer unavailable: {exc}"}
        config = self._lora_config
        if config is None:  # the cycle trains only with a config (see run())
            return {"status": "skipped", "reason": "no LoRA config"}
        try:
            if self._model_name is None:
                trainer = LoRATrainer(config)  # its default model
            else:
                trainer = LoRATrainer(config, model_name=self._model_name)
            return dict(trainer.train(sft_pairs))
        except Exception as exc:  # training failure must not lose the cycle's result
            return {"status": "error", "reason": str(exc)}

    def plan_configs(
        self, *, agent_id: Optional[str] = None, stop: Optional[threading.Event] = None
    ) -> List[Dict[str, Any]]:
        """What :meth:`run` would do to agents/ now, writing nothing (the Routing pane
        asks before a cycle writes; W17, W27).

        One dict per agent whose config would change: ``agent``; ``version`` (the one
        it would write) and ``was`` (the current one, 0: none); ``changes`` (the
        :func:`~jarvis_tui.configs.diff.toml_diff` words); ``kept`` (why the current
        version stays instead, or None); ``hand`` (the current version's cause when a
        person chose it, :data:`HAND_CAUSES`, with ``hand_at``, when, or None: a write
        overwrites it); ``error`` (why nothing can be written, or None).
        """
        from jarvis_tui.learning.agent_evolver import toml_diff

        evolver = self._evolver(agent_id)
        recommendations = evolver.analyze(stop=stop)
        out: List[Dict[str, Any]] = []
        for p in evolver.propose_configs(recommendations, agent_id=agent_id):
            entry: Dict[str, Any] = {"agent": p.agent, "version": 0, "was": 0, "changes": [],
                                     "kept": None, "hand": None, "hand_at": None,
                                     "error": _one_line(p.error) if p.error else None}  # fmt: skip
            out.append(entry)
            if p.error:
                continue
            try:
                versions = evolver.list_versions(p.agent)
            except (ValueError, OSError) as exc:
                entry["error"] = _one_line(str(exc))
                continue
            entry["was"] = len(versions)
            entry["version"] = len(versions) + 1
            entry["kept"] = self._chosen_by_hand(p.agent, versions)
            cur = versions[-1] if versions and versions[-1].get("current") else None
            if cur is not None and cur.get("cause") in HAND_CAUSES:
                entry["hand"] = str(cur["cause"])
                entry["hand_at"] = cur.get("created") or cur.get("modified") or None
            # A first version: its keys one by one, not as one new table.
            old = p.current or {k: {} for k, v in p.proposed.items() if isinstance(v, dict)}
            entry["changes"] = [str(c) for c in toml_diff(old, p.proposed)]
        return out


HAND_WORDS = {
    "rollback": "rolled back by hand",
    "manual": "written by hand",
    "promoted-trial": "a trial promoted by hand",
}
"""How a version a person chose is named where a cycle overwrites it, by its cause."""


def overwrite_line(agent: str, version: int, cause: str, at: Optional[float]) -> str:
    """'react v5 was rolled back by hand at 01:41: this overwrites it' (the Routing
    pane's question before a cycle and ``learn``'s warning say the same)."""
    from datetime import datetime

    when = f" at {datetime.fromtimestamp(float(at)):%H:%M}" if at else ""
    words = HAND_WORDS.get(cause, cause)
    return f"{_one_line(agent)[:40]} v{version} was {words}{when}: this overwrites it"


def overwritten_by_hand(evolver: Any, written: List[tuple[str, int]]) -> List[str]:
    """For each ``(agent, version)`` a cycle wrote over a version a person chose, the
    :func:`overwrite_line` that says so (``learn`` prints it)."""
    out: List[str] = []
    for name, version in written:
        try:
            before = evolver.list_versions(name)[version - 2] if version >= 2 else None
        except (ValueError, OSError, IndexError):
            continue
        if before is not None and before.get("cause") in HAND_CAUSES:
            at = before.get("created") or before.get("modified") or None
            out.append(overwrite_line(name, version - 1, str(before["cause"]), at))
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


@dataclass(frozen=True)
class Route:
    """One class's route as a learning cycle reports it: ``jarvis-tui learn`` and the
    Routing pane's cycle panel say it in these words (:func:`routes`)."""

    query_class: str
    model: str
    """The Routing matrix's recommendation (the ★)."""
    confidence: str
    openjarvis: Optional[str]
    """OpenJarvis's rule's pick where it is another model (else None)."""
    why: Optional[str]
    """Why the two differ, one line naming both (None when they agree)."""

    @property
    def note(self) -> str:
        """The confidence, said only when it is not "clear"."""
        return "" if self.confidence in ("", "clear") else self.confidence

    def line(self, pad: int = 8) -> str:
        """``route code     → llama3.1:70b (not enough evidence)``."""
        return f"route {self.query_class:<{pad}} → {self.model}" + (
            f" ({self.note})" if self.note else ""
        )


def routes(result: Dict[str, Any]) -> List[Route]:
    """The routes of a cycle's *result*, per class in name order, with OpenJarvis's
    pick and why where it differs."""
    confidence = result.get("routing_confidence") or {}
    differs = result.get("routing_differs") or {}
    openjarvis = result.get("routing_openjarvis") or {}
    return [
        Route(qc, model, str(confidence.get(qc, "")),
              openjarvis.get(qc) if qc in differs else None, differs.get(qc))
        for qc, model in sorted((result.get("routing") or {}).items())
    ]  # fmt: skip


__all__ = ["GATE_NONE", "HandChoice", "LearningOrchestrator", "Route", "hand_choice", "routes"]
