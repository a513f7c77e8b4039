"""The training fast path (issue 15): what a run picks on this machine, and says in run.json.

bf16 autocast where the CPU computes bf16 natively (the capability check is forced
both ways here, since CI machines differ), gradient checkpointing only when memory
needs it or after an out of memory, no dropout kernel at ``lora_dropout=0``, the
thread count a UI asks for, and a cancel file in the run folder. All on the offline
tiny LM, a few seconds each.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from jarvis_tui.learning.training import lora  # noqa: E402
from jarvis_tui.learning.training.lora import (  # noqa: E402
    CANCEL_FILE,
    LoRATrainer,
    LoRATrainingConfig,
    usable_cores,
)
from jarvis_tui.learning.training.runs import RUN_FILE, RunInfo  # noqa: E402
from jarvis_tui.learning.training.tinylm import build_tiny_lm  # noqa: E402

LR = 1e-2


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_lm(tmp_path_factory.mktemp("models") / "tiny-lm", seed=0))


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(lora.PRECISION_ENV, raising=False)
    monkeypatch.delenv(lora.THREADS_ENV, raising=False)
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


def pairs(n: int = 16) -> list[dict]:
    return [
        {"input": f"What is {i} plus {i}? Answer briefly.", "output": f"The answer is {2 * i}. " * (1 + i % 4)}
        for i in range(n)
    ]  # fmt: skip


def config(**kw) -> LoRATrainingConfig:
    base = dict(num_epochs=2, batch_size=4, learning_rate=LR, max_seq_length=256, lora_dropout=0.0)
    base.update(kw)
    return LoRATrainingConfig(**base)


def fast_path(summary: dict) -> dict:
    run = json.loads((Path(summary["run_dir"]) / RUN_FILE).read_text())
    return run["config"]["fast_path"]


def losses(summary: dict) -> list[float]:
    lines = (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["type"] == "step"]


# --------------------------------------------------------------------------- precision


def test_a_cpu_without_bf16_falls_back_to_fp32_and_says_so(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lora, "cpu_bf16_supported", lambda: False)
    s = LoRATrainer(config(num_epochs=1), model_name=tiny_lm, device="cpu").train(
        pairs(8), run_dir=tmp_path
    )
    assert s["status"] == "completed"
    fast = fast_path(s)
    assert fast["precision"] == "fp32"
    assert "no native bf16" in fast["precision_why"]
    assert fast["matmul"].split(" (")[0].endswith("fp32")  # "MKL fp32 (probe …)"
    assert s["fast_path"] == fast  # the summary (what the pane shows) says the same


def test_bf16_autocast_where_the_cpu_has_it_tracks_the_fp32_loss_curve(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lora, "cpu_bf16_supported", lambda: True)
    bf16_trainer = LoRATrainer(config(), model_name=tiny_lm, device="cpu")
    bf16 = bf16_trainer.train(pairs(), run_dir=tmp_path / "bf16")
    fp32 = LoRATrainer(config(), model_name=tiny_lm, device="cpu", precision="fp32").train(
        pairs(), run_dir=tmp_path / "fp32"
    )
    assert bf16["status"] == fp32["status"] == "completed"
    assert fast_path(bf16)["precision"] == "bf16" and "natively" in fast_path(bf16)["precision_why"]
    assert fast_path(fp32)["precision"] == "fp32"
    # bf16: the norm outputs and rotary table cast once (cpu_fast.cast_once), said
    assert "bf16: norm outputs and rotary cast once, not per linear" in fast_path(bf16)["notes"]
    assert not [n for n in fast_path(fp32)["notes"] if n.startswith("bf16")]
    # fp32 master weights: the adapter the optimizer updates stays fp32.
    trainable = [p for p in bf16_trainer.model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    a, b = losses(bf16), losses(fp32)
    assert len(a) == len(b) == 8
    assert a[-1] < a[0]  # it learns
    for x, y in zip(a, b, strict=True):
        assert abs(x - y) <= 0.02 * y, (a, b)
    assert abs(bf16["final_loss"] - fp32["final_loss"]) <= 0.02 * fp32["final_loss"]


def test_a_bad_precision_is_refused(tiny_lm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        LoRATrainer(config(), model_name=tiny_lm, precision="fp8")
    monkeypatch.setenv(lora.PRECISION_ENV, "half")
    with pytest.raises(ValueError, match="'half'"):
        LoRATrainer(config(), model_name=tiny_lm)


# --------------------------------------------------------------------------- memory


def test_checkpointing_turns_on_when_memory_needs_it(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lora, "_available_memory", lambda device: 64 * 1024)  # 64 KB free
    trainer = LoRATrainer(config(num_epochs=1), model_name=tiny_lm)
    s = trainer.train(pairs(8), run_dir=tmp_path)
    assert s["status"] == "completed"
    fast = fast_path(s)
    assert fast["checkpointing"] is True and fast["checkpointing_why"].startswith("on: activations")
    assert not [n for n in fast["notes"] if n.startswith("last layer")]
    assert any(getattr(m, "gradient_checkpointing", False) for m in trainer.model.modules())


def test_an_out_of_memory_turns_checkpointing_on_and_retries_once(
    tiny_lm: str, tmp_path: Path
) -> None:
    class OomOnce(LoRATrainer):
        def _apply_lora(self) -> None:
            super()._apply_lora()
            calls = [0]

            def hook(module, args, kwargs):
                calls[0] += 1
                if calls[0] == 2:  # the second step's forward
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

            self.model.get_base_model().get_decoder().register_forward_pre_hook(
                hook, with_kwargs=True
            )

    trainer = OomOnce(config(num_epochs=1), model_name=tiny_lm)
    s = trainer.train(pairs(8), run_dir=tmp_path)
    assert s["status"] == "completed" and s["total_steps"] == 2
    fast = fast_path(s)
    assert fast["checkpointing"] is True
    assert "out of memory at step 2" in fast["checkpointing_why"]
    # the retried and later steps run the last layer whole (a recompute must match)
    assert not [n for n in fast["notes"] if n.startswith("last layer")]
    assert any(getattr(m, "gradient_checkpointing", False) for m in trainer.model.modules())


def test_out_of_memory_again_stops_with_the_reason(tiny_lm: str, tmp_path: Path) -> None:
    class AlwaysOom(LoRATrainer):
        def _apply_lora(self) -> None:
            super()._apply_lora()

            def hook(module, args, kwargs):
                raise torch.OutOfMemoryError("CUDA out of memory")

            self.model.get_base_model().get_decoder().register_forward_pre_hook(
                hook, with_kwargs=True
            )

    s = AlwaysOom(config(num_epochs=1), model_name=tiny_lm).train(pairs(8), run_dir=tmp_path)
    assert s["status"] == "failed" and s["total_steps"] == 0
    info = RunInfo.load(s["run_dir"])
    assert info.status == "failed"
    assert "out of memory on cpu at step 1" in info.message
    assert "even with gradient checkpointing" in info.message and "batch_size" in info.message


# --------------------------------------------------------------------------- kernels, threads


def test_no_dropout_kernel_when_lora_dropout_is_zero(tiny_lm: str, tmp_path: Path) -> None:
    trainer = LoRATrainer(config(num_epochs=1, lora_dropout=0.0), model_name=tiny_lm)
    s = trainer.train(pairs(4), run_dir=tmp_path / "a")
    assert not [m for m in trainer.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert fast_path(s)["lora_dropout"].startswith("off")
    with_dropout = LoRATrainer(config(num_epochs=1, lora_dropout=0.1), model_name=tiny_lm)
    s = with_dropout.train(pairs(4), run_dir=tmp_path / "b")
    drops = [m for m in with_dropout.model.modules() if type(m).__name__ == "FastDropout"]
    assert drops and all(m.p == 0.1 for m in drops)
    assert fast_path(s)["lora_dropout"] == "p=0.1 (numpy PCG64 mask)"


def test_attention_kernel_is_recorded(tiny_lm: str, tmp_path: Path) -> None:
    s = LoRATrainer(config(num_epochs=1), model_name=tiny_lm).train(pairs(4), run_dir=tmp_path)
    # On CPU in bf16: the hand-written causal attention up to 768 tokens, transformers'
    # SDPA above; in fp32 (where it is slower than the flash kernel) SDPA, unmasked.
    if fast_path(s)["precision"] == "bf16":
        assert fast_path(s)["attention"] == "causal bmm up to 768 tokens, sdpa above"
    else:
        assert fast_path(s)["attention"] == "sdpa (causal, no padding mask)"
    s = LoRATrainer(config(num_epochs=1), model_name=tiny_lm, precision="fp32").train(
        pairs(4), run_dir=tmp_path / "fp32"
    )
    assert fast_path(s)["attention"] == "sdpa (causal, no padding mask)"


def test_threads_beside_a_ui_leave_one_core(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    s = LoRATrainer(config(num_epochs=1), model_name=tiny_lm, threads="ui").train(
        pairs(4), run_dir=tmp_path / "ui", callback=lambda r: seen.append(torch.get_num_threads())
    )
    want = max(1, usable_cores() - 1)
    assert fast_path(s)["threads"] == want and set(seen) == {want}
    monkeypatch.setenv(lora.THREADS_ENV, "1")
    s = LoRATrainer(config(num_epochs=1), model_name=tiny_lm).train(
        pairs(4), run_dir=tmp_path / "e"
    )
    assert fast_path(s)["threads"] == 1
    monkeypatch.setenv(lora.THREADS_ENV, "many")
    with pytest.raises(ValueError, match="threads must be"):
        LoRATrainer(config(), model_name=tiny_lm)


# --------------------------------------------------------------------------- cancel file


def test_a_cancel_file_in_the_run_folder_cancels_the_run(tiny_lm: str, tmp_path: Path) -> None:
    def on_step(rec: dict) -> None:
        if rec["step"] == 1:
            (next(p for p in tmp_path.iterdir() if p.is_dir()) / CANCEL_FILE).touch()

    s = LoRATrainer(config(), model_name=tiny_lm).train(
        pairs(), run_dir=tmp_path, callback=on_step, stop=threading.Event()
    )
    assert s["status"] == "cancelled" and s["total_steps"] == 1
    assert (Path(s["run_dir"]) / "final" / "adapter_config.json").is_file()


# --------------------------------------------------------------------------- loss


def test_logits_only_at_response_tokens_give_the_model_losses(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loss from the response positions' hidden states alone (no lm_head, no logits
    for prompt and padding) is the model's own loss, step by step, and run.json says so."""
    cfg = config(num_epochs=2, lora_dropout=0.0)
    fast = LoRATrainer(cfg, model_name=tiny_lm, precision="fp32").train(
        pairs(12), run_dir=tmp_path / "fast"
    )
    assert fast_path(fast)["loss"].startswith("logits at the response tokens only")
    trimmed = "last layer: o_proj and MLP at the response tokens only"
    assert trimmed in fast_path(fast)["notes"]  # no checkpointing here: the loss is unchanged
    monkeypatch.setattr(lora, "response_loss_plan", lambda model: (False, "every token"))
    full = LoRATrainer(cfg, model_name=tiny_lm, precision="fp32").train(
        pairs(12), run_dir=tmp_path / "full"
    )
    assert fast_path(full)["loss"] == "every token"
    a, b = losses(fast), losses(full)
    assert len(a) == len(b) == 6
    assert a == pytest.approx(b, rel=1e-4)
    assert fast["final_loss"] == pytest.approx(full["final_loss"], rel=1e-4)


