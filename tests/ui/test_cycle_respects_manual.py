"""Routing s over a version a person chose (walkthrough findings W17, W27).

A rollback made by hand was overwritten by the next learning cycle without a word. Now
s first reads what the cycle would write; when it overwrites a version a person chose,
it asks (naming it, with the keys that change): n runs nothing, y runs the cycle.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from unittest import mock

from rich.console import Console
from textual.widgets import Static

from jarvis_tui.learning import LearningOrchestrator
from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.testing import settle, wait_until
from tests.engine.test_orchestrator import traces
from tests.engine.test_orchestrator_manual_versions import _rated_after_now
from tests.ui.test_traces_pane import screen_text


def _side(app: JarvisApp) -> str:
    console = Console(width=1000, record=True, file=io.StringIO())
    console.print(app.query_one("#routing-replay", Static).content)
    return "\n".join(" ".join(line.split()) for line in console.export_text().splitlines())


def _rolled_back_home(tmp_path: Path) -> Path:
    """react: v1 by hand, v2 by a cycle, v3 a rollback to v1 made now; then 30 rated
    traces, so the evidence since the rollback is enough for a cycle to overwrite it."""
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    try:
        store.save_many(traces())
        evolver = AgentConfigEvolver(store, config_dir=home / "agents")
        with mock.patch("time.time", lambda: -1.0):
            evolver.write_config("react", tools=["web_search"], cause="manual", note="mine")
        LearningOrchestrator(trace_store=store, config_dir=home / "agents").run(agent_id="react")
        evolver.rollback("react", 1)
        store.save_many(_rated_after_now())
    finally:
        store.close()
    return home


def _versions(home: Path) -> int:
    store = TraceStore(home / "traces.db")
    try:
        return len(AgentConfigEvolver(store, config_dir=home / "agents").list_versions("react"))
    finally:
        store.close()


async def test_s_asks_before_it_overwrites_a_rollback_n_writes_nothing_y_writes(
    tmp_path: Path,
) -> None:
    home = _rolled_back_home(tmp_path)
    assert _versions(home) == 3
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                         what="the cycle's question")  # fmt: skip
        text = " ".join(screen_text(app).split())
        assert "Run the learning cycle? It overwrites 1 version a person chose" in text
        assert "react → version 4 (was version 3)" in text
        assert re.search(r"react v3 was rolled back by hand at \d\d:\d\d: this overwrites it",
                         text)  # fmt: skip
        assert "+ calculator" in text  # the keys that change, in the panel's words
        await pilot.press("n")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert _versions(home) == 3  # nothing written
        await pilot.press("s")  # s works again after n
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                         what="the cycle's question")  # fmt: skip
        await pilot.press("y")
        await wait_until(pilot, lambda: "react → version 4" in _side(app),
                         what="the cycle's report")  # fmt: skip
    assert _versions(home) == 4
