"""The CPU fast path's pieces (jarvis_tui.learning.training.cpu_fast): the hand-written
causal attention gives transformers' SDPA results (outputs and gradients, with and without
grouped-query heads, with a right-padded batch whose mask it drops), falls back to SDPA for
what it does not cover, and the numpy dropout keeps 1 − p of the elements, scaled, repeats
under a seed and is the identity in eval mode."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from jarvis_tui.learning.training import cpu_fast  # noqa: E402
from jarvis_tui.learning.training.tinylm import build_tiny_lm  # noqa: E402


class _Module(torch.nn.Module):
    is_causal = True
    num_key_value_groups = 1


def _sdpa(q, k, v, mask=None, scaling=None):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    scale = q.shape[-1] ** -0.5 if scaling is None else scaling
    module = _Module()
    module.num_key_value_groups = q.shape[1] // k.shape[1]
    return sdpa_attention_forward(module, q, k, v, mask, scaling=scale)[0]


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_causal_attention_matches_sdpa_outputs_and_gradients(kv_heads: int) -> None:
    torch.manual_seed(0)
    b, h, s, d = 2, 4, 37, 16
    q = torch.randn(b, h, s, d, dtype=torch.float64, requires_grad=True)
    k = torch.randn(b, kv_heads, s, d, dtype=torch.float64, requires_grad=True)
    v = torch.randn(b, kv_heads, s, d, dtype=torch.float64, requires_grad=True)
    g = torch.randn(b, s, h, d, dtype=torch.float64)
    ours = cpu_fast.causal_attention(_Module(), q, k, v, None, scaling=d**-0.5)[0]
    (ours * g).sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    ref = _sdpa(q, k, v)
    (ref * g).sum().backward()
    assert ours.shape == ref.shape == (b, s, h, d)
    assert torch.allclose(ours, ref, atol=1e-10)
    for mine, theirs in zip(grads, (q.grad, k.grad, v.grad), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-10)


def test_what_it_does_not_cover_goes_to_sdpa() -> None:
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 2, 8, 4) for _ in range(3))
    mask = torch.ones(1, 1, 8, 8, dtype=torch.bool).tril()
    mask[..., 6:] = False  # a padding mask: not what the hand-written path takes
    out = cpu_fast.causal_attention(_Module(), q, k, v, mask, scaling=0.5)[0]
    assert torch.equal(out, _sdpa(q, k, v, mask, scaling=0.5))
    long = [torch.randn(1, 1, cpu_fast.MAX_TOKENS + 1, 4) for _ in range(3)]
    out = cpu_fast.causal_attention(_Module(), *long, None, scaling=0.5)[0]
    assert out.shape == (1, cpu_fast.MAX_TOKENS + 1, 1, 4)


def test_a_right_padded_batch_gives_the_same_loss_and_gradients_without_its_mask(
    tmp_path: Path,
) -> None:
    """What the training loop relies on: with the causal attention installed and the mask
    dropped, the response loss and the adapter's gradients equal SDPA's with the mask."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    from jarvis_tui.learning.training.lora import _response_loss_module

    path = build_tiny_lm(tmp_path / "tiny", seed=0)
    torch.manual_seed(0)
    ids = torch.randint(3, 200, (3, 24))
    mask = torch.ones(3, 24, dtype=torch.long)
    mask[1, 15:] = 0
    mask[2, 9:] = 0
    ids[mask == 0] = 0
    labels = ids.clone()
    labels[:, :5] = -100
    labels[mask == 0] = -100

    def run(install: bool, drop: bool):
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float64, attn_implementation="sdpa", local_files_only=True
        )
        lcfg = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, lora_dropout=0.0,
                          target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # fmt: skip
        torch.manual_seed(3)
        model = get_peft_model(model, lcfg)
        if install:
            assert cpu_fast.install(model)
        net = _response_loss_module(model, drop_mask=drop)
        loss = net(ids, mask, labels, int((labels[:, 1:] != -100).sum()))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        return float(loss), grads

    base_loss, base_grads = run(False, False)
    # the hand-written attention (bf16 runs) and SDPA's is_causal (fp32 runs), no mask
    for install in (True, False):
        fast_loss, fast_grads = run(install, True)
        assert fast_loss == pytest.approx(base_loss, rel=1e-9)
        assert base_grads.keys() == fast_grads.keys() and base_grads
        for name, grad in base_grads.items():
            assert torch.allclose(fast_grads[name], grad, rtol=1e-7, atol=1e-10), name


