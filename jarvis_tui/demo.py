"""Build a realistic demo workspace offline, deterministically for a seed.

The traces look like a few months of an assistant logging its work while a router
explores five models: every query class has a clear (but noisy) best model, so the
learning loop has something real to find. A handful of adversarial traces (Rich
markup, ANSI/OSC escapes, control characters, a 2 MB result) test that the UI shows
untrusted text as text.

Every answer answers its query: its text is built from the query (see "answers"
below), so it reads right when it went well and is wrong or partial, but still about
the query, when it did not.

Everything comes from one ``random.Random(seed)`` and the build's clock: the traces
end at ``now`` (the time of the build unless pinned), so "last 24 h" shows the last
day of traffic; the same seed and ``now`` give the same rows byte for byte. Traces are generated lazily into
:meth:`TraceStore.save_many`, so a million traces never sit in memory at once.
"""

from __future__ import annotations

import math
import os
import random
import re
import sqlite3
import time
import zlib
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from fractions import Fraction
from itertools import accumulate
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

_T = TypeVar("_T")

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


# --------------------------------------------------------------------------- answers
#
# The text of a demo answer is built from its query, so every result answers what
# was asked. It comes from its own small RNG seeded from the query: the build's
# main RNG still makes exactly the draws it always made (``_result`` is called for
# them, its text set aside), so ids, timestamps, scores, labels and steps do not move
# when the answers change. A good answer reads right; a bad one (``good`` False) is
# wrong, partial or a failure text, but still about the query. Its wording (an opening
# and a closing) follows what ``_result`` drew, so the same query asked again is worded
# a little differently, as a model words it, and its SFT pairs are not duplicates.

_FAILURE_SET = frozenset(_FAILURE_RESULTS)
_TIMED_OUT = _FAILURE_RESULTS[1]

_CAPITALS = {
    "Peru": ("Lima", "Cusco"),
    "Kenya": ("Nairobi", "Mombasa"),
    "Norway": ("Oslo", "Bergen"),
    "Vietnam": ("Hanoi", "Ho Chi Minh City"),
    "Chile": ("Santiago", "Valparaíso"),
    "Ghana": ("Accra", "Kumasi"),
    "Laos": ("Vientiane", "Luang Prabang"),
    "Malta": ("Valletta", "Mdina"),
}
_TRANSLATIONS: dict[str, dict[str, str]] = {
    "serendipity": {
        "French": "sérendipité",
        "German": "Serendipität (or „glücklicher Zufall“)",
        "Japanese": "セレンディピティ (serendipiti)",
        "Spanish": "serendipia",
        "Swahili": "bahati ya kugundua kitu kizuri bila kutarajia (there is no single word)",
        "Korean": "뜻밖의 행운 (tteutbakkui haengun)",
    },
    "ephemeral": {
        "French": "éphémère",
        "German": "vergänglich",
        "Japanese": "儚い (hakanai)",
        "Spanish": "efímero",
        "Swahili": "-a muda mfupi (as in „jambo la muda mfupi“)",
        "Korean": "덧없는 (deoteomneun)",
    },
    "cozy": {
        "French": "douillet",
        "German": "gemütlich",
        "Japanese": "居心地のいい (igokochi no ii)",
        "Spanish": "acogedor",
        "Swahili": "-enye starehe (as in „nyumba yenye starehe“)",
        "Korean": "아늑한 (aneukan)",
    },
    "threshold": {
        "French": "seuil",
        "German": "Schwelle",
        "Japanese": "敷居 (shikii); a technical threshold is 閾値 (ikichi)",
        "Spanish": "umbral",
        "Swahili": "kizingiti",
        "Korean": "문턱 (munteok)",
    },
    "harbor": {
        "French": "port",
        "German": "Hafen",
        "Japanese": "港 (minato)",
        "Spanish": "puerto",
        "Swahili": "bandari",
        "Korean": "항구 (hanggu)",
    },
    "whisper": {
        "French": "chuchoter (the noun: un chuchotement)",
        "German": "flüstern (the noun: das Flüstern)",
        "Japanese": "ささやく (sasayaku)",
        "Spanish": "susurrar (the noun: un susurro)",
        "Swahili": "kunong'ona",
        "Korean": "속삭이다 (soksagida)",
    },
    "ledger": {
        "French": "grand livre",
        "German": "Hauptbuch",
        "Japanese": "台帳 (daichō)",
        "Spanish": "libro mayor",
        "Swahili": "daftari la hesabu",
        "Korean": "원장 (wonjang)",
    },
}
_SYNONYMS = {
    "serendipity": ("happy accident, fortuity", "misfortune"),
    "ephemeral": ("fleeting, transient", "everlasting"),
    "cozy": ("snug, comfortable", "spacious"),
    "threshold": ("doorway; in the figurative sense, limit or cut-off point", "ceiling"),
    "harbor": ("port, haven", "lighthouse"),
    "whisper": ("murmur, mutter", "shout"),
    "ledger": ("account book, register", "receipt"),
}
_DEFINITIONS = {
    "entropy": (
        "Entropy: a measure of disorder, or of how many microscopic states fit what you "
        "observe; in information theory, the average surprise of a message, in bits.",
        "Entropy: the energy stored in a system.",
    ),
    "idempotent": (
        "Idempotent: an operation that has the same effect whether you apply it once or "
        "many times, like setting a value or an HTTP PUT.",
        "Idempotent: an operation that can only be run once.",
    ),
    "latency": (
        "Latency: the delay between a request and the first response, e.g. the "
        "milliseconds before a server answers.",
        "Latency: how much data a connection carries per second.",
    ),
    "amortized": (
        "Amortized: a cost averaged over a sequence of operations; a list append is "
        "amortized O(1) even though an occasional resize is O(n).",
        "Amortized: the worst-case cost of a single operation.",
    ),
    "backpressure": (
        "Backpressure: a consumer signalling a faster producer to slow down (or "
        "blocking it), so queues and memory stay bounded.",
        "Backpressure: a server retrying the requests that failed.",
    ),
    "quorum": (
        "Quorum: the minimum number of members (often a majority) that must take part "
        "for a vote or a distributed write to count.",
        "Quorum: the rule that every member must agree.",
    ),
}
_AUTHORS = {
    "Dune": ("Frank Herbert (1965)", "Isaac Asimov"),
    "Middlemarch": ("George Eliot (Mary Ann Evans), 1871–72", "Charlotte Brontë"),
    "Beloved": ("Toni Morrison (1987)", "Alice Walker"),
    "Solaris": ("Stanisław Lem (1961)", "Arthur C. Clarke"),
    "Emma": ("Jane Austen (1815)", "Charlotte Brontë"),
    "Ulysses": ("James Joyce (1922)", "Homer"),
    "Kindred": ("Octavia E. Butler (1979)", "Ursula K. Le Guin"),
}
_MAMMALS = {
    "a dolphin": (True, "it breathes air and nurses its calves"),
    "a bat": (True, "the only mammal that truly flies"),
    "a platypus": (True, "one of the few mammals that lay eggs, and it nurses its young"),
    "an axolotl": (False, "it is an amphibian, a salamander that keeps its gills"),
    "a manatee": (True, "a marine mammal, related to elephants"),
    "a pangolin": (True, "its scales are made of keratin, but it nurses its young"),
}
# city -> (time zone, UTC offset in hours when no tz database, mean daily high per month
# °C, daily range °C, usual weather)
_CITY_CLIMATE: dict[str, tuple[str, int, tuple[int, ...], int, tuple[str, ...]]] = {
    "Lisbon": ("Europe/Lisbon", 0, (15, 16, 19, 20, 22, 26, 28, 28, 27, 23, 18, 15), 7,
               ("sunny", "partly cloudy", "showers in the afternoon")),
    "Osaka": ("Asia/Tokyo", 9, (9, 10, 14, 20, 25, 28, 32, 33, 29, 23, 17, 12), 7,
              ("clear", "cloudy", "light rain")),
    "Denver": ("America/Denver", -7, (7, 8, 12, 16, 21, 28, 31, 30, 25, 18, 11, 7), 14,
               ("sunny and dry", "windy", "clouds building in the afternoon")),
    "Tallinn": ("Europe/Tallinn", 2, (-1, -1, 3, 10, 16, 20, 22, 21, 16, 9, 4, 1), 6,
                ("overcast", "drizzle", "grey with a cold wind")),
    "Nairobi": ("Africa/Nairobi", 3, (25, 27, 26, 24, 23, 22, 21, 22, 25, 25, 23, 24), 12,
                ("sunny", "partly cloudy", "a shower in the late afternoon")),
    "Porto": ("Europe/Lisbon", 0, (14, 15, 17, 18, 20, 23, 25, 25, 24, 21, 17, 14), 8,
              ("rain", "partly cloudy", "sunny spells")),
    "Hanoi": ("Asia/Ho_Chi_Minh", 7, (19, 20, 23, 28, 32, 33, 33, 32, 31, 29, 25, 22), 6,
              ("humid and hazy", "thunderstorms", "overcast")),
    "Quito": ("America/Guayaquil", -5, (19, 19, 19, 19, 19, 19, 20, 20, 20, 19, 19, 19), 10,
              ("sunny morning, rain later", "cloudy", "bright and cool")),
}  # fmt: skip
_SIGHTS = {
    "Lisbon": ("the Alfama and São Jorge Castle", "Belém Tower and the Jerónimos Monastery",
               "a ride on tram 28"),
    "Osaka": ("Osaka Castle", "the food stalls of Dōtonbori", "a day trip to Nara's deer park"),
    "Denver": ("Red Rocks Amphitheatre", "the Denver Art Museum",
               "a drive to Rocky Mountain National Park"),
    "Tallinn": ("the medieval Old Town and Toompea Hill", "Kadriorg Palace and park",
                "Telliskivi Creative City"),
    "Nairobi": ("Nairobi National Park", "the Sheldrick elephant orphanage", "the Giraffe Centre"),
    "Porto": ("the Ribeira riverfront and the Dom Luís I bridge",
              "a port-wine cellar in Vila Nova de Gaia", "the Livraria Lello bookshop"),
    "Hanoi": ("the Old Quarter and Hoàn Kiếm Lake", "the Temple of Literature",
              "a day trip to Ha Long Bay"),
    "Quito": ("the colonial Old Town", "the TelefériQo cable car up Pichincha",
              "the Mitad del Mundo monument on the equator"),
}  # fmt: skip
_MONTH_INDEX = {m: i for i, m in enumerate((
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
))}  # fmt: skip

