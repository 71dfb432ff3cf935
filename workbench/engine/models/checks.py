"""Check a model folder before any work: config.json, the weight headers, the tokenizer.

A broken folder (a truncated download, a config.json from another model, a tokenizer that
does not fit the embeddings) would otherwise fail late, deep inside loading, with a raw
exception and a failed run folder left behind. Here each problem is one `UserError` line
that names the file and says what to do. No weights are read: a safetensors header (8-byte
length + JSON) gives every tensor's shape and where its bytes are; `.bin` files are opened
with `torch.load(weights_only=True, mmap=True)` (engine/checkpoint.py), which reads no data.

`check_model(folder, shapes=False)` imports no torch (listing models stays fast); with
`shapes=True` (the default: training, predict, evaluate) it also runs the family's
`config_from_dict` and compares its `expected_shapes` with the weights.
"""

from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import UserError

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, BIN, BIN_INDEX)
"""Where a Hugging Face folder keeps its weights, in the order they are preferred."""

_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}  # fmt: skip
_MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header

# Sizes that must be positive whole numbers wherever a family's config.json has them.
_POSITIVE_SIZES = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "max_position_embeddings", "num_key_value_heads", "head_dim",
    "dim", "n_layers", "n_heads", "hidden_dim",  # DistilBERT
    "n_embd", "n_layer", "n_head", "n_positions", "n_ctx",  # GPT-2
    "d_model", "d_ff", "d_kv", "num_layers", "num_heads",  # T5
)  # fmt: skip
# (size, heads): attention splits the size evenly over the heads.
_DIVISIBLE = (
    ("hidden_size", "num_attention_heads"),
    ("dim", "n_heads"),
    ("n_embd", "n_head"),
    ("num_attention_heads", "num_key_value_heads"),
)


@dataclass(frozen=True)
class WeightFiles:
    """A folder's weights: one file, or the shards an index names."""

    format: str  # "safetensors" | "bin"
    files: tuple[Path, ...]
    index: Path | None = None
    weight_map: dict[str, str] | None = None
    """key -> shard file name, from the index."""

    @property
    def label(self) -> Path:
        """The file to name in a message about the weights as a whole."""
        return self.index or self.files[0]


def find_weights(folder: str | Path) -> WeightFiles:
    """The weight files of a folder (model.safetensors, shards with their index, or .bin)."""
    folder = Path(folder)
    for name in WEIGHT_FILES:
        path = folder / name
        if not path.exists():
            continue
        if name.endswith(".index.json"):
            return _read_index(path, "safetensors" if name == SAFETENSORS_INDEX else "bin")
        return WeightFiles("safetensors" if name == SAFETENSORS else "bin", (path,))
    raise UserError(
        f"{folder} has no weights ({SAFETENSORS}, its shards with {SAFETENSORS_INDEX}, "
        f"or {BIN}); download the complete model folder"
    )


def _read_index(path: Path, fmt: str) -> WeightFiles:
    index = _read_json(path, "download the model's index file again")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise UserError(
            f'{path} has no "weight_map" (weight name -> shard file); download it again'
        )
    shards: list[str] = []
    for key, shard in weight_map.items():
        if not isinstance(shard, str) or not _is_plain_name(shard):
            raise UserError(
                f"{path} names shard {shard!r} for {key}, which is not a file name in the "
                "folder; the index is corrupt, download it again"
            )
        if shard not in shards:
            shards.append(shard)
    files = tuple(path.parent / shard for shard in shards)
    for file in files:
        if not file.exists():
            raise UserError(
                f"{file.name} is missing: {path.name} needs {len(files)} shards in {path.parent}; "
                "download every shard"
            )
    return WeightFiles(fmt, files, path, dict(weight_map))


