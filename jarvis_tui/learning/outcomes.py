"""What each version of an agent's config produced: outcomes per config version.

Every trace of an agent is attributed to the version of the agent's config that was
current when the trace *started*:

* a version's start is its write time in the version log (``created`` in
  :meth:`VersionStore.list_versions`);
* a version changed outside jarvis-tui (cause ``external``) has no write time of its
  own: the current file is placed at its modification time, an archived one at the
  earliest time it is known to have existed (its log line, written when the next write
  found it, or its archive's file time), and both are marked ``approximate``;
* start times must not go back: a version logged earlier than the one before it (a
  clock that went back, a log edited by hand) starts where the one before it starts,
  and is marked ``approximate`` with the reason; so is a current file whose
  modification time disagrees with its log line by more than a minute (the log wins);
* a trace whose metadata names its config (``config_version``: the version number, or
  ``config_sha256`` / ``config_hash``: the config file's SHA-256, a prefix of at least 8
  hex digits) is counted under that version instead of the time-based one;
* traces that started before the first version are reported apart (:attr:`prior`).

Per version: traces served, rated, mean feedback with its 95% interval (the Routing
matrix's :func:`jarvis_tui.learning.stats.mean_ci`), success / failure rates, mean
latency and tokens, the measured eval score where ``jarvis-tui eval`` saved a result
naming the agent and version (see :func:`eval_scores`), and a feedback-over-time series
for a sparkline.

No Python loop over traces (``bench/bench_outcomes.py``): the trace store keeps
per-(agent, hour) totals (``jt_hour``, by trigger); an hour that no version start and
no series boundary cuts is added whole, and only the rows of the cut hours are grouped
in SQL, the version of each row a binary search over the version starts written as a
nested ``CASE`` (six comparisons for 50 versions). A store without hour totals gets the
same answer from one grouped query over every row of the agent.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from jarvis_tui.core.fmt import signed
from jarvis_tui.learning.stats import Z95, MeanCI, mean_ci
from jarvis_tui.traces.read_conn import read_connection  # re-exported (issue 15)

MIN_RATED = 30
"""Ratings each version needs before a comparison gives a verdict (the Routing matrix's
evidence minimum)."""
SERIES_BUCKETS = 48
"""Points of the feedback-over-time series."""
DISAGREE_SECONDS = 60.0
"""A current file's modification time this far from its log line is reported."""
METADATA_VERSION_KEYS = ("config_version", "agent_config_version")
METADATA_SHA_KEYS = ("config_sha256", "config_hash", "agent_config_sha256")
_HEX = re.compile(r"[0-9a-fA-F]{8,64}")
_VAR_FLOOR = 0.1**2 / 12  # as stats.mean_ci: ten equal ratings do not claim certainty


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class VersionSpan:
    """When one version was current: from :attr:`start` to the next version's start."""

    version: int
    cause: str
    note: str = ""
    summary: str = ""
    sha256: Optional[str] = None
    start: Optional[float] = None
    """Seconds since the epoch; None: unknown (then it serves no trace by time)."""
    approximate: bool = False
    why_approximate: str = ""
    current: bool = False
    lost: bool = False
    """A version the log recorded whose file was overwritten outside jarvis-tui before it
    was archived (:attr:`version` is None: it has no number any more)."""


@dataclass(frozen=True)
class EvalScore:
    """A measured evaluation (``jarvis-tui eval``) of one version."""

    accuracy: float
    ci_low: float
    ci_high: float
    samples: int
    path: str
    created_at: Optional[float] = None


