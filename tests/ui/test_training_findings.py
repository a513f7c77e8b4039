"""Training pane, issue 10's walkthrough findings: E counts each side of its samples
(18/42), x during E is said at once (19), a side with only empty answers shows no score
(20), and the run start / cancel words (17, 21, 56, 76). On the fakes: no torch runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Static

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.testing import settle, wait_until
from tests.ui.test_training_eval import (
    FAKE_EVAL,
    fake_run,
    held_out_queries,
    open_training,
    shown,
)


@pytest.fixture
def home(labelled_home: Path) -> Path:
    return labelled_home  # (tests/ui/conftest.py)


async def test_E_counts_each_side_of_its_samples_and_x_is_said_at_once(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm
    from jarvis_tui.ui.panes import training

    tiny = ensure_tiny_lm(home / "models")
    fake_run(home, "r1", model=str(tiny), adapter_base=str(tiny))
    monkeypatch.setattr(training, "EVAL_COMMAND", (FAKE_EVAL,))
    hold = tmp_path / "let-it-end"
    monkeypatch.setenv("FAKE_EVAL_HOLD", str(hold))  # cancelled, the child waits for it
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        box = pane.query_one("#training-compare", Static)
        status = pane.query_one("#training-status", Static)
        await pilot.press("E")
        n = len(held_out_queries(home))
        words = f"base {n - 1}/{n} · adapter 0/{n}"  # one denominator: a side's samples
        await wait_until(pilot, lambda: words in shown(box), what="the child's progress line")
        assert words in shown(status), shown(status)
        assert f"/{2 * n}" not in shown(box) + shown(status)
        await pilot.press("x")  # the child has not ended (it holds): said at once anyway
        assert "cancelling the evaluation" in shown(box), shown(box)
        assert "x cancels" not in shown(box), shown(box)
        assert "cancelling the evaluation…" in shown(status), shown(status)
        hold.touch()
        await wait_until(
            pilot, lambda: "evaluation cancelled" in shown(status), what="the child to end"
        )
        assert f"cancelled after base {n - 1}/{n}" in shown(box), shown(box)


async def test_a_side_with_only_empty_answers_shows_no_score(home: Path) -> None:
    run = fake_run(home, "r1", model="m")
    side = {
        "accuracy": 0.0,
        "accuracy_ci": [0.0, 0.0],
        "p50_latency_seconds": 0.2,
        "samples": 16,
        "scored": 0,
        "errors": 16,
        "error_reasons": {"empty answer": 16},
    }
    tuned = {"accuracy": 0.4, "accuracy_ci": [0.3, 0.5], "p50_latency_seconds": 0.2,
             "samples": 16, "scored": 16, "errors": 0, "error_reasons": {}}  # fmt: skip
    (run / "eval.json").write_text(json.dumps({
        "run_id": "r1", "base_model": "m", "eval_set": {"id": "heldout", "samples": 16},
        "base": side, "adapter": tuned, "base_eval_loss": 3.0, "adapter_eval_loss": 2.0,
        "partial": False, "verdict": "no score to compare: base nothing scored (16 of 16 "
        "samples failed: empty answer)",
    }))  # fmt: skip
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        await settle(app, pilot)
        box = shown(pane.query_one("#training-compare", Static))
        assert "base: 0 scored, 16 errors (empty answer)" in box, box
        assert "0.000 ±" not in box and "0.400 ±0.100" in box, box
        assert "adapter:" not in box, box  # no errors there: nothing said


def test_a_child_failure_says_its_error_line_not_a_warning_printed_after_it() -> None:
    from jarvis_tui.ui.panes.training import child_outcome

    stderr = (
        "jarvis-tui: error: run r1 has no adapter to evaluate (status completed)\n"
        "/x/modeling_utils.py:3312: FutureWarning: `is_gradient_checkpointing` is deprecated\n"
        "  warnings.warn(\n"
    )
    outcome = child_outcome(1, b"", stderr, cancelled=False)
    assert outcome == {"status": "failed",
                       "message": "run r1 has no adapter to evaluate (status completed)"}  # fmt: skip


async def test_s_with_a_refused_form_value_says_not_started(home: Path) -> None:
    from textual.widgets import Input

    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        pane.query_one("#f-lora_rank", Input).value = "abc"
        await settle(app, pilot)
        await pilot.press("s")
        status = shown(pane.query_one("#training-status", Static))
        assert "not started: rank must be a whole number" in status, status
        assert not pane.training


FAKE_TRAIN = str(Path(__file__).with_name("fake_train.py"))


async def test_x_and_ctrl_q_before_the_first_step_say_nothing_is_saved(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvis_tui.ui.panes import training

    monkeypatch.setattr(training, "TRAIN_COMMAND", (FAKE_TRAIN,))
    monkeypatch.setenv("FAKE_TRAIN_HOLD_IN_PHASE", "1")  # no run folder, no step yet
    app = JarvisApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_training(app, pilot)
        eta = pane.query_one("#training-eta", Static)
        await pilot.press("s")
        await wait_until(pilot, lambda: "building the demo model" in str(eta.render()),
                         what="the child's phase on screen")  # fmt: skip
        run = pane.run_path(pane.run_id or "")
        await pilot.press("ctrl+q")
        status = shown(pane.query_one("#training-status", Static))
        assert "finishing the current step" not in status, status
        await wait_until(pilot, lambda: app.return_code is not None, what="the app to end")
    assert app.exit_note == (  # type: ignore[attr-defined]
        f"jarvis-tui: training run {run.name} cancelled before the first step (ctrl+q); "
        "nothing saved"
    )
    assert not run.exists()
