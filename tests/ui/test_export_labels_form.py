"""The export-labels form (palette: "traces: export labels…"): the file matches the format.

A new user picked csv and left the path at its default: the app wrote a CSV into
labels.jsonl. The default path now follows the format, and a name of another format is
refused beside the path field; the CLI infers the format from the extension and refuses
a contradicting one the same way.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from jarvis_tui.cli import main
from jarvis_tui.demo import build_demo
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.forms import ConfigFormScreen
from jarvis_tui.ui.testing import settle

from .test_traces_pane import screen_text


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("elform") / "ws", traces=400, seed=5)


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(demo_home, dest)
    return dest


async def open_form(app: JarvisApp, pilot) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"traces: export labels…")
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    assert isinstance(app.screen, ConfigFormScreen)


async def test_default_path_follows_the_format(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await open_form(app, pilot)
        app.screen.query_one("#field-0", Select).value = "csv"
        await settle(app, pilot)
        assert app.screen.query_one("#field-2", Input).value == "labels.csv"
        assert "default: labels.csv" in screen_text(app)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
    assert not (home / "labels.jsonl").exists()
    with (home / "labels.csv").open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:2] == ["trace_id", "query"]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])  # 80x24: scrolled into view
async def test_a_name_of_another_format_is_refused_beside_the_field(
    home: Path, size: tuple[int, int]
) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await open_form(app, pilot)
        app.screen.query_one("#field-2", Input).value = "mine.jsonl"  # typed by you
        app.screen.query_one("#field-0", Select).value = "csv"
        await settle(app, pilot)
        assert app.screen.query_one("#field-2", Input).value == "mine.jsonl"  # kept
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfigFormScreen)  # still open: nothing exported
        shown = screen_text(app)
        # the message may wrap: compare without spaces, line breaks and box borders
        flat = "".join(ch for ch in shown if not ch.isspace() and not 0x2500 <= ord(ch) < 0x25A0)
        assert "mine.jsonlisajsonlfilename,buttheformatiscsv:nameitmine.csv" in flat
    assert not (home / "mine.jsonl").exists()


def test_cli_takes_the_format_from_the_extension(home: Path, capsys) -> None:
    out = home / "out.csv"
    assert main(["export-labels", "--home", str(home), str(out)]) == 0
    assert "(csv)" in capsys.readouterr().out
    assert out.read_text().startswith("trace_id,")
    plain = home / "out"  # no extension: jsonl, as before
    assert main(["export-labels", "--home", str(home), str(plain)]) == 0
    json.loads(plain.read_text().splitlines()[0])


def test_cli_refuses_an_extension_of_another_format(home: Path, capsys) -> None:
    target = home / "labels.jsonl"
    assert main(["export-labels", "--home", str(home), "--format", "csv", str(target)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a jsonl file name, but the format is csv" in err[0]
    assert not target.exists()
