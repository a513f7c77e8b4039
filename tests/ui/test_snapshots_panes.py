"""SVG snapshots of every screen and modal of the Routing, Configs and Training panes,
each at 120×40 and 80×24, on a demo workspace with its clock pinned."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from unittest import mock

import pytest
from textual.widgets import Input

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes import training
from jarvis_tui.ui.testing import settle, wait_until

SIZES = pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])


@pytest.fixture(scope="module")
def pinned_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``jarvis-tui demo`` builds, small, with every clock pinned (traces and config
    versions), so the pictures only change when the app does."""
    from jarvis_tui.demo import PINNED_NOW, build_demo

    with mock.patch("time.time", lambda: PINNED_NOW):
        return build_demo(
            tmp_path_factory.mktemp("panesdemo") / "ws",
            traces=1500,
            seed=3,
            optimize=False,
            now=PINNED_NOW,
        )


@pytest.fixture
def home(pinned_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(pinned_demo, dest)
    # The train extra counts as installed (the no-torch picture makes it missing).
    monkeypatch.setattr(training, "missing_train_modules", lambda: [])
    return dest


def keys(*steps):
    """A run_before that opens the app and presses *steps* (a callable runs with the app)."""

    async def go(pilot) -> None:
        app = pilot.app
        app.sub_title = "demo workspace"
        await settle(app, pilot)
        for step in steps:
            if callable(step):
                step(app)
            else:
                await pilot.press(step)
            await settle(app, pilot)
        app.clear_notifications()  # toasts time out: not part of the picture
        await pilot.pause()

    return go


def fake_run(home: Path, run_id: str = "run-0001", steps: int = 120) -> None:
    """A finished run in checkpoints/ as another process would leave it."""
    d = home / "checkpoints" / "run-0001"
    d.mkdir(parents=True)
    lines = []
    for i in range(1, steps + 1):
        loss = 2.4 * math.exp(-i / 40) + 0.35 + 0.05 * math.sin(i * 1.7)
        lr = 5e-4 * min(1.0, i / 10) * 0.5 * (1 + math.cos(math.pi * i / steps))
        lines.append({"type": "step", "step": i, "loss": loss, "lr": lr,
                      "tokens_per_s": 21_000 + 800 * math.sin(i / 5), "eta": (steps - i) * 0.04,
                      "total_steps": steps})  # fmt: skip
        if i % (steps // 3) == 0:
            lines.append({"type": "eval", "step": i, "eval_loss": loss + 0.08})
            lines.append({"type": "epoch", "epoch": i // (steps // 3), "step": i})
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    info = {"run_id": run_id, "status": "completed", "model": "models/tiny-lm",
            "created": 1_780_000_000.0, "updated": 1_780_000_005.0, "steps_done": steps,
            "total_steps": steps, "final_loss": 0.48, "duration": 4.8, "message": "",
            "config": {"lora_rank": 8}, "data": {"pairs": 400}, "summary": {}}  # fmt: skip
    (d / "run.json").write_text(json.dumps(info))


def hand_edit(app: JarvisApp) -> None:
    """A hand-written react config the evolver will want to change."""
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    ev = AgentConfigEvolver(None, config_dir=app.workspace.agents_dir)
    ev.write_config("react", tools=["calculator"], max_turns=3, cause="manual", note="hand edit")


def pin_file_times(app: JarvisApp) -> None:
    """Agent config files dated like their log lines, as the demo dates them (the copy
    keeps file times, but a current file someone touched would be "approximate")."""
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    ev = AgentConfigEvolver(None, config_dir=app.workspace.agents_dir)
    for name in ev.list_agents():
        for v in ev.list_versions(name):
            if v["created"] is not None:
                os.utime(v["path"], (v["created"], v["created"]))


def shown(app: JarvisApp, selector: str) -> str:
    """The text a Static shows."""
    import io

    from rich.console import Console
    from textual.widgets import Static

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


def set_field(name: str, value: str):
    def go(app: JarvisApp) -> None:
        app.query_one(f"#f-{name}", Input).value = value

    return go


# ---------------------------------------------------------------- Routing


@SIZES
def test_routing_matrix(home: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("R"))


@SIZES
def test_routing_side_panel_after_a_learning_cycle(home: Path, snap_compare, size) -> None:
    app = JarvisApp(home)
    steps = keys(hand_edit, "R", "s", lambda app: app.clear_notifications())
    assert snap_compare(app, terminal_size=size, run_before=steps)


def no_blink(app: JarvisApp) -> None:
    """A steady cursor: a blinking one is drawn or not depending on how long the steps
    took (what made this picture flaky on a slow machine)."""
    for widget in app.screen.query("Input, TextArea"):
        widget.cursor_blink = False


@SIZES
def test_routing_router_query(home: Path, snap_compare, size) -> None:
    typed = [*"why does my `import pandas` fail?"]
    steps = [{" ": "space", "`": "grave_accent", "?": "question_mark"}.get(c, c) for c in typed]
    go = keys("R", "slash", no_blink, *steps)

    async def run_before(pilot) -> None:
        await go(pilot)
        # Every router's answer on screen (the routers learn in a worker of their own).
        await wait_until(pilot, lambda: "bandit" in shown(pilot.app, "#routing-decisions"),
                         what="the routers' decisions")  # fmt: skip

    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=run_before)


# ---------------------------------------------------------------- Configs


@SIZES
def test_configs_timeline(home: Path, snap_compare, size) -> None:
    # react (the longest history), its versions list focused, an older version picked
    steps = keys(pin_file_times, "C", "j", "tab", "j", "j")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_configs_diff_of_two_marked_versions(home: Path, snap_compare, size) -> None:
    steps = keys(pin_file_times, "C", "j", "tab", "G", "m", "k", "k")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_configs_text_diff(home: Path, snap_compare, size) -> None:
    steps = keys(pin_file_times, "C", "j", "tab", "G", "t")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_configs_rollback_confirm(home: Path, snap_compare, size) -> None:
    steps = keys(pin_file_times, "C", "j", "tab", "G", "b")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_configs_evolver_proposal(home: Path, snap_compare, size) -> None:
    steps = keys(pin_file_times, hand_edit, "C", "r", "s")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


# ---------------------------------------------------------------- Training


@SIZES
def test_training_form(home: Path, snap_compare, size) -> None:
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("L"))


@SIZES
def test_training_form_with_a_validation_error(home: Path, snap_compare, size) -> None:
    steps = keys("L", set_field("lora_rank", "0"), set_field("learning_rate", "fast"), "s")
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=steps)


@SIZES
def test_training_without_torch(
    home: Path, snap_compare, size, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real check, with torch made unimportable
    monkeypatch.setitem(sys.modules, "torch", None)
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("L", "s"))


@SIZES
def test_training_finished_run_charts(home: Path, snap_compare, size) -> None:
    fake_run(home)
    assert snap_compare(JarvisApp(home), terminal_size=size, run_before=keys("L"))
