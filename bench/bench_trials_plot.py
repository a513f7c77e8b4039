"""Trials-pane scatter plot at 10,000 trials: render cost and UI responsiveness.

Run: ``python -m bench.bench_trials_plot``. A headless app holds one ScatterPlot at
120×40. Measured, against baselines taken in the same run:

* the full re-render after ``set_data`` with 10,000 trials (binning + every strip of
  the plot), median of several runs; baseline: the naive approach, the same points
  drawn with plotext (``plt.scatter`` + ``plt.build()`` at the same size);
* a re-render after only the selection changed, and a repaint from the cache;
* event-loop lag while the data is re-set with 10,000 trials every 250 ms for 3 s,
  probed every 20 ms as in ``bench_ui_lag``; baseline: the same app with no redraws.

Exits 1 when the full re-render takes more than 20 ms or the p95 lag exceeds 50 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

import numpy as np

from bench.common import Figure, parse_options, report, timed

N = 10_000
SIZE = (120, 40)
RENDER_TARGET_MS = 20.0
LAG_TARGET_MS = 50.0


def make_trials(n: int, seed: int) -> dict[str, Any]:
    """Trial-like data: latency vs error with a 2-D Pareto frontier (both minimised),
    5% infeasible, cost as shade. Python lists, as the pane passes trial attributes."""
    rng = np.random.default_rng(seed)
    latency = rng.lognormal(0.0, 0.6, n)
    error = np.clip(0.6 / (1 + latency) + rng.normal(0, 0.08, n), 0, None)
    infeasible = rng.random(n) < 0.05
    cost = rng.random(n)
    frontier = np.zeros(n, dtype=bool)
    feasible = np.flatnonzero(~infeasible)
    order = feasible[np.lexsort((error[feasible], latency[feasible]))]
    best = np.minimum.accumulate(error[order])
    improves = np.ones(len(order), dtype=bool)
    improves[1:] = error[order][1:] < best[:-1]
    frontier[order[improves]] = True
    return {
        "xs": latency.tolist(),
        "ys": error.tolist(),
        "frontier": frontier.tolist(),
        "infeasible": infeasible.tolist(),
        "shade": cost.tolist(),
        "x_label": "latency [s]",
        "y_label": "error rate",
        "shade_label": "cost",
    }


def _app() -> Any:
    from textual.app import App, ComposeResult

    from jarvis_tui.ui.widgets.scatter import ScatterPlot

    class PlotApp(App[None]):
        def compose(self) -> ComposeResult:
            yield ScatterPlot()

    return PlotApp()


async def measure_render(data: dict[str, Any]) -> dict[str, float]:
    from jarvis_tui.ui.widgets.scatter import ScatterPlot

    app = _app()
    out: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        await pilot.pause()
        height = plot.size.height
        out["height"] = height
        out["width"] = plot.size.width

        def full() -> None:
            plot.set_data(**data)
            for y in range(height):
                plot.render_line(y)

        def reselect() -> None:
            plot.selected = ((plot.selected or 0) + 1) % N
            for y in range(height):
                plot.render_line(y)

        def cached() -> None:
            for y in range(height):
                plot.render_line(y)

        out["full"] = timed(full, repeat=15, warmup=2) * 1000
        out["select"] = timed(reselect, repeat=15, warmup=2) * 1000
        out["cached"] = timed(cached, repeat=15, warmup=2) * 1000
        text = "".join(plot.render_line(y).text for y in range(1, height - 4))
        out["plotted_cells"] = sum(text.count(glyph) for glyph in "●◆·∙•×")
    return out


def plotext_baseline(data: dict[str, Any]) -> float:
    """The naive approach: plotext draws every point, then the frontier line."""
    import plotext as plt

    xs, ys, front = data["xs"], data["ys"], data["frontier"]
    fx, fy = zip(*sorted((x, y) for x, y, f in zip(xs, ys, front, strict=True) if f), strict=True)

    def naive() -> None:
        plt.clf()
        plt.plotsize(*SIZE)
        plt.scatter(xs, ys, marker="dot")
        plt.plot(list(fx), list(fy), marker="●")
        plt.xlabel(data["x_label"])
        plt.ylabel(data["y_label"])
        plt.build()

    return timed(naive, repeat=5, warmup=1) * 1000


async def measure_lag(redraw: bool, seconds: float) -> tuple[list[float], int]:
    from jarvis_tui.ui.widgets.scatter import ScatterPlot

    datasets = [make_trials(N, seed) for seed in range(4)]
    app = _app()
    lags: list[float] = []
    rebuilds = 0
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(ScatterPlot)
        build = plot._build_strips

        def counting_build(width: int, height: int) -> Any:
            nonlocal rebuilds
            rebuilds += 1
            return build(width, height)

        plot._build_strips = counting_build  # type: ignore[method-assign]
        plot.set_data(**datasets[0])
        await pilot.pause()
        tick = 0

        def reset() -> None:
            nonlocal tick
            tick += 1
            plot.set_data(**datasets[tick % len(datasets)])
            plot.selected = tick * 37 % N

        timer = app.set_interval(0.25, reset) if redraw else None
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            await asyncio.sleep(0.02)
            lags.append((time.perf_counter() - t0 - 0.02) * 1000)
        if timer is not None:
            timer.stop()
    return lags, rebuilds


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] if len(xs) >= 20 else max(xs)


def main(argv: list[str] | None = None) -> int:
    parse_options(argv, __doc__, __name__)
    data = make_trials(N, seed=11)
    render = asyncio.run(measure_render(data))
    naive = plotext_baseline(data)
    idle, _ = asyncio.run(measure_lag(False, 3.0))
    busy, rebuilds = asyncio.run(measure_lag(True, 3.0))
    w, h = int(render["width"]), int(render["height"])
    figs = [
        Figure(
            f"full re-render, {N:,} trials, {w}×{h} plot",
            f"≤ {RENDER_TARGET_MS:g} ms",
            render["full"],
            "ms",
            render["full"] <= RENDER_TARGET_MS,
            naive,
            "plotext scatter+build",
        ),
        Figure("  …selection change only", "", render["select"], "ms", True),
        Figure("  …repaint from the cache", "", render["cached"], "ms", True),
        Figure(
            f"UI event-loop lag p95, set_data({N:,}) every 250 ms",
            f"≤ {LAG_TARGET_MS:g} ms",
            p95(busy),
            "ms",
            p95(busy) <= LAG_TARGET_MS,
            p95(idle),
            "no redraws",
        ),
        Figure("  …max while redrawing", "", max(busy), "ms", True, max(idle), "no redraws"),
    ]
    print(
        f"{int(render['plotted_cells']):,} cells hold a point; {len(busy)} probes while "
        f"redrawing ({rebuilds} re-renders), {len(idle)} without"
    )
    return 0 if report(figs, "Trials scatter plot") else 1


if __name__ == "__main__":
    sys.exit(main())
