"""Configs pane, the third walkthrough (W3 findings in the Configs area): a version a hand
edit overwrote before it was archived stays on the timeline as ``lost`` with its traces
(the CLI's ``versions`` lists it too), and a write says what it wrote and keeps the
cursor on the agent written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Static

from jarvis_tui.configs.versions import VersionStore
from jarvis_tui.paths import Workspace
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until

from .test_configs_outcomes import AGENT, build, open_configs, screen
from .test_configs_pane import plain


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("cfgw3") / "ws")


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(template, dest)
    return dest


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_a_version_lost_to_a_hand_edit_stays_on_the_timeline(home: Path, size) -> None:
    """W3 19: a comment appended to the current file (v3, 60 traces) made the pane drop v3
    and its traces; the timeline now has a 'lost' row between v3 (external) and v2."""
    config = VersionStore(Workspace(home).agents_dir).config_path(AGENT)
    with open(config, "a") as fh:
        fh.write("\n# my comment\n")
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await open_configs(app, pilot)
        rows = [ln for ln in screen(app).splitlines() if "lost" in ln and "overwritten" in ln]
        assert len(rows) == 1 and " 60 " in rows[0] and " 48 " in rows[0], screen(app)
        await pilot.press("tab", "k")  # the cursor opens on v2 (what v3 changed): up one
        await settle(app, pilot)
        await wait_until(pilot, lambda: "lost: 60 traces" in screen(app), what="the lost panel")
        shown = " ".join(screen(app).split())
        assert "lost: 60 traces · 48 rated · feedback 0.80" in shown
        assert "its content is gone, so it cannot be compared or rolled back to" in shown
        await pilot.press("j")  # v2 under it: its own diff again
        await settle(app, pilot)
        await wait_until(pilot, lambda: "turns 20" in screen(app), what="v2's panel")
        shown = " ".join(screen(app).split())
        assert "v2 manual: turns 20" in shown and "its content is gone" not in shown


async def test_a_write_says_what_it_wrote_and_selects_its_agent(home: Path) -> None:
    """W3 26/14: y on a proposal for one agent while another was selected: the status
    said the old agents line and the pane stayed on the other agent; now it says what
    was written and shows that agent's timeline; moving on drops those words."""
    versions = VersionStore(Workspace(home).agents_dir)
    versions.write_version("other", lambda _c: (b'[agent]\nname = "other"\n', "first"),
                           cause="manual", note="first")  # fmt: skip
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        await pilot.press("j")  # other
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        assert "Proposal for helper" in screen(app)
        await pilot.press("y")
        await settle(app, pilot)
        await wait_until(pilot, lambda: "version 4 written" in screen(app), what="the write")
        await settle(app, pilot)
        lines = screen(app).splitlines()
        assert (
            lines[3].strip().startswith("helper: version 4 written (cause evolver) · 2 agents")
        ), "\n".join(lines)
        assert any(ln.lstrip("▌ ").startswith("helper") and "4*" in ln for ln in lines)
        await pilot.press("h", "j")  # to the agents, other: the status is the agents line again
        await settle(app, pilot)
        await wait_until(pilot, lambda: "written" not in screen(app).splitlines()[3])
        assert screen(app).splitlines()[3].strip() == "2 agents in agents/"


async def test_the_evolver_on_a_workspace_without_traces_says_so(tmp_path: Path) -> None:
    """W3 24: s on an empty workspace said 'nothing new to recommend'."""
    from jarvis_tui.traces import TraceStore

    TraceStore(tmp_path / "ws" / "traces.db").close()
    app = JarvisApp(tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        shown = " ".join(screen(app).split())
        assert "The evolver has no traces to learn from yet" in shown
        assert "nothing new to recommend" not in shown


async def test_a_long_config_says_where_the_whole_file_is(home: Path) -> None:
    """The diff panel cuts a config at 4,000 characters; it said '(enter: full view)',
    a key that does nothing in Configs; it now names the file."""
    prompt = "word " * 1200
    versions = VersionStore(Workspace(home).agents_dir)
    versions.write_version(AGENT, lambda _c: (f'[agent]\nname = "{AGENT}"\nsystem_prompt = '
                                              f'"{prompt}"\n'.encode(), "long"),
                           cause="manual", note="long prompt")  # fmt: skip
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        await pilot.press("tab", "k")  # v4, the current one: its text below
        await settle(app, pilot)
        text = " ".join(plain(app.query_one("#configs-diff-body", Static)).split())
        assert "more characters: the whole file is agents/helper.toml" in text
        assert "enter: full view" not in text


async def test_the_lost_version_stays_after_the_next_write(home: Path, capsys) -> None:
    """W3 41: once a write archived the hand edit, the lost version vanished and v2 was
    credited with its traces (in the pane and in versions); it stays, under the edit."""
    from jarvis_tui.cli import main

    versions = VersionStore(Workspace(home).agents_dir)
    with open(versions.config_path(AGENT), "a") as fh:
        fh.write("\n# my comment\n")
    versions.write_version(AGENT, lambda c: (c + b"# two\n", "again"), cause="manual",
                           note="after the edit")  # fmt: skip
    assert main(["versions", AGENT, "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert any(ln.startswith("~ lost") and " 60 " in ln for ln in out.splitlines()), out
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_configs(app, pilot)
        lines = screen(app).splitlines()
        at = next(i for i, ln in enumerate(lines) if "lost" in ln and "overwritten" in ln)
        assert " 60 " in lines[at] and "external" in lines[at - 1] and " 2 " in lines[at + 1]
        assert " 60 " in lines[at + 1]  # v2 keeps its own 60 traces, not v3's too


async def test_a_long_wide_agent_name_is_cut_with_an_ellipsis(tmp_path: Path) -> None:
    """W3 44: at 80x24 'ünï🤖-very-long-agent-name…' showed as 'ünï🤖-very-l', cut with no …
    (the cut counted characters, the emoji takes two cells)."""
    from jarvis_tui.traces import TraceStore

    home = tmp_path / "ws"
    TraceStore(home / "traces.db").close()
    name = "ünï🤖-very-long-agent-name-that-goes-on"
    VersionStore(Workspace(home).agents_dir).write_version(
        name, lambda _c: (b"[agent]\nmax_turns = 3\n", "x"), cause="manual"
    )
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await settle(app, pilot)
        rows = [ln for ln in screen(app).splitlines() if ln.lstrip("▌ ").startswith("ünï")]
        assert rows and "…" in rows[0].split("▕")[0], screen(app)
