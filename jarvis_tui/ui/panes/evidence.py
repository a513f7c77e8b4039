"""Deciding on evidence, for the Traces and Routing panes: the labelling queue's rows,
the LLM judge's scores beside the human ones, the export form's target check, and the
Routing matrix with judge scores folded in (the judge-agreement and copy modals are in
:mod:`jarvis_tui.ui.screens.evidence`).

Everything that reads the store runs in the panes' thread workers; judge scores are read
over a read-only connection (a read-only store is never written to), and only a judge
run writes them (``JudgeStore``, its own table).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from jarvis_tui.ui.text import one_line

if TYPE_CHECKING:  # imported where used: the optimize package brings numpy (first paint)
    from jarvis_tui.learning.optimize.types import SearchSpace

JUDGE_URL_ENV = "JARVIS_TUI_JUDGE_URL"
JUDGE_MODEL_ENV = "JARVIS_TUI_JUDGE_MODEL"
JUDGE_MAX = 2_000
"""Traces one judge run takes from the current filter (newest first)."""
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


def judge_scores(store: Any, trace_ids: Iterable[str]) -> dict[str, float]:
    """The newest judge score of each of *trace_ids* (any judge), read-only."""
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.learning.outcomes import read_connection

    ids = list(trace_ids)
    out: dict[str, float] = {}
    if not ids or store is None:
        return out
    with read_connection(store) as c:
        if not _has_judge_table(c.conn):
            return out
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = c.conn.execute(
                f"SELECT trace_id, score, MAX(created_at) FROM main.{JUDGE_TABLE}"
                f" WHERE trace_id IN ({','.join('?' * len(chunk))}) GROUP BY trace_id",
                chunk,
            ).fetchall()
            out.update((r[0], float(r[1])) for r in rows)
    return out


def has_judge_scores(store: Any) -> bool:
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.learning.outcomes import read_connection

    with read_connection(store) as c:
        if not _has_judge_table(c.conn):
            return False
        return c.conn.execute(f"SELECT 1 FROM main.{JUDGE_TABLE} LIMIT 1").fetchone() is not None


def _has_judge_table(conn: Any) -> bool:
    from jarvis_tui.evals.judge import JUDGE_TABLE

    return (
        conn.execute(
            "SELECT 1 FROM main.sqlite_master WHERE type='table' AND name=?", (JUDGE_TABLE,)
        ).fetchone()
        is not None
    )


def unlabelled_ids(store: Any, flt: Any, limit: int = JUDGE_MAX) -> list[str]:
    """Unlabelled traces of the filter *flt*, newest first, up to *limit*."""
    flt = replace(flt, labelled=False)
    ids: list[str] = []
    after = None
    while len(ids) < limit:
        page = store.page(flt, sort="time", descending=True, after=after,
                          limit=min(500, limit - len(ids)))  # fmt: skip
        ids.extend(r.trace_id for r in page.rows)
        if not page.has_more or not page.rows:
            break
        after = page.rows[-1].sort_key("time")
    return ids


# --------------------------------------------------------------------------- routing


def matrix_with_judge(store: Any, matrix: Any, *, agent: Optional[str] = None) -> tuple[Any, set]:
    """*matrix* with each cell's unrated traces that the judge scored counted as ratings
    (the newest judge score per trace); returns (matrix, cells it changed)."""
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.learning.outcomes import read_connection
    from jarvis_tui.learning.stats import mean_ci
    from jarvis_tui.learning.training.data import RoutingMatrix, TrainingDataMiner

    sums: dict[tuple[str, str], list[float]] = {}
    with read_connection(store) as c:
        if not _has_judge_table(c.conn):
            return matrix, set()
        where = "" if agent is None else " AND r.agent = ?"
        params = [] if agent is None else [agent]
        for qc, model, fb, n, s, sq in c.conn.execute(
            f"SELECT COALESCE(r.qclass, 'general'), r.model, r.feedback IS NOT NULL, COUNT(*),"
            f" SUM(COALESCE(r.feedback, j.score)),"
            f" SUM(COALESCE(r.feedback, j.score) * COALESCE(r.feedback, j.score))"
            f" FROM {c.schema}.jt_rows r JOIN main.traces t ON t.id = r.id"
            f" LEFT JOIN (SELECT trace_id, score, MAX(created_at) FROM main.{JUDGE_TABLE}"
            f" GROUP BY trace_id) j ON j.trace_id = t.trace_id"
            f" WHERE (r.feedback IS NOT NULL OR j.score IS NOT NULL){where}"
            f" GROUP BY 1, 2, 3",
            params,
        ):
            d = sums.setdefault((qc, model), [0, 0.0, 0.0, 0])
            d[0] += n
            d[1] += s or 0.0
            d[2] += sq or 0.0
            if not fb:
                d[3] += n
    out = RoutingMatrix(min_samples=matrix.min_samples, models=list(matrix.models),
                        classes=list(matrix.classes))  # fmt: skip
    changed: set[tuple[str, str]] = set()
    for key, cell in matrix.cells.items():
        got = sums.get(key)
        if got is not None and got[3]:
            cell = replace(cell, rated=mean_ci(int(got[0]), got[1], got[2]))
            changed.add(key)
        out.cells[key] = cell
    for qc in out.classes:
        out.recommendations[qc] = TrainingDataMiner._recommend(out, qc, out.min_samples)
    return out, changed


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
    root: Any, text: str, *, folder: bool
) -> tuple[Optional[Path], Optional[str], bool]:
    """Where a typed path points: (absolute path, why it is refused, inside the workspace).

    Relative paths are inside the workspace; a symbolic link or a folder is refused, as is
    an existing path for a dataset folder (the Trials pane's rule for its exports).
    """
    raw = text.strip()
    if not raw:
        return None, "required: a file path", False
    base = Path(root).resolve()
    try:
        path = Path(raw).expanduser()
    except RuntimeError:
        return None, f"{one_line(raw, 60)}: no such user", False
    if not path.is_absolute():
        path = base / path
    if path.is_symlink():
        return None, f"{one_line(str(path), 80)} is a symbolic link: give another path", False
    resolved = path.resolve()
    if resolved.is_dir():
        return None, f"{one_line(str(resolved), 80)} is a folder: give a file name", False
    if folder and resolved.exists():
        return (
            None,
            f"{one_line(str(resolved), 80)} exists: a dataset folder is never written over",
            False,
        )
    if not resolved.parent.is_dir():
        return None, f"the folder {one_line(str(resolved.parent), 80)} does not exist", False
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
    "has_judge_scores",
    "judge_endpoint_from_env",
    "judge_form_space",
    "judge_scores",
    "make_judge",
    "matrix_with_judge",
    "unlabelled_ids",
]
