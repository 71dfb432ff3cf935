"""Generation: greedy equals transformers' generate, the cache changes nothing, the filters
and the repetition penalty are transformers', stop strings and eos end it, seeds repeat."""

from __future__ import annotations

import pytest
import torch
from tiny_gpt2 import write_tiny_gpt2

from workbench.engine.generation.generate import (
    GenerationSettings,
    Generator,
    TextStream,
    generate,
)
from workbench.engine.generation.sampling import (
    next_token,
    repetition_penalty,
    top_k_filter,
    top_p_filter,
)
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")
PROMPT = "The quick brown fox"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "model")


@pytest.fixture(scope="module")
def generator(folder):
    return Generator.load(folder)


def _ids(generator, prompt=PROMPT, **settings) -> list[int]:
    ids = generator.prompt_ids(prompt)
    settings = GenerationSettings(**settings)
    return list(
        generate(
            generator.model, generator.tokenizer, ids, settings, max_context=generator.max_context
        )
    )


def test_greedy_equals_transformers_generate(folder, generator):
    reference = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    prompt = generator.prompt_ids(PROMPT)
    with torch.no_grad():
        out = reference.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=20,
            do_sample=False,
            pad_token_id=generator.tokenizer.eos_id,
        )
    expected = out[0, len(prompt) :].tolist()
    got = _ids(generator, max_new_tokens=20)
    assert len(got) == 20 and generator.tokenizer.eos_id not in got
    assert got == expected


def test_the_cache_does_not_change_greedy_ids(generator):
    with_cache = _ids(generator, max_new_tokens=24)
    without = _ids(generator, max_new_tokens=24, use_cache=False)
    assert with_cache == without and len(with_cache) == 24


def test_top_k_one_is_greedy_whatever_the_temperature(generator):
    greedy = _ids(generator, max_new_tokens=12)
    assert _ids(generator, max_new_tokens=12, temperature=1.5, top_k=1, seed=3) == greedy


def test_the_same_seed_gives_the_same_sample_and_another_seed_another(generator):
    a = _ids(generator, max_new_tokens=20, temperature=1.0, seed=11)
    b = _ids(generator, max_new_tokens=20, temperature=1.0, seed=11)
    c = _ids(generator, max_new_tokens=20, temperature=1.0, seed=12)
    assert a == b
    assert a != c


def test_top_k_and_top_p_keep_what_transformers_keeps():
    logits = torch.tensor([[2.0, 1.0, 0.5, 3.0, -1.0, 1.0]])
    kept = top_k_filter(logits, 2)
    assert torch.isfinite(kept).tolist() == [[True, False, False, True, False, False]]
    ties = top_k_filter(logits, 3)  # the two 1.0s tie for third place: both stay
    assert torch.isfinite(ties).sum().item() == 4
    # probabilities 0.5, 0.3, 0.15, 0.05: p=0.7 keeps the first two, p=0.85 three
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
    assert torch.isfinite(top_p_filter(probs.log(), 0.7)).tolist() == [[False, True, False, True]]
    assert torch.isfinite(top_p_filter(probs.log(), 0.85)).sum().item() == 3
    assert torch.isfinite(top_p_filter(probs.log(), 0.01)).sum().item() == 1  # one always stays
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    g = torch.Generator().manual_seed(0)
    random = torch.randn(3, 50, generator=g) * 2
    for p in (0.3, 0.6, 0.9):
        expected = TopPLogitsWarper(p)(None, random.clone())
        assert torch.equal(torch.isfinite(top_p_filter(random, p)), torch.isfinite(expected))
    for k in (1, 5, 20):
        expected = TopKLogitsWarper(k)(None, random.clone())
        assert torch.equal(torch.isfinite(top_k_filter(random, k)), torch.isfinite(expected))


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
    seen = torch.tensor([[0, 1, 1]])  # a repeat counts once
    got = repetition_penalty(logits, seen, 2.0)
    assert got.tolist() == [[1.0, -2.0, 0.5, -3.0]]
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    expected = RepetitionPenaltyLogitsProcessor(2.0)(seen, logits.clone())
    assert torch.equal(got, expected)
    # with the penalty, greedy no longer picks the seen token 0
    assert next_token(logits, torch.tensor([[0]]), temperature=0, penalty=5.0).item() == 2


def test_a_stop_string_ends_the_text_before_it(generator):
    tokenizer = generator.tokenizer
    full = _ids(generator, max_new_tokens=30)
    text_of = TextStream(tokenizer, generator.prompt_ids(PROMPT))
    text = "".join(text_of.push(t) for t in full) + text_of.flush()
    stop = text[8:11]
    cut = text.find(stop)
    got = _ids(generator, max_new_tokens=30, stop=(stop,))
    expected = []  # the tokens wholly before the stop string
    for n in range(1, len(full) + 1):
        if len(tokenizer.decode(full[:n])) > cut:
            break
        expected = full[:n]
    assert got == expected and stop not in tokenizer.decode(got)
    # a stop string that never completes holds tokens back only until the end
    assert _ids(generator, max_new_tokens=30, stop=(stop + "\x00never",)) == full