def _is_plain_name(name: str) -> bool:
    """A file directly in the folder: no separators, no "..", never outside it."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int  # byte offsets in the data part, after the header
    data_start: int = 0  # where the data part begins in the file (8 + header length)


def safetensors_header(path: Path) -> dict[str, TensorInfo]:
    """Every tensor's dtype, shape and byte range, from the header only; UserError when the
    file is empty, truncated or not safetensors."""
    again = "download it again"
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if size == 0:
                raise UserError(f"{path} is empty (0 bytes); {again}")
            if len(prefix) < 8:
                raise UserError(f"{path} is truncated ({size} bytes); {again}")
            (length,) = struct.unpack("<Q", prefix)
            if length > _MAX_HEADER:
                raise UserError(f"{path} is not a safetensors file; {again}")
            if 8 + length > size:
                raise UserError(
                    f"{path} is truncated: its header alone needs {8 + length} bytes but the "
                    f"file has {size}; {again}"
                )
            raw = handle.read(length)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{path} is corrupt (its header is not JSON); {again}") from None
    if not isinstance(header, dict):
        raise UserError(f"{path} is corrupt (its header is not a JSON object); {again}")
    data_size = size - 8 - length
    tensors: dict[str, TensorInfo] = {}
    needed = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        info = _tensor_info(entry, 8 + length)
        if info is None:
            raise UserError(f"{path} is corrupt (the header entry of {key} is malformed); {again}")
        count = 1
        for dim in info.shape:
            count *= dim
        width = _DTYPE_BYTES.get(info.dtype)
        if width is not None and info.end - info.start != count * width:
            raise UserError(
                f"{path} is corrupt ({key}: {info.end - info.start} bytes for shape "
                f"{list(info.shape)} of {info.dtype}); {again}"
            )
        tensors[key] = info
        needed = max(needed, info.end)
    if needed > data_size:
        raise UserError(
            f"{path} is truncated: it has {data_size} bytes of weights but its header says "
            f"{needed}; {again}"
        )
    return tensors


def _tensor_info(entry: Any, data_start: int) -> TensorInfo | None:
    if not isinstance(entry, dict):
        return None
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    whole = (int,)
    if not isinstance(dtype, str) or not isinstance(shape, list) or not isinstance(offsets, list):
        return None
    values = [*shape, *offsets]
    if len(offsets) != 2 or any(not isinstance(v, whole) or isinstance(v, bool) for v in values):
        return None
    if any(v < 0 for v in values) or offsets[0] > offsets[1]:
        return None
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1], data_start)


def weight_shapes(
    weights: WeightFiles, read_bin: bool = True
) -> dict[str, tuple[tuple[int, ...], Path]]:
    """key -> (shape, the file that holds it). Safetensors: from the headers. `.bin`: opened
    safely with torch (memory-mapped, no data read) when `read_bin`, else only sanity-checked."""
    shapes: dict[str, tuple[tuple[int, ...], Path]] = {}
    for file in weights.files:
        if weights.format == "safetensors":
            for key, info in safetensors_header(file).items():
                shapes[key] = (info.shape, file)
        elif read_bin:
            from workbench.engine.checkpoint import load_bin  # torch

            for key, tensor in load_bin(file).items():
                shapes[key] = (tuple(tensor.shape), file)
        else:
            _check_bin_file(file)
    if weights.weight_map is not None and (weights.format == "safetensors" or read_bin):
        for key, shard in weights.weight_map.items():
            if key not in shapes:
                raise UserError(
                    f"{weights.index} says {key} is in {shard}, but it is not there; "
                    "the index and the shards do not match, download them again"
                )
    return shapes


def _check_bin_file(path: Path) -> None:
    """Without torch: not empty, and a zip archive that is whole (or a legacy pickle)."""
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path} is empty (0 bytes); download it again")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                archive.namelist()
        except (zipfile.BadZipFile, OSError):
            raise UserError(f"{path} is truncated or corrupt; download it again") from None
    else:
        with open(path, "rb") as handle:
            if handle.read(1) != b"\x80":  # a pickle (the legacy format) starts with PROTO
                raise UserError(f"{path} is truncated or corrupt; download it again")


def read_config(folder: str | Path) -> dict[str, Any]:
    """config.json as a dict; UserError naming the file (and the line and column of bad JSON)."""
    path = Path(folder) / "config.json"
    if not path.exists():
        raise UserError(f"{Path(folder)} has no config.json; it is not a Hugging Face model folder")
    config = _read_json(path, "use the model's own config.json")
    if not isinstance(config, dict):
        raise UserError(
            f"{path} is a JSON {type(config).__name__}, not an object of settings; "
            "use the model's own config.json"
        )
    return config


def _read_json(path: Path, fix: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; {fix}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); " + fix
        ) from None


def check_config(path: Path, config: dict[str, Any]) -> None:
    """Sizes and labels every family reads: positive whole sizes, heads that divide the size,
    numeric id2label keys. The family's own `config_from_dict` checks the rest."""
    fix = "use the config.json that came with the model"
    for key in _POSITIVE_SIZES:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UserError(
                f"{path}: {key} is {value!r}, but it must be a whole number above 0; {fix}"
            )
    for size, heads in _DIVISIBLE:
        if size == "hidden_size" and config.get("head_dim") is not None:
            continue  # the head size is given explicitly
        a, b = config.get(size), config.get(heads)
        if isinstance(a, int) and isinstance(b, int) and a % b:
            raise UserError(f"{path}: {size} {a} is not a multiple of {heads} {b}; {fix}")
    id2label = config.get("id2label")
    if id2label is not None:
        if not isinstance(id2label, dict):
            raise UserError(
                f'{path}: id2label must map class numbers to names ({{"0": "neg"}}); {fix}'
            )
        for key in id2label:
            try:
                int(key)
            except ValueError:
                raise UserError(
                    f"{path}: id2label key {key!r} is not a class number; its keys are "
                    '"0", "1", …; fix config.json'
                ) from None


