"""A real terminal: tmux runs `jarvis-tui demo` at 120×40 and we type at it.

Checks what `capture-pane` shows and what lands on disk. Waits are bounded polls
for a condition on the screen or the disk, never fixed sleeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"
)

BIN = Path(sys.executable).parent / "jarvis-tui"


class Tmux:
    def __init__(self, cwd: Path) -> None:
        self.name = f"jt-{uuid.uuid4().hex[:8]}"
        self.socket = f"jt-{uuid.uuid4().hex[:8]}"
        self.cwd = cwd

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout

    def start(self, command: str, size: tuple[int, int] = (120, 40)) -> None:
        # COLUMNS/LINES (pytest-xdist workers export them) would override the pane's
        # real 120×40 size for the app inside.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TMUX") and k not in ("COLUMNS", "LINES")
        }
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-s", self.name, "-x", str(size[0]),
             "-y", str(size[1]), "-c", str(self.cwd), command],
            check=True, env={**env, "TERM": "xterm-256color"},
        )  # fmt: skip

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def wait_until(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def term(tmp_path: Path):
    t = Tmux(tmp_path)
    yield t
    t.kill()


def test_demo_in_a_real_terminal(term: Tmux, tmp_path: Path) -> None:
    home = tmp_path / "demo"
    # A config with two versions, so there is something to diff.
    subprocess.run([str(BIN), "demo", str(home), "--traces", "2000", "--seed", "3",
                    "--no-open"], check=True, capture_output=True)  # fmt: skip
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver

    ev = AgentConfigEvolver(None, config_dir=home / "agents")
    # (an agent of its own, listed first: the demo's agents have versions of their own)
    ev.write_config("aaa-tmux", tools=["web_search"], max_turns=6, cause="manual")
    ev.write_config("aaa-tmux", tools=["web_search", "calculator"], max_turns=9, cause="manual")

    term.start(f"{BIN} demo {home}")
    term.wait_for("rows 1–")
    # (the counts come from a worker after the first rows: wait for them, not a moment)
    screen = term.wait_for(" of 2,000 · labelled ")
    assert "rows 1–" in screen

    # every pane answers its key
    for key, text in (("R", "ratings (> <)"), ("C", "agents in agents/"),
                      ("L", "SFT pairs"), ("P", "24/24 trials"), ("T", "rows 1–")):  # fmt: skip
        term.keys(key)
        term.wait_for(text)

    # search (wait until the box has the focus: keys sent in the same millisecond
    # as "/" can reach the table before the focus moves)
    term.keys("/")
    term.wait_for("enter applies")
    term.keys("python", literal=True)
    term.keys("Enter")
    screen = term.wait_for("(filtered;")

    # label two traces by key (enter gave the table focus)
    wait_until(lambda: "(filtered;" in term.screen(), what="the filtered table")
    term.keys("7")
    term.keys("3")
    db = home / "traces.db"

    def labels() -> int:
        conn = sqlite3.connect(db)
        try:
            return conn.execute(
                "SELECT count(*) FROM jt_label_history WHERE source = 'tui'"
            ).fetchone()[0]
        finally:
            conn.close()

    wait_until(lambda: labels() == 2, what="two labels in the store")

    # diff a config
    term.keys("C")
    term.wait_for("agents in agents/")
    term.wait_for("Roll back")  # the footer lists the pane's keys once it has the focus

    def version_1_selected() -> str | None:
        # Tab moves the focus to the versions table, Down selects version 1 (Down at
        # the last row, or in the one-agent list, changes nothing). Under load a key
        # can arrive before the focus moved: then Tab on and try again.
        term.keys("Down")
        try:
            return term.wait_for("version 1 → version 2", timeout=2)
        except AssertionError:
            term.keys("Tab")
            return None

    term.keys("Tab")  # to the versions table
    try:
        screen = wait_until(version_1_selected, timeout=40, what="version 1 against version 2")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen was:\n{term.screen()}") from None
    assert "agent.max_turns: 6 → 9" in screen

    # start a training run and cancel it
    term.keys("L")
    term.wait_for("SFT pairs")
    term.wait_for("Start run")  # the footer lists the pane's keys once it has the focus
    term.keys("s")
    term.keys("x")  # the app's stop / cancel key
    runs = home / "checkpoints"

    def finished_run():
        for run in runs.glob("*/run.json") if runs.exists() else []:
            info = json.loads(run.read_text())
            if info.get("status") not in (None, "running"):
                return info
        return None

    def ended():
        # x before the run made its folder stops it there (the child ends before it
        # builds a model or loads torch): nothing is saved and the pane's status line
        # says so until another key; a later x lands at the first step, after the child
        # loaded torch (minutes on a loaded 2-core machine: a hang guard, not a figure),
        # and its row in the runs list says cancelled.
        screen = term.screen()
        if "before the first step; nothing saved" in screen:
            return {"status": "cancelled", "saved": False}
        if "not started:" in screen:  # s refused: x had nothing to cancel
            raise AssertionError(f"s did not start a run; the screen was:\n{screen}")
        return finished_run()

    try:
        info = wait_until(ended, timeout=420, what="the training run to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen was:\n{term.screen()}") from None
    assert info["status"] == "cancelled"
    if info.get("saved") is False:  # cancelled before its folder: none was made
        wait_until(lambda: "Start run" in term.screen(), what="the pane to take keys again")
        assert not (runs.exists() and any(runs.glob("*/final")))

    # an optimization run of three trials from the Trials pane
    term.keys("P")
    term.wait_for("Start run")
    term.keys("s")
    term.wait_for("Start an optimization run")

    term.wait_for("patience")  # the form shows the patience the run will use

    def typed() -> bool:
        # Keys sent before the form's first field has the focus go elsewhere
        # (harmlessly): clear and type again until the trials field shows them.
        term.keys("C-u")
        term.keys("3", literal=True)
        try:
            screen = term.wait_for("default: 20", timeout=2)
        except AssertionError:
            return False
        return re.search(r"trials\s+\W?3\s", screen) is not None

    def started() -> bool:
        # Under load a key can reach the form before its field is ready; the form
        # then refuses to start ("marked ✗ need(s) fixing") and keeps its window: type again.
        wait_until(typed, timeout=30, what="the form to take the trial count")
        refused_before = "marked ✗ need" in term.screen()
        term.keys("Enter")
        deadline = time.monotonic() + (20 if refused_before else 60)
        while time.monotonic() < deadline:
            screen = term.screen()
            if "3/3 trials" in screen:
                return True
            if "marked ✗ need" in screen and not refused_before:
                return False
            time.sleep(0.1)
        if refused_before and "Start an optimization run" in screen:
            return False
        raise AssertionError(f"'3/3 trials' never appeared; the screen was:\n{screen}")

    wait_until(started, timeout=150, what="the run of three trials to start")
    wait_until(lambda: "completed" in term.screen(), timeout=60, what="the run to complete")
    conn = sqlite3.connect(home / "optimize.db")
    try:
        counts = [r[0] for r in conn.execute(
            "SELECT count(*) FROM trial_results GROUP BY run_id ORDER BY min(id)")]  # fmt: skip
    finally:
        conn.close()
    assert counts == [24, 3]  # the demo's run, then ours
    term.keys("C-q")
    wait_until(lambda: "rows" not in term.screen(), timeout=20, what="the app to quit")
    assert oct(db.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_newcomer_quick_start(term: Tmux, tmp_path: Path, size: tuple[int, int]) -> None:
    """What a newcomer does: the README's Quick start command, every pane, one palette
    command, the help, quit."""
    term.start(f"{BIN} demo {tmp_path / 'jarvis-demo'} --traces 2000 --seed 3", size=size)
    term.wait_for("rows 1–", timeout=180)
    assert "NAV" in term.wait_for("labelled")
    for key, title in (("R", "Routing"), ("C", "Configs"), ("L", "Training"),
                       ("P", "Trials"), ("T", "Traces")):  # fmt: skip
        term.keys(key)
        term.keys("?")  # the help says which pane has the keys
        term.wait_for(f"Help · {title} pane")
        term.keys("Escape")
        wait_until(lambda: "Keys everywhere" not in term.screen(), what="help to close")
    term.keys("C-p")
    term.wait_for("Search for commands")
    term.keys("traces: sort by latency", literal=True)
    term.wait_for("Sort the table by latency")
    term.keys("Enter")
    term.wait_for("sort latency")
    term.keys("j")  # the table still has the keys after the palette
    term.keys("C-q")
    wait_until(lambda: "rows" not in term.screen(), timeout=20, what="the app to quit")