def test_fast_dropout_keeps_one_minus_p_scaled_and_repeats_under_a_seed() -> None:
    cls = cpu_fast._fast_dropout_cls()
    x = torch.ones(400, 500)
    torch.manual_seed(7)
    drop = cls(0.05)
    out = drop(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.95) < 0.003
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.95))
    torch.manual_seed(7)
    assert torch.equal(cls(0.05)(x), out)  # same seed, same mask
    assert not torch.equal(drop(x), out)  # the next call draws a new mask
    drop.eval()
    assert drop(x) is x


def test_swap_lora_dropout_replaces_peft_dropout_layers(tmp_path: Path) -> None:
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    path = build_tiny_lm(tmp_path / "tiny", seed=0)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8,
                                             lora_dropout=0.1, target_modules=["q_proj"]))  # fmt: skip
    before = sum(1 for m in model.modules() if type(m) is torch.nn.Dropout and m.p == 0.1)
    assert before and cpu_fast.swap_lora_dropout(model) == before
    assert not [m for m in model.modules() if type(m) is torch.nn.Dropout and m.p == 0.1]


def test_in_bf16_the_attention_stays_close_to_fp64_sdpa() -> None:
    """Scores and probabilities in bf16 (as transformers' eager attention has them), the
    softmax and its backward accumulated in fp32: within bf16's own error of fp64."""
    torch.manual_seed(2)
    b, h, s, d = 2, 4, 200, 32
    q64, k64, v64 = (torch.randn(b, h, s, d, dtype=torch.float64) * 2 for _ in range(3))
    g = torch.randn(b, s, h, d, dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in (q64, k64, v64)]
    ref = _sdpa(*leaves)
    (ref * g).sum().backward()
    low = [t.to(torch.bfloat16).requires_grad_() for t in (q64, k64, v64)]
    ours = cpu_fast.causal_attention(_Module(), *low, None, scaling=d**-0.5)[0]
    (ours * g.to(torch.bfloat16)).sum().backward()
    assert ours.dtype == torch.bfloat16

    def rel(a, b):
        return float((a.double() - b).norm() / b.norm())

    assert rel(ours, ref) < 1e-2
    for mine, theirs in zip(low, leaves, strict=True):
        assert rel(mine.grad, theirs.grad) < 2e-2


def _peft_tiny(tmp_path: Path):
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    path = build_tiny_lm(tmp_path / "tiny", seed=0)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    torch.manual_seed(4)
    lcfg = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, lora_dropout=0.0,
                      target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # fmt: skip
    return get_peft_model(model, lcfg)


