"""AgentConfigEvolver: recommend agent configs from traces; keep every version of each config.

Files under ``config_dir`` (the layout OpenJarvis reads: ``<agent>.toml`` and
``.history/<agent>.v*.toml``)::

    <agent>.toml                       the current config (a working copy)
    .history/<agent>.v000042.toml      version 42's exact bytes; never rewritten
    .history/<agent>.log.jsonl         one line per version: seq, cause, note, ts, sha256, summary
    .history/.lock                     flock: one writer at a time per config dir, across processes

Every version gets a sequence number (*seq*) when it is created, allocated under the
lock as one more than the highest number ever used (archives and the log, which is
fsynced before the number is used), so a number is never handed out twice, even
after a crash. Zero padding makes the names sort numerically even for the
reference's lexicographic glob.

Unlike the reference, which archives a version only when the next one replaces it,
every version is archived as soon as it becomes current: a hand edit of
``<agent>.toml`` (recorded as an ``external`` version at the next write) cannot
destroy the version it overwrote.

Public version numbers are positions, as in the spec: 1 is the oldest version and N
the current config. Archives are never deleted, so a position keeps naming the same
version as new ones are added.

Deliberate differences from the reference (``openjarvis.learning.agent_evolver``):

- ``analyze`` streams every trace (the reference reads the newest 10,000), honours
  ``min_quality`` (the reference ignores it) and treats a trace without feedback as
  unrated (the reference scores it 0.0, penalising whatever unrated traces used).
- Configs are written with ``tomli_w`` (the reference's hand-made TOML breaks on a
  newline or control character in a system prompt) and atomically; the previous
  version is archived first, and writers are serialised across processes. With two
  processes writing 100 versions each, the reference loses versions (archive names
  collide) and leaves unparseable files; this module loses none.
- Each version records why it exists (``cause`` and ``note``), and a config edited
  by hand shows up as an ``external`` version instead of silently becoming history.
- A rollback is a new version (nothing is overwritten), refuses a target that is not
  valid TOML, and is a no-op when the target is the current version.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import inspect
import json
import math
import os
import re
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import tomli_w

from jarvis_tui.core.types import Trace
from jarvis_tui.learning.classify import classify_query
from jarvis_tui.paths import FILE_MODE, atomic_write_bytes, ensure_dir

VERSION_CAUSES: tuple[str, ...] = ("evolver", "rollback", "manual", "promoted-trial", "external")
"""Why a version exists; ``external`` marks a file changed outside this module."""

HISTORY_DIR = ".history"
LOCK_NAME = ".lock"
MAX_AGENT_NAME_LEN = 64
MAX_NOTE_LEN = 500
SEQ_WIDTH = 6

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_ARCHIVE_RE = re.compile(r"(?P<agent>.+)\.v(?P<seq>\d+)\.toml")
# atomic_write_bytes' temp files: mkstemp(prefix=".<name>.", suffix=".tmp"), 8 random chars.
_TEMP_RE = re.compile(r"\..+\.toml\.[a-z0-9_]{8}\.tmp")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")
_LOG_SUFFIX = ".log.jsonl"
_TAIL_BYTES = 4096
_FALLBACK_LIMIT = 2**31 - 1
_PROGRESS_EVERY = 5_000
_AGENT_PRIOR_WEIGHT = 3.0
_EXTERNAL_NOTE = "edited outside jarvis-tui"


class ConfigWriteError(OSError):
    """A config could not be written (directory missing, read-only, not a directory...).

    Raised before anything is changed, or after a failure that left the current
    config as it was: a reader never sees a half-written file.
    """


class MalformedConfigError(ValueError):
    """A config file is not valid TOML; ``path``, ``line`` and ``column`` say where."""

    def __init__(self, path: Path, line: int, column: int, reason: str) -> None:
        self.path = path
        """The file that failed to parse."""
        self.line = line
        """1-based line of the error."""
        self.column = column
        """1-based column of the error."""
        self.reason = reason
        """The parser's message, without the position."""
        super().__init__(f"{path}: invalid TOML at line {line}, column {column}: {reason}")


def validate_agent_name(name: object) -> str:
    """Return *name* if it can safely name a config file, else raise ``ValueError``.

    Allowed: 1-64 ASCII letters, digits, ``_``, ``-`` and ``.``, not starting with
    ``.``, without ``..``. This keeps every name inside ``config_dir`` (no separators,
    no traversal, no hidden files that would clash with our lock and temp files).
    """
    if not isinstance(name, str):
        raise ValueError(f"agent name must be a string, not {type(name).__name__}")
    if not name:
        raise ValueError("agent name must not be empty")
    shown = ascii(name[:80]) + ("…" if len(name) > 80 else "")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(
            f"invalid agent name {shown}: control characters (including NUL) are not allowed"
        )
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        raise ValueError(f"invalid agent name {shown}: path separators are not allowed")
    if ".." in name:
        raise ValueError(f"invalid agent name {shown}: '..' is not allowed")
    if name.startswith("."):
        raise ValueError(f"invalid agent name {shown}: must not start with '.'")
    if len(name) > MAX_AGENT_NAME_LEN:
        raise ValueError(f"invalid agent name {shown}: longer than {MAX_AGENT_NAME_LEN} characters")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid agent name {shown}: use only ASCII letters, digits, '_', '-' and '.'"
        )
    return name


