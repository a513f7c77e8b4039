"""Trials findings left over from the earlier walkthroughs (issue 10): each test does
what the finding's keys did and reads what the user sees (the screen from the SVG
screenshot, the notifications, the files written).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import PromptScreen
from jarvis_tui.ui.testing import record_notices, settle, wait_until

from .test_trials_screens import RUN, open_trials, press, screen, screen_lines, status_lines

FIXTURE = Path(__file__).resolve().parents[2].parent / "shared/fixtures/openjarvis-2026-08"


@pytest.fixture
def oj08(tmp_path: Path) -> Path:
    """A writable copy of OpenJarvis's own workspace (its trials name no agent)."""
    home = tmp_path / "oj08"
    shutil.copytree(FIXTURE, home)
    for path in [home, *home.iterdir()]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return home


async def test_promote_into_a_broken_agent_file_is_refused_beside_the_field(oj08: Path) -> None:
    """Finding 40: the prompt stays open with the name typed and says why below it."""
    (oj08 / "agents").mkdir()
    (oj08 / "agents" / "broken.toml").write_text('[agent\nname = "broken\n')
    (oj08 / "agents" / "[b]weird[b].toml").write_text('[agent]\nname = "w"\n')
    app = JarvisApp(oj08)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        seen = record_notices(app)
        shown = await press(app, pilot, "plus")
        assert isinstance(app.screen, PromptScreen)
        # W 38: the list is the Configs pane's: the unusable one says why, the file
        # that names no agent is not offered
        assert "existing: broken (invalid TOML)" in shown and "weird" not in shown, shown
        app.screen.query_one(Input).value = "broken"
        shown = await press(app, pilot, "enter")
        assert isinstance(app.screen, PromptScreen), "the prompt closed on a refusal"
        assert app.screen.query_one(Input).value == "broken"
        assert "✗ cannot promote:" in shown and "invalid TOML at line 1" in shown, shown
        assert not seen, seen  # said in place, not in a toast
        assert (
            not (oj08 / "logs" / "jarvis-tui.log").exists()
            or "Traceback" not in (oj08 / "logs" / "jarvis-tui.log").read_text()
        )
        # a good name then goes on to the diff, as before
        app.screen.query_one(Input).value = "react"
        shown = await press(app, pilot, "enter")
        assert not isinstance(app.screen, PromptScreen)
        assert "will be recorded as version 1" in shown, shown
        await press(app, pilot, "escape")


async def test_a_corrupt_optimize_db_is_named_in_the_header(oj08: Path) -> None:
    """Finding 77: the header carries the reason (it said 'No optimization runs yet')."""
    (oj08 / "optimize.db").write_bytes(b"garbage")
    app = JarvisApp(oj08)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_trials(app, pilot)
        head = status_lines(app)
        assert "No optimization runs yet" not in head, head
        assert "optimize.db: not an SQLite database" in head, head
        await press(app, pilot, "r")
        assert "optimize.db: not an SQLite database" in status_lines(app)
        (oj08 / "optimize.db").unlink()
        shutil.copy(FIXTURE / "optimize.db", oj08 / "optimize.db")
        (oj08 / "optimize.db").chmod(0o600)
        await press(app, pilot, "r")
        head = status_lines(app)
        assert "not an SQLite database" not in head and "run0001" in head, head
        assert "run0001" in screen(app)


@pytest.fixture(scope="module")
def demo_template(demo_template) -> Path:
    """The shared 1,500-trace demo (seed 3), built once per run (tests/conftest.py)."""
    return demo_template(traces=1500, seed=3)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(demo_template, home)
    return home


