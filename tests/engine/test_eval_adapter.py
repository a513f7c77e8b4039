"""A finished LoRA run measured against its base model (eval loss and score, one call)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from jarvis_tui.evals import make_scorer  # noqa: E402
from jarvis_tui.evals.adapters import EVAL_FILE, compare_adapter, load_comparison  # noqa: E402
from jarvis_tui.evals.generators import GeneratorError  # noqa: E402
from jarvis_tui.evals.sets import EvalSample, EvalSet  # noqa: E402
from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig  # noqa: E402
from jarvis_tui.learning.training.runs import list_runs  # noqa: E402
from jarvis_tui.learning.training.tinylm import build_tiny_lm  # noqa: E402

PAIRS = [
    {"input": f"What is {i} plus {i}?", "output": f"The answer is {2 * i}."} for i in range(12)
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, object]:
    torch.set_num_threads(2)
    model = build_tiny_lm(tmp_path_factory.mktemp("models") / "tiny-lm", seed=0)
    root = tmp_path_factory.mktemp("ws") / "checkpoints"
    root.mkdir()
    cfg = LoRATrainingConfig(num_epochs=4, batch_size=4, learning_rate=1e-2, max_seq_length=128)
    LoRATrainer(cfg, model_name=str(model)).train(PAIRS, run_dir=root)
    (run,) = list_runs(root)
    return model, run


def test_adapter_lowers_the_loss_of_what_it_learned_and_is_kept(trained) -> None:
    _model, run = trained
    eval_set = EvalSet(
        "learned", [EvalSample(f"s{i}", p["input"], p["output"]) for i, p in enumerate(PAIRS)]
    )
    seen: list[str] = []
    cmp = compare_adapter(
        run, eval_set, make_scorer("rouge"), max_tokens=8,
        progress=lambda stage, done, total: seen.append(stage),
    )  # fmt: skip
    assert cmp.adapter_eval_loss < cmp.base_eval_loss
    assert set(seen) == {"base", "adapter"}
    assert cmp.base["samples"] == cmp.adapter["samples"] == 12
    assert cmp.verdict().startswith(
        ("adapter better", "no clear difference", "adapter worse", "no score to compare")
    )
    assert "eval loss" in cmp.verdict()
    kept = load_comparison(run.path)
    assert kept is not None and kept["run_id"] == run.run_id
    assert kept["adapter_eval_loss"] == pytest.approx(cmp.adapter_eval_loss)
    assert (Path(run.path) / EVAL_FILE).stat().st_mode & 0o077 == 0  # owner-only


def test_a_run_without_an_adapter_is_refused(trained, tmp_path: Path) -> None:
    _model, run = trained

    class NoAdapter:
        run_id, status, path, model, adapter_path = "r0", "running", tmp_path, run.model, None

    with pytest.raises(GeneratorError, match="has no adapter yet"):
        compare_adapter(NoAdapter(), EvalSet("x", []), make_scorer("rouge"))


def test_a_finished_run_is_a_value_of_the_adapter_dimension(trained) -> None:
    from jarvis_tui.evals import EvalError, EvalTrialRunner, LocalGenerator
    from jarvis_tui.learning.optimize.session import _adapter_dimension
    from jarvis_tui.learning.optimize.types import SearchSpace, TrialConfig
    from jarvis_tui.paths import Workspace

    model, run = trained
    ws = Workspace(Path(run.path).parent.parent)
    runner = EvalTrialRunner(
        EvalSet("s", [EvalSample("a", p["input"], p["output"]) for p in PAIRS[:4]]),
        LocalGenerator(model, workspace=ws.root),
        make_scorer("rouge"),
    )
    dim = _adapter_dimension(ws, runner, SearchSpace())
    assert dim is not None and dim.name == "intelligence.adapter"
    assert dim.values == ["base", run.run_id]
    # Short answers: what is measured here is which adapter answers, not how long
    # (the default 256 tokens of the tiny LM on CPU cost ~40 s of the suite).
    short = {"intelligence.max_tokens": 16}
    # The untrained base answers only blank lines: every sample an error, the trial fails.
    with pytest.raises(EvalError, match="every sample of t1 failed: empty answer"):
        runner.run_trial(TrialConfig("t1", {"intelligence.adapter": "base", **short}))
    tuned = runner.run_trial(TrialConfig("t2", {"intelligence.adapter": run.run_id, **short}))
    assert tuned.samples_evaluated == 4
    assert runner.last_result is not None
    assert "adapter" in runner.last_result.generator  # measured with the adapter loaded
