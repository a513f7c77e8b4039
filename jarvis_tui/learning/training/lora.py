"""LoRATrainer — fine-tune a local causal LM with LoRA adapters from SFT pairs.

The spec's names and defaults (:class:`LoRATrainingConfig`, :class:`LoRATrainer`
with ``prepare_dataset`` and ``train``). Importing this module imports neither
torch nor transformers nor peft: :class:`LoRATrainingConfig` works without them,
and :class:`LoRATrainer` raises :class:`ImportError` with the install hint when
they are missing.

Differences from the reference, on purpose:

* **Loss on the response only.** Prompt and response are tokenised separately;
  prompt tokens and padding get label ``-100``. The reference uses
  ``labels=input_ids`` on sequences padded to 2,048, so at its default length
  about 90% of its loss is padding.
* **Dynamic padding, length-grouped batches.** Examples are token-id lists;
  each batch is padded to its longest member, and batches are formed from
  examples of similar length (shuffled each epoch with the seed). Tensors exist
  for one batch at a time, so memory follows the batch, not the data.
* **Truncation is counted.** A pair longer than ``max_seq_length`` is cut at
  the right (as the reference's ``truncation=True``); the count is reported, and
  a pair with no response token left is dropped (and counted) rather than
  trained on with an empty loss.
* **The config is honoured**: linear warmup over ``warmup_ratio`` of the steps
  then cosine decay; ``max_grad_norm`` clipping; ``weight_decay`` on weight
  matrices only (AdamW parameter groups); ``gradient_checkpointing`` with
  input grads enabled so it works under peft. Weights are float32 on CPU/MPS,
  bf16 on a CUDA device that supports it.
* **Observable and stoppable**: a per-step callback, a stop event (the current
  step finishes, the adapter is saved, status ``cancelled``), NaN/inf loss stops
  the run as ``diverged``, an optional held-out split gives an eval loss per
  epoch, and every run writes a run folder (see
  :mod:`jarvis_tui.learning.training.runs`) that another process can follow.
* **Offline**: models load with ``local_files_only=True``; *model_name* is a
  local model folder, or a Hugging Face id (default the spec's ``Qwen/Qwen3-0.6B``)
  that is resolved in the local Hugging Face cache (``huggingface_hub``'s snapshot
  lookup with ``local_files_only``); an id that is not there fails with one line
  naming ``--model`` and the workspace's tiny model. The CLI and the Training pane
  default to that tiny model, not to this id.
* ``train([])`` returns ``{"status": "skipped", "reason": "no training data"}`` as the
  spec does (before any other check), instead of failing.
* Bad input raises before any work: invalid config, no data, a path that is not
  a model, an output dir that cannot be written, ``use_4bit`` without CUDA.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import math
import os
import random
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from jarvis_tui.paths import DIR_MODE, FILE_MODE, ensure_dir

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'jarvis-tui[train]'"
IGNORE_INDEX = -100
DEFAULT_MODEL = "Qwen/Qwen3-0.6B"

# Texts are cut to this many characters per allowed token before tokenising (a
# 2 MB log should not be tokenised whole to keep 2,048 tokens); if the cut text
# yields too few tokens it is tokenised again whole, so the result is exact.
_CHARS_PER_TOKEN_CAP = 32
_TOKENIZE_CHUNK = 256
_MEGABATCH = 32
"""Batches are length-sorted within windows of this many batches (as HF's LengthGroupedSampler)."""

StepCallback = Callable[[Dict[str, Any]], None]


def has_torch() -> bool:
    """Whether torch, transformers and peft are installed (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "peft"))


# Kept for code written against the reference (``from ...lora import HAS_TORCH``).
HAS_TORCH = has_torch()


def _select_device(hint: Optional[str] = None) -> str:
    """Explicit *hint* (``"auto"`` counts as none) > cuda > mps > cpu."""
    if hint not in (None, "", "auto"):
        return str(hint)
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


# ---------------------------------------------------------------------------
# The fast path: precision, checkpointing, attention, threads (issue 15)
# ---------------------------------------------------------------------------

PRECISION_ENV = "JARVIS_TUI_TRAIN_PRECISION"
"""``auto`` (default), ``bf16`` or ``fp32``: overrides the trainer's *precision*."""
THREADS_ENV = "JARVIS_TUI_TRAIN_THREADS"
"""A thread count, or ``ui``: all usable cores but one (set while a UI shares the machine)."""
CANCEL_FILE = "cancel"
"""A file of this name in a live run folder cancels the run at the next step (every rank)."""
PRECISIONS = ("auto", "bf16", "fp32")
MATMUL_ENV = "JARVIS_TUI_TRAIN_MATMUL"
"""``auto`` (default: the faster of the two in a short probe at the run's start),
``onednn`` or ``blas``: the kernel of the frozen fp32 linears on CPU."""
MATMULS = ("auto", "onednn", "blas")
# oneDNN must beat the BLAS (MKL) matmul by this much in the probe to be picked.
_ONEDNN_MARGIN = 1.05


def onednn_linear_available() -> bool:
    """Whether torch has oneDNN's dense linear op (``torch.ops.mkldnn._linear_pointwise``)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available()) and hasattr(
            torch.ops.mkldnn, "_linear_pointwise"
        )
    except Exception:  # pragma: no cover - a build without the op namespace
        return False


def _onednn_mm(x: Any, weight: Any, bias: Any = None) -> Any:
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def probe_matmul(rows: int, inner: int, outer: int, *, rounds: int = 3) -> tuple[float, float]:
    """(BLAS, oneDNN) GFLOP/s of ``x @ Wᵀ`` for x rows×inner and W outer×inner, fp32,
    at this process's thread count: medians of *rounds* interleaved timings."""
    import statistics

    import torch

    gen = torch.Generator().manual_seed(0)  # not torch's global one: a seeded run's draws
    x, w = torch.randn(rows, inner, generator=gen), torch.randn(outer, inner, generator=gen)
    flops = 2.0 * rows * inner * outer
    kernels: tuple[Callable[..., Any], ...] = (torch.nn.functional.linear, _onednn_mm)
    times: List[List[float]] = [[], []]
    for fn in kernels:
        fn(x, w)  # first call: allocation, oneDNN's primitive cache
    for _ in range(rounds):
        for i, fn in enumerate(kernels):
            t0 = time.perf_counter()
            fn(x, w)
            fn(x, w)
            times[i].append((time.perf_counter() - t0) / 2)
    blas, dnn = (flops / max(statistics.median(t), 1e-9) / 1e9 for t in times)
    return blas, dnn


_ONEDNN_LINEAR: Any = None


def _onednn_linear_fn() -> Any:
    """The autograd function of a frozen linear through oneDNN (built once, on first use)."""
    global _ONEDNN_LINEAR
    if _ONEDNN_LINEAR is None:
        import torch

        class OneDNNFrozenLinear(torch.autograd.Function):
            """y = x Wᵀ + b with W (and b) frozen: only x gets a gradient, g·W. With *wt*
            (W transposed, contiguous, kept by the layer) that is oneDNN too; without it,
            BLAS's matmul, which reads W transposed in place (oneDNN would need the copy:
            0.2–2 ms per layer and step on the 30M model, 10 ms for its tied lm_head)."""

            @staticmethod
            def forward(ctx: Any, x: Any, weight: Any, bias: Any, wt: Any) -> Any:
                ctx.save_for_backward(weight if wt is None else wt)
                ctx.transposed = wt is not None
                return _onednn_mm(x, weight, bias)

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                (w,) = ctx.saved_tensors
                gx = None
                if ctx.needs_input_grad[0]:
                    gx = _onednn_mm(grad.contiguous(), w) if ctx.transposed else grad @ w
                return gx, None, None, None

        _ONEDNN_LINEAR = OneDNNFrozenLinear
    return _ONEDNN_LINEAR


_WT = "_jarvis_weight_t"
"""Attribute of a routed layer holding (weight, its version, weight transposed)."""


def _onednn_forward(self: Any, x: Any) -> Any:
    if x.dtype != self.weight.dtype or x.device.type != "cpu":  # autocast, another device
        import torch

        return torch.nn.functional.linear(x, self.weight, self.bias)
    w, wt = self.weight, None
    kept = getattr(self, _WT, None)
    if kept is not None:  # None: no memory for a copy, BLAS reads W in place
        if kept[0] is not w or kept[1] != w._version:  # the weight changed since
            kept = _transposed(w)
            setattr(self, _WT, kept)
        wt = kept[2]
    return _onednn_linear_fn().apply(x, w, self.bias, wt)


def _transposed(w: Any) -> tuple[Any, int, Any]:
    return (w, w._version, w.detach().t().contiguous())


_MATMUL_PICKS: Dict[tuple[int, int, int, int], str] = {}
"""The fp32 kernel picked per (rows, hidden, intermediate, threads) in this process."""

_TRANSPOSED_SHARE = 0.25
"""Transposed copies of the frozen weights are kept when they fit in this share of the
memory free at the start of a run."""


def route_frozen_linears_to_onednn(model: Any, *, free_bytes: Optional[int] = None) -> int:
    """Frozen fp32 CPU ``nn.Linear`` layers of *model* compute through oneDNN (forward and
    input gradient); trainable ones and the adapter's are left alone. Returns the count.

    The input gradient needs W transposed: each layer keeps a contiguous transposed copy
    (made here, remade if the weight changes) when all of them fit in
    :data:`_TRANSPOSED_SHARE` of *free_bytes* (free memory now, when not given); else the
    input gradient goes through BLAS, which reads W transposed without a copy."""
    import types

    import torch

    layers = []
    for module in model.modules():
        if type(module) is not torch.nn.Linear:
            continue
        w, b = module.weight, module.bias
        if w.requires_grad or w.dtype != torch.float32 or w.device.type != "cpu":
            continue
        if b is not None and (b.requires_grad or b.dtype != torch.float32):
            continue
        layers.append(module)
    # A weight shared by two layers (a tied lm_head is the embedding) is counted once.
    size = sum({id(m.weight): m.weight.numel() * 4 for m in layers}.values())
    free = _available_memory("cpu") if free_bytes is None else free_bytes
    keep = free is not None and size <= _TRANSPOSED_SHARE * free
    for module in layers:
        setattr(module, _WT, _transposed(module.weight) if keep else None)
        module.forward = types.MethodType(_onednn_forward, module)  # type: ignore[method-assign]
    return len(layers)


# Activations may use this share of the memory that is free when the run starts;
# beyond it, gradient checkpointing is turned on (it recomputes each block in the
# backward pass: ~30% more compute for a fraction of the activation memory).
_ACTIVATION_SHARE = 0.5


def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX on x86, BF16 on Arm).

    Without it bf16 matmuls are emulated and slower than fp32, so ``auto`` picks fp32.
    """
    import platform

    import torch

    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        fn = getattr(cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except Exception:  # pragma: no cover - a probe missing on this build
            pass
    if platform.machine().lower() in ("aarch64", "arm64"):
        try:
            flags = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
        return any(line.startswith("Features") and " bf16" in line for line in flags.splitlines())
    return False


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: Any, *, local_world: int = 1) -> Optional[int]:
    """The torch thread count for a run: *threads* (an int, ``"ui"``, or None for
    :data:`THREADS_ENV`, then the default); ``"ui"`` is all usable cores but one,
    shared among the ranks of this machine. None: leave torch's default."""
    if threads is None:
        threads = os.environ.get(THREADS_ENV) or None
    cores = usable_cores()
    if threads is None:
        return max(1, cores // local_world) if local_world > 1 else None
    if isinstance(threads, str):
        if threads.strip().lower() == "ui":
            return max(1, (cores - 1) // max(1, local_world))
        try:
            threads = int(threads)
        except ValueError:
            raise ValueError(f"threads must be a whole number or 'ui' (got {threads!r})") from None
    if not _is_int(threads) or threads < 1:
        raise ValueError(f"threads must be a whole number of at least 1 (got {threads!r})")
    return int(threads)


def _available_memory(device: str) -> Optional[int]:
    """Bytes free for this run on *device* now (None when unknown)."""
    if device.startswith("cuda"):
        import torch

        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except Exception:
            return None
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def activation_bytes(model_config: Any, batch: int, seq: int, *, bytes_per: int) -> int:
    """Activation memory of one training step without checkpointing, estimated.

    Per layer ``s·b·h·(17 + 2.5·a·s/h)`` values (Korthikanti et al. 2022, in values
    rather than fp16 bytes), plus the logits, their fp32 copy and gradient.
    """
    h = int(getattr(model_config, "hidden_size", 0) or 0)
    layers = int(getattr(model_config, "num_hidden_layers", 0) or 0)
    heads = int(getattr(model_config, "num_attention_heads", 1) or 1)
    vocab = int(getattr(model_config, "vocab_size", 0) or 0)
    inter = int(getattr(model_config, "intermediate_size", 4 * h) or 4 * h)
    per_layer = seq * batch * (h * 13 + inter * 4 + 2.5 * heads * seq)
    logits = batch * seq * vocab * (bytes_per + 4 + 4)
    return int(per_layer * layers * bytes_per + logits)


@dataclass
class FastPath:
    """What a run picked to go fast, and why; written to run.json's ``config.fast_path``."""

    precision: str = "fp32"
    """``bf16`` (autocast, fp32 master weights for the adapter) or ``fp32``."""
    precision_why: str = ""
    checkpointing: bool = False
    checkpointing_why: str = ""
    attention: str = ""
    """The attention kernel transformers uses (``sdpa``, ``flash_attention_2``, ``eager``)."""
    matmul: str = ""
    lora_dropout: str = ""
    loss: str = ""
    """Where the logits are computed: only at the response tokens (the loss's), or every token."""
    threads: Optional[int] = None
    world_size: int = 1
    notes: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line for a status bar: ``bf16 · no checkpointing · sdpa · 2 threads``."""
        parts = [self.precision, "checkpointing" if self.checkpointing else "no checkpointing"]
        if self.attention:
            parts.append(self.attention)
        if self.threads:
            parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        if self.world_size > 1:
            parts.append(f"{self.world_size} ranks")
        return " · ".join(parts)


def _pick_precision(device: str, requested: str) -> tuple[str, str]:
    """(``bf16`` | ``fp32``, why) for *device* and the *requested* precision."""
    import torch

    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} (got {requested!r})")
    if device.startswith("cuda"):
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if requested == "fp32":
            return "fp32", "fp32 requested"
        if ok:
            return "bf16", "this GPU supports bf16"
        return "fp32", "this GPU has no bf16: fp32"
    if device == "cpu":
        native = cpu_bf16_supported()
        if requested == "fp32":
            return "fp32", "fp32 requested"
        if requested == "bf16":
            why = "bf16 requested" + ("" if native else " (emulated: this CPU has no native bf16)")
            return "bf16", why
        if native:
            return "bf16", "this CPU computes bf16 natively (AVX512-BF16/AMX/Arm BF16)"
        return "fp32", "this CPU has no native bf16 (no AVX512-BF16 or AMX): fp32"
    if requested == "bf16":
        return "bf16", "bf16 requested"
    return "fp32", f"fp32 on {device}"


# ---------------------------------------------------------------------------
# Several processes: torch.distributed (issue 16)
# ---------------------------------------------------------------------------


@dataclass
class DistInfo:
    """This process's place in a torch.distributed job (torchrun / accelerate launch)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_from_env(env: Optional[Dict[str, str]] = None) -> DistInfo:
    """Read RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE (set by torchrun and accelerate)."""
    values: Mapping[str, str] = os.environ if env is None else env

    def num(key: str, default: int) -> int:
        try:
            return int(values.get(key, default))
        except (TypeError, ValueError):
            return default

    world = num("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo()
    return DistInfo(
        rank=num("RANK", 0),
        world=world,
        local_rank=num("LOCAL_RANK", 0),
        local_world=num("LOCAL_WORLD_SIZE", world),
    )


class RankFailed(RuntimeError):
    """Another rank failed while setting up or during training."""


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No tqdm bars or info logs from transformers (they would land in the TUI or CLI)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _enable_checkpointing(model: Any) -> None:
    """Non-reentrant gradient checkpointing on *model* (a transformers or peft model)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    kw = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):
        base.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
    # With frozen embeddings nothing upstream of the first block needs a
    # gradient; this keeps checkpointed blocks in the graph under peft.
    base.enable_input_require_grads()


class ModelLoadError(ValueError):
    """*model_name* is not a loadable local model (the message names the path)."""


# Causal LMs whose forward is exactly ``logits = lm_head(decoder(...).last_hidden_state)``
# then the shifted cross-entropy (no soft-capping, logit scaling or auxiliary loss), so
# the loss can be computed from the response positions' hidden states alone.
_PLAIN_HEAD_MODELS = frozenset({"qwen2", "qwen3", "llama", "mistral"})


def response_loss_plan(model: Any) -> tuple[bool, str]:
    """(whether *model* can compute logits at the response tokens only, why) for a peft model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(base, "config", None)
    kind = str(getattr(cfg, "model_type", "") or "")
    if kind not in _PLAIN_HEAD_MODELS:
        return False, f"logits at every token (the model's own loss: {kind or 'unknown'} model)"
    for attr in ("final_logit_softcapping", "logit_scale", "logits_scaling"):
        if getattr(cfg, attr, None) not in (None, 1, 1.0):
            return False, f"logits at every token (the model's own loss: {attr} is set)"
    if not (hasattr(base, "get_decoder") and base.get_output_embeddings() is not None):
        return False, "logits at every token (the model's own loss: no separate decoder/head)"
    return True, "logits at the response tokens only (prompt and padding positions skipped)"


def _rows_only(plain: Any, rows: List[Any]) -> Any:
    """*plain* (a module's forward on ``[batch, seq, features]``) computed at the flat
    positions ``rows[0]`` only, while one is set and the input has ``rows[1]`` positions;
    the other positions' outputs are zeros. Any other call goes to *plain* unchanged."""

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        idx = rows[0]
        if idx is None or x.dim() != 3 or x.shape[0] * x.shape[1] != rows[1]:
            return plain(x, *args, **kwargs)
        flat = x.reshape(-1, x.shape[-1])
        y = plain(flat.index_select(0, idx), *args, **kwargs)
        out = y.new_zeros(flat.shape[0], y.shape[-1]).index_copy(0, idx, y)
        return out.view(x.shape[0], x.shape[1], y.shape[-1])

    return forward


def _trim_last_layer(base: Any, rows: List[Any]) -> bool:
    """Route the last decoder layer's attention output projection and MLP through
    :func:`_rows_only`; whether the layer has them (Llama-style ``self_attn.o_proj`` and
    ``mlp``)."""
    layers = getattr(base.get_decoder(), "layers", None)
    if not layers:
        return False
    last = layers[-1]
    o_proj = getattr(getattr(last, "self_attn", None), "o_proj", None)
    mlp = getattr(last, "mlp", None)
    if o_proj is None or mlp is None:
        return False
    for module in (o_proj, mlp):
        module.forward = _rows_only(module.forward, rows)
    return True


_TRIMMED_NOTE = "last layer: o_proj and MLP at the response tokens only"


def _response_loss_module(model: Any, *, drop_mask: bool = False, trim_last: bool = False) -> Any:
    """A module whose forward is the loss of *model* (a peft causal LM) computed from the
    hidden states of the positions that have a label: the lm_head matmul, the fp32
    logits and their log-softmax are skipped for prompt and padding tokens (half the
    tokens of a typical SFT pair). Same sum-over-tokens / *num_items_in_batch* as
    transformers' ``ForCausalLMLoss``; wrapping it in DDP syncs the adapter as before.
    *drop_mask*: the batches are right-padded and the attention is causal, so the padding
    mask is not passed (a real token never attends to the padding after it).
    *trim_last*: the last decoder layer's o_proj and MLP run at those positions only (at
    any other position its output reaches nothing the loss reads; its keys and values,
    which later queries do read, are computed everywhere as before). The module's
    ``trim_last`` says whether that is on; it must be turned off before gradient
    checkpointing is (the recomputed layer would not match the saved one)."""
    import torch

    class ResponseLoss(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self._head_low: Optional[tuple[Any, int, Any]] = None
            self._rows: List[Any] = [None, 0]
            self.trim_last = trim_last and _trim_last_layer(inner.get_base_model(), self._rows)

        def head(self, hidden: Any) -> Any:
            """The lm_head on *hidden*. A frozen fp32 head under autocast (a tied one:
            the embedding matrix stays fp32) is cast to the autocast dtype once and kept
            (vocab × hidden in bf16: 8 MB for the 30M model's 8k vocab), not at every
            forward; kept while the weight is unchanged (the same tensor, version)."""
            head = self.inner.get_base_model().get_output_embeddings()
            w = getattr(head, "weight", None)
            kind = hidden.device.type
            if (
                type(head) is not torch.nn.Linear
                or w is None
                or w.requires_grad
                or w.dtype != torch.float32
                or not torch.is_autocast_enabled(kind)
            ):
                return head(hidden)
            dtype = torch.get_autocast_dtype(kind)
            low = self._head_low
            if low is None or low[0] is not w or low[1] != w._version or low[2].dtype != dtype:
                low = self._head_low = (w, w._version, w.detach().to(dtype))
            bias = None if head.bias is None else head.bias.to(dtype)
            return torch.nn.functional.linear(hidden.to(dtype), low[2], bias)

        def forward(
            self, input_ids: Any, attention_mask: Any, labels: Any, num_items_in_batch: int
        ) -> Any:
            base = self.inner.get_base_model()
            target = labels[:, 1:]
            keep = target != IGNORE_INDEX
            if self.trim_last:
                at = torch.nn.functional.pad(keep, (0, 1))  # the last position has no target
                self._rows[:] = [at.reshape(-1).nonzero().squeeze(1), at.numel()]
            try:
                hidden = base.get_decoder()(
                    input_ids=input_ids,
                    attention_mask=None if drop_mask else attention_mask,
                    use_cache=False,
                ).last_hidden_state
            finally:
                self._rows[:] = [None, 0]
            logits = self.head(hidden[:, :-1][keep])
            loss = torch.nn.functional.cross_entropy(
                logits.float(), target[keep], ignore_index=IGNORE_INDEX, reduction="sum"
            )
            return loss / num_items_in_batch

    return ResponseLoss(model)


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass
class LoRATrainingConfig:
    """Configuration for LoRA / QLoRA fine-tuning (the spec's fields and defaults)."""

    # LoRA params
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: List[str] = field(default_factory=lambda: ["q_proj", "v_proj"])

    # Training params
    num_epochs: int = 3
    batch_size: int = 4
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_seq_length: int = 2048

    # QLoRA
    use_4bit: bool = False

    # Output
    output_dir: str = "checkpoints/lora"
    save_every_n_epochs: int = 1

    # Memory
    gradient_checkpointing: bool = True

    def validate(self) -> List[str]:
        """Every problem with these values, as sentences a form can show; ``[]`` if none.

        Unlike the reference (which raises in ``__post_init__`` for two fields),
        construction never fails, so a form can build a config and show all
        problems at once. :meth:`LoRATrainer.train` refuses an invalid config. The
        numbers are checked against :mod:`~jarvis_tui.learning.training.settings`,
        the schema the Training form and ``jarvis-tui train`` use too.
        """
        from jarvis_tui.learning.training.settings import SETTINGS

        p: List[str] = []
        for s in SETTINGS:
            if s.on_config:
                problem = s.check(getattr(self, s.name))
                if problem:
                    p.append(f"{s.name} {problem}")
        mods = self.target_modules
        if (
            isinstance(mods, str)
            or not isinstance(mods, (list, tuple))
            or not mods
            or not all(isinstance(m, str) and m.strip() for m in mods)
        ):
            p.append(f"target_modules must be a non-empty list of module names (got {mods!r})")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir).strip():
            p.append(f"output_dir must be a directory path (got {self.output_dir!r})")
        for name in ("use_4bit", "gradient_checkpointing"):
            if not isinstance(getattr(self, name), bool):
                p.append(f"{name} must be true or false (got {getattr(self, name)!r})")
        return p

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["target_modules"] = list(self.target_modules)
        d["output_dir"] = str(self.output_dir)
        return d


# ---------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Learning rate for 0-based *step*: linear warmup over *warmup* steps, then cosine to 0."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


class LoRATrainer:
    """Fine-tune a local causal LM with LoRA (or QLoRA) adapters.

    Parameters
    ----------
    config:
        LoRA training configuration.
    model_name:
        A local Hugging Face model folder, or a model id already in the local
        cache (nothing is downloaded); default the spec's ``Qwen/Qwen3-0.6B``.
        ``None`` means that default too.
    device:
        PyTorch device string. ``None`` auto-detects (cuda > mps > cpu). Under
        torchrun / accelerate launch a CUDA run takes ``cuda:<LOCAL_RANK>``.
    precision:
        ``auto`` (default; :data:`PRECISION_ENV` overrides it): bf16 autocast
        where the device computes bf16 natively (fp32 master weights for the
        adapter), fp32 elsewhere; ``bf16`` or ``fp32`` to force one.
    threads:
        torch threads for the run: a number, ``"ui"`` (all usable cores but one,
        for a run beside the TUI), or None (:data:`THREADS_ENV`, else torch's
        default; under torchrun the cores are shared among the ranks).
    checkpointing:
        ``auto`` (default): gradient checkpointing only when the estimated
        activations of the longest batch would not fit in half the free memory
        (and ``config.gradient_checkpointing`` allows it), or after an out of
        memory; ``always`` honours ``config.gradient_checkpointing`` as the
        reference does; ``never``.

    Raises
    ------
    ImportError
        If torch / transformers / peft are not installed, or ``use_4bit`` is
        set without bitsandbytes.
    ValueError
        If ``use_4bit`` is set and the device is not CUDA, or a requested CUDA
        device is not available.
    """

    def __init__(
        self,
        config: LoRATrainingConfig,
        *,
        model_name: str = DEFAULT_MODEL,
        device: Optional[str] = None,
        precision: Optional[str] = None,
        threads: Any = None,
        checkpointing: str = "auto",
    ) -> None:
        try:
            import peft  # noqa: F401
            import torch
            import transformers  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"LoRA training needs torch, transformers and peft ({exc.name or exc} is "
                f"missing). Install them with: {INSTALL_HINT}"
            ) from exc

        self.config = config
        self.model_name = str(model_name) if model_name is not None else DEFAULT_MODEL
        self.dist = dist_from_env()
        """This process's rank and world (world 1 without torchrun / accelerate launch)."""
        self.device = _select_device(device)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} was requested but CUDA is not available")
        if self.dist.enabled and self.device == "cuda":
            count = torch.cuda.device_count()
            if self.dist.local_rank >= count:
                raise ValueError(
                    f"{self.dist.local_world} processes on this machine but only {count} CUDA "
                    f"device(s): use at most --nproc {count}"
                )
            self.device = f"cuda:{self.dist.local_rank}"
        requested = precision or os.environ.get(PRECISION_ENV) or "auto"
        if requested not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)} (got {requested!r})"
            )
        self.precision = requested
        if checkpointing not in ("auto", "always", "never"):
            raise ValueError(f"checkpointing must be auto, always or never (got {checkpointing!r})")
        self.checkpointing = checkpointing
        self.threads = resolve_threads(threads, local_world=self.dist.local_world)
        self.fast_path = FastPath()
        """What the latest :meth:`train` picked (also in run.json's ``config.fast_path``)."""
        if config.use_4bit:
            if not self.device.startswith("cuda"):
                raise ValueError(
                    "use_4bit=True (QLoRA) needs a CUDA GPU; this machine would train on "
                    f"{self.device}. Set use_4bit=False to train in full precision."
                )
            if importlib.util.find_spec("bitsandbytes") is None:
                raise ImportError(
                    "use_4bit=True (QLoRA) needs bitsandbytes: pip install bitsandbytes"
                )
        self.tokenizer: Any = None
        self.model: Any = None
        self.last_stats: Dict[str, int] = {}
        """Counts from the latest :meth:`prepare_dataset`: pairs, examples, truncated, dropped."""
        self._prefix_ids: Optional[List[int]] = None

    # -- model path ----------------------------------------------------------

    def _model_ref(self) -> str:
        """The local folder to load, or a cache id; raises :class:`ModelLoadError`."""
        name = self.model_name
        path = Path(name).expanduser()
        # A hub id is "org/name"; anything else with a separator is meant as a path.
        looks_like_path = (
            name.startswith((".", "/", "~"))
            or name.count("/") > 1
            or (os.sep != "/" and os.sep in name)
        )
        if path.exists():
            if not path.is_dir():
                raise ModelLoadError(f"model path {str(path)!r} is a file, not a model folder")
            if not (path / "config.json").is_file():
                raise ModelLoadError(
                    f"model path {str(path)!r} is not a Hugging Face model folder (no config.json)"
                )
            return str(path.resolve())
        if looks_like_path:
            raise ModelLoadError(f"model path {str(path)!r} does not exist")
        return self._cached_snapshot(name)

    def _cached_snapshot(self, repo_id: str) -> str:
        """The local folder of *repo_id* in the Hugging Face cache; nothing is downloaded."""
        try:
            from huggingface_hub import snapshot_download

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                folder = snapshot_download(repo_id=repo_id, local_files_only=True)
        except Exception:  # not cached, not a valid id, or huggingface_hub missing
            folder = None
        if folder is None or not (Path(folder) / "config.json").is_file():
            raise ModelLoadError(
                f"model {repo_id!r} is not in the local Hugging Face cache (nothing is "
                "downloaded): pass --model with a local model folder, or leave --model out "
                "to train the workspace's tiny model (models/tiny-lm)"
            )
        return str(folder)

    def _load_error(self, exc: BaseException) -> ModelLoadError:
        return ModelLoadError(
            f"could not load model {self.model_name!r}: {exc}. Pass the path of a local model "
            "folder (nothing is downloaded)"
        )

    def _ensure_tokenizer(self) -> None:
        if self.tokenizer is not None:
            return
        from transformers import AutoTokenizer

        ref = self._model_ref()
        try:
            with quiet_transformers():
                tok = AutoTokenizer.from_pretrained(ref, local_files_only=True)
        except Exception as exc:  # OSError, ValueError, JSON errors, missing files...
            raise self._load_error(exc) from exc
        if tok.pad_token_id is None:
            if tok.eos_token is None:
                raise ModelLoadError(
                    f"the tokenizer of {self.model_name!r} has no pad or eos token"
                )
            tok.pad_token = tok.eos_token
        self.tokenizer = tok

    def _load_model(self) -> None:
        if self.model is not None:
            return
        import torch
        import transformers
        from transformers import AutoModelForCausalLM

        self._ensure_tokenizer()
        ref = self._model_ref()
        fast = self.fast_path
        dtype = torch.float32
        # On a GPU the frozen base weights are bf16 (memory); on a CPU they stay
        # fp32 and only the frozen linear layers are cast once, after peft wraps
        # them (_cast_frozen_linears), so norms, embeddings and the residual
        # stream keep fp32 as under plain autocast.
        if self.device.startswith("cuda") and fast.precision == "bf16":
            dtype = torch.bfloat16
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        kwargs: Dict[str, Any] = {
            ("dtype" if (major, minor) >= (4, 56) else "torch_dtype"): dtype,
            "local_files_only": True,
            "attn_implementation": self._attention_kernel(dtype),
        }
        if self.config.use_4bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
                bnb_4bit_use_double_quant=True,
                bnb_4bit_quant_type="nf4",
            )
            kwargs["device_map"] = {"": self.device}
        try:
            with quiet_transformers():
                try:
                    model = AutoModelForCausalLM.from_pretrained(ref, **kwargs)
                except (ValueError, ImportError):
                    if kwargs["attn_implementation"] == "eager":
                        raise
                    kwargs["attn_implementation"] = "eager"  # an architecture without SDPA
                    model = AutoModelForCausalLM.from_pretrained(ref, **kwargs)
        except Exception as exc:
            raise self._load_error(exc) from exc
        fast.attention = str(getattr(model.config, "_attn_implementation", "") or "eager")
        if not self.config.use_4bit:
            model.to(self.device)  # type: ignore[arg-type]  # transformers' stub types .to's wrapper wrongly
        if getattr(model, "config", None) is not None:
            model.config.use_cache = False  # incompatible with checkpointing; useless in training
        if self.config.use_4bit:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=self.config.gradient_checkpointing
            )
        elif fast.checkpointing:
            _enable_checkpointing(model)
        self.model = model

    def _attention_kernel(self, dtype: Any) -> str:
        """flash_attention_2 on a GPU that runs it (bf16, sm80+, flash-attn installed), else SDPA."""
        import torch

        if (
            self.device.startswith("cuda")
            and dtype == torch.bfloat16
            and importlib.util.find_spec("flash_attn") is not None
        ):
            try:
                if torch.cuda.get_device_capability(torch.device(self.device))[0] >= 8:
                    return "flash_attention_2"
            except Exception:
                pass
        return "sdpa"

    def _cast_frozen_linears(self) -> int:
        """bf16 copies of the frozen linear weights once, instead of a cast per matmul.

        Under CPU autocast a frozen weight (``requires_grad=False``) is cast again at
        every use (autocast caches only leaves that need a gradient); storing it in
        bf16 gives the same numbers. The adapter's weights stay fp32. Returns the count.
        """
        import torch

        n = 0
        emb = self.model.get_input_embeddings()
        tied = getattr(emb, "weight", None)
        for module in self.model.modules():
            if type(module) is torch.nn.Linear and not module.weight.requires_grad:
                w = module.weight
                if w is tied or w.dtype != torch.float32:
                    continue  # a tied lm_head shares the (fp32) embedding matrix
                module.weight = torch.nn.Parameter(
                    w.detach().to(torch.bfloat16), requires_grad=False
                )
                if module.bias is not None and not module.bias.requires_grad:
                    module.bias = torch.nn.Parameter(
                        module.bias.detach().to(torch.bfloat16), requires_grad=False
                    )
                n += 1
        return n

    def _apply_lora(self) -> None:
        from peft import LoraConfig, TaskType, get_peft_model

        cfg = self.config
        lora = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=list(cfg.target_modules),
        )
        try:
            with warnings.catch_warnings():
                # peft asks the deprecated `is_gradient_checkpointing` of newer transformers.
                warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
                self.model = get_peft_model(self.model, lora)
        except ValueError as exc:
            raise ValueError(
                f"cannot apply LoRA to {self.model_name!r} with target_modules "
                f"{list(cfg.target_modules)}: {exc}"
            ) from exc

    # -- data ----------------------------------------------------------------

    def _format_pair(self, pair: Dict[str, Any]) -> tuple[str, str]:
        """(prompt text, response text): the chat template when the tokenizer has one."""
        user = pair.get("input", "")
        answer = pair.get("output", "")
        user = "" if user is None else str(user)
        answer = "" if answer is None else str(answer)
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            try:
                prompt = tok.apply_chat_template(
                    [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
                )
                full = tok.apply_chat_template(
                    [
                        {"role": "user", "content": user},
                        {"role": "assistant", "content": answer},
                    ],
                    tokenize=False,
                )
                if isinstance(prompt, str) and isinstance(full, str) and full.startswith(prompt):
                    return prompt, full[len(prompt) :]
            except Exception:  # a template that rejects these messages: use the plain format
                pass
        eos = getattr(tok, "eos_token", "") or ""
        return f"<|user|>\n{user}\n<|assistant|>\n", f"{answer}{eos}"

    def _special_prefix(self) -> List[int]:
        """Ids the tokenizer puts before a text (a BOS), found by asking it."""
        if self._prefix_ids is None:
            tok = self.tokenizer
            with_special = tok("a", add_special_tokens=True)["input_ids"]
            plain = tok("a", add_special_tokens=False)["input_ids"]
            n = len(with_special) - len(plain)
            self._prefix_ids = (
                list(with_special[:n]) if n > 0 and with_special[n:][: len(plain)] == plain else []
            )
        return self._prefix_ids

    def _encode(self, texts: Sequence[str], limit: int) -> List[List[int]]:
        """Token ids of each text, at most *limit* + 1 of them (enough to know it was cut)."""
        cap = limit * _CHARS_PER_TOKEN_CAP
        cut = [t[:cap] for t in texts]
        ids = self.tokenizer(cut, add_special_tokens=False)["input_ids"]
        out = []
        for text, short, seq in zip(texts, cut, ids, strict=True):
            if len(short) < len(text) and len(seq) <= limit:
                seq = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            out.append(list(seq[: limit + 1]))
        return out

    def prepare_dataset(self, pairs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Convert SFT pairs to tokenised examples (token-id lists, no tensors, no padding).

        Each example has ``input_ids`` (prompt then response, at most
        ``max_seq_length``), ``labels`` (``-100`` on the prompt), ``length`` and
        ``truncated``. Pairs are dicts with ``input`` and ``output``, as from
        :meth:`TrainingDataMiner.extract_sft_pairs`. Counts (pairs, examples,
        truncated, dropped) go to :attr:`last_stats`.
        """
        self._ensure_tokenizer()
        budget = self.config.max_seq_length
        prefix = self._special_prefix()
        bos_text = getattr(self.tokenizer, "bos_token", None)
        out: List[Dict[str, Any]] = []
        truncated = dropped = 0
        for start in range(0, len(pairs), _TOKENIZE_CHUNK):
            chunk = [self._format_pair(p) for p in pairs[start : start + _TOKENIZE_CHUNK]]
            prompts = self._encode([c[0] for c in chunk], budget)
            responses = self._encode([c[1] for c in chunk], budget)
            for (ptext, _), p_ids, r_ids in zip(chunk, prompts, responses, strict=True):
                if prefix and not (bos_text and ptext.startswith(bos_text)):
                    p_ids = prefix + p_ids
                ids = p_ids + r_ids
                cut = len(ids) > budget
                if cut:
                    truncated += 1
                    ids = ids[:budget]
                n_prompt = min(len(p_ids), len(ids))
                if n_prompt >= len(ids):
                    dropped += 1  # nothing of the response is left to learn from
                    continue
                labels = [IGNORE_INDEX] * n_prompt + ids[n_prompt:]
                out.append(
                    {"input_ids": ids, "labels": labels, "length": len(ids), "truncated": cut}
                )
        self.last_stats = {
            "pairs": len(pairs),
            "examples": len(out),
            "truncated": truncated,
            "dropped": dropped,
        }
        if truncated:
            logger.info("%d of %d pairs were longer than %d tokens and were cut", truncated, len(pairs), budget)  # fmt: skip
        return out

    def collate(self, examples: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        """One batch as tensors, padded (right) to the longest example in it."""
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        pad = self.tokenizer.pad_token_id
        n = len(examples)
        input_ids = torch.full((n, width), pad, dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, e in enumerate(examples):
            k = len(e["input_ids"])
            input_ids[i, :k] = torch.tensor(e["input_ids"], dtype=torch.long)
            labels[i, :k] = torch.tensor(e["labels"], dtype=torch.long)
            mask[i, :k] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}

    def batches(
        self, lengths: Sequence[int], *, epoch: int, seed: int = 0, batch_size: Optional[int] = None
    ) -> List[List[int]]:
        """Index batches for one epoch: shuffled with (seed, epoch), grouped by length.

        Indices are shuffled, sorted by length within windows of
        ``batch_size × 32``, cut into batches, and the batches shuffled; the batch
        holding the longest example goes first (an out-of-memory shows at once).
        *batch_size* defaults to the config's (a distributed step takes the
        global batch, then splits it across the ranks).
        """
        bs = batch_size or self.config.batch_size
        rng = random.Random(seed * 1_000_003 + epoch)
        order = list(range(len(lengths)))
        rng.shuffle(order)
        window = bs * _MEGABATCH
        out: List[List[int]] = []
        for i in range(0, len(order), window):
            group = sorted(order[i : i + window], key=lambda j: lengths[j], reverse=True)
            out.extend(group[k : k + bs] for k in range(0, len(group), bs))
        rng.shuffle(out)
        if out:
            longest = max(range(len(out)), key=lambda b: max(lengths[j] for j in out[b]))
            out[0], out[longest] = out[longest], out[0]
        return out

    # -- training ------------------------------------------------------------

    def _check_writable(self, root: Path) -> Path:
        try:
            ensure_dir(root)
            fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise PermissionError(f"output dir {str(root)!r} is not writable: {reason}") from exc
        return root

    def _param_groups(self) -> List[Dict[str, Any]]:
        decay: List[Any] = []
        no_decay: List[Any] = []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "bias" in name or "norm" in name else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        return groups

    def _to_device(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        if self.device == "cpu":
            return batch
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _autocast(self) -> Any:
        """bf16 autocast when the run picked bf16; a no-op context otherwise."""
        import torch

        if self.fast_path.precision != "bf16":
            return contextlib.nullcontext()
        kind = self.device.split(":")[0]
        return torch.autocast(device_type=kind, dtype=torch.bfloat16)

    def _eval_sums(self, dataset: Sequence[Dict[str, Any]]) -> tuple[float, int]:
        """(sum of token losses, response tokens) over *dataset*, no gradients, no dropout."""
        import torch

        model = self.model
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        order = sorted(range(len(dataset)), key=lambda i: dataset[i]["length"])
        bs = self.config.batch_size
        try:
            with torch.no_grad(), self._autocast():
                for i in range(0, len(order), bs):
                    batch = self.collate([dataset[j] for j in order[i : i + bs]])
                    n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
                    if n == 0:
                        continue
                    out = model(**self._to_device(batch))
                    total += float(out.loss) * n
                    count += n
        finally:
            model.train(was_training)
        return total, count

    def evaluate(self, dataset: Sequence[Dict[str, Any]]) -> float:
        """Mean loss per response token over *dataset* (no gradients, no dropout)."""
        total, count = self._eval_sums(dataset)
        return total / count if count else float("nan")

    def _save_adapter_to(self, dest: Path) -> None:
        """Save the adapter (and tokenizer) to *dest* atomically: temp folder, then rename."""
        tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=DIR_MODE)
        try:
            with quiet_transformers():
                self.model.save_pretrained(str(tmp))
                if self.tokenizer is not None:
                    self.tokenizer.save_pretrained(str(tmp))
            for f in tmp.iterdir():
                if f.is_file():
                    os.chmod(f, FILE_MODE)
            old = None
            if dest.exists():
                old = dest.parent / f".{dest.name}.old-{os.getpid()}"
                shutil.rmtree(old, ignore_errors=True)
                os.rename(dest, old)
            os.rename(tmp, dest)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("adapter saved to %s", dest)

    def train(
        self,
        pairs: List[Dict[str, Any]],
        *,
        callback: Optional[StepCallback] = None,
        stop: Optional[threading.Event] = None,
        run_dir: Optional[str | os.PathLike[str]] = None,
        eval_fraction: float = 0.0,
        seed: int = 0,
        on_record: Optional[StepCallback] = None,
        run_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Run LoRA fine-tuning on *pairs*; returns the summary.

        *run_dir* is the folder that receives this run's folder
        (``<run_dir>/<run_id>/``; default ``config.output_dir``, usually the
        workspace's ``checkpoints/``; *run_id* names it, default a new id).
        *callback* gets each step record (the dict written to metrics.jsonl);
        *on_record* gets every record (step, eval, epoch). Setting *stop*, or a
        :data:`CANCEL_FILE` appearing in the run folder, finishes the current
        step, saves the adapter and returns status ``cancelled``.
        *eval_fraction* of the examples (seeded) are held out for an eval loss at
        each epoch end.

        Under torchrun / accelerate launch (``WORLD_SIZE`` > 1) the run is
        DistributedDataParallel (gloo on CPU, nccl on CUDA): rank 0's *pairs* are
        used by every rank; ``batch_size`` is per rank, so a step takes
        ``batch_size × world`` examples, split across the ranks; the loss is the
        mean over the whole step's response tokens, exactly as one process with
        that batch would compute it. Only rank 0 writes the run folder; a stop on
        any rank (or the cancel file) stops every rank at the same step.

        The summary has the spec's keys (``status``, ``epochs``,
        ``total_steps``, ``avg_loss``, ``adapter_path``, ``training_samples``)
        and ``run_dir``, ``run_id``, ``message``, ``truncated``, ``dropped``,
        ``train_examples``, ``eval_examples``, ``final_loss``, ``eval_loss``,
        ``tokens``, ``tokens_per_s``, ``duration``, ``planned_steps``,
        ``device``, ``fast_path``. ``status`` is ``completed``, ``cancelled``,
        ``diverged`` (NaN/inf loss or gradient) or ``failed`` (an error during
        training; the message says which, and run.json records it).

        With no *pairs* it returns ``{"status": "skipped", "reason": "no training
        data"}`` (the spec's answer) and writes nothing. Raises before any work (and
        before a run folder exists) for an invalid config, a bad model path or an
        unwritable output dir.
        """
        import torch

        created_group = False
        if self.dist.enabled:
            created_group = self._init_group()
            pairs = self._broadcast(pairs if self.dist.is_main else None)
        old_threads = torch.get_num_threads()
        try:
            if not pairs:
                return {"status": "skipped", "reason": "no training data"}
            if self.threads:
                torch.set_num_threads(self.threads)
            return self._train(
                pairs, callback=callback, stop=stop, run_dir=run_dir,
                eval_fraction=eval_fraction, seed=seed, on_record=on_record, run_id=run_id,
            )  # fmt: skip
        finally:
            torch.set_num_threads(old_threads)
            if created_group:
                with contextlib.suppress(Exception):
                    torch.distributed.destroy_process_group()

    # -- several processes ----------------------------------------------------

    def _init_group(self) -> bool:
        """Join the process group torchrun set up (env://); False if one exists already."""
        import datetime

        import torch
        import torch.distributed as tdist

        if tdist.is_initialized():
            return False
        backend = "nccl" if self.device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(torch.device(self.device))
        tdist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))
        return True

    def _comm_device(self) -> Any:
        import torch

        return torch.device(self.device if self.device.startswith("cuda") else "cpu")

    def _broadcast(self, obj: Any) -> Any:
        """Rank 0's *obj* on every rank."""
        import torch.distributed as tdist

        box = [obj]
        tdist.broadcast_object_list(box, src=0, device=self._comm_device())
        return box[0]

    def _sum(self, *values: float) -> List[float]:
        """*values* summed over the ranks (one all-reduce); unchanged in one process."""
        if not self.dist.enabled:
            return list(values)
        import torch
        import torch.distributed as tdist

        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return [float(x) for x in t.tolist()]

    def _agree(self, error: Optional[BaseException], *flags: bool) -> List[bool]:
        """Every rank learns whether any rank failed (and raises), and ORs *flags*."""
        if not self.dist.enabled:
            if error is not None:
                raise error
            return list(flags)
        failed_rank = float(self.dist.rank + 1) if error is not None else 0.0
        sums = self._sum(failed_rank, *(1.0 if f else 0.0 for f in flags))
        if error is not None:
            raise error
        if sums[0]:
            raise RankFailed("another rank failed to start training (its output says why)")
        return [x > 0 for x in sums[1:]]

    # -- the run ---------------------------------------------------------------

    def _plan_fast_path(self, longest: int, per_rank_batch: int) -> bool:
        """Fill :attr:`fast_path` for the loaded model; returns whether memory needs checkpointing."""
        import torch

        cfg = self.config
        fast = self.fast_path
        fast.world_size = self.dist.world
        fast.threads = self.threads or torch.get_num_threads()
        fast.lora_dropout = (
            "off (0: no dropout kernel)" if cfg.lora_dropout == 0 else f"p={cfg.lora_dropout:g}"
        )
        if self.device.startswith("cuda"):
            fast.matmul = f"cuBLAS {fast.precision}"
        elif self.device == "cpu":
            torch.backends.mkldnn.enabled = True  # type: ignore[assignment]  # a ContextProp in torch's stubs, a bool at run time
            if fast.precision == "bf16":
                fast.matmul = "oneDNN bf16 (autocast; frozen linears stored in bf16)"
            else:
                fast.matmul = self._pick_cpu_matmul(longest, per_rank_batch)
        else:
            fast.matmul = f"{self.device} {fast.precision}"
        if self.checkpointing == "always" or cfg.use_4bit:
            fast.checkpointing = bool(cfg.gradient_checkpointing)
            fast.checkpointing_why = "as configured (checkpointing=always)"
            return False
        if self.checkpointing == "never" or not cfg.gradient_checkpointing:
            fast.checkpointing = False
            fast.checkpointing_why = "off (not allowed by the config)"
            return False
        need = activation_bytes(
            getattr(self.model, "config", None), per_rank_batch, longest,
            bytes_per=2 if fast.precision == "bf16" else 4,
        )  # fmt: skip
        free = _available_memory(self.device)
        mb = 1024 * 1024
        if free is None:
            fast.checkpointing_why = f"off: activations ~{need / mb:,.0f} MB, free memory unknown"
            return False
        if need > _ACTIVATION_SHARE * free:
            fast.checkpointing_why = (
                f"on: activations ~{need / mb:,.0f} MB of {free / mb:,.0f} MB free "
                f"(batch {per_rank_batch} × {longest} tokens)"
            )
            return True
        fast.checkpointing_why = (
            f"off: activations ~{need / mb:,.0f} MB fit in {free / mb:,.0f} MB free"
        )
        return False

    def _pick_cpu_matmul(self, longest: int, per_rank_batch: int) -> str:
        """The fp32 kernel of the frozen linears on CPU (``oneDNN fp32 …`` or ``MKL fp32 …``):
        :data:`MATMUL_ENV` if set, else the faster in a probe on this model's MLP shape
        (oneDNN when it is at least 5% faster: MKL takes a slow path on some AMD CPUs)."""
        import torch

        blas = "MKL" if torch.backends.mkl.is_available() else "BLAS"
        asked = (os.environ.get(MATMUL_ENV) or "auto").strip().lower()
        if asked not in MATMULS:
            raise ValueError(f"{MATMUL_ENV} must be one of {', '.join(MATMULS)} (got {asked!r})")
        if not onednn_linear_available():
            return f"{blas} fp32 (this torch has no oneDNN linear)"
        if asked == "onednn":
            return f"oneDNN fp32 ({MATMUL_ENV}=onednn)"
        if asked == "blas":
            return f"{blas} fp32 ({MATMUL_ENV}=blas)"
        cfg = getattr(self.model, "config", None)
        h = int(getattr(cfg, "hidden_size", 0) or 512)
        inter = int(getattr(cfg, "intermediate_size", 0) or 4 * h)
        rows = max(64, min(2048, per_rank_batch * max(1, longest)))
        # One probe per shape and thread count in a process: where the two kernels are
        # within noise of each other, a second run must not pick the other one (their
        # sums are rounded differently, and a rerun must repeat its losses exactly).
        key = (rows, h, inter, torch.get_num_threads())
        if key not in _MATMUL_PICKS:
            try:
                mkl, dnn = probe_matmul(rows, h, inter)
            except Exception as exc:  # the op exists but refuses this build's tensors
                return f"{blas} fp32 (oneDNN linear failed: {type(exc).__name__})"
            probe = f"probe {rows}×{h}×{inter}: oneDNN {dnn:.0f}, {blas} {mkl:.0f} GFLOP/s"
            if dnn >= _ONEDNN_MARGIN * mkl:
                _MATMUL_PICKS[key] = f"oneDNN fp32 (frozen linears; {probe})"
            else:
                _MATMUL_PICKS[key] = f"{blas} fp32 ({probe})"
        return _MATMUL_PICKS[key]

    def _train(
        self,
        pairs: List[Dict[str, Any]],
        *,
        callback: Optional[StepCallback],
        stop: Optional[threading.Event],
        run_dir: Optional[str | os.PathLike[str]],
        eval_fraction: float,
        seed: int,
        on_record: Optional[StepCallback],
        run_id: Optional[str],
    ) -> Dict[str, Any]:
        import torch

        from jarvis_tui.learning.training.runs import RunWriter

        cfg = self.config
        dist = self.dist
        main = dist.is_main
        started = time.monotonic()
        self.fast_path = fast = FastPath()
        error: Optional[BaseException] = None
        need_ckpt = False
        root: Optional[Path] = None

        def stopped_before_start() -> Optional[Dict[str, Any]]:
            """Asked to stop before the run folder exists (one process): the model is not
            loaded, no folder is made, nothing is saved (there is no step to finish)."""
            if dist.enabled or stop is None or not stop.is_set():
                return None
            return {"status": "cancelled", "message": "stopped before the first step",
                    "run_dir": None, "run_id": None, "total_steps": 0, "epochs": 0.0,
                    "adapter_path": None, "final_loss": None, "training_samples": len(pairs),
                    "duration": time.monotonic() - started}  # fmt: skip

        try:
            problems = cfg.validate()
            if problems:
                raise ValueError("invalid training config: " + "; ".join(problems))
            from jarvis_tui.learning.training.settings import setting

            why = setting("eval_fraction").check(eval_fraction)
            if why:
                raise ValueError(f"eval_fraction {why}")
            if main:
                root = self._check_writable(
                    Path(run_dir if run_dir is not None else cfg.output_dir).expanduser()
                )
            fast.precision, fast.precision_why = _pick_precision(self.device, self.precision)
            dataset = self.prepare_dataset(pairs)
            early = stopped_before_start()
            if early is not None:
                return early
            stats = dict(self.last_stats)
            if not dataset:
                raise ValueError(
                    f"none of the {len(pairs)} pairs has a response within max_seq_length="
                    f"{cfg.max_seq_length} tokens ({stats['dropped']} dropped); raise max_seq_length"
                )
            train_set, eval_set = self._split(dataset, eval_fraction, seed)
            del dataset
            torch.manual_seed(seed)
            self.model = None  # every run starts from the base model, not the last adapter
            fast.checkpointing = self.checkpointing == "always" and cfg.gradient_checkpointing
            self._load_model()
            self._apply_lora()
            need_ckpt = self._plan_fast_path(max(e["length"] for e in train_set), cfg.batch_size)
        except Exception as exc:
            error = exc
        (need_ckpt,) = self._agree(error, need_ckpt)
        model = self.model
        if need_ckpt and not fast.checkpointing:
            _enable_checkpointing(model)
            fast.checkpointing = True
            if not fast.checkpointing_why.startswith("on"):
                fast.checkpointing_why = "on: another rank's memory needs it"
        if fast.precision == "bf16" and self.device == "cpu":
            self._cast_frozen_linears()
        elif self.device == "cpu" and fast.matmul.startswith("oneDNN fp32"):
            route_frozen_linears_to_onednn(model)
        causal_cpu = False
        if self.device == "cpu":
            from jarvis_tui.learning.training import cpu_fast

            if cpu_fast.keep_freed_memory():
                fast.notes.append("allocator: freed memory kept for reuse (glibc mallopt)")
            if cpu_fast.huge_pages_on():
                fast.notes.append("allocator: tensors of 2 MB and more on huge pages")
            if cfg.lora_dropout > 0 and cpu_fast.swap_lora_dropout(model):
                fast.lora_dropout += " (numpy PCG64 mask)"
            if cpu_fast.fuse_rms_norms(model):
                fast.notes.append("RMSNorm: torch's fused rms_norm kernel")
            if fast.precision == "bf16" and cpu_fast.cast_once(model):
                fast.notes.append("bf16: norm outputs and rotary cast once, not per linear")
            if cpu_fast.mask_free(model):
                causal_cpu = True
                # The hand-written attention beats the flash kernel in bf16 only.
                if fast.precision == "bf16" and cpu_fast.install(model):
                    fast.attention = (f"causal bmm up to {cpu_fast.MAX_TOKENS} tokens,"
                                      " sdpa above")  # fmt: skip
                else:
                    fast.attention = "sdpa (causal, no padding mask)"
        model.train()
        groups = self._param_groups()
        trainable = [p for g in groups for p in g["params"]]
        optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        response_only, fast.loss = response_loss_plan(model)
        # Right-padded batches under a causal mask: no real token sees the padding after
        # it, so the attention needs no padding mask (cpu_fast.mask_free).
        loss_module = None
        if response_only:
            loss_module = _response_loss_module(
                model, drop_mask=causal_cpu, trim_last=not fast.checkpointing
            )
            if loss_module.trim_last:
                fast.notes.append(_TRIMMED_NOTE)
        net = model if loss_module is None else loss_module
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            cuda = self.device.startswith("cuda")
            net = DistributedDataParallel(
                net, device_ids=[torch.device(self.device).index] if cuda else None
            )

        bs = cfg.batch_size
        global_bs = bs * dist.world
        steps_per_epoch = math.ceil(len(train_set) / global_bs)
        planned = steps_per_epoch * cfg.num_epochs
        warmup = math.ceil(cfg.warmup_ratio * planned)
        lengths = [e["length"] for e in train_set]
        data = {
            **stats,
            "train_examples": len(train_set),
            "eval_examples": len(eval_set),
            "train_tokens": sum(lengths),
            "max_seq_length": cfg.max_seq_length,
        }
        run_config = {
            **cfg.to_dict(),
            "seed": seed,
            "eval_fraction": eval_fraction,
            "device": self.device,
            "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
            "steps_per_epoch": steps_per_epoch,
            "warmup_steps": warmup,
            "lr_schedule": "linear warmup, cosine decay",
            "world_size": dist.world,
            "global_batch_size": global_bs,
            "fast_path": fast.to_dict(),
        }
        early = stopped_before_start()
        if early is not None:
            return early
        writer: Optional[RunWriter] = None
        where: List[Any] = [None, None, None]
        if main:
            assert root is not None  # set above on rank 0, or _agree raised its error
            try:
                writer = RunWriter(
                    root, model=self.model_name, config=run_config, data=data,
                    total_steps=planned, run_id=run_id,
                )  # fmt: skip
                where = [writer.run_id, str(writer.path), None]
            except Exception as exc:
                where = [None, None, f"{type(exc).__name__}: {exc}"]
                if not dist.enabled:
                    raise
        if dist.enabled:
            where = self._broadcast(where)
            if where[2] is not None:
                raise RankFailed(f"rank 0 could not create the run folder: {where[2]}")
        cancel_file = writer.path / CANCEL_FILE if writer is not None else None
        summary: Dict[str, Any] = {
            "status": "failed",
            "epochs": 0.0,
            "total_steps": 0,
            "avg_loss": None,
            "adapter_path": None,
            "training_samples": len(pairs),
            "run_dir": where[1],
            "run_id": where[0],
            "message": "",
            "truncated": stats["truncated"],
            "dropped": stats["dropped"],
            "train_examples": len(train_set),
            "eval_examples": len(eval_set),
            "final_loss": None,
            "eval_loss": None,
            "tokens": 0,
            "tokens_per_s": 0.0,
            "duration": 0.0,
            "planned_steps": planned,
            "device": self.device,
            "fast_path": fast.to_dict(),
        }

        def emit(record: Dict[str, Any]) -> None:
            if writer is not None:
                writer.append(record)
            if on_record is not None:
                on_record(record)

        def stopping() -> bool:
            asked = stop is not None and stop.is_set()
            if not asked and cancel_file is not None:
                asked = cancel_file.exists()
            if dist.enabled:
                return self._sum(1.0 if asked else 0.0)[0] > 0
            return asked

        def forward_backward(items: List[Dict[str, Any]]) -> tuple[float, float]:
            """One step's forward and backward on this rank's share; (loss part, grad norm)."""
            n_global = sum(sum(1 for x in e["labels"][1:] if x != IGNORE_INDEX) for e in items)
            mine = items[dist.rank :: dist.world]
            weight = 1.0
            if not mine:  # a short last step: join the gradient all-reduce with nothing
                mine, weight = items[:1], 0.0
            batch = self._to_device(self.collate(mine))
            with self._autocast():
                if response_only:
                    out = net(
                        batch["input_ids"],
                        batch["attention_mask"],
                        batch["labels"],
                        max(1, n_global),
                    )
                else:
                    out = net(**batch, num_items_in_batch=max(1, n_global)).loss
            # The model returns this rank's token losses summed over the whole
            # step's token count; DDP averages gradients, hence × world.
            loss = out * weight
            part = float(loss.detach())
            grad_norm = float("nan")
            if math.isfinite(part) or dist.enabled:  # every rank must join the all-reduce
                (loss * dist.world).backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm))
            del loss, out, batch
            return part, grad_norm

        oom_types = tuple(
            t for t in (getattr(torch, "OutOfMemoryError", None),) if t is not None
        ) or (RuntimeError,)  # fmt: skip

        step = 0
        tokens_total = 0
        losses: List[float] = []
        epoch_losses: List[float] = []
        status = "completed"
        message = ""
        last_adapter: Optional[Path] = None
        t_train = time.monotonic()
        try:
            for epoch in range(cfg.num_epochs):
                epoch_losses = []
                order = self.batches(lengths, epoch=epoch, seed=seed, batch_size=global_bs)
                for i, idx in enumerate(order):
                    if stopping():
                        status = "cancelled"
                        break
                    t0 = time.monotonic()
                    items = [train_set[j] for j in idx]
                    lr = lr_at(step, planned, warmup, cfg.learning_rate)
                    for g in optimizer.param_groups:
                        g["lr"] = lr
                    for attempt in (0, 1):
                        try:
                            part, grad_norm = forward_backward(items)
                            break
                        except oom_types as exc:
                            optimizer.zero_grad(set_to_none=True)
                            if self.device.startswith("cuda"):
                                torch.cuda.empty_cache()
                            width = max(e["length"] for e in items)
                            if attempt or fast.checkpointing or dist.enabled:
                                raise MemoryError(
                                    f"out of memory on {self.device} at step {step + 1} (batch "
                                    f"of {len(items)} × {width} tokens)"
                                    + (
                                        " even with gradient checkpointing"
                                        if fast.checkpointing
                                        else ""
                                    )
                                    + "; lower batch_size or max_seq_length"
                                ) from exc
                            if loss_module is not None and loss_module.trim_last:
                                loss_module.trim_last = False  # a recompute must match
                                fast.notes.remove(_TRIMMED_NOTE)
                            _enable_checkpointing(model)
                            fast.checkpointing = True
                            fast.checkpointing_why = (
                                f"on: out of memory at step {step + 1} (batch of {len(items)} × "
                                f"{width} tokens), turned on and the step retried"
                            )
                            summary["fast_path"] = fast.to_dict()
                            if writer is not None:
                                writer.update(config={"fast_path": fast.to_dict()})
                            logger.warning("%s", fast.checkpointing_why)
                    (loss_v,) = self._sum(part)
                    if math.isfinite(loss_v) and math.isfinite(grad_norm):
                        optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    tokens = sum(e["length"] for e in items)
                    now = time.monotonic()
                    dt = max(now - t0, 1e-9)
                    elapsed = now - t_train
                    record = {
                        "type": "step",
                        "step": step,
                        "epoch": round(epoch + (i + 1) / steps_per_epoch, 6),
                        "loss": loss_v,
                        "lr": lr,
                        "grad_norm": grad_norm,
                        "tokens": tokens,
                        "tokens_per_s": tokens / dt,
                        "elapsed": elapsed,
                        "eta": elapsed / step * (planned - step),
                        "total_steps": planned,
                    }
                    emit(record)
                    if callback is not None:
                        callback(record)
                    if not (math.isfinite(loss_v) and math.isfinite(grad_norm)):
                        what = "loss" if not math.isfinite(loss_v) else "gradient norm"
                        value = loss_v if not math.isfinite(loss_v) else grad_norm
                        status = "diverged"
                        message = (
                            f"{what} became {value} at step {step} (epoch {record['epoch']:.2f}); "
                            f"the run stopped. Try a lower learning rate (peak {cfg.learning_rate:g})"
                        )
                        break
                    tokens_total += tokens
                    losses.append(loss_v)
                    epoch_losses.append(loss_v)
                if status != "completed":
                    break
                # -- epoch end
                if eval_set:
                    part, part_count = self._eval_sums(eval_set[dist.rank :: dist.world])
                    total, count_f = self._sum(part, float(part_count))
                    ev = total / count_f if count_f else float("nan")
                    summary["eval_loss"] = ev
                    emit({"type": "eval", "epoch": epoch + 1, "step": step, "eval_loss": ev})
                adapter = None
                if (epoch + 1) % cfg.save_every_n_epochs == 0:
                    if writer is not None:
                        last_adapter = writer.path / f"epoch-{epoch + 1}"
                        self._save_adapter_to(last_adapter)
                    elif where[1]:
                        last_adapter = Path(where[1]) / f"epoch-{epoch + 1}"
                    adapter = f"epoch-{epoch + 1}"
                emit({"type": "epoch", "epoch": epoch + 1, "step": step, "adapter": adapter})
                if writer is not None:
                    writer.heartbeat(force=True)
            train_s = time.monotonic() - t_train
            if status in ("completed", "cancelled"):
                if writer is not None:
                    final = writer.path / "final"
                    self._save_adapter_to(final)
                    last_adapter = final
                elif where[1]:
                    last_adapter = Path(where[1]) / "final"
                if status == "cancelled":
                    message = f"cancelled after {step} of {planned} steps; the adapter was saved"
        except Exception as exc:
            train_s = time.monotonic() - t_train
            status = "failed"
            # gloo/nccl append advice paragraphs to the one line that matters
            text = str(exc).split(" This is typically caused")[0].strip()
            message = f"{type(exc).__name__}: {text}"
            if dist.enabled and not isinstance(exc, MemoryError):
                message = (
                    f"rank {dist.rank} of {dist.world} lost the other ranks during step "
                    f"{step + 1} (one of them failed or was killed): {message}"
                )
            # Recorded in run.json and the summary; the traceback only at debug level
            # (a CLI run prints one line, not a stack).
            logger.info("LoRA training failed: %s", message)
            logger.debug("LoRA training failed", exc_info=True)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: record, then go
            if writer is not None:
                writer.finish(
                    "failed", message=f"{type(exc).__name__} during training", steps_done=step
                )
            raise

        final_loss = sum(epoch_losses) / len(epoch_losses) if epoch_losses else None
        if final_loss is None and losses:
            final_loss = losses[-1]
        summary.update(
            status=status,
            message=message,
            epochs=round(step / steps_per_epoch, 6) if steps_per_epoch else 0.0,
            total_steps=step,
            avg_loss=sum(losses) / len(losses) if losses else None,
            adapter_path=str(last_adapter) if last_adapter is not None else None,
            final_loss=final_loss,
            tokens=tokens_total,
            tokens_per_s=tokens_total / train_s if train_s > 0 else 0.0,
            train_seconds=train_s,
            duration=time.monotonic() - started,
        )
        if writer is not None:
            writer.finish(
                status,
                final_loss=final_loss,
                message=message,
                steps_done=step,
                duration=summary["duration"],
                **{
                    k: summary[k]
                    for k in (
                        "avg_loss",
                        "eval_loss",
                        "adapter_path",
                        "tokens",
                        "tokens_per_s",
                        "train_seconds",
                        "epochs",
                    )
                },  # fmt: skip
            )
        return summary

    def _split(
        self, dataset: List[Dict[str, Any]], fraction: float, seed: int
    ) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        if fraction <= 0 or len(dataset) < 2:
            return dataset, []
        n_eval = min(len(dataset) - 1, max(1, round(len(dataset) * fraction)))
        order = list(range(len(dataset)))
        random.Random(seed).shuffle(order)
        held = set(order[:n_eval])
        return (
            [e for i, e in enumerate(dataset) if i not in held],
            [e for i, e in enumerate(dataset) if i in held],
        )


