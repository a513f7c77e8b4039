"""Training pane: form validation, a run started from the pane, live points, cancel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.training import TrainingPane, alerts, ema
from jarvis_tui.ui.testing import settle
from tests.ui.conftest import make_traces

pytest.importorskip("torch")
pytest.importorskip("peft")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    traces = make_traces(120)
    for t in traces:
        t.feedback = 0.9
    store.save_many(traces)
    store.close()
    return home


async def open_training(app: JarvisApp, pilot) -> TrainingPane:
    await settle(app, pilot)
    await pilot.press("L")
    await settle(app, pilot)
    return app.query_one(TrainingPane)


def set_form(pane: TrainingPane, **values: str) -> None:
    for key, value in values.items():
        pane.query_one(f"#f-{key}", Input).value = value


async def test_form_refuses_bad_settings_with_the_reason(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        assert pane.pairs, "labelled traces give SFT pairs"
        set_form(pane, lora_rank="0", learning_rate="-1")
        await pilot.press("s")
        await settle(app, pilot)
        errors = str(pane.query_one("#training-form-errors", Static).render())
        assert "rank" in errors and ("learning" in errors or "lr" in errors)
        assert not pane.training
        assert not (home / "checkpoints").exists() or not any((home / "checkpoints").iterdir())


async def test_run_from_the_pane_streams_points_and_lands_on_disk(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        set_form(pane, max_pairs="16", num_epochs="2", max_seq_length="512", batch_size="4",
                 eval_fraction="0")  # fmt: skip
        await pilot.press("s")
        await settle(app, pilot, rounds=6)
        assert not pane.training
        pane._follow()
        await settle(app, pilot)
        runs = sorted((home / "checkpoints").iterdir())
        assert len(runs) == 1
        info = json.loads((runs[0] / "run.json").read_text())
        assert info["status"] == "completed" and info["data"]["pairs"] == 16
        total = info["total_steps"]
        assert total == 8  # 16 pairs / batch 4 × 2 epochs
        # every step reached the chart, in order
        assert [s["step"] for s in pane.steps] == list(range(1, total + 1))
        assert "step 8/8" in str(pane.query_one("#training-eta", Static).render())
    lines = (runs[0] / "metrics.jsonl").read_text().splitlines()
    assert sum(json.loads(x).get("type", "step") == "step" for x in lines) == total
    assert (runs[0] / "final").is_dir()
    assert (home / "models" / "tiny-lm").is_dir()


async def test_cancel_finishes_the_step_and_keeps_the_adapter(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training import lora

    app = JarvisApp(home)
    original = lora.LoRATrainer.train

    def train(self, pairs, *, callback=None, stop=None, **kwargs):
        def on_step(record):
            if record["step"] == 1:
                # The user presses c during the first step (deterministically: the
                # step waits until the pane's cancel action has set the event).
                app.call_from_thread(app.query_one(TrainingPane).action_cancel)
                assert stop.wait(10)
            if callback:
                callback(record)

        return original(self, pairs, callback=on_step, stop=stop, **kwargs)

    monkeypatch.setattr(lora.LoRATrainer, "train", train)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        set_form(pane, max_pairs="64", num_epochs="3", max_seq_length="256", eval_fraction="0")
        await pilot.press("s")
        await settle(app, pilot, rounds=6)
        assert not pane.training
        assert any("training cancelled" in n.message for n in app._notifications)
    runs = sorted((home / "checkpoints").iterdir())
    info = json.loads((runs[0] / "run.json").read_text())
    assert info["status"] == "cancelled" and info["steps_done"] == 1
    assert (runs[0] / "final").is_dir()


def test_ema_and_alerts() -> None:
    assert ema([1.0, 3.0], 0.5) == [1.0, 2.0]
    steps = [{"step": i, "loss": 1.0} for i in range(1, 30)]
    steps[20]["loss"] = 9.0
    assert any("spike at step 21" in a for a in alerts(steps))
    steps[25]["loss"] = float("nan")
    assert any("NaN" in a for a in alerts(steps))
    flat = [{"step": i, "loss": 0.5} for i in range(1, 100)]
    assert any("plateau" in a for a in alerts(flat))
    falling = [{"step": i, "loss": 2.0 / i} for i in range(1, 100)]
    assert alerts(falling) == []
