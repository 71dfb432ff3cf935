"""`workbench train/evaluate/predict --task token-classification` as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONLL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conll2003"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=dict(os.environ),
        timeout=600,
    )


def conll_slice(source: Path, target: Path, count: int, skip: int = 0) -> Path:
    """The sentences skip..skip+count of a CoNLL file, as a CoNLL file."""
    blocks = [
        b
        for b in source.read_text(encoding="utf-8").split("\n\n")
        if b.strip() and "-DOCSTART-" not in b
    ]
    target.write_text("\n\n".join(blocks[skip : skip + count]) + "\n", encoding="utf-8")
    return target


@pytest.mark.slow
def test_train_evaluate_and_predict_entities_on_a_conll_slice(tmp_path):
    if not (CONLL / "train.txt").exists():
        pytest.skip("CoNLL-2003 is not in ../shared/data")
    train = conll_slice(CONLL / "train.txt", tmp_path / "train.txt", 200)
    valid = conll_slice(CONLL / "valid.txt", tmp_path / "valid.txt", 60)
    run_dir = tmp_path / "run"
    done = run_cli(
        "train",
        "--task",
        "token-classification",
        "--data",
        str(train),
        "--eval-data",
        str(valid),
        "--output",
        str(run_dir),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--max-length",
        "32",
        "--lr",
        "3e-4",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run_dir)
    assert "CoNLL" in done.stderr and "entity_f1" in done.stderr
    results = json.loads((run_dir / "eval_results.json").read_text(encoding="utf-8"))
    assert results["num_examples"] == 60 and 0 <= results["entity_f1"] <= 1
    examples = json.loads((run_dir / "eval_examples.json").read_text(encoding="utf-8"))
    assert len(examples) == 60 and len(examples[0][0]) == len(examples[0][1]) == len(examples[0][2])

    evaluated = run_cli("evaluate", str(run_dir), "--data", str(valid))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {
        "entity_f1",
        "entity_precision",
        "entity_recall",
        "token_accuracy",
        "loss",
        "report",
    } <= set(metrics)
    assert metrics["num_examples"] == 60
    assert metrics["entity_f1"] == pytest.approx(results["entity_f1"], abs=1e-9)

    text = "Peter Blackburn said the European Commission in Brussels rejected the German call."
    predicted = run_cli("predict", str(run_dir), "--text", text, "--text", "nothing, really.")
    assert predicted.returncode == 0, predicted.stderr
    first, second = (json.loads(line) for line in predicted.stdout.splitlines())
    assert first["tokens"][-2:] == ["call", "."] and len(first["tags"]) == len(first["tokens"])
    for entity in first["entities"] + second["entities"]:
        assert set(entity) == {"text", "type", "start", "end", "score"}
        assert 0 < entity["score"] <= 1 and entity["type"] in {"PER", "ORG", "LOC", "MISC"}
    for entity in first["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]


def test_tags_that_are_not_lists_fail_with_one_line_and_no_run(tmp_path):
    data = tmp_path / "bad.jsonl"
    rows = [{"tokens": ["EU", "rejects", "German", "call"], "tags": "B-ORG O B-MISC O"}] * 4
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    done = run_cli(
        "train",
        "--task",
        "token-classification",
        "--data",
        str(data),
        "--output",
        str(tmp_path / "run"),
    )
    assert done.returncode == 2
    message = done.stderr.strip()
    assert (
        message.count("\n") == 0 and "not lists of tags" in message and "--label-column" in message
    )
    assert not (tmp_path / "run").exists()


def test_evaluation_tags_unseen_in_training_are_named(tmp_path):
    train = tmp_path / "train.jsonl"
    sentences = [
        {"words": ["EU", "rejects", "German", "call"], "ner_tags": ["B-ORG", "O", "B-MISC", "O"]},
        {"words": ["Peter", "Blackburn"], "ner_tags": ["B-PER", "I-PER"]},
    ] * 3
    train.write_text("\n".join(json.dumps(s) for s in sentences), encoding="utf-8")
    valid = tmp_path / "valid.jsonl"
    valid.write_text(
        json.dumps({"words": ["Apple", "Inc"], "ner_tags": ["B-COMPANY", "I-COMPANY"]}),
        encoding="utf-8",
    )
    done = run_cli(
        "train",
        "--task",
        "token-classification",
        "--data",
        str(train),
        "--eval-data",
        str(valid),
        "--output",
        str(tmp_path / "run"),
    )
    assert done.returncode == 2
    assert (
        "valid.jsonl has tags the model was not trained on: 'B-COMPANY', 'I-COMPANY'" in done.stderr
    )
    assert not (tmp_path / "run").exists()
