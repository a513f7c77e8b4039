"""Measured evaluation: eval sets, scorers, generators, metrics, the trial runner.

An OpenAI-compatible test server on 127.0.0.1 answers per model: ``oracle`` with the
reference, ``noise`` with junk, ``slow`` with the reference after a delay. A model that
answers with the references must score higher than one that answers noise, and measured
latency must follow the server's delays.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.core.types import Trace
from jarvis_tui.evals import (
    EndpointGenerator,
    EvalError,
    EvalSetError,
    EvalSplit,
    EvalTrialRunner,
    GenerationSettings,
    build_eval_set,
    evaluate,
    load_jsonl_set,
    load_prices,
    make_scorer,
)
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.evals.scorers import ExactScorer, JudgeScorer, RougeScorer, parse_judge_reply
from jarvis_tui.evals.sets import EvalSample, EvalSet
from jarvis_tui.learning.optimize import OptimizationStore, SearchDimension, SearchSpace
from jarvis_tui.learning.optimize.backends import OpenAICompatibleBackend
from jarvis_tui.learning.optimize.optimizer import OptimizationEngine
from jarvis_tui.learning.optimize.optuna_proposer import OptunaProposer
from jarvis_tui.learning.optimize.types import TrialConfig
from jarvis_tui.traces.store import TraceStore

WORDS = [
    "Running",
    "runs",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "quickly",
    "a",
    "x2",
    "don't",
    "sorting",
    "sorted",
    "Lists",
    "list",
    "—",
    "42",
    "naïve",
]
TOPICS = ["python sorting", "sql joins", "the derivative of x^2", "a haiku about rain",
          "rust lifetimes", "the capital of France", "matrix inversion", "unit tests"]  # fmt: skip


def make_store(path: Path, n: int = 240) -> TraceStore:
    store = TraceStore(path)
    traces = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        traces.append(
            Trace(
                trace_id=f"tr-{i:04d}",
                query=f"Question {i}: explain {topic} briefly",
                result=f"Answer {i} explains {topic} in two short sentences.",
                model="m",
                agent="assistant",
                feedback=0.9 if i % 5 else 0.2,
                started_at=1_700_000_000 + i,
                ended_at=1_700_000_001 + i,
            )
        )
    store.save_many(traces)
    return store


SET = EvalSet(
    set_id="t",
    samples=[
        EvalSample(f"s{i}", f"q{i}: what is item {i}?", f"item {i} is a small red box", qc)
        for i, qc in enumerate(["code", "math", "general", "code", "math", "general"] * 2)
    ],
)
REFS = {s.query: s.reference for s in SET.samples}


def oracle(user: str, system: str) -> str:
    return REFS.get(user, "")


def noise(user: str, system: str) -> str:
    return "purple elephants dance quietly"


@pytest.fixture
def server():
    with ChatServer(
        {"oracle": oracle, "noise": noise, "slow": (oracle, 0.15), "fast": (oracle, 0.0)}
    ) as srv:
        yield srv


def endpoint(url: str, **kw) -> EndpointGenerator:
    return EndpointGenerator(OpenAICompatibleBackend(url, timeout=10, role="eval"), **kw)


# ------------------------------------------------------------------------ scoring


def test_oracle_scores_higher_than_noise(server) -> None:
    gen = endpoint(server.url, concurrency=4)
    scorer = make_scorer("rouge")
    good = evaluate(SET, gen, scorer, GenerationSettings(model="oracle"))
    bad = evaluate(SET, gen, scorer, GenerationSettings(model="noise"))
    assert good.accuracy == pytest.approx(1.0)
    assert bad.accuracy < 0.2
    m = good.metrics()
    assert m["samples"] == 12 and m["errors"] == 0 and not m["partial"]
    assert set(m["per_class"]) == {"code", "math", "general"}
    assert all(c["samples"] == 4 for c in m["per_class"].values())
    assert m["prompt_tokens"] > 0 and m["completion_tokens"] > 0  # from the reply's usage
    low, high = bad.metrics()["accuracy_ci"]
    assert low <= bad.accuracy <= high


def test_latency_follows_the_server(server) -> None:
    gen = endpoint(server.url, concurrency=4)
    slow = evaluate(SET, gen, make_scorer("rouge"), GenerationSettings(model="slow"))
    fast = evaluate(SET, gen, make_scorer("rouge"), GenerationSettings(model="fast"))
    assert slow.metrics()["p50_latency_seconds"] >= 0.15
    assert fast.metrics()["p50_latency_seconds"] < slow.metrics()["p50_latency_seconds"]
    assert server.max_in_flight <= 4  # bounded concurrency


def test_config_settings_reach_the_endpoint(server) -> None:
    gen = endpoint(server.url)
    settings = GenerationSettings.from_params(
        {
            "intelligence.model": "oracle",
            "intelligence.temperature": 0.3,
            "intelligence.max_tokens": 77,
            "agent.system_prompt": "Be terse.",
        }
    )
    evaluate(SET, gen, make_scorer("exact"), settings)
    body = server.requests[-1]
    assert body["model"] == "oracle" and body["temperature"] == 0.3
    assert body["max_tokens"] == 77
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}


def test_endpoint_down_counts_errors_not_zeros_and_the_trial_fails() -> None:
    gen = endpoint("http://127.0.0.1:9/v1")  # discard port: nothing listens
    result = evaluate(SET, gen, make_scorer("rouge"), GenerationSettings(model="x"))
    assert result.errors == 12 and result.scored == []
    assert "unreachable" in result.samples[0].error
    runner = EvalTrialRunner(SET, gen, make_scorer("rouge"))
    with pytest.raises(EvalError, match="every sample of t1 failed: eval endpoint"):
        runner.run_trial(TrialConfig("t1", {"intelligence.model": "x"}))


def test_empty_answers_are_errors_kept_out_of_the_mean() -> None:
    """The demo's untrained tiny model answers blank lines: nothing to score, so every
    sample is an error ("empty answer"), never a 0 — and a blank half of the answers
    does not halve the accuracy of the half that answered."""
    blank = {s.query for s in SET.samples[::2]}
    with ChatServer(
        {
            "blank": lambda u, s: "\n" * 256,
            "half": lambda u, s: " \n\t" if u in blank else oracle(u, s),
        }
    ) as srv:
        gen = endpoint(srv.url)
        none = evaluate(SET, gen, make_scorer("rouge"), GenerationSettings(model="blank"))
        half = evaluate(SET, gen, make_scorer("rouge"), GenerationSettings(model="half"))
        runner = EvalTrialRunner(SET, gen, make_scorer("rouge"))
        with pytest.raises(EvalError, match="every sample of t1 failed: empty answer"):
            runner.run_trial(TrialConfig("t1", {"intelligence.model": "blank"}))
    assert none.errors == 12 and none.scored == []
    assert {s.error for s in none.samples} == {"empty answer"}
    assert none.metrics()["error_reasons"] == {"empty answer": 12}
    # a blank answer still took its time: latency is measured, not 0
    assert none.metrics()["p50_latency_seconds"] > 0
    assert half.errors == 6 and len(half.scored) == 6
    assert half.accuracy == pytest.approx(1.0)  # the answers given were right
    assert half.metrics()["per_class"]["code"]["errors"] == 2


def test_adapter_verdict_says_when_one_side_answered_nothing() -> None:
    """Training E on the untrained tiny base: its blank answers are no evidence, so the
    verdict never calls the adapter better for beating a 0 nobody scored."""
    from jarvis_tui.evals.adapters import AdapterComparison

    blank = evaluate(
        SET, _Canned(lambda q: "\n\n"), make_scorer("rouge"), GenerationSettings(model="m")
    )
    good = evaluate(
        SET, _Canned(lambda q: REFS[q]), make_scorer("rouge"), GenerationSettings(model="m")
    )
    cmp = AdapterComparison("r1", "tiny-lm", {}, blank.metrics(), good.metrics(), 4.1, 2.5)
    assert cmp.verdict() == (
        "no score to compare: base nothing scored (12 of 12 samples failed: empty answer)"
        ", eval loss 4.100 → 2.500"
    )
    both = AdapterComparison("r1", "tiny-lm", {}, good.metrics(), good.metrics(), None, None)
    assert both.verdict().startswith("no clear difference")


class _Canned:
    """A generator that answers each query with ``answer(query)``, no endpoint."""

    kind = "local"

    def __init__(self, answer) -> None:
        self.answer = answer

    def describe(self, settings) -> str:
        return "canned"

    def generate(self, samples, settings, *, cancel=None, progress=None):
        from jarvis_tui.evals.generators import Generation

        return [Generation(answer=self.answer(s.query)) for s in samples]


@pytest.mark.parametrize(
    ("scorer", "reference", "answer", "expected"),
    [
        (ExactScorer("exact"), "Paris", "paris.", 1.0),
        (ExactScorer("exact"), "Paris", "It is Paris", 0.0),
        (ExactScorer("contains"), "Paris", "It is Paris.", 1.0),
        (RougeScorer("f1"), "red box", "box red", 1.0),
        (RougeScorer("f1"), "the red box", "a red box", pytest.approx(2 / 3)),
        (RougeScorer("rouge"), "alpha beta gamma", "delta", 0.0),
    ],
)
def test_short_answer_and_overlap_scorers(scorer, reference, answer, expected) -> None:
    assert scorer.score("q", reference, answer).value == pytest.approx(expected)


def test_judge_scores_with_reason_and_garbage_is_an_error(server) -> None:
    def good_judge(user: str, system: str) -> str:
        assert "## Reference answer" in user and "Score from 0 to 1" in system
        return '```json\n{"score": 0.8, "reason": "close enough"}\n```'

    with ChatServer({"judge": good_judge, "junk": lambda u, s: "I like turtles"}) as judge:
        backend = OpenAICompatibleBackend(judge.url, role="judge")
        ok = evaluate(
            SET, endpoint(server.url), JudgeScorer(backend, "judge"),
            GenerationSettings(model="noise"),
        )  # fmt: skip
        assert ok.accuracy == pytest.approx(0.8) and ok.samples[0].reason == "close enough"
        assert ok.metrics()["scorer"]["judge_model"] == "judge"
        bad = evaluate(
            SET, endpoint(server.url), JudgeScorer(backend, "junk"),
            GenerationSettings(model="noise"),
        )  # fmt: skip
        assert bad.errors == 12 and bad.scored == []  # never a 0
        assert "no score" in bad.samples[0].error


@pytest.mark.parametrize(
    "reply", ["", "score: 7", '{"score": "high"}', '{"score": -0.1}', '{"score": true}']
)
def test_unusable_judge_replies_are_errors(reply: str) -> None:
    assert parse_judge_reply(reply).value is None


def test_cancel_keeps_partial_results(server) -> None:
    cancel = threading.Event()
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 3:
            cancel.set()

    gen = endpoint(server.url, concurrency=1)
    result = evaluate(
        SET, gen, make_scorer("rouge"), GenerationSettings(model="oracle"),
        cancel=cancel, progress=progress,
    )  # fmt: skip
    assert result.partial and 3 <= len(result.samples) < 12
    assert result.metrics()["partial"] is True


# ------------------------------------------------------------------------ eval sets


def test_workspace_set_is_held_out_stratified_deterministic(tmp_path: Path) -> None:
    store = make_store(tmp_path / "traces.db")
    split = EvalSplit(fraction=0.3)
    a = build_eval_set(store, samples=20, seed=1, split=split)
    b = build_eval_set(store, samples=20, seed=1, split=split)
    assert [s.record_id for s in a.samples] == [s.record_id for s in b.samples]
    assert a.content_hash == b.content_hash and a.set_id == b.set_id
    assert all(split.is_held_out(s.query) for s in a.samples)
    # every sample comes from a well-rated trace
    assert all(s.reference.startswith("Answer") for s in a.samples)
    # stratified: each class gets an even share, or all it has when it has fewer
    from jarvis_tui.learning.classify import classify_query

    available: dict[str, int] = {}
    for t in store.list_traces(limit=1000):
        if (t.feedback or 0) >= 0.7 and split.is_held_out(t.query):
            qc = classify_query(t.query)
            available[qc] = available.get(qc, 0) + 1
    counts = a.classes()
    assert len(a) == min(20, sum(available.values()))
    full = [qc for qc in counts if counts[qc] < available[qc]]  # classes not exhausted
    assert all(counts[qc] >= max(counts.values()) - 1 for qc in full)
    # the trainer's pairs never include an eval query
    from jarvis_tui.learning.training.data import TrainingDataMiner

    pairs = list(split.training_pairs(TrainingDataMiner(store).extract_sft_pairs()))
    trained = {p["input"] for p in pairs}
    assert trained and not trained & {s.query for s in a.samples}


def test_workspace_without_labels_says_how_to_get_some(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.db")
    with pytest.raises(EvalSetError, match="label more traces.*--set"):
        build_eval_set(store)


def test_jsonl_set_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "set.jsonl"
    good.write_text(
        json.dumps({"query": "2+2?", "reference": "4", "class": "math"})
        + "\n\n# a comment\n"
        + json.dumps({"query": "def f(): pass — what is this?", "reference": "a function"})
        + "\n"
    )
    s = load_jsonl_set(good)
    assert [x.query_class for x in s.samples] == ["math", "code"]
    assert len(s.content_hash) == 64 and s.set_id.startswith("file-")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "a", "reference": "b"}) + "\n{oops\n")
    with pytest.raises(EvalSetError, match=r"bad.jsonl:2: not JSON"):
        load_jsonl_set(bad)
    noref = tmp_path / "noref.jsonl"
    noref.write_text(json.dumps({"query": "a"}) + "\n")
    with pytest.raises(EvalSetError, match=r":1: \"reference\" must be text"):
        load_jsonl_set(noref)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(EvalSetError, match="holds no samples"):
        load_jsonl_set(empty)


def test_prices_toml_overrides_the_builtin_table(tmp_path: Path) -> None:
    (tmp_path / "prices.toml").write_text('[prices]\n"oracle" = 2.0\n')
    assert load_prices(tmp_path)["oracle"] == 2.0
    assert "gpt-4o-mini" in load_prices(tmp_path)
    (tmp_path / "prices.toml").write_text('[prices]\n"oracle" = "cheap"\n')
    with pytest.raises(ValueError, match="must be a number"):
        load_prices(tmp_path)


# ------------------------------------------------------------------------ measured trials


def test_measured_optimization_persists_samples_and_classes(server, tmp_path: Path) -> None:
    space = SearchSpace(
        dimensions=[
            SearchDimension(
                "intelligence.model", "categorical", ["oracle", "noise"], primitive="intelligence"
            ),
            SearchDimension(
                "intelligence.temperature", "continuous", low=0.0, high=1.0,
                primitive="intelligence",
            ),
        ]
    )  # fmt: skip
    runner = EvalTrialRunner(SET, endpoint(server.url), make_scorer("rouge"))
    with OptimizationStore(tmp_path / "optimize.db") as store:
        run = OptimizationEngine(
            space, OptunaProposer(space, seed=1), runner, store=store, max_trials=3
        ).run()
        assert len(run.trials) == 3
        trials = store.get_trials(run.run_id)
    assert len(trials) == 3
    for t in trials:
        assert len(t.sample_scores) == 12
        assert {b.benchmark for b in t.per_benchmark} == {"code", "math", "general"}
        assert sum(b.samples_evaluated for b in t.per_benchmark) == 12
    by_model = {t.config.params["intelligence.model"]: t.accuracy for t in trials}
    if len(by_model) == 2:
        assert by_model["oracle"] > by_model["noise"]


# ------------------------------------------------------------------------ local model


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    return ensure_tiny_lm(tmp_path_factory.mktemp("models"))


def test_local_generator_on_the_tiny_model(tiny_lm: Path) -> None:
    from jarvis_tui.evals import LocalGenerator

    gen = LocalGenerator(tiny_lm, batch_size=4)
    small = EvalSet("tiny", SET.samples[:6])
    result = evaluate(small, gen, make_scorer("rouge"), GenerationSettings(max_tokens=8))
    assert len(result.samples) == 6
    # The untrained tiny model may answer only whitespace: that is an error, not a 0.
    assert [s.error for s in result.samples] == [
        None if s.answer.strip() else "empty answer" for s in result.samples
    ]
    assert all(isinstance(s.answer, str) for s in result.samples)
    assert all(0 < s.completion_tokens <= 8 for s in result.samples if s.answer)
    assert all(s.prompt_tokens > 0 for s in result.samples)
    # greedy: the same answers twice
    again = evaluate(small, gen, make_scorer("rouge"), GenerationSettings(max_tokens=8))
    assert [s.answer for s in again.samples] == [s.answer for s in result.samples]


def test_local_generator_refuses_what_is_not_a_model(tmp_path: Path, tiny_lm: Path) -> None:
    from jarvis_tui.evals import GeneratorError, LocalGenerator

    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(GeneratorError, match="is a file, not a model folder"):
        LocalGenerator(tmp_path / "notes.txt")
    with pytest.raises(GeneratorError, match="is not a model: .*config.json"):
        LocalGenerator(tmp_path)
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/models/other-7b"})
    )
    with pytest.raises(GeneratorError, match=r"trained on /models/other-7b, not on .*tiny-lm"):
        LocalGenerator(tiny_lm, adapter=tmp_path / "run")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join),
)
def test_scores_equal_the_rouge_score_package(reference: str, answer: str) -> None:
    from rouge_score import rouge_scorer

    if not reference.strip():
        return
    for kind, key, stem in (("rouge", "rougeL", True), ("f1", "rouge1", False)):
        want = rouge_scorer.RougeScorer([key], use_stemmer=stem).score(reference, answer)[key]
        got = RougeScorer(kind).score("q", reference, answer).value
        assert got == pytest.approx(want.fmeasure, abs=1e-12)
