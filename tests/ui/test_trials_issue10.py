"""Trials pane: what a new user saw at 80x24 and 120x40 (issue 10).

Screens are read back from the SVG screenshot (``screen_lines``), as a user sees them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input

from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials_view import show_value
from jarvis_tui.ui.testing import settle, wait_until

from .test_trials_screens import open_trials, press, screen, screen_lines, status_lines

RUN = ("trials.run",)


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


def detail_lines(app: JarvisApp, pane) -> list[str]:
    """The detail panel's lines as on screen (right of the table at 80 columns)."""
    region = pane.query_one("#trials-detail-scroll").region
    return [line[region.x : region.right].rstrip() for line in screen_lines(app)[region.y :
            region.bottom]]  # fmt: skip


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_waiting_proposal_is_listed_one_param_a_line(demo: Path, size) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=size, notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        shown = await press(app, pilot, "v")
        assert "review mode on" not in shown  # no toast over the prompt: the header says it
        assert "review on" in status_lines(app)
        await press(app, pilot, "s")
        app.screen.query_one("#field-0", Input).value = "3"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None, what="the first proposal")
        await settle(app, pilot, ignore=RUN)
        config = pane.pending[0]
        lines = detail_lines(app, pane)
        text = "\n".join(lines)
        assert "No trials yet" not in text and "on its way" not in text
        # the head: which proposal (which param of how many, in a short panel)
        assert ("Proposal" in text and config.trial_id[:10] in text) or "param 1/" in text
        first = sorted(config.params)[0]
        assert any(first in ln for ln in lines), text  # the list starts on screen
        if size == (120, 40):  # (a short panel steps through them: the test above)
            # the whole list: every param on a line of its own, its value whole (not
            # "…routing.code.model=d…")
            full = [ln.strip().lstrip("▸ ") for ln in
                    str(pane.query_one("#trials-detail").render()).splitlines()]  # fmt: skip
            for key, value in config.params.items():
                at = next((i for i, ln in enumerate(full) if ln == key
                           or ln.startswith(key + " ")), None)  # fmt: skip
                assert at is not None, (key, full)
                shown = full[at] + " " + (full[at + 1] if at + 1 < len(full) else "")
                assert show_value(value) in shown, (key, value, full)
        await press(app, pilot, "y")
        await wait_until(pilot, lambda: len(pane.view.trials) >= 1, what="trial 1")
        await wait_until(pilot, lambda: pane.pending is not None, what="the second proposal")
        await settle(app, pilot, ignore=RUN)
        second = pane.pending[0]
        text = "\n".join(detail_lines(app, pane))
        assert second.trial_id[:10] in (text if size == (120, 40) else screen(app))
        changed = [k for k, v in second.params.items()
                   if pane.view.best and v != next(t for t in pane.view.trials
                                                   if t.trial_id == pane.view.best
                                                   ).config.params.get(k)]  # fmt: skip
        if changed:  # key old → new against the best trial
            if size == (80, 24):  # the short panel shows the marked param: step to one
                for _ in range(sorted(second.params).index(sorted(changed)[0])):
                    await press(app, pilot, "full_stop")
            assert "→" in str(pane.query_one("#trials-detail").render())
        pane.control.stop()
        await wait_until(pilot, lambda: not pane.running)
        await settle(app, pilot)


async def test_edit_form_accepted_unchanged_is_a_plain_accept(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "v", "s")
        app.screen.query_one("#field-0", Input).value = "1"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None, what="the first proposal")
        await settle(app, pilot, ignore=RUN)
        source = pane.pending[1]
        shown = await press(app, pilot, "e")
        assert "then accept" in shown
        await press(app, pilot, "ctrl+s")  # nothing changed
        await wait_until(pilot, lambda: not pane.running, what="the one-trial run to end")
        await settle(app, pilot)
        row = next(line for line in screen_lines(app) if pane.view.trials[0].trial_id in line)
        assert "edited" not in row and source in row
        with OptimizationStore(demo / "optimize.db") as store:
            run_id = pane.view.run_id
            meta = store.get_trial_meta(run_id)
        assert all(m.get("source") != "edited" for m in meta.values())


