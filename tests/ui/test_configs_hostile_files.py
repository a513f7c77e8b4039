"""Agent config files that cannot be used are said, once, where the user looks (issue 10):
the reason beside the agent (invalid TOML and where, too large, a link not followed),
a file whose name maps to no agent is named with what to do, and none of it is a
"failed" notice with a traceback in the log on every cursor pass. The CLI's `versions`
says the same."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from jarvis_tui.cli import main
from jarvis_tui.traces import TraceStore
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until


def screen_text(app: JarvisApp) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    agents = ws / "agents"
    agents.mkdir(parents=True)
    TraceStore(ws / "traces.db").close()
    (agents / "big.toml").write_text('[agent]\nname = "big"\nnote = "' + "x" * 1_200_000 + '"\n')
    (agents / "broken.toml").write_text('[agent\nname = "broken\n')
    (tmp_path / "target.toml").write_text('[agent]\nname = "elsewhere"\n')
    os.symlink(tmp_path / "target.toml", agents / "link.toml")
    (agents / "ok.toml").write_text('[agent]\nname = "ok"\n')
    (agents / "[b]odd.toml").write_text('[agent]\nname = "odd"\n')
    return ws


async def test_each_unusable_config_says_why_and_nothing_is_logged_as_failed(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await wait_until(pilot, lambda: "agents in agents/" in screen_text(app))
        text = " ".join(screen_text(app).split())  # the status may take two lines
        assert "4 agents in agents/" in text
        assert "1 file skipped: [b]odd.toml" in text
        seen = []
        for key in "jjjkkk":  # big, broken, link, ok and back: each refused file twice
            await settle(app, pilot)
            seen.append(screen_text(app))
            await pilot.press(key)
        shown = "\n".join(seen)
        assert "cannot show this version: config too large: 1.1 MB, limit 1 MB" in shown
        assert "invalid TOML at line 1, column 7" in shown
        assert "is a symbolic link: not followed" in shown
        assert "failed" not in shown
    log = home / "logs" / "jarvis-tui.log"
    assert not log.exists() or "Traceback" not in log.read_text()


def test_cli_versions_says_why_a_config_cannot_be_used(home: Path, capsys: pytest.CaptureFixture
                                                       ) -> None:  # fmt: skip
    assert main(["versions", "--home", str(home), "link"]) == 0
    out = capsys.readouterr().out
    assert "agent link · 1 version ·" in out
    assert "the current config cannot be used: is a symbolic link: not followed" in out
    assert main(["versions", "--home", str(home), "odd"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    # the characters at fault, then how to rename it (walkthrough W19)
    assert len(err) == 1 and "skipped [b]odd.toml: '[' ']' are written %5B %5D in an agent's " \
        "file name: rename it to " in err[0]  # fmt: skip
    assert "'%5Bb%5Dodd.toml'" in err[0]


async def test_at_80_columns_the_skipped_file_is_named_on_one_line(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await wait_until(pilot, lambda: "agents in agents/" in screen_text(app))
        (line,) = [ln for ln in screen_text(app).splitlines() if "agents in agents/" in ln]
        assert line.strip() == "4 agents in agents/ · 3 unusable (⚠) · 1 file skipped: [b]odd.toml"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_unusable_agents_are_marked_with_why_and_every_agent_can_be_reached(
    home: Path, size
) -> None:
    """The status names each unusable agent with why, in the words of the Trials promote
    form's list (VersionStore.agents); the What column says why without the file's path;
    at 80x24, where the list has fewer rows than agents, the last one is still reached."""
    for name in ("p", "q", "r"):  # more agents than the 80x24 list has rows
        (home / "agents" / f"{name}.toml").write_text(f'[agent]\nname = "{name}"\n')
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await wait_until(pilot, lambda: "agents in agents/" in screen_text(app))
        await wait_until(pilot, lambda: "config too large" in screen_text(app), what="big's row")
        await settle(app, pilot)
        if size[0] >= 100:  # the status line comes with the versions' worker, after the rows
            await wait_until(pilot, lambda: "3 unusable: big" in screen_text(app),
                             what="the status naming the unusable agents")  # fmt: skip
        text = screen_text(app)
        if size[0] >= 100:
            assert ("7 agents in agents/ · 3 unusable: big (too large), broken (invalid TOML), "
                    "link (symlink) · 1 file skipped") in text  # fmt: skip
            (big,) = [ln for ln in text.splitlines() if ln.startswith("▌big ⚠")]
            assert "config too large: 1.1 MB" in big  # the What cell, no path
        else:
            assert "7 agents in agents/ · 3 unusable (⚠)" in text
        assert str(home / "agents") not in text  # no path in the timeline or the panel
        for _ in range(6):
            await pilot.press("j")
        await settle(app, pilot)
        # a chain of workers (versions, outcomes, the diff): wait for what the screen shows
        await wait_until(pilot, lambda: "r: version 1 (current)" in screen_text(app),
                         what="r's current version below the lists")  # fmt: skip
        text = screen_text(app)
        rows = [ln for ln in text.splitlines() if ln.lstrip("▌▎ ").startswith("r ")]
        assert rows, text


async def test_widening_the_terminal_names_the_unusable_agents(home: Path) -> None:
    """The status line is said again in the new width's words: at 80 columns the list's ⚠
    marks them, at 120 the status names each (and back)."""
    app = JarvisApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await wait_until(pilot, lambda: "agents in agents/" in screen_text(app))
        assert "3 unusable (⚠)" in screen_text(app)
        await pilot.resize_terminal(120, 40)
        await wait_until(pilot, lambda: "3 unusable: big (too large)" in screen_text(app),
                         what="the status in the wide words")  # fmt: skip
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: "3 unusable (⚠)" in screen_text(app),
                         what="the status in the narrow words")  # fmt: skip
