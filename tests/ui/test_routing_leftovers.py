"""Routing leftovers of issue 10 (walkthrough findings 11-13, 30, 54, 55): what a user
sees after a learning cycle, on a narrow terminal, in the agent pick, the help and the
palette."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Static

from jarvis_tui.cli import main
from jarvis_tui.core.types import Trace
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until
from tests.engine.conftest import OJ_FIXTURES
from tests.ui.conftest import BASE, QUERIES


def screen_text(app: JarvisApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


def side_panel(app: JarvisApp) -> str:
    """The side panel's text, one line per line it holds (unwrapped)."""
    console = Console(width=1000, record=True, file=io.StringIO())
    console.print(app.query_one("#routing-replay", Static).content)
    return "\n".join(" ".join(line.split()) for line in console.export_text().splitlines())


@pytest.fixture
def oj_home(tmp_path: Path) -> Path:
    """A copy of the traces OpenJarvis itself wrote (300 traces, ~60% rated)."""
    home = tmp_path / "oj"
    home.mkdir()
    shutil.copy(OJ_FIXTURES / "traces.db", home / "traces.db")
    return home


async def open_routing(app: JarvisApp, pilot) -> None:
    await settle(app, pilot)
    await pilot.press("R")
    await settle(app, pilot)


# ---------------------------------------------------------------- finding 54


async def test_the_cycle_panel_lists_the_route_per_class_as_learn_does(
    oj_home: Path, tmp_path: Path, capsys
) -> None:
    """Finding 54: after s the panel said only 'classes 5 routing · 5 agent'; it lists
    each class's route, OpenJarvis's other pick with why (the CLI's words), and the
    agent configs written with their versions."""
    cli_home = tmp_path / "cli"
    shutil.copytree(oj_home, cli_home)
    assert main(["learn", "--home", str(cli_home)]) == 0
    cli = capsys.readouterr().out
    cli_routes = dict(re.findall(r"route (\w+) +→ (\S+)", cli))
    assert cli_routes["code"] == "llama3.1:70b"  # not OpenJarvis's gpt-4o-mini

    app = JarvisApp(oj_home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: "routed 5 classes" in side_panel(app),
                         what="the cycle's routes")  # fmt: skip
        panel = side_panel(app)
        routed = panel.split("routed 5 classes:", 1)[1].split("wrote ", 1)[0]
        pane_routes = dict(re.findall(r"^(\w+) → (\S+)", routed, re.MULTILINE))
        assert pane_routes == cli_routes
        assert "code → llama3.1:70b (not enough evidence) ≠ gpt-4o-mini" in panel
        why = re.search(r"^    why: (.*)$", cli, re.MULTILINE)
        assert why is not None and f"why: {why.group(1)}" in panel
        for name, version in re.findall(r"wrote agents/(\S+)\.toml \(version (\d+)\)", cli):
            assert f"{name} → version {version}" in panel


# ---------------------------------------------------------------- finding 30


async def test_a_narrow_terminal_stacks_the_side_panel_readably(oj_home: Path) -> None:
    """Finding 30: at 80 columns the side panel beside the query box cut every value
    to … ('status …', 'eval gate …'), also after a resize from 120; under 100 columns it
    goes under the query box at the whole width, and the status line says d shows the
    whole report (W28: the footer has no room for d)."""
    app = JarvisApp(oj_home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: "routed 5 classes" in side_panel(app),
                         what="the cycle's routes")  # fmt: skip
        await pilot.resize_terminal(80, 24)
        await settle(app, pilot)
        text = screen_text(app)
        assert re.search(r"status +completed", text)
        assert "not configured — accepted without measurement" in text
        assert "…" not in text.split("/ ask:", 1)[1]  # nothing under the query box is cut
        # W28: the footer has no room for d; the status line says it
        assert "d: the whole cycle report" in " ".join(text.split())
        await pilot.press("d")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "d: back to the matrix" in text and "routed 5 classes" in text
        await pilot.press("d")
        await settle(app, pilot)
        # asking the routers there: the answers get the room, context labels whole
        await pilot.press("slash", *"sum 2+2")
        await wait_until(pilot, lambda: "has math" in screen_text(app),
                         what="the routers' context")  # fmt: skip
        assert "has c…" not in screen_text(app)


