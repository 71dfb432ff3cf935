"""`workbench train/evaluate/predict` for pair classification (MRPC), regression (STS-B) and
multi-label classification (GoEmotions), on slices of the shared data, as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run_cli

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def head_lines(source: Path, target: Path, lines: int, skip: int = 0) -> Path:
    """The header and `lines` rows after `skip` rows of a file, bytes unchanged (BOM, quotes)."""
    if not source.exists():
        pytest.skip(f"shared data {source} not available")
    with open(source, "rb") as handle:
        rows = handle.read().splitlines(keepends=True)
    target.write_bytes(b"".join([rows[0], *rows[1 + skip : 1 + skip + lines]]))
    return target


def train_slice(data: Path, task: str, run_dir: Path, *extra: str) -> None:
    done = run_cli(
        "train", "--task", task, "--data", str(data), "--output", str(run_dir),
        "--epochs", "1", "--max-length", "64", *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run_dir)


@pytest.mark.slow
def test_mrpc_pair_classification(tmp_path):
    data = head_lines(SHARED / "mrpc" / "train.tsv", tmp_path / "train.tsv", 200)
    train_slice(data, "pair-classification", tmp_path / "run")
    dev = head_lines(SHARED / "mrpc" / "dev.tsv", tmp_path / "dev.tsv", 40)
    evaluated = run_cli("evaluate", str(tmp_path / "run"), "--data", str(dev))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {"accuracy", "f1_macro", "f1", "loss", "report", "confusion_matrix"} <= set(metrics)
    assert metrics["positive_label"] == "1" and metrics["num_examples"] == 40

    predicted = run_cli(
        "predict", str(tmp_path / "run"),
        "--text", "The company posted record profits.", "--text-pair", "Profits at the firm hit a record.",
        "--text", "He left early.", "--text-pair", "Bananas are yellow.",
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(lines) == 2 and all(set(p) == {"label", "scores"} for p in lines)
    assert set(lines[0]["scores"]) == {"0", "1"}

    missing = run_cli("predict", str(tmp_path / "run"), "--text", "only one text")
    assert missing.returncode == 2 and "--text-pair" in missing.stderr


@pytest.mark.slow
def test_stsb_regression(tmp_path):
    data = head_lines(SHARED / "stsb" / "train.tsv", tmp_path / "train.tsv", 200, skip=1000)
    train_slice(data, "regression", tmp_path / "run")
    dev = head_lines(SHARED / "stsb" / "dev.tsv", tmp_path / "dev.tsv", 40)
    evaluated = run_cli("evaluate", str(tmp_path / "run"), "--data", str(dev))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {"pearson", "spearman", "mse", "loss", "num_examples"} <= set(metrics)

    predicted = run_cli(
        "predict", str(tmp_path / "run"),
        "--text", "A man is playing a guitar.", "--text-pair", "A man plays the guitar.",
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    value = json.loads(predicted.stdout)
    assert list(value) == ["value"] and isinstance(value["value"], float)


@pytest.mark.slow
def test_goemotions_multi_label(tmp_path):
    data = head_lines(SHARED / "goemotions" / "train.csv", tmp_path / "train.csv", 200)
    done = run_cli(
        "train", "--task", "multi-label-classification", "--data", str(data),
        "--output", str(tmp_path / "run"), "--epochs", "1", "--max-length", "64",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "separated by semicolons (;) (detected)" in done.stderr
    dev = head_lines(SHARED / "goemotions" / "validation.csv", tmp_path / "dev.csv", 60)
    evaluated = run_cli("evaluate", str(tmp_path / "run"), "--data", str(dev))
    # A 60-row slice may hold a label the 200 training rows lack: then a clear refusal.
    if evaluated.returncode == 2:
        assert "not trained on" in evaluated.stderr
        dev = data
        evaluated = run_cli("evaluate", str(tmp_path / "run"), "--data", str(dev))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {"f1_micro", "f1_macro", "loss", "threshold", "report"} <= set(metrics)

    predicted = run_cli("predict", str(tmp_path / "run"), "--text", "Thank you so much, I love it!")
    assert predicted.returncode == 0, predicted.stderr
    out = json.loads(predicted.stdout)
    assert set(out) == {"labels", "scores"} and isinstance(out["labels"], list)
    assert all(0.0 <= p <= 1.0 for p in out["scores"].values())


def test_regression_on_words_is_refused_before_a_run_folder_exists(tmp_path):
    data = tmp_path / "words.csv"
    data.write_text("text,score\na fine day,good\na bad day,bad\n", encoding="utf-8")
    done = run_cli(
        "train", "--task", "regression", "--data", str(data), "--output", str(tmp_path / "run")
    )
    assert done.returncode == 2
    assert "not numbers" in done.stderr and "--label-column" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_pairs_without_a_second_text_are_refused(tmp_path):
    data = tmp_path / "single.csv"
    data.write_text("text,label\na fine day,1\na bad day,0\n", encoding="utf-8")
    done = run_cli("train", "--task", "pair-classification", "--data", str(data))
    assert done.returncode == 2 and "--text-pair-column" in done.stderr
