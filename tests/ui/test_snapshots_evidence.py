"""SVG snapshots of deciding on evidence, each at 120×40 and 80×24: the Traces pane in
queue order (Q), with the judge's column beside the human one (J), the judge-agreement
modal, the copy modal (ctrl+y), the export-labels form, and the Routing pane's "label
where it matters" (enter → the Traces queue for that cell) and judge toggle (J).

A demo workspace with every clock pinned; judge scores are written beforehand (a fixed
judge model, fixed times), so no endpoint is needed and the pictures only change when
the app does.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from unittest import mock

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import settle

SIZES = pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
JUDGED = 300
"""The newest traces the judge scored (labelled ones too, for the agreement)."""


@pytest.fixture(scope="module")
def pinned_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jarvis_tui.demo import PINNED_NOW, build_demo

    with mock.patch("time.time", lambda: PINNED_NOW):
        return build_demo(tmp_path_factory.mktemp("evdemo") / "ws", traces=1500, seed=3,
                          optimize=False, now=PINNED_NOW)  # fmt: skip


@pytest.fixture
def home(pinned_demo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(pinned_demo, dest)
    return dest


@pytest.fixture
def judged(home: Path) -> Path:
    """*home* with the judge's scores of its newest traces: near the human score where
    there is one (a judge that mostly agrees), seeded noise elsewhere."""
    from jarvis_tui.demo import PINNED_NOW
    from jarvis_tui.evals.judge import JudgeScore, JudgeStore
    from jarvis_tui.traces import TraceFilter, TraceStore

    rng = random.Random(11)
    with TraceStore(home / "traces.db") as store:
        rows = store.page(TraceFilter(), limit=JUDGED).rows
        scores = []
        for r in rows:
            base = r.feedback if r.feedback is not None else rng.random()
            score = round(min(1.0, max(0.0, base + rng.uniform(-0.15, 0.15))), 2)
            scores.append(JudgeScore(r.trace_id, score, "fits the request", "judge-m",
                                     "h0", PINNED_NOW))  # fmt: skip
        with JudgeStore.for_store(store) as js:
            js.save(scores)
    return home


def no_blink(app: JarvisApp) -> None:
    for widget in app.screen.query("Input, TextArea"):
        widget.cursor_blink = False


def keys(*steps):
    """A run_before that opens the app and runs *steps*: a key, or a callable with the app."""

    async def go(pilot) -> None:
        app = pilot.app
        app.sub_title = "demo workspace"
        await settle(app, pilot)
        for step in steps:
            if callable(step):
                step(app)
            else:
                await pilot.press(step)
            await settle(app, pilot)
        no_blink(app)
        app.clear_notifications()  # toasts time out: not part of the picture
        await pilot.pause()

    return go


def traces(app: JarvisApp) -> TracesPane:
    return app.query_one(TracesPane)


# ---------------------------------------------------------------- Traces


@SIZES
def test_traces_queue_order(home: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("Q"))


@SIZES
def test_traces_judge_column(judged: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(judged), terminal_size=size, run_before=keys("j"))


@SIZES
def test_judge_agreement_modal(judged: Path, snap_compare, size) -> None:
    steps = keys(lambda app: traces(app).show_agreement())
    assert snap_compare(JarvisApp(judged), terminal_size=size, run_before=steps)


@SIZES
def test_copy_modal(home: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("ctrl+y"))


@SIZES
def test_export_labels_form(home: Path, snap_compare, size) -> None:
    steps = keys(lambda app: traces(app).export_labels())
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


# ---------------------------------------------------------------- Routing


@SIZES
def test_routing_enter_opens_the_queue_for_the_cell(home: Path, snap_compare, size) -> None:
    # code × llama3.1:70b (l from the first model): the runner-up of a class whose
    # intervals overlap, so its labels decide; enter opens their queue
    steps = keys("R", "l", "enter")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_routing_with_judge_scores(judged: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(judged), terminal_size=size, run_before=keys("R", "J"))
