"""`workbench new-model gpt2`: a from-scratch folder from the command line, which `train`
then trains from random weights; every bad input is one line, exit 2, and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SPEECHES = "\n\n".join(
    f"{who}:\nO, {what}, and speak no more of it.\nWhat say you, {who.lower()}?"
    for who in ("ROMEO", "JULIET", "MERCUTIO", "NURSE", "FRIAR")
    for what in ("gentle night", "sweet love", "my lord", "good morrow")
)


def main_in_process(capsys, *args: str) -> tuple[int, str]:
    """The same entry point in this process (the refusals need no child's start-up time):
    the exit code and stderr."""
    from workbench.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    return code, capsys.readouterr().err


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True, text=True, encoding="utf-8", env=dict(os.environ), timeout=600,
    )  # fmt: skip


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "plays.txt"
    path.write_text(SPEECHES + "\n", encoding="utf-8")
    return path


def test_new_model_writes_a_folder_that_trains_from_scratch(text_file: Path, tmp_path: Path):
    folder = tmp_path / "baby-gpt"
    sizes = ["--layers", "2", "--heads", "2", "--hidden", "32", "--context", "64"]
    made = run_cli("new-model", "gpt2", "--data", str(text_file), "--output", str(folder),
                   "--vocab-size", "300", *sizes)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(folder)
    config = json.loads((folder / "config.json").read_text())
    assert (config["n_layer"], config["n_head"], config["n_embd"]) == (2, 2, 32)
    assert config["n_positions"] == 64 and 257 < config["vocab_size"] <= 300
    assert not list(folder.glob("*.safetensors"))  # no weights: random at the first run
    count = 32 * (config["vocab_size"] + 64) + 2 * (12 * 32 * 32 + 13 * 32) + 2 * 32
    assert f"{count:,} parameters" in made.stderr

    # What `train --model FOLDER` does with it: random weights, the sizes asked for, and the
    # count the command printed (tests/engine/test_max_steps.py trains such a folder).
    from workbench.engine.models.family import CAUSAL_LM
    from workbench.engine.models.loading import build_model
    from workbench.engine.models.registry import fresh_weights_notice

    assert "starts from random weights" in fresh_weights_notice(folder)[0]
    model = build_model(folder, CAUSAL_LM, 0).model
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--hidden", "64", "--heads", "5"], "--hidden 64 must be a multiple of --heads 5"),
        (["--vocab-size", "200"], "--vocab-size 200"),
        (["--layers", "0"], "--layers must be at least 1"),
        (["--context", "4"], "--context must be between 8"),
        (["--hidden", "x"], "invalid int value"),
    ],
)
def test_bad_sizes_are_one_line_and_write_nothing(
    capsys, text_file: Path, tmp_path: Path, args: list[str], says: str
):
    folder = tmp_path / "m"
    code, err = main_in_process(
        capsys, "new-model", "gpt2", "--data", str(text_file), "--output", str(folder), *args
    )
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1, err
    assert not folder.exists()


def test_bad_data_family_or_folder_are_one_line(capsys, text_file: Path, tmp_path: Path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    table = tmp_path / "two.csv"
    table.write_text("title,body\nA,some words here\nB,more words there\n")
    cases = [
        (["gpt2", "--data", str(text_file), "--output", str(taken)], "is not empty"),
        (["gpt2", "--data", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "a")],
         "does not exist"),
        (["gpt2", "--data", str(table), "--output", str(tmp_path / "b")], "--text-column"),
        (["gpt2", "--data", str(table), "--text-column", "text", "--output",
          str(tmp_path / "c")], "is not a column"),
        (["llama", "--data", str(text_file), "--output", str(tmp_path / "d")], "invalid choice"),
    ]  # fmt: skip
    for args, says in cases:
        code, err = main_in_process(capsys, "new-model", *args)
        assert code == 2, (args, err)
        assert says in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plays.txt", "taken", "two.csv"]
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    code, err = main_in_process(capsys, "new-model", "gpt2", "--data", str(table),
                                "--text-column", "body", "--output", str(tmp_path / "e"))  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "e" / "tokenizer.json").exists()
