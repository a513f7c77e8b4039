"""LoRA training figures, CPU. Default (issues 15 and 16): a 30M-parameter Qwen2-shaped
model built offline (hidden 512, 8 layers, 8k vocab), ours vs HF Trainer + peft with its
defaults, tokens/s, model FLOP/s and MFU against the GEMM peak measured in the same run,
the final loss against an fp32 run, and DDP on 2 gloo ranks vs 1 process on the tiny LM.
``--pairs N`` trains on N of the 200 mined pairs (default 32, to keep a run to minutes);
``--threads N`` sets the torch threads of every contender; ``--cpu-time`` gives rates per
CPU-second of this process (one thread unless ``--threads``), for a machine shared with
other work.

``--tiny``: the figures of the first training issue, on the demo tiny LM:

Run: ``python -m bench.bench_training``. 200 SFT pairs mined from a 2,000-trace
demo store (realistic lengths: short questions to code and long answers), batch
4, one epoch, the spec's LoRA settings (rank 16, alpha 32, dropout 0.05, q/v),
and three trainers measured in the same run on the same model and data:

(a) ours — :class:`LoRATrainer` (response-only loss, dynamic padding,
    length-grouped batches), timed end to end (tokenising, model load, training,
    adapter saves);
(b) the spec's approach — every example padded to ``max_seq_length`` = 2,048,
    ``labels=input_ids`` (loss over padding too), batches in data order; timed on
    its training steps only (its tokenising and model load are free), weights
    in float32 like ours (the reference loads bf16, which is slower on most
    CPUs: this makes the baseline faster, not slower);
(d) a plain Hugging Face ``transformers.Trainer`` + peft, dynamic padding with
    ``DataCollatorForSeq2Seq``, the same prompt-masked labels, same
    hyper-parameters, ``use_cpu=True``, no hub, no reporting; timed end to end
    from model load (its tokenising is free: it gets our token ids).

Figures: real (non-pad) tokens/s, ours vs each baseline; and the peak RSS of
one-epoch runs on 200 and on 2,000 pairs (in fresh processes), which must stay
flat: memory follows the batch, not the data. Exits 1 when a target is missed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# As `jarvis-tui train` does before torch is imported (HF's run, in this process too,
# gets the same allocator: the ratio is the conservative one).
from jarvis_tui.learning.training.cpu_fast import prefer_huge_pages  # noqa: E402

prefer_huge_pages()

from bench.common import OUT, Figure, count_arg, parser, report  # noqa: E402

N_PAIRS = 200
N_PAIRS_BIG = 2_000
SPEC_MAX_LEN = 2048
SPEC_STEPS = 8  # the spec's steps are slow (4 × 2,048 tokens): a rate needs only a few
REPEAT = 3


def _config(**kw):
    from jarvis_tui.learning.training.lora import LoRATrainingConfig

    base = dict(num_epochs=1, batch_size=4, max_seq_length=SPEC_MAX_LEN)
    base.update(kw)
    return LoRATrainingConfig(**base)


def _pairs(traces: int, n: int) -> list[dict]:
    """*n* SFT pairs mined from a demo store of *traces* traces (built once, cached)."""
    from jarvis_tui.demo import build_demo
    from jarvis_tui.learning.training import TrainingDataMiner
    from jarvis_tui.traces import TraceStore

    root = OUT / f"train-demo-{traces}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        build_demo(root, traces=traces)
        (root / ".complete").write_text("ok\n")
    store = TraceStore(root / "traces.db")
    try:
        pairs = TrainingDataMiner(store).extract_sft_pairs()[:n]
    finally:
        store.close()
    if len(pairs) < n:
        raise SystemExit(f"the {traces}-trace demo gave {len(pairs)} SFT pairs, need {n}")
    return [{"input": p["input"], "output": p["output"]} for p in pairs]


# --------------------------------------------------------------------------- (a) ours


def run_ours(model: str, pairs: list[dict], runs: Path) -> dict:
    from jarvis_tui.learning.training.lora import LoRATrainer

    t0 = time.perf_counter()
    summary = LoRATrainer(_config(), model_name=model).train(pairs, run_dir=runs)
    wall = time.perf_counter() - t0
    assert summary["status"] == "completed", summary
    return {"tokens": summary["tokens"], "wall": wall, "steps_rate": summary["tokens_per_s"]}


# --------------------------------------------------------------------------- (b) the spec


def run_spec(model: str, pairs: list[dict], steps: int = SPEC_STEPS) -> dict:
    """The reference's loop: pad to max_length, labels=input_ids, batches in order."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jarvis_tui.learning.training.lora import quiet_transformers

    cfg = _config()
    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(model)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        dataset = []
        for pair in pairs:
            text = tok.apply_chat_template(
                [{"role": "user", "content": pair["input"]},
                 {"role": "assistant", "content": pair["output"]}],
                tokenize=False, add_generation_prompt=False,
            )  # fmt: skip
            enc = tok(text, truncation=True, max_length=cfg.max_seq_length,
                      padding="max_length", return_tensors="pt")  # fmt: skip
            dataset.append((enc["input_ids"].squeeze(0), enc["attention_mask"].squeeze(0)))
        net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        net.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        net = get_peft_model(net, LoraConfig(
            task_type=TaskType.CAUSAL_LM, r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout, target_modules=cfg.target_modules,
        ))  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    net.train()
    real = 0
    t0 = time.perf_counter()
    for i in range(0, min(len(dataset), steps * cfg.batch_size), cfg.batch_size):
        items = dataset[i : i + cfg.batch_size]
        ids = torch.stack([x[0] for x in items])
        mask = torch.stack([x[1] for x in items])
        loss = net(input_ids=ids, attention_mask=mask, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
        opt.step()
        loss.item()
        real += int(mask.sum())
    wall = time.perf_counter() - t0
    return {"tokens": real, "wall": wall}


# --------------------------------------------------------------------------- (c) HF Trainer


def run_hf_trainer(model: str, examples: list[dict], out: Path) -> dict:
    import dataclasses

    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from jarvis_tui.learning.training.lora import quiet_transformers

    cfg = _config()
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    kw: dict = dict(
        output_dir=str(out), per_device_train_batch_size=cfg.batch_size, num_train_epochs=1,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm, lr_scheduler_type="cosine", report_to=[],
        use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0,
        dataloader_num_workers=0, remove_unused_columns=False,
    )  # fmt: skip
    if "warmup_ratio" in fields:
        kw["warmup_ratio"] = cfg.warmup_ratio
    else:  # transformers 5: a float below 1 is a ratio
        kw["warmup_steps"] = cfg.warmup_ratio
    ckpt = (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing"
    )
    kw[ckpt] = cfg.gradient_checkpointing
    kw[f"{ckpt}_kwargs"] = {"use_reentrant": False}
    dataset = [
        {"input_ids": e["input_ids"], "attention_mask": [1] * e["length"], "labels": e["labels"]}
        for e in examples
    ]
    t0 = time.perf_counter()
    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(model)
        net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        net.config.use_cache = False
        net = get_peft_model(net, LoraConfig(
            task_type=TaskType.CAUSAL_LM, r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout, target_modules=cfg.target_modules,
        ))  # fmt: skip
        trainer = Trainer(
            model=net,
            args=TrainingArguments(**kw),
            train_dataset=dataset,
            data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100),
        )
        trainer.train()
    wall = time.perf_counter() - t0
    return {"tokens": sum(e["length"] for e in examples), "wall": wall}


