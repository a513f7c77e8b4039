"""Measured evaluation: generation throughput, endpoint concurrency, scoring overhead.

Run: ``python -m bench.bench_evals``. Against baselines measured in the same run:

* local generation on the workspace's tiny LM (built offline): batched greedy
  generation (batch 16) vs one ``generate()`` call per sample, same model, samples and
  max new tokens — real generated tokens per second; target ≥ 3×;
* endpoint: 64 samples against a local OpenAI-compatible server (127.0.0.1) that answers
  after 100 ms, concurrency 8 vs sequential (concurrency 1); target ≥ 5×;
* scoring overhead of the reference scorer (ROUGE-L, rouge-score): mean per sample over
  2,000 realistic answer/reference pairs; target ≤ 1 ms.

Exits 1 when a target is missed.
"""

from __future__ import annotations

import random
import sys
import time

from bench.common import OUT, Figure, parse_options, report

LOCAL_SAMPLES = 32
LOCAL_NEW_TOKENS = 16
ENDPOINT_SAMPLES = 64
ENDPOINT_DELAY = 0.1
SCORE_PAIRS = 2_000

WORDS = ("the model answers a question about sorting lists in python quickly with a short "
         "example and explains why the algorithm is stable when keys repeat across many "
         "records in the table").split()  # fmt: skip


def _samples(n: int, seed: int = 0):
    from jarvis_tui.evals.sets import EvalSample

    rng = random.Random(seed)
    out = []
    for i in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30)))
        r = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
        out.append(EvalSample(f"s{i}", f"{q}?", r, "general"))
    return out


def bench_local() -> Figure:
    from jarvis_tui.evals import GenerationSettings, LocalGenerator
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    model = ensure_tiny_lm(OUT / "models")
    samples = _samples(LOCAL_SAMPLES)
    settings = GenerationSettings(max_tokens=LOCAL_NEW_TOKENS)

    def tokens_per_s(batch: int) -> float:
        gen = LocalGenerator(model, batch_size=batch)
        gen.generate(samples[:2], settings)  # load + warm up
        t0 = time.perf_counter()
        out = gen.generate(samples, settings)
        elapsed = time.perf_counter() - t0
        return sum(g.completion_tokens for g in out if g is not None) / elapsed

    one = tokens_per_s(1)
    batched = tokens_per_s(16)
    ratio = batched / one
    return Figure(
        f"local generation, tiny LM, {LOCAL_SAMPLES} samples × {LOCAL_NEW_TOKENS} tokens",
        "≥ 3× one generate() per sample",
        batched,
        "tok/s",
        ratio >= 3.0,
        baseline=one,
        baseline_name="one generate() per sample",
        higher_is_better=True,
    )


def bench_endpoint() -> Figure:
    from jarvis_tui.evals import EndpointGenerator, GenerationSettings
    from jarvis_tui.evals.local_server import ChatServer
    from jarvis_tui.learning.optimize.backends import OpenAICompatibleBackend

    samples = _samples(ENDPOINT_SAMPLES)
    with ChatServer({"m": (lambda u, s: "an answer", ENDPOINT_DELAY)}) as srv:
        backend = OpenAICompatibleBackend(srv.url, timeout=30, role="eval")

        def run(concurrency: int) -> float:
            gen = EndpointGenerator(backend, concurrency=concurrency)
            t0 = time.perf_counter()
            out = gen.generate(samples, GenerationSettings(model="m"))
            assert all(g is not None and g.error is None for g in out)
            return time.perf_counter() - t0

        sequential = run(1)
        concurrent = run(8)
    return Figure(
        f"endpoint, {ENDPOINT_SAMPLES} samples, server answers in {ENDPOINT_DELAY * 1000:.0f} ms, "
        "concurrency 8",
        "≥ 5× sequential",
        concurrent,
        "s",
        sequential / concurrent >= 5.0,
        baseline=sequential,
        baseline_name="sequential",
    )


def bench_scoring() -> Figure:
    from rouge_score import rouge_scorer

    from jarvis_tui.evals.scorers import RougeScorer

    scorer = RougeScorer("rouge")
    reference = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    samples = _samples(SCORE_PAIRS)
    pairs = [(s.reference, _samples(1, seed=i)[0].reference) for i, s in enumerate(samples)]
    scorer.score("q", *pairs[0])

    t0 = time.perf_counter()
    ours = [scorer.score("q", ref, ans).value for ref, ans in pairs]
    per_sample_ms = (time.perf_counter() - t0) / len(pairs) * 1000
    t0 = time.perf_counter()
    theirs = [reference.score(ref, ans)["rougeL"].fmeasure for ref, ans in pairs]
    baseline_ms = (time.perf_counter() - t0) / len(pairs) * 1000
    same = max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 1e-12
    return Figure(
        f"scoring overhead, ROUGE-L, {SCORE_PAIRS:,} pairs of 20-60 words"
        + ("" if same else " (SCORES DIFFER from rouge-score)"),
        "≤ 1 ms per sample, same scores as rouge-score",
        per_sample_ms,
        "ms",
        per_sample_ms <= 1.0 and same,
        baseline=baseline_ms,
        baseline_name="rouge_score.RougeScorer",
    )


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    figures = [bench_scoring(), bench_endpoint(), bench_local()]
    return 0 if report(figures, "Measured evaluation") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
