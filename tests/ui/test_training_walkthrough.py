"""Training pane, a new user's walkthrough (issue 10): what the screen says is what
happened. A cancelled evaluation is no result; E says what it does while it starts;
the header counts only a valid min quality; a model that is no local folder is refused
beside the form; m answers; an old E error leaves when a run starts; the counts follow
labels given elsewhere; quitting names what it stops."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Input, Static

from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.conftest import make_traces

FAKE_EVAL = str(Path(__file__).with_name("fake_eval.py"))
FAKE_TRAIN = str(Path(__file__).with_name("fake_train.py"))
SILENT_EVAL = ("-c", "import signal; signal.pause()")
"""An evaluation child that never gets to its first progress line (SIGTERM ends it)."""
CHILDREN = ("training.eval", "training.run")
"""The workers that wait on a child process (settle does not wait for them)."""
STUCK_EVAL = ("-c", "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.pause()")
"""One that does not stop when asked (only ctrl+q twice, SIGKILL, ends it)."""


def shown(widget: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    traces = make_traces(120)
    for i, t in enumerate(traces):
        t.feedback = 0.9 if i < 100 else None
    store.save_many(traces)
    store.close()
    return home


def fake_run(home: Path, run_id: str, *, adapter: bool = True) -> Path:
    d = home / "checkpoints" / run_id
    d.mkdir(parents=True)
    step = {"type": "step", "step": 1, "loss": 1.0, "lr": 1e-4, "tokens_per_s": 9.0,
            "eta": 0.0, "total_steps": 1}  # fmt: skip
    (d / "metrics.jsonl").write_text(json.dumps(step) + "\n")
    model = str(home / "models" / "tiny-lm")
    (d / "run.json").write_text(json.dumps({
        "run_id": run_id, "status": "completed", "model": model, "created": 1_780_000_000.0,
        "updated": 1_780_000_001.0, "steps_done": 1, "total_steps": 1, "final_loss": 1.0,
        "duration": 2.0, "config": {}, "data": {}, "summary": {},
    }))  # fmt: skip
    if adapter:
        (d / "final").mkdir()
        (d / "final" / "adapter_config.json").write_text(
            json.dumps({"base_model_name_or_path": model, "peft_type": "LORA"})
        )
    return d


def tiny_model(home: Path) -> None:
    """A folder that passes for the workspace's model (the pane reads no weights)."""
    (home / "models" / "tiny-lm").mkdir(parents=True)
    (home / "models" / "tiny-lm" / "config.json").write_text("{}")


async def open_training(app: JarvisApp, pilot) -> TrainingPane:
    await settle(app, pilot)
    await pilot.press("L")
    await settle(app, pilot)
    pane = app.query_one(TrainingPane)
    await wait_until(pilot, lambda: "SFT pair" in box(pane, "#training-data"), what="counts")
    return pane


def box(pane: TrainingPane, selector: str) -> str:
    return shown(pane.query_one(selector, Static))


def status(pane: TrainingPane) -> str:
    return box(pane, "#training-status")


def no_train_extra_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    from jarvis_tui.evals import adapters
    from jarvis_tui.ui.panes import training

    monkeypatch.setattr(training, "missing_train_modules", lambda: [])
    monkeypatch.setattr(adapters, "comparison_problem", lambda run, ws: None)


