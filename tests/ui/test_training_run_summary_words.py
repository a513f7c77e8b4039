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
from jarvis_tui.ui.screens.run_detail import PathText, fast_path_rows, run_summary
from tests.ui.test_training_leftovers import detailed_run

LONG = "/home/someone/work/projects/jarvis-tui-demo-workspace/models/tiny-lm"


def rendered(run: RunInfo, width: int, comparison: dict | None = None) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(run_summary(run, comparison))
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


REAL_FAST_PATH = {  # what a CPU run without bf16 wrote (bench_training, 2026-12-03)
    "precision": "fp32",
    "precision_why": "this CPU has no native bf16 (no AVX512-BF16 or AMX): fp32",
    "checkpointing": False,
    "checkpointing_why": "off: activations ~3,913 MB fit in 21,295 MB free",
    "attention": "sdpa (causal, no padding mask)",
    "matmul": "MKL fp32 (probe 2048×512×1536: oneDNN 124, MKL 134 GFLOP/s)",
    "lora_dropout": "p=0.05 (numpy PCG64 mask)",
    "loss": "logits at the response tokens only (prompt and padding positions skipped)",
    "threads": 2,
    "world_size": 1,
    "notes": ["allocator: freed memory kept for reuse (glibc mallopt)",
              "last layer: o_proj and MLP at the response tokens only"],
}  # fmt: skip


def _with_fast_path(run: RunInfo, fast: object) -> RunInfo:
    info = json.loads((run.path / "run.json").read_text())
    info["config"]["fast_path"] = fast
    (run.path / "run.json").write_text(json.dumps(info))
    return RunInfo.load(run.path)


def test_the_fast_path_says_what_was_picked_and_why(run: RunInfo) -> None:
    """What the run picked to go fast, each choice with its reason, and its notes, in the
    summary's right column (one line each where the 120-column box has room)."""
    lines = rendered(_with_fast_path(run, REAL_FAST_PATH), 108)  # the box's inside at 120
    at = next(i for i, line in enumerate(lines) if line.endswith("Fast path"))
    col = lines[at].index("Fast path")
    part = [line[col:] for line in lines[at + 1 : lines.index("On disk")]]
    flat = " ".join(" ".join(part).split())
    for words in ("precision fp32 — this CPU has no native bf16 (no AVX512-BF16 or AMX)",
                  "checkpointing off: activations ~3,913 MB fit in 21,295 MB free",
                  "attention sdpa (causal, no padding mask)",
                  "matmuls MKL fp32 (probe 2048×512×1536: oneDNN 124, MKL 134 GFLOP/s)",
                  "dropout p=0.05 (numpy PCG64 mask)", "loss logits at the response tokens",
                  "threads 2", "also allocator: freed memory kept for reuse (glibc mallopt)",
                  "last layer: o_proj and MLP at the response tokens only"):  # fmt: skip
        assert words in flat, (words, part)
    assert "AMX): fp32" not in flat  # the reason's own ": fp32" is not said twice
    assert "ranks" not in flat  # one process: nothing to say


def test_a_hostile_fast_path_is_shown_as_text_and_bounded(run: RunInfo) -> None:
    """run.json is anyone's file: markup and escapes stay literal, odd types are skipped,
    a flood of notes is cut with a count."""
    fast = {"precision": "[bold red]bf16[/]", "checkpointing": "yes please",
            "attention": "\x1b[2Jsdpa", "threads": True, "world_size": 3,
            "notes": [f"note {i}" for i in range(40)]}  # fmt: skip
    rows = fast_path_rows(fast)
    part = "\n".join(f"{label:10} {value}" for label, value in rows)
    assert "Fast path" in "\n".join(rendered(_with_fast_path(run, fast), 120))
    assert "[bold red]bf16[/]" in part
    assert "\x1b" not in part and "sdpa" in part
    assert "threads" not in part and "checkpointing" not in part
    assert "ranks      3" in part
    assert "note 11" in part and "note 12" not in part
    assert "… and 28 more in run.json" in part
    for odd in ("not a dict", ["a", "list"], {}):
        text = "\n".join(rendered(_with_fast_path(run, odd), 120))
        assert "Fast path" not in text and "On disk" in text


def test_narrower_than_two_columns_the_sections_stack_and_values_keep_their_lines(
    run: RunInfo,
) -> None:
    """Inside the 80-column box (70 cells) the sections are one above the other, each
    from the left edge; the fast path's values then fold far less than in a right column
    of ~30 cells (which left the left column empty beside them)."""
    run = _with_fast_path(run, REAL_FAST_PATH)
    narrow = rendered(run, 70, comparison={"verdict": "adapter better: score +0.174"})
    heads = ("Run", "Against its base (E)", "Data", "LoRA settings", "Fast path", "On disk")
    assert all(h in narrow for h in heads), narrow  # each alone on its line, at column 0
    at = [narrow.index(h) for h in heads]
    assert at == sorted(at)  # in reading order, the verdict right after the run
    part = narrow[at[4] + 1 : at[5]]
    assert any(
        line.startswith("precision") and "fp32 — this CPU has no native bf16" in line
        for line in part
    ), part
    assert len(part) <= len(fast_path_rows(REAL_FAST_PATH)) + 4, part  # ≤ 4 folded lines
    wide = rendered(run, 108)
    assert "Fast path" not in wide and any(line.endswith("Fast path") for line in wide)
