"""Routing pane: the evidence a user sees, drill-down into Traces, live recompute."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from jarvis_tui.demo import build_demo
from jarvis_tui.traces import TraceFilter, TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.routing import RoutingPane, replay
from jarvis_tui.ui.panes.traces import TracesPane
from jarvis_tui.ui.testing import settle


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("rdemo") / "ws", traces=3000, seed=5)


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(demo_home, dest)
    return dest


async def open_routing(app: JarvisApp, pilot) -> None:
    await settle(app, pilot)
    await pilot.press("R")
    await settle(app, pilot)


def text_of(widget: Static) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(width=200, file=StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


async def test_matrix_shows_every_class_and_model_with_recommendations(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        pane = app.query_one(RoutingPane)
        m = pane.matrix
        assert m is not None
        assert set(m.classes) == {"code", "math", "short", "long", "general"}
        table = app.query_one("#routing-matrix", DataTable)
        assert table.row_count == 5 and len(table.columns) == len(m.models) + 1
        # the demo's designed winners
        assert m.recommendations["code"].best == "qwen2.5-coder:7b"
        assert m.recommendations["math"].best == "llama3.1:70b"
        recs = app.query_one("#routing-recs", DataTable)
        assert str(recs.get_cell("code", "recommended")) == "qwen2.5-coder:7b"
        best_cell = table.get_cell("code", "qwen2.5-coder:7b")
        assert "★" in best_cell.plain
        est = replay(m)
        assert est.d_feedback > 0  # routing to the winners would have helped
        assert "Δ mean feedback" in text_of(app.query_one("#routing-replay", Static))


async def test_thin_evidence_is_marked(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        pane = app.query_one(RoutingPane)
        pane.min_evidence = 10_000
        pane.action_recompute()
        await settle(app, pilot)
        assert {r.confidence for r in pane.matrix.recommendations.values()} == {
            "not enough evidence"
        }
        assert (
            "?" in app.query_one("#routing-matrix", DataTable).get_cell("code", "phi3:3.8b").plain
        )


async def test_enter_on_a_cell_lands_in_traces_filtered_to_its_unlabelled(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        pane = app.query_one(RoutingPane)
        table = app.query_one("#routing-matrix", DataTable)
        table.focus()
        row = pane.matrix.classes.index("math")
        col = pane.matrix.models.index("phi3:3.8b") + 1
        table.cursor_coordinate = (row, col)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.query_one("#panes").active == "traces"
        traces = app.query_one(TracesPane)
        # the queue asks for ratings: the cell's unrated traces (an outcome alone is no score)
        assert traces.filter == TraceFilter(model="phi3:3.8b", query_class="math", rated=False)
        # the selected trace, as the detail panel shows it: that cell's, unrated
        shown = text_of(app.query_one("#detail-body", Static))
        assert "phi3:3.8b" in shown and "score –" in shown
        tid = shown.strip().splitlines()[0]
        with TraceStore(home / "traces.db") as store:
            cell = store.page(traces.filter, limit=5_000).rows
        assert tid in {r.trace_id for r in cell}
        # labelling there makes the routing numbers stale and they are recomputed
        before = pane.matrix.cells[("math", "phi3:3.8b")].rated.n
        await pilot.press("9")
        await settle(app, pilot)
        assert pane.stale
        await pilot.press("R")
        await settle(app, pilot)
        assert pane.matrix.cells[("math", "phi3:3.8b")].rated.n == before + 1


async def test_query_box_shows_each_routers_decision(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        await pilot.press("slash")
        app.query_one("#routing-query", Input).value = "please fix `parse()`, it crashes"
        await settle(app, pilot)
        text = text_of(app.query_one("#routing-decisions", Static))
        assert re.search(r"class\s+code", text)
        for name in ("heuristic", "trace", "bandit"):
            assert name in text
        assert "rule 1" in text
        assert "RoutingContext(" not in text  # a labelled table, not a repr
        assert re.search(r"has code\s+yes", text) and re.search(r"length\s+32 chars", text)


async def test_empty_store_says_so(tmp_path: Path) -> None:
    app = JarvisApp(tmp_path / "empty")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        pane = app.query_one(RoutingPane)
        assert pane.matrix is not None and pane.matrix.classes == []
        assert "0 traces" in text_of(app.query_one("#routing-status", Static))


async def test_learning_cycle_from_the_pane_writes_configs_and_reports(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        before = {p.name: p.read_bytes() for p in (home / "agents").glob("*.toml")}
        (home / "agents" / "react.toml").write_text(
            '[agent]\nname = "react"\ntools = ["calculator"]\nmax_turns = 3\n'
        )  # a hand edit the cycle will change
        await pilot.press("s")
        await settle(app, pilot)
        side = text_of(app.query_one("#routing-replay", Static))
        assert "Last learning cycle" in side and re.search(r"status\s+completed", side)
        assert "SFT pairs" in side and "accepted: True" not in side
        # no eval gate is configured: the pane never reads that as a measured pass
        assert re.search(r"eval gate\s+not configured — accepted without measurement", side)
        # says what it wrote: which agent, which version, what changed
        assert re.search(r"react\s+→ version \d+", side)
        assert "agent.max_turns: 3 →" in side
    assert before and sorted(p.name for p in (home / "agents").glob("*.toml"))


async def test_markup_in_model_and_agent_names_is_shown_as_text(tmp_path: Path) -> None:
    from jarvis_tui.traces import TraceStore
    from tests.ui.conftest import make_traces

    home = tmp_path / "ws"
    traces = make_traces(60)
    for i, t in enumerate(traces):
        t.model = "gpt [/] mini" if i % 2 else "[link=http://x.invalid]m[/link]"
        t.agent = "[@click=app.quit]a[/]"
        t.feedback = 0.8
    with TraceStore(home / "traces.db") as store:
        store.save_many(traces)
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)  # used to crash: add_column parsed the name
        table = app.query_one("#routing-matrix", DataTable)
        labels = [str(c.label) for c in table.columns.values()]
        assert "gpt [/] mini" in labels
        assert "[link=http://x.inva…" in labels  # literal, and a cut name ends in …
        recs = app.query_one("#routing-recs", DataTable)
        agent = recs.get_row_at(0)[2]
        assert str(agent).startswith("[@click=app.q") and not agent.spans  # no live link
        assert app.is_running


@pytest.mark.parametrize(
    ("size", "expected"),
    [((120, 40), ["Class", "Model", "Agent", "Confidence", "Runner-up", "Margin", "Rated",
                  "OpenJarvis rule", "Tools"]),
     ((80, 24), ["Class", "Model", "Agent", "Confidence", "Runner-up", "Margin"])],
    ids=["120x40", "80x24"],
)  # fmt: skip
async def test_recommendations_show_whole_columns(home: Path, size, expected) -> None:
    """Every column at 120 columns; at 80 the last ones are left out whole, none cut at
    the edge (the table is never wider than the screen)."""
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await open_routing(app, pilot)
        recs = app.query_one("#routing-recs", DataTable)
        assert [str(c.label) for c in recs.columns.values()] == expected
        assert recs.virtual_size.width <= recs.scrollable_content_region.width


async def test_help_says_what_rated_counts(home: Path) -> None:
    """Routing's "rated", Traces' "labelled" and Training's "SFT pairs" differ on the
    same workspace: the help says what each counts (issue 10)."""
    from .test_trials_screens import screen

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        shown = ""
        for _ in range(30):  # scrolled down as a user would, a line at a time
            # the help's lines as one text (its box's sides are not words)
            shown = " ".join(screen(app).replace("│", " ").split())
            if "SFT pairs are the rated traces at or above" in shown:
                break
            await pilot.press("j")
            await settle(app, pilot)
        assert "rated = traces with a feedback score" in shown, shown
        assert "SFT pairs are the rated traces at or above" in shown


async def test_the_routers_numbers_agree_with_the_matrix(home: Path) -> None:
    """/ (issue 10): the routers' numbers disagreed with the matrix for the same class
    and model (the bandit's posterior mean, the trace policy's composite score, and
    routers learnt once while the matrix was recomputed). Each router's row now shows
    the matrix's own mean and count, says why its number differs, and the routers
    learn again with the matrix (r)."""
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_routing(app, pilot)
        pane = app.query_one(RoutingPane)
        # a rating the routers learnt without: they learn again on r, as the matrix
        code_traces = TraceStore(home / "traces.db")
        row = code_traces.page(
            TraceFilter(query_class="code", model="qwen2.5-coder:7b", labelled=False), limit=1
        ).rows[0]
        code_traces.set_label(row.trace_id, feedback=0.0)
        code_traces.close()
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press("slash")
        app.query_one("#routing-query", Input).value = "please fix `parse()`, it crashes"
        await settle(app, pilot)
        text = " ".join(text_of(app.query_one("#routing-decisions", Static)).split())
        m = pane.matrix
        best = m.recommendations["code"].best
        cell = m.cells[("code", best)].rated
        assert f"matrix {best} {cell.mean:.2f} ±{cell.half_width:.2f} of {cell.n:,} ratings" in text
        bandit = re.search(r"bandit (\S+) drew [\d.]+; mean [\d.]+ = ([\d,]+) ratings averaging "
                           r"([\d.]+)", text)  # fmt: skip
        assert bandit, text
        b = m.cells[("code", bandit.group(1))].rated
        assert (bandit.group(2), bandit.group(3)) == (f"{b.n:,}", f"{b.mean:.2f}")
        trace = re.search(r"trace (\S+) [\d.]+ = 0\.6 × success [\d.]+ \+ 0\.4 × rating ([\d.]+)",
                          text)  # fmt: skip
        assert trace, text
        assert trace.group(2) == f"{m.cells[('code', trace.group(1))].rated.mean:.2f}"
        assert "Why the numbers differ: the matrix is the mean of the ratings" in text
        assert "rule 1: code detected → coder model" in text
