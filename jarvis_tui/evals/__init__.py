"""Measured evaluation of configs, models and adapters (what a trial *measures*).

Eval sets from held-out labelled traces or a JSONL file (:mod:`.sets`); generators over
an OpenAI-compatible endpoint or a local transformers model with an optional LoRA
adapter (:mod:`.generators`); scorers from reference similarity to an LLM judge
(:mod:`.scorers`); :func:`evaluate` and :class:`EvalTrialRunner` (:mod:`.runner`).

Importing this package imports neither torch nor transformers: the local generator
loads them when it first generates.
"""

from __future__ import annotations

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
