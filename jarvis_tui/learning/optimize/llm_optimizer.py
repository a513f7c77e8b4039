"""The LLM that proposes configs and reads trial results (OpenJarvis' ``LLMOptimizer``).

Names, signatures, system prompts, temperatures and the "no backend" ValueErrors match
``openjarvis.learning.optimize.llm_optimizer``. Deliberate differences:

* A reply is never trusted: it is parsed leniently (fences, comments, trailing commas,
  Python literals) and read against the search space (unknown keys dropped, options
  matched case-insensitively, numbers given as strings read, missing dimensions filled
  from a base config, fixed params added). Every repair is noted in the proposal's reasoning; what cannot be repaired is a
  :class:`ProposalError`, so a bad reply costs one proposal, never the run.
* Humans steer the search: :meth:`LLMOptimizer.note_rejection`, :meth:`add_guidance` and
  :attr:`extra_constraints` feed the next prompts.
* Prompts carry the evidence, bounded however long the run: the history shows the last 30
  trials plus the Pareto frontier, each with its config, metrics, the proposer's reasoning
  and the analysis; the last 8 and the frontier members also with their failure modes,
  per-benchmark scores and worst samples. Traces are shown with their ids and snippets.
* A value outside the search space is never swapped for a valid one: the reply is
  rejected with the reason, which the engine feeds back to the optimizer. A targeted
  proposal keeps every param of its base config verbatim, as OpenJarvis does.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, List, Optional

from jarvis_tui.learning.optimize.backends import InferenceBackend
from jarvis_tui.learning.optimize.types import (
    BenchmarkScore,
    RunSummary,
    SampleScore,
    SearchDimension,
    SearchSpace,
    TrialConfig,
    TrialFeedback,
    TrialResult,
)

SYSTEM_OPTIMIZER = "You are an expert AI systems optimizer."
SYSTEM_ANALYST = "You are an expert AI systems analyst."

#: Most recent trials shown in a prompt's history table.
HISTORY_LIMIT = 30
#: Frontier members older than the recent window shown in addition (a safety bound).
FRONTIER_LIMIT = 30
#: Human rejections and guidance lines kept for the prompts.
STEERING_LIMIT = 10
#: Failed samples shown when analysing a trial.
FAILURE_SAMPLES_LIMIT = 10
#: Traces summarised in a prompt.
TRACES_LIMIT = 5
#: Most recent trials whose full evidence (failure modes, per-benchmark scores, worst
#: samples) a prompt carries; frontier members always carry it.
DETAIL_LIMIT = 8
#: Failure patterns / suggestions listed per trial.
PATTERNS_LIMIT = 5
#: Per-benchmark rows listed per trial.
BENCHMARKS_LIMIT = 8
#: Worst samples listed per trial.
SAMPLES_PER_TRIAL = 5
#: Characters of a garbage analysis reply kept as its summary.
SUMMARY_LIMIT = 500


class ProposalError(ValueError):
    """The optimizer's reply could not be turned into a config; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(_one_line(reason, 300))


def _one_line(text: Any, limit: int | None = None) -> str:
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: max(0, limit - 1)] + "…"
    return flat


def _short(value: Any, limit: int = 40) -> str:
    """A value as compact JSON-ish text, one line, at most *limit* characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return _one_line(text, limit)


# --------------------------------------------------------------------------- reply parsing

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def _fenced_blocks(text: str) -> list[str]:
    """Contents of ``` blocks, ```json ones first."""
    tagged: list[str] = []
    other: list[str] = []
    for match in _FENCE.finditer(text):
        (tagged if match.group(1).lower() in ("json", "json5", "jsonc") else other).append(
            match.group(2)
        )
    return tagged + other


def _balanced_objects(text: str, *, max_starts: int = 20) -> Iterable[str]:
    """Substrings of *text* that are brace-balanced ``{...}`` (strings respected)."""
    starts = 0
    pos = text.find("{")
    while pos != -1 and starts < max_starts:
        starts += 1
        end = _matching_brace(text, pos)
        if end is not None:
            yield text[pos : end + 1]
        pos = text.find("{", pos + 1)


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    quote: str | None = None
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
            elif ch == "\n" and quote == "'":
                # An apostrophe in prose is not a string: give up on it at the line end.
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_WORDS = {"True": "true", "False": "false", "None": "null"}


def _relax_json(text: str) -> str:
    """JSON-ish text as JSON: comments out, single quotes, bare keys and Python literals
    converted, trailing commas removed. Best effort; strings are left alone."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"' or ch == "'":
            j = i + 1
            chunk: list[str] = []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    # \' is legal in a Python string, not in JSON.
                    chunk.append("'" if nxt == "'" else text[j : j + 2])
                    j += 2
                    continue
                if ch == "'" and text[j] == '"':
                    chunk.append('\\"')
                elif text[j] == "\n":
                    chunk.append("\\n")
                else:
                    chunk.append(text[j])
                j += 1
            out.append('"' + "".join(chunk) + '"')
            i = j + 1
            continue
        if ch == "#" or (ch == "/" and text.startswith("//", i)):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        if ch == ",":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] in "}]":
                i += 1
                continue
        if ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_.-"):
                j += 1
            word = text[i:j]
            k = j
            while k < n and text[k] in " \t":
                k += 1
            if k < n and text[k] == ":" and word not in _WORDS:
                out.append(f'"{word}"')  # a bare key, as in JSON5 and YAML-minded models
            else:
                out.append(_WORDS.get(word, word))
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _loads_object(text: str) -> dict[str, Any] | None:
    for candidate in (text, None):
        try:
            data = json.loads(candidate if candidate is not None else _relax_json(text))
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            return data
    return None


