"""Every key in the Routing, Configs and Training help does what it says, on screen.

One Pilot test per binding (the app-wide grammar: s start, r refresh, y / n accept /
skip, x stop, m mark, t text diff, b roll back, d detail, > / < more / less, escape back
to navigation, j k h l g G move). The keys ``enter`` (Routing drill-down) and ``/`` are
also covered in test_routing_pane.py; s in Routing and y / n in Configs there too.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tomllib
from pathlib import Path
from unittest import mock

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes import training
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.testing import record_notices, settle


def shown(widget: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


@pytest.fixture(scope="module")
def pinned_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jarvis_tui.demo import PINNED_NOW, build_demo

    with mock.patch("time.time", lambda: PINNED_NOW):
        return build_demo(tmp_path_factory.mktemp("keysdemo") / "ws", traces=1500, seed=3,
                          optimize=False, now=PINNED_NOW)  # fmt: skip


@pytest.fixture
def home(pinned_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(pinned_demo, dest)
    monkeypatch.setattr(training, "missing_train_modules", lambda: [])
    return dest


async def open_pane(app: JarvisApp, pilot, key: str) -> None:
    await settle(app, pilot)
    await pilot.press(key)
    await settle(app, pilot)


def help_keys(app: JarvisApp) -> set[str]:
    """The keys the help screen lists for the focused pane."""
    from jarvis_tui.ui.screens.help import HelpScreen

    app.action_help()
    screen = app.screen
    assert isinstance(screen, HelpScreen)
    rows = {token for key, _ in screen.rows for token in str(key).split()}
    screen.dismiss(None)
    return rows


# ---------------------------------------------------------------- Routing


async def test_routing_help_lists_the_grammar_keys(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "R")
        keys = help_keys(app)
        for key in ("s", "r", "/", "d", ">", "<", "j", "k", "h", "l", "g", "G"):
            assert key in keys, key
        assert "c" not in keys and "+" not in keys  # the old keys are gone


async def test_routing_r_recomputes_what_the_traces_pane_labelled(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "R")
        status = app.query_one("#routing-status", Static)
        assert "872 rated" in shown(status)
        unrated = next(t for t in app.store.iter_traces(with_steps=False) if t.feedback is None)
        app.store.update_feedback(unrated.trace_id, 0.9)
        await pilot.press("r")
        await settle(app, pilot)
        assert "873 rated" in shown(status)


async def test_routing_greater_and_less_change_the_evidence_minimum(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "R")
        status = app.query_one("#routing-status", Static)
        table = app.query_one("#routing-matrix", DataTable)
        assert "evidence ≥ 30 ratings" in shown(status)
        assert "?" not in table.get_cell("short", "phi3:3.8b").plain
        await pilot.press("greater_than_sign")
        await settle(app, pilot)
        assert "evidence ≥ 40 ratings" in shown(status)
        assert "?" in table.get_cell("short", "phi3:3.8b").plain  # 36 ratings: now thin
        await pilot.press("less_than_sign", "less_than_sign")
        await settle(app, pilot)
        assert "evidence ≥ 20 ratings" in shown(status)


async def test_routing_d_gives_the_side_panel_the_pane_and_back(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "R")
        matrix = app.query_one("#routing-matrix", DataTable)
        assert matrix.display and matrix.region.height > 0
        await pilot.press("d")
        await pilot.pause()
        assert matrix.region.height == 0
        assert "d: back to the matrix" in shown(app.query_one("#routing-status", Static))
        await pilot.press("d")
        await pilot.pause()
        assert matrix.region.height > 0 and app.focused is matrix


async def test_routing_slash_then_escape_goes_back_to_the_matrix(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "R")
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("s")  # typed into the query, not a learning cycle
        await settle(app, pilot)
        assert app.query_one("#routing-query", Input).value == "s"
        assert "Last learning cycle" not in shown(app.query_one("#routing-replay", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.query_one("#routing-matrix", DataTable)


async def test_routing_navigation_keys_move_the_cell_cursor(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "R")
        table = app.query_one("#routing-matrix", DataTable)
        assert tuple(table.cursor_coordinate) == (0, 1)
        await pilot.press("j", "j", "l")
        assert tuple(table.cursor_coordinate) == (2, 2)
        await pilot.press("k", "h")
        assert tuple(table.cursor_coordinate) == (1, 1)
        await pilot.press("G")
        assert table.cursor_coordinate.row == 4
        await pilot.press("g")
        assert table.cursor_coordinate.row == 0


async def test_routing_s_on_a_short_terminal_shows_what_was_written(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_pane(app, pilot, "R")
        (home / "agents" / "simple.toml").write_text(
            '[agent]\nname = "simple"\ntools = ["calculator"]\nmax_turns = 2\n'
        )
        await pilot.press("s")
        await settle(app, pilot)
        side = app.query_one("#routing-side")
        assert side.region.height >= 12  # the report has the pane
        text = shown(app.query_one("#routing-replay", Static))
        assert "wrote 1 agent config in agents/" in text and "simple" in text
        assert "agent.max_turns: 2 →" in text


# ---------------------------------------------------------------- Configs


async def open_react(app: JarvisApp, pilot) -> ConfigsPane:
    await open_pane(app, pilot, "C")
    await pilot.press("j", "tab")  # react, then its versions
    await settle(app, pilot)
    pane = app.query_one(ConfigsPane)
    assert pane.agent == "react"
    return pane


def diff_text(app: JarvisApp) -> str:
    return shown(app.query_one("#configs-diff-body", Static))


async def test_configs_help_lists_the_grammar_keys(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_react(app, pilot)
        keys = help_keys(app)
        for key in ("s", "y", "n", "b", "m", "t", "r", "j", "k", "g", "G"):
            assert key in keys, key
        assert "e" not in keys


async def test_configs_navigation_and_g_G(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_react(app, pilot)
        versions = app.query_one("#configs-versions", DataTable)
        await pilot.press("G")
        await settle(app, pilot)
        assert versions.cursor_row == versions.row_count - 1
        assert "version 1 → version 4" in diff_text(app)
        await pilot.press("g")
        await settle(app, pilot)
        assert versions.cursor_row == 0


async def test_configs_m_marks_and_t_shows_the_text_diff(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_react(app, pilot)
        await pilot.press("G", "m", "k")  # mark v1, then pick v2
        await settle(app, pilot)
        assert "version 1 → version 2" in diff_text(app)
        await pilot.press("t")
        await settle(app, pilot)
        assert "--- v1" in diff_text(app) and "+++ v2" in diff_text(app)
        await pilot.press("t")
        await settle(app, pilot)
        assert "--- v1" not in diff_text(app)


async def test_configs_b_confirms_then_rolls_back(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_react(app, pilot)
        await pilot.press("G", "b")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        body = shown(app.screen.query_one("#confirm-body", Static))
        assert "react" in body and "max_turns = 6" in body
        await pilot.press("y")
        await settle(app, pilot)
        assert pane.versions[-1]["cause"] == "rollback"
        assert app.query_one("#configs-versions", DataTable).row_count == 5  # the new one on top
    assert tomllib.loads((home / "agents" / "react.toml").read_text())["agent"]["max_turns"] == 6


async def test_configs_s_proposes_y_writes_and_n_skips(home: Path) -> None:
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    ev = AgentConfigEvolver(None, config_dir=home / "agents")
    ev.write_config("react", tools=["calculator"], max_turns=3, cause="manual")
    ev.write_config("simple", tools=["calculator"], max_turns=2, cause="manual")
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_pane(app, pilot, "C")
        pane = app.query_one(ConfigsPane)
        await pilot.press("s")
        await settle(app, pilot)
        assert [p.agent for p in pane.proposals] == ["react", "simple"]
        assert "react: evolver proposal" in diff_text(app)
        assert "agent.max_turns: 3 →" in diff_text(app)
        assert app.query_one("#configs-diff").region.width >= 70  # the diff has the room
        await pilot.press("y")
        await settle(app, pilot)
        # react v1 was written by hand (manual) and has no ratings yet: y asks once more
        # (the learning cycle's rule: a person's choice is kept until 30 ratings)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        assert "simple: evolver proposal" in diff_text(app)
        await pilot.press("n")
        await settle(app, pilot)
        assert pane.proposals == []
        assert app.query_one("#configs-agents").region.height > 0  # the lists are back
    react = tomllib.loads((home / "agents" / "react.toml").read_text())["agent"]
    simple = tomllib.loads((home / "agents" / "simple.toml").read_text())["agent"]
    assert react["max_turns"] != 3 and simple["max_turns"] == 2  # y wrote, n did not


async def test_configs_r_reloads_an_agent_written_elsewhere(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "C")
        agents = app.query_one("#configs-agents", DataTable)
        assert agents.row_count == 3
        from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

        AgentConfigEvolver(None, config_dir=home / "agents").write_config(
            "writer", tools=["web_search"], cause="manual"
        )
        await pilot.press("r")
        await settle(app, pilot)
        names = [str(agents.get_row_at(i)[0]) for i in range(agents.row_count)]
        assert "writer" in names


# ---------------------------------------------------------------- Training


def fake_run(home: Path, run_id: str, status: str = "completed", steps: int = 20) -> None:
    n = len(list((home / "checkpoints").glob("*"))) if (home / "checkpoints").exists() else 0
    d = home / "checkpoints" / f"run-{n}"  # the folder name is plain; the id is not
    d.mkdir(parents=True)
    lines = [{"type": "step", "step": i, "loss": 2.0 / i, "lr": 1e-4, "tokens_per_s": 900.0,
              "eta": 0.0, "total_steps": steps} for i in range(1, steps + 1)]  # fmt: skip
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (d / "run.json").write_text(json.dumps({
        "run_id": run_id, "status": status, "model": "m", "created": 1_780_000_000.0 + len(run_id),
        "updated": 1_780_000_001.0, "steps_done": steps, "total_steps": steps,
        "final_loss": 0.1, "duration": 2.0, "config": {}, "data": {}, "summary": {},
    }))  # fmt: skip


async def test_training_help_lists_the_grammar_keys(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "L")
        keys = help_keys(app)
        for key in ("s", "x", "m", "r", "E", ">", "<", "j", "k"):
            assert key in keys, key
        assert "c" not in keys and "o" not in keys


async def test_training_r_reloads_runs_and_markup_ids_stay_text(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_pane(app, pilot, "L")
        runs = app.query_one("#training-runs", DataTable)
        assert runs.row_count == 0
        fake_run(home, "[/]run")
        fake_run(home, "[link=http://x.invalid]evil[/link]")
        await pilot.press("r")
        await settle(app, pilot)
        assert runs.row_count == 2
        ids = {str(runs.get_row_at(i)[0]) for i in range(2)}
        assert "[/]run" in ids and any(i.startswith("[link=") for i in ids)


async def test_training_m_overlays_the_highlighted_run(home: Path) -> None:
    fake_run(home, "first")
    fake_run(home, "second-run")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "L")
        pane = app.query_one(TrainingPane)
        await pilot.press("j")  # the older run: followed now
        await settle(app, pilot)
        assert pane.followed == "first"
        await pilot.press("k", "m")  # the newer one's loss overlaid
        await settle(app, pilot)
        assert set(pane.overlays) == {"second-run"}
        await pilot.press("m")
        await settle(app, pilot)
        assert pane.overlays == {}


async def test_training_greater_and_less_change_the_smoothing(home: Path) -> None:
    fake_run(home, "first")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "L")
        pane = app.query_one(TrainingPane)
        assert pane.alpha == 0.1
        await pilot.press("greater_than_sign")
        assert pane.alpha == 0.05  # the chart title says EMA α=0.05
        await pilot.press("less_than_sign", "less_than_sign")
        assert pane.alpha == 0.2


FAKE_TRAIN = str(Path(__file__).with_name("fake_train.py"))
"""Stands in for ``jarvis-tui train`` as the pane's child: holds until cancelled (x)."""