def parse_config(content: Union[bytes, str], path: Union[str, Path] = "<config>") -> Dict[str, Any]:
    """Parse TOML *content*; a :class:`MalformedConfigError` names the file, line and column."""
    p = Path(path)
    if isinstance(content, bytes):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = content[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            raise MalformedConfigError(p, line, column, "not UTF-8 text") from exc
    else:
        text = content
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        m = re.search(r" \(at line (\d+), column (\d+)\)$", reason)
        if m:
            line, column = int(m.group(1)), int(m.group(2))
            reason = reason[: m.start()]
        else:
            reason = reason.removesuffix(" (at end of document)")
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1) + 1
        raise MalformedConfigError(p, line, column, reason) from exc


def summarize_config(data: Dict[str, Any]) -> str:
    """One line describing a config: its tools, max_turns and temperature."""
    agent = data.get("agent")
    if not isinstance(agent, dict):
        return "no [agent] table"
    parts = []
    tools = agent.get("tools")
    if isinstance(tools, list):
        names = [str(t) for t in tools]
        shown = ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
        parts.append(f"tools: {shown}" if names else "no tools")
    for key in ("max_turns", "temperature"):
        if key in agent:
            parts.append(f"{key} {agent[key]}")
    prompt = agent.get("system_prompt")
    if isinstance(prompt, str) and prompt:
        parts.append(f"prompt {len(prompt)} chars")
    text = " · ".join(parts) or "empty [agent] table"
    return text if len(text) <= 120 else text[:119] + "…"


def _summarize_bytes(content: bytes) -> str:
    try:
        return summarize_config(parse_config(content))
    except MalformedConfigError:
        return "not valid TOML"


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _archive_name(agent: str, seq: int) -> str:
    return f"{agent}.v{seq:0{SEQ_WIDTH}d}.toml"


# ----------------------------------------------------------------------------------------
# toml_diff
# ----------------------------------------------------------------------------------------

_SYMBOLS = {"added": "+", "removed": "-", "changed": "~"}


@dataclass(frozen=True)
class Change:
    """One difference between two configs, at a dotted key (``agent.tools``).

    ``kind`` is ``added``, ``removed`` or ``changed``. With ``element=True`` the change
    is one element of a list of scalars (``old`` or ``new`` is that element), so a
    tools list diffs as ``+ web_search`` / ``- calculator`` instead of whole lists.
    """

    key: str
    """Dotted path; keys that are not bare TOML keys are quoted."""
    kind: str
    """``added``, ``removed`` or ``changed``."""
    old: Any = None
    """The old value (or removed element); None when added."""
    new: Any = None
    """The new value (or added element); None when removed."""
    element: bool = False
    """True when this is one list element added or removed."""

    @property
    def symbol(self) -> str:
        """``+``, ``-`` or ``~``."""
        return _SYMBOLS[self.kind]

    def __str__(self) -> str:
        if self.element:
            value = self.new if self.kind == "added" else self.old
            shown = value if isinstance(value, str) else _show(value)
            return f"{self.key}: {self.symbol} {shown}"
        if self.kind == "added":
            return f"+ {self.key} = {_show(self.new)}"
        if self.kind == "removed":
            return f"- {self.key} = {_show(self.old)}"
        return f"~ {self.key}: {_show(self.old)} → {_show(self.new)}"


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _join_key(prefix: str, key: Any) -> str:
    k = str(key)
    part = k if _BARE_KEY_RE.fullmatch(k) else json.dumps(k, ensure_ascii=False)
    return f"{prefix}.{part}" if prefix else part


def _is_scalar(v: Any) -> bool:
    return not isinstance(v, (dict, list))


def _scalar_key(v: Any) -> tuple[str, str]:
    # Typed, so 1, 1.0 and true differ (TOML keeps them apart); repr makes nan == nan.
    return (type(v).__name__, repr(v))