def _parse_json_object(reply: str) -> dict[str, Any] | None:
    """The first JSON object in *reply*: a fenced block, else a balanced ``{...}``."""
    for block in _fenced_blocks(reply):
        data = _loads_object(block.strip())
        if data is not None:
            return data
        for obj in _balanced_objects(block):
            data = _loads_object(obj)
            if data is not None:
                return data
    for obj in _balanced_objects(reply):
        data = _loads_object(obj)
        if data is not None:
            return data
    return None


# ------------------------------------------------------------------- repair against a space

_MISSING = object()


def _option_match(value: Any, options: Sequence[Any]) -> Any:
    """The option *value* means (exact, else stripped and case-insensitive), or _MISSING."""
    try:
        if value in options:
            return options[list(options).index(value)]
    except Exception:  # a value whose == misbehaves is simply not an option
        return _MISSING
    if isinstance(value, dict | list | tuple | set):
        return _MISSING
    wanted = str(value).strip().casefold()
    for option in options:
        if str(option).strip().casefold() == wanted:
            return option
    return _MISSING


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1000 else None
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace("_", ""))
        except ValueError:
            return None
    else:
        return None
    if number is None or not math.isfinite(number):
        return None
    return number


def _coerce(dim: SearchDimension, value: Any, notes: list[str], problems: list[str]) -> Any:
    """*value* as *dim* holds it, or _MISSING.

    The same value written another way (an option in other case or with spaces, a
    number as a string, ``4.0`` for an integer) is accepted with a note. A different
    value (outside the range, not an option, not a whole number) is never swapped for a
    valid one: it goes to *problems* and the caller rejects the reply.
    """
    name = dim.name
    kind = dim.dim_type
    if value is None:
        notes.append(f"{name}: null ignored")
        return _MISSING
    if kind == "categorical":
        option = _option_match(value, dim.values)
        if option is _MISSING:
            problems.append(
                f"{name}: {_short(value)} is not an option (options: {_short(dim.values, 120)})"
            )
        elif option != value:
            notes.append(f"{name}: {_short(value)} read as {_short(option)}")
        return option
    if kind in ("continuous", "integer"):
        number = _as_number(value)
        if number is None:
            problems.append(f"{name}: {_short(value)} is not a number")
            return _MISSING
        low = float(dim.low) if dim.low is not None else -math.inf
        high = float(dim.high) if dim.high is not None else math.inf
        if not (low <= number <= high):
            problems.append(f"{name}: {_short(value)} is outside [{dim.low}, {dim.high}]")
            return _MISSING
        if kind == "integer":
            if number != int(number):
                problems.append(f"{name}: {_short(value)} is not a whole number")
                return _MISSING
            if not isinstance(value, int) or isinstance(value, bool):
                notes.append(f"{name}: {_short(value)} read as {int(number)}")
            return int(number)
        if isinstance(value, str):
            notes.append(f"{name}: {_short(value)} read as {number:g}")
            return number
        # Keep an int an int (validate_config accepts both; the recipe reads nicer).
        return value
    if kind == "subset":
        if isinstance(value, str):
            items: list[Any] = (
                [value]
                if _option_match(value, dim.values) is not _MISSING
                else [part for part in value.split(",") if part.strip()]
            )
        elif isinstance(value, list | tuple | set):
            items = list(value)
        else:
            items = [value]
        kept: list[Any] = []
        removed: list[Any] = []
        for item in items:
            option = _option_match(item, dim.values)
            if option is _MISSING:
                removed.append(item)
            elif option not in kept:
                kept.append(option)
        if removed:
            problems.append(
                f"{name}: {_short(removed)} not among the options {_short(dim.values, 120)}"
            )
            return _MISSING
        return kept
    if kind == "text":
        if isinstance(value, str):
            return value
        problems.append(f"{name}: expected text, got {_short(value)}")
        return _MISSING
    problems.append(f"{name}: unknown dimension type {dim.dim_type!r}")
    return _MISSING


