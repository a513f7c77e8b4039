"""Training pane: form validation, a run started from the pane (a child process), live
points, cancel, a failed child, no torch in the app, no orphan after quit or a kill."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.panes import training
from jarvis_tui.ui.panes.training import TrainingPane, alerts, ema
from jarvis_tui.ui.testing import record_notices, settle, wait_until

pytest.importorskip("torch")
pytest.importorskip("peft")


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


async def test_form_refuses_bad_settings_with_the_reason(home: Path) -> None:
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        assert pane.pairs, "labelled traces give SFT pairs"
        set_form(pane, lora_rank="0", learning_rate="-1")
        await pilot.press("s")
        await settle(app, pilot)
        errors = str(pane.query_one("#training-form-errors", Static).render())
        assert "rank" in errors and ("learning" in errors or "lr" in errors)
        assert not pane.training
        assert not (home / "checkpoints").exists() or not any((home / "checkpoints").iterdir())


async def test_eval_split_1_is_refused_by_the_command_and_the_form_alike(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jarvis_tui.cli import main

    assert main(["train", "--home", str(home), "--eval-split", "1"]) != 0
    err = capsys.readouterr().err
    assert err.splitlines() == ["jarvis-tui: error: --eval-split must be in [0, 1) (got 1)"]
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        set_form(pane, eval_fraction="1")
        await pilot.press("s")
        await settle(app, pilot)
        errors = str(pane.query_one("#e-eval_fraction", Static).render())  # under the field
        assert "✗ must be in [0, 1) (got 1)" in errors, errors
        assert not pane.training
    assert not (home / "checkpoints").exists()


async def test_train_help_shows_the_form_defaults(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    from jarvis_tui.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    # flag (as --help prints it) -> the form field that sets the same thing
    fields = {"--min-quality": "min_quality", "--max-pairs": "max_pairs", "--rank": "lora_rank",
              "--alpha": "lora_alpha", "--dropout": "lora_dropout", "--lr": "learning_rate",
              "--epochs": "num_epochs", "--batch-size": "batch_size",
              "--max-length": "max_seq_length", "--eval-split": "eval_fraction"}  # fmt: skip
    options = text[text.index("options:") :]
    # Each flag's entry: from "--flag METAVAR" to the next entry's "--flag METAVAR".
    starts = sorted((m.start(), m.group(1)) for m in re.finditer(r" (--[a-z-]+) [A-Z]+ ", options))
    helped = {}
    for (at, flag), (end, _) in zip(starts, [*starts[1:], (len(options), "")], strict=True):
        found = re.search(r"\(default: ([^)]+)\)", options[at:end])
        helped[flag] = found.group(1) if found else None
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        shown = {flag: pane.query_one(f"#f-{f}", Input).value for flag, f in fields.items()}
    assert {flag: helped.get(flag) for flag in fields} == shown


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """One whole (tiny) run started from the pane (s), in an app process of its own
    (tests/ui/training_app_child.py full): what the pane showed, and the workspace. Two
    tests read it: a real training child costs seconds of torch import and steps."""
    home = tmp_path_factory.mktemp("full") / "ws"
    return _run_child("full", home), home


def test_run_from_the_pane_streams_points_and_lands_on_disk(full_run: tuple[dict, Path]) -> None:
    result, home = full_run
    assert not result["training"]
    runs = sorted((home / "checkpoints").iterdir())
    assert len(runs) == 1
    info = json.loads((runs[0] / "run.json").read_text())
    assert info["status"] == "completed" and info["data"]["pairs"] == 16
    total = info["total_steps"]
    assert total == result["total"] == 8  # 16 pairs / batch 4 × 2 epochs
    # every step reaches the chart (the pane follows the metrics file), in order
    assert result["steps"] == list(range(1, total + 1))
    assert "step 8/8" in result["shown"]
    lines = (runs[0] / "metrics.jsonl").read_text().splitlines()
    assert sum(json.loads(x).get("type", "step") == "step" for x in lines) == total
    assert (runs[0] / "final").is_dir()
    assert (home / "models" / "tiny-lm").is_dir()


async def test_cancel_finishes_the_step_and_keeps_the_adapter(home: Path) -> None:
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        # 64 pairs × 200 epochs: a run that is far from done when x arrives.
        set_form(pane, max_pairs="64", num_epochs="200", max_seq_length="64", eval_fraction="0")
        await pilot.press("s")
        await wait_until(pilot, lambda: bool(pane.steps), timeout=300, what="the first step")
        await pilot.press("x")
        await settle(app, pilot, rounds=4)
        assert not pane.training
        assert any("training cancelled" in n for n in notices)
        assert "cancelled" in str(pane.query_one("#training-eta", Static).render())
    (run,) = sorted((home / "checkpoints").iterdir())
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "cancelled"
    assert 1 <= info["steps_done"] < info["total_steps"]
    assert (run / "final" / "adapter_config.json").is_file()


async def test_the_started_run_is_charted_even_when_older_runs_are_listed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training.runs import RunWriter

    older = RunWriter(home / "checkpoints", model="m", run_id="older", heartbeat_thread=False)
    for i in range(1, 6):
        older.append({"type": "step", "step": i, "loss": 1.0, "lr": 1e-4, "tokens_per_s": 1.0})
    older.finish("completed", final_loss=1.0)
    monkeypatch.setattr(
        training, "TRAIN_COMMAND", (str(Path(__file__).with_name("fake_train.py")),)
    )
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("s", "r")  # the list is read again before the run's folder exists
        status = pane.query_one("#training-status", Static)
        await wait_until(pilot, lambda: f"following {pane.run_id}" in str(status.render()),
                         what="the started run followed")  # fmt: skip
        await wait_until(pilot, lambda: len(pane.steps) == 1, what="its one step")
        await pilot.press("x")
        await settle(app, pilot)
        assert not pane.training


async def test_a_training_process_that_fails_is_shown_failed_with_its_reason(
    home: Path, tmp_path: Path
) -> None:
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        # a folder the form accepts (config.json) that the child cannot load: it fails
        (tmp_path / "broken-model").mkdir()
        (tmp_path / "broken-model" / "config.json").write_text("{}")
        set_form(pane, model=str(tmp_path / "broken-model"), max_pairs="8", eval_fraction="0")
        await pilot.press("s")
        await settle(app, pilot, rounds=4)
        assert not pane.training
        errors = str(pane.query_one("#training-form-errors", Static).render())
        assert "training failed" in errors and "broken-model" in errors, errors
        assert any("training failed" in n for n in notices)


async def test_a_killed_training_process_is_failed_and_its_stderr_is_logged(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nprint('loading the model', file=sys.stderr)\n"
                     "raise RuntimeError('out of cheese')\n")  # fmt: skip
    monkeypatch.setattr(training, "TRAIN_COMMAND", (str(crash),))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("s")
        await settle(app, pilot, rounds=4)
        errors = str(pane.query_one("#training-form-errors", Static).render())
        assert "training failed: RuntimeError: out of cheese" in errors, errors
    log = (home / "logs" / "jarvis-tui.log").read_text()
    assert "Traceback" in log and "out of cheese" in log and "loading the model" in log


def _run_child(mode: str, home: Path) -> dict:
    """The app in a process of its own (tests/ui/training_app_child.py): its last line."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "tests.ui.training_app_child", mode, str(home)],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _wait_gone(pid: int, what: str) -> None:
    deadline = time.monotonic() + 120  # only turns a hang into a failure
    while _alive(pid):
        assert time.monotonic() < deadline, f"{what} (pid {pid}) still runs"
        time.sleep(0.1)


