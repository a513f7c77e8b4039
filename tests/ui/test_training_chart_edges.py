"""The Training charts of a finished run (walkthrough W2 21): the last epoch's end is
the chart's right edge, not a line drawn one column inside it (a second, empty frame:
`┬┐` at the top, `││` down the side, `┴┘` at the foot, the last eval point in it), and
the tokens/s axis is in whole tokens (21,500, not 21799.8). Drawn without the app."""

from __future__ import annotations

import math
import re

import pytest

from jarvis_tui.ui.panes.training import ChartData, chart_specs
from jarvis_tui.ui.widgets.chart import draw, value_ticks


def finished_run(steps: int = 120) -> ChartData:
    """Two epochs of *steps*, an eval point at each third and at the end."""
    records = [{"step": i, "loss": 3 * math.exp(-i / 40) + 0.3, "lr": 5e-4 * min(1, i / 12),
                "tokens_per_s": 21_000 + 800 * math.sin(i / 5)} for i in range(1, steps + 1)]  # fmt: skip
    evals = [{"step": s, "eval_loss": 3 * math.exp(-s / 40) + 0.4} for s in (40, 80, steps)]
    epochs = [{"step": steps // 2}, {"step": steps}]
    return ChartData(None, records, evals, epochs, {}, 0.1, 70)


@pytest.mark.parametrize("size", [(70, 22), (40, 10)], ids=["120x40", "80x24"])
def test_the_loss_chart_has_one_frame_whose_right_edge_is_the_last_step(
    size: tuple[int, int],
) -> None:
    picture = draw(chart_specs(finished_run())["chart-loss"], *size, "dark")
    rows = [row.rstrip() for row in picture.text.plain.splitlines()]
    frame = [row for row in rows if "┌" in row or "└" in row]
    assert frame[0].endswith("─┐") and not frame[-1].endswith("┴┘"), "\n".join(rows)
    inside = [row for row in rows if row.endswith("│") or row.endswith("┤")]
    assert inside and not any(row.endswith("││") for row in inside), "\n".join(rows)
    assert sum(row.count("●") for row in rows) >= 3 + 1  # the evals (and the legend's)
    # the first epoch's end is still marked, inside the curve
    assert frame[0].count("┬") == 1, "\n".join(rows)


def test_the_tokens_per_s_axis_is_in_whole_tokens() -> None:
    picture = draw(chart_specs(finished_run())["chart-tps"], 34, 10, "dark")
    labels = re.findall(r"^\s*([\d,.]+)┤", picture.text.plain, flags=re.M)
    assert len(labels) >= 2, picture.text.plain
    assert all("." not in label for label in labels), labels
    assert "21,000" in labels, labels


def test_value_ticks_are_round_and_inside_the_range() -> None:
    assert value_ticks(20_200, 21_800, 6, 0) == [20_500, 21_000, 21_500]
    assert value_ticks(0.0, 1.0, 4, 2) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert value_ticks(5.0, 5.0, 4, 0) == [5.0]  # a flat line: one tick
    assert value_ticks(0.1, 0.4, 4, 0) == [0.0]  # never finer than whole numbers


def test_the_ticks_cover_an_overlaid_run_longer_than_the_followed_one() -> None:
    # (walkthrough W3 20: an 11-step run followed, an 86-step run overlaid: ticks 2 5 9)
    short = finished_run(11)
    data = ChartData("short", short.steps, [], [], {"long": [(i, 2.0) for i in range(1, 87)]},
                     0.1, 70)  # fmt: skip
    specs = chart_specs(data)
    assert specs["chart-loss"].steps == (1, 86)
    assert specs["chart-lr"].steps == (1, 11)  # its own steps: only it is drawn there
    picture = draw(specs["chart-loss"], 70, 22, "dark")
    ticks = picture.text.plain.splitlines()[-1].split()
    assert ticks[-1] in ("80", "85", "86") and len(ticks) >= 4, ticks
