"""Scorers: how close an answer is to its reference, as a score in [0, 1].

* ``rouge`` (the offline default): ROUGE-L F-measure as Google's ``rouge-score`` package
  defines it (the implementation the summarisation literature reports), with stemming:
  its tokenizer and stemmer, and rapidfuzz's C longest-common-subsequence.
* ``f1``: token F1 (unigram overlap, ROUGE-1 F-measure without stemming): SQuAD-style
  answer overlap.
* ``exact`` / ``contains``: for short answers, after normalising case, whitespace and
  punctuation.
* ``judge``: an LLM over any OpenAI-compatible endpoint grades the answer with a rubric
  and says why (:class:`JudgeScorer`).

A scorer returns a :class:`Score`; when it cannot score (the judge is down, its reply is
unreadable) the score is ``None`` with an error, which counts as an error and never as 0.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from typing import Any, Optional, Protocol

SCORERS = ("rouge", "f1", "exact", "contains", "judge")

#: Characters of an answer or reference a scorer looks at (the rest is cut).
SCORE_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Score:
    """A score in [0, 1] with a reason, or None with an error."""

    value: Optional[float]
    reason: str = ""
    error: Optional[str] = None


class Scorer(Protocol):
    name: str

    def score(self, query: str, reference: str, answer: str) -> Score: ...


_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD's normalisation)."""
    text = text.casefold().translate(_PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


class _CachedStemmer:
    """rouge-score's Porter stemmer, remembering each word's stem (answers repeat words)."""

    def __init__(self) -> None:
        from functools import lru_cache

        from nltk.stem import porter

        self.stem = lru_cache(maxsize=65_536)(porter.PorterStemmer().stem)


class RougeScorer:
    """ROUGE-L (``rouge``) or ROUGE-1 token F1 (``f1``) F-measure against the reference.

    Tokens come from rouge-score's own tokenizer (lower case, alphanumeric words, Porter
    stems for ``rouge``), so scores equal ``rouge_score.RougeScorer``'s to the last bit
    (tested); the longest common subsequence is computed by rapidfuzz in C instead of
    rouge-score's pure-Python table, 16× faster on 50-word answers.
    """

    def __init__(self, kind: str = "rouge") -> None:
        from rouge_score import tokenize

        if kind not in ("rouge", "f1"):
            raise ValueError(f"unknown reference scorer {kind!r}")
        self.name = kind
        self._tokenize = tokenize.tokenize
        self._stemmer = _CachedStemmer() if kind == "rouge" else None

    def tokens(self, text: str) -> list[str]:
        return self._tokenize(text[:SCORE_CHARS], self._stemmer)

    def score(self, query: str, reference: str, answer: str) -> Score:
        if not reference.strip():
            return Score(None, error="the sample has no reference answer")
        ref, ans = self.tokens(reference), self.tokens(answer)
        if not ref or not ans:
            return Score(0.0, "no words in common")
        if self.name == "rouge":
            from rapidfuzz.distance import LCSseq

            overlap = LCSseq.similarity(ref, ans)
        else:
            from collections import Counter

            overlap = sum((Counter(ref) & Counter(ans)).values())
        if overlap == 0:
            return Score(0.0, "no words in common")
        precision, recall = overlap / len(ans), overlap / len(ref)
        f = 2 * precision * recall / (precision + recall)
        label = "ROUGE-L" if self.name == "rouge" else "token F1"
        return Score(f, f"{label} {f:.3f} (precision {precision:.2f}, recall {recall:.2f})")


class ExactScorer:
    """1 when the normalised answer equals (``exact``) or contains (``contains``) the
    normalised reference, else 0."""

    def __init__(self, kind: str = "exact") -> None:
        if kind not in ("exact", "contains"):
            raise ValueError(f"unknown short-answer scorer {kind!r}")
        self.name = kind

    def score(self, query: str, reference: str, answer: str) -> Score:
        ref = normalise(reference[:SCORE_CHARS])
        if not ref:
            return Score(None, error="the sample has no reference answer")
        got = normalise(answer[:SCORE_CHARS])
        hit = got == ref if self.name == "exact" else ref in got
        return Score(1.0 if hit else 0.0, "matches" if hit else "does not match")


JUDGE_RUBRIC = """You grade an AI assistant's answer against a reference answer.

Score from 0 to 1:
- 1.0: correct and complete; says what the reference says (wording may differ)
- 0.7: correct in substance, with minor omissions or extra noise
- 0.4: partly correct, or correct but missing something important
- 0.0: wrong, off-topic, or empty

Answer with ONE fenced ```json block: {"score": <number 0..1>, "reason": "<one sentence>"}"""


class JudgeScorer:
    """An LLM judge over an OpenAI-compatible endpoint (any object with ``generate``).

    The rubric prompt's hash (:attr:`prompt_hash`) names the judge with its model, so
    judge scores made with another rubric are never mixed with these.
    """

    name = "judge"

    def __init__(self, backend: Any, model: str, *, rubric: str = JUDGE_RUBRIC) -> None:
        self.backend = backend
        self.model = model
        self.rubric = rubric
        self.prompt_hash = hashlib.sha256(rubric.encode("utf-8")).hexdigest()[:12]

    def prompt(self, query: str, reference: str, answer: str) -> str:
        return (
            f"## Question\n{query[:SCORE_CHARS]}\n\n## Reference answer\n"
            f"{reference[:SCORE_CHARS]}\n\n## Assistant's answer\n{answer[:SCORE_CHARS]}\n"
        )

    def score(self, query: str, reference: str, answer: str) -> Score:
        try:
            reply = self.ask(query, reference, answer)
        except Exception as exc:  # the endpoint's one-line error: an error, never a 0
            return self.failed(exc)
        return parse_judge_reply(reply)

    def ask(self, query: str, reference: str, answer: str) -> Any:
        """The judge's raw reply for one item (what the backend raises, it raises)."""
        return self.backend.generate(
            self.prompt(query, reference, answer),
            model=self.model,
            system=self.rubric,
            temperature=0.0,
            max_tokens=256,
        )

    def failed(self, exc: Exception) -> Score:
        """The item's score when asking the judge raised *exc*: missing, with why."""
        return Score(None, error=_one_line(f"judge failed: {exc}"))


def parse_judge_reply(reply: Any) -> Score:
    """The judge's ``{"score", "reason"}``; a reply without a usable score is an error."""
    from jarvis_tui.learning.optimize.llm_optimizer import _parse_json_object

    text = reply if isinstance(reply, str) else ""
    data = _parse_json_object(text) if text.strip() else None
    value: Any = None
    reason = ""
    if isinstance(data, dict):
        value = data.get("score")
        given = data.get("reason")
        reason = given if isinstance(given, str) else ""
    else:
        m = re.search(r"\bscore\s*[:=]\s*([01](?:\.\d+)?)\b", text, re.IGNORECASE)
        if m:
            value = m.group(1)
            # "Score: 0.8 because …": the rest of the reply is the reason (kept as text;
            # the screen shows it literally), without the separators around the score
            rest = f"{text[: m.start()]} {text[m.end() :]}"
            reason = rest.strip().strip(".,;:-—–").strip()
    try:
        number = float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not (0.0 <= number <= 1.0):
        return Score(None, error=_one_line(f"judge reply has no score in [0, 1]: {text[:80]!r}"))
    return Score(number, _one_line(reason, 300))


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def make_scorer(
    kind: str, *, judge_backend: Any = None, judge_model: str | None = None
) -> RougeScorer | ExactScorer | JudgeScorer:
    """The scorer called *kind* (one of :data:`SCORERS`)."""
    if kind in ("rouge", "f1"):
        return RougeScorer(kind)
    if kind in ("exact", "contains"):
        return ExactScorer(kind)
    if kind == "judge":
        if judge_backend is None or not judge_model:
            raise ValueError("the judge scorer needs --judge-backend URL and --judge-model M")
        return JudgeScorer(judge_backend, judge_model)
    raise ValueError(f"unknown scorer {kind!r}: choose one of {', '.join(SCORERS)}")


def judge_fingerprint(scorer: Any) -> dict[str, Any]:
    """What names a judge: its model and rubric hash (empty for other scorers)."""
    if isinstance(scorer, JudgeScorer):
        return {"judge_model": scorer.model, "judge_prompt_hash": scorer.prompt_hash}
    return {}


__all__ = [
    "JUDGE_RUBRIC",
    "SCORERS",
    "ExactScorer",
    "JudgeScorer",
    "RougeScorer",
    "Score",
    "Scorer",
    "judge_fingerprint",
    "make_scorer",
    "normalise",
    "parse_judge_reply",
]
