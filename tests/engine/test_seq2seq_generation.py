"""Encoder-decoder generation: greedy ids equal transformers' generate() on a tiny random
BART, one batch equals each source alone, the cache equals recomputing, and a model folder
loads as a Generator that streams text."""

from __future__ import annotations

import pytest
import torch
from tiny_bart import write_tiny_bart

from workbench.engine.generation.generate import GenerationSettings
from workbench.engine.generation.seq2seq import generate_seq2seq, generate_seq2seq_batch
from workbench.engine.models.loading import build_model
from workbench.engine.tokenizer import TextTokenizer

transformers = pytest.importorskip("transformers")

SOURCES = [
    "Person1: Hello, how are you today? Person2: I am fine.",
    "The meeting is moved to Monday.",
    "They talk about the weather and the train, the price of tickets and the city in winter.",
]


@pytest.fixture(scope="module")
def bart(tmp_path_factory):
    folder = write_tiny_bart(tmp_path_factory.mktemp("bart") / "model", jitter=0.2)
    model = build_model(folder, "seq2seq-lm", 0).model.eval()
    return folder, model, TextTokenizer.from_folder(folder, 128)


def _reference_greedy(folder, ids: list[list[int]], new: int) -> list[list[int]]:
    """transformers' plain greedy search: nothing forced, no n-gram blocking."""
    reference = transformers.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    S = max(map(len, ids))
    source = torch.tensor([r + [1] * (S - len(r)) for r in ids])
    mask = torch.tensor([[1] * len(r) + [0] * (S - len(r)) for r in ids])
    with torch.no_grad():
        out = reference.generate(
            input_ids=source, attention_mask=mask, do_sample=False, num_beams=1,
            max_new_tokens=new, min_length=0, forced_bos_token_id=None,
            forced_eos_token_id=None, no_repeat_ngram_size=0, repetition_penalty=1.0,
            decoder_start_token_id=2, eos_token_id=2, pad_token_id=1,
        )  # fmt: skip
    rows = []
    for row in out[:, 1:].tolist():  # after the start token
        rows.append(row[: row.index(2)] if 2 in row else row)  # up to eos, not included
    return rows


def test_greedy_20_tokens_equal_transformers_generate_alone_and_batched(bart):
    folder, model, tok = bart
    ids = tok.encode(SOURCES)
    expected = _reference_greedy(folder, ids, 20)
    settings = GenerationSettings(max_new_tokens=20, temperature=0.0)
    alone = [list(generate_seq2seq(model, tok, row, settings)) for row in ids]
    batched = generate_seq2seq_batch(model, tok, ids, settings)
    print("reference", expected)
    assert any(len(row) >= 10 for row in expected)  # not an immediate end of sequence
    assert alone == expected
    assert batched == expected  # right padding of the sources changes nothing


def test_the_cache_gives_what_recomputing_gives_and_sampling_is_seeded(bart):
    _, model, tok = bart
    ids = tok.encode(SOURCES[:2])
    greedy = GenerationSettings(max_new_tokens=12)
    recomputed = GenerationSettings(max_new_tokens=12, use_cache=False)
    assert generate_seq2seq_batch(model, tok, ids, greedy) == generate_seq2seq_batch(
        model, tok, ids, recomputed
    )
    sample = GenerationSettings(max_new_tokens=12, temperature=1.3, top_k=50, top_p=0.95, seed=4)
    first = list(generate_seq2seq(model, tok, ids[0], sample))
    assert first == list(generate_seq2seq(model, tok, ids[0], sample))
    other = GenerationSettings(max_new_tokens=12, temperature=1.3, top_k=50, top_p=0.95, seed=5)
    assert first != list(generate_seq2seq(model, tok, ids[0], other))
    assert model.training is False


def test_max_new_tokens_stop_strings_and_the_decoder_positions_bound_the_target(bart):
    _, model, tok = bart
    (ids,) = tok.encode(SOURCES[:1])
    full = list(generate_seq2seq(model, tok, ids, GenerationSettings(max_new_tokens=30)))
    assert len(list(generate_seq2seq(model, tok, ids, GenerationSettings(max_new_tokens=3)))) == 3
    assert len(list(generate_seq2seq(model, tok, ids, GenerationSettings(max_new_tokens=30), max_target=5))) == 5  # fmt: skip
    text = tok.decode(full)
    stop = text.strip()[3:6]
    assert stop
    stopped = list(generate_seq2seq(model, tok, ids, GenerationSettings(max_new_tokens=30, stop=(stop,))))  # fmt: skip
    assert stop not in tok.decode(stopped) and len(stopped) < len(full)


def test_a_bart_folder_is_a_generator_whose_text_is_the_greedy_target(bart):
    from workbench.engine import load_generator

    folder, model, tok = bart
    generator = load_generator(folder)
    assert generator.encoder_decoder
    generation = generator.start(SOURCES[1], GenerationSettings(max_new_tokens=15))
    pieces = list(generation)
    (ids,) = tok.encode(SOURCES[1:2])
    expected = list(generate_seq2seq(model, tok, ids, GenerationSettings(max_new_tokens=15)))
    assert generation.token_ids == expected
    assert "".join(pieces) == generation.text == tok.decode(expected)
