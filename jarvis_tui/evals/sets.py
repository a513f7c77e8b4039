"""Eval sets: (query, reference, class) samples to measure a config, a model or an adapter.

Two sources:

* :func:`build_eval_set` takes held-out labelled traces from the workspace: traces whose
  feedback is at least ``min_quality`` give a query and its reference answer (the result
  the user rated well), stratified by query class and deterministic for a seed.
* :func:`load_jsonl_set` reads a file of ``{"query", "reference", "class"?}`` lines.

Held out means *never trained on*: :class:`EvalSplit` assigns each query to the eval side
or the training side by a salted hash of its normalised text, so the same query (asked
twice, or written twice) always lands on the same side. The trainer drops every
held-out pair before it trains and records the split in its run folder, so an adapter
is never scored on its own training data.

Every set has an id and a content hash (SHA-256 over its samples), recorded with every
result, so two scores are comparable only when they name the same set.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from jarvis_tui.learning.classify import classify_query

#: Bytes one JSONL line may take (a longer one is an error naming the line).
MAX_LINE_BYTES = 1_000_000
#: Samples one eval set may hold.
MAX_SAMPLES = 100_000
#: Characters of a query or reference kept (longer text is cut; the hash sees the cut).
MAX_TEXT_CHARS = 20_000
#: Share of distinct queries held out of training by default.
DEFAULT_HELD_OUT = 0.1


class EvalSetError(ValueError):
    """An eval set cannot be built or read; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class EvalSample:
    """One query to answer, the answer it should get, and its query class."""

    record_id: str
    query: str
    reference: str
    query_class: str = "general"


@dataclass(slots=True)
class EvalSet:
    """Samples plus where they came from; ``set_id`` and ``content_hash`` name them."""

    set_id: str
    samples: list[EvalSample]
    source: str = ""
    content_hash: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def classes(self) -> dict[str, int]:
        """Samples per query class."""
        out: dict[str, int] = {}
        for s in self.samples:
            out[s.query_class] = out.get(s.query_class, 0) + 1
        return dict(sorted(out.items()))

    def describe(self) -> dict[str, Any]:
        """What a result records about its set: id, hash, size, source."""
        return {
            "id": self.set_id,
            "hash": self.content_hash,
            "samples": len(self.samples),
            "source": self.source,
        }


def content_hash(samples: Iterable[EvalSample]) -> str:
    """SHA-256 over the samples' query, reference and class, in order."""
    h = hashlib.sha256()
    for s in samples:
        for part in (s.query, s.reference, s.query_class):
            data = part.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()


def _normalise(query: str) -> str:
    return " ".join(query.split()).casefold()


