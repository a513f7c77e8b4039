"""Training pane: E measures a finished run's adapter against its base on held-out
queries; runs never train on those queries; the pane's palette entries."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Static

from jarvis_tui.evals.heldout import SPLIT_FILE, read_split, training_pairs
from jarvis_tui.evals.sets import EvalSplit
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.testing import record_notices, settle, wait_until
from tests.ui.conftest import make_traces

pytest.importorskip("torch")
pytest.importorskip("peft")


def shown(widget: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


@pytest.fixture
def home(labelled_home: Path) -> Path:
    return labelled_home  # (tests/ui/conftest.py)


async def open_training(app: JarvisApp, pilot) -> TrainingPane:
    await settle(app, pilot)
    await pilot.press("L")
    await settle(app, pilot)
    return app.query_one(TrainingPane)


def set_form(pane: TrainingPane, **values: str) -> None:
    for key, value in values.items():
        pane.query_one(f"#f-{key}", Input).value = value


def held_out_queries(home: Path) -> set[str]:
    split = EvalSplit()
    return {t.query for t in make_traces(120) if split.is_held_out(t.query)}


def test_training_pairs_skip_every_held_out_query() -> None:
    pairs = [{"input": t.query, "output": "x"} for t in make_traces(400)]
    split = EvalSplit()
    kept, held = training_pairs(pairs, split, limit=1_000)
    assert held > 0 and len(kept) + held == len(pairs)
    assert not any(split.is_held_out(p["input"]) for p in kept)
    # the limit counts kept pairs only
    few, _ = training_pairs(pairs, split, limit=5)
    assert len(few) == 5 and not any(split.is_held_out(p["input"]) for p in few)


HEADLESS_TRAIN_THEN_E = """
import asyncio, io, json, sys
from pathlib import Path
from rich.console import Console
from textual.widgets import Input, Static
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes.training import TrainingPane
from jarvis_tui.ui.testing import settle
from jarvis_tui.ui.panes import training

# E's child is the real `jarvis-tui eval --compare` with the pane's flags, answering in
# 16 tokens instead of 256: the tiny LM's long answers on CPU were most of this test.
training.EVAL_COMMAND = ("-c", "import sys; from jarvis_tui.cli import main; "
                         "sys.exit(main([*sys.argv[1:], '--max-tokens', '16']))")

def shown(widget):
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()

async def main(home):
    seen = {}
    app = JarvisApp(Path(home))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("L")
        await settle(app, pilot)
        pane = app.query_one(TrainingPane)
        seen["data"] = shown(pane.query_one("#training-data", Static))
        for key, value in (("max_pairs", "500"), ("num_epochs", "1"), ("batch_size", "8"),
                           ("max_seq_length", "64"), ("eval_fraction", "0")):
            pane.query_one("#f-" + key, Input).value = value
        await pilot.press("s")
        await settle(app, pilot, rounds=6)
        seen["training"] = pane.training
        await pilot.press("E")
        await pilot.pause()
        seen["first"] = shown(pane.query_one("#training-compare", Static))
        await settle(app, pilot, rounds=4)
        seen["box"] = shown(pane.query_one("#training-compare", Static))
    seen["heavy"] = sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules)
    print(json.dumps(seen))

