"""Measured evaluation of configs, models and adapters (what a trial *measures*).

Eval sets from held-out labelled traces or a JSONL file (:mod:`.sets`); generators over
an OpenAI-compatible endpoint or a local transformers model with an optional LoRA
adapter (:mod:`.generators`); scorers from reference similarity to an LLM judge
(:mod:`.scorers`); :func:`evaluate` and :class:`EvalTrialRunner` (:mod:`.runner`).

Importing this package imports nothing but this file: every name below is imported
from its module on first use (module ``__getattr__``, as :mod:`jarvis_tui.learning`
does), so ``jarvis_tui.evals.judge`` (what the Traces pane reads) brings neither the
runner, the optimize package nor numpy; torch and transformers load when the local
generator first generates.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jarvis_tui.evals.generators import (
        EndpointGenerator,
        Generation,
        GenerationSettings,
        GeneratorError,
        LocalGenerator,
    )
    from jarvis_tui.evals.runner import (
        EvalError,
        EvalResult,
        EvalTrialRunner,
        SampleResult,
        evaluate,
        load_prices,
    )
    from jarvis_tui.evals.scorers import JudgeScorer, Score, make_scorer
    from jarvis_tui.evals.sets import (
        EvalSample,
        EvalSet,
        EvalSetError,
        EvalSplit,
        build_eval_set,
        load_jsonl_set,
    )

_LAZY = {
    **dict.fromkeys(
        ("EndpointGenerator", "Generation", "GenerationSettings", "GeneratorError",
         "LocalGenerator"),
        "jarvis_tui.evals.generators",
    ),
    **dict.fromkeys(
        ("EvalError", "EvalResult", "EvalTrialRunner", "SampleResult", "evaluate",
         "load_prices"),
        "jarvis_tui.evals.runner",
    ),
    **dict.fromkeys(("JudgeScorer", "Score", "make_scorer"), "jarvis_tui.evals.scorers"),
    **dict.fromkeys(
        ("EvalSample", "EvalSet", "EvalSetError", "EvalSplit", "build_eval_set",
         "load_jsonl_set"),
        "jarvis_tui.evals.sets",
    ),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:  # also how ``from jarvis_tui.evals import judge`` finds a submodule
        raise AttributeError(f"module 'jarvis_tui.evals' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "EndpointGenerator",
    "EvalError",
    "EvalResult",
    "EvalSample",
    "EvalSet",
    "EvalSetError",
    "EvalSplit",
    "EvalTrialRunner",
    "Generation",
    "GenerationSettings",
    "GeneratorError",
    "JudgeScorer",
    "LocalGenerator",
    "SampleResult",
    "Score",
    "build_eval_set",
    "evaluate",
    "load_jsonl_set",
    "load_prices",
    "make_scorer",
]
