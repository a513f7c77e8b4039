"""`jarvis-tui eval`: a model measured on held-out labelled queries, from the CLI.

A local OpenAI-compatible server answers per model (``oracle`` with the references of the
JSONL set, ``noise`` with junk). Every bad input is one line on stderr and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.evals.local_server import ChatServer

ROWS = [
    {"query": "What is the capital of France?", "reference": "Paris is the capital.", "class": "short"},
    {"query": "Sum 2 and 3", "reference": "The sum is 5.", "class": "math"},
    {"query": "Name a sorting algorithm", "reference": "Merge sort is one.", "class": "code"},
    {"query": "Say hello", "reference": "Hello there!", "class": "short"},
]  # fmt: skip
REFS = {r["query"]: r["reference"] for r in ROWS}


@pytest.fixture
def eval_file(tmp_path: Path) -> Path:
    p = tmp_path / "set.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return p


@pytest.fixture
def server():
    half = {r["query"] for r in ROWS[::2]}  # "short" (France) and "code": blank
    with ChatServer(
        {
            "oracle": lambda u, s: REFS.get(u, ""),
            "noise": lambda u, s: "zzz",
            "blank": lambda u, s: "\n" * 256,
            "half": lambda u, s: "\n \n" if u in half else REFS.get(u, ""),
        }
    ) as srv:
        yield srv


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jarvis-tui: error: "), err
    return lines[0]


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_json_has_every_figure(server, eval_file, tmp_path, capsys) -> None:
    home = str(tmp_path / "ws")
    out = run_json(
        capsys, "eval", "--home", home, "--backend", server.url, "--model", "oracle",
        "--set", str(eval_file), "--json",
    )  # fmt: skip
    for key in ("accuracy", "accuracy_ci", "mean_latency_seconds", "p95_latency_seconds",
                "total_tokens", "total_cost_usd", "samples", "errors", "per_class", "eval_set"):  # fmt: skip
        assert key in out, key
    assert out["accuracy"] == pytest.approx(1.0) and out["samples"] == 4 and out["errors"] == 0
    assert out["per_class"]["short"] == {**out["per_class"]["short"], "samples": 2}
    assert set(out["eval_set"]) >= {"id", "hash"} and len(out["eval_set"]["hash"]) == 64
    kept = json.loads(Path(out["result_path"]).read_text())
    assert [s["answer"] for s in kept["sample_results"]] == [r["reference"] for r in ROWS]
    noise = run_json(
        capsys, "eval", "--home", home, "--backend", server.url, "--model", "noise",
        "--set", str(eval_file), "--json",
    )  # fmt: skip
    assert noise["accuracy"] < out["accuracy"]
    assert noise["eval_set"] == out["eval_set"]  # the same set: comparable


def test_eval_prints_for_people(server, eval_file, tmp_path, capsys) -> None:
    argv = ["eval", "--home", str(tmp_path), "--backend", server.url, "--model", "oracle",
            "--set", str(eval_file)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.000 (95% interval" in out and "latency p50" in out
    assert "  math       1.000  (1 sample)" in out
    assert "  short      1.000  (2 samples)" in out
    assert "4 samples: 4 scored, 0 errors" in out


def test_empty_answers_are_errors_not_zeros(server, eval_file, tmp_path, capsys) -> None:
    """Blank answers (the demo's untrained tiny model answers 256 newlines) are errors
    with their reason, kept out of the mean; every sample blank is exit 1, one line."""
    argv = ["eval", "--home", str(tmp_path), "--backend", server.url, "--set", str(eval_file)]
    assert main([*argv, "--model", "half"]) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.000 (95% interval" in out  # the answers given were right
    assert "4 samples: 2 scored, 2 errors (empty answer)" in out
    assert "  code       –      (1 sample, 1 error)" in out
    assert main([*argv, "--model", "blank"]) == 1
    cap = capsys.readouterr()
    assert "accuracy – (no sample scored) · 4 samples: 0 scored, 4 errors (empty answer)" in cap.out
    line = one_error(cap.err)
    assert "every sample failed: empty answer (4 of 4)" in line and "--backend URL" in line
    assert main([*argv, "--model", "blank", "--json"]) == 1
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["scored"] == 0 and out["errors"] == 4
    assert out["error_reasons"] == {"empty answer": 4}
    one_error(cap.err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "http://127.0.0.1:9/v1"], "--backend needs --model"),
        (["--model", "m"], "--model needs --backend"),
        (["--scorer", "judge", "--backend", "http://127.0.0.1:9/v1", "--model", "m"],
         "--scorer judge needs --judge-backend"),
    ],
)  # fmt: skip
def test_bad_flag_combinations(argv, message, eval_file, tmp_path, capsys) -> None:
    assert main(["eval", "--home", str(tmp_path), "--set", str(eval_file), *argv]) == 1
    assert message in one_error(capsys.readouterr().err)


def test_endpoint_down_is_one_line(eval_file, tmp_path, capsys) -> None:
    argv = ["eval", "--home", str(tmp_path), "--backend", "http://127.0.0.1:9/v1",
            "--model", "m", "--set", str(eval_file)]  # fmt: skip
    assert main(argv) == 1
    assert "every sample failed: eval endpoint" in one_error(capsys.readouterr().err)


def test_malformed_set_names_the_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n" + '{"query": "x", "reference": 3}\n')
    argv = ["eval", "--home", str(tmp_path), "--backend", "http://127.0.0.1:9/v1",
            "--model", "m", "--set", str(bad)]  # fmt: skip
    assert main(argv) == 1
    assert 'bad.jsonl:2: "reference" must be text' in one_error(capsys.readouterr().err)


def test_workspace_without_labels_says_how_to_get_some(tmp_path, capsys) -> None:
    from jarvis_tui.traces.store import TraceStore

    TraceStore(tmp_path / "traces.db").close()
    argv = ["eval", "--home", str(tmp_path), "--backend", "http://127.0.0.1:9/v1", "--model", "m"]
    assert main(argv) == 1
    line = one_error(capsys.readouterr().err)
    assert "label more traces" in line and "--set" in line


def test_local_path_that_is_not_a_model(eval_file, tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    argv = ["eval", "--home", str(tmp_path), "--local", str(tmp_path), "--set", str(eval_file)]
    assert main(argv) == 1
    assert "is not a model" in one_error(capsys.readouterr().err)
