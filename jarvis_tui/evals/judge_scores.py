"""The LLM judge's scores as evidence: read beside the human labels (the Traces pane's
judge column, the labelling queue) and folded into the routing matrix (the Routing
pane's ``J``).

Judge scores live in their own table (``JUDGE_TABLE``, written only by a judge run
through ``JudgeStore``); everything here reads over a read-only connection
(:func:`jarvis_tui.traces.read_conn.read_connection`), so a read-only trace store is
never written to, and a workspace without the table reads as "no judge scores".
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Optional

JUDGE_MAX = 2_000
"""Traces one judge run takes from the current filter (newest first)."""


def judge_scores(store: Any, trace_ids: Iterable[str]) -> dict[str, float]:
    """The newest judge score of each of *trace_ids* (any judge), read-only."""
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.traces.read_conn import read_connection

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


def judge_verdict(store: Any, trace_id: str) -> Optional[tuple[str, float, str]]:
    """The newest judge score of *trace_id* (any judge) as (judge model, score, reason),
    read-only; None when no judge scored it."""
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.traces.read_conn import read_connection

    if store is None:
        return None
    with read_connection(store) as c:
        if not _has_judge_table(c.conn):
            return None
        row = c.conn.execute(
            f"SELECT judge_model, score, reason FROM main.{JUDGE_TABLE}"
            " WHERE trace_id = ? ORDER BY created_at DESC LIMIT 1",
            (trace_id,),
        ).fetchone()
    return None if row is None else (str(row[0]), float(row[1]), str(row[2] or ""))


def has_judge_scores(store: Any) -> bool:
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.traces.read_conn import read_connection

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


def judge_coverage(store: Any, *, agent: Optional[str] = None) -> tuple[int, int]:
    """(judged traces without a human score, judged traces with one) among the traces the
    routing matrix counts: what ``J`` adds as ratings, and where the human label wins."""
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.traces.read_conn import read_connection

    with read_connection(store) as c:
        if not _has_judge_table(c.conn):
            return 0, 0
        where = "" if agent is None else " WHERE r.agent = ?"
        row = c.conn.execute(
            f"SELECT SUM(r.feedback IS NULL), SUM(r.feedback IS NOT NULL)"
            f" FROM (SELECT DISTINCT trace_id FROM main.{JUDGE_TABLE}) j"
            f" JOIN main.traces t ON t.trace_id = j.trace_id"
            f" JOIN {c.schema}.jt_rows r ON r.id = t.id{where}",
            [] if agent is None else [agent],
        ).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def matrix_with_judge(store: Any, matrix: Any, *, agent: Optional[str] = None) -> tuple[Any, set]:
    """*matrix* with each cell's unrated traces that the judge scored counted as ratings
    (the newest judge score per trace); returns (matrix, cells it changed)."""
    from jarvis_tui.evals.judge import JUDGE_TABLE
    from jarvis_tui.learning.stats import mean_ci
    from jarvis_tui.learning.training.data import RoutingMatrix, TrainingDataMiner
    from jarvis_tui.traces.read_conn import read_connection

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
        out.recommendations[qc] = TrainingDataMiner.recommend(out, qc, out.min_samples)
    return out, changed


__all__ = [
    "JUDGE_MAX",
    "has_judge_scores",
    "judge_coverage",
    "judge_scores",
    "judge_verdict",
    "matrix_with_judge",
    "unlabelled_ids",
]
