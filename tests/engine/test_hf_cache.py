"""Models in the Hugging Face cache are listed (the unsupported ones with the reason) and usable
by repo id; `download` fills the cache from a small fake Hub served on 127.0.0.1, and says in
one line when the package is missing, the Hub unreachable or the repository unknown."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from workbench.engine import describe_model, list_models
from workbench.engine.models import hf_cache
from workbench.engine.models.registry import resolve_model
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")
ROOT = Path(__file__).resolve().parents[2]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "sat", "on", "mat"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def write_tiny_bert(folder: Path) -> Path:
    """A random 2-layer BERT, as transformers saves it, with its WordPiece vocabulary."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    transformers.BertModel(config).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return folder


def cache_repo(hub: Path, repo_id: str, files: Path, revision: str = COMMIT) -> Path:
    """`files` as huggingface_hub caches them: blobs named by hash, the snapshot's files
    linking to them, refs/main naming the snapshot."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in files.iterdir():
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision, encoding="utf-8")
    return snapshot


@pytest.fixture(scope="module")
def bert_files(tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("bert") / "files")


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "hub"
    folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    return folder


def test_models_in_the_cache_are_listed_with_their_facts(hub, bert_files, tmp_path):
    snapshot = cache_repo(hub, "tiny-org/tiny-bert", bert_files)
    whisper = tmp_path / "whisper"
    whisper.mkdir()
    (whisper / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    (whisper / "model.safetensors").write_bytes(b"{}")
    cache_repo(hub, "openai/whisper-tiny", whisper)
    (hub / "datasets--org--data").mkdir()  # not a model: not listed
    (hub / "models--org--empty" / "snapshots").mkdir(parents=True)  # nothing downloaded yet

    listed = {m["name"]: m for m in list_models() if m["source"] == "huggingface-cache"}
    assert sorted(listed) == ["openai/whisper-tiny", "tiny-org/tiny-bert"]
    bert = listed["tiny-org/tiny-bert"]
    assert bert["supported"] is True and bert["family"] == "bert"
    assert bert["path"] == str(snapshot) and bert["revision"] == COMMIT
    expected = transformers.BertModel.from_pretrained(bert_files).num_parameters()
    assert bert["parameters"] == expected
    assert bert["size_bytes"] == sum(p.stat().st_size for p in bert_files.iterdir())
    assert {"text-classification", "token-classification"} <= set(bert["tasks"])
    assert (bert["layers"], bert["hidden_size"]) == (2, 32)
    unsupported = listed["openai/whisper-tiny"]
    assert unsupported["supported"] is False and unsupported["tasks"] == []
    assert unsupported["model_type"] == "whisper"
    assert "'whisper'" in unsupported["reason"] and "not supported" in unsupported["reason"]

    # and a cached model is a model name like a folder
    assert resolve_model("tiny-org/tiny-bert") == snapshot
    assert resolve_model("Tiny-Org/Tiny-Bert") == snapshot
    assert describe_model("tiny-org/tiny-bert")["name"] == "tiny-org/tiny-bert"
    with pytest.raises(UserError, match="workbench download someone/else"):
        resolve_model("someone/else")


def test_refs_main_chooses_the_snapshot(hub, bert_files, tmp_path):
    old = cache_repo(hub, "tiny-org/tiny-bert", bert_files, revision="a" * 40)
    new = hub / "models--tiny-org--tiny-bert" / "snapshots" / ("b" * 40)
    new.mkdir()
    for file in old.iterdir():
        (new / file.name).symlink_to(os.readlink(file))
    (hub / "models--tiny-org--tiny-bert" / "refs" / "main").write_text("b" * 40)
    assert hf_cache.find_cached("tiny-org/tiny-bert").folder == new
    (hub / "models--tiny-org--tiny-bert" / "refs" / "main").write_text("c" * 40)  # gone
    assert hf_cache.find_cached("tiny-org/tiny-bert").folder in (old, new)


def test_the_cache_is_found_where_huggingface_hub_looks(tmp_path, monkeypatch):
    for name in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hf_cache.cache_dir() == tmp_path / "home" / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hf_cache.cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hf_cache.cache_dir() == tmp_path / "cache"
    assert hf_cache.cached_models() == []  # no cache folder yet: nothing, no error


# ---- a fake Hub --------------------------------------------------------------------------
class FakeHub(BaseHTTPRequestHandler):
    """The endpoints snapshot_download calls: the repo's revision (its commit), the file tree
    at that commit, and each file (HEAD for its metadata, then GET)."""

    repos: dict[str, Path] = {}
    requests: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self) -> None:
        self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = unquote(urlparse(self.path).path)
        self.requests.append(f"{self.command} {path}")
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            repo, kind, revision = "/".join(parts[2:4]), parts[4], parts[5]
            if repo == "gated/model":
                return self._send(403, b"{}", {"X-Error-Code": "GatedRepo"})
            if repo not in self.repos:
                return self._not_found()
            if revision not in ("main", COMMIT):
                return self._send(404, b"{}", {"X-Error-Code": "RevisionNotFound"})
            files = sorted(self.repos[repo].iterdir())
            if kind == "revision":
                info = {
                    "id": repo, "sha": COMMIT, "private": False,
                    "siblings": [{"rfilename": f.name} for f in files],
                }  # fmt: skip
                return self._send(200, json.dumps(info).encode(), _JSON)
            if kind == "tree":
                tree = [
                    {"type": "file", "path": f.name, "size": f.stat().st_size, "oid": _oid(f)}
                    for f in files
                ]
                return self._send(200, json.dumps(tree).encode(), _JSON)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, name = "/".join(parts[:2]), "/".join(parts[4:])
            file = self.repos.get(repo, Path("/nonexistent")) / name
            if repo not in self.repos:
                return self._not_found()
            if not file.is_file():
                return self._send(404, b"{}", {"X-Error-Code": "EntryNotFound"})
            data = file.read_bytes()
            return self._send(200, data, {"X-Repo-Commit": COMMIT, "ETag": f'"{_oid(file)}"'})
        self._send(404, b"{}")


_JSON = {"Content-Type": "application/json"}


def _oid(file: Path) -> str:
    data = file.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's blob id


@pytest.fixture
def fake_hub(bert_files, monkeypatch):
    FakeHub.repos = {"tiny-org/tiny-bert": bert_files}
    FakeHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield endpoint
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nobody listens


def test_download_fills_the_cache_and_the_model_is_listed(hub, fake_hub, bert_files):
    pytest.importorskip("huggingface_hub")
    folder = hf_cache.download("tiny-org/tiny-bert")
    assert folder == hub / "models--tiny-org--tiny-bert" / "snapshots" / COMMIT
    for file in bert_files.iterdir():
        assert (folder / file.name).read_bytes() == file.read_bytes()
    assert any(
        r.startswith("GET /api/models/tiny-org/tiny-bert/revision/") for r in FakeHub.requests
    )
    listed = [m for m in list_models() if m["name"] == "tiny-org/tiny-bert"]
    assert len(listed) == 1 and listed[0]["supported"] and listed[0]["family"] == "bert"

    with pytest.raises(UserError, match="no-such/model is not a model on http://127.0.0.1"):
        hf_cache.download("no-such/model")
    with pytest.raises(UserError, match="gated/model is gated: accept its terms"):
        hf_cache.download("gated/model")
    with pytest.raises(UserError, match="has no revision 'v9'"):
        hf_cache.download("tiny-org/tiny-bert", revision="v9")
    with pytest.raises(UserError, match="not a Hugging Face repo id"):
        hf_cache.download("not a repo")


def test_download_offline_says_so(hub, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(UserError, match=r"cannot reach http://127.0.0.1:\d+ .*\(offline\?\)"):
        hf_cache.download("tiny-org/tiny-bert")
    assert hf_cache.cached_models() == []


def test_download_without_huggingface_hub_says_how_to_install(hub, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(
        UserError, match=r"needs huggingface_hub; run `pip install 'workbench\[hub\]'"
    ):
        hf_cache.download("tiny-org/tiny-bert")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip


def test_cli_download_then_list(hub, fake_hub, tmp_path):
    pytest.importorskip("huggingface_hub")
    env = {"HF_HUB_CACHE": str(hub), "HF_ENDPOINT": fake_hub}
    done = _cli("download", "tiny-org/tiny-bert", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(hub / "models--tiny-org--tiny-bert" / "snapshots" / COMMIT)
    done = _cli("models", "--list", env=env)
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [m["name"] for m in listed if m["source"] == "huggingface-cache"] == [
        "tiny-org/tiny-bert"
    ]
    assert all({"family", "parameters", "size_bytes", "tasks"} <= set(m) for m in listed)

    closed = {"HF_HUB_CACHE": str(hub), "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"}
    done = _cli("download", "tiny-org/other", env=closed)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("workbench: cannot reach") and "offline" in lines[-1]
