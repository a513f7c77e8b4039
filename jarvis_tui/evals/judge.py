"""An LLM judge beside the human: judge scores kept apart from human labels.

The judge is the evaluation engine's :class:`~jarvis_tui.evals.scorers.JudgeScorer`
over any OpenAI-compatible endpoint. A trace has no reference answer, so it is judged
against its query with :data:`QUERY_RUBRIC` (:class:`QueryJudge`).

Scores live in their own table in ``traces.db``, ``jt_judge_scores`` (trace id, score,
reason, judge model, rubric hash, time), written in short transactions on a connection
of our own; OpenJarvis's tables and the human labels are never touched. A judge that
is down or answers garbage leaves the score *missing* (counted as an error), never 0.
Accepting a judge's score as the human label goes through the store's public
``set_label`` with source ``judge-accepted``, so it lands in the label history.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from jarvis_tui.core.fmt import plural
from jarvis_tui.evals.scorers import SCORE_CHARS, JudgeScorer, Score

JUDGE_TABLE = "jt_judge_scores"
JUDGE_SOURCE = "judge-accepted"
"""The label history's source for a judge score accepted as the human label."""
BINS = ("low", "mid", "high")
"""Confusion-table bins: low < 0.4 <= mid < 0.7 <= high."""
PROGRESS_SECONDS = 0.25
UNREACHABLE_STOP = 3
"""Connection-level failures in a row that stop a run whose endpoint had answered
before (one stops it when the endpoint never answered)."""
TIMEOUT_STOP = 2
"""Time-outs in a row, before the endpoint ever answered, that stop a run as an
unreachable endpoint does: an endpoint that hangs costs its time-out per item (60 s
× 500 traces), and one that never answered two requests is not going to answer."""

QUERY_RUBRIC = """You grade an AI assistant's answer to a user's request. There is no reference answer: judge whether the answer does what was asked.

Score from 0 to 1:
- 1.0: correct, complete and helpful for this request
- 0.7: right in substance, with minor omissions or extra noise
- 0.4: partly useful, or misses something important
- 0.0: wrong, off-topic, a refusal without reason, or empty

Answer with ONE fenced ```json block: {"score": <number 0..1>, "reason": "<one sentence>"}"""

_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {JUDGE_TABLE} (
    trace_id    TEXT NOT NULL,
    judge_model TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    score       REAL NOT NULL CHECK (score >= 0 AND score <= 1),
    reason      TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    PRIMARY KEY (trace_id, judge_model, prompt_hash)
)"""

ProgressFn = Callable[[int, int, int], None]
"""``progress(done, total, errors)``, about every 0.25 s from the judging thread."""


class JudgeUnreachable(Exception):
    """The judge's endpoint could not be reached at all (refused, DNS, TLS, reset):
    no request of the run can succeed, so the run stops instead of trying each trace."""


class JudgeTimedOut(Exception):
    """A request to the judge timed out: one slow item (its *score* is missing, with
    why), or an endpoint that hangs, when no request of the run was ever answered."""

    def __init__(self, message: str, score: Score) -> None:
        super().__init__(message)
        self.score = score
        """The item's score as a time-out scores it: missing, with the reason."""


class JudgeCancelled(Exception):
    """The request was abandoned because the user stopped the run (the backend's
    ``abort``): the item is neither scored nor an error."""


def _unreachable(exc: BaseException) -> bool:
    """A connection-level failure (the backend's kind "unreachable": refused, DNS,
    TLS, reset), not an answer from a reachable endpoint (HTTP status, bad JSON, a
    time-out, which may be one slow item)."""
    return getattr(exc, "kind", None) == "unreachable"


