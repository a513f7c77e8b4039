"""AgentConfigEvolver: recommend agent configs from traces; keep every version of each config.

The versions live in OpenJarvis's layout, handled by
:class:`jarvis_tui.configs.versions.VersionStore` (``<agent>.toml``, its previous
versions in ``.history/<agent>.v000042.toml``, our causes and notes in a sidecar log
OpenJarvis ignores): read that module for the layout, the crash and symlink rules and
how agent names map to file names. Key-level diffs are in :mod:`jarvis_tui.configs.diff`.
Every public name of both stays importable from here.

Deliberate differences from OpenJarvis (``openjarvis.learning.agent_evolver``):

- ``analyze`` streams every trace (OpenJarvis reads the newest 10,000), honours
  ``min_quality`` (OpenJarvis ignores it) and treats a trace without feedback as
  unrated (OpenJarvis scores it 0.0, penalising whatever unrated traces used).
- A new version of an existing config is an *edit* of it (``tomlkit``, which keeps
  the user's comments, key order and layout); only the keys it sets change, every
  other table and key is kept. A new file is written with ``tomli_w``. Either way the
  text is checked to parse back to exactly the intended values (OpenJarvis's
  hand-made TOML breaks on a newline or control character in a system prompt).
- Writes are atomic, owner-only and serialised across processes; each version records
  why it exists (``cause`` and ``note``); a config edited by hand shows up as an
  ``external`` version.
- A rollback is a new version (nothing is overwritten), refuses a target that is not
  valid TOML, and is a no-op when the target is the current version.
- Any agent name works (``Assistant (prod)``, ``support bot/v2``): it maps to a safe
  file name reversibly.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import tomli_w
import tomlkit
import tomlkit.items

from jarvis_tui.configs.diff import Change, _same, toml_diff
from jarvis_tui.configs.versions import (
    HISTORY_DIR,
    LOCK_NAME,
    MAX_AGENT_NAME_LEN,
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    MAX_NOTE_LEN,
    SEQ_WIDTH,
    VERSION_CAUSES,
    BadConfigError,
    ConfigTooLargeError,
    ConfigWriteError,
    MalformedConfigError,
    UnsafePathError,
    VersionStore,
    agent_file_stem,
    agent_from_stem,
    check_cause,
    check_text,
    parse_config,
    summarize_bytes,
    summarize_config,
    validate_agent_name,
)
from jarvis_tui.core.types import Trace
from jarvis_tui.learning.classify import classify_query
from jarvis_tui.traces.store import RATING_LIMIT

log = logging.getLogger(__name__)

_FALLBACK_LIMIT = 2**31 - 1
_PROGRESS_EVERY = 5_000
_AGENT_PRIOR_WEIGHT = 3.0

# Old private names, kept for callers that imported them.
_check_text = check_text
_check_cause = check_cause
_summarize_bytes = summarize_bytes


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
    # A rating as the trace store's mirror keeps one (traces.store.RATING_LIMIT):
    # beyond it (±inf, NaN, 1e308, whose square overflows) the trace is unrated.
    return fb if abs(fb) <= RATING_LIMIT else None


def _p75(hist: Counter) -> int:
    """OpenJarvis's 75th percentile (sorted[int(n * 0.75)]) from a histogram."""
    n = sum(hist.values())
    idx = min(int(n * 0.75), n - 1)
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen > idx:
            return value
    return 0


