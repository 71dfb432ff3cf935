"""Tokenisation: dynamic padding only, our truncation, Unicode intact, one copy per thread."""

from __future__ import annotations

import threading

from workbench.engine.models.registry import default_model_path
from workbench.engine.tokenizer import TextTokenizer


def test_fixed_padding_of_the_checkpoint_is_switched_off():
    tokenizer = TextTokenizer.from_folder(default_model_path(), 128)
    ids = tokenizer.encode(["hi", "a slightly longer sentence"])
    assert len(ids[0]) == 3  # [CLS] hi [SEP], not 128
    assert len(ids[1]) < 10


def test_long_texts_are_truncated_to_max_length():
    tokenizer = TextTokenizer.from_folder(default_model_path(), 16)
    (ids,) = tokenizer.encode(["word " * 100])
    assert len(ids) == 16
    assert ids[-1] == 102  # still ends with [SEP]


def test_accents_are_normalised_and_chinese_is_split_per_character():
    tokenizer = TextTokenizer.from_folder(default_model_path(), 64)
    accented, plain, chinese = tokenizer.encode(["Café naïve", "cafe naive", "这家餐厅"])
    assert accented == plain  # uncased WordPiece strips accents, as in training
    assert len(chinese) == 4 + 2  # one token per character, plus [CLS] and [SEP]


def test_vocab_txt_alone_is_enough(tmp_path):
    import shutil

    folder = default_model_path()
    for name in ("vocab.txt", "config.json", "tokenizer_config.json"):
        shutil.copy(folder / name, tmp_path / name)
    from_vocab = TextTokenizer.from_folder(tmp_path, 64).encode(["Hello, World!"])
    from_json = TextTokenizer.from_folder(folder, 64).encode(["Hello, World!"])
    assert from_vocab == from_json


def test_clones_can_encode_in_parallel_threads():
    tokenizer = TextTokenizer.from_folder(default_model_path(), 64)
    errors = []

    def work(tok):
        try:
            for _ in range(50):
                tok.encode(["some text to encode"] * 16)
        except Exception as exc:  # pragma: no cover - the failure we guard against
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tokenizer.clone(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
