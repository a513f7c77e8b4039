"""Trials pane leftovers a new user saw at 80x24 and 120x40 (issue 10, third round).

Screens are read back from the SVG screenshot (``screen_lines``), as a user sees them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from jarvis_tui.core.fmt import money
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import record_notices

from .test_trials_screens import open_trials, press, screen_lines, status_lines


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


def region_lines(app: JarvisApp, pane, selector: str) -> list[str]:
    """The lines of one widget as on screen."""
    r = pane.query_one(selector).region
    return [line[r.x : r.right].rstrip() for line in screen_lines(app)[r.y : r.bottom]]


async def test_at_80x24_the_table_shows_five_rows_and_the_selected_one(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_trials(app, pilot)
        rows = [ln for ln in region_lines(app, pane, "#trials-table") if " t-" in ln]
        assert len(rows) >= 5, rows
        assert "accuracy ↑ better" in "\n".join(screen_lines(app))  # the plot is still there
        seen = set()
        for key in ["j"] * (len(pane.view.trials) + 1) + ["G"] + ["k"] * 8 + ["g"]:
            await press(app, pilot, key)
            shown = "\n".join(region_lines(app, pane, "#trials-table"))
            assert pane.selected is not None and pane.selected[:12] in shown, (key, shown)
            seen.add(pane.selected)
        assert len(seen) == len(pane.view.trials)  # j reached every row, each on screen


def _trial(pane, trial_id: str):
    return next(t for t in pane.view.trials if t.trial_id == trial_id)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_tradeoff_lines_fit_say_the_table_units_and_end_whole(demo: Path, size) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=size) as pilot:
        pane = await open_trials(app, pilot)
        for _ in range(len(pane.view.frontier)):
            await pilot.press("h")  # the first member on the x axis
        walked = 0
        for _ in range(len(pane.view.frontier) - 1):  # every member but the first
            await press(app, pilot, "l")
            lines = [ln for ln in region_lines(app, pane, "#trials-tradeoff") if ln.strip()]
            full = str(pane.query_one("#trials-tradeoff").render()).splitlines()
            # what the widget says is what the screen shows: nothing cut by the terminal
            assert [ln.strip() for ln in lines] == [ln.strip() for ln in full], (lines, full)
            for ln in lines:
                assert not re.search(r"[|·,;:]$", ln.strip()), ln  # no dangling separator
            text = " ".join(lines)
            ids = [m.group(1) for m in re.finditer(r"[←→] (t-[0-9a-f]+):", text)]
            assert ids, text
            sel = _trial(pane, pane.selected)
            for tid in ids:  # each neighbour's gain in accuracy points, as the table's acc
                other = _trial(pane, next(t for t in pane.view.frontier if t.startswith(tid)))
                d_acc = (other.accuracy - sel.accuracy) * 100
                assert f"{d_acc:+.1f} pt" in text or "same acc" in text, (text, d_acc)
                if size == (120, 40):  # room for its latency and cost, in the table's units
                    d_lat = other.mean_latency_seconds - sel.mean_latency_seconds
                    d_cost = other.total_cost_usd - sel.total_cost_usd
                    assert f"{d_lat:+.2f} s" in text or "same latency" in text, text
                    scale = max(other.total_cost_usd, sel.total_cost_usd)
                    if abs(d_cost) < 0.01 * scale:  # not to be seen in the table's column
                        assert "same cost" in text, text
                    else:
                        assert money(d_cost, signed=True) in text, text
                    assert "$0.0000000" not in text, text
            walked += 1
        assert walked >= 2


async def test_an_empty_workspace_says_once_why_s_cannot_start_and_what_to_do(
    tmp_path: Path,
) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        seen = record_notices(app)
        pane = await open_trials(app, pilot)
        assert "nothing to optimize yet" in status_lines(app)
        detail = "\n".join(region_lines(app, pane, "#trials-detail-scroll"))
        assert "Nothing to optimize yet" in detail and "OpenJarvis" in detail, detail
        await press(app, pilot, "s")
        await press(app, pilot, "enter")  # what a user tries next (a form, were one open)
        seen = [m for m in seen if not m.startswith("no trial to open")]  # enter's own
        assert len(seen) == 1, seen
        assert "no traces" in seen[0] and "OpenJarvis" in seen[0] and "r reloads" in seen[0]
        assert "optimization run failed" not in seen[0]
