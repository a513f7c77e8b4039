"""Build a realistic demo workspace offline, deterministically for a seed.

The traces look like a few months of an assistant logging its work while a router
explores five models: every query class has a clear (but noisy) best model, so the
learning loop has something real to find. A handful of adversarial traces (Rich
markup, ANSI/OSC escapes, control characters, a 2 MB result) test that the UI shows
untrusted text as text.

Everything comes from one ``random.Random(seed)`` and the build's clock: the traces
end at ``now`` (the time of the build unless pinned), so "last 24 h" shows the last
day of traffic; the same seed and ``now`` give the same rows byte for byte. Traces are generated lazily into
:meth:`TraceStore.save_many`, so a million traces never sit in memory at once.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from bisect import bisect
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.paths import Workspace, ensure_dir
from jarvis_tui.traces.store import TraceStore

BASE_TIME = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
"""Time of the first demo trace when the clock is pinned to :data:`PINNED_NOW`."""
SPAN_SECONDS = 60 * 86_400
"""The demo's traces are spread over this many seconds (60 days) ending at ``now``."""
PINNED_NOW = BASE_TIME + SPAN_SECONDS
"""A fixed ``now=`` for tests and screenshots that need the same timestamps every run."""
AGENT_SAMPLE = 20_000
"""Traces the demo's evolver versions are computed from (the first, i.e. oldest: that
cycle ran a while ago; bounded, so a million-trace demo does not spend minutes on it)."""
LABELLED_FRACTION = 0.6
"""Share of traces that carry a user's feedback score."""
ADVERSARIAL_MIN_TRACES = 100
"""Below this many traces the adversarial ones are left out (tiny demos stay plain)."""

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: called after each saved batch."""

# --------------------------------------------------------------------------- models

# model -> (engine, tokens/s, fixed overhead s, verbosity, weight in the logged routing)
MODELS: dict[str, tuple[str, float, float, float, float]] = {
    "qwen2.5-coder:7b": ("ollama", 62.0, 0.15, 1.1, 0.20),
    "llama3.1:8b": ("ollama", 55.0, 0.15, 1.0, 0.27),
    "llama3.1:70b": ("vllm", 14.0, 0.35, 1.2, 0.13),
    "gpt-4o-mini": ("openai", 85.0, 0.45, 0.9, 0.22),
    "phi3:3.8b": ("ollama", 95.0, 0.08, 0.7, 0.18),
}

# Mean quality (feedback) per class and model: each class has its own winner
# (code: coder, math/long: 70b, short: phi3, general: gpt-4o-mini).
QUALITY: dict[str, dict[str, float]] = {
    "code": {
        "qwen2.5-coder:7b": 0.86,
        "llama3.1:8b": 0.61,
        "llama3.1:70b": 0.77,
        "gpt-4o-mini": 0.73,
        "phi3:3.8b": 0.50,
    },
    "math": {
        "qwen2.5-coder:7b": 0.62,
        "llama3.1:8b": 0.54,
        "llama3.1:70b": 0.86,
        "gpt-4o-mini": 0.72,
        "phi3:3.8b": 0.47,
    },
    "short": {
        "qwen2.5-coder:7b": 0.68,
        "llama3.1:8b": 0.77,
        "llama3.1:70b": 0.76,
        "gpt-4o-mini": 0.76,
        "phi3:3.8b": 0.85,
    },
    "long": {
        "qwen2.5-coder:7b": 0.55,
        "llama3.1:8b": 0.60,
        "llama3.1:70b": 0.87,
        "gpt-4o-mini": 0.75,
        "phi3:3.8b": 0.44,
    },
    "general": {
        "qwen2.5-coder:7b": 0.60,
        "llama3.1:8b": 0.73,
        "llama3.1:70b": 0.79,
        "gpt-4o-mini": 0.83,
        "phi3:3.8b": 0.65,
    },
}
QUALITY_NOISE = 0.13

# Completion tokens per class (mean) and the share of traces in each class.
COMPLETION_TOKENS = {"code": 380, "math": 260, "short": 35, "long": 520, "general": 210}
CLASS_WEIGHTS = {"code": 0.25, "math": 0.15, "short": 0.20, "long": 0.10, "general": 0.30}

# agent -> (weight, quality bonus by class)
AGENTS: dict[str, tuple[float, dict[str, float]]] = {
    "simple": (0.45, {"short": 0.02}),
    "orchestrator": (0.30, {"long": 0.03, "general": 0.02}),
    "react": (0.25, {"math": 0.03, "code": 0.02}),
}

# Which tools an agent reaches for, by query class.
AGENT_TOOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "simple": {"math": ("calculator",), "general": ("web_search",)},
    "orchestrator": {
        "code": ("file_read", "retrieval"),
        "math": ("calculator", "retrieval"),
        "short": ("web_search",),
        "long": ("retrieval", "file_read"),
        "general": ("web_search", "retrieval"),
    },
    "react": {
        "code": ("code_exec", "file_read", "web_search"),
        "math": ("calculator", "code_exec"),
        "short": ("web_search",),
        "long": ("retrieval", "web_search"),
        "general": ("web_search", "calculator"),
    },
}
TOOL_SECONDS = {
    "web_search": (0.6, 2.8),
    "code_exec": (0.15, 2.2),
    "calculator": (0.004, 0.04),
    "file_read": (0.01, 0.25),
    "retrieval": (0.05, 0.6),
}

USERS = ("ana", "ben", "chen", "dara", "eli", "farah", "gus", "hana", "ivo", "jun")
CHANNELS = ("cli", "cli", "slack", "web", "api")

# --------------------------------------------------------------------------- text pools

_COUNTRIES = ("Peru", "Kenya", "Norway", "Vietnam", "Chile", "Ghana", "Laos", "Malta")
_CITIES = ("Lisbon", "Osaka", "Denver", "Tallinn", "Nairobi", "Porto", "Hanoi", "Quito")
_WORDS = ("serendipity", "ephemeral", "cozy", "threshold", "harbor", "whisper", "ledger")
_LANGS = ("French", "German", "Japanese", "Spanish", "Swahili", "Korean")
_TERMS = ("entropy", "idempotent", "latency", "amortized", "backpressure", "quorum")
_BOOKS = ("Dune", "Middlemarch", "Beloved", "Solaris", "Emma", "Ulysses", "Kindred")
_ANIMALS = ("a dolphin", "a bat", "a platypus", "an axolotl", "a manatee", "a pangolin")
_TOPICS = (
    "remote work",
    "electric bikes",
    "open-plan offices",
    "static site generators",
    "four-day work weeks",
    "home solar panels",
    "learning a second language as an adult",
    "monorepos",
)
_PAIRS = (
    ("Postgres", "SQLite"),
    ("Kafka", "RabbitMQ"),
    ("Notion", "Obsidian"),
    ("renting", "buying a flat"),
    ("a Kindle", "paper books"),
    ("Terraform", "Pulumi"),
)
_OCCASIONS = ("birthday", "weeknight", "holiday", "picnic", "potluck")
_MONTHS = ("March", "June", "September", "November", "January")
_ISSUES = (
    "the broken heating",
    "a late deposit refund",
    "noise from the flat upstairs",
    "renewing the lease early",
)
_CONCEPTS = (
    "how vaccines train the immune system",
    "why the sky is blue",
    "how a bill becomes a law",
    "what inflation does to savings",
    "how GPS works",
)

_PY_MODS = ("asyncio", "itertools", "pathlib", "dataclasses", "numpy", "pandas", "sqlite3")
_PY_EXCS = ("KeyError", "TypeError", "RecursionError", "ValueError", "IndexError")
_PY_EXPRS = (
    "sorted(d, key=d.get)",
    "json.loads(resp.text)",
    "df.groupby('user').size()",
    "next(iter(xs))",
    "await asyncio.gather(*tasks)",
    "re.match(r'\\d+', s)",
    "dict(zip(keys, vals))",
)
_TASKS = (
    "deduplicates a list while keeping the order",
    "retries an HTTP call with exponential backoff",
    "parses an ISO 8601 timestamp with a timezone",
    "merges two sorted iterators lazily",
    "streams a large CSV and sums one column",
    "flattens a nested dictionary into dotted keys",
)
_LANGS_CODE = ("Python", "Rust", "TypeScript", "Go", "Bash")
_FNAMES = ("load_rows", "normalize", "merge_ranges", "top_k", "parse_line", "chunked")

_SENTENCES = (
    "The team agreed to move the launch to the second week of next month.",
    "Marketing still needs final screenshots before the press kit can go out.",
    "Support tickets about login failures doubled after the last release.",
    "We decided to keep the old billing page until the migration is verified.",
    "Priya will own the vendor contract and report back by Friday.",
    "The warehouse reported two late shipments caused by the storm.",
    "Several customers asked for an export to spreadsheets in their own language.",
    "Finance flagged that cloud spend is twelve percent over the quarterly budget.",
    "The design review raised concerns about contrast on the settings screen.",
    "Legal wants a short summary of what personal data the new feature stores.",
    "Hiring for the two open positions is paused until the budget is confirmed.",
    "The pilot with the regional hospital starts on the first of the month.",
    "Everyone liked the new onboarding checklist, with small wording changes.",
    "We still have no owner for the documentation of the public endpoints.",
    "Response times improved after the cache was moved closer to the users.",
    "The board asked for a one-page update on the partnership with the university.",
    "Tom raised the risk that the data center move overlaps with the audit.",
    "A customer in Lyon reported that invoices show the wrong tax rate.",
)
_LONG_FRAMES = (
    ("Here are my notes from {day}'s planning meeting:\n\n", "\n\nPlease summarize the decisions and list the action items with an owner for each."),
    ("Please proofread this status update before I send it to the whole company:\n\n", "\n\nKeep my tone, fix grammar, and point out anything unclear."),
    ("I pasted the last few messages of a long email thread below.\n\n", "\n\nWhat is being asked of me, and what would be a short, friendly reply?"),
    ("Here is a draft section of our quarterly report:\n\n", "\n\nRewrite it so an executive can read it in one minute, as three short paragraphs."),
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")

_GENERAL_ANSWERS = (
    "Here are a few options worth considering.",
    "The short version: it depends mostly on your budget and how much time you have.",
    "Both are reasonable choices; the main difference is in maintenance effort.",
    "I'd start small, measure what matters, and revisit the decision in a month.",
    "A good rule of thumb is to pick the simpler option unless you need the extra features.",
    "People often underestimate the ongoing cost, so plan for it up front.",
    "If you share a bit more context I can tailor this further.",
)
_FAILURE_RESULTS = (
    "I'm sorry, I couldn't complete that request.",
    "The tool call timed out, so this answer may be incomplete.",
    "I wasn't able to find reliable information on that.",
    "Error: the model returned an empty response.",
)

# --------------------------------------------------------------------------- helpers


def _cum(weights: dict[str, Any], index: int | None = None) -> tuple[list[str], list[float]]:
    keys = list(weights)
    values = [weights[k][index] if index is not None else weights[k] for k in keys]
    return keys, list(accumulate(values))


_CLASS_KEYS, _CLASS_CUM = _cum(CLASS_WEIGHTS)
_MODEL_KEYS, _MODEL_CUM = _cum(MODELS, 4)
_AGENT_KEYS, _AGENT_CUM = _cum(AGENTS, 0)


def _pick(rng: random.Random, keys: list[str], cum: list[float]) -> str:
    return keys[bisect(cum, rng.random() * cum[-1])]


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


# --------------------------------------------------------------------------- queries


def _code_query(rng: random.Random) -> str:
    c = rng.choice
    k = rng.randrange(7)
    if k == 0:
        return f"Why does `{c(_PY_EXPRS)}` raise {c(_PY_EXCS)} in Python 3.{rng.randint(9, 13)}?"
    if k == 1:
        return f"Write a Python function that {c(_TASKS)}. Prefer the standard library (`{c(_PY_MODS)}`)."
    if k == 2:
        f = c(_FNAMES)
        return (
            f"Can you make this faster? It takes {rng.randint(2, 90)} s on {rng.randint(1, 50)}k rows.\n"
            f"```python\ndef {f}(rows):\n    out = []\n    for r in rows:\n"
            f"        if r not in out:\n            out.append(r)\n    return out\n```"
        )
    if k == 3:
        m = c(_PY_MODS)
        return f"What's the difference between `import {m}` and `from {m} import *`?"
    if k == 4:
        return f"How do I write a {c(_LANGS_CODE)} function that {c(_TASKS)}?"
    if k == 5:
        return (
            f"My test fails with {c(_PY_EXCS)} at `{c(_FNAMES)}()` line {rng.randint(3, 400)}; "
            "the fixture builds a temp dir. What am I missing?"
        )
    return f"Convert this to a dataclass: class {c(('Order', 'User', 'Span', 'Job'))}: with __init__ setting {rng.randint(3, 9)} fields"


def _math_query(rng: random.Random) -> str:
    r = rng.randint
    k = rng.randrange(7)
    if k == 0:
        return f"Solve the equation {r(2, 9)}x^2 + {r(1, 20)}x - {r(1, 50)} = 0"
    if k == 1:
        return (
            f"Calculate the compound interest on ${r(1, 90) * 1000} at {r(2, 9)}.{r(0, 9)}% "
            f"compounded monthly for {r(2, 30)} years."
        )
    if k == 2:
        return f"What is the integral of x^{r(2, 6)} * e^({r(2, 5)}x) dx?"
    if k == 3:
        return f"Compute the determinant of [[{r(1, 9)}, {r(1, 9)}], [{r(1, 9)}, {r(1, 9)}]]."
    if k == 4:
        return f"Solve for t: {r(2, 9)}t + {r(1, 30)} = {r(2, 9)}t - {r(1, 30)}"
    if k == 5:
        return (
            f"Calculate the probability of getting at least {r(3, 8)} heads in {r(9, 20)} "
            "fair coin flips, and explain the steps."
        )
    return f"A tank drains at {r(2, 9)} L/min. Set up and solve the differential equation for V(t) with V(0) = {r(50, 900)} L."


def _short_query(rng: random.Random) -> str:
    c = rng.choice
    k = rng.randrange(8)
    if k == 0:
        return f"What's the capital of {c(_COUNTRIES)}?"
    if k == 1:
        return f"Translate '{c(_WORDS)}' to {c(_LANGS)}"
    if k == 2:
        return f"Define {c(_TERMS)}"
    if k == 3:
        return f"Who wrote {c(_BOOKS)}?"
    if k == 4:
        return f"Weather in {c(_CITIES)} tomorrow?"
    if k == 5:
        return f"Is {c(_ANIMALS)} a mammal?"
    if k == 6:
        return f"Synonym for {c(_WORDS)}?"
    return f"Time in {c(_CITIES)} now?"


def _general_query(rng: random.Random) -> str:
    c = rng.choice
    k = rng.randrange(7)
    if k == 0:
        return f"Can you give me a few ideas for a {c(_OCCASIONS)} dinner for {rng.randint(3, 12)} people, one of whom is vegetarian?"
    if k == 1:
        a, b = c(_PAIRS)
        return f"What are the main differences between {a} and {b} for a small team of {rng.randint(2, 15)} people?"
    if k == 2:
        return f"Summarize the pros and cons of {c(_TOPICS)} in a few short bullet points."
    if k == 3:
        return f"I'm planning a trip to {c(_CITIES)} in {c(_MONTHS)}. What should I pack, and what are three things worth seeing?"
    if k == 4:
        return f"Draft a polite email to my landlord about {c(_ISSUES)}. Keep it under a hundred and fifty words."
    if k == 5:
        return f"Explain {c(_CONCEPTS)} to a ten-year-old, using an everyday example."
    return f"I have about {rng.randint(10, 60)} minutes a day. How should I structure a plan for getting better at {c(('chess', 'drawing', 'running', 'public speaking', 'cooking'))}?"


def _long_query(rng: random.Random) -> str:
    head, tail = rng.choice(_LONG_FRAMES)
    body = " ".join(rng.sample(_SENTENCES, rng.randint(8, 14)))
    return head.format(day=rng.choice(_DAYS)) + body + tail


_QUERY_MAKERS = {
    "code": _code_query,
    "math": _math_query,
    "short": _short_query,
    "long": _long_query,
    "general": _general_query,
}

# --------------------------------------------------------------------------- results


def _result(rng: random.Random, qclass: str, good: bool) -> str:
    if not good and rng.random() < 0.5:
        return rng.choice(_FAILURE_RESULTS)
    if qclass == "code":
        f = rng.choice(_FNAMES)
        k = rng.randrange(3)
        if k == 0:
            return (
                "Here's a version that keeps the order and runs in linear time:\n\n"
                f"```python\ndef {f}(rows):\n    seen = set()\n    out = []\n    for r in rows:\n"
                "        if r not in seen:\n            seen.add(r)\n            out.append(r)\n"
                "    return out\n```\n\nThe original checked membership in a list, which is "
                "O(n) per lookup; a set makes it O(1)."
            )
        if k == 1:
            exc = rng.choice(_PY_EXCS)
            return (
                f"The {exc} comes from calling `{f}()` before the input is validated. "
                f"Guard it:\n\n```python\ntry:\n    value = {f}(data)\nexcept {exc}:\n"
                "    value = None  # fall back to the default\n```\n\n"
                "Better still, check the input where it enters the program."
            )
        mod = rng.choice(_PY_MODS)
        return (
            f"`import {mod}` binds the module name, so you write `{mod}.name`; "
            f"`from {mod} import *` copies every public name into your namespace, which "
            "hides where names come from and can shadow your own. Prefer the first form."
        )
    if qclass == "math":
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        return (
            f"Step 1: rearrange the terms.\nStep 2: substitute the known values ({a} and {b}).\n"
            f"Step 3: simplify.\n\nAnswer: {a / b:.4g}"
        )
    if qclass == "short":
        return rng.choice(
            (
                "Lima.",
                "Yes.",
                "No, it is not.",
                "Toni Morrison.",
                "Sunny, 21 °C.",
                "Transient, fleeting.",
            )
        )
    if qclass == "long":
        s = rng.sample(_SENTENCES, 3)
        return (
            f"Summary: {s[0]}\n\nDecisions:\n- {s[1]}\n\nAction items:\n"
            f"- {rng.choice(USERS).title()}: {s[2]}\n- Follow up in the next meeting."
        )
    return " ".join(rng.sample(_GENERAL_ANSWERS, rng.randint(2, 4)))


# --------------------------------------------------------------------------- steps


def _steps(
    rng: random.Random, agent: str, model: str, qclass: str, query: str, t0: float, good: bool
) -> tuple[list[TraceStep], int]:
    """The steps of one trace (2 to 6) and its total tokens."""
    _engine, tps, overhead, verbosity, _w = MODELS[model]
    tools = AGENT_TOOLS[agent].get(qclass, ())
    plan: list[str] = []
    if agent == "simple":
        if rng.random() < 0.5:
            plan.append("route")
        if tools and rng.random() < 0.2:
            plan.append("tool:" + rng.choice(tools))
        plan += ["generate", "respond"]
    elif agent == "orchestrator":
        plan.append("route")
        if rng.random() < 0.7:
            plan.append("retrieve")
        for _ in range(rng.choice((0, 1, 1, 2))):
            plan.append("tool:" + rng.choice(tools))
        plan += ["generate", "respond"]
    else:  # react: think/act loops
        if rng.random() < 0.4:
            plan.append("route")
        for _ in range(rng.choice((1, 1, 2))):
            plan += ["tool:" + rng.choice(tools), "generate"]
        plan.append("respond")
    del plan[:-6]  # never more than six steps (drops a leading route first)

    prompt_tokens = len(query) // 4 + 40
    completion = max(4, int(COMPLETION_TOKENS[qclass] * verbosity * rng.uniform(0.5, 1.6)))
    n_gen = plan.count("generate")
    steps: list[TraceStep] = []
    t = t0
    total_tokens = 0
    gen_i = 0
    for item in plan:
        if item == "route":
            dur = rng.uniform(0.001, 0.02)
            step = TraceStep(
                StepType.ROUTE,
                t,
                round(dur, 4),
                {"query_class": qclass},
                {"model": model, "policy": "explore"},
            )
        elif item == "retrieve":
            dur = rng.uniform(0.04, 0.45)
            k = rng.choice((3, 5, 8))
            step = TraceStep(
                StepType.RETRIEVE,
                t,
                round(dur, 4),
                {"query": query[:80], "top_k": k},
                {"documents": k, "best_score": round(rng.uniform(0.3, 0.95), 3)},
            )
        elif item.startswith("tool:"):
            name = item[5:]
            lo, hi = TOOL_SECONDS[name]
            dur = rng.uniform(lo, hi)
            ok = good or rng.random() < 0.6
            args: dict[str, Any]
            if name == "calculator":
                args = {"expression": f"{rng.randint(2, 999)} * {rng.randint(2, 99)}"}
            elif name == "code_exec":
                args = {"language": "python", "lines": rng.randint(3, 60)}
            elif name == "file_read":
                args = {"path": f"~/notes/{rng.choice(_FNAMES)}.md"}
            else:
                args = {"query": query[:60]}
            output: dict[str, Any] = (
                {"ok": True, "chars": rng.randint(40, 4000)}
                if ok
                else {
                    "ok": False,
                    "error": rng.choice(("timeout after 10s", "rate limited", "exit code 1")),
                }
            )
            step = TraceStep(
                StepType.TOOL_CALL, t, round(dur, 4), {"tool": name, "arguments": args}, output
            )
        elif item == "generate":
            gen_i += 1
            part = (
                completion // n_gen
                if gen_i < n_gen
                else completion - (completion // n_gen) * (n_gen - 1)
            )
            p_tok = prompt_tokens + (gen_i - 1) * 120
            dur = overhead + p_tok / (tps * 20) + part / tps * rng.uniform(0.85, 1.25)
            tokens = p_tok + part
            total_tokens += tokens
            step = TraceStep(
                StepType.GENERATE,
                t,
                round(dur, 4),
                {"model": model, "prompt_tokens": p_tok},
                {
                    "tokens": tokens,
                    "prompt_tokens": p_tok,
                    "completion_tokens": part,
                    "finish_reason": "stop" if good or rng.random() < 0.7 else "length",
                },
            )
        else:  # respond
            dur = rng.uniform(0.0005, 0.004)
            step = TraceStep(
                StepType.RESPOND, t, round(dur, 4), {}, {"streamed": rng.random() < 0.8}
            )
        steps.append(step)
        t = round(t + step.duration_seconds, 4)
    return steps, total_tokens


# --------------------------------------------------------------------------- traces


def _traces(rng: random.Random, n: int, base: float = BASE_TIME) -> Iterator[Trace]:
    spacing = SPAN_SECONDS / max(n, 1)
    adversarial = _adversarial_positions(n)
    session = 0
    user = rng.choice(USERS)
    channel = rng.choice(CHANNELS)
    for i in range(n):
        started = round(base + (i + rng.random() * 0.9) * spacing, 3)
        if rng.random() < 0.22:
            session += 1
            user = rng.choice(USERS)
            channel = rng.choice(CHANNELS)
        # Time-ordered ids (like UUIDv7: milliseconds, then random bits): the
        # trace_id indexes then grow at their right edge instead of being
        # rewritten all over at every batch, which keeps a 1M build fast.
        trace_id = f"{int(started * 1000):011x}{rng.getrandbits(20):05x}"
        meta = {"session": f"s{session:07d}", "user": user, "channel": channel}
        if i in adversarial:
            yield _adversarial_trace(adversarial[i], rng, trace_id, started, meta)
            continue
        qclass = _pick(rng, _CLASS_KEYS, _CLASS_CUM)
        model = _pick(rng, _MODEL_KEYS, _MODEL_CUM)
        agent = _pick(rng, _AGENT_KEYS, _AGENT_CUM)
        query = _QUERY_MAKERS[qclass](rng)
        quality = _clip(
            QUALITY[qclass][model]
            + AGENTS[agent][1].get(qclass, 0.0)
            + rng.gauss(0.0, QUALITY_NOISE)
        )
        good = quality + rng.gauss(0.0, 0.08) >= 0.5
        steps, tokens = _steps(rng, agent, model, qclass, query, started, good)
        latency = round(sum(s.duration_seconds for s in steps), 4)
        feedback: float | None = None
        outcome: str | None = None
        if rng.random() < LABELLED_FRACTION:
            feedback = round(quality, 2)
            outcome = "success" if good else "failure"
        elif rng.random() < 0.15:  # a few unlabelled traces had an outcome detected
            outcome = "success" if good else "failure"
        yield Trace(
            trace_id=trace_id,
            query=query,
            agent=agent,
            model=model,
            engine=MODELS[model][0],
            steps=steps,
            result=_result(rng, qclass, good),
            outcome=outcome,
            feedback=feedback,
            started_at=started,
            ended_at=round(started + latency, 4),
            total_tokens=tokens,
            total_latency_seconds=latency,
            metadata=meta,
        )


# --------------------------------------------------------------------------- adversarial

_ADVERSARIAL = (
    "markup",
    "ansi",
    "controls",
    "huge",
    "unicode",
    "blob",
    "markup_result",
)


def _adversarial_positions(n: int) -> dict[int, str]:
    """Where the adversarial traces go: spread evenly, none in tiny demos."""
    if n < ADVERSARIAL_MIN_TRACES:
        return {}
    k = len(_ADVERSARIAL)
    return {(j + 1) * n // (k + 1): kind for j, kind in enumerate(_ADVERSARIAL)}


def _huge_log(lines: int = 26_000) -> str:
    """A ~2 MB log dump (with bracketed fields that look like Rich markup)."""
    return "\n".join(
        f"[{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}] [info] worker-{i % 8}: "
        f"processed batch {i} ({i * 37 % 1000} rows, {i * 13 % 97} ms)"
        for i in range(lines)
    )


def _adversarial_trace(
    kind: str, rng: random.Random, trace_id: str, started: float, meta: dict[str, Any]
) -> Trace:
    query = "Why does my terminal show [bold red]x[/] in red and [link=http://x]y[/link] as a link?"
    result = "Those are Rich markup tags; printed through a markup parser they are interpreted."
    model, agent = "llama3.1:8b", "simple"
    feedback: float | None = None
    if kind == "ansi":
        query = "Show me the raw output of the failing build step"
        result = (
            "\x1b[31mERROR\x1b[0m build failed\n\x1b]0;pwned title\x07"
            "\x1b[2J\x1b[Hcleared?\x1b[1;32m ok\x1b[0m \x1b[?25l(cursor hidden)"
        )
        agent = "react"
    elif kind == "controls":
        query = "tab\there, bell\x07, backspace\x08, NUL\x00, CR\roverwrite, DEL\x7f, esc\x1b end"
        result = "Control characters:\x01\x02\x03\x0b\x0c\x0e\x1f and a C1 one:\x9b31m."
        feedback = 0.1
    elif kind == "huge":
        query = "Paste the full worker log from last night's run and summarize it"
        result = _huge_log()
        model, agent = "llama3.1:70b", "orchestrator"
        feedback = 0.55
    elif kind == "unicode":
        query = "Ｗｉｄｅ 漢字テキスト and emoji 👩‍👩‍👧‍👦🏳️‍🌈, RTL \u202eevil.exe\u202c, zero\u200bwidth, e\u0301\u0301\u0301"
        result = "Combining: Z\u0351\u0352\u0353\u0354 — and a lone surrogate-safe ✓ check."
    elif kind == "blob":
        query = "decode this: " + "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/") for _ in range(6000)
        )
        result = "It looks like base64-encoded binary data; I can't decode it meaningfully."
        model = "gpt-4o-mini"
        feedback = 0.4
    elif kind == "markup_result":
        query = "What does Rich markup look like?"
        result = "[bold magenta]Hello[/bold magenta] [red on white blink]alert[/] [/] [link=javascript:alert(1)]click[/link] [@click=app.quit]quit[/]"
        model = "phi3:3.8b"
        feedback = 0.9
    steps = [
        TraceStep(StepType.ROUTE, started, 0.01, {"query_class": "general"}, {"model": model}),
        TraceStep(
            StepType.GENERATE,
            started + 0.01,
            1.2,
            {"model": model, "prompt_tokens": 60},
            {"tokens": 180, "prompt_tokens": 60, "completion_tokens": 120, "note": query[:40]},
        ),
        TraceStep(StepType.RESPOND, started + 1.21, 0.002, {}, {"streamed": False}),
    ]
    return Trace(
        trace_id=trace_id,
        query=query,
        agent=agent,
        model=model,
        engine=MODELS[model][0],
        steps=steps,
        result=result,
        outcome=None if feedback is None else ("success" if feedback >= 0.5 else "failure"),
        feedback=feedback,
        started_at=started,
        ended_at=round(started + 1.212, 4),
        total_tokens=180,
        total_latency_seconds=1.212,
        metadata={**meta, "adversarial": kind, "[bold]key[/]": "\x1b[7mvalue\x1b[0m"},
    )


# --------------------------------------------------------------------------- build


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


DEMO_MARKER = ".jarvis-tui-demo"
"""The file :func:`build_demo` writes into each workspace it builds (its size and seed,
as JSON): ``demo --force`` rebuilds only a folder that has one, so it can never replace
a real workspace's traces (an OpenJarvis home, say)."""