async def test_one_trial_and_one_frontier_member_read_in_the_singular(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "v", "s")
        app.screen.query_one("#field-0", Input).value = "1"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None, what="the first proposal")
        await press(app, pilot, "y")
        await wait_until(pilot, lambda: not pane.running, what="the one-trial run to end")
        await settle(app, pilot)
        shown = screen(app)
        assert "1/1 trial " in status_lines(app) + " " and "1/1 trials" not in shown
        assert "1 frontier members" not in shown
        assert "1 frontier member;" in shown


@pytest.mark.parametrize("size", [(80, 24), (80, 40)])
async def test_the_plot_keeps_its_rows_over_the_table_at_80_columns(demo: Path, size) -> None:
    """80x24: 5 rows of points over 5 table rows (the table needs them more; issue 10,
    third round); a taller terminal keeps the plot's 8 rows of points."""
    app = JarvisApp(demo)
    async with app.run_test(size=size) as pilot:
        pane = await open_trials(app, pilot)
        lines = screen_lines(app)
        plot = pane.query_one("#trials-plot").region
        rows = [ln for ln in lines[plot.y : plot.bottom] if "┤" in ln or "│" in ln[:8]]
        assert len(rows) >= (5 if size[1] == 24 else 8), "\n".join(lines)
        # the table shows its header and rows (it scrolls)
        assert sum(" t-" in ln for ln in lines) >= 5


async def test_scoring_glyph_and_flag_are_two_columns_at_80x24(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "G")  # the table scrolls: bring the best row in view
        best = pane.view.best
        await press(app, pilot, "g")
        rows = [ln for ln in screen_lines(app) if " t-" in ln.split("▏")[0] and "▌" in ln[:2]]
        assert rows
        for row in rows:
            cells = row.split("▏")[0]
            assert "≈" in cells  # the scoring glyph: estimated
            flag = cells.rstrip(" ▁▂▃▄▅▆▇█").rstrip()[-1]  # not the scrollbar's thumb
            assert flag in "★●·×⊕", row  # the flag is on screen, its own column
        best_row = next((r for r in rows if best[:12] in r), None)
        if best_row is not None:  # one ★ in the table (the detail beside it names it too)
            assert best_row.split("▏")[0].count("★") == 1


async def test_a_waiting_proposal_steps_param_by_param_in_a_short_panel(demo: Path) -> None:
    """On a short terminal (80x18) the detail beside the table is under 10 rows (at
    80x24 it has the empty plot's rows while no trial is done: W2 30): it says which
    param of how many is shown, shows the marked one with its value, and , / . step
    through them all."""
    app = JarvisApp(demo)
    async with app.run_test(size=(80, 18), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "v")
        await press(app, pilot, "s")
        app.screen.query_one("#field-0", Input).value = "3"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None, what="the first proposal")
        await settle(app, pilot, ignore=RUN)
        config = pane.pending[0]
        keys = sorted(config.params)
        assert ", . step" in screen(app)  # the keys are on screen, in the prompt
        seen: set[str] = set()
        for i, key in enumerate(keys):
            # the panel's text (its left edge and its scrollbar left out)
            lines = [ln.strip("▏ ▁▂▃▄▅▆▇█") for ln in detail_lines(app, pane)]
            text = "\n".join(lines)
            assert f"param {i + 1}/{len(keys)}" in lines[0], text
            at = next((n for n, ln in enumerate(lines) if "▸" in ln), None)
            assert at is not None, text
            # the marked param: its key above the mark (folded when long), its value whole
            assert show_value(config.params[key]) in lines[at], (key, text)
            assert key.replace(" ", "") in "".join(ln.strip() for ln in lines[1:at]), text
            seen.add(key)
            await press(app, pilot, "full_stop")
        assert seen == set(keys)
        await press(app, pilot, "comma")
        assert f"param {len(keys) - 1}/{len(keys)}" in detail_lines(app, pane)[0]
        pane.control.stop()
        await wait_until(pilot, lambda: not pane.running)
        await settle(app, pilot)
