"""LoRA training figures (issue: LoRA training engine), CPU, the demo's tiny LM.

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

from bench.common import OUT, Figure, report  # noqa: E402

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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--rss-child"]:
        _rss_child(*argv[1:4])
        return 0

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


if __name__ == "__main__":
    sys.exit(main())
