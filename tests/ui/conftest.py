"""Pilot-test fixtures: a small deterministic workspace, clocks pinned to UTC."""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

import pytest
import pytest_textual_snapshot

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.traces import TraceStore

os.environ["TZ"] = "UTC"
time.tzset()


def _normalize_svg(svg: str, _plain=pytest_textual_snapshot.normalize_svg) -> str:
    """The plugin's normalization, and zero-width rectangles dropped: Rich exports an
    empty background run as one (``width="0"``), which nobody can see, and whether a
    table emits one depended on when its columns were measured (a loaded machine)."""
    return _ZERO_WIDTH_RECT.sub("", _plain(svg))


_ZERO_WIDTH_RECT = re.compile(r'<rect [^>]*(?<![-\w])width="0"[^>]*/>')
# Both sides of every comparison (the stored picture and the new one) pass through it.
pytest_textual_snapshot.normalize_svg = _normalize_svg

BASE = 1_780_000_000.0
AGENTS = ("simple", "orchestrator", "react")
MODELS = ("qwen2.5-coder:7b", "llama3.1:8b", "llama3.1:70b", "gpt-4o-mini")
QUERIES = (
    "fix `parse()` so it handles empty input",
    "solve the equation 2x + 3 = 11 for x, showing each step please",
    "hi there",
    "explain how photosynthesis turns light into chemical energy in plants",
    "summarize " + "the quarterly report on cloud spending and forecasts " * 12,
)


def make_traces(n: int, *, seed: int = 1, start: float = BASE) -> list[Trace]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        q = f"{QUERIES[i % len(QUERIES)]} #{i}"
        steps = [
            TraceStep(StepType.ROUTE, start + i, 0.01, {"query": q}, {"model": "m"}),
            TraceStep(StepType.TOOL_CALL, start + i + 0.1, 0.2, {"tool": "web_search"}, {"ok": 1}),
            TraceStep(StepType.RESPOND, start + i + 0.4, 0.3, {}, {"tokens": 40}),
        ]
        out.append(
            Trace(
                trace_id=f"t{seed}-{i:05d}",
                query=q,
                agent=AGENTS[i % 3],
                model=MODELS[i % 4],
                engine="ollama",
                steps=steps,
                result=f"answer {i}",
                outcome=None,
                feedback=None if i % 2 else round(rng.random(), 2),
                started_at=start + i * 60,
                ended_at=start + i * 60 + 1,
                total_tokens=100 + i,
                total_latency_seconds=0.5 + (i % 7),
                metadata={"i": i},
            )
        )
    return out


def build_labelled(home: Path) -> Path:
    """*home* with 120 traces, every one labelled 0.9 (enough SFT pairs to train on)."""
    store = TraceStore(home / "traces.db")
    traces = make_traces(120)
    for t in traces:
        t.feedback = 0.9
    store.save_many(traces)
    store.close()
    return home


@pytest.fixture
def labelled_home(tmp_path: Path) -> Path:
    """A workspace of 120 traces, every one labelled 0.9 (:func:`build_labelled`)."""
    return build_labelled(tmp_path / "ws")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    traces = make_traces(400)
    traces.append(
        Trace(
            trace_id="evil",
            query="[bold red]not bold[/] [link=http://x.invalid]click[/link] \x1b[31mred\x1b]0;pwned\x07",
            agent="simple",
            model="llama3.1:8b",
            result="needle in a haystack \x00\x08 done",
            started_at=BASE - 10,
            metadata={"k": "[i]v[/i]"},
        )
    )
    store.save_many(traces)
    store.close()
    return home


@pytest.fixture(autouse=True)
def _steady_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text cursors stay visible: a blink every 0.5 s would make a screen's picture
    depend on how long the steps before it took (a loaded machine, a flaky snapshot)."""
    from textual.widgets import Input, TextArea

    def steady(self) -> None:
        self._cursor_visible = True

    monkeypatch.setattr(Input, "_toggle_cursor", steady)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", steady)


async def pick_filters(app, pilot, **picks: str) -> None:
    """What a user does to filter the Traces pane: ``F``, a value in each picker named
    (``labelled="unlabelled"`` is the ``#f-labelled`` picker), escape back to the table.
    The pickers exist only once the bar was opened (issue 15: not for the first paint)."""
    from textual.widgets import Select

    from jarvis_tui.ui.testing import settle

    await pilot.press("F")
    await settle(app, pilot)
    for name, value in picks.items():
        app.query_one(f"#f-{name}", Select).value = value
    await settle(app, pilot)
    await pilot.press("escape")
    await settle(app, pilot)