async def test_escape_leaves_the_whole_pane_report_and_j_k_scroll_it(oj_home: Path) -> None:
    """W3 10: at 80x24 the cycle report takes the pane after s; escape (the help's
    'Back to the matrix') did nothing there, and j / k / G did not scroll it."""
    app = JarvisApp(oj_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_routing(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: "d: back to the matrix" in " ".join(
            screen_text(app).split()), what="the whole-pane report")  # fmt: skip
        side = app.query_one("#routing-side")
        assert side.max_scroll_y > 0  # the report is longer than the pane
        await pilot.press("G")
        await settle(app, pilot)
        assert side.scroll_y == side.max_scroll_y
        await pilot.press("k", "k")
        await settle(app, pilot)
        assert side.scroll_y == side.max_scroll_y - 2
        await pilot.press("g")
        await settle(app, pilot)
        assert side.scroll_y == 0
        await pilot.press("escape")
        await settle(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "d: back to the matrix" not in text and "d: the whole cycle report" in text
        assert app.focused is app.query_one("#routing-matrix")


# ---------------------------------------------------------------- finding 55

EVIL = "\u202eevil\u202c 🤖 وكيل"


def _agent_traces(agent: str, scores: list[float], start: float) -> list[Trace]:
    """Rated math traces of *agent* (a query the classifier calls math)."""
    return [
        Trace(trace_id=f"{agent}-{i}", query=f"solve the equation {i}x + 3 = 11 for x",
              agent=agent, model="llama3.1:8b", feedback=s, started_at=start + i,
              ended_at=start + i + 1)
        for i, s in enumerate(scores)
    ]  # fmt: skip


def _store(tmp_path: Path, traces: list[Trace]) -> Path:
    home = tmp_path / "ws"
    with TraceStore(home / "traces.db") as store:
        store.save_many(traces)
    return home


def _recs_agent(app: JarvisApp, qc: str) -> str:
    return str(app.query_one("#routing-recs", DataTable).get_cell(qc, "best agent"))


async def test_an_agent_under_the_evidence_minimum_never_beats_one_that_meets_it(
    tmp_path: Path,
) -> None:
    """Finding 55: 5 ratings at 0.90 beat 30 at 0.60 in the agent pick (the shrinkage
    alone let them), while the model ★ keeps thin cells from winning; the agent pick
    follows the same evidence rule, also after < lowers the minimum."""
    traces = _agent_traces(EVIL, [0.9] * 5, BASE) + _agent_traces("steady", [0.6] * 30, BASE + 100)
    app = JarvisApp(_store(tmp_path, traces))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        assert _recs_agent(app, "math") == "steady"
        panel = side_panel(app)
        assert "steady scores 0.60 (30 ratings) against 0.90 (5 ratings)" in panel
        assert "fewer than the evidence minimum of 30 ratings" in panel
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")  # minimum 1
        await wait_until(pilot, lambda: "evidence ≥ 1 rating (" in screen_text(app),
                         what="the evidence minimum at 1")  # fmt: skip
        await wait_until(pilot, lambda: _recs_agent(app, "math") != "steady",
                         what="the thin agent winning under a minimum it meets")  # fmt: skip
        assert "evil" in _recs_agent(app, "math")


async def test_one_rating_never_beats_several_in_the_agent_pick(tmp_path: Path) -> None:
    """Finding 55: '<RLO>evil<PDF> 🤖 وكيل scores 0.70 (1 ratings) against 0.39 (11)': with no
    agent at the minimum, one rating (nothing known) does not win over eleven."""
    traces = _agent_traces(EVIL, [0.7], BASE) + _agent_traces("steady", [0.39] * 11, BASE + 100)
    app = JarvisApp(_store(tmp_path, traces))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        assert _recs_agent(app, "math") == "steady"
        panel = side_panel(app)
        assert "(1 rating)" in panel and not re.search(r"\b1 ratings", panel)
        assert "one rating does not win over two or more" in panel
        assert "\u202e" not in screen_text(app)  # the override is shown, never applied


# ---------------------------------------------------------------- finding 13

MANY = [f"model-{c}-{i}" for i, c in enumerate("abcdefgh")]


@pytest.fixture
def many_models(tmp_path: Path) -> Path:
    """Eight models on every class: more than an 80-column matrix shows."""
    traces = [
        Trace(trace_id=f"m{i}", query=f"{QUERIES[i % len(QUERIES)]} #{i}", agent="react",
              model=MANY[i % len(MANY)], feedback=round(0.3 + (i % 7) / 10, 2),
              started_at=BASE + i, ended_at=BASE + i + 1)
        for i in range(400)
    ]  # fmt: skip
    return _store(tmp_path, traces)


def header(app: JarvisApp) -> str:
    """The matrix's header line as the screen shows it (the models in view)."""
    return next(line for line in screen_text(app).splitlines() if "Class" in line)


async def run_palette(app: JarvisApp, pilot, name: str) -> None:
    """Run the palette entry *name* as choosing it does (its callback; typing the
    whole name into the palette, key by key, took seconds an entry)."""
    entry = next(c for c in app.get_system_commands(app.screen) if c.title == name)
    entry.callback()
    await settle(app, pilot)


async def test_help_lists_enter_and_the_scroll_keys_and_they_do_it(many_models: Path) -> None:
    """Finding 13: the help's key list had no enter (label this cell) and no ← →
    scroll line, though its text named both."""
    app = JarvisApp(many_models)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_routing(app, pilot)
        rows = dict(app.help_for_pane()[2])  # what ? lists
        assert rows["⏎"].startswith("Label this cell: its unrated traces in the Traces pane")
        assert rows["→ l"] == "Right: the matrix scrolls to the models that do not fit"
        assert rows["← h"] == "Left: the matrix scrolls to the models that do not fit"
        text = screen_text(app)
        assert re.search(r"\d more models: ← →", text) and MANY[-1] not in header(app)
        await pilot.press(*"l" * len(MANY))  # the cursor to the last model: it scrolls
        await settle(app, pilot)
        assert MANY[-1] in header(app)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.query_one("#panes").active == "traces"
        assert "queue order" in screen_text(app) and MANY[-1] in screen_text(app)


async def test_the_routing_palette_entries_do_what_they_say(many_models: Path) -> None:
    """Finding 13: the palette had no ask routers, detail panel, > / < or scroll."""
    app = JarvisApp(many_models)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_routing(app, pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"routing: ask routers", "routing: detail panel",
                "routing: more evidence needed", "routing: less evidence needed",
                "routing: scroll to the models on the right",
                "routing: scroll to the models on the left"} <= titles  # fmt: skip
        await run_palette(app, pilot, "routing: scroll to the models on the right")
        assert MANY[-1] in header(app) and MANY[0] not in header(app)
        await run_palette(app, pilot, "routing: scroll to the models on the left")
        assert MANY[0] in header(app) and MANY[-1] not in header(app)
        await run_palette(app, pilot, "routing: more evidence needed")
        await wait_until(pilot, lambda: "evidence ≥ 40 ratings" in screen_text(app),
                         what="the minimum raised")  # fmt: skip
        await run_palette(app, pilot, "routing: less evidence needed")
        await wait_until(pilot, lambda: "evidence ≥ 30 ratings" in screen_text(app),
                         what="the minimum lowered")  # fmt: skip
        await run_palette(app, pilot, "routing: detail panel")
        assert "d: back to the matrix" in screen_text(app)
        assert "Replay (estimate)" in screen_text(app) and "Class" not in screen_text(app)
        await run_palette(app, pilot, "routing: detail panel")
        assert "Class" in screen_text(app)
        await run_palette(app, pilot, "routing: ask routers")
        await pilot.press(*"hi")
        await wait_until(pilot, lambda: "heuristic" in screen_text(app),
                         what="the routers' answers to the query typed")  # fmt: skip
        assert "EDIT" in screen_text(app)


# ---------------------------------------------------------------- findings 11, 12


def test_the_trace_routers_counts_have_thousands_separators(tmp_path: Path) -> None:
    """Finding 12: '646 of 3402 samples' in the ask-routers panel; every other count on
    screen has its separator."""
    from jarvis_tui.learning.router import build_routing_context
    from jarvis_tui.learning.trace_policy import TraceDrivenPolicy

    traces = [Trace(trace_id=f"h{i}", query="hi there", agent="react", model="m1",
                    feedback=0.8, started_at=BASE + i, ended_at=BASE + i + 1)
              for i in range(1_100)]  # fmt: skip
    with TraceStore(_store(tmp_path, traces) / "traces.db") as store:
        policy = TraceDrivenPolicy(store, available_models=["m1"], min_samples=2_000)
        policy.update_from_traces()
        _, why = policy.explain(build_routing_context("hi there"))
        assert "1,100 samples < min_samples 2,000" in why
        policy = TraceDrivenPolicy(store, available_models=["m1"], min_samples=1_000)
        policy.update_from_traces()
        _, why = policy.explain(build_routing_context("hi there"))
        assert "from 1,100 of 1,100 samples" in why


async def test_a_wide_model_name_is_cut_with_an_ellipsis_in_the_matrix(tmp_path: Path) -> None:
    """Finding 55 (and W19): the matrix header cut '模型🧪-xxxxx' without … (its wide
    characters take two cells each)."""
    wide = "模型🧪-" + "x" * 30
    traces = [Trace(trace_id=f"w{i}", query="hi there", agent="react",
                    model=wide if i % 2 else "m1", feedback=0.7, started_at=BASE + i,
                    ended_at=BASE + i + 1)
              for i in range(40)]  # fmt: skip
    app = JarvisApp(_store(tmp_path, traces))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_routing(app, pilot)
        assert re.search(r"模型🧪-x+…", header(app)), header(app)
