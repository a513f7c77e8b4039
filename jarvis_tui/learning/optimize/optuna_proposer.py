"""The offline proposer: an Optuna study in place of the optimizer LLM.

:class:`OptunaProposer` has the methods and attributes of OpenJarvis's
``LLMOptimizer`` (``propose_initial``, ``propose_next``, ``propose_targeted``,
``propose_merge``, ``analyze_trial``, ``optimizer_model``), so the optimization engine
runs either one. It is the default when no LLM endpoint is configured: it needs no
network, and a seed makes it reproducible (same seed + same history → same proposals;
only the random ``trial_id`` differs).

How the study learns. Every ``propose_*`` call receives the full history and syncs it
into the study first:

* a result of a trial this proposer asked for is told to the study once
  (``study.tell``), objective values in the order of *objectives*;
* any other trial (a hand-written config from the user's queue, trials loaded when a
  run is resumed, merge results) is added with ``study.add_trial``.

Bounds (``latency <= 2 s``) become one Optuna constraint: the sum over the bounds of
each violation divided by the bound's magnitude (0.0 when all are met; one value
whatever the number of bounds, so bounds may be added mid-run). Asked trials get it
from the sampler's ``constraints_func`` when told; added trials carry it in
``system_attrs["constraints"]`` (the key NSGA-II and TPE read in Optuna 3.6–5).
A trial keeps the value computed under the bounds in force when it was told or added:
:meth:`OptunaProposer.set_bounds` affects only later trials. That is deliberate
(Optuna stores constraint values, it cannot recompute them) and harmless in practice:
the engine's own frontier re-checks every trial against the current bounds.

Encoding of the search space: a categorical dimension is a categorical over the
*indexes* of its values (so values may be any JSON value: lists, dicts, ``1`` next to
``True``), a subset dimension is one boolean per option named ``"<name>[<option>]"``
(an empty subset is allowed), a text dimension is never sampled (its value is kept
from the base config or ``space.fixed``, else ``""``).

Optuna is imported lazily (in the constructor), never when this module is imported.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from jarvis_tui.core.fmt import plural
from jarvis_tui.learning.optimize.pareto import compute_pareto_frontier
from jarvis_tui.learning.optimize.search_space import validate_config
from jarvis_tui.learning.optimize.types import (
    DEFAULT_OBJECTIVES,
    BenchmarkScore,
    ObjectiveBound,
    ObjectiveSpec,
    RunSummary,
    SampleScore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialFeedback,
    TrialResult,
)

SAMPLERS = {
    "nsga2": "NSGAIISampler",
    "nsgaii": "NSGAIISampler",
    "tpe": "TPESampler",
    "random": "RandomSampler",
}
"""Sampler names the constructor accepts, and the Optuna class each one builds."""

MAX_TRIES = 8
"""Samples drawn before a proposal that repeats a rejected (or already evaluated)
config is accepted anyway, with a note in its reasoning."""

LOW_ACCURACY = 0.6
"""Below this, a benchmark (or query class) counts as a failure pattern."""

DEFAULT_POPULATION = 10
"""NSGA-II population: the first generation is random exploration, later ones evolve.
Optuna's default (50) would keep a typical 20–50-trial run in random search."""

_METRICS_ATTR = "jt_metrics"
_CONSTRAINTS_KEY = "constraints"  # optuna.study._constrained_optimization._CONSTRAINTS_KEY
_STANDARD_METRICS = (
    "accuracy",
    "mean_latency_seconds",
    "total_cost_usd",
    "total_energy_joules",
    "total_tokens",
    "samples_evaluated",
)
_SAMPLER_WHY = {
    "NSGAIISampler": "NSGA-II",
    "TPESampler": "TPE",
    "RandomSampler": "random",
}


def _new_trial_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _primitive_of(dim: SearchDimension) -> str:
    return dim.primitive or (dim.name.split(".")[0] if "." in dim.name else "")


def _in_primitive(dim: SearchDimension, target: str) -> bool:
    """Whether *dim* belongs to *target* (as OpenJarvis: also ``tools`` → ``tool.``)."""
    if not target:
        return False
    if dim.primitive == target:
        return True
    return any(dim.name.startswith(p + ".") for p in {target, target.rstrip("s")} if p)


