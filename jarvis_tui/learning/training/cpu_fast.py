"""CPU fast path pieces of LoRA training: a causal attention for short sequences, a
cheaper dropout mask, and an allocator setting.

**Attention.** PyTorch's CPU flash-attention kernel is slow backward at the lengths of SFT
pairs (measured on a 2-core AVX-512 machine, batch 4 × 8 heads × 64, bf16, forward +
backward: 13–17 ms at 256 tokens and 43–47 ms at 512, against 5–8 ms and 26–34 ms here).
Here the scores are two batched matmuls in the compute dtype, the softmax accumulated in
fp32 inside its kernel, and a backward written out by hand (dV = PᵀdO, dP = dO·Vᵀ,
dS = P∘(dP − rowsum(dP∘P)), dQ = dS·K, dK = dSᵀ·Q); no s × s tensor is cast. It keeps
the probabilities of a layer (batch × heads × s² in the compute dtype), so it is used only up to :data:`MAX_TOKENS` and only where no mask is needed: the
training loop's batches are right-padded, and under a causal mask a real token never sees
a padding token after it, so the padding mask changes nothing a loss reads. Any call it
does not cover (a mask, attention dropout, a sliding window, a KV cache, longer
sequences) goes to transformers' own SDPA function unchanged. In fp32 it is slower than
the flash kernel above 128 tokens (same machine and shapes, forward + backward: 27 against
21 ms at 256 tokens, 154 against 102 ms at 768), so the training loop installs it for bf16
only; an fp32 run keeps SDPA, without the padding mask all the same (:func:`mask_free`).

**Dropout.** torch's CPU dropout draws one Mersenne-Twister number per element
(``bernoulli_``: 2.3 ms for a 920 × 512 activation, 7–9% of a step at the spec's
``lora_dropout=0.05``). :class:`FastDropout` draws 16 random bits per element from numpy's
PCG64 (0.7 ms with the multiply), seeded from torch's generator so a seeded run repeats;
an element is kept when its 16 bits are ≥ round(p · 65536), so p is exact to 1/65536
(0.05 → 0.050003). Kept elements are scaled by 1/(1 − p), as ``nn.Dropout``.

**Allocator.** glibc returns every freed block above its mmap threshold to the system, so
each step's activations (a few MB each) come back as fresh pages that fault in one by
one: elementwise ops ran 5–30× slower than on reused memory. :func:`keep_freed_memory`
raises the thresholds for the training process (memory is kept for reuse, not returned
after every step).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path
from typing import Any, Optional

NAME = "jarvis_tui_causal_cpu"
"""The attention implementation's name in transformers' registry."""
MAX_TOKENS = 768
"""Longest sequence the hand-written attention takes (its saved probabilities grow as s²)."""

THP_ENV = "THP_MEM_ALLOC_ENABLE"
"""torch's switch for 2 MB-aligned, huge-page-advised CPU tensors of 2 MB and more (read
once, at torch's first allocation)."""
_THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_kept: Optional[bool] = None


def huge_pages_available() -> bool:
    """Whether the kernel gives transparent huge pages to memory that asks (Linux)."""
    try:
        mode = _THP_MODE.read_text()
    except OSError:
        return False
    return "[always]" in mode or "[madvise]" in mode


def prefer_huge_pages() -> bool:
    """Ask torch (:data:`THP_ENV`) to put large CPU tensors on transparent huge pages, in a
    process that is about to train and has not imported torch yet; whether it is on.

    A training step's activations are many MB each; on 4 KB pages every first touch of
    fresh memory is a page fault (~20 µs each in the 2-core VM the benches ran on). torch's
    2 MB-aligned blocks are also the ones glibc reuses after a free. Measured there, a
    fresh process's 200-pair run: 136k faults instead of 511k, but about the same kernel
    time (10.6 against 11.1 s; that VM's cost is per byte first touched) and the same
    tokens/s. A user's own setting of the variable wins."""
    if "torch" not in sys.modules and huge_pages_available():
        os.environ.setdefault(THP_ENV, "1")
    return huge_pages_on()


def huge_pages_on() -> bool:
    """Whether this process's torch puts large tensors on huge pages (:data:`THP_ENV`
    set, and the kernel offers them)."""
    return os.environ.get(THP_ENV) == "1" and huge_pages_available()


def keep_freed_memory() -> bool:
    """Keep freed memory in this process for reuse (glibc ``mallopt``); whether it was set.

    mmap threshold 1 GiB, trim threshold 2 GiB, top pad 64 MiB. Linux with glibc only; a
    no-op elsewhere. Process-wide, so called only in a process that trains."""
    global _kept
    if _kept is not None:
        return _kept
    _kept = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = (
        mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1
        and mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
        and mallopt(_M_TOP_PAD, 64 << 20) == 1
    )
    _kept = bool(ok)
    return _kept


_CHUNK_BYTES = 8 << 20
"""Scores per chunk of heads, at 4 bytes an element (4 MB in bf16): small enough to stay
in the allocator's reused blocks."""


