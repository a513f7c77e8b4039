"""SQLite trace store on the OpenJarvis schema, built for browsing a million traces.

The tables ``traces``, ``trace_steps`` and ``traces_fts`` are OpenJarvis's own and
are never altered: OpenJarvis reads ``traces`` with ``SELECT *`` and positional
indexes, so adding a column there would break it. What a browser needs lives in
tables of ours, prefixed ``jt_``, which OpenJarvis ignores:

``jt_rows``
    one narrow row per trace (time, query class, agent, model, outcome, feedback,
    latency, tokens) with one index per sort key, so a filtered, sorted page is an
    index range scan that stops after ``limit`` rows (keyset paging, no OFFSET).
``jt_label_history`` / ``jt_notes``
    every label change with its old and new value, so a correction never erases
    the previous label; free-text notes per trace.
``jt_meta``
    schema version, the id up to which ``jt_rows`` mirrors ``traces``, and a label
    generation counter bumped by a trigger on every feedback/outcome change (by us
    or by OpenJarvis), which makes "has anything changed?" two O(1) lookups.

The one trigger we add (``jt_traces_au``) is plain SQL, so OpenJarvis's own
``update_feedback`` keeps working and keeps our mirror in sync. New traces written by
another process are picked up by :meth:`TraceStore.sync`, which classifies only
the rows it has not seen (never re-running the regexes over the whole store).

Threading: a small pool of connections; each connection is used by one thread at a
time (checked out per operation). WAL, a busy timeout and short ``BEGIN IMMEDIATE``
write transactions let a running assistant write at the same time.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import re
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from jarvis_tui.core import safejson
from jarvis_tui.core.classify import CLASSIFIER_VERSION, classify_query
from jarvis_tui.core.errors import TraceStoreError
from jarvis_tui.core.events import EventType
from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.paths import FILE_MODE, ensure_dir

SCHEMA_VERSION = 8  # 2: jt_rows_group; 3: the trigger records external label changes;
# 4: totals kept by triggers (jt_agg, jt_tools, jt_agg_tool); 5: hour totals (jt_hour),
# leaner label triggers, the classifier version (jt_meta 'classifier'); 6: only numbers
# within RATING_LIMIT in the mirror (a repair of the rows that were not), tool calls
# per trace as the evolver reads them (jt_calls); 7: leaner label triggers (no INSERT OR
# IGNORE per label, the tool trigger's cheap test first); 8: our own steps map
# (jt_steps) instead of an index on OpenJarvis's trace_steps
BUSY_TIMEOUT_MS = 15_000
SNIPPET_CHARS = 240
_SNIPPET_SQL = (
    f"CASE WHEN instr(CAST(t.query AS BLOB), x'00') > 0"
    f" THEN substr(CAST(t.query AS BLOB), 1, {4 * SNIPPET_CHARS})"
    f" ELSE substr(t.query, 1, {SNIPPET_CHARS}) END AS query"
)
"""The table's query snippet. SQLite's text functions stop at a NUL ('NUL\\x00in
query' came back as 'NUL'): such a query's first bytes come as a blob instead (4 per
character covers :data:`SNIPPET_CHARS` characters of UTF-8), decoded by
:func:`_page_row`."""
BULK_MIGRATE_ROWS = 50_000
"""Up to this many unmirrored traces, the first open is one transaction (well under
a second); above, the rows are mirrored in short transactions."""
BULK_MIGRATE_STEPS = 250_000
"""…and up to this many steps not yet in our steps map (jt_steps); above, the map
is filled in short transactions first."""
MIGRATE_FIRST_TX_STEPS = 20_000
"""Steps the first transaction filling the steps map takes (then sized by time)."""
MIGRATE_MAX_TX_STEPS = 1_000_000
"""Most steps one transaction filling the steps map takes."""
MIGRATE_TX_SECONDS = 0.25
"""Target length of each write transaction of a large first open."""
MIGRATE_CLASSIFY_BATCH = 5_000
"""Traces a large first open classifies per batch, ahead of the writer and outside
any transaction (~0.2 s of Python each; see ``TraceStore._mirror_pipelined``)."""
MIGRATE_IDLE_TX_SECONDS = 0.5
"""Length of each write transaction of a large first open while no other connection
has committed to the file for ``MIGRATE_QUIET_SECONDS`` (nobody writes beside us, so
nobody waits): fewer, larger commits, each index page written once for more traces.
A writer that starts then waits one such transaction at most; its commits put the
open back to ``MIGRATE_TX_SECONDS``."""
MIGRATE_QUIET_SECONDS = 5.0
MIGRATE_GAP_SECONDS = 0.1
"""Pause between two backfill transactions of an open (between two mirror ones while
another connection writes). A writer waiting for the lock
(SQLite's busy handler) looks again every 100 ms after its first 0.3 s: a shorter
gap, and it waits across our next transaction too (a 0.5 s busy timeout failed)."""
"""How long without another connection's commit counts as nobody writing beside us."""
MIGRATE_FIRST_TX_ROWS = 2_000
"""Traces in the first write transaction of a large first open (then sized by time)."""
MIGRATE_MAX_TX_ROWS = 50_000
"""Most traces one write transaction of a large first open mirrors."""
RECLASS_BLOCKING_ROWS = 50_000
"""Up to this many traces (~2 s), a store whose classes came from another classifier
version is re-classified during the open; above, in a background thread."""
RECLASS_BATCH = 5_000
"""Traces classified per batch of a re-classification (~0.2 s of classifying, then
one write transaction of a few milliseconds)."""
RANK_WINDOW = 5_000
"""A ranked search computes bm25 for the newest this-many matches only (see
:meth:`TraceStore.search_matches`); exact for queries with fewer matches."""
COMMON_SHARE = 0.5
"""A search whose newest matches are in more than this share of the rows they span
is not ranked (see :meth:`TraceStore.search_matches`)."""
COMMON_MIN_MATCHES = 100_000
"""…and only when that share of the store is this many matches: below, bm25's pass
over every match costs a few milliseconds, and the window is ranked as usual."""
COMMON_NOTE = "newest matches first: words this common carry no search weight"
FTS_SET_MAX = 5_000
"""Above this many matching documents a time-ordered search walks the time index
instead of materialising every match (see ``TraceStore._page_by_time_probe``)."""

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: called from the worker thread doing the work."""


StoreError = TraceStoreError
"""The old name of :class:`~jarvis_tui.core.errors.TraceStoreError` (still importable)."""


class NotATraceStore(StoreError):
    """The file is not SQLite, or is SQLite without OpenJarvis's ``traces`` table."""


class ReadOnlyStore(StoreError):
    """A write was asked of a store opened read-only."""


# --------------------------------------------------------------------------- schema

_OJ_TRACES = """
CREATE TABLE IF NOT EXISTS traces (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id             TEXT    NOT NULL UNIQUE,
    query                TEXT    NOT NULL DEFAULT '',
    agent                TEXT    NOT NULL DEFAULT '',
    model                TEXT    NOT NULL DEFAULT '',
    engine               TEXT    NOT NULL DEFAULT '',
    result               TEXT    NOT NULL DEFAULT '',
    outcome              TEXT,
    feedback             REAL,
    started_at           REAL    NOT NULL DEFAULT 0.0,
    ended_at             REAL    NOT NULL DEFAULT 0.0,
    total_tokens         INTEGER NOT NULL DEFAULT 0,
    total_latency_seconds REAL   NOT NULL DEFAULT 0.0,
    metadata             TEXT    NOT NULL DEFAULT '{}',
    messages             TEXT    NOT NULL DEFAULT '[]'
)"""

_OJ_STEPS = """
CREATE TABLE IF NOT EXISTS trace_steps (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id         TEXT    NOT NULL,
    step_index       INTEGER NOT NULL,
    step_type        TEXT    NOT NULL,
    timestamp        REAL    NOT NULL DEFAULT 0.0,
    duration_seconds REAL    NOT NULL DEFAULT 0.0,
    input            TEXT    NOT NULL DEFAULT '{}',
    output           TEXT    NOT NULL DEFAULT '{}',
    metadata         TEXT    NOT NULL DEFAULT '{}',
    FOREIGN KEY (trace_id) REFERENCES traces(trace_id)
)"""

_OJ_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS traces_fts USING fts5(
    trace_id, query, result, agent,
    content='traces',
    content_rowid='rowid',
    tokenize='unicode61'
)"""

_OJ_FTS_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS traces_fts_ai AFTER INSERT ON traces BEGIN
    INSERT INTO traces_fts(rowid, trace_id, query, result, agent)
    VALUES (new.rowid, new.trace_id, new.query, new.result, new.agent);
END"""

# Our tables. ``{s}`` is the schema: ``main`` normally; an attached in-memory
# database when the trace file is read-only (we never write to a file we may not).
_JT_TABLES = (
    "CREATE TABLE IF NOT EXISTS {s}.jt_meta (key TEXT PRIMARY KEY, value)",
    """CREATE TABLE IF NOT EXISTS {s}.jt_rows (
        id         INTEGER PRIMARY KEY,
        started_at REAL    NOT NULL,
        qclass     TEXT,
        agent      TEXT    NOT NULL,
        model      TEXT    NOT NULL,
        outcome    TEXT,
        feedback   REAL,
        latency    REAL    NOT NULL,
        tokens     INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {s}.jt_label_history (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id  TEXT NOT NULL,
        field     TEXT NOT NULL,
        old_value TEXT,
        new_value TEXT,
        note      TEXT NOT NULL DEFAULT '',
        source    TEXT NOT NULL DEFAULT '',
        at        REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {s}.jt_notes (
        trace_id   TEXT PRIMARY KEY,
        note       TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
)

# Totals kept current (schema 4; banded since 5). One row per group (class, model,
# agent, outcome) and quality band ``th``: the traces of the group whose feedback is
# >= th and below the next registered threshold; th = ALL_TH (-2) holds the unrated
# ones. "Rated >= q" for a registered threshold q is the sum of the bands >= q, every
# trace the sum of all bands. (The thresholds the learning engine asks for: 0.0,
# 0.5, 0.7 are registered at the first open, others on first use, at most
# MAX_THRESHOLDS; a new one splits a band: one recount.) A few hundred rows, whatever
# the store's size; a label write moves a trace from one row to one other. Key
# columns are NOT NULL so a group is one primary-key probe: a NULL class or outcome
# is stored as '' (and read back as None).
ALL_TH = -2.0
DEFAULT_THRESHOLDS = (0.0, 0.5, 0.7)
MAX_THRESHOLDS = 8
"""Registered quality thresholds besides ALL_TH; others are answered by a scan."""

BUCKET_SECONDS = 3600.0
"""Width of the per-(agent, hour) totals in ``jt_hour`` (version outcomes read them)."""

_JT_AGG_TABLES = (
    "CREATE TABLE IF NOT EXISTS {s}.jt_thresholds (th REAL PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS {s}.jt_agg (
        qclass  TEXT    NOT NULL,
        model   TEXT    NOT NULL,
        agent   TEXT    NOT NULL,
        outcome TEXT    NOT NULL,
        th      REAL    NOT NULL,
        n       INTEGER NOT NULL,
        rated   INTEGER NOT NULL,
        fb      REAL    NOT NULL,
        fb_sq   REAL    NOT NULL,
        latency REAL    NOT NULL,
        tokens  REAL    NOT NULL,
        PRIMARY KEY (qclass, model, agent, outcome, th)
    ) WITHOUT ROWID""",
    # Tool calls per trace (tool_call steps whose input has {"tool": name}).
    """CREATE TABLE IF NOT EXISTS {s}.jt_tools (
        id    INTEGER NOT NULL,
        tool  TEXT    NOT NULL,
        calls INTEGER NOT NULL,
        PRIMARY KEY (id, tool)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS {s}.jt_agg_tool (
        qclass  TEXT    NOT NULL,
        model   TEXT    NOT NULL,
        agent   TEXT    NOT NULL,
        outcome TEXT    NOT NULL,
        th      REAL    NOT NULL,
        tool    TEXT    NOT NULL,
        calls   INTEGER NOT NULL,
        PRIMARY KEY (qclass, model, agent, outcome, th, tool)
    ) WITHOUT ROWID""",
    # Schema 5: per agent and hour of started_at (see _bucket): what version outcomes
    # sum (learning.outcomes), whole hours inside a version, rows only at its edges.
    """CREATE TABLE IF NOT EXISTS {s}.jt_hour (
        agent   TEXT    NOT NULL,
        hour    INTEGER NOT NULL,
        n       INTEGER NOT NULL,
        rated   INTEGER NOT NULL,
        fb      REAL    NOT NULL,
        fb_sq   REAL    NOT NULL,
        success INTEGER NOT NULL,
        failure INTEGER NOT NULL,
        latency REAL    NOT NULL,
        tokens  REAL    NOT NULL,
        PRIMARY KEY (agent, hour)
    ) WITHOUT ROWID""",
    # Schema 6: per trace with tool_call steps, its tool set: how many tool_call steps
    # and the tools they name (step order; see _step_tool_sql), counted when the trace
    # is mirrored, so AgentConfigEvolver.analyze() reads these instead of every step
    # (evolver_profile). Sets are few (tens at 1M traces): a trace holds a set's id.
    """CREATE TABLE IF NOT EXISTS {s}.jt_tool_sets (
        sid   INTEGER PRIMARY KEY,
        calls INTEGER NOT NULL,
        tools TEXT    NOT NULL,
        UNIQUE (calls, tools)
    )""",
    """CREATE TABLE IF NOT EXISTS {s}.jt_calls (
        id  INTEGER PRIMARY KEY,
        sid INTEGER NOT NULL
    )""",
)

# Read-write files: which steps (rowids of trace_steps) a trace (traces.id) has, in
# step order. OpenJarvis's own step lookup is a full scan (41 s per 100 traces at 1M);
# an index on its table would be built in ONE transaction (11-22 s at 1M, past
# OpenJarvis's 5 s busy timeout), this map is filled in short ones, by step rowid
# (jt_meta 'steps_done' … 'steps_from'), and kept current past 'steps_mapped'.
# Keyed by the trace's integer id: steps are saved after their trace, so new entries
# land at the map's end.
_JT_STEPS = """CREATE TABLE IF NOT EXISTS main.jt_steps (
    id         INTEGER NOT NULL,
    step_index INTEGER NOT NULL,
    step_rowid INTEGER NOT NULL,
    PRIMARY KEY (id, step_index, step_rowid)
) WITHOUT ROWID"""


def _bucket(col: str) -> str:
    """SQL: the hour bucket of a started_at value (floor, also below 0)."""
    return f"(CAST({col} / {BUCKET_SECONDS} AS INTEGER) - ({col} < 0))"


def _band(row: str, schema: str = "") -> str:
    """SQL: the quality band of jt_rows row *row*: the highest registered threshold its
    feedback reaches; ALL_TH when unrated (or below every threshold)."""
    tab = f"{schema}.jt_thresholds" if schema else "jt_thresholds"
    return f"coalesce((SELECT max(b.th) FROM {tab} b WHERE b.th <= {row}.feedback), {ALL_TH})"


def _agg_key(row: str) -> str:
    """The group of jt_rows row *row* (``new``, ``old`` or an alias), as key values."""
    return f"coalesce({row}.qclass, ''), {row}.model, {row}.agent, coalesce({row}.outcome, '')"


def _agg_match(row: str) -> str:
    """WHERE clause: the totals row of jt_rows row *row* (its group and band)."""
    return (
        f"qclass = coalesce({row}.qclass, '') AND model = {row}.model AND agent = {row}.agent"
        f" AND outcome = coalesce({row}.outcome, '') AND th = {_band(row)}"
    )


def _agg_set(row: str, sign: str) -> str:
    """SET list adding (*sign* ``+``) or taking away (``-``) *row*."""
    return (
        f"n = n {sign} 1, rated = rated {sign} ({row}.feedback IS NOT NULL),"
        f" fb = fb {sign} coalesce({row}.feedback, 0.0),"
        f" fb_sq = fb_sq {sign} coalesce({row}.feedback * {row}.feedback, 0.0),"
        f" latency = latency {sign} {row}.latency, tokens = tokens {sign} {row}.tokens"
    )


def _agg_sub(row: str) -> str:
    return f"UPDATE jt_agg SET {_agg_set(row, '-')} WHERE {_agg_match(row)};"


def _agg_add(row: str) -> str:
    # The group's row exists almost always: update it, and insert one only when the
    # update found none (changes() counts the trigger's own last statement), which
    # saves a probe and a band lookup per label against INSERT OR IGNORE + UPDATE.
    return (
        f"UPDATE jt_agg SET {_agg_set(row, '+')} WHERE {_agg_match(row)};"
        f" INSERT INTO jt_agg SELECT {_agg_key(row)}, {_band(row)}, 1,"
        f" ({row}.feedback IS NOT NULL), coalesce({row}.feedback, 0.0),"
        f" coalesce({row}.feedback * {row}.feedback, 0.0), {row}.latency, {row}.tokens"
        " WHERE changes() = 0;"
    )


def _tool_sub(row: str) -> str:
    return (
        "UPDATE jt_agg_tool SET calls = calls - (SELECT j.calls FROM jt_tools j"
        f" WHERE j.id = {row}.id AND j.tool = jt_agg_tool.tool)"
        f" WHERE {_agg_match(row)} AND tool IN (SELECT tool FROM jt_tools WHERE id = {row}.id);"
    )


def _tool_add(row: str) -> str:
    return (
        f"INSERT OR IGNORE INTO jt_agg_tool SELECT {_agg_key(row)}, {_band(row)}, j.tool, 0"
        f" FROM jt_tools j WHERE j.id = {row}.id;"
        " UPDATE jt_agg_tool SET calls = calls + (SELECT j.calls FROM jt_tools j"
        f" WHERE j.id = {row}.id AND j.tool = jt_agg_tool.tool)"
        f" WHERE {_agg_match(row)} AND tool IN (SELECT tool FROM jt_tools WHERE id = {row}.id);"
    )


def _hour_set(row: str, sign: str) -> str:
    return (
        f"n = n {sign} 1, rated = rated {sign} ({row}.feedback IS NOT NULL),"
        f" fb = fb {sign} coalesce({row}.feedback, 0.0),"
        f" fb_sq = fb_sq {sign} coalesce({row}.feedback * {row}.feedback, 0.0),"
        f" success = success {sign} ({row}.outcome IS 'success'),"
        f" failure = failure {sign} ({row}.outcome IS 'failure'),"
        f" latency = latency {sign} {row}.latency, tokens = tokens {sign} {row}.tokens"
    )


def _hour_match(row: str) -> str:
    return f"agent = {row}.agent AND hour = {_bucket(f'{row}.started_at')}"


def _hour_sub(row: str) -> str:
    return f"UPDATE jt_hour SET {_hour_set(row, '-')} WHERE {_hour_match(row)};"


def _hour_add(row: str) -> str:
    return (
        f"INSERT OR IGNORE INTO jt_hour VALUES ({row}.agent, {_bucket(f'{row}.started_at')},"
        f" 0, 0, 0.0, 0.0, 0, 0, 0.0, 0.0);"
        f" UPDATE jt_hour SET {_hour_set(row, '+')} WHERE {_hour_match(row)};"
    )


# A label change (feedback and/or outcome; the rest of the row as it was): the hour's
# totals in one statement (its n, latency and tokens do not move).
_HOUR_LABEL = (
    "UPDATE jt_hour SET"
    " rated = rated + (new.feedback IS NOT NULL) - (old.feedback IS NOT NULL),"
    " fb = fb + coalesce(new.feedback, 0.0) - coalesce(old.feedback, 0.0),"
    " fb_sq = fb_sq + coalesce(new.feedback * new.feedback, 0.0)"
    " - coalesce(old.feedback * old.feedback, 0.0),"
    " success = success + (new.outcome IS 'success') - (old.outcome IS 'success'),"
    " failure = failure + (new.outcome IS 'failure') - (old.outcome IS 'failure')"
    f" WHERE {_hour_match('new')};"
)

_REST_COLS = ("model", "agent", "latency", "tokens", "started_at")
_LABEL_ONLY = " AND ".join(f"old.{c} IS new.{c}" for c in (*_REST_COLS, "qclass"))
_LABEL_MOVED = "(old.feedback IS NOT new.feedback OR old.outcome IS NOT new.outcome)"

# Totals move by trigger for label changes (ours and OpenJarvis's, through
# jt_traces_au) and deletes; rows enter through our own code, one GROUP BY per batch
# (every insert into jt_rows is ours), and a re-classified query moves its totals in
# the re-classifying transaction (qclass is in no trigger's column list). A label
# write is the hot path (schema 5): the trace leaves one totals row and enters one
# (its band), the hour's totals move in one UPDATE, tool totals only for a trace that
# has tool calls and changes group or band, and nothing is deleted (a row whose count
# reaches 0 stays, read as absent; rebuild_aggregates drops them).
# Plain SQL only (no upsert, no JSON1): OpenJarvis's connections run them too,
# whatever SQLite they were built with.
_JT_AGG_TRIGGERS = (
    "DROP TRIGGER IF EXISTS {s}.jt_rows_agg_au",
    "DROP TRIGGER IF EXISTS {s}.jt_rows_agg_ad",
    "DROP TRIGGER IF EXISTS {s}.jt_rows_agg_tools",
    "DROP TRIGGER IF EXISTS {s}.jt_rows_agg_rest",
    "CREATE TRIGGER IF NOT EXISTS {s}.jt_rows_agg_au AFTER UPDATE OF feedback, outcome"
    f" ON jt_rows WHEN {_LABEL_MOVED} AND {_LABEL_ONLY}"
    f" BEGIN {_agg_sub('old')} {_agg_add('new')} {_HOUR_LABEL} END",
    # The cheap test first: most traces have no tool calls, and then no band is looked up.
    "CREATE TRIGGER IF NOT EXISTS {s}.jt_rows_agg_tools AFTER UPDATE OF feedback, outcome"
    " ON jt_rows WHEN EXISTS (SELECT 1 FROM jt_tools WHERE id = new.id)"
    f" AND {_LABEL_ONLY}"
    f" AND (old.outcome IS NOT new.outcome OR {_band('old')} IS NOT {_band('new')})"
    f" BEGIN {_tool_sub('old')} {_tool_add('new')} END",
    # Anything else of a row changed (no code of ours or OpenJarvis's does): all of it.
    "CREATE TRIGGER IF NOT EXISTS {s}.jt_rows_agg_rest AFTER UPDATE OF "
    + ", ".join(_REST_COLS)
    + " ON jt_rows WHEN "
    + " OR ".join(f"old.{c} IS NOT new.{c}" for c in _REST_COLS)
    + f" BEGIN {_agg_sub('old')} {_agg_add('new')} {_tool_sub('old')} {_tool_add('new')}"
    f" {_hour_sub('old')} {_hour_add('new')} END",
    "CREATE TRIGGER IF NOT EXISTS {s}.jt_rows_agg_ad AFTER DELETE ON jt_rows"
    f" BEGIN {_agg_sub('old')} {_tool_sub('old')} {_hour_sub('old')}"
    " DELETE FROM jt_tools WHERE id = old.id; DELETE FROM jt_calls WHERE id = old.id; END",
)
_JT_AGG_TRIGGER_NAMES = ("jt_rows_agg_au", "jt_rows_agg_ad", "jt_rows_agg_tools", "jt_rows_agg_rest")  # fmt: skip


# Built after the bulk copy (faster than maintaining them row by row).
# Sort expressions must match SORT_EXPR below character for character so the
# planner uses these expression indexes.
_JT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {s}.jt_rows_time ON jt_rows"
    "(started_at, id, qclass, agent, model, outcome, feedback)",
    "CREATE INDEX IF NOT EXISTS {s}.jt_rows_score ON jt_rows(coalesce(feedback, -1.0))",
    # Covering, in GROUP BY order: per class × model × agent × outcome statistics
    # over every trace stream from this index without a sort (1.7 s → 0.3 s at 1M).
    # id after the group: a new trace goes at the end of its group (a few hundred hot
    # pages), not at a random place by latency, which made this index half the cost
    # of mirroring a trace (stores opened before keep the one they have, which
    # ordered a group by feedback, latency, tokens; no query depends on that order).
    "CREATE INDEX IF NOT EXISTS {s}.jt_rows_group ON jt_rows"
    "(qclass, model, agent, outcome, id, feedback, latency, tokens)",
    "CREATE INDEX IF NOT EXISTS {s}.jt_rows_latency ON jt_rows(latency)",
    "CREATE INDEX IF NOT EXISTS {s}.jt_rows_tokens ON jt_rows(tokens)",
    "CREATE INDEX IF NOT EXISTS {s}.jt_rows_unclassified ON jt_rows(id) WHERE qclass IS NULL",
    "CREATE INDEX IF NOT EXISTS {s}.jt_label_history_trace ON jt_label_history(trace_id, id)",
)


def _json_sql(col: str) -> str:
    """SQL that renders *col* as the JSON our history stores (null, number, string)."""
    return (
        f"CASE WHEN {col} IS NULL THEN 'null'"
        f" WHEN typeof({col}) IN ('integer', 'real') THEN CAST({col} AS TEXT)"
        f" ELSE '\"' || replace(replace(CAST({col} AS TEXT), '\\', '\\\\'), '\"', '\\\"')"
        " || '\"' END"
    )


_NOW_SQL = "(julianday('now') - 2440587.5) * 86400.0"

RATING_LIMIT = 1e6
"""Feedback is a rating in our mirror (``jt_rows``) when it is a number within
±RATING_LIMIT (any score scale fits). Anything else OpenJarvis's file may hold (±inf,
1e308, text, a BLOB; SQLite keeps NaN as NULL) is unrated there, so every total kept
from the mirror stays finite: ``inf - inf`` is NaN, which SQLite stores as NULL, and a
NOT NULL total then refuses the write (the store could not open, a relabel failed).
The limit also keeps the running totals exact to ~1e-10 after a large value has
passed through them (at 2**53 a relabel would leave an error of 1). OpenJarvis's row
keeps its value; the trace's detail shows it."""
VALUE_LIMIT = 1e100
"""A latency, token count or start time beyond ±VALUE_LIMIT (or no number) is 0 in
the mirror (their sums never overflow)."""


def _number_sql(col: str, default: str = "NULL", limit: float = RATING_LIMIT) -> str:
    """SQL: *col* when it is a number within ±*limit*, else *default*."""
    lim = repr(limit)
    return (
        f"CASE WHEN typeof({col}) IN ('integer', 'real') AND {col} BETWEEN -{lim} AND {lim}"
        f" THEN {col} ELSE {default} END"
    )


def _number(value: Any, default: Any = None, limit: float = VALUE_LIMIT) -> Any:
    """:func:`_number_sql` in Python (NaN fails both comparisons)."""
    if isinstance(value, (int, float)) and -limit <= value <= limit:
        return value
    return default


# On the trace file itself (read-write only): the mirror trigger. (Schema ≤ 7 also
# indexed trace_steps(trace_id, step_index), jt_steps_trace, in the schema
# transaction: seconds at 1M. A file that has it keeps it: dropping it is a schema
# change under a running OpenJarvis; jt_steps is used instead.)
_MAIN_EXTRAS = (
    # v1 indexed traces.started_at for OpenJarvis's own list_traces; it cost
    # every insert and we never read it.
    "DROP INDEX IF EXISTS jt_traces_started",
    # Rows of jt_label_claim exist only inside our own set_label transaction: they tell
    # the trigger that set_label writes the history itself (with its note and source).
    "CREATE TABLE IF NOT EXISTS jt_label_claim (trace_id TEXT PRIMARY KEY)",
    "DROP TRIGGER IF EXISTS jt_traces_au",  # v2's did not record history
    # Plain SQL only (no JSON1, no unixepoch()): it runs on OpenJarvis's connections,
    # whatever SQLite they were built with.
    f"""CREATE TRIGGER IF NOT EXISTS jt_traces_au AFTER UPDATE OF feedback, outcome ON traces
    BEGIN
        UPDATE jt_rows SET feedback = {_number_sql("new.feedback")}, outcome = new.outcome
        WHERE id = new.id;
        UPDATE jt_meta SET value = value + 1 WHERE key = 'label_gen';
        INSERT INTO jt_label_history(trace_id, field, old_value, new_value, note, source, at)
        SELECT new.trace_id, 'feedback', {_json_sql("old.feedback")}, {_json_sql("new.feedback")},
               '', 'external', {_NOW_SQL}
        WHERE old.feedback IS NOT new.feedback
          AND NOT EXISTS (SELECT 1 FROM jt_label_claim c WHERE c.trace_id = new.trace_id);
        INSERT INTO jt_label_history(trace_id, field, old_value, new_value, note, source, at)
        SELECT new.trace_id, 'outcome', {_json_sql("old.outcome")}, {_json_sql("new.outcome")},
               '', 'external', {_NOW_SQL}
        WHERE old.outcome IS NOT new.outcome
          AND NOT EXISTS (SELECT 1 FROM jt_label_claim c WHERE c.trace_id = new.trace_id);
    END""",
)

REQUIRED_TRACE_COLUMNS = {
    "id", "trace_id", "query", "agent", "model", "engine", "result", "outcome",
    "feedback", "started_at", "ended_at", "total_tokens", "total_latency_seconds",
    "metadata",
}  # fmt: skip

SORT_EXPR: Dict[str, str] = {
    "time": "r.started_at",
    "score": "coalesce(r.feedback, -1.0)",
    "latency": "r.latency",
    "tokens": "r.tokens",
}
"""Sort keys the browser offers, each backed by an index. (Agent, model and class
are filters: an index per text column would cost every insert for little use.)"""

OUTCOMES = ("success", "failure")

LABELLED_SQL = "(r.feedback IS NOT NULL OR r.outcome IS NOT NULL)"
"""A trace is labelled when it has a score or an outcome (success / failure)."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class TraceFilter:
    """What the browser shows. Every field is optional; all given fields must hold."""

    agent: Optional[str] = None
    model: Optional[str] = None
    outcome: Optional[str] = None
    """``success``, ``failure`` or ``unknown`` (no outcome recorded)."""
    query_class: Optional[str] = None
    labelled: Optional[bool] = None
    """True: has a score or an outcome (see ``LABELLED_SQL``); False: neither."""
    rated: Optional[bool] = None
    """True: has a feedback score; False: none (what the labelling queue offers: only a
    score moves routing)."""
    since: Optional[float] = None
    until: Optional[float] = None
    text: Optional[str] = None
    """Full-text search (see :func:`to_fts_query` for the syntax)."""

    def is_empty(self) -> bool:
        return self == TraceFilter()


@dataclass(frozen=True)
class TraceRow:
    """One row of the browser table: the narrow columns plus a query snippet."""

    rowid: int
    trace_id: str
    started_at: float
    query_class: Optional[str]
    agent: str
    model: str
    outcome: Optional[str]
    feedback: Optional[float]
    latency: float
    tokens: int
    snippet: str

    def sort_key(self, sort: str) -> tuple[Any, int]:
        """The keyset position of this row under *sort*."""
        value: Any = {
            "time": self.started_at,
            "score": -1.0 if self.feedback is None else self.feedback,
            "latency": self.latency,
            "tokens": self.tokens,
        }[sort]
        return (value, self.rowid)


def _page_row(r: Sequence[Any]) -> TraceRow:
    """A page's row as a :class:`TraceRow`; a snippet that came as bytes (a query with a
    NUL, :data:`_SNIPPET_SQL`) is decoded and cut to :data:`SNIPPET_CHARS`."""
    snippet = r[-1]
    if isinstance(snippet, bytes):
        snippet = snippet.decode("utf-8", "replace")[:SNIPPET_CHARS]
        r = (*r[:-1], snippet)
    return TraceRow(*r)


@dataclass
class Page:
    """A slice of the filtered, sorted store."""

    rows: List[TraceRow]
    has_more: bool
    """More rows exist beyond the last one in the direction of the request."""
    fts_note: str = ""
    """Set when the search text was reinterpreted (e.g. a stray quote)."""


@dataclass
class SearchResult:
    """What :meth:`TraceStore.search_matches` found."""

    rows: List[Dict[str, Any]]
    """One dict per trace (``trace_id``, ``query``, ``result``, ``agent``, ``model``,
    ``outcome``, ``started_at``), in the order asked for."""
    total: int
    """Every trace the search matches (``-1`` when not counted)."""
    ranked: int
    """How many matches the ranking looked at (at most ``RANK_WINDOW``; 0 when
    the order is by time)."""
    note: str = ""
    """What the search text was read as, and "best of the newest 5,000 matches"
    when the ranking did not see every match (for the search status)."""


@dataclass(frozen=True)
class LabelEvent:
    """One entry of a trace's label history."""

    trace_id: str
    field: str
    old_value: Any
    new_value: Any
    note: str
    source: str
    at: float