def _direction(text: str) -> Literal["minimize", "maximize"]:
    """An objective's direction as Optuna takes it (ValueError for anything else)."""
    if text == "minimize":
        return "minimize"
    if text == "maximize":
        return "maximize"
    raise ValueError(f"objective direction {text!r}: expected 'minimize' or 'maximize'")


def _bounds(dim: SearchDimension) -> tuple[float, float]:
    """A numeric dimension's ``(low, high)`` (ValueError when one is missing)."""
    if dim.low is None or dim.high is None:
        raise ValueError(f"dimension {dim.name!r}: needs a low and a high")
    return dim.low, dim.high


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _metric(result: Any, name: str) -> float | None:
    value = getattr(result, name, None)
    if value is None:
        summary = getattr(result, "summary", None)
        value = getattr(summary, name, None) if summary is not None else None
    return _number(value)


class OptunaProposer:
    """Proposes configs with an Optuna study; duck-type compatible with ``LLMOptimizer``.

    *sampler* is ``"nsga2"`` (default: multi-objective, constraint-aware), ``"tpe"`` or
    ``"random"``. *population_size* only applies to NSGA-II. Not thread-safe: one
    engine loop drives one proposer.
    """

    def __init__(
        self,
        search_space: SearchSpace,
        *,
        objectives: Sequence[ObjectiveSpec] = DEFAULT_OBJECTIVES,
        bounds: Sequence[ObjectiveBound] = (),
        seed: int | None = None,
        sampler: str = "nsga2",
        population_size: int = DEFAULT_POPULATION,
    ) -> None:
        import warnings

        import optuna
        from optuna.exceptions import ExperimentalWarning

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=ExperimentalWarning)

        kind = SAMPLERS.get(str(sampler).lower())
        if kind is None:
            raise ValueError(f"unknown sampler {sampler!r} (expected one of: nsga2, tpe, random)")
        objectives = list(objectives)
        if not objectives:
            raise ValueError("the proposer needs at least one objective")
        for o in objectives:
            if o.direction not in ("maximize", "minimize"):
                raise ValueError(
                    f"objective {o.metric!r}: direction must be 'maximize' or 'minimize'"
                )

        self.search_space = search_space
        """The space every proposal lies in."""
        self.objectives: list[ObjectiveSpec] = objectives
        """Objectives, in the order their values are told to the study."""
        self.bounds: tuple[ObjectiveBound, ...] = tuple(bounds)
        """Hard limits; they apply to trials told or added from now on."""
        self.seed = seed
        """Seed of the sampler (None: not reproducible)."""
        self.optimizer_model = f"optuna:{kind}"
        """What proposes configs, as the engine records it."""
        self.extra_constraints: list[str] = []
        """Text constraints (interface parity with LLMOptimizer; a sampler cannot read them)."""
        self.last_prompt = ""
        """Always empty: there is no prompt (interface parity with LLMOptimizer)."""
        self.guidance: list[str] = []
        """Guidance text the user gave; recorded only (a sampler cannot read it)."""

        self._optuna = optuna
        self._kind = kind
        self._dists, self._subset_keys = self._distributions(search_space)
        # Optuna 5 reads constraint values stored on the trial (``Trial.set_constraint``)
        # and deprecates ``constraints_func``; 3.6–4 only honour ``constraints_func``.
        self._trial_constraints = hasattr(optuna.trial.Trial, "set_constraint")
        constraints = None
        if kind != "RandomSampler" and not self._trial_constraints:
            constraints = self._constraints
        if kind == "NSGAIISampler":
            if population_size < 2:
                raise ValueError("population_size must be at least 2")
            self._population = int(population_size)
            smp: Any = optuna.samplers.NSGAIISampler(
                population_size=self._population, seed=seed, constraints_func=constraints
            )
        elif kind == "TPESampler":
            self._population = 0
            smp = optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)
        else:
            self._population = 0
            smp = optuna.samplers.RandomSampler(seed=seed)
        self._sampler = smp
        self._study = optuna.create_study(
            directions=[_direction(o.direction) for o in objectives], sampler=smp
        )
        # trial_id -> (optuna Trial, config key) for proposals awaiting their result.
        self._pending: dict[str, tuple[Any, str]] = {}
        self._synced: set[str] = set()
        self._rejected: dict[str, str] = {}  # config key -> reason
        self._evaluated: set[str] = set()
        self._best_seen: dict[str, float] = {}

    @property
    def study(self) -> Any:
        """The Optuna study behind the proposals (for inspection; do not tell it results)."""
        return self._study

    # ------------------------------------------------------------ the space

    def _distributions(self, space: SearchSpace) -> tuple[dict[str, Any], dict[str, list[str]]]:
        d = self._optuna.distributions
        dists: dict[str, Any] = {}
        subset_keys: dict[str, list[str]] = {}
        for dim in space.dimensions:
            t = dim.dim_type
            if t == "categorical":
                if not dim.values:
                    raise ValueError(f"dimension {dim.name!r}: no values to choose from")
                dists[dim.name] = d.CategoricalDistribution(list(range(len(dim.values))))
            elif t == "continuous":
                low, high = _bounds(dim)
                dists[dim.name] = d.FloatDistribution(float(low), float(high))
            elif t == "integer":
                low, high = _bounds(dim)
                lo, hi = math.ceil(low), math.floor(high)
                if lo > hi:
                    raise ValueError(
                        f"dimension {dim.name!r}: no integer in [{dim.low}, {dim.high}]"
                    )
                dists[dim.name] = d.IntDistribution(int(lo), int(hi))
            elif t == "subset":
                names = [f"{dim.name}[{opt}]" for opt in dim.values]
                if len(set(names)) != len(names):  # options that print alike
                    names = [f"{dim.name}[#{i}]" for i in range(len(dim.values))]
                subset_keys[dim.name] = names
                for n in names:
                    dists[n] = d.CategoricalDistribution([False, True])
        return dists, subset_keys

    @staticmethod
    def _index(values: list[Any], value: Any) -> int | None:
        """Index of *value* in *values*, telling ``1`` and ``True`` apart."""
        same = [i for i, v in enumerate(values) if v == value]
        exact = [i for i in same if type(values[i]) is type(value)]
        found = exact or same
        return found[0] if found else None

    def _encode(self, params: dict[str, Any], only: set[str] | None = None) -> dict[str, Any]:
        """Optuna params for the valid values in *params* (dimensions in *only*, if given)."""
        out: dict[str, Any] = {}
        for dim in self.search_space.dimensions:
            if only is not None and dim.name not in only:
                continue
            if dim.name not in params:
                continue
            value = params[dim.name]
            if validate_config(self.search_space, {dim.name: value}):
                continue  # off the space: the study cannot hold it
            t = dim.dim_type
            if t == "categorical":
                out[dim.name] = self._index(dim.values, value)
            elif t == "continuous":
                out[dim.name] = float(value)
            elif t == "integer":
                out[dim.name] = int(value)
            elif t == "subset":
                chosen = {i for i, opt in enumerate(dim.values) if opt in value}
                for i, n in enumerate(self._subset_keys[dim.name]):
                    out[n] = i in chosen
        return out

    def _decode(self, oparams: dict[str, Any], text: dict[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for dim in self.search_space.dimensions:
            t = dim.dim_type
            if t == "categorical":
                params[dim.name] = dim.values[int(oparams[dim.name])]
            elif t == "continuous":
                params[dim.name] = float(oparams[dim.name])
            elif t == "integer":
                params[dim.name] = int(oparams[dim.name])
            elif t == "subset":
                params[dim.name] = [
                    opt
                    for opt, n in zip(dim.values, self._subset_keys[dim.name], strict=True)
                    if oparams.get(n)
                ]
            else:
                params[dim.name] = text.get(dim.name, "")
        return params

    def _text_values(self, base: dict[str, Any] | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for dim in self.search_space.dimensions:
            if dim.dim_type != "text":
                continue
            for source in (base or {}, self.search_space.fixed):
                if isinstance(source.get(dim.name), str):
                    out[dim.name] = source[dim.name]
                    break
            else:
                out[dim.name] = ""
        return out

    def _center(self) -> dict[str, Any]:
        """The starting config: a valid ``space.fixed`` value, else the first listed value,
        the middle of each range, every option of a subset."""
        params: dict[str, Any] = {}
        for dim in self.search_space.dimensions:
            fixed = self.search_space.fixed.get(dim.name)
            if fixed is not None and not validate_config(self.search_space, {dim.name: fixed}):
                params[dim.name] = fixed
            elif dim.dim_type == "categorical":
                params[dim.name] = dim.values[0]
            elif dim.dim_type == "continuous":
                low, high = _bounds(dim)
                params[dim.name] = (float(low) + float(high)) / 2
            elif dim.dim_type == "integer":
                low, high = _bounds(dim)
                params[dim.name] = (math.ceil(low) + math.floor(high)) // 2
            elif dim.dim_type == "subset":
                params[dim.name] = list(dim.values)
        return params

    def _key(self, params: dict[str, Any] | None) -> str:
        """A canonical text for the space's part of *params* (subset order ignored)."""
        params = params or {}
        parts: list[Any] = []
        for dim in self.search_space.dimensions:
            value = params.get(dim.name)
            if dim.dim_type == "subset" and isinstance(value, list | tuple):
                value = [i for i, opt in enumerate(dim.values) if opt in value]
            elif dim.dim_type in ("continuous", "integer"):
                number = _number(value)
                if number is not None:
                    value = number
            parts.append([dim.name, value])
        return json.dumps(parts, sort_keys=True, default=repr)

    # ------------------------------------------------------------ history and bounds

    def _violation(self, metrics: dict[str, Any]) -> float:
        """Sum of each bound's violation relative to the bound's magnitude (0: feasible)."""
        total = 0.0
        for b in self.bounds:
            got = _number(metrics.get(b.metric))
            if got is None:
                continue
            over = got - b.value if b.op == "<=" else b.value - got
            if over > 0:
                total += over / (abs(b.value) or 1.0)
        return total

    def _constraints(self, frozen: Any) -> list[float]:
        """``constraints_func`` of the sampler: reads the metrics stored when told."""
        return [self._violation(frozen.user_attrs.get(_METRICS_ATTR) or {})]

    def _metrics(self, result: Any) -> dict[str, float]:
        names = [
            *_STANDARD_METRICS,
            *(o.metric for o in self.objectives),
            *(b.metric for b in self.bounds),
        ]
        out: dict[str, float] = {}
        for name in names:
            value = _metric(result, name)
            if value is not None:
                out[name] = value
        return out

    def _values(self, metrics: dict[str, float]) -> list[float] | None:
        values = [metrics.get(o.metric) for o in self.objectives]
        return None if any(v is None for v in values) else values  # type: ignore[return-value]

    def _note_best(self, metrics: dict[str, float]) -> None:
        for o in self.objectives:
            v = metrics.get(o.metric)
            if v is None:
                continue
            best = self._best_seen.get(o.metric)
            better = best is None or (v > best if o.direction == "maximize" else v < best)
            if better:
                self._best_seen[o.metric] = v

    def _sync(self, history: Sequence[TrialResult] | None) -> None:
        """Tell the study every result it has not seen yet (see the module docstring)."""
        from optuna.trial import TrialState

        for result in history or ():
            tid = getattr(result, "trial_id", None)
            if not tid or tid in self._synced:
                continue
            self._synced.add(tid)
            config = getattr(result, "config", None)
            params = dict(getattr(config, "params", None) or {})
            key = self._key(params)
            self._evaluated.add(key)
            metrics = self._metrics(result)
            values = self._values(metrics)
            if values is not None:
                self._note_best(metrics)
            pending = self._pending.pop(tid, None)
            if pending is not None:
                trial, asked_key = pending
                if asked_key == key and values is not None:
                    trial.set_user_attr(_METRICS_ATTR, metrics)
                    if self._trial_constraints:
                        # Key "0": the same name the list form of added trials gets.
                        trial.set_constraint("0", self._violation(metrics))
                    self._study.tell(trial, values)
                    continue
                # Evaluated with other params than asked (or no figures): the asked
                # trial failed; what was evaluated joins as a foreign trial below.
                self._study.tell(trial, state=TrialState.FAIL)
            if values is not None:
                self._add_foreign(params, values, metrics)

    def _add_foreign(self, params: dict[str, Any], values: list[float], metrics: dict) -> None:
        oparams = self._encode(params)
        system_attrs: dict[str, Any] = {_CONSTRAINTS_KEY: [self._violation(metrics)]}
        system_attrs.update(self._generation_tag())
        frozen = self._optuna.trial.create_trial(
            params=oparams,
            distributions={k: self._dists[k] for k in oparams},
            values=values,
            user_attrs={_METRICS_ATTR: metrics},
            system_attrs=system_attrs,
        )
        self._study.add_trial(frozen)

    def _generation_tag(self) -> dict[str, int]:
        """The generation attribute a trial added now would get from a genetic sampler.

        NSGA-II only breeds from trials tagged with a generation, and a finished trial
        cannot be tagged after it is added, so the tag is computed the way
        ``BaseGASampler.get_trial_generation`` does (Optuna >= 4). On older Optuna the
        added trials inform the study but not NSGA-II's parent selection.
        """
        from optuna.trial import TrialState

        key_of = getattr(type(self._sampler), "_get_generation_key", None)
        if key_of is None or not self._population:
            return {}
        key = key_of()
        done = self._study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        gens = [t.system_attrs.get(key, -1) for t in done]
        top = max([0, *gens])
        return {key: top if gens.count(top) < self._population else top + 1}

    def set_bounds(self, bounds: Sequence[ObjectiveBound]) -> None:
        """Replace the bounds; trials already told keep the constraint value they got."""
        self.bounds = tuple(bounds)

    def note_rejection(self, config: TrialConfig, reason: str) -> None:
        """*config* was refused: never propose it again; a pending ask is told FAILED."""
        from optuna.trial import TrialState

        self._rejected[self._key(config.params)] = reason
        pending = self._pending.pop(config.trial_id, None)
        if pending is not None:
            self._study.tell(pending[0], state=TrialState.FAIL)

    def add_guidance(self, text: str) -> None:
        """Record the user's guidance (a sampler cannot act on text)."""
        if text and text.strip():
            self.guidance.append(text.strip())

    # ------------------------------------------------------------ proposing

    def _frontier_size(self, history: Sequence[TrialResult], frontier_ids: set | None) -> int:
        if frontier_ids is not None:
            return len(frontier_ids)
        try:
            return len(compute_pareto_frontier(list(history), self.objectives))
        except ValueError:
            return 0

    def _why(self, number: int, history: Sequence[TrialResult], frontier_ids: set | None) -> str:
        from optuna.trial import TrialState

        done = len(self._study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        name = _SAMPLER_WHY[self._kind]
        if self._kind == "NSGAIISampler":
            stage = (
                f"first generation of {self._population}: random exploration"
                if done < self._population
                else "crossover and mutation of the best trials so far"
            )
        elif self._kind == "TPESampler":
            stage = "random start-up samples" if done < 10 else "modelled on the best trials so far"
        else:
            stage = "uniform random sample"
        frontier = self._frontier_size(history, frontier_ids)
        return (
            f"{name} sample {number} of the study ({stage}; {plural(done, 'completed trial')}, "
            f"{frontier} frontier member{'s' if frontier != 1 else ''} so far)"
        )

    def _propose(
        self,
        history: Sequence[TrialResult] | None,
        frontier_ids: set | None,
        *,
        fixed: dict[str, Any] | None = None,
        first_fixed: dict[str, Any] | None = None,
        text: dict[str, str] | None = None,
        lead: str = "",
    ) -> TrialConfig:
        """Ask the study (retrying repeats of rejected or evaluated configs)."""
        from optuna.trial import TrialState

        history = list(history or ())
        text = text if text is not None else self._text_values()
        avoid = self._evaluated | {k for _t, k in self._pending.values()}
        # Each attempt is a trial of the study; the ones not proposed are told FAILED.
        attempts: list[tuple[Any, dict[str, Any], str]] = []
        chosen: tuple[Any, dict[str, Any], str] | None = None
        for attempt in range(MAX_TRIES):
            pinned = dict(fixed or {})
            if attempt == 0 and first_fixed:
                pinned.update(first_fixed)
            if pinned:
                self._study.enqueue_trial(pinned)
            asked = self._study.ask(self._dists)
            params = self._decode(asked.params, text)
            attempts.append((asked, params, self._key(params)))
            if attempts[-1][2] not in self._rejected and attempts[-1][2] not in avoid:
                chosen = attempts[-1]
                break
        note = ""
        if chosen is None:
            # A repeat of an evaluated config is better than a rejected one.
            chosen = next((a for a in attempts if a[2] not in self._rejected), None)
            if chosen is not None:
                note = f"; every one of {MAX_TRIES} samples repeated an evaluated config"
            else:
                chosen = attempts[-1]
                note = (
                    f"; every one of {MAX_TRIES} samples repeated a rejected config,"
                    " proposed anyway"
                )
        for a in attempts:
            if a is not chosen:
                self._study.tell(a[0], state=TrialState.FAIL)
        trial, params, key = chosen
        tid = _new_trial_id()
        self._pending[tid] = (trial, key)
        reasoning = self._why(trial.number + 1, history, frontier_ids)
        if lead and (not first_fixed or chosen is attempts[0]):
            reasoning = f"{lead}; {reasoning}"
        elif lead:  # a later sample, not the pinned starting point (finding W 8)
            reasoning = f"the starting point was rejected or evaluated already; {reasoning}"
        texts = [d.name for d in self.search_space.dimensions if d.dim_type == "text"]
        if texts:
            reasoning += f"; text dimensions are not sampled (kept: {', '.join(texts)})"
        return TrialConfig(trial_id=tid, params=params, reasoning=reasoning + note)

    def propose_initial(self) -> TrialConfig:
        """The starting config (see :meth:`_center`); a sample if that one was rejected."""
        center = self._center()
        return self._propose(
            [],
            None,
            first_fixed=self._encode(center),
            lead="starting point: fixed values, first listed choices, middle of each range",
        )

    def propose_next(
        self,
        history: list[TrialResult],
        traces: list[Any] | None = None,
        frontier_ids: set | None = None,
    ) -> TrialConfig:
        """The study's next sample, after learning from *history*."""
        self._sync(history)
        return self._propose(history, frontier_ids)

    def propose_targeted(
        self,
        history: list[TrialResult],
        base_config: TrialConfig,
        target_primitive: str,
        frontier_ids: set | None = None,
    ) -> TrialConfig:
        """Sample only *target_primitive*'s dimensions; every other param of *base_config* stays."""
        self._sync(history)
        dims = self.search_space.dimensions
        target = {d.name for d in dims if _in_primitive(d, target_primitive)}
        if not target:
            config = self._propose(
                history,
                frontier_ids,
                lead=f"no dimension belongs to {target_primitive!r}: sampled every dimension",
            )
            return config
        base = dict(base_config.params)
        keep = {d.name for d in dims} - target
        fixed = self._encode(base, only=keep)
        off = sorted(
            d.name
            for d in dims
            if d.name in keep
            and d.dim_type != "text"
            and (d.name not in base or validate_config(self.search_space, {d.name: base[d.name]}))
        )
        lead = f"targeted at {target_primitive} ({', '.join(sorted(target))}) from {base_config.trial_id}"
        if off:
            lead += f"; base values missing or off the space, sampled instead: {', '.join(off)}"
        config = self._propose(
            history, frontier_ids, fixed=fixed, text=self._text_values(base), lead=lead
        )
        # The base config's values of space.fixed keys stay too (anything else would
        # not validate against the space).
        extras = {
            k: v
            for k, v in base.items()
            if self.search_space.dimension(k) is None and k in self.search_space.fixed
        }
        config.params = {**extras, **config.params}
        return config

    def propose_merge(
        self,
        candidates: list[TrialResult],
        history: list[TrialResult],
        frontier_ids: set | None = None,
    ) -> TrialConfig:
        """One config combining *candidates*, dimension by dimension.

        Categorical: the value most candidates share (tie: the first candidate's);
        numeric: the mean (rounded for an integer, clamped to the range); subset: the
        options at least half the candidates have; text: the first candidate's. A
        dimension no candidate has a valid value for takes the starting value.
        """
        self._sync(history)
        configs = [c.config for c in candidates if getattr(c, "config", None) is not None]
        if not configs:
            return self._propose(history, frontier_ids, lead="merge without candidates")
        center = self._center()
        params: dict[str, Any] = {}
        for dim in self.search_space.dimensions:
            valid = [
                cfg.params[dim.name]
                for cfg in configs
                if dim.name in cfg.params
                and not validate_config(self.search_space, {dim.name: cfg.params[dim.name]})
            ]
            t = dim.dim_type
            if t == "text":
                params[dim.name] = valid[0] if valid else self._text_values()[dim.name]
            elif not valid:
                params[dim.name] = center[dim.name]
            elif t == "categorical":
                # Valid values are among the dimension's values: each has an index.
                picks = [i for i in (self._index(dim.values, v) for v in valid) if i is not None]
                counts = Counter(picks)
                top = max(counts.values())
                winner = next(i for i in picks if counts[i] == top)
                params[dim.name] = dim.values[winner]
            elif t == "continuous":
                low, high = _bounds(dim)
                mean = sum(float(v) for v in valid) / len(valid)
                params[dim.name] = min(max(mean, float(low)), float(high))
            elif t == "integer":
                low, high = _bounds(dim)
                mean = sum(valid) / len(valid)
                lo, hi = math.ceil(low), math.floor(high)
                params[dim.name] = min(max(int(math.floor(mean + 0.5)), lo), hi)
            elif t == "subset":
                params[dim.name] = [
                    opt for opt in dim.values if 2 * sum(opt in v for v in valid) >= len(valid)
                ]
        ids = ", ".join(c.trial_id for c in candidates)
        if self._key(params) in self._rejected:
            return self._propose(
                history,
                frontier_ids,
                lead=f"the merge of {ids} repeats a rejected config: sampled instead",
            )
        frontier = self._frontier_size(history, frontier_ids)
        reasoning = (
            f"merge of {ids}: majority value of each choice, mean of each number, options "
            f"at least half of them use ({plural(frontier, 'frontier member')} so far)"
        )
        return TrialConfig(trial_id=_new_trial_id(), params=params, reasoning=reasoning)

    # ------------------------------------------------------------ analysis

    def _primitives(self) -> list[str]:
        seen: list[str] = []
        for dim in self.search_space.dimensions:
            p = _primitive_of(dim)
            if p and p not in seen:
                seen.append(p)
        return seen

    def analyze_trial(
        self,
        trial: TrialConfig,
        summary: RunSummary,
        traces: list[Any] | None = None,
        sample_scores: list[SampleScore] | None = None,
        per_benchmark: list[BenchmarkScore] | None = None,
    ) -> TrialFeedback:
        """Rule-based feedback: the measured figures, weak spots, and what to change next."""
        acc = float(summary.accuracy)
        lat = float(summary.mean_latency_seconds)
        cost = float(summary.total_cost_usd)
        samples = summary.scored_samples or summary.total_samples
        model = summary.model or str((trial.params or {}).get("intelligence.model", ""))
        head = f"{summary.benchmark or 'evaluation'}" + (f", model {model}" if model else "")
        text = [
            f"{head}: accuracy {acc:.3f}, mean latency {lat:.2f} s, cost ${cost:.6f},"
            f" {samples:,} samples, {summary.errors} error{'s' if summary.errors != 1 else ''}."
        ]
        rows = [b for b in per_benchmark or () if b.weight > 0 or len(per_benchmark or ()) == 1]
        weak = sorted(
            (b for b in rows if b.accuracy < LOW_ACCURACY or b.errors), key=lambda b: b.accuracy
        )
        weakest = min(rows, key=lambda b: b.accuracy) if rows else None
        if weakest is not None and len(rows) > 1:
            text.append(
                f"Weakest: {weakest.benchmark} (accuracy {weakest.accuracy:.3f},"
                f" weight {weakest.weight:.0%})."
            )
        violated = []
        for b in self.bounds:
            got = _number(getattr(summary, b.metric, None))
            if got is not None and self._violation({b.metric: got}) > 0:
                violated.append((b, got))
        if violated:
            text.append(
                "Outside bounds: " + "; ".join(f"{b} (got {got:g})" for b, got in violated) + "."
            )

        patterns: list[str] = []
        for score in weak:
            if score.accuracy < LOW_ACCURACY:
                patterns.append(
                    f"{score.benchmark}: accuracy {score.accuracy:.3f} over"
                    f" {score.samples_evaluated} samples (weight {score.weight:.0%})"
                )
            if score.errors:
                n = score.errors
                patterns.append(f"{score.benchmark}: {n} error{'s' if n != 1 else ''}")
        scores = list(sample_scores or ())
        errors = Counter(s.error for s in scores if s.error)
        for message, n in errors.most_common(3):
            patterns.append(f"{n} sample{'s' if n != 1 else ''} failed: {message[:120]}")
        wrong = sum(1 for s in scores if s.is_correct is False)
        if wrong:
            scored = sum(1 for s in scores if s.is_correct is not None)
            patterns.append(f"{wrong} of {scored} scored samples incorrect")
        if not per_benchmark and not scores and summary.errors:
            patterns.append(f"{summary.errors} errors")

        primitives = self._primitives()
        error_rate = sum(errors.values()) / len(scores) if scores else 0.0
        ratings = {p: self._rate(p, acc, lat, weakest, error_rate, violated) for p in primitives}

        target = ""
        suggestions: list[str] = []
        if weak or acc < LOW_ACCURACY:
            cls = weak[0].benchmark if weak else ""
            route = self.search_space.dimension(f"routing.{cls}.model") if cls else None
            if route is not None:
                target = _primitive_of(route)
                suggestions.append(f"try another model for {cls} ({route.name})")
            elif "intelligence" in primitives:
                target = "intelligence"
                suggestions.append(f"try another model{f' (weakest: {cls})' if cls else ''}")
        elif violated:
            metric = violated[0][0].metric
            if metric == "mean_latency_seconds" and "engine" in primitives:
                target = "engine"
            elif "intelligence" in primitives:
                target = "intelligence"
            if target:
                suggestions.append(f"bring {metric} within {violated[0][0]}")
        elif error_rate >= 0.2:
            target = next((p for p in ("agent", "tools") if p in primitives), "")
            if target:
                suggestions.append(f"reduce sample errors ({error_rate:.0%})")
        if target not in primitives:
            target = ""
        return TrialFeedback(
            summary_text=" ".join(text),
            failure_patterns=patterns,
            primitive_ratings=ratings,
            suggested_changes=suggestions,
            target_primitive=target,
        )

    def _rate(
        self,
        primitive: str,
        acc: float,
        lat: float,
        weakest: BenchmarkScore | None,
        error_rate: float,
        violated: list[tuple[ObjectiveBound, float]],
    ) -> str:
        def grade(a: float) -> str:
            return "good" if a >= 0.8 else "fair" if a >= LOW_ACCURACY else "weak"

        if primitive == "intelligence":
            out = f"{grade(acc)}: accuracy {acc:.3f}"
            if weakest is not None:
                out += f", weakest {weakest.benchmark} {weakest.accuracy:.3f}"
            return out
        if primitive == "routing":
            if weakest is None:
                return "no per-class figures"
            return f"{grade(weakest.accuracy)}: weakest {weakest.benchmark} {weakest.accuracy:.3f}"
        if primitive == "engine":
            best = self._best_seen.get("mean_latency_seconds")
            slow = any(b.metric == "mean_latency_seconds" for b, _ in violated)
            if slow:
                return f"slow: latency {lat:.2f} s is outside the bound"
            if best is not None and best > 0 and lat > 1.5 * best:
                return f"slow: latency {lat:.2f} s (best seen {best:.2f} s)"
            return f"ok: latency {lat:.2f} s"
        if primitive in ("agent", "tools"):
            if error_rate:
                return f"{'weak' if error_rate >= 0.2 else 'fair'}: {error_rate:.0%} of samples errored"
            return "no errors recorded"
        return "not measured separately in this trial"


__all__ = ["OptunaProposer", "SAMPLERS"]
