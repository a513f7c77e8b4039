"""5 MB bodies, Rich markup, ANSI/OSC escapes and control characters in the Traces pane.

A store of 2,000 ordinary traces and 20 hostile ones (a 5 MB ``result`` full of
``[bold red]x[/]``, ``\\x1b[31m``, ``\\x1b]0;title\\x07`` and ``\\x00\\x08``; two of
them with a 2 MB query as well) is browsed at 120×40. What is checked:

* text renders literally: markup shows as typed, every escape and control
  character as a visible symbol; no raw ESC/BEL/NUL reaches the screen;
* paging (``j``, ``pagedown``) through the rows holding the big traces keeps the
  table in step with the store's order, a bounded window at a time;
* moving over a big trace costs what a small one does. No clock is read: the
  structural facts that make it so are asserted instead. A table row never
  carries a body (rows hold a 240-character query snippet; cells are cut to 160
  characters), the table holds at most one window of rows, the side panel shows
  at most 4,000 characters of a body with a "more characters" note, and the
  full view is cut at 1,000,000 characters;
* ``enter`` on a big trace opens the full view without error, escape closes it.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from jarvis_tui.core.types import StepType, Trace, TraceStep
from jarvis_tui.traces import TraceRow, TraceStore
from jarvis_tui.traces.store import SNIPPET_CHARS
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.traces import (
    DETAIL_CHARS,
    PAGE,
    WINDOW_MAX,
    TraceDetail,
    TracesPane,
    TraceTable,
)
from jarvis_tui.ui.screens.trace_screens import TraceScreen
from jarvis_tui.ui.testing import settle
from tests.ui.conftest import BASE, make_traces

N_SMALL = 2_000
N_BIG = 20
BODY_BYTES = 5_000_000
CELL_CHARS = 160  # row_cells cuts the query cell to this many characters
RAW_CONTROLS = ("\x1b", "\x07", "\x00", "\x08")

UNIT = (
    "output line [bold red]x[/] \x1b[31mred\x1b[0m \x1b]0;title\x07 ctl\x00\x08 "
    "[link=http://x.invalid]l[/link] [/] \\[escaped]\n"
)
BODY = UNIT * (BODY_BYTES // len(UNIT))


def big_query(k: int) -> str:
    return f"[bold red]x[/] big {k} \x1b[31mred\x1b]0;title\x07 \x00\x08 [link=http://x.invalid]l[/link]"


def big_id(k: int) -> str:
    return f"big{k:02d}"


def _big_traces() -> list[Trace]:
    out = []
    for k in range(N_BIG):
        # Between ordinary trace 100k+50 and 100k+51 (those are a minute apart).
        t0 = BASE + (100 * k + 50) * 60 + 30
        query = big_query(k)
        if k in (N_BIG - 2, 3):
            query += " tail " + UNIT * (2_000_000 // len(UNIT))  # a 2 MB query too
        out.append(
            Trace(
                trace_id=big_id(k),
                query=query,
                agent="simple",
                model="llama3.1:8b",
                engine="ollama",
                steps=[
                    TraceStep(
                        StepType.GENERATE,
                        t0,
                        0.5,
                        {"prompt": "\x1b[2J" * 10},
                        {"content": UNIT * 10_000},
                    ),  # ~800 KB step output
                ],  # fmt: skip
                result=BODY,
                started_at=t0,
                ended_at=t0 + 2,
                total_tokens=1_000_000,
                total_latency_seconds=2.0,
                metadata={"note": "[i]meta[/i] \x1b]8;;http://x.invalid\x07"},
            )
        )
    return out


@pytest.fixture(scope="module")
def big_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The workspace and every trace id in the table's default order (newest first)."""
    home = tmp_path_factory.mktemp("big") / "ws"
    traces = make_traces(N_SMALL) + _big_traces()
    order = [t.trace_id for t in sorted(traces, key=lambda t: t.started_at, reverse=True)]
    store = TraceStore(home / "traces.db")
    try:
        store.save_many(traces)
        assert len(store.get(big_id(0)).result) == len(BODY)
    finally:
        store.close()
    return home, order