def _same(a: Any, b: Any) -> bool:
    if _is_scalar(a) and _is_scalar(b):
        return _scalar_key(a) == _scalar_key(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return False


def toml_diff(old: Dict[str, Any], new: Dict[str, Any]) -> List[Change]:
    """Key-level differences from *old* to *new* (parsed TOML tables).

    Nested tables recurse (dotted keys); lists of scalars diff element by element
    (a list whose elements only moved is one ``changed``); anything else that differs
    (including a change of type, ``1`` → ``1.0``) is one ``changed``. Order: the keys
    of *old* as they appear, then keys only in *new*.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise TypeError("toml_diff compares two dicts (parsed TOML documents)")
    out: List[Change] = []
    _diff_tables(old, new, "", out)
    return out


def _diff_tables(old: Dict[str, Any], new: Dict[str, Any], prefix: str, out: List[Change]) -> None:
    for k, v in old.items():
        key = _join_key(prefix, k)
        if k not in new:
            out.append(Change(key, "removed", old=v))
        else:
            _diff_values(v, new[k], key, out)
    for k, v in new.items():
        if k not in old:
            out.append(Change(_join_key(prefix, k), "added", new=v))


def _multiset_minus(a: list, b: list) -> list:
    """Elements of *a* not matched one-for-one by an element of *b* (order of *a* kept)."""
    spare = Counter(map(_scalar_key, b))
    out = []
    for x in a:
        k = _scalar_key(x)
        if spare[k] > 0:
            spare[k] -= 1
        else:
            out.append(x)
    return out


def _diff_values(a: Any, b: Any, key: str, out: List[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        _diff_tables(a, b, key, out)
        return
    if _same(a, b):
        return
    if (
        isinstance(a, list)
        and isinstance(b, list)
        and all(map(_is_scalar, a))
        and all(map(_is_scalar, b))
    ):
        removed = _multiset_minus(a, b)
        added = _multiset_minus(b, a)
        if removed or added:
            out.extend(Change(key, "removed", old=x, element=True) for x in removed)
            out.extend(Change(key, "added", new=x, element=True) for x in added)
            return
    out.append(Change(key, "changed", old=a, new=b))


# ----------------------------------------------------------------------------------------
# analysis accumulators
# ----------------------------------------------------------------------------------------


@dataclass
class _AgentStats:
    count: int = 0
    rated: int = 0
    feedback_sum: float = 0.0
    known_outcomes: int = 0
    successes: int = 0


@dataclass
class _ClassStats:
    count: int = 0
    rated: int = 0
    feedback_sum: float = 0.0
    good: int = 0
    tool_traces: Counter = field(default_factory=Counter)  # good traces using each tool
    tool_calls: Counter = field(default_factory=Counter)  # calls in good traces (tie-break)
    turns_good: Counter = field(default_factory=Counter)  # tool calls per good trace
    turns_all: Counter = field(default_factory=Counter)
    agents: Dict[str, _AgentStats] = field(default_factory=dict)


def _feedback_of(trace: Trace) -> Optional[float]:
    fb = getattr(trace, "feedback", None)
    if fb is None or isinstance(fb, bool) or not isinstance(fb, (int, float)):
        return None
    fb = float(fb)
    return fb if math.isfinite(fb) else None


def _p75(hist: Counter) -> int:
    """The reference's 75th percentile (sorted[int(n * 0.75)]) from a histogram."""
    n = sum(hist.values())
    idx = min(int(n * 0.75), n - 1)
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen > idx:
            return value
    return 0


# ----------------------------------------------------------------------------------------
# on-disk state
# ----------------------------------------------------------------------------------------


@dataclass
class _Snapshot:
    """What is on disk for one agent, read under the lock."""

    archives: List[tuple[int, str]]
    """(seq, file name) of archived versions, oldest first."""
    log: List[Dict[str, Any]]
    """Log entries in file order (the tail, or all of it)."""
    max_logged: int
    current: Optional[bytes]
    current_sha: Optional[str]
    current_seq: Optional[int]
    """The current file's seq; None when it exists but matches no version (edited by hand)."""
    current_archived: bool
    """Whether the current version's archive exists (False after a kill, until repaired)."""

    @property
    def max_archived(self) -> int:
        return self.archives[-1][0] if self.archives else 0

    def next_seq(self) -> int:
        return max(self.max_archived, self.max_logged) + 1


@dataclass(frozen=True)
class _Version:
    number: int
    seq: Optional[int]
    path: str  # str, not Path: list_versions builds thousands of these
    current: bool


def _valid_entry(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and isinstance(e.get("seq"), int)
        and not isinstance(e.get("seq"), bool)
        and e["seq"] >= 1
        and isinstance(e.get("sha256"), str)
    )


def _parse_log_lines(chunk: bytes) -> List[Dict[str, Any]]:
    lines = [line.strip() for line in chunk.split(b"\n") if line.strip()]
    parsed: List[Any] = []
    try:  # one parse for the whole log is 3x faster than a json.loads per line
        if all(line[:1] == b"{" and line[-1:] == b"}" for line in lines):
            parsed = json.loads(b"[" + b",".join(lines) + b"]")
        else:
            raise ValueError("a torn line")
    except ValueError:
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a crash, or edited by hand: skip it
    return [e for e in parsed if _valid_entry(e)]


class AgentConfigEvolver:
    """Analyze traces to evolve agent TOML configs with versioning.

    Parameters
    ----------
    trace_store:
        Where traces come from: anything with ``iter_traces()`` (streamed) or, failing
        that, ``list_traces(limit=...)``.
    config_dir:
        Directory where agent TOML configs are written (created owner-only if missing;
        a directory that cannot be created only fails the first write).
    min_quality:
        Minimum mean feedback of a query class's rated traces for a recommendation.
    lock_timeout:
        Seconds to wait for another writer before raising ``TimeoutError``.

    Thread- and process-safe: writes take an exclusive ``flock`` on
    ``.history/.lock``; reads take a shared one when the lock file exists.
    """

    def __init__(
        self,
        trace_store: Any,
        *,
        config_dir: Union[str, Path],
        min_quality: float = 0.5,
        lock_timeout: float = 30.0,
    ) -> None:
        if (
            isinstance(min_quality, bool)
            or not isinstance(min_quality, (int, float))
            or not math.isfinite(min_quality)
        ):
            raise ValueError(f"min_quality must be a finite number, not {min_quality!r}")
        self._store = trace_store
        self._config_dir = Path(config_dir)
        self._history_dir = self._config_dir / HISTORY_DIR
        self._min_quality = float(min_quality)
        if not (isinstance(lock_timeout, (int, float)) and lock_timeout >= 0):
            raise ValueError(f"lock_timeout must be a number of seconds >= 0, not {lock_timeout!r}")
        self._lock_timeout = float(lock_timeout)
        try:
            ensure_dir(self._config_dir)
            ensure_dir(self._history_dir)
        except OSError:
            pass  # read-only workspace: reading still works; a write says what is wrong

    @property
    def config_dir(self) -> Path:
        """Where the current configs live."""
        return self._config_dir

    @property
    def history_dir(self) -> Path:
        """Where archived versions, the per-agent logs and the lock file live."""
        return self._history_dir

    @property
    def min_quality(self) -> float:
        """Minimum mean feedback for a recommendation."""
        return self._min_quality

    def config_path(self, agent_name: str) -> Path:
        """The current config file of *agent_name* (it may not exist)."""
        return self._config_dir / f"{validate_agent_name(agent_name)}.toml"

    # ------------------------------------------------------------------------------------
    # analyze
    # ------------------------------------------------------------------------------------

    def analyze(
        self,
        *,
        stop: Optional[threading.Event] = None,
        progress: Optional[Callable[[int], None]] = None,
    ) -> List[Dict[str, Any]]:
        """Analyze every trace; return one recommendation per qualifying query class.

        Each dict has the spec's keys -- ``query_class``, ``recommended_tools`` (tools
        of the class's *good* traces, most frequent first), ``recommended_agent``,
        ``recommended_max_turns``, ``sample_count`` (all traces of the class) -- plus
        ``avg_feedback`` (mean over rated traces; None when none), ``rated_count``,
        ``good_count`` and ``tool_counts`` (good traces using each tool).

        Unlike the reference, which reads the newest 10,000 traces, scores a missing
        feedback as 0.0 and ignores ``min_quality``:

        - traces are streamed (memory does not grow with the store);
        - a trace without feedback is unrated: it counts in ``sample_count`` and in
          turn statistics, never in a feedback mean;
        - a class is recommended only when the mean feedback of its rated traces
          reaches ``min_quality`` (with ``min_quality <= 0`` a class with no ratings
          qualifies too);
        - a trace is *good* when its feedback reaches ``min_quality``, or, unrated,
          when its outcome is ``success``. Tools are ranked by the number of good
          traces that use them (ties: more calls, then name); ``max_turns`` is the
          reference's rule (75th percentile of tool calls + 2, at least 5) over good
          traces, or all traces of the class when none is good;
        - the agent is the best by mean feedback shrunk toward a neutral 0.5 (as if
          it had 3 more ratings of 0.5, so one lucky rating does not beat a steady
          record), then by success rate, then by trace count.

        ``stop`` ends the scan early (the result then covers the traces read so far);
        ``progress`` is called with the number of traces read, every 5,000.
        """
        classes: Dict[str, _ClassStats] = {}
        n = 0
        minq = self._min_quality
        for trace in self._all_traces(stop):
            if stop is not None and n % 256 == 0 and stop.is_set():
                break
            n += 1
            if progress is not None and n % _PROGRESS_EVERY == 0:
                progress(n)
            self._add_trace(classes, trace, minq)
        if progress is not None and n % _PROGRESS_EVERY:
            progress(n)
        recs = []
        for qclass in sorted(classes):
            rec = self._recommend(qclass, classes[qclass], minq)
            if rec is not None:
                recs.append(rec)
        return recs

    def _all_traces(self, stop: Optional[threading.Event]) -> Iterable[Trace]:
        iter_traces = getattr(self._store, "iter_traces", None)
        if callable(iter_traces):
            try:
                params = inspect.signature(iter_traces).parameters
            except (TypeError, ValueError):
                params = {}
            takes_stop = "stop" in params or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
            )
            return iter_traces(stop=stop) if takes_stop else iter_traces()
        # A store without streaming (e.g. OpenJarvis's own TraceStore): ask for everything.
        return self._store.list_traces(limit=_FALLBACK_LIMIT)

    @staticmethod
    def _add_trace(classes: Dict[str, _ClassStats], trace: Trace, minq: float) -> None:
        qclass = classify_query(trace.query or "")
        cs = classes.get(qclass)
        if cs is None:
            cs = classes[qclass] = _ClassStats()
        fb = _feedback_of(trace)
        outcome = trace.outcome
        good = fb >= minq if fb is not None else outcome == "success"

        calls = 0
        used: Counter = Counter()
        for step in trace.steps:
            if step.step_type != "tool_call":  # StepType is a str enum: covers both forms
                continue
            calls += 1
            inp = step.input
            tool = inp.get("tool") if isinstance(inp, dict) else None
            if isinstance(tool, str) and tool:
                used[tool] += 1

        cs.count += 1
        cs.turns_all[calls] += 1
        if fb is not None:
            cs.rated += 1
            cs.feedback_sum += fb
        if good:
            cs.good += 1
            cs.turns_good[calls] += 1
            cs.tool_traces.update(used.keys())
            cs.tool_calls.update(used)
        if trace.agent:
            ag = cs.agents.get(trace.agent)
            if ag is None:
                ag = cs.agents[trace.agent] = _AgentStats()
            ag.count += 1
            if fb is not None:
                ag.rated += 1
                ag.feedback_sum += fb
            if outcome in ("success", "failure"):
                ag.known_outcomes += 1
                ag.successes += outcome == "success"

    @staticmethod
    def _recommend(qclass: str, cs: _ClassStats, minq: float) -> Optional[Dict[str, Any]]:
        avg = cs.feedback_sum / cs.rated if cs.rated else None
        if avg is None:
            if minq > 0:
                return None  # quality unknown: cannot show it reaches min_quality
        elif avg < minq - 1e-12:
            return None
        if not cs.agents:
            return None

        def agent_key(name: str) -> tuple[float, float, int]:
            # The one rule, shared with the Routing pane (jarvis_tui.learning.recommend).
            from jarvis_tui.learning.recommend import agent_score

            a = cs.agents[name]
            return agent_score(a.feedback_sum, a.rated, a.successes, a.known_outcomes, a.count)

        best_agent = max(sorted(cs.agents), key=agent_key)
        tools = sorted(cs.tool_traces, key=lambda t: (-cs.tool_traces[t], -cs.tool_calls[t], t))
        hist = cs.turns_good if cs.good else cs.turns_all
        return {
            "query_class": qclass,
            "recommended_tools": tools,
            "recommended_agent": best_agent,
            "recommended_max_turns": max(_p75(hist) + 2, 5),
            "sample_count": cs.count,
            "avg_feedback": avg,
            "rated_count": cs.rated,
            "good_count": cs.good,
            "tool_counts": {t: cs.tool_traces[t] for t in tools},
        }

    # ------------------------------------------------------------------------------------
    # writing
    # ------------------------------------------------------------------------------------

    def write_config(
        self,
        agent_name: str,
        *,
        tools: List[str],
        max_turns: int = 10,
        temperature: float = 0.3,
        system_prompt: str = "",
        cause: str = "evolver",
        note: str = "",
    ) -> Path:
        """Write *agent_name*'s config as a new version, archiving the previous one first.

        Returns the :class:`Path` of the current config. The TOML is produced by
        ``tomli_w`` and checked to parse back to the same values, so any prompt
        (newlines, quotes, backslashes, unicode) round-trips exactly. The write is
        atomic (temp file, fsync, rename; file 0600) and serialised across processes.
        ``cause`` (one of :data:`VERSION_CAUSES`) and ``note`` are recorded in the
        history log. Raises ``ValueError`` for bad arguments and
        :class:`ConfigWriteError` when the directory cannot be written.
        """
        name = validate_agent_name(agent_name)
        tool_list = _check_tools(tools)
        if isinstance(max_turns, bool) or not isinstance(max_turns, int):
            raise ValueError(f"max_turns must be an int, not {type(max_turns).__name__}")
        if not 1 <= max_turns <= 1_000_000:
            raise ValueError(f"max_turns must be between 1 and 1,000,000, not {max_turns}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ValueError(f"temperature must be a number, not {type(temperature).__name__}")
        if not (math.isfinite(temperature) and 0.0 <= temperature <= 2.0):
            raise ValueError(f"temperature must be a finite number in [0, 2], not {temperature}")
        _check_text("system_prompt", system_prompt)
        cause, note = _check_cause(cause, note)
        data = {
            "agent": {
                "name": name,
                "tools": tool_list,
                "max_turns": max_turns,
                "temperature": float(temperature),
                "system_prompt": system_prompt,
            }
        }
        with self._locked(exclusive=True):
            snap = self._snapshot(name, cleanup=True)
            data = _keep_other_settings(snap.current, data)
            content = tomli_w.dumps(data).encode("utf-8")
            if parse_config(content) != data:  # never write what would not read back the same
                raise ValueError("config does not round-trip through TOML")
            self._commit(name, snap, content, cause, note, summarize_config(data))
        return self._config_dir / f"{name}.toml"

    def promoted_config(self, agent_name: str, params: Dict[str, Any]) -> tuple[str, str]:
        """(current text, text after promoting *params*) for *agent_name*.

        *params* are an optimization trial's dotted keys; each becomes a key of the
        config's nested tables, everything else of the current config (the system
        prompt, unknown tables) is kept. ``agent.name`` only names the file.
        """
        name = validate_agent_name(agent_name)
        with self._locked(exclusive=False):
            snap = self._snapshot(name)
        old = snap.current.decode("utf-8", errors="replace") if snap.current else ""
        data = parse_config(snap.current, self.config_path(name)) if snap.current else {}
        return old, _overlay_toml(data, params, name)

    def promote_params(self, agent_name: str, params: Dict[str, Any], *, note: str = "") -> int:
        """Write a trial's *params* over *agent_name*'s config as a new version.

        The version's cause is ``promoted-trial``; returns its number. Raises
        ValueError for a bad name or params that TOML cannot hold.
        """
        name = validate_agent_name(agent_name)
        cause, note = _check_cause("promoted-trial", note)
        with self._locked(exclusive=True):
            snap = self._snapshot(name, cleanup=True)
            data = parse_config(snap.current, self.config_path(name)) if snap.current else {}
            text = _overlay_toml(data, params, name)
            content = text.encode("utf-8")
            return self._commit(name, snap, content, cause, note, _summarize_bytes(content))

    def rollback(self, agent_name: str, version: int) -> None:
        """Make *version* the current config again, as a new version.

        The current config is archived, the target's exact bytes become current and
        the new version's cause is ``rollback`` ("rollback to version N"); nothing is
        overwritten or dropped. Rolling back to the current version does nothing.
        Raises ``ValueError`` naming the available versions when *version* does not
        exist, and :class:`MalformedConfigError` when the target is not valid TOML
        (unlike the reference, which would copy it into place).
        """
        name = validate_agent_name(agent_name)
        with self._locked(exclusive=True):
            snap = self._snapshot(name, cleanup=True)
            target = self._find(name, self._positions(name, snap), version)
            if target.current:
                return
            content = _read(target.path)
            data = parse_config(content, target.path)
            self._commit(
                name,
                snap,
                content,
                "rollback",
                f"rollback to version {target.number}",
                summarize_config(data),
            )

    def preview_rollback(self, agent_name: str, version: int) -> str:
        """Exactly the text :meth:`rollback` would write for *version*.

        For the current version (a no-op rollback) this is the current text, which
        stays as it is. Otherwise raises as
        :meth:`rollback` does for a missing or malformed target.
        """
        name = validate_agent_name(agent_name)
        with self._locked(exclusive=False):
            snap = self._snapshot(name)
            target = self._find(name, self._positions(name, snap), version)
            if target.current:
                assert snap.current is not None
                return snap.current.decode("utf-8", errors="replace")
            content = _read(target.path)
        parse_config(content, target.path)  # rollback refuses what would not parse
        return content.decode("utf-8")

    # ------------------------------------------------------------------------------------
    # reading
    # ------------------------------------------------------------------------------------

    def list_versions(self, agent_name: str) -> List[Dict[str, Any]]:
        """List all versions (including current) for *agent_name*, oldest first.

        Each dict has the spec's ``version`` (1..N; N is current), ``path`` (the
        config file for the current version, else its archive) and ``modified``,
        plus ``seq`` (the version's stable sequence number; None for a hand-edited
        current file not yet recorded), ``current``, ``cause``, ``note``, ``summary``,
        ``sha256`` and ``created`` (when it was logged; None if unknown). Versions are
        ordered numerically by seq (the reference sorted names, so v10 came before v9).
        An archive with no log line (written by OpenJarvis, say) shows as ``external``.
        """
        name = validate_agent_name(agent_name)
        with self._locked(exclusive=False):
            snap = self._snapshot(name, full_log=True)
            positions = self._positions(name, snap)
            entries = {e["seq"]: e for e in snap.log}
            out: List[Dict[str, Any]] = []
            for v in positions:
                try:
                    modified = os.stat(v.path).st_mtime
                except FileNotFoundError:
                    modified = 0.0  # deleted by hand since the scan; keep the numbering
                entry = entries.get(v.seq) if v.seq is not None else None
                if entry is not None:
                    cause = (
                        entry.get("cause") if entry.get("cause") in VERSION_CAUSES else "external"
                    )
                    note = str(entry.get("note", ""))
                    summary = str(entry.get("summary", ""))
                    created = entry.get("ts")
                elif v.current:
                    assert snap.current is not None
                    cause, note = "external", f"{_EXTERNAL_NOTE} (recorded at the next write)"
                    summary, created = _summarize_bytes(snap.current), None
                else:
                    cause, note, summary, created = "external", "not in the history log", "", None
                out.append(
                    {
                        "version": v.number,
                        "path": v.path,
                        "modified": modified,
                        "seq": v.seq,
                        "current": v.current,
                        "cause": cause,
                        "note": note,
                        "summary": summary,
                        "sha256": entry.get("sha256") if entry else None,
                        "created": created if isinstance(created, (int, float)) else None,
                    }
                )
            return out

    def read_version(self, agent_name: str, version: int) -> str:
        """The raw text of *version* (undecodable bytes replaced), valid TOML or not."""
        name = validate_agent_name(agent_name)
        with self._locked(exclusive=False):
            snap = self._snapshot(name)
            target = self._find(name, self._positions(name, snap), version)
            content = snap.current if target.current else _read(target.path)
        assert content is not None
        return content.decode("utf-8", errors="replace")

    def load_version(self, agent_name: str, version: int) -> Dict[str, Any]:
        """*version* parsed; :class:`MalformedConfigError` (a ``ValueError``) names file and line."""
        name = validate_agent_name(agent_name)
        with self._locked(exclusive=False):
            snap = self._snapshot(name)
            target = self._find(name, self._positions(name, snap), version)
            content = snap.current if target.current else _read(target.path)
        assert content is not None
        return parse_config(content, target.path)

    def list_agents(self) -> List[str]:
        """Agents with a current config or any history, sorted; contents are not parsed.

        Files whose names are not valid agent names are left out (no method could
        address them).
        """
        names: set[str] = set()
        for entry in _scan(self._config_dir):
            if entry.name.endswith(".toml") and entry.is_file():
                names.add(entry.name[: -len(".toml")])
        for entry in _scan(self._history_dir):
            m = _ARCHIVE_RE.fullmatch(entry.name)
            if m:
                names.add(m.group("agent"))
            elif entry.name.endswith(_LOG_SUFFIX):
                names.add(entry.name[: -len(_LOG_SUFFIX)])
        valid = []
        for n in names:
            try:
                valid.append(validate_agent_name(n))
            except ValueError:
                continue
        return sorted(valid)

    # ------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        """Hold ``.history/.lock`` (flock: exclusive for writers, shared for readers)."""
        path = self._history_dir / LOCK_NAME
        if exclusive:
            self._check_writable()
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
            except OSError as exc:
                raise ConfigWriteError(
                    f"cannot create the lock file {path}: {exc.strerror or exc}; nothing was written"
                ) from exc
        else:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                fd = -1  # never written by us (or unreadable): nothing to wait for
        try:
            if fd >= 0:
                self._acquire(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, path)
            yield
        finally:
            if fd >= 0:
                os.close(fd)  # closing the descriptor releases the lock

    def _acquire(self, fd: int, op: int, path: Path) -> None:
        # Polling with LOCK_NB so a stuck writer elsewhere becomes a TimeoutError, not a
        # hang; the backoff stays short because a write holds the lock for ~1 ms.
        deadline = time.monotonic() + self._lock_timeout
        delay = 0.0002
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"another process has held {path} for {self._lock_timeout:g} s; "
                    "try again when it has finished writing agent configs"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def _check_writable(self) -> None:
        try:
            ensure_dir(self._config_dir)
            ensure_dir(self._history_dir)
        except OSError as exc:
            raise ConfigWriteError(
                f"cannot create the agent config directory {self._config_dir}: "
                f"{exc.strerror or exc}; nothing was written"
            ) from exc
        for d in (self._config_dir, self._history_dir):
            if not os.access(d, os.W_OK | os.X_OK):
                raise ConfigWriteError(
                    f"the agent config directory {d} is not writable; nothing was written"
                )

    def _snapshot(self, agent: str, *, cleanup: bool = False, full_log: bool = False) -> _Snapshot:
        """Read *agent*'s archives, log and current file (call with the lock held).

        ``cleanup`` (exclusive lock only) removes temp files left by a killed writer.
        """
        prefix = f"{agent}.v"
        cut = len(prefix)
        archives = []
        for entry in _scan(self._history_dir):
            n = entry.name
            if n.startswith(prefix) and n.endswith(".toml"):
                digits = n[cut:-5]
                if digits.isdigit() and digits.isascii():
                    archives.append((int(digits), n))
            elif cleanup and n.startswith(".") and _TEMP_RE.fullmatch(n):
                _unlink_quietly(entry.path)
        if cleanup:
            for entry in _scan(self._config_dir):
                if entry.name.startswith(".") and _TEMP_RE.fullmatch(entry.name):
                    _unlink_quietly(entry.path)
        archives.sort()
        max_archived = archives[-1][0] if archives else 0

        log = self._read_log(agent, min_seq=None if full_log else max_archived)
        max_logged = max((e["seq"] for e in log), default=0)

        current_path = self._config_dir / f"{agent}.toml"
        current = current_sha = current_seq = None
        archived = False
        try:
            current = current_path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            pass
        if current is not None:
            current_sha = _sha256(current)
            # Which version is the current file? A version logged after the last archive
            # with the same content (killed after the rename, before its archive), else
            # the last archive if the content matches; otherwise it was edited by hand.
            # A logged version whose rename never happened is skipped: its number stays
            # used and is never handed out again.
            for e in reversed(log):
                if e["seq"] <= max_archived:
                    break
                if e["sha256"] == current_sha:
                    current_seq = e["seq"]
                    break
            if current_seq is None and archives:
                try:
                    last = (self._history_dir / archives[-1][1]).read_bytes()
                except FileNotFoundError:
                    last = None
                if last is not None and _sha256(last) == current_sha:
                    current_seq, archived = max_archived, True
        return _Snapshot(archives, log, max_logged, current, current_sha, current_seq, archived)

    def _read_log(self, agent: str, *, min_seq: Optional[int]) -> List[Dict[str, Any]]:
        """Log entries; with *min_seq*, only a tail that reaches back to it (a few lines)."""
        path = self._history_dir / f"{agent}{_LOG_SUFFIX}"
        try:
            fh = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            return []
        with fh:
            size = os.fstat(fh.fileno()).st_size
            block = _TAIL_BYTES
            while min_seq is not None and size > block:
                fh.seek(size - block)
                chunk = fh.read()
                chunk = chunk[chunk.find(b"\n") + 1 :]  # drop the partial first line
                tail = _parse_log_lines(chunk)
                if tail and tail[0]["seq"] <= min_seq:
                    return tail
                block *= 8
            fh.seek(0)
            return _parse_log_lines(fh.read())

    def _append_log(self, agent: str, entry: Dict[str, Any]) -> None:
        """Append one line and fsync: after this the seq counts as used."""
        path = self._history_dir / f"{agent}{_LOG_SUFFIX}"
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a crash tore the last line: start a fresh one
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self._history_dir)

    def _commit(
        self, agent: str, snap: _Snapshot, content: bytes, cause: str, note: str, summary: str
    ) -> int:
        """Make *content* the current config as a new version (lock held).

        1. A current file that matches no version (edited by hand) is logged as an
           ``external`` version; a current version without its archive (a writer was
           killed) gets it now. So the previous version is archived before anything
           replaces it.
        2. The new version's log line is appended and fsynced: its number is now used.
        3. The config file is replaced atomically (temp file, fsync, rename).
        4. The new version's archive is written, so a later hand edit of the config
           file cannot destroy it.

        A kill between any two steps leaves a state the next snapshot reads correctly.
        An exception before step 3 completes leaves the current config as it was.
        """
        try:
            if snap.current is not None:
                assert snap.current_sha is not None
                cur_seq = snap.current_seq
                if cur_seq is None:
                    cur_seq = snap.next_seq()
                    self._append_log(
                        agent,
                        _entry(
                            cur_seq,
                            "external",
                            _EXTERNAL_NOTE,
                            snap.current_sha,
                            _summarize_bytes(snap.current),
                        ),
                    )
                    snap.max_logged = cur_seq
                if not snap.current_archived:
                    self._archive(agent, cur_seq, snap.current)
                    snap.archives.append((cur_seq, _archive_name(agent, cur_seq)))
            seq = snap.next_seq()
            self._append_log(agent, _entry(seq, cause, note, _sha256(content), summary))
            snap.max_logged = seq
            atomic_write_bytes(self._config_dir / f"{agent}.toml", content)
        except OSError as exc:
            if isinstance(exc, ConfigWriteError):
                raise
            raise ConfigWriteError(
                f"could not write the {agent!r} config in {self._config_dir}: "
                f"{exc.strerror or exc}; the current config is unchanged"
            ) from exc
        try:
            self._archive(agent, seq, content)
        except OSError:
            pass  # the version is current and logged; the next write archives it
        return seq

    def _archive(self, agent: str, seq: int, content: bytes) -> None:
        atomic_write_bytes(self._history_dir / _archive_name(agent, seq), content)

    def _positions(self, agent: str, snap: _Snapshot) -> List[_Version]:
        versions: List[_Version] = []
        hist = os.fspath(self._history_dir)
        for seq, fname in snap.archives:
            if snap.current_archived and seq == snap.current_seq:
                continue  # the current version: listed last, with the config file's path
            versions.append(_Version(len(versions) + 1, seq, os.path.join(hist, fname), False))
        if snap.current is not None:
            versions.append(
                _Version(
                    len(versions) + 1,
                    snap.current_seq,
                    os.fspath(self._config_dir / f"{agent}.toml"),
                    True,
                )
            )
        return versions

    @staticmethod
    def _find(agent: str, versions: List[_Version], version: Any) -> _Version:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"version must be an int, not {type(version).__name__}")
        if 1 <= version <= len(versions):
            return versions[version - 1]
        if not versions:
            raise ValueError(f"Version {version} not found for agent '{agent}': it has no versions")
        n = len(versions)
        available = ", ".join(map(str, range(1, n + 1))) if n <= 20 else f"1-{n}"
        raise ValueError(
            f"Version {version} not found for agent '{agent}'. Available versions: {available}"
        )


