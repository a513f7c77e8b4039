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
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

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


class ModelLoadError(ValueError):
    """*model_name* is not a loadable local model (the message names the path)."""


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


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
        problems at once. :meth:`LoRATrainer.train` refuses an invalid config.
        """
        p: List[str] = []

        def whole(name: str, lo: int) -> None:
            v = getattr(self, name)
            if not _is_int(v):
                p.append(f"{name} must be a whole number (got {v!r})")
            elif v < lo:
                p.append(f"{name} must be at least {lo} (got {v})")

        whole("lora_rank", 1)
        if not _is_num(self.lora_alpha):
            p.append(f"lora_alpha must be a number (got {self.lora_alpha!r})")
        elif self.lora_alpha <= 0:
            p.append(f"lora_alpha must be greater than 0 (got {self.lora_alpha})")
        if not _is_num(self.lora_dropout) or not 0 <= self.lora_dropout < 1:
            p.append(f"lora_dropout must be in [0, 1) (got {self.lora_dropout!r})")
        mods = self.target_modules
        if (
            isinstance(mods, str)
            or not isinstance(mods, (list, tuple))
            or not mods
            or not all(isinstance(m, str) and m.strip() for m in mods)
        ):
            p.append(f"target_modules must be a non-empty list of module names (got {mods!r})")
        whole("num_epochs", 1)
        whole("batch_size", 1)
        if not _is_num(self.learning_rate):
            p.append(f"learning_rate must be a finite number (got {self.learning_rate!r})")
        elif self.learning_rate <= 0:
            p.append(f"learning_rate must be greater than 0 (got {self.learning_rate})")
        if not _is_num(self.weight_decay) or self.weight_decay < 0:
            p.append(f"weight_decay must be 0 or more (got {self.weight_decay!r})")
        if not _is_num(self.warmup_ratio) or not 0 <= self.warmup_ratio <= 1:
            p.append(f"warmup_ratio must be in [0, 1] (got {self.warmup_ratio!r})")
        if not _is_num(self.max_grad_norm) or self.max_grad_norm <= 0:
            p.append(f"max_grad_norm must be greater than 0 (got {self.max_grad_norm!r})")
        whole("max_seq_length", 8)
        whole("save_every_n_epochs", 1)
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
        PyTorch device string. ``None`` auto-detects (cuda > mps > cpu).

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
        self.device = _select_device(device)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} was requested but CUDA is not available")
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
        dtype = torch.float32
        if self.device.startswith("cuda") and torch.cuda.is_bf16_supported():
            dtype = torch.bfloat16
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        kwargs: Dict[str, Any] = {
            ("dtype" if (major, minor) >= (4, 56) else "torch_dtype"): dtype,
            "local_files_only": True,
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
                model = AutoModelForCausalLM.from_pretrained(ref, **kwargs)
        except Exception as exc:
            raise self._load_error(exc) from exc
        if not self.config.use_4bit:
            model.to(self.device)
        if getattr(model, "config", None) is not None:
            model.config.use_cache = False  # incompatible with checkpointing; useless in training
        if self.config.use_4bit:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=self.config.gradient_checkpointing
            )
        elif self.config.gradient_checkpointing:
            kw = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
            # With frozen embeddings nothing upstream of the first block needs a
            # gradient; this keeps checkpointed blocks in the graph under peft.
            model.enable_input_require_grads()
        self.model = model

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

    def batches(self, lengths: Sequence[int], *, epoch: int, seed: int = 0) -> List[List[int]]:
        """Index batches for one epoch: shuffled with (seed, epoch), grouped by length.

        Indices are shuffled, sorted by length within windows of
        ``batch_size × 32``, cut into batches, and the batches shuffled; the batch
        holding the longest example goes first (an out-of-memory shows at once).
        """
        bs = self.config.batch_size
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
        decay, no_decay = [], []
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

    def evaluate(self, dataset: Sequence[Dict[str, Any]]) -> float:
        """Mean loss per response token over *dataset* (no gradients, no dropout)."""
        import torch

        model = self.model
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        order = sorted(range(len(dataset)), key=lambda i: dataset[i]["length"])
        bs = self.config.batch_size
        try:
            with torch.no_grad():
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
    ) -> Dict[str, Any]:
        """Run LoRA fine-tuning on *pairs*; returns the summary.

        *run_dir* is the folder that receives this run's folder
        (``<run_dir>/<run_id>/``; default ``config.output_dir``, usually the
        workspace's ``checkpoints/``). *callback* gets each step record (the
        dict written to metrics.jsonl); *on_record* gets every record (step,
        eval, epoch). Setting *stop* finishes the current step, saves the
        adapter and returns status ``cancelled``. *eval_fraction* of the
        examples (seeded) are held out for an eval loss at each epoch end.

        The summary has the spec's keys (``status``, ``epochs``,
        ``total_steps``, ``avg_loss``, ``adapter_path``, ``training_samples``)
        and ``run_dir``, ``run_id``, ``message``, ``truncated``, ``dropped``,
        ``train_examples``, ``eval_examples``, ``final_loss``, ``eval_loss``,
        ``tokens``, ``tokens_per_s``, ``duration``, ``planned_steps``,
        ``device``. ``status`` is ``completed``, ``cancelled``, ``diverged``
        (NaN/inf loss or gradient) or ``failed`` (an error during training; the
        message says which, and run.json records it).

        With no *pairs* it returns ``{"status": "skipped", "reason": "no training
        data"}`` (the spec's answer) and writes nothing. Raises before any work (and
        before a run folder exists) for an invalid config, a bad model path or an
        unwritable output dir.
        """
        if not pairs:
            return {"status": "skipped", "reason": "no training data"}

        import torch

        from jarvis_tui.learning.training.runs import RunWriter

        cfg = self.config
        problems = cfg.validate()
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))
        if not _is_num(eval_fraction) or not 0 <= eval_fraction < 1:
            raise ValueError(f"eval_fraction must be in [0, 1) (got {eval_fraction!r})")
        root = self._check_writable(
            Path(run_dir if run_dir is not None else cfg.output_dir).expanduser()
        )
        started = time.monotonic()

        dataset = self.prepare_dataset(pairs)
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
        self._load_model()
        self._apply_lora()
        model = self.model
        model.train()
        groups = self._param_groups()
        trainable = [p for g in groups for p in g["params"]]
        optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

        bs = cfg.batch_size
        steps_per_epoch = math.ceil(len(train_set) / bs)
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
        }
        writer = RunWriter(
            root, model=self.model_name, config=run_config, data=data, total_steps=planned
        )
        summary: Dict[str, Any] = {
            "status": "failed",
            "epochs": 0.0,
            "total_steps": 0,
            "avg_loss": None,
            "adapter_path": None,
            "training_samples": len(pairs),
            "run_dir": str(writer.path),
            "run_id": writer.run_id,
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
        }

        def emit(record: Dict[str, Any]) -> None:
            writer.append(record)
            if on_record is not None:
                on_record(record)

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
                order = self.batches(lengths, epoch=epoch, seed=seed)
                for i, idx in enumerate(order):
                    if stop is not None and stop.is_set():
                        status = "cancelled"
                        break
                    t0 = time.monotonic()
                    items = [train_set[j] for j in idx]
                    batch = self._to_device(self.collate(items))
                    lr = lr_at(step, planned, warmup, cfg.learning_rate)
                    for g in optimizer.param_groups:
                        g["lr"] = lr
                    loss = model(**batch).loss
                    loss_v = float(loss.detach())
                    grad_norm = float("nan")
                    if math.isfinite(loss_v):
                        loss.backward()
                        grad_norm = float(
                            torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
                        )
                        if math.isfinite(grad_norm):
                            optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    del loss, batch
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
                    ev = self.evaluate(eval_set)
                    summary["eval_loss"] = ev
                    emit({"type": "eval", "epoch": epoch + 1, "step": step, "eval_loss": ev})
                adapter = None
                if (epoch + 1) % cfg.save_every_n_epochs == 0:
                    last_adapter = writer.path / f"epoch-{epoch + 1}"
                    self._save_adapter_to(last_adapter)
                    adapter = last_adapter.name
                emit({"type": "epoch", "epoch": epoch + 1, "step": step, "adapter": adapter})
                writer.heartbeat(force=True)
            train_s = time.monotonic() - t_train
            if status in ("completed", "cancelled"):
                final = writer.path / "final"
                self._save_adapter_to(final)
                last_adapter = final
                if status == "cancelled":
                    message = f"cancelled after {step} of {planned} steps; the adapter was saved"
        except Exception as exc:
            logger.exception("LoRA training failed")
            train_s = time.monotonic() - t_train
            status = "failed"
            message = f"{type(exc).__name__}: {exc}"
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: record, then go
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


__all__ = [
    "DEFAULT_MODEL",
    "HAS_TORCH",
    "INSTALL_HINT",
    "LoRATrainer",
    "LoRATrainingConfig",
    "ModelLoadError",
    "has_torch",
    "lr_at",
    "quiet_transformers",
]