def plain(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def screen_text(app: JarvisApp) -> str:
    """What the terminal would show, as text (as ``export_screenshot``, without SVG)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)  # cursor moves are control segments: left out


def detail_text(app: JarvisApp) -> str:
    return plain(app.query_one(TraceDetail).query_one("#detail-body", Static).content)


def current_id(pane: TracesPane) -> str | None:
    return pane.current_trace_id


async def jump_near(app: JarvisApp, pilot, position: int) -> None:
    """Put the cursor on *position* of the store's order (fewer key presses: faster tests)."""
    pane = app.query_one(TracesPane)
    table = pane.query_one("#trace-table", TraceTable)
    table.cursor_row = position
    for _ in range(20):  # bounded: the page at that position is read in a worker
        await settle(app, pilot)
        if current_id(pane) is not None:
            assert pane.cursor_position == position
            return
    raise AssertionError(f"could not reach row {position}")


def assert_window_matches_store(pane: TracesPane, order: list[str]) -> None:
    """The pane holds one bounded, contiguous slice of the store's order, only that, and
    every row on screen is in it; the table (its scrollbar) spans the whole store."""
    table = pane.query_one("#trace-table", TraceTable)
    ids = [r.trace_id for r in pane.rows]
    assert 0 < len(ids) <= WINDOW_MAX and table.row_count == len(order)
    assert ids == order[pane.rows_offset : pane.rows_offset + len(ids)]
    first, last = table.visible_rows()
    assert pane.rows_offset <= first <= last < pane.rows_offset + len(ids)
    assert list(table.source.rows(first, last - first + 1)) == order[first : last + 1]


def assert_rows_carry_no_body(pane: TracesPane) -> None:
    table = pane.query_one("#trace-table", TraceTable)
    fields = {f.name for f in dataclasses.fields(TraceRow)}
    assert not fields & {"result", "messages", "steps", "metadata"}
    for row in pane.rows:
        assert len(row.snippet) <= SNIPPET_CHARS
        cells = [table.cell_text(row.trace_id, c.key) or "" for c in table.columns]
        assert all(len(c) <= CELL_CHARS for c in cells)
        assert not any(ch in c for c in cells for ch in RAW_CONTROLS)


def assert_big_detail(app: JarvisApp, k: int) -> None:
    body = detail_text(app)
    assert body.startswith(big_id(k))
    assert "[bold red]x[/]" in body and "[link=http://x.invalid]l[/link]" in body
    assert "␛[31m" in body and "␛]0;title␇" in body and "␀␈" in body
    assert not any(ch in body for ch in RAW_CONTROLS)
    # The 5 MB result: its first 4,000 characters and a note, nothing more.
    assert f"{len(BODY) - DETAIL_CHARS:,} more characters (enter: full view)" in body
    assert len(body) < 4 * DETAIL_CHARS + 4_000  # query + result + one step + metadata, all cut


async def test_markup_and_escapes_show_literally_and_bodies_stay_out_of_the_table(
    big_workspace: tuple[Path, list[str]],
) -> None:
    home, order = big_workspace
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        assert len(pane.rows) == PAGE  # one page fetched, not the store
        assert_window_matches_store(pane, order)
        assert_rows_carry_no_body(pane)

        # Down to the first big trace: the cursor goes two rows above it, then j twice.
        target = order.index(big_id(N_BIG - 1))
        assert 2 < target < PAGE - 10
        await jump_near(app, pilot, target - 2)
        await pilot.press("j", "j")
        await settle(app, pilot)
        assert current_id(pane) == big_id(N_BIG - 1)
        assert_big_detail(app, N_BIG - 1)

        screen = screen_text(app)
        assert "[bold red]x[/]" in screen  # the table cell and the side panel, as typed
        assert "␛" in screen and "␇" in screen
        assert not any(ch in screen for ch in RAW_CONTROLS)
        svg = app.export_screenshot()
        assert not any(ch in svg for ch in RAW_CONTROLS)

        # One more row: a small trace again, and the panel follows.
        await pilot.press("j")
        await settle(app, pilot)
        assert current_id(pane) == order[target + 1]
        assert "more characters" not in detail_text(app)


async def test_paging_through_the_big_traces_keeps_the_table_in_step(
    big_workspace: tuple[Path, list[str]],
) -> None:
    home, order = big_workspace
    bigs = {big_id(k) for k in range(N_BIG)}
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        seen_big: set[str] = set()
        previous = -1
        # pagedown until past the window size, so pages are fetched and trimmed.
        for _ in range(40):
            await pilot.press("pagedown")
            await settle(app, pilot)
            position = pane.cursor_position
            assert position > previous  # every page moves forward through the store
            previous = position
            assert current_id(pane) == order[position]
            assert_window_matches_store(pane, order)
            seen_big |= bigs & {r.trace_id for r in pane.rows}
            if position >= WINDOW_MAX + PAGE:
                break
        assert pane.rows_offset > 0  # the window slid: earlier pages were dropped
        assert len(seen_big) >= 6  # the paging went through the rows of several big traces

        # Onto the next big trace below the cursor with j: the detail shows it, cut.
        nxt = next(i for i in range(previous + 1, len(order)) if order[i] in bigs)
        await jump_near(app, pilot, nxt - 1)
        await pilot.press("j")
        await settle(app, pilot)
        big = current_id(pane)
        assert big == order[nxt] and big in bigs
        assert current_id(pane) == order[pane.cursor_position]
        assert_big_detail(app, int(big[3:]))
        assert_window_matches_store(pane, order)
        assert_rows_carry_no_body(pane)

        # G and g still reach both ends.
        await pilot.press("G")
        await settle(app, pilot)
        assert current_id(pane) == order[-1]
        assert_window_matches_store(pane, order)
        await pilot.press("g")
        await settle(app, pilot)
        assert current_id(pane) == order[0]
        assert_window_matches_store(pane, order)


@pytest.mark.parametrize("k", [N_BIG - 2, N_BIG - 1], ids=["2MB-query", "5MB-result"])
async def test_enter_opens_the_full_view_of_a_big_trace(
    big_workspace: tuple[Path, list[str]], k: int
) -> None:
    home, order = big_workspace
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TracesPane)
        target = order.index(big_id(k))
        await jump_near(app, pilot, target - 1)
        if k == N_BIG - 2:  # beyond the first page: the next one is fetched on the way
            assert target >= PAGE
        await pilot.press("j")
        await settle(app, pilot)
        assert current_id(pane) == big_id(k)
        body = detail_text(app)
        if k == N_BIG - 2:  # the 2 MB query is cut in the panel too
            assert body.count("more characters (enter: full view)") == 2
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen)
        text = app.screen.query_one("#trace-full").text
        assert text.startswith(f"trace {big_id(k)}")
        assert len(text) > 2_000_000 and "truncated" not in text  # whole
        assert "[bold red]x[/]" in text and "␛]0;title␇" in text
        assert not any(ch in text for ch in RAW_CONTROLS)
        screen = screen_text(app)
        assert "[bold red]x[/]" in screen and not any(ch in screen for ch in RAW_CONTROLS)
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, TraceScreen)
        assert current_id(pane) == big_id(k)  # back where it was