def is_demo_workspace(root: str | os.PathLike[str]) -> bool:
    """Whether *root* was built by :func:`build_demo` (it holds :data:`DEMO_MARKER`)."""
    marker = Path(root) / DEMO_MARKER
    return marker.is_file() and not marker.is_symlink()


def _mark_demo(root: Path, *, traces: int, seed: int) -> None:
    import json

    from jarvis_tui.paths import atomic_write_bytes

    info = {"built_by": "jarvis-tui demo", "traces": traces, "seed": seed,
            "built_at": round(time.time(), 3)}  # fmt: skip
    atomic_write_bytes(root / DEMO_MARKER, json.dumps(info).encode("utf-8"))


def build_demo(
    root: str | os.PathLike[str],
    *,
    traces: int = 20_000,
    seed: int = 7,
    progress: ProgressFn | None = None,
    force: bool = False,
    optimize: bool = True,
    now: float | None = None,
) -> Path:
    """Create a demo workspace in *root* and return *root*.

    Writes ``traces.db`` (OpenJarvis schema) with *traces* traces generated from
    ``random.Random(seed)``, spread over the 60 days that end at *now* (default: the
    current time; pass :data:`PINNED_NOW` for the same rows on every run), and the
    three agents' configs in ``agents/`` with a few versions each (see
    :func:`build_demo_agents`). The file is built under a temporary name and renamed
    when complete, so an interrupted build never leaves a half-filled
    ``traces.db``. An existing ``traces.db`` raises :class:`FileExistsError`
    unless *force* (then it is replaced), and with *force* too when the folder was not
    built by the demo (no :data:`DEMO_MARKER`): a real workspace is never replaced.
    """
    if isinstance(traces, bool) or not isinstance(traces, int) or traces <= 0:
        raise ValueError(f"traces must be a positive integer, got {traces!r}")
    ws = Workspace(ensure_dir(Path(root).expanduser()))
    target = ws.traces_db
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists (use force=True to replace it)")
    if os.path.lexists(target) and not is_demo_workspace(ws.root):
        # force replaces only what a demo build made: never someone's own traces
        raise FileExistsError(f"{target} was not built by the demo: it is never replaced")
    ours = is_demo_workspace(ws.root)
    _mark_demo(ws.root, traces=traces, seed=seed)  # first: a build cut short stays ours
    building = ws.root / ".traces.db.building"
    _remove_db(building)  # leftovers of an interrupted build are ours to discard
    rng = random.Random(seed)

    def report(saved: int) -> None:
        # The last step (the search index) comes after the final batch.
        if progress and saved < traces:
            progress(saved, traces)

    try:
        store = TraceStore(building)
        try:
            fts_triggers = _drop_fts_triggers(building)
            base = (time.time() if now is None else float(now)) - SPAN_SECONDS
            store.save_many(_traces(rng, traces, base), batch_size=2_000, progress=report)
        finally:
            store.close()
        _finish(building, fts_triggers)
    except BaseException:
        _remove_db(building)
        if not ours and not os.path.lexists(target):  # nothing built: nothing of ours left
            (ws.root / DEMO_MARKER).unlink(missing_ok=True)
        raise
    _remove_db(target)
    os.replace(building, target)
    build_demo_agents(ws, force=force, now=base + SPAN_SECONDS)
    if optimize:
        build_demo_optimization(ws, seed=seed, force=force)
    if progress:
        progress(traces, traces)
    return ws.root


