"""`workbench train --task seq2seq` on a 100-row DialogSum slice (and a Multi30K en-de slice)
with a tiny random BART, then evaluate, predict, generate and export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_bart import write_tiny_bart

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True, text=True, encoding="utf-8", env=dict(os.environ), timeout=600,
    )  # fmt: skip


def _slice(name: str, folder: Path, train_rows: int, eval_rows: int) -> tuple[Path, Path]:
    source = DATA / name
    if not source.exists():
        pytest.skip(f"{name} is not in ../shared/data")
    out = []
    for split, count in (("train", train_rows), ("validation", eval_rows)):
        lines = (source / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:count]
        path = folder / f"{name}.{split}.jsonl"
        path.write_text("\n".join(lines), encoding="utf-8")
        out.append(path)
    return out[0], out[1]


@pytest.mark.slow
def test_train_evaluate_predict_generate_export_on_dialogsum(tmp_path):
    bart = write_tiny_bart(tmp_path / "bart")
    train, valid = _slice("summarization_dialogsum", tmp_path, 100, 12)
    run_dir = tmp_path / "run"
    done = run_cli(
        "train", "--task", "seq2seq", "--data", str(train), "--eval-data", str(valid),
        "--model", str(bart), "--output", str(run_dir), "--epochs", "2", "--lr", "3e-3",
        "--max-length", "64", "--batch-size", "8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rougeL" in done.stderr
    results = json.loads((run_dir / "eval_results.json").read_text())
    assert results["loss"] < results["loss_before"] - 0.5  # the loss falls
    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert config["workbench"]["task"] == "seq2seq"
    assert 'source_column = "dialogue"' in (run_dir / "config.toml").read_text()

    evaluated = run_cli("evaluate", str(run_dir), "--data", str(valid))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    for name in ("rougeL", "rouge1", "rouge2", "bleu", "loss"):
        assert metrics[name] == pytest.approx(results[name], rel=1e-4, abs=1e-6)

    text = "#Person1#: Where is the train station? #Person2#: Go left at the bank."
    predicted = run_cli("predict", str(run_dir), "--text", text)
    assert predicted.returncode == 0, predicted.stderr
    (prediction,) = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert set(prediction) == {"text"}

    generated = run_cli(
        "generate", str(run_dir), "--prompt", text, "--temperature", "0",
        "--max-new-tokens", "64", "--json",
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    assert json.loads(generated.stdout)["text"].strip() == prediction["text"]

    exported = run_cli("export", str(run_dir), "--output", str(tmp_path / "hf"))
    assert exported.returncode == 0, exported.stderr
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["BartForConditionalGeneration"]


@pytest.mark.slow
def test_translation_columns_are_guessed_and_flags_name_them(tmp_path):
    bart = write_tiny_bart(tmp_path / "bart")
    train, valid = _slice("translation_en_de", tmp_path, 40, 8)
    wrong = run_cli(
        "train", "--task", "seq2seq", "--data", str(train), "--model", str(bart),
        "--source-column", "fr",
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "--source-column" in wrong.stderr and "Traceback" not in wrong.stderr
    run_dir = tmp_path / "run"
    done = run_cli(
        "train", "--task", "seq2seq", "--data", str(train), "--eval-data", str(valid),
        "--model", str(bart), "--output", str(run_dir), "--epochs", "1", "--max-length", "32",
        "--batch-size", "8", "--target-column", "de",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    toml = (run_dir / "config.toml").read_text()
    assert 'source_column = "en"' in toml and 'target_column = "de"' in toml
