"""Building an evaluation from what a user typed: the set, the generator, the scorer.

Shared by ``jarvis-tui eval``, ``jarvis-tui optimize --evaluate`` and the panes, so each
evaluates the same way. Every problem a user can fix is a ValueError with one line.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from jarvis_tui.evals.generators import (
    EndpointGenerator,
    GenerationSettings,
    GeneratorError,
    LocalGenerator,
)
from jarvis_tui.evals.runner import EvalResult
from jarvis_tui.evals.scorers import make_scorer
from jarvis_tui.evals.sets import EvalSet, build_eval_set, load_jsonl_set
from jarvis_tui.paths import Workspace, atomic_write_text, ensure_dir, trace_store_problem

EVALS_DIR = "evals"
"""Where ``jarvis-tui eval`` keeps each result (``<workspace>/evals/<id>.json``)."""


@dataclass(frozen=True)
class EvalOptions:
    """The choices of one evaluation (the ``eval`` command's flags)."""

    backend_url: Optional[str] = None
    model: Optional[str] = None
    local: Optional[str] = None
    adapter: Optional[str] = None
    set_path: Optional[str] = None
    samples: int = 50
    scorer: str = "rouge"
    judge_url: Optional[str] = None
    judge_model: Optional[str] = None
    concurrency: int = 8
    seed: int = 0
    min_quality: float = 0.7
    max_tokens: int = 256
    timeout: float = 120.0
    batch_size: int = 8


def _endpoint(url: str, role: str, timeout: float) -> Any:
    import os

    from jarvis_tui.learning.optimize.backends import ENV_KEY, OpenAICompatibleBackend

    key = (os.environ.get(ENV_KEY) or os.environ.get("OPENAI_API_KEY") or "").strip() or None
    return OpenAICompatibleBackend(url, api_key=key, timeout=timeout, role=role)


def build_generator(
    opts: EvalOptions, ws: Workspace, *, per_config: bool = False
) -> tuple[Any, GenerationSettings]:
    """The generator and its settings: an endpoint (``--backend URL --model M``) or a
    local model (``--local PATH``, default the workspace's tiny LM).

    *per_config* (an optimization run): each trial's config names the model, so an
    endpoint needs no ``--model``.
    """
    if opts.backend_url and opts.local:
        raise ValueError("give --backend URL --model M or --local PATH, not both")
    settings = GenerationSettings(model=opts.model or "", max_tokens=opts.max_tokens)
    if opts.backend_url:
        if not opts.model and not per_config:
            raise ValueError("--backend needs --model M (the model the endpoint serves)")
        if opts.adapter:
            raise ValueError("--adapter works with --local (a LoRA adapter runs locally)")
        endpoint = EndpointGenerator(
            _endpoint(opts.backend_url, "eval", opts.timeout), concurrency=opts.concurrency
        )
        return endpoint, settings
    if opts.model:
        raise ValueError("--model needs --backend URL (the endpoint that serves it)")
    import importlib.util

    if (
        importlib.util.find_spec("torch") is None
        or importlib.util.find_spec("transformers") is None
    ):
        raise ValueError(
            "local evaluation needs torch and transformers: pip install 'jarvis-tui[train]' "
            "(or evaluate through an endpoint with --backend URL --model M)"
        )
    if opts.local:
        path = Path(opts.local).expanduser()
    else:
        from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

        path = ensure_tiny_lm(ws.models_dir)
    try:
        gen = LocalGenerator(
            path, adapter=opts.adapter, batch_size=opts.batch_size, workspace=ws.root
        )
    except GeneratorError as exc:
        raise ValueError(str(exc)) from None
    return gen, GenerationSettings(model=path.name, max_tokens=opts.max_tokens)


def build_set(opts: EvalOptions, ws: Workspace, trace_store: Any = None) -> EvalSet:
    """The eval set: ``--set FILE`` or held-out labelled traces of the workspace."""
    if opts.set_path:
        return load_jsonl_set(opts.set_path, limit=opts.samples)
    own = trace_store is None
    if own:
        from jarvis_tui.traces.store import TraceStore

        if not os.path.lexists(ws.traces_db):
            raise ValueError(
                f"no trace store at {ws.traces_db} to build an eval set from: pass --set FILE"
            )
        problem = trace_store_problem(ws.traces_db)  # there, but a directory or a bad link
        if problem is not None:
            raise ValueError(problem)
        trace_store = TraceStore(ws.traces_db)
    try:
        return build_eval_set(
            trace_store, samples=opts.samples, seed=opts.seed, min_quality=opts.min_quality
        )
    finally:
        if own:
            trace_store.close()


def build_scorer(opts: EvalOptions) -> Any:
    judge = None
    if opts.scorer == "judge":
        if not opts.judge_url or not opts.judge_model:
            raise ValueError("--scorer judge needs --judge-backend URL and --judge-model M")
        judge = _endpoint(opts.judge_url, "judge", opts.timeout)
    elif opts.judge_url or opts.judge_model:
        raise ValueError("--judge-backend/--judge-model go with --scorer judge")
    return make_scorer(opts.scorer, judge_backend=judge, judge_model=opts.judge_model)


def _config_value(data: dict[str, Any], key: str) -> Any:
    """*key* of an agent config: its ``[agent]`` table, then ``[intelligence]``, then the top."""
    for table in (data.get("agent"), data.get("intelligence"), data):
        if isinstance(table, dict) and key in table:
            return table[key]
    return None


def agent_generation(
    ws: Workspace, agent: str, settings: GenerationSettings
) -> tuple[GenerationSettings, dict[str, Any]]:
    """*settings* with *agent*'s current config applied (its system prompt, temperature
    and max tokens, where it sets them), and the link to that version for
    :func:`save_result` (``agent``, ``agent_version``, ``agent_config_sha256``).

    The link is read before and after the config so that a config rewritten in between
    is an error rather than a result filed under the wrong version.
    """
    from dataclasses import replace

    from jarvis_tui.configs.versions import VersionStore
    from jarvis_tui.learning.outcomes import eval_link

    store = VersionStore(ws.agents_dir)
    link = eval_link(store, agent)
    current = store.list_versions(agent)[-1]
    if current.get("error"):
        raise ValueError(f"agent {agent!r}: {current['error']}")
    data = store.load_version(agent, link["agent_version"])
    if eval_link(store, agent) != link:
        raise ValueError(f"agent {agent!r}'s config changed while it was read; run again")
    prompt = _config_value(data, "system_prompt")
    temperature = _config_value(data, "temperature")
    max_tokens = _config_value(data, "max_tokens")
    changes: dict[str, Any] = {}
    if isinstance(prompt, str):
        changes["system_prompt"] = prompt
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        if not (math.isfinite(temperature) and 0.0 <= temperature <= 2.0):
            raise ValueError(f"agent {agent!r}: temperature must be in [0, 2], not {temperature}")
        changes["temperature"] = float(temperature)
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        if max_tokens < 1:
            raise ValueError(f"agent {agent!r}: max_tokens must be at least 1, not {max_tokens}")
        changes["max_tokens"] = max_tokens
    return replace(settings, **changes), link


def save_result(
    ws: Workspace,
    result: EvalResult,
    *,
    label: str = "",
    agent: Optional[str] = None,
    agent_version: Optional[int] = None,
    agent_config_sha256: Optional[str] = None,
) -> Path:
    """Keep *result* (every sample) as ``<workspace>/evals/<time>-<set id>.json``.

    With *agent*, the result names the config version it measured, so that the
    outcomes per version (``jarvis-tui versions``) show its score: pass what the caller
    knows (the version and its hash as read when generation started, see
    :func:`agent_generation`); what it leaves out comes from the agent's version log
    (:func:`~jarvis_tui.learning.outcomes.eval_link`: *agent_version*, else the current
    version).
    """
    link: dict[str, Any] = {}
    if agent is not None:
        link = {"agent": agent, "agent_version": agent_version,
                "agent_config_sha256": agent_config_sha256}  # fmt: skip
        if agent_config_sha256 is None:
            from jarvis_tui.configs.versions import VersionStore
            from jarvis_tui.learning.outcomes import eval_link

            link = eval_link(VersionStore(ws.agents_dir), agent, agent_version)
    elif agent_version is not None or agent_config_sha256 is not None:
        raise ValueError("agent_version/agent_config_sha256 need agent")
    folder = ensure_dir(ws.root / EVALS_DIR)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"{stamp}-{result.eval_set.get('id', 'set')}"
    path = folder / f"{name}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{n}.json"
    data = {"label": label, "created_at": time.time(), **result.to_dict(), **link}
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return path


__all__ = [
    "EVALS_DIR",
    "EvalOptions",
    "agent_generation",
    "build_generator",
    "build_scorer",
    "build_set",
    "save_result",
]
