"""A model folder is checked before any work, and loading one never runs code.

Each broken kind is a small folder (a tiny random BERT with the bundled tokenizer) broken
one way: the check raises one line naming the file, training leaves no run folder. Then
what must load does: shards, legacy and zip `.bin` files, bf16 weights tensor by tensor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
import torch
from model_folders import BROKEN, shard, tiny_bert, tiny_state, write_bin, write_evil_bin
from reviews_data import write_reviews
from safetensors.torch import save_file

from workbench import runs
from workbench.config import RunConfig
from workbench.engine import checkpoint
from workbench.engine.checkpoint import load_bin, read_state_dict
from workbench.engine.models.checks import check_model, safetensors_header
from workbench.engine.models.loading import build_model
from workbench.engine.models.registry import default_model_path, describe_model, resolve_model
from workbench.engine.training.run import prepare, train
from workbench.errors import UserError


@pytest.fixture
def model(tmp_path) -> Path:
    return tiny_bert(tmp_path / "model")


def _message(folder: Path) -> str:
    with pytest.raises(UserError) as caught:
        check_model(resolve_model(folder))
    return str(caught.value)


def test_the_tiny_model_and_the_bundled_one_pass(model):
    check_model(model)
    check_model(default_model_path())
    check_model(default_model_path(), shapes=False)


@pytest.mark.parametrize("kind", list(BROKEN))
def test_each_broken_kind_is_one_line_naming_the_file(kind, model):
    breaker, expected, file = BROKEN[kind]
    breaker(model)
    message = _message(model)
    assert expected in message
    assert "\n" not in message
    assert str(model) in message  # names the folder, and the file where one is to blame
    if file:
        assert file in message


@pytest.mark.parametrize(
    "kind",
    ["config is a list", "zero heads", "truncated safetensors", "tokenizer.json corrupt",
     "hidden_size disagrees with the weights", "non-numeric id2label key"],
)  # fmt: skip
def test_training_on_a_broken_model_leaves_no_run_folder(kind, model, tmp_path, isolated_home):
    BROKEN[kind][0](model)
    data = write_reviews(tmp_path / "reviews.csv")
    output = tmp_path / "run"
    config = RunConfig(data=str(data), model=str(model), output=str(output), epochs=1)
    with pytest.raises(UserError, match=re.escape(BROKEN[kind][1])):
        train(config)
    assert not output.exists()
    assert not runs.default_runs_dir().exists() or not any(runs.default_runs_dir().iterdir())


def test_prepare_checks_the_model_before_reading_the_data(model, tmp_path):
    BROKEN["zero heads"][0](model)
    config = RunConfig(data=str(tmp_path / "missing.csv"), model=str(model))
    with pytest.raises(UserError, match="num_attention_heads is 0"):
        prepare(config)  # the model's fault is reported, not the data's


def test_describe_checks_without_torch(model):
    BROKEN["truncated safetensors"][0](model)
    with pytest.raises(UserError, match="is truncated"):
        describe_model(str(model))
    code = (
        "import sys\n"
        "from workbench.engine.models.checks import check_model\n"
        f"check_model({str(default_model_path())!r}, shapes=False)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_trained_model_that_lost_its_weights_is_not_trained_from_scratch(tmp_path):
    folder = tiny_bert(tmp_path / "trained", trained=True)
    (folder / "model.safetensors").unlink()
    with pytest.raises(UserError, match="no weights"):
        check_model(resolve_model(folder))


# ---- safe loading -------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_malicious_pickle_runs_nothing(legacy, model, tmp_path):
    marker = tmp_path / "pwned"
    path = write_evil_bin(model, marker, legacy=legacy)
    with pytest.raises(UserError) as caught:
        load_bin(path)
    message = str(caught.value)
    assert "never runs code" in message and "safetensors" in message
    assert "posix.system" in message or "nt.system" in message  # what it asked for
    assert "\n" not in message and str(path) in message
    with pytest.raises(UserError, match="never runs code"):
        check_model(model)
    with pytest.raises(UserError, match="never runs code"):
        build_model(model, "sequence-classification", 2)
    assert not marker.exists()


def test_an_old_torch_never_loads_bin_files(model, monkeypatch):
    """weights_only could be bypassed before torch 2.6 (CVE-2025-32434)."""
    path = write_bin(model)
    monkeypatch.setattr(torch, "__version__", "2.5.1+cpu")
    with pytest.raises(UserError, match="cannot load safely"):
        load_bin(path)


def test_the_malicious_pickle_would_really_run(model, tmp_path):
    """The test above can fail: the same file, unpickled without weights_only, runs."""
    marker = tmp_path / "pwned"
    path = write_evil_bin(model, marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_bin_checkpoints_load_zip_and_legacy(legacy, model):
    reference = build_model(model, "sequence-classification", 2).model.state_dict()
    write_bin(model, legacy=legacy)
    check_model(model)
    loaded = build_model(model, "sequence-classification", 2).model.state_dict()
    for key, value in reference.items():
        if not key.startswith("classifier."):
            assert torch.equal(loaded[key], value), key


def test_a_wrapped_state_dict_loads(model):
    state = tiny_state(json.loads((model / "config.json").read_text("utf-8")))
    torch.save({"state_dict": state}, model / "pytorch_model.bin")
    (model / "model.safetensors").unlink()
    assert set(load_bin(model / "pytorch_model.bin")) == set(state)


def test_every_torch_load_in_workbench_is_weights_only():
    root = Path(__file__).resolve().parents[2] / "workbench"
    for path in root.rglob("*.py"):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if "torch.load(" in line and not line.lstrip().startswith(("#", '"""')):
                call = line[line.index("torch.load(") :]
                assert "weights_only=True" in call, f"{path}:{number}: {line.strip()}"