def _chunk(heads: int, s: int) -> int:
    return max(1, min(heads, _CHUNK_BYTES // (4 * s * s)))


def _causal_fn() -> Any:
    import torch

    class CausalAttention(torch.autograd.Function):
        """softmax(Q·Kᵀ·scale + causal) · V over [batch·heads, s, d]; backward by hand.

        The scores are in the inputs' dtype (bf16 under autocast, as transformers' eager
        attention has them); the softmax and its backward accumulate in fp32 inside
        their kernels (torch's CPU softmax does for bf16), so no s × s tensor is ever cast.
        The scale is applied to Q (s × d) forward and to dQ, dK backward, not to scores."""

        @staticmethod
        def forward(ctx: Any, q: Any, k: Any, v: Any, scale: float) -> Any:
            bh, s, _ = q.shape
            bias = torch.full((s, s), float("-inf"), dtype=q.dtype, device=q.device).triu_(1)
            probs = torch.empty((bh, s, s), dtype=q.dtype, device=q.device)
            out = torch.empty_like(q)
            qs = q * scale
            step = _chunk(bh, s)
            for i in range(0, bh, step):
                j = min(bh, i + step)
                scores = torch.baddbmm(bias, qs[i:j], k[i:j].transpose(1, 2))
                probs[i:j] = torch.softmax(scores, dim=-1)
                torch.bmm(probs[i:j], v[i:j], out=out[i:j])
            ctx.save_for_backward(q, k, v, probs)
            ctx.scale = scale
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            q, k, v, probs = ctx.saved_tensors
            grad = grad.to(q.dtype).contiguous()
            bh, s, _ = q.shape
            dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
            step = _chunk(bh, s)
            for i in range(0, bh, step):
                j = min(bh, i + step)
                g, p = grad[i:j], probs[i:j]
                torch.bmm(p.transpose(1, 2), g, out=dv[i:j])
                dp = torch.bmm(g, v[i:j].transpose(1, 2))
                # dS = P∘(dP − rowsum(dP∘P)): one fused kernel, fp32 inside
                ds = torch._softmax_backward_data(dp, p, -1, q.dtype)
                torch.bmm(ds, k[i:j], out=dq[i:j])
                torch.bmm(ds.transpose(1, 2), q[i:j], out=dk[i:j])
            return dq.mul_(ctx.scale), dk.mul_(ctx.scale), dv, None

    return CausalAttention


_FN: Any = None


def causal_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: Optional[float] = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """transformers' attention interface: (output [b, s, heads, d], None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    global _FN
    b, heads, s, d = query.shape
    simple = (
        attention_mask is None
        and not (dropout and module.training)
        and kwargs.get("sliding_window") is None
        and kwargs.get("softcap") is None
        and key.shape[2] == s
        and 1 < s <= MAX_TOKENS
        and getattr(module, "is_causal", True)
        and query.device.type == "cpu"
    )
    if not simple:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    if _FN is None:
        _FN = _causal_fn()
    kv = key.shape[1]
    if kv != heads:  # grouped-query attention: each KV head serves heads // kv queries
        rep = heads // kv
        key = key[:, :, None].expand(b, kv, rep, s, d).reshape(b, heads, s, d)
        value = value[:, :, None].expand(b, kv, rep, s, d).reshape(b, heads, s, d)
    import torch

    # One dtype for the three (rotary embeddings leave Q and K in fp32 under autocast
    # while V is bf16): autocast's, when it is on, as its matmuls would use.
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else value.dtype
    query, key, value = query.to(dtype), key.to(dtype), value.to(dtype)
    scale = float(scaling if scaling is not None else d**-0.5)
    out = _FN.apply(
        query.reshape(b * heads, s, d),
        key.reshape(b * heads, s, d),
        value.reshape(b * heads, s, d),
        scale,
    )
    return out.view(b, heads, s, d).transpose(1, 2).contiguous(), None


def _base(model: Any) -> Any:
    """The transformers model under a peft wrapper (or *model* itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def mask_free(model: Any) -> bool:
    """Whether *model*'s attention is plain causal SDPA (no sliding window), so that a
    right-padded batch needs no padding mask: SDPA then runs with ``is_causal`` (its flash
    kernel) instead of a materialised mask (its math kernel)."""
    base = _base(model)
    cfg = getattr(base, "config", None)
    if cfg is None or getattr(cfg, "_attn_implementation", None) not in ("sdpa", NAME):
        return False
    return not (
        getattr(cfg, "use_sliding_window", False)
        or "sliding_attention" in (getattr(cfg, "layer_types", None) or ())
    )


def install(model: Any) -> bool:
    """Use :func:`causal_attention` in *model* (a transformers model, peft-wrapped or not);
    whether it was installed. Needs transformers' attention registry (≥ 4.48)."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
    except ImportError:
        return False
    if not mask_free(model):
        return False
    base = _base(model)
    cfg = base.config  # mask_free found one
    AttentionInterface.register(NAME, causal_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)
    try:
        base.set_attn_implementation(NAME)
    except Exception:  # an architecture that refuses a custom implementation
        return False
    return getattr(cfg, "_attn_implementation", None) == NAME


def _fast_dropout_cls() -> Any:
    import numpy as np
    import torch

    class FastDropout(torch.nn.Module):
        """``nn.Dropout(p)`` with a mask from numpy's PCG64 (see the module docstring)."""

        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = float(p)
            self._threshold = int(round(self.p * 65536)) - 32768  # on int16 draws
            self._rng: Any = None

        def forward(self, x: Any) -> Any:
            if not self.training or self.p <= 0:
                return x
            if self._rng is None:  # seeded from torch's generator: a seeded run repeats
                seed = int(torch.randint(0, 2**62, (1,)).item())
                self._rng = np.random.default_rng(seed)
            n = x.numel()
            draws = torch.from_numpy(
                self._rng.integers(-32768, 32768, size=n, dtype=np.int16)
            ).view(x.shape)
            keep = (draws >= self._threshold).to(x.dtype).mul_(1.0 / (1.0 - self.p))
            return x * keep

        def extra_repr(self) -> str:
            return f"p={self.p}"

    return FastDropout


def swap_lora_dropout(model: Any) -> int:
    """Replace every ``nn.Dropout`` of *model*'s LoRA layers (peft's ``lora_dropout``) by
    :class:`FastDropout` with the same p; returns how many."""
    import torch

    cls = _fast_dropout_cls()
    n = 0
    for module in model.modules():
        drops = getattr(module, "lora_dropout", None)
        if not isinstance(drops, torch.nn.ModuleDict):
            continue
        for key, drop in list(drops.items()):
            if type(drop) is torch.nn.Dropout and drop.p > 0:
                drops[key] = cls(drop.p)
                n += 1
    return n


CAST_ONCE_TYPES = ("llama", "mistral", "qwen2", "qwen3")
"""Architectures whose ``input_layernorm`` / ``post_attention_layernorm`` feed only the
layer's linears (pre-norm; Gemma's post-attention norm feeds the residual instead)."""
_NORMS = ("input_layernorm", "post_attention_layernorm")


def _autocast_output(module: Any, args: Any, output: Any) -> Any:
    import torch

    if not torch.is_autocast_enabled("cpu"):
        return output
    dtype = torch.get_autocast_dtype("cpu")
    if isinstance(output, torch.Tensor):
        return output.to(dtype) if output.is_floating_point() else output
    if isinstance(output, tuple):  # rotary: (cos, sin)
        return tuple(
            t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t
            for t in output
        )
    return output


def cast_once(model: Any) -> int:
    """Under CPU autocast, cast each decoder layer's norm outputs and the rotary table to
    the autocast dtype once, where autocast would cast the same fp32 tensor for every
    linear it feeds (q, k, v and the q, v adapters; gate and up) and rotary would leave
    Q and K in fp32. The residual stream stays fp32. Forward numbers are the same as
    autocast's casts, except rotary, which runs in bf16 as in a bf16 model; the
    gradients of a norm output's users are summed in bf16 (three or five terms).

    Also turns off peft's cast of an adapter's input back to its fp32 weights' dtype
    (autocast runs the adapter's matmul in bf16 either way). A no-op outside
    :data:`CAST_ONCE_TYPES`; returns the hooks installed."""
    base = _base(model)
    cfg = getattr(base, "config", None)
    if getattr(cfg, "model_type", None) not in CAST_ONCE_TYPES:
        return 0
    n = 0
    for name, module in base.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in _NORMS or type(module).__name__.endswith("RotaryEmbedding"):
            module.register_forward_hook(_autocast_output)
            n += 1
    if n:
        for module in base.modules():
            if hasattr(module, "cast_input_dtype_enabled") and hasattr(module, "lora_A"):
                module.cast_input_dtype_enabled = False
    return n


def fuse_rms_norms(model: Any) -> int:
    """Run *model*'s RMSNorm layers (transformers' ``*RMSNorm`` with ``weight`` and
    ``variance_epsilon``: Llama, Qwen2/3, Mistral …) through torch's fused
    ``rms_norm`` where the input is fp32, as the residual stream is under autocast and
    in fp32 runs: the same x·rsqrt(mean(x²) + eps)·w as one op (on CPU torch composes it
    from fewer passes than the layer's Python: 1.5–2× faster forward + backward on a
    4 × 654 × 512 activation). Any other input goes to the layer's own forward. Returns
    how many layers."""
    import torch

    if not hasattr(torch.nn.functional, "rms_norm"):
        return 0
    n = 0
    for module in model.modules():
        if not type(module).__name__.endswith("RMSNorm"):
            continue
        weight, eps = getattr(module, "weight", None), getattr(module, "variance_epsilon", None)
        if not isinstance(weight, torch.nn.Parameter) or not isinstance(eps, float):
            continue
        module.forward = _fused_rms(module, module.forward, eps)
        n += 1
    return n


def _fused_rms(module: Any, plain: Any, eps: float) -> Any:
    import torch

    rms_norm = torch.nn.functional.rms_norm

    def forward(hidden: Any) -> Any:
        weight = module.weight
        if hidden.dtype == torch.float32 and weight.dtype == torch.float32:
            return rms_norm(hidden, (hidden.shape[-1],), weight, eps)
        return plain(hidden)

    return forward