class AgentConfigEvolver(VersionStore):
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
    min_ratings:
        The agent pick's evidence minimum: an agent with fewer ratings in a class never
        beats one that has them (default: the Routing pane's, ``recommend.MIN_RATINGS``).

    Versions (``list_versions``, ``read_version``, ``load_version``, ``rollback``,
    ``preview_rollback``, ``list_agents``) come from :class:`VersionStore`.
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
        min_ratings: Optional[int] = None,
    ) -> None:
        if (
            isinstance(min_quality, bool)
            or not isinstance(min_quality, (int, float))
            or not math.isfinite(min_quality)
        ):
            raise ValueError(f"min_quality must be a finite number, not {min_quality!r}")
        self._store = trace_store
        self._min_quality = float(min_quality)
        self._min_ratings = min_ratings
        """The agent pick's evidence minimum (None: the Routing pane's default,
        jarvis_tui.learning.recommend.MIN_RATINGS)."""
        super().__init__(config_dir, lock_timeout=lock_timeout)

    @property
    def min_quality(self) -> float:
        """Minimum mean feedback for a recommendation."""
        return self._min_quality

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

        Every trace counts and ``min_quality`` is honoured (OpenJarvis reads the
        newest 10,000 traces, scores a missing feedback as 0.0 and ignores it):

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

        On our :class:`~jarvis_tui.traces.TraceStore` the analysis is SQL
        (``TraceStore.evolver_profile``: the kept totals plus each trace's tool set,
        counted when it was mirrored; ~2 s at 1M traces, ``bench/bench_analyze.py``), with
        the same result as streaming every trace (tested against it); any other
        store is streamed. Feedback sums may differ in the last bits (summation order).

        ``stop`` ends the analysis early (streamed: the result then covers the traces
        read so far; SQL: ``[]``); ``progress`` is called with the number of traces
        read, every 5,000 when streaming, once at the end otherwise.
        """
        profile = getattr(self._store, "evolver_profile", None)
        if callable(profile):
            recs = self._analyze_sql(profile, stop, progress)
            if recs is not None:
                return recs
        return self._analyze_streaming(stop, progress)

    def _analyze_sql(
        self,
        profile: Callable[..., Optional[Dict[str, list]]],
        stop: Optional[threading.Event],
        progress: Optional[Callable[[int], None]],
    ) -> Optional[List[Dict[str, Any]]]:
        """:meth:`analyze` from the store's grouped rows (a few hundred; one pass over the
        tool_call steps, none over the traces). None: the store cannot say (then the
        traces are streamed)."""
        if stop is not None and stop.is_set():
            return []
        sync = getattr(self._store, "sync", None)
        if callable(sync):
            try:
                sync()  # traces another process added since the store last looked
            except Exception as exc:  # noqa: BLE001 - a busy or read-only file: analyse what is mirrored
                log.info("analyze: sync failed (%s); using the traces mirrored so far", exc)
        minq = self._min_quality
        rows = profile(min_quality=minq, stop=stop)
        if rows is None:
            return [] if stop is not None and stop.is_set() else None
        classes: Dict[str, _ClassStats] = {}
        total = 0
        for qclass, agent, outcome, n, rated, fb_sum, good in rows["groups"]:
            cs = classes.get(qclass)
            if cs is None:
                cs = classes[qclass] = _ClassStats()
            total += n
            cs.count += n
            cs.rated += rated
            cs.feedback_sum += fb_sum
            cs.good += good
            if agent:
                ag = cs.agents.get(agent)
                if ag is None:
                    ag = cs.agents[agent] = _AgentStats()
                ag.count += n
                ag.rated += rated
                ag.feedback_sum += fb_sum
                if outcome in ("success", "failure"):
                    ag.known_outcomes += n
                    ag.successes += n if outcome == "success" else 0
        for qclass, good, calls, tools, n in rows["steps"]:
            cs = classes.get(qclass)
            if cs is None:
                return None  # the totals and the steps disagree: stream instead
            cs.turns_all[calls] += n
            if good:
                cs.turns_good[calls] += n
                used = Counter(tools)
                for tool, k in used.items():
                    cs.tool_traces[tool] += n
                    cs.tool_calls[tool] += k * n
        for cs in classes.values():  # traces without a tool_call step
            for hist, of in ((cs.turns_all, cs.count), (cs.turns_good, cs.good)):
                rest = of - sum(hist.values())
                if rest < 0:
                    return None
                if rest:
                    hist[0] += rest
        if progress is not None:
            progress(total)
        return self._recommendations(classes, minq)

    def _analyze_streaming(
        self,
        stop: Optional[threading.Event],
        progress: Optional[Callable[[int], None]],
    ) -> List[Dict[str, Any]]:
        """:meth:`analyze` over every trace, one at a time: works on any store, and is
        what the SQL path is tested against."""
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
        return self._recommendations(classes, minq)

    def _recommendations(
        self, classes: Dict[str, _ClassStats], minq: float
    ) -> List[Dict[str, Any]]:
        recs = []
        for qclass in sorted(classes):
            rec = self._recommend(qclass, classes[qclass], minq, self._min_ratings)
            if rec is not None:
                recs.append(rec)
        return recs

    def _all_traces(self, stop: Optional[threading.Event]) -> Iterable[Trace]:
        iter_traces = getattr(self._store, "iter_traces", None)
        if callable(iter_traces):
            params: Mapping[str, inspect.Parameter]
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
    def _recommend(
        qclass: str, cs: _ClassStats, minq: float, min_ratings: Optional[int] = None
    ) -> Optional[Dict[str, Any]]:
        avg = cs.feedback_sum / cs.rated if cs.rated else None
        if avg is None:
            if minq > 0:
                return None  # quality unknown: cannot show it reaches min_quality
        elif avg < minq - 1e-12:
            return None
        if not cs.agents:
            return None

        def agent_key(name: str) -> tuple[float, ...]:
            # The one rule, shared with the Routing pane (jarvis_tui.learning.recommend):
            # the evidence minimum first, then the score.
            from jarvis_tui.learning.recommend import MIN_RATINGS, agent_rank

            a = cs.agents[name]
            return agent_rank(a.feedback_sum, a.rated, a.successes, a.known_outcomes, a.count,
                              MIN_RATINGS if min_ratings is None else min_ratings)  # fmt: skip

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

        Returns the :class:`Path` of the current config. An existing config is edited
        in place (its comments, layout and other keys are kept; only the keys that
        change are rewritten); a new one is produced by ``tomli_w``. Either way the
        text is checked to parse back to the intended values, so any prompt
        (newlines, quotes, backslashes, unicode) round-trips exactly. The write is
        atomic (temp file, fsync, rename; file 0600) and serialised across processes.
        ``cause`` (one of :data:`VERSION_CAUSES`) and ``note`` are recorded in the
        history log. Raises ``ValueError`` for bad arguments (and a
        :class:`BadConfigError` when the current file cannot be archived: too large,
        or a link) and :class:`ConfigWriteError` when the directory cannot be written.
        """
        settings = _agent_settings(agent_name, tools, max_turns, temperature, system_prompt)
        return self._write_agent_settings(agent_name, settings, cause=cause, note=note)

    def _write_agent_settings(
        self, agent_name: str, settings: Dict[str, Any], *, cause: str, note: str
    ) -> Path:
        """Write *settings* (checked [agent] keys) over the current config as a new version;
        every other key and table of it is kept (see :meth:`write_config`)."""
        cause, note = check_cause(cause, note)

        def make(current: Optional[bytes]) -> tuple[bytes, str]:
            expected = _keep_other_settings(current, {"agent": settings})
            text = _edit_preserving(
                current, expected, {("agent", k): v for k, v in settings.items()}
            )
            return text.encode("utf-8"), summarize_config(expected)

        self.write_version(agent_name, make, cause=cause, note=note)
        return self.config_path(agent_name)

    def promoted_config(self, agent_name: str, params: Dict[str, Any]) -> tuple[str, str]:
        """(current text, text after promoting *params*) for *agent_name*.

        *params* are an optimization trial's dotted keys; each becomes a key of the
        config's nested tables, everything else of the current config (the system
        prompt, unknown tables, comments) is kept. ``agent.name`` only names the file.
        """
        versions = self.list_versions(agent_name)
        current = None
        if versions and versions[-1]["current"]:
            current = self.read_version(agent_name, versions[-1]["version"]).encode("utf-8")
        old = current.decode("utf-8") if current else ""
        return old, _overlay_toml(current, params, agent_name, self.config_path(agent_name))

    def promote_params(self, agent_name: str, params: Dict[str, Any], *, note: str = "") -> int:
        """Write a trial's *params* over *agent_name*'s config as a new version.

        The version's cause is ``promoted-trial``; returns its number. Raises
        ValueError for a bad name or params that TOML cannot hold.
        """
        path = self.config_path(agent_name)

        def make(current: Optional[bytes]) -> tuple[bytes, str]:
            content = _overlay_toml(current, params, agent_name, path).encode("utf-8")
            return content, summarize_bytes(content)

        return self.write_version(agent_name, make, cause="promoted-trial", note=note)

    # ------------------------------------------------------------------------------------
    # proposals (the learning cycle and the Configs pane)
    # ------------------------------------------------------------------------------------

    def propose_configs(
        self,
        recommendations: Optional[List[Dict[str, Any]]] = None,
        *,
        agent_id: Optional[str] = None,
        stop: Optional[threading.Event] = None,
        progress: Optional[Callable[[int], None]] = None,
    ) -> List[ConfigProposal]:
        """One proposal per agent whose config the recommendations would change.

        *recommendations* default to :meth:`analyze` (``stop`` and ``progress`` are
        passed on). Per agent, the classes it wins are merged
        (:func:`merge_recommendations`); a proposal keeps the current temperature and
        system prompt, and is left out when tools and max_turns would not change.
        With *agent_id*, only that agent is proposed. An agent whose current config
        cannot be archived (too large, a link) or whose name cannot name a file gets
        a proposal with ``error`` set instead of stopping the others.
        """
        if recommendations is None:
            recommendations = self.analyze(stop=stop, progress=progress)
        out: List[ConfigProposal] = []
        for name, m in sorted(merge_recommendations(recommendations).items()):
            if agent_id is not None and name != agent_id:
                continue
            tools = sorted(m["tools"], key=lambda t: (-m["tools"][t], t))
            classes = sorted(m["classes"])
            try:
                versions = self.list_versions(name)
                current: Dict[str, Any] = {}
                if versions and versions[-1]["current"]:
                    if versions[-1]["error"]:
                        raise BadConfigError(
                            versions[-1]["path"], versions[-1]["error"], versions[-1]["error"]
                        )
                    try:
                        current = self.load_version(name, versions[-1]["version"])
                    except MalformedConfigError:
                        current = {}  # the new version replaces it (it stays in the history)
            except (ValueError, OSError) as exc:
                out.append(
                    ConfigProposal(
                        name, tools, m["max_turns"], None, None, classes, {}, {}, str(exc)
                    )
                )
                continue
            settings = current.get("agent")
            if not isinstance(settings, dict):
                settings = {}
            # A proposal writes only what it changes: a temperature or prompt the config
            # does not have stays out (None); one it has is kept, an unusable one (out of
            # range, not a string) is replaced by the default.
            temperature = settings.get("temperature")
            if temperature is not None:
                if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
                    temperature = 0.3
                if not (math.isfinite(temperature) and 0.0 <= temperature <= 2.0):
                    temperature = 0.3
                temperature = float(temperature)
            prompt = settings.get("system_prompt")
            if prompt is not None and not isinstance(prompt, str):
                prompt = ""
            current_tools = settings.get("tools")
            if isinstance(current_tools, list) and _same_tool_set(current_tools, tools):
                # Tools are a set: an order-only difference is no change (a cycle over
                # one agent's traces weighs them differently from the whole cycle, and
                # must not write a version that only reorders them). Keep the order.
                tools = list(current_tools)
                if settings.get("max_turns") == m["max_turns"]:
                    continue  # nothing would change
            agent_table = _proposal_settings(name, tools, m["max_turns"], temperature, prompt)
            proposed = {k: v for k, v in current.items() if k != "agent"}
            proposed["agent"] = {**settings, **agent_table}
            out.append(
                ConfigProposal(
                    name,
                    tools,
                    m["max_turns"],
                    temperature,
                    prompt,
                    classes,
                    current,
                    proposed,
                )
            )
        return out

    def write_proposal(self, proposal: ConfigProposal, *, note: str = "") -> Path:
        """Write *proposal* as a new version (cause ``evolver``).

        Only what the proposal sets is written: ``name``, ``tools``, ``max_turns``, and
        the temperature and prompt only where the config has them (a config without a
        ``system_prompt`` gets none, where :meth:`write_config`, as OpenJarvis's, writes
        ``system_prompt = ""``)."""
        if proposal.error:
            raise ValueError(proposal.error)
        settings = _agent_settings(
            proposal.agent,
            proposal.tools,
            proposal.max_turns,
            proposal.temperature,
            proposal.system_prompt,
            optional=True,
        )
        return self._write_agent_settings(
            proposal.agent,
            settings,
            cause="evolver",
            note=note or "best for " + ", ".join(proposal.classes),
        )


