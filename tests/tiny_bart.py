"""A small random BART model folder, as `transformers` writes one, with a byte-level BPE
tokenizer trained here (RoBERTa's `<s> X </s>` template; no downloads): for the family,
generation, seq2seq-task and CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as BART numbers them
CORPUS = [
    "Person1: Hello, how are you today? Person2: I am fine, thank you.",
    "The meeting is moved to Monday morning at nine o'clock.",
    "She buys a new coat because the winter is cold in the city.",
    "They talk about the weather, the train and the price of tickets.",
    "A summary says who talks to whom and what they decide.",
]


def train_tokenizer(vocab_size: int = 400, corpus: list[str] | None = None):
    """A byte-level BPE with BART's special tokens and RoBERTa's post-processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        (corpus or CORPUS) * 5,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    )
    return tok


def write_tiny_bart(
    folder: Path,
    *,
    head: str = "BartForConditionalGeneration",
    seed: int = 0,
    d_model: int = 32,
    layers: int = 2,
    heads: int = 4,
    ffn: int = 64,
    max_positions: int = 128,
    corpus: list[str] | None = None,
    vocab_size: int = 400,
    jitter: float = 0.05,
    **config,
) -> Path:
    """Write a random BART (`head`: a transformers class name) and its tokenizer."""
    import torch
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(vocab_size, corpus)
    settings = dict(
        vocab_size=tok.get_vocab_size(), d_model=d_model, encoder_layers=layers,
        decoder_layers=layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=max_positions,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
        forced_eos_token_id=2,
    )  # fmt: skip
    settings.update(config)
    torch.manual_seed(seed)
    model = getattr(transformers, head)(transformers.BartConfig(**settings))
    if jitter:
        with torch.no_grad():  # off the initial values (zero biases, unit norms)
            for param in model.parameters():
                param.add_(torch.randn(param.shape) * jitter)
            if hasattr(model, "final_logits_bias"):
                model.final_logits_bias.add_(torch.randn(model.final_logits_bias.shape) * jitter)
    model.save_pretrained(folder)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
        model_max_length=max_positions,
    )  # fmt: skip
    fast.save_pretrained(folder)
    settings_file = folder / "tokenizer_config.json"
    data = json.loads(settings_file.read_text(encoding="utf-8"))
    data["model_max_length"] = max_positions
    settings_file.write_text(json.dumps(data), encoding="utf-8")
    return folder
