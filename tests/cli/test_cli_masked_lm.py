"""`workbench train --task masked-lm` on a slice of WikiText, then evaluate, predict, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WIKITEXT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wikitext2"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True, text=True, encoding="utf-8", env=dict(os.environ), timeout=600,
    )  # fmt: skip


@pytest.fixture()
def wikitext_slice(tmp_path: Path) -> tuple[Path, Path]:
    """The first 24 paragraphs of valid.txt to train on, 6 of test.txt to evaluate on."""
    if not (WIKITEXT / "valid.txt").exists():
        pytest.skip("wikitext2 is not in ../shared/data")

    def head(name: str, count: int) -> str:
        lines = (WIKITEXT / name).read_text(encoding="utf-8").splitlines()
        return "\n".join([line for line in lines if line.strip()][:count]) + "\n"

    train, held = tmp_path / "slice.txt", tmp_path / "held.txt"
    train.write_text(head("valid.txt", 24), encoding="utf-8")
    held.write_text(head("test.txt", 6), encoding="utf-8")
    return train, held


@pytest.mark.slow
def test_masked_lm_trains_evaluates_predicts_and_exports(wikitext_slice, tmp_path):
    train, held = wikitext_slice
    run_dir = tmp_path / "run"
    done = run_cli(
        "train", "--task", "masked-lm", "--data", str(train), "--epochs", "1", "--max-length", "64",
        "--batch-size", "16", "--lr", "3e-4", "--eval-every", "1000", "--output", str(run_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "eval at step 0:" in done.stderr and "perplexity" in done.stderr
    results = json.loads((run_dir / "eval_results.json").read_text(encoding="utf-8"))
    assert results["perplexity"] < results["perplexity_before"]

    evaluated = run_cli("evaluate", str(run_dir), "--data", str(held))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["perplexity"] > 1 and metrics["loss"] > 0 and metrics["masked_tokens"] > 0
    again = json.loads(run_cli("evaluate", str(run_dir), "--data", str(held)).stdout)
    assert again["loss"] == metrics["loss"]  # the same tokens are masked every time

    predicted = run_cli("predict", str(run_dir), "--text", "Paris is the [MASK] of France.")
    assert predicted.returncode == 0, predicted.stderr
    [line] = [json.loads(x) for x in predicted.stdout.splitlines()]
    [mask] = line["masks"]
    assert mask["position"] == len("Paris is the ")
    assert len(mask["fills"]) == 5
    assert all({"token", "score", "text"} <= set(fill) for fill in mask["fills"])
    assert all(0 <= fill["score"] <= 1 for fill in mask["fills"])

    no_mask = run_cli("predict", str(run_dir), "--text", "Paris is the capital of France.")
    assert no_mask.returncode == 2
    assert "put [MASK] where a word is missing" in no_mask.stderr

    exported = run_cli("export", str(run_dir), "--format", "hf", "--output", str(tmp_path / "hf"))
    assert exported.returncode == 0, exported.stderr
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf")
    assert type(model).__name__ == "BertForMaskedLM"