# --------------------------------------------------------------------------- (d) memory


def _peak_rss_kb() -> int:
    """This process's peak RSS. ``ru_maxrss`` survives fork+exec on Linux (a child
    started from a big parent reports the parent's size), so read the memory
    map's own high-water mark when there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rss_child(pairs_file: str, model: str, runs: str) -> None:
    """In a fresh process: one epoch on the pairs in *pairs_file*; print peak RSS."""
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from jarvis_tui.learning.training.lora import LoRATrainer

    libs_kb = _peak_rss_kb()  # the libraries alone, before any data
    pairs = json.loads(Path(pairs_file).read_text())
    summary = LoRATrainer(_config(), model_name=model).train(pairs, run_dir=runs)
    peak_kb = _peak_rss_kb()
    print(json.dumps({"status": summary["status"], "steps": summary["total_steps"],
                      "peak_mb": peak_kb / 1024, "libs_mb": libs_kb / 1024}))  # fmt: skip


def peak_rss(pairs: list[dict], model: str, work: Path) -> dict:
    pairs_file = work / f"pairs-{len(pairs)}.json"
    pairs_file.write_text(json.dumps(pairs))
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_training", "--rss-child", str(pairs_file), model,
         str(work / "rss-runs")],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main


def tiny_main() -> int:
    """The tiny-LM figures of the first training issue (``--tiny``)."""

    import warnings

    import torch

    from jarvis_tui.learning.training.lora import LoRATrainer
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    # peft on this transformers asks deprecated attributes; not ours to fix here.
    warnings.filterwarnings("ignore", category=FutureWarning)

    t_start = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-training-", dir=OUT))
    try:
        model = str(ensure_tiny_lm(OUT / "models"))
        pairs = _pairs(2_000, N_PAIRS)
        examples = LoRATrainer(_config(), model_name=model).prepare_dataset(pairs)
        lengths = [e["length"] for e in examples]
        print(
            f"{len(pairs)} pairs: {sum(lengths):,} tokens, median {statistics.median(lengths):.0f},"
            f" max {max(lengths)}; torch threads {torch.get_num_threads()}",
            flush=True,
        )
        # Warm-up (allocator, kernels, lazy imports), then alternate the contenders.
        run_ours(model, pairs[:16], work / "warm")
        ours, hf = [], []
        for i in range(REPEAT):
            ours.append(run_ours(model, pairs, work / "runs"))
            hf.append(run_hf_trainer(model, examples, work / f"hf-{i}"))
        spec = run_spec(model, pairs)

        def rate(r: dict) -> float:
            return r["tokens"] / r["wall"]

        ours_rate = statistics.median(rate(r) for r in ours)
        hf_rate = statistics.median(rate(r) for r in hf)
        spec_rate = rate(spec)
        print(
            f"ours: {ours_rate:,.0f} tok/s end to end ({statistics.median(r['steps_rate'] for r in ours):,.0f}"
            f" in its training steps); HF Trainer: {hf_rate:,.0f}; spec: {spec_rate:,.0f}"
            f" ({spec['tokens']:,} real tokens of {SPEC_STEPS * 4 * SPEC_MAX_LEN:,} in {SPEC_STEPS} steps)",
            flush=True,
        )

        big = _pairs(8_000, N_PAIRS_BIG)
        small_rss = peak_rss(pairs, model, work)
        big_rss = peak_rss(big, model, work)
        # What the spec's prepare_dataset alone would hold: two int64 tensors of
        # max_seq_length per pair, all at once.
        spec_mb = [n * SPEC_MAX_LEN * 8 * 2 / 2**20 for n in (N_PAIRS, N_PAIRS_BIG)]
        print(
            f"peak RSS, {N_PAIRS} / {N_PAIRS_BIG:,} pairs: {small_rss['peak_mb']:.0f} /"
            f" {big_rss['peak_mb']:.0f} MB ({small_rss['libs_mb']:.0f} MB of it torch +"
            f" transformers + peft; {small_rss['steps']} / {big_rss['steps']} steps); the spec's"
            f" padded tensors alone would be {spec_mb[0]:.0f} / {spec_mb[1]:.0f} MB",
            flush=True,
        )
        growth = big_rss["peak_mb"] / small_rss["peak_mb"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    figs = [
        Figure("real tokens/s vs the spec's approach (pad to 2,048)", "≥ 5×", ours_rate,
               "tok/s", ours_rate >= 5 * spec_rate, spec_rate, "spec", higher_is_better=True),
        Figure("real tokens/s vs HF Trainer + peft", "≥ 1×", ours_rate, "tok/s",
               ours_rate >= hf_rate, hf_rate, "HF Trainer", higher_is_better=True),
        Figure("peak RSS, 2,000 pairs vs 200 (1 epoch each)", "≤ 1.15×", big_rss["peak_mb"],
               "MB", growth <= 1.15, small_rss["peak_mb"], "200 pairs"),
    ]  # fmt: skip
    print(f"bench time {time.perf_counter() - t_start:.0f} s")
    return 0 if report(figs, f"LoRA training — tiny LM, {N_PAIRS} pairs, batch 4, CPU") else 1


# =========================================================================== issue 15 / 16
# The 30M-parameter model at the machine's speed, and DDP on two CPU processes.

BIG = dict(hidden_size=512, layers=8, heads=8, vocab_size=8192)
BIG_PAIRS = 32  # of the 200 mined, to keep a run to minutes (--pairs 200 for all)
CPU_TIME = False
"""``--cpu-time``: rates per CPU-second of this process instead of per wall second (on a
machine shared with other work, what the code costs rather than what the neighbours
leave it; with one thread unless ``--threads`` says otherwise). The GEMM peak is timed
the same way. Ours is then timed over its whole ``train()`` (tokenising, model load,
adapter saves included); HF Trainer over its ``train()``."""


def _clock() -> float:
    return time.process_time() if CPU_TIME else time.perf_counter()


def build_30m(path: Path) -> str:
    """A 30M-parameter Qwen2-shaped model (hidden 512, 8 layers, 8 heads, MLP 1536, 8,192
    vocabulary rows) with the tiny LM's byte-level tokenizer, offline, cached in bench/out."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from jarvis_tui.learning.training.tinylm import build_tiny_lm

    if (path / "config.json").is_file() and (path / ".complete").is_file():
        return str(path)
    build_tiny_lm(path, seed=0, hidden_size=512, layers=8, heads=8, vocab_size=8192)
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(vocab_size=8192, intermediate_size=1536)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = Qwen2ForCausalLM(
            Qwen2Config(**{k: v for k, v in cfg.items() if k != "architectures"})
        )
    net.save_pretrained(path, safe_serialization=True)
    (path / ".complete").write_text("ok\n")
    return str(path)


