"""The learning cycle's eval gate, measured: accepted means *measured better*.

:func:`make_eval_fn` gives the zero-argument ``eval_fn`` ``LearningOrchestrator`` calls
before and after a cycle: both calls answer the same eval set (built once, held out of
training) with the same generator and scorer, and return the mean score. With a local
model, each call uses the newest finished LoRA adapter trained on that model (if any), so
a cycle that trains a better adapter scores higher afterwards.

:func:`default_eval_fn` is what the orchestrator uses when no ``eval_fn`` is given and
an evaluation backend is configured: ``JARVIS_TUI_EVAL_URL`` + ``JARVIS_TUI_EVAL_MODEL``
(an OpenAI-compatible endpoint) or ``JARVIS_TUI_EVAL_LOCAL`` (a local model folder, or
``tiny`` for the workspace's tiny model). Nothing configured: no gate, as in OpenJarvis.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from jarvis_tui.evals.setup import EvalOptions, build_generator, build_scorer, build_set
from jarvis_tui.paths import Workspace

ENV_EVAL_URL = "JARVIS_TUI_EVAL_URL"
ENV_EVAL_MODEL = "JARVIS_TUI_EVAL_MODEL"
ENV_EVAL_LOCAL = "JARVIS_TUI_EVAL_LOCAL"


def _newest_adapter(ws: Workspace, base: Path) -> Optional[str]:
    """The newest completed run's adapter that was trained on *base*, or None."""
    from jarvis_tui.evals.generators import _same_model
    from jarvis_tui.learning.training.runs import list_runs

    try:
        runs = list_runs(ws.checkpoints_dir, clean=False)
    except OSError:
        return None
    for run in sorted(runs, key=lambda r: r.updated, reverse=True):
        if run.status == "completed" and run.adapter_path is not None:
            if _same_model(str(run.model), base):
                return str(run.path)
    return None


def make_eval_fn(
    ws: Workspace,
    opts: EvalOptions,
    *,
    trace_store: Any = None,
    results: list | None = None,
) -> Callable[[], float]:
    """An ``eval_fn`` over one fixed eval set; each call's EvalResult is appended to
    *results* (when given) so a caller can show what was measured."""
    eval_set = build_set(opts, ws, trace_store)
    scorer = build_scorer(opts)
    generator, settings = build_generator(opts, ws)
    from dataclasses import replace

    from jarvis_tui.evals.runner import EMPTY_ANSWER, evaluate, load_prices

    prices = load_prices(ws.root)

    def eval_fn() -> float:
        current = settings
        model_path = getattr(generator, "model_path", None)
        if model_path is not None and not opts.adapter:
            adapter = _newest_adapter(ws, model_path)
            current = replace(settings, adapter=adapter or "")
        result = evaluate(eval_set, generator, scorer, current, prices=prices)
        if results is not None:
            results.append(result)
        if result.samples and result.errors == len(result.samples):
            first = result.samples[0].error
            hint = (
                ": gate on a model that answers (--eval-backend URL --eval-model M, or "
                "--local PATH; JARVIS_TUI_EVAL_URL / _MODEL / _LOCAL)"
                if first == EMPTY_ANSWER
                else ""
            )
            raise ValueError(f"eval gate: every sample failed: {first}{hint}")
        return result.accuracy

    return eval_fn


def default_eval_fn(trace_store: Any, config_dir: str | Path) -> Optional[Callable[[], float]]:
    """The measured gate when the environment configures one, else None."""
    url = os.environ.get(ENV_EVAL_URL, "").strip()
    local = os.environ.get(ENV_EVAL_LOCAL, "").strip()
    if not url and not local:
        return None
    ws = Workspace(Path(config_dir).expanduser().parent)
    opts = EvalOptions(
        backend_url=url or None,
        model=os.environ.get(ENV_EVAL_MODEL, "").strip() or None,
        local=None if (url or local == "tiny") else local,
    )
    return make_eval_fn(ws, opts, trace_store=trace_store)


__all__ = ["ENV_EVAL_LOCAL", "ENV_EVAL_MODEL", "ENV_EVAL_URL", "default_eval_fn", "make_eval_fn"]