@dataclass(frozen=True)
class VersionOutcome:
    """What the traces served under one version say."""

    version: Optional[int]
    """None for the traces that started before the first version."""
    cause: str
    note: str
    summary: str
    written_at: Optional[float]
    approximate: bool
    why_approximate: str
    current: bool
    traces: int
    rated: int
    feedback: MeanCI
    feedback_sq_sum: float
    success: int
    failure: int
    mean_latency_seconds: Optional[float]
    mean_tokens: Optional[float]
    first_trace_at: Optional[float] = None
    last_trace_at: Optional[float] = None
    eval: Optional[EvalScore] = None
    lost: bool = False
    """Overwritten outside jarvis-tui before it was archived (see :class:`VersionSpan`)."""

    @property
    def mean_feedback(self) -> Optional[float]:
        return None if self.rated == 0 else self.feedback.mean

    @property
    def success_rate(self) -> Optional[float]:
        known = self.success + self.failure
        return self.success / known if known else None

    @property
    def failure_rate(self) -> Optional[float]:
        known = self.success + self.failure
        return self.failure / known if known else None

    @property
    def variance(self) -> Optional[float]:
        """Sample variance of the ratings (floored like the intervals); None below 2."""
        n = self.rated
        if n < 2:
            return None
        m = self.feedback.mean
        return max((self.feedback_sq_sum - n * m * m) / (n - 1), 0.0, _VAR_FLOOR)

    @property
    def label(self) -> str:
        if self.lost:
            return "lost"
        return "before v1" if self.version is None else f"v{self.version}"

    def to_dict(self) -> Dict[str, Any]:
        """The ``jarvis-tui versions --json`` object (plain JSON types)."""
        rated = self.rated > 0
        return {
            "version": self.version,
            "cause": self.cause,
            "note": self.note,
            "summary": self.summary,
            "written_at": self.written_at,
            "approximate": self.approximate,
            "why_approximate": self.why_approximate,
            "current": self.current,
            "lost": self.lost,
            "traces": self.traces,
            "rated": self.rated,
            "mean_feedback": self.feedback.mean if rated else None,
            "ci_low": self.feedback.low if rated else None,
            "ci_high": self.feedback.high if rated else None,
            "success": self.success,
            "failure": self.failure,
            "success_rate": self.success_rate,
            "failure_rate": self.failure_rate,
            "mean_latency_seconds": self.mean_latency_seconds,
            "mean_tokens": self.mean_tokens,
            "first_trace_at": self.first_trace_at,
            "last_trace_at": self.last_trace_at,
            "eval": asdict(self.eval) if self.eval else None,
        }


@dataclass(frozen=True)
class SeriesPoint:
    """One bucket of the feedback-over-time series."""

    start: float
    end: float
    traces: int
    rated: int
    mean_feedback: Optional[float]
    version: Optional[int]
    """The version that served most of the bucket's traces."""


@dataclass
class VersionOutcomes:
    """Outcomes of every version of one agent, oldest first."""

    agent: str
    versions: List[VersionOutcome] = field(default_factory=list)
    prior: Optional[VersionOutcome] = None
    """Traces that started before the first version (None when there are none)."""
    series: List[SeriesPoint] = field(default_factory=list)
    total_traces: int = 0

    def get(self, version: int) -> VersionOutcome:
        for v in self.versions:
            if v.version == version:
                return v
        known = ", ".join(str(v.version) for v in self.versions if v.version) or "none"
        raise ValueError(f"agent {self.agent!r} has no version {version} (versions: {known})")

    def sparkline(self, width: Optional[int] = None) -> str:
        """The series as block characters (a space where nothing was rated)."""
        blocks = "▁▂▃▄▅▆▇█"
        points = self.series
        if width is not None and width < len(points):
            step = len(points) / width
            points = [points[int(i * step)] for i in range(width)]
        out = []
        for p in points:
            if p.mean_feedback is None:
                out.append(" ")
            else:
                out.append(blocks[min(int(p.mean_feedback * len(blocks)), len(blocks) - 1)])
        return "".join(out)


@dataclass(frozen=True)
class VersionComparison:
    """Mean feedback of version *b* minus version *a*, with a Welch 95% interval."""

    a: VersionOutcome
    b: VersionOutcome
    difference: Optional[float]
    half_width: Optional[float]
    enough: bool
    verdict: str

    @property
    def low(self) -> Optional[float]:
        return None if self.difference is None else self.difference - (self.half_width or 0.0)

    @property
    def high(self) -> Optional[float]:
        return None if self.difference is None else self.difference + (self.half_width or 0.0)


# ----------------------------------------------------------------------------- spans


