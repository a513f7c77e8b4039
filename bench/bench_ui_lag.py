"""UI responsiveness while a LoRA run trains from the Training pane (issues 11 and 15).

Run: ``python -m bench.bench_ui_lag``. The app runs headless on a demo workspace and
starts a training run from the Training pane (``s``: a ``jarvis-tui train`` child
process writing the run folder the pane follows); once the run streams steps, a probe
scheduled every 20 ms on the app's event loop records how late it fires, for a few
seconds; then ``x`` cancels the run. Three runs; each is paired with the same probe
on the idle app (the same process, the same run), the baseline. Reports max and p95
lag per run and the worst of the three; exits 1 when the worst max exceeds 50 ms or
the worst p95 exceeds 20 ms. Also says whether the app process imported torch.

The UI thread's CPU per probe is printed beside the lag: on a machine busy with other
work the loop waits for a core (lag well above CPU). There, run the bench in its own
session with a higher share, as the figures in the README were taken on a loaded
2-core box: ``setsid -w sh -c 'echo -10 > /proc/self/autogroup; exec nice -n -10
python -m bench.bench_ui_lag'`` (root; the training child still runs 10 nicer).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, parse_options, report

RUNS = 3
PROBE_S = 0.02
TARGET_MAX_MS = 50.0
TARGET_P95_MS = 20.0


async def measure(home: Path, train: bool, seconds: float) -> tuple[list[float], list[float]]:
    """Event-loop lag (ms) of a 20 ms probe for *seconds*, training or idle, and the UI
    thread's CPU time (ms) in each probe: the app's own work, whatever else the
    machine runs (a loaded machine delays the loop too: lag, not CPU)."""
    from textual.widgets import Input

    from jarvis_tui.ui.app import JarvisApp
    from jarvis_tui.ui.testing import settle

    app = JarvisApp(home)
    lags: list[float] = []
    cpu: list[float] = []
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
            # The child is streaming steps and the pane charts them: the started run's
            # (the pane follows the run listed first until the new run's folder shows
            # up, an earlier run's steps in a bench run after the first). Plain sleeps,
            # not pilot.pause: each pause posts a callback to every widget, a backlog
            # the probe would measure instead of the app.
            deadline = time.monotonic() + 300

            def streaming() -> bool:
                return pane.followed == pane.run_id and len(pane.steps) >= 3

            while not streaming() and pane.training and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if not pane.training or not streaming():
                why = pane.query_one("#training-form-errors").render()
                said = [n.message for n in app._notifications]
                raise RuntimeError(f"the run ended before it streamed: {why} {said}")
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0, c0 = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_S)
            lags.append((time.perf_counter() - t0 - PROBE_S) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
        if train:
            steps = len(pane.steps)
            await pilot.press("x")
            while pane.training:
                await asyncio.sleep(0.05)
            print(f"  training: {steps} steps charted while probing", flush=True)
    return lags, cpu


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] if len(xs) >= 20 else max(xs)


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    from jarvis_tui.demo import build_demo

    figs: list[Figure] = []
    worst_max = worst_p95 = idle_max = idle_p95 = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        home = build_demo(Path(tmp) / "ws", traces=3000, seed=3)
        for run in range(1, RUNS + 1):
            idle, _ = asyncio.run(measure(home, False, 3.0))
            busy, cpu = asyncio.run(measure(home, True, 8.0))
            print(
                f"run {run}: {len(busy)} probes while training, {len(idle)} idle; UI-thread "
                f"CPU per probe p95 {p95(cpu):.1f} ms, max {max(cpu):.1f} ms",
                flush=True,
            )
            bmax, bp95, imax, ip95 = max(busy), p95(busy), max(idle), p95(idle)
            worst_max, worst_p95 = max(worst_max, bmax), max(worst_p95, bp95)
            idle_max, idle_p95 = max(idle_max, imax), max(idle_p95, ip95)
            figs += [
                Figure(f"run {run}: lag p95 while training", f"≤ {TARGET_P95_MS:g} ms", bp95,
                       "ms", bp95 <= TARGET_P95_MS, ip95, "idle app"),
                Figure(f"run {run}: lag max while training", f"≤ {TARGET_MAX_MS:g} ms", bmax,
                       "ms", bmax <= TARGET_MAX_MS, imax, "idle app"),
            ]  # fmt: skip
    figs += [
        Figure(f"worst of {RUNS}: lag p95 while training", f"≤ {TARGET_P95_MS:g} ms", worst_p95,
               "ms", worst_p95 <= TARGET_P95_MS, idle_p95, "idle app"),
        Figure(f"worst of {RUNS}: lag max while training", f"≤ {TARGET_MAX_MS:g} ms", worst_max,
               "ms", worst_max <= TARGET_MAX_MS, idle_max, "idle app"),
    ]  # fmt: skip
    heavy = [m for m in ("torch", "transformers", "peft") if m in sys.modules]
    print(f"modules of the train extra imported by the app process: {heavy or 'none'}")
    ok = report(figs, "Training pane responsiveness (training in a child process)")
    return 0 if ok and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
