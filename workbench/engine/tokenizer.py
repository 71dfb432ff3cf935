"""A thin wrapper over Hugging Face `tokenizers`: no fixed padding, truncation we choose.

Checkpoints often ship `tokenizer.json` with padding fixed to 128 (the bundled MiniLM
does); padding every sentence to 128 tokens is ~5x the work of padding each batch to its
longest member, so padding is switched off here and done by the collator.
One instance must not be shared between threads ("Already borrowed"): use `clone()`.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from workbench.errors import UserError


class TextTokenizer:
    def __init__(self, backend: Tokenizer, max_length: int, pad_id: int) -> None:
        self._backend = backend
        self.max_length = max_length
        self.pad_id = pad_id
        backend.no_padding()
        backend.enable_truncation(max_length=max_length)

    @classmethod
    def from_folder(cls, folder: str | Path, max_length: int = 512) -> TextTokenizer:
        folder = Path(folder)
        model_max = _model_max_length(folder)
        max_length = min(max_length, model_max) if model_max else max_length
        if (folder / "tokenizer.json").exists():
            backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        elif (folder / "vocab.txt").exists():
            lowercase = _tokenizer_config(folder).get("do_lower_case", True)
            backend = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lowercase)._tokenizer
        else:
            raise UserError(
                f"{folder} has no tokenizer (tokenizer.json or vocab.txt); "
                "use the complete Hugging Face model folder"
            )
        pad_id = backend.token_to_id("[PAD]")
        if pad_id is None:
            pad_id = _config(folder).get("pad_token_id") or 0
        return cls(backend, max_length, pad_id)

    def clone(self) -> TextTokenizer:
        return TextTokenizer(Tokenizer.from_str(self._backend.to_str()), self.max_length, self.pad_id)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, with [CLS]/[SEP], truncated to max_length, not padded."""
        return [enc.ids for enc in self._backend.encode_batch(list(texts))]

    def save(self, folder: str | Path) -> None:
        """Write tokenizer.json as used for training (no fixed padding, our truncation)."""
        data = json.loads(self._backend.to_str())
        (Path(folder) / "tokenizer.json").write_text(
            json.dumps(data, ensure_ascii=False), encoding="utf-8"
        )


def _config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _tokenizer_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _model_max_length(folder: Path) -> int | None:
    positions = _config(folder).get("max_position_embeddings")
    return int(positions) if positions else None