_EXC_MEANING = {
    "KeyError": "a dict (or a pandas index) was asked for a key it does not hold",
    "TypeError": "an operation got a value of a type it cannot use, most often None",
    "RecursionError": "calls nested deeper than the interpreter's limit (1,000 frames by "
    "default), usually through a __repr__, __eq__ or key function that calls back into itself",
    "ValueError": "a value has the right type but content the call cannot use",
    "IndexError": "a sequence was indexed past its end, most often because it is empty",
}
# expression -> (what it does, what it needs of its inputs, a safer version)
_EXPR_NOTES = {
    "sorted(d, key=d.get)": (
        "sorts the keys of `d` by their values",
        "every value must compare with every other one: a None or a string among numbers breaks the sort",
        "ranked = sorted(d, key=lambda k: (d[k] is None, d[k] or 0))",
    ),
    "json.loads(resp.text)": (
        "parses the response body as JSON",
        "the body is not always JSON: an error page, an empty 204 body, or bytes where text was expected",
        "resp.raise_for_status()\ndata = resp.json() if resp.content else None",
    ),
    "df.groupby('user').size()": (
        "counts the rows per value of the `user` column",
        "the frame needs a `user` column of hashable values (a list in a cell, or a header read as ' user', breaks it)",
        "df.columns = df.columns.str.strip()\ncounts = df.groupby('user').size()",
    ),
    "next(iter(xs))": (
        "takes the first item of `xs`",
        "`xs` must be a non-empty iterable: on an empty one `next` raises StopIteration, which a generator turns into RuntimeError",
        "first = next(iter(xs), None)\nif first is None:\n    raise ValueError('xs is empty')",
    ),
    "await asyncio.gather(*tasks)": (
        "runs the tasks concurrently and re-raises the first exception one of them raised",
        "the error comes from one of the tasks, not from gather itself; the lower frames of the traceback name it",
        "results = await asyncio.gather(*tasks, return_exceptions=True)\n"
        "errors = [r for r in results if isinstance(r, BaseException)]",
    ),
    "re.match(r'\\d+', s)": (
        "matches the digits at the start of `s`",
        "`s` must be a str (bytes or None fail), and the match is None when `s` does not start with a digit",
        "m = re.match(r'\\d+', s or '')\nnumber = int(m.group()) if m else None",
    ),
    "dict(zip(keys, vals))": (
        "pairs each key with a value",
        "every key must be hashable (a list as a key fails), and zip silently drops extra items when the lengths differ",
        "mapping = dict(zip(keys, vals, strict=True))",
    ),
}
# test failure -> (why, with the fixture's temp dir, and the fix)
_TEST_FAILURES = {
    "KeyError": (
        "`{f}()` reads a key from a config or the environment that the fixture never sets: "
        "on your machine the real file exists, in the test the temp dir is empty",
        "@pytest.fixture\ndef workdir(tmp_path, monkeypatch):\n"
        "    (tmp_path / 'config.toml').write_text('name = \"test\"\\n')\n"
        "    monkeypatch.setenv('APP_HOME', str(tmp_path))\n    return tmp_path",
    ),
    "TypeError": (
        "the fixture builds the temp dir but does not return it, so the test gets None "
        "and `{f}()` receives None where it expects a path",
        "@pytest.fixture\ndef workdir(tmp_path):\n    (tmp_path / 'data').mkdir()\n"
        "    return tmp_path  # without this the test receives None",
    ),
    "RecursionError": (
        "`{f}()` walks the directory and follows a symlink the fixture made back up the "
        "tree, so the walk never ends",
        "for root, dirs, files in os.walk(top, followlinks=False):\n    ...",
    ),
    "ValueError": (
        "`{f}()` parses a file the fixture created empty, so a conversion like "
        "`int('')` fails; write the file with real content",
        "(tmp_path / 'rows.csv').write_text('id,value\\n1,10\\n')",
    ),
    "IndexError": (
        "`{f}()` takes the first entry of a directory listing (or of a file's lines) and "
        "the fixture's temp dir is still empty",
        "files = sorted(tmp_path.iterdir())\nassert files, 'the fixture wrote no files'",
    ),
}
# task -> (function, modules it uses, a flawed version and its flaw)
_TASK_CODE = {
    "deduplicates a list while keeping the order": (
        'def dedupe(items):\n    """The items without duplicates, first occurrence first."""\n'
        "    return list(dict.fromkeys(items))",
        ("itertools", "dataclasses"),
        "def dedupe(items):\n    return list(set(items))",
        "a set does not keep the order",
    ),
    "retries an HTTP call with exponential backoff": (
        "import random\nimport time\nimport urllib.error\nimport urllib.request\n\n\n"
        "def fetch_with_retry(url, attempts=5, base=0.5):\n    for i in range(attempts):\n"
        "        try:\n            with urllib.request.urlopen(url, timeout=10) as resp:\n"
        "                return resp.read()\n"
        "        except (urllib.error.URLError, TimeoutError):\n"
        "            if i == attempts - 1:\n                raise\n"
        "            time.sleep(base * 2**i + random.uniform(0, base))",
        ("asyncio",),
        "def fetch_with_retry(url):\n    for _ in range(5):\n        try:\n"
        "            return urllib.request.urlopen(url).read()\n        except Exception:\n"
        "            pass",
        "it retries at once, with no backoff, and swallows the last error",
    ),
    "parses an ISO 8601 timestamp with a timezone": (
        "from datetime import datetime\n\n\ndef parse_timestamp(text):\n"
        '    """\'2026-10-01T12:30:00+02:00\' -> an aware datetime (\'Z\' works from 3.11)."""\n'
        "    dt = datetime.fromisoformat(text)\n    if dt.tzinfo is None:\n"
        "        raise ValueError(f'no timezone in {text!r}')\n    return dt",
        (),
        "def parse_timestamp(text):\n    return datetime.strptime(text[:19], '%Y-%m-%dT%H:%M:%S')",
        "it cuts the offset off, so every result is naive",
    ),
    "merges two sorted iterators lazily": (
        "import heapq\n\n\ndef merge_sorted(a, b):\n"
        '    """The items of two sorted iterables in order, reading each lazily."""\n'
        "    yield from heapq.merge(a, b)",
        ("itertools",),
        "def merge_sorted(a, b):\n    return sorted(list(a) + list(b))",
        "it reads both inputs into memory, so it is not lazy",
    ),
    "streams a large CSV and sums one column": (
        "import csv\n\n\ndef sum_column(path, column):\n    total = 0.0\n"
        "    with open(path, newline='') as f:\n        for row in csv.DictReader(f):\n"
        "            total += float(row[column] or 0)\n    return total",
        ("pathlib", "itertools"),
        "def sum_column(path, column):\n    lines = open(path).read().splitlines()\n"
        "    return sum(float(x.split(',')[column]) for x in lines[1:])",
        "it loads the whole file and breaks on quoted commas",
    ),
    "flattens a nested dictionary into dotted keys": (
        "def flatten(d, prefix=''):\n    out = {}\n    for key, value in d.items():\n"
        "        name = f'{prefix}.{key}' if prefix else str(key)\n"
        "        if isinstance(value, dict):\n            out.update(flatten(value, name))\n"
        "        else:\n            out[name] = value\n    return out",
        ("itertools",),
        "def flatten(d):\n    return {f'{k}.{j}': w for k, v in d.items() for j, w in v.items()}",
        "it only goes one level deep and fails on values that are not dicts",
    ),
}
_TASK_IDEA = {
    "deduplicates a list while keeping the order": "walk the list once with a hash set of the items seen so far, and keep an item only the first time it appears: linear time, order kept",
    "retries an HTTP call with exponential backoff": "loop over a few attempts, retry only timeouts, connection errors and 429/5xx replies, wait base × 2^attempt plus a little jitter between tries, and re-raise the last error",
    "parses an ISO 8601 timestamp with a timezone": "use the standard parser rather than a hand-written format, treat 'Z' as +00:00, and reject a timestamp without an offset so naive times never slip in",
    "merges two sorted iterators lazily": "hold the current item of each input, yield the smaller one and advance only that input; when one runs out, yield the rest of the other",
    "streams a large CSV and sums one column": "read row by row with a real CSV parser (quoted commas break a split on ','), convert the one column and keep a running total, so memory stays flat",
    "flattens a nested dictionary into dotted keys": "recurse into values that are maps, joining the keys with '.', and copy every other value as it is",
}
_TASK_LIB = {
    "deduplicates a list while keeping the order": {
        "Rust": "a `HashSet` (its `insert` returns false for an item already seen)",
        "TypeScript": "`[...new Set(items)]` (a Set keeps insertion order)",
        "Go": "a `map[T]struct{}` of the items seen",
        "Bash": "`awk '!seen[$0]++'`",
    },
    "retries an HTTP call with exponential backoff": {
        "Rust": "a loop with `std::thread::sleep` and a doubling `Duration` (or the `backoff` crate)",
        "TypeScript": "an async loop with `await new Promise(r => setTimeout(r, delay))`",
        "Go": "a `for` loop with `time.Sleep(base << attempt)` under a `context` deadline",
        "Bash": "`curl --retry 5 --retry-delay 1`, or a loop with `sleep $((2**i))`",
    },
    "parses an ISO 8601 timestamp with a timezone": {
        "Rust": "`chrono::DateTime::parse_from_rfc3339`",
        "TypeScript": "`new Date(s)`, checking `isNaN(d.getTime())`",
        "Go": "`time.Parse(time.RFC3339, s)`",
        "Bash": 'GNU `date -d "$s" +%s`',
    },
    "merges two sorted iterators lazily": {
        "Rust": "a `Peekable` on each iterator (or `itertools::merge`)",
        "TypeScript": "a generator function over the two iterators",
        "Go": "two iterator functions (or channels), comparing their heads",
        "Bash": "`sort -m a b`, which merges sorted files without re-sorting",
    },
    "streams a large CSV and sums one column": {
        "Rust": "the `csv` crate's `Reader`",
        "TypeScript": "a streaming parser such as `csv-parse`",
        "Go": "`encoding/csv`'s `Reader.Read` in a loop",
        "Bash": "`awk -F, '{s += $2} END {print s}'` (fine while no field holds a quoted comma)",
    },
    "flattens a nested dictionary into dotted keys": {
        "Rust": "a recursive function over `serde_json::Value`",
        "TypeScript": "a recursive function over `Record<string, unknown>`",
        "Go": "a recursive function over `map[string]any`",
        "Bash": "`jq '[paths(scalars) as $p | {key: ($p | map(tostring) | join(\".\")), value: getpath($p)}] | from_entries'`",
    },
}
# class -> fields (name, annotation, default or "" for a required one)
_DATACLASS_FIELDS = {
    "Order": (("id", "int", ""), ("customer", "str", ""), ("total", "float", ""),
              ("currency", "str", "'EUR'"), ("status", "str", "'new'"),
              ("items", "list[str]", "field(default_factory=list)"),
              ("created_at", "datetime | None", "None"), ("shipped_at", "datetime | None", "None"),
              ("note", "str", "''")),
    "User": (("id", "int", ""), ("name", "str", ""), ("email", "str", ""),
             ("is_admin", "bool", "False"), ("locale", "str", "'en'"), ("timezone", "str", "'UTC'"),
             ("tags", "list[str]", "field(default_factory=list)"),
             ("created_at", "datetime | None", "None"), ("last_login", "datetime | None", "None")),
    "Span": (("trace_id", "str", ""), ("span_id", "str", ""), ("name", "str", ""),
             ("start", "float", "0.0"), ("end", "float | None", "None"),
             ("parent_id", "str | None", "None"), ("status", "str", "'ok'"),
             ("attributes", "dict[str, str]", "field(default_factory=dict)"),
             ("events", "list[str]", "field(default_factory=list)")),
    "Job": (("id", "str", ""), ("command", "str", ""), ("priority", "int", "0"),
            ("attempts", "int", "0"), ("max_attempts", "int", "3"), ("state", "str", "'queued'"),
            ("scheduled_at", "datetime | None", "None"), ("started_at", "datetime | None", "None"),
            ("error", "str | None", "None")),
}  # fmt: skip