def gemm_peak(dtype_name: str, seconds: float = 1.5) -> dict:
    """Best GFLOP/s of a GEMM over a few training-like shapes, at the thread count the runs
    use, through every kernel torch offers on this CPU: ``torch.mm`` (MKL for fp32) and
    oneDNN (``torch.ops.mkldnn._linear_pointwise``, what inductor and our fp32 fast path
    call); ``{"best": ..., kernel: ...}``. Measured in this run, under this load."""
    import torch

    dtype = getattr(torch, dtype_name)
    kernels = {"torch.mm": lambda a, w: a @ w.t()}
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        kernels["oneDNN"] = lambda a, w: torch.ops.mkldnn._linear_pointwise(
            a, w, None, "none", [], ""
        )
    out = {name: 0.0 for name in kernels}
    shapes = ((1024, 512, 1024), (2048, 512, 1536), (2048, 1536, 512), (1024, 1024, 1024))
    for n, k, m in shapes:
        a, w = torch.randn(n, k, dtype=dtype), torch.randn(m, k, dtype=dtype)
        for name, fn in kernels.items():
            try:
                fn(a, w)
            except RuntimeError:  # this kernel does not take this dtype here
                continue
            reps, t0 = 0, _clock()
            while _clock() - t0 < seconds / len(shapes) / len(kernels):
                fn(a, w)
                reps += 1
            rate = 2 * n * k * m * reps / (_clock() - t0) / 1e9
            out[name] = max(out[name], rate)
    out["best"] = max(out.values())
    return out