def _default_value(dim: SearchDimension) -> Any:
    """The value a dimension takes when nothing else says (initial proposals)."""
    kind = dim.dim_type
    if kind == "categorical":
        return dim.values[0] if dim.values else None
    if kind == "subset":
        return [dim.values[0]] if dim.values else []
    if kind in ("continuous", "integer"):
        low, high = dim.low, dim.high
        if low is not None and high is not None:
            mid = (float(low) + float(high)) / 2
        elif low is not None:
            mid = float(low)
        elif high is not None:
            mid = float(high)
        else:
            mid = 0.0
        if kind == "integer":
            whole = round(mid)
            if low is not None and whole < low:
                whole = math.ceil(low)
            return int(whole)
        return mid
    return ""


def _flatten(
    raw: dict[str, Any], space: SearchSpace, prefix: str = ""
) -> Iterable[tuple[str, Any]]:
    """(dotted key, value) pairs; a nested table is descended unless its key is a dimension."""
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if (
            isinstance(value, dict)
            and space.dimension(dotted) is None
            and dotted not in space.fixed
            and prefix.count(".") < 8
        ):
            yield from _flatten(value, space, dotted + ".")
        else:
            yield dotted, value


# Top-level keys of a flat reply that are commentary, not parameters.
_COMMENTARY_KEYS = {"reasoning", "reason", "rationale", "explanation", "notes", "summary"}


def _with_notes(reasoning: str, notes: Sequence[str]) -> str:
    """*reasoning* plus one ``[repaired: …]`` line listing *notes* (at most 10)."""
    if not notes:
        return reasoning
    shown = list(notes[:10]) + ([f"+{len(notes) - 10} more"] if len(notes) > 10 else [])
    line = "[repaired: " + "; ".join(_one_line(n, 200) for n in shown) + "]"
    return f"{reasoning}\n{line}" if reasoning else line


# ------------------------------------------------------------------------ prompt rendering


def _fmt_metric(value: Any, spec: str) -> str:
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "?"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _params_text(params: dict[str, Any], limit: int = 400) -> str:
    return _one_line(", ".join(f"{k}={_short(v, 60)}" for k, v in params.items()), limit)


def _trial_analysis(trial: TrialResult, limit: int = 120) -> str:
    text = trial.analysis
    if not text and trial.structured_feedback is not None:
        text = trial.structured_feedback.summary_text
    return _one_line(text or "", limit)


def _select_history(
    history: Sequence[TrialResult], frontier_ids: set[str]
) -> tuple[list[TrialResult], int]:
    """The trials a prompt shows (recent window plus older frontier members), in order."""
    recent = list(history[-HISTORY_LIMIT:])
    older = list(history[:-HISTORY_LIMIT]) if len(history) > HISTORY_LIMIT else []
    older_frontier = [t for t in older if t.trial_id in frontier_ids][-FRONTIER_LIMIT:]
    shown = older_frontier + recent
    return shown, len(history) - len(shown)


def _trial_evidence(trial: TrialResult, *, detailed: bool) -> list[str]:
    """The lines a prompt shows of one trial: its metrics and config always; with
    *detailed*, its reasoning, analysis, failure modes, per-benchmark and worst samples."""
    lines: list[str] = []
    params = trial.config.params if trial.config is not None else {}
    lines.append(f"- params: {_params_text(params, 600 if detailed else 300)}")
    reasoning = _one_line(getattr(trial.config, "reasoning", "") or "", 300 if detailed else 120)
    if reasoning:
        lines.append(f"- proposer's reasoning: {reasoning}")
    analysis = _trial_analysis(trial, 400 if detailed else 120)
    if analysis:
        lines.append(f"- analysis: {analysis}")
    if not detailed:
        return lines
    fb = trial.structured_feedback
    modes = list(trial.failure_modes) + (list(fb.failure_patterns) if fb is not None else [])
    if modes:
        shown = "; ".join(_one_line(m, 120) for m in modes[:PATTERNS_LIMIT])
        more = f" (+{len(modes) - PATTERNS_LIMIT} more)" if len(modes) > PATTERNS_LIMIT else ""
        lines.append(f"- failure modes: {shown}{more}")
    if fb is not None and fb.suggested_changes:
        lines.append(
            "- suggested changes: "
            + "; ".join(_one_line(c, 120) for c in fb.suggested_changes[:PATTERNS_LIMIT])
        )
    if trial.per_benchmark:
        parts = [
            f"{_one_line(b.benchmark, 40)} {_fmt_metric(b.accuracy, '.3f')} "
            f"({b.samples_evaluated} samples, {b.errors} errors, "
            f"{_fmt_metric(b.mean_latency_seconds, '.2f')} s)"
            for b in trial.per_benchmark[:BENCHMARKS_LIMIT]
        ]
        lines.append("- per benchmark: " + "; ".join(parts))
    samples = list(trial.sample_scores)
    if samples:
        worst = sorted(
            samples,
            key=lambda s: (
                s.error is None,
                s.score if s.score is not None else (1.0 if s.is_correct else 0.0),
            ),
        )[:SAMPLES_PER_TRIAL]
        parts = []
        for smp in worst:
            if smp.error is not None:
                what = f"error: {_one_line(smp.error, 80)}"
            elif smp.score is not None:
                what = f"score {_fmt_metric(smp.score, '.2f')}"
            else:
                what = "correct" if smp.is_correct else "incorrect"
            parts.append(
                f"{_one_line(smp.record_id, 40)} {what}, {_fmt_metric(smp.latency_seconds, '.2f')} s"
            )
        lines.append(f"- worst samples ({len(worst)} of {len(samples)}): " + "; ".join(parts))
    return lines


