"""Token classification (NER): reading tags, sub-word alignment, windows, merging, loss,
metrics against seqeval, entities with character offsets, refusal and export."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.config import RunConfig
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import get_task
from workbench.engine.tasks.token_classification import (
    IGNORE,
    merge_windows,
    split_words,
    windows,
)
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CONLL = SHARED / "conll2003"

TASK = get_task("token-classification")

SENTENCES = [
    (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
    (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    (["BRUSSELS", "1996-08-22"], ["B-LOC", "O"]),
    (["The", "European", "Commission", "said"], ["O", "B-ORG", "I-ORG", "O"]),
]


def config(**values) -> RunConfig:
    return RunConfig(task="token-classification", data="x", **values).with_task_defaults()


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.from_folder(default_model_path(), 128)


def frame(sentences=SENTENCES, tokens="tokens", tags="tags") -> pd.DataFrame:
    return pd.DataFrame(
        {tokens: [list(w) for w, _ in sentences], tags: [list(t) for _, t in sentences]}
    )


def read(df: pd.DataFrame, meta=None, name="data.jsonl", **values):
    cfg = config(**values)
    columns = TASK.resolve_columns(df, cfg, name)
    return TASK.examples(df, columns, meta, name, cfg)


# ---- reading --------------------------------------------------------------------------------
def test_labels_are_sorted_with_o_first_and_the_scheme_is_detected():
    rows, meta = read(frame())
    assert meta["labels"] == ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-ORG", "I-PER"]
    assert meta["scheme"] == "IOB2"
    assert rows["tokens"][1] == ["Peter", "Blackburn"]
    assert rows["tags"][1] == [meta["labels"].index("B-PER"), meta["labels"].index("I-PER")]


def test_iob1_and_bioes_tags_are_recognised():
    iob1 = [(["Peter", "Blackburn", "in", "Paris"], ["I-PER", "I-PER", "O", "I-LOC"])] * 2
    assert read(frame(iob1))[1]["scheme"] == "IOB1"
    bioes = [(["Peter", "Blackburn", "in", "Paris"], ["B-PER", "E-PER", "O", "S-LOC"])] * 2
    assert read(frame(bioes))[1]["scheme"] == "BIOES"


def test_columns_are_guessed_by_name_and_by_content():
    df = frame(tokens="words", tags="ner_tags")
    df["id"] = range(len(df))
    assert TASK.guess_columns(df) == {"text_column": "words", "label_column": "ner_tags"}
    unnamed = frame(tokens="a", tags="b")
    assert TASK.guess_columns(unnamed) == {"text_column": "a", "label_column": "b"}


def test_integer_tags_without_names_are_used_as_strings(tmp_path):
    path = tmp_path / "ints.jsonl"
    lines = [
        {"tokens": ["EU", "rejects", "German", "call"], "ner_tags": [3, 0, 7, 0]},
        {"tokens": ["Peter", "Blackburn"], "ner_tags": [1, 2]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    from workbench.engine.data import load_table

    df = load_table(path)
    rows, meta = read(df, name=path.name)
    assert meta["labels"] == ["0", "1", "2", "3", "7"]
    assert meta["outside"] == "0" and meta["scheme"] == "IO"
    assert rows["tags"][1] == [1, 2]
    assert any("no B-/I- prefixes" in n for n in df.attrs["notices"])


def test_tags_that_are_not_lists_are_refused_with_the_flag():
    df = pd.DataFrame({"tokens": [["EU", "rejects"], ["Peter"]], "tags": ["B-ORG O", "B-PER"]})
    with pytest.raises(UserError, match=r"tags column 'tags' .* not lists of tags.*--label-column"):
        read(df)


def test_a_word_count_that_differs_from_the_tag_count_is_refused():
    df = pd.DataFrame({"tokens": [["EU", "rejects"], ["Peter"]], "tags": [["B-ORG"], ["B-PER"]]})
    with pytest.raises(UserError, match="row 1 .* 2 words but 1 tags"):
        read(df)


def test_lists_written_into_csv_cells_are_read():
    df = pd.DataFrame(
        {"tokens": ['["EU", "rejects"]', "['Peter']"], "tags": ['["B-ORG", "O"]', "['B-PER']"]}
    )
    rows, meta = read(df)
    assert rows["tokens"] == [["EU", "rejects"], ["Peter"]]
    assert meta["labels"] == ["O", "B-ORG", "B-PER"]


def test_evaluation_data_with_unseen_tags_names_them():
    _, meta = read(frame())
    unseen = frame([(["Apple", "Inc"], ["B-COMPANY", "I-COMPANY"])])
    with pytest.raises(UserError, match="not trained on: 'B-COMPANY', 'I-COMPANY'"):
        read(unseen, meta=meta, name="valid.jsonl")


def test_a_single_tag_is_refused():
    with pytest.raises(UserError, match="only one tag"):
        read(frame([(["a", "b"], ["O", "O"])]))


def test_the_validation_split_is_random_and_seeded():
    rows, _ = read(frame(SENTENCES * 5))
    first = TASK.split(rows, 0.25, 7)
    again = TASK.split(rows, 0.25, 7)
    assert len(first[1]) == 5 and len(first[0]) == 15
    assert first[1]["tokens"] == again[1]["tokens"]


# ---- encoding, windows, merging ---------------------------------------------------------------
def test_the_first_sub_token_of_a_word_carries_its_label(tokenizer):
    rows, meta = read(
        frame([(["BRUSSELS", "1996-08-22", "Blackburn"], ["B-LOC", "O", "B-PER"])] * 2)
    )
    features = TASK.encode(rows.subset([0]), tokenizer, config(), meta)
    assert len(features) == 1
    ids, labels = features.sequences["input_ids"][0], features.sequences["labels"][0]
    pieces = [tokenizer.id_to_token(i) for i in ids]
    assert pieces == ["[CLS]", "brussels", "1996", "-", "08", "-", "22", "blackburn", "[SEP]"]
    loc, o, per = (meta["labels"].index(t) for t in ("B-LOC", "O", "B-PER"))
    assert labels == [IGNORE, loc, o, IGNORE, IGNORE, IGNORE, IGNORE, per, IGNORE]
    assert features.extra["word_ids"][0] == [-1, 0, 1, 1, 1, 1, 1, 2, -1]
    assert features.extra["heads"][0] == [1, 2, 7]


def test_windows_cover_every_token_advance_and_start_at_words():
    # 30 tokens in words of 1-3 sub-tokens.
    word_ids = [
        w
        for w, size in enumerate([1, 2, 3, 1, 1, 2, 3, 1, 2, 1, 3, 1, 2, 2, 1, 3, 1])
        for _ in range(size)
    ]
    for budget in (5, 8, 13):
        for stride in (0, 1, 3, 4, 100):
            spans = windows(word_ids, budget, stride)
            covered = set()
            for (start, end), following in zip(spans, [*spans[1:], None], strict=True):
                assert 0 < end - start <= budget
                covered.update(range(start, end))
                if following is not None:
                    assert following[0] > start  # always advances
                    assert following[0] <= end  # no gap
                    assert word_ids[following[0]] != word_ids[following[0] - 1]  # at a word start
            assert covered == set(range(len(word_ids)))
            assert spans[-1][1] == len(word_ids)
    # Overlap follows the stride (moved back to the word start).
    assert windows(list(range(10)), 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]


def test_a_word_longer_than_the_window_is_cut_only_where_unavoidable():
    word_ids = [0] + [1] * 9 + [2]
    spans = windows(word_ids, 4, 1)
    assert [s for s, _ in spans][0] == 0
    covered = {i for s, e in spans for i in range(s, e)}
    assert covered == set(range(11))


def test_long_sentences_become_windows_and_merge_back_to_every_word(tokenizer):
    words = [f"w{i}" if i % 3 else "unbelievably" for i in range(60)]
    tags = ["B-PER" if i % 5 == 0 else "O" for i in range(60)]
    rows, meta = read(frame([(words, tags), (["short"], ["O"])]))
    small = TextTokenizer.from_folder(default_model_path(), 16)
    features = TASK.encode(rows, small, config(max_length=16, stride=4), meta)
    assert len(features) > 5
    assert all(len(ids) <= 16 for ids in features.sequences["input_ids"])
    assert list(features.example_index).count(1) == 1
    # Every word's first sub-token is labelled in at least one window, never a continuation.
    labelled = set()
    for f in range(len(features)):
        if features.example_index[f] != 0:
            continue
        for position, label in enumerate(features.sequences["labels"][f]):
            word = features.extra["word_ids"][f][position]
            if position in features.extra["heads"][f]:
                assert label == rows["tags"][0][word]
                labelled.add(word)
            else:
                assert label == IGNORE
    assert labelled == set(range(60))

    # Outputs that say which window and position they came from: the merge must pick, for
    # each word, the window where its first sub-token is most central (first on ties).
    num_labels = len(meta["labels"])
    outputs = []
    for f, ids in enumerate(features.sequences["input_ids"]):
        out = np.zeros((len(ids), num_labels), dtype=np.float32)
        out[:, 0] = f
        out[:, 1] = np.arange(len(ids))
        outputs.append(out)
    merged, found = merge_windows(outputs, features, [60, 1], num_labels)
    assert found[0].all() and found[1].all()
    for word in range(60):
        candidates = []
        for f in range(len(features)):
            if features.example_index[f] != 0:
                continue
            for p in features.extra["heads"][f]:
                if features.extra["word_ids"][f][p] == word:
                    lo, hi = features.extra["content"][f]
                    candidates.append((min(p - lo, hi - p), -f, p))
        best = max(candidates)
        assert merged[0][word][0] == -best[1] and merged[0][word][1] == best[2]


def test_the_collator_pads_labels_with_ignore(tokenizer):
    rows, meta = read(frame())
    features = TASK.encode(rows, tokenizer, config(), meta)
    batch = TASK.collate(features, [0, 1], tokenizer.pad_id, 1, True)
    assert batch["input_ids"].shape == batch["labels"].shape == (2, 6)
    assert batch["labels"][1, 4:].tolist() == [IGNORE, IGNORE]
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 1, 0, 0]


def test_the_loss_ignores_unlabelled_tokens_and_an_all_ignored_batch_is_zero_with_grad():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3, requires_grad=True)
    labels = torch.tensor([[IGNORE, 0, 2, IGNORE, IGNORE], [IGNORE, 1, IGNORE, IGNORE, IGNORE]])
    loss = TASK.loss(logits, {"labels": labels}, {})
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 3), labels.reshape(-1), ignore_index=IGNORE
    )
    assert torch.allclose(loss, expected)
    weights = [0.5, 2.0, 1.0]
    weighted = TASK.loss(logits, {"labels": labels}, {"class_weights": weights})
    expected_w = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 3), labels.reshape(-1), weight=torch.tensor(weights), ignore_index=IGNORE
    )
    assert torch.allclose(weighted, expected_w)

    empty = TASK.loss(logits, {"labels": torch.full((2, 5), IGNORE)}, {})
    assert torch.isfinite(empty) and empty.item() == 0.0
    empty.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_class_weights_are_inverse_tag_frequencies():
    _, meta = read(frame(), class_weights=True)
    weights = dict(zip(meta["labels"], meta["class_weights"], strict=True))
    assert weights["O"] < weights["B-PER"]


# ---- metrics and predictions ----------------------------------------------------------------
def test_metrics_equal_seqeval_on_our_predictions(tokenizer):
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = np.random.default_rng(3)
    rows, meta = read(frame(SENTENCES * 6))
    features = TASK.encode(rows, tokenizer, config(), meta)
    num_labels = len(meta["labels"])
    outputs = []
    for f, ids in enumerate(features.sequences["input_ids"]):
        gold = np.asarray(features.sequences["labels"][f])
        out = rng.normal(size=(len(ids), num_labels)).astype(np.float32)
        right = (gold >= 0) & (rng.random(len(ids)) < 0.7)
        out[right, gold[right]] += 5.0  # mostly right, sometimes wrong
        outputs.append(out)
    metrics = TASK.metrics(outputs, features, rows, meta)
    true = [e[1] for e in metrics["examples"]]
    pred = [e[2] for e in metrics["examples"]]
    assert [e[3] for e in metrics["examples"]] == list(range(24))
    assert true == [[meta["labels"][i] for i in t] for t in rows["tags"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert metrics["entity_f1"] == pytest.approx(seqeval.f1_score(true, pred))
        assert metrics["entity_precision"] == pytest.approx(seqeval.precision_score(true, pred))
        assert metrics["entity_recall"] == pytest.approx(seqeval.recall_score(true, pred))
    assert metrics["token_accuracy"] == pytest.approx(seqeval.accuracy_score(true, pred))
    assert 0 < metrics["entity_f1"] < 1
    assert metrics["num_examples"] == 24 and metrics["loss"] > 0
    assert set(metrics["report"]) == {"LOC", "MISC", "ORG", "PER"}


def test_the_examples_for_the_gui_are_bounded(tokenizer):
    rows, meta = read(frame(SENTENCES * 100))
    features = TASK.encode(rows, tokenizer, config(), meta)
    outputs = [
        np.zeros((len(ids), len(meta["labels"])), np.float32)
        for ids in features.sequences["input_ids"]
    ]
    metrics = TASK.metrics(outputs, features, rows, meta)
    assert len(metrics["examples"]) == 300
    # Sentences with a mistake come first: all the 300 (of 400) have one, none is all O.
    assert all(gold != pred for _, gold, pred, _ in metrics["examples"])
    assert [e[3] for e in metrics["examples"]] == sorted(e[3] for e in metrics["examples"])
    assert metrics["entity_f1"] == 0.0 and metrics["token_accuracy"] == pytest.approx(5 / 12)


def test_words_are_split_like_conll_with_offsets():
    text = "Paris, France. O'Neill met 1,000.5 people on 1996-08-22!"
    words, spans = split_words(text)
    assert words == [
        "Paris",
        ",",
        "France",
        ".",
        "O'Neill",
        "met",
        "1,000.5",
        "people",
        "on",
        "1996-08-22",
        "!",
    ]
    assert all(text[s:e] == w for w, (s, e) in zip(words, spans, strict=True))
    assert split_words("   ") == ([], [])


def test_predicted_entities_have_character_offsets_and_scores(tokenizer):
    _, meta = read(frame([*SENTENCES, (["New", "York"], ["B-LOC", "I-LOC"])]))
    labels = meta["labels"]
    texts = ["Angela  Merkel visited New York, the U.S.", "nothing here", ""]
    rows = TASK.rows_from_inputs({"text": texts})
    features = TASK.encode(rows, tokenizer, config(), meta)
    wanted = {
        0: ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "B-LOC", "I-LOC", "I-LOC", "I-LOC"]
    }
    outputs = []
    for f, ids in enumerate(features.sequences["input_ids"]):
        out = np.zeros((len(ids), len(labels)), dtype=np.float32)
        tags = wanted.get(int(features.example_index[f]))
        for position in features.extra["heads"][f]:
            word = features.extra["word_ids"][f][position]
            out[position, labels.index(tags[word] if tags else "O")] = 4.0
        outputs.append(out)
    assert rows["tokens"][0] == [
        "Angela",
        "Merkel",
        "visited",
        "New",
        "York",
        ",",
        "the",
        "U",
        ".",
        "S",
        ".",
    ]
    predictions = TASK.predict(outputs, features, rows, meta)
    entities = predictions[0]["entities"]
    assert [(e["text"], e["type"], e["start"], e["end"]) for e in entities] == [
        ("Angela  Merkel", "PER", 0, 14),
        ("New York", "LOC", 23, 31),
        ("U.S.", "LOC", 37, 41),
    ]
    for entity in entities:
        assert texts[0][entity["start"] : entity["end"]] == entity["text"]
        p = np.exp(4.0) / (np.exp(4.0) + len(labels) - 1)
        assert entity["score"] == pytest.approx(p, abs=1e-5)
    assert predictions[1]["entities"] == [] and predictions[2] == {
        "entities": [],
        "tokens": [],
        "tags": [],
    }


def test_nothing_to_predict_is_a_user_error():
    with pytest.raises(UserError, match="--text"):
        TASK.rows_from_inputs({"text": []})


# ---- the procedure ----------------------------------------------------------------------------
def test_a_model_without_a_token_classification_head_is_refused_before_any_work(
    tmp_path, monkeypatch
):
    import dataclasses

    from workbench.engine.models.family import TOKEN_CLASSIFICATION
    from workbench.engine.training import run

    real = run.family_for

    def no_token_head(raw, folder=""):
        family = real(raw, folder)
        heads = {k: v for k, v in family.heads.items() if k != TOKEN_CLASSIFICATION}
        return dataclasses.replace(family, name="headless", heads=heads)

    monkeypatch.setattr(run, "family_for", no_token_head)
    data = tmp_path / "train.jsonl"
    data.write_text(
        "\n".join(json.dumps({"tokens": w, "tags": t}) for w, t in SENTENCES), encoding="utf-8"
    )
    output = tmp_path / "run"
    cfg = RunConfig(task="token-classification", data=str(data), output=str(output))
    with pytest.raises(UserError, match="headless models cannot do token classification"):
        run.prepare(cfg)
    with pytest.raises(UserError, match="cannot do token classification"):
        run.train(cfg)
    assert not output.exists()


def conll_slice(path: Path, target: Path, count: int) -> Path:
    blocks = [
        b
        for b in path.read_text(encoding="utf-8").split("\n\n")
        if b.strip() and "-DOCSTART-" not in b
    ]
    target.write_text("\n\n".join(blocks[:count]) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    from workbench.engine import train

    if not (CONLL / "train.txt").exists():
        pytest.skip("CoNLL-2003 is not in ../shared/data")
    folder = tmp_path_factory.mktemp("ner")
    data = conll_slice(CONLL / "train.txt", folder / "train.txt", 48)
    result = train(
        RunConfig(
            task="token-classification",
            data=str(data),
            output=str(folder / "run"),
            epochs=1,
            batch_size=16,
            max_length=24,
            stride=8,
            learning_rate=2e-4,
        )
    )
    assert result.status == "completed", result.error
    assert np.isfinite(result.metrics["loss"])
    return result.run_dir


@pytest.mark.slow
def test_the_export_loads_in_transformers_with_the_same_logits(tiny_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    from workbench.engine import export_hf, load_predictor

    folder = export_hf(tiny_run, tmp_path / "export")
    config_json = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config_json["architectures"] == ["BertForTokenClassification"]
    labels = config_json["workbench"]["meta"]["labels"]
    assert config_json["id2label"] == {str(i): t for i, t in enumerate(labels)}
    assert config_json["label2id"] == {t: i for i, t in enumerate(labels)}

    theirs_model = transformers.AutoModelForTokenClassification.from_pretrained(folder).eval()
    predictor = load_predictor(folder)
    texts = ["Peter Blackburn flew from Brussels to London on Monday.", "EU rejects German call"]
    rows = predictor.trained.task.rows_from_inputs({"text": texts})
    from workbench.engine.trained import inference_config

    features = TASK.encode(
        rows, predictor.tokenizer, inference_config(predictor.trained), predictor.trained.meta
    )
    for ids in features.sequences["input_ids"]:
        batch = torch.tensor([ids])
        with torch.no_grad():
            theirs = (
                theirs_model(input_ids=batch, attention_mask=torch.ones_like(batch))
                .logits[0]
                .numpy()
            )
            ours = predictor.trained.model(batch, torch.ones_like(batch)).numpy()[0]
        assert ours.shape == theirs.shape == (len(ids), len(labels))
        assert np.abs(ours - theirs).max() <= 1e-5
    predictions = predictor.predict(texts)
    for text, prediction in zip(texts, predictions, strict=True):
        for entity in prediction["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]
            assert entity["type"] in {"PER", "LOC", "ORG", "MISC"} and 0 < entity["score"] <= 1
