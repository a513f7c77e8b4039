"""Training pane: a followed run says what its fast path picked (run.json config.fast_path)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from jarvis_tui.learning.training.runs import RunWriter
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.testing import settle
from tests.ui.conftest import make_traces


def _workspace(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(make_traces(10))
    store.close()
    return home


async def test_a_two_rank_bf16_run_shows_its_fast_path(tmp_path: Path) -> None:
    home = _workspace(tmp_path)
    fast = {"precision": "bf16", "checkpointing": False, "world_size": 2, "attention": "sdpa"}
    # A run written elsewhere (another process, another machine): the pane only reads files.
    with RunWriter(home / "checkpoints", model="m", config={"fast_path": fast}, total_steps=4,
                   heartbeat_thread=False) as w:  # fmt: skip
        for step in (1, 2):
            w.append({"type": "step", "step": step, "epoch": step / 4, "loss": 2.0, "lr": 1e-3,
                      "grad_norm": 1.0, "tokens": 100, "tokens_per_s": 50.0, "elapsed": step,
                      "eta": 2.0})  # fmt: skip
        w.finish("completed", final_loss=2.0, steps_done=2)
    app = JarvisApp(home)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        await settle(app, pilot)
        pane = app.query_one(TrainingPane)
        await settle(app, pilot)
        line = str(pane.query_one("#training-eta", Static).render())
        assert "step 2/4" in line
        assert "bf16 · no ckpt · 2 ranks" in line
