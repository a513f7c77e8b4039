"""open_session and measure_trial use an OptimizationStore they are given (the app's
workspace session owns one per workspace) and leave it open; without one they open
their own and close it, as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jarvis_tui.demo import build_demo
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.evals.measure import measure_options, measure_trial
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.learning.optimize.session import open_session
from jarvis_tui.learning.optimize.store import StoreError
from jarvis_tui.paths import Workspace


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("borrowed") / "ws", traces=1500, seed=4)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


def test_a_session_runs_on_the_given_store_and_leaves_it_open(home: Path) -> None:
    with OptimizationStore(home / "optimize.db") as store:
        before = {r["run_id"] for r in store.list_runs()}
        session = open_session(Workspace(home), max_trials=2, patience=100, seed=1, store=store)
        try:
            run = session.engine.run()
        finally:
            session.close()
        # still open after the session closed, and the run was written through it
        assert {r["run_id"] for r in store.list_runs()} == before | {run.run_id}
        assert len(store.get_run(run.run_id).trials) == 2


def test_a_session_without_a_store_closes_its_own(home: Path) -> None:
    session = open_session(Workspace(home), max_trials=2, patience=100, seed=1)
    session.close()
    with pytest.raises(StoreError, match="closed"):
        session.opt_store.list_runs()


def test_measure_trial_writes_through_the_given_store_and_leaves_it_open(home: Path) -> None:
    ws = Workspace(home)
    with OptimizationStore(home / "optimize.db") as store:
        run_id = store.list_runs()[0]["run_id"]
        run = store.get_run(run_id)
        meta = store.get_trial_meta(run_id)
        with ChatServer({"*": lambda user, _s: user}) as server:
            opts, _origin = measure_options(run.trials, meta, ws, run_estimate=True,
                                            env={"JARVIS_TUI_EVAL_URL": server.url})  # fmt: skip
            done = measure_trial(ws, run_id, run.trials[0].trial_id, opts, store=store)
        assert done.trial_id is not None
        assert done.trial_id in store.get_trial_meta(run_id)  # still open: read through it


def test_a_session_refused_for_its_search_space_never_asks_for_the_store(home: Path) -> None:
    (home / "optimize.toml").write_text('[[optimize.search]]\nname = "x"\ntype = "fuzzy"\n')
    (home / "optimize.db").unlink()
    asked: list[int] = []

    def store() -> OptimizationStore:
        asked.append(1)
        return OptimizationStore(home / "optimize.db")

    with pytest.raises(ValueError, match="fuzzy"):
        open_session(Workspace(home), max_trials=2, store=store)
    assert asked == [] and not (home / "optimize.db").exists()


def test_a_store_given_as_a_function_is_asked_once_the_run_can_start(home: Path) -> None:
    with OptimizationStore(home / "optimize.db") as store:
        asked: list[int] = []

        def give() -> OptimizationStore:
            asked.append(1)
            return store

        session = open_session(Workspace(home), max_trials=1, patience=100, seed=1, store=give)
        try:
            run = session.engine.run()
        finally:
            session.close()
        assert asked == [1] and store.get_run(run.run_id) is not None  # still open