@dataclass(frozen=True)
class LabelChange:
    """The result of :meth:`TraceStore.set_label`: enough to undo it."""

    trace_id: str
    old_feedback: Optional[float]
    new_feedback: Optional[float]
    old_outcome: Optional[str]
    new_outcome: Optional[str]
    at: float


@dataclass(frozen=True)
class StoreProblem:
    """A row the store could not read as it is; shown with a fallback, reported once."""

    trace_id: str
    why: str


_UNSET: Any = object()


# --------------------------------------------------------------------------- FTS


_FTS_TOKEN = re.compile(r'"[^"]*"|\S+')
_WORD = re.compile(r"\w+", re.UNICODE)
ALL_ROWS_NOTE = "no words to search for: showing all traces"
EXCLUDE_ONLY_NOTE = "only exclusions: showing every trace without them"


def _parse_search(text: str) -> tuple[str, str, bool, str]:
    """``(expression, note, match_all, exclude)`` for what a user typed; never raises.

    *match_all* is True when the text holds no word at all (only operators such as
    ``*``, ``AND``, ``OR``, quotes): the search is then no filter, and the note says so.
    *exclude* is set when the text holds only exclusions (``-csv``): an FTS5
    expression matching any of them, and the search is every trace it does not match
    (FTS5 has no ``NOT`` alone), as a Langfuse or lazygit user expects.
    """
    notes: list[str] = []
    blank = not text.strip()
    if text.count('"') % 2:
        # Quotes pair up left to right; the one left over is stray wherever it is,
        # and reads as a space, so `"csv large` and `csv large"` both mean the words.
        cut = text.rindex('"')
        text = text[:cut] + " " + text[cut + 1 :]
        notes.append("unbalanced quote read as words")
    positives: list[str] = []  # groups already OR-joined
    negatives: list[str] = []
    pending_or = False
    for tok in _FTS_TOKEN.findall(text):
        if tok == "OR":
            pending_or = bool(positives)
            continue
        if tok in ("AND", "NOT"):
            notes.append(f"{tok} ignored (words are AND-ed; use -word to exclude)")
            continue
        negative = tok.startswith("-") and len(tok) > 1
        if negative:
            tok = tok[1:]
        prefix = tok.endswith("*") and not tok.startswith('"')
        words = _WORD.findall(tok)
        if not words:
            continue
        expr = '"' + " ".join(words) + '"'
        if prefix:
            expr += "*"
        if negative:
            negatives.append(expr)
        elif pending_or and positives:
            positives[-1] = f"{positives[-1]} OR {expr}"
            pending_or = False
        else:
            positives.append(expr)
    if not positives:
        if negatives:
            notes.append(EXCLUDE_ONLY_NOTE)
            return "", "; ".join(dict.fromkeys(notes)), False, " OR ".join(negatives)
        if blank:
            return "", "", True, ""
        return "", ALL_ROWS_NOTE, True, ""
    parts = [f"({p})" if " OR " in p else p for p in positives]
    expr = " AND ".join(parts)
    for neg in negatives:
        expr += f" NOT {neg}"
    return expr, "; ".join(dict.fromkeys(notes)), False, ""


def to_fts_query(text: str) -> tuple[str, str]:
    """Turn what a user typed into a safe FTS5 expression; never raises.

    Syntax: words (all must match), ``"exact phrase"``, ``prefix*``, ``-exclude``,
    ``a OR b``. Anything else (a stray quote anywhere, ``AND``, punctuation) is read
    as plain words. Returns ``(expression, note)``; the note says what was
    reinterpreted, and the expression is ``""`` when there is nothing to search for
    (text of operators only: every trace matches; only ``-exclusions``: every trace
    without them, see :meth:`TraceStore.page`).
    """
    expr, note, _, _ = _parse_search(text)
    return expr, note


# --------------------------------------------------------------------------- helpers


JSON_MAX_DEPTH = safejson.MAX_DEPTH
"""Deeper JSON in a row is kept as raw text: the stdlib parser (and every renderer
after it) recurses per level, and 1,000 levels in 2 KB raise RecursionError."""
JSON_MAX_CHARS = safejson.MAX_CHARS
"""Larger JSON columns are kept as raw text rather than parsed into objects."""


def _json_problem(text: str) -> Optional[str]:
    """Why *text* (a JSON column) will not be parsed, or None when it will."""
    if len(text) > JSON_MAX_CHARS:
        return f"JSON larger than {JSON_MAX_CHARS:,} characters"
    # Cheap bound first: fewer opening brackets than the limit cannot nest deeper.
    if text.count("[") + text.count("{") > JSON_MAX_DEPTH and safejson.depth(text) > JSON_MAX_DEPTH:
        return f"JSON nested deeper than {JSON_MAX_DEPTH} levels"
    return None


def _parse_json(text: Any, default: Any) -> tuple[Any, Optional[str]]:
    """Parse a JSON column, totally: ``(value, problem)``.

    Invalid, too deep or too large JSON comes back as ``{"_invalid_json": raw}``
    (the raw text, shown as it is) with the reason; nothing here raises.
    """
    if text is None or text == "":
        return default, None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return {"_invalid_json": str(text)}, "not JSON text"
    why = _json_problem(text)
    if why is None:
        try:
            return json.loads(text), None
        except RecursionError:
            why = "JSON nested too deep"
        except (TypeError, ValueError) as exc:
            return {"_invalid_json": text}, f"invalid JSON ({exc.__class__.__name__})"
    return {"_invalid_json": text}, why


def _loads(text: Any, default: Any) -> Any:
    """Parse a JSON column; invalid JSON is kept, marked, never raised."""
    return _parse_json(text, default)[0]


_ENCODER = json.JSONEncoder(
    default=str, ensure_ascii=False
)  # reused: json.dumps(**kw) is 3x slower


def _dumps(value: Any) -> str:
    if not value and isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return _ENCODER.encode(value)


def _classify_text(value: Any) -> str:
    """The query class of a stored query; total (any bad input is class "general")."""
    try:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return classify_query(value if isinstance(value, str) else str(value or ""))
    except Exception:  # noqa: BLE001 - a classifier bug must never brick the store
        return "general"


def _lenient_text(raw: bytes) -> str:
    """``text_factory`` for a retry: invalid UTF-8 becomes U+FFFD instead of an error."""
    return raw.decode("utf-8", "replace")


def _is_decode_error(exc: sqlite3.Error) -> bool:
    return "could not decode" in str(exc).lower()


class _RepairingText:
    """``text_factory`` that decodes leniently and remembers which values it repaired."""

    def __init__(self) -> None:
        self.repaired: Dict[int, str] = {}

    def __call__(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            self.repaired[id(text)] = text  # kept alive, so the id stays unique
            return text


def _step_type(value: str) -> Any:
    try:
        return StepType(value)
    except ValueError:
        return value  # foreign step type: keep it as text rather than fail


def validate_score(score: Any) -> float:
    """A feedback score must be a finite number in [0, 1]."""
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise ValueError(f"score must be a number in [0, 1], got {score!r}")
    value = float(score)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"score must be in [0, 1], got {score!r}")
    return value