asyncio.run(main(sys.argv[1]))
"""
"""A full training run (s), then E, from the pane, in a fresh interpreter: prints what
the screen showed and which of torch, transformers and peft the app process imported."""


async def test_train_then_E_compares_with_the_base_keeps_eval_json_and_never_imports_torch(
    home: Path,
) -> None:
    # The pane runs jarvis-tui train and jarvis-tui eval --compare (child processes):
    # which pairs train trains on is tested below
    # (test_jarvis_tui_train_never_trains_on_a_held_out_query). This process has torch
    # loaded (other tests), so the app runs in a fresh one.
    import subprocess
    import sys

    held = held_out_queries(home)
    assert held, "the fixture has held-out queries"
    done = subprocess.run(
        [sys.executable, "-c", HEADLESS_TRAIN_THEN_E, str(home)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # every pair mined (the count Routing and `jarvis-tui learn` say), then the split
    assert (f"120 SFT pairs ({120 - len(held)} to train · {len(held)} held out, never "
            "trained on)") in seen["data"]  # fmt: skip
    # what the pairs are, in the Traces pane's words (every trace is labelled 0.9)
    assert "trained on): traces scored ≥ 0.70 of 120 labelled" in seen["data"]
    assert not seen["training"]
    (run_dir,) = sorted((home / "checkpoints").iterdir())
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and info["data"]["pairs"] == 120 - len(held)
    assert read_split(run_dir) == EvalSplit()
    assert json.loads((run_dir / SPLIT_FILE).read_text())["held_out_pairs"] == len(held)
    assert (run_dir / SPLIT_FILE).stat().st_mode & 0o777 == 0o600
    # progress, or (on a fast machine) already the result: never the old empty box
    assert "evaluating" in seen["first"] or "+ adapter" in seen["first"], seen["first"]
    box = seen["box"]
    for word in ("base", "+ adapter", "eval loss", "score", "latency p50"):
        assert word in box, (word, box)
    # a score with its interval, or (the untrained tiny LM answers blanks) no score: an
    # empty answer is an error, never a 0 ± 0
    assert "±" in box or "nothing scored" in box, box
    assert "0.000 ±0.000" not in box, box
    verdicts = ("adapter better", "adapter worse", "no clear difference", "no score to compare")
    assert any(v in box for v in verdicts)  # the untrained tiny base may answer blanks
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["eval_set"]["samples"] == len(held)
    assert saved["base"]["samples"] == saved["adapter"]["samples"] == len(held)
    assert (run_dir / "eval.json").stat().st_mode & 0o777 == 0o600
    assert seen["heavy"] == []  # the UI process never imported torch, transformers or peft
    # selected again later (a new app): the comparison is read back from the run folder
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        box = shown(pane.query_one("#training-compare", Static))
        assert "+ adapter" in box and saved["verdict"][:20] in box


def fake_run(home: Path, run_id: str, *, model: str, adapter_base: str | None = None) -> Path:
    d = home / "checkpoints" / run_id
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text(
        json.dumps(
            {
                "type": "step",
                "step": 1,
                "loss": 1.0,
                "lr": 1e-4,
                "tokens_per_s": 9.0,
                "eta": 0.0,
                "total_steps": 1,
            }
        )
        + "\n"  # fmt: skip
    )
    (d / "run.json").write_text(json.dumps({
        "run_id": run_id, "status": "completed", "model": model, "created": 1_780_000_000.0,
        "updated": 1_780_000_001.0, "steps_done": 1, "total_steps": 1, "final_loss": 1.0,
        "duration": 2.0, "config": {}, "data": {}, "summary": {},
    }))  # fmt: skip
    if adapter_base is not None:
        (d / "final").mkdir()
        (d / "final" / "adapter_config.json").write_text(
            json.dumps({"base_model_name_or_path": adapter_base, "peft_type": "LORA"})
        )
    return d


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("no adapter", "has no adapter to evaluate"),
        ("not a folder", "is not a local model folder"),
        ("other base", "was trained on"),
    ],
)
async def test_E_says_in_place_why_a_run_cannot_be_evaluated(
    home: Path, tmp_path: Path, case: str, says: str
) -> None:
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    tiny = ensure_tiny_lm(home / "models")
    if case == "no adapter":
        fake_run(home, "r1", model=str(tiny))
    elif case == "not a folder":
        fake_run(home, "r1", model="org/some-hub-model", adapter_base="org/some-hub-model")
    else:
        other = tmp_path / "other-model"
        other.mkdir()
        fake_run(home, "r1", model=str(tiny), adapter_base=str(other))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("E")
        await settle(app, pilot)
        box = shown(pane.query_one("#training-compare", Static))
        assert "✗" in box and says in box, box
        assert not (home / "checkpoints" / "r1" / "eval.json").exists()


async def run_palette(app: JarvisApp, pilot, title: str) -> None:
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
    app.screen.query_one(Input).value = title
    from textual.command import CommandList

    def offered() -> bool:
        found = app.screen.query(CommandList)
        options = found.first().options if found else []
        return any(title in str(getattr(o.prompt, "plain", o.prompt)) for o in options)

    await wait_until(pilot, offered, what=f"palette entry {title}")
    await pilot.press("enter")
    await pilot.pause()


FAKE_TRAIN = str(Path(__file__).with_name("fake_train.py"))
"""Stands in for ``jarvis-tui train`` as the pane's child: holds until cancelled."""


