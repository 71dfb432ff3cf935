"""Broken model folders at the command line: exit 2, one line naming the file, nothing left.

Each broken kind (tests/model_folders.py) goes through `workbench train` in-process (the
same `main` the console script runs, so 25 cases stay fast); the malicious pickle and the
loading commands also run as a real child process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from model_folders import BROKEN, tiny_bert, write_evil_bin
from reviews_data import write_reviews
from test_cli import run_cli

from workbench import runs
from workbench.cli import main


def _no_runs_left() -> bool:
    folder = runs.default_runs_dir()
    return not folder.exists() or not any(folder.iterdir())


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("workbench: ") and "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def data(tmp_path) -> Path:
    return write_reviews(tmp_path / "reviews.csv")


@pytest.mark.parametrize("kind", list(BROKEN))
def test_train_on_a_broken_model_exits_2_naming_the_file(kind, data, tmp_path, capsys):
    model = tiny_bert(tmp_path / "model")
    breaker, expected, file = BROKEN[kind]
    breaker(model)
    output = tmp_path / "run"
    code = main(["train", "--data", str(data), "--model", str(model), "--output", str(output)])
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert code == 2
    assert expected in line and str(model) in line and file in line
    assert not output.exists() and _no_runs_left()
    assert captured.out == ""


@pytest.mark.parametrize(
    "kind", ["truncated safetensors", "hidden_size disagrees with the weights", "zero heads"]
)
def test_models_command_reports_a_broken_model(kind, tmp_path, capsys):
    model = tiny_bert(tmp_path / "model")
    BROKEN[kind][0](model)
    assert main(["models", str(model)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(model) in line


def test_a_malicious_pickle_runs_nothing_from_the_command_line(data, tmp_path):
    model = tiny_bert(tmp_path / "model")
    marker = tmp_path / "pwned"
    write_evil_bin(model, marker)
    output = tmp_path / "run"
    done = run_cli("train", "--data", str(data), "--model", str(model), "--output", str(output))
    assert done.returncode == 2, done.stderr
    line = _one_line(done.stderr)
    assert "pytorch_model.bin was refused" in line and "never runs code" in line
    assert "safetensors" in line  # how to fix it
    assert not marker.exists()
    assert not output.exists()


@pytest.mark.parametrize(
    "kind",
    ["tokenizer.json corrupt", "truncated safetensors", "non-numeric id2label key",
     "config not JSON", "tokenizer bigger than the embeddings"],
)  # fmt: skip
def test_predict_and_evaluate_on_a_broken_trained_model(kind, data, tmp_path, capsys):
    model = tiny_bert(tmp_path / "trained", trained=True)
    assert main(["predict", str(model), "--text", "a fine film"]) == 0  # whole, it works
    assert "label" in json.loads(capsys.readouterr().out.splitlines()[0])
    BROKEN[kind][0](model)
    before = sorted(p.name for p in model.iterdir())
    for command in (
        ["predict", str(model), "--text", "x"],
        ["evaluate", str(model), "--data", str(data)],
    ):
        assert main(command) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        line = _one_line(captured.err)
        assert re.search(re.escape(BROKEN[kind][1]), line) and str(model) in line
    assert sorted(p.name for p in model.iterdir()) == before  # nothing written next to it


def test_predict_on_a_broken_model_in_a_child_process(tmp_path):
    model = tiny_bert(tmp_path / "trained", trained=True)
    BROKEN["truncated safetensors"][0](model)
    done = run_cli("predict", str(model), "--text", "a fine film")
    assert done.returncode == 2
    assert "model.safetensors is truncated" in _one_line(done.stderr)
    assert done.stdout == ""


@pytest.mark.parametrize("files", ["tokenizer.json", "vocab+merges"])
def test_a_decoder_folder_passes_and_a_broken_one_cannot_generate(files, tmp_path, capsys):
    pytest.importorskip("transformers")
    from tiny_gpt2 import write_tiny_gpt2

    from workbench.engine.models.checks import check_model

    model = write_tiny_gpt2(tmp_path / "gpt2", files=files)
    check_model(model)  # GPT-2's files (vocab.json + merges.txt too) are a tokenizer
    config = json.loads((model / "config.json").read_text("utf-8"))
    (model / "config.json").write_text(json.dumps({**config, "n_head": 3}), "utf-8")
    capsys.readouterr()  # transformers' progress bar while saving the folder
    assert main(["generate", str(model), "--prompt", "hello", "--max-new-tokens", "2"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "n_embd 32 is not a multiple of n_head 3" in line and "config.json" in line