def model_flops(model_dir: str, examples: list[dict]) -> float:
    """Model FLOPs of one LoRA epoch over *examples* (the useful work; padding not counted).

    Per sequence of *s* real tokens, *r* of which have a label (the response):
    - the frozen decoder linears (q, k, v, o, gate, up, down): 2N·s forward and 2N·s
      for the input gradient backward (frozen weights need no weight gradient), except
      layer 0's q, k and v, whose input (the frozen embeddings) needs no gradient;
    - attention: QKᵀ and AV, 4·s²·h forward per layer, halved for the causal mask (the
      upper triangle is not useful work), twice that backward: 6·s²·h per layer;
    - the LoRA adapters (A and B on q and v): 2(h·rank + rank·out) forward per token,
      3× that with the backward (both weight gradients and the input gradient);
    - the lm_head (tied or not, frozen): 4·h·V per *labelled* token, forward and input
      gradient: the loss needs no logits at prompt or padding positions; for the same
      reason the last layer's o_proj and MLP count at the labelled positions only (at
      the others their output reaches nothing the loss reads).
    Not counted: norms, rotary, softmax and other elementwise work, the optimizer, and
    recomputation under gradient checkpointing (not model FLOPs). HF Trainer's figure
    uses the same count, so its extra work (padding, logits at every position) is
    not credited to it either.
    """
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    h, layers, inter = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    qkv = h * h + 2 * h * kv
    per_layer = qkv + h * h + 3 * h * inter
    rank = 16  # the bench's LoRA rank on q (h → h) and v (h → kv)
    lora = 2 * (h * rank + rank * h) + 2 * (h * rank + rank * kv)
    total = 0.0
    for e in examples:
        s = e["length"]
        r = sum(1 for x in e["labels"][1:] if x != -100)
        total += 4 * layers * per_layer * s - 2 * qkv * s
        total -= 4 * (h * h + 3 * h * inter) * (s - r)
        total += 6 * layers * h * s * s
        total += 3 * layers * lora * s
        total += 4 * h * cfg["vocab_size"] * r
    return total


