"""SVG snapshots of every Trials screen and modal, at 120×40 and 80×24.

The workspace is the demo with its run's ids pinned (uuid4 seeded while it is
built) and its wall time pinned; the search space gets a number, a whole number
and a list dimension so the forms show every kind of field. The live-run
screens (a proposal waiting for review) pin the engine's clock and ids too.
"""

from __future__ import annotations

import json
import random
import sqlite3
import types
import uuid
from pathlib import Path
from unittest import mock

import pytest
from textual.widgets import Input

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials import TrialsPane
from jarvis_tui.ui.testing import settle, wait_until

SIZES = {"120x40": (120, 40), "80x24": (80, 24)}
RUN = ("trials.run",)
EXTRA_SPACE = """
[[optimize.search]]
name = "intelligence.temperature"
type = "continuous"
low = 0.0
high = 1.0
description = "sampling temperature"

[[optimize.search]]
name = "agent.max_turns"
type = "integer"
low = 1
high = 20

[[optimize.search]]
name = "tools.enabled"
type = "subset"
values = ["calculator", "web_search", "file_read"]
"""


def _seeded_uuid(seed: int):
    rng = random.Random(seed)
    return lambda: uuid.UUID(int=rng.getrandbits(128), version=4)


@pytest.fixture(scope="module")
def snap_home(tmp_path_factory) -> Path:
    from jarvis_tui.demo import build_demo

    with mock.patch.object(uuid, "uuid4", _seeded_uuid(5)):
        home = build_demo(tmp_path_factory.mktemp("snaptrials") / "ws", traces=1500, seed=3)
    with sqlite3.connect(home / "optimize.db") as conn:  # the wall time shown is pinned too
        conn.execute("UPDATE jt_run_meta SET meta = json_set(meta, '$.elapsed', 185.0)")
    with (home / "optimize.toml").open("a") as f:
        f.write(EXTRA_SPACE)
    return home


