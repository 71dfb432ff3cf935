"""`workbench generate` as a user types it, on a small random GPT-2 folder saved by transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tiny_gpt2 import write_tiny_gpt2

pytest.importorskip("transformers")
PROMPT = "The quick brown fox"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The output decoded as UTF-8 without newline translation (a random model writes \r)."""
    done = subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
        timeout=600,
    )
    done.stdout = done.stdout.decode("utf-8").replace(os.linesep, "\n")
    done.stderr = done.stderr.decode("utf-8")
    return done


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "model", files="vocab+merges")


def _expected(model, **settings):
    from workbench.engine import load_generator
    from workbench.engine.generation.generate import GenerationSettings

    run = load_generator(model).start(PROMPT, GenerationSettings(**settings))
    pieces = list(run)
    return "".join(pieces), run.token_ids


def test_greedy_json_gives_the_engines_text_and_ids(model):
    done = run_cli("generate", str(model), "--prompt", PROMPT, "--max-new-tokens", "12", "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    text, ids = _expected(model, max_new_tokens=12)
    assert result == {"text": text, "token_ids": ids} and len(ids) == 12


def test_the_continuation_streams_to_stdout(model):
    done = run_cli(
        "generate", str(model), "--prompt", PROMPT, "--max-new-tokens", "10",
        "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9",
        "--repetition-penalty", "1.2", "--seed", "4",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text, _ = _expected(
        model, max_new_tokens=10, temperature=0.8, top_k=20, top_p=0.9,
        repetition_penalty=1.2, seed=4,
    )  # fmt: skip
    assert done.stdout == text + "\n"
    again = run_cli(
        "generate", str(model), "--prompt", PROMPT, "--max-new-tokens", "10",
        "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9",
        "--repetition-penalty", "1.2", "--seed", "4",
    )  # fmt: skip
    assert again.stdout == done.stdout


def test_a_stop_string_is_not_printed(model):
    text, _ = _expected(model, max_new_tokens=20)
    stop = text[6:9]
    done = run_cli(
        "generate", str(model), "--prompt", PROMPT, "--max-new-tokens", "20",
        "--stop", stop, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert stop not in result["text"] and text.startswith(result["text"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-new-tokens", "-3"], "--max-new-tokens"),
        (["--top-p", "0"], "--top-p"),
        (["--top-p", "1.2"], "--top-p"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(model, args, message):
    done = run_cli("generate", str(model), "--prompt", PROMPT, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr


def test_a_missing_model_or_an_encoder_is_refused(tmp_path):
    done = run_cli("generate", str(tmp_path / "nothing"), "--prompt", "hi")
    assert done.returncode == 2 and "unknown model" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = run_cli("generate", "default", "--prompt", "hi")
    assert done.returncode == 2 and "cannot generate text" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
