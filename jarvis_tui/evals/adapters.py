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

from jarvis_tui.core.fmt import plural, signed
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
            return f"adapter worse: score {signed(gain, 3)}{loss}"
        return f"no clear difference in score ({signed(gain, 3)}, intervals overlap){loss}"

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

    n = len(eval_set)

    def stage(name: str) -> Callable[[int, int], None] | None:
        """Evaluate's steps (answer each sample, then score it: 2n) as samples of this
        side (of n): a side shows n/n once its last sample is scored, never before."""
        if progress is None:
            return None
        last = [0]

        def on_step(done: int, total: int) -> None:
            shown = n if done >= total else min(done, max(n - 1, 0))
            if shown != last[0]:
                last[0] = shown
                progress(name, shown, n)

        return on_step

    results: dict[str, EvalResult] = {}
    losses: dict[str, Optional[float]] = {}
    for name, gen in (("base", base_gen), ("adapter", tuned_gen)):
        if progress is not None:  # the side starts (its model loads before any answer)
            progress(name, 0, n)
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


COMPARE_MAX_TOKENS = 64
"""Most tokens an answer may take in a comparison (short answers: the base and the
adapter each answer every sample)."""
TRAIN_EXTRA = ("torch", "transformers", "peft")
"""What measuring an adapter locally needs (the ``train`` extra)."""


def comparison_problem(run: Any, workspace: Path | None) -> Optional[str]:
    """Why *run* (a ``RunInfo``) cannot be measured against its base, in one line, or
    None: it has no adapter, or its base model is not a local model folder. Reads the
    run folder only (no torch): the Training pane says it before it starts anything."""
    if getattr(run, "adapter_path", None) is None:
        return f"run {run.run_id} has no adapter to evaluate (status {run.status})"
    model = Path(str(run.model)).expanduser()
    candidates = [model]
    if workspace is not None:
        candidates += [Path(workspace) / model, Path(workspace) / "models" / model]
    if not any(p.is_dir() for p in candidates):
        return (
            f"base model {run.model} is not a local model folder: the base and the adapter "
            "are measured here, on a model folder"
        )
    return None


def missing_train_extra() -> list[str]:
    """The modules of the train extra that cannot be imported (none is imported)."""
    import importlib.util

    missing = []
    for name in TRAIN_EXTRA:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def find_run(checkpoints_dir: str | Path, run_id: str) -> Any:
    """The ``RunInfo`` of run *run_id* (a folder of *checkpoints_dir* with a run.json),
    or ValueError naming what is there."""
    from jarvis_tui.learning.training.runs import RUN_FILE, RunInfo

    root = Path(checkpoints_dir)
    folder = root / run_id
    if (
        not run_id
        or run_id.startswith(".")
        or Path(run_id).name != run_id
        or folder.is_symlink()
        or not (folder / RUN_FILE).is_file()
    ):
        raise ValueError(f"no run {run_id!r} in {root} (jarvis-tui train makes one)")
    return RunInfo.load(folder)


def compare_run(
    workspace: str | Path,
    run_id: str,
    *,
    samples: int = 50,
    seed: int = 0,
    min_quality: float = 0.7,
    scorer: str = "rouge",
    max_tokens: int = COMPARE_MAX_TOKENS,
    cancel: threading.Event | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AdapterComparison:
    """What the Training pane's ``E`` measures, for run *run_id* of *workspace*: its
    adapter against its base model on up to *samples* held-out labelled traces (the
    split the run was trained with, so none was trained on), kept as the run folder's
    eval.json unless *cancel* stopped it (then the partial result is returned, and
    nothing is written). Every problem a user can fix is a ValueError with one line."""
    from jarvis_tui.evals.heldout import read_split
    from jarvis_tui.evals.scorers import make_scorer
    from jarvis_tui.evals.sets import build_eval_set
    from jarvis_tui.paths import Workspace

    ws = Workspace(Path(workspace))
    run = find_run(ws.checkpoints_dir, run_id)
    if run.status == "running":
        raise ValueError(f"run {run_id} is still training: evaluate it when it has finished")
    problem = comparison_problem(run, ws.root)
    if problem:
        raise GeneratorError(problem)
    missing = missing_train_extra()
    if missing:
        raise ValueError(
            f"evaluating an adapter needs the train extra ({', '.join(missing)} not "
            "installed): pip install 'jarvis-tui[train]'"
        )
    if not ws.traces_db.is_file():
        raise ValueError(f"no trace store at {ws.traces_db} to build the held-out set from")
    from jarvis_tui.traces.store import TraceStore

    store = TraceStore(ws.traces_db)
    try:
        eval_set = build_eval_set(
            store, samples=samples, seed=seed, min_quality=min_quality,
            split=read_split(run.path),
        )  # fmt: skip
    finally:
        store.close()
    return compare_adapter(
        run, eval_set, make_scorer(scorer), workspace=ws.root, max_tokens=max_tokens,
        cancel=cancel, progress=progress,
    )  # fmt: skip


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


__all__ = [
    "COMPARE_MAX_TOKENS",
    "EVAL_FILE",
    "AdapterComparison",
    "compare_adapter",
    "compare_run",
    "comparison_problem",
    "find_run",
    "load_comparison",
    "missing_train_extra",
]
