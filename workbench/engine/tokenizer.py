"""A thin wrapper over Hugging Face `tokenizers`: no fixed padding, truncation we choose.

Checkpoints often ship `tokenizer.json` with padding fixed to 128 (the bundled MiniLM
does); padding every sentence to 128 tokens is ~5x the work of padding each batch to its
longest member, so padding is switched off here and done by the collator.

Special tokens are the family's business (`[CLS] a [SEP] b [SEP]` for BERT, `<s> a </s></s>
b </s>` for RoBERTa): the wrapper reads the template off the tokenizer itself by encoding a
probe, so windows and head+tail truncation work for every family without naming one.
Decoders (GPT-2's byte-level BPE) have no [CLS]/[SEP] and often no pad token: the template
is then empty, and the end-of-text token pads (the attention mask makes that harmless).
One instance must not be shared between threads ("Already borrowed"): use `clone()`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Encoding, Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer, ByteLevelBPETokenizer

from workbench.engine.models.registry import uses_byte_tokens
from workbench.errors import UserError

TRUNCATIONS = ("head", "tail", "head+tail")
_PAD_CANDIDATES = ("[PAD]", "<pad>", "<|pad|>")
_MASK_CANDIDATES = ("[MASK]", "<mask>")
_UNK_CANDIDATES = ("[UNK]", "<unk>")
_EOS_CANDIDATES = ("<|endoftext|>", "</s>")
_SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


@dataclass(frozen=True)
class Template:
    """Special tokens around one text (prefix + text + suffix) and a pair
    (prefix + first + middle + second + suffix), with the token type of each part."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    pair_prefix: tuple[int, ...]
    pair_middle: tuple[int, ...]
    pair_suffix: tuple[int, ...]
    second_type: int  # token type id of the second text and what follows it

    def single(self, content: list[int]) -> list[int]:
        return [*self.prefix, *content, *self.suffix]

    def pair(self, first: list[int], second: list[int]) -> tuple[list[int], list[int]]:
        """(ids, token type ids) of a pair."""
        head = [*self.pair_prefix, *first, *self.pair_middle]
        tail = [*second, *self.pair_suffix]
        return head + tail, [0] * len(head) + [self.second_type] * len(tail)

    @property
    def single_extra(self) -> int:
        return len(self.prefix) + len(self.suffix)

    @property
    def pair_extra(self) -> int:
        return len(self.pair_prefix) + len(self.pair_middle) + len(self.pair_suffix)