DEMO_AGENTS: dict[str, tuple[list[str], int, str]] = {
    # agent -> (tools, max_turns, system prompt) of its first, hand-written version
    "simple": (["web_search"], 4, "You are a concise assistant. Answer in a few sentences."),
    "orchestrator": (
        ["web_search", "retrieval"],
        10,
        "Plan the task, delegate the steps, then merge the answers.",
    ),  # fmt: skip
    "react": (
        ["web_search"],
        6,
        "You are a careful assistant.\nThink, act, observe; cite sources.",
    ),
}


def build_demo_agents(ws: Workspace, *, force: bool = False, now: float | None = None) -> list[str]:
    """Write the three demo agents' configs with a history, as a user would have it.

    Each agent gets a hand-written first version (cause ``manual``), then what the
    evolver recommends from the traces (``evolver``; computed from the oldest
    :data:`AGENT_SAMPLE` traces); ``react`` also has a hand edit that was rolled
    back (``manual``, then ``rollback``). The versions are dated across the traces'
    60 days that end at *now* (default: the current time; see
    :data:`VERSION_DAYS`), so each version served its own share of the traces. An
    ``agents/`` that already holds configs is kept unless *force*. Returns the agents
    written.
    """
    import shutil
    from itertools import islice

    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver, cycle_note

    agents_dir = ws.agents_dir
    if agents_dir.exists() and any(agents_dir.glob("*.toml")):
        if not force:
            return []
        shutil.rmtree(agents_dir)
    store = TraceStore(ws.traces_db)
    try:

        class _Newest:
            """The store, with the evolver's scan bounded to the first traces."""

            def iter_traces(self, **kwargs: Any) -> Iterator[Trace]:
                return islice(store.iter_traces(**kwargs), AGENT_SAMPLE)

            def __getattr__(self, name: str) -> Any:
                return getattr(store, name)

        # The history as designed, each agent best somewhere on the oldest traces: one
        # rating is evidence here (min_ratings=1), else a small demo (--traces 1500)
        # gives orchestrator no cycle version (25 ratings on long against 30).
        ev = AgentConfigEvolver(_Newest(), config_dir=agents_dir, min_ratings=1)
        for name, (tools, turns, prompt) in DEMO_AGENTS.items():
            ev.write_config(name, tools=tools, max_turns=turns, system_prompt=prompt,
                            cause="manual", note="first hand-written config")  # fmt: skip
        for p in ev.propose_configs():  # the learning cycle's proposals, written
            if p.agent in DEMO_AGENTS and p.tools and not p.error:
                ev.write_proposal(p, note=cycle_note(p.classes))
        react = DEMO_AGENTS["react"]
        good = len(ev.list_versions("react"))
        ev.write_config("react", tools=[*react[0], "code_exec"], max_turns=20,
                        system_prompt=react[2], cause="manual",
                        note="try more turns and code execution")  # fmt: skip
        ev.rollback("react", good)
    finally:
        store.close()
    _date_versions(ev, (time.time() if now is None else float(now)) - SPAN_SECONDS)
    return list(DEMO_AGENTS)