def _history_table(history: Sequence[TrialResult], frontier_ids: set[str]) -> str:
    """Every trial the prompt has room for, with the evidence each holds.

    The last DETAIL_LIMIT trials and every frontier member shown carry their full
    evidence (reasoning, analysis, failure modes, per-benchmark and worst samples);
    older ones carry their config, metrics, reasoning and analysis in brief.
    """
    if not history:
        return "## Trial history\nNo trials have been evaluated yet.\n"
    shown, hidden = _select_history(history, frontier_ids)
    detailed_ids = {t.trial_id for t in shown[-DETAIL_LIMIT:]} | set(frontier_ids)
    lines = [
        f"## Trial history ({len(history)} trials"
        + (f", {hidden} older non-frontier trials omitted" if hidden else "")
        + "; * = on the Pareto frontier)",
    ]
    for trial in shown:
        mark = "*" if trial.trial_id in frontier_ids else ""
        lines.append("")
        lines.append(
            f"### {_one_line(trial.trial_id, 60)}{mark}: accuracy "
            f"{_fmt_metric(trial.accuracy, '.3f')}, latency "
            f"{_fmt_metric(trial.mean_latency_seconds, '.2f')} s, cost "
            f"${_fmt_metric(trial.total_cost_usd, '.4f')}, "
            f"{trial.samples_evaluated} samples"
        )
        lines += _trial_evidence(trial, detailed=trial.trial_id in detailed_ids)
    return "\n".join(lines) + "\n"


def _traces_section(traces: Sequence[Any] | None) -> str:
    if not traces:
        return ""
    lines = [f"## Recent traces ({min(len(traces), TRACES_LIMIT)} of {len(traces)})"]
    for trace in list(traces)[-TRACES_LIMIT:]:
        trace_id = _one_line(str(getattr(trace, "trace_id", "") or "?"), 40)
        query = _one_line(str(getattr(trace, "query", "") or ""), 160)
        result = _one_line(str(getattr(trace, "result", "") or ""), 160)
        outcome = getattr(trace, "outcome", None) or "unknown"
        feedback = getattr(trace, "feedback", None)
        rated = "unrated" if feedback is None else f"feedback {_fmt_metric(feedback, '.2f')}"
        latency = _fmt_metric(getattr(trace, "total_latency_seconds", 0.0), ".2f")
        model = _one_line(str(getattr(trace, "model", "") or "?"), 40)
        lines.append(
            f"- trace {trace_id} ({model}, outcome {outcome}, {rated}, {latency} s, "
            f"{getattr(trace, 'total_tokens', 0)} tokens)\n"
            f"  query: {query!r}\n  result: {result!r}"
        )
    return "\n".join(lines) + "\n"


_CONFIG_ANSWER = """## Answer format
Answer with ONE fenced ```json block:
```json
{"params": {"<dimension name>": <value>, ...}, "reasoning": "<why this config should do better>"}
```
Use the dimension names exactly as listed (dotted keys). A categorical value must be one of
its options, a number must lie in its range, a subset is a list of its options."""

_FEEDBACK_ANSWER = """## Answer format
Answer with ONE fenced ```json block:
```json
{"summary_text": "<what happened and why>",
 "failure_patterns": ["<pattern>", ...],
 "primitive_ratings": {"<primitive>": "<good | ok | poor, and why>", ...},
 "suggested_changes": ["<change>", ...],
 "target_primitive": "<the one primitive to change next>"}
```"""


