"""Decoder tokenizers (GPT-2's byte-level BPE): both file layouts, no CLS/SEP, eos pads."""

from __future__ import annotations

import pytest
from tiny_gpt2 import EOS, train_tokenizer, write_tiny_gpt2

from workbench.engine.models.registry import default_model_path
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

pytest.importorskip("transformers")
TEXT = f"Hello world! Café 日本語{EOS} again"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpt2-tokenizers")
    return (
        write_tiny_gpt2(root / "json", files="tokenizer.json"),
        write_tiny_gpt2(root / "slow", files="vocab+merges"),
    )


def test_tokenizer_json_and_vocab_merges_encode_alike(folders):
    from_json, from_slow = (TextTokenizer.from_folder(f) for f in folders)
    reference = train_tokenizer()
    assert from_json.encode([TEXT]) == from_slow.encode([TEXT])
    (ids,) = from_slow.encode([TEXT])
    assert ids == reference.encode(TEXT).ids
    assert reference.token_to_id(EOS) in ids  # the end-of-text token is kept whole


def test_no_cls_or_sep_and_the_end_of_text_token_pads(folders):
    for folder in folders:
        tokenizer = TextTokenizer.from_folder(folder)
        eos = train_tokenizer().token_to_id(EOS)
        assert tokenizer.eos_id == eos and tokenizer.pad_id == eos
        assert tokenizer.template.single_extra == 0 and tokenizer.template.pair_extra == 0
        assert tokenizer.mask_id is None
        assert tokenizer.max_length == 128  # n_positions
        assert tokenizer.clone().eos_id == eos


def test_decoding_gives_the_text_back_with_its_multibyte_characters(folders):
    tokenizer = TextTokenizer.from_folder(folders[0])
    ids = tokenizer.encode_prompt("Zürich, 日本語のテキスト。")
    assert tokenizer.decode(ids) == "Zürich, 日本語のテキスト。"
    with_eos = tokenizer.encode_prompt(f"a{EOS}")
    assert tokenizer.decode(with_eos) == "a"
    assert tokenizer.decode(with_eos, skip_special_tokens=False) == f"a{EOS}"


def test_a_config_pad_token_wins_over_eos(tmp_path):
    import json

    folder = write_tiny_gpt2(tmp_path / "m", pad_token_id=5)
    assert json.loads((folder / "config.json").read_text())["pad_token_id"] == 5
    assert TextTokenizer.from_folder(folder).pad_id == 5


def test_encoders_keep_their_conventions():
    tokenizer = TextTokenizer.from_folder(default_model_path())
    assert tokenizer.pad_id == 0 and tokenizer.eos_id is None
    assert tokenizer.encode_prompt("hi") == [101, *tokenizer.encode_content(["hi"])[0]]


def test_a_folder_with_merges_but_no_vocab_is_refused(tmp_path, folders):
    import shutil

    shutil.copy(folders[1] / "merges.txt", tmp_path / "merges.txt")
    with pytest.raises(UserError, match="vocab.json with merges.txt"):
        TextTokenizer.from_folder(tmp_path)
