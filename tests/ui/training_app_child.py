"""Drives the app in a process of its own, for tests that need a clean ``sys.modules``
or a parent process they can kill: ``python -m tests.ui.training_app_child MODE HOME``.

MODE ``full``: a whole (tiny) training run from the Training pane (16 pairs of up to 512
tokens, batch 4, 2 epochs: 8 steps), then one JSON line: which of torch / transformers /
peft this process imported, the run's status, the steps the chart got and what the pane
showed.
MODE ``quit``: a long run, quit the app once a step is on the chart; then one JSON line
with the run folder. MODE ``hold``: a long run; once a step is on the chart print the
run folder and wait (the test kills this process).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from textual.widgets import Input

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.conftest import build_labelled

HEAVY = ("torch", "transformers", "peft")


async def drive(mode: str, home: Path) -> dict:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        await settle(app, pilot)
        pane = app.query_one(TrainingPane)
        long = mode != "full"
        form = {"max_pairs": "64" if long else "16", "num_epochs": "200" if long else "2",
                "max_seq_length": "64" if long else "512", "batch_size": "4",
                "eval_fraction": "0"}  # fmt: skip
        for key, value in form.items():
            pane.query_one(f"#f-{key}", Input).value = value
        await pilot.press("s")
        if mode == "full":
            await settle(app, pilot, rounds=4)
            run = pane.run_path(pane.run_id or "")
            info = json.loads((run / "run.json").read_text())
            total = info["total_steps"]
            await wait_until(pilot, lambda: len(pane.steps) == total, what="every step charted")
            shown = str(pane.query_one("#training-eta").render())
            return {"imported": [m for m in HEAVY if m in sys.modules], "status": info["status"],
                    "shown": shown, "total": total, "training": pane.training,
                    "steps": [s["step"] for s in pane.steps]}  # fmt: skip
        await wait_until(pilot, lambda: bool(pane.steps), timeout=300, what="a step")
        run = pane.run_path(pane.run_id or "")
        if mode == "hold":
            print(json.dumps({"run": str(run)}), flush=True)
            await asyncio.Event().wait()  # until the test kills this process
    # The app has quit (leaving run_test exits it).
    return {"run": str(run)}


def main() -> None:
    mode, home = sys.argv[1], Path(sys.argv[2])
    build_labelled(home)
    print(json.dumps(asyncio.run(drive(mode, home))), flush=True)


if __name__ == "__main__":
    main()