@dataclass(frozen=True)
class ConfigProposal:
    """What the evolver would write for one agent, and why."""

    agent: str
    """The agent's real name (as in the traces)."""
    tools: List[str]
    """Tools ordered by how often the classes it wins used them."""
    max_turns: int
    """The largest max_turns recommended for those classes."""
    temperature: Optional[float]
    """Kept from the current config (None: it has none, and none is written)."""
    system_prompt: Optional[str]
    """Kept from the current config (None: it has none, and none is written)."""
    classes: List[str]
    """The query classes this agent is best for."""
    current: Dict[str, Any]
    """The current config, parsed ({} when there is none or it is not valid TOML)."""
    proposed: Dict[str, Any]
    """The config after the write (the current one's other tables and keys kept)."""
    error: Optional[str] = None
    """Why nothing can be proposed for this agent (one line), or None."""


def merge_recommendations(recommendations: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per agent: tools weighted by use across the classes it wins, largest max_turns.

    ``{agent: {"tools": {tool: weight}, "max_turns": int, "classes": [class, ...]}}``.
    """
    merged: Dict[str, Dict[str, Any]] = {}
    for rec in recommendations:
        name = rec.get("recommended_agent") or ""
        if not name:
            continue
        m = merged.setdefault(name, {"tools": {}, "max_turns": 0, "classes": []})
        weight = int(rec.get("sample_count", 1)) or 1
        for rank, tool in enumerate(rec.get("recommended_tools", [])):
            m["tools"][tool] = m["tools"].get(tool, 0) + weight / (rank + 1)
        m["max_turns"] = max(m["max_turns"], int(rec.get("recommended_max_turns", 10)))
        m["classes"].append(rec.get("query_class", "?"))
    return merged


def cycle_note(classes: Iterable[str]) -> str:
    """The note of a version a learning cycle writes: short, so the Configs timeline's
    What column shows it whole ("cycle: best for code, general, math")."""
    return "cycle: best for " + ", ".join(classes)


def _proposal_settings(
    name: str,
    tools: List[str],
    max_turns: int,
    temperature: Optional[float],
    system_prompt: Optional[str],
) -> Dict[str, Any]:
    """The [agent] keys a proposal sets: a temperature or prompt only when not None."""
    out: Dict[str, Any] = {"name": name, "tools": tools, "max_turns": max_turns}
    if temperature is not None:
        out["temperature"] = temperature
    if system_prompt is not None:
        out["system_prompt"] = system_prompt
    return out


def _agent_settings(
    agent_name: str,
    tools: Any,
    max_turns: Any,
    temperature: Any,
    system_prompt: Any,
    *,
    optional: bool = False,
) -> Dict[str, Any]:
    """The checked [agent] keys to write; with *optional*, a None temperature or prompt
    is left out (a proposal's), else it is refused as any other wrong type.

    Raises ``ValueError`` for a bad name, tool list, max_turns, temperature or prompt.
    """
    validate_agent_name(agent_name)
    tool_list = _check_tools(tools)
    if isinstance(max_turns, bool) or not isinstance(max_turns, int):
        raise ValueError(f"max_turns must be an int, not {type(max_turns).__name__}")
    if not 1 <= max_turns <= 1_000_000:
        raise ValueError(f"max_turns must be between 1 and 1,000,000, not {max_turns}")
    if temperature is not None or not optional:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ValueError(f"temperature must be a number, not {type(temperature).__name__}")
        if not (math.isfinite(temperature) and 0.0 <= temperature <= 2.0):
            raise ValueError(f"temperature must be a finite number in [0, 2], not {temperature}")
        temperature = float(temperature)
    if system_prompt is not None or not optional:
        check_text("system_prompt", system_prompt)
    return _proposal_settings(agent_name, tool_list, max_turns, temperature, system_prompt)


def _same_tool_set(current: Any, tools: List[str]) -> bool:
    """Whether *current* (a config's ``agent.tools``) names exactly *tools*, in any order."""
    if not isinstance(current, list) or not all(isinstance(t, str) for t in current):
        return False
    return len(current) == len(tools) and set(current) == set(tools)


def _check_tools(tools: Any) -> List[str]:
    if isinstance(tools, (str, bytes)) or not isinstance(tools, (list, tuple)):
        raise ValueError(f"tools must be a list of tool names, not {type(tools).__name__}")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, str):
            raise ValueError(f"tools[{i}] must be a string, not {type(t).__name__}")
        if not t:
            raise ValueError(f"tools[{i}] is empty")
        out.append(check_text(f"tools[{i}]", t))
    return out


def _parsed_or_none(current: Optional[bytes]) -> Optional[Dict[str, Any]]:
    if not current:
        return None
    try:
        return parse_config(current)
    except BadConfigError:
        return None


def _keep_other_settings(current: Optional[bytes], data: Dict[str, Any]) -> Dict[str, Any]:
    """*data* ([agent] fields) over what else the current config holds.

    A new version keeps the tables and [agent] keys it does not set (a promoted
    trial's [intelligence] model, a user's own settings), where OpenJarvis writes a
    fresh file. A current file that does not parse is replaced whole.
    """
    old = _parsed_or_none(current)
    if old is None:
        return data
    merged = {k: v for k, v in old.items() if k != "agent"}
    agent = old.get("agent")
    if not isinstance(agent, dict):
        agent = {}
    merged["agent"] = {**agent, **data["agent"]}
    return merged


def _edit_preserving(
    current: Optional[bytes], expected: Dict[str, Any], sets: Dict[tuple[str, ...], Any]
) -> str:
    """TOML text that parses to *expected*: *current* edited with *sets*, else a fresh file.

    *sets* maps key paths (``("agent", "tools")``) to values. The edit goes through
    ``tomlkit``, so comments, key order, blank lines and the spelling of untouched
    values stay as the user wrote them; a value that does not change is not
    rewritten. When *current* does not parse, or the edit would not read back as
    *expected* (a layout tomlkit cannot edit), the config is written afresh by
    ``tomli_w``.
    """
    if _parsed_or_none(current) is not None:
        assert current is not None
        try:
            doc = tomlkit.parse(current.decode("utf-8"))
            for path, value in sets.items():
                node: Any = doc
                for part in path[:-1]:
                    child = node.get(part)
                    if not isinstance(child, (dict, tomlkit.items.Table)) or isinstance(
                        child, tomlkit.items.InlineTable
                    ):
                        if isinstance(child, tomlkit.items.InlineTable):
                            child = node[part]  # an inline table edits in place
                        else:
                            node[part] = tomlkit.table()
                            child = node[part]
                    node = child
                old = node.get(path[-1], _MISSING)
                if old is _MISSING or not _same(_plain(old), value):
                    node[path[-1]] = value
            text = tomlkit.dumps(doc)
            if _same(parse_config(text), expected):
                return text
        except Exception:  # tomlkit cannot edit this layout: write it afresh below
            pass
    text = tomli_w.dumps(expected)
    if not _same(parse_config(text), expected):  # never write what would not read back
        raise ValueError("config does not round-trip through TOML")
    return text


_MISSING = object()


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _overlay_toml(
    current: Optional[bytes], params: Dict[str, Any], agent: str, path: Path = Path("<config>")
) -> str:
    """*current* with dotted *params* written into its tables, as TOML that reads back.

    Raises :class:`BadConfigError` when *current* is not valid TOML.
    """
    from jarvis_tui.learning.optimize.trial_runner import NO_OVERRIDE

    data = parse_config(current, path) if current else {}
    out = copy.deepcopy(data)
    sets: Dict[tuple[str, ...], Any] = {}
    for key, value in params.items():
        if value is None or (str(key).startswith("routing.") and value in NO_OVERRIDE):
            continue  # "default" routing is the optimizer's "no override", not a model
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
        sets[tuple(parts)] = value
    agent_table = out.setdefault("agent", {})
    if isinstance(agent_table, dict):
        agent_table["name"] = agent
        sets[("agent", "name")] = agent
    try:
        return _edit_preserving(current, out, sets)
    except ValueError:
        raise ValueError("the promoted config does not round-trip through TOML") from None


__all__ = [
    "HISTORY_DIR",
    "LOCK_NAME",
    "MAX_AGENT_NAME_LEN",
    "MAX_NOTE_LEN",
    "SEQ_WIDTH",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "VERSION_CAUSES",
    "AgentConfigEvolver",
    "BadConfigError",
    "ConfigProposal",
    "Change",
    "ConfigTooLargeError",
    "ConfigWriteError",
    "MalformedConfigError",
    "UnsafePathError",
    "agent_file_stem",
    "agent_from_stem",
    "cycle_note",
    "merge_recommendations",
    "parse_config",
    "summarize_config",
    "toml_diff",
    "validate_agent_name",
]