VERSION_DAYS = (-3.0, 21.0, 37.0, 45.0)
"""Day of the demo's trace window (0 is its first trace) on which each agent's 1st, 2nd,
… version was written: the hand-written config before the logging began, the evolver's
three weeks in, react's hand edit and its rollback in the last month."""
VERSION_HOURS = {"simple": 9.0, "orchestrator": 11.5, "react": 14.25}
"""Hours after its :data:`VERSION_DAYS` day each agent's versions were written (the
three agents were not edited at one moment)."""


def _date_versions(ev: Any, base: float) -> None:
    """Date each demo version as written on its :data:`VERSION_DAYS` day: its line of
    the version log (``ts``) and its file's modification time, which agree, as they do
    when the versions are written on those days (the outcomes per version attribute
    traces by those times)."""
    import json

    from jarvis_tui.configs.versions import HISTORY_DIR
    from jarvis_tui.paths import atomic_write_bytes

    history = ev.config_dir / HISTORY_DIR
    for name in DEMO_AGENTS:
        versions = ev.list_versions(name)
        when: dict[int, float] = {}
        for i, v in enumerate(versions):
            day = VERSION_DAYS[i] if i < len(VERSION_DAYS) else VERSION_DAYS[-1] + i
            when[v["seq"]] = base + day * 86_400 + VERSION_HOURS.get(name, 12.0) * 3_600
        log = history / f"{name}.log.jsonl"
        lines = [json.loads(x) for x in log.read_bytes().splitlines() if x.strip()]
        for entry in lines:
            entry["ts"] = when.get(entry.get("seq"), entry.get("ts"))
        atomic_write_bytes(log, b"".join(
            json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
            for e in lines
        ))  # fmt: skip
        for v in versions:
            os.utime(v["path"], (when[v["seq"]], when[v["seq"]]), follow_symlinks=False)