def test_cast_once_feeds_the_linears_bf16_and_keeps_the_loss(tmp_path: Path) -> None:
    """Under autocast the norm outputs reach q/k/v, the adapters and gate/up already in
    bf16 (one cast, not one per linear); the residual stream stays fp32; the loss and
    the adapter's gradients stay within bf16 error of the run without it."""
    ids = torch.randint(3, 200, (2, 20))

    def run(cast: bool):
        model = _peft_tiny(tmp_path)
        seen: dict[str, torch.dtype] = {}
        if cast:
            assert cpu_fast.cast_once(model) > 0
        for name, module in model.named_modules():
            if name.endswith(("self_attn.q_proj", "mlp.gate_proj", "q_proj.lora_A.default")):
                module.register_forward_pre_hook(
                    lambda m, a, name=name: seen.__setitem__(name.rsplit(".", 3)[-1], a[0].dtype)
                )
        layer = model.get_base_model().model.layers[0]
        layer.register_forward_hook(lambda m, a, out: seen.__setitem__(
            "residual", (out[0] if isinstance(out, tuple) else out).dtype))  # fmt: skip
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        grads = {n: p.grad.float() for n, p in model.named_parameters() if p.requires_grad}
        return float(loss.detach()), grads, seen

    base_loss, base_grads, base_seen = run(False)
    loss, grads, seen = run(True)
    assert base_seen["q_proj"] == torch.float32  # autocast casts it at each linear
    assert seen["q_proj"] == seen["gate_proj"] == torch.bfloat16
    assert seen["default"] == torch.bfloat16  # peft no longer casts it back to fp32
    assert seen["residual"] == base_seen["residual"] == torch.float32
    assert loss == pytest.approx(base_loss, rel=1e-2)
    for name, grad in base_grads.items():
        assert float((grads[name] - grad).norm() / grad.norm()) < 5e-2, name


def test_cast_once_leaves_other_architectures_alone(tmp_path: Path) -> None:
    model = _peft_tiny(tmp_path)
    # Gemma 2's post-attention norm feeds the residual, not a linear
    model.get_base_model().config.model_type = "gemma2"
    assert cpu_fast.cast_once(model) == 0


def test_huge_pages_are_asked_for_before_torch_only(tmp_path: Path) -> None:
    """prefer_huge_pages sets torch's switch where the kernel offers huge pages and torch
    is not imported yet; a user's own setting wins; after torch it only reports."""
    import os
    import subprocess
    import sys

    mode = tmp_path / "enabled"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from jarvis_tui.learning.training import cpu_fast\n"
        f"cpu_fast._THP_MODE = Path({str(mode)!r})\n"
        "if sys.argv[1] == 'torch': import torch\n"
        "print(cpu_fast.prefer_huge_pages(), os.environ.get(cpu_fast.THP_ENV))\n"
    )

    def run(first: str, **env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if k != cpu_fast.THP_ENV}
        out = subprocess.run([sys.executable, "-c", code, first], env={**clean, **env},
                             capture_output=True, text=True, check=True)  # fmt: skip
        return out.stdout.strip()

    mode.write_text("always [madvise] never\n")
    assert run("-") == "True 1"
    assert run("-", THP_MEM_ALLOC_ENABLE="0") == "False 0"  # the user's choice
    assert run("torch") == "False None"  # too late: torch reads it once
    mode.write_text("always madvise [never]\n")
    assert run("-") == "False None"


def test_the_response_loss_under_autocast_gives_autocasts_numbers(tmp_path: Path) -> None:
    """The tied fp32 lm_head is cast to bf16 once and kept, not at each forward: the loss
    and the adapter's gradients are exactly what autocast's own cast gives, step after
    step, and a changed head weight is cast again."""
    from jarvis_tui.learning.training.lora import IGNORE_INDEX, _response_loss_module

    model = _peft_tiny(tmp_path)
    net = _response_loss_module(model)
    base = model.get_base_model()
    ids = torch.randint(3, 200, (2, 16))
    labels = ids.clone()
    labels[:, :6] = IGNORE_INDEX
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())

    def autocast_loss():
        hidden = base.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state
        target = labels[:, 1:]
        keep = target != IGNORE_INDEX
        logits = base.get_output_embeddings()(hidden[:, :-1][keep])
        return torch.nn.functional.cross_entropy(logits.float(), target[keep], reduction="sum") / n

    for step in range(3):
        if step == 2:  # the (frozen) head changes: its cached cast must follow
            with torch.no_grad():
                base.get_output_embeddings().weight.mul_(1.5)
        results = []
        for fn in (lambda: net(ids, None, labels, n), autocast_loss):
            model.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = fn()
            loss.backward()
            grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
            results.append((loss.detach(), grads))
        (mine, my_grads), (theirs, their_grads) = results
        assert torch.equal(mine, theirs), step
        assert all(torch.equal(a, b) for a, b in zip(my_grads, their_grads, strict=True))


