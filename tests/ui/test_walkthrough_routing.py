"""A new user's Routing walkthrough (issue 10): an empty or unrated workspace says what
to do and recommends nothing; the explanation's numbers can be told apart."""

from __future__ import annotations

import io
import random
from pathlib import Path

from rich.console import Console
from textual.widgets import Input, Static

from jarvis_tui.core.types import Trace
from jarvis_tui.learning.recommend import AgentEvidence, decide
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle
from tests.ui.conftest import BASE, make_traces


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


def side_panel(app: JarvisApp) -> str:
    """The side panel's text, unwrapped (it wraps at any width)."""
    console = Console(width=1000, record=True, file=io.StringIO())
    console.print(app.query_one("#routing-replay", Static).content)
    return console.export_text()


def side_text(app: JarvisApp, selector: str) -> str:
    """A Static's text as one line of words (it wraps at any width)."""
    console = Console(width=1000, record=True, file=io.StringIO())
    console.print(app.query_one(selector, Static).content)
    return " ".join(console.export_text().split())


def workspace(tmp_path: Path, traces: list[Trace]) -> Path:
    home = tmp_path / "ws"
    store = TraceStore(home / "traces.db")
    store.save_many(traces)
    store.close()
    return home


async def test_an_empty_workspace_says_what_to_do_in_routing(tmp_path: Path) -> None:
    """Finding 16: the matrix was a bare 'Class' header with no guidance."""
    app = JarvisApp(workspace(tmp_path, []))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        text = screen_text(app)
        assert "No traces yet" in text and "jarvis-tui demo" in text


async def test_no_ratings_no_recommendation(tmp_path: Path) -> None:
    """Finding 16: with traces and not one rating, Routing recommended agents ('short –
    react no data'); it recommends nothing and says how to rate traces."""
    traces = make_traces(60)
    for t in traces:
        t.feedback = None
    home = workspace(tmp_path, traces)
    for size in ((120, 40), (80, 24)):
        app = JarvisApp(home)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("R")
            await settle(app, pilot)
            text = screen_text(app)
            assert "No rated traces yet: nothing to recommend" in text
            assert "Traces pane (T" in text
            assert "no data" in text  # the recommendations table is there…
            for agent in ("simple", "orchestrator", "react"):  # …with no agent in it
                assert agent not in text


def _rated(agent: str, scores: list[float], start: float) -> list[Trace]:
    return [
        Trace(trace_id=f"{agent}-{i}", query=f"solve the equation {i}x + 3 = 11 for x",
              agent=agent, model="llama3.1:8b", feedback=s, started_at=start + i,
              ended_at=start + i + 1)
        for i, s in enumerate(scores)
    ]  # fmt: skip


async def test_the_agent_explanation_tells_its_numbers_apart(tmp_path: Path) -> None:
    """Finding 18: '… over every rating react scores 0.69 (20 ratings) against 0.69
    (10)': the means are shown with the digits that tell them apart."""
    rng = random.Random(3)
    react = [0.8] * 10 + [0.584] * 10  # mean 0.692, every rating: the one rule's pick
    simple = [0.95] * 5 + [0.424] * 5  # mean 0.687, its ≥ 0.7 traces average 0.95
    rng.shuffle(react)
    home = workspace(tmp_path, _rated("react", react, BASE) + _rated("simple", simple, BASE + 100))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        side = side_panel(app)
        assert "Agent picks: two rules differ" in side
        assert "(0.95 vs 0.80)" in side
        assert "react scores 0.692 (20 ratings) against 0.687 (10 ratings)" in side


def test_equal_means_are_called_a_tie() -> None:
    """Finding 18: means equal to 4 digits are not printed as two numbers that look
    compared ('0.69 against 0.69'): the explanation says they tie."""
    react = AgentEvidence("react", traces=20, rated=20, feedback_sum=13.8, quality_n=10,
                          quality_sum=8.0)  # fmt: skip
    simple = AgentEvidence("simple", traces=10, rated=10, feedback_sum=6.9, quality_n=5,
                           quality_sum=4.75)  # fmt: skip
    rec = decide({"math": {"react": react, "simple": simple}})["math"]
    assert rec.agent == "react" and rec.reference == "simple"
    assert rec.why is not None and "(0.95 vs 0.80)" in rec.why
    assert "react ties at 0.69 (20 ratings against 10)" in rec.why


def _judge(home: Path, ids: list[str]) -> None:
    from jarvis_tui.evals.judge import JudgeScore, JudgeStore

    with JudgeStore(home / "traces.db") as js:
        js.save([JudgeScore(i, 0.5, "ok", "judge-m", "h0", BASE) for i in ids])


async def test_j_says_what_the_matrix_counts(tmp_path: Path) -> None:
    """J (issue 10): the status said "judge scores in 3 cells (j; J: off)". It says
    how many judged traces the matrix counts, where your label wins instead, and at
    80 columns too; with J off it says what J would add."""
    traces = make_traces(120)  # every other one labelled
    home = workspace(tmp_path, traces)
    unlabelled = [t.trace_id for t in traces if t.feedback is None]
    labelled = [t.trace_id for t in traces if t.feedback is not None]
    _judge(home, unlabelled[:40] + labelled[:10])
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "60 rated · J: add 40 judge scores" in text, text
        await pilot.press("J")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert (
            "100 rated · judge counted: 40 judged traces (j), your label wins on 10 · "
            "J turns it off" in text
        ), text
        # the routers count no judge score: / says so beside their numbers
        await pilot.press("slash")
        app.query_one("#routing-query", Input).value = "please fix `parse()`, it crashes"
        await settle(app, pilot)
        assert "J is on: the matrix counts judge scores, the routers do not" in side_text(
            app, "#routing-decisions"
        )
        await pilot.press("escape", "J")
        await settle(app, pilot)
        assert "60 rated · J: add 40 judge scores" in " ".join(screen_text(app).split())


async def test_j_with_nothing_to_include_says_so(tmp_path: Path) -> None:
    traces = make_traces(60)
    home = workspace(tmp_path, traces)
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        await pilot.press("J")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "no judge scores yet: J in Traces (T) runs the judge · J turns it off" in text
    # every judged trace labelled: the labels win everywhere, nothing is added
    _judge(home, [t.trace_id for t in traces if t.feedback is not None][:5])
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("R", "J")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "judge: nothing to add, your label wins on all 5 judged · J turns it off" in text