def test_a_model_with_its_own_loss_shape_keeps_every_logit(tiny_lm: str) -> None:
    """A model type not known to be lm_head(hidden) + shifted cross-entropy is left to its own loss."""
    trainer = LoRATrainer(config(), model_name=tiny_lm)
    trainer._load_model()
    trainer._apply_lora()
    ok, why = lora.response_loss_plan(trainer.model)
    assert ok and "response tokens only" in why
    trainer.model.get_base_model().config.final_logit_softcapping = 30.0
    ok, why = lora.response_loss_plan(trainer.model)
    assert not ok and "final_logit_softcapping" in why


# --------------------------------------------------------------------------- matmul kernel


@pytest.mark.skipif(not lora.onednn_linear_available(), reason="this torch has no oneDNN linear")
def test_frozen_linears_through_onednn_train_as_through_blas(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fp32 on CPU: the frozen linears through oneDNN give BLAS's loss curve, and run.json
    says which kernel ran (the env var forces it; by default a probe picks the faster)."""
    monkeypatch.setattr(lora, "cpu_bf16_supported", lambda: False)
    cfg = config(num_epochs=2)
    runs = {}
    for kernel in ("onednn", "blas"):
        monkeypatch.setenv(lora.MATMUL_ENV, kernel)
        runs[kernel] = LoRATrainer(cfg, model_name=tiny_lm, device="cpu").train(
            pairs(12), run_dir=tmp_path / kernel
        )
        assert runs[kernel]["status"] == "completed"
    assert fast_path(runs["onednn"])["matmul"].startswith("oneDNN fp32")
    assert not fast_path(runs["blas"])["matmul"].startswith("oneDNN")
    assert losses(runs["onednn"]) == pytest.approx(losses(runs["blas"]), rel=1e-4)
    monkeypatch.delenv(lora.MATMUL_ENV)
    auto = LoRATrainer(cfg, model_name=tiny_lm, device="cpu").train(pairs(4), run_dir=tmp_path)
    assert "probe" in fast_path(auto)["matmul"]  # the figures it chose by are recorded


@pytest.mark.skipif(not lora.onednn_linear_available(), reason="this torch has no oneDNN linear")
@pytest.mark.parametrize("free", [1 << 40, 0], ids=["transposed-kept", "no-memory-for-it"])
def test_a_frozen_linear_through_onednn_gives_blas_gradients(free: int) -> None:
    """The input gradient of a routed frozen linear is BLAS's, whether the layer keeps a
    transposed copy of its weight (memory allows) or BLAS reads the weight in place; a
    weight changed in place after the copy was made is read again, not the stale copy."""
    import torch

    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Linear(24, 40), torch.nn.Linear(40, 16, bias=False))
    for p in plain.parameters():
        p.requires_grad_(False)
    routed = copy.deepcopy(plain)
    assert lora.route_frozen_linears_to_onednn(routed, free_bytes=free) == 2

    def grad_of(model: Any, x: Any) -> Any:
        x = x.clone().requires_grad_(True)
        (model(x) ** 2).sum().backward()
        return x.grad

    x = torch.randn(3, 7, 24)
    assert torch.allclose(grad_of(routed, x), grad_of(plain, x), rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # e.g. an adapter merged into the base weight
        plain[1].weight.mul_(-2.0)
        routed[1].weight.mul_(-2.0)
    assert torch.allclose(grad_of(routed, x), grad_of(plain, x), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not lora.onednn_linear_available(), reason="this torch has no oneDNN linear")
def test_a_second_run_in_a_process_keeps_the_kernel_the_first_picked(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the probe's two kernels are within noise (oneDNN and MKL on AMD Zen 3), a
    rerun of the same shape must not flip kernels: its losses must repeat exactly."""
    monkeypatch.setattr(lora, "cpu_bf16_supported", lambda: False)
    monkeypatch.delenv(lora.MATMUL_ENV, raising=False)
    monkeypatch.setattr(lora, "_MATMUL_PICKS", {})
    figures = iter([(100.0, 120.0), (120.0, 100.0)])  # (BLAS, oneDNN): the second disagrees
    monkeypatch.setattr(lora, "probe_matmul", lambda *a, **k: next(figures))
    trainer = LoRATrainer(config(), model_name=tiny_lm, device="cpu")
    first = trainer.train(pairs(8), run_dir=tmp_path)
    second = trainer.train(pairs(8), run_dir=tmp_path)
    assert fast_path(first)["matmul"].startswith("oneDNN fp32")
    assert fast_path(second)["matmul"] == fast_path(first)["matmul"]
    assert losses(second) == losses(first)


def test_an_unknown_matmul_kernel_is_refused(
    tiny_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lora, "cpu_bf16_supported", lambda: False)
    monkeypatch.setenv(lora.MATMUL_ENV, "fastest")
    with pytest.raises(ValueError, match=lora.MATMUL_ENV):
        LoRATrainer(config(), model_name=tiny_lm, device="cpu").train(pairs(4), run_dir=tmp_path)


def test_the_summary_says_one_thread_in_the_singular() -> None:
    """W3 35: `fast_path: fp32 · no checkpointing · sdpa · 1 threads`."""
    from jarvis_tui.learning.training.lora import FastPath

    one, two = FastPath(), FastPath()
    one.threads, two.threads = 1, 2
    assert one.summary().endswith("· 1 thread") and two.summary().endswith("· 2 threads")
