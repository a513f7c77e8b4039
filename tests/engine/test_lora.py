"""LoRATrainer on the offline tiny LM: learning, the run folder, stopping, bad input.

Runs on CPU in a few seconds: the tiny LM has 2 layers of width 64.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from jarvis_tui.learning.training.lora import (  # noqa: E402
    IGNORE_INDEX,
    INSTALL_HINT,
    LoRATrainer,
    LoRATrainingConfig,
    ModelLoadError,
    lr_at,
)
from jarvis_tui.learning.training.runs import METRICS_FILE, RUN_FILE, RunInfo, list_runs  # noqa: E402
from jarvis_tui.learning.training.tinylm import build_tiny_lm  # noqa: E402

STEP_KEYS = {"type", "step", "epoch", "loss", "lr", "grad_norm", "tokens", "tokens_per_s",
             "elapsed", "eta"}  # fmt: skip
LR = 1e-2  # the tiny LM is random: the spec's 2e-5 would barely move it in 8 steps


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_lm(tmp_path_factory.mktemp("models") / "tiny-lm", seed=0))


def make_pairs(n: int = 16) -> list[dict]:
    return [
        {
            "input": f"What is {i} plus {i}? Answer briefly." + " Please." * (i % 3),
            "output": f"The answer is {2 * i}. " * (1 + i % 4),
        }
        for i in range(n)
    ]


def config(**kw) -> LoRATrainingConfig:
    base = dict(num_epochs=2, batch_size=4, learning_rate=LR, max_seq_length=256)
    base.update(kw)
    return LoRATrainingConfig(**base)


@pytest.fixture(scope="module")
def two_epochs(tiny_lm: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One two-epoch run on 16 pairs, shared by the tests that inspect it."""
    root = tmp_path_factory.mktemp("checkpoints")
    steps: list[dict] = []
    records: list[dict] = []
    trainer = LoRATrainer(config(), model_name=tiny_lm)
    summary = trainer.train(
        make_pairs(), callback=steps.append, on_record=records.append, run_dir=root
    )
    return {"summary": summary, "steps": steps, "records": records, "root": root,
            "trainer": trainer}  # fmt: skip


# --------------------------------------------------------------------------- a full run


def test_loss_goes_down_over_two_epochs(two_epochs: dict) -> None:
    s, steps = two_epochs["summary"], two_epochs["steps"]
    assert s["status"] == "completed", s["message"]
    first = [r["loss"] for r in steps if r["epoch"] <= 1.0]
    last = [r["loss"] for r in steps if r["epoch"] > 1.0]
    assert len(first) == len(last) == 4
    assert sum(last) / len(last) < sum(first) / len(first) - 0.05
    assert s["final_loss"] == pytest.approx(sum(last) / len(last))
    assert s["avg_loss"] == pytest.approx(sum(first + last) / 8)


def test_callback_once_per_step_with_every_field(two_epochs: dict) -> None:
    s, steps = two_epochs["summary"], two_epochs["steps"]
    assert [r["step"] for r in steps] == list(range(1, 9))
    assert s["total_steps"] == s["planned_steps"] == 8
    for r in steps:
        assert STEP_KEYS <= set(r), STEP_KEYS - set(r)
        assert r["type"] == "step"
        assert math.isfinite(r["loss"]) and r["lr"] > 0 and r["grad_norm"] >= 0
        assert r["tokens"] > 0 and r["tokens_per_s"] > 0 and r["eta"] >= 0
    assert [r["epoch"] for r in steps] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert steps[-1]["eta"] == 0
    # Real tokens: every example's tokens, once per epoch.
    assert sum(r["tokens"] for r in steps) == 2 * sum(
        e["length"] for e in two_epochs["trainer"].prepare_dataset(make_pairs())
    )
    assert s["tokens"] == sum(r["tokens"] for r in steps)


def test_metrics_jsonl_parses_line_by_line(two_epochs: dict) -> None:
    run = Path(two_epochs["summary"]["run_dir"])
    lines = (run / METRICS_FILE).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records == json.loads(json.dumps(two_epochs["records"]))
    assert [r for r in records if r["type"] == "step"] == json.loads(
        json.dumps(two_epochs["steps"])
    )
    epochs = [r for r in records if r["type"] == "epoch"]
    assert epochs == [
        {"type": "epoch", "epoch": 1, "step": 4, "adapter": "epoch-1"},
        {"type": "epoch", "epoch": 2, "step": 8, "adapter": "epoch-2"},
    ]