def version_spans(version_store: Any, agent: str) -> List[VersionSpan]:
    """When each version of *agent* was current (see the module docstring's rules)."""
    spans: List[VersionSpan] = []
    prev: Optional[float] = None
    listed = version_store.list_versions(agent)
    for v in listed:
        cause = str(v.get("cause") or "external")
        created = _finite(v.get("created"))
        modified = _finite(v.get("modified")) or None
        why = ""
        start: Optional[float]
        if cause == "external" or created is None:
            if v.get("current"):
                start = modified
                why = "changed outside jarvis-tui: placed at the file's modification time"
                lost = _lost_entry(version_store, agent, v, before=start)
                if lost is not None:
                    spans.append(lost)
                    prev = max(prev or lost.start or 0.0, lost.start or 0.0)
            else:
                known = [t for t in (created, modified) if t is not None]
                start = min(known) if known else None
                why = (
                    "changed outside jarvis-tui: placed at the file's modification time"
                    if start is not None and start == modified and created is not None
                    and modified < created
                    else "changed outside jarvis-tui: its edit time is unknown, placed when "
                    "it was first seen"
                )  # fmt: skip
                # An archived hand edit: the version it overwrote stays lost, as it was
                # while the edit was current (its log line and its traces).
                lost = _lost_entry(version_store, agent, v, before=start)
                if lost is not None:
                    spans.append(lost)
                    prev = max(prev or lost.start or 0.0, lost.start or 0.0)
        else:
            start = created
            if v.get("current") and modified is not None:
                if abs(modified - created) > DISAGREE_SECONDS:
                    why = (
                        f"the log says it was written at {_iso(created)}, the file's time "
                        f"is {_iso(modified)}; the log is used"
                    )
        if start is not None and prev is not None and start < prev:
            why = (
                (why + "; " if why else "")
                + f"logged at {_iso(start)}, before the version it replaced "
                f"({_iso(prev)}): starts with it"
            )
            start = prev
        if start is not None:
            prev = start
        spans.append(
            VersionSpan(
                version=int(v["version"]),
                cause=cause,
                note=str(v.get("note") or ""),
                summary=str(v.get("summary") or ""),
                sha256=v.get("sha256") if isinstance(v.get("sha256"), str) else None,
                start=start,
                approximate=bool(why),
                why_approximate=why,
                current=bool(v.get("current")),
            )
        )
    return spans


def _lost_entry(
    version_store: Any, agent: str, current: Dict[str, Any], *, before: Optional[float]
) -> Optional[VersionSpan]:
    """The logged version a hand edit of the current file overwrote, if the log has one.

    The version store lists versions by their files; the one a hand edit replaced has
    none, but its line in the history log (``.history/<agent>.log.jsonl``) says when it
    was written: its traces are counted under it, not under the version before.
    """
    from jarvis_tui.configs.versions import agent_file_stem

    seq, sha = current.get("seq"), current.get("sha256")
    history = getattr(version_store, "history_dir", None)
    if history is None or not isinstance(seq, int):
        return None
    path = Path(history) / f"{agent_file_stem(agent)}.log.jsonl"
    try:
        if path.is_symlink() or not path.is_file():
            return None
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(size - (1 << 20), 0))
            lines = fh.read().splitlines()
    except OSError:
        return None
    found = None
    for line in lines:
        try:
            e = json.loads(line)
        except (ValueError, RecursionError):
            continue
        ts = _finite(e.get("ts")) if isinstance(e, dict) else None
        if ts is None or e.get("seq") != seq or e.get("sha256") == sha:
            continue
        if before is not None and ts > before:
            continue
        found = e
    if found is None:
        return None
    return VersionSpan(
        version=None,  # type: ignore[arg-type]
        cause=str(found.get("cause") or "external"),
        note=str(found.get("note") or ""),
        summary=str(found.get("summary") or ""),
        sha256=found.get("sha256") if isinstance(found.get("sha256"), str) else None,
        start=_finite(found.get("ts")),
        approximate=True,
        why_approximate="overwritten outside jarvis-tui before it was archived: ends at "
        "the edit's file time",
        lost=True,
    )


def _finite(x: Any) -> Optional[float]:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) and x > 0 else None


