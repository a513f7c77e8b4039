"""Configs pane decides on evidence: outcomes per version in the timeline, the
comparison of a marked version, the rollback preview's outcomes, the evolver's version
number, every ``configs: …`` palette entry, and the bad inputs (no traces, a log that
disagrees with file times, an edit made outside jarvis-tui while the app is open)."""

from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path
from unittest import mock

import pytest
from textual.widgets import DataTable

from jarvis_tui.configs.versions import VersionStore
from jarvis_tui.core.types import Trace
from jarvis_tui.paths import Workspace
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.screens.confirm import ConfirmScreen
from jarvis_tui.ui.testing import run_command, settle, wait_until

AGENT = "helper"
T0 = 1_780_000_000.0
SPAN = 10_000.0
"""Each version is current for this many seconds; its traces start inside it."""

_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#terminal-\d+-line-(\d+)\)">(.*?)</text>'
)
CELL = 12.2  # the width of one cell in Textual's SVG


def screen(app: JarvisApp) -> str:
    """The screen as text, read back from the SVG screenshot."""
    rows: dict[int, dict[int, str]] = {}
    for x, line, body in _TEXT.findall(app.export_screenshot()):
        text = html.unescape(body).replace("\xa0", " ")
        rows.setdefault(int(line), {})[round(float(x) / CELL)] = text
    out = []
    for n in range(max(rows) + 1 if rows else 0):
        buf = ""
        for col, text in sorted(rows.get(n, {}).items()):
            buf = buf.ljust(col) + text
        out.append(buf)
    return "\n".join(out)


def _toml(turns: int) -> tuple[bytes, str]:
    return f'[agent]\nname = "{AGENT}"\nmax_turns = {turns}\n'.encode(), f"max_turns {turns}"


def build(home: Path, qualities=((4, 0.8), (20, 0.3), (6, 0.8)), n: int = 60) -> Path:
    """Versions written at T0, T0+SPAN, …; each serves *n* traces that start inside it
    (version 2 bad: its traces are rated low)."""
    ws = Workspace(home)
    store = TraceStore(ws.traces_db)
    versions = VersionStore(ws.agents_dir)
    for k, (turns, fb) in enumerate(qualities):
        start = T0 + k * SPAN
        with mock.patch("time.time", lambda t=start: t):
            versions.write_version(AGENT, lambda _c, t=turns: _toml(t), cause="manual",
                                   note=f"turns {turns}")  # fmt: skip
        store.save_many(
            Trace(
                trace_id=f"v{k + 1}-{i:03d}",
                query=f"question {i}",
                agent=AGENT,
                model="m",
                result="answer",
                feedback=None if i % 5 == 4 else round(fb + (i % 3 - 1) * 0.05, 3),
                outcome="success" if fb >= 0.5 else "failure",
                started_at=start + 100 + i * 10,
                total_latency_seconds=1.0,
                total_tokens=100,
            )
            for i in range(n)
        )
    last = T0 + (len(qualities) - 1) * SPAN
    os.utime(versions.config_path(AGENT), (last, last))  # the file agrees with the log
    store.close()
    return home


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("cfgout") / "ws")


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(template, dest)
    return dest


async def open_configs(app: JarvisApp, pilot) -> ConfigsPane:
    await settle(app, pilot)
    await pilot.press("C")
    await settle(app, pilot)
    pane = app.query_one(ConfigsPane)
    await wait_until(pilot, lambda: pane.outcomes is not None, what="outcomes")
    await settle(app, pilot)
    return pane


def row_of(text: str, version: int) -> str:
    """The timeline row of *version* (its # cell starts the row after the agents list)."""
    for line in text.splitlines():
        if re.search(rf"[▕│]▌?\s*{version}[*~m]*\s+(\d\d-\d\d|manual|rollback|external)", line):
            return line
    raise AssertionError(f"no row for v{version} in:\n{text}")


async def select(app: JarvisApp, pilot, version: int) -> None:
    table = app.query_one("#configs-versions", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(str(version)))
    await settle(app, pilot)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_timeline_shows_v2_low_feedback(home: Path, size) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await open_configs(app, pilot)
        shown = screen(app)
        v1, v2, v3 = (row_of(shown, v) for v in (1, 2, 3))
        assert "0.30±" in v2 and "0%" in v2 and " 60 " in v2 and " 48 " in v2
        assert "0.80±" in v1 and "100%" in v1
        assert "0.80±" in v3
        assert "feedback " in shown and "180 traces · 144 rated" in shown
        assert not re.search(r"\d~", shown)  # the log and the file times agree