def test_the_end_of_text_token_ends_generation_and_is_not_output(folder):
    generator = Generator.load(folder)
    full = _ids(generator, max_new_tokens=20)
    generator.tokenizer.eos_id = full[5]
    assert _ids(generator, max_new_tokens=20) == full[: full.index(full[5])]


def test_streamed_text_never_breaks_a_multibyte_character(generator):
    tokenizer = generator.tokenizer
    text = "Café 日本語のテキスト。"
    ids = tokenizer.encode_prompt(text)
    assert len(ids) > len(text) - 3  # byte tokens: some characters take several
    stream = TextStream(tokenizer, tokenizer.encode_prompt("Zürich:"))
    pieces = [stream.push(t) for t in ids] + [stream.flush()]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) == text == stream.text


def test_a_generation_streams_pieces_that_add_up_to_its_text(generator):
    run = generator.start(PROMPT, GenerationSettings(max_new_tokens=15))
    pieces = list(run)
    assert "".join(pieces) == run.text
    assert run.token_ids == _ids(generator, max_new_tokens=15)
    assert run.text == generator.tokenizer.decode(run.token_ids)


def test_generation_stops_at_the_models_positions(generator):
    assert generator.max_context == 128
    long_prompt = "Hello world! " * 200  # far more than 128 tokens: its end is kept
    assert len(generator.prompt_ids(long_prompt)) > 128
    got = _ids(generator, long_prompt, max_new_tokens=10)
    assert len(got) == 1  # the prompt's last 127 tokens, then one new token


def test_an_empty_prompt_starts_after_end_of_text(generator):
    assert generator.prompt_ids("") == [generator.tokenizer.eos_id]
    assert len(_ids(generator, "", max_new_tokens=3)) <= 3


def test_should_stop_ends_it(generator):
    run = generator.start(PROMPT, GenerationSettings(max_new_tokens=50), should_stop=lambda: True)
    assert list(run) == [] and run.token_ids == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_new_tokens": -1}, "--max-new-tokens"),
        ({"top_p": 0.0}, "--top-p"),
        ({"top_p": 1.5}, "--top-p"),
        ({"temperature": -0.1}, "--temperature"),
        ({"top_k": -2}, "--top-k"),
        ({"repetition_penalty": 0.0}, "--repetition-penalty"),
        ({"stop": ("",)}, "--stop"),
    ],
)
def test_bad_settings_say_which_flag(settings, message):
    with pytest.raises(UserError, match=message):
        GenerationSettings(**settings)


def test_a_model_without_a_causal_lm_head_is_refused(tmp_path):
    with pytest.raises(UserError, match="cannot generate text"):
        Generator.load("default")
    with pytest.raises(UserError, match="unknown model"):
        Generator.load(tmp_path / "nothing")


BATCH_PROMPTS = ["Hello", "The quick brown fox jumps over", "A small model writes a short story"]


@pytest.mark.parametrize(
    "settings",
    [
        {"max_new_tokens": 15},
        {"max_new_tokens": 15, "use_cache": False},
        {"max_new_tokens": 15, "repetition_penalty": 1.3},
        {"max_new_tokens": 15, "top_k": 1, "temperature": 0.7, "seed": 2},
    ],
    ids=["greedy", "no-cache", "repetition-penalty", "top-k-1"],
)
def test_a_left_padded_batch_gives_each_prompt_what_it_gets_alone(generator, settings):
    from workbench.engine.generation.generate import generate_batch

    prompts = [generator.prompt_ids(p) for p in BATCH_PROMPTS]
    assert len({len(p) for p in prompts}) == 3  # really padded
    batch = generate_batch(
        generator.model, generator.tokenizer, prompts, GenerationSettings(**settings)
    )
    alone = [_ids(generator, p, **settings) for p in BATCH_PROMPTS]
    assert batch == alone


def test_a_batch_stops_each_row_at_its_own_stop_string_and_eos(folder):
    from workbench.engine.generation.generate import generate_batch

    generator = Generator.load(folder)
    full = [_ids(generator, p, max_new_tokens=20) for p in BATCH_PROMPTS]
    generator.tokenizer.eos_id = full[0][4]  # the first row ends there
    stop = generator.tokenizer.decode(full[1][6:8])  # the second row stops there
    settings = {"max_new_tokens": 20, "stop": (stop,)}
    alone = [_ids(generator, p, **settings) for p in BATCH_PROMPTS]
    prompts = [generator.prompt_ids(p) for p in BATCH_PROMPTS]
    batch = generate_batch(
        generator.model, generator.tokenizer, prompts, GenerationSettings(**settings)
    )
    assert batch == alone
    assert len(alone[0]) <= 4 and len(alone[1]) <= 7