class QueryJudge(JudgeScorer):
    """The judge for traces: the answer against the query (no reference)."""

    def __init__(self, backend: Any, model: str, *, rubric: str = QUERY_RUBRIC) -> None:
        super().__init__(backend, model, rubric=rubric)

    def failed(self, exc: Exception) -> Score:
        """As :meth:`JudgeScorer.failed`, except that an endpoint that cannot be reached
        raises :class:`JudgeUnreachable` (one line) instead of scoring the item missing."""
        if getattr(exc, "kind", None) == "cancelled":
            raise JudgeCancelled(str(exc)) from exc
        if _unreachable(exc):
            raise JudgeUnreachable(str(exc)) from exc
        if getattr(exc, "kind", None) == "timeout":  # judge_traces decides what it means
            raise JudgeTimedOut(str(exc), super().failed(exc)) from exc
        return super().failed(exc)

    def abort(self) -> None:
        """Abandon the requests in flight now (a backend without ``abort`` finishes
        them: the run then stops after them)."""
        abort = getattr(self.backend, "abort", None)
        if callable(abort):
            abort()

    def prompt(self, query: str, reference: str, answer: str) -> str:
        if reference.strip():
            return super().prompt(query, reference, answer)
        return (
            f"## Request\n{query[:SCORE_CHARS]}\n\n## Assistant's answer\n{answer[:SCORE_CHARS]}\n"
        )


@dataclass(frozen=True)
class JudgeScore:
    trace_id: str
    score: float
    reason: str
    judge_model: str
    prompt_hash: str
    created_at: float


@dataclass
class JudgeRun:
    """What one run of the judge did."""

    total: int = 0
    scored: int = 0
    errors: int = 0
    skipped: int = 0
    """Already scored by this judge and rubric."""
    cancelled: bool = False
    first_error: Optional[str] = None
    stopped: Optional[str] = None
    """Why the run stopped before the end: the endpoint cannot be reached ("judge:
    cannot reach URL (connection refused): stopped after 1 of 500"); None otherwise."""


@dataclass(frozen=True)
class Agreement:
    """Judge against human on traces that have both."""

    n: int
    mean_abs_diff: Optional[float]
    pearson: Optional[float]
    confusion: Dict[str, Dict[str, int]] = field(default_factory=dict)
    """``confusion[human_bin][judge_bin]`` counts."""
    judge_accepted: int = 0
    """Traces whose label was accepted from the judge (source ``judge-accepted``): left
    out, since a copy of the judge's score agrees with it by construction."""

    def lines(self) -> List[str]:
        left_out = (
            f"{plural(self.judge_accepted, 'label')} accepted from the judge left out "
            "(a copy of its score agrees by construction)"
            if self.judge_accepted
            else ""
        )
        if self.n == 0:
            none = "no trace has both a human label and a judge score"
            return [none + (f" · {left_out}" if left_out else "")]
        r = "–" if self.pearson is None else f"{self.pearson:.2f}"
        out = [f"{plural(self.n, 'trace')} · mean |judge − human| {self.mean_abs_diff:.2f} · r {r}"]
        if left_out:
            out.append(left_out)
        out.append("human \\ judge  " + "  ".join(f"{b:>5}" for b in BINS))
        for h in BINS:
            out.append(f"{h:>13}  " + "  ".join(f"{self.confusion[h][j]:>5}" for j in BINS))
        return out


def bin_of(score: float) -> str:
    return "low" if score < 0.4 else "mid" if score < 0.7 else "high"


