"""`jarvis-tui optimize --evaluate measured | replay-then-measure`: trials that measure.

Each config answers the workspace's held-out queries through a local OpenAI-compatible
server; one model answers with the references, the others with noise. The run's trials
persist their per-sample scores and per-class results in OpenJarvis's columns, and say
how they were scored (measured, with the eval set's id) or estimated.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.demo import build_demo
from jarvis_tui.evals import build_eval_set
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.traces.store import TraceStore

GOOD = "llama3.1:70b"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("measured") / "ws", traces=1500, seed=4,
                      optimize=False)  # fmt: skip


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


@pytest.fixture
def server(home: Path):
    store = TraceStore(home / "traces.db")
    refs = {s.query: s.reference for s in build_eval_set(store, samples=12, seed=0).samples}
    store.close()

    def answer_for(model: str):
        return lambda user, system: refs.get(user, "") if model == GOOD else "no idea, sorry"

    with ChatServer({GOOD: answer_for(GOOD), "*": answer_for("other")}) as srv:
        yield srv


def test_measured_run_persists_samples_classes_and_how_scored(home, server, capsys) -> None:
    argv = ["optimize", "--home", str(home), "--trials", "3", "--seed", "2", "--json",
            "--evaluate", "measured", "--eval-backend", server.url, "--samples", "12"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"].startswith("eval:ws-")
    with OptimizationStore(home / "optimize.db") as store:
        trials = store.get_trials(out["run_id"])
        meta = store.get_trial_meta(out["run_id"])
    assert len(trials) == 3
    for t in trials:
        assert len(t.sample_scores) == 12
        assert sum(b.samples_evaluated for b in t.per_benchmark) == 12
        assert meta[t.trial_id]["scoring"] == "measured"
        assert meta[t.trial_id]["eval_set"]["id"] == out["benchmark"].removeprefix("eval:")
    by_model: dict[str, float] = {}
    for t in trials:
        by_model[t.config.params["intelligence.model"]] = t.accuracy
    for model, acc in by_model.items():
        if model != GOOD:
            assert acc < 0.3, (model, acc)
    if GOOD in by_model:
        assert by_model[GOOD] > 0.9


def test_replay_then_measure_measures_only_frontier_candidates(home, server, capsys) -> None:
    argv = ["optimize", "--home", str(home), "--trials", "8", "--seed", "5", "--json",
            "--patience", "8", "--evaluate", "replay-then-measure",
            "--eval-backend", server.url, "--samples", "12"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    with OptimizationStore(home / "optimize.db") as store:
        meta = store.get_trial_meta(out["run_id"])
        trials = {t.trial_id: t for t in store.get_trials(out["run_id"])}
    kinds = [meta[t]["scoring"] for t in trials]
    assert kinds[0] == "measured"  # the first estimate always joins the frontier
    assert "estimate" in kinds or len(set(kinds)) == 1
    for tid, t in trials.items():
        if meta[tid]["scoring"] == "measured":
            assert len(t.sample_scores) == 12
        else:
            assert meta[tid]["estimate"] is True


def test_measured_without_a_generator_says_what_to_pass(home, capsys, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert main(["optimize", "--home", str(home), "--evaluate", "measured"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'jarvis-tui[train]'" in err[0] and "--backend" in err[0]
