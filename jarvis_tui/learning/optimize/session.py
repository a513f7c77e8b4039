"""Wiring an optimization run to a workspace: which space, proposer, runner and store.

Shared by ``jarvis-tui optimize`` and the Trials pane so both run the same thing:

* the search space is ``<home>/optimize.toml`` (OpenJarvis' ``[optimize]`` layout)
  when it exists, else one derived from the models, agents and query classes the
  workspace's traces actually contain (only what replaying traces can estimate);
* the proposer is the LLMOptimizer over an OpenAI-compatible endpoint when one is
  configured (arguments, else ``JARVIS_TUI_OPTIMIZER_URL`` / ``_MODEL`` / ``_KEY``),
  else the offline Optuna proposer;
* trials are evaluated by replaying the workspace's labelled traces (estimates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis_tui.learning.optimize.search_space import load_search_space
from jarvis_tui.learning.optimize.trial_runner import NO_OVERRIDE
from jarvis_tui.learning.optimize.types import SearchDimension, SearchSpace
from jarvis_tui.paths import Workspace, atomic_write_text

SEARCH_SPACE_FILE = "optimize.toml"
"""The workspace's search space, next to ``optimize.db``."""

ROUTED_CLASSES_MAX = 5
"""At most this many per-class routing dimensions in a derived space."""

DEFAULT_ROUTE = NO_OVERRIDE[0]
"""A routing option meaning "no override: use intelligence.model for this class"."""


def search_space_path(ws: Workspace) -> Path:
    return ws.root / SEARCH_SPACE_FILE


def derive_search_space(trace_store: Any) -> SearchSpace:
    """A space over what the traces can speak to: model, agent, per-class routing."""
    facets = trace_store.facets()
    models = [m for m in facets.get("models", []) if m]
    agents = [a for a in facets.get("agents", []) if a]
    if not models:
        raise ValueError("the trace store has no traces to derive a search space from")
    dims = [
        SearchDimension(
            "intelligence.model", "categorical", list(models),
            description="model answering every query class without an override",
            primitive="intelligence",
        ),
    ]  # fmt: skip
    if len(agents) > 1:
        dims.append(
            SearchDimension(
                "agent.name", "categorical", list(agents),
                description="agent whose traces are replayed (and whose config a trial promotes)",
                primitive="agent",
            )
        )  # fmt: skip
    counts = trace_store.class_counts()
    classes = [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1]) if c and c != "?"]
    for qclass in classes[:ROUTED_CLASSES_MAX]:
        dims.append(
            SearchDimension(
                f"routing.{qclass}.model", "categorical", [DEFAULT_ROUTE, *models],
                description=f"model for {qclass} queries ({DEFAULT_ROUTE}: intelligence.model)",
                primitive="routing",
            )
        )  # fmt: skip
    return SearchSpace(dimensions=dims)


def space_to_toml(space: SearchSpace) -> str:
    """The ``[optimize]`` TOML of *space* (what ``optimize.toml`` holds)."""
    import tomli_w

    entries = []
    for d in space.dimensions:
        e: dict[str, Any] = {"name": d.name, "type": d.dim_type}
        if d.values:
            e["values"] = list(d.values)
        if d.low is not None:
            e["low"] = d.low
        if d.high is not None:
            e["high"] = d.high
        if d.description:
            e["description"] = d.description
        if d.primitive:
            e["primitive"] = d.primitive
        entries.append(e)
    body: dict[str, Any] = {"search": entries}
    if space.fixed:
        body["fixed"] = dict(space.fixed)
    if space.constraints:
        body["constraints"] = {"rules": list(space.constraints)}
    return tomli_w.dumps({"optimize": body})


def load_workspace_space(ws: Workspace, trace_store: Any) -> tuple[SearchSpace, str]:
    """The workspace's search space and where it came from (a path, or "derived")."""
    path = search_space_path(ws)
    if path.exists():
        if path.is_dir():
            raise ValueError(f"{path} is a directory, not a search space file")
        return load_search_space(path), str(path)
    return derive_search_space(trace_store), "derived from the traces"


def write_search_space(ws: Workspace, space: SearchSpace) -> Path:
    return atomic_write_text(search_space_path(ws), space_to_toml(space))


@dataclass
class OptimizeSession:
    """Everything one run needs; ``close()`` releases the stores."""

    engine: Any
    opt_store: Any
    trace_store: Any
    space: SearchSpace
    space_origin: str
    proposer_name: str

    def close(self) -> None:
        for s in (self.opt_store, self.trace_store):
            try:
                s.close()
            except Exception:  # noqa: BLE001 - closing must not mask the real outcome
                pass


