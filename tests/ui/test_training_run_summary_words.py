"""The Training pane's run summary (enter on a run; walkthroughs W2 22 / W 44): a long
path wraps after a `/`, never mid-name (`…/models/tiny-l` / `m`), and is whole where
the line has room; the LoRA settings are all in words (`weight decay`, not
`weight_decay`), as the form's are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from jarvis_tui.learning.training.runs import RunInfo
from jarvis_tui.ui.screens.run_detail import PathText, run_summary
from tests.ui.test_training_leftovers import detailed_run

LONG = "/home/someone/work/projects/jarvis-tui-demo-workspace/models/tiny-lm"


def rendered(run: RunInfo, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(run_summary(run))
    return [line.rstrip() for line in console.export_text().splitlines()]


@pytest.fixture
def run(labelled_home: Path) -> RunInfo:
    folder = detailed_run(labelled_home, "r1", model=LONG)
    info = json.loads((folder / "run.json").read_text())
    info["config"].update(weight_decay=0.01, warmup_ratio=0.1, max_grad_norm=1.0,
                          save_every_n_epochs=1, max_seq_length=256)  # fmt: skip
    (folder / "run.json").write_text(json.dumps(info))
    return RunInfo.load(folder)


@pytest.mark.parametrize("width", [80, 56, 40], ids=["120x40", "80x24", "narrow"])
def test_a_long_model_path_wraps_after_a_slash_never_mid_name(run: RunInfo, width: int) -> None:
    lines = rendered(run, width)
    disk = lines.index("On disk")
    at = next(i for i in range(disk, len(lines)) if lines[i].startswith("model"))
    indent = lines[at].index("/")
    pieces = [lines[at][indent:]]
    for line in lines[at + 1 :]:
        if line[:indent].strip():  # the next row's label
            break
        pieces.append(line[indent:])
    assert "".join(pieces) == LONG, lines  # whole, in order
    assert all(p.endswith("/") for p in pieces[:-1]), pieces  # each break after a /
    if width - indent >= len(LONG):
        assert pieces == [LONG]  # where it fits: one line


def test_every_lora_setting_is_said_in_words(run: RunInfo) -> None:
    text = "\n".join(rendered(run, 120))
    for words in ("weight decay", "warmup share", "grad clip", "save every (epochs)",
                  "max length", "learning rate"):  # fmt: skip
        assert words in text, text
    settings = text[text.index("LoRA settings") :]
    assert "_" not in settings.split("On disk")[0], settings


def test_a_name_wider_than_the_column_folds() -> None:
    path = PathText("/a/" + "x" * 30 + "/b")
    assert path.lines(10) == ["/a/", "x" * 10, "x" * 10, "x" * 10, "/b"]
    assert path.lines(100) == ["/a/" + "x" * 30 + "/b"]