@dataclass(frozen=True, slots=True)
class EvalSplit:
    """Which queries are held out of training: a salted hash of the normalised query.

    Deterministic (no state, no randomness): the trainer and the evaluator agree on it
    without talking, and a run folder records it as :meth:`to_dict`.
    """

    fraction: float = DEFAULT_HELD_OUT
    salt: str = "jarvis-tui-eval-v1"

    def __post_init__(self) -> None:
        if not (0.0 <= float(self.fraction) < 1.0):
            raise EvalSetError(f"held-out fraction must be in [0, 1), not {self.fraction!r}")

    def is_held_out(self, query: str) -> bool:
        """Whether *query* belongs to the eval side (never trained on)."""
        if self.fraction <= 0:
            return False
        digest = hashlib.sha256((self.salt + "\0" + _normalise(query)).encode("utf-8", "replace"))
        return int.from_bytes(digest.digest()[:8], "big") / 2**64 < self.fraction

    def training_pairs(self, pairs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The SFT pairs (``input`` / ``output``) a trainer may use: those whose query
        is not held out."""
        for pair in pairs:
            if not self.is_held_out(str(pair.get("input", pair.get("query", "")))):
                yield pair

    def to_dict(self) -> dict[str, Any]:
        return {"fraction": self.fraction, "salt": self.salt}

    @classmethod
    def from_dict(cls, data: Any) -> EvalSplit:
        if not isinstance(data, dict):
            return cls()
        try:
            return cls(float(data.get("fraction", DEFAULT_HELD_OUT)), str(data.get("salt", "")))
        except (TypeError, ValueError) as exc:
            raise EvalSetError(f"unreadable eval split {data!r}: {exc}") from None


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS]


def build_eval_set(
    store: Any,
    *,
    samples: int = 50,
    min_quality: float = 0.7,
    seed: int = 0,
    agent: Optional[str] = None,
    split: EvalSplit | None = None,
    scan_limit: int = 200_000,
) -> EvalSet:
    """Held-out labelled traces of *store* as an eval set, stratified by query class.

    Takes traces whose feedback is at least *min_quality* and whose query the *split*
    holds out of training; one sample per distinct query; then up to *samples* of them,
    shared between classes as evenly as the classes allow, chosen by *seed*. Raises
    EvalSetError (saying how to get some) when there are none.
    """
    split = split or EvalSplit()
    if samples <= 0:
        raise EvalSetError(f"samples must be a positive number, not {samples!r}")
    by_class: dict[str, list[EvalSample]] = {}
    seen: set[str] = set()
    scanned = 0
    for query, result, _model, _feedback, qclass in store.iter_pairs(
        agent=agent, min_feedback=min_quality, exclude_failures=True
    ):
        scanned += 1
        if scanned > scan_limit:
            break
        if not query.strip() or not result.strip() or not split.is_held_out(query):
            continue
        key = _normalise(query)
        if key in seen:
            continue
        seen.add(key)
        qc = qclass or classify_query(query)
        rid = "q-" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:12]
        by_class.setdefault(qc, []).append(EvalSample(rid, _cut(query), _cut(result), qc))
    if not by_class:
        raise EvalSetError(
            f"no held-out labelled traces with feedback >= {min_quality:g} to build an eval "
            "set from: label more traces (Traces pane, or a score of 0.7 or more), lower "
            "--min-quality, or pass --set FILE.jsonl"
        )
    chosen = _stratified(by_class, samples, random.Random(seed))
    set_id = f"ws-{content_hash(chosen)[:10]}"
    return EvalSet(
        set_id=set_id,
        samples=chosen,
        source=f"workspace: held-out traces with feedback >= {min_quality:g}, seed {seed}",
        notes=[f"{sum(len(v) for v in by_class.values())} held-out candidates"],
    )


def _stratified(
    by_class: dict[str, list[EvalSample]], total: int, rng: random.Random
) -> list[EvalSample]:
    """Up to *total* samples, classes sharing the budget evenly (a small class gives its
    unused share to the others); the order is by class, then by the seeded shuffle."""
    pools = {}
    for qc in sorted(by_class):
        pool = sorted(by_class[qc], key=lambda s: s.record_id)
        rng.shuffle(pool)
        pools[qc] = pool
    quota = {qc: 0 for qc in pools}
    left = min(total, sum(len(p) for p in pools.values()))
    while left > 0:
        open_classes = [qc for qc in pools if quota[qc] < len(pools[qc])]
        share = max(1, left // len(open_classes))
        for qc in open_classes:
            take = min(share, len(pools[qc]) - quota[qc], left)
            quota[qc] += take
            left -= take
            if left == 0:
                break
    return [s for qc in pools for s in pools[qc][: quota[qc]]]


def load_jsonl_set(path: str | Path, *, limit: int | None = None) -> EvalSet:
    """An eval set from a JSONL file: one ``{"query", "reference", "class"?}`` per line.

    Blank lines and lines starting with ``#`` are skipped. A line that is not such an
    object is an EvalSetError naming its line number; so is a file with no samples.
    """
    p = Path(path).expanduser()
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise EvalSetError(f"eval set {p}: no such file") from None
    except IsADirectoryError:
        raise EvalSetError(f"eval set {p} is a directory, not a JSONL file") from None
    except OSError as exc:
        raise EvalSetError(f"eval set {p}: {exc.strerror or exc}") from None
    out: list[EvalSample] = []
    with fh:
        for number, raw in enumerate(_lines(fh), start=1):
            if raw is None:
                raise EvalSetError(f"{p}:{number}: line longer than {MAX_LINE_BYTES:,} bytes")
            text = raw.decode("utf-8", "replace").strip()
            if not text or text.startswith("#"):
                continue
            try:
                data = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise EvalSetError(f"{p}:{number}: not JSON ({_reason(exc)})") from None
            if not isinstance(data, dict):
                raise EvalSetError(f"{p}:{number}: expected an object, got {type(data).__name__}")
            query, reference = data.get("query"), data.get("reference")
            if not isinstance(query, str) or not query.strip():
                raise EvalSetError(f'{p}:{number}: "query" must be non-empty text')
            if not isinstance(reference, str):
                raise EvalSetError(f'{p}:{number}: "reference" must be text')
            qclass = data.get("class")
            if qclass is None:
                qclass = classify_query(query)
            elif not isinstance(qclass, str) or not qclass.strip():
                raise EvalSetError(f'{p}:{number}: "class" must be text when given')
            rid = data.get("id")
            rid = str(rid) if isinstance(rid, str | int) else f"line-{number}"
            out.append(EvalSample(rid[:200], _cut(query), _cut(reference), qclass.strip()[:64]))
            if len(out) >= MAX_SAMPLES or (limit is not None and len(out) >= limit):
                break
    if not out:
        raise EvalSetError(f"eval set {p} holds no samples")
    return EvalSet(set_id=f"file-{content_hash(out)[:10]}", samples=out, source=str(p))


def _lines(fh: Any) -> Iterator[bytes | None]:
    """Lines of *fh*, None for one over MAX_LINE_BYTES (the caller stops there)."""
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            yield None
            return
        yield line


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(":")[0]


def sample_dicts(eval_set: EvalSet) -> list[dict[str, Any]]:
    """The samples as plain dicts (for JSON output)."""
    return [asdict(s) for s in eval_set.samples]


__all__ = [
    "DEFAULT_HELD_OUT",
    "EvalSample",
    "EvalSet",
    "EvalSetError",
    "EvalSplit",
    "build_eval_set",
    "content_hash",
    "load_jsonl_set",
]