def check_tokenizer(folder: Path, vocab_size: Any) -> int:
    """The tokenizer parses and its ids fit the embeddings; returns the number of ids."""
    from tokenizers import Tokenizer  # no torch

    tokenizer_json, vocab_txt = folder / "tokenizer.json", folder / "vocab.txt"
    if tokenizer_json.exists():
        file = tokenizer_json
        try:
            backend = Tokenizer.from_file(str(tokenizer_json))
        except Exception as exc:  # the Rust parser's error: "EOF while parsing … at line 1"
            reason = " ".join(str(exc).split())[:200]
            raise UserError(
                f"{tokenizer_json} is not a readable tokenizer ({reason}); download the "
                "model's tokenizer.json again"
            ) from None
        ids = backend.get_vocab(with_added_tokens=True).values()
        count = max(ids) + 1 if ids else 0
    elif (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
        file = folder / "vocab.json"  # byte-level BPE (GPT-2) without tokenizer.json
        vocab = _read_json(file, "download the model's vocab.json again")
        if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
            raise UserError(f"{file} is not a map of tokens to ids; download it again")
        count = max(vocab.values()) + 1 if vocab else 0
    elif vocab_txt.exists():
        file = vocab_txt
        try:
            lines = vocab_txt.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {vocab_txt}: {exc}; download it again") from None
        count = len(lines) if any(line.strip() for line in lines) else 0
    elif _uses_byte_tokens(folder):
        file, count = folder / "config.json", 258  # tokenizer.byte_tokenizer: bytes, pad, unk
    else:
        raise UserError(
            f"{folder} has no tokenizer (tokenizer.json, vocab.json with merges.txt, or "
            "vocab.txt); copy the model's tokenizer files into it"
        )
    if count == 0:
        raise UserError(f"{file} has no tokens; download the model's tokenizer again")
    if isinstance(vocab_size, int) and not isinstance(vocab_size, bool) and count > vocab_size:
        raise UserError(
            f"{file} has {count} tokens but the model's embeddings have {vocab_size} rows "
            f"(vocab_size in {folder / 'config.json'}); use the tokenizer that came with the model"
        )
    return count


def _uses_byte_tokens(folder: Path) -> bool:
    from workbench.engine.models.registry import uses_byte_tokens

    try:
        return uses_byte_tokens(read_config(folder))
    except UserError:
        return False


def check_shapes(
    folder: Path,
    config: dict[str, Any],
    shapes: dict[str, tuple[tuple[int, ...], Path]],
    compare: bool = True,
) -> None:
    """The family's config and its `expected_shapes` against the weights' real shapes."""
    from workbench.engine.models.registry import family_for

    path = folder / "config.json"
    family = family_for(config, folder)
    try:
        family_config = family.config_from_dict(dict(config))
    except UserError as exc:
        message = str(exc)
        raise UserError(message if str(path) in message else f"{path}: {message}") from None
    except (TypeError, ValueError, KeyError) as exc:  # a setting of the wrong type
        raise UserError(
            f"{path} has a setting {family.name} cannot use ({exc}); use the config.json "
            "that came with the model"
        ) from None
    expected_shapes = getattr(family, "expected_shapes", None)
    if expected_shapes is None or not compare:
        return  # none declared (loading still checks every key), or no weights to compare
    fix = "use the config.json that came with these weights"
    prefixed = any(k.startswith(family.backbone_prefix) for k in shapes)
    for key, want in expected_shapes(family_config).items():
        found = next((k for k in (family.backbone_prefix + key, key) if k in shapes), None)
        if want is None:
            if found is not None:
                raise UserError(
                    f"{shapes[found][1]} has {found}: more layers than {path} says; {fix}"
                )
            continue
        if found is None:
            name = family.backbone_prefix + key if prefixed else key
            some_file = next(iter(shapes.values()))[1] if shapes else folder
            raise UserError(
                f"{some_file} lacks {name}, which {path} implies; the weights are incomplete "
                f"or from another model: download the model folder again or {fix}"
            )
        got, file = shapes[found]
        if tuple(got) != tuple(want):
            raise UserError(
                f"{file}: {found} has shape {list(got)} but {path} implies {list(want)}; {fix}"
            )


def check_model(folder: str | Path, *, shapes: bool = True) -> None:
    """Everything about a model folder that can be checked without reading the weights.

    Raises `UserError` (one line naming the file and what to do) for the first problem."""
    from workbench.engine.models import registry

    folder = Path(folder)
    config = read_config(folder)
    registry.family_name_for(config, folder)  # unknown model_type: the supported ones listed
    check_config(folder / "config.json", config)
    from_scratch = getattr(registry, "is_from_scratch", lambda _: False)(folder)
    found = {} if from_scratch else weight_shapes(find_weights(folder), read_bin=shapes)
    if shapes:
        check_shapes(folder, config, found, compare=not from_scratch)
    check_tokenizer(folder, config.get("vocab_size"))
