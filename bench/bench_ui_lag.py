"""UI responsiveness while a LoRA run trains in a worker (issue: training).

Run: ``python -m bench.bench_ui_lag``. The app runs headless on a demo workspace,
starts a training run from the Training pane, and a probe scheduled every 20 ms on
the app's event loop records how late it fires. Baseline: the same probe with no
training running, in the same process. Exits 1 when p95 lag exceeds 50 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, report


async def measure(home: Path, train: bool, seconds: float) -> list[float]:
    from textual.widgets import Input

    from jarvis_tui.ui.app import JarvisApp
    from jarvis_tui.ui.testing import settle

    app = JarvisApp(home)
    lags: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        await settle(app, pilot)
        pane = app.query_one("TrainingPane")
        if train:
            for key, value in {"max_pairs": "200", "num_epochs": "50", "max_seq_length": "256",
                               "batch_size": "4", "eval_fraction": "0"}.items():  # fmt: skip
                pane.query_one(f"#f-{key}", Input).value = value
            await pilot.press("s")
            while not pane.steps:  # wait for the run to be streaming
                await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            await asyncio.sleep(0.02)
            lags.append((time.perf_counter() - t0 - 0.02) * 1000)
        del loop
        if train:
            await pilot.press("c")
            while pane.training:
                await asyncio.sleep(0.05)
    return lags


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] if len(xs) >= 20 else max(xs)


def main(argv: list[str] | None = None) -> int:
    from jarvis_tui.demo import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        home = build_demo(Path(tmp) / "ws", traces=3000, seed=3)
        idle = asyncio.run(measure(home, False, 3.0))
        busy = asyncio.run(measure(home, True, 8.0))
    figs = [
        Figure(
            "UI event-loop lag p95 while training",
            "≤ 50 ms",
            p95(busy),
            "ms",
            p95(busy) <= 50,
            p95(idle),
            "idle app",
        ),  # fmt: skip
        Figure("  …max while training", "", max(busy), "ms", True, max(idle), "idle app"),
    ]
    print(f"{len(busy)} probes while training, {len(idle)} idle")
    return 0 if report(figs, "Training pane responsiveness") else 1


if __name__ == "__main__":
    sys.exit(main())
