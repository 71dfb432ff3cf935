"""A small random GPT-2 model folder, as `transformers` writes one, with a real byte-level BPE
tokenizer trained here (no downloads): for the family, tokenizer, generation and CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

EOS = "<|endoftext|>"
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A small model writes a short story about a cat and a hat.",
    "Café, naïve, Zürich: accents are bytes too. 日本語のテキスト。",
    "Numbers 1 2 3 4 5 and words that repeat, repeat, repeat.",
    "Hello world! Hello again, world.",
]


def train_tokenizer(vocab_size: int = 320):
    """A byte-level BPE like GPT-2's (no prefix space, every byte in the alphabet), with the
    end-of-text token and no pad token."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator(CORPUS * 20, vocab_size=vocab_size, special_tokens=[EOS])
    return tokenizer


def write_tiny_gpt2(
    folder: Path,
    *,
    files: str = "tokenizer.json",
    head: str = "GPT2LMHeadModel",
    seed: int = 0,
    n_positions: int = 128,
    n_embd: int = 32,
    n_layer: int = 2,
    n_head: int = 4,
    **config,
) -> Path:
    """Write a random GPT-2 (`head`: a transformers class name) and its tokenizer to `folder`.
    `files`: "tokenizer.json" or "vocab+merges" (the slow tokenizer's two files)."""
    import torch
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    eos = tokenizer.token_to_id(EOS)
    torch.manual_seed(seed)
    settings = dict(
        vocab_size=tokenizer.get_vocab_size(), n_positions=n_positions, n_embd=n_embd,
        n_layer=n_layer, n_head=n_head, bos_token_id=eos, eos_token_id=eos,
    )  # fmt: skip
    settings.update(config)
    model = getattr(transformers, head)(transformers.GPT2Config(**settings))
    with torch.no_grad():  # off the initial values (zero biases, unit norms)
        for param in model.parameters():
            param.add_(torch.randn(param.shape) * 0.05)
    model.save_pretrained(folder)
    if files == "tokenizer.json":
        tokenizer.save(str(folder / "tokenizer.json"))
    elif files == "vocab+merges":
        tokenizer.save_model(str(folder))  # vocab.json, merges.txt
    else:
        raise ValueError(files)
    tokenizer_config = {"model_max_length": n_positions, "eos_token": EOS, "bos_token": EOS}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    return folder