async def test_while_m_measures_the_footer_says_x_stops_measuring(demo: Path, monkeypatch) -> None:
    """Finding 28: the footer said 'x Stop run' while x cancels the measurement, and
    'answered 0/50' said nothing of the wait before the first answer."""
    import threading

    from jarvis_tui.evals.local_server import ChatServer

    gate = threading.Event()
    with ChatServer({"*": lambda user, _system: user if gate.wait(30) else ""}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        app = JarvisApp(demo)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = await open_trials(app, pilot)
            assert "x Stop" not in screen_lines(app)[-1]  # nothing to stop yet
            await pilot.press("M")
            await wait_until(pilot, lambda: "answered 0/" in status_lines(app), what="progress")
            head = status_lines(app)
            assert "samples · waiting for the first answer… · x cancels" in head, head
            footer = screen_lines(app)[-1]
            assert "x Stop measuring" in footer and "Stop run" not in footer, footer
            await pilot.press("x")
            gate.set()
            await wait_until(pilot, lambda: pane.measuring is None, what="the cancel")
            await settle(app, pilot, ignore=RUN)
            assert "x Stop" not in screen_lines(app)[-1]


def plot_lines(app: JarvisApp) -> list[str]:
    from jarvis_tui.ui.widgets.scatter import ScatterPlot

    plot = app.query_one(ScatterPlot)
    return [plot.render_line(y).text for y in range(plot.size.height)]


async def test_cost_ticks_are_money_and_each_axis_has_one_precision(demo: Path) -> None:
    """Finding 27: cost ticks were '1.5e-4' (no $); accuracy mixed 0.799 / 0.75 / 0.7."""
    import re

    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        rows = plot_lines(app)
        y_ticks = [m.group(1) for r in rows if (m := re.match(r"\s*(\S+)┤", r))]
        assert len(y_ticks) >= 3 and len({len(t) for t in y_ticks}) == 1, y_ticks
        await press(app, pilot, "Y")  # y: cost
        rows = plot_lines(app)
        assert rows[0].startswith("cost $"), rows[0]
        y_ticks = [m.group(1) for r in rows if (m := re.match(r"\s*(\S+)┤", r))]
        assert len(y_ticks) >= 3 and all(t.startswith("$0.0") for t in y_ticks), y_ticks
        assert len({len(t) for t in y_ticks}) == 1, y_ticks
        assert not any("e-" in r for r in rows), rows


async def test_at_80x24_the_plot_keeps_its_legend_and_the_merge_mark_is_explained(
    demo: Path,
) -> None:
    """Finding 31: the legend line was dropped at 80x24, dots came as · and ∙, and the
    table's merge mark 'M' (the measure key's letter) had no legend."""
    app = JarvisApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_trials(app, pilot)
        text = "\n".join(plot_lines(app))
        assert "● frontier" in text and "· dominated" in text and "◆ selected" in text, text
        assert "latency s" in text and "∙" not in text and "•" not in text
        shown = await press(app, pilot, "m")  # mark the selected (frontier) trial
        assert "⊕ 1 trial marked for the next merge (m)" in shown, shown
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        shown = await press(app, pilot, "l")  # a frontier member that is not the ★
        if "★ best" in shown:
            shown = await press(app, pilot, "h", "h")
        assert "● frontier" in shown and "★ best" not in shown
        shown = await press(app, pilot, "m")
        rows = [line.rstrip(" ▂▄▆█▏▌") for line in screen_lines(app) if "≈ t-" in line]
        assert sum(row.endswith("⊕") for row in rows) == 1, rows
        assert "⊕ marked for the next merge (m unmarks)" in shown, shown


async def test_the_start_form_checks_each_field_as_it_is_typed(demo: Path) -> None:
    """Finding 26: 'abc' or '0' was refused only on submit (Training checks as you type)."""
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "s")
        shown = await press(app, pilot, "end", "backspace", "backspace", "a", "b", "c")
        assert "✗ 'abc' is not a whole number" in shown, shown
        shown = await press(app, pilot, "backspace", "backspace", "backspace", "0")
        assert "✗ 0 is outside [1, 100000]" in shown and "abc" not in shown, shown
        shown = await press(app, pilot, "backspace", "8")
        assert "✗" not in shown, shown
        await press(app, pilot, "escape")


