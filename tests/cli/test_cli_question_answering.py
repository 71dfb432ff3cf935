"""`workbench` for question answering as a user types it: train on a SQuAD slice, evaluate,
predict with a context, and the messages for data that cannot work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SQUAD = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "squad" / "train-subset.json"
)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real console entry point in a child process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=dict(os.environ),
        timeout=600,
    )


def squad_slice(path: Path, questions: int) -> Path:
    """The first paragraphs of squad/train-subset.json, about `questions` questions."""
    document = json.loads(SQUAD.read_text(encoding="utf-8"))
    article = document["data"][0]
    paragraphs, taken = [], 0
    for paragraph in article["paragraphs"]:
        if taken >= questions:
            break
        paragraphs.append(paragraph)
        taken += len(paragraph["qas"])
    path.write_text(
        json.dumps({"data": [{"title": article["title"], "paragraphs": paragraphs}]}),
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_train_evaluate_and_predict_question_answering(tmp_path):
    if not SQUAD.exists():
        pytest.skip("shared/data/squad is not here")
    data = squad_slice(tmp_path / "slice.json", 100)
    run_dir = tmp_path / "run"
    done = run_cli(
        "train",
        "--task",
        "question-answering",
        "--data",
        str(data),
        "--output",
        str(run_dir),
        "--epochs",
        "1",
        "--max-length",
        "128",
        "--batch-size",
        "16",
        "--stride",
        "32",
        "--eval-every",
        "1000000",  # one evaluation, at the end: the test is about the commands, not the curve
    )
    assert done.returncode == 0, done.stderr
    assert "read slice.json as SQuAD JSON" in done.stderr and "eval at step" in done.stderr
    assert json.loads((run_dir / "eval_results.json").read_text(encoding="utf-8"))["f1"] >= 0

    first = squad_slice(tmp_path / "first.json", 20)  # a few of the questions trained on
    evaluated = run_cli("evaluate", str(run_dir), "--data", str(first))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert 0 <= metrics["f1"] <= 1 and 0 <= metrics["exact_match"] <= metrics["f1"]
    assert metrics["num_examples"] >= 20 and "loss" in metrics

    context = (
        "The University of Notre Dame is a Catholic research university in Notre Dame, Indiana. "
        "It was founded in 1842 by Edward Sorin."
    )
    predicted = run_cli(
        "predict", str(run_dir), "--text", "Who founded the university?", "--context", context
    )
    assert predicted.returncode == 0, predicted.stderr
    (answer,) = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert answer["answer"] and context[answer["start"] : answer["end"]] == answer["answer"]
    assert 0 < answer["score"] <= 1 and answer["top_k"]

    missing = run_cli("predict", str(run_dir), "--text", "Who founded the university?")
    assert missing.returncode != 0 and "--context" in missing.stderr


def test_data_without_a_context_or_with_answers_not_in_it(tmp_path):
    no_context = tmp_path / "no_context.jsonl"
    no_context.write_text(
        "\n".join(json.dumps({"question": "Who?", "answer": "me"}) for _ in range(4)),
        encoding="utf-8",
    )
    done = run_cli(
        "train",
        "--task",
        "question-answering",
        "--data",
        str(no_context),
        "--output",
        str(tmp_path / "a"),
    )
    assert done.returncode != 0
    assert (
        "context" in done.stderr
        and "--context-column" in done.stderr
        and "Traceback" not in done.stderr
    )
    assert not (tmp_path / "a").exists()

    not_found = tmp_path / "not_found.jsonl"
    rows = [
        {"question": "Who?", "context": "Nobody was here.", "answer": "Somebody", "answer_start": 0}
    ] * 4
    not_found.write_text("\n".join(map(json.dumps, rows)), encoding="utf-8")
    done = run_cli(
        "train",
        "--task",
        "question-answering",
        "--data",
        str(not_found),
        "--output",
        str(tmp_path / "b"),
    )
    assert done.returncode != 0
    assert "not in their context" in done.stderr and "--answer-column" in done.stderr
    assert not (tmp_path / "b").exists()