def launch_ranks(
    nproc: int,
    argv: Sequence[str],
    *,
    run_path: str | os.PathLike[str],
    device: Optional[str] = None,
) -> tuple[int, str]:
    """Run ``python -m jarvis_tui <argv>`` as *nproc* ranks through torch's elastic launcher
    (what ``torchrun --standalone --nproc-per-node N`` does); returns (exit code, why):
    *why* is set when a rank died and the run folder was marked failed for it.

    *argv* must make rank 0 write its run to *run_path* (``--run-id``). When a rank
    dies (killed, or an error) the launcher stops the others; if the run folder does
    not already say why, it is marked ``failed`` with the rank and its signal or
    exit code. ``--nproc`` above the CUDA devices of a CUDA run is a ValueError.
    """
    import sys

    import torch

    if not _is_int(nproc) or nproc < 1:
        raise ValueError(f"--nproc must be a whole number of at least 1 (got {nproc!r})")
    target = _select_device(device)
    if target.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if nproc > count:
            raise ValueError(
                f"--nproc {nproc} is more than the {count} CUDA device(s) on this machine"
            )
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=Path(run_path).name,
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.2,
    )
    quiet = [logging.getLogger(n) for n in ("torch.distributed.elastic", "torch.distributed")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)  # its own failure report would be a traceback on stderr
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "jarvis_tui", *argv)
    except ChildFailedError as exc:
        failures = exc.failures
        # The launcher SIGTERMs the other ranks once one dies: the root cause is the
        # failure that is not such a SIGTERM (then the earliest).
        import signal as _signal

        first = min(
            failures.values(),
            key=lambda f: (f.exitcode == -_signal.SIGTERM, f.timestamp, f.local_rank),
        )
        how = (
            f"was killed by {first.signal_name()}"
            if first.exitcode < 0
            else f"exited with code {first.exitcode}"
        )
        why = f"rank {first.local_rank} of {nproc} (pid {first.pid}) {how}"
        if _needs_reason(run_path, killed=first.exitcode < 0):
            mark_run_failed(run_path, why)
            return 1, why
        return 1, ""
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    return 0, ""