def run_ours_30m(model: str, pairs: list[dict], runs: Path, precision: str | None = None) -> dict:
    from jarvis_tui.learning.training.lora import LoRATrainer

    trainer = LoRATrainer(_config(), model_name=model, precision=precision)
    c0 = time.process_time()
    s = trainer.train(pairs, run_dir=runs)
    cpu = time.process_time() - c0
    assert s["status"] == "completed", s
    return {"tokens": s["tokens"], "wall": cpu if CPU_TIME else s["train_seconds"],
            "loss": s["final_loss"],
            "fast": s["fast_path"], "load": _load()}  # fmt: skip


def run_hf_defaults(model: str, examples: list[dict], out: Path) -> dict:
    """HF Trainer + peft with the Trainer's defaults (fp32, no checkpointing, no length
    grouping), the same data, LoRA settings and hyper-parameters; its train() timed."""
    import dataclasses

    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from jarvis_tui.learning.training.lora import quiet_transformers

    cfg = _config()
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    kw: dict = dict(
        output_dir=str(out), per_device_train_batch_size=cfg.batch_size, num_train_epochs=1,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm, lr_scheduler_type="cosine", report_to=[],
        use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0,
        remove_unused_columns=False,
    )  # fmt: skip
    kw["warmup_ratio" if "warmup_ratio" in fields else "warmup_steps"] = cfg.warmup_ratio
    dataset = [
        {"input_ids": e["input_ids"], "attention_mask": [1] * e["length"], "labels": e["labels"]}
        for e in examples
    ]
    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(model)
        net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        net.config.use_cache = False
        net = get_peft_model(net, LoraConfig(
            task_type=TaskType.CAUSAL_LM, r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout, target_modules=cfg.target_modules,
        ))  # fmt: skip
        trainer = Trainer(
            model=net, args=TrainingArguments(**kw), train_dataset=dataset,
            data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100),
        )  # fmt: skip
        t0 = _clock()
        trainer.train()
        wall = _clock() - t0
    return {"tokens": sum(e["length"] for e in examples), "wall": wall, "load": _load()}


def _load() -> str:
    """The 1-minute load average over the cores (the machine is shared: every figure says it)."""
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _kernels(peak: dict) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in peak.items() if k != "best") + " GFLOP/s"


DDP_SCRIPT = """
import json, sys
from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig
model, pairs_file, runs, cfg = sys.argv[1:5]
t = LoRATrainer(LoRATrainingConfig(**json.loads(cfg)), model_name=model, device="cpu", threads=1)
s = t.train(json.load(open(pairs_file)), run_dir=runs, eval_fraction=0.25, seed=3)
if t.dist.rank == 0:
    print(json.dumps(s))
"""