async def test_a_cancelled_evaluation_gives_no_verdict_in_the_status_line(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm
    from jarvis_tui.ui.panes import training

    pytest.importorskip("torch")
    ensure_tiny_lm(home / "models")
    fake_run(home, "r1")
    monkeypatch.setattr(training, "EVAL_COMMAND", (FAKE_EVAL,))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("E")
        await wait_until(pilot, lambda: "/" in box(pane, "#training-compare")
                         and "base" in box(pane, "#training-compare"), what="progress")  # fmt: skip
        await pilot.press("x")
        await wait_until(pilot, lambda: pane.evaluating is None, what="the child's end")
        await settle(app, pilot)
        assert "no verdict" in box(pane, "#training-compare")
        line = status(pane)
        assert "evaluation cancelled: nothing saved, no verdict" in line, line
        assert "no clear difference" not in line and "evaluated:" not in line, line


async def test_E_says_what_it_does_while_its_child_starts(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.ui.panes import training

    tiny_model(home)
    fake_run(home, "r1")
    no_train_extra_needed(monkeypatch)
    monkeypatch.setattr(training, "EVAL_COMMAND", SILENT_EVAL)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("E")
        await settle(app, pilot, ignore=CHILDREN)
        note = box(pane, "#training-compare")
        assert "evaluating starting: loading the libraries, building the held-out set …" in note
        assert "s  · x cancels" in note, note  # the seconds since it started, then the key
        await pilot.press("x")
        await wait_until(pilot, lambda: pane.evaluating is None, what="the child's end")
        await settle(app, pilot)
        assert "cancelled before anything was measured" in box(pane, "#training-compare")
        assert "evaluated" not in status(pane)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_header_counts_only_a_valid_min_quality_and_the_form_says_why(
    home: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training.data import TrainingDataMiner

    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        pane = await open_training(app, pilot)
        before = box(pane, "#training-data")
        assert "≥ 0.70" in before, before
        field = pane.query_one("#f-min_quality", Input)
        # "1" is valid on the way to 1.5: its mining comes back after 1.5 is typed
        gate = threading.Event()
        real = TrainingDataMiner.iter_sft_pairs

        def held(self):
            if self.min_quality == 1.0:
                gate.wait(60)
            return real(self)

        monkeypatch.setattr(TrainingDataMiner, "iter_sft_pairs", held)
        field.value = "1"
        await wait_until(pilot, lambda: any(w.group == "training.mine" and not w.is_finished
                                            for w in app.workers), what="the mining of 1")  # fmt: skip
        field.value = "1.5"
        await wait_until(pilot, lambda: "got 1.5" in box(pane, "#e-min_quality"),
                         what="1.5 refused")  # fmt: skip
        gate.set()
        await settle(app, pilot)
        assert box(pane, "#training-data") == before
        errors = box(pane, "#e-min_quality")
        assert "✗ must be in [0, 1] (got 1.5)" in errors, errors  # under it, without s
        assert "SFT pairs above: ≥ 0.70, the last valid" in errors
        field.value = "1"  # typed slowly: 1 is mined and shown, then 1.5 is refused
        await settle(app, pilot)
        at_1 = box(pane, "#training-data")
        assert "≥ 1.00" in at_1, at_1
        field.value = "1.5"
        await settle(app, pilot)
        assert box(pane, "#training-data") == at_1
        assert "above: ≥ 1.00, the last valid" in box(pane, "#e-min_quality")
        field.value = "0.7"
        await settle(app, pilot)
        assert box(pane, "#training-data") == before
        field.value = ""
        await settle(app, pilot)
        assert box(pane, "#training-data") == before  # empty: refused, counts kept
        assert "✗ must be a number" in box(pane, "#e-min_quality")
        field.value = "0.7"
        await settle(app, pilot)
        assert box(pane, "#e-min_quality").strip() == ""


async def test_a_model_that_is_no_local_folder_is_refused_beside_the_form(home: Path) -> None:
    tiny_model(home)
    (home / "models" / "empty").mkdir()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        model = pane.query_one("#f-model", Input)
        model.value = "models/nope"
        await settle(app, pilot)
        errors = box(pane, "#e-model")  # under the field
        assert (
            "✗ models/nope: no such folder in the workspace or the current directory, nor a "
            "model in the local Hugging Face cache (nothing is downloaded)" in errors
        ), errors
        rank = pane.query_one("#f-lora_rank", Input)
        assert model.styles.background != rank.styles.background  # marked where it is typed
        model.value = "models/empty"
        await settle(app, pilot)
        assert "empty: not a Hugging Face model folder (no config.json)" in box(pane, "#e-model")
        model.value = "models/tiny-lm"  # relative to the workspace: accepted
        await settle(app, pilot)
        assert box(pane, "#e-model").strip() == ""
        assert model.styles.background == rank.styles.background
        model.value = "models/nope"
        await settle(app, pilot)
        await pilot.press("s")  # s refuses it too, in the same words
        await settle(app, pilot)
        assert not pane.training
        assert "models/nope: no such folder" in box(pane, "#e-model")
        foot = box(pane, "#training-form-errors")  # which fields, where the form ends
        assert "not started: 1 field marked ✗ needs fixing: model" in foot, foot


async def test_m_says_what_it_did_with_no_run_and_with_one(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        assert "m: no run to overlay yet: train one first (s)" in status(pane)
    fake_run(home, "r1")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await wait_until(pilot, lambda: "1 run in" in status(pane), what="the run")
        await pilot.press("m")
        await settle(app, pilot)
        assert "it is the only run, so the chart already shows it" in status(pane), status(pane)
        await pilot.press("r")  # the list and counts read again (also every 5 s): still said
        await settle(app, pilot)
        assert "it is the only run, so the chart already shows it" in status(pane), status(pane)


async def test_starting_a_run_clears_an_old_E_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.ui.panes import training

    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    monkeypatch.setattr(training, "missing_train_modules", lambda: [])
    monkeypatch.setenv("FAKE_TRAIN_HOLD_IN_PHASE", "1")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("E")
        await settle(app, pilot)
        assert "✗ no run to evaluate: train one first (s)" in box(pane, "#training-compare")
        await pilot.press("s")
        await wait_until(pilot, lambda: "Starting the run" in box(pane, "#training-empty"),
                         what="the starting run")  # fmt: skip
        assert "no run to evaluate" not in box(pane, "#training-compare")
        await pilot.press("x")
        await wait_until(pilot, lambda: not pane.training, what="the run's end")


def label_elsewhere(home: Path, n: int) -> None:
    """Another process (or the Traces pane) labels *n* more traces."""
    store = TraceStore(home / "traces.db")
    try:
        for i in range(101, 101 + n):
            store.update_feedback(f"t1-{i:05d}", 0.95)
    finally:
        store.close()


async def test_the_counts_follow_labels_given_elsewhere_on_r_and_when_shown_again(
    home: Path,
) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        assert "of 100 labelled" in box(pane, "#training-data")
        label_elsewhere(home, 3)
        await pilot.press("r")
        await wait_until(pilot, lambda: "of 103 labelled" in box(pane, "#training-data"),
                         what="the count after r")  # fmt: skip
        assert "103 SFT pairs" in box(pane, "#training-data")
        await pilot.press("T")
        await settle(app, pilot)
        label_elsewhere(home, 5)
        await pilot.press("L")
        await wait_until(pilot, lambda: "of 105 labelled" in box(pane, "#training-data"),
                         what="the count when shown again")  # fmt: skip
        assert "105 SFT pairs" in status(pane)


async def test_quitting_during_an_evaluation_says_it_stops_the_evaluation(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.ui.panes import training

    tiny_model(home)
    fake_run(home, "r1")
    no_train_extra_needed(monkeypatch)
    monkeypatch.setattr(training, "EVAL_COMMAND", STUCK_EVAL)
    monkeypatch.setattr(training, "QUIT_GRACE_S", 30.0)  # (a failing test ends, too)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("E")
        await settle(app, pilot, ignore=CHILDREN)
        assert pane.evaluating == "r1"
        await pilot.press("ctrl+q")
        await settle(app, pilot, ignore=CHILDREN)
        line = status(pane)
        assert "quitting: stopping the evaluation · ctrl+q again: quit now" in line, line
        assert "the run" not in line, line
        await pilot.press("ctrl+q")  # the child ignores SIGTERM: killed now
        await wait_until(pilot, lambda: app.return_code is not None, what="the app to end")
