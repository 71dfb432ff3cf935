"""The data doctor: each finding on a small hand-built file, the JSON shape, and speed."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.config import RunConfig
from workbench.engine import diagnose, unknown_token_share
from workbench.engine.data.doctor import MAX_EXAMPLES, TEXT_LIMIT, format_report
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import TASK_NAMES
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

ENGLISH = [
    "a wonderful film with a warm heart",
    "terrible acting and a boring story",
    "friendly staff and excellent coffee",
    "the worst meal we had all year",
]
CHINESE = ["这家餐厅的菜很好吃，服务也不错", "服务太差了，再也不来", "房间还不错，交通也比较方便"]


def write_csv(path: Path, rows: list[tuple], header: tuple = ("text", "label")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def balanced(n: int = 10) -> list[tuple[str, str]]:
    return [(f"good thing number {i}", "pos") for i in range(n)] + [
        (f"bad thing number {i}", "neg") for i in range(n)
    ]


def run(data: Path, eval_data: Path | None = None, **settings) -> dict:
    sample = settings.pop("sample", 5000)
    config = RunConfig(data=str(data), eval_data=str(eval_data) if eval_data else None, **settings)
    return diagnose(config, sample=sample)


def finding(report: dict, check: str, file: str = "train") -> dict:
    found = [f for f in report["findings"] if f["check"] == check and f["file"] == file]
    assert len(found) == 1, [f["check"] for f in report["findings"]]
    return found[0]


def test_exact_duplicates_are_counted_with_their_rows(tmp_path):
    rows = balanced() + [("good thing number 3", "pos"), ("good thing number 3", "pos")]
    rows += [("bad thing number 1", "neg")]
    report = run(write_csv(tmp_path / "train.csv", rows))
    dup = finding(report, "duplicates")
    assert dup["counts"]["duplicate_rows"] == 3
    assert dup["counts"]["texts_repeated"] == 2
    assert dup["severity"] == "warning"  # 3 of 23 rows
    assert dup["examples"][0] == {"rows": [4, 21, 22], "text": "good thing number 3", "times": 3}
    assert dup["examples"][1]["rows"] == [12, 23]
    assert "validation split" in dup["message"]  # no --eval-data: copies may leak into it


def test_a_text_pair_is_a_duplicate_only_when_both_texts_repeat(tmp_path):
    if "pair-classification" not in TASK_NAMES:
        pytest.skip("pair classification is not registered")
    rows = [(f"premise {i}", f"hypothesis {i}", ["yes", "no"][i % 2]) for i in range(10)]
    rows += [("premise 1", "another hypothesis", "yes"), ("premise 2", "hypothesis 2", "no")]
    path = write_csv(tmp_path / "pairs.csv", rows, header=("sentence1", "sentence2", "label"))
    report = run(path, task="pair-classification")
    dup = finding(report, "duplicates")
    assert dup["counts"]["duplicate_rows"] == 1
    assert dup["examples"][0]["text"] == "premise 2 ‖ hypothesis 2"
    assert dup["examples"][0]["rows"] == [3, 12]
    conflict = finding(report, "conflicting_labels")
    assert conflict["counts"] == {"texts": 1, "rows": 2}


def test_conflicting_labels_name_both_labels(tmp_path):
    rows = balanced() + [("good thing number 2", "neg"), ("bad thing number 5", "neg")]
    report = run(write_csv(tmp_path / "train.csv", rows))
    conflict = finding(report, "conflicting_labels")
    assert conflict["severity"] == "warning"
    assert conflict["counts"] == {"texts": 1, "rows": 2}
    assert conflict["examples"] == [
        {"rows": [3, 21], "text": "good thing number 2", "labels": ["neg", "pos"]}
    ]
    assert "different labels" in conflict["message"]


def test_leakage_counts_evaluation_rows_that_are_in_the_training_data(tmp_path):
    train = write_csv(tmp_path / "train.csv", balanced(20))
    held = [(f"new text {i}", ["pos", "neg"][i % 2]) for i in range(19)]
    one = write_csv(tmp_path / "one.csv", held + [("good thing number 7", "pos")])
    report = run(train, one)
    leak = finding(report, "leakage", file="both")
    assert leak["counts"]["eval_rows_in_train"] == 1 and leak["counts"]["eval_rows"] == 20
    assert leak["severity"] == "warning"  # 5 %
    assert leak["examples"] == [
        {"text": "good thing number 7", "train_rows": [8], "eval_rows": [20]}
    ]
    many = write_csv(tmp_path / "many.csv", held[:10] + balanced(20)[:5])
    leak = finding(run(train, many), "leakage", file="both")
    assert leak["counts"]["eval_rows_in_train"] == 5 and leak["severity"] == "problem"
    clean = finding(run(train, write_csv(tmp_path / "clean.csv", held)), "leakage", file="both")
    assert clean["severity"] == "info" and clean["counts"]["eval_rows_in_train"] == 0


def test_empty_texts_and_missing_values_are_counted_per_column(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(
        "text,label,note\n"
        + "".join(f"text number {i},{['a', 'b'][i % 2]},x\n" for i in range(8))
        + ",a,\n   ,b,x\nlonely,,\n",
        encoding="utf-8",
    )
    report = run(path)
    assert report["rows"]["train"] == {"file": "gaps.csv", "read": 11, "used": 8}
    missing = finding(report, "missing_values")
    assert missing["severity"] == "warning"
    assert missing["counts"]["per_column"] == {"text": 1, "label": 1, "note": 2}
    assert missing["counts"]["used_columns"] == {"text": 1, "label": 1}
    assert missing["counts"]["rows_with_missing"] == 2
    assert [e["row"] for e in missing["examples"]] == [9, 11]
    assert missing["examples"][0]["missing"] == ["text"]
    assert missing["examples"][1] == {"row": 11, "missing": ["label"], "text": "lonely"}
    empty = finding(report, "empty_texts")
    assert empty["severity"] == "warning"
    assert empty["counts"] == {"per_column": {"text": 1}, "rows": 1}
    assert empty["examples"] == [{"row": 10, "empty": ["text"], "text": "   ", "label": "b"}]


def test_evaluation_labels_never_seen_in_training_are_a_problem(tmp_path):
    train = write_csv(tmp_path / "train.csv", balanced())
    evaluation = write_csv(
        tmp_path / "eval.csv",
        [("good again", "pos"), ("meh", "neutral"), ("so so", "neutral"), ("odd", "mixed")],
    )
    report = run(train, evaluation)
    unseen = finding(report, "unseen_eval_labels", file="eval")
    assert unseen["severity"] == "problem"
    assert unseen["counts"]["unseen"] == {"neutral": 2, "mixed": 1}
    assert unseen["counts"]["train_labels_missing_from_eval"] == ["neg"]
    assert unseen["examples"][0] == {"rows": [2], "text": "meh", "unseen": ["neutral"]}
    assert "'neutral' 2" in unseen["message"] and "'mixed' 1" in unseen["message"]
    # The rest of the evaluation file is still checked, read with its own labels.
    assert report["rows"]["eval"]["used"] == 4
    assert not [f for f in report["findings"] if f["check"] == "refused"]


def test_imbalance_above_ten_to_one_warns(tmp_path):
    rows = [(f"common {i}", "common") for i in range(44)] + [
        (f"rare {i}", "rare") for i in range(4)
    ]
    rows += [(f"middle {i}", "middle") for i in range(10)]
    balance = finding(run(write_csv(tmp_path / "skewed.csv", rows)), "label_balance")
    assert balance["severity"] == "warning"
    assert balance["counts"]["labels"] == {"common": 44, "middle": 10, "rare": 4}
    assert balance["counts"]["imbalance_ratio"] == 11.0
    assert (balance["counts"]["majority"], balance["counts"]["minority"]) == ("common", "rare")
    assert "11:1" in balance["message"] and "--class-weights" in balance["message"]
    fine = finding(run(write_csv(tmp_path / "even.csv", balanced())), "label_balance")
    assert fine["severity"] == "info" and fine["counts"]["imbalance_ratio"] == 1.0


def test_truncation_share_and_histogram_with_a_tiny_max_length(tmp_path):
    texts = [" ".join(["word"] * n) for n in (2, 4, 6, 8, 10, 12, 14, 20)]
    rows = [(t, ["a", "b"][i % 2]) for i, t in enumerate(texts)]
    report = run(write_csv(tmp_path / "long.csv", rows), max_length=8)
    lengths = finding(report, "token_lengths")
    # Expected from the tokenizer itself: content tokens + [CLS] and [SEP].
    tokenizer = TextTokenizer.from_folder(default_model_path())
    expected = [len(e.ids) + 2 for e in tokenizer.encode_untruncated(texts)]
    assert lengths["counts"]["max_length"] == 8
    assert lengths["counts"]["longer_than_max_length"] == sum(n > 8 for n in expected) == 5
    assert lengths["counts"]["share"] == pytest.approx(5 / 8)
    assert lengths["counts"]["max"] == max(expected) == 22
    assert lengths["severity"] == "warning"
    # what the default truncation (head+tail) cuts away
    assert "62%" in lengths["message"] and "lose their middle" in lengths["message"]
    histogram = lengths["counts"]["histogram"]
    assert sum(b["count"] for b in histogram) == len(texts)
    assert {"min": 0, "max": 8, "count": 3} in histogram  # the bin that fits max_length
    assert histogram[-1]["max"] is None
    assert lengths["examples"][0] == {"rows": [8], "text": texts[-1], "tokens": 22}
    fits = finding(run(write_csv(tmp_path / "short.csv", rows[:3]), max_length=64), "token_lengths")
    assert fits["severity"] == "info" and fits["counts"]["longer_than_max_length"] == 0


def test_unknown_token_share_is_high_for_chinese_and_low_for_english(tmp_path):
    chinese = unknown_token_share("default", CHINESE * 5)
    english = unknown_token_share(default_model_path(), ENGLISH * 5)
    assert 0.5 < chinese < 0.8  # ~65 % of the tokens are [UNK]
    assert english == 0.0
    assert unknown_token_share("default", ["", "  "]) == 0.0
    rows = [(t, ["x", "y"][i % 2]) for i, t in enumerate(CHINESE * 4)]
    found = finding(run(write_csv(tmp_path / "zh.csv", rows)), "unknown_tokens")
    assert found["severity"] == "problem"
    assert found["counts"]["share"] == pytest.approx(chinese, abs=1e-6)
    assert "multilingual or Chinese BERT folder" in found["message"]
    assert found["examples"] and found["examples"][0]["unknown_share"] > 0.5
    found = finding(run(write_csv(tmp_path / "en.csv", balanced())), "unknown_tokens")
    assert found["severity"] == "info" and found["counts"]["unknown_tokens"] == 0


def test_a_clean_file_has_only_information(tmp_path):
    report = run(write_csv(tmp_path / "clean.csv", balanced()))
    assert report["summary"] == {"info": len(report["findings"]), "warning": 0, "problem": 0}
    checks = {f["check"] for f in report["findings"]}
    assert checks == {
        "missing_values",
        "empty_texts",
        "label_balance",
        "duplicates",
        "conflicting_labels",
        "token_lengths",
        "unknown_tokens",
    }


def test_what_training_refuses_becomes_a_problem_and_the_texts_are_still_checked(tmp_path):
    rows = [(t, "only") for t in CHINESE * 2]
    report = run(write_csv(tmp_path / "one.csv", rows))
    refused = finding(report, "refused")
    assert refused["severity"] == "problem" and "only one class" in refused["message"]
    assert report["rows"]["train"]["used"] is None
    assert finding(report, "duplicates")["counts"]["duplicate_rows"] == 3
    assert finding(report, "unknown_tokens")["severity"] == "problem"


def test_the_report_is_plain_json_with_bounded_examples(tmp_path):
    long_text = "a very long review " * 40
    rows = [(f"{long_text}{i % 7}", ["p", "q"][i % 2]) for i in range(60)]
    report = run(write_csv(tmp_path / "long.csv", rows), sample=10)
    assert json.loads(json.dumps(report)) == report
    assert set(report) == {
        "task",
        "model",
        "data",
        "eval_data",
        "columns",
        "rows",
        "max_length",
        "notices",
        "findings",
        "summary",
    }
    for item in report["findings"]:
        assert set(item) == {"check", "severity", "file", "message", "counts", "examples"}
        assert item["severity"] in ("info", "warning", "problem")
        assert "\n" not in item["message"]
        assert len(item["examples"]) <= MAX_EXAMPLES
        for example in item["examples"]:
            assert len(example.get("text", "")) <= TEXT_LIMIT
    lengths = finding(report, "token_lengths")
    assert (lengths["counts"]["sampled"], lengths["counts"]["of"]) == (10, 60)
    assert "a sample of 10 of 60 texts" in lengths["message"]
    dup = finding(report, "duplicates")
    assert dup["counts"]["duplicate_rows"] == 53 and len(dup["examples"]) == MAX_EXAMPLES
    assert all(len(e["rows"]) <= MAX_EXAMPLES for e in dup["examples"])
    text = format_report(report)
    assert text.splitlines()[-1].endswith("fine") and "warning" in text


def test_role_flags_and_no_header_apply(tmp_path):
    path = write_csv(
        tmp_path / "plain.csv", [(label, text) for text, label in balanced()], header=()
    )
    report = run(path, header="no", text_column="column_2", label_column="column_1")
    assert report["columns"] == {"text_column": "column_2", "label_column": "column_1"}
    assert finding(report, "label_balance")["counts"]["labels"] == {"neg": 10, "pos": 10}
    with pytest.raises(UserError, match="--text-column"):
        run(path, header="no", text_column="nope")


def test_tags_are_counted_per_entity_type_and_unseen_tags_named(tmp_path):
    if "token-classification" not in TASK_NAMES:
        pytest.skip("token classification is not registered")
    train = tmp_path / "train.conll"
    train.write_text(
        "Paris B-LOC\nis O\nbig O\n\nJohn B-PER\nSmith I-PER\nmet O\nMary B-PER\n\n"
        "New B-LOC\nYork I-LOC\n\nParis B-LOC\nis O\nbig O\n",
        encoding="utf-8",
    )
    evaluation = tmp_path / "eval.conll"
    evaluation.write_text("Acme B-ORG\nwins O\n\nRome B-LOC\nfalls O\n", encoding="utf-8")
    report = run(train, evaluation, task="token-classification")
    balance = finding(report, "label_balance")
    assert balance["counts"]["entities"] == {"LOC": 3, "PER": 2}
    assert balance["counts"]["tags"]["O"] == 5
    unseen = finding(report, "unseen_eval_labels", file="eval")
    assert unseen["severity"] == "problem" and unseen["counts"]["unseen"] == {"B-ORG": 1}
    assert unseen["examples"][0]["rows"] == [1] and unseen["examples"][0]["text"] == "Acme wins"
    assert finding(report, "duplicates")["examples"][0] == {
        "rows": [1, 4],
        "text": "Paris is big",
        "times": 2,
    }


def test_multi_label_counts_each_label(tmp_path):
    if "multi-label-classification" not in TASK_NAMES:
        pytest.skip("multi-label classification is not registered")
    rows = [("happy and calm", "joy,calm"), ("so happy", "joy"), ("angry", "anger")]
    rows += [("calm down", "calm"), ("so happy", "joy,calm")]
    report = run(
        write_csv(tmp_path / "multi.csv", rows, header=("text", "labels")),
        task="multi-label-classification",
    )
    balance = finding(report, "label_balance")
    assert balance["counts"]["labels"] == {"anger": 1, "calm": 3, "joy": 3}
    assert balance["counts"]["labels_per_row"] == pytest.approx(7 / 5)
    conflict = finding(report, "conflicting_labels")
    assert conflict["examples"][0]["labels"] == ["calm, joy", "joy"]


def test_regression_targets_are_summarised(tmp_path):
    if "regression" not in TASK_NAMES:
        pytest.skip("regression is not registered")
    rows = [(f"sentence {i}", str(v)) for i, v in enumerate([0.0, 1.0, 2.0, 3.0, 4.0])]
    rows.append(("sentence 1", "1.5"))
    report = run(
        write_csv(tmp_path / "scores.csv", rows, header=("text", "score")), task="regression"
    )
    summary = finding(report, "label_balance")
    values = np.array([0, 1, 2, 3, 4, 1.5])
    assert summary["counts"]["mean"] == pytest.approx(values.mean())
    assert summary["counts"]["std"] == pytest.approx(values.std())
    assert (summary["counts"]["min"], summary["counts"]["max"]) == (0.0, 4.0)
    conflict = finding(report, "conflicting_labels")
    assert conflict["counts"]["largest_gap"] == pytest.approx(0.5)
    assert conflict["examples"][0]["labels"] == [1.0, 1.5]


def test_a_large_frame_is_checked_in_seconds(tmp_path):
    # 200k rows: 150k distinct texts (so 50k duplicate rows), 1,000 of them with two labels.
    rng = np.random.default_rng(0)
    n, distinct = 200_000, 150_000
    ids = np.concatenate([np.arange(distinct), rng.integers(0, distinct, n - distinct)])
    texts = pd.Series(ids).map(lambda i: f"review number {i} of the big file")
    labels = np.where(ids % 2 == 0, "pos", "neg").astype(object)
    clash = np.arange(distinct, distinct + 1000)  # repeats whose label differs from the first
    labels[clash] = np.where(ids[clash] % 2 == 0, "neg", "pos")
    frame = pd.DataFrame({"text": texts, "label": labels})
    expected_conflicts = (
        pd.DataFrame({"t": ids, "l": labels}).groupby("t")["l"].nunique().gt(1).sum()
    )
    started = time.perf_counter()
    report = diagnose(RunConfig(data=str(tmp_path / "big.csv")), frame=frame)
    seconds = time.perf_counter() - started
    assert finding(report, "duplicates")["counts"]["duplicate_rows"] == n - distinct
    assert finding(report, "conflicting_labels")["counts"]["texts"] == expected_conflicts > 0
    assert finding(report, "token_lengths")["counts"]["sampled"] == 5000
    assert seconds < 60, f"the doctor took {seconds:.1f} s on {n:,} rows"


def test_entity_spans_follow_iob1_iob2_and_bioes():
    from workbench.engine.data.doctor import _entity_counts

    sentences = [
        ("I-PER", "I-PER", "O", "I-LOC"),  # IOB1: an I- after O (or another type) starts one
        ("I-LOC", "B-LOC", "I-LOC"),  # B- starts a second LOC right after the first
        ("S-ORG", "B-ORG", "E-ORG", "O"),  # BIOES
        (),
        ("I-PER",),  # a new sentence starts a new entity
    ]
    assert _entity_counts(sentences) == {"LOC": 3, "ORG": 2, "PER": 2}
    assert _entity_counts([("O", "O"), ()]) == {}
