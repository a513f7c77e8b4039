"""Deciding on evidence, for the Traces and Routing panes: the labelling queue's rows,
the LLM judge's scores beside the human ones, the export forms' target check (the
Trials pane's too), and the Routing matrix with judge scores folded in (the
judge-agreement and copy modals are in :mod:`jarvis_tui.ui.screens.evidence`).

The reads of judge scores (and the matrix with them folded in) are the engine's,
:mod:`jarvis_tui.evals.judge_scores`; the panes call them from their thread workers.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from jarvis_tui.ui.text import one_line, short_path

if TYPE_CHECKING:  # imported where used: the optimize package brings numpy (first paint)
    from jarvis_tui.learning.optimize.types import SearchSpace

JUDGE_URL_ENV = "JARVIS_TUI_JUDGE_URL"
JUDGE_MODEL_ENV = "JARVIS_TUI_JUDGE_MODEL"
QUEUE_ROWS = 50
"""Queued traces the table shows at a time (the queue is recomputed after each label)."""

# --------------------------------------------------------------------------- judge


def judge_endpoint_from_env() -> Optional[tuple[str, str]]:
    """(url, model) from JARVIS_TUI_JUDGE_URL / JARVIS_TUI_JUDGE_MODEL, both set."""
    url = (os.environ.get(JUDGE_URL_ENV) or "").strip()
    model = (os.environ.get(JUDGE_MODEL_ENV) or "").strip()
    return (url, model) if url and model else None


def judge_form_space() -> SearchSpace:
    from jarvis_tui.learning.optimize.types import SearchDimension, SearchSpace

    return SearchSpace(
        dimensions=[
            SearchDimension("url", "text", description="OpenAI-compatible base URL, …/v1"),
            SearchDimension("model", "text", description="the judge model's name"),
        ]
    )


def make_judge(url: str, model: str, *, timeout: float = 60.0) -> Any:
    from jarvis_tui.evals.judge import QueryJudge
    from jarvis_tui.learning.optimize.backends import ENV_KEY, OpenAICompatibleBackend

    key = (os.environ.get(ENV_KEY) or os.environ.get("OPENAI_API_KEY") or "").strip() or None
    backend = OpenAICompatibleBackend(url, api_key=key, timeout=timeout, retries=0, role="judge")
    return QueryJudge(backend, model)


# --------------------------------------------------------------------------- export


def export_space() -> SearchSpace:
    from jarvis_tui.learning.optimize.types import SearchDimension, SearchSpace

    return SearchSpace(
        dimensions=[
            SearchDimension("format", "categorical", ["jsonl", "csv", "parquet", "hf"],
                            description="hf: SFT pairs as a Hugging Face dataset folder"),
            SearchDimension("with judge", "categorical", ["no", "yes"],
                            description="add the judge's score (not for hf)"),
            SearchDimension(
                "path", "text",
                description="relative: inside the workspace; elsewhere asks first",
            ),
        ]
    )  # fmt: skip


def export_target(
    root: Any, text: str, *, folder: bool = False
) -> tuple[Optional[Path], Optional[str], bool]:
    """Where a typed path points: (absolute path, why it is refused, inside the workspace).

    The one rule of every export form (Traces' labels, Trials' best recipe), the CLI's
    (:func:`jarvis_tui.paths.check_export_path`): a relative path is inside the
    workspace; a symbolic link, a folder or a path under something that is not a folder
    is refused; a missing folder inside the workspace is made by the write (its own
    folders, ``recipes/`` or ``exports/``: the Trials default needs it), one elsewhere
    is refused (most likely a typo: nothing is created outside). *folder* (a dataset
    folder): an existing path is refused too, never written over. The paths in a
    refusal are cut in the middle so its reason stays on screen.
    """
    from jarvis_tui.paths import ExportPathError, check_export_path

    raw = text.strip()
    if not raw:
        return None, "required: a file path", False
    base = Path(root).resolve()
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # ~user that does not exist
        return None, f"{one_line(raw, 60)}: no such user", False
    if not path.is_absolute():
        path = base / path
    try:
        check_export_path(path, workspace=base)
    except ExportPathError as exc:
        return None, one_line(f"{short_path(exc.path, 60)} {exc.reason}", 200), False
    resolved = path.resolve()
    if folder and resolved.exists():
        why = f"{short_path(resolved, 60)} exists: a dataset folder is never written over"
        return None, why, False
    return resolved, None, resolved.is_relative_to(base)


def copy_text(trace: Any, what: str) -> str:
    """The text *what* (one of COPY_CHOICES) of *trace*."""
    if what == "id":
        return trace.trace_id
    if what == "query":
        return trace.query or ""
    if what == "result":
        return trace.result or ""
    return json.dumps(asdict(trace), ensure_ascii=False, default=str, indent=2)


__all__ = [
    "copy_text",
    "export_space",
    "export_target",
    "judge_endpoint_from_env",
    "judge_form_space",
    "make_judge",
]
