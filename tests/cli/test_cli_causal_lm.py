"""`workbench train --task causal-lm` on a slice of Tiny Shakespeare with a small random GPT-2,
then evaluate, predict and export; and prompt/response pairs with their flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_gpt2 import write_tiny_gpt2

SHAKESPEARE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True, text=True, encoding="utf-8", env=dict(os.environ), timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> Path:
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "model")


@pytest.mark.slow
def test_train_evaluate_predict_export_on_tiny_shakespeare(gpt2, tmp_path):
    if not SHAKESPEARE.exists():
        pytest.skip("tinyshakespeare is not in ../shared/data")
    text = SHAKESPEARE.read_text(encoding="utf-8")
    (tmp_path / "train.txt").write_text(text[:12000], encoding="utf-8")
    (tmp_path / "valid.txt").write_text(text[12000:15000], encoding="utf-8")
    run_dir = tmp_path / "run"
    done = run_cli(
        "train", "--task", "causal-lm", "--data", str(tmp_path / "train.txt"),
        "--eval-data", str(tmp_path / "valid.txt"), "--model", str(gpt2),
        "--output", str(run_dir), "--epochs", "2", "--lr", "3e-3", "--max-length", "64",
        "--batch-size", "8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "perplexity" in done.stderr
    results = json.loads((run_dir / "eval_results.json").read_text())
    assert results["perplexity"] < results["perplexity_before"] * 0.8

    evaluated = run_cli("evaluate", str(run_dir), "--data", str(tmp_path / "valid.txt"))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["perplexity"] == pytest.approx(results["perplexity"], rel=1e-4)
    assert metrics["loss"] == pytest.approx(results["loss"], rel=1e-4)

    predicted = run_cli("predict", str(run_dir), "--text", "ROMEO:", "--text", "First")
    assert predicted.returncode == 0, predicted.stderr
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [p["text"] for p in lines] == ["ROMEO:", "First"]
    assert all(isinstance(p["continuation"], str) and len(p["next_tokens"]) == 5 for p in lines)

    exported = run_cli("export", str(run_dir), "--output", str(tmp_path / "hf"))
    assert exported.returncode == 0, exported.stderr
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["GPT2LMHeadModel"]
    assert config["workbench"]["task"] == "causal-lm"


def test_pairs_take_their_column_flags_and_packing_switch(gpt2, tmp_path):
    data = tmp_path / "pairs.jsonl"
    rows = [{"q": f"What is {i} plus one?", "a": f"It is {i + 1}."} for i in range(12)]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    wrong = run_cli(
        "train", "--task", "causal-lm", "--data", str(data), "--model", str(gpt2),
        "--prompt-column", "q",
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "--response-column" in wrong.stderr and "Traceback" not in wrong.stderr
    run_dir = tmp_path / "run"
    done = run_cli(
        "train", "--task", "causal-lm", "--data", str(data), "--model", str(gpt2),
        "--prompt-column", "q", "--response-column", "a", "--packing", "--epochs", "1",
        "--max-length", "32", "--batch-size", "4", "--output", str(run_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "the loss is on the response only" in done.stderr
    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert config["workbench"]["meta"]["kind"] == "pairs"
    assert config["workbench"]["meta"]["packing"] is True
    assert "packing = true" in (run_dir / "config.toml").read_text()
