"""The ELMo-style baseline: words from bytes, a config-only folder that trains from scratch,
padding that changes nothing, and the text-classification task end to end."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.engine.models.elmo import ElmoConfig, reverse_within, words_from_bytes
from workbench.engine.models.loading import build_model
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

PAD = 256
SMALL = {
    "model_type": "workbench-elmo",
    "char_embedding_dim": 8,
    "filters": [[1, 8], [2, 8], [3, 16]],
    "hidden_size": 16,
    "max_characters_per_word": 6,
    "num_hidden_layers": 2,
}


def _folder(tmp_path, **config):
    folder = tmp_path / "elmo"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**SMALL, **config}), encoding="utf-8")
    return folder


def _batch(tokenizer: TextTokenizer, texts: list[str]):
    rows = tokenizer.encode(texts)
    T = max(map(len, rows))
    ids = torch.tensor([r + [PAD] * (T - len(r)) for r in rows], dtype=torch.long)
    return ids, (ids != PAD).long()


def test_words_from_bytes_by_hand():
    text = b"ab  cdefghij\tk"
    ids = torch.tensor([[*text, PAD, PAD], [32, 32, 32, PAD, PAD, PAD, *b"x" * 10]])
    mask = (ids != PAD).long()
    mask[1, 6:] = 0  # the second row is three spaces, then padding
    chars, words = words_from_bytes(ids, mask, PAD, max_chars=4, bow=300, eow=301)
    assert words.tolist() == [[True, True, True], [False, False, False]]
    c = lambda s: [b + 1 for b in s.encode()]  # noqa: E731
    assert chars.shape == (2, 3, 6)  # the longest kept word (4 bytes) + BOW and EOW
    assert chars[0].tolist() == [
        [300, *c("ab"), 301, 0, 0],
        [300, *c("cdef"), 301],  # cut at max_chars
        [300, *c("k"), 301, 0, 0, 0],
    ]
    assert chars[1].eq(0).all()
    wide, _ = words_from_bytes(ids, mask, PAD, 4, 300, 301, min_width=9)
    assert wide.shape[-1] == 9 and torch.equal(wide[..., :6], chars)


def test_reverse_within_leaves_padding_in_place():
    x = torch.arange(8.0).view(2, 4, 1)
    got = reverse_within(x, torch.tensor([3, 0]))
    assert got[..., 0].tolist() == [[2.0, 1.0, 0.0, 3.0], [4.0, 5.0, 6.0, 7.0]]


def test_a_config_only_folder_is_a_byte_model_to_train_from_scratch(tmp_path):
    from workbench.engine.models.checks import check_model
    from workbench.engine.models.registry import describe_model, is_from_scratch, resolve_model

    folder = _folder(tmp_path)
    assert is_from_scratch(folder) and resolve_model(str(folder)) == folder
    check_model(folder)
    described = describe_model(folder)
    assert described["family"] == "elmo" and "text-classification" in described["tasks"]
    assert (described["layers"], described["hidden_size"]) == (2, 16)
    tokenizer = TextTokenizer.from_folder(folder, 512)
    text = "Café crème, 日本 — ok"
    assert tokenizer.encode([text])[0] == list(text.encode("utf-8"))
    assert tokenizer.decode(tokenizer.encode([text])[0]) == text
    assert (tokenizer.pad_id, tokenizer.vocab_size, tokenizer.template.single_extra) == (
        PAD,
        258,
        0,
    )
    ids, types = tokenizer.encode_pairs(["ab"], ["cd"])
    assert ids == [[97, 98, 32, 99, 100]] and types == [[0, 0, 0, 1, 1]]  # a space between
    loaded = build_model(folder, "sequence-classification", 3)
    assert loaded.fresh and all(not k.startswith("lm") for k in loaded.fresh)
    lstm = loaded.model.elmo.forward_lstms[0]
    P = 16
    assert lstm.bias_hh_l0.abs().max() == 0 and lstm.bias_ih_l0[P : 2 * P].eq(1).all()
    assert lstm.bias_ih_l0[:P].abs().max() == 0 and lstm.bias_ih_l0[2 * P :].abs().max() == 0
    saved = tmp_path / "saved"
    saved.mkdir()
    tokenizer.save(saved)  # what a run writes: the byte tokenizer reads back the same
    (saved / "config.json").write_text(json.dumps(SMALL), encoding="utf-8")
    assert TextTokenizer.from_folder(saved, 512).encode([text]) == tokenizer.encode([text])


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_padding_changes_nothing_and_word_order_matters(tmp_path, pooling):
    folder = _folder(tmp_path, pooling=pooling)
    tokenizer = TextTokenizer.from_folder(folder, 512)
    torch.manual_seed(0)
    model = build_model(folder, "sequence-classification", 2).model.eval()
    texts = ["a wonderful film with a warm heart", "dull", "", "   "]
    ids, mask = _batch(tokenizer, texts)
    with torch.no_grad():
        together = model(ids, mask)
        alone = [model(*_batch(tokenizer, [t])) for t in texts]
        top = model.elmo(*_batch(tokenizer, texts[:1]))[0][-1].mean(1)  # (1, 2P) biLSTM top
        shuffled = model.elmo(*_batch(tokenizer, ["heart warm a with film wonderful a"]))
        shuffled_top = shuffled[0][-1].mean(1)
    assert torch.isfinite(together).all()
    assert (together - torch.cat(alone)).abs().max() < 1e-5
    assert torch.equal(together[2], together[3])  # no words: the same (bias-only) logits
    # The biLSTM reads the words in order: not a bag of words.
    assert (shuffled_top - top).abs().max() > 1e-2 * top.abs().max()


def test_config_errors_name_the_key():
    with pytest.raises(UserError, match="pooling 'cls'"):
        ElmoConfig.from_dict({"pooling": "cls"})
    with pytest.raises(UserError, match="filter \\[30, 8\\]"):
        ElmoConfig.from_dict({"filters": [[30, 8]], "max_characters_per_word": 20})
    with pytest.raises(UserError, match="list of \\[width, count\\] pairs"):
        ElmoConfig.from_dict({"filters": [3, 4]})
    with pytest.raises(UserError, match="hidden_size"):
        ElmoConfig.from_dict({"hidden_size": 0})


def test_a_fresh_model_starts_with_signal_not_near_zero(tmp_path):
    """The transformer init (N(0, 0.05) on every weight) left the word vectors at ~1e-2 and
    the biLSTM states at ~1e-3, so the logits hardly differed between texts and training
    stayed at chance; ELMo's own init keeps them near unit scale."""
    folder = _folder(tmp_path)
    tokenizer = TextTokenizer.from_folder(folder, 512)
    torch.manual_seed(0)
    model = build_model(folder, "sequence-classification", 2).model.eval()
    highway_bias = [h.gate.bias for h in model.elmo.char_cnn.highways]
    assert highway_bias and all(b.eq(1).all() for b in highway_bias)  # carry at the start
    assert model.scalar_mix.weights.abs().max() == 0 and model.scalar_mix.gamma.item() == 1
    ids, mask = _batch(tokenizer, ["a wonderful film", "dull and slow", "bad", "good fun"])
    with torch.no_grad():
        layers, words = model.elmo(ids, mask)
    for layer in layers:  # (B, W, 2P) token layer, then each biLSTM layer
        assert layer[words].abs().mean() > 0.02