def test_fused_rms_norm_gives_the_layers_numbers(tmp_path: Path) -> None:
    """fp32 input: torch's fused rms_norm, the layer's output and gradients to fp32
    rounding; a bf16 input goes to the layer's own forward (its dtype rules)."""
    model = _peft_tiny(tmp_path)
    norms = [m for m in model.modules() if type(m).__name__.endswith("RMSNorm")]
    x = torch.randn(3, 11, norms[0].weight.shape[0], dtype=torch.float32)
    with torch.no_grad():
        norms[0].weight.uniform_(0.5, 1.5)
    before = [norms[0](t) for t in (x, x.to(torch.bfloat16))]
    leaf = x.clone().requires_grad_()
    norms[0](leaf).pow(2).sum().backward()
    grad_before = leaf.grad
    assert cpu_fast.fuse_rms_norms(model) == len(norms) > 0

    def ops(t):
        with torch.profiler.profile() as prof:
            out = norms[0](t)
        return out, {e.key for e in prof.key_averages()}

    (fp32, fp32_ops), (bf16, bf16_ops) = ops(x), ops(x.to(torch.bfloat16))
    leaf = x.clone().requires_grad_()
    norms[0](leaf).pow(2).sum().backward()
    assert "aten::rms_norm" in fp32_ops and "aten::rms_norm" not in bf16_ops
    assert torch.allclose(fp32, before[0], rtol=1e-5, atol=1e-6)
    assert torch.allclose(leaf.grad, grad_before, rtol=1e-4, atol=1e-5)
    assert bf16.dtype == before[1].dtype and torch.equal(bf16, before[1])


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], ["q_proj", "o_proj", "gate_proj"]])
def test_the_last_layer_at_the_response_only_gives_the_same_loss_and_gradients(
    tmp_path: Path, targets: list[str]
) -> None:
    """trim_last (on in training without checkpointing): the last layer's o_proj and
    MLP run at the labelled positions only; the loss and every adapter gradient are
    the full computation's (fp64), with adapters on those very layers too. Outside the
    loss (a plain forward, as generation does) the layer computes every position."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    from jarvis_tui.learning.training.lora import IGNORE_INDEX, _response_loss_module

    path = build_tiny_lm(tmp_path / "tiny", seed=0)
    torch.manual_seed(0)
    ids = torch.randint(3, 200, (3, 20))
    labels = ids.clone()
    labels[:, :7] = IGNORE_INDEX
    labels[1, 15:] = IGNORE_INDEX  # right padding
    labels[2, 1:] = IGNORE_INDEX  # an example with no labelled token at all
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())

    def run(trim: bool):
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float64, local_files_only=True
        )
        lcfg = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, lora_dropout=0.0,
                          target_modules=targets, init_lora_weights=False)  # fmt: skip
        torch.manual_seed(3)
        model = get_peft_model(model, lcfg)
        net = _response_loss_module(model, trim_last=trim)
        assert net.trim_last is trim
        loss = net(ids, None, labels, n)
        loss.backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}
        with torch.no_grad():  # outside the loss: every position, as before
            plain = model.get_base_model().get_decoder()(input_ids=ids).last_hidden_state
        return float(loss), grads, plain

    full_loss, full_grads, full_plain = run(False)
    loss, grads, plain = run(True)
    assert loss == pytest.approx(full_loss, rel=1e-12)
    assert grads.keys() == full_grads.keys()
    assert any(".layers.1." in k for k in grads)  # the tiny LM's last layer has adapters
    for name, grad in full_grads.items():
        assert torch.allclose(grads[name], grad, rtol=1e-9, atol=1e-12), name
    assert torch.equal(plain, full_plain)