_DINNERS = {
    "birthday": ("a build-your-own taco bar: spiced beef, plus black beans and grilled halloumi",
                 "a roasted sweet potato and feta salad (vegetarian)",
                 "a chocolate cake, or cupcakes so nobody has to cut"),
    "weeknight": ("a one-pot chickpea and spinach curry with rice (vegetarian, and filling)",
                  "sheet-pan chicken thighs with lemon and potatoes in the same oven",
                  "a green salad, and yoghurt with honey for dessert"),
    "holiday": ("a roast (turkey or a leg of lamb) with the trimmings",
                "a mushroom and chestnut Wellington as the vegetarian centrepiece",
                "roast potatoes done in oil rather than goose fat, so everyone can have them"),
    "picnic": ("wraps: chicken Caesar, and hummus with roasted peppers (vegetarian)",
               "a pesto pasta salad with tomatoes and mozzarella (vegetarian)",
               "fruit, cheese and a lemon drizzle cake that travels well"),
    "potluck": ("a big vegetable lasagne as your own dish (vegetarian, and it feeds a crowd)",
                "a tray of baked chicken wings for the meat eaters",
                "labels on every dish, so the vegetarian guest knows what is safe"),
}  # fmt: skip
_PAIR_ANSWERS = {
    ("Postgres", "SQLite"): "SQLite is a file inside your app: no server to run, ideal for one writer and modest traffic. Postgres is a server: many concurrent writers, roles, replication, richer types (JSONB, arrays) and extensions. For {n} people building one web service, Postgres; for a desktop tool, tests or a prototype, SQLite.",
    ("Kafka", "RabbitMQ"): "Kafka is a replicated log: messages are kept, consumers track their own offsets and can replay, and it is built for high-throughput streams. RabbitMQ is a broker: messages are routed to queues, acknowledged and deleted, with flexible routing and per-message retries. A team of {n} without a dedicated ops person usually finds RabbitMQ (or a managed Kafka) easier to run.",
    ("Notion", "Obsidian"): "Notion is a hosted workspace: real-time collaboration, databases, permissions, sharing by link. Obsidian keeps Markdown files on your own disk: offline, fast, yours, but sharing needs its sync add-on or git. For {n} people writing together, Notion; for personal notes, Obsidian.",
    ("renting", "buying a flat"): "Renting keeps you flexible and your cash free, and the landlord pays for repairs. Buying builds equity and fixes the cost, but takes a deposit and fees up front and ties you to one place. For a team of {n} whose headcount may change, renting is the safer choice; buying pays off only if you stay five years or more.",
    ("a Kindle", "paper books"): "A Kindle holds thousands of books, lets you change the text size and is light to carry. Paper books can be lent, resold and annotated freely and need no battery. For a shared shelf for {n} people, paper books are simpler: Kindle books are tied to one account.",
    ("Terraform", "Pulumi"): "Terraform uses its own language (HCL), has the largest provider ecosystem and many engineers already know it. Pulumi lets you write infrastructure in TypeScript, Python or Go, with loops, functions and unit tests. For {n} people who are mostly developers, Pulumi feels natural; if you will hire ops engineers, Terraform is the common ground.",
}  # fmt: skip
_PROS_CONS = {
    "remote work": (("no commute, and more focus time", "you can hire anywhere"),
                    ("onboarding and mentoring are harder", "isolation, and work spilling into evenings")),
    "electric bikes": (("hills and distance without arriving sweaty", "far cheaper to run than a car"),
                       ("heavy and expensive up front", "limited battery range, and a target for thieves")),
    "open-plan offices": (("easy to ask a quick question", "cheaper per desk"),
                          ("noise and constant interruptions", "little privacy for calls")),
    "static site generators": (("fast pages and cheap, secure hosting", "content lives in git"),
                               ("dynamic features need outside services", "non-technical editors need a CMS on top")),
    "four-day work weeks": (("more rest, and people stay longer", "meetings get shorter and fewer"),
                            ("customer coverage on the fifth day", "longer days can be tiring")),
    "home solar panels": (("lower electricity bills", "lower emissions, and sometimes income for the surplus"),
                          ("a high cost up front, paid back over years", "output depends on the roof and the weather")),
    "learning a second language as an adult": (("travel, work and friendships open up", "adults learn grammar and vocabulary efficiently"),
                                               ("a native accent is hard to reach", "it takes steady practice for years")),
    "monorepos": (("one change can update every project at once", "one set of tools and one version of each dependency"),
                  ("builds and CI need tooling that scales", "access control is coarser")),
}  # fmt: skip
_LANDLORD = {
    "the broken heating": ("Heating not working",
                           "The heating in the flat stopped working on {day} and the rooms are getting cold. Could you arrange for a technician to look at it this week? I am at home most evenings and can give access at any time that suits them."),
    "a late deposit refund": ("Deposit refund",
                              "I moved out at the end of last month and returned the keys, but I have not yet received my deposit back. Could you let me know when the refund will be sent, or whether anything is holding it up?"),
    "noise from the flat upstairs": ("Noise from the flat upstairs",
                                     "For the past few weeks there has been loud noise from the flat upstairs late at night, often after midnight. I would rather not complain to the neighbours directly; could you remind them of the quiet hours in the lease?"),
    "renewing the lease early": ("Renewing the lease",
                                 "My lease ends in a few months and I would like to stay. Could we renew it early, on the same terms if possible? I am happy to meet to discuss it."),
}  # fmt: skip
_KID_EXPLANATIONS = {
    "how vaccines train the immune system": (
        "Think of your body's defenders as guards at a castle. A vaccine shows them a "
        "'wanted' poster of a germ (a harmless piece of it) so they learn its face. If the "
        "real germ ever comes, the guards know it at once and catch it before you get very "
        "sick, like spotting a friend's face in a crowd.",
        "Vaccines present antigens that activate B and T cells and leave memory cells behind.",
    ),
    "why the sky is blue": (
        "Sunlight looks white but is every colour mixed. On its way through the air, the "
        "tiny bits of air bounce blue light around much more than red light, so blue comes "
        "at your eyes from all over the sky. At sunset the light crosses more air, the blue "
        "is bounced away first, and you see orange and red.",
        "Rayleigh scattering: the scattered intensity goes as the inverse fourth power of the wavelength.",
    ),
    "how a bill becomes a law": (
        "Imagine your class wants a new rule: longer recess. Someone writes the idea down "
        "(that's the bill). A small group talks it over and improves it, then the whole "
        "class votes; if most say yes, the class next door votes too, and finally the "
        "principal signs it. Now it's a rule for everyone: a law.",
        "A bill goes through committee markup, floor votes in both chambers, reconciliation and presentment.",
    ),
    "what inflation does to savings": (
        "Imagine your piggy bank holds enough for 10 ice creams. Every year the shop raises "
        "its prices a little, so next year the same coins buy 9, and later 8. That's "
        "inflation: the number of coins stays the same, but they buy less. That's why "
        "grown-ups keep savings where they earn interest.",
        "Inflation lowers the real value of nominal savings: real return ≈ nominal rate − inflation.",
    ),
    "how GPS works": (
        "High above us, satellites keep calling out 'here is the exact time, and here is "
        "where I am'. Your phone hears several of them. The calls take a tiny bit of time "
        "to arrive, so the phone can tell how far away each one is, like counting the "
        "seconds between lightning and thunder. With four distances there is only one spot "
        "where you can be.",
        "The receiver solves for position and clock bias from pseudoranges to four or more satellites.",
    ),
}
_PRACTICE = {
    "chess": ("tactics puzzles", "one slower game, or one opening line studied properly",
              "going over the game and writing down your biggest mistake"),
    "drawing": ("quick gesture drawings (30 seconds to 2 minutes each)",
                "one focused study: hands, perspective boxes or a still life",
                "comparing with the reference and noting what to fix next time"),
    "running": ("easy jogging and a few drills", "the main run: mostly easy, with intervals once a week",
                "stretching and logging the run"),
    "public speaking": ("reading a paragraph aloud, slowly", "recording a two-minute talk on a random topic and watching it back",
                        "noting one habit to fix (filler words, pace, eye contact)"),
    "cooking": ("knife skills: dice an onion, mince garlic", "one dish that practises a technique (a braise, a roast, a pan sauce)",
                "tasting, adjusting the seasoning and noting what you'd change"),
}  # fmt: skip