def _iso(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + " UTC"


# ----------------------------------------------------------------------------- SQL


def _case_sql(starts: Sequence[float], col: str = "r.started_at") -> tuple[str, List[float]]:
    """SQL giving the index of the last start <= *col* (-1 before the first): a binary
    search written as nested CASEs, each start bound once."""
    params: List[float] = []

    def build(lo: int, hi: int) -> str:  # the answer lies in [lo, hi]
        if lo == hi:
            return str(lo)
        mid = (lo + hi + 1) // 2
        params.append(starts[mid])
        # pre-order, as the placeholders appear: this node's, the right's, the left's
        right = build(mid, hi)
        left = build(lo, mid - 1)
        return f"CASE WHEN {col} >= ? THEN {right} ELSE {left} END"

    return build(-1, len(starts) - 1), params


def _starts_for(spans: Sequence[VersionSpan]) -> tuple[List[float], List[int]]:
    """Sorted starts and, for each, the index of its span (spans with no start serve
    no trace by time)."""
    starts, owners = [], []
    for i, s in enumerate(spans):
        if s.start is not None:
            starts.append(s.start)
            owners.append(i)
    return starts, owners


def _metadata_overrides(conn: sqlite3.Connection, schema: str, agent: str) -> List[tuple[Any, ...]]:
    """Rows of the agent's traces whose metadata names their config.

    ``instr`` first: only metadata that mentions ``config_`` is parsed as JSON.
    """
    paths = [f"'$.{k}'" for k in (*METADATA_VERSION_KEYS, *METADATA_SHA_KEYS)]
    sql = (
        "SELECT r.id, r.started_at, r.feedback, r.outcome, r.latency, r.tokens, "
        + ", ".join(f"json_extract(t.metadata, {p})" for p in paths)
        + f" FROM {schema}.jt_rows r JOIN main.traces t ON t.id = r.id"
        " WHERE r.agent = ? AND instr(t.metadata, 'config_') > 0 AND json_valid(t.metadata)"
    )
    return conn.execute(sql, (agent,)).fetchall()


_override_cache: Dict[tuple[str, str], tuple[Any, List[tuple[Any, ...]]]] = {}
_override_lock = threading.Lock()


def _cached_overrides(store: Any, conn: sqlite3.Connection, schema: str, agent: str) -> List:
    """The metadata scan reads every trace of the agent: done once per store change."""
    token = store.change_token() if hasattr(store, "change_token") else None
    key = (str(getattr(store, "path", "")), agent)
    with _override_lock:
        hit = _override_cache.get(key)
    if token is not None and hit is not None and hit[0] == token:
        return hit[1]
    rows = _metadata_overrides(conn, schema, agent)
    with _override_lock:
        _override_cache[key] = (token, rows)
    return rows


def _match_override(row: tuple[Any, ...], spans: Sequence[VersionSpan]) -> Optional[int]:
    """Index of the span a trace's metadata names (None: names none we know)."""
    nv = len(METADATA_VERSION_KEYS)
    by_number = {s.version: i for i, s in enumerate(spans) if s.version is not None}
    for value in row[6 : 6 + nv]:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value in by_number:
            return by_number[value]
    for value in row[6 + nv :]:
        if isinstance(value, str) and _HEX.fullmatch(value.strip()):
            prefix = value.strip().lower()
            hits = [i for i, s in enumerate(spans) if s.sha256 and s.sha256.startswith(prefix)]
            if hits:
                return hits[-1]  # a rolled-back version has the same bytes: the newest
    return None


# ----------------------------------------------------------------------------- outcomes


def _empty() -> List[float]:
    # n, rated, fb, fb2, latency, tokens, success, failure, first, last
    return [0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, math.inf, -math.inf]


def _add(acc: List[float], row: Sequence[Any]) -> None:
    for i in range(8):
        acc[i] += row[i] or 0
    if row[8] is not None:
        acc[8] = min(acc[8], row[8])
    if row[9] is not None:
        acc[9] = max(acc[9], row[9])


def _sub_trace(acc: List[float], started: float, fb: Any, outcome: Any, lat: Any, tok: Any,
               sign: int) -> None:  # fmt: skip
    acc[0] += sign
    if fb is not None:
        acc[1] += sign
        acc[2] += sign * fb
        acc[3] += sign * fb * fb
    acc[4] += sign * (lat or 0.0)
    acc[5] += sign * (tok or 0)
    acc[6] += sign * (outcome == "success")
    acc[7] += sign * (outcome == "failure")
    if sign > 0:
        acc[8] = min(acc[8], started)
        acc[9] = max(acc[9], started)


USE_HOUR_TOTALS = True
"""Read the per-(agent, hour) totals the trace store keeps (``jt_hour``) where it has
them; False: always the direct grouped query (the tests compare the two)."""
HOUR = 3600.0  # jt_hour's width (traces.store.BUCKET_SECONDS)
MAX_SCANNED_HOURS = 5_000
"""Above this many boundary hours the direct query is cheaper."""


def _cell_sql(starts: Sequence[float], buckets: int) -> tuple[str, str, List[float]]:
    """SQL for (version index, series bucket) of a row ``r`` and the parameters: the
    CASE's starts, then ``lo`` and ``width``."""
    case, params = _case_sql(starts)
    b = f"min(max(CAST((r.started_at - ?) / ? AS INTEGER), 0), {buckets - 1})"
    return case, b, params


_SUMS = (
    "count(*), count(r.feedback), total(r.feedback), total(r.feedback * r.feedback),"
    " total(r.latency), total(r.tokens), total(r.outcome = 'success'),"
    " total(r.outcome = 'failure'), min(r.started_at), max(r.started_at)"
)


def _rows_direct(
    conn: sqlite3.Connection, s: str, agent: str, starts: Sequence[float], lo: float,
    width: float, buckets: int,
) -> List[tuple[Any, ...]]:  # fmt: skip
    """``(v, b, n, rated, fb, fb², latency, tokens, success, failure, first, last)`` per
    version index and series bucket: one grouped query over every row of the agent."""
    case, b, params = _cell_sql(starts, buckets)
    sql = (
        f"SELECT {case} AS v, {b} AS b, {_SUMS} FROM {s}.jt_rows r WHERE r.agent = ? GROUP BY v, b"
    )
    return conn.execute(sql, [*params, lo, width, agent]).fetchall()


def _hours_kept(store: Any, conn: sqlite3.Connection, s: str) -> bool:
    if not conn.execute(
        f"SELECT 1 FROM {s}.sqlite_master WHERE type = 'table' AND name = 'jt_hour'"
    ).fetchone():
        return False
    return not conn.execute(f"SELECT 1 FROM {s}.jt_meta WHERE key = 'hours_from'").fetchone()


def _rows_by_hours(
    conn: sqlite3.Connection, s: str, agent: str, starts: Sequence[float], lo: float,
    width: float, buckets: int,
) -> Optional[List[tuple[Any, ...]]]:  # fmt: skip
    """What :func:`_rows_direct` returns, from the hour totals: an hour that no version
    start and no series boundary cuts lies in one (version, bucket) cell and is added
    whole; the rows of the cut hours (and of each version's first and last hour, for
    its first / last trace time) are grouped as the direct query does. None: too many
    cut hours (the direct query then)."""
    hours = conn.execute(
        f"SELECT hour, n, rated, fb, fb_sq, latency, tokens, success, failure"
        f" FROM {s}.jt_hour WHERE agent = ? AND n > 0 ORDER BY hour",
        (agent,),
    ).fetchall()
    cuts = sorted([*starts, *(lo + k * width for k in range(1, buckets))])
    scan: set[int] = set()
    clean: Dict[int, tuple[int, int]] = {}
    for row in hours:
        h = row[0]
        a, z = h * HOUR, (h + 1) * HOUR
        # Cut: a boundary strictly inside (one at the hour's start leaves it whole).
        # (A row within ~0.2 µs below an hour boundary can round into that hour's
        # bucket; the approximation is that tiny.)
        i = bisect_right(cuts, a)
        if i < len(cuts) and cuts[i] < z:
            scan.add(h)
            continue
        mid = a + HOUR / 2
        v = bisect_right(starts, mid) - 1
        b = min(max(int((mid - lo) / width), 0), buckets - 1)
        clean[h] = (v, b)
    edges: Dict[int, List[int]] = {}  # version index -> [first hour, last hour]
    for row in hours:
        h = row[0]
        if h not in clean:
            continue
        e = edges.setdefault(clean[h][0], [h, h])
        e[0], e[1] = min(e[0], h), max(e[1], h)
    if len(scan) > MAX_SCANNED_HOURS:
        return None
    out: Dict[tuple[int, int], List[Any]] = {}
    for row in hours:
        cell = clean.get(row[0])
        if cell is None or row[0] in scan:
            continue
        acc = out.setdefault(cell, [0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, None, None])
        n, rated, fb, fb_sq, lat, tok, succ, fail = row[1:]
        for k, x in enumerate((n, rated, fb, fb_sq, lat, tok, succ, fail)):
            acc[k] += x
    rows: List[tuple[Any, ...]] = [(v, b, *acc) for (v, b), acc in out.items()]
    if scan:
        case, b_sql, params = _cell_sql(starts, buckets)
        ordered = sorted(scan)
        values = ",".join("(?)" for _ in ordered)
        bucket = f"(CAST(r.started_at / {HOUR} AS INTEGER) - (r.started_at < 0))"
        sql = (
            f"WITH d(h) AS (VALUES {values})"
            f" SELECT {case} AS v, {b_sql} AS b, {_SUMS}"
            # CROSS JOIN keeps d outside: one time-index range per hour (the planner
            # otherwise scans jt_rows once for a long list of hours).
            f" FROM d CROSS JOIN {s}.jt_rows r ON r.started_at >= d.h * {HOUR} - 1.0"
            f" AND r.started_at < (d.h + 1) * {HOUR} + 1.0 AND {bucket} = d.h"
            " WHERE +r.agent = ? GROUP BY v, b"
        )
        rows += conn.execute(sql, [*ordered, *params, lo, width, agent]).fetchall()
    # Each version's first and last trace time where they lie in whole hours: one
    # index probe each (the time index stops at the first row of the agent).
    for v, (first, last) in edges.items():
        b_first, b_last = clean[first][1], clean[last][1]
        t_min = conn.execute(
            f"SELECT min(started_at) FROM {s}.jt_rows WHERE started_at >= ? AND"
            " started_at < ? AND +agent = ?",
            (first * HOUR - 1.0, (first + 1) * HOUR + 1.0, agent),
        ).fetchone()[0]
        t_max = conn.execute(
            f"SELECT max(started_at) FROM {s}.jt_rows WHERE started_at >= ? AND"
            " started_at < ? AND +agent = ?",
            (last * HOUR - 1.0, (last + 1) * HOUR + 1.0, agent),
        ).fetchone()[0]
        rows.append((v, b_first, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, t_min, t_min))
        rows.append((v, b_last, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, t_max, t_max))
    return rows


def outcomes_for_spans(
    store: Any,
    agent: str,
    spans: Sequence[VersionSpan],
    *,
    buckets: int = SERIES_BUCKETS,
    use_metadata: bool = True,
    evals: Optional[Dict[int, EvalScore]] = None,
) -> VersionOutcomes:
    """Outcomes of *agent*'s traces over *spans* (oldest first): from the hour totals
    the trace store keeps, rows read only in the hours a version start or a series
    boundary cuts (see :func:`_rows_by_hours`); one grouped query over every row of
    the agent where the store has no hour totals."""
    starts, owners = _starts_for(spans)
    with read_connection(store) as c:
        conn, s = c.conn, c.schema
        lo, hi = conn.execute(
            # Two subqueries: each one index probe (min and max in one SELECT scan).
            f"SELECT (SELECT min(started_at) FROM {s}.jt_rows),"
            f" (SELECT max(started_at) FROM {s}.jt_rows)"
        ).fetchone()
        lo = float(lo or 0.0)
        width = max((float(hi or 0.0) - lo) / max(buckets, 1), 1e-9)
        if width >= HOUR:
            # Series buckets of whole hours: their boundaries cut no hour of the totals.
            lo = math.floor(lo / HOUR) * HOUR
            width = math.ceil((float(hi) - lo) / max(buckets, 1) / HOUR + 1e-9) * HOUR
        rows = None
        if USE_HOUR_TOTALS and _hours_kept(store, conn, s):
            rows = _rows_by_hours(conn, s, agent, starts, lo, width, buckets)
        if rows is None:
            rows = _rows_direct(conn, s, agent, starts, lo, width, buckets)
        overrides = _cached_overrides(store, conn, s, agent) if use_metadata else []

    per: Dict[int, List[float]] = {}  # span index (-1: prior) -> sums
    grid: Dict[tuple[int, int], List[float]] = {}  # (bucket, span index) -> sums
    for v, b, *sums in rows:
        idx = owners[v] if v >= 0 else -1
        _add(per.setdefault(idx, _empty()), sums)
        _add(grid.setdefault((b, idx), _empty()), sums)
    for row in overrides:
        target = _match_override(row, spans)
        if target is None:
            continue
        _id, started, fb, outcome, lat, tok = row[:6]
        k = bisect_right(starts, started) - 1
        by_time = owners[k] if k >= 0 else -1
        if by_time == target:
            continue
        b = min(max(int((started - lo) / width), 0), buckets - 1)
        for acc in (per.setdefault(by_time, _empty()), grid.setdefault((b, by_time), _empty())):
            _sub_trace(acc, started, fb, outcome, lat, tok, -1)
        for acc in (per.setdefault(target, _empty()), grid.setdefault((b, target), _empty())):
            _sub_trace(acc, started, fb, outcome, lat, tok, +1)

    out = VersionOutcomes(agent)
    evals = evals or {}
    for i, span in enumerate(spans):
        out.versions.append(_outcome(span, per.get(i, _empty()), evals.get(span.version)))
    prior = per.get(-1)
    if prior is not None and prior[0] > 0:
        out.prior = _outcome(None, prior, None)
    out.total_traces = int(sum(acc[0] for acc in per.values()))
    for b in range(buckets):
        cells = {idx: acc for (bb, idx), acc in grid.items() if bb == b and acc[0] > 0}
        n = int(sum(a[0] for a in cells.values()))
        rated = int(sum(a[1] for a in cells.values()))
        fb = sum(a[2] for a in cells.values())
        top = max(cells, key=lambda i: cells[i][0]) if cells else None
        out.series.append(
            SeriesPoint(
                start=lo + b * width,
                end=lo + (b + 1) * width,
                traces=n,
                rated=rated,
                mean_feedback=fb / rated if rated else None,
                version=spans[top].version if top is not None and top >= 0 else None,
            )
        )
    return out


def _outcome(
    span: Optional[VersionSpan], acc: List[float], ev: Optional[EvalScore]
) -> VersionOutcome:
    n, rated = int(round(acc[0])), int(round(acc[1]))
    return VersionOutcome(
        version=span.version if span else None,
        cause=span.cause if span else "unknown",
        note=span.note if span else "traces from before the first known version",
        summary=span.summary if span else "",
        written_at=span.start if span else None,
        approximate=span.approximate if span else False,
        why_approximate=span.why_approximate if span else "",
        current=span.current if span else False,
        traces=n,
        rated=rated,
        feedback=mean_ci(rated, acc[2], acc[3]),
        feedback_sq_sum=acc[3],
        success=int(round(acc[6])),
        failure=int(round(acc[7])),
        mean_latency_seconds=acc[4] / n if n else None,
        mean_tokens=acc[5] / n if n else None,
        first_trace_at=acc[8] if n and math.isfinite(acc[8]) else None,
        last_trace_at=acc[9] if n and math.isfinite(acc[9]) else None,
        eval=ev,
        lost=span.lost if span else False,
    )


def version_outcomes(
    store: Any,
    version_store: Any,
    agent: str,
    *,
    workspace: Optional[Any] = None,
    buckets: int = SERIES_BUCKETS,
    use_metadata: bool = True,
) -> VersionOutcomes:
    """Outcomes of every version of *agent* (the Configs pane's timeline, the CLI)."""
    spans = version_spans(version_store, agent)
    evals = eval_scores(workspace, agent, spans) if workspace is not None else {}
    return outcomes_for_spans(
        store, agent, spans, buckets=buckets, use_metadata=use_metadata, evals=evals
    )


# ----------------------------------------------------------------------------- evals


def eval_scores(workspace: Any, agent: str, spans: Sequence[VersionSpan]) -> Dict[int, EvalScore]:
    """``{version: newest measured eval}`` from ``<workspace>/evals/*.json``.

    The link: a saved result names ``"agent"`` and either ``"agent_config_sha256"``
    (matched against each version's content hash: survives renumbering) or
    ``"agent_version"`` (the version number when it was evaluated). Unreadable or
    unrelated files are skipped.
    """
    root = Path(getattr(workspace, "root", workspace))
    folder = root / "evals"
    out: Dict[int, EvalScore] = {}
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        path = folder / name
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > 64 << 20:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict) or data.get("agent") != agent:
            continue
        version = _eval_version(data, spans)
        acc = data.get("accuracy")
        ci = data.get("accuracy_ci")
        if version is None or isinstance(acc, bool) or not isinstance(acc, (int, float)):
            continue
        low, high = ci if isinstance(ci, list) and len(ci) == 2 else (acc, acc)
        created = _finite(data.get("created_at"))
        prev = out.get(version)
        if prev is not None and (prev.created_at or 0) > (created or 0):
            continue
        out[version] = EvalScore(
            accuracy=float(acc),
            ci_low=float(low) if isinstance(low, (int, float)) else float(acc),
            ci_high=float(high) if isinstance(high, (int, float)) else float(acc),
            samples=int(data.get("scored") or data.get("samples") or 0),
            path=str(path),
            created_at=created,
        )
    return out