class LLMOptimizer:
    """Uses an LLM to propose OpenJarvis configs and to read what each trial did.

    Inspired by DSPy's GEPA: it learns from textual feedback on execution, not only from
    scalar rewards. Safe to steer (``note_rejection``, ``add_guidance``) from another
    thread while a proposal is being made.
    """

    def __init__(
        self,
        search_space: SearchSpace,
        optimizer_model: str = "claude-sonnet-4-6",
        optimizer_backend: Optional[InferenceBackend] = None,
    ) -> None:
        self.search_space = search_space
        """The space every proposal is repaired into."""
        self.optimizer_model = optimizer_model
        """The model name passed to the backend."""
        self.optimizer_backend = optimizer_backend
        """Where prompts go; None makes every method raise ValueError (as in OpenJarvis)."""
        self.extra_constraints: list[str] = []
        """Hard limits ("mean_latency_seconds <= 2") shown in every proposal prompt."""
        self.last_prompt: str = ""
        """The last prompt sent to the backend."""
        self._lock = threading.Lock()
        self._rejections: deque[tuple[dict[str, Any], str]] = deque(maxlen=STEERING_LIMIT)
        self._guidance: deque[str] = deque(maxlen=STEERING_LIMIT)
        self._reply_error = ""

    # ------------------------------------------------------------------ steering hooks

    def note_reply_error(self, reason: str) -> None:
        """The last reply could not be used: the next prompt (only) says why."""
        with self._lock:
            self._reply_error = _one_line(reason or "", 300)

    def note_rejection(self, config: TrialConfig, reason: str) -> None:
        """A human rejected *config*; later proposal prompts say so (last 10 kept)."""
        with self._lock:
            self._rejections.append((dict(config.params), _one_line(reason or "", 300)))

    def add_guidance(self, text: str) -> None:
        """Free-text human guidance for later proposal prompts (last 10 kept)."""
        line = _one_line(text or "", 500)
        if line:
            with self._lock:
                self._guidance.append(line)

    # -------------------------------------------------------------------- public API

    def propose_initial(self) -> TrialConfig:
        """Propose a reasonable starting config from the search space."""
        if self.optimizer_backend is None:
            raise ValueError("optimizer_backend is required to propose configurations")
        prompt = self._build_initial_prompt()
        response = self._generate(prompt, SYSTEM_OPTIMIZER, 0.7)
        return self._parse_config_response(response, None)

    def propose_next(
        self,
        history: List[TrialResult],
        traces: Optional[List[Any]] = None,
        frontier_ids: Optional[set] = None,
    ) -> TrialConfig:
        """Ask the LLM to propose the next config to evaluate."""
        if self.optimizer_backend is None:
            raise ValueError("optimizer_backend is required to propose configurations")
        prompt = self._build_propose_prompt(history, traces, frontier_ids=frontier_ids)
        response = self._generate(prompt, SYSTEM_OPTIMIZER, 0.7)
        base = history[-1].config.params if history and history[-1].config else None
        return self._parse_config_response(response, base)

    def analyze_trial(
        self,
        trial: TrialConfig,
        summary: RunSummary,
        traces: Optional[List[Any]] = None,
        sample_scores: Optional[List[SampleScore]] = None,
        per_benchmark: Optional[List[BenchmarkScore]] = None,
    ) -> TrialFeedback:
        """Ask the LLM to analyze a completed trial. Returns structured feedback."""
        if self.optimizer_backend is None:
            raise ValueError("optimizer_backend is required to analyze trials")
        prompt = self._build_analyze_prompt(trial, summary, traces, sample_scores, per_benchmark)
        response = self._generate(prompt, SYSTEM_ANALYST, 0.3)
        return self._parse_feedback_response(response)

    def propose_targeted(
        self,
        history: List[TrialResult],
        base_config: TrialConfig,
        target_primitive: str,
        frontier_ids: Optional[set] = None,
    ) -> TrialConfig:
        """Propose a config that only changes one primitive."""
        if self.optimizer_backend is None:
            raise ValueError("optimizer_backend is required to propose configurations")
        prompt = self._build_targeted_prompt(history, base_config, target_primitive, frontier_ids)
        response = self._generate(prompt, SYSTEM_OPTIMIZER, 0.7)
        # As in OpenJarvis: every param of the base config is kept verbatim (even a value
        # outside the space, even a key the space does not list); only the target
        # primitive's keys come from the proposal, whatever the model said about the rest.
        prefixes = self._target_prefixes(target_primitive)
        targeted = self._target_names(target_primitive)

        def in_target(key: str) -> bool:
            return key in targeted or key.startswith(prefixes)

        proposed, outside, reasoning, notes = self._read_reply(response, scope=in_target)
        base = dict(base_config.params)
        overruled = sorted(
            name for name, value in outside.items() if base.get(name, _MISSING) != value
        )
        if overruled:
            notes.append(
                f"kept base values outside {target_primitive!r}: "
                + _one_line(", ".join(overruled), 200)
            )
        if not proposed:
            notes.append(f"reply changes nothing of {target_primitive!r}")
        params = dict(base)
        params.update(proposed)
        for key, value in self.search_space.fixed.items():
            params.setdefault(key, value)
        filled = []
        for dim in self.search_space.dimensions:
            if dim.name not in params:
                params[dim.name] = _default_value(dim)
                filled.append(dim.name)
        if filled:
            notes.append("filled from defaults (not in the base config): " + ", ".join(filled))
        return TrialConfig(
            trial_id=f"t-{uuid.uuid4().hex[:10]}",
            params=params,
            reasoning=_with_notes(reasoning, notes),
        )

    def propose_merge(
        self,
        candidates: List[TrialResult],
        history: List[TrialResult],
        frontier_ids: Optional[set] = None,
    ) -> TrialConfig:
        """Combine best aspects of frontier members into one config."""
        if self.optimizer_backend is None:
            raise ValueError("optimizer_backend is required to propose configurations")
        prompt = self._build_merge_prompt(candidates, history, frontier_ids)
        response = self._generate(prompt, SYSTEM_OPTIMIZER, 0.7)
        base = candidates[0].config.params if candidates and candidates[0].config else None
        return self._parse_config_response(response, base)

    # ------------------------------------------------------------------------ prompts

    def _generate(self, prompt: str, system: str, temperature: float) -> str:
        assert self.optimizer_backend is not None
        self.last_prompt = prompt
        return self.optimizer_backend.generate(
            prompt,
            model=self.optimizer_model,
            system=system,
            temperature=temperature,
            max_tokens=2048,
        )

    def _steering_sections(self) -> str:
        parts: list[str] = []
        if self.extra_constraints:
            parts.append(
                "## Hard limits\n"
                "A trial outside any of these limits is infeasible and never joins the "
                "frontier:\n" + "\n".join(f"- {_one_line(c, 200)}" for c in self.extra_constraints)
            )
        with self._lock:
            rejections = list(self._rejections)
            guidance = list(self._guidance)
            reply_error, self._reply_error = self._reply_error, ""
        if reply_error:
            parts.append(
                "## Your previous reply\nIt could not be used: " + reply_error + ". Answer "
                'with exactly one fenced ```json block holding "params" and "reasoning".'
            )
        if rejections or guidance:
            lines = [
                "## Reviewer feedback",
                "A human reviewer steers this search. Do not propose a rejected config again,",
                "and follow the guidance.",
            ]
            lines += [
                f"- Rejected: {_params_text(params)} | reason: {reason or '(none given)'}"
                for params, reason in rejections
            ]
            lines += [f"- Guidance: {text}" for text in guidance]
            parts.append("\n".join(lines))
        return "\n\n".join(parts) + ("\n" if parts else "")

    def _compose(self, *sections: str) -> str:
        return "\n".join(s.rstrip("\n") + "\n" for s in sections if s and s.strip())

    def _build_initial_prompt(self) -> str:
        return self._compose(
            self.search_space.to_prompt_description(),
            self._steering_sections(),
            "## Task\nPropose a reasonable starting configuration from this search space: "
            "one that is likely to work well before any trial has been run. Set every "
            "dimension.",
            _CONFIG_ANSWER,
        )

    def _build_propose_prompt(
        self,
        history: Sequence[TrialResult],
        traces: Sequence[Any] | None,
        frontier_ids: set | None = None,
    ) -> str:
        frontier = set(frontier_ids or ())
        return self._compose(
            self.search_space.to_prompt_description(),
            _history_table(history, frontier),
            _traces_section(traces),
            self._steering_sections(),
            "## Task\nPropose the next configuration to evaluate. Learn from the history: "
            "keep what worked on the frontier, avoid what failed, and do not repeat a "
            "config that was already tried. Set every dimension.",
            _CONFIG_ANSWER,
        )

    def _build_targeted_prompt(
        self,
        history: Sequence[TrialResult],
        base_config: TrialConfig,
        target_primitive: str,
        frontier_ids: set | None = None,
    ) -> str:
        names = sorted(self._target_names(target_primitive))
        base_json = json.dumps(base_config.params, ensure_ascii=False, default=str, indent=1)
        return self._compose(
            self.search_space.to_prompt_description(),
            _history_table(history, set(frontier_ids or ())),
            f"## Base config ({base_config.trial_id})\n```json\n{base_json}\n```",
            self._steering_sections(),
            f"## Task\nImprove the base config by changing ONLY the '{target_primitive}' "
            f"primitive ({', '.join(names) if names else 'no dimension of the space matches it'})."
            " Every other parameter stays exactly as in the base config.",
            _CONFIG_ANSWER,
        )

    def _build_merge_prompt(
        self,
        candidates: Sequence[TrialResult],
        history: Sequence[TrialResult],
        frontier_ids: set | None = None,
    ) -> str:
        lines = ["## Candidates to merge"]
        for trial in candidates:
            params = trial.config.params if trial.config is not None else {}
            lines.append(
                f"- {trial.trial_id}: accuracy {_fmt_metric(trial.accuracy, '.3f')}, "
                f"latency {_fmt_metric(trial.mean_latency_seconds, '.2f')} s, "
                f"cost ${_fmt_metric(trial.total_cost_usd, '.4f')}; "
                f"params {_params_text(params, 1000)}"
            )
            analysis = _trial_analysis(trial)
            if analysis:
                lines.append(f"  analysis: {analysis}")
        return self._compose(
            self.search_space.to_prompt_description(),
            _history_table(history, set(frontier_ids or ())),
            "\n".join(lines),
            self._steering_sections(),
            "## Task\nThese candidates are on the Pareto frontier, each strong in a different "
            "way. Propose ONE config that combines their best aspects. Set every dimension.",
            _CONFIG_ANSWER,
        )

    def _build_analyze_prompt(
        self,
        trial: TrialConfig,
        summary: RunSummary,
        traces: Sequence[Any] | None,
        sample_scores: Sequence[SampleScore] | None,
        per_benchmark: Sequence[BenchmarkScore] | None,
    ) -> str:
        params_json = json.dumps(trial.params, ensure_ascii=False, default=str, indent=1)
        metrics = [
            "## Metrics",
            f"- benchmark: {summary.benchmark or '?'} ({summary.category or 'no category'})",
            f"- accuracy: {_fmt_metric(summary.accuracy, '.3f')} "
            f"({summary.correct} correct of {summary.scored_samples} scored, "
            f"{summary.total_samples} samples, {summary.errors} errors)",
            f"- mean latency: {_fmt_metric(summary.mean_latency_seconds, '.2f')} s",
            f"- total cost: ${_fmt_metric(summary.total_cost_usd, '.4f')}",
            f"- total energy: {_fmt_metric(summary.total_energy_joules, '.1f')} J",
            f"- tokens: {summary.total_input_tokens} in, {summary.total_output_tokens} out",
        ]
        sections = [
            self.search_space.to_prompt_description(),
            f"## Trial {trial.trial_id}\n```json\n{params_json}\n```",
            "\n".join(metrics),
        ]
        if per_benchmark:
            rows = [
                "## Per benchmark",
                "| benchmark | accuracy | latency (s) | cost ($) | samples | errors |",
                "|---|---|---|---|---|---|",
            ]
            rows += [
                f"| {_cell(_one_line(b.benchmark, 60))} | {_fmt_metric(b.accuracy, '.3f')} | "
                f"{_fmt_metric(b.mean_latency_seconds, '.2f')} | "
                f"{_fmt_metric(b.total_cost_usd, '.4f')} | {b.samples_evaluated} | {b.errors} |"
                for b in per_benchmark
            ]
            sections.append("\n".join(rows))
        failures = [
            s for s in (sample_scores or ()) if s.is_correct is False or s.error is not None
        ]
        if failures:
            lines = [
                f"## Sample failures ({min(len(failures), FAILURE_SAMPLES_LIMIT)} of {len(failures)})"
            ]
            for s in failures[:FAILURE_SAMPLES_LIMIT]:
                what = f"error: {_one_line(s.error, 200)}" if s.error is not None else "incorrect"
                score = "" if s.score is None else f", score {_fmt_metric(s.score, '.3f')}"
                lines.append(
                    f"- {_one_line(s.record_id, 60)}: {what}{score}, "
                    f"{_fmt_metric(s.latency_seconds, '.2f')} s"
                )
            sections.append("\n".join(lines))
        sections.append(_traces_section(traces))
        primitives = sorted({d.primitive for d in self.search_space.dimensions if d.primitive})
        sections.append(
            "## Task\nAnalyze this trial: what went well, what failed and why, how each "
            "primitive performed, and which ONE primitive to change next"
            + (f" (one of: {', '.join(primitives)})" if primitives else "")
            + "."
        )
        sections.append(_FEEDBACK_ANSWER)
        return self._compose(*sections)

    # ------------------------------------------------------------------------ parsing

    @staticmethod
    def _target_prefixes(target_primitive: str) -> tuple[str, str]:
        """The key prefixes of a primitive, as OpenJarvis matches them ("tools." and "tool.")."""
        return (target_primitive + ".", target_primitive.rstrip("s") + ".")

    def _target_names(self, target_primitive: str) -> set[str]:
        """Dimensions a targeted proposal may change: the spec's key prefixes, plus
        dimensions whose ``primitive`` is the target."""
        prefixes = self._target_prefixes(target_primitive)
        return {
            d.name
            for d in self.search_space.dimensions
            if d.name.startswith(prefixes) or (d.primitive and d.primitive == target_primitive)
        }

    def _repair_base(self, base: dict[str, Any] | None) -> dict[str, Any]:
        """*base* with every dimension set to a valid value (invalid ones -> default)."""
        base = base or {}
        repaired: dict[str, Any] = {}
        for dim in self.search_space.dimensions:
            value = _MISSING
            if dim.name in base:
                value = _coerce(dim, base[dim.name], [], [])
            repaired[dim.name] = _default_value(dim) if value is _MISSING else value
        return repaired

    def _parse_config_response(
        self, response: str, base_params: dict[str, Any] | None = None
    ) -> TrialConfig:
        """A TrialConfig holding every dimension, repaired from the reply.

        Dimensions the reply leaves out come from *base_params* (or defaults when None).
        Raises ProposalError when the reply holds no usable parameter at all.
        """
        proposed, _outside, reasoning, notes = self._read_reply(response)
        return self._complete(proposed, base_params, reasoning, notes)

    def _read_reply(
        self, response: str, scope: Callable[[str], bool] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any], str, list[str]]:
        """(params the reply proposes, its values for keys outside *scope*, its reasoning,
        notes).

        Keys in *scope* (all keys when None) are checked against the space; a key in
        scope that the space does not list is kept verbatim only when *scope* is given.
        Raises ProposalError when there is no JSON object, no parameter in scope, or a
        value outside the space (never swapped for a different valid one: the reason
        goes back to the optimizer).
        """
        text = response if isinstance(response, str) else ""
        if not text.strip():
            raise ProposalError("optimizer reply is empty")
        data = _parse_json_object(text)
        if data is None:
            raise ProposalError(f"optimizer reply has no JSON object: {_one_line(text, 40)!r}")

        reasoning: Any = data.get("reasoning")
        raw: Any = None
        for key in ("params", "parameters", "config"):
            if isinstance(data.get(key), dict):
                raw = data[key]
                break
        if raw is None:
            raw = {k: v for k, v in data.items() if k not in _COMMENTARY_KEYS}
            if reasoning is None:
                reasoning = data.get("rationale") or data.get("reason")

        notes: list[str] = []
        problems: list[str] = []
        proposed: dict[str, Any] = {}
        outside: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in _flatten(raw, self.search_space):
            if scope is not None and not scope(key):
                outside[key] = value
                continue
            dim = self.search_space.dimension(key)
            if dim is None:
                if key in self.search_space.fixed:
                    notes.append(f"{key}: fixed parameter ignored")
                elif scope is not None and value is not None:
                    proposed[key] = value  # a target key the space does not list: verbatim
                elif key not in _COMMENTARY_KEYS:
                    unknown.append(key)
                continue
            value = _coerce(dim, value, notes, problems)
            if value is not _MISSING:
                proposed[key] = value
        if problems:
            raise ProposalError(
                "optimizer proposed values outside the search space: "
                + _one_line("; ".join(problems[:5]), 400)
                + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
            )
        if unknown:
            notes.append(
                "dropped unknown "
                + _one_line(", ".join(unknown[:5]), 120)
                + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else "")
            )
        if not proposed and scope is None:
            detail = "; ".join(notes) if notes else f"keys {_short(list(data)[:8], 120)}"
            raise ProposalError(
                f"optimizer reply proposes no parameter of the search space: {detail}"
            )
        reasoning_text = "" if reasoning is None else str(reasoning).strip()
        return proposed, outside, reasoning_text, notes

    def _complete(
        self,
        proposed: dict[str, Any],
        base_params: dict[str, Any] | None,
        reasoning: str,
        notes: list[str],
    ) -> TrialConfig:
        """A fresh TrialConfig: *proposed* plus the base for the rest, repairs noted
        and the space's fixed params added."""
        base = self._repair_base(base_params)
        filled = [d.name for d in self.search_space.dimensions if d.name not in proposed]
        if filled:
            source = "base config" if base_params is not None else "defaults"
            notes = notes + [f"filled from {source}: {', '.join(filled)}"]
        params = {d.name: proposed.get(d.name, base[d.name]) for d in self.search_space.dimensions}
        for key, value in self.search_space.fixed.items():  # every proposal carries them
            params.setdefault(key, value)
        return TrialConfig(
            trial_id=f"t-{uuid.uuid4().hex[:10]}",
            params=params,
            reasoning=_with_notes(reasoning, notes),
        )

    def _parse_feedback_response(self, response: str) -> TrialFeedback:
        """Structured feedback; a reply that is not JSON becomes its summary_text."""
        text = response if isinstance(response, str) else ""
        data = _parse_json_object(text) if text.strip() else None
        if data is None:
            return TrialFeedback(summary_text=_one_line(text, SUMMARY_LIMIT))

        def strings(value: Any) -> list[str]:
            if value is None:
                return []
            if isinstance(value, str):
                return [value] if value.strip() else []
            if isinstance(value, list | tuple):
                return [
                    _short(v, 1000) if not isinstance(v, str) else v for v in value if v is not None
                ]
            return [_short(value, 1000)]

        ratings_raw = data.get("primitive_ratings")
        ratings = (
            {str(k): v if isinstance(v, str) else _short(v, 200) for k, v in ratings_raw.items()}
            if isinstance(ratings_raw, dict)
            else {}
        )
        summary = data.get("summary_text", data.get("summary"))
        if summary is None:
            summary = ""
        target_raw = data.get("target_primitive")
        target = ""
        if isinstance(target_raw, str):
            wanted = target_raw.strip().casefold()
            for dim in self.search_space.dimensions:
                if dim.primitive and dim.primitive.casefold() == wanted:
                    target = dim.primitive
                    break
        return TrialFeedback(
            summary_text=summary if isinstance(summary, str) else _short(summary, SUMMARY_LIMIT),
            failure_patterns=strings(data.get("failure_patterns")),
            primitive_ratings=ratings,
            suggested_changes=strings(data.get("suggested_changes")),
            target_primitive=target,
        )


__all__ = ["LLMOptimizer", "ProposalError", "SYSTEM_ANALYST", "SYSTEM_OPTIMIZER"]
