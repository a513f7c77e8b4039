"""`jarvis-tui eval --compare RUN_ID`: what the Training pane's E does, from the CLI (the
pane runs it as its child): the run's adapter against its base model on the held-out
queries, kept as the run folder's eval.json; progress as JSON lines; a signal stops it
leaving no eval.json; every bad input is one line on stderr and exit 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.evals.sets import EvalSplit
from jarvis_tui.traces import TraceStore

FAKE_EVAL = Path(__file__).parents[1] / "ui" / "fake_eval.py"
"""The real ``eval --compare`` with the measuring replaced by one that holds until cancelled."""


def traces(n: int = 80) -> list[Trace]:
    out = []
    for i in range(n):
        q = f"what is {i} plus {i}, said in words #{i}"
        out.append(Trace(
            trace_id=f"t-{i:04d}", query=q, agent="simple", model="m", engine="ollama",
            steps=[TraceStep(StepType.RESPOND, 1_780_000_000.0 + i, 0.3, {}, {"tokens": 9})],
            result=f"the answer is {2 * i}", outcome=None, feedback=0.9,
            started_at=1_780_000_000.0 + i * 60, ended_at=1_780_000_001.0 + i * 60,
            total_tokens=20, total_latency_seconds=0.5, metadata={},
        ))  # fmt: skip
    return out


def held_out(n: int = 80) -> int:
    split = EvalSplit()
    return sum(split.is_held_out(t.query) for t in traces(n))


def make_run(home: Path, run_id: str, *, model: str, adapter_base: str | None) -> Path:
    """A finished run folder; with *adapter_base*, an adapter that names that base."""
    d = home / "checkpoints" / run_id
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({
        "run_id": run_id, "status": "completed", "model": model, "created": 1_780_000_000.0,
        "updated": 1_780_000_001.0, "steps_done": 1, "total_steps": 1, "final_loss": 1.0,
        "duration": 2.0, "config": {}, "data": {}, "summary": {},
    }))  # fmt: skip
    if adapter_base is not None:
        (d / "final").mkdir()
        (d / "final" / "adapter_config.json").write_text(
            json.dumps({"base_model_name_or_path": adapter_base, "peft_type": "LORA"})
        )
    return d


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(traces())
    store.close()
    return home


@pytest.fixture
def tiny(home: Path) -> Path:
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    return ensure_tiny_lm(home / "models")


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jarvis-tui: error: "), err
    return lines[0]


def test_compare_keeps_eval_json_and_reports_progress(home: Path, tiny: Path, capsys) -> None:
    pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    run = make_run(home, "r1", model=str(tiny), adapter_base=None)
    # An untrained LoRA adapter on the tiny LM: measured like any other, fast.
    lora = peft.LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                           task_type="CAUSAL_LM")  # fmt: skip
    peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), lora).save_pretrained(
        run / "final"
    )
    argv = ["eval", "--home", str(home), "--compare", "r1", "--samples", "3", "--max-tokens",
            "4", "--progress", "--json"]  # fmt: skip
    with warnings.catch_warnings():  # peft's FutureWarning on loading is not shown
        warnings.simplefilter("error", FutureWarning)
        assert main(argv) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    progress = [json.loads(ln) for ln in lines if ln.startswith('{"progress"')]
    assert [p["progress"] for p in progress][0] == "base"
    assert {p["progress"] for p in progress} == {"base", "adapter"}
    # the last line of each stage says it is done: all 3 of its samples
    assert {"base": 3, "adapter": 3} == {p["progress"]: p["done"] for p in progress}
    assert all(p["total"] == 3 for p in progress)
    printed = json.loads("\n".join(ln for ln in lines if not ln.startswith('{"progress"')))
    kept = run / "eval.json"
    assert json.loads(kept.read_text()) == printed
    assert kept.stat().st_mode & 0o777 == 0o600
    assert printed["run_id"] == "r1" and not printed["partial"]
    assert printed["base"]["samples"] == printed["adapter"]["samples"] == 3
    assert printed["eval_set"]["samples"] == 3 and printed["verdict"]
    # for people: the verdict, both sides, where it is kept
    assert main(argv[:-2]) == 0
    out = capsys.readouterr().out
    assert out.startswith("r1: ") and "  base     score " in out and "  adapter  score " in out
    assert f"kept in {kept}" in out.replace("\n", "")


def test_a_signal_stops_it_printing_the_partial_result_and_keeping_nothing(
    home: Path, tiny: Path
) -> None:
    run = make_run(home, "r1", model=str(tiny), adapter_base=str(tiny))
    n = held_out()
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_EVAL), "eval", "--home", str(home), "--compare", "r1",
         "--progress", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the fake holds after this line until cancelled
        assert json.loads(first) == {"progress": "base", "done": n - 1, "total": n}
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    line = one_error(err.decode())
    assert f"evaluation cancelled (base {n - 1}/{n}, adapter 0/{n}): eval.json not written" in line
    partial = json.loads(out)
    assert partial["partial"] and partial["base"]["samples"] == n - 1
    assert not (run / "eval.json").exists()
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("unknown run", "no run 'nope' in "),
        ("a path, not a run id", "no run '../r1' in "),
        ("no adapter", "run r1 has no adapter to evaluate (status completed)"),
        ("not a folder", "base model org/some-hub-model is not a local model folder"),
        ("still training", "run r1 is still training: evaluate it when it has finished"),
        ("train extra missing", "evaluating an adapter needs the train extra (peft not installed)"),
        ("another flag", "--compare measures the run's own base and adapter: drop --backend"),
        ("progress alone", "--progress goes with --compare RUN_ID"),
    ],
)
def test_compare_refuses_in_one_line(
    home: Path, tiny: Path, case: str, says: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = "r1"
    extra: list[str] = []
    if case == "unknown run":
        run_id = "nope"
    elif case == "a path, not a run id":
        run_id = "../r1"
        make_run(home, "r1", model=str(tiny), adapter_base=str(tiny))
    elif case == "no adapter":
        make_run(home, "r1", model=str(tiny), adapter_base=None)
    elif case == "not a folder":
        make_run(home, "r1", model="org/some-hub-model", adapter_base="org/some-hub-model")
    elif case == "still training":  # its writer's heartbeat is fresh
        run = make_run(home, "r1", model=str(tiny), adapter_base=str(tiny))
        info = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**info, "status": "running",
                                                  "updated": time.time()}))  # fmt: skip
    elif case == "train extra missing":
        make_run(home, "r1", model=str(tiny), adapter_base=str(tiny))
        monkeypatch.setitem(sys.modules, "peft", None)  # as if not installed
    elif case == "another flag":
        extra = ["--backend", "http://127.0.0.1:9"]
    argv = ["eval", "--home", str(home), "--compare", run_id, *extra]
    if case == "progress alone":
        argv = ["eval", "--home", str(home), "--progress"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert says in one_error(captured.err), captured.err
    assert captured.out == ""
    assert not list(home.glob("checkpoints/*/eval.json"))