def _needs_reason(run_path: str | os.PathLike[str], *, killed: bool) -> bool:
    """Whether the run folder lacks the reason a rank died (so the launcher writes it)."""
    from jarvis_tui.learning.training.runs import RUN_FILE, RunInfo

    if not (Path(run_path) / RUN_FILE).is_file():
        return False  # rank 0 failed before the run began: its own error says why
    info = RunInfo.load(run_path)
    if info.status in ("completed", "cancelled", "diverged"):
        return False
    if info.status == "failed" and "lost the other ranks" not in info.message:
        return killed  # rank 0's own error, unless a rank was killed outright
    return True


def mark_run_failed(run_path: str | os.PathLike[str], why: str) -> None:
    """Set a run folder's run.json to ``failed`` with *why* (its writer is gone).

    Used by the launcher when a rank died: rank 0 may have recorded only that it
    lost the others, or (killed itself) nothing at all. Does nothing without run.json.
    """
    import json
    import time as _time

    from jarvis_tui.core import safejson
    from jarvis_tui.paths import atomic_write_text

    path = Path(run_path) / "run.json"
    try:
        raw, problem = safejson.parse(path.read_bytes())
    except OSError:
        return
    if problem is not None or not isinstance(raw, dict):
        return
    old = raw.get("message") if isinstance(raw.get("message"), str) else ""
    raw["status"] = "failed"
    raw["message"] = f"{why}; {old}" if old else why
    now = _time.time()
    created = raw.get("created")
    if raw.get("duration") is None and isinstance(created, (int, float)):
        raw["duration"] = max(0.0, now - float(created))
    raw["updated"] = now
    atomic_write_text(path, json.dumps(raw, indent=2, default=str, allow_nan=False) + "\n")


__all__ = [
    "CANCEL_FILE",
    "DEFAULT_MODEL",
    "DistInfo",
    "FastPath",
    "HAS_TORCH",
    "INSTALL_HINT",
    "LoRATrainer",
    "LoRATrainingConfig",
    "ModelLoadError",
    "cpu_bf16_supported",
    "dist_from_env",
    "has_torch",
    "launch_ranks",
    "lr_at",
    "mark_run_failed",
    "quiet_transformers",
]
