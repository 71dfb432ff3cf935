"""The masked-LM task: packing, the 15/80/10/10 masking, whole words, NSP pairs, the
deterministic evaluation masks, predictions, and the export in `transformers`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.config import RunConfig
from workbench.engine import export_model, load_predictor, train
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Rows
from workbench.engine.tasks.masked_lm import (
    LMFeatures,
    encode_blocks,
    encode_pairs,
    make_masking,
)
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.batching import collate_features
from workbench.engine.training.run import prepare
from workbench.errors import UserError

WIKITEXT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wikitext2"
TASK = get_task("masked-lm")
DOCUMENTS = [
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "Photosynthesis converts sunlight into chemical energy in chloroplasts.",
    "Unbelievably, the extraordinarily complicated instructions were misunderstood.",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "A short one.",
]


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.from_folder(default_model_path(), 32)


def _wikitext_lines(count: int, start: int = 0) -> list[str]:
    if not (WIKITEXT / "valid.txt").exists():
        pytest.skip("wikitext2 is not in ../shared/data")
    lines = [
        line.strip() for line in (WIKITEXT / "valid.txt").read_text(encoding="utf-8").splitlines()
    ]
    return [line for line in lines if line][start : start + count]


def _synthetic_features(tokenizer: TextTokenizer, total: int, seed: int = 0) -> LMFeatures:
    """Rows of random content ids of varied lengths (so batches have padding), wrapped in the
    template, with their special-token masks."""
    rng = np.random.default_rng(seed)
    specials = set(tokenizer.special_ids) | {tokenizer.mask_id}
    vocab = np.array([i for i in range(tokenizer.vocab_size) if i not in specials])
    ids, special = [], []
    count = 0
    while count < total:
        content = rng.choice(vocab, size=int(rng.integers(20, 126))).tolist()
        row = tokenizer.template.single(content)
        ids.append(row)
        special.append([1 if t in specials else 0 for t in row])
        count += len(content)
    features = LMFeatures({"input_ids": ids, "special_tokens_mask": special})
    features.masking = make_masking(tokenizer, 0.15, whole_word=False)
    return features


def _collate_all(features, training: bool, batch: int = 32):
    out = []
    for start in range(0, len(features), batch):
        indices = list(range(start, min(start + batch, len(features))))
        out.append((indices, TASK.collate(features, indices, 0, 1, training)))
    return out


def test_masking_selects_15_percent_and_replaces_80_10_10(tokenizer):
    torch.manual_seed(0)
    features = _synthetic_features(tokenizer, 200_000)
    specials = set(tokenizer.special_ids) | {tokenizer.mask_id}
    selectable = selected = masked = random = unchanged = 0
    for indices, batch in _collate_all(features, training=True):
        plain = collate_features(features, indices, 0, 1)  # the batch before masking
        original, special = plain["input_ids"], plain["special_tokens_mask"]  # padding: special
        labels, ids = batch["labels"], batch["input_ids"]
        chosen = labels != -100
        # Special tokens and padding are never selected, and stay as they were.
        assert not chosen[special == 1].any()
        assert torch.equal(ids[special == 1], original[special == 1])
        assert torch.equal(labels[chosen], original[chosen])
        selectable += int((special == 0).sum())
        selected += int(chosen.sum())
        masked += int((chosen & (ids == tokenizer.mask_id)).sum())
        replaced = chosen & (ids != tokenizer.mask_id) & (ids != original)
        random += int(replaced.sum())
        unchanged += int((chosen & (ids == original)).sum())
        assert not any(int(t) in specials for t in ids[replaced])  # random tokens are not special
    assert selectable >= 200_000
    assert abs(selected / selectable - 0.15) < 0.005
    assert abs(masked / selected - 0.80) < 0.01
    assert abs(random / selected - 0.10) < 0.01
    assert abs(unchanged / selected - 0.10) < 0.01


def test_evaluation_masks_are_the_same_every_time_and_in_any_batch(tokenizer):
    features = _synthetic_features(tokenizer, 3000)
    n = len(features)

    def per_feature(order: list[int], batch: int) -> dict[int, tuple[list[int], list[int]]]:
        out = {}
        for start in range(0, n, batch):
            indices = order[start : start + batch]
            collated = TASK.collate(features, indices, 0, 1, training=False)
            for row, i in enumerate(indices):
                length = len(features.sequences["input_ids"][i])
                out[i] = (
                    collated["input_ids"][row, :length].tolist(),
                    collated["labels"][row, :length].tolist(),
                )
        return out

    torch.manual_seed(1)
    first = per_feature(list(range(n)), 8)
    torch.manual_seed(2)  # the global RNG does not matter in evaluation
    second = per_feature(list(reversed(range(n))), 5)
    assert first == second
    trained_a = TASK.collate(features, list(range(8)), 0, 1, training=True)["labels"]
    trained_b = TASK.collate(features, list(range(8)), 0, 1, training=True)["labels"]
    assert not torch.equal(trained_a, trained_b)  # training draws new masks each time


def test_whole_word_masking_keeps_words_whole(tokenizer):
    texts = _wikitext_lines(60)
    features = encode_blocks(texts, tokenizer, whole_word=True)
    features.masking = make_masking(tokenizer, 0.15, whole_word=True)
    torch.manual_seed(0)
    split_words = selected = content = 0
    for _ in range(20):
        for indices, batch in _collate_all(features, training=True):
            for row, i in enumerate(indices):
                words = features.sequences["word_ids"][i]
                chosen = (batch["labels"][row, : len(words)] != -100).tolist()
                by_word: dict[int, set[bool]] = {}
                for word, pick in zip(words, chosen, strict=True):
                    if word >= 0:
                        by_word.setdefault(word, set()).add(pick)
                        content += 1
                        selected += pick
                    else:
                        assert not pick
                split_words += sum(len(picks) > 1 for picks in by_word.values())
    assert split_words == 0
    assert abs(selected / content - 0.15) < 0.01
    # The words do have several pieces (or the test would prove nothing).
    pieces = [
        features.sequences["word_ids"][0].count(w) for w in set(features.sequences["word_ids"][0])
    ]
    assert max(pieces) > 1


def test_blocks_pack_documents_without_losing_a_token(tokenizer):
    features = encode_blocks(DOCUMENTS * 3, tokenizer, whole_word=False)
    template = tokenizer.template
    sep = template.suffix[-1]
    contents = []
    for ids in features.sequences["input_ids"]:
        assert len(ids) <= tokenizer.max_length
        assert tuple(ids[: len(template.prefix)]) == template.prefix
        assert tuple(ids[-len(template.suffix) :]) == template.suffix
        contents.extend(ids[len(template.prefix) : -len(template.suffix)])
    assert all(len(ids) == tokenizer.max_length for ids in features.sequences["input_ids"][:-1])
    expected = []
    for k, doc in enumerate(tokenizer.encode_content(DOCUMENTS * 3)):
        expected += ([sep] if k else []) + doc
    assert contents == expected
    assert features.example_index[0] == 0 and list(features.example_index) == sorted(
        features.example_index
    )


def test_next_sentence_pairs_are_half_true_continuations(tokenizer):
    texts = _wikitext_lines(400)
    features = encode_pairs(texts, tokenizer, whole_word=False, seed=3)
    docs = [d for d in tokenizer.encode_content(texts) if d]
    template = tokenizer.template
    labels = features.values["next_sentence_label"]
    assert len(labels) > 500
    assert abs(labels.mean() - 0.5) < 0.05

    def contains(haystack: list[int], needle: list[int]) -> bool:
        return any(
            haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1)
        )

    for ids, types, label, (a, b) in zip(
        features.sequences["input_ids"],
        features.sequences["token_type_ids"],
        labels,
        features.extra["pair_documents"],
        strict=True,
    ):
        assert len(ids) <= tokenizer.max_length
        body = ids[len(template.pair_prefix) : len(ids) - len(template.pair_suffix)]
        middle = body.index(template.pair_middle[0])
        first, second = body[:middle], body[middle + len(template.pair_middle) :]
        assert first and second
        assert types == [0] * (
            len(template.pair_prefix) + len(first) + len(template.pair_middle)
        ) + [template.second_type] * (len(second) + len(template.pair_suffix))
        if label == 0:
            assert a == b and contains(docs[a], first + second)
        else:
            assert a != b and contains(docs[a], first) and contains(docs[b], second)


@pytest.mark.parametrize("text", ["Paris is the capital of France.", ""])
def test_predicting_without_a_mask_says_where_to_put_one(text):
    with pytest.raises(UserError, match=r"put \[MASK\] where a word is missing|no text"):
        TASK.rows_from_inputs({"text": [text] if text else []})


def test_typed_masks_become_the_familys_mask_token(tokenizer):
    rows = TASK.rows_from_inputs(
        {"text": ["Paris is the [MASK] of France.", "a <mask> and a [mask]"]}
    )
    features = TASK.encode(rows, tokenizer, RunConfig(task="masked-lm"), {})
    first, second = features.sequences["input_ids"]
    assert first.count(tokenizer.mask_id) == 1 and second.count(tokenizer.mask_id) == 2
    assert features.extra["mask_spans"][0] == [(13, 19)]
    where = features.sequences["mask_here"][1]
    assert [i for i, w in enumerate(where) if w] == [
        i for i, t in enumerate(second) if t == tokenizer.mask_id
    ]


def _tiny_bpe_roberta(folder: Path) -> Path:
    """A small random RoBERTa checkpoint with a byte-level BPE tokenizer (<mask>)."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(DOCUMENTS * 5, trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    )
    tok.decoder = decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>",
    )  # fmt: skip
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.RobertaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=80, pad_token_id=tok.token_to_id("<pad>"),
        type_vocab_size=1,
    )  # fmt: skip
    transformers.RobertaForMaskedLM(config).save_pretrained(folder)
    return folder


