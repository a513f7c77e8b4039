"""Trials pane: the demo's finished run, a live run steered by hand, export, promote.

The live run is held by review mode and pause at each step, so the test decides the
order of events; `wait_until` only waits for the worker thread to get there.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from jarvis_tui.demo import DEMO_RUN_TRIALS
from jarvis_tui.learning.optimize import OptimizationStore, SearchDimension, SearchSpace
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.trials import TrialsPane
from jarvis_tui.ui.screens.forms import ConfigFormScreen, PromptScreen
from jarvis_tui.ui.testing import record_notices, settle, wait_until
from jarvis_tui.ui.widgets.scatter import ScatterPlot
from jarvis_tui.ui.widgets.trial_table import TrialTable

RUN = ("trials.run",)


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    import shutil

    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


async def open_trials(app: JarvisApp, pilot) -> TrialsPane:
    await settle(app, pilot, ignore=RUN)
    await pilot.press("P")
    await settle(app, pilot, ignore=RUN)
    return app.query_one(TrialsPane)


def text_of(pane: TrialsPane, sel: str) -> str:
    return str(pane.query_one(sel, Static).render())


async def test_demo_run_is_shown_with_its_frontier(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        table = pane.query_one("#trials-table", TrialTable)
        assert table.row_count == DEMO_RUN_TRIALS
        status = text_of(pane, "#trials-status")
        assert "completed" in status and f"{DEMO_RUN_TRIALS}/{DEMO_RUN_TRIALS} trials" in status
        assert f"{DEMO_RUN_TRIALS} estimated" in status  # the demo's run replays traces
        with OptimizationStore(demo / "optimize.db") as store:
            run = store.get_run(store.list_runs()[0]["run_id"])
        assert set(pane.view.frontier) == {t.trial_id for t in run.pareto_frontier}
        plot = pane.query_one(ScatterPlot)
        lines = "\n".join(plot.render_line(y).text for y in range(plot.size.height))
        assert "●" in lines  # frontier members drawn
        # walking the frontier selects frontier members, in x order, and shows trade-offs
        await pilot.press("h")
        first = pane.selected
        assert first in pane.view.frontier
        await pilot.press("l")
        assert pane.selected in pane.view.frontier and pane.selected != first
        await pilot.press("left")  # the arrow keys walk the frontier too (not the table's)
        assert pane.selected == first
        tradeoff = text_of(pane, "#trials-tradeoff")  # what moving to a neighbour gains
        assert "pt accuracy" in tradeoff or "same accuracy" in tradeoff, tradeoff
        detail = text_of(pane, "#trials-detail")
        assert pane.selected in detail and "params" in detail and "intelligence.model" in detail
        # axes cycle
        before = (pane.x_metric, pane.y_metric)
        await pilot.press("X")
        assert (pane.x_metric, pane.y_metric) != before and pane.x_metric != pane.y_metric


async def test_start_pause_enqueue_first_accept_reject_export(demo: Path, tmp_path: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        await pilot.press("v")  # review mode: every proposal waits for us
        assert pane.review_on
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfigFormScreen)
        app.screen.query_one("#field-0", Input).value = "4"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None, what="first proposal")
        assert "waits" in text_of(pane, "#trials-prompt")
        first_id = pane.pending[0].trial_id

        # pause, then queue a hand-written config while the proposal waits
        await pilot.press("p")
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ConfigFormScreen)
        space = pane.space
        model_dim = space.dimension("intelligence.model")
        wanted = model_dim.values[-1]
        order = sorted(d.name for d in space.dimensions)  # the form's order
        fields = {name: form.query_one(f"#field-{i}") for i, name in enumerate(order)}
        fields["intelligence.model"].value = wanted
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfigFormScreen), form.query_one("#cf-summary").render()
        queued = pane.control.queued()
        assert len(queued) == 1 and queued[0].params["intelligence.model"] == wanted

        await pilot.press("y")  # accept the first proposal: it is evaluated, then the run pauses
        await wait_until(pilot, lambda: len(pane.view.trials) == 1 and "paused" in text_of(
            pane, "#trials-status"), what="paused after trial 1")  # fmt: skip
        assert pane.view.trials[0].trial_id == first_id
        await pilot.press("p")  # resume: the queued config comes before any proposal
        await wait_until(pilot, lambda: pane.pending is not None and len(pane.view.trials) == 2,
                         what="queued trial, then the next proposal")  # fmt: skip
        second = pane.view.trials[1]
        assert second.config.params["intelligence.model"] == wanted
        assert pane.view.meta[second.trial_id]["source"] == "queued"

        # reject the waiting proposal with a reason: it is not evaluated
        rejected_id = pane.pending[0].trial_id
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one(Input).value = "too slow for chat"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None
                         and pane.pending[0].trial_id != rejected_id, what="a new proposal")  # fmt: skip
        assert "rejected: too slow for chat" in text_of(pane, "#trials-prompt") or any(
            "too slow" in n for n in pane.notices
        )
        await pilot.press("y")
        await wait_until(pilot, lambda: pane.pending is not None, what="proposal 4")
        await pilot.press("y")
        await wait_until(pilot, lambda: not pane.running, what="the run to end")
        await settle(app, pilot)
        assert len(pane.view.trials) == 4
        assert rejected_id not in {t.trial_id for t in pane.view.trials}
        with OptimizationStore(demo / "optimize.db") as store:
            stored = store.get_trials(pane.view.run_id)
            meta = store.get_trial_meta(pane.view.run_id)
        assert [t.trial_id for t in stored] == [t.trial_id for t in pane.view.trials]
        assert meta[second.trial_id]["source"] == "queued"

        # export the best recipe
        out = tmp_path / "recipes" / "best.toml"
        out.parent.mkdir()  # outside the workspace a missing folder is refused (a typo)
        await pilot.press("w")
        await pilot.pause()
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        # tmp_path is outside the workspace: the dialog names the resolved path first
        assert str(out.resolve()) in str(app.screen.query_one("#confirm-body", Static).render())
        await pilot.press("y")
        await settle(app, pilot)
        data = tomllib.loads(out.read_text())
        assert data["recipe"]["trial_id"] == pane.view.best
        assert data["recipe"]["run_id"] == pane.view.run_id
        assert (out.stat().st_mode & 0o777) == 0o600


async def test_stop_then_continue_the_same_run(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        await pilot.press("v")
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#field-0", Input).value = "3"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.pending is not None)
        await pilot.press("y")
        await wait_until(pilot, lambda: pane.pending is not None and len(pane.view.trials) == 1)
        await pilot.press("x")  # stop while a proposal waits: it is dropped, the run ends
        await wait_until(pilot, lambda: not pane.running)
        await settle(app, pilot)
        run_id = pane.view.run_id
        assert pane.view.status == "stopped" and len(pane.view.trials) == 1
        await pilot.press("v")  # review off
        await pilot.press("c")
        await wait_until(pilot, lambda: not pane.running and pane.view.status == "completed")
        await settle(app, pilot)
        assert pane.view.run_id == run_id and len(pane.view.trials) == 3


async def test_bounds_mark_trials_infeasible_and_bad_bounds_are_refused(demo: Path) -> None:
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        lat = sorted(t.mean_latency_seconds for t in pane.view.trials)
        limit = lat[len(lat) // 2]
        await pilot.press("B")
        await pilot.pause()
        box = app.screen.query_one(Input)
        box.value = "latency <= fast"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        assert "cannot read bound" in str(app.screen.query_one("#prompt-error", Static).render())
        box.value = f"latency <= {limit}s"
        await pilot.press("enter")
        await pilot.pause()
        slow = [t for t in pane.view.trials if t.mean_latency_seconds > limit]
        assert slow
        for t in slow:
            assert pane.view.meta[t.trial_id]["infeasible"]
            assert t.trial_id not in pane.view.frontier
        assert "bounds latency <=" in text_of(pane, "#trials-status")


async def test_promote_writes_a_promoted_trial_version(demo: Path) -> None:
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        trial = next(t for t in pane.view.trials if t.trial_id == pane.selected)
        agent = trial.config.params.get("agent.name")
        await pilot.press("plus")
        await settle(app, pilot)
        if agent is None:
            app.screen.query_one(Input).value = "react"
            await pilot.press("enter")
            await settle(app, pilot)
            agent = "react"
        await pilot.press("y")
        await settle(app, pilot)
    versions = AgentConfigEvolver(trace_store=None, config_dir=demo / "agents").list_versions(agent)
    assert versions[-1]["cause"] == "promoted-trial" and trial.trial_id in versions[-1]["note"]
    data = tomllib.loads((demo / "agents" / f"{agent}.toml").read_text())
    assert data["intelligence"]["model"] == trial.config.params["intelligence.model"]


async def test_config_form_refuses_values_outside_the_space() -> None:
    from textual.app import App

    space = SearchSpace(
        dimensions=[
            SearchDimension("intelligence.model", "categorical", ["a", "b"], primitive="intelligence"),
            SearchDimension("intelligence.temperature", "continuous", low=0.0, high=1.0),
            SearchDimension("agent.max_turns", "integer", low=1, high=10),
            SearchDimension("tools.enabled", "subset", ["calc", "web"]),
        ]
    )  # fmt: skip
    results = []

    class FormApp(App):
        def on_mount(self) -> None:
            self.push_screen(
                ConfigFormScreen("queue", space, {"intelligence.model": "a"}), results.append
            )

    app = FormApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        form = app.screen
        form.query_one("#field-1", Input).value = "7"
        form.query_one("#field-2", Input).value = "3.5"
        form.query_one("#field-3", Input).value = "calc, shell"
        await pilot.press("ctrl+s")
        await pilot.pause()
        beside = [str(form.query_one(f"#error-{i}", Static).render()) for i in range(4)]
        assert beside[0] == ""
        assert "outside [0, 1]" in beside[1] and "not a whole number" in beside[2]
        assert "shell not among" in beside[3]
        assert "nothing submitted" in str(form.query_one("#cf-summary", Static).render())
        assert results == [] and app.screen is form
        form.query_one("#field-1", Input).value = "0.25"
        form.query_one("#field-2", Input).value = "4"
        form.query_one("#field-3", Input).value = "web"
        form.query_one("#field-0", Select).value = "b"
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert results == [
        {"intelligence.model": "b", "intelligence.temperature": 0.25, "agent.max_turns": 4,
         "tools.enabled": ["web"]}
    ]  # fmt: skip


async def test_pane_without_runs_and_with_a_foreign_optimize_db(workspace: Path) -> None:
    import sqlite3

    app = JarvisApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        assert "No optimization runs yet" in text_of(pane, "#trials-status")
        assert "No trials yet" in text_of(pane, "#trials-detail")
    with sqlite3.connect(workspace / "optimize.db") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    before = (workspace / "optimize.db").read_bytes()
    app = JarvisApp(workspace)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        head = text_of(pane, "#trials-status")  # the header keeps the reason (finding 77)
        assert "optimize.db: not an optimize.db" in head and "No optimization runs" not in head
        assert any("not an optimize.db" in m for m in notices)
    assert (workspace / "optimize.db").read_bytes() == before


async def test_bad_search_space_and_nothing_to_export_are_messages(demo: Path) -> None:
    (demo / "optimize.toml").write_text('[[optimize.search]]\nname = "x"\ntype = "fuzzy"\n')
    (demo / "optimize.db").unlink()
    app = JarvisApp(demo)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        # said in the header (not a toast at each load), with the file to fix
        assert "optimize.toml: " in text_of(pane, "#trials-status")
        assert "unknown type 'fuzzy'" in text_of(pane, "#trials-status")
        assert pane.space is None and not pane.check_action("enqueue", ())
        await pilot.press("w")
        await pilot.press("plus")
        await pilot.pause()
        messages = list(notices)
        assert any("no optimization run yet" in m for m in messages)  # (no optimize.db)
        assert any("select a trial" in m for m in messages)
        told = len(notices)
        await pilot.press("s")  # refused at once, in one message: why, and what to do
        await pilot.pause()
        await pilot.press("enter")  # what a user tries next: no form opened, none submitted
        await settle(app, pilot)
        assert not pane.running
        messages = [m for m in notices[told:] if not m.startswith("no trial to open")]
        assert len(messages) == 1, messages
        assert "Cannot start a run" in messages[0] and "fuzzy" in messages[0]
        assert "fix optimize.toml" in messages[0].lower()
    assert not (demo / "optimize.db").exists()  # nothing was written for a run that never began
