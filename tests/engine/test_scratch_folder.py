"""A from-scratch GPT-2 folder: its tokenizer is fitted to the text and read back by the
engine, the model starts from random weights at the sizes asked for, and mistakes are
UserErrors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.engine.models.scratch import EOS, new_gpt2_folder
from workbench.errors import UserError

TEXT = [
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "All:\nSpeak, speak.",
    "First Citizen:\nYou are all resolved rather to die than to famish?",
    "All:\nResolved. resolved.",
] * 20
BYTES_AND_EOS = 257


def test_the_folder_trains_from_scratch_with_a_tokenizer_fitted_to_the_text(tmp_path: Path):
    import torch
    from tokenizers import Tokenizer

    from workbench.engine.models.family import CAUSAL_LM
    from workbench.engine.models.loading import build_model
    from workbench.engine.models.registry import is_from_scratch
    from workbench.engine.tokenizer import TextTokenizer

    folder = new_gpt2_folder(
        tmp_path / "m", TEXT, vocab_size=300, n_layer=2, n_embd=32, n_head=4, n_positions=64
    )
    config = json.loads((folder / "config.json").read_text())
    tokenizer = TextTokenizer.from_folder(folder, 512)
    assert is_from_scratch(folder)
    assert BYTES_AND_EOS < config["vocab_size"] <= 300  # merges fitted on the text
    assert tokenizer.vocab_size == config["vocab_size"]
    assert tokenizer.max_length == 64  # the model's positions cap it
    backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tokenizer.eos_id == config["eos_token_id"] == backend.token_to_id(EOS)
    (content,) = tokenizer.encode_content(["First Citizen:\nSpeak, speak."])
    assert len(content) < len("First Citizen:\nSpeak, speak.") / 2  # words became tokens
    assert tokenizer.decode(content) == "First Citizen:\nSpeak, speak."

    loaded = build_model(folder, CAUSAL_LM, 0)
    sizes = loaded.config
    assert (sizes.n_layer, sizes.n_embd, sizes.n_head) == (2, 32, 4)
    assert sizes.resid_pdrop == sizes.embd_pdrop == sizes.attn_pdrop == 0.0
    ids = torch.tensor([content])
    logits = loaded.model.eval()(ids, None)
    assert logits.shape == (1, len(content), config["vocab_size"])


def test_transformers_reads_the_config_and_tokenizer(tmp_path: Path):
    transformers = pytest.importorskip("transformers")
    folder = new_gpt2_folder(tmp_path / "m", TEXT, vocab_size=300, n_layer=1, n_embd=16, n_head=2)
    config = transformers.AutoConfig.from_pretrained(folder)
    assert (config.model_type, config.n_layer, config.n_embd) == ("gpt2", 1, 16)
    theirs = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    from workbench.engine.tokenizer import TextTokenizer

    ours = TextTokenizer.from_folder(folder)
    text = "You are all resolved rather to die?"
    assert ours.encode_content([text])[0] == theirs(text)["input_ids"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 256}, "at least 257"),
        ({"n_embd": 30, "n_head": 4}, "multiple of --heads"),
        ({"n_layer": 0}, "at least 1"),
    ],
)
def test_impossible_sizes_are_user_errors(tmp_path: Path, kwargs, message):
    with pytest.raises(UserError, match=message):
        new_gpt2_folder(tmp_path / "m", TEXT, **kwargs)
    assert not (tmp_path / "m").exists()  # nothing written


def test_no_text_or_a_used_folder_is_a_user_error(tmp_path: Path):
    with pytest.raises(UserError, match="no text"):
        new_gpt2_folder(tmp_path / "m", ["", "  \n"])
    used = tmp_path / "used"
    used.mkdir()
    (used / "config.json").write_text("{}")
    with pytest.raises(UserError, match="not empty"):
        new_gpt2_folder(used, TEXT)
    assert (used / "config.json").read_text() == "{}"  # left as it was