def _entry(seq: int, cause: str, note: str, sha: str, summary: str) -> Dict[str, Any]:
    return {
        "seq": seq,
        "cause": cause,
        "note": note,
        "ts": time.time(),
        "sha256": sha,
        "summary": summary,
    }


def _check_text(what: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode text (lone surrogate)") from exc
    return value


def _check_tools(tools: Any) -> List[str]:
    if isinstance(tools, (str, bytes)) or not isinstance(tools, (list, tuple)):
        raise ValueError(f"tools must be a list of tool names, not {type(tools).__name__}")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, str):
            raise ValueError(f"tools[{i}] must be a string, not {type(t).__name__}")
        if not t:
            raise ValueError(f"tools[{i}] is empty")
        out.append(_check_text(f"tools[{i}]", t))
    return out


def _check_cause(cause: Any, note: Any) -> tuple[str, str]:
    if cause not in VERSION_CAUSES:
        raise ValueError(f"cause must be one of {', '.join(VERSION_CAUSES)}; got {cause!r}")
    _check_text("note", note)
    if len(note) > MAX_NOTE_LEN:
        raise ValueError(f"note is longer than {MAX_NOTE_LEN} characters")
    return cause, note


def _scan(directory: Path) -> List[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _keep_other_settings(current: Optional[bytes], data: Dict[str, Any]) -> Dict[str, Any]:
    """*data* ([agent] fields) over what else the current config holds.

    Unlike the reference, which writes a fresh file, a new version keeps the tables
    and [agent] keys it does not set (a promoted trial's [intelligence] model, a
    user's own settings). A current file that does not parse is replaced whole.
    """
    if not current:
        return data
    try:
        old = parse_config(current)
    except MalformedConfigError:
        return data
    merged = {k: v for k, v in old.items() if k != "agent"}
    agent = old.get("agent") if isinstance(old.get("agent"), dict) else {}
    merged["agent"] = {**agent, **data["agent"]}
    return merged


def _overlay_toml(data: Dict[str, Any], params: Dict[str, Any], agent: str) -> str:
    """*data* with dotted *params* written into its tables, as TOML that reads back."""
    out = copy.deepcopy(data)
    for key, value in params.items():
        if value is None:
            continue
        parts = [p for p in str(key).split(".") if p]
        if not parts or key == "agent.name":
            continue
        node = out
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node[parts[-1]] = value
    agent_table = out.setdefault("agent", {})
    if isinstance(agent_table, dict):
        agent_table["name"] = agent
    text = tomli_w.dumps(out)
    if parse_config(text) != out:
        raise ValueError("the promoted config does not round-trip through TOML")
    return text


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _unlink_quietly(path: Union[str, Path]) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = [
    "VERSION_CAUSES",
    "AgentConfigEvolver",
    "Change",
    "ConfigWriteError",
    "MalformedConfigError",
    "parse_config",
    "summarize_config",
    "toml_diff",
    "validate_agent_name",
]
