"""Configs pane leftovers of issue 10 (walkthrough findings 37, 14, 16, 32 / 70): the
proposal line stays while the next proposal waits, and a proposal writes only what it
changes; r keeps the selected version; m on another version says where the mark went;
the What column reads whole."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from jarvis_tui.configs.versions import VERSION_CAUSES, VersionStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.configs import ConfigsPane
from jarvis_tui.ui.testing import record_notices, settle, wait_until

from .test_configs_outcomes import AGENT, build, open_configs, row_of, screen, select
from .test_configs_pane import plain

FIXTURE = Path(__file__).resolve().parents[2].parent / "shared/fixtures/openjarvis-2026-08"


@pytest.fixture
def oj08(tmp_path: Path) -> Path:
    """A copy of the workspace OpenJarvis's 2026-08 main wrote (no agents/ yet)."""
    if not FIXTURE.is_dir():
        pytest.skip("the OpenJarvis fixtures are not here")
    home = tmp_path / "oj08"
    shutil.copytree(FIXTURE, home)
    for f in home.iterdir():
        f.chmod(0o600)
    return home


def status_line(app: JarvisApp) -> str:
    return screen(app).splitlines()[1]


async def test_the_next_proposal_still_says_y_and_n_after_the_first_is_written(
    oj08: Path,
) -> None:
    app = JarvisApp(oj08)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await settle(app, pilot)
        await pilot.press("s")
        pane = app.query_one(ConfigsPane)
        await wait_until(pilot, lambda: len(pane.proposals) == 2, what="two proposals")
        await settle(app, pilot)
        first, second = (p.agent for p in pane.proposals)
        assert f"Proposal for {first} (2 left)" in screen(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: (oj08 / "agents" / f"{first}.toml").exists())
        await settle(app, pilot)
        shown = screen(app)
        assert f"Proposal for {second} (1 left): y writes it as version 1, n skips it" in shown
        assert "agents in agents/" not in shown
        written = (oj08 / "agents" / f"{first}.toml").read_text()
        assert "system_prompt" not in written and "temperature" not in written
        assert set(tomllib.loads(written)["agent"]) == {"name", "tools", "max_turns"}


@pytest.fixture(scope="module")
def three_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """helper v1–v3 (the current), each with the traces it served."""
    return build(tmp_path_factory.mktemp("cfgleft") / "ws")


@pytest.fixture
def home(three_versions: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(three_versions, dest)
    return dest


def diff_head(app: JarvisApp) -> str:
    """The diff panel's "AGENT: version A → version B" line."""
    body = plain(app.query_one("#configs-diff-body", Static))
    return next(line.strip() for line in body.splitlines() if f"{AGENT}: version" in line)


async def test_r_keeps_the_selected_version_and_shows_an_outside_edit(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_configs(app, pilot)
        await select(app, pilot, 1)
        assert diff_head(app) == f"{AGENT}: version 1 → version 3 (current)"
        path = home / "agents" / f"{AGENT}.toml"
        path.write_text(path.read_text().replace("max_turns = 6", "max_turns = 7"))
        await pilot.press("r")
        await settle(app, pilot)
        await wait_until(pilot, lambda: pane.outcomes is not None, what="outcomes")
        await settle(app, pilot)
        # still on v1 (it went to v2), now compared with the outside edit (external)
        assert diff_head(app) == f"{AGENT}: version 1 → version 3 (current)"
        assert "external" in row_of(screen(app), 3)
        assert "~ agent.max_turns: 4 → 7" in plain(app.query_one("#configs-diff-body", Static))


async def test_m_on_another_version_compares_and_keeps_the_mark(home: Path) -> None:
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        await select(app, pilot, 1)
        await pilot.press("m")
        await settle(app, pilot)
        await select(app, pilot, 2)
        await pilot.press("m")  # m, j, m: "compare", never a silent move of the mark
        await settle(app, pilot)
        shown = screen(app)
        assert "v1 marked · v2 compared with it: v2 worse than v1: -0.50 ± 0.0" in shown
        assert re.search(r"[▕│]▌?\s*1m", shown), "v1 keeps its mark"
        assert diff_head(app) == f"{AGENT}: version 1 → version 2"
        assert any("the mark stays on v1 (m there unmarks it)" in n for n in notices)
        await select(app, pilot, 1)
        await pilot.press("m")  # on the marked version: unmarked
        await settle(app, pilot)
        assert "no version marked" in screen(app)
        assert not re.search(r"[▕│]▌?\s*\dm", screen(app))


def timeline_row(shown: str, version: int) -> str:
    """The timeline row of *version*: its # cell (after the agents list's edge), then
    the day (When) or, where When does not fit, the cause."""
    causes = "|".join(re.escape(c) for c in (*VERSION_CAUSES, "promoted"))
    for line in shown.splitlines():
        if re.search(rf"[▕│▐▌]\s*{version}[*~m]*\s+(\d\d-\d\d|{causes})\b", line):
            return line
    raise AssertionError(f"no row for v{version} in:\n{shown}")


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_the_what_column_reads_whole_at_120_and_its_first_words_at_80(
    demo_copy, size
) -> None:
    home = demo_copy(traces=1500, seed=3)
    path = home / "agents" / "simple.toml"
    path.write_text(path.read_text() + "# tuned by hand\n")  # an outside edit
    store = VersionStore(home / "agents")
    notes = {a: {v["version"]: (v["cause"], v["note"]) for v in store.list_versions(a)}
             for a in ("react", "simple")}  # fmt: skip
    causes = {c for a in notes.values() for c, _n in a.values()}
    assert {"manual", "evolver", "rollback", "external"} <= causes  # the common ones
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await settle(app, pilot)
        pane = app.query_one(ConfigsPane)
        for agent in ("react", "simple"):
            await pilot.press("j")  # orchestrator, react, simple
            await wait_until(pilot, lambda a=agent: pane.agent == a and pane.outcomes is not None)
            await settle(app, pilot)
            shown = screen(app)
            for number, (_cause, note) in notes[agent].items():
                row = timeline_row(shown, number)
                if size[0] >= 120:
                    assert note in row and not row.rstrip().endswith("…"), row
                else:
                    assert note[:11] in row, row  # the first words
            # below 100 columns the agents list shows names only, whole
            assert "orchestrator" in shown and "orchestra…" not in shown
        # the panel says the selected version's cause and whole note
        table = app.query_one("#configs-versions", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("2"))
        await settle(app, pilot)
        body = plain(app.query_one("#configs-diff-body", Static))
        assert f"v2 external: {notes['simple'][2][1]}" in body


async def test_n_says_nothing_is_written_and_a_cycle_may_still_write_it(oj08: Path) -> None:
    app = JarvisApp(oj08)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await settle(app, pilot)
        await pilot.press("s")
        pane = app.query_one(ConfigsPane)
        await wait_until(pilot, lambda: len(pane.proposals) == 2, what="two proposals")
        first = pane.proposals[0].agent
        await pilot.press("n")
        await settle(app, pilot)
        assert not (oj08 / "agents" / f"{first}.toml").exists()
    assert (
        f"skipped the proposal for {first}: nothing written (a learning cycle, Routing s or "
        "jarvis-tui learn, may still write it)"
    ) in notices