class TextTokenizer:
    def __init__(
        self, backend: Tokenizer, max_length: int, pad_id: int, eos_id: int | None = None
    ) -> None:
        self._backend = backend
        self.max_length = max_length
        self.pad_id = pad_id
        self.eos_id = eos_id
        """End of text (generation stops there); None when the tokenizer has none."""
        backend.no_padding()
        backend.no_truncation()
        self.template = _read_template(backend)
        self._byte_level = '"ByteLevel"' in json.dumps(
            json.loads(backend.to_str()).get("pre_tokenizer")
        )
        self.mask_id = _first_id(backend, _MASK_CANDIDATES)
        self.unk_id = _first_id(backend, _UNK_CANDIDATES)
        self.special_ids = frozenset(
            {pad_id, *self.template.prefix, *self.template.suffix, *self.template.pair_middle}
        )
        backend.enable_truncation(max_length=max_length)

    @classmethod
    def from_folder(cls, folder: str | Path, max_length: int = 512) -> TextTokenizer:
        folder = Path(folder)
        model_max = _model_max_length(folder)
        max_length = min(max_length, model_max) if model_max else max_length
        try:
            if (folder / "tokenizer.json").exists():
                backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
            elif (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
                if _config(folder).get("model_type") == "openai-gpt":
                    backend = _lowercase_bpe(folder)  # GPT-1: not byte-level
                else:
                    backend = _byte_level_bpe(folder)
            elif (folder / "vocab.txt").exists():
                lowercase = _tokenizer_config(folder).get("do_lower_case", True)
                backend = BertWordPieceTokenizer(
                    str(folder / "vocab.txt"), lowercase=lowercase
                )._tokenizer
            elif uses_byte_tokens(_config(folder)):
                backend = byte_tokenizer()  # a fresh ELMo-style folder: config.json only
            else:
                raise UserError(
                    f"{folder} has no tokenizer (tokenizer.json, vocab.json with merges.txt, "
                    "or vocab.txt); "
                    "use the complete Hugging Face model folder"
                )
        except UserError:
            raise
        except Exception as exc:  # a corrupt or foreign tokenizer file
            raise UserError(f"cannot read the tokenizer in {folder}: {exc}") from None
        eos_id = _eos_id(backend, folder)
        pad_id = _first_id(backend, _PAD_CANDIDATES)
        if pad_id is None:
            pad_id = _config(folder).get("pad_token_id")
        if pad_id is None:
            pad_id = eos_id  # GPT-2 has no pad: eos pads
        if pad_id is None:
            # GPT-1 has neither pad nor eos: <unk> pads (id 0 is an ordinary token there).
            pad_id = _first_id(backend, _UNK_CANDIDATES)
        if pad_id is None:
            pad_id = 0
        return cls(backend, max_length, pad_id, eos_id)

    def clone(self) -> TextTokenizer:
        return TextTokenizer(
            Tokenizer.from_str(self._backend.to_str()), self.max_length, self.pad_id, self.eos_id
        )

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def id_to_token(self, token_id: int) -> str | None:
        return self._backend.id_to_token(token_id)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._backend.decode(ids, skip_special_tokens=skip_special_tokens)

    def encode_prompt(self, text: str) -> list[int]:
        """A generation prompt: the template's prefix (a BOS where the model has one) and the
        text, without the suffix (an encoder's [SEP] would end it) and untruncated."""
        return [*self.template.prefix, *self.encode_content([text])[0]]

    # ---- whole inputs, truncated to max_length ------------------------------------------
    def encode(self, texts: list[str], truncation: str = "tail") -> list[list[int]]:
        """Token ids per text with the special tokens, at most max_length, not padded.
        `truncation` says what a long text loses: its "tail" (the end), its "head" (the
        start), or its middle ("head+tail" keeps the first quarter and the rest from the end)."""
        if truncation in TRUNCATIONS:
            texts = [self._clip(text, truncation) for text in texts]
        if truncation == "tail":
            return [enc.ids for enc in self._backend.encode_batch(list(texts))]
        if truncation not in TRUNCATIONS:
            raise UserError(
                f"unknown truncation {truncation!r}; choose one of: {', '.join(TRUNCATIONS)}"
            )
        budget = max(self.max_length - self.template.single_extra, 1)
        out = []
        for content in self.encode_content(texts):
            if len(content) > budget:
                if truncation == "head":
                    content = content[-budget:]
                else:
                    keep_head = budget // 4
                    content = content[:keep_head] + content[len(content) - (budget - keep_head) :]
            out.append(self.template.single(content))
        return out

    def _clip(self, text: str, truncation: str) -> str:
        """A very long text cut to the words the truncation can keep, so a 10 MB cell is not
        tokenised whole. Every word gives one token or more, so `max_length` words from each
        end the truncation keeps hold all the tokens it keeps: the result is the same."""
        words = self.max_length
        if len(text) <= words * 64:
            return text
        cap = words * 1024  # a run of words this long is one giant "word": cut it anyway
        head = _first_words(text, words, cap) if truncation != "head" else ""
        tail = _first_words(text[::-1], words, cap)[::-1] if truncation != "tail" else ""
        if len(head) + len(tail) >= len(text):
            return text  # few, very long words: the ends overlap, nothing to spare
        return f"{head} {tail}" if head and tail else head or tail

    def encode_pairs(
        self, firsts: list[str], seconds: list[str]
    ) -> tuple[list[list[int]], list[list[int]]]:
        """(ids, token type ids) per pair, the longer text cut first to fit max_length."""
        encodings = self._backend.encode_batch(list(zip(firsts, seconds, strict=True)))
        return [e.ids for e in encodings], [e.type_ids for e in encodings]

    # ---- content without special tokens or truncation (windows, masking) ----------------
    def encode_content(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.encode_untruncated(texts)]

    def encode_untruncated(
        self, texts: list[str] | list[list[str]], words: bool = False
    ) -> list[Encoding]:
        """Encodings without special tokens or truncation; `words=True` takes pre-split words
        (then `Encoding.word_ids` maps tokens back to them). Offsets are character spans."""
        self._backend.no_truncation()
        if words and self._byte_level:
            # Byte-level BPE (RoBERTa) marks a word's start by its leading space: give each
            # pre-split word one, as `transformers` does with add_prefix_space=True.
            texts = [[" " + word for word in sentence] for sentence in texts]
        try:
            return self._backend.encode_batch(
                list(texts), is_pretokenized=words, add_special_tokens=False
            )
        finally:
            self._backend.enable_truncation(max_length=self.max_length)

    def save(self, folder: str | Path) -> None:
        """Write tokenizer.json as used for training (no fixed padding, our truncation)."""
        data = json.loads(self._backend.to_str())
        (Path(folder) / "tokenizer.json").write_text(
            json.dumps(data, ensure_ascii=False), encoding="utf-8"
        )


_WORD = re.compile(r"\S+")


def _first_words(text: str, count: int, cap: int) -> str:
    """The text up to the end of its `count`-th word (at most `cap` characters)."""
    for number, match in enumerate(_WORD.finditer(text), 1):
        if number >= count or match.end() >= cap:
            return text[: min(match.end(), cap)]
    return text[:cap]


def _read_template(backend: Tokenizer) -> Template:
    probe_a, probe_b = "a", "b"
    plain_a = backend.encode(probe_a, add_special_tokens=False).ids
    plain_b = backend.encode(probe_b, add_special_tokens=False).ids
    single = backend.encode(probe_a).ids
    prefix, suffix = _around(single, plain_a)
    pair = backend.encode(probe_a, probe_b)
    pair_prefix, rest = _around(pair.ids, plain_a)
    middle, pair_suffix = _around(list(rest), plain_b)
    second_start = len(pair_prefix) + len(plain_a) + len(middle)
    types = pair.type_ids
    second_type = types[second_start] if second_start < len(types) else 0
    return Template(prefix, suffix, pair_prefix, middle, pair_suffix, second_type)


def _around(ids: list[int], content: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    for start in range(len(ids) - len(content) + 1):
        if ids[start : start + len(content)] == content:
            return tuple(ids[:start]), tuple(ids[start + len(content) :])
    return tuple(), tuple()


def _byte_level_bpe(folder: Path) -> Tokenizer:
    """GPT-2's slow-tokenizer files (vocab.json + merges.txt) as a `tokenizers` backend, with
    the special tokens the folder names kept whole."""
    settings = _tokenizer_config(folder)
    backend = ByteLevelBPETokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        add_prefix_space=bool(settings.get("add_prefix_space", False)),
    )._tokenizer
    names = set(_EOS_CANDIDATES)
    for source in (settings, _read_json(folder / "special_tokens_map.json")):
        for key in _SPECIAL_KEYS:
            names.add(_token_text(source.get(key)))
    for entry in (settings.get("added_tokens_decoder") or {}).values():
        names.add(_token_text(entry))
    names.update(_read_json(folder / "added_tokens.json"))
    known = sorted(n for n in names if n and backend.token_to_id(n) is not None)
    backend.add_special_tokens(known)
    return backend


def _lowercase_bpe(folder: Path) -> Tokenizer:
    """GPT-1's slow-tokenizer files (vocab.json + merges.txt) as transformers converts them:
    BERT's lowercasing normaliser and pre-tokenizer, BPE words ending in "</w>", <unk>."""
    from tokenizers import decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    unk = _token_text(_tokenizer_config(folder).get("unk_token")) or "<unk>"
    backend = Tokenizer(
        BPE.from_file(
            str(folder / "vocab.json"),
            str(folder / "merges.txt"),
            unk_token=unk,
            end_of_word_suffix="</w>",
            fuse_unk=False,
        )
    )
    if backend.token_to_id(unk) is not None:
        backend.add_special_tokens([unk])
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.BPEDecoder(suffix="</w>")
    return backend


def byte_tokenizer() -> Tokenizer:
    """One token per UTF-8 byte (id = the byte's value), then <pad> (256) and <unk> (257):
    for character-level models, which need no vocabulary file. Built as a byte-level BPE
    with no merges, so offsets, decoding and the rest of this wrapper work as for GPT-2."""
    from tokenizers import decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shown = {b: chr(b) for b in printable}  # GPT-2's byte -> visible character table
    shown.update({b: chr(256 + i) for i, b in enumerate(b for b in range(256) if b not in shown)})
    backend = Tokenizer(BPE({shown[b]: b for b in range(256)}, []))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    # A pair is "first second": a space between them, so their words stay apart.
    backend.post_processor = processors.TemplateProcessing(
        single="$A", pair="$A Ġ $B:1", special_tokens=[("Ġ", 32)]
    )
    backend.add_special_tokens(["<pad>", "<unk>"])
    return backend


def _token_text(value: object) -> str | None:
    """A special token as tokenizer_config.json spells it: a string or {"content": …}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _eos_id(backend: Tokenizer, folder: Path) -> int | None:
    eos = _config(folder).get("eos_token_id")
    if isinstance(eos, list):
        eos = eos[0] if eos else None
    if isinstance(eos, int) and not isinstance(eos, bool):
        return eos
    for source in (_tokenizer_config(folder), _read_json(folder / "special_tokens_map.json")):
        text = _token_text(source.get("eos_token"))
        if text and backend.token_to_id(text) is not None:
            return backend.token_to_id(text)
    return _first_id(backend, _EOS_CANDIDATES)


def _first_id(backend: Tokenizer, candidates: tuple[str, ...]) -> int | None:
    for token in candidates:
        token_id = backend.token_to_id(token)
        if token_id is not None:
            return token_id
    return None


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}


def _config(folder: Path) -> dict:
    return _read_json(folder / "config.json")


def _tokenizer_config(folder: Path) -> dict:
    return _read_json(folder / "tokenizer_config.json")


def _model_max_length(folder: Path) -> int | None:
    config = _config(folder)
    positions = config.get("max_position_embeddings") or config.get("n_positions")  # GPT-2
    if not positions:
        return None
    # RoBERTa reserves the first padding_idx + 1 positions.
    if config.get("model_type") in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(config.get("pad_token_id", 1)) + 1
    return int(positions)
