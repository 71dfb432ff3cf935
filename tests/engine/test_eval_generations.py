"""Causal LM evaluations carry the greedy continuations of a few fixed validation prompts
(`generations`): in every EvalFinished, the final metrics and metrics.jsonl; a task without
them adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tiny_gpt2 import write_tiny_gpt2

from workbench.config import RunConfig
from workbench.engine.events import EvalFinished
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Rows
from workbench.engine.tasks.causal_lm import SAMPLE_PROMPTS, sample_prompts
from workbench.engine.tokenizer import TextTokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog and runs far away into the woods.",
    "A small model writes a short story about a cat and a hat, then another one.",
    "Hello world! Hello again, world. Numbers 1 2 3 4 5 and words that repeat.",
    "Short.",
]


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> Path:
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "model")


def test_plain_text_prompts_are_the_opening_tokens_and_the_rest_is_the_reference(gpt2):
    tokenizer = TextTokenizer.from_folder(gpt2, 64)
    prompts, references = sample_prompts(Rows({"text": TEXTS}), tokenizer, SAMPLE_PROMPTS)
    assert len(prompts) == SAMPLE_PROMPTS
    for text, prompt, reference in zip(TEXTS[:3], prompts, references, strict=True):
        assert prompt and reference and prompt + reference == text
        assert len(tokenizer.encode_untruncated([prompt])[0].ids) <= 16
    pairs = Rows({"prompt": ["p1", "p2"], "response": ["r1", "r2"]})
    assert sample_prompts(pairs, tokenizer, 3) == (["p1", "p2"], ["r1", "r2"])


def _train(tmp_path: Path, gpt2: Path, data: Path, **settings):
    from workbench.engine import train

    events: list = []
    result = train(
        RunConfig(
            task="causal-lm",
            data=str(data),
            model=str(gpt2),
            output=str(tmp_path / "run"),
            epochs=1,
            learning_rate=1e-3,
            max_length=32,
            batch_size=4,
            eval_every_steps=2,
            precision="fp32",
            **settings,
        ),  # fmt: skip
        on_event=events.append,
    )
    assert result.status == "completed", result.error
    return result, [e for e in events if isinstance(e, EvalFinished)]


@pytest.mark.slow
def test_every_evaluation_continues_the_same_validation_prompts(gpt2, tmp_path):
    from workbench.engine import load_generator
    from workbench.engine.generation.generate import GenerationSettings

    data = tmp_path / "text.csv"
    pd.DataFrame({"text": TEXTS * 10}).to_csv(data, index=False)
    result, evals = _train(tmp_path, gpt2, data)
    assert len(evals) >= 3 and evals[0].step == 0  # before training, during, at the end
    first = evals[0].metrics["generations"]
    assert len(first) == SAMPLE_PROMPTS
    for event in evals:
        shown = event.metrics["generations"]
        assert [g["prompt"] for g in shown] == [g["prompt"] for g in first]
        assert all(isinstance(g["output"], str) for g in shown)
        assert all(g["prompt"] + g["reference"] in TEXTS for g in shown)
    final = result.metrics["generations"]
    assert final == evals[-1].metrics["generations"]
    # The final model's own greedy continuation, loaded back from the run folder.
    generator = load_generator(result.run_dir)
    greedy = GenerationSettings(max_new_tokens=32, temperature=0.0)
    for shown in final:
        generation = generator.start(shown["prompt"], greedy)
        assert "".join(generation) == shown["output"]
    logged = [
        json.loads(line)
        for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()
        if '"kind": "eval"' in line
    ]
    assert [e["metrics"]["generations"] for e in logged] == [
        e.metrics["generations"] for e in evals
    ]


@pytest.mark.slow
def test_pairs_show_their_prompt_and_the_expected_response(gpt2, tmp_path):
    data = tmp_path / "pairs.csv"
    rows = [(f"say {w}", f"{w} {w} {w}") for w in ("cat", "dog", "fox", "hat", "sun")] * 8
    pd.DataFrame(rows, columns=["prompt", "response"]).to_csv(data, index=False)
    _, evals = _train(tmp_path, gpt2, data, eval_data=str(data))
    shown = evals[-1].metrics["generations"]
    assert [(g["prompt"], g["reference"]) for g in shown] == rows[:SAMPLE_PROMPTS]


def test_other_tasks_have_no_generations():
    assert not hasattr(get_task("text-classification"), "eval_generations")
