"""Trials pane: a run evaluated by two workers through Optuna's journal storage.

The workspace's ``optimize.toml`` asks for ``workers = 2``; the run is started from
the pane (``s``), measured against a local chat server whose answers wait behind a
gate, so "both workers are evaluating a trial" is a state the test waits for on the
screen, never a sleep. The screen shows each worker's counts under the header while
the run goes, and each trial's worker in the table once it is done.
"""

from __future__ import annotations

import shutil
import threading
import tomllib
from pathlib import Path

import pytest
import tomli_w
from textual.widgets import Input, Select, Static

from jarvis_tui.demo import build_demo
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials import TrialsPane
from jarvis_tui.ui.testing import settle, wait_until
from jarvis_tui.ui.widgets.trial_table import TrialTable

RUN = ("trials.run",)
DEADLINE_S = 240.0
TRIALS = 4


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("tworkers") / "ws", traces=1500, seed=4,
                      optimize=False)  # fmt: skip


def with_workers(home: Path, n: int) -> None:
    path = home / "optimize.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.setdefault("optimize", {})["workers"] = n
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


def text_of(pane: TrialsPane, sel: str) -> str:
    return str(pane.query_one(sel, Static).render())


def table_lines(pane: TrialsPane) -> list[str]:
    table = pane.query_one("#trials-table", TrialTable)
    return [table.render_line(y).text for y in range(table.size.height)]


async def test_two_workers_each_shown_with_their_counts_and_on_their_trials(
    home: Path, monkeypatch
) -> None:
    # The search space the pane would derive, written out with two workers asked for.
    from jarvis_tui.learning.optimize.session import load_workspace_space, write_search_space
    from jarvis_tui.paths import Workspace
    from jarvis_tui.traces import TraceStore

    with TraceStore(home / "traces.db") as ts:
        space, _origin = load_workspace_space(Workspace(home), ts)
    write_search_space(Workspace(home), space)
    with_workers(home, 2)
    gate = threading.Event()

    def answer(user: str, _system: str) -> str:
        gate.wait(DEADLINE_S)  # every answer waits until both workers hold a trial
        return "an answer"

    with ChatServer({"*": answer}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        app = JarvisApp(home)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(app, pilot, ignore=RUN)
                await pilot.press("P")
                await settle(app, pilot, ignore=RUN)
                pane = app.query_one(TrialsPane)
                await pilot.press("s")
                await pilot.pause()
                app.screen.query_one("#field-0", Input).value = str(TRIALS)
                app.screen.query_one("#field-1", Input).value = "100"  # no early stop
                app.screen.query_one("#field-2", Select).value = "measured"
                await pilot.press("enter")
                # Both workers claim a trial and wait for their answers: both on screen.
                await wait_until(
                    pilot,
                    lambda: all(f"{w} 1 running" in text_of(pane, "#trials-workers")
                                for w in ("w1", "w2")),
                    timeout=DEADLINE_S, what="both workers evaluating a trial",
                )  # fmt: skip
                line = text_of(pane, "#trials-workers")
                assert line.startswith("workers") and "0 done" in line
                assert "optimize-worker --run" in text_of(pane, "#trials-prompt")  # how to join
                gate.set()
                await wait_until(pilot, lambda: not pane.running, timeout=DEADLINE_S,
                                 what="the run's end")  # fmt: skip
                await settle(app, pilot, ignore=RUN)
                status = text_of(pane, "#trials-status")
                assert "completed" in status and f"{TRIALS}/{TRIALS} trials" in status
                line = text_of(pane, "#trials-workers")
                done = {w: int(line.split(f"{w} ", 1)[1].split(" done", 1)[0])
                        for w in ("w1", "w2")}  # fmt: skip
                assert all(n >= 1 for n in done.values()) and sum(done.values()) == TRIALS
                assert "running" not in line
                rows = table_lines(pane)
                assert "worker" in rows[0]  # the table has a worker column now
                shown = {w: sum(1 for r in rows[1:] if f" {w} " in r) for w in ("w1", "w2")}
                assert shown == done
        finally:
            gate.set()
    with OptimizationStore(home / "optimize.db") as store:
        run_id = store.list_runs()[0]["run_id"]
        meta = store.get_trial_meta(run_id)
    workers = [m["worker"] for m in meta.values() if m.get("worker")]
    assert sorted(set(workers)) == ["w1", "w2"] and len(workers) == TRIALS