def _eval_version(data: Dict[str, Any], spans: Sequence[VersionSpan]) -> Optional[int]:
    sha = data.get("agent_config_sha256")
    if isinstance(sha, str) and _HEX.fullmatch(sha):
        hits = [s.version for s in spans if s.sha256 and s.sha256.startswith(sha.lower())]
        if hits:
            return hits[-1]
    v = data.get("agent_version")
    if isinstance(v, int) and not isinstance(v, bool) and any(s.version == v for s in spans):
        return v
    return None


def eval_link(version_store: Any, agent: str, version: Optional[int] = None) -> Dict[str, Any]:
    """The fields a saved eval result carries to name the version it measured
    (merge into the saved JSON): ``agent``, ``agent_version``, ``agent_config_sha256``."""
    versions = version_store.list_versions(agent)
    if not versions:
        raise ValueError(f"agent {agent!r} has no config versions")
    chosen = versions[-1] if version is None else None
    for v in versions:
        if v["version"] == version:
            chosen = v
    if chosen is None:
        raise ValueError(f"agent {agent!r} has no version {version}")
    return {
        "agent": agent,
        "agent_version": chosen["version"],
        "agent_config_sha256": chosen.get("sha256"),
    }


# ----------------------------------------------------------------------------- compare


def _t_quantile(df: float) -> float:
    """Two-sided 95% Student t quantile (Cornish-Fisher series; < 0.2% off for df >= 5)."""
    if not math.isfinite(df) or df > 1e6:
        return Z95
    z = Z95
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def thin_verdict(v: VersionOutcome, *, min_rated: int = MIN_RATED) -> str:
    """``"not enough evidence: 12 rated traces on v5 (need 30)"``: the verdict of a
    comparison with a version under *min_rated* ratings."""
    return (
        f"not enough evidence: {v.rated:,} rated trace"
        f"{'' if v.rated == 1 else 's'} on {v.label} (need {min_rated})"
    )