def test_a_run_from_the_pane_never_imports_torch_into_the_app(
    full_run: tuple[dict, Path],
) -> None:
    """The whole run, in a process of its own (other tests' imports would pollute it)."""
    result, _home = full_run
    assert result["status"] == "completed" and not result["training"]
    total = result["total"]
    assert "completed" in result["shown"] and f"step {total}/{total}" in result["shown"]
    assert result["imported"] == [], f"the UI process imported {result['imported']}"


def test_quitting_the_app_ends_its_training_process(tmp_path: Path) -> None:
    result = _run_child("quit", tmp_path / "ws")
    info = json.loads((Path(result["run"]) / "run.json").read_text())
    assert not _alive(info["pid"]), "the training process outlived the app"
    assert info["status"] == "cancelled"  # stopped cleanly, the adapter saved
    assert (Path(result["run"]) / "final" / "adapter_config.json").is_file()


def test_a_killed_app_leaves_no_orphan_training(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.ui.training_app_child", "hold", str(tmp_path / "ws")],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert app.stdout is not None
        line = app.stdout.readline()
        assert line, "the app ended before its run had a step"
        run = Path(json.loads(line)["run"])
        pid = json.loads((run / "run.json").read_text())["pid"]
        assert _alive(pid)
        app.send_signal(signal.SIGKILL)  # no chance to clean up
        app.wait()
        _wait_gone(pid, "the training process of a killed app")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "cancelled"
    assert (run / "final" / "adapter_config.json").is_file()


def test_ema_and_alerts() -> None:
    assert ema([1.0, 3.0], 0.5) == [1.0, 2.0]
    steps = [{"step": i, "loss": 1.0} for i in range(1, 30)]
    steps[20]["loss"] = 9.0
    assert any("spike at step 21" in a for a in alerts(steps))
    steps[25]["loss"] = float("nan")
    assert any("NaN" in a for a in alerts(steps))
    flat = [{"step": i, "loss": 0.5} for i in range(1, 100)]
    assert any("plateau" in a for a in alerts(flat))
    falling = [{"step": i, "loss": 2.0 / i} for i in range(1, 100)]
    assert alerts(falling) == []


def _finished_run(home: Path, run_id: str, *, final_loss: float, last_loss: float) -> None:
    d = home / "checkpoints" / run_id
    d.mkdir(parents=True)
    steps = [{"type": "step", "step": i, "loss": last_loss + (3 - i), "lr": 1e-4,
              "tokens_per_s": 9.0, "eta": 0.0, "total_steps": 3} for i in (1, 2, 3)]  # fmt: skip
    (d / "metrics.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    (d / "run.json").write_text(json.dumps({
        "run_id": run_id, "status": "completed", "model": "models/tiny-lm",
        "created": 1_780_000_000.0, "updated": 1_780_000_001.0, "steps_done": 3,
        "total_steps": 3, "final_loss": final_loss, "duration": 2.0, "config": {},
        "data": {}, "summary": {},
    }))  # fmt: skip


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_runs_list_tells_runs_apart_and_shows_one_loss_per_run(
    home: Path, size: tuple[int, int]
) -> None:
    _finished_run(home, "20261201-130512-cb6a", final_loss=6.138, last_loss=6.127)
    _finished_run(home, "20261201-134501-9f2e", final_loss=5.5, last_loss=5.4)
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        pane = await open_training(app, pilot)
        from textual.widgets import DataTable

        runs = pane.query_one("#training-runs", DataTable)
        await wait_until(pilot, lambda: runs.row_count == 2, what="the runs")
        cells = [runs.get_row_at(i)[0].plain for i in range(2)]
        assert len(set(cells)) == 2 and not any(c.endswith("…") and "2026120" in c for c in cells)
        assert {"13:05 cb6a", "13:45 9f2e"} <= {c[-10:] for c in cells}, cells
        row = next(i for i, c in enumerate(cells) if "cb6a" in c)
        assert "6.138" in [c.plain for c in runs.get_row_at(row)]
        runs.move_cursor(row=row)
        await settle(app, pilot)
        eta = str(pane.query_one("#training-eta").render())
        # the same loss as the list (a narrow line may drop it, never show another)
        assert "6.127" not in eta and ("loss 6.138" in eta or size[0] < 100), eta
        field = pane.query_one("#f-model", Input)
        placeholder = field.placeholder
        # whole in its box (a shorter form where narrow), or cut with …
        assert placeholder in training.MODEL_PLACEHOLDERS or placeholder.endswith("…")
        assert len(placeholder) < field.content_size.width, (placeholder, field.content_size)
        assert "tiny-lm" in placeholder
        if size[0] >= 120:  # room to say it is the default
            assert placeholder == "models/tiny-lm (default)"