DEMO_RUN_TRIALS = 24
"""Trials of the finished optimization run the demo workspace ships with."""


def build_demo_optimization(ws: Workspace, *, seed: int = 7, force: bool = False) -> str | None:
    """Write the demo's search space (``optimize.toml``) and one finished run.

    The run is the offline default (Optuna proposer, trace replay), seeded, so the
    Trials pane opens on a real frontier. An existing ``optimize.db`` is kept unless
    *force*. Returns the run id (None when an existing store was kept).
    """
    from jarvis_tui.learning.optimize.optimizer import RunControl
    from jarvis_tui.learning.optimize.session import (
        derive_search_space,
        open_session,
        search_space_path,
        write_search_space,
    )

    if ws.optimize_db.exists() and not force:
        return None
    _remove_db(ws.optimize_db)
    store = TraceStore(ws.traces_db)
    try:
        if force or not search_space_path(ws).exists():
            space = derive_search_space(store)
            space.constraints = [
                "estimates come from replayed traces: latency and cost are per query"
            ]
            write_search_space(ws, space)
        session = open_session(
            ws, max_trials=DEMO_RUN_TRIALS, patience=DEMO_RUN_TRIALS, seed=seed, trace_store=store
        )
        try:
            run = session.engine.run(control=RunControl())
        finally:
            session.close()
    finally:
        store.close()
    return run.run_id