def _write_text(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_next_sentence_prediction_is_refused_for_roberta_before_any_work(tmp_path):
    model = _tiny_bpe_roberta(tmp_path / "roberta")
    data = _write_text(tmp_path / "docs.txt", DOCUMENTS)
    config = RunConfig(
        task="masked-lm", data=str(data), model=str(model), next_sentence_prediction=True
    )
    with pytest.raises(UserError, match="--next-sentence-prediction"):
        prepare(config)
    prepare(RunConfig(task="masked-lm", data=str(data), model=str(model)))  # fine without NSP


def test_a_table_column_works_and_empty_text_is_refused(tmp_path):
    table = tmp_path / "notes.csv"
    table.write_text(
        "id,body\n1,first note about lobsters\n2,\n3,second note about claws\n", encoding="utf-8"
    )
    prepared = prepare(
        RunConfig(task="masked-lm", data=str(table), text_column="body", eval_split=0.5)
    )
    assert len(prepared.data.train) + len(prepared.data.eval) == 2  # the empty cell is dropped
    empty = tmp_path / "empty.csv"
    empty.write_text("id,body\n1,\n2,  \n", encoding="utf-8")
    with pytest.raises(UserError, match="no text"):
        prepare(RunConfig(task="masked-lm", data=str(empty), text_column="body"))


def test_roberta_trains_and_fills_a_typed_bert_mask(tmp_path):
    model = _tiny_bpe_roberta(tmp_path / "roberta")
    data = _write_text(tmp_path / "docs.txt", DOCUMENTS * 4)
    config = RunConfig(
        task="masked-lm", data=str(data), model=str(model), output=str(tmp_path / "run"),
        epochs=1, batch_size=4, max_length=32, learning_rate=1e-3, precision="fp32",
    )  # fmt: skip
    result = train(config)
    assert result.status == "completed", result.error
    [prediction] = load_predictor(result.run_dir).predict(["Paris is the [MASK] of France."])
    [mask] = prediction["masks"]
    assert mask["position"] == 13 and len(mask["fills"]) == 5
    assert all(
        f["text"].startswith("Paris is the") and "[MASK]" not in f["text"] for f in mask["fills"]
    )


def _reference_loss(model, features, batch_size: int = 16) -> float:
    """Mean masked-token cross-entropy of a transformers model on the task's evaluation masks."""
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            indices = list(range(start, min(start + batch_size, len(features))))
            batch = TASK.collate(features, indices, 0, 1, training=False)
            extra = {"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {}
            out = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **extra
            )
            logits = getattr(out, "logits", None)
            logits = out.prediction_logits if logits is None else logits
            chosen = batch["labels"] != -100
            total += torch.nn.functional.cross_entropy(
                logits[chosen], batch["labels"][chosen], reduction="sum"
            ).item()
            count += int(chosen.sum())
    return total / count


@pytest.mark.slow
@pytest.mark.parametrize("nsp", [False, True], ids=["mlm", "mlm+nsp"])
def test_training_lowers_perplexity_and_the_export_loads_in_transformers(tmp_path, nsp):
    transformers = pytest.importorskip("transformers")
    lines = _wikitext_lines(24)
    data = _write_text(tmp_path / "train.txt", lines[:18])
    held = _write_text(tmp_path / "held.txt", lines[18:24])
    config = RunConfig(
        task="masked-lm", data=str(data), eval_data=str(held), output=str(tmp_path / "run"), epochs=1,
        batch_size=16, max_length=64, learning_rate=3e-4, precision="fp32", next_sentence_prediction=nsp,
        eval_every_steps=1000,
    )  # fmt: skip
    events = []
    result = train(config, on_event=events.append)
    assert result.status == "completed", result.error
    metrics = result.metrics
    assert metrics["perplexity"] < metrics["perplexity_before"]
    assert math.isclose(metrics["perplexity"], math.exp(metrics["loss"]))
    assert math.isclose(metrics["perplexity_before"], math.exp(metrics["loss_before"]))
    assert [e.step for e in events if e.kind == "eval"][0] == 0  # the evaluation before training
    assert ("nsp_accuracy" in metrics) == nsp

    exported = export_model(result.run_dir, tmp_path / "export", "hf")
    saved = json.loads((exported / "config.json").read_text(encoding="utf-8"))
    assert "id2label" not in saved or saved["id2label"] in ({}, {"0": "LABEL_0", "1": "LABEL_1"})
    auto = transformers.AutoModelForPreTraining if nsp else transformers.AutoModelForMaskedLM
    theirs, info = auto.from_pretrained(exported, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert type(theirs).__name__ == ("BertForPreTraining" if nsp else "BertForMaskedLM")
    theirs.eval()

    predictor = load_predictor(exported)
    texts = ["Paris is the [MASK] of France.", "The lobster has a hard [MASK] and two claws."]
    tokenizer = transformers.AutoTokenizer.from_pretrained(exported)
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    ours_model = predictor.trained.model
    with torch.no_grad():
        ours = ours_model(
            encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"]
        )
        reference = theirs(**encoded)
    ours_mlm = ours[0] if nsp else ours
    reference_mlm = reference.prediction_logits if nsp else reference.logits
    real = encoded["attention_mask"].bool()
    assert (ours_mlm - reference_mlm).abs()[real].max().item() <= 1e-5
    if nsp:
        assert (ours[1] - reference.seq_relationship_logits).abs().max().item() <= 1e-5

    # The metric is the plain masked-token cross-entropy: transformers' model on the same
    # evaluation masks gives the same loss.
    trained = predictor.trained
    held_rows = Rows({"text": lines[18:24]})
    features = TASK.encode(held_rows, trained.tokenizer, RunConfig(task="masked-lm"), trained.meta)
    assert math.isclose(_reference_loss(theirs, features), metrics["loss"], rel_tol=1e-4)

    [prediction] = predictor.predict(["Paris is the [MASK] of France."])
    assert len(prediction["masks"][0]["fills"]) == 5


def test_runs_repeat_with_the_same_seed(tmp_path):
    model = _tiny_bpe_roberta(tmp_path / "roberta")
    data = _write_text(tmp_path / "docs.txt", DOCUMENTS * 4)

    def run(name: str, seed: int) -> dict:
        config = RunConfig(
            task="masked-lm", data=str(data), model=str(model), output=str(tmp_path / name),
            epochs=2, batch_size=4, max_length=32, learning_rate=1e-3, precision="fp32", seed=seed,
        )  # fmt: skip
        result = train(config)
        assert result.status == "completed", result.error
        return result.metrics

    first, second, other = run("a", 1), run("b", 1), run("c", 2)
    assert first["loss"] == second["loss"] and first["loss_before"] == second["loss_before"]
    assert other["loss"] != first["loss"]
