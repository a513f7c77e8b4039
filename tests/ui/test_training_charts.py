"""Training charts while a run streams (issues 11 and 15): the pictures are drawn off
the UI thread, batch after batch, and end the same as those of the whole file read at
once."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
from textual_plotext.plot import Plot

from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes import training
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.conftest import make_traces

CHARTS = ("#chart-loss", "#chart-lr", "#chart-tps")
SIZE = (120, 40)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(make_traces(20))
    store.close()
    monkeypatch.setattr(training, "missing_train_modules", lambda: [])  # charts, not the box
    run = home / "checkpoints" / "run-0001"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "run_id": "run-0001", "status": "completed", "model": "models/tiny-lm",
        "created": 1_780_000_000.0, "updated": 1_780_000_005.0, "steps_done": 0,
        "total_steps": 400, "final_loss": 0.48, "duration": 4.8, "message": "",
        "config": {}, "data": {}, "summary": {},
    }))  # fmt: skip
    (run / "metrics.jsonl").write_text("")
    return home


def metrics(first: int, last: int) -> str:
    """The metrics.jsonl lines of steps *first*..*last* (an eval and an epoch every 100)."""
    lines: list[dict[str, Any]] = []
    for i in range(first, last + 1):
        loss = 2.4 * math.exp(-i / 90) + 0.35 + 0.05 * math.sin(i * 1.7)
        lines.append({"type": "step", "step": i, "loss": loss, "lr": 5e-4 * (1 - i / 500),
                      "tokens_per_s": 21_000 + 800 * math.sin(i / 5), "eta": (400 - i) * 0.04,
                      "elapsed": i * 0.04, "total_steps": 400})  # fmt: skip
        if i % 100 == 0:
            lines.append({"type": "eval", "step": i, "eval_loss": loss + 0.08})
            lines.append({"type": "epoch", "epoch": i // 100, "step": i})
    return "".join(json.dumps(x) + "\n" for x in lines)


def pictures(app: JarvisApp) -> list[list[list[tuple[str, str]]]]:
    """Every cell of the three charts as drawn on screen: text and style, line by line."""
    out = []
    for chart_id in CHARTS:
        chart = app.query_one(chart_id)
        assert chart.size.width > 20 and chart.size.height > 5, chart_id  # on screen
        lines = [chart.render_line(y) for y in range(chart.size.height)]
        out.append([[(seg.text, str(seg.style)) for seg in line] for line in lines])
    return out


async def test_streamed_charts_are_drawn_off_the_ui_thread_and_end_as_the_whole_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[bool] = []  # one per plotext canvas: was it on the UI thread?
    build = Plot.build

    def recording(self: Plot) -> Any:
        builds.append(threading.current_thread() is threading.main_thread())
        return build(self)

    monkeypatch.setattr(Plot, "build", recording)
    path = home / "checkpoints" / "run-0001" / "metrics.jsonl"
    app = JarvisApp(home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        pane = app.query_one(training.TrainingPane)
        with path.open("a") as f:
            f.write(metrics(1, 40))
        await wait_until(pilot, lambda: len(pane.steps) == 40, what="the first steps")
        await settle(app, pilot)
        pictures(app)  # the charts are on screen, at their size
        builds.clear()
        # Batches as a run writes them; the pane follows the file (its timer). Four
        # batches of 90 steps, each past an eval and an epoch record (every 100 steps).
        for first in range(41, 401, 90):
            with path.open("a") as f:
                f.write(metrics(first, first + 89))
            await wait_until(pilot, lambda n=first + 89: len(pane.steps) == n, what="a batch")
            await settle(app, pilot)
        streamed = pictures(app)
    assert builds, "no chart was drawn while the run streamed"
    assert not any(builds), f"{sum(builds)} of {len(builds)} charts drawn on the UI thread"

    app = JarvisApp(home)  # the same run, its whole file read at once
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        pane = app.query_one(training.TrainingPane)
        await wait_until(pilot, lambda: len(pane.steps) == 400, what="the whole file")
        await settle(app, pilot)
        whole = pictures(app)
    assert streamed == whole


def alert_lines(app: JarvisApp) -> list[str]:
    """The alerts box under the charts as painted: its text, row by row."""
    box = app.query_one("#training-alerts")
    return [box.render_line(y).text.rstrip() for y in range(box.size.height)]


async def test_alerts_follow_the_steps_and_the_box_grows_with_them(home: Path) -> None:
    """The alerts are repainted as their figures change (a plateau's, every batch) and
    the box takes a row more when an alert more comes."""

    def step(i: int, loss: float) -> str:
        return json.dumps({"type": "step", "step": i, "loss": loss, "lr": 1e-4,
                           "tokens_per_s": 20_000, "eta": 1.0, "elapsed": i * 0.04,
                           "total_steps": 400}) + "\n"  # fmt: skip

    path = home / "checkpoints" / "run-0001" / "metrics.jsonl"
    steps: list[dict[str, Any]] = []
    app = JarvisApp(home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        pane = app.query_one(training.TrainingPane)
        for first, last, nan in ((1, 80, False), (81, 160, False), (161, 161, True)):
            batch = []
            for i in range(first, last + 1):
                loss = float("nan") if nan else 1.0 + 0.002 * math.sin(i / 4) - 0.00005 * i
                batch.append(step(i, loss))
                steps.append({"step": i, "loss": loss})
            with path.open("a") as f:
                f.write("".join(batch))
            want = ["⚠ " + a for a in training.alerts(steps[-2_000:], pane.alpha)]
            await wait_until(pilot, lambda w=want: alert_lines(app) == w, what=str(want))
    assert len(want) == 2 and "NaN" in want[0] and "plateau" in want[1]