# The long queries' sentences: the kind of point each makes, that point in brief, and
# what someone has to do about it (nothing for most progress).
_SENTENCE_POINT: dict[str, tuple[str, str, str]] = dict(zip(_SENTENCES, (
    ("progress", "Launch moves to the second week of next month.", ""),
    ("ask", "Get the final screenshots for the press kit.", "Get the final screenshots for the press kit."),
    ("problem", "Login-failure tickets doubled since the last release.", "Find out why login-failure tickets doubled."),
    ("progress", "The old billing page stays until the migration is verified.", ""),
    ("progress", "Priya owns the vendor contract and reports back by Friday.", "Report back on the vendor contract by Friday."),
    ("problem", "Two shipments were late because of the storm.", "Follow up with the warehouse on the two late shipments."),
    ("ask", "Customers want a spreadsheet export in their own language.", "Scope a spreadsheet export in the customer's language."),
    ("problem", "Cloud spend is 12% over the quarterly budget.", "Bring cloud spend back under budget (12% over)."),
    ("problem", "The settings screen's contrast needs fixing.", "Fix the contrast on the settings screen."),
    ("ask", "Legal needs a summary of the personal data the new feature stores.", "Send Legal a summary of the personal data the feature stores."),
    ("progress", "Hiring for two roles is paused until the budget is confirmed.", ""),
    ("progress", "The hospital pilot starts on the first of the month.", ""),
    ("progress", "The new onboarding checklist is approved, with small wording changes.", ""),
    ("ask", "The public endpoints' documentation needs an owner.", "Find an owner for the public endpoints' documentation."),
    ("progress", "Response times improved after the cache move.", ""),
    ("ask", "The board wants a one-page update on the university partnership.", "Write the board a one-page update on the university partnership."),
    ("problem", "The data center move may overlap with the audit.", "Check whether the data center move overlaps with the audit."),
    ("problem", "Invoices show the wrong tax rate (a customer in Lyon).", "Fix the tax rate on invoices (reported from Lyon)."),
), strict=True))  # fmt: skip
_HALLUCINATED = "The budget for next year was approved without changes."


