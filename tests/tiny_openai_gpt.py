"""A small random GPT-1 (openai-gpt) folder as `transformers` writes one, with a lowercasing
`</w>` BPE trained here (no downloads), for the family and tokenizer tests."""

from __future__ import annotations

import json
from pathlib import Path

from tiny_gpt2 import CORPUS

UNK = "<unk>"


def write_bpe_files(folder: Path, vocab_size: int = 200) -> dict[str, int]:
    """vocab.json + merges.txt as GPT-1's slow tokenizer has them: BERT-style lowercasing and
    splitting, words ending in "</w>", and <unk> LAST (as in openai-gpt, where id 0 is ".")."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token=UNK, end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[UNK], end_of_word_suffix="</w>"
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    tokenizer.model.save(str(folder))
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    order = sorted((t for t in vocab if t != UNK), key=vocab.__getitem__) + [UNK]
    vocab = {token: i for i, token in enumerate(order)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return vocab


def write_tiny_openai_gpt(
    folder: Path,
    *,
    files: str = "tokenizer.json",
    head: str = "OpenAIGPTLMHeadModel",
    seed: int = 0,
    **config,
) -> Path:
    """A random GPT-1 (`head`: a transformers class name) and its tokenizer in `folder`.
    `files`: "tokenizer.json" (as OpenAIGPTTokenizer.save_pretrained writes it) or
    "vocab+merges" (the slow tokenizer's two files only)."""
    import torch
    import transformers

    folder = Path(folder)
    vocab = write_bpe_files(folder)
    tokenizer = transformers.OpenAIGPTTokenizer.from_pretrained(str(folder))
    if files == "tokenizer.json":
        (folder / "vocab.json").unlink()
        (folder / "merges.txt").unlink()
        tokenizer.save_pretrained(str(folder))
    elif files != "vocab+merges":
        raise ValueError(files)
    settings = dict(vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=2, n_head=4)
    settings.update(config)
    torch.manual_seed(seed)
    model = getattr(transformers, head)(transformers.OpenAIGPTConfig(**settings))
    with torch.no_grad():  # off the initial values (zero biases, unit norms)
        for param in model.parameters():
            param.add_(torch.randn(param.shape) * 0.05)
    model.save_pretrained(folder)
    return folder
