"""Models already in the user's Hugging Face cache, and downloads into it.

The cache is `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub` (as
`huggingface_hub` finds it). A model is a folder `models--org--name/` whose
`snapshots/<revision>/` holds the files (links into `blobs/`) and whose `refs/main` names
the revision `main` points at. Listing reads only those folders and the config.json files,
so it needs neither the network nor `huggingface_hub`; downloading needs `huggingface_hub`
(the optional `hub` extra) and writes the same layout, so a downloaded model is then listed
like the rest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.models.registry import has_weights
from workbench.errors import UserError

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def cache_dir() -> Path:
    """Where `huggingface_hub` keeps downloaded repositories."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "huggingface" / "hub"


@dataclass(frozen=True)
class CachedModel:
    repo_id: str
    revision: str
    folder: Path
    """The snapshot folder: a Hugging Face model folder (its files link into blobs/)."""


def is_repo_id(name: str) -> bool:
    """ "org/name" as the Hub spells repositories (not a path that exists here)."""
    return bool(_REPO_ID.match(name)) and not Path(name).expanduser().exists()


def cached_models(root: Path | None = None) -> list[CachedModel]:
    """Every model repository in the cache that has a snapshot with a config.json, at the
    revision `refs/main` names (else its newest snapshot), sorted by repo id."""
    root = cache_dir() if root is None else root
    try:
        entries = sorted(root.iterdir())
    except OSError:  # no cache yet, or unreadable: nothing to list
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith("models--") or not entry.is_dir():
            continue
        snapshot = _snapshot(entry)
        if snapshot is not None:
            repo_id = "/".join(entry.name.split("--")[1:])  # huggingface_hub's own reading
            found.append(CachedModel(repo_id, snapshot.name, snapshot))
    return found


def _snapshot(repo: Path) -> Path | None:
    snapshots = repo / "snapshots"
    try:
        main = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        main = ""
    if main and (snapshots / main / "config.json").exists():
        return snapshots / main
    try:
        candidates = [s for s in snapshots.iterdir() if (s / "config.json").exists()]
    except OSError:
        return None
    return max(candidates, key=lambda s: s.stat().st_mtime, default=None)


def find_cached(repo_id: str) -> CachedModel | None:
    """The cached snapshot of `repo_id` (case as the Hub spells it, or any case)."""
    wanted = repo_id.strip().lower()
    for model in cached_models():
        if model.repo_id.lower() == wanted:
            return model
    return None


def describe_cached(model: CachedModel) -> dict[str, Any]:
    """What `describe_model` says of any model, named by its repo id; a model Workbench
    cannot read (another model_type, no weights, a broken config) is described too, with
    `supported` False and the reason, so the list shows it instead of hiding it."""
    from workbench.engine.models.registry import describe_model, read_config, size_on_disk

    base: dict[str, Any] = {
        "name": model.repo_id,
        "path": str(model.folder),
        "source": "huggingface-cache",
        "repo_id": model.repo_id,
        "revision": model.revision,
    }
    try:
        described = describe_model(model.folder)
    except UserError as exc:
        try:
            model_type = read_config(model.folder).get("model_type")
        except UserError:
            model_type = None
        return {
            **base,
            "supported": False,
            "reason": str(exc),
            "family": None,
            "model_type": model_type,
            "parameters": None,
            "size_bytes": size_on_disk(model.folder),
            "tasks": [],
        }
    return {**described, **base, "supported": True}


# ---- downloading -------------------------------------------------------------------------
def download(repo_id: str, revision: str | None = None) -> Path:
    """Download `repo_id`'s model files into the Hugging Face cache (`huggingface_hub`'s
    snapshot_download, which resumes and skips files already there) and return the snapshot
    folder. UserError, in one line, when the package is missing, the Hub cannot be reached,
    or the repository or revision does not exist."""
    if not _REPO_ID.match(repo_id.strip()):
        raise UserError(f"{repo_id!r} is not a Hugging Face repo id; write it as org/name")
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError:
        raise UserError(
            "downloading models needs huggingface_hub; run `pip install 'workbench[hub]'` "
            "(or `pip install huggingface_hub`), or download the folder elsewhere and pass "
            "it with --model"
        ) from None
    # read here, not when huggingface_hub was imported (it reads HF_ENDPOINT once)
    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")

    def fetch(patterns: list[str]) -> str:
        return huggingface_hub.snapshot_download(
            repo_id.strip(),
            revision=revision,
            cache_dir=str(cache_dir()),
            allow_patterns=patterns,
            endpoint=endpoint,
        )

    try:
        folder = fetch(_MODEL_FILES)
        if not has_weights(Path(folder)):  # an older repository: .bin weights only
            folder = fetch(_MODEL_FILES + ["pytorch_model*.bin"])
    except errors.GatedRepoError:  # a RepositoryNotFoundError too: first
        raise UserError(
            f"{repo_id} is gated: accept its terms on {endpoint} and log in with `hf auth login`"
        ) from None
    except errors.RepositoryNotFoundError:
        raise UserError(
            f"{repo_id} is not a model on {endpoint} (or it is private: log in with "
            "`hf auth login`); check the spelling"
        ) from None
    except errors.RevisionNotFoundError:
        raise UserError(f"{repo_id} has no revision {revision!r}; check --revision") from None
    except errors.LocalEntryNotFoundError:
        raise UserError(
            f"cannot reach {endpoint} to download {repo_id} (offline?); connect to the "
            "network, or pass a local model folder with --model"
        ) from None
    except (errors.HfHubHTTPError, OSError) as exc:
        if _is_offline(exc):
            raise UserError(
                f"cannot reach {endpoint} to download {repo_id} (offline?); connect to the "
                "network, or pass a local model folder with --model"
            ) from None
        raise UserError(f"downloading {repo_id} failed: {_first_line(exc)}") from None
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise UserError(f"{repo_id} has no config.json; it is not a transformers model")
    return folder


# What a model folder needs; not the other frameworks' weights (TF, Flax, ONNX, GGUF …).
_MODEL_FILES = [
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "*.jinja",
    "*.md",
]


def _is_offline(exc: BaseException) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        name = type(exc).__name__
        if isinstance(exc, (ConnectionError, TimeoutError)) or name in (
            "ConnectError",
            "ConnectTimeout",
            "ConnectionError",
            "OfflineModeIsEnabled",
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
