"""Trials pane: M measures an estimated trial through a local OpenAI-compatible server.

The server (``ChatServer``) answers each held-out query with its reference, except one
query it answers with noise: that sample must head the per-sample table (worst first).
Cancelling holds the server's later answers on an event, so the test decides when the
measurement is midway; ``wait_until`` only waits for the worker thread to get there.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from textual.widgets import Static

from jarvis_tui.demo import DEMO_RUN_TRIALS
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.evals.setup import EvalOptions, build_set
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.paths import Workspace
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials import TrialsPane
from jarvis_tui.ui.testing import record_notices, settle, wait_until
from jarvis_tui.ui.widgets.scatter import MEASURED_FRONTIER, ScatterPlot
from jarvis_tui.ui.widgets.trial_table import TrialTable

IGNORE = ("trials.run", "trials.measure")
NOISE = "zebra quantum marmalade"


@pytest.fixture(scope="module")
def template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


def _text(pane: TrialsPane, sel: str) -> str:
    return str(pane.query_one(sel, Static).render())


def _table_lines(pane: TrialsPane) -> list[str]:
    table = pane.query_one("#trials-table", TrialTable)
    return [table.render_line(y).text for y in range(table.size.height)]


def _plot_text(pane: TrialsPane) -> str:
    plot = pane.query_one(ScatterPlot)
    return "\n".join(plot.render_line(y).text for y in range(plot.size.height))


async def _open(app: JarvisApp, pilot) -> TrialsPane:
    await settle(app, pilot, ignore=IGNORE)
    await pilot.press("P")
    await settle(app, pilot, ignore=IGNORE)
    return app.query_one(TrialsPane)


async def test_m_measures_the_selected_estimate_and_lists_the_worst_sample_first(
    home: Path, monkeypatch
) -> None:
    eval_set = build_set(EvalOptions(), Workspace(home))
    refs = {s.query: s.reference for s in eval_set.samples}
    worst = eval_set.samples[2].query
    answer = lambda user, _system: NOISE if user == worst else refs.get(user, "")  # noqa: E731
    with ChatServer({"*": answer}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        monkeypatch.setenv("JARVIS_TUI_EVAL_MODEL", "served-model")
        app = JarvisApp(home)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = await _open(app, pilot)
            assert f"{DEMO_RUN_TRIALS} estimated" in _text(pane, "#trials-status")
            assert "≈" in _table_lines(pane)[1]  # every demo trial is an estimate
            await pilot.press("g")
            source = pane.selected
            await pilot.press("M")
            await wait_until(
                pilot,
                lambda: pane.measuring is None and len(pane.view.trials) == DEMO_RUN_TRIALS + 1,
                what="the measured trial",
            )
            await settle(app, pilot, ignore=IGNORE)
            status = _text(pane, "#trials-status")
            assert f"1 measured · {DEMO_RUN_TRIALS} estimated" in status
            # the new trial is selected, shown with the measured glyph in table and plot
            new_id = pane.selected
            assert new_id != source and new_id.startswith("m-")
            row = next(line for line in _table_lines(pane) if new_id[:12] in line)
            assert "■" in row and "measured" in row
            plot = _plot_text(pane)
            assert "measured" in plot and (MEASURED_FRONTIER in plot or "▪" in plot)
            detail = _text(pane, "#trials-detail")
            assert f"(after {source})" in detail and "measured on eval set" in detail
            lines = detail.splitlines()
            head = next(i for i, line in enumerate(lines) if line.startswith("samples, worst"))
            assert "query" in lines[head + 1] and "answer" in lines[head + 1]
            first = lines[head + 2]
            assert "0.000" in first and worst[:12] in first and NOISE[:6] in first
        # on disk: a trial of the same run whose meta says how it was measured
        with OptimizationStore(home / "optimize.db") as store:
            run_id = store.list_runs()[0]["run_id"]
            meta = store.get_trial_meta(run_id)[new_id]
            trial = next(t for t in store.get_run(run_id).trials if t.trial_id == new_id)
        assert meta["source"] == "measured" and meta["parent"] == source
        assert meta["scoring"] == "measured" and meta["eval_set"]["id"] == eval_set.set_id
        assert Path(meta["eval_result"]).is_file() and not meta["partial"]
        assert len(trial.sample_scores) == len(eval_set)
        assert len(server.requests) == len(eval_set)


async def test_x_cancels_midway_and_keeps_a_partial_result(home: Path, monkeypatch) -> None:
    gate = threading.Event()
    lock = threading.Lock()
    answered = [0]

    def answer(user: str, _system: str) -> str:
        with lock:
            answered[0] += 1
            n = answered[0]
        if n > 8:  # the first 8 answers come at once; the rest wait for the test
            gate.wait(30)
        return user

    with ChatServer({"*": answer}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        app = JarvisApp(home)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = await _open(app, pilot)
            total = len(build_set(EvalOptions(), Workspace(home)))
            await pilot.press("M")
            await wait_until(
                pilot,
                lambda: f"answered 8/{total} samples" in _text(pane, "#trials-status"),
                what="per-sample progress",
            )
            assert "x cancels" in _text(pane, "#trials-status")
            await pilot.press("x")
            gate.set()  # the answers in flight arrive; no new ones are asked for
            await wait_until(pilot, lambda: pane.measuring is None, what="the cancel")
            await settle(app, pilot, ignore=IGNORE)
            new_id = pane.selected
            assert new_id.startswith("m-")
            row = next(line for line in _table_lines(pane) if new_id[:12] in line)
            assert "□" in row  # partial
            detail = _text(pane, "#trials-detail")
            assert "partial" in detail
        with OptimizationStore(home / "optimize.db") as store:
            run_id = store.list_runs()[0]["run_id"]
            meta = store.get_trial_meta(run_id)[new_id]
            trial = next(t for t in store.get_run(run_id).trials if t.trial_id == new_id)
        assert meta["partial"] is True
        assert 8 <= len(trial.sample_scores) < total


async def test_m_without_torch_or_endpoint_says_what_to_install(home: Path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.delenv("JARVIS_TUI_EVAL_URL", raising=False)
    monkeypatch.delenv("JARVIS_TUI_EVAL_LOCAL", raising=False)
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torch", "transformers") else real(name, *a),
    )
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(app, pilot)
        await pilot.press("M")
        await settle(app, pilot, ignore=IGNORE)
        prompt = _text(pane, "#trials-prompt")
        assert "JARVIS_TUI_EVAL_URL" in prompt and "jarvis-tui[train]" in prompt
        assert pane.measuring is None and len(pane.view.trials) == DEMO_RUN_TRIALS


async def _run_with_one_trial(app: JarvisApp, pilot, pane: TrialsPane, evaluate: str) -> None:
    """Start a 3-trial run in review mode (scored by *evaluate*), accept the first
    proposal and stop at the second one waiting."""
    from textual.widgets import Input, Select

    await pilot.press("v")
    await pilot.press("s")
    await pilot.pause()
    app.screen.query_one("#field-0", Input).value = "3"
    app.screen.query_one("#field-2", Select).value = evaluate
    await pilot.press("enter")
    await wait_until(pilot, lambda: pane.pending is not None, what="the first proposal")
    await pilot.press("y")
    await wait_until(
        pilot, lambda: pane.pending is not None and len(pane.view.trials) == 1, what="trial 1"
    )


async def test_m_during_a_replay_run_is_refused_with_the_reason(home: Path) -> None:
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(app, pilot)
        await _run_with_one_trial(app, pilot, pane, "replay")
        await pilot.press("M")
        await pilot.pause()
        messages = list(notices)
        assert any("estimates every trial by replaying traces" in m for m in messages), messages
        assert pane.control.queued() == []
        await pilot.press("x")
        await wait_until(pilot, lambda: not pane.running, what="the stop")


async def test_m_during_a_replay_then_measure_run_measures_that_config_next(
    home: Path, monkeypatch
) -> None:
    with ChatServer({"*": lambda user, _s: user}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        app = JarvisApp(home)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = await _open(app, pilot)
            await _run_with_one_trial(app, pilot, pane, "replay-then-measure")
            first = pane.view.trials[0]
            await pilot.press("M")  # trial 1 is selected: its config is queued, to be measured
            await pilot.pause()
            queued = pane.control.queued()
            assert len(queued) == 1 and queued[0].params == first.config.params
            await pilot.press("v")  # review off: the waiting proposal, then the queued config
            await wait_until(pilot, lambda: not pane.running, what="the run's end")
            await settle(app, pilot, ignore=IGNORE)
            run_id = pane.view.run_id
        with OptimizationStore(home / "optimize.db") as store:
            meta = store.get_trial_meta(run_id)
        mine = meta[queued[0].trial_id]
        assert mine["source"] == "queued" and mine["scoring"] == "measured"
        assert mine["eval_set"]["id"]


async def test_help_and_palette_offer_measure(home: Path, monkeypatch) -> None:
    from tests.ui.test_trials_screens import run_palette, screen

    with ChatServer({"*": lambda user, _s: user}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        app = JarvisApp(home)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            pane = await _open(app, pilot)
            await pilot.press("g")
            await pilot.press("question_mark")
            await settle(app, pilot, ignore=IGNORE)
            shown = ""
            for _ in range(12):  # read the help page by page
                shown += screen(app)
                await pilot.press("pagedown")
                await settle(app, pilot, ignore=IGNORE)
            assert "measures the selected estimate" in shown
            assert any(line.split()[1:3] == ["M", "Measure"] for line in shown.splitlines()
                       if len(line.split()) >= 3)  # the key table's row  # fmt: skip
            await pilot.press("escape")
            await settle(app, pilot, ignore=IGNORE)
            await run_palette(app, pilot, "trials: measure the selected trial")
            await wait_until(pilot, lambda: pane.measuring is None
                             and len(pane.view.trials) == DEMO_RUN_TRIALS + 1,
                             what="the measured trial")  # fmt: skip
            await settle(app, pilot, ignore=IGNORE)
            assert f"1 measured · {DEMO_RUN_TRIALS} estimated" in screen(app)