class JudgeStore:
    """``jt_judge_scores`` in the trace store's file, on our own connection."""

    def __init__(self, db_path: str | Path, *, busy_timeout_ms: int = 15_000) -> None:
        self.path = Path(db_path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout_ms / 1000, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        with self._tx() as c:
            c.execute(_SCHEMA)
            c.execute(f"CREATE INDEX IF NOT EXISTS {JUDGE_TABLE}_time ON {JUDGE_TABLE}(created_at)")

    @classmethod
    def for_store(cls, store: Any) -> JudgeStore:
        if getattr(store, "read_only", False):
            raise ValueError(f"{store.path} is read-only: judge scores cannot be saved there")
        return cls(store.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JudgeStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _tx(self) -> Any:
        store = self

        class _Tx:
            def __enter__(self) -> sqlite3.Connection:
                store._lock.acquire()
                store._conn.execute("BEGIN IMMEDIATE")
                return store._conn

            def __exit__(self, et: Any, *_: Any) -> None:
                try:
                    store._conn.execute("ROLLBACK" if et else "COMMIT")
                finally:
                    store._lock.release()

        return _Tx()

    def save(self, scores: Sequence[JudgeScore]) -> None:
        """One short transaction; a newer score of the same judge replaces the older."""
        rows = [
            (s.trace_id, s.judge_model, s.prompt_hash, float(s.score), s.reason, s.created_at)
            for s in scores
            if math.isfinite(s.score) and 0.0 <= s.score <= 1.0
        ]
        if not rows:
            return
        with self._tx() as c:
            c.executemany(f"INSERT OR REPLACE INTO {JUDGE_TABLE} VALUES (?,?,?,?,?,?)", rows)

    def scores(
        self,
        trace_ids: Optional[Iterable[str]] = None,
        *,
        judge_model: Optional[str] = None,
        prompt_hash: Optional[str] = None,
    ) -> Dict[str, JudgeScore]:
        """``{trace_id: newest score}`` (of one judge when named)."""
        where, params = ["1=1"], []
        if judge_model is not None:
            where.append("judge_model = ?")
            params.append(judge_model)
        if prompt_hash is not None:
            where.append("prompt_hash = ?")
            params.append(prompt_hash)
        sql = f"SELECT * FROM {JUDGE_TABLE} WHERE {' AND '.join(where)}"
        ids = None if trace_ids is None else list(trace_ids)
        out: Dict[str, JudgeScore] = {}
        with self._lock:
            if ids is None:
                rows = self._conn.execute(sql + " ORDER BY created_at", params).fetchall()
            else:
                rows = []
                for i in range(0, len(ids), 500):
                    chunk = ids[i : i + 500]
                    rows += self._conn.execute(
                        sql
                        + f" AND trace_id IN ({','.join('?' * len(chunk))}) ORDER BY created_at",
                        [*params, *chunk],
                    ).fetchall()
        for r in sorted(rows, key=lambda r: r[5]):
            out[r[0]] = JudgeScore(r[0], r[3], r[4], r[1], r[2], r[5])
        return out

    def get(self, trace_id: str, **kw: Any) -> Optional[JudgeScore]:
        return self.scores([trace_id], **kw).get(trace_id)


def judge_traces(
    store: Any,
    judge: JudgeScorer,
    *,
    trace_ids: Optional[Sequence[str]] = None,
    labelled: Optional[bool] = None,
    limit: Optional[int] = None,
    rescore: bool = False,
    concurrency: int = 4,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[threading.Event] = None,
    batch: int = 16,
) -> JudgeRun:
    """Judge traces of *store* (the given ids, else every trace, or only the
    labelled / unlabelled ones), up to *limit*; safe to run in a worker thread.

    Traces this judge (model and rubric hash) already scored are skipped unless
    *rescore*. When *cancel* is set, no request more is sent and the ones in flight
    are abandoned at once (``judge.abort()``, which closes their connections): what
    was scored is kept, an abandoned item counts neither as scored nor as an error.
    """
    run = JudgeRun()
    cancel = cancel or threading.Event()
    with JudgeStore.for_store(store) as js:
        done_ids = set() if rescore else set(
            js.scores(judge_model=judge.model, prompt_hash=judge.prompt_hash)
        )  # fmt: skip
        todo = list(_candidates(store, trace_ids, labelled, limit, done_ids, run))
        run.total = len(todo)
        pending: List[JudgeScore] = []
        last = 0.0

        def report(force: bool = False) -> None:
            nonlocal last
            now = time.monotonic()
            if progress and (force or now - last >= PROGRESS_SECONDS):
                last = now
                progress(run.scored + run.errors, run.total, run.errors)

        def one(t: Any) -> tuple[Any, Score]:
            return t, judge.score(t.query or "", "", t.result or "")

        reached = False  # the endpoint answered a request (any answer, a bad one too)
        unreachable: Optional[JudgeUnreachable] = None
        hangs: Optional[JudgeTimedOut] = None  # the endpoint timed out TIMEOUT_STOP times
        in_a_row = timeouts = 0
        aborted = False
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            it = iter(todo)
            futures: set[Future] = set()
            while True:
                # One request at a time until the endpoint has answered once: an endpoint
                # that refuses is found out by one request, not by `concurrency` of them.
                room = max(1, concurrency) if reached else 1
                while not cancel.is_set() and run.stopped is None and len(futures) < room:
                    t = next(it, None)
                    if t is None:
                        break
                    futures.add(pool.submit(one, t))
                if not futures:
                    break
                if cancel.is_set() and not aborted:  # the user stops: no waiting for them
                    aborted = True
                    abort = getattr(judge, "abort", None)
                    if callable(abort):
                        abort()
                finished, futures = wait(futures, timeout=0.1, return_when=FIRST_COMPLETED)
                for f in finished:
                    try:
                        t, s = f.result()
                    except JudgeCancelled:
                        continue
                    except JudgeUnreachable as exc:
                        run.errors += 1
                        run.first_error = run.first_error or str(exc)
                        in_a_row += 1
                        # Never reached, or reached and then gone: no request can succeed.
                        if unreachable is None and (not reached or in_a_row >= UNREACHABLE_STOP):
                            unreachable = exc
                            run.stopped = str(exc)  # no new request; the message is below
                        continue
                    except JudgeTimedOut as exc:
                        run.errors += 1
                        run.first_error = run.first_error or exc.score.error or str(exc)
                        timeouts += 1
                        # One at a time until an answer (see room): these are in a row.
                        if not reached and timeouts >= TIMEOUT_STOP and hangs is None:
                            hangs = exc
                            run.stopped = str(exc)
                        continue
                    if cancel.is_set() and s.value is None:  # cut short by the stop
                        continue
                    reached, in_a_row = True, 0
                    if s.value is None or not math.isfinite(s.value):
                        run.errors += 1
                        run.first_error = run.first_error or s.error or "no score"
                        continue
                    run.scored += 1
                    pending.append(JudgeScore(t.trace_id, float(s.value), s.reason,
                                              judge.model, judge.prompt_hash, time.time()))  # fmt: skip
                if len(pending) >= batch:
                    js.save(pending)
                    pending = []
                report()
            js.save(pending)
        if unreachable is not None:
            run.stopped = (
                f"judge: {_cannot_reach(unreachable)}: stopped after "
                f"{run.scored + run.errors:,} of {run.total:,}"
            )
        elif hangs is not None:
            run.stopped = (
                f"judge: {_no_answer(hangs, timeouts)}: stopped after "
                f"{run.scored + run.errors:,} of {run.total:,}"
            )
        run.cancelled = cancel.is_set() and run.scored + run.errors < run.total
        report(force=True)
    return run


def _no_answer(exc: JudgeTimedOut, n: int) -> str:
    """For people: "http://host:9/v1 does not answer (the first 2 requests timed out
    after 60 s each)" from "judge endpoint http://host:9/v1/chat/completions timed out
    after 60 s"."""
    m = re.search(r"endpoint (\S+) timed out after (.+)$", str(exc))
    if m is None:
        return f"{exc} ({n} requests in a row)"
    url = m.group(1).removesuffix("/chat/completions")
    return f"{url} does not answer (the first {n} requests timed out after {m.group(2)} each)"


def _cannot_reach(exc: JudgeUnreachable) -> str:
    """What the endpoint's error says, for people: "cannot reach http://host:9/v1
    (connection refused)" from "judge endpoint http://host:9/v1/chat/completions is unreachable (connection refused)"."""
    m = re.search(r"endpoint (\S+) is unreachable \((.*)\)", str(exc))
    if m is None:
        return str(exc)
    url = m.group(1).removesuffix("/chat/completions")
    return f"cannot reach {url} ({m.group(2)})"


def _candidates(store: Any, ids: Optional[Sequence[str]], labelled: Optional[bool],
                limit: Optional[int], done: set[str], run: JudgeRun) -> Iterable[Any]:  # fmt: skip
    count = 0
    if ids is not None:
        source: Iterable[Any] = (t for t in (store.get(i) for i in ids) if t is not None)
    else:
        source = store.iter_traces(with_steps=False)
    for t in source:
        if labelled is not None:
            has = t.feedback is not None or t.outcome is not None
            if has != labelled:
                continue
        if t.trace_id in done:
            run.skipped += 1
            continue
        yield t
        count += 1
        if limit is not None and count >= limit:
            return


def accept_judge_score(store: Any, trace_id: str, *, judge_model: Optional[str] = None,
                       prompt_hash: Optional[str] = None) -> Any:  # fmt: skip
    """Make the judge's newest score of *trace_id* its human label (source
    ``judge-accepted``); ``KeyError`` when the judge has not scored it."""
    with JudgeStore.for_store(store) as js:
        s = js.get(trace_id, judge_model=judge_model, prompt_hash=prompt_hash)
    if s is None:
        raise KeyError(f"no judge score for trace {trace_id}")
    # No note: set_label's note replaces the trace's own note, which stays the user's.
    return store.set_label(trace_id, feedback=round(s.score, 4), source=JUDGE_SOURCE)


def agreement(
    store: Any, *, judge_model: Optional[str] = None, prompt_hash: Optional[str] = None
) -> Agreement:
    """Judge vs human feedback where a trace has both: mean absolute difference, Pearson
    correlation (None when either side is constant) and a low/mid/high confusion table."""
    with JudgeStore.for_store(store) as js:
        judged = js.scores(judge_model=judge_model, prompt_hash=prompt_hash)
    pairs: List[tuple[float, float]] = []
    accepted = 0
    ids = list(judged)
    for i in range(0, len(ids), 500):
        for tid, fb, source in _human(store, ids[i : i + 500]):
            if fb is None:
                continue
            if source == JUDGE_SOURCE:  # the judge's own score, copied: not a human label
                accepted += 1
                continue
            pairs.append((float(fb), judged[tid].score))
    confusion = {h: {j: 0 for j in BINS} for h in BINS}
    if not pairs:
        return Agreement(0, None, None, confusion, accepted)
    for h, j in pairs:
        confusion[bin_of(h)][bin_of(j)] += 1
    n = len(pairs)
    mad = sum(abs(h - j) for h, j in pairs) / n
    mh = sum(h for h, _ in pairs) / n
    mj = sum(j for _, j in pairs) / n
    sh = sum((h - mh) ** 2 for h, _ in pairs)
    sj = sum((j - mj) ** 2 for _, j in pairs)
    cov = sum((h - mh) * (j - mj) for h, j in pairs)
    r = cov / math.sqrt(sh * sj) if sh > 0 and sj > 0 else None
    return Agreement(n, mad, r, confusion, accepted)


def _human(store: Any, ids: Sequence[str]) -> List[tuple[str, Optional[float], Optional[str]]]:
    """``(trace_id, feedback, source of the last feedback change)`` for *ids*."""
    conn = sqlite3.connect(f"file:{Path(store.path).resolve().as_posix()}?mode=ro", uri=True)
    marks = ",".join("?" * len(ids))
    try:
        try:
            return conn.execute(
                "SELECT t.trace_id, t.feedback, (SELECT h.source FROM jt_label_history h"
                " WHERE h.trace_id = t.trace_id AND h.field = 'feedback' ORDER BY h.id DESC"
                f" LIMIT 1) FROM traces t WHERE t.trace_id IN ({marks})",
                list(ids),
            ).fetchall()
        except sqlite3.OperationalError:  # no label history (never opened by us)
            rows = conn.execute(
                f"SELECT trace_id, feedback FROM traces WHERE trace_id IN ({marks})", list(ids)
            ).fetchall()
            return [(tid, fb, None) for tid, fb in rows]
    finally:
        conn.close()


__all__ = [
    "BINS",
    "JUDGE_SOURCE",
    "JUDGE_TABLE",
    "QUERY_RUBRIC",
    "Agreement",
    "JudgeRun",
    "JudgeScore",
    "JudgeStore",
    "JudgeTimedOut",
    "JudgeUnreachable",
    "QueryJudge",
    "accept_judge_score",
    "agreement",
    "bin_of",
    "judge_traces",
]