def validate_outcome(outcome: Optional[str]) -> Optional[str]:
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be success, failure or none, got {outcome!r}")
    return outcome


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_path(path: Path) -> bool:
    """Raise for paths we must not open; True when the file already exists."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a trace database")
    if not path.exists():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except PermissionError as exc:
        raise StoreError(f"cannot read {path}: permission denied") from exc
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head and head != _SQLITE_MAGIC:
        raise NotATraceStore(f"{path} is not an SQLite database")
    return bool(head)


# --------------------------------------------------------------------------- store


class TraceStore:
    """Trace storage with the OpenJarvis ``TraceStore`` interface plus a browser API.

    ``TraceStore(db_path)`` opens (or creates) ``db_path``. A ``traces.db`` written by
    OpenJarvis opens as it is; the first open adds our tables and indexes once (see
    :meth:`needs_migration`; pass ``migrate=False`` to do that later with a progress
    callback). A read-only file opens read-only: browsing works, labelling raises
    :class:`ReadOnlyStore`.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        migrate: bool = True,
        progress: Optional[ProgressFn] = None,
        read_only: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self._busy_ms = int(busy_timeout_ms)
        self._path = Path(db_path).expanduser()
        self._memory = str(db_path) == ":memory:"
        self._lock = threading.Lock()
        self._serial = threading.RLock()
        self._ro_label_sig: Optional[tuple[float, int]] = None
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all: list[sqlite3.Connection] = []
        self._writing: dict[int, int] = {}  # id(connection) -> open write transactions
        self._closed = False
        self._mem_name = f"jtmem_{uuid.uuid4().hex}"
        self.read_only = read_only
        self._problems: Dict[str, StoreProblem] = {}
        self._migrate = migrate
        self._gen = 0  # bumped when the file at the path is replaced: see reopen_if_replaced
        self._conn_gen: dict[int, int] = {}  # id(connection) -> the generation it reads
        self._ident: Optional[tuple[int, int]] = None
        if self._memory:
            # One shared in-process database so every pooled connection sees it.
            self._uri = f"file:{self._mem_name}_main?mode=memory&cache=shared"
            self._keepalive: Optional[sqlite3.Connection] = self._connect_raw()
        else:
            existed = _check_path(self._path)
            if not existed:
                if read_only:
                    raise StoreError(f"{self._path} does not exist")
                try:
                    ensure_dir(self._path.parent)
                    fd = os.open(self._path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
                    os.close(fd)
                except OSError as exc:
                    raise StoreError(f"cannot create {self._path}: {exc.strerror or exc}") from exc
            if not os.access(self._path, os.W_OK) or not os.access(self._path.parent, os.W_OK):
                self.read_only = True
            mode = "ro" if self.read_only else "rwc"
            self._uri = f"file:{_uri_path(self._path)}?mode={mode}"
            self._keepalive = None
            if self.read_only and existed:
                self._open_read_only()
        self._schema = "jtmem" if self.read_only else "main"
        self._has_messages = False
        self._has_fts = False
        try:
            self._open_schema(migrate=migrate, progress=progress)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise _friendly(exc, self._path) from exc
        except BaseException:
            self.close()
            raise
        self._ident = self._file_ident()

    # ------------------------------------------------------------ a replaced file

    def _file_ident(self) -> Optional[tuple[int, int]]:
        """(device, inode) of the file at the path now; None for an in-memory or
        read-only store (their side tables are built per open) or a missing file."""
        if self._memory or self.read_only:
            return None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    reopened: int = 0
    """How many times the file at the path was found replaced and reopened (a screen
    compares it with what it saw last to say so)."""

    def reopen_if_replaced(self) -> bool:
        """Reopen every connection when the file at the path is another file than the
        one opened (``jarvis-tui demo --force`` renames a new traces.db over it): the
        pooled connections would go on reading the old, unlinked file. Connections
        checked out by another thread finish their query on the old file and are
        closed when handed back. True when the store was reopened."""
        if self._closed or self._ident is None:
            return False
        ident = self._file_ident()
        if ident is None or ident == self._ident:
            return False
        with self._lock:
            if ident == self._ident:  # another thread reopened it meanwhile
                return False
            self._gen += 1
            self._ident = ident
            self.reopened += 1
        idle = self._take_idle()
        with self._lock:
            self._all = [c for c in self._all if c not in idle]
            for conn in idle:
                self._conn_gen.pop(id(conn), None)
        for conn in idle:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        log.info("%s was replaced by another file: reopened", self._path)
        try:
            self._open_schema(migrate=self._migrate, progress=None)
        except sqlite3.DatabaseError as exc:
            raise _friendly(exc, self._path) from exc
        return True

    # ------------------------------------------------------------ read-only files

    snapshot: Optional[str] = None
    """Set when the file could only be opened as a snapshot (a WAL-mode file in a
    directory we cannot write): says so, for the status line. New traces written
    after the open do not appear until the store is reopened."""

    _snapshot_dir: Optional[Path] = None

    def _open_read_only(self) -> None:
        """Pick how to read a file we may not write.

        ``mode=ro`` reads a WAL-mode file live only when SQLite can open (or create)
        its ``-shm`` file beside it. When it cannot (a directory the user cannot
        write), the file is read as a snapshot: ``immutable=1`` when no WAL content
        is pending (exact: the file holds every commit), else a private copy of the
        file and its WAL (``0700`` temp dir, removed on close), which SQLite
        recovers on open. :attr:`snapshot` then says so.
        """
        try:
            probe = sqlite3.connect(self._uri, uri=True, timeout=self._busy_ms / 1000)
            try:
                probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return
            finally:
                probe.close()
        except sqlite3.OperationalError as exc:
            low = str(exc).lower()
            if "readonly" not in low and "unable to open" not in low:
                return  # another problem: reported by the normal open path
        wal = Path(f"{self._path}-wal")
        try:
            pending = wal.stat().st_size > 0
        except OSError:
            pending = False
        if not pending:
            self._uri = f"file:{_uri_path(self._path)}?mode=ro&immutable=1"
            self.snapshot = (
                "read-only snapshot (the folder cannot be written): new traces will not appear"
            )
            return
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="jarvis-tui-snapshot-"))  # 0700
        try:
            for src, name in ((self._path, "traces.db"), (wal, "traces.db-wal")):
                with open(src, "rb") as fin:
                    fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
                    with os.fdopen(fd, "wb") as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if not os.access(self._path, os.R_OK):
                raise StoreError(f"cannot read {self._path}: {exc.strerror or exc}") from exc
            # The WAL itself cannot be read: the file alone, and say what is missing.
            self._uri = f"file:{_uri_path(self._path)}?mode=ro&immutable=1"
            self.snapshot = (
                "read-only snapshot without its unreadable WAL (the newest commits are"
                " missing): new traces will not appear"
            )
            return
        self._snapshot_dir = tmp
        # Read-write on our private copy so SQLite can recover its WAL; we never write.
        self._uri = f"file:{_uri_path(tmp / 'traces.db')}?mode=rw"
        self.snapshot = (
            "read-only snapshot copied at open (the folder cannot be written):"
            " new traces will not appear"
        )

    # ------------------------------------------------------------ connections

    def _connect_raw(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._uri,
            uri=True,
            timeout=self._busy_ms / 1000,
            isolation_level=None,
            check_same_thread=False,  # pooled: one thread at a time, see _conn()
        )
        # Arguments arrive as BLOBs (CAST in the SQL): a TEXT argument that is not
        # valid UTF-8 fails before Python sees it ("user-defined function raised
        # exception") and would abort the whole mirror statement.
        conn.create_function("jt_classify", 2, self._classify_row, deterministic=True)
        conn.create_function("jt_step_tool", 1, _step_tool_json, deterministic=True)
        conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        conn.execute("PRAGMA cache_size=-16384")  # 16 MiB per connection
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def _new_conn(self) -> sqlite3.Connection:
        conn = self._connect_raw()
        if not self._memory and not self.read_only:
            conn.execute("PRAGMA synchronous=NORMAL")
        if self.read_only:
            conn.execute(
                f"ATTACH DATABASE 'file:{self._mem_name}?mode=memory&cache=shared' AS jtmem"
            )
        with self._lock:
            self._all.append(conn)
            self._conn_gen[id(conn)] = self._gen
        return conn

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """Check a connection out of the pool for the current thread.

        Shared-cache in-memory databases (``:memory:`` stores, and the ``jtmem``
        side database of read-only stores) answer SQLITE_LOCKED instead of waiting,
        which no busy timeout retries; there, access is serialised by one lock.
        """
        if self._closed:
            raise StoreError("the trace store is closed")
        if self._ident is not None:  # one stat: is it still the file we opened?
            self.reopen_if_replaced()
        if self._memory or self.read_only:
            with self._serial:
                with self._pooled() as conn:
                    yield conn
        else:
            with self._pooled() as conn:
                yield conn

    @contextmanager
    def _pooled(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._new_conn()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if self._closed and "interrupt" in str(exc).lower():  # see close()
                raise StoreError("the trace store is closed: the query was stopped") from exc
            raise
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._closed:
                _close_interrupted(conn)
            elif self._pool.qsize() < 4 and self._conn_gen.get(id(conn)) == self._gen:
                self._pool.put(conn)
            else:  # one too many, or one that reads a file replaced since
                with self._lock:
                    if conn in self._all:
                        self._all.remove(conn)
                    self._conn_gen.pop(id(conn), None)
                conn.close()

    @contextmanager
    def _write(self, on: Optional[sqlite3.Connection] = None) -> Iterator[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``: take the lock up front)."""
        if self.read_only:
            raise ReadOnlyStore(f"{self._path} is read-only: changes cannot be saved")
        with self._conn() if on is None else _same(on) as conn, self._writing_on(conn):
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _friendly(exc, self._path) from exc
            try:
                yield conn
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise _friendly(exc, self._path) from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    raise _friendly(exc, self._path) from exc

    @contextmanager
    def _writing_on(self, conn: sqlite3.Connection) -> Iterator[None]:
        """*conn* holds a write transaction: :meth:`close` lets it finish."""
        with self._lock:
            self._writing[id(conn)] = self._writing.get(id(conn), 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._writing.pop(id(conn)) - 1
                if left:
                    self._writing[id(conn)] = left

    def _take_idle(self) -> list[sqlite3.Connection]:
        """Every connection waiting in the pool, taken out of it (none checked out by a
        thread is touched)."""
        idle: list[sqlite3.Connection] = []
        while True:
            try:
                idle.append(self._pool.get_nowait())
            except queue.Empty:
                return idle

    def close(self) -> None:
        """Close every connection (a background re-classification stops first; it
        resumes at the next open). A read still running in another thread (a count over
        a million rows as the app quits) is interrupted, so quitting never waits for it;
        its caller gets a :class:`StoreError`. A write transaction is left to finish."""
        self._closed = True
        thread = self._reclass_thread
        if thread is not None and thread.is_alive():
            self._reclass_stop.set()
            thread.join(timeout=30)
        # The idle connections are taken out first and never interrupted: SQLite keeps
        # an interrupt pending on a connection with nothing running, and the checkpoint
        # its close runs (the last connection's close folds the WAL into traces.db and
        # deletes traces.db-wal) then stops at once, leaving the -wal file behind.
        idle = self._take_idle()
        with self._lock:
            self._all = [c for c in self._all if c not in idle]
            busy = [c for c in self._all if id(c) not in self._writing]
        for conn in busy:  # reads other threads still run: stopped, see _pooled
            try:
                conn.interrupt()
            except sqlite3.Error:
                pass  # closed meanwhile by its own thread
        # Close the idle connections only: one checked out by another thread (a worker
        # still finishing a query) closes itself when it is handed back, since the store
        # is now closed. Closing it under that thread's feet would crash the process.
        for conn in idle:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        if self._keepalive is not None:
            self._keepalive.close()
            self._keepalive = None
        if self._snapshot_dir is not None:
            import shutil

            shutil.rmtree(self._snapshot_dir, ignore_errors=True)
            self._snapshot_dir = None

    # ------------------------------------------------------------ bad rows

    @property
    def problems(self) -> List[StoreProblem]:
        """Traces read with a fallback (invalid UTF-8, JSON too deep…): one entry per
        trace, every reason found so far; the rest of the store works as usual."""
        with self._lock:
            return list(self._problems.values())

    def _report(self, trace_id: Any, why: str) -> None:
        """Record a bad row (which trace, why); each reason is logged once."""
        if isinstance(trace_id, bytes):
            trace_id = trace_id.decode("utf-8", "replace")
        tid = str(trace_id)
        with self._lock:
            known = self._problems.get(tid)
            if known is not None and why in known.why.split("; "):
                return
            merged = why if known is None else f"{known.why}; {why}"
            self._problems[tid] = StoreProblem(tid, merged)
        log.warning("trace %r in %s: %s (shown with a fallback)", tid, self._path, why)

    def _classify_row(self, trace_id: Any, query: Any) -> str:
        """``jt_classify(trace_id, query)``: both BLOBs; never raises."""
        if isinstance(query, bytes):
            try:
                query = query.decode("utf-8")
            except UnicodeDecodeError:
                self._report(trace_id, "invalid UTF-8 in query")
                query = query.decode("utf-8", "replace")
        return _classify_text(query)

    def _fetch(
        self,
        conn: sqlite3.Connection,
        sql: str,
        params: Sequence[Any] = (),
        *,
        id_col: Optional[int] = None,
    ) -> list:
        """``execute(sql).fetchall()`` that survives text that is not valid UTF-8.

        The fast path decodes strictly (C speed); only when a value fails is the
        query re-run with a lenient decoder, and, given the column holding the
        trace id, each repaired row is reported.
        """
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if not _is_decode_error(exc):
                raise
        repair = _RepairingText()
        conn.text_factory = repair
        try:
            cur = conn.execute(sql, params)
            rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
        finally:
            conn.text_factory = str
        if id_col is not None and repair.repaired:
            for r in rows:
                bad = [
                    names[i] if i < len(names) else str(i)
                    for i, v in enumerate(r)
                    if isinstance(v, str) and id(v) in repair.repaired
                ]
                if bad:
                    self._report(r[id_col], f"invalid UTF-8 in {', '.join(bad)}")
        return rows

    def _loads_row(self, trace_id: str, text: Any, default: Any, what: str) -> Any:
        value, why = _parse_json(text, default)
        if why is not None:
            self._report(trace_id, f"{what}: {why}")
        return value

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    # ------------------------------------------------------------ schema

    def _open_schema(self, *, migrate: bool, progress: Optional[ProgressFn]) -> None:
        with self._conn() as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM main.sqlite_master WHERE type IN ('table','view')"
                )
            }
            if "traces" not in tables:
                user_tables = sorted(t for t in tables if not t.startswith("sqlite_"))
                if user_tables:
                    shown = ", ".join(user_tables[:5])
                    raise NotATraceStore(
                        f"{self._path} is not an OpenJarvis trace store "
                        f"(it has tables {shown} but no 'traces')"
                    )
                if self.read_only:
                    raise NotATraceStore(f"{self._path} holds no traces table")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                for ddl in (_OJ_TRACES, _OJ_STEPS, _OJ_FTS, _OJ_FTS_TRIGGER):
                    conn.execute(ddl)
                conn.execute("COMMIT")
                tables |= {"traces", "trace_steps", "traces_fts"}
            cols = {r[1] for r in conn.execute("PRAGMA main.table_info(traces)")}
            missing = REQUIRED_TRACE_COLUMNS - cols
            if missing:
                raise NotATraceStore(
                    f"{self._path} has a 'traces' table that is not OpenJarvis's "
                    f"(missing columns: {', '.join(sorted(missing))})"
                )
            if "trace_steps" not in tables:
                if self.read_only:
                    raise NotATraceStore(f"{self._path} has no trace_steps table")
                conn.execute(_OJ_STEPS)
            self._has_messages = "messages" in cols
            self._has_fts = "traces_fts" in tables
            if not self._has_fts and not self.read_only:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_OJ_FTS)
                conn.execute(_OJ_FTS_TRIGGER)
                conn.execute("INSERT INTO traces_fts(traces_fts) VALUES('rebuild')")
                conn.execute("COMMIT")
                self._has_fts = True
            if not self.read_only and not self._memory:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
        if self.needs_migration():
            if migrate or self.read_only:
                self.migrate(progress=progress)
        else:
            self.sync()
        if migrate and not self.read_only and not self.needs_migration():
            # Backfills a killed open left unfinished resume here (one lookup each).
            self._backfill_steps(progress)
            self._backfill_tools(progress)
            self._backfill_hours(progress)
            self._backfill_calls(progress)
            self._maybe_reclassify(progress)

    # ------------------------------------------------------------ re-classification

    _reclass_thread: Optional[threading.Thread] = None
    _reclass_state: Optional[tuple[int, int]] = None

    @property
    def reclassifying(self) -> Optional[tuple[int, int]]:
        """``(done, total)`` while stored query classes are being re-classified in the
        background (the classifier changed since they were stored); None otherwise.
        Classes of the traces not done yet are the old classifier's until then."""
        thread = self._reclass_thread
        if thread is None or not thread.is_alive():
            return None
        return self._reclass_state

    def wait_reclassified(self, timeout: Optional[float] = None) -> bool:
        """Block until a background re-classification is over; False on *timeout*."""
        thread = self._reclass_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    migrate_schema_tx_seconds = 0.0
    """Length of the first open's schema transaction (for the benchmark)."""
    migrate_max_tx_seconds = 0.0
    """Longest mirror transaction of a large first open while another connection was
    writing (or might be: the first ``MIGRATE_QUIET_SECONDS``): with the schema
    transaction, the longest a running OpenJarvis waited on us (for the benchmark)."""
    migrate_max_idle_tx_seconds = 0.0
    """Longest mirror transaction of a large first open while nobody else wrote."""
    migrate_max_backfill_tx_seconds = 0.0
    """Longest backfill transaction of this open (the steps map, tool calls…), from
    holding the write lock to its commit (for the benchmark)."""
    reclass_max_tx_seconds = 0.0
    """Longest write transaction of the last re-classification (for the benchmark)."""

    def _stored_classifier(self, conn: sqlite3.Connection) -> Optional[int]:
        row = conn.execute(
            f"SELECT value FROM {self._schema}.jt_meta WHERE key = 'classifier'"
        ).fetchone()
        try:
            return int(row[0]) if row else None
        except (TypeError, ValueError):
            return None

    def _maybe_reclassify(self, progress: Optional[ProgressFn]) -> None:
        """The classes in jt_rows came from another classifier version (or an unknown
        one): re-classify, here when it is quick (≤ ``RECLASS_BLOCKING_ROWS`` traces),
        else in a background thread (:attr:`reclassifying` says how far it is)."""
        with self._conn() as conn:
            if self._stored_classifier(conn) == CLASSIFIER_VERSION:
                return
            lo, hi = self._reclass_range(conn)
            left = conn.execute(
                f"SELECT count(*) FROM {self._schema}.jt_rows WHERE id > ? AND id <= ?",
                (lo, hi),
            ).fetchone()[0]
        if left <= RECLASS_BLOCKING_ROWS:
            self.reclassify(progress=progress)
            return
        self._reclass_stop = threading.Event()
        self._reclass_state = (0, int(left))
        self._reclass_thread = threading.Thread(
            target=self._reclassify_in_background, name="jarvis-tui-reclassify", daemon=True
        )
        self._reclass_thread.start()

    def _reclassify_in_background(self) -> None:
        try:
            self.reclassify(stop=self._reclass_stop)
        except Exception as exc:  # noqa: BLE001 - resumed at the next open; say why
            if not self._closed:
                log.warning("re-classifying queries in %s stopped: %s", self._path, exc)

    def _reclass_range(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """``(done, top)``: the ids up to *top* (the mirror when it began) need the
        current classifier; those up to *done* have it. Kept in jt_meta (resumable)."""
        meta = dict(
            conn.execute(
                f"SELECT key, value FROM {self._schema}.jt_meta"
                " WHERE key IN ('reclass_to', 'reclass_done', 'reclass_top', 'mirrored_id')"
            ).fetchall()
        )
        if meta.get("reclass_to") != CLASSIFIER_VERSION:
            return 0, int(meta.get("mirrored_id") or 0)
        return int(meta.get("reclass_done") or 0), int(meta.get("reclass_top") or 0)

    def reclassify(
        self,
        *,
        progress: Optional[ProgressFn] = None,
        stop: Optional[threading.Event] = None,
        batch: int = RECLASS_BATCH,
    ) -> int:
        """Re-classify every stored query with the current classifier; returns how many
        classes changed.

        Resumable: a watermark in jt_meta moves with each batch, so a run that is
        killed continues where it stopped at the next open. Queries are classified
        outside any transaction (~35 µs each); each write transaction only moves
        the changed rows and their totals (jt_agg, jt_agg_tool: out of the old
        class, into the new one), a few milliseconds, far under OpenJarvis's 5 s busy
        timeout. Traces mirrored meanwhile are classified by the current classifier
        already. *stop* ends it between batches.
        """
        if self.read_only:
            return 0
        s = self._schema
        with self._write() as conn:
            lo, top = self._reclass_range(conn)
            for key, value in (("reclass_to", CLASSIFIER_VERSION), ("reclass_top", top),
                               ("reclass_done", lo)):  # fmt: skip
                conn.execute(
                    f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES (?, ?)", (key, value)
                )
            total = conn.execute(
                f"SELECT count(*) FROM {s}.jt_rows WHERE id > ? AND id <= ?", (lo, top)
            ).fetchone()[0]
        done = changed = 0
        while True:
            if stop is not None and stop.is_set():
                return changed
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT r.id, r.qclass, CAST(t.trace_id AS BLOB),"
                    " CAST(coalesce(t.query, '') AS BLOB)"
                    f" FROM {s}.jt_rows r JOIN main.traces t ON t.id = r.id"
                    " WHERE r.id > ? AND r.id <= ? ORDER BY r.id LIMIT ?",
                    (lo, top, batch),
                ).fetchall()
            moves = []
            for rid, old, tid, query in rows:
                new = self._classify_row(tid, query)
                if new != old:
                    moves.append((rid, new))
            last = rows[-1][0] if rows else top
            finished = len(rows) < batch or last >= top
            t0 = time.perf_counter()
            with self._write() as conn:
                if moves:
                    changed += self._move_classes(conn, moves)
                conn.execute(
                    f"UPDATE {s}.jt_meta SET value = max(value, ?) WHERE key = 'reclass_done'",
                    (last,),
                )
                if finished:
                    conn.execute(
                        f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES ('classifier', ?)",
                        (CLASSIFIER_VERSION,),
                    )
                    conn.execute(
                        f"DELETE FROM {s}.jt_meta WHERE key IN"
                        " ('reclass_to', 'reclass_done', 'reclass_top')"
                    )
                if finished or moves:  # what the panes show changed: they refresh
                    conn.execute(f"UPDATE {s}.jt_meta SET value = value + 1 WHERE key='label_gen'")
            took = time.perf_counter() - t0
            self.reclass_max_tx_seconds = max(self.reclass_max_tx_seconds, took)
            done += len(rows)
            lo = last
            self._reclass_state = (min(done, total), total)
            if progress is not None and total:
                progress("re-classifying queries in", min(done, total), total)
            if finished:
                return changed

    def _move_classes(self, conn: sqlite3.Connection, moves: Sequence[tuple[int, str]]) -> int:
        """Inside a transaction: give rows new classes, their totals moving with them."""
        s = self._schema
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS jt_reclass (id INTEGER PRIMARY KEY, qclass TEXT)"
        )
        conn.execute("DELETE FROM temp.jt_reclass")
        conn.executemany("INSERT OR REPLACE INTO temp.jt_reclass VALUES (?, ?)", moves)
        # Rows another process re-classified (or deleted) meanwhile are left as they are.
        conn.execute(
            "DELETE FROM temp.jt_reclass WHERE NOT EXISTS (SELECT 1 FROM"
            f" {s}.jt_rows r WHERE r.id = jt_reclass.id AND r.qclass IS NOT jt_reclass.qclass)"
        )
        n = conn.execute("SELECT count(*) FROM temp.jt_reclass").fetchone()[0]
        if not n:
            return 0
        rows = "r.id IN (SELECT id FROM temp.jt_reclass)"
        tools = "j.id IN (SELECT id FROM temp.jt_reclass)"
        self._agg_rows(conn, 0, 0, tools=False, rng=rows, hours=False, sign="-")
        self._agg_tools(conn, tools, [], sign="-")
        conn.execute(
            f"UPDATE {s}.jt_rows SET qclass = c.qclass FROM temp.jt_reclass c"
            " WHERE c.id = jt_rows.id"
        )
        self._agg_rows(conn, 0, 0, tools=False, rng=rows, hours=False)
        self._agg_tools(conn, tools, [])
        return int(n)

    def needs_migration(self) -> bool:
        """True until our tables and indexes exist (first open of an OpenJarvis file)."""
        s = self._schema
        with self._conn() as conn:
            has_meta = conn.execute(
                f"SELECT 1 FROM {s}.sqlite_master WHERE type='table' AND name='jt_meta'"
            ).fetchone()
            if not has_meta:
                return True
            row = conn.execute(f"SELECT value FROM {s}.jt_meta WHERE key='schema'").fetchone()
            return row is None or int(row[0]) < SCHEMA_VERSION

    def migrate(self, *, progress: Optional[ProgressFn] = None) -> None:
        """Add our tables, mirror ``traces`` into ``jt_rows`` and build the indexes.

        Done once per file; the file stays readable (and writable) by OpenJarvis.
        Every schema change is made in ONE transaction: each schema change makes a
        running OpenJarvis re-prepare its statements, and one that re-prepares
        while we hold the write lock fails at once ("database is locked", no busy
        wait). A small store (≤ ``BULK_MIGRATE_ROWS`` new traces) is migrated whole
        in that transaction; a large one gets its indexes on the empty tables and is
        then mirrored in short transactions (``MIGRATE_TX_SECONDS`` each), so a
        concurrent OpenJarvis writer never waits long.
        """
        s = self._schema
        report = progress or (lambda phase, done, total: None)
        tables = [d.format(s=s) for d in (*_JT_TABLES, *_JT_AGG_TABLES)]
        ddl = tables + [d.format(s=s) for d in (*_JT_INDEXES, *_JT_AGG_TRIGGERS)]
        if not self.read_only:
            ddl += list(_MAIN_EXTRAS)
        with self._conn() as conn:
            top = conn.execute("SELECT coalesce(max(id), 0) FROM main.traces").fetchone()[0]
            has_meta = conn.execute(
                f"SELECT 1 FROM {s}.sqlite_master WHERE type='table' AND name='jt_meta'"
            ).fetchone()
            wm = 0
            if has_meta:
                row = conn.execute(
                    f"SELECT value FROM {s}.jt_meta WHERE key='mirrored_id'"
                ).fetchone()
                wm = int(row[0]) if row else 0
            has_steps_map = not self.read_only and bool(
                conn.execute(
                    "SELECT 1 FROM main.sqlite_master WHERE type='table' AND name='jt_steps'"
                ).fetchone()
            )
            top_step = 0
            if not self.read_only:
                top_step = conn.execute(
                    "SELECT coalesce(max(id), 0) FROM main.trace_steps"
                ).fetchone()[0]
            # A small store is migrated whole in one transaction, its steps mapped there.
            steps_pending = has_steps_map and bool(
                conn.execute("SELECT 1 FROM main.jt_meta WHERE key='steps_from'").fetchone()
            )
            bulk = self.read_only or (
                top - wm <= BULK_MIGRATE_ROWS
                and not steps_pending
                and (has_steps_map or top_step <= BULK_MIGRATE_STEPS)
            )
            conn.execute("BEGIN IMMEDIATE" if not self.read_only else "BEGIN")
            t_schema = time.perf_counter()
            try:
                had_agg = conn.execute(
                    f"SELECT 1 FROM {s}.sqlite_master WHERE type='table' AND name='jt_agg'"
                ).fetchone()
                had_hour = conn.execute(
                    f"SELECT 1 FROM {s}.sqlite_master WHERE type='table' AND name='jt_hour'"
                ).fetchone()
                had_calls = conn.execute(
                    f"SELECT 1 FROM {s}.sqlite_master WHERE type='table' AND name='jt_calls'"
                ).fetchone()
                for statement in tables:
                    conn.execute(statement)
                if not self.read_only:
                    conn.execute(_JT_STEPS)
                if not self.read_only and not has_steps_map:
                    # Steps at or below *mapped* are mapped by this transaction (a small
                    # store) or after it, in short ones (_backfill_steps); later steps
                    # as their traces are mirrored (_map_new_steps).
                    mapped = 0 if bulk else top_step
                    conn.execute(
                        "INSERT OR REPLACE INTO main.jt_meta(key, value)"
                        " VALUES ('steps_mapped', ?)",
                        (mapped,),
                    )
                    if mapped:
                        conn.executemany(
                            "INSERT OR REPLACE INTO main.jt_meta(key, value) VALUES (?, ?)",
                            [("steps_from", mapped), ("steps_done", 0)],
                        )
                # Before schema 6 a mirrored row could hold ±inf, text… (the totals then
                # NaN): those rows are repaired and every total recounted, once.
                recount = bool(wm) and self._repair_mirror(conn)
                conn.execute(
                    f"INSERT OR IGNORE INTO {s}.jt_meta(key, value) VALUES ('mirrored_id', 0)"
                )
                conn.execute(
                    f"INSERT OR IGNORE INTO {s}.jt_meta(key, value) VALUES ('label_gen', 0)"
                )
                if not had_agg:
                    conn.executemany(
                        f"INSERT OR IGNORE INTO {s}.jt_thresholds(th) VALUES (?)",
                        [(ALL_TH,), *((t,) for t in DEFAULT_THRESHOLDS)],
                    )
                if wm == 0:  # every row is classified by this open: with this classifier
                    conn.execute(
                        f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES ('classifier', ?)",
                        (CLASSIFIER_VERSION,),
                    )
                if had_agg and not had_hour and wm:
                    # A schema-4 store: its totals were per threshold ("rated >= th"),
                    # now per band: each band is its threshold's total minus the next
                    # one's (a few hundred rows); the hour totals are counted after
                    # this transaction, in short ones (_backfill_hours).
                    self._totals_to_bands(conn)
                    conn.execute(
                        f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES ('hours_from', ?)",
                        (wm,),
                    )
                if not had_agg and wm:
                    # A schema-3 store: totals of the rows already mirrored now (one
                    # GROUP BY, ~0.5 s at 1M); their tool calls in short transactions
                    # after this one (tool_counts scans until then).
                    self._agg_rows(conn, 0, wm, tools=False, hours=False)
                    for key in ("tools_from", "hours_from"):
                        conn.execute(
                            f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES (?, ?)",
                            (key, wm),
                        )
                wm_before = int(
                    conn.execute(
                        f"SELECT value FROM {s}.jt_meta WHERE key='mirrored_id'"
                    ).fetchone()[0]
                )
                if not had_calls and wm_before:
                    # Tool calls per trace of the rows mirrored before schema 6: counted
                    # after this transaction, in short ones (_backfill_calls).
                    conn.execute(
                        f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES ('calls_from', ?)",
                        (wm_before,),
                    )
                if bulk:  # copy first, then index: faster than index maintenance
                    report("mirroring", 0, top - wm)
                    self._mirror_chunk(conn, chunk=10**12, tools=False)
                    self._map_new_steps(conn)  # steps of traces mirrored before too
                for i, statement in enumerate(ddl[len(tables) :]):
                    report("indexing", i, len(ddl) - len(tables))
                    conn.execute(statement)
                if bulk and not self.read_only:  # every step is mapped now
                    wm_after = int(
                        conn.execute(
                            f"SELECT value FROM {s}.jt_meta WHERE key='mirrored_id'"
                        ).fetchone()[0]
                    )
                    self._mirror_tools(conn, wm_before, wm_after)
                if recount:
                    self._recount(conn)
                conn.execute("PRAGMA analysis_limit=1000")
                conn.execute("ANALYZE main" if not self.read_only else "ANALYZE jtmem")
                if bulk:
                    conn.execute(
                        f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES ('schema', ?)",
                        (SCHEMA_VERSION,),
                    )
                conn.execute("COMMIT")
                self.migrate_schema_tx_seconds = time.perf_counter() - t_schema
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._backfill_steps(report)  # first: the tool backfills read steps through it
        self._backfill_tools(report)
        self._backfill_hours(report)
        self._backfill_calls(report)
        if not bulk:
            self._mirror_pipelined(report)
            with self._conn() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("PRAGMA analysis_limit=1000")
                conn.execute("ANALYZE main")  # sqlite_stat1 exists: no schema change
                conn.execute(
                    f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES ('schema', ?)",
                    (SCHEMA_VERSION,),
                )
                conn.execute("COMMIT")
        if self.read_only:
            self._build_ro_steps_map()
            with self._conn() as conn:
                conn.execute("BEGIN")
                self._mirror_tools(conn, 0, 2**62)
                conn.execute("COMMIT")
                self._ro_label_sig = self._label_signature(conn)
        report("indexing", 1, 1)

    def _build_ro_steps_map(self) -> None:
        """Read-only file: an in-memory trace_id → steps index (we cannot add one)."""
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS jtmem.jt_steps_map"
                " (trace_id TEXT, step_index INTEGER, step_rowid INTEGER)"
            )
            conn.execute(
                "INSERT INTO jtmem.jt_steps_map"
                " SELECT trace_id, step_index, id FROM main.trace_steps"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS jtmem.jt_steps_map_ix"
                " ON jt_steps_map(trace_id, step_index)"
            )

    def _mirror_pipelined(self, progress: ProgressFn) -> int:
        """A large first open: mirror every trace past the watermark, fast, beside a
        running OpenJarvis.

        Classifying a query is Python (~40 µs); the rest of a trace's mirroring is
        SQL that releases the GIL. So a thread classifies the next traces
        (``MIGRATE_CLASSIFY_BATCH`` at a time, outside any transaction) while this
        one writes the classified ones: their classes go into a temp table (no lock
        on the file), then one short write transaction (``BEGIN IMMEDIATE``, about
        ``MIGRATE_TX_SECONDS``, sized by the last one's length) copies those traces
        into jt_rows joined to their classes, adds their totals and tool calls and
        moves the watermark. A killed open resumes from the last committed
        watermark; traces OpenJarvis adds meanwhile are mirrored at the end.
        """
        s = self._schema
        with self._conn() as c:
            start = int(
                c.execute(f"SELECT value FROM {s}.jt_meta WHERE key='mirrored_id'").fetchone()[0]
            )
            top = c.execute("SELECT coalesce(max(id), 0) FROM main.traces").fetchone()[0]
        total = max(0, top - start)
        ahead: queue.Queue[Any] = queue.Queue(maxsize=4)
        stop = threading.Event()
        worker = threading.Thread(
            target=self._classify_ahead, args=(start, ahead, stop),
            name="jarvis-tui-classify", daemon=True,
        )  # fmt: skip
        worker.start()
        added, rows_per_tx = 0, MIGRATE_FIRST_TX_ROWS
        # Until MIGRATE_QUIET_SECONDS pass without another connection's commit,
        # someone may be writing beside us: short transactions.
        neighbour = _Neighbour()
        try:
            with self._conn() as c:
                # The indexes' pages stay cached from one transaction to the next, and
                # a page written by several of them is checkpointed once (16 MiB).
                c.execute("PRAGMA cache_size=-65536")
                c.execute("PRAGMA wal_autocheckpoint=4096")
                c.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS jt_classes"
                    " (id INTEGER PRIMARY KEY, qclass TEXT NOT NULL)"
                )
                buffer: list[tuple[int, str]] = []  # classified, in id order
                done = False

                def take(block: bool) -> bool:
                    """One classified batch into *buffer*; False when none came."""
                    nonlocal done
                    try:
                        item = ahead.get() if block else ahead.get_nowait()
                    except queue.Empty:
                        return False
                    if item is None:
                        done = True
                        return False
                    if isinstance(item, BaseException):
                        raise item
                    buffer.extend(item)
                    return True

                try:
                    while True:
                        if not done and not buffer:
                            take(block=True)
                        while not done and len(buffer) < rows_per_tx and take(block=False):
                            pass
                        if not buffer:
                            if done:
                                break
                            continue
                        classes = buffer[:rows_per_tx]
                        del buffer[:rows_per_tx]
                        c.execute("DELETE FROM temp.jt_classes")
                        c.executemany("INSERT INTO temp.jt_classes VALUES (?, ?)", classes)
                        quiet, budget = neighbour.budget(c)
                        c.execute("BEGIN IMMEDIATE")
                        t0 = time.perf_counter()  # we hold the write lock from here
                        try:
                            added += self._mirror_classified(c)
                            c.execute("COMMIT")
                        except BaseException:
                            if c.in_transaction:
                                c.execute("ROLLBACK")
                            raise
                        took = time.perf_counter() - t0
                        if quiet:
                            self.migrate_max_idle_tx_seconds = max(
                                self.migrate_max_idle_tx_seconds, took
                            )
                        else:
                            self.migrate_max_tx_seconds = max(self.migrate_max_tx_seconds, took)
                        # The next one sized to ~80% of the budget (at most twice this).
                        fits = _next_size(len(classes), took, budget)
                        if len(classes) >= rows_per_tx or fits < rows_per_tx:
                            rows_per_tx = int(min(max(fits, 100), MIGRATE_MAX_TX_ROWS))
                        if total:
                            progress("mirroring", min(added, total), total)
                        if not quiet:  # a writer waiting on this one gets the lock now
                            time.sleep(MIGRATE_GAP_SECONDS)
                finally:
                    c.execute("DELETE FROM temp.jt_classes")
                    c.execute("PRAGMA cache_size=-16384")
                    c.execute("PRAGMA wal_autocheckpoint=1000")
        finally:
            stop.set()
            while worker.is_alive():  # unblock a worker waiting to hand over a batch
                try:
                    ahead.get(timeout=0.05)
                except queue.Empty:
                    pass
            worker.join()
        # Traces added after the classifier's last read (and any it could not see).
        return added + self._mirror_new_rows()

    def _classify_ahead(self, start: int, out: queue.Queue[Any], stop: threading.Event) -> None:
        """Thread of :meth:`_mirror_pipelined`: classify the traces past *start* in id
        order, a list of ``(id, class)`` per batch onto *out*; then None (an
        exception first, if one stopped it)."""

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    pass
            return False

        lo = start
        try:
            with self._conn() as conn:
                while not stop.is_set():
                    rows = conn.execute(
                        "SELECT id, CAST(trace_id AS BLOB), CAST(coalesce(query, '') AS BLOB)"
                        " FROM main.traces WHERE id > ? ORDER BY id LIMIT ?",
                        (lo, MIGRATE_CLASSIFY_BATCH),
                    ).fetchall()
                    if rows:
                        lo = rows[-1][0]
                        batch = [(rid, self._classify_row(tid, q)) for rid, tid, q in rows]
                        if not put(batch):
                            return
                    if len(rows) < MIGRATE_CLASSIFY_BATCH:
                        break
        except BaseException as exc:  # noqa: BLE001 - raised again by the writer
            put(exc)
        put(None)

    def _mirror_classified(self, conn: sqlite3.Connection) -> int:
        """Inside a transaction: mirror the traces whose classes are in
        ``temp.jt_classes`` (those at or below the watermark were mirrored meanwhile,
        by a save of ours: left out), with their totals; returns how many."""
        s = self._schema
        wm = int(
            conn.execute(f"SELECT value FROM {s}.jt_meta WHERE key='mirrored_id'").fetchone()[0]
        )
        top = conn.execute("SELECT max(id) FROM temp.jt_classes").fetchone()[0]
        if top is None or top <= wm:
            return 0
        self._map_new_steps(conn)  # steps OpenJarvis saved meanwhile
        cur = conn.execute(
            f"INSERT OR IGNORE INTO {s}.jt_rows"
            "(id, started_at, qclass, agent, model, outcome, feedback, latency, tokens)"
            f" SELECT t.id, {_number_sql('t.started_at', '0.0', VALUE_LIMIT)}, c.qclass,"
            f" coalesce(t.agent, ''), coalesce(t.model, ''), t.outcome,"
            f" {_number_sql('t.feedback')},"
            f" {_number_sql('t.total_latency_seconds', '0.0', VALUE_LIMIT)},"
            f" {_number_sql('t.total_tokens', '0', VALUE_LIMIT)}"
            # CROSS JOIN: the classes drive (the planner would scan every trace).
            " FROM temp.jt_classes c CROSS JOIN main.traces t ON t.id = c.id"
            " WHERE c.id > ? ORDER BY c.id",
            (wm,),
        )
        self._agg_rows(conn, wm, top, tools=not self.read_only)
        conn.execute(f"UPDATE {s}.jt_meta SET value = ? WHERE key='mirrored_id'", (top,))
        return max(int(cur.rowcount), 0)

    def _mirror_new_rows(
        self,
        *,
        progress: Optional[ProgressFn] = None,
        chunk: int = 20_000,
        conn: Optional[sqlite3.Connection] = None,
    ) -> int:
        """Copy traces past the mirrored watermark into ``jt_rows``, classifying them
        (in transactions of up to *chunk* traces)."""
        if conn is not None:
            return self._mirror_chunk(conn, chunk=10**12)[0]
        s = self._schema
        with self._conn() as c:
            wm = c.execute(f"SELECT value FROM {s}.jt_meta WHERE key='mirrored_id'").fetchone()
            top = c.execute("SELECT coalesce(max(id), 0) FROM main.traces").fetchone()[0]
        start = int(wm[0]) if wm else 0
        total = max(0, top - start)
        added = 0
        while True:
            with self._conn() as c:
                c.execute("BEGIN IMMEDIATE" if not self.read_only else "BEGIN")
                try:
                    n, done = self._mirror_chunk(c, chunk=chunk)
                    c.execute("COMMIT")
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
            added += n
            if progress and total:
                progress("mirroring", min(added, total), total)
            if done:
                return added

    def _mirror_chunk(
        self, conn: sqlite3.Connection, *, chunk: int, tools: bool = True
    ) -> tuple[int, bool]:
        """Inside a transaction: mirror up to *chunk* traces; ``(added, finished)``.

        Their totals are added to ``jt_agg``; with *tools* their tool calls too
        (a read-only store does that once its steps map has the new rows)."""
        s = self._schema
        self._map_new_steps(conn)
        wm = int(
            conn.execute(f"SELECT value FROM {s}.jt_meta WHERE key='mirrored_id'").fetchone()[0]
        )
        n, top = conn.execute(
            "SELECT count(*), max(id) FROM"
            " (SELECT id FROM main.traces WHERE id > ? ORDER BY id LIMIT ?)",
            (wm, chunk),
        ).fetchone()
        if not n:
            return 0, True
        # One INSERT … SELECT: the class comes from jt_classify (classify_query,
        # registered on our connections only; no trigger of ours ever calls it).
        conn.execute(
            f"INSERT OR IGNORE INTO {s}.jt_rows"
            "(id, started_at, qclass, agent, model, outcome, feedback, latency, tokens)"
            f" SELECT id, {_number_sql('started_at', '0.0', VALUE_LIMIT)},"
            " jt_classify(CAST(trace_id AS BLOB), CAST(coalesce(query, '') AS BLOB)),"
            f" coalesce(agent, ''), coalesce(model, ''), outcome, {_number_sql('feedback')},"
            f" {_number_sql('total_latency_seconds', '0.0', VALUE_LIMIT)},"
            f" {_number_sql('total_tokens', '0', VALUE_LIMIT)}"
            " FROM main.traces WHERE id > ? AND id <= ?",
            (wm, top),
        )
        self._agg_rows(conn, wm, top, tools=tools and not self.read_only)
        conn.execute(f"UPDATE {s}.jt_meta SET value = ? WHERE key='mirrored_id'", (top,))
        return int(n), n < chunk

    def _agg_rows(
        self,
        conn: sqlite3.Connection,
        lo: int,
        hi: int,
        *,
        tools: bool,
        rng: str = "r.id > ? AND r.id <= ?",
        hours: bool = True,
        sign: str = "",
    ) -> None:
        """Inside a transaction: add the jt_rows just inserted (``lo < id <= hi``) to the
        totals, in one GROUP BY (cheaper than a trigger per row); with *tools* their
        tool calls too. Every insert into jt_rows is ours, so this is the only way
        rows enter the totals; updates and deletes go through the triggers.
        *rng*: another selection of jt_rows ``r`` taking ``(lo, hi)`` (every row: a
        recount); *hours*: their hour totals too; *sign* ``-``: take them out instead.
        """
        s = self._schema
        params = [lo, hi] if "?" in rng else []
        m = sign
        conn.execute(
            f"INSERT INTO {s}.jt_agg(qclass, model, agent, outcome, th, n, rated, fb, fb_sq,"
            " latency, tokens)"
            f" SELECT {_agg_key('r')}, {self._band_case(conn)}, {m}count(*), {m}count(r.feedback),"
            f" {m}total(r.feedback), {m}total(r.feedback * r.feedback), {m}total(r.latency),"
            f" {m}total(r.tokens) FROM {s}.jt_rows r WHERE {rng} GROUP BY 1, 2, 3, 4, 5"
            " ON CONFLICT(qclass, model, agent, outcome, th) DO UPDATE SET"
            " n = n + excluded.n, rated = rated + excluded.rated, fb = fb + excluded.fb,"
            " fb_sq = fb_sq + excluded.fb_sq, latency = latency + excluded.latency,"
            " tokens = tokens + excluded.tokens",
            params,
        )
        if hours:
            self._hour_rows(conn, rng, params)
        if tools:
            self._mirror_tools(conn, lo, hi)

    def _hour_rows(self, conn: sqlite3.Connection, rng: str, params: Sequence[Any]) -> None:
        """Inside a transaction: add the jt_rows *rng* selects to the hour totals."""
        s = self._schema
        conn.execute(
            f"INSERT INTO {s}.jt_hour(agent, hour, n, rated, fb, fb_sq, success, failure,"
            " latency, tokens)"
            f" SELECT r.agent, {_bucket('r.started_at')}, count(*), count(r.feedback),"
            " total(r.feedback), total(r.feedback * r.feedback), total(r.outcome IS 'success'),"
            " total(r.outcome IS 'failure'), total(r.latency), total(r.tokens)"
            f" FROM {s}.jt_rows r WHERE {rng} GROUP BY 1, 2"
            " ON CONFLICT(agent, hour) DO UPDATE SET n = n + excluded.n,"
            " rated = rated + excluded.rated, fb = fb + excluded.fb,"
            " fb_sq = fb_sq + excluded.fb_sq, success = success + excluded.success,"
            " failure = failure + excluded.failure, latency = latency + excluded.latency,"
            " tokens = tokens + excluded.tokens",
            list(params),
        )

    def _band_case(self, conn: sqlite3.Connection, row: str = "r") -> str:
        """:func:`_band` as a CASE over the thresholds registered now (inside a
        transaction: they cannot change under it), ~10x cheaper per row in bulk."""
        ths = sorted(
            (float(r[0]) for r in conn.execute(f"SELECT th FROM {self._schema}.jt_thresholds")),
            reverse=True,
        )
        arms = " ".join(f"WHEN {row}.feedback >= {th!r} THEN {th!r}" for th in ths if th != ALL_TH)
        return f"(CASE {arms} ELSE {ALL_TH} END)" if arms else f"{ALL_TH}"

    def _agg_tools(self, conn: sqlite3.Connection, rng: str, params: list, sign: str = "") -> None:
        s = self._schema
        conn.execute(
            f"INSERT INTO {s}.jt_agg_tool(qclass, model, agent, outcome, th, tool, calls)"
            f" SELECT {_agg_key('r')}, {self._band_case(conn)}, j.tool, {sign}sum(j.calls)"
            f" FROM {s}.jt_tools j"
            f" JOIN {s}.jt_rows r ON r.id = j.id WHERE {rng}"
            " GROUP BY 1, 2, 3, 4, 5, 6"
            " ON CONFLICT(qclass, model, agent, outcome, th, tool) DO UPDATE SET"
            " calls = calls + excluded.calls",
            params,
        )

    def _mirror_tools(self, conn: sqlite3.Connection, lo: int, hi: int) -> None:
        """Inside a transaction: tool calls of traces ``lo < id <= hi`` into jt_tools
        and their totals (the traces are in jt_rows already)."""
        s = self._schema
        src = self._steps_source(conn)
        self._mirror_calls(conn, src, lo, hi)
        tool = "json_extract(CASE WHEN json_valid(st.input) THEN st.input END, '$.tool')"
        cur = conn.execute(
            f"INSERT OR IGNORE INTO {s}.jt_tools(id, tool, calls)"
            f" SELECT id, tool, count(*) FROM (SELECT t.id AS id, {tool} AS tool FROM {src}"
            "  WHERE t.id > ? AND t.id <= ? AND st.step_type = 'tool_call')"
            " WHERE typeof(tool) = 'text' AND tool != '' GROUP BY id, tool",
            (lo, hi),
        )
        if cur.rowcount == 0:
            return
        self._agg_tools(conn, "j.id > ? AND j.id <= ?", [lo, hi])

    _steps_ready = False

    def _steps_mapped(self, conn: sqlite3.Connection) -> bool:
        """Read-write: True once jt_steps maps every step (a first open fills it)."""
        if not self._steps_ready:
            has = conn.execute(
                "SELECT 1 FROM main.sqlite_master WHERE type='table' AND name='jt_steps'"
            ).fetchone()
            pending = (
                has and conn.execute("SELECT 1 FROM main.jt_meta WHERE key='steps_from'").fetchone()
            )
            self._steps_ready = bool(has) and not pending
        return self._steps_ready

    def _steps_source(self, conn: sqlite3.Connection) -> str:
        """FROM clause: traces ``t`` joined to their steps ``st`` in step order."""
        if self.read_only:  # no index of ours on the file: the in-memory steps map
            return (
                "main.traces t JOIN jtmem.jt_steps_map m ON m.trace_id = t.trace_id"
                " JOIN main.trace_steps st ON st.id = m.step_rowid"
            )
        if self._steps_mapped(conn):
            return (
                "main.traces t JOIN main.jt_steps m ON m.id = t.id"
                " JOIN main.trace_steps st ON st.id = m.step_rowid"
            )
        # While the map is filled (another process's first open): the old join
        # (through jt_steps_trace on a file that has it, else a scan).
        return "main.traces t JOIN main.trace_steps st ON st.trace_id = t.trace_id"

    def _map_steps(self, conn: sqlite3.Connection, lo: int, hi: int) -> None:
        """Inside a transaction: the steps ``lo < rowid <= hi`` into jt_steps (a step
        whose trace is not stored is left out: no lookup can ask for it)."""
        conn.execute(
            "INSERT OR IGNORE INTO main.jt_steps(id, step_index, step_rowid)"
            " SELECT t.id, s.step_index, s.id"
            # CROSS JOIN: the steps' rowid range drives, each trace found by its id.
            " FROM main.trace_steps s CROSS JOIN main.traces t ON t.trace_id = s.trace_id"
            " WHERE s.id > ? AND s.id <= ?",
            (lo, hi),
        )

    def _map_new_steps(self, conn: sqlite3.Connection) -> None:
        """Inside a write transaction: map the steps saved since the last call (past
        jt_meta 'steps_mapped'); two lookups when there are none."""
        if self.read_only:
            return
        row = conn.execute("SELECT value FROM main.jt_meta WHERE key='steps_mapped'").fetchone()
        if row is None:  # the schema transaction has not run yet
            return
        top = conn.execute("SELECT coalesce(max(id), 0) FROM main.trace_steps").fetchone()[0]
        if top > int(row[0]):
            self._map_steps(conn, int(row[0]), top)
            conn.execute("UPDATE main.jt_meta SET value = ? WHERE key='steps_mapped'", (top,))

    def _backfill_steps(self, progress: Optional[ProgressFn] = None) -> None:
        """The steps saved before our first open into jt_steps, by rowid range in
        short transactions (``MIGRATE_TX_SECONDS``), resumable; lookups use the map
        once the last range is done."""
        self._backfill_ranges(
            "steps", self._map_steps,
            first_step=MIGRATE_FIRST_TX_STEPS, max_step=MIGRATE_MAX_TX_STEPS,
            label="steps map", progress=progress,
        )  # fmt: skip

    def _mirror_calls(self, conn: sqlite3.Connection, src: str, lo: int, hi: int) -> None:
        """Inside a transaction: the tool sets (jt_calls, jt_tool_sets) of the traces
        ``lo < id <= hi`` (*src*: traces ``t`` joined to their steps ``st``, in step
        order). One pass over their steps, into a temp table, then two small inserts."""
        s = self._schema
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS jt_new_calls"
            " (id INTEGER PRIMARY KEY, calls INTEGER, tools TEXT)"
        )
        conn.execute("DELETE FROM temp.jt_new_calls")
        cur = conn.execute(
            "INSERT INTO temp.jt_new_calls(id, calls, tools)"
            f" SELECT t.id, count(*), coalesce(group_concat({_step_tool_sql('st.input')}, ','), '')"
            f" FROM {src} WHERE t.id > ? AND t.id <= ? AND st.step_type = 'tool_call'"
            " GROUP BY t.id",
            (lo, hi),
        )
        if cur.rowcount == 0:
            return
        conn.execute(
            f"INSERT OR IGNORE INTO {s}.jt_tool_sets(calls, tools)"
            " SELECT DISTINCT calls, tools FROM temp.jt_new_calls"
        )
        conn.execute(
            f"INSERT OR IGNORE INTO {s}.jt_calls(id, sid) SELECT n.id, ts.sid"
            f" FROM temp.jt_new_calls n JOIN {s}.jt_tool_sets ts"
            " ON ts.calls = n.calls AND ts.tools = n.tools"
        )
        conn.execute("DELETE FROM temp.jt_new_calls")

    def _backfill_calls(self, progress: Optional[ProgressFn] = None) -> None:
        """A store from before schema 6: jt_calls of the traces mirrored then, by id
        range in short transactions (``MIGRATE_TX_SECONDS``), resumable; the evolver
        reads the steps themselves until the last range is done."""
        self._backfill_ranges(
            "calls",
            lambda c, lo, hi: self._mirror_calls(c, self._steps_source(c), lo, hi),
            first_step=5_000, max_step=400_000, label="tool calls per trace",
            progress=progress,
        )  # fmt: skip

    def _backfill_ranges(
        self,
        name: str,
        mirror: Callable[[sqlite3.Connection, int, int], None],
        *,
        first_step: int,
        max_step: int,
        label: str,
        progress: Optional[ProgressFn],
    ) -> None:
        """Runs *mirror* over the id range ``jt_meta['<name>_done'] … ['<name>_from']``
        in short transactions, recording how far it got after each, so an interrupted
        backfill resumes where it stopped; the keys are removed when the range is done.

        Each transaction is sized to ``MIGRATE_TX_SECONDS`` of holding the write lock
        (``MIGRATE_IDLE_TX_SECONDS`` once no other connection has committed for
        ``MIGRATE_QUIET_SECONDS``), and ``MIGRATE_GAP_SECONDS`` separate two of them,
        so a writer waiting on one gets the lock before the next."""
        if self.read_only:
            return
        s = self._schema
        key_from, key_done = f"{name}_from", f"{name}_done"
        step = first_step
        neighbour = _Neighbour()
        with self._conn() as conn:
            while True:
                _quiet, budget = neighbour.budget(conn)
                with self._write(conn) as c:
                    held = time.perf_counter()  # the write lock is ours from here
                    meta = dict(
                        c.execute(
                            f"SELECT key, value FROM {s}.jt_meta WHERE key IN (?, ?)",
                            (key_from, key_done),
                        ).fetchall()
                    )
                    if key_from not in meta:
                        return
                    lo, hi = int(meta.get(key_done, 0)), int(meta[key_from])
                    top = min(lo + step, hi)
                    mirror(c, lo, top)
                    if top >= hi:
                        c.execute(
                            f"DELETE FROM {s}.jt_meta WHERE key IN (?, ?)", (key_from, key_done)
                        )
                    else:
                        c.execute(
                            f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES (?, ?)",
                            (key_done, top),
                        )
                took = time.perf_counter() - held
                self.migrate_max_backfill_tx_seconds = max(
                    self.migrate_max_backfill_tx_seconds, took
                )
                if progress:
                    progress(label, top, hi)
                if top >= hi:
                    return
                # The next one sized to ~80% of the budget (at most twice this one).
                fits = _next_size(top - lo, took, budget)
                step = int(min(max(fits, 100), max_step))
                time.sleep(MIGRATE_GAP_SECONDS)

    def _calls_complete(self, conn: sqlite3.Connection) -> bool:
        return not conn.execute(
            f"SELECT 1 FROM {self._schema}.jt_meta WHERE key = 'calls_from'"
        ).fetchone()

    def _repair_mirror(self, conn: sqlite3.Connection) -> bool:
        """Inside the schema transaction: mirrored values that are no numbers within
        ``RATING_LIMIT`` (before schema 6) become what the mirror keeps now (see
        :func:`_number_sql`); True when any did (the caller then recounts every total).
        Found by index probes; the repair itself is one scan, only when needed."""
        s = self._schema
        cols = {  # column: (its indexed expression, the default, the limit)
            "feedback": ("coalesce(feedback, -1.0)", "NULL", RATING_LIMIT),  # jt_rows_score
            "latency": ("latency", "0.0", VALUE_LIMIT),
            "tokens": ("tokens", "0", VALUE_LIMIT),
            "started_at": ("started_at", "0.0", VALUE_LIMIT),
        }
        odd = any(
            conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM {s}.jt_rows WHERE {key} > {lim!r})"
                f" OR EXISTS (SELECT 1 FROM {s}.jt_rows WHERE {key} < -{lim!r})"
            ).fetchone()[0]
            for key, _, lim in cols.values()
        )
        if not odd:
            return False
        for name in _JT_AGG_TRIGGER_NAMES:  # recreated by this transaction's DDL
            conn.execute(f"DROP TRIGGER IF EXISTS {s}.{name}")
        norm = {c: _number_sql(c, d, lim) for c, (_, d, lim) in cols.items()}
        sets = ", ".join(f"{c} = {e}" for c, e in norm.items())
        bad = " OR ".join(f"{c} IS NOT {e}" for c, e in norm.items())
        conn.execute(f"UPDATE {s}.jt_rows SET {sets} WHERE {bad}")
        return True

    def _totals_to_bands(self, conn: sqlite3.Connection) -> None:
        """Inside a transaction: schema-4 totals (per threshold: rated >= th) as bands
        (rated >= th and below the next threshold): the next threshold's row taken
        away from each (a missing row counts 0)."""
        s = self._schema
        nxt = f"(SELECT min(t.th) FROM {s}.jt_thresholds t WHERE t.th > c.th)"
        for table, key, vals in (
            ("jt_agg", ("qclass", "model", "agent", "outcome"),
             ("n", "rated", "fb", "fb_sq", "latency", "tokens")),
            ("jt_agg_tool", ("qclass", "model", "agent", "outcome", "tool"), ("calls",)),
        ):  # fmt: skip
            conn.execute("DROP TABLE IF EXISTS temp.jt_cum")
            conn.execute(f"CREATE TEMP TABLE jt_cum AS SELECT * FROM {s}.{table}")
            conn.execute(f"DELETE FROM {s}.{table}")
            on = " AND ".join(f"x.{k} = c.{k}" for k in key)
            cols = ", ".join(f"c.{v} - coalesce(x.{v}, 0)" for v in vals)
            conn.execute(
                f"INSERT INTO {s}.{table}({', '.join((*key, 'th', *vals))})"
                f" SELECT {', '.join(f'c.{k}' for k in key)}, c.th, {cols}"
                f" FROM temp.jt_cum c LEFT JOIN temp.jt_cum x ON {on} AND x.th = {nxt}"
            )
            conn.execute("DROP TABLE temp.jt_cum")

    def _backfill_hours(self, progress: Optional[ProgressFn] = None) -> None:
        """A store from before schema 5: the hour totals of the traces mirrored then,
        built by time range in short transactions (``MIGRATE_TX_SECONDS``), resumable.
        Each range's hours are counted afresh (their rows deleted first), so traces
        mirrored or labelled meanwhile are counted once; version outcomes scan rows
        until the last range is done."""
        if self.read_only:
            return
        s = self._schema
        span = 6 * BUCKET_SECONDS
        while True:
            t0 = time.perf_counter()
            with self._write() as c:
                meta = dict(
                    c.execute(
                        f"SELECT key, value FROM {s}.jt_meta"
                        " WHERE key IN ('hours_from', 'hours_done')"
                    ).fetchall()
                )
                if "hours_from" not in meta:
                    return
                first, last = c.execute(
                    # Two subqueries: each is one index probe (together in one
                    # SELECT, min and max scan the whole table).
                    f"SELECT (SELECT min(started_at) FROM {s}.jt_rows),"
                    f" (SELECT max(started_at) FROM {s}.jt_rows)"
                ).fetchone()
                if first is None:
                    c.execute(f"DELETE FROM {s}.jt_meta WHERE key IN ('hours_from', 'hours_done')")
                    return
                lo_h = int(meta.get("hours_done", math.floor(first / BUCKET_SECONDS)))
                hi_h = lo_h + max(1, int(span / BUCKET_SECONDS))
                c.execute(f"DELETE FROM {s}.jt_hour WHERE hour >= ? AND hour < ?", (lo_h, hi_h))
                self._hour_rows(
                    c,
                    f"r.started_at >= ? AND r.started_at < ? AND {_bucket('r.started_at')} >= ?"
                    f" AND {_bucket('r.started_at')} < ?",
                    [lo_h * BUCKET_SECONDS - 1, hi_h * BUCKET_SECONDS + 1, lo_h, hi_h],
                )
                end = hi_h * BUCKET_SECONDS > last
                if end:
                    c.execute(f"DELETE FROM {s}.jt_meta WHERE key IN ('hours_from', 'hours_done')")
                else:
                    c.execute(
                        f"INSERT OR REPLACE INTO {s}.jt_meta(key, value) VALUES ('hours_done', ?)",
                        (hi_h,),
                    )
            took = time.perf_counter() - t0
            if took < MIGRATE_TX_SECONDS / 2:
                span = min(span * 2, 1e9)
            elif took > MIGRATE_TX_SECONDS:
                span = max(span / 2, BUCKET_SECONDS)
            if progress:
                done = min(hi_h * BUCKET_SECONDS, last) - first
                progress("hour totals", int(done), int(max(last - first, 1)))
            if end:
                return

    def hours_complete(self) -> bool:
        """True when the hour totals (jt_hour) count every trace (see _backfill_hours)."""
        with self._conn() as conn:
            return not conn.execute(
                f"SELECT 1 FROM {self._schema}.jt_meta WHERE key = 'hours_from'"
            ).fetchone()

    def _backfill_tools(self, progress: Optional[ProgressFn] = None) -> None:
        """A schema-3 store: tool calls of the traces mirrored before schema 4, in
        short transactions (``MIGRATE_TX_SECONDS``), resumable."""
        self._backfill_ranges(
            "tools", self._mirror_tools, first_step=2_000, max_step=200_000,
            label="tool calls", progress=progress,
        )  # fmt: skip

    def _tools_complete(self, conn: sqlite3.Connection) -> bool:
        return not conn.execute(
            f"SELECT 1 FROM {self._schema}.jt_meta WHERE key = 'tools_from'"
        ).fetchone()

    def rebuild_aggregates(self) -> None:
        """Recompute every total from the mirror in one transaction (a repair; the
        triggers keep them current otherwise)."""
        with self._conn() as conn:
            conn.execute("BEGIN" if self.read_only else "BEGIN IMMEDIATE")
            try:
                self._recount(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _recount(self, conn: sqlite3.Connection, *, hours: bool = True) -> None:
        """Inside a transaction: every total (with *hours*, the hour totals too) from
        the mirror, in one GROUP BY each (~1 s at 1M)."""
        s = self._schema
        conn.execute(f"DELETE FROM {s}.jt_agg")
        conn.execute(f"DELETE FROM {s}.jt_agg_tool")
        if hours:
            conn.execute(f"DELETE FROM {s}.jt_hour")
            conn.execute(f"DELETE FROM {s}.jt_meta WHERE key IN ('hours_from', 'hours_done')")
        self._agg_rows(conn, 0, 0, tools=False, rng="1", hours=hours)
        self._agg_tools(conn, "1", [])

    def _threshold(self, q: Optional[float]) -> Optional[float]:
        """The ``th`` whose totals answer "rated ≥ *q*" (``ALL_TH`` for None), registering
        *q* on first use (one scan, then kept by the triggers). None: not kept (too
        many thresholds, not a number, or the store could not be written): scan."""
        if q is None:
            return ALL_TH
        try:
            q = float(q)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(q) or q < -1.0:
            return None
        s = self._schema
        with self._conn() as conn:
            ths = [r[0] for r in conn.execute(f"SELECT th FROM {s}.jt_thresholds")]
        if q in ths:
            return q
        if len(ths) > MAX_THRESHOLDS:
            return None
        try:
            with self._conn() as conn:
                conn.execute("BEGIN" if self.read_only else "BEGIN IMMEDIATE")
                try:
                    if not conn.execute(
                        f"SELECT 1 FROM {s}.jt_thresholds WHERE th = ?", (q,)
                    ).fetchone():
                        # The band below q splits in two: a recount (one scan).
                        conn.execute(f"INSERT INTO {s}.jt_thresholds(th) VALUES (?)", (q,))
                        self._recount(conn, hours=False)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            log.info("threshold %s not kept in %s (%s): scanning", q, self._path, exc)
            return None
        return q

    def sync(self) -> int:
        """Mirror traces another process added since we last looked; returns how many."""
        if self.read_only:
            return 0 if self.snapshot else self._sync_read_only()
        try:
            return self._mirror_new_rows()
        except sqlite3.OperationalError as exc:
            raise _friendly(exc, self._path) from exc

    def _label_signature(self, conn: sqlite3.Connection) -> tuple[float, int]:
        # Over the values the mirror keeps (a sum of infinities would be NaN: NULL).
        fb = _number_sql("feedback")
        row = conn.execute(
            f"SELECT total({fb}) + total(length(coalesce(outcome, ''))) * 1e-3,"
            f" count({fb}) FROM main.traces"
        ).fetchone()
        return float(row[0]), int(row[1])

    def _sync_read_only(self) -> int:
        """Read-only file, no trigger possible: mirror new rows and their steps, and
        re-read feedback/outcome when the file's labels changed (a full scan, the
        price of a file we may not index)."""
        with self._conn() as conn:
            conn.execute("BEGIN")
            wm = int(
                conn.execute("SELECT value FROM jtmem.jt_meta WHERE key='mirrored_id'").fetchone()[
                    0
                ]
            )
            n, _ = self._mirror_chunk(conn, chunk=10**12)
            if n:
                conn.execute(
                    "INSERT INTO jtmem.jt_steps_map SELECT s.trace_id, s.step_index, s.id"
                    " FROM main.trace_steps s JOIN main.traces t ON t.trace_id = s.trace_id"
                    " WHERE t.id > ?",
                    (wm,),
                )
                self._mirror_tools(conn, wm, 2**62)
            sig = self._label_signature(conn)
            if self._ro_label_sig is not None and sig != self._ro_label_sig:
                fb = _number_sql("t.feedback")
                conn.execute(
                    f"UPDATE jtmem.jt_rows SET feedback = {fb}, outcome = t.outcome"
                    " FROM main.traces t WHERE t.id = jt_rows.id"
                    f" AND (jt_rows.feedback IS NOT {fb} OR jt_rows.outcome IS NOT t.outcome)"
                )
                conn.execute("UPDATE jtmem.jt_meta SET value = value + 1 WHERE key='label_gen'")
            self._ro_label_sig = sig
            conn.execute("COMMIT")
        return n

    def change_token(self) -> tuple[int, int]:
        """Cheap "has anything changed?" value: (newest trace id, label generation).

        Two O(1) lookups; compare with the previous token and call :meth:`sync`
        when it changed. (A read-only file has no trigger: there the label part
        comes from :meth:`sync`'s re-read.)
        """
        s = self._schema
        if self.read_only and not self.snapshot:
            self._sync_read_only()
        with self._conn() as conn:
            top = conn.execute("SELECT coalesce(max(id), 0) FROM main.traces").fetchone()[0]
            gen = conn.execute(f"SELECT value FROM {s}.jt_meta WHERE key='label_gen'").fetchone()
        return int(top), int(gen[0]) if gen else 0

    # ------------------------------------------------------------ OpenJarvis API

    def save(self, trace: Trace) -> None:
        """Persist a complete trace with its steps (a no-op if the id is stored)."""
        self.save_many([trace])

    def save_many(
        self,
        traces: Iterable[Trace],
        *,
        batch_size: int = 5_000,
        progress: Optional[Callable[[int], None]] = None,
    ) -> int:
        """Bulk insert: one short transaction per *batch_size* traces.

        Returns how many traces were new (ids already stored are skipped, as in
        OpenJarvis). ``progress(saved_so_far)`` is called after each batch.
        A large load refreshes the query planner's statistics at the end.
        (Preparing the next batch in a second thread was tried and is slower: the
        writer then waits for the GIL at every row it binds.)
        """
        if self.read_only:
            raise ReadOnlyStore(f"{self._path} is read-only: changes cannot be saved")
        saved = 0
        with self._conn() as conn:
            # FTS5 merges its segments on every commit; with a small page cache a
            # growing index thrashes (100k traces: 580 s at 16 MiB, 34 s at 256),
            # so one connection with a large cache does the whole load.
            conn.execute("PRAGMA cache_size=-131072")
            # Fewer, larger WAL checkpoints while loading (4096 pages = 16 MiB).
            conn.execute("PRAGMA wal_autocheckpoint=4096")
            try:
                batch: list[Trace] = []
                for trace in traces:
                    batch.append(trace)
                    if len(batch) >= batch_size:
                        saved += self._write_batch(self._prepare_batch(batch), conn)
                        batch = []
                        if progress:
                            progress(saved)
                if batch:
                    saved += self._write_batch(self._prepare_batch(batch), conn)
                    if progress:
                        progress(saved)
            finally:
                conn.execute("PRAGMA cache_size=-16384")
                conn.execute("PRAGMA wal_autocheckpoint=1000")
        if saved >= 10_000:
            self.analyze()
        return saved

    def analyze(self) -> None:
        """Refresh the planner's statistics (sampled: fast on any size)."""
        if self.read_only:
            return
        with self._conn() as conn:
            conn.execute("PRAGMA analysis_limit=1000")
            conn.execute("ANALYZE")

    def _prepare_batch(self, batch: Sequence[Trace]) -> list[tuple]:
        """Rows for one batch, without touching the database.

        One ``(trace_id, trace_values, jt_tail, step_rows)`` per trace; the first
        of a duplicated id within the batch wins. Raises ``ValueError`` for a bad score.
        """
        has_messages = self._has_messages
        out: list[tuple] = []
        seen: set[str] = set()
        for t in batch:
            if t.feedback is not None:
                validate_score(t.feedback)
            if t.trace_id in seen:
                continue
            seen.add(t.trace_id)
            values = (
                t.trace_id, t.query, t.agent, t.model, t.engine, t.result,
                t.outcome, t.feedback, t.started_at, t.ended_at,
                t.total_tokens, t.total_latency_seconds, _dumps(t.metadata),
                *((_dumps(t.messages),) if has_messages else ()),
            )  # fmt: skip
            tail = (
                _number(t.started_at, 0.0), classify_query(t.query), t.agent, t.model,
                t.outcome, t.feedback, _number(t.total_latency_seconds, 0.0),
                _number(t.total_tokens, 0),
            )  # fmt: skip
            steps = [
                (
                    t.trace_id, idx, getattr(st.step_type, "value", st.step_type),
                    st.timestamp, st.duration_seconds,
                    _dumps(st.input), _dumps(st.output), _dumps(st.metadata),
                )
                for idx, st in enumerate(t.steps)
            ]  # fmt: skip
            out.append((t.trace_id, values, tail, steps))
        return out

    def _write_batch(self, prepared: list[tuple], conn: sqlite3.Connection) -> int:
        s = self._schema
        cols = (
            "trace_id, query, agent, model, engine, result, outcome, feedback,"
            " started_at, ended_at, total_tokens, total_latency_seconds, metadata"
        )
        marks = "?,?,?,?,?,?,?,?,?,?,?,?,?"
        if self._has_messages:
            cols += ", messages"
            marks += ",?"
        with self._write(conn):
            # Rows another process added are mirrored first, so the watermark
            # can move past our own rows afterwards without skipping theirs.
            self._mirror_chunk(conn, chunk=10**12)
            # Skip ids already stored (OpenJarvis's save is idempotent by trace_id).
            ids = [p[0] for p in prepared]
            existing: set[str] = set()
            for i in range(0, len(ids), 900):
                chunk = ids[i : i + 900]
                existing.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT trace_id FROM main.traces WHERE trace_id IN"
                        f" ({','.join('?' * len(chunk))})",
                        chunk,
                    )
                )
            new = [p for p in prepared if p[0] not in existing] if existing else prepared
            if not new:
                return 0
            before = conn.execute("SELECT coalesce(max(id), 0) FROM main.traces").fetchone()[0]
            # OpenJarvis's own trigger (traces_fts_ai) indexes each row for search. It
            # is never dropped, not even inside our transaction: a schema change makes
            # a running OpenJarvis re-prepare its INSERT while we hold the write lock,
            # and that write fails at once with "database is locked" (no busy wait).
            conn.executemany(
                f"INSERT INTO main.traces ({cols}) VALUES ({marks})", [p[1] for p in new]
            )
            # We hold the write lock: every id above *before* is one of ours.
            row_ids = dict(
                conn.execute("SELECT trace_id, id FROM main.traces WHERE id > ?", (before,))
            )
            jt_params = [(row_ids[p[0]], *p[2]) for p in new]
            conn.executemany(
                f"INSERT OR IGNORE INTO {s}.jt_rows"
                "(id, started_at, qclass, agent, model, outcome, feedback, latency, tokens)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                jt_params,
            )
            conn.executemany(
                "INSERT INTO main.trace_steps (trace_id, step_index, step_type, timestamp,"
                " duration_seconds, input, output, metadata) VALUES (?,?,?,?,?,?,?,?)",
                [row for p in new for row in p[3]],
            )
            self._map_new_steps(conn)
            self._agg_rows(conn, before, max(row_ids.values()), tools=True)
            conn.execute(
                f"UPDATE {s}.jt_meta SET value = (SELECT coalesce(max(id), 0) FROM main.traces)"
                " WHERE key='mirrored_id'"
            )
        return len(jt_params)

    def get(self, trace_id: str) -> Optional[Trace]:
        """Retrieve a trace with its steps, or ``None`` if not found."""
        with self._conn() as conn:
            rows = self._fetch(
                conn,
                f"SELECT {self._trace_cols()} FROM main.traces WHERE trace_id = ?",
                (trace_id,),
                id_col=1,
            )
            if not rows:
                return None
            return self._rows_to_traces(conn, rows[:1])[0]

    def list_traces(
        self,
        *,
        agent: Optional[str] = None,
        model: Optional[str] = None,
        outcome: Optional[str] = None,
        since: Optional[float] = None,
        until: Optional[float] = None,
        limit: int = 100,
    ) -> List[Trace]:
        """Full traces (with steps), newest ``started_at`` first; since/until inclusive."""
        where: List[str] = ["1=1"]
        params: List[Any] = []
        for col, val in (("agent", agent), ("model", model), ("outcome", outcome)):
            if val is not None:
                where.append(f"r.{col} = ?")
                params.append(val)
        if since is not None:
            where.append("r.started_at >= ?")
            params.append(since)
        if until is not None:
            where.append("r.started_at <= ?")
            params.append(until)
        s = self._schema
        sql = (
            f"SELECT {self._trace_cols('t')} FROM {s}.jt_rows r"
            " JOIN main.traces t ON t.id = r.id"
            f" WHERE {' AND '.join(where)} ORDER BY r.started_at DESC, r.id DESC LIMIT ?"
        )
        with self._conn() as conn:
            rows = self._fetch(conn, sql, [*params, int(limit)], id_col=1)
            return self._rows_to_traces(conn, rows)

    def iter_traces(
        self,
        *,
        agent: Optional[str] = None,
        labelled: Optional[bool] = None,
        min_feedback: Optional[float] = None,
        exclude_failures: bool = False,
        with_steps: bool = True,
        batch_size: int = 1_000,
        stop: Optional[threading.Event] = None,
    ) -> Iterator[Trace]:
        """Stream every trace (oldest first, by id) in batches; memory bounded by the batch.

        *min_feedback* keeps rated traces scoring at least that much;
        *exclude_failures* drops traces whose outcome is ``failure`` (unknown stays);
        ``with_steps=False`` skips the step lookups when only the text is needed.
        """
        last = 0
        where = ["t.id > ?"]
        extra: list[Any] = []
        if agent is not None:
            where.append("t.agent = ?")
            extra.append(agent)
        if labelled is True:
            where.append("t.feedback IS NOT NULL")
        elif labelled is False:
            where.append("t.feedback IS NULL")
        if min_feedback is not None:
            where.append("t.feedback >= ?")
            extra.append(float(min_feedback))
        if exclude_failures:
            where.append("(t.outcome IS NULL OR t.outcome != 'failure')")
        sql = (
            f"SELECT {self._trace_cols('t')} FROM main.traces t WHERE {' AND '.join(where)}"
            " ORDER BY t.id LIMIT ?"
        )
        while stop is None or not stop.is_set():
            with self._conn() as conn:
                rows = self._fetch(conn, sql, [last, *extra, batch_size], id_col=1)
                if not rows:
                    return
                last = rows[-1][0]
                traces = self._rows_to_traces(conn, rows, with_steps=with_steps)
            yield from traces

    def iter_pairs(
        self,
        *,
        agent: Optional[str] = None,
        min_feedback: Optional[float] = None,
        exclude_failures: bool = False,
        batch_size: int = 5_000,
        stop: Optional[threading.Event] = None,
    ) -> Iterator[tuple[str, str, str, Optional[float], Optional[str]]]:
        """Stream ``(query, result, model, feedback, query_class)``, newest first.

        What SFT mining needs and nothing more: no JSON decoding, no steps
        (building full ``Trace`` objects is 4x slower at 1M traces).
        """
        where, params = self._quality_where(agent, min_feedback, exclude_failures)
        base = (
            "SELECT r.id, t.query, t.result, r.model, r.feedback, r.qclass, r.started_at,"
            " t.trace_id"
            f" FROM {self._schema}.jt_rows r JOIN main.traces t ON t.id = r.id WHERE "
        )
        key: Optional[tuple[float, int]] = None
        while stop is None or not stop.is_set():
            cond = list(where)
            args = list(params)
            if key is not None:
                cond.append("(r.started_at, r.id) < (?, ?)")
                args.extend(key)
            sql = (
                base
                + (" AND ".join(cond) or "1=1")
                + " ORDER BY r.started_at DESC, r.id DESC LIMIT ?"
            )
            with self._conn() as conn:
                rows = self._fetch(conn, sql, [*args, batch_size], id_col=7)
            if not rows:
                return
            key = (rows[-1][6], rows[-1][0])
            for r in rows:
                yield (r[1] or "", r[2] or "", r[3] or "", r[4], r[5])

    # ------------------------------------------------------------ aggregates

    _GROUPABLE = {"qclass": "r.qclass", "model": "r.model", "agent": "r.agent",
                  "outcome": "r.outcome"}  # fmt: skip

    def _group_columns(self, by: Sequence[str]) -> list[str]:
        unknown = [name for name in by if name not in self._GROUPABLE]
        if unknown:
            raise ValueError(f"cannot group by {unknown[0]!r}")
        return [self._GROUPABLE[name] for name in by]

    def _quality_where(
        self, agent: Optional[str], min_feedback: Optional[float], exclude_failures: bool
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if agent is not None:
            where.append("+r.agent = ?")
            params.append(agent)
        if min_feedback is not None:
            where.append("r.feedback >= ?")
            params.append(float(min_feedback))
        if exclude_failures:
            where.append("(r.outcome IS NULL OR r.outcome != 'failure')")
        return where, params

    def _agg_where(
        self, agent: Optional[str], th: float, exclude_failures: bool
    ) -> tuple[list[str], list[Any]]:
        """:meth:`_quality_where` on the totals tables (``a``), at threshold *th* (the
        bands at or above it)."""
        where: list[str] = ["a.th >= ?"]
        params: list[Any] = [th]
        if agent is not None:
            where.append("a.agent = ?")
            params.append(agent)
        if exclude_failures:
            where.append("a.outcome != 'failure'")
        return where, params

    @staticmethod
    def _agg_value(name: str, value: Any) -> Any:
        """A group value read from the totals ('' stands for a NULL class/outcome)."""
        if name in ("qclass", "outcome") and value == "":
            return None
        return value

    def feedback_stats(
        self,
        by: Sequence[str] = ("qclass", "model"),
        *,
        agent: Optional[str] = None,
        min_feedback: Optional[float] = None,
        exclude_failures: bool = False,
    ) -> List[Dict[str, Any]]:
        """Per-group statistics over EVERY trace, from the totals the triggers keep
        (a few hundred rows read, whatever the store's size; no trace is loaded).

        Each dict has the group columns plus ``n`` (traces), ``rated`` (with
        feedback), ``fb_sum``, ``fb_sq_sum`` (for a variance), ``latency``,
        ``tokens`` (means over all traces of the group), ``success``, ``failure``.
        Unrated traces count in ``n`` but never in the feedback sums.
        """
        self._group_columns(by)
        th = self._threshold(min_feedback)
        if th is None:
            return self._feedback_stats_scan(
                by, agent=agent, min_feedback=min_feedback, exclude_failures=exclude_failures
            )
        cols = [f"a.{name}" for name in by]
        where, params = self._agg_where(agent, th, exclude_failures)
        group = ", ".join(cols)
        sql = (
            f"SELECT {group + ',' if cols else ''} total(a.n), total(a.rated), total(a.fb),"
            " total(a.fb_sq), total(a.latency), total(a.tokens),"
            " total((a.outcome = 'success') * a.n), total((a.outcome = 'failure') * a.n)"
            f" FROM {self._schema}.jt_agg a WHERE {' AND '.join(where)}"
            + (f" GROUP BY {group}" if cols else "")
        )
        out = []
        with self._conn() as conn:
            for row in self._fetch(conn, sql, params):
                n = int(row[len(by)])
                if not n:
                    continue
                d: Dict[str, Any] = {
                    name: self._agg_value(name, v)
                    for name, v in zip(by, row[: len(by)], strict=True)
                }
                rated, fb, fb_sq, lat, tok, succ, fail = row[len(by) + 1 :]
                d.update(
                    n=n, rated=int(rated), fb_sum=float(fb), fb_sq_sum=float(fb_sq),
                    latency=float(lat) / n, tokens=float(tok) / n,
                    success=int(succ), failure=int(fail),
                )  # fmt: skip
                out.append(d)
        return out

    def _feedback_stats_scan(
        self,
        by: Sequence[str],
        *,
        agent: Optional[str],
        min_feedback: Optional[float],
        exclude_failures: bool,
    ) -> List[Dict[str, Any]]:
        """:meth:`feedback_stats` by a scan of every trace (a threshold not kept)."""
        cols = self._group_columns(by)
        where, params = self._quality_where(agent, min_feedback, exclude_failures)
        group = ", ".join(cols)
        sql = (
            f"SELECT {group + ',' if cols else ''} count(*), count(r.feedback),"
            " total(r.feedback), total(r.feedback * r.feedback), avg(r.latency),"
            " avg(r.tokens), total(r.outcome = 'success'), total(r.outcome = 'failure')"
            f" FROM {self._schema}.jt_rows r WHERE {' AND '.join(where) or '1=1'}"
            + (f" GROUP BY {group}" if cols else "")
        )
        keys = ("n", "rated", "fb_sum", "fb_sq_sum", "latency", "tokens", "success", "failure")
        out = []
        with self._conn() as conn:
            for row in self._fetch(conn, sql, params):
                d: Dict[str, Any] = dict(zip(by, row[: len(by)], strict=True))
                d.update(zip(keys, row[len(by) :], strict=True))
                for k in ("n", "rated", "success", "failure"):
                    d[k] = int(d[k])
                if not d["n"]:
                    continue
                d["latency"] = float(d["latency"] or 0.0)
                d["tokens"] = float(d["tokens"] or 0.0)
                out.append(d)
        return out

    def cube(self, *, min_quality: float, agent: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every statistic the learning engine needs, from the totals the triggers keep.

        One dict per (qclass, model, agent, outcome) with ``n``, ``rated``,
        ``fb_sum``, ``fb_sq_sum``, ``latency_sum``, ``tokens_sum``, and
        ``q_n`` / ``q_fb_sum``: the traces rated ≥ *min_quality* and their sum.
        (Quality also excludes ``outcome == "failure"``: the caller drops those
        groups.) Unrated traces count in ``n`` only. Reads two rows per group
        (hundreds), not one per trace; a new *min_quality* costs one scan the first
        time it is asked for (then it is kept, up to ``MAX_THRESHOLDS`` of them).
        """
        th = self._threshold(min_quality)
        if th is None:
            return self._cube_scan(min_quality=min_quality, agent=agent)
        where = ["1"]
        if agent is not None:
            where.append("a.agent = ?")
        sql = (
            "SELECT a.qclass, a.model, a.agent, a.outcome, total(a.n), total(a.rated),"
            " total(a.fb), total(a.fb_sq), total(a.latency), total(a.tokens),"
            " total(CASE WHEN a.th >= ? THEN a.n END), total(CASE WHEN a.th >= ? THEN a.fb END)"
            f" FROM {self._schema}.jt_agg a WHERE {' AND '.join(where)}"
            " GROUP BY a.qclass, a.model, a.agent, a.outcome"
        )
        params: list[Any] = [th, th]
        if agent is not None:
            params.append(agent)
        keys = ("qclass", "model", "agent", "outcome", "n", "rated", "fb_sum", "fb_sq_sum",
                "latency_sum", "tokens_sum", "q_n", "q_fb_sum")  # fmt: skip
        with self._conn() as conn:
            rows = self._fetch(conn, sql, params)
        out = []
        for row in rows:
            d = dict(zip(keys, row, strict=True))
            d["qclass"] = self._agg_value("qclass", d["qclass"])
            d["outcome"] = self._agg_value("outcome", d["outcome"])
            for k in ("n", "rated", "q_n"):
                d[k] = int(d[k])
            if d["n"]:
                out.append(d)
        return out

    def _cube_scan(
        self, *, min_quality: float, agent: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """:meth:`cube` by one scan of every trace (a threshold not kept)."""
        where = ["1=1"]
        params: list[Any] = [float(min_quality), float(min_quality)]
        if agent is not None:
            where.append("r.agent = ?")
            params.append(agent)
        sql = (
            "SELECT r.qclass, r.model, r.agent, r.outcome, count(*), count(r.feedback),"
            " total(r.feedback), total(r.feedback * r.feedback), total(r.latency),"
            " total(r.tokens), total(r.feedback >= ?),"
            " total(CASE WHEN r.feedback >= ? THEN r.feedback END)"
            f" FROM {self._schema}.jt_rows r WHERE {' AND '.join(where)}"
            " GROUP BY r.qclass, r.model, r.agent, r.outcome"
        )
        keys = ("qclass", "model", "agent", "outcome", "n", "rated", "fb_sum", "fb_sq_sum",
                "latency_sum", "tokens_sum", "q_n", "q_fb_sum")  # fmt: skip
        with self._conn() as conn:
            rows = self._fetch(conn, sql, params)
        out = []
        for row in rows:
            d = dict(zip(keys, row, strict=True))
            for k in ("n", "rated", "q_n"):
                d[k] = int(d[k])
            out.append(d)
        return out

    def tool_counts(
        self,
        by: Sequence[str] = ("qclass", "agent"),
        *,
        agent: Optional[str] = None,
        min_feedback: Optional[float] = None,
        exclude_failures: bool = False,
        pairs: Optional[Sequence[tuple[str, str]]] = None,
    ) -> Dict[tuple, Dict[str, int]]:
        """Tool-call counts per group: ``{(group values…): {tool: calls}}``.

        *pairs* restricts to these ``(query class, agent)`` combinations.

        A tool call is a ``tool_call`` step whose input has ``{"tool": name}``
        (the OpenJarvis convention); steps with other inputs are ignored. Read from
        the totals kept per group, threshold and tool (counted when a trace is
        mirrored: steps added to a trace after that are not seen); by a scan of the
        steps while a store upgraded from schema 3 is still counting its old
        traces, or for a threshold not kept.
        """
        self._group_columns(by)
        if pairs is not None and not pairs:
            return {}
        with self._conn() as conn:
            complete = self._tools_complete(conn)
        th = self._threshold(min_feedback) if complete else None
        if th is None:
            return self._tool_counts_scan(
                by, agent=agent, min_feedback=min_feedback,
                exclude_failures=exclude_failures, pairs=pairs,
            )  # fmt: skip
        cols = [f"a.{name}" for name in by]
        where, params = self._agg_where(agent, th, exclude_failures)
        if pairs is not None:
            where.append(
                "(a.qclass, a.agent) IN (VALUES " + ",".join("(?, ?)" for _ in pairs) + ")"
            )
            params.extend(v for pair in pairs for v in pair)
        sql = (
            f"SELECT {', '.join(cols) + ',' if cols else ''} a.tool, total(a.calls)"
            f" FROM {self._schema}.jt_agg_tool a WHERE {' AND '.join(where)}"
            f" GROUP BY {', '.join([*cols, 'a.tool'])}"
        )
        out: Dict[tuple, Dict[str, int]] = {}
        with self._conn() as conn:
            for row in self._fetch(conn, sql, params):
                calls = int(row[-1])
                if calls <= 0:
                    continue
                key = tuple(self._agg_value(n, v) for n, v in zip(by, row[: len(by)], strict=True))
                out.setdefault(key, {})[row[len(by)]] = calls
        return out

    def _tool_counts_scan(
        self,
        by: Sequence[str],
        *,
        agent: Optional[str],
        min_feedback: Optional[float],
        exclude_failures: bool,
        pairs: Optional[Sequence[tuple[str, str]]],
    ) -> Dict[tuple, Dict[str, int]]:
        """:meth:`tool_counts` by a scan of every matching trace's steps."""
        cols = self._group_columns(by)
        where, params = self._quality_where(agent, min_feedback, exclude_failures)
        where.append("s.step_type = 'tool_call'")
        steps_from = (
            "main.traces t ON t.id = r.id JOIN main.trace_steps s ON s.trace_id = t.trace_id"
        )
        if not self.read_only:
            with self._conn() as conn:
                if self._steps_mapped(conn):
                    steps_from = (
                        "main.traces t ON t.id = r.id JOIN main.jt_steps m ON m.id = t.id"
                        " JOIN main.trace_steps s ON s.id = m.step_rowid"
                    )
        if pairs is not None:
            where.append(
                "(r.qclass, r.agent) IN (VALUES " + ",".join("(?, ?)" for _ in pairs) + ")"
            )
            params.extend(v for pair in pairs for v in pair)
        tool = "json_extract(CASE WHEN json_valid(s.input) THEN s.input END, '$.tool')"
        sql = (
            f"SELECT {', '.join(cols) + ',' if cols else ''} {tool} AS tool, count(*)"
            f" FROM {self._schema}.jt_rows r JOIN {steps_from}"
            f" WHERE {' AND '.join(where)}"
            f" GROUP BY {', '.join([*cols, 'tool'])}"
        )
        out: Dict[tuple, Dict[str, int]] = {}
        with self._conn() as conn:
            for row in self._fetch(conn, sql, params):
                name = row[len(by)]
                if not isinstance(name, str) or not name:
                    continue
                out.setdefault(tuple(row[: len(by)]), {})[name] = int(row[-1])
        return out

    def count(self) -> int:
        """Total number of stored traces."""
        with self._conn() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {self._schema}.jt_rows").fetchone()[0])

    def search(
        self, query: str, *, agent: Optional[str] = None, limit: int = 20
    ) -> List[Dict[str, Any]]:
        """Full-text search, best match first (see :meth:`search_matches` for how
        "best" is bounded). Bad FTS syntax is read as plain words; text with no word
        to search for finds nothing here (:meth:`search_matches` lists every trace)."""
        if not to_fts_query(query)[0]:
            return []
        return self.search_matches(query, agent=agent, limit=limit, count=False).rows

    def search_matches(
        self,
        query: str,
        *,
        agent: Optional[str] = None,
        limit: int = 20,
        order: str = "rank",
        count: bool = True,
    ) -> SearchResult:
        """Full-text search with the number of matches and what was ranked.

        ``order="rank"``: best bm25 first, ranked over the newest
        ``RANK_WINDOW`` (5,000) matches only (newest by insertion, i.e. rowid). That
        is exact whenever the query has at most 5,000 matches; above, a better
        match older than the newest 5,000 is not found, and ``note`` says
        "best of the newest 5,000 matches". (Ranking every match costs ~1 s for a
        word in 725k of 1M traces, and FTS5 gives such a word almost no weight.)
        Words in more than half of the traces (estimated from how densely the
        newest matches lie: over ``COMMON_SHARE`` of the rows they span), in a store
        where that is over ``COMMON_MIN_MATCHES`` matches, are not ranked at all: FTS5 clamps such a word's IDF to ~1e-6, so bm25 hardly tells
        the rows apart, and its first call costs a pass over every match. For one
        such word or phrase every row's bm25 is that same IDF times a per-row
        term-frequency part; for several words all of them are this common. Either
        way the newest matches come first (by insertion, as the window), ``ranked``
        is 0 and ``note`` says so (``COMMON_NOTE``).
        ``order="time"``: newest ``started_at`` first, exactly as the Traces pane
        pages a search. Text with no word (operators only) is no filter: the newest
        traces, no ranking. *count*: count every match (``total``; ``-1`` when
        False).
        """
        if order not in ("rank", "time"):
            raise ValueError(f"unknown order {order!r}; choose rank or time")
        expr, note, match_all, exclude = _parse_search(query)
        limit = max(0, int(limit))
        if match_all or exclude or order == "time":
            flt = TraceFilter(agent=agent, text=None if match_all else query)
            page = self.page(flt, limit=limit)
            total = self.count_filtered(flt)[0] if count else -1
            rows = self._search_rows([r.rowid for r in page.rows])
            return SearchResult(rows, total, 0, page.fts_note or note)
        if not expr or not self._has_fts:
            return SearchResult([], 0 if count else -1, 0, note)
        join, cond, params = "", "", [expr]
        if agent:
            join, cond = " JOIN main.traces a ON a.id = f.rowid", " AND a.agent = ?"
            params.append(agent)
        common = False
        with self._conn() as conn:
            # The window: FTS5 walks the match list from the newest rowid and stops
            # after RANK_WINDOW rows (no bm25 yet: its first call counts every match
            # of every phrase, ~150 ms for a word in 81% of 1M traces).
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT f.rowid FROM traces_fts f{join}"
                    f" WHERE traces_fts MATCH ?{cond} ORDER BY f.rowid DESC LIMIT ?",
                    [*params, RANK_WINDOW],
                )
            ]
            if len(ids) >= RANK_WINDOW:
                top = conn.execute("SELECT coalesce(max(rowid), 0) FROM main.traces").fetchone()[0]
                share = len(ids) / max(top - ids[-1] + 1, 1)
                common = share > COMMON_SHARE and share * top > COMMON_MIN_MATCHES
            if common:
                window = [(i, 0.0) for i in ids]
            else:
                window = conn.execute(
                    f"SELECT f.rowid, bm25(traces_fts) FROM traces_fts f{join}"
                    f" WHERE traces_fts MATCH ?{cond} AND f.rowid >= ?"
                    " ORDER BY f.rowid DESC LIMIT ?",
                    [*params, ids[-1] if ids else 0, RANK_WINDOW],
                ).fetchall()
            total = len(window)
            if count and total >= RANK_WINDOW:
                total = int(
                    conn.execute(
                        f"SELECT count(*) FROM traces_fts f{join} WHERE traces_fts MATCH ?{cond}",
                        params,
                    ).fetchone()[0]
                )
            elif not count and total >= RANK_WINDOW:
                total = -1
        best = sorted(window, key=lambda r: (r[1], -r[0]))[:limit]
        rows = self._search_rows([r[0] for r in best])
        ranked = 0 if common else len(window)
        if common:
            common_note = COMMON_NOTE
            note = f"{note}; {common_note}" if note else common_note
        elif ranked >= RANK_WINDOW:
            window_note = f"best of the newest {RANK_WINDOW:,} matches"
            note = f"{note}; {window_note}" if note else window_note
        return SearchResult(rows, total, ranked, note)

    def _search_rows(self, ids: Sequence[int]) -> List[Dict[str, Any]]:
        """The result dicts of :meth:`search` for trace rowids, in the given order."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._conn() as conn:
            rows = self._fetch(
                conn,
                "SELECT t.id, t.trace_id, t.query, t.result, t.agent, t.model, t.outcome,"
                f" t.started_at FROM main.traces t WHERE t.id IN ({marks})",
                list(ids),
                id_col=1,
            )
        keys = ("trace_id", "query", "result", "agent", "model", "outcome", "started_at")
        by_id = {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def subscribe_to_bus(self, bus: Any) -> None:
        """Save every trace published as ``TRACE_COMPLETE`` on *bus*, as OpenJarvis's
        store does. *bus* is a :class:`jarvis_tui.core.events.EventBus` or any bus
        with ``subscribe(event_type, callback)`` (OpenJarvis's ``EventBus``): its
        events carry the trace in ``data["trace"]``; an OpenJarvis ``Trace`` is read
        field by field. A re-published trace is a no-op (saves are idempotent)."""
        bus.subscribe(EventType.TRACE_COMPLETE, self._on_event)

    def unsubscribe_from_bus(self, bus: Any) -> None:
        """Undo :meth:`subscribe_to_bus`."""
        bus.unsubscribe(EventType.TRACE_COMPLETE, self._on_event)

    def _on_event(self, event: Any) -> None:
        data = getattr(event, "data", None)
        trace = _as_trace(data.get("trace") if isinstance(data, dict) else None)
        if trace is None:
            return
        try:
            self.save(trace)
        except (StoreError, ValueError) as exc:
            # The publisher is the assistant's own thread: say why, never crash it.
            log.warning("trace %r from the event bus not saved: %s", trace.trace_id, exc)

    def update_feedback(self, trace_id: str, score: float) -> bool:
        """Set the feedback score; False for an unknown id. Recorded in the history."""
        try:
            self.set_label(trace_id, feedback=score, source="api")
        except KeyError:
            return False
        return True

    # ------------------------------------------------------------ browser API

    def _where(self, flt: TraceFilter) -> tuple[list[str], list[Any], str]:
        # Equality filters carry a unary ``+`` so the planner keeps scanning the
        # sort key's index and stops after ``limit`` rows, instead of taking every
        # row of one agent and sorting them (133 ms → 4.5 ms at 1M traces).
        where: list[str] = []
        params: list[Any] = []
        note = ""
        if flt.agent is not None:
            where.append("+r.agent = ?")
            params.append(flt.agent)
        if flt.model is not None:
            where.append("+r.model = ?")
            params.append(flt.model)
        if flt.outcome is not None:
            if flt.outcome in ("unknown", "none", ""):
                where.append("r.outcome IS NULL")
            else:
                where.append("+r.outcome = ?")
                params.append(flt.outcome)
        if flt.query_class is not None:
            where.append("+r.qclass = ?")
            params.append(flt.query_class)
        if flt.labelled is True:
            where.append(LABELLED_SQL)
        elif flt.labelled is False:
            where.append(f"NOT {LABELLED_SQL}")
        if flt.rated is True:
            where.append("r.feedback IS NOT NULL")
        elif flt.rated is False:
            where.append("r.feedback IS NULL")
        if flt.since is not None:
            where.append("r.started_at >= ?")
            params.append(flt.since)
        if flt.until is not None:
            where.append("r.started_at <= ?")
            params.append(flt.until)
        if flt.text:
            expr, note, match_all, exclude = _parse_search(flt.text)
            if expr and self._has_fts:
                where.append("r.id IN (SELECT rowid FROM traces_fts WHERE traces_fts MATCH ?)")
                params.append(expr)
            elif exclude and self._has_fts:
                where.append("r.id NOT IN (SELECT rowid FROM traces_fts WHERE traces_fts MATCH ?)")
                params.append(exclude)
            elif not match_all:
                where.append("0")
        return where, params, note

    def page(
        self,
        flt: TraceFilter = TraceFilter(),
        *,
        sort: str = "time",
        descending: bool = True,
        after: Optional[tuple[Any, int]] = None,
        before: Optional[tuple[Any, int]] = None,
        limit: int = 100,
    ) -> Page:
        """One keyset page of the filtered store in *sort* order.

        *after* is the :meth:`TraceRow.sort_key` of the last row shown (next page);
        *before* the key of the first row shown (previous page; rows still come back
        in display order). Cost is independent of how deep the page is.
        """
        if sort not in SORT_EXPR:
            raise ValueError(f"unknown sort {sort!r}; choose from {', '.join(SORT_EXPR)}")
        if flt.text and sort == "time" and self._has_fts:
            fts, note = to_fts_query(flt.text)
            if fts and self._fts_estimate(fts) > FTS_SET_MAX:
                return self._page_by_time_probe(
                    flt, fts, note, descending=descending, after=after, before=before,
                    limit=limit,
                )  # fmt: skip
        expr = SORT_EXPR[sort]
        where, params, note = self._where(flt)
        backwards = before is not None
        # Direction of the scan: display order, or reversed for a previous page.
        desc = descending != backwards
        key = before if backwards else after
        if key is not None:
            op = "<" if desc else ">"
            where.append(f"({expr}, r.id) {op} (?, ?)")
            params.extend(key)
        order = "DESC" if desc else "ASC"
        s = self._schema
        sql = (
            "SELECT r.id, t.trace_id, r.started_at, r.qclass, r.agent, r.model, r.outcome,"
            f" r.feedback, r.latency, r.tokens, {_SNIPPET_SQL}"
            f" FROM {s}.jt_rows r JOIN main.traces t ON t.id = r.id"
            f" WHERE {' AND '.join(where) or '1=1'}"
            f" ORDER BY {expr} {order}, r.id {order} LIMIT ?"
        )
        with self._conn() as conn:
            rows = self._fetch(conn, sql, [*params, int(limit) + 1], id_col=1)
        has_more = len(rows) > limit
        out = [_page_row(r) for r in rows[:limit]]
        if backwards:
            out.reverse()
        return Page(rows=out, has_more=has_more, fts_note=note)

    def _fts_estimate(self, fts: str) -> int:
        """How many documents *fts* matches, counted only up to ``FTS_SET_MAX + 1``
        (FTS5 streams matches, so this costs a few milliseconds at most)."""
        with self._conn() as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM (SELECT rowid FROM traces_fts"
                    " WHERE traces_fts MATCH ? LIMIT ?)",
                    (fts, FTS_SET_MAX + 1),
                ).fetchone()[0]
            )

    def _page_by_time_probe(
        self,
        flt: TraceFilter,
        fts: str,
        note: str,
        *,
        descending: bool,
        after: Optional[tuple[Any, int]],
        before: Optional[tuple[Any, int]],
        limit: int,
    ) -> Page:
        """Time-ordered search for a frequent term: walk the time index in batches and
        ask FTS5 only about each batch's rowid range, stopping at *limit* matches.

        Building the whole match set first (``id IN (MATCH …)``) costs 300 ms for two
        common words at 1M traces; this stops as soon as a page is full.
        """
        s = self._schema
        where, params, _ = self._where(replace(flt, text=None))
        backwards = before is not None
        desc = descending != backwards
        key = before if backwards else after
        order = "DESC" if desc else "ASC"
        op = "<" if desc else ">"
        found: list[int] = []
        batch = 4_000
        with self._conn() as conn:
            while len(found) <= limit:
                cond = list(where)
                args = list(params)
                if key is not None:
                    cond.append(f"(r.started_at, r.id) {op} (?, ?)")
                    args.extend(key)
                cand = conn.execute(
                    f"SELECT r.id, r.started_at FROM {s}.jt_rows r"
                    f" WHERE {' AND '.join(cond) or '1=1'}"
                    f" ORDER BY r.started_at {order}, r.id {order} LIMIT ?",
                    [*args, batch],
                ).fetchall()
                if not cand:
                    break
                ids = [c[0] for c in cand]
                hits = {
                    r[0]
                    for r in conn.execute(
                        "SELECT rowid FROM traces_fts WHERE traces_fts MATCH ?"
                        " AND rowid >= ? AND rowid <= ?",
                        (fts, min(ids), max(ids)),
                    )
                }
                found.extend(i for i in ids if i in hits)
                key = (cand[-1][1], cand[-1][0])
                if len(cand) < batch:
                    break
                batch = min(batch * 2, 64_000)
            chosen = found[: limit + 1]
            rows = []
            if chosen:
                marks = ",".join("?" * len(chosen))
                rows = self._fetch(
                    conn,
                    "SELECT r.id, t.trace_id, r.started_at, r.qclass, r.agent, r.model,"
                    " r.outcome, r.feedback, r.latency, r.tokens,"
                    f" {_SNIPPET_SQL}"
                    f" FROM {s}.jt_rows r JOIN main.traces t ON t.id = r.id"
                    f" WHERE r.id IN ({marks})"
                    f" ORDER BY r.started_at {order}, r.id {order}",
                    chosen,
                    id_col=1,
                )
        has_more = len(rows) > limit
        out = [_page_row(r) for r in rows[:limit]]
        if backwards:
            out.reverse()
        return Page(rows=out, has_more=has_more, fts_note=note)

    def count_filtered(
        self, flt: TraceFilter = TraceFilter(), *, rated: bool = False
    ) -> tuple[int, int]:
        """``(matching, labelled among them)`` for the filter; labelled = a score or an
        outcome (with *rated*: ``(matching, rated among them)``, rated = a score)."""
        where, params, _ = self._where(flt)
        among = "r.feedback IS NOT NULL" if rated else LABELLED_SQL
        sql = (
            f"SELECT count(*), total({among}) FROM {self._schema}.jt_rows r"
            f" WHERE {' AND '.join(where) or '1=1'}"
        )
        with self._conn() as conn:
            total, labelled = conn.execute(sql, params).fetchone()
        return int(total), int(labelled)

    def class_counts(self, flt: TraceFilter = TraceFilter()) -> Dict[str, int]:
        """Traces per query class under the filter (from the stored class, no regex)."""
        where, params, _ = self._where(flt)
        sql = (
            f"SELECT coalesce(r.qclass, '?'), count(*) FROM {self._schema}.jt_rows r"
            f" WHERE {' AND '.join(where) or '1=1'} GROUP BY r.qclass"
        )
        with self._conn() as conn:
            return {k: int(v) for k, v in self._fetch(conn, sql, params)}

    def facets(self) -> Dict[str, List[str]]:
        """Distinct agents and models (for filter pickers)."""
        s = self._schema
        with self._conn() as conn:
            agents = [
                r[0]
                for r in self._fetch(conn, f"SELECT DISTINCT agent FROM {s}.jt_rows ORDER BY agent")
            ]
            models = [
                r[0]
                for r in self._fetch(conn, f"SELECT DISTINCT model FROM {s}.jt_rows ORDER BY model")
            ]
        return {"agents": agents, "models": models}

    def position(self, flt: TraceFilter, sort: str, descending: bool, key: tuple[Any, int]) -> int:
        """0-based index of the row with sort *key* under the filter (rows before it)."""
        expr = SORT_EXPR[sort]
        where, params, _ = self._where(flt)
        op = ">" if descending else "<"
        where.append(f"({expr}, r.id) {op} (?, ?)")
        params.extend(key)
        sql = f"SELECT count(*) FROM {self._schema}.jt_rows r WHERE {' AND '.join(where)}"
        with self._conn() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    def key_at(
        self, flt: TraceFilter, sort: str, descending: bool, offset: int
    ) -> Optional[tuple[Any, int]]:
        """The :meth:`TraceRow.sort_key` of the row at 0-based *offset* under the filter
        in *sort* order (None past the end): ``page(after=key_at(n - 1))`` starts at
        row *n*. One walk along the sort key's index (no row is read from the traces
        table), so a jump deep into the store costs one scan, not a page per screen."""
        if sort not in SORT_EXPR:
            raise ValueError(f"unknown sort {sort!r}; choose from {', '.join(SORT_EXPR)}")
        if offset < 0:
            return None
        expr = SORT_EXPR[sort]
        where, params, _ = self._where(flt)
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT {expr}, r.id FROM {self._schema}.jt_rows r"
            f" WHERE {' AND '.join(where) or '1=1'}"
            f" ORDER BY {expr} {order}, r.id {order} LIMIT 1 OFFSET ?"
        )
        with self._conn() as conn:
            row = conn.execute(sql, [*params, int(offset)]).fetchone()
        return None if row is None else (row[0], int(row[1]))

    # ------------------------------------------------------------ labels

    def set_label(
        self,
        trace_id: str,
        *,
        feedback: Any = _UNSET,
        outcome: Any = _UNSET,
        note: Optional[str] = None,
        source: str = "tui",
    ) -> LabelChange:
        """Set the score and/or outcome (``None`` clears) and/or a note, atomically.

        Every change is appended to the label history with its old value, so an
        undo or a correction never erases what was there. Raises ``KeyError`` for
        an unknown trace, ``ValueError`` for a bad score/outcome and
        :class:`ReadOnlyStore` when the file cannot be written.
        """
        if feedback is not _UNSET and feedback is not None:
            feedback = validate_score(feedback)
        if outcome is not _UNSET:
            outcome = validate_outcome(outcome)
        now = time.time()
        s = self._schema
        try:
            with self._write() as conn:
                row = conn.execute(
                    "SELECT feedback, outcome FROM main.traces WHERE trace_id = ?", (trace_id,)
                ).fetchone()
                if row is None:
                    raise KeyError(trace_id)
                old_fb, old_out = row
                new_fb = old_fb if feedback is _UNSET else feedback
                new_out = old_out if outcome is _UNSET else outcome
                history = []  # only fields that really change
                if feedback is not _UNSET and new_fb != old_fb:
                    history.append(("feedback", old_fb, new_fb))
                if outcome is not _UNSET and new_out != old_out:
                    history.append(("outcome", old_out, new_out))
                if (new_fb, new_out) != (old_fb, old_out):
                    # The jt_traces_au trigger mirrors this into jt_rows; the claim
                    # tells it that the history rows (with note and source) are ours.
                    conn.execute(
                        "INSERT OR IGNORE INTO main.jt_label_claim(trace_id) VALUES (?)",
                        (trace_id,),
                    )
                    conn.execute(
                        "UPDATE main.traces SET feedback = ?, outcome = ? WHERE trace_id = ?",
                        (new_fb, new_out, trace_id),
                    )
                    conn.execute("DELETE FROM main.jt_label_claim WHERE trace_id = ?", (trace_id,))
                if note is not None:
                    old_note = conn.execute(
                        f"SELECT note FROM {s}.jt_notes WHERE trace_id = ?", (trace_id,)
                    ).fetchone()
                    history.append(("note", old_note[0] if old_note else None, note))
                    conn.execute(
                        f"INSERT OR REPLACE INTO {s}.jt_notes(trace_id, note, updated_at)"
                        " VALUES (?,?,?)",
                        (trace_id, note, now),
                    )
                    conn.execute(f"UPDATE {s}.jt_meta SET value = value + 1 WHERE key='label_gen'")
                conn.executemany(
                    f"INSERT INTO {s}.jt_label_history"
                    "(trace_id, field, old_value, new_value, note, source, at)"
                    " VALUES (?,?,?,?,?,?,?)",
                    [
                        (trace_id, f, _dumps(o), _dumps(n), note or "", source, now)
                        for f, o, n in history
                    ],
                )
        except sqlite3.OperationalError as exc:
            raise _friendly(exc, self._path) from exc
        return LabelChange(trace_id, old_fb, new_fb, old_out, new_out, now)

    def label_history(self, trace_id: str) -> List[LabelEvent]:
        """Every label change of a trace, oldest first."""
        with self._conn() as conn:
            rows = self._fetch(
                conn,
                f"SELECT trace_id, field, old_value, new_value, note, source, at"
                f" FROM {self._schema}.jt_label_history WHERE trace_id = ? ORDER BY id",
                (trace_id,),
            )
        return [
            LabelEvent(r[0], r[1], _loads(r[2], None), _loads(r[3], None), r[4], r[5], r[6])
            for r in rows
        ]

    def note(self, trace_id: str) -> Optional[str]:
        with self._conn() as conn:
            rows = self._fetch(
                conn, f"SELECT note FROM {self._schema}.jt_notes WHERE trace_id = ?", (trace_id,)
            )
        return rows[0][0] if rows else None

    # ------------------------------------------------------------ internals

    def _trace_cols(self, alias: str = "") -> str:
        p = f"{alias}." if alias else ""
        cols = [
            "id", "trace_id", "query", "agent", "model", "engine", "result", "outcome",
            "feedback", "started_at", "ended_at", "total_tokens", "total_latency_seconds",
            "metadata",
        ]  # fmt: skip
        out = ", ".join(p + c for c in cols)
        out += f", {p}messages" if self._has_messages else ", '[]'"
        return out

    def _mapped_steps(self, conn: sqlite3.Connection, ids: Sequence[str]) -> list:
        """Steps of the traces *ids* through jt_steps, with those saved since the last
        mirroring (past 'steps_mapped': a short rowid range) read directly; in order."""
        marks = ",".join("?" * len(ids))
        cols = "s.step_type, s.timestamp, s.duration_seconds, s.input, s.output, s.metadata"
        sql = (
            f"SELECT tid, {cols.replace('s.', '')} FROM ("
            f" SELECT t.trace_id AS tid, m.step_index AS ix, {cols} FROM main.traces t"
            " CROSS JOIN main.jt_steps m ON m.id = t.id"
            " CROSS JOIN main.trace_steps s ON s.id = m.step_rowid"
            f" WHERE t.trace_id IN ({marks})"
            f" UNION ALL SELECT s.trace_id, s.step_index, {cols} FROM main.trace_steps s"
            " WHERE s.id > (SELECT value FROM main.jt_meta WHERE key='steps_mapped')"
            f" AND s.trace_id IN ({marks})"
            ") ORDER BY tid, ix"
        )
        return self._fetch(conn, sql, [*ids, *ids], id_col=0)

    def _steps_sql(self, ids: Sequence[str]) -> tuple[str, list]:
        marks = ",".join("?" * len(ids))
        if self.read_only:
            return (
                "SELECT s.trace_id, s.step_type, s.timestamp, s.duration_seconds, s.input,"
                " s.output, s.metadata FROM jtmem.jt_steps_map m"
                " JOIN main.trace_steps s ON s.id = m.step_rowid"
                f" WHERE m.trace_id IN ({marks}) ORDER BY m.trace_id, m.step_index"
            ), list(ids)
        return (
            "SELECT trace_id, step_type, timestamp, duration_seconds, input, output,"
            f" metadata FROM main.trace_steps WHERE trace_id IN ({marks})"
            " ORDER BY trace_id, step_index"
        ), list(ids)

    def _rows_to_traces(
        self, conn: sqlite3.Connection, rows: Sequence[tuple], *, with_steps: bool = True
    ) -> List[Trace]:
        if not rows:
            return []
        ids = [r[1] for r in rows]
        steps: Dict[str, List[TraceStep]] = {i: [] for i in ids}
        if with_steps and not self.read_only and self._steps_mapped(conn):
            found: list = []
            for i in range(0, len(ids), 5_000):  # each id is bound twice
                found += self._mapped_steps(conn, ids[i : i + 5_000])
        else:
            found = self._fetch(conn, *self._steps_sql(ids), id_col=0) if with_steps else []
        for sr in found:
            tid = sr[0]
            steps.setdefault(tid, []).append(
                TraceStep(
                    step_type=_step_type(sr[1]),
                    timestamp=sr[2] or 0.0,
                    duration_seconds=sr[3] or 0.0,
                    input=self._loads_row(tid, sr[4], {}, "step input"),
                    output=self._loads_row(tid, sr[5], {}, "step output"),
                    metadata=self._loads_row(tid, sr[6], {}, "step metadata"),
                )
            )
        out = []
        for r in rows:
            messages = self._loads_row(r[1], r[14], [], "messages")
            out.append(
                Trace(
                    trace_id=r[1], query=r[2] or "", agent=r[3] or "", model=r[4] or "",
                    engine=r[5] or "", result=r[6] or "", outcome=r[7], feedback=r[8],
                    started_at=r[9] or 0.0, ended_at=r[10] or 0.0,
                    total_tokens=r[11] or 0, total_latency_seconds=r[12] or 0.0,
                    metadata=self._loads_row(r[1], r[13], {}, "metadata"),
                    messages=messages if isinstance(messages, list) else [messages],
                    steps=steps.get(r[1], []),
                )
            )  # fmt: skip
        return out

    # ------------------------------------------ what AgentConfigEvolver.analyze() reads

    def evolver_profile(
        self,
        *,
        min_quality: float,
        agent: Optional[str] = None,
        stop: Optional[threading.Event] = None,
    ) -> Optional[Dict[str, list]]:
        """The analysis of :meth:`AgentConfigEvolver.analyze` as grouped rows (read-only).

        ``{"groups": [(qclass, agent, outcome, n, rated, fb_sum, good), …],
        "steps": [(qclass, good, calls, tools, n), …]}``. A trace is *rated* when its
        feedback is a rating (a number within ``RATING_LIMIT``, see :func:`_number_sql`)
        and *good* when it is rated >= *min_quality*, or unrated with outcome
        ``success``. ``groups``: per class, agent and outcome, from the kept totals
        (:meth:`cube`). ``steps``: per class, goodness, number of ``tool_call`` steps
        and the tools they name (step order, repeats kept), how many traces (a trace
        without tool_call steps is not listed), from ``jt_calls`` (one row per trace
        with tool calls, joined to its mirror row); while a store from before schema 6
        is still counting its old traces there, one pass over the tool_call steps. A
        step names a tool exactly as :meth:`get` reads it (see :func:`_step_tool_sql`).
        *agent*: that agent's traces only. None when *stop* is set or a mirrored row
        has no class.
        """
        s = self._schema
        mq = float(min_quality)
        good = "(CASE WHEN r.feedback IS NOT NULL THEN r.feedback >= ? ELSE r.outcome IS 'success' END)"
        only = "" if agent is None else " WHERE r.agent = ?"
        params: list[Any] = [mq] if agent is None else [mq, agent]
        groups = [
            (d["qclass"], d["agent"], d["outcome"], d["n"], d["rated"], float(d["fb_sum"]),
             d["q_n"] + (d["n"] - d["rated"] if d["outcome"] == "success" else 0))
            for d in self.cube(min_quality=mq, agent=agent)
        ]  # fmt: skip
        if any(g[0] is None for g in groups) or (stop is not None and stop.is_set()):
            return None
        with self._conn() as conn:
            kept = self._calls_complete(conn)
        sets: Dict[int, tuple[int, str]] = {}
        if kept:
            with self._conn() as conn:
                sets = {
                    sid: (calls, tools)
                    for sid, calls, tools in self._fetch(
                        conn, f"SELECT sid, calls, tools FROM {s}.jt_tool_sets"
                    )
                }
            # CROSS JOIN: walk the traces with tool calls, look each mirror row up by id
            # (the planner would walk every mirror row instead: twice as slow).
            sql = (
                f"SELECT r.qclass, {good}, c.sid FROM {s}.jt_calls c"
                f" CROSS JOIN {s}.jt_rows r ON r.id = c.id{only}"
            )
        else:
            sql = (
                f"SELECT r.qclass, {good}, x.calls, x.sig FROM"
                f" (SELECT st.trace_id AS tid, count(*) AS calls,"
                f"  group_concat({_step_tool_sql('st.input')}, ',') AS sig"
                "  FROM main.trace_steps st NOT INDEXED WHERE st.step_type = 'tool_call'"
                "  GROUP BY st.trace_id) x"
                f" JOIN main.traces t ON t.trace_id = x.tid JOIN {s}.jt_rows r ON r.id = t.id"
                f"{only}"
            )
        # One row per trace with tool calls, counted here as they stream by (a GROUP BY
        # would sort them all first: 25% slower at 1M); a few hundred distinct rows.
        per: Dict[tuple, int] = {}
        with self._conn() as conn:
            try:
                for row in conn.execute(sql, params):
                    per[row] = per.get(row, 0) + 1
            except sqlite3.OperationalError as exc:
                if not _is_decode_error(exc):
                    raise
                per = {}
                for row in self._fetch(conn, sql, params):  # text that is not UTF-8
                    per[row] = per.get(row, 0) + 1
        if kept:  # set ids -> (calls, tools); two ids never name the same set
            per = {(q, g, *sets[sid]): n for (q, g, sid), n in per.items()}
        steps = []
        for (qclass, is_good, calls, sig), n in per.items():
            if qclass is None:
                return None
            names = [v[0] for v in json.loads(f"[{sig or ''}]")]
            tools = [t for t in names if isinstance(t, str) and t]
            steps.append((qclass, int(is_good), int(calls), tools, int(n)))
        return {"groups": groups, "steps": steps}


def _step_tool_sql(x: str) -> str:
    """SQL: the tool a step's input *x* names, as ``[name, …]`` JSON (``[null]``: none),
    exactly as :meth:`TraceStore.get` reads it (``{"tool": name}``, a non-empty string,
    JSON within the store's limits): SQLite's JSON answers for text where it and
    Python's ``json`` provably agree (RFC 8259 text with no backslash, NUL, repeated
    ``"tool"`` or deep nesting), Python (``jt_step_tool``) for every other step. The
    SQLite in use is asked at each call (json_valid's dialect changed with versions)."""
    if sqlite3.sqlite_version_info >= (3, 45, 0):
        valid: Optional[str] = f"json_valid({x}, 1)"  # RFC 8259 only, not JSON5
    elif sqlite3.sqlite_version_info >= (3, 42, 0):
        valid = None  # json_valid accepts JSON5 there: Python reads every step
    else:
        valid = f"json_valid({x})"
    python = f"jt_step_tool(CASE WHEN typeof({x}) = 'text' THEN CAST({x} AS BLOB) ELSE {x} END)"
    if valid is None:
        return python
    plain = (
        f"typeof({x}) = 'text' AND instr({x}, char(92)) = 0 AND instr({x}, char(0)) = 0"
        f" AND length({x}) <= {JSON_MAX_CHARS} AND (length({x}) < {2 * JSON_MAX_DEPTH + 2}"
        f" OR length({x}) - length(replace(replace({x}, '[', ''), '{{', '')) <= {JSON_MAX_DEPTH})"
        f" AND instr(substr({x}, instr({x}, '\"tool\"') + 1), '\"tool\"') = 0 AND {valid}"
    )
    return f"CASE WHEN {plain} THEN json_extract({x}, '$.tool', '$.tool') ELSE {python} END"


def _step_tool_json(raw: Any) -> str:
    """``jt_step_tool(input)``: ``[name]`` or ``[null]`` as JSON, the tool a step's
    input names as :meth:`TraceStore.get` reads it (text arrives as a BLOB, decoded
    leniently as the store decodes it)."""
    value = _loads(raw.decode("utf-8", "replace"), {}) if isinstance(raw, bytes) else None
    name = value.get("tool") if isinstance(value, dict) else None
    return json.dumps([name if isinstance(name, str) and name else None])


def _as_trace(obj: Any) -> Optional[Trace]:
    """*obj* as our :class:`Trace`: itself, or a look-alike (OpenJarvis's ``Trace``)
    read field by field; ``None`` for anything else."""
    if isinstance(obj, Trace):
        return obj
    if not isinstance(getattr(obj, "trace_id", None), str):
        return None
    try:
        steps = [
            TraceStep(
                step_type=getattr(st, "step_type", StepType.RESPOND),
                timestamp=float(getattr(st, "timestamp", 0.0) or 0.0),
                duration_seconds=float(getattr(st, "duration_seconds", 0.0) or 0.0),
                input=getattr(st, "input", {}) or {},
                output=getattr(st, "output", {}) or {},
                metadata=getattr(st, "metadata", {}) or {},
            )
            for st in getattr(obj, "steps", None) or ()
        ]
        fields = {
            name: getattr(obj, name)
            for name in (
                "query", "agent", "model", "engine", "result", "outcome", "feedback",
                "started_at", "ended_at", "total_tokens", "total_latency_seconds",
                "metadata", "messages",
            )
            if hasattr(obj, name)
        }  # fmt: skip
        return Trace(trace_id=obj.trace_id, steps=steps, **fields)
    except (TypeError, ValueError):
        return None


class _Neighbour:
    """Whether another connection wrote lately (``PRAGMA data_version``), and so how
    long our next write transaction may hold the lock."""

    def __init__(self) -> None:
        self.version: Any = None
        self.last_foreign = time.perf_counter()

    def budget(self, conn: sqlite3.Connection) -> tuple[bool, float]:
        """(quiet, seconds): quiet when nobody else committed for MIGRATE_QUIET_SECONDS."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        now = time.perf_counter()
        if version != self.version:  # another connection committed
            self.version, self.last_foreign = version, now
        quiet = now - self.last_foreign >= MIGRATE_QUIET_SECONDS
        return quiet, (MIGRATE_IDLE_TX_SECONDS if quiet else MIGRATE_TX_SECONDS)


def _next_size(done: int, took: float, budget: float) -> float:
    """The next transaction's size: ~80% of *budget* at this one's pace, at most twice."""
    return done * min(2.0, 0.8 * budget / max(took, 1e-3))


@contextmanager
def _same(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    yield conn


def _close_interrupted(conn: sqlite3.Connection) -> None:
    """Close *conn*, which :meth:`TraceStore.close` may have interrupted, so that its
    close still checkpoints: a statement started with nothing else running clears the
    pending interrupt (else the last close leaves traces.db-wal behind)."""
    try:
        conn.execute("SELECT 1").fetchall()
    except sqlite3.Error:
        pass
    conn.close()


def _uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


def _friendly(exc: sqlite3.Error, path: Path) -> StoreError:
    """Turn an sqlite3 error into one sentence a user can act on."""
    msg = str(exc)
    low = msg.lower()
    if "file is not a database" in low or "malformed" in low:
        return NotATraceStore(f"{path} is not a valid SQLite database ({msg})")
    if "locked" in low or "busy" in low:
        return StoreError(f"{path} is locked by another program; try again in a moment")
    if "readonly" in low or "read-only" in low:
        return ReadOnlyStore(f"{path} is read-only: changes cannot be saved")
    if "unable to open" in low:
        return StoreError(f"cannot open {path} ({msg})")
    return StoreError(f"{path}: {msg}")


__all__ = [
    "LabelChange",
    "LabelEvent",
    "NotATraceStore",
    "OUTCOMES",
    "Page",
    "RANK_WINDOW",
    "ReadOnlyStore",
    "SORT_EXPR",
    "SearchResult",
    "StoreError",
    "StoreProblem",
    "TraceFilter",
    "TraceRow",
    "TraceStore",
    "to_fts_query",
    "validate_score",
]
