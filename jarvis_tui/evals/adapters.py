"""A trained LoRA adapter measured against its base model on the held-out set.

:func:`compare_adapter` answers the same eval set with the base model and with base +
adapter, scores both, and measures the reference answers' loss under each (eval loss),
in one call; the result is kept in the run folder as ``eval.json`` so the Training pane
shows it beside the run. An adapter trained on another base model is refused, naming
both.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from jarvis_tui.core.fmt import plural
from jarvis_tui.evals.generators import GenerationSettings, GeneratorError, LocalGenerator
from jarvis_tui.evals.runner import EvalResult, evaluate
from jarvis_tui.evals.sets import EvalSet
from jarvis_tui.paths import atomic_write_text

EVAL_FILE = "eval.json"
"""The comparison kept in a run folder."""


@dataclass
class AdapterComparison:
    """Base vs base + adapter on one eval set."""

    run_id: str
    base_model: str
    eval_set: dict[str, Any]
    base: dict[str, Any]
    adapter: dict[str, Any]
    base_eval_loss: Optional[float]
    adapter_eval_loss: Optional[float]
    partial: bool = False
    created_at: float = field(default_factory=time.time)

    @property
    def score_gain(self) -> float:
        return float(self.adapter["accuracy"]) - float(self.base["accuracy"])

    def verdict(self) -> str:
        """One line a user reads: better, worse or no clear difference, and by how much."""
        gain = self.score_gain
        lo_a, hi_a = self.adapter["accuracy_ci"]
        lo_b, hi_b = self.base["accuracy_ci"]
        loss = ""
        if self.base_eval_loss is not None and self.adapter_eval_loss is not None:
            loss = f", eval loss {self.base_eval_loss:.3f} → {self.adapter_eval_loss:.3f}"
        unscored = [
            f"{name} {_no_score(m)}"
            for name, m in (("base", self.base), ("adapter", self.adapter))
            if m.get("samples") and not m.get("scored", 1)
        ]
        if unscored:  # an answer nobody gave is no evidence either way
            return f"no score to compare: {'; '.join(unscored)}{loss}"
        if lo_a > hi_b:
            return f"adapter better: score +{gain:.3f}{loss}"
        if hi_a < lo_b:
            return f"adapter worse: score {gain:+.3f}{loss}"
        return f"no clear difference in score ({gain:+.3f}, intervals overlap){loss}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "base_model": self.base_model,
            "eval_set": self.eval_set,
            "base": self.base,
            "adapter": self.adapter,
            "base_eval_loss": self.base_eval_loss,
            "adapter_eval_loss": self.adapter_eval_loss,
            "partial": self.partial,
            "created_at": self.created_at,
            "verdict": self.verdict(),
        }


def _no_score(m: dict[str, Any]) -> str:
    """``nothing scored (50 of 50 errors: empty answer)``."""
    reasons = m.get("error_reasons") or {}
    why = f": {next(iter(reasons))}" if len(reasons) == 1 else ""
    return (
        f"nothing scored ({m.get('errors', 0):,} of {plural(m['samples'], 'sample')} failed{why})"
    )


def _base_model_path(run: Any, workspace: Path | None) -> Path:
    model = Path(str(run.model)).expanduser()
    if not model.is_absolute() and workspace is not None and not model.exists():
        for candidate in (workspace / model, workspace / "models" / model):
            if candidate.exists():
                return candidate
    return model


def compare_adapter(
    run: Any,
    eval_set: EvalSet,
    scorer: Any,
    *,
    workspace: Path | None = None,
    max_tokens: int = 64,
    batch_size: int = 8,
    cancel: threading.Event | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    save: bool = True,
) -> AdapterComparison:
    """Measure *run*'s adapter (a ``RunInfo``) against its base model on *eval_set*.

    Raises GeneratorError (one line) when the run has no adapter, its base model is not
    a local model folder, or the adapter was trained on another base.
    """
    adapter = getattr(run, "adapter_path", None)
    if adapter is None:
        raise GeneratorError(f"run {run.run_id} has no adapter yet (status {run.status})")
    base_path = _base_model_path(run, workspace)
    base_gen = LocalGenerator(base_path, batch_size=batch_size, workspace=workspace)
    tuned_gen = LocalGenerator(
        base_path, adapter=adapter, batch_size=batch_size, workspace=workspace
    )
    settings = GenerationSettings(model=base_path.name, max_tokens=max_tokens)

    def stage(name: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(name, done, total)

    results: dict[str, EvalResult] = {}
    losses: dict[str, Optional[float]] = {}
    for name, gen in (("base", base_gen), ("adapter", tuned_gen)):
        results[name] = evaluate(
            eval_set, gen, scorer, settings, cancel=cancel, progress=stage(name)
        )
        losses[name] = gen.eval_loss(eval_set.samples, settings, cancel=cancel)
    comparison = AdapterComparison(
        run_id=run.run_id,
        base_model=str(base_path),
        eval_set=eval_set.describe(),
        base=results["base"].metrics(),
        adapter=results["adapter"].metrics(),
        base_eval_loss=losses["base"],
        adapter_eval_loss=losses["adapter"],
        partial=results["base"].partial or results["adapter"].partial,
    )
    if save and not comparison.partial:
        atomic_write_text(
            Path(run.path) / EVAL_FILE, json.dumps(comparison.to_dict(), indent=1) + "\n"
        )
    return comparison


def load_comparison(run_path: str | Path) -> Optional[dict[str, Any]]:
    """The comparison kept in a run folder, or None (missing or unreadable)."""
    from jarvis_tui.core.safejson import parse

    p = Path(run_path) / EVAL_FILE
    try:
        raw = p.read_bytes()
    except OSError:
        return None
    data, _why = parse(raw)
    return data if isinstance(data, dict) else None


__all__ = ["EVAL_FILE", "AdapterComparison", "compare_adapter", "load_comparison"]
