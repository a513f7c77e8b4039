"""`jarvis-tui eval --compare RUN --progress`: one denominator, the samples of a side
(issue 10, findings 18/42: the lines counted base + adapter steps, /100 for 50 samples),
and a side whose answers are all empty says "no sample scored", never a 0 score
(finding 20). The models are stand-ins (no torch): the real compare_run, CLI, runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.evals import adapters
from jarvis_tui.evals.generators import Generation
from jarvis_tui.traces import TraceStore
from tests.engine.test_cli_eval_compare import held_out, make_run, traces


class StandIn:
    """LocalGenerator's part that compare_adapter uses: the base answers nothing (an
    empty answer), base + adapter the reference."""

    kind = "local"

    def __init__(self, model_path, adapter=None, **_kwargs) -> None:
        self.adapter = adapter

    def generate(self, samples, settings, cancel=None, progress=None):
        out = []
        for i, s in enumerate(samples):
            out.append(Generation(answer="" if self.adapter is None else s.reference,
                                  latency_seconds=0.1))  # fmt: skip
            if progress is not None:
                progress(i + 1, len(samples))
        return out

    def eval_loss(self, samples, settings, cancel=None):
        return 2.0 if self.adapter is None else 1.0

    def describe(self, settings) -> str:
        return "stand-in"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if adapters.missing_train_extra():
        pytest.skip("compare_run asks for the train extra")
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(traces())
    store.close()
    (home / "models" / "base").mkdir(parents=True)
    base = str(home / "models" / "base")
    make_run(home, "r1", model=base, adapter_base=base)
    monkeypatch.setattr(adapters, "LocalGenerator", StandIn)
    return home


def test_progress_lines_count_the_samples_of_each_side(home: Path, capsys) -> None:
    n = held_out()
    argv = ["eval", "--home", str(home), "--compare", "r1", "--progress", "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    progress = [json.loads(ln) for ln in lines if ln.startswith('{"progress"')]
    assert progress[0] == {"progress": "base", "done": 0, "total": n}
    assert {p["total"] for p in progress} == {n}  # never base + adapter, never 2 steps each
    for side in ("base", "adapter"):
        done = [p["done"] for p in progress if p["progress"] == side]
        assert done == sorted(done) and done[0] == 0 and done[-1] == n, (side, done)
    printed = json.loads("\n".join(ln for ln in lines if not ln.startswith('{"progress"')))
    assert printed["base"]["samples"] == printed["adapter"]["samples"] == n


def test_a_side_with_only_empty_answers_says_no_sample_scored(home: Path, capsys) -> None:
    n = held_out()
    assert main(["eval", "--home", str(home), "--compare", "r1"]) == 0
    out = capsys.readouterr().out
    base = next(ln for ln in out.splitlines() if ln.startswith("  base "))
    assert "score – (no sample scored)" in base, base
    assert f"{n} samples: 0 scored, {n} errors (empty answer)" in base, base
    assert "0.000" not in base, base
    adapter = next(ln for ln in out.splitlines() if ln.startswith("  adapter "))
    assert "score 1.000" in adapter and f"{n} scored, 0 errors" in adapter, adapter
    assert out.startswith("r1: no score to compare: base nothing scored"), out