# The file being built is private (a temporary name nobody else opens), so the
# full-text index can be filled once at the end. Filled row by row through
# OpenJarvis's trigger, one FTS5 segment per batch, 100k traces took ~580 s
# instead of ~15 s (the merges thrash the store's 16 MiB page cache).


def _drop_fts_triggers(db: Path) -> list[str]:
    """Drop the triggers that feed ``traces_fts``; returns their SQL to restore."""
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            " AND tbl_name = 'traces' AND sql LIKE '%traces_fts%'"
        ).fetchall()
        for name, _sql in rows:
            conn.execute(f'DROP TRIGGER "{name}"')
    return [sql for _name, sql in rows]


def _finish(db: Path, fts_triggers: list[str]) -> None:
    """Restore the FTS triggers, fill the index in one pass, refresh planner stats."""
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("BEGIN IMMEDIATE")
        for sql in fts_triggers:
            conn.execute(sql)
        conn.execute("INSERT INTO traces_fts(traces_fts) VALUES ('rebuild')")
        conn.execute("COMMIT")
        # Stats like those the store's migration writes for an OpenJarvis file
        # (a store that grew from empty has none for its big tables).
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


__all__ = [
    "BASE_TIME",
    "MODELS",
    "PINNED_NOW",
    "QUALITY",
    "VERSION_DAYS",
    "build_demo",
    "build_demo_agents",
]
