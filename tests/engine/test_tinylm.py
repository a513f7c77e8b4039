"""The offline tiny LM: a normal local HF model folder, deterministic, fast, built once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from jarvis_tui.learning.training.tinylm import (  # noqa: E402
    TINY_LM_NAME,
    build_tiny_lm,
    ensure_tiny_lm,
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Any attempt to reach the hub fails loudly instead of silently downloading.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("m") / "tiny", seed=0)


def test_loads_offline_as_a_normal_model_folder(built: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (built / name).is_file(), name
    model = AutoModelForCausalLM.from_pretrained(built, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(built, local_files_only=True)
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    assert {"q_proj", "v_proj"} <= names
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    assert model.config.max_position_embeddings >= 2048
    assert next(model.parameters()).dtype == torch.float32
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.pad_token_id != tok.eos_token_id
    assert len(tok) == model.config.vocab_size == 512
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model(input_ids=ids)
    assert out.logits.shape == (1, ids.shape[1], 512)


def test_loaded_tokenizer_matches_the_trained_one(built: Path) -> None:
    """transformers rebuilds a qwen2 tokenizer with its own pipeline; ids must not change."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    raw = Tokenizer.from_file(str(built / "tokenizer.json"))
    tok = AutoTokenizer.from_pretrained(built)
    text = "def f(x):\n    return x  + 1\n\n Hello, World! ünïcödé 漢字 <|im_end|> tail"
    assert tok(text, add_special_tokens=False)["input_ids"] == raw.encode(text).ids
    assert tok.decode(raw.encode(text).ids) == text


def test_deterministic_for_a_seed(built: Path, tmp_path: Path) -> None:
    again = build_tiny_lm(tmp_path / "again", seed=0)
    other = build_tiny_lm(tmp_path / "other", seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "tokenizer_config.json"):
        assert (again / name).read_bytes() == (built / name).read_bytes(), name
    assert (other / "model.safetensors").read_bytes() != (built / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (built / "tokenizer.json").read_bytes()


def test_building_leaves_the_global_seed_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_lm(tmp_path / "x", seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_custom_corpus_and_sizes(tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    corpus = ["zebra quokka axolotl " * 20] * 5
    path = build_tiny_lm(
        tmp_path / "c", corpus=corpus, vocab_size=300, hidden_size=32, layers=1, heads=2
    )
    tok = AutoTokenizer.from_pretrained(path)
    cfg = AutoConfig.from_pretrained(path)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (32, 1, 2)
    assert len(tok("zebra quokka axolotl", add_special_tokens=False)["input_ids"]) <= 4
    with pytest.raises(ValueError):
        build_tiny_lm(tmp_path / "bad", hidden_size=30, heads=4)


def test_fast(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    build_tiny_lm(tmp_path / "fast")
    assert time.perf_counter() - t0 < 10


def test_ensure_builds_once_atomically(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / f".{TINY_LM_NAME}.leftover").mkdir()  # a crashed build: ignored
    path = ensure_tiny_lm(models)
    assert path == models / TINY_LM_NAME and (path / "config.json").is_file()
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_lm(models) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    # Only the model and the untouched leftover: no temporary folder of ours remains.
    assert sorted(p.name for p in models.iterdir()) == [f".{TINY_LM_NAME}.leftover", TINY_LM_NAME]


def test_ensure_replaces_an_empty_folder_and_cleans_up_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    (models / TINY_LM_NAME).mkdir(parents=True)
    assert (ensure_tiny_lm(models) / "config.json").is_file()

    import jarvis_tui.learning.training.tinylm as tinylm

    def broken(path, **kw):
        Path(path, "partial").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(tinylm, "build_tiny_lm", broken)
    other = tmp_path / "other"
    with pytest.raises(OSError, match="disk full"):
        ensure_tiny_lm(other)
    assert os.listdir(other) == []
