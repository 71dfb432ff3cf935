"""A small random T5 model folder, as `transformers` writes one, with a SentencePiece-style
Unigram tokenizer trained here (T5's `X </s>` template; no downloads): for the family,
tokenizer and seq2seq tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SPECIALS = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2, as T5 numbers them
CORPUS = [
    "Person1: Hello, how are you today? Person2: I am fine, thank you.",
    "The meeting is moved to Monday morning at nine o'clock.",
    "She buys a new coat because the winter is cold in the city.",
    "They talk about the weather, the train and the price of tickets.",
    "A summary says who talks to whom and what they decide.",
    "summarize: translate English to German: the house is wonderful.",
]


def unigram_vocab(
    vocab_size: int = 200, corpus: list[str] | None = None
) -> list[tuple[str, float]]:
    """(piece, log probability) pairs of a Unigram model trained on `corpus`, T5's special
    tokens first (trained once per corpus: tests write several folders)."""
    return list(_trained_vocab(vocab_size, tuple(corpus or CORPUS)))


@cache
def _trained_vocab(vocab_size: int, corpus: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(
        list(corpus) * 5,
        trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>"),
    )
    vocab = tuple(
        (piece, float(score)) for piece, score in json.loads(tok.to_str())["model"]["vocab"]
    )
    assert [piece for piece, _ in vocab[:3]] == SPECIALS, vocab[:3]
    return vocab


def t5_tokenizer(vocab_size: int = 200, corpus: list[str] | None = None, extra_ids: int = 4):
    """transformers' own T5 tokenizer over a trained vocabulary (with a few sentinels)."""
    import transformers

    return transformers.T5Tokenizer(vocab=unigram_vocab(vocab_size, corpus), extra_ids=extra_ids)


def write_tiny_t5(
    folder: Path,
    *,
    head: str = "T5ForConditionalGeneration",
    gated: bool = False,
    tied: bool = True,
    seed: int = 0,
    d_model: int = 32,
    layers: int = 2,
    heads: int = 4,
    d_kv: int = 8,
    d_ff: int = 64,
    corpus: list[str] | None = None,
    vocab_size: int = 200,
    jitter: float = 0.05,
    **config,
) -> Path:
    """Write a random T5 (`head`: a transformers class name) and its tokenizer.

    `gated` is v1.1 (gated-GELU); `tied=False` gives v1.1's own LM head, written as the hub's
    v1.1 / Flan-T5 folders have it (`tie_word_embeddings: false`, both weights saved)."""
    import torch
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = t5_tokenizer(vocab_size, corpus)
    settings = dict(
        vocab_size=len(tokenizer), d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=layers,
        num_heads=heads, relative_attention_num_buckets=8, relative_attention_max_distance=20,
        feed_forward_proj="gated-gelu" if gated else "relu", tie_word_embeddings=tied,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    settings.update(config)
    torch.manual_seed(seed)
    model = getattr(transformers, head)(transformers.T5Config(**settings))
    if not tied and hasattr(model, "lm_head"):  # transformers 5 ties it whatever the config
        model.lm_head.weight = torch.nn.Parameter(torch.randn(model.lm_head.weight.shape))
    if jitter:
        with torch.no_grad():  # off the initial values (zero biases, unit norms)
            for param in model.parameters():
                param.add_(torch.randn(param.shape) * jitter)
    model.save_pretrained(folder)
    if not tied:
        config_file = folder / "config.json"
        data = json.loads(config_file.read_text(encoding="utf-8"))
        data["tie_word_embeddings"] = False
        data.pop("scale_decoder_outputs", None)  # as the hub's v1.1 configs: neither scale nor tie
        config_file.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tokenizer.save_pretrained(folder)
    return folder
