"""The Trials pane with a 10,000-trial run: opening it, and the event loop while it works.

Run: ``python -m bench.bench_trials_pane``. A small demo workspace gets a run of
10,000 trials (3 objectives) in its ``optimize.db``; the app runs headless at
120×40. Measured, against baselines taken in the same run:

* time from pressing ``P`` to the run's table and plot on screen;
* event-loop lag (a probe every 20 ms, as ``bench_ui_lag``) while the user works the
  pane: every 250 ms an axis cycle (full plot redraw), a re-sort of the table, and a
  walk along the frontier; baseline: the same probe with the pane idle;
* lag while a live run streams trials into the pane (offline proposer, trace replay;
  every trial is one engine → UI snapshot).

Exits 1 when the pane takes more than 1.5 s to open or a p95 lag exceeds 50 ms.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, parse_options, report

N = 10_000
OPEN_TARGET_S = 1.5
LAG_TARGET_MS = 50.0


def write_big_run(home: Path, n: int, seed: int = 5) -> None:
    from jarvis_tui.learning.optimize import (
        OptimizationRun,
        OptimizationStore,
        TrialConfig,
        TrialResult,
        compute_pareto_frontier,
    )
    from jarvis_tui.learning.optimize.session import load_workspace_space
    from jarvis_tui.paths import Workspace
    from jarvis_tui.traces import TraceStore

    rng = random.Random(seed)
    with TraceStore(home / "traces.db") as ts:
        space, _ = load_workspace_space(Workspace(home), ts)
    run = OptimizationRun(run_id="bench10k", search_space=space, status="completed")
    for i in range(n):
        params = {d.name: rng.choice(d.values) for d in space.dimensions}
        acc = rng.betavariate(5, 2)
        run.trials.append(
            TrialResult(
                trial_id=f"t{i:05d}", config=TrialConfig(f"t{i:05d}", params, "bench"),
                accuracy=acc, mean_latency_seconds=rng.lognormvariate(0, 0.5) + 2 * acc,
                total_cost_usd=rng.random() * 1e-4 * (1 + acc), samples_evaluated=100,
            )
        )  # fmt: skip
    run.pareto_frontier = compute_pareto_frontier(run.trials, run.objectives)
    run.best_trial = max(run.trials, key=lambda t: t.accuracy)
    with OptimizationStore(home / "optimize.db") as store:
        store._conn.execute("PRAGMA synchronous=OFF")  # set-up, not what is measured
        for t in run.trials:
            store.save_trial(run.run_id, t)
        store.save_run(run)


async def probe(seconds: float, work=None) -> list[float]:
    lags: list[float] = []
    end = time.perf_counter() + seconds
    task = asyncio.ensure_future(work()) if work else None
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        await asyncio.sleep(0.02)
        lags.append((time.perf_counter() - t0 - 0.02) * 1000)
    if task:
        task.cancel()
    return lags


async def measure(home: Path) -> dict[str, object]:
    from jarvis_tui.ui.app import JarvisApp
    from jarvis_tui.ui.testing import settle, wait_until

    app = JarvisApp(home)
    out: dict[str, object] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one("TrialsPane")
        t0 = time.perf_counter()
        await pilot.press("P")
        await wait_until(pilot, lambda: len(pane.view.trials) == N, what="the 10k run")
        await pilot.pause()
        out["open"] = time.perf_counter() - t0
        out["idle"] = await probe(3.0)

        async def work() -> None:
            keys = ["X", "t", "l", "Y", "t", "h", "l", "t"]
            i = 0
            while True:
                await asyncio.sleep(0.25)
                await pane.run_action(_action(keys[i % len(keys)]))
                i += 1

        out["busy"] = await probe(4.0, work)
        # A live run streaming into the pane (review off, 400 trials, no early stop).
        pane.patience = 1_000
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("Input").value = "400"
        await pilot.press("enter")
        out["live"] = await probe(3.0)
        await wait_until(pilot, lambda: not pane.running, timeout=300, what="the live run")
        out["live_trials"] = len(pane.view.trials)
    return out


def _action(key: str) -> str:
    return {"X": "cycle_axis('x')", "Y": "cycle_axis('y')", "t": "sort", "l": "frontier(1)",
            "h": "frontier(-1)"}[key]  # fmt: skip


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] if len(xs) >= 20 else max(xs)


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    from jarvis_tui.demo import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "ws"
        build_demo(home, traces=3_000, seed=7, optimize=False)
        t0 = time.perf_counter()
        write_big_run(home, N)
        print(f"wrote a {N:,}-trial run in {time.perf_counter() - t0:.1f} s")
        m = asyncio.run(measure(home))
        shutil.rmtree(home, ignore_errors=True)
    idle, busy, live = m["idle"], m["busy"], m["live"]
    figs = [
        Figure(
            f"open the Trials pane on a {N:,}-trial run",
            f"≤ {OPEN_TARGET_S:g} s",
            m["open"],
            "s",
            m["open"] <= OPEN_TARGET_S,
        ),  # fmt: skip
        Figure(
            "UI lag p95: axis cycles, re-sorts, frontier walk (every 250 ms)",
            f"≤ {LAG_TARGET_MS:g} ms",
            p95(busy),
            "ms",
            p95(busy) <= LAG_TARGET_MS,
            p95(idle),
            "pane idle",
        ),  # fmt: skip
        Figure("  …max", "", max(busy), "ms", True, max(idle), "pane idle"),
        Figure(
            f"UI lag p95 while a live run streams trials ({m['live_trials']:,} shown)",
            f"≤ {LAG_TARGET_MS:g} ms",
            p95(live),
            "ms",
            p95(live) <= LAG_TARGET_MS,
            p95(idle),
            "pane idle",
        ),  # fmt: skip
    ]
    return 0 if report(figs, "Trials pane at 10,000 trials") else 1


if __name__ == "__main__":
    sys.exit(main())
