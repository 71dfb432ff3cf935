"""Reading and writing the files of Hugging Face folders (weights, config, tokenizer).

Matching weights to modules is `engine/models/loading.py`'s job.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from workbench.engine.models.checks import TensorInfo, find_weights, safetensors_header
from workbench.errors import UserError
from workbench.runs import match_umask

TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class Weights(Mapping[str, torch.Tensor]):
    """A checkpoint's tensors by key, read one at a time on access.

    Shapes come from the headers, so keys and shapes are checked before any data is read,
    and a loader that copies tensor by tensor never holds the whole checkpoint: a bf16 or
    fp16 model loads into float32 parameters without a float32 copy of it in memory.
    """

    def __init__(
        self,
        shapes: dict[str, tuple[int, ...]],
        read: Callable[[str], torch.Tensor],
    ) -> None:
        self._shapes = shapes
        self._read = read

    @classmethod
    def of(cls, tensors: Mapping[str, torch.Tensor]) -> Weights:
        """Tensors already in memory (or memory-mapped, as `.bin` files are)."""
        return cls({k: tuple(v.shape) for k, v in tensors.items()}, tensors.__getitem__)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]

    def subset(self, keys: Iterable[str]) -> Weights:
        return Weights({k: self._shapes[k] for k in keys}, self._read)

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._shapes:
            raise KeyError(key)
        return self._read(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shapes)

    def __len__(self) -> int:
        return len(self._shapes)


def read_state_dict(folder: str | Path) -> Weights:
    """The weights of a folder: model.safetensors or its shards (memory-mapped, read per
    tensor), else pytorch_model.bin or its shards (`load_bin`: weights only, never code)."""
    weights = find_weights(folder)
    if weights.format == "bin":
        tensors: dict[str, torch.Tensor] = {}
        for file in weights.files:
            tensors.update(load_bin(file))
        return Weights.of(tensors)
    infos: dict[str, tuple[TensorInfo, Path]] = {}
    for file in weights.files:
        for key, info in safetensors_header(file).items():  # checks truncation first
            infos[key] = (info, file)

    def read(key: str) -> torch.Tensor:
        info, file = infos[key]
        try:
            return _read_tensor(file, info, key)
        except Exception as exc:  # the file changed or was damaged since its header was read
            raise UserError(f"cannot read {key} from {file}: {exc}; download it again") from None

    return Weights({k: info.shape for k, (info, _) in infos.items()}, read)


_TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}  # fmt: skip


def _read_tensor(file: Path, info: TensorInfo, key: str) -> torch.Tensor:
    """One tensor, read with plain file I/O into its own buffer: nothing of the file stays
    mapped, so memory holds the model and one tensor, not the model and the file."""
    dtype = _TORCH_DTYPES.get(info.dtype)
    if dtype is None or sys.byteorder != "little":  # fp8 and other rare kinds
        with safe_open(str(file), framework="pt", device="cpu") as handle:
            return handle.get_tensor(key)
    size = info.end - info.start
    if size == 0:
        return torch.empty(info.shape, dtype=dtype)
    buffer = bytearray(size)
    with open(file, "rb") as handle:
        handle.seek(info.data_start + info.start)
        if handle.readinto(buffer) != size:
            raise ValueError("the file is shorter than its header says")
    return torch.frombuffer(buffer, dtype=dtype).reshape(info.shape)


# weights_only could be bypassed before torch 2.6 (CVE-2025-32434).
_SAFE_TORCH = (2, 6)
_CONVERT_HINT = (
    "if you trust its source, convert it to model.safetensors (README: Loading models safely)"
)


def load_bin(path: Path) -> dict[str, torch.Tensor]:
    """A pytorch_model.bin / .pt state dict, unpickled with `weights_only=True` (tensors and
    plain containers only: a file that asks for any other Python object is refused, so no code
    in it runs). Zip files (torch >= 1.6) are memory-mapped; legacy ones are read whole."""
    path = Path(path)
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if version < _SAFE_TORCH:
        raise UserError(
            f"{path} is a pickle file, which torch {torch.__version__} cannot load safely "
            "(weights_only is bypassable before 2.6); upgrade torch or use model.safetensors"
        )
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes); download it again")
    is_zip = zipfile.is_zipfile(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as exc:
        asks = _refused_global(str(exc))
        raise UserError(
            f"{path} was refused: it needs more than tensors to load{asks}, and Workbench never "
            f"runs code from a model file; {_CONVERT_HINT}"
        ) from None
    except Exception as exc:  # truncated zip, cut-off pickle, not a torch file
        reason = " ".join(str(exc).split()).split(". ")[0][:160]
        raise UserError(f"{path} is truncated or corrupt ({reason}); download it again") from None
    if isinstance(state, dict) and set(state) <= {"state_dict", "model"} and len(state) == 1:
        state = next(iter(state.values()))  # a training script's {"state_dict": {...}}
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise UserError(
            f"{path} is not a state dict (weight names -> tensors); give the model's own "
            "weights file"
        )
    return state


def _refused_global(message: str) -> str:
    """What the pickle asked for, from torch's message ("… GLOBAL posix.system whose …")."""
    match = re.search(r"GLOBAL ([\w.]+)", message)
    return f" (it calls {match.group(1)})" if match else ""


def save_folder(
    folder: Path,
    model: torch.nn.Module,
    config: dict,
    tokenizer_source: Path,
    tokenizer,
    tied: tuple[str, ...] = (),
) -> None:
    """Write config.json, model.safetensors and tokenizer files into an existing folder.
    `tied` keys (one tensor shared with another, e.g. an LM decoder and the embeddings)
    are left out, as `transformers` does; loading ties them again."""
    skip = set(tied) | set(shared_weights(model))
    tensors = {
        k: v.detach().to("cpu", torch.float32).clone().contiguous()
        for k, v in model.state_dict().items()
        if k not in skip
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    match_umask(folder / "model.safetensors", 0o666)  # safetensors writes it 0600
    (folder / "config.json").write_text(
        json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for name in TOKENIZER_FILES:
        if (tokenizer_source / name).exists():
            shutil.copyfile(tokenizer_source / name, folder / name)
    tokenizer.save(folder)


def shared_weights(model: torch.nn.Module) -> dict[str, str]:
    """Parameters that are another one under a second name (key -> the first name), e.g. a
    Llama LM head tied to the embeddings only when its config says so: saved once, loaded
    once, found on the model itself because a family's Head cannot know it in advance."""
    first: dict[int, str] = {}
    shared: dict[str, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            shared[name] = first[id(param)]
        else:
            first[id(param)] = name
    return shared