async def test_enter_opens_the_selected_trial_whole(demo: Path) -> None:
    """Finding 74: enter did nothing in Trials although the help says enter opens."""
    from jarvis_tui.ui.screens.trial_detail import TrialDetailScreen

    app = JarvisApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_trials(app, pilot)
        await press(app, pilot, "j")
        trial = pane.selected
        shown = await press(app, pilot, "enter")
        assert isinstance(app.screen, TrialDetailScreen)
        assert f"Trial {trial}" in shown and "params" in shown and "escape: close" in shown
        assert "per benchmark" not in shown  # below: the window scrolls
        shown = await press(app, pilot, "G")
        assert "per benchmark" in shown and "escape: close" in shown, shown
        shown = await press(app, pilot, "escape")
        assert not isinstance(app.screen, TrialDetailScreen)
        assert pane.selected == trial
        await press(app, pilot, "question_mark")  # the help names the key: read it by page
        shown = ""
        for _ in range(16):
            shown += screen(app)
            await press(app, pilot, "pagedown")
        assert "enter opens the selected trial whole" in " ".join(shown.split()), shown
        assert any(line.split()[1:4] == ["enter", "Open", "trial"] for line in shown.splitlines())


async def test_a_runs_own_bounds_and_why_it_stopped_are_in_the_header(demo: Path, capsys) -> None:
    """Walkthrough (this session) 3 and 10: after a restart the header said nothing of
    the run's bounds (its trials still ×) nor, at 120 columns, why it stopped early."""
    from jarvis_tui.cli import main

    argv = ["optimize", "--home", str(demo), "--trials", "12", "--patience", "2", "--seed", "1",
            "--bound", "latency <= 3s", "--json"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)  # the newest run: the one just made
        head = status_lines(app)
        assert "bounds latency <= 3s (the run's)" in head, head
        assert "early stop:" in head, head
        shown = await press(app, pilot, "B")
        assert app.screen.query_one(Input).value == "latency <= 3s", shown
        await press(app, pilot, "escape")


async def test_c_continues_an_interrupted_run(demo: Path, capsys) -> None:
    """Walkthrough (this session) 26: an interrupted run (its process gone) said
    'continue it with --resume R' in the pane, and c did nothing (no key, no word)."""
    import sqlite3

    from jarvis_tui.cli import main
    from jarvis_tui.learning.optimize import OptimizationStore

    argv = ["optimize", "--home", str(demo), "--trials", "2", "--seed", "1", "--json"]
    assert main(argv) == 0
    capsys.readouterr()
    with OptimizationStore(demo / "optimize.db") as store:
        run_id = store.list_runs()[0]["run_id"]
        meta = store.get_run_meta(run_id)
        meta.update(max_trials=4, message=f"interrupted: its process is gone; continue it "
                                          f"with --resume {run_id}")  # fmt: skip
        store.save_run_meta(run_id, meta)
    with sqlite3.connect(demo / "optimize.db") as conn:
        conn.execute("UPDATE optimization_runs SET status = 'interrupted' WHERE run_id = ?",
                     (run_id,))  # fmt: skip
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_trials(app, pilot)
        head = status_lines(app)
        assert "interrupted" in head and "c continues it" in head and "--resume" not in head
        await pilot.press("c")
        await wait_until(pilot, lambda: not pane.running and pane.view.status == "completed",
                         what="the continued run")  # fmt: skip
        await settle(app, pilot, ignore=RUN)
        assert "4/4 trials" in status_lines(app), status_lines(app)


async def test_a_bound_on_a_metric_the_run_has_no_figure_of_is_refused(demo: Path) -> None:
    """Walkthrough (this session) 34: 'energy <= 0.001j' on a replay run (no energy
    figures) was accepted and filtered nothing, reading as 'every trial meets it'."""
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        await press(app, pilot, "B")
        app.screen.query_one(Input).value = "energy <= 0.001j"
        shown = await press(app, pilot, "enter")
        assert isinstance(app.screen, PromptScreen)
        assert "✗ energy: no trial of this run has a figure for it" in shown, shown
        app.screen.query_one(Input).value = "tokens <= 400"  # a figure every trial has
        await press(app, pilot, "enter")
        assert not isinstance(app.screen, PromptScreen)
        assert "bounds tokens <= 400" in status_lines(app)