async def test_training_s_starts_and_x_cancels(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jarvis_tui.ui.panes import training

    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "L")
        pane = app.query_one(TrainingPane)
        (home / "no-model-needed").mkdir()  # a folder the form accepts (the fake reads none)
        (home / "no-model-needed" / "config.json").write_text("{}")
        pane.query_one("#f-model", Input).value = str(home / "no-model-needed")
        await pilot.press("s")
        await pilot.pause()
        assert pane.training
        assert "training…" in shown(app.query_one("#training-status", Static))
        await pilot.press("x")
        await settle(app, pilot)
        assert not pane.training
        assert any("training cancelled" in m for m in notices)


async def test_training_escape_leaves_the_form_for_the_runs_list(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(app, pilot, "L")
        pane = app.query_one(TrainingPane)
        pane.query_one("#f-min_quality", Input).focus()
        await pilot.pause()
        await pilot.press("tab")  # into the next field
        await pilot.press("end", "backspace", "backspace", "backspace", "1", "0")
        assert pane.query_one("#f-max_pairs", Input).value == "10"
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.query_one("#training-runs", DataTable)
        await pilot.press("r")  # a pane key again, not typed into the field
        await settle(app, pilot)
        assert pane.query_one("#f-max_pairs", Input).value == "10"


async def test_training_without_torch_says_how_to_install_and_keeps_saying_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real check
    monkeypatch.setitem(sys.modules, "torch", None)  # torch cannot be imported
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_pane(app, pilot, "L")
        pane = app.query_one(TrainingPane)
        notice = shown(app.query_one("#training-install", Static))
        assert "pip install 'jarvis-tui[train]'" in notice and "torch" in notice
        assert app.query_one("#training-install").region.height > 0
        await pilot.press("s")
        await settle(app, pilot)
        assert not pane.training
        errors = shown(app.query_one("#training-form-errors", Static))
        assert "torch" in errors and "pip install 'jarvis-tui[train]'" in errors
        assert not (home / "checkpoints").exists()
        await pilot.press("r")
        await settle(app, pilot)
        assert "pip install" in shown(app.query_one("#training-install", Static))


def test_missing_train_modules_sees_a_blocked_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a)
    )
    assert "peft" in training.missing_train_modules()
