"""A tiny causal LM built offline, so training works with no downloads.

:func:`build_tiny_lm` trains a byte-level BPE tokenizer in-process with
``tokenizers`` on a small corpus, creates a randomly initialised transformers
Qwen2 model (its attention has ``q_proj`` / ``v_proj``, the LoRA targets of the
spec's defaults) and saves both as a normal local Hugging Face model folder:
``AutoModelForCausalLM.from_pretrained(path)`` and
``AutoTokenizer.from_pretrained(path)`` load it with no network.

The model knows nothing (random weights); it exists so that the training loop,
the run folder and the Training pane can be exercised end to end on a laptop in
seconds. Any local HF model folder can be used instead.

torch / transformers / tokenizers are imported inside the functions only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from jarvis_tui.learning.training.lora import quiet_transformers
from jarvis_tui.paths import DIR_MODE, ensure_dir

TINY_LM_NAME = "tiny-lm"

EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
SPECIAL_TOKENS = [PAD_TOKEN, "<|im_start|>", EOS_TOKEN]

# The Qwen/ChatML layout; the trainer finds the prompt/response boundary by
# rendering the prompt with ``add_generation_prompt=True``.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_QWEN2_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Long enough for the spec's max_seq_length (2048) with room to spare.
MAX_POSITIONS = 4096

_ENGLISH = [
    "How do I reset my password if I no longer have access to my email?",
    "Summarize the main points of the meeting notes in three bullet points.",
    "The quick brown fox jumps over the lazy dog while the cat watches from the window.",
    "Explain the difference between a process and a thread in simple terms.",
    "What is the capital of France, and what river runs through it?",
    "Write a short, friendly reply thanking the customer for their patience.",
    "The report shows that sales grew by twelve percent in the last quarter.",
    "Please translate the following sentence into Spanish: good morning, everyone.",
    "A good commit message says what changed and why, in the imperative mood.",
    "Compute the average of 12, 15, 19 and 22, then round it to one decimal place.",
    "If a train leaves at 3:45 pm and travels for 2 hours 30 minutes, when does it arrive?",
    "Recommend three books for someone who wants to learn about the history of science.",
    "The weather tomorrow will be cloudy with a chance of rain in the afternoon.",
    "Sure! Here is a concise answer. First, check the settings; then restart the service.",
    "I could not find that file. Could you share the full path and the error message?",
    "Our assistant routes each question to the model that answered similar ones best.",
    "Feedback scores between zero and one tell the learning loop which answers were good.",
    "The integral of x squared from 0 to 3 equals 9, since x cubed over three gives 27/3.",
]

_CODE = [
    "def add(a: int, b: int) -> int:\n    return a + b\n",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
    "import json\n\nwith open('data.json') as fh:\n    rows = json.load(fh)\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n",
    "SELECT model, AVG(feedback) FROM traces GROUP BY model ORDER BY 2 DESC;\n",
    "const total = items.reduce((sum, item) => sum + item.price, 0);\n",
    "def dedupe(rows):\n    seen = set()\n    out = []\n    for r in rows:\n        if r not in seen:\n            seen.add(r)\n            out.append(r)\n    return out\n",
    "try:\n    value = int(text)\nexcept ValueError:\n    value = None\n",
    "$ git commit -m 'Fix the off-by-one error in the pager'\n",
    "```python\nprint('hello, world')\n```\n",
]


def default_corpus() -> list[str]:
    """The built-in corpus: English sentences, code and chat-formatted turns."""
    chats = [
        f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n{a}<|im_end|>\n"
        for q, a in zip(_ENGLISH, _ENGLISH[1:] + _CODE, strict=False)
    ]
    return _ENGLISH + _CODE + chats


def _train_tokenizer(corpus: Iterable[str], vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    # Exactly Qwen2's pipeline: transformers 5 rebuilds a qwen2 model's tokenizer
    # with its own normalizer and pre-tokenizer, so ours must be the same for the
    # ids to agree whichever class loads the folder.
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # A list (not a generator): the trainer sees the same sequence every time.
    tok.train_from_iterator(list(corpus), trainer=trainer)
    return tok


def build_tiny_lm(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    corpus: Optional[Iterable[str]] = None,
    vocab_size: int = 512,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
) -> Path:
    """Build a tiny Qwen2 causal LM and its tokenizer in *path*; return *path*.

    Deterministic for a given *seed* and corpus. Overwrites model files already
    in *path*. Takes well under a second on a CPU.
    """
    if hidden_size % heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of heads ({heads})")
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)}")

    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = ensure_dir(Path(path).expanduser())
    tok = _train_tokenizer(default_corpus() if corpus is None else corpus, vocab_size)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=MAX_POSITIONS,
        padding_side="right",
    )
    hf_tok.chat_template = CHAT_TEMPLATE

    config = Qwen2Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        use_cache=True,
        pad_token_id=tok.token_to_id(PAD_TOKEN),
        eos_token_id=tok.token_to_id(EOS_TOKEN),
        bos_token_id=None,
        dtype="float32",
    )
    # A private generator state: building a model must not move the caller's seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.eval()
    with quiet_transformers():
        model.save_pretrained(out, safe_serialization=True)
        hf_tok.save_pretrained(out)
    # Name the class every transformers version knows for this layout (v5 would
    # write its internal "TokenizersBackend"), and keep the template inline too
    # for versions that do not read chat_template.jinja.
    cfg_path = out / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    tok_cfg.update(tokenizer_class="Qwen2Tokenizer", chat_template=CHAT_TEMPLATE)
    tok_cfg.pop("backend", None)
    cfg_path.write_text(json.dumps(tok_cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def ensure_tiny_lm(models_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """``models_dir/tiny-lm``, built if missing (in a temp dir, then renamed into place).

    A half-built model never appears under the final name: a crash mid-build
    leaves only a temporary folder, which the next call ignores.
    """
    models = ensure_dir(Path(models_dir).expanduser())
    target = models / TINY_LM_NAME
    if (target / "config.json").is_file():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{TINY_LM_NAME}.", dir=models))
    try:
        os.chmod(tmp, DIR_MODE)
        build_tiny_lm(tmp, seed=seed)
        try:
            os.rename(tmp, target)
        except OSError:
            # Someone else finished first (or an empty leftover folder is in the way).
            if (target / "config.json").is_file():
                shutil.rmtree(tmp, ignore_errors=True)
                return target
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
                os.rename(tmp, target)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


__all__ = ["TINY_LM_NAME", "build_tiny_lm", "default_corpus", "ensure_tiny_lm"]
