"""Generators: answer an eval set's queries with a config's model.

* :class:`EndpointGenerator`: any OpenAI-compatible chat endpoint (Ollama, vLLM,
  llama.cpp, any ``/v1``), with the config's model, temperature, max tokens and system
  prompt, ``concurrency`` requests in flight, token usage taken from each reply.
* :class:`LocalGenerator`: a local Hugging Face model folder, optionally with a LoRA
  adapter from a run folder, batched greedy generation on the CPU (or a GPU when there
  is one); the offline default, which works on the demo's tiny model.

Both take a ``cancel`` event: samples not started when it is set come back as ``None``
(the caller keeps the rest and marks the result partial).
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from jarvis_tui.evals.sets import EvalSample

ProgressFn = Callable[[int, int], None]

#: Characters of an answer kept.
ANSWER_CHARS = 20_000


class GeneratorError(ValueError):
    """A generator cannot be set up (not a model folder, adapter for another base…)."""


@dataclass(frozen=True, slots=True)
class Generation:
    """One answer, what it cost, or the error that stopped it."""

    answer: str = ""
    latency_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: Optional[str] = None


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """What a config says about generation (dotted params of a TrialConfig)."""

    model: str = ""
    temperature: float = 0.0
    max_tokens: int = 256
    system_prompt: str = ""
    adapter: str = ""

    @classmethod
    def from_params(cls, params: dict[str, Any], *, default_model: str = "") -> GenerationSettings:
        def number(key: str, default: float) -> float:
            value = params.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return default
            return float(value)

        system = params.get("agent.system_prompt") or params.get("intelligence.system_prompt")
        adapter = params.get("intelligence.adapter")
        return cls(
            model=str(params.get("intelligence.model") or default_model),
            temperature=number("intelligence.temperature", 0.0),
            max_tokens=max(1, int(number("intelligence.max_tokens", 256))),
            system_prompt=system if isinstance(system, str) else "",
            adapter="" if adapter in (None, "", "none", "base") else str(adapter),
        )


def _one_line(text: Any, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class EndpointGenerator:
    """Answers through an OpenAI-compatible backend, ``concurrency`` at a time."""

    kind = "endpoint"

    def __init__(self, backend: Any, *, concurrency: int = 8) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise GeneratorError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
        self.backend = backend
        self.concurrency = concurrency

    def describe(self, settings: GenerationSettings) -> str:
        return f"{settings.model} via {getattr(self.backend, 'url', 'endpoint')}"

    def _one(self, sample: EvalSample, settings: GenerationSettings) -> Generation:
        started = time.perf_counter()
        try:
            chat = getattr(self.backend, "chat", None)
            if chat is not None:
                reply = chat(
                    sample.query,
                    model=settings.model,
                    system=settings.system_prompt,
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                )
                text, pt, ct = reply.text, reply.prompt_tokens, reply.completion_tokens
            else:
                text = self.backend.generate(
                    sample.query,
                    model=settings.model,
                    system=settings.system_prompt,
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                )
                pt = ct = 0
        except Exception as exc:  # one sample's failure: recorded, the others go on
            return Generation(latency_seconds=time.perf_counter() - started, error=_one_line(exc))
        return Generation(
            answer=str(text)[:ANSWER_CHARS],
            latency_seconds=time.perf_counter() - started,
            prompt_tokens=int(pt),
            completion_tokens=int(ct),
        )

    def generate(
        self,
        samples: Sequence[EvalSample],
        settings: GenerationSettings,
        *,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> list[Optional[Generation]]:
        out: list[Optional[Generation]] = [None] * len(samples)
        done = 0
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            pending: dict[Future, int] = {}
            nxt = 0
            while nxt < len(samples) or pending:
                while (
                    nxt < len(samples)
                    and len(pending) < self.concurrency
                    and not (cancel is not None and cancel.is_set())
                ):
                    pending[pool.submit(self._one, samples[nxt], settings)] = nxt
                    nxt += 1
                if not pending:
                    break  # cancelled: nothing in flight, nothing more to start
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in finished:
                    out[pending.pop(fut)] = fut.result()
                    done += 1
                    if progress is not None:
                        progress(done, len(samples))
        return out


def prompt_text(tokenizer: Any, user: str, system: str = "") -> str:
    """The prompt as the trainer formats it: the chat template when the tokenizer has
    one, else ``<|user|>`` / ``<|assistant|>`` markers."""
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}
        ]
        try:
            text = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            if isinstance(text, str):
                return text
        except Exception:  # a template that rejects a system turn: fall through
            pass
    head = f"<|system|>\n{system}\n" if system else ""
    return f"{head}<|user|>\n{user}\n<|assistant|>\n"


def check_model_dir(path: str | Path) -> Path:
    """*path* as a local Hugging Face model folder, or GeneratorError saying what it is."""
    p = Path(path).expanduser()
    if not p.exists():
        raise GeneratorError(f"model path {p} does not exist")
    if not p.is_dir():
        raise GeneratorError(f"model path {p} is a file, not a model folder")
    if not (p / "config.json").is_file():
        raise GeneratorError(f"{p} is not a model: a Hugging Face model folder has a config.json")
    return p


def resolve_adapter(adapter: str | Path, base: Path, workspace: Path | None = None) -> Path:
    """The adapter folder *adapter* names (a run folder, its adapter folder, or a run id
    under ``<workspace>/checkpoints``), checked against the *base* model."""
    p = Path(adapter).expanduser()
    if not p.exists() and workspace is not None:
        p = workspace / "checkpoints" / str(adapter)
    if not p.is_dir():
        raise GeneratorError(f"adapter {adapter} is neither a run folder nor an adapter folder")
    for candidate in (p, p / "adapter", p / "final", p / "adapter_final"):
        if (candidate / "adapter_config.json").is_file():
            p = candidate
            break
    else:
        found = sorted(p.glob("**/adapter_config.json"))
        if not found:
            raise GeneratorError(f"{p} holds no LoRA adapter (no adapter_config.json)")
        p = found[-1].parent
    try:
        cfg = json.loads((p / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"{p}/adapter_config.json is unreadable: {exc}") from None
    trained_on = str(cfg.get("base_model_name_or_path") or "") if isinstance(cfg, dict) else ""
    if trained_on and not _same_model(trained_on, base):
        raise GeneratorError(
            f"adapter {p} was trained on {trained_on}, not on {base}: evaluate it with "
            f"--local {trained_on}"
        )
    return p


def _same_model(name: str, base: Path) -> bool:
    try:
        if Path(name).expanduser().resolve() == base.resolve():
            return True
    except OSError:
        pass
    return Path(name).name == base.name


class LocalGenerator:
    """Batched greedy generation with a local transformers model (and LoRA adapter)."""

    kind = "local"

    def __init__(
        self,
        model_path: str | Path,
        *,
        adapter: str | Path | None = None,
        batch_size: int = 8,
        workspace: Path | None = None,
        device: str | None = None,
    ) -> None:
        self.model_path = check_model_dir(model_path)
        self.model_name = self.model_path.name
        """The name results carry (the folder's name)."""
        self.adapter_path = (
            resolve_adapter(adapter, self.model_path, workspace) if adapter else None
        )
        if batch_size < 1:
            raise GeneratorError(f"batch size must be >= 1, not {batch_size!r}")
        self.batch_size = batch_size
        self.workspace = workspace
        self._device = device
        self._loaded: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def describe(self, settings: GenerationSettings) -> str:
        adapter = self._adapter_for(settings)
        return f"{self.model_path.name}" + (f" + adapter {adapter}" if adapter else "")

    def _adapter_for(self, settings: GenerationSettings) -> Path | None:
        if settings.adapter:
            return resolve_adapter(settings.adapter, self.model_path, self.workspace)
        return self.adapter_path

    def _load(self, adapter: Path | None) -> tuple[Any, Any]:
        key = str(adapter or "")
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars would garble the CLI

            try:
                tok = AutoTokenizer.from_pretrained(str(self.model_path), local_files_only=True)
                # A causal LM, or below the PeftModel around it: used duck-typed
                # (generate, parameters, config), as the cache holds it.
                model: Any = AutoModelForCausalLM.from_pretrained(
                    str(self.model_path), local_files_only=True
                )
            except Exception as exc:
                raise GeneratorError(
                    f"{self.model_path} could not be loaded as a causal LM: {_one_line(exc, 200)}"
                ) from None
            if adapter is not None:
                from peft import PeftModel

                try:
                    with warnings.catch_warnings():
                        # peft asks the deprecated `is_gradient_checkpointing` of newer
                        # transformers: a FutureWarning on stderr, not the user's business.
                        warnings.filterwarnings(
                            "ignore", ".*is_gradient_checkpointing", FutureWarning
                        )
                        model = PeftModel.from_pretrained(model, str(adapter))
                except Exception as exc:
                    raise GeneratorError(
                        f"adapter {adapter} does not fit {self.model_path.name}: "
                        f"{_one_line(exc, 200)}"
                    ) from None
            device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            model.to(device)
            model.eval()
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            tok.padding_side = "left"  # decoder-only: pad on the left for batched generation
            self._loaded[key] = (tok, model)
            return tok, model

    def eval_loss(
        self,
        samples: Sequence[EvalSample],
        settings: GenerationSettings,
        *,
        cancel: threading.Event | None = None,
    ) -> Optional[float]:
        """Mean cross-entropy (nats per token) of each sample's reference answer given
        its prompt, as the trainer's response-only loss counts it; None for no samples."""
        import torch

        tok, model = self._load(self._adapter_for(settings))
        device = next(model.parameters()).device
        max_len = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        items = _loss_batches(tok, samples, settings, max_len)
        total, count = 0.0, 0
        for start in range(0, len(items), self.batch_size):
            if cancel is not None and cancel.is_set():
                break
            chunk = items[start : start + self.batch_size]
            width = max(len(ids) for ids, _ in chunk)
            pad = tok.pad_token_id if tok.pad_token_id is not None else 0
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            labels = torch.full((len(chunk), width), -100, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (ids, begin) in enumerate(chunk):  # right padding: positions stay put
                input_ids[row, : len(ids)] = torch.tensor(ids)
                mask[row, : len(ids)] = 1
                labels[row, begin : len(ids)] = torch.tensor(ids[begin:])
            with torch.inference_mode():
                logits = model(
                    input_ids=input_ids.to(device), attention_mask=mask.to(device)
                ).logits.float()
            shift_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1])
            shift_labels = labels[:, 1:].reshape(-1).to(device)
            loss = torch.nn.functional.cross_entropy(
                shift_logits, shift_labels, ignore_index=-100, reduction="sum"
            )
            total += float(loss.item())
            count += int((shift_labels != -100).sum().item())
        return total / count if count else None

    def generate(
        self,
        samples: Sequence[EvalSample],
        settings: GenerationSettings,
        *,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> list[Optional[Generation]]:
        import torch

        tok, model = self._load(self._adapter_for(settings))
        device = next(model.parameters()).device
        out: list[Optional[Generation]] = [None] * len(samples)
        # Longest prompts first: batches of similar length pad less.
        order = sorted(range(len(samples)), key=lambda i: -len(samples[i].query))
        done = 0
        for start in range(0, len(order), self.batch_size):
            if cancel is not None and cancel.is_set():
                break
            idx = order[start : start + self.batch_size]
            prompts = [prompt_text(tok, samples[i].query, settings.system_prompt) for i in idx]
            t0 = time.perf_counter()
            try:
                enc = tok(
                    prompts, return_tensors="pt", padding=True, truncation=True,
                    max_length=max(16, getattr(model.config, "max_position_embeddings", 2048)
                                   - settings.max_tokens),
                    add_special_tokens=False,
                ).to(device)  # fmt: skip
                with torch.inference_mode():
                    gen = model.generate(
                        **enc,
                        max_new_tokens=settings.max_tokens,
                        do_sample=False,
                        pad_token_id=tok.pad_token_id,
                        eos_token_id=tok.eos_token_id,
                        stopping_criteria=_cancel_criteria(cancel),
                    )
                if cancel is not None and cancel.is_set():
                    break  # stopped mid-batch: its answers are cut short, not kept
            except Exception as exc:  # one batch's failure: its samples carry the error
                err = _one_line(f"generation failed: {exc}")
                for i in idx:
                    out[i] = Generation(latency_seconds=time.perf_counter() - t0, error=err)
                done += len(idx)
                if progress is not None:
                    progress(done, len(samples))
                continue
            elapsed = time.perf_counter() - t0
            width = enc["input_ids"].shape[1]
            for row, i in enumerate(idx):
                new = gen[row, width:].tolist()
                if tok.eos_token_id is not None and tok.eos_token_id in new:
                    new = new[: new.index(tok.eos_token_id)]
                while new and new[-1] == tok.pad_token_id:
                    new.pop()
                out[i] = Generation(
                    answer=tok.decode(new, skip_special_tokens=True)[:ANSWER_CHARS],
                    # wall clock of the batch: how long this answer took to arrive
                    latency_seconds=elapsed,
                    prompt_tokens=int(enc["attention_mask"][row].sum().item()),
                    completion_tokens=len(new),
                )
            done += len(idx)
            if progress is not None:
                progress(done, len(samples))
        return out


def _cancel_criteria(cancel: threading.Event | None) -> Any:
    """transformers' stopping criteria that end a batch's generation at the next token
    once *cancel* is set (a cancel is then quick, not a whole batch later)."""
    if cancel is None:
        return None
    event = cancel
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancelled(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool,
                              device=input_ids.device)  # fmt: skip

    return StoppingCriteriaList([_Cancelled()])


def _loss_batches(
    tok: Any, samples: Sequence[EvalSample], settings: GenerationSettings, max_len: int
) -> list[tuple[list[int], int]]:
    """(token ids of prompt + reference + EOS, where the reference starts) per sample."""
    out = []
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    for s in samples:
        prompt = tok(prompt_text(tok, s.query, settings.system_prompt), add_special_tokens=False)
        answer = tok(s.reference, add_special_tokens=False)
        ids = list(prompt["input_ids"]) + list(answer["input_ids"]) + eos
        start = len(prompt["input_ids"])
        if len(ids) > max_len:  # keep the start of the answer: cut the prompt's head
            cut = len(ids) - max_len
            ids, start = ids[cut:], max(0, start - cut)
        if start < len(ids):
            out.append((ids, start))
    return out


__all__ = [
    "EndpointGenerator",
    "Generation",
    "GenerationSettings",
    "GeneratorError",
    "LocalGenerator",
    "check_model_dir",
    "prompt_text",
    "resolve_adapter",
]
