"""The app keeps one OptimizationStore per workspace: the Trials pane's list, a
measurement (M) and an optimization run (s) all use the workspace session's store,
never one of their own (each had opened its own connection to optimize.db)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from jarvis_tui.demo import DEMO_RUN_TRIALS
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials import TrialsPane
from jarvis_tui.ui.testing import settle, wait_until

IGNORE = ("trials.run", "trials.measure")


@pytest.fixture(scope="module")
def template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


async def test_a_measurement_and_a_run_use_the_workspace_sessions_one_store(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Path] = []
    real_init = OptimizationStore.__init__

    def counting_init(self: OptimizationStore, db_path) -> None:
        opened.append(Path(db_path))
        real_init(self, db_path)

    monkeypatch.setattr(OptimizationStore, "__init__", counting_init)
    with ChatServer({"*": lambda user, _system: user}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        monkeypatch.setenv("JARVIS_TUI_EVAL_MODEL", "served-model")
        app = JarvisApp(home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, ignore=IGNORE)
            await pilot.press("P")
            await settle(app, pilot, ignore=IGNORE)
            pane = app.query_one(TrialsPane)
            first_run = pane.view.run_id
            await pilot.press("M")  # measure the selected estimate
            await wait_until(
                pilot,
                lambda: pane.measuring is None and len(pane.view.trials) == DEMO_RUN_TRIALS + 1,
                what="the measured trial",
            )
            await settle(app, pilot, ignore=IGNORE)
            assert "1 measured" in str(pane.query_one("#trials-status", Static).render())
            await pilot.press("s")  # a new run of 2 trials, estimated by replay
            await pilot.pause()
            app.screen.query_one("#field-0", Input).value = "2"
            await pilot.press("enter")
            await wait_until(
                pilot,
                lambda: not pane.running and pane.view.run_id != first_run,
                what="the new run to end",
            )
            await settle(app, pilot, ignore=IGNORE)
            assert pane.view.status == "completed" and len(pane.view.trials) == 2
    assert opened == [home / "optimize.db"], opened
    with OptimizationStore(home / "optimize.db") as store:  # both landed on disk
        runs = {r["run_id"] for r in store.list_runs()}
        assert {first_run, pane.view.run_id} <= runs
        measured = [t for t in store.get_run(first_run).trials if t.trial_id.startswith("m-")]
        assert len(measured) == 1