FILLERS = "the a movie film was is really quite very story acting plot it this and".split()
POSITIVE, NEGATIVE = ("good", "great", "fine"), ("bad", "awful", "poor")


def _synthetic_csv(path, n: int, seed: int) -> None:
    """Sentences of filler words with one sentiment word: easy, but only if the model
    reads the words."""
    import csv
    import random

    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(n):
            positive = i % 2 == 0
            words = [rng.choice(FILLERS) for _ in range(rng.randint(3, 9))]
            words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if positive else NEGATIVE))
            writer.writerow([" ".join(words), "pos" if positive else "neg"])


def test_a_small_elmo_learns_an_easy_task_through_train(tmp_path):
    """End to end through workbench.engine.train from a config-only folder: well above
    chance on held-out rows (it stayed at 0.5 with the transformer init)."""
    from workbench.config import RunConfig
    from workbench.engine import train

    torch.set_num_threads(1)
    _synthetic_csv(tmp_path / "train.csv", 96, seed=1)
    _synthetic_csv(tmp_path / "dev.csv", 64, seed=2)
    folder = tmp_path / "elmo"  # the default sizes (words cut at 10 bytes, for speed)
    folder.mkdir()
    config = {"model_type": "workbench-elmo", "max_characters_per_word": 10}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    result = train(
        RunConfig(
            data=str(tmp_path / "train.csv"),
            eval_data=str(tmp_path / "dev.csv"),
            model=str(folder),
            output=str(tmp_path / "run"),
            task="text-classification",
            epochs=10,
            batch_size=16,
            learning_rate=3e-3,
        )
    )
    assert result.status == "completed"
    assert result.metrics["num_examples"] == 64
    assert result.metrics["accuracy"] >= 0.9, result.metrics["accuracy"]