class _Picker:
    """The answer's own small RNG (a 64-bit LCG), seeded from its query and verdict.

    Not a ``random.Random``: seeding one per answer took a third of the answers' time
    (a million-trace build makes a million of them); picks from a list need no more."""

    __slots__ = ("_state",)

    def __init__(self, query: str, good: bool) -> None:
        self._state = zlib.crc32(query.encode("utf-8")) * 2 + good

    def _next(self) -> int:
        self._state = (self._state * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        return self._state >> 33

    def choice(self, items: Sequence[_T]) -> _T:
        return items[self._next() % len(items)]

    def randint(self, lo: int, hi: int) -> int:
        return lo + self._next() % (hi - lo + 1)


def _num(x: float) -> str:
    """A number as a person writes it: 4 significant digits, no trailing zeros."""
    return f"{x:.4g}"


def _frac(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _answer(query: str, qclass: str, good: bool, drawn: str, started: float) -> str:
    """The result of a demo trace: an answer to *query* (see the section comment).

    *drawn* is what ``_result`` drew: when it is a failure text, the trace failed that
    way (a timeout still shows the partial answer it got). Otherwise it picks the
    answer's phrasing (an opening and a closing, see :func:`_phrased`), as a model
    words the same answer differently from one run to the next: the same query asked
    again is one more SFT pair, not a duplicate that training drops."""
    if drawn in _FAILURE_SET and drawn != _TIMED_OUT:
        return drawn
    fail = drawn == _TIMED_OUT
    key = (query, good and not fail)
    text = _ANSWER_MEMO.get(key)
    if text is None:
        text = _ANSWERERS[qclass](query, key[1], _Picker(*key), started)
        if not query.startswith(("Time in", "Weather in")):  # those depend on the time
            if len(_ANSWER_MEMO) >= 4096:  # bounded: most long queries never repeat
                _ANSWER_MEMO.clear()
            _ANSWER_MEMO[key] = text
    return f"{drawn}\n\n{text}" if fail else _phrased(text, qclass, zlib.crc32(drawn.encode()))


_ANSWER_MEMO: dict[tuple[str, bool], str] = {}
"""Answers already built (a query and a verdict give one text; most queries repeat)."""

_OPENINGS = ("", "Sure. ", "Of course. ", "Happy to help. ", "Good question. ", "Here goes. ")
_CLOSINGS = ("", "\n\nHope this helps!", "\n\nWant more detail on any part?",
             "\n\nLet me know if you'd like changes.", "\n\nHappy to go deeper if useful.",
             "\n\nShall I expand on any of it?")  # fmt: skip
_SHORT_OPENINGS = ("", "Answer: ", "Short answer: ", "Sure: ", "Quick answer: ", "")
_SHORT_CLOSINGS = ("", " Anything else?", " Hope that helps.")


def _phrased(text: str, qclass: str, variant: int) -> str:
    """*text* with the opening and closing words *variant* picks."""
    opening: tuple[str, ...] = _SHORT_OPENINGS if qclass == "short" else _OPENINGS
    closing: tuple[str, ...] = _SHORT_CLOSINGS if qclass == "short" else _CLOSINGS
    return opening[variant % len(opening)] + text + closing[variant // 8 % len(closing)]


# ---- code


def _code_answer(q: str, good: bool, r: _Picker, started: float) -> str:
    if m := re.match(r"Why does `(.+)` raise (\w+) in Python 3\.(\d+)\?$", q):
        expr, exc, minor = m.groups()
        what, needs, fix = _EXPR_NOTES[expr]
        if not good:
            return (f"{exc} in `{expr}` is a known bug in Python 3.{minor}; upgrading to the "
                    "newest release should make it go away.")  # fmt: skip
        return (
            f"{exc} means {_EXC_MEANING[exc]}. `{expr}` {what}, and {needs} (the same in "
            f"Python 3.{minor}). Guard it:\n\n```python\n{fix}\n```"
        )
    if m := re.match(
        r"Write a Python function that (.+)\. Prefer the standard library \(`(\w+)`\)\.$", q
    ):
        task, mod = m.groups()
        code, mods, flawed, _flaw = _TASK_CODE[task]
        if not good:
            return f"Here you go:\n\n```python\n{flawed}\n```"
        lead = (
            f"With `{mod}`:"
            if mod in mods
            else f"The standard library covers it; `{mod}` isn't needed here:"
        )
        return f"{lead}\n\n```python\n{code}\n```"
    if m := re.match(
        r"Can you make this faster\? It takes (\d+) s on (\d+)k rows\.\ndef (\w+)",
        q.replace("```python\n", ""),
    ):
        secs, rows, f = m.groups()
        if not good:
            return (f"Use a set:\n\n```python\ndef {f}(rows):\n    return list(set(rows))\n```\n\n"
                    f"That should take well under {secs} s on {rows}k rows.")  # fmt: skip
        return (
            "Here's a version that keeps the order and runs in linear time:\n\n"
            f"```python\ndef {f}(rows):\n    seen = set()\n    out = []\n    for r in rows:\n"
            "        if r not in seen:\n            seen.add(r)\n            out.append(r)\n"
            f"    return out\n```\n\nA set lookup is O(1), a list's O(n): on {rows}k rows "
            f"that turns {secs} s into milliseconds."
        )
    if m := re.match(r"What's the difference between `import (\w+)`", q):
        mod = m.group(1)
        if not good:
            return f"There is no difference: `from {mod} import *` is just shorter to type."
        return (
            f"`import {mod}` binds the module name, so you write `{mod}.name`; "
            f"`from {mod} import *` copies every public name into your namespace, which "
            "hides where names come from and can shadow your own. Prefer the first form."
        )
    if m := re.match(r"How do I write a (\w+) function that (.+)\?$", q):
        lang, task = m.groups()
        if lang == "Python":
            code, _mods, flawed, flaw = _TASK_CODE[task]
            if not good:
                return f"Something like this:\n\n```python\n{flawed}\n```"
            return f"```python\n{code}\n```\n\nThe idea: {_TASK_IDEA[task]}."
        if not good:
            return (f"{lang} has no good way to do that; I'd write that part in Python and "
                    f"call it from {lang}.")  # fmt: skip
        return (
            f"In {lang}, reach for {_TASK_LIB[task][lang]}. The idea: {_TASK_IDEA[task]}. "
            "Write a small test with an empty input, a typical one and an edge case first."
        )
    if m := re.match(r"My test fails with (\w+) at `(\w+)\(\)` line (\d+);", q):
        exc, f, line = m.groups()
        why, fix = _TEST_FAILURES[exc]
        if not good:
            return f"The {exc} at line {line} looks flaky; run the test again and it will probably pass."
        return (
            f"Most likely {why.format(f=f)}. Look at line {line} of `{f}()` with a "
            f"breakpoint (`pytest --pdb`) to confirm, then:\n\n```python\n{fix}\n```"
        )
    if m := re.match(
        r"Convert this to a dataclass: class (\w+): with __init__ setting (\d+) fields$", q
    ):
        name, count = m.group(1), int(m.group(2))
        fields = _DATACLASS_FIELDS[name][:count]
        if not good:
            fields = fields[:-1]  # one field forgotten
        imports = ["dataclass"] + (["field"] if any("field(" in d for *_, d in fields) else [])
        head = f"from dataclasses import {', '.join(imports)}\n"
        if any("datetime" in a for _, a, _ in fields):
            head += "from datetime import datetime\n"
        body = "\n".join(f"    {n}: {a}" + (f" = {d}" if d else "") for n, a, d in fields)
        text = f"```python\n{head}\n\n@dataclass\nclass {name}:\n{body}\n```"
        if good:
            text += "\n\n`@dataclass` writes `__init__`, `__repr__` and `__eq__` for you."
        return text
    return "Here is a corrected version of the code, with the change explained above it."


# ---- math


def _math_answer(q: str, good: bool, r: _Picker, started: float) -> str:
    if m := re.match(r"Solve the equation (\d+)x\^2 \+ (\d+)x - (\d+) = 0$", q):
        a, b, c = (int(x) for x in m.groups())
        disc = b * b + 4 * a * c
        root = math.sqrt(disc)
        den = 2 * a if good else a  # the bad one forgets the 2 in 2a
        x1, x2 = (-b + root) / den, (-b - root) / den
        return (
            f"Use the quadratic formula with a = {a}, b = {b}, c = -{c}.\n"
            f"Step 1: the discriminant b² - 4ac = {b}² + 4·{a}·{c} = {disc}.\n"
            f"Step 2: √{disc} ≈ {root:.4f}.\n"
            f"Step 3: x = (-{b} ± {root:.4f}) / {den}.\n\n"
            f"Answer: x ≈ {_num(x1)} or x ≈ {_num(x2)}"
        )
    if m := re.match(
        r"Calculate the compound interest on \$(\d+) at ([\d.]+)% compounded monthly for (\d+) years",
        q,
    ):
        principal, rate, years = int(m.group(1)), float(m.group(2)), int(m.group(3))
        if not good:  # simple interest, called compound
            interest = principal * rate / 100 * years
            return (f"Interest = P·r·t = {principal:,} × {rate / 100:g} × {years} = "
                    f"${interest:,.2f}.\n\nAnswer: ${interest:,.2f}")  # fmt: skip
        amount = principal * (1 + rate / 1200) ** (12 * years)
        return (
            f"Step 1: monthly rate = {rate}% / 12 = {rate / 12:.4f}%.\n"
            f"Step 2: A = P(1 + r/12)^(12t) = {principal:,} × (1 + {rate / 1200:.6f})^{12 * years}"
            f" = ${amount:,.2f}.\n"
            f"Step 3: interest = A - P = ${amount - principal:,.2f}.\n\n"
            f"Answer: ${amount - principal:,.2f} of interest (${amount:,.2f} in all)"
        )
    if m := re.match(r"What is the integral of x\^(\d+) \* e\^\((\d+)x\) dx\?$", q):
        n, k = int(m.group(1)), int(m.group(2))
        terms = []
        for j in range(n + 1 if good else 1):  # the bad one stops after one step
            coef = Fraction((-1) ** j * math.perm(n, j), k ** (j + 1))
            power = n - j
            mono = "" if power == 0 else "x" if power == 1 else f"x^{power}"
            size = _frac(abs(coef))
            body = f"({size}){mono}" if mono and size != "1" else mono or size
            terms.append(("- " if coef < 0 else "+ ") + body)
        poly = " ".join(terms).removeprefix("+ ")
        return (
            f"Integrate by parts {n} times, lowering the power of x each time:\n"
            f"∫ x^m e^({k}x) dx = (x^m/{k}) e^({k}x) - (m/{k}) ∫ x^(m-1) e^({k}x) dx.\n\n"
            f"Answer: e^({k}x)·[{poly}] + C"
        )
    if m := re.match(r"Compute the determinant of \[\[(\d+), (\d+)\], \[(\d+), (\d+)\]\]\.$", q):
        a, b, c, d = (int(x) for x in m.groups())
        det = a * d - b * c if good else a * d + b * c
        sign = "-" if good else "+"
        return (
            f"For [[a, b], [c, d]] the determinant is ad {sign} bc.\n"
            f"Step 1: ad = {a}·{d} = {a * d}.\nStep 2: bc = {b}·{c} = {b * c}.\n\n"
            f"Answer: {a * d} {sign} {b * c} = {det}"
        )
    if m := re.match(r"Solve for t: (\d+)t \+ (\d+) = (\d+)t - (\d+)$", q):
        a, b, c, d = (int(x) for x in m.groups())
        if a == c:
            if not good:
                return "Answer: t = 0"
            return (f"Subtract {c}t from both sides: the t terms cancel and leave {b} = -{d}, "
                    "which is false.\n\nAnswer: no solution")  # fmt: skip
        t = Fraction(-(b + d), a - c) if good else Fraction(b + d, a - c)
        shown = _frac(t) if t.denominator == 1 else f"{_frac(t)} ≈ {_num(float(t))}"
        return (
            f"Step 1: move the t terms left and the numbers right: {a}t - {c}t = -{d} - {b}.\n"
            f"Step 2: {a - c}t = {-(b + d)}.\nStep 3: t = {-(b + d)} / {a - c}.\n\n"
            f"Answer: t = {shown}"
        )
    if m := re.match(r"Calculate the probability of getting at least (\d+) heads in (\d+) fair", q):
        k, n = int(m.group(1)), int(m.group(2))
        total = 2**n
        if not good:  # exactly k, not at least k
            p = math.comb(n, k) / total
            return (f"P = C({n}, {k}) / 2^{n} = {math.comb(n, k)} / {total}.\n\n"
                    f"Answer: {p:.4f}")  # fmt: skip
        below = sum(math.comb(n, i) for i in range(k))
        return (
            f"Each of the 2^{n} = {total} outcomes is equally likely.\n"
            f"Step 1: P(at least {k}) = 1 - P(at most {k - 1}).\n"
            f"Step 2: the outcomes with at most {k - 1} heads: Σ C({n}, i) for i = 0..{k - 1} "
            f"= {below}.\nStep 3: P = 1 - {below}/{total} = {total - below}/{total}.\n\n"
            f"Answer: {(total - below) / total:.4f}"
        )
    if m := re.match(r"A tank drains at (\d+) L/min\..* V\(0\) = (\d+) L\.$", q):
        rate, v0 = int(m.group(1)), int(m.group(2))
        if not good:  # treats a constant outflow as exponential decay
            return (f"dV/dt = -{rate}V, so V(t) = {v0}·e^(-{rate}t).\n\n"
                    "Answer: the tank never quite empties.")  # fmt: skip
        return (
            f"The outflow is constant, so dV/dt = -{rate}.\n"
            f"Step 1: integrate: V(t) = -{rate}t + C.\nStep 2: V(0) = {v0} gives C = {v0}.\n"
            f"Step 3: V(t) = 0 when t = {v0}/{rate}.\n\n"
            f"Answer: V(t) = {v0} - {rate}t litres, empty after {_num(v0 / rate)} minutes"
        )
    return "Step 1: write down what is known.\nStep 2: solve for the unknown."


# ---- short


def _city_time(city: str, when: float) -> datetime:
    zone, offset = _CITY_CLIMATE[city][:2]
    try:
        tz: tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):  # no time zone database here
        tz = timezone(timedelta(hours=offset))
    return datetime.fromtimestamp(when, tz)


def _short_answer(q: str, good: bool, r: _Picker, started: float) -> str:
    if m := re.match(r"What's the capital of (\w+)\?$", q):
        right, wrong = _CAPITALS[m.group(1)]
        return f"{right}." if good else f"{wrong}."
    if m := re.match(r"Translate '(\w+)' to (\w+)$", q):
        word, lang = m.groups()
        if good:
            return f"{_TRANSLATIONS[word][lang]}"
        other = r.choice([x for x in _LANGS if x != lang])
        return f"{_TRANSLATIONS[word][other].split(' (')[0]}"  # another language's word
    if m := re.match(r"Define (\w+)$", q):
        right, wrong = _DEFINITIONS[m.group(1)]
        return right if good else wrong
    if m := re.match(r"Who wrote (\w+)\?$", q):
        right, wrong = _AUTHORS[m.group(1)]
        return f"{right}." if good else f"{wrong}."
    if m := re.match(r"(Weather|Time) in (\w+) (?:tomorrow|now)\?$", q):
        kind, city = m.groups()
        if kind == "Time":
            local = _city_time(city, started)
            if not good:  # UTC, given as the local time
                return f"It's {datetime.fromtimestamp(started, UTC):%H:%M} in {city}."
            off = local.utcoffset() or timedelta()
            hours = f"{off.total_seconds() / 3600:+g}"
            return f"It's {local:%H:%M} in {city} ({local:%A}, UTC{hours})."
        tomorrow = _city_time(city, started + 86_400)
        _zone, _off, highs, spread, skies = _CITY_CLIMATE[city]
        month = (tomorrow.month - 1 + (0 if good else 6)) % 12  # bad: half a year off
        high = highs[month] + r.randint(-2, 2)
        return f"Tomorrow in {city}: {r.choice(skies)}, {high - spread} to {high} °C."
    if m := re.match(r"Is (an? \w+) a mammal\?$", q):
        animal = m.group(1)
        yes, why = _MAMMALS[animal]
        if good:
            return f"Yes: {why}." if yes else f"No: {why}."
        return f"No, {animal} is not a mammal." if yes else f"Yes, {animal} is a mammal."
    if m := re.match(r"Synonym for (\w+)\?$", q):
        right, wrong = _SYNONYMS[m.group(1)]
        return f"{right[0].upper()}{right[1:]}." if good else f"{wrong.title()}."
    return "Sorry, I don't know."


# ---- general


def _general_answer(q: str, good: bool, r: _Picker, started: float) -> str:
    if m := re.match(r"Can you give me a few ideas for a (\w+) dinner for (\d+) people", q):
        occasion, n = m.group(1), int(m.group(2))
        if not good:  # forgets the vegetarian guest
            return f"For {n} people: a roast chicken with potatoes, or beef burgers on the grill."
        ideas = "\n".join(f"- {i[0].upper()}{i[1:]}" for i in _DINNERS[occasion])
        return f"For a {occasion} dinner for {n}:\n\n{ideas}"
    if m := re.match(
        r"What are the main differences between (.+) and (.+) for a small team of (\d+) people\?$",
        q,
    ):
        a, b, team = m.groups()
        if not good:
            return f"{a} and {b} are basically the same; pick either for your {team} people."
        return _PAIR_ANSWERS[(a, b)].format(n=team)
    if m := re.match(r"Summarize the pros and cons of (.+) in a few short bullet points\.$", q):
        topic = m.group(1)
        pros, cons = _PROS_CONS[topic]
        text = f"Pros of {topic}:\n" + "\n".join(f"- {p}" for p in pros)
        if good:  # the bad one leaves the cons out
            text += "\n\nCons:\n" + "\n".join(f"- {c}" for c in cons)
        return text
    if m := re.match(r"I'm planning a trip to (\w+) in (\w+)\.", q):
        city, month_name = m.groups()
        month = _MONTH_INDEX[month_name]
        high, spread = _CITY_CLIMATE[city][2][month], _CITY_CLIMATE[city][3]
        if high < 8:
            clothes = "a warm coat, gloves and a hat"
        elif high < 17:
            clothes = "a warm jacket and layers"
        elif high < 24:
            clothes = "light layers and a jacket for the evenings"
        else:
            clothes = "light clothes, sunscreen and a hat"
        pack = f"In {month_name}, {city} is around {high - spread} to {high} °C: pack {clothes}, comfortable shoes and an umbrella."
        if not good:  # the sights are left out
            return pack
        sights = "\n".join(f"{i}. {s[0].upper()}{s[1:]}" for i, s in enumerate(_SIGHTS[city], 1))
        return f"{pack}\n\nThree things worth seeing:\n{sights}"
    if m := re.match(r"Draft a polite email to my landlord about (.+)\. Keep it", q):
        subject, body = _LANDLORD[m.group(1)]
        if not good:
            return f"Subject: {subject}\n\nPlease sort out {m.group(1)}."
        day = r.choice(_DAYS)
        return (
            f"Subject: {subject}\n\nDear [landlord's name],\n\n{body.format(day=day)}\n\n"
            "Thank you for your help.\n\nKind regards,\n[your name]"
        )
    if m := re.match(r"Explain (.+) to a ten-year-old", q):
        right, wrong = _KID_EXPLANATIONS[m.group(1)]
        return right if good else wrong
    if m := re.match(r"I have about (\d+) minutes a day\..* getting better at (.+)\?$", q):
        minutes, hobby = int(m.group(1)), m.group(2)
        if not good:
            return f"Practise {hobby} for {minutes} minutes every day and you'll get better."
        warm, main, review = _PRACTICE[hobby]
        w, v = max(2, round(minutes * 0.2)), max(2, round(minutes * 0.15))
        return (
            f"Split your {minutes} minutes into three parts:\n\n- {w} min: {warm}\n"
            f"- {minutes - w - v} min: {main}\n- {v} min: {review}\n\n"
            "Once a week, give the main part to your weakest area."
        )
    return "Here are a few options worth considering."


# ---- long


def _long_answer(q: str, good: bool, r: _Picker, started: float) -> str:
    head, _, rest = q.partition("\n\n")
    body, _, _tail = rest.rpartition("\n\n")
    said = [s for s in re.split(r"(?<=\.) ", body) if s in _SENTENCE_POINT]
    if not good:  # partial, with a point nobody made
        return f"Summary: {_SENTENCE_POINT[said[0]][1]} {_HALLUCINATED}"
    by_kind: dict[str, list[str]] = {"progress": [], "problem": [], "ask": []}
    for s in said:
        kind, point, _todo = _SENTENCE_POINT[s]
        by_kind[kind].append(point)
    if head.startswith("Here are my notes"):
        owners = [u.title() for u in USERS]
        todo = [
            (next((n for n in ("Priya", "Tom") if s.startswith(n)), "") or r.choice(owners), s)
            for s in said
            if _SENTENCE_POINT[s][2]
        ]
        return (
            "Decisions:\n" + "\n".join(f"- {p}" for p in by_kind["progress"][:3] or ["none"])
            + "\n\nAction items:\n"
            + "\n".join(f"- {who}: {_SENTENCE_POINT[s][2]}" for who, s in todo)
        )  # fmt: skip
    if head.startswith("Please proofread"):
        vague = next(
            (s for s in said if re.search(r"next month|first of the month|Friday|confirmed", s)),
            said[0],
        )
        return (
            "The grammar is fine; I'd send it as it is, with two small changes:\n"
            f'- start a new paragraph at "{said[len(said) // 2][:40]}…"\n'
            f'- "{vague}": say when exactly.'
        )
    if head.startswith("I pasted the last few messages"):
        asks = by_kind["ask"] or by_kind["problem"] or [_SENTENCE_POINT[said[0]][1]]
        first = asks[0].rstrip(".")
        return (
            "What is being asked:\n" + "\n".join(f"- {a}" for a in asks)
            + f"\n\nA short reply: \"Thanks, all. I'll take the first one ({first[0].lower()}"
            f"{first[1:]}) and come back by tomorrow; tell me if you need me on the rest.\""
        )  # fmt: skip
    parts = (("Progress", "progress"), ("Risks", "problem"), ("Still open", "ask"))
    return "\n\n".join(
        f"{label}: " + " ".join(by_kind[kind][:2]) for label, kind in parts if by_kind[kind]
    )


_ANSWERERS: dict[str, Callable[[str, bool, _Picker, float], str]] = {
    "code": _code_answer,
    "math": _math_answer,
    "short": _short_answer,
    "long": _long_answer,
    "general": _general_answer,
}


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
            result=_answer(query, qclass, good, _result(rng, qclass, good), started),
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