@pytest.fixture
def home(snap_home: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(snap_home, dst)
    return dst


GENERATOR = "gpt-4o-mini via http://127.0.0.1:8000/v1"
"""What the snapshots say measured (the test server's port changes every run)."""


@pytest.fixture(scope="module")
def measured_home(snap_home: Path, tmp_path_factory) -> Path:
    """The demo run with two of its estimates measured by hand: one whole (one query
    answered with noise, so a sample scores 0), one cancelled after 5 samples. Ids and
    latencies pinned (the clock the generator reads is frozen)."""
    import shutil
    import threading

    from jarvis_tui.evals import generators, measure
    from jarvis_tui.evals.local_server import ChatServer
    from jarvis_tui.evals.setup import EvalOptions, build_set
    from jarvis_tui.learning.optimize import OptimizationStore
    from jarvis_tui.paths import Workspace

    home = tmp_path_factory.mktemp("snapmeasured") / "ws"
    shutil.copytree(snap_home, home)
    ws = Workspace(home)
    eval_set = build_set(EvalOptions(), ws)
    refs = {x.query: x.reference for x in eval_set.samples}
    noisy = {eval_set.samples[1].query, eval_set.samples[4].query}
    with OptimizationStore(home / "optimize.db") as store:
        run_id = store.list_runs()[0]["run_id"]
        ids = [t.trial_id for t in store.get_run(run_id).trials]
    cancel = threading.Event()

    def stop_after_5(done: int, _total: int) -> None:
        if done >= 5:
            cancel.set()

    answer = lambda user, _s: "no idea, sorry" if user in noisy else refs.get(user, "")  # noqa: E731
    with (
        ChatServer({"*": answer}) as server,
        mock.patch.object(measure.uuid, "uuid4", _seeded_uuid(21)),
        mock.patch.object(generators.time, "perf_counter", lambda: 0.0),
    ):
        measure.measure_trial(ws, run_id, ids[3], EvalOptions(backend_url=server.url))
        measure.measure_trial(ws, run_id, ids[7], EvalOptions(backend_url=server.url,
                              concurrency=1), cancel=cancel, progress=stop_after_5)  # fmt: skip
    with sqlite3.connect(home / "optimize.db") as conn:
        conn.execute(
            "UPDATE jt_trial_meta SET meta = json_set(meta, '$.generator', ?) "
            "WHERE json_extract(meta, '$.source') = 'measured'",
            (GENERATOR,),
        )
        assert conn.execute("SELECT count(*) FROM jt_trial_meta WHERE "
                            "json_extract(meta, '$.source') = 'measured'").fetchone()[0] == 2  # fmt: skip
    return home


@pytest.fixture
def mixed_home(measured_home: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(measured_home, dst)
    return dst


@pytest.fixture(scope="module")
def workers_snap_home(snap_home: Path, tmp_path_factory) -> Path:
    """The demo run as if two workers had evaluated it: trials alternate between ``w1``
    and ``w2`` (in run order), and one more trial of ``w2`` failed (it has no scores)."""
    import shutil

    home = tmp_path_factory.mktemp("snapworkers") / "ws"
    shutil.copytree(snap_home, home)
    with sqlite3.connect(home / "optimize.db") as conn:
        (run_id,) = conn.execute("SELECT DISTINCT run_id FROM jt_trial_meta").fetchone()
        rows = conn.execute("SELECT trial_id, json_extract(meta, '$.num') FROM jt_trial_meta "
                            "WHERE run_id = ?", (run_id,)).fetchall()  # fmt: skip
        for trial_id, num in rows:
            conn.execute(
                "UPDATE jt_trial_meta SET meta = json_set(meta, '$.worker', ?) "
                "WHERE run_id = ? AND trial_id = ?",
                ("w1" if int(num or 0) % 2 else "w2", run_id, trial_id),
            )
        failed = {"source": "next", "worker": "w2", "status": "failed",
                  "error": "worker w2: endpoint refused the connection"}  # fmt: skip
        conn.execute("INSERT INTO jt_trial_meta(run_id, trial_id, meta) VALUES (?, ?, json(?))",
                     (run_id, "t-failed0001", json.dumps(failed)))  # fmt: skip
    return home


@pytest.fixture
def workers_home(workers_snap_home: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(workers_snap_home, dst)
    return dst


@pytest.fixture
def pinned_engine():
    """The engine's clock and ids fixed, so a live run's screen is the same every time."""
    from jarvis_tui.learning.optimize import optimizer

    clock = types.SimpleNamespace(monotonic=lambda: 1000.0, time=lambda: 1_780_000_000.0)
    with (
        mock.patch.object(optimizer, "time", clock),
        mock.patch.object(optimizer.uuid, "uuid4", _seeded_uuid(11)),
    ):
        yield


async def _trials(pilot) -> None:
    app = pilot.app
    app.sub_title = "demo workspace"
    await settle(app, pilot, ignore=RUN)
    await pilot.press("P")
    await settle(app, pilot, ignore=RUN)
    await pilot.press("l")  # a frontier member selected: its detail and trade-offs
    await settle(app, pilot, ignore=RUN)


def _keys(*keys: str):
    async def go(pilot) -> None:
        await _trials(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot.app, pilot, ignore=RUN)
        await _quiet(pilot)

    return go


async def _quiet(pilot) -> None:
    """Toasts ("review mode on") would cover the prompt line: the snapshot is of the pane."""
    pilot.app.clear_notifications()
    await settle(pilot.app, pilot, ignore=RUN)


async def _queue_with_errors(pilot) -> None:
    await _keys("a")(pilot)
    form = pilot.app.screen
    names = sorted(d.name for d in pilot.app.query_one(TrialsPane).space.dimensions)
    at = {name: i for i, name in enumerate(names)}  # the form's order
    temp = form.query_one(f"#field-{at['intelligence.temperature']}", Input)
    temp.value = "warm"
    form.query_one(f"#field-{at['agent.max_turns']}", Input).value = "99"
    await pilot.press("ctrl+s")
    await settle(pilot.app, pilot, ignore=RUN)
    form.query_one(f"#row-{at['intelligence.temperature']}").scroll_visible(animate=False)
    await settle(pilot.app, pilot, ignore=RUN)
    await _quiet(pilot)


async def _review_waiting(pilot) -> None:
    await _keys("v", "s")(pilot)
    pilot.app.screen.query_one("#field-0", Input).value = "3"
    await pilot.press("enter")
    pane = pilot.app.query_one(TrialsPane)
    await wait_until(pilot, lambda: pane.pending is not None, what="the first proposal")
    await settle(pilot.app, pilot, ignore=RUN)
    await _quiet(pilot)


async def _edit_waiting(pilot) -> None:
    await _review_waiting(pilot)
    await pilot.press("e")
    await settle(pilot.app, pilot, ignore=RUN)
    await _quiet(pilot)


async def _reject_waiting(pilot) -> None:
    await _review_waiting(pilot)
    await pilot.press("n")
    await settle(pilot.app, pilot, ignore=RUN)
    await pilot.press("enter")  # empty: refused beside the field
    await settle(pilot.app, pilot, ignore=RUN)
    await _quiet(pilot)


async def _outside_path(pilot) -> None:
    await _keys("w")(pilot)
    # a folder that exists outside the workspace (a missing one is refused beside the field)
    pilot.app.screen.query_one(Input).value = "/tmp/best-recipe.toml"
    await pilot.press("enter")
    await settle(pilot.app, pilot, ignore=RUN)
    await _quiet(pilot)


async def _bounds_bad(pilot) -> None:
    await _keys("B")(pilot)
    pilot.app.screen.query_one(Input).value = "latency <= fast"
    await pilot.press("enter")
    await settle(pilot.app, pilot, ignore=RUN)
    await _quiet(pilot)


SCREENS = {
    "pane": _keys(),
    "queue_form": _keys("a"),
    "queue_form_errors": _queue_with_errors,
    "start_form": _keys("s"),
    "bounds_prompt": _bounds_bad,
    "export_prompt": _keys("w"),
    "outside_path_confirm": _outside_path,
    "promote_confirm": _keys("plus"),
    "trial_window": _keys("enter"),  # enter: the selected trial whole
}
MEASURED = {
    "mixed_pane": _keys(),  # a frontier member selected (an estimate)
    "measured_detail": _keys("G", "k"),  # measured: its samples, worst first
    "partial_detail": _keys("G"),  # the newest: cancelled after 5 samples
    "measured_window": _keys("G", "k", "enter"),  # enter: with its samples, worst first
}
LIVE = {
    "review_waiting": _review_waiting,
    "edit_then_accept_form": _edit_waiting,
    "reject_reason_prompt": _reject_waiting,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", SCREENS)
def test_trials_screen(name: str, size: str, home: Path, snap_compare) -> None:
    assert snap_compare(JarvisApp(home), terminal_size=SIZES[size], run_before=SCREENS[name])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", LIVE)
def test_trials_live_screen(name: str, size: str, home: Path, pinned_engine, snap_compare) -> None:
    assert snap_compare(JarvisApp(home), terminal_size=SIZES[size], run_before=LIVE[name])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", MEASURED)
def test_trials_measured_screen(name: str, size: str, mixed_home: Path, snap_compare) -> None:
    assert snap_compare(JarvisApp(mixed_home), terminal_size=SIZES[size],
                        run_before=MEASURED[name])  # fmt: skip


WORKERS = {
    "workers_pane": _keys(),  # a frontier member selected: its worker in the detail
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", WORKERS)
def test_trials_workers_screen(name: str, size: str, workers_home: Path, snap_compare) -> None:
    """A run evaluated by two workers: the worker column (narrow: in place of the
    source) and each worker's done / failed counts under the header."""
    assert snap_compare(JarvisApp(workers_home), terminal_size=SIZES[size],
                        run_before=WORKERS[name])  # fmt: skip
