"""SVG snapshots guard the layout (fixed size, UTC clock, fixed title)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle


async def _ready(pilot) -> None:
    app = pilot.app
    app.sub_title = "demo workspace"
    await settle(app, pilot)


def test_traces_pane_120x40(workspace: Path, snap_compare) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=(120, 40), run_before=_ready)


def test_traces_pane_80x24(workspace: Path, snap_compare) -> None:
    assert snap_compare(JarvisApp(workspace), terminal_size=(80, 24), run_before=_ready)


def test_traces_pane_light_theme(workspace: Path, snap_compare) -> None:
    app = JarvisApp(workspace, theme="textual-light")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_ready)


@pytest.fixture(scope="module")
def trials_demo(tmp_path_factory) -> Path:
    """A demo workspace whose finished run has fixed ids (uuid4 is seeded while it runs)."""
    import random
    import uuid
    from unittest import mock

    from jarvis_tui.demo import build_demo

    rng = random.Random(5)
    with mock.patch.object(uuid, "uuid4", lambda: uuid.UUID(int=rng.getrandbits(128), version=4)):
        home = build_demo(tmp_path_factory.mktemp("snapdemo") / "ws", traces=1500, seed=3)
    import sqlite3

    with sqlite3.connect(home / "optimize.db") as conn:  # the wall time shown is pinned too
        conn.execute("UPDATE jt_run_meta SET meta = json_set(meta, '$.elapsed', 3.0)")
    return home


def test_trials_pane(trials_demo: Path, snap_compare) -> None:
    async def go(pilot) -> None:
        await _ready(pilot)
        await pilot.press("P")
        await settle(pilot.app, pilot)
        await pilot.press("l")  # a frontier member selected: its detail and trade-offs
        await settle(pilot.app, pilot)

    assert snap_compare(JarvisApp(trials_demo), terminal_size=(120, 40), run_before=go)


def test_traces_pane_ansi_theme(workspace: Path, snap_compare) -> None:
    app = JarvisApp(workspace, theme="ansi-dark")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_ready)


def test_routing_pane(workspace: Path, snap_compare) -> None:
    async def go(pilot) -> None:
        await _ready(pilot)
        await pilot.press("R")
        await settle(pilot.app, pilot)

    assert snap_compare(JarvisApp(workspace), terminal_size=(120, 40), run_before=go)


def _pin_config_times(agents: Path) -> None:
    """Version times come from the history log and file times: pin them."""
    import json
    import os

    for log in sorted((agents / ".history").glob("*.log.jsonl")):
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        for i, entry in enumerate(lines):
            entry["ts"] = 1_780_000_000 + 3600 * i
        log.write_text("".join(json.dumps(e) + "\n" for e in lines))
    for f in agents.rglob("*.toml"):
        os.utime(f, (1_780_000_000, 1_780_000_000))


def test_configs_pane(workspace: Path, snap_compare) -> None:
    from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
    from jarvis_tui.traces import TraceStore

    store = TraceStore(workspace / "traces.db")
    ev = AgentConfigEvolver(store, config_dir=workspace / "agents")
    ev.write_config("react", tools=["web_search"], max_turns=8, cause="manual", note="first")
    ev.write_config("react", tools=["web_search", "calculator"], max_turns=12, cause="evolver")
    ev.rollback("react", 1)
    ev.write_config("simple", tools=["file_read"], cause="manual", note="hand written")
    store.close()
    _pin_config_times(workspace / "agents")

    async def go(pilot) -> None:
        await _ready(pilot)
        await pilot.press("C")
        await settle(pilot.app, pilot)

    assert snap_compare(JarvisApp(workspace), terminal_size=(120, 40), run_before=go)


def test_training_pane_before_a_run(workspace: Path, snap_compare) -> None:
    async def go(pilot) -> None:
        await _ready(pilot)
        await pilot.press("L")
        await settle(pilot.app, pilot)

    assert snap_compare(JarvisApp(workspace), terminal_size=(120, 40), run_before=go)


def test_help_scrolled_to_the_end_120x40(workspace: Path, snap_compare) -> None:
    """G in the help shows its last rows (the grammar's keys work in the help too)."""

    async def help_end(pilot) -> None:
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("G")
        await pilot.pause()

    assert snap_compare(JarvisApp(workspace), terminal_size=(120, 40), run_before=help_end)