# ---- sharded and half-precision checkpoints -----------------------------------------------


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_sharded_checkpoints_load(fmt, model):
    reference = build_model(model, "masked-lm", 0).model.state_dict()
    files = shard(model, parts=3, fmt=fmt)
    assert len(files) == 3 and not (model / "model.safetensors").exists()
    assert resolve_model(model) == model  # shards are weights: not a model from scratch
    check_model(model)
    loaded = build_model(model, "masked-lm", 0)
    assert not [k for k in loaded.fresh if not k.startswith("cls.")]
    state = loaded.model.state_dict()
    for key, value in reference.items():
        if not key.startswith("cls."):
            assert torch.equal(state[key], value), key


def test_a_shard_that_lacks_what_its_index_says(model):
    files = shard(model)
    state = {"unrelated.weight": torch.zeros(2)}
    save_file(state, str(files[1]))
    with pytest.raises(UserError, match="the index and the shards do not match"):
        check_model(model)


def test_bf16_weights_load_one_tensor_at_a_time(model, monkeypatch):
    config = json.loads((model / "config.json").read_text("utf-8"))
    state = tiny_state(config)
    save_file({k: v.to(torch.bfloat16) for k, v in state.items()}, str(model / "model.safetensors"))
    assert {i.dtype for i in safetensors_header(model / "model.safetensors").values()} == {"BF16"}

    alive: list[weakref.ref] = []
    most_alive = 0
    dtypes = set()
    original = checkpoint.Weights.__getitem__

    def tracked(self, key):
        nonlocal most_alive
        tensor = original(self, key)
        most_alive = max(most_alive, sum(ref() is not None for ref in alive))
        alive.append(weakref.ref(tensor))
        dtypes.add(tensor.dtype)
        return tensor

    monkeypatch.setattr(checkpoint.Weights, "__getitem__", tracked)
    loaded = build_model(model, "sequence-classification", 2).model
    assert len(alive) == len(state)  # every tensor read once …
    assert most_alive == 0  # … and dropped before the next is read
    assert dtypes == {torch.bfloat16}  # never converted to a float32 copy first
    params = loaded.state_dict()
    assert params["bert.embeddings.word_embeddings.weight"].dtype == torch.float32
    expected = state["embeddings.word_embeddings.weight"].to(torch.bfloat16).float()
    assert torch.equal(params["bert.embeddings.word_embeddings.weight"], expected)


def test_read_state_dict_reads_no_tensor_until_asked(model, monkeypatch):
    weights = read_state_dict(model)
    assert weights.shape("embeddings.word_embeddings.weight") == (30522, 16)
    subset = weights.subset(k for k in weights if k.startswith("embeddings."))
    assert all(k.startswith("embeddings.") for k in subset) and len(subset) < len(weights)
    assert subset["embeddings.LayerNorm.weight"].shape == (16,)


def test_loading_never_writes_into_the_model_folder(model):
    before = {p: p.stat().st_mtime_ns for p in model.iterdir()}
    build_model(model, "sequence-classification", 2)
    assert {p: p.stat().st_mtime_ns for p in model.iterdir()} == before
    assert os.access(model, os.R_OK)


_PEAK_SCRIPT = """
import json, sys
from workbench.engine.models.loading import build_model

def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

before = kb("VmRSS:")
model = build_model(sys.argv[1], "sequence-classification", 2).model
params = sum(p.numel() for p in model.parameters())
print(json.dumps({"model_kb": params * 4 // 1024, "peak_kb": kb("VmHWM:") - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_a_bf16_checkpoint_loads_in_the_memory_of_the_model_plus_one_tensor(tmp_path):
    """Measured in a fresh process: peak RSS while loading stays under the float32 model plus
    half the bf16 file (holding the file, mapped or as a dict, would add all of it)."""
    from workbench.engine.models.bert import BertConfig, BertModel

    folder = tiny_bert(tmp_path / "model")
    config = dict(
        json.loads((folder / "config.json").read_text("utf-8")),
        vocab_size=1000,
        hidden_size=512,
        num_hidden_layers=8,
        num_attention_heads=8,
        intermediate_size=2048,
    )  # many tensors of 2 MB at most: the file is 50 MB
    (folder / "config.json").write_text(json.dumps(config), "utf-8")
    state = BertModel(BertConfig.from_dict(config)).state_dict()
    save_file(
        {k: v.to(torch.bfloat16) for k, v in state.items()}, str(folder / "model.safetensors")
    )
    file_kb = (folder / "model.safetensors").stat().st_size // 1024
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["peak_kb"] < measured["model_kb"] + file_kb // 2, (measured, file_kb)


def test_describe_counts_the_parameters_of_shards(model):
    whole = describe_model(str(model))["parameters"]
    shard(model, parts=3)
    assert describe_model(str(model))["parameters"] == whole > 0