def test_run_folder_and_run_json(two_epochs: dict) -> None:
    s, root = two_epochs["summary"], two_epochs["root"]
    run = Path(s["run_dir"])
    assert run.parent == root and run.name == s["run_id"]
    assert (run.stat().st_mode & 0o777) == 0o700
    assert (run / RUN_FILE).stat().st_mode & 0o777 == 0o600
    for name in ("epoch-1", "epoch-2", "final"):
        assert (run / name / "adapter_config.json").is_file()
    assert s["adapter_path"] == str(run / "final")
    info = RunInfo.load(run)
    assert info.status == "completed"
    assert info.steps_done == info.total_steps == 8
    assert info.final_loss == pytest.approx(s["final_loss"])
    assert info.config["lora_rank"] == 16 and info.config["dtype"] == "float32"
    assert info.data["pairs"] == 16 and info.data["train_examples"] == 16
    assert info.duration is not None and info.duration > 0
    assert [r.run_id for r in list_runs(root)] == [s["run_id"]]
    # No temporary adapter folders left behind.
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_final_adapter_reloads_with_peft_and_changes_logits(two_epochs: dict, tiny_lm: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    ids = tok("What is 3 plus 3?", return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    with torch.no_grad():
        before = base(input_ids=ids).logits
    tuned = PeftModel.from_pretrained(base, two_epochs["summary"]["adapter_path"]).eval()
    with torch.no_grad():
        after = tuned(input_ids=ids).logits
    assert after.shape == before.shape
    assert (after - before).abs().max().item() > 1e-3


def test_schedule_warms_up_then_decays(two_epochs: dict) -> None:
    lrs = [r["lr"] for r in two_epochs["steps"]]
    # warmup_ratio 0.1 of 8 steps: 1 warmup step, then cosine decay.
    assert lrs[0] == pytest.approx(LR)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[-1] < LR * 0.05
    assert [lr_at(s, 100, 10, 1.0) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_at(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert lr_at(99, 100, 10, 1.0) < 0.01


def test_checkpointing_is_off_when_memory_does_not_need_it(two_epochs: dict) -> None:
    # The config allows it (the spec's default True), but the tiny model's
    # activations fit many times over: the fast path leaves it off and says why.
    trainer = two_epochs["trainer"]
    assert not any(getattr(m, "gradient_checkpointing", False) for m in trainer.model.modules())
    fast = json.loads((Path(two_epochs["summary"]["run_dir"]) / RUN_FILE).read_text())["config"][
        "fast_path"
    ]
    assert fast["checkpointing"] is False and fast["checkpointing_why"].startswith("off: ")


def test_gradient_checkpointing_always_and_weight_decay_are_honoured(
    tiny_lm: str, tmp_path: Path
) -> None:
    trainer = LoRATrainer(config(num_epochs=1), model_name=tiny_lm, checkpointing="always")
    assert trainer.train(make_pairs(4), run_dir=tmp_path)["status"] == "completed"
    flags = [m.gradient_checkpointing for m in trainer.model.modules()
             if hasattr(m, "gradient_checkpointing")]  # fmt: skip
    assert flags and all(flags)
    groups = trainer._param_groups()
    assert groups[0]["weight_decay"] == 0.01
    assert all("lora" in n for n, p in trainer.model.named_parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(
        p.numel() for p in trainer.model.parameters() if p.requires_grad
    )


def test_no_checkpointing_when_disabled(tiny_lm: str, tmp_path: Path) -> None:
    trainer = LoRATrainer(config(num_epochs=1, gradient_checkpointing=False), model_name=tiny_lm)
    s = trainer.train(make_pairs(4), run_dir=tmp_path)
    assert s["status"] == "completed"
    assert not any(getattr(m, "gradient_checkpointing", False) for m in trainer.model.modules())


# --------------------------------------------------------------------------- stopping


def test_cancel_after_step_two_saves_the_adapter(tiny_lm: str, tmp_path: Path) -> None:
    stop = threading.Event()
    seen: list[int] = []

    def on_step(rec: dict) -> None:
        seen.append(rec["step"])
        if rec["step"] == 2:
            stop.set()

    s = LoRATrainer(config(), model_name=tiny_lm).train(
        make_pairs(), callback=on_step, stop=stop, run_dir=tmp_path
    )
    assert s["status"] == "cancelled"
    assert seen == [1, 2] and s["total_steps"] == 2
    assert "cancelled" in s["message"]
    final = Path(s["adapter_path"])
    assert (final / "adapter_config.json").is_file()
    assert (final / "adapter_model.safetensors").is_file()
    info = RunInfo.load(s["run_dir"])
    assert info.status == "cancelled" and info.steps_done == 2 and info.total_steps == 8
    assert not (Path(s["run_dir"]) / "epoch-1").exists()  # the epoch never finished


def test_a_stop_before_the_run_folder_loads_nothing_and_saves_nothing(
    tiny_lm: str, tmp_path: Path
) -> None:
    stop = threading.Event()
    stop.set()  # x in the Training pane while the run still starts (finding 76)
    trainer = LoRATrainer(config(), model_name=tiny_lm)
    s = trainer.train(make_pairs(), stop=stop, run_dir=tmp_path)
    assert s["status"] == "cancelled" and s["message"] == "stopped before the first step"
    assert s["run_dir"] is None and s["adapter_path"] is None
    assert list(tmp_path.iterdir()) == []  # no run folder, no adapter
    assert trainer.model is None  # the model was not even loaded


def test_nan_loss_stops_the_run_as_diverged(tiny_lm: str, tmp_path: Path) -> None:
    class Poisoned(LoRATrainer):
        """The model's loss turns NaN from its third call on (its hidden states do)."""

        def _apply_lora(self) -> None:
            super()._apply_lora()
            calls = [0]

            def hook(module, args, kwargs, output):
                calls[0] += 1
                if calls[0] >= 3:
                    output.last_hidden_state = output.last_hidden_state * float("nan")
                return output

            # The decoder: the trainer's loss reads its hidden states on every path.
            self.model.get_base_model().get_decoder().register_forward_hook(hook, with_kwargs=True)

    steps: list[dict] = []
    s = Poisoned(config(), model_name=tiny_lm).train(
        make_pairs(), callback=steps.append, run_dir=tmp_path
    )
    assert s["status"] == "diverged"
    assert "step 3" in s["message"] and "learning rate" in s["message"]
    assert len(steps) == 3 and math.isnan(steps[-1]["loss"])
    assert s["total_steps"] == 3 and s["adapter_path"] is None  # no adapter from bad weights
    info = RunInfo.load(s["run_dir"])
    assert info.status == "diverged" and "nan" in info.message
    # A follower sees the NaN step too (Python's json reads NaN back).
    last = json.loads((Path(s["run_dir"]) / METRICS_FILE).read_text().splitlines()[-1])
    assert math.isnan(last["loss"])


def test_huge_learning_rate_diverges(tiny_lm: str, tmp_path: Path) -> None:
    cfg = config(learning_rate=1e6, warmup_ratio=0.0, num_epochs=4)
    s = LoRATrainer(cfg, model_name=tiny_lm).train(make_pairs(), run_dir=tmp_path)
    assert s["status"] == "diverged", s
    assert s["total_steps"] < 16


# --------------------------------------------------------------------------- data


def test_labels_are_masked_on_prompt_and_padding(tiny_lm: str) -> None:
    trainer = LoRATrainer(config(), model_name=tiny_lm)
    pairs = make_pairs(4)
    examples = trainer.prepare_dataset(pairs)
    tok = trainer.tokenizer
    batch = trainer.collate(examples)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert (labels[mask == 0] == IGNORE_INDEX).all()
    assert (ids[mask == 0] == tok.pad_token_id).all()
    for row, (pair, ex) in enumerate(zip(pairs, examples, strict=True)):
        n = ex["length"]
        supervised = labels[row, :n] != IGNORE_INDEX
        first = int(supervised.nonzero()[0])
        assert supervised[first:].all() and not supervised[:first].any()
        prompt = tok.decode(ids[row, :first])
        answer = tok.decode(labels[row, first:n])
        assert pair["input"] in prompt and pair["output"] not in prompt
        assert answer.startswith(pair["output"]) and answer.rstrip().endswith(tok.eos_token)
        assert (labels[row, first:n] == ids[row, first:n]).all()


def test_padding_is_dynamic_and_batches_grouped_by_length(tiny_lm: str) -> None:
    trainer = LoRATrainer(config(max_seq_length=2048), model_name=tiny_lm)
    examples = trainer.prepare_dataset(make_pairs(64))
    lengths = [e["length"] for e in examples]
    assert max(lengths) < 2048
    batches = trainer.batches(lengths, epoch=0, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(64))
    for b in batches:
        width = trainer.collate([examples[i] for i in b])["input_ids"].shape[1]
        assert width == max(lengths[i] for i in b)

    def padding(bs: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in bs)

    sequential = [list(range(i, i + 4)) for i in range(0, 64, 4)]
    assert padding(batches) < padding(sequential) / 2
    # Shuffled per epoch, reproducible per seed; the longest batch goes first.
    assert batches == trainer.batches(lengths, epoch=0, seed=0)
    assert batches != trainer.batches(lengths, epoch=1, seed=0)
    assert max(lengths[i] for i in batches[0]) == max(lengths)


def test_long_pairs_are_truncated_and_counted(tiny_lm: str, tmp_path: Path) -> None:
    trainer = LoRATrainer(config(max_seq_length=32, num_epochs=1), model_name=tiny_lm)
    pairs = [{"input": f"hi {i}", "output": f"hello {i}"} for i in range(4)] + [
        {"input": "short question", "output": "a very long answer " * 200},
        {"input": "a very long question " * 200, "output": "short answer"},
    ]
    examples = trainer.prepare_dataset(pairs)
    assert trainer.last_stats == {"pairs": 6, "examples": 5, "truncated": 2, "dropped": 1}
    long_answer = examples[-1]
    assert long_answer["truncated"] and long_answer["length"] == 32
    assert all(e["length"] <= 32 for e in examples)
    s = trainer.train(pairs, run_dir=tmp_path)
    assert s["status"] == "completed"
    assert (s["truncated"], s["dropped"], s["train_examples"]) == (2, 1, 5)
    assert RunInfo.load(s["run_dir"]).data["truncated"] == 2
    with pytest.raises(ValueError, match="max_seq_length"):
        trainer.train(pairs[-1:], run_dir=tmp_path)


def test_truncation_of_a_huge_text_is_exact(tiny_lm: str) -> None:
    """The character pre-cut never changes the kept tokens."""
    trainer = LoRATrainer(config(max_seq_length=64), model_name=tiny_lm)
    trainer._ensure_tokenizer()
    text = "    " * 3000 + "end"  # whitespace runs: many characters per token
    full = trainer.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert trainer._encode([text], 64)[0] == full[:65]


def test_held_out_split_reports_eval_loss_per_epoch(tiny_lm: str, tmp_path: Path) -> None:
    records: list[dict] = []
    s = LoRATrainer(config(), model_name=tiny_lm).train(
        make_pairs(), run_dir=tmp_path, eval_fraction=0.25, on_record=records.append
    )
    assert (s["train_examples"], s["eval_examples"]) == (12, 4)
    evals = [r for r in records if r["type"] == "eval"]
    assert [(r["epoch"], r["step"]) for r in evals] == [(1, 3), (2, 6)]
    assert all(math.isfinite(r["eval_loss"]) for r in evals)
    assert s["eval_loss"] == evals[-1]["eval_loss"]


def test_same_seed_same_run(tiny_lm: str, tmp_path: Path) -> None:
    def losses(seed: int) -> list[float]:
        out: list[dict] = []
        LoRATrainer(config(num_epochs=1), model_name=tiny_lm).train(
            make_pairs(8), callback=out.append, run_dir=tmp_path, seed=seed
        )
        return [r["loss"] for r in out]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_a_trainer_can_run_twice_from_the_base_model(tiny_lm: str, tmp_path: Path) -> None:
    trainer = LoRATrainer(config(num_epochs=1), model_name=tiny_lm)
    first: list[dict] = []
    second: list[dict] = []
    a = trainer.train(make_pairs(8), callback=first.append, run_dir=tmp_path)
    b = trainer.train(make_pairs(8), callback=second.append, run_dir=tmp_path)
    assert a["run_id"] != b["run_id"] and b["status"] == "completed"
    assert [r["loss"] for r in first] == [r["loss"] for r in second]
    assert len(list_runs(tmp_path)) == 2


def test_save_every_n_epochs(tiny_lm: str, tmp_path: Path) -> None:
    s = LoRATrainer(config(save_every_n_epochs=2), model_name=tiny_lm).train(
        make_pairs(4), run_dir=tmp_path
    )
    run = Path(s["run_dir"])
    assert not (run / "epoch-1").exists()
    assert (run / "epoch-2" / "adapter_config.json").is_file()


# --------------------------------------------------------------------------- bad input


def test_validate_names_every_problem() -> None:
    assert LoRATrainingConfig().validate() == []
    bad = LoRATrainingConfig(
        lora_rank=0, lora_alpha=0, lora_dropout=1.0, learning_rate=0.0, num_epochs=0,
        batch_size=0, max_seq_length=4, warmup_ratio=1.5, weight_decay=-1,
        max_grad_norm=0, target_modules=[], save_every_n_epochs=0,
    )  # fmt: skip
    problems = bad.validate()
    for name in ("lora_rank", "lora_alpha", "lora_dropout", "learning_rate", "num_epochs",
                 "batch_size", "max_seq_length", "warmup_ratio", "weight_decay",
                 "max_grad_norm", "target_modules", "save_every_n_epochs"):  # fmt: skip
        assert any(p.startswith(name) for p in problems), (name, problems)
    assert len(problems) == 12
    assert LoRATrainingConfig(learning_rate=float("nan")).validate() == [
        "learning_rate must be a finite number (got nan)"
    ]
    assert LoRATrainingConfig(lora_rank=0).validate() == ["lora_rank must be at least 1 (got 0)"]
    assert "lora_rank must be a whole number" in LoRATrainingConfig(lora_rank="8").validate()[0]


def test_invalid_config_is_refused_before_any_work(tiny_lm: str, tmp_path: Path) -> None:
    trainer = LoRATrainer(config(lora_rank=0, learning_rate=-1.0), model_name=tiny_lm)
    with pytest.raises(ValueError, match="lora_rank.*learning_rate"):
        trainer.train(make_pairs(), run_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_empty_data_is_skipped_as_the_spec_shows(tiny_lm: str, tmp_path: Path) -> None:
    summary = LoRATrainer(config(), model_name=tiny_lm).train([], run_dir=tmp_path)
    assert summary == {"status": "skipped", "reason": "no training data"}
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA refusal")
def test_use_4bit_without_cuda_fails_before_work(tiny_lm: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CUDA"):
        LoRATrainer(config(use_4bit=True), model_name=tiny_lm)
    with pytest.raises(ValueError, match="CUDA is not available"):
        LoRATrainer(config(), model_name=tiny_lm, device="cuda")


def test_a_path_that_is_not_a_model_is_named(tiny_lm: str, tmp_path: Path) -> None:
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"\0" * 10)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    runs = tmp_path / "runs"
    for path, why in [
        (not_a_model, "no config.json"),
        (a_file, "is a file"),
        (tmp_path / "missing", "does not exist"),
        (broken, "could not load"),
    ]:
        with pytest.raises(ModelLoadError, match=why) as err:
            LoRATrainer(config(), model_name=str(path)).train(make_pairs(), run_dir=runs)
        assert str(path) in str(err.value)
    assert list_runs(runs) == []


def test_an_output_dir_that_is_not_writable_fails_before_training(
    tiny_lm: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="not writable") as err:
        LoRATrainer(config(), model_name=tiny_lm).train(make_pairs(), run_dir=blocker / "runs")
    assert str(blocker / "runs") in str(err.value)


def test_missing_torch_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"jarvis-tui\[train\]") as err:
        LoRATrainer(LoRATrainingConfig())
    assert INSTALL_HINT in str(err.value)


def test_importing_the_training_modules_does_not_import_torch() -> None:
    probe = (
        "import sys\n"
        "import jarvis_tui.learning.training.lora as lora\n"
        "import jarvis_tui.learning.training.runs\n"
        "import jarvis_tui.learning.training.tinylm\n"
        "cfg = lora.LoRATrainingConfig(); assert cfg.validate() == [], cfg.validate()\n"
        "heavy = {'torch', 'transformers', 'peft', 'tokenizers'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