async def test_a_starting_run_says_what_it_does_and_for_how_long(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before its first step (building the model, loading it) the pane is never silent."""
    monkeypatch.setattr(
        training, "TRAIN_COMMAND", (str(Path(__file__).with_name("fake_train.py")),)
    )
    monkeypatch.setenv("FAKE_TRAIN_HOLD_IN_PHASE", "1")
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("s")
        eta = pane.query_one("#training-eta", Static)
        charts = pane.query_one("#training-empty", Static)
        await wait_until(pilot, lambda: "building the demo model" in str(eta.render()),
                         what="the child's phase on screen")  # fmt: skip
        line = str(eta.render())
        # its seconds, the number never apart from its unit (no space to wrap at)
        assert "starting" in line and re.search(r"building the demo model … \d+s", line), line
        said = str(charts.render())
        assert "Starting the run: building the demo model …" in said and "x cancels" in said
        await pilot.press("x")
        await wait_until(pilot, lambda: not pane.training, what="the run cancelled")
        assert "building the demo model" not in str(eta.render())


def test_train_says_its_phases_before_the_first_step(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jarvis_tui.cli import main

    rc = main(["train", "--home", str(home), "--max-pairs", "8", "--epochs", "1",
               "--max-length", "64", "--eval-split", "0", "--phases", "--json"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    phases = [json.loads(x)["phase"] for x in lines if x.startswith('{"phase"')]
    assert phases == ["mining SFT pairs", "building the demo model", "starting torch",
                      "tokenising 8 pairs", "loading the model"]  # fmt: skip
    summary = json.loads("\n".join(x for x in lines if not x.startswith('{"phase"')))
    assert summary["status"] == "completed"


FAKE_TRAIN = str(Path(__file__).with_name("fake_train.py"))


async def test_ctrl_q_during_a_run_says_it_stops_the_run_then_quits(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: len(pane.steps) == 1, what="its one step")
        run = pane.run_path(pane.run_id or "")
        await pilot.press("ctrl+q")
        # The child stops at once here: the app ends by itself, once it is gone.
        await wait_until(pilot, lambda: app.return_code is not None, what="the app to end")
    assert any("stopping the training run" in n for n in notices)
    # Once the app is gone, the terminal says what became of the run and where it is:
    # run_app prints the app's exit note on stdout, one line, the path whole.
    note = app.exit_note
    assert note == f"jarvis-tui: training run {run.name} cancelled at step 1/10 (ctrl+q): {run}"
    from jarvis_tui.ui import app as app_module

    class Ran(JarvisApp):
        def run(self, *args, **kwargs):  # what the app left after ctrl+q, as above
            self.exit_note = note
            return 0

    monkeypatch.setattr(app_module, "JarvisApp", Ran)
    monkeypatch.setattr(app_module, "terminal_problem", lambda: None)  # pytest has none
    capsys.readouterr()
    assert app_module.run_app(home) == 0
    assert capsys.readouterr().out == note + "\n"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "cancelled"
    _wait_gone(info["pid"], "the training process")


async def test_a_second_ctrl_q_quits_now_and_kills_a_stuck_run(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    monkeypatch.setenv("FAKE_TRAIN_IGNORE_STOP", "1")
    monkeypatch.setattr(training, "QUIT_GRACE_S", 600.0)  # only the second ctrl+q ends it
    app = JarvisApp(home)
    notices = record_notices(app)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await open_training(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: len(pane.steps) == 1, what="its one step")
        pid = json.loads((pane.run_path(pane.run_id or "") / "run.json").read_text())["pid"]
        await pilot.press("ctrl+q")
        await settle(app, pilot, ignore={"training.run"})  # (the child never ends)
        # Still running, and it says why and how to quit now.
        assert app.return_code is None
        said = list(notices)
        assert any("stopping the training run" in m and "ctrl+q again: quit now" in m
                   for m in said), said  # fmt: skip
        status = str(pane.query_one("#training-status", Static).render())
        assert "quitting: stopping the run" in status, status
        await pilot.press("r")  # keys still work meanwhile
        await settle(app, pilot, ignore={"training.run"})
        assert _alive(pid)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None, what="the app to end")
    _wait_gone(pid, "the stuck training process")


def _run_at(home: Path, run_id: str, *, steps: int, total: int, duration: float) -> None:
    d = home / "checkpoints" / run_id
    d.mkdir(parents=True)
    recs = [{"type": "step", "step": i, "loss": 2.0 - i / steps, "lr": 1e-4 * (1 - i / steps),
             "tokens_per_s": 9.0, "eta": 0.0, "elapsed": i / 10} for i in range(1, steps + 1)]  # fmt: skip
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (d / "run.json").write_text(json.dumps({
        "run_id": run_id, "status": "cancelled", "model": "models/tiny-lm",
        "created": 1_780_000_000.0, "updated": 1_780_000_001.0, "steps_done": steps,
        "total_steps": total, "final_loss": 1.0, "duration": duration, "config": {},
        "data": {}, "summary": {},
    }))  # fmt: skip


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_a_run_reads_the_same_everywhere_steps_time_and_axes(
    home: Path, size: tuple[int, int]
) -> None:
    """Issue 10: thousands separators in the step count, one duration (the header and the
    list agree: 12.6 s is 13s in both), whole-step ticks, and every chart titled."""
    _run_at(home, "20261201-130512-cb6a", steps=86, total=24_780, duration=12.6)
    app = JarvisApp(home)
    async with app.run_test(size=size) as pilot:
        pane = await open_training(app, pilot)
        from textual.widgets import DataTable

        runs = pane.query_one("#training-runs", DataTable)
        await wait_until(pilot, lambda: runs.row_count == 1, what="the run")
        await wait_until(pilot, lambda: len(pane.steps) == 86, what="its steps charted")
        await settle(app, pilot)
        eta = str(pane.query_one("#training-eta").render())
        assert "step 86/24,780" in eta, eta
        row = [c.plain for c in runs.get_row_at(0)]
        if size[0] >= 100:  # the list's Time column (none where narrow)
            assert row[-1] == "13s" and "took 13s" in eta, (row, eta)
        loss = pane.query_one("#chart-loss").render()
        axis = [ln for ln in loss.plain.splitlines() if ln.strip()][-1]
        ticks = axis.split()
        assert ticks and all(re.fullmatch(r"\d{1,3}(,\d{3})*", t) for t in ticks), axis
        assert "20" in ticks and "40" in ticks, axis
        for chart, words in (("#chart-lr", ("learning rate", "lr")),
                             ("#chart-tps", ("real tokens/s", "tok/s"))):  # fmt: skip
            top = pane.query_one(chart).render().plain.splitlines()[0].strip()
            assert top in words, (chart, top)


async def test_a_running_run_shows_its_live_loss_and_time_in_the_list(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: not "running  –  –" while the chart moves."""
    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        from textual.widgets import DataTable

        runs = pane.query_one("#training-runs", DataTable)
        await pilot.press("s")
        await wait_until(pilot, lambda: len(pane.steps) == 1, what="its one step")
        await wait_until(pilot, lambda: runs.row_count == 1, what="its row")
        await settle(app, pilot, ignore={"training.run"})
        row = [c.plain for c in runs.get_row_at(0)]
        assert row[1:] == ["running", "1.000", "0s"], row  # fake_train: loss 1.0 at 0.1 s
        await pilot.press("x")
        await wait_until(pilot, lambda: not pane.training, what="the run cancelled")