def ddp_vs_one(model: str, pairs: list[dict], work: Path) -> dict:
    """Two gloo ranks (batch 2 each, under torchrun) vs one process (batch 4)."""
    from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig

    cfg = dict(num_epochs=2, learning_rate=1e-2, max_seq_length=256, lora_dropout=0.0)
    pf, script = work / "ddp-pairs.json", work / "ddp_rank.py"
    pf.write_text(json.dumps(pairs))
    script.write_text(DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                      env.get("PYTHONPATH")]))  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), model, str(pf), str(work / "ddp"), json.dumps({**cfg, "batch_size": 2})],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    ddp_wall = time.perf_counter() - t0
    ddp = json.loads(out.stdout.strip().splitlines()[-1])
    t0 = time.perf_counter()
    one = LoRATrainer(
        LoRATrainingConfig(**{**cfg, "batch_size": 4}), model_name=model, device="cpu", threads=1
    ).train(pairs, run_dir=work / "one", eval_fraction=0.25, seed=3)
    one_wall = time.perf_counter() - t0

    def recs(s: dict) -> list[dict]:
        return [
            json.loads(x) for x in (Path(s["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        ]

    def shape(s: dict) -> tuple:
        run = Path(s["run_dir"])
        meta = json.loads((run / "run.json").read_text())
        return (sorted(p.name for p in run.iterdir()), [(r["type"], sorted(r)) for r in recs(s)],
                sorted(meta), sorted(meta["config"]), sorted(meta["summary"]))  # fmt: skip

    a = [r["loss"] for r in recs(ddp) if r["type"] == "step"]
    b = [r["loss"] for r in recs(one) if r["type"] == "step"]
    worst = max(abs(x - y) / abs(y) for x, y in zip(a, b, strict=True)) if len(a) == len(b) else 1.0
    return {"worst_rel": worst, "steps": (len(a), len(b)), "same_shape": shape(ddp) == shape(one),
            "ddp_wall": ddp_wall, "one_wall": one_wall}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--rss-child"]:
        _rss_child(*argv[1:4])
        return 0
    ap = parser(__doc__, __name__)
    ap.add_argument("--tiny", action="store_true",
                    help="the first training issue's figures, on the demo tiny LM")  # fmt: skip
    ap.add_argument("--pairs", type=int, default=BIG_PAIRS, metavar=f"1..{N_PAIRS}",
                    help=f"train on N of the {N_PAIRS} mined pairs (default {BIG_PAIRS})")  # fmt: skip
    ap.add_argument("--threads", type=count_arg, default=None, metavar="N",
                    help="torch threads of every contender and the peak (default: torch's)")  # fmt: skip
    ap.add_argument("--cpu-time", action="store_true",
                    help="rates per CPU-second of this process (one thread unless --threads)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.tiny:
        return tiny_main()
    n_pairs = args.pairs
    global CPU_TIME
    CPU_TIME = args.cpu_time
    threads = args.threads
    if not 1 <= n_pairs <= N_PAIRS:
        ap.error(f"--pairs must be 1 to {N_PAIRS} (the mined pairs)")
    if threads is None and CPU_TIME:
        threads = 1

    import warnings

    import torch

    from jarvis_tui.learning.training.lora import LoRATrainer, cpu_bf16_supported
    from jarvis_tui.learning.training.tinylm import ensure_tiny_lm

    warnings.filterwarnings("ignore", category=FutureWarning)
    if threads:
        torch.set_num_threads(threads)  # ours, HF Trainer and the peak alike
    t_start = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-training-", dir=OUT))
    try:
        mined = _pairs(2_000, N_PAIRS)
        model = build_30m(OUT / "models" / "qwen2-30m")
        pairs = mined[:n_pairs]
        examples = LoRATrainer(_config(), model_name=model).prepare_dataset(pairs)
        lengths = [e["length"] for e in examples]
        n_params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM
                       .from_pretrained(model).parameters())  # fmt: skip
        native = cpu_bf16_supported()
        print(f"model {n_params / 1e6:.1f}M params; {len(pairs)} of {len(mined)} pairs:"
              f" {sum(lengths):,} tokens, median {statistics.median(lengths):.0f};"
              f" torch threads {torch.get_num_threads()}; native bf16: {native}", flush=True)  # fmt: skip
        p32 = [gemm_peak("float32")]
        p16 = [gemm_peak("bfloat16", seconds=0.6 if not native else 1.5)]
        print(f"peak GEMM this run: fp32 {_kernels(p32[0])}; bf16 {_kernels(p16[0])};"
              f" load {_load()}", flush=True)  # fmt: skip
        run_ours_30m(model, pairs[:8], work / "warm")
        # Alternated, the faster of each kept: on a machine shared with other work the
        # load changes from minute to minute, and the best run is the least disturbed.
        ours_runs, hf_runs = [], []
        for i in range(2):
            ours_runs.append(run_ours_30m(model, pairs, work / f"ours-{i}"))
            hf_runs.append(run_hf_defaults(model, examples, work / f"hf-{i}"))
        ours = min(ours_runs, key=lambda r: r["wall"])
        hf = min(hf_runs, key=lambda r: r["wall"])
        ref = ours if ours["fast"]["precision"] == "fp32" else run_ours_30m(
            model, pairs, work / "fp32", precision="fp32")  # fmt: skip
        # The peak again after the runs: the higher of the two (the lower MFU) is kept.
        p32.append(gemm_peak("float32"))
        p16.append(gemm_peak("bfloat16", seconds=0.6 if not native else 1.5))
        print(f"peak GEMM after the runs: fp32 {_kernels(p32[1])}; bf16 {_kernels(p16[1])};"
              f" load {_load()}", flush=True)  # fmt: skip
        peak32 = max(p["best"] for p in p32)
        peak16 = max(p["best"] for p in p16)
        for name, runs_ in (("ours", ours_runs), ("HF", hf_runs)):
            print(f"{name}: " + ", ".join(f"{r['tokens'] / r['wall']:,.0f} tok/s"
                                          f" (load {r['load']})" for r in runs_), flush=True)  # fmt: skip
        flops = model_flops(model, examples)
        ours_rate, hf_rate = ours["tokens"] / ours["wall"], hf["tokens"] / hf["wall"]
        achieved = flops / ours["wall"] / 1e9
        peak = peak16 if ours["fast"]["precision"] == "bf16" else peak32
        print(f"ours' fast path: {ours['fast']}", flush=True)
        mfu = achieved / peak
        print(f"ours ({ours['fast']['precision']}, checkpointing {ours['fast']['checkpointing']},"
              f" {ours['fast']['attention']}): {ours_rate:,.0f} tok/s, {achieved:.1f} GFLOP/s"
              f" = {mfu:.0%} of the {peak:.0f} GFLOP/s peak; HF Trainer: {hf_rate:,.0f} tok/s,"
              f" {flops / hf['wall'] / 1e9:.1f} GFLOP/s; final loss {ours['loss']:.4f} vs fp32"
              f" {ref['loss']:.4f}; load {_load()}", flush=True)  # fmt: skip
        tiny = str(ensure_tiny_lm(OUT / "models"))
        dd = ddp_vs_one(tiny, mined[:20], work)
        print(f"DDP 2 ranks vs 1 process: steps {dd['steps']}, worst loss difference"
              f" {dd['worst_rel']:.2e}, same run-folder shape {dd['same_shape']},"
              f" {dd['ddp_wall']:.0f} s vs {dd['one_wall']:.0f} s", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    loss_gap = abs(ours["loss"] - ref["loss"]) / ref["loss"]
    figs = [
        Figure("30M model: real tokens/s vs HF Trainer + peft (defaults)", "≥ 2.5×", ours_rate,
               "tok/s", ours_rate >= 2.5 * hf_rate, hf_rate, "HF Trainer", higher_is_better=True),
        Figure(f"30M model: MFU vs measured {'bf16' if peak == peak16 else 'fp32'} GEMM peak",
               "≥ 50%", 100 * mfu, "%", mfu >= 0.5, higher_is_better=True),
        Figure("30M model: final loss vs the fp32 run", "within 2%", 100 * loss_gap, "%",
               loss_gap <= 0.02),
        Figure("DDP 2 gloo ranks vs 1 process: worst step-loss difference", "≤ 0.1%",
               100 * dd["worst_rel"], "%", dd["worst_rel"] <= 1e-3 and dd["same_shape"]),
    ]  # fmt: skip
    print(f"bench time {time.perf_counter() - t_start:.0f} s")
    per = "per CPU-second" if CPU_TIME else "per second"
    title = f"LoRA training — 30M Qwen2, {len(pairs)} pairs, batch 4, CPU, rates {per}"
    return 0 if report(figs, title) else 1


if __name__ == "__main__":
    sys.exit(main())