def open_session(
    ws: Workspace,
    *,
    max_trials: int = 20,
    patience: int = 5,
    backend_url: str | None = None,
    model: str | None = None,
    seed: int | None = None,
    trace_store: Any = None,
    evaluate: str = "replay",
    eval_options: Any = None,
    store: Any = None,
) -> OptimizeSession:
    """Open the stores and build the engine for *ws* (raises ValueError/StoreError).

    *trace_store* and *store* (an ``OptimizationStore`` of ``ws.optimize_db``, or a
    function that returns one: it is called only once the run can start, so a run
    refused for its search space creates no optimize.db) are used when given, and the
    session does not close them (their owner does: an app's
    :class:`~jarvis_tui.workspace.WorkspaceSession` keeps one of each per workspace);
    otherwise the session opens its own and ``close()`` closes them.

    *evaluate* says how trials are scored: ``replay`` (estimates from the labelled
    traces), ``measured`` (each config answers held-out queries, see
    :mod:`jarvis_tui.evals`) or ``replay-then-measure`` (estimate each, measure those
    that would join the frontier); *eval_options* (an ``EvalOptions``) say with what.
    """
    if evaluate not in EVALUATE_MODES:
        raise ValueError(f"--evaluate must be one of {', '.join(EVALUATE_MODES)}, not {evaluate!r}")
    from jarvis_tui.learning.optimize.backends import backend_from_env
    from jarvis_tui.learning.optimize.optimizer import OptimizationEngine
    from jarvis_tui.learning.optimize.store import OptimizationStore
    from jarvis_tui.learning.optimize.trial_runner import TraceReplayRunner
    from jarvis_tui.traces.store import TraceStore

    own_traces = trace_store is None
    if own_traces:
        if not ws.traces_db.is_file():
            raise ValueError(f"no trace store at {ws.traces_db}")
        trace_store = TraceStore(ws.traces_db)
    opt_store = None
    try:
        space, origin = load_workspace_space(ws, trace_store)
        if not space.dimensions:
            raise ValueError(f"the search space ({origin}) has no dimensions")
        runner: Any = TraceReplayRunner(trace_store)
        if evaluate != "replay":
            runner = _measured_runner(ws, trace_store, runner, evaluate, eval_options)
            adapters = _adapter_dimension(ws, runner, space)
            if adapters is not None:
                space.dimensions.append(adapters)
        configured = backend_from_env(backend_url, model)
        if configured is not None:
            from jarvis_tui.learning.optimize.llm_optimizer import LLMOptimizer

            backend, model_name = configured
            proposer: Any = LLMOptimizer(
                space, optimizer_model=model_name, optimizer_backend=backend
            )
            name = f"LLM {model_name} at {backend_url or 'the configured endpoint'}"
        else:
            from jarvis_tui.learning.optimize.optuna_proposer import OptunaProposer

            proposer = OptunaProposer(space, seed=seed)
            name = f"{proposer.optimizer_model} (offline)"
        if store is None:
            opt_store = OptimizationStore(ws.optimize_db)
        elif callable(store):
            store = store()
        engine = OptimizationEngine(
            space,
            proposer,
            runner,
            opt_store if store is None else store,
            max_trials=max_trials,
            early_stop_patience=patience,
            seed=seed,
        )
        engine.evaluate = evaluate  # kept with the run: continuing it scores the same way
    except BaseException:
        if opt_store is not None:
            opt_store.close()
        if own_traces:
            trace_store.close()
        raise
    return OptimizeSession(
        engine,
        opt_store if store is None else _NoClose(store),
        trace_store if own_traces else _NoClose(trace_store),
        space,
        origin,
        name,
    )


EVALUATE_MODES = ("replay", "measured", "replay-then-measure")
"""How an optimization run scores its trials."""


def _measured_runner(
    ws: Workspace, trace_store: Any, replay: Any, evaluate: str, eval_options: Any
) -> Any:
    from jarvis_tui.evals.runner import EvalTrialRunner, ReplayThenMeasureRunner, load_prices
    from jarvis_tui.evals.setup import EvalOptions, build_generator, build_scorer, build_set

    opts = eval_options or EvalOptions()
    scorer = build_scorer(opts)
    eval_set = build_set(opts, ws, trace_store)
    generator, _settings = build_generator(opts, ws, per_config=True)
    measured = EvalTrialRunner(eval_set, generator, scorer, prices=load_prices(ws.root))
    if evaluate == "measured":
        return measured
    return ReplayThenMeasureRunner(replay, measured)


ADAPTER_DIMENSION = "intelligence.adapter"
"""A measured run on a local model may pick a trained LoRA adapter ("base": none)."""


def _adapter_dimension(ws: Workspace, runner: Any, space: SearchSpace) -> SearchDimension | None:
    """``intelligence.adapter`` over the finished runs trained on the local model the
    run measures with (None for an endpoint, no adapters, or a space that has it)."""
    measured = getattr(runner, "measured", runner)
    generator = getattr(measured, "generator", None)
    base = getattr(generator, "model_path", None)
    if base is None or space.dimension(ADAPTER_DIMENSION) is not None:
        return None
    from jarvis_tui.evals.generators import _same_model
    from jarvis_tui.learning.training.runs import list_runs

    try:
        runs = list_runs(ws.checkpoints_dir, clean=False)
    except OSError:
        return None
    ids = [
        r.run_id
        for r in sorted(runs, key=lambda r: r.created)
        if r.status == "completed"
        and r.adapter_path is not None
        and _same_model(str(r.model), base)
    ]
    if not ids:
        return None
    return SearchDimension(
        ADAPTER_DIMENSION, "categorical", ["base", *ids],
        description=f"LoRA adapter on {base.name} (base: none); a finished training run",
        primitive="intelligence",
    )  # fmt: skip


class _NoClose:
    """A borrowed store: the session must not close what it did not open."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