async def test_mark_compares_and_says_v2_worse(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        await select(app, pilot, 1)
        await pilot.press("m")
        await settle(app, pilot)
        await pilot.press("k")  # v2 (newest on top)
        await settle(app, pilot)
        shown = screen(app)
        assert "v2 worse than v1: -0.50 ± 0.0" in shown
        assert "v2: 60 traces · 48 rated · feedback 0.30 ±" in shown
        await pilot.press("k")  # v3
        await settle(app, pilot)
        assert "no clear difference between v3 and v1" in screen(app)


async def test_not_enough_evidence_names_the_thin_version(tmp_path: Path) -> None:
    home = build(tmp_path / "ws", n=15)  # 12 rated traces per version
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        await select(app, pilot, 1)
        await pilot.press("m", "k")
        await settle(app, pilot)
        assert "not enough evidence: 12 rated traces on v" in screen(app)


async def test_rollback_preview_shows_the_target_outcomes(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        await select(app, pilot, 2)
        await pilot.press("b")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        shown = screen(app)
        assert "recorded as version 4" in shown
        assert "target v2: 60 traces · 48 rated · feedback 0.30 ±" in shown
        assert "current v3: 60 traces · 48 rated · feedback 0.80 ±" in shown
        assert "v2 worse than v3" in shown
        assert "agent.max_turns: 6 → 20" in shown


async def test_agent_with_no_traces_says_so(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    TraceStore(ws.traces_db).close()
    VersionStore(ws.agents_dir).write_version("quiet", lambda _c: _toml(1), cause="manual")
    app = JarvisApp(ws.root)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        shown = screen(app)
        assert "no traces yet for quiet" in shown
        assert "v1: no traces yet" in shown


async def test_log_that_disagrees_with_file_times_is_marked(home: Path) -> None:
    versions = VersionStore(Workspace(home).agents_dir)
    os.utime(versions.config_path(AGENT), (1_000_000_000, 1_000_000_000))  # claims 2001
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        shown = screen(app)
        assert "~" in row_of(shown, 3) and "~ approximate start" in shown
        await select(app, pilot, 3)
        assert "~ approximate:" in screen(app)
        assert "0.80±" in row_of(screen(app), 3)  # attribution still follows the log


async def test_external_edit_while_open_shows_after_reload(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        path = VersionStore(Workspace(home).agents_dir).config_path(AGENT)
        path.write_bytes(b'[agent]\nname = "helper"\nmax_turns = 99\n')  # another editor
        assert "external" not in row_of(screen(app), 3)
        await pilot.press("r")
        await settle(app, pilot)
        await wait_until(pilot, lambda: app.query_one(ConfigsPane).outcomes is not None)
        await settle(app, pilot)
        shown = screen(app)
        newest = max(v["version"] for v in app.query_one(ConfigsPane).versions)
        row = row_of(shown, newest)
        assert "external" in row and "~" in row  # placed at the file's time: approximate
        assert "max_turns = 99" in shown or "99" in shown


async def test_evolver_proposal_names_the_version_it_writes(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        assert pane.proposals, "the traces recommend a config"
        p = pane.proposals[0]
        n = 4 if p.agent == AGENT else 1
        shown = screen(app)
        assert f"y: write it as version {n} of {p.agent}" in shown
        await pilot.press("y")
        await settle(app, pilot)
    assert len(VersionStore(Workspace(home).agents_dir).list_versions(p.agent)) == n


async def run_palette(app: JarvisApp, pilot, title: str) -> str:
    await run_command(app, pilot, title)  # as the palette runs it (tests/ui/test_palette_*)
    return screen(app)


async def test_every_configs_palette_entry_acts(home: Path) -> None:
    app = JarvisApp(home)
    checked: set[str] = set()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_configs(app, pilot)
        await select(app, pilot, 1)

        async def go(title: str) -> str:
            checked.add(title)
            return await run_palette(app, pilot, title)

        assert "version 1 marked" in await go("configs: mark the selected version")
        await select(app, pilot, 2)
        assert "v2 worse than v1" in await go("configs: compare with the marked version")
        assert "--- v1" in await go("configs: text diff")
        shown = await go("configs: roll back to the selected version")
        assert isinstance(app.screen, ConfirmScreen) and "target v2" in shown
        await pilot.press("n")
        await settle(app, pilot)
        VersionStore(Workspace(home).agents_dir).config_path(AGENT).write_bytes(
            b'[agent]\nname = "helper"\nmax_turns = 77\n'
        )
        await go("configs: reload")
        await wait_until(pilot, lambda: pane.outcomes is not None, what="outcomes")
        await settle(app, pilot)
        newest = max(v["version"] for v in pane.versions)
        assert "external" in row_of(screen(app), newest)
        shown = await go("configs: run the evolver")
        assert "evolver proposal" in shown and pane.proposals
        first = pane.proposals[0].agent
        shown = await go("configs: skip the evolver proposal")
        assert f"skipped the proposal for {first}" in shown
        if pane.proposals:
            second = pane.proposals[0].agent
            await go("configs: accept the evolver proposal")
            assert f"{second}: version" in screen(app)
        else:
            await go("configs: run the evolver")
            await go("configs: accept the evolver proposal")
            assert f"{first}: version" in screen(app)
    titles = {f"configs: {t}" for _a, t, _h in ConfigsPane.PALETTE}
    assert titles - checked == set(), "palette entries without a test"
