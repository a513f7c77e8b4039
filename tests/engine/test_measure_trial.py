"""Measuring one trial of a run after the fact (what the Trials pane's M calls).

A measured run remembers what answered its trials (``generator`` in each trial's meta),
so a later measurement of one of its estimates goes to the same endpoint; an estimate
run uses the environment's endpoint. The result is a trial of the same run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.demo import build_demo
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.evals.measure import (
    measure_options,
    measure_trial,
    read_sample_rows,
    scoring_of,
    worst_first,
)
from jarvis_tui.evals.setup import EvalOptions
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.paths import Workspace


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("measure1") / "ws", traces=1500, seed=4)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


def test_older_trials_without_scoring_follow_the_run() -> None:
    assert scoring_of({}, True) == "estimate"
    assert scoring_of({}, False) == "measured"
    assert scoring_of({"estimate": True}, False) == "estimate"
    assert scoring_of({"scoring": "measured"}, True) == "measured"


def test_a_measured_run_is_measured_again_through_its_own_endpoint(home, capsys) -> None:
    with ChatServer({"*": lambda user, _s: user}) as server:
        argv = ["optimize", "--home", str(home), "--trials", "2", "--seed", "1", "--json",
                "--evaluate", "measured", "--eval-backend", server.url, "--samples", "6"]  # fmt: skip
        assert main(argv) == 0
        run_id = json.loads(capsys.readouterr().out)["run_id"]
        with OptimizationStore(home / "optimize.db") as store:
            run = store.get_run(run_id)
            meta = store.get_trial_meta(run_id)
        env = {"JARVIS_TUI_EVAL_URL": "http://127.0.0.1:9/v1"}  # not the run's: unused
        opts, origin = measure_options(run.trials, meta, Workspace(home), env=env)
        assert opts.backend_url == server.url and "the run's endpoint" in origin


def test_measure_trial_saves_a_child_trial_and_every_sample(home) -> None:
    ws = Workspace(home)
    with OptimizationStore(home / "optimize.db") as store:
        run_id = store.list_runs()[0]["run_id"]
        run = store.get_run(run_id)
        meta = store.get_trial_meta(run_id)
    source = run.trials[0].trial_id
    with ChatServer({"*": lambda user, _s: "nothing useful"}) as server:
        opts, origin = measure_options(run.trials, meta, ws, run_estimate=True,
                                       env={"JARVIS_TUI_EVAL_URL": server.url})  # fmt: skip
        assert opts.backend_url == server.url and "JARVIS_TUI_EVAL_URL" in origin
        done = measure_trial(ws, run_id, source, opts)
    assert done.trial_id and not done.partial and done.samples == done.total > 0
    with OptimizationStore(home / "optimize.db") as store:
        after = store.get_run(run_id)
        m = store.get_trial_meta(run_id)[done.trial_id]
    assert len(after.trials) == len(run.trials) + 1
    assert (m["source"], m["parent"], m["scoring"]) == ("measured", source, "measured")
    assert m["num"] == len(run.trials) + 1 and "via" in m["generator"]
    path = Path(m["eval_result"])
    assert path.parent == home / "evals" and (os.stat(path).st_mode & 0o077) == 0
    rows = worst_first(read_sample_rows(path))
    assert len(rows) == done.total and all(r["query"] and r["reference"] for r in rows)
    # measured by hand: the next measurement of this estimate run uses the defaults again
    opts2, origin2 = measure_options(after.trials, store_meta(home, run_id), ws,
                                     run_estimate=True, env={})  # fmt: skip
    assert opts2.backend_url is None and "tiny" in origin2


def store_meta(home: Path, run_id: str) -> dict:
    with OptimizationStore(home / "optimize.db") as store:
        return store.get_trial_meta(run_id)


def test_unreadable_result_files_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="broken JSON"):
        read_sample_rows(bad)
    with pytest.raises(ValueError, match="no such file"):
        read_sample_rows(tmp_path / "gone.json")
    other = tmp_path / "other.json"
    other.write_text('{"accuracy": 1}')
    with pytest.raises(ValueError, match="no sample_results"):
        read_sample_rows(other)


def test_worst_first_puts_errors_then_low_scores_first() -> None:
    rows = [
        {"record_id": "a", "score": 0.9, "error": None},
        {"record_id": "b", "score": None, "error": "timeout"},
        {"record_id": "c", "score": 0.1, "error": None},
    ]
    assert [r["record_id"] for r in worst_first(rows)] == ["b", "c", "a"]


def test_without_torch_and_endpoint_nothing_runs(monkeypatch, home) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n == "torch" else real(n, *a))  # fmt: skip
    with pytest.raises(ValueError, match=r"jarvis-tui\[train\].*JARVIS_TUI_EVAL_URL"):
        measure_trial(Workspace(home), "any", "any", EvalOptions())