async def test_the_start_form_says_what_measures_and_a_measured_trial_shows_its_samples(
    demo: Path, monkeypatch
) -> None:
    """Walkthrough (this session) 6 and 39: the form offered 'measured' without saying
    with what (the demo's tiny model answers mostly nothing), and a measured run showed
    'evaluating t-…' with no sample count for minutes."""
    import threading

    from jarvis_tui.evals.local_server import ChatServer

    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_trials(app, pilot)
        shown = " ".join((await press(app, pilot, "s")).replace("│", " ").split())
        assert "measured with the workspace's tiny local model (a tiny model" in shown, shown
        assert "set JARVIS_TUI_EVAL_URL" in shown
        await press(app, pilot, "escape")

    gate, lock, answered = threading.Event(), threading.Lock(), [0]

    def answer(user: str, _system: str) -> str:
        with lock:
            answered[0] += 1
            n = answered[0]
        if n > 8:  # the first 8 (one batch) at once; the rest wait for the test
            gate.wait(30)
        return user

    with ChatServer({"*": answer}) as server:
        monkeypatch.setenv("JARVIS_TUI_EVAL_URL", server.url)
        app = JarvisApp(demo)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = await open_trials(app, pilot)
            shown = " ".join((await press(app, pilot, "s")).replace("│", " ").split())
            assert f"measured with {server.url}" in shown and "tiny" not in shown, shown
            form = app.screen
            form.query_one("#field-0", Input).value = "1"
            from textual.widgets import Select

            form.query_one("#field-2", Select).value = "measured"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: "answered 8/" in status_lines(app), what="samples")
            assert "measuring t-" in status_lines(app) and "x abandons it" in status_lines(app)
            gate.set()
            await wait_until(pilot, lambda: not pane.running, what="the run's end")
            await settle(app, pilot, ignore=RUN)


async def test_an_empty_text_field_is_a_value_not_required(demo: Path) -> None:
    """Walkthrough (this session) 40: with a text dimension (a system prompt) the queue
    form and edit-then-accept said '✗ required' for the empty text the optimizer itself
    proposes."""
    with (demo / "optimize.toml").open("a") as f:
        f.write('\n[[optimize.search]]\nname = "agent.system_prompt"\ntype = "text"\n')
    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        seen = record_notices(app)
        await press(app, pilot, "a")
        names = sorted(d.name for d in pane.space.dimensions)  # the form's order
        box = app.screen.query_one(f"#field-{names.index('agent.system_prompt')}", Input)
        assert box.value == ""
        box.value = "x"
        await press(app, pilot)
        box.value = ""  # typed, then emptied again
        shown = await press(app, pilot)
        assert "✗ required" not in shown, shown
        shown = await press(app, pilot, "ctrl+s")
        assert "✗" not in shown and "nothing queued" not in shown, shown
        assert any(s.startswith("queued: evaluated first") for s in seen), seen


async def test_w_asks_before_replacing_an_existing_recipe(demo: Path) -> None:
    """Walkthrough (this session) 32: w wrote over a recipe edited by hand, without a word."""
    from jarvis_tui.ui.screens.confirm import ConfirmScreen

    app = JarvisApp(demo)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_trials(app, pilot)
        recipe = demo / "recipes" / f"{pane.view.run_id}-best.toml"
        await press(app, pilot, "w")
        await press(app, pilot, "enter")
        assert recipe.is_file()
        recipe.write_text("# edited by hand\n")
        await press(app, pilot, "w")
        shown = await press(app, pilot, "enter")
        assert isinstance(app.screen, ConfirmScreen), shown
        assert "This file exists" in shown and recipe.name in shown
        await press(app, pilot, "n")
        assert recipe.read_text() == "# edited by hand\n"
        await press(app, pilot, "w")
        await press(app, pilot, "enter")
        await press(app, pilot, "y")
        assert "[recipe]" in recipe.read_text()
