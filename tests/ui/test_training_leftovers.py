"""Training pane, the previous walkthrough's leftovers (issue 10): a run cancelled before
its first step (finding 76), the progress bar's gap (21), the form at 80x24 (34), enter
on a run (74), the runs list without torch (61). On the fakes: no torch runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.test_training_eval import fake_run, open_training, shown

FAKE_TRAIN = str(Path(__file__).with_name("fake_train.py"))
RUN = ("training.run",)
"""The training child's worker: it waits for the child, which holds until cancelled."""


@pytest.fixture
def home(labelled_home: Path) -> Path:
    return labelled_home  # (tests/ui/conftest.py)


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text (the SVG screenshot's characters)."""
    import html
    import re

    svg = app.export_screenshot()
    rows = re.findall(r"<text [^>]*>(.*?)</text>", svg)
    return html.unescape("".join(rows)).replace("\xa0", " ")


async def test_a_run_cancelled_before_its_first_step_never_shows_the_last_runs_charts(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.ui.panes import training

    fake_run(home, "r0", model="m")  # the runs before, with a step each
    fake_run(home, "r1", model="m")
    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    monkeypatch.setenv("FAKE_TRAIN_HOLD_IN_PHASE", "1")  # no run folder, no step yet
    ended = tmp_path / "let-it-end"
    monkeypatch.setenv("FAKE_TRAIN_END_AFTER", str(ended))  # cancelled, it ends on this
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        status = pane.query_one("#training-status", Static)
        eta = pane.query_one("#training-eta", Static)
        box = pane.query_one("#training-empty", Static)
        assert "following r" in shown(status)
        await pilot.press("s")
        await wait_until(pilot, lambda: "building the demo model" in str(eta.render()),
                         what="the child's phase on screen")  # fmt: skip
        await pilot.press("r")  # the runs list read again while the run starts
        await settle(app, pilot, ignore=RUN)
        assert "following r" not in shown(status), shown(status)
        assert "building the demo model" in str(eta.render())
        assert "Starting the run" in shown(box), shown(box)
        assert not pane.query_one("#chart-loss").display  # no chart: r0's is not shown
        await pilot.press("s")  # a second s while it starts: said, nothing started
        assert "a run is starting already" in shown(status), shown(status)
        await pilot.press("x")
        assert "cancelling" in str(eta.render()), str(eta.render())
        assert "finishing the current step" not in shown(status) + str(eta.render())
        assert "Cancelling the run" in shown(box), shown(box)
        await pilot.press("s")
        assert "being cancelled" in shown(status), shown(status)
        ended.touch()
        await wait_until(pilot, lambda: not pane.training, what="the run cancelled")
        await settle(app, pilot, ignore=RUN)
        said = shown(status)
        assert "cancelled before the first step; nothing saved" in said, said
        assert "cancelled before the first step; nothing saved" in shown(box), shown(box)
        assert "following r" not in said, said
        assert not pane.query_one("#chart-loss").display
        await pilot.press("r")  # read again: still nothing followed until the user moves
        await settle(app, pilot, ignore=RUN)
        assert "following r" not in shown(status), shown(status)
        await pilot.press("j")  # moving the cursor shows that run's charts
        await settle(app, pilot, ignore=RUN)
        assert "following r" in shown(status), shown(status)
        assert pane.query_one("#chart-loss").display


async def test_at_80x24_the_whole_form_is_reachable_and_fields_below_the_fold_are_said(
    home: Path,
) -> None:
    for i in range(5):  # a runs list long enough to push the form below the fold
        fake_run(home, f"r{i}", model="m")
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_training(app, pilot)
        await settle(app, pilot)
        more = pane.query_one("#training-more", Static)
        screen = screen_text(app)
        assert "↓ 4 more fields below · tab" in screen, screen
        assert "eval split" not in screen  # the last field is below the fold
        assert "held out" in screen and "e.g." not in screen  # counts only: rows for the form
        pane.query_one("#f-eval_fraction").focus()  # as tab there does
        await settle(app, pilot)
        screen = screen_text(app)
        assert "eval split" in screen, screen
        assert "more field" not in screen and not more.display, screen


def detailed_run(home: Path, run_id: str, model: str, fast_path: dict | None = None) -> Path:
    """A finished run with what ``jarvis-tui train`` records: settings, sizes, a verdict
    (and *fast_path* as its ``config.fast_path``, where given)."""
    import json

    d = fake_run(home, run_id, model=model)
    info = json.loads((d / "run.json").read_text())
    fast = fast_path if fast_path is not None else {"precision": "fp32", "checkpointing": False}
    info["config"] = {"lora_rank": 16, "learning_rate": 0.0005, "num_epochs": 2,
                      "fast_path": fast}  # fmt: skip
    info["data"] = {"pairs": 400, "train_examples": 360, "eval_examples": 40}
    info["summary"] = {"eval_loss": 1.25, "device": "cpu"}
    (d / "run.json").write_text(json.dumps(info))
    (d / "eval.json").write_text(json.dumps({"verdict": "adapter better: score +0.174"}))
    return d


async def test_enter_on_a_run_opens_its_summary_and_escape_closes_it(home: Path) -> None:
    from jarvis_tui.ui.screens.run_detail import RunDetailScreen

    folder = detailed_run(home, "r1", model="[bold]models/x[/]")  # markup stays text
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_training(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, RunDetailScreen)
        screen = screen_text(app)
        for words in ("Training run r1", "model", "[bold]models/x[/]", "rank", "16",
                      "learning rate", "0.0005", "SFT pairs", "400", "final loss", "1.000",
                      "eval loss", "1.25", "adapter better: score +0.174", "escape: close"):  # fmt: skip
            assert words in screen, (words, screen)
        assert str(folder) in screen.replace("│", "").replace(" ", ""), screen  # whole
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, RunDetailScreen)
        assert "following r1" in shown(app.query_one("#training-status", Static))


async def test_at_80x24_j_scrolls_the_summary_to_its_end_and_k_back(home: Path) -> None:
    """The summary is taller than an 80x24 terminal: j reaches its last rows (the
    adapter's folder), k comes back to the top; the title and the hint stay."""
    from tests.ui.test_training_run_summary_words import REAL_FAST_PATH

    folder = detailed_run(home, "r1", model="m", fast_path=REAL_FAST_PATH)
    (folder / "final").mkdir()
    (folder / "final" / "adapter_config.json").write_text("{}")
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_training(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        top = screen_text(app)
        assert "LoRA settings" in top and "On disk" not in top, top
        for _ in range(40):
            await pilot.press("j")
        await settle(app, pilot)
        end = screen_text(app)
        for words in ("On disk", "r1/final", "last layer: o_proj", "Training run r1",
                      "j / k: scroll"):  # fmt: skip
            assert words in end, (words, end)
        assert "LoRA settings" not in end
        for _ in range(40):
            await pilot.press("k")
        await settle(app, pilot)
        assert screen_text(app) == top


async def test_help_offers_enter_on_a_run_as_available(home: Path) -> None:
    """W3 4: with a finished run selected the help said '⏎ Open run (its summary) (not
    available now)', though enter opened it (the runs table's own enter takes the key;
    the pane acts on the row it selects)."""
    detailed_run(home, "r1", model="m")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_training(app, pilot)
        rows = dict(app.help_for_pane()[2])
        opens = [what for key, what in rows.items() if "⏎" in key or "enter" in key]
        assert opens and not any("not available now" in w for w in opens), rows
        assert "not available now" in rows["x"]  # nothing runs: x has nothing to cancel


async def test_a_run_with_no_step_says_so_where_the_charts_go(home: Path) -> None:
    import json

    from jarvis_tui.ui.panes.training import ChartData, chart_specs

    d = fake_run(home, "r1", model="m")
    (d / "metrics.jsonl").unlink()
    info = json.loads((d / "run.json").read_text())
    info.update(status="cancelled", steps_done=0, final_loss=None,
                message="cancelled after 0 of 86 steps; the adapter was saved")  # fmt: skip
    (d / "run.json").write_text(json.dumps(info))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await settle(app, pilot)
        box = shown(pane.query_one("#training-empty", Static))
        assert "r1 cancelled: no step recorded (cancelled after 0 of 86 steps" in box, box
        assert "No run selected" not in box, box
    # (with a marked run overlaid, the loss chart is drawn: its title says the same)
    data = ChartData("r1", [], [], [], {"r0": [(1, 1.0)]}, 0.1, 60)
    assert chart_specs(data)["chart-loss"].title == "loss: no step recorded"


async def test_a_run_started_elsewhere_is_followed_live(home: Path) -> None:
    import json
    import os
    import time

    fake_run(home, "r0", model="m")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        status = pane.query_one("#training-status", Static)
        assert "following r0 completed" in shown(status), shown(status)
        run = "20261202-051530-bc72"  # an id as jarvis-tui train makes them
        d = fake_run(home, run, model="m")  # jarvis-tui train in another terminal
        info = json.loads((d / "run.json").read_text())
        now = time.time()
        info.update(status="running", created=now, updated=now, pid=os.getpid(),
                    final_loss=None, duration=None)  # fmt: skip
        (d / "run.json").write_text(json.dumps(info))
        await pilot.press("r")  # (as the list is read again every 5 s)
        await settle(app, pilot)
        said = shown(status)
        assert f"following {run} running" in said, said
        assert "a new run started elsewhere: followed" in said, said
        assert not said.rstrip().endswith("…"), said  # whole at 120 columns
        # it ends (walkthrough W2 15): no stale "running" news, the line not cut
        info.update(status="completed", final_loss=1.0, duration=2.0)
        (d / "run.json").write_text(json.dumps(info))
        await pilot.press("r")
        await settle(app, pilot)
        said = shown(status)
        assert f"following {run} completed" in said, said
        assert "running" not in said and "started elsewhere" not in said, said
        assert not said.rstrip().endswith("…"), said


async def test_before_the_runs_are_read_no_false_zero(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from jarvis_tui.learning.training import runs

    fake_run(home, "r0", model="m")
    release = threading.Event()
    list_runs = runs.list_runs

    def slow_list_runs(*args, **kwargs):  # a slow disk: the list comes when released
        release.wait(30)
        return list_runs(*args, **kwargs)

    monkeypatch.setattr(runs, "list_runs", slow_list_runs)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        status = app.query_one("#training-status", Static)
        await wait_until(pilot, lambda: "checkpoints/" in shown(status), what="the status")
        said = shown(status)
        assert "reading checkpoints/…" in said and "0 runs" not in said, said
        release.set()
        await wait_until(pilot, lambda: "1 run in checkpoints/" in shown(status),
                         what="the runs read")  # fmt: skip


def test_the_loss_legend_is_drawn_above_the_curve_not_over_it() -> None:
    from jarvis_tui.ui.widgets.chart import ChartSpec, Series, draw

    xs = list(range(1, 61))
    ys = [3.0] * 30 + [0.5] * 30  # high at the left, where plotext puts its legend
    spec = ChartSpec("title", series=(Series(xs, ys, label="loss"), Series(xs, ys, label="EMA")))
    lines = draw(spec, 60, 24, "dark").text.plain.splitlines()
    legend = [line for line in lines if " loss" in line or " EMA" in line]
    assert len(legend) == 2, lines
    for line in legend:  # nothing of the curve beside the legend: it has rows of its own
        after = line.split(" loss" if " loss" in line else " EMA", 1)[1]
        assert not any("\u2800" <= ch <= "\u28ff" for ch in after), lines