def compare_versions(
    a: VersionOutcome, b: VersionOutcome, *, min_rated: int = MIN_RATED
) -> VersionComparison:
    """Mean feedback of *b* minus *a* with a Welch 95% interval, and a plain verdict:
    ``"v7 better than v5: +0.06 ± 0.03"``, ``"not enough evidence: 12 rated traces on
    v5"`` or ``"no clear difference between v7 and v5: +0.01 ± 0.03"``."""
    thin = [v for v in (a, b) if v.rated < min_rated]
    va, vb = a.variance, b.variance
    diff = half = None
    if a.rated >= 2 and b.rated >= 2 and va is not None and vb is not None:
        diff = b.feedback.mean - a.feedback.mean
        sa, sb = va / a.rated, vb / b.rated
        se = math.sqrt(sa + sb)
        den = (sa * sa / (a.rated - 1)) + (sb * sb / (b.rated - 1))
        df = (sa + sb) ** 2 / den if den > 0 else math.inf
        half = _t_quantile(df) * se
    if thin:
        worst = min(thin, key=lambda v: v.rated)
        verdict = thin_verdict(worst, min_rated=min_rated)
        return VersionComparison(a, b, diff, half, False, verdict)
    assert diff is not None and half is not None
    shown = f"{signed(diff)} ± {half:.2f}"
    if diff - half > 0:
        verdict = f"{b.label} better than {a.label}: {shown}"
    elif diff + half < 0:
        verdict = f"{b.label} worse than {a.label}: {shown}"
    else:
        verdict = f"no clear difference between {b.label} and {a.label}: {shown}"
    return VersionComparison(a, b, diff, half, True, verdict)


def known_agents(store: Any, version_store: Any) -> List[str]:
    """Agents with traces or config versions, sorted."""
    names = set(version_store.list_agents())
    facets = getattr(store, "facets", None)
    if callable(facets):
        names |= {a for a in facets().get("agents", []) if a}
    return sorted(names)


def iter_rows(outcomes: VersionOutcomes) -> Iterable[VersionOutcome]:
    """The prior row (when any) then every version, as the CLI prints them."""
    if outcomes.prior is not None:
        yield outcomes.prior
    yield from outcomes.versions


__all__ = [
    "MIN_RATED",
    "EvalScore",
    "SeriesPoint",
    "VersionComparison",
    "VersionOutcome",
    "VersionOutcomes",
    "VersionSpan",
    "compare_versions",
    "eval_link",
    "eval_scores",
    "iter_rows",
    "known_agents",
    "outcomes_for_spans",
    "read_connection",
    "version_outcomes",
    "version_spans",
]