async def test_every_training_palette_entry_acts(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm
    from jarvis_tui.ui.panes import training

    tiny = ensure_tiny_lm(home / "models")
    fake_run(home, "older", model=str(tiny))
    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        notices = record_notices(app)
        pane = await open_training(app, pilot)
        await pilot.press("T")  # the entries show the pane from anywhere
        await settle(app, pilot)
        runs = pane.query_one("#training-runs", DataTable)
        fake_run(home, "newer", model=str(tiny))
        await run_palette(app, pilot, "training: reload")
        await settle(app, pilot)
        assert app.query_one("#panes").active == "training"
        assert runs.row_count == 2
        await run_palette(app, pilot, "training: overlay the marked run")
        await settle(app, pilot)
        assert set(pane.overlays) == {str(runs.coordinate_to_cell_key((0, 0)).row_key.value)}
        await run_palette(app, pilot, "training: evaluate the selected run against its base")
        await settle(app, pilot)
        assert "has no adapter to evaluate" in shown(pane.query_one("#training-compare", Static))
        await run_palette(app, pilot, "training: start")
        await wait_until(pilot, lambda: pane.training, what="the run")
        assert "training…" in shown(pane.query_one("#training-status", Static))
        await run_palette(app, pilot, "training: cancel")
        await settle(app, pilot)
        assert not pane.training
        assert any("training cancelled" in n for n in notices)


FAKE_EVAL = str(Path(__file__).with_name("fake_eval.py"))
"""Stands in for ``jarvis-tui`` as E's child: the real ``eval --compare`` whose measuring
says ``base n-1/n`` and holds until the child is cancelled."""


async def test_E_shows_progress_and_x_cancels_keeping_nothing_on_disk(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm
    from jarvis_tui.ui.panes import training

    tiny = ensure_tiny_lm(home / "models")
    run_dir = fake_run(home, "r1", model=str(tiny), adapter_base=str(tiny))
    monkeypatch.setattr(training, "EVAL_COMMAND", (FAKE_EVAL,))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("E")
        n = len(held_out_queries(home))
        await wait_until(
            pilot, lambda: f"base {n - 1}/{n}" in shown(pane.query_one("#training-compare", Static)),
            what="the child's progress line",
        )  # fmt: skip
        box = shown(pane.query_one("#training-compare", Static))
        assert "evaluating" in box and "x cancels" in box, box
        await pilot.press("x")  # SIGTERM: the child prints what it measured, writes nothing
        await settle(app, pilot)
        box = shown(pane.query_one("#training-compare", Static))
        # only what was measured: the base's numbers, of how many; the adapter never ran
        assert f"cancelled after base {n - 1}/{n} — adapter not evaluated" in box, box
        assert f"{n - 1} of {n} held-out samples" in box, box
        assert "0.250 ±0.150" in box and "2.000" in box and "0.50 s" in box, box
        assert "0.000" not in box and "0.00 s" not in box, box
        assert "no clear difference" not in box and "no verdict" in box, box
        assert pane.evaluating is None
    assert not (run_dir / "eval.json").exists()


async def test_ctrl_q_during_an_evaluation_stops_the_child_then_quits(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm
    from jarvis_tui.ui.panes import training

    tiny = ensure_tiny_lm(home / "models")
    run_dir = fake_run(home, "r1", model=str(tiny), adapter_base=str(tiny))
    monkeypatch.setattr(training, "EVAL_COMMAND", (FAKE_EVAL,))
    monkeypatch.setattr(training, "QUIT_GRACE_S", 600.0)  # no kill: only its SIGTERM ends it
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("E")
        n = len(held_out_queries(home))
        await wait_until(
            pilot, lambda: f"base {n - 1}/{n}" in shown(pane.query_one("#training-compare", Static)),
            what="the child's progress line",
        )  # fmt: skip
        await pilot.press("ctrl+q")
        # the child stops at once (what it measured is dropped): the app ends by itself
        await wait_until(pilot, lambda: app.return_code is not None, what="the app to end")
    assert any("stopping the evaluation: nothing is saved" in n for n in notices), notices
    assert not (run_dir / "eval.json").exists()


def test_jarvis_tui_train_never_trains_on_a_held_out_query(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from jarvis_tui.cli import main
    from jarvis_tui.learning.training import lora

    trained: list[str] = []

    run_dir = home / "checkpoints" / "r-test"

    def train(self, pairs, **kwargs):
        trained.extend(p["input"] for p in pairs)
        run_dir.mkdir(parents=True)
        return {"status": "completed", "training_samples": len(pairs), "run_dir": str(run_dir)}

    monkeypatch.setattr(lora.LoRATrainer, "train", train)
    held = held_out_queries(home)
    tiny = home / "models" / "tiny-lm"
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    ensure_tiny_lm(home / "models")
    rc = main(["train", "--home", str(home), "--model", str(tiny), "--max-pairs", "500",
               "--json"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert len(trained) == 120 - len(held) and not set(trained) & held
    # the run folder records the split it never trained on
    import json as _json

    split = _json.loads((run_dir / "split.json").read_text())
    assert split["held_out_pairs"] == len(held) and split["fraction"] > 0
