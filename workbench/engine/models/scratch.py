"""A model folder to train from scratch: a GPT-2 config.json (no weights) and a byte-level
BPE tokenizer trained on the user's own training text.

Why a tokenizer of its own: a small model trained from scratch on a few MB of text learns far
faster over a vocabulary of ~1,000 tokens fitted to that text than over GPT-2's 50,257 (whose
embeddings alone would be most of a 10 M-parameter model, most of them never seen). The folder
is an ordinary model folder without weights, so `workbench train --task causal-lm --model
FOLDER` starts it from random weights (`registry.is_from_scratch`) and says so.
bench/tinyshakespeare_gpt2.py trains one on Tiny Shakespeare.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import UserError

EOS = "<|endoftext|>"
"""GPT-2's end-of-text token: the tokenizer's one special token, also bos and pad."""
BYTES = 256
"""A byte-level BPE vocabulary starts from every byte; merges come on top."""


def new_gpt2_folder(
    folder: str | Path,
    texts: Iterable[str],
    vocab_size: int = 1024,
    *,
    n_layer: int = 6,
    n_embd: int = 384,
    n_head: int = 6,
    n_positions: int = 256,
) -> Path:
    """Write config.json (GPT-2, the given sizes, no dropout), tokenizer.json (byte-level BPE
    with at most `vocab_size` tokens, trained on `texts`, GPT-2's <|endoftext|> as its only
    special token) and tokenizer_config.json into a new or empty `folder`."""
    from tokenizers import ByteLevelBPETokenizer

    folder = Path(folder)
    check_gpt2_sizes(vocab_size, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                     n_positions=n_positions)  # fmt: skip
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"{folder} already exists and is not empty; give a new folder")
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise UserError("no text to fit the tokenizer on; give the training text")
    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator(
        texts, vocab_size=vocab_size, special_tokens=[EOS], show_progress=False
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    eos = tokenizer.token_to_id(EOS)
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": tokenizer.get_vocab_size(),
        "n_layer": n_layer,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_positions": n_positions,
        "activation_function": "gelu_new",
        # No dropout: from scratch on a few MB, a short run underfits long before it overfits.
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "bos_token_id": eos,
        "eos_token_id": eos,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    settings = {"eos_token": EOS, "bos_token": EOS, "model_max_length": n_positions}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


MAX_VOCABULARY = 1_000_000
MAX_POSITIONS = 8192
"""As RunConfig's max_length: no longer input can be trained."""


def check_gpt2_sizes(
    vocab_size: int, *, n_layer: int, n_embd: int, n_head: int, n_positions: int
) -> None:
    """UserError (naming the `workbench new-model` flag) for sizes that make no model."""
    if not BYTES < vocab_size <= MAX_VOCABULARY:
        raise UserError(
            f"--vocab-size {vocab_size}: a byte-level vocabulary needs more than {BYTES} tokens "
            f"(every byte and {EOS}) and at most {MAX_VOCABULARY:,}; ask for at least {BYTES + 1}"
        )
    for flag, value in (("--layers", n_layer), ("--hidden", n_embd), ("--heads", n_head)):
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    if not 8 <= n_positions <= MAX_POSITIONS:
        raise UserError(
            f"--context must be between 8 and {MAX_POSITIONS} tokens, got {n_positions}"
        )
    if n_embd % n_head:
        raise UserError(
            f"--hidden {n_embd} must be a multiple of --heads {n_head} (each head gets an equal "
            f"share of the width); try --hidden {n_embd + n_head - n_embd % n_head}"
        )


def gpt2_parameter_count(folder: str | Path) -> int:
    """The parameters of the GPT-2 described by `folder`'s config.json (the head is tied to
    the token embeddings, so it adds none): embeddings, 12 H^2 + 13 H per layer, final norm."""
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    width = config["n_embd"]
    embeddings = (config["vocab_size"] + config["n_positions"]) * width
    return embeddings + config["n_layer"] * (12 * width * width + 13 * width) + 2 * width


def texts_for_tokenizer(data: str | Path, text_column: str | None = None) -> list[str]:
    """The texts of a data file for fitting a tokenizer: a plain-text file's documents, or a
    table's text column (`text_column`, else one named "text", else its only text column)."""
    from workbench.engine.data.readers import load_table

    frame = load_table(data)
    if text_column is not None:
        if text_column not in frame.columns:
            raise UserError(
                f"--text-column {text_column!r} is not a column of {Path(data).name}; its "
                f"columns: {', '.join(map(str, frame.columns))}"
            )
        column = text_column
    elif "text" in frame.columns:
        column = "text"
    else:
        texts = [c for c in frame.columns if frame[c].dtype == object]
        if len(texts) != 1:
            raise UserError(
                f"cannot tell which column of {Path(data).name} holds the text; name it with "
                f"--text-column (columns: {', '.join(map(str, frame.columns))})"
            )
        column = texts[0]
    texts = [t for t in frame[column].tolist() if isinstance(t, str) and t.strip()]
    if not texts:
        raise UserError(
            f"column {column!r} of {Path(data).name} has no text; give the training text"
        )
    return texts
