"""SQuAD JSON: flattened to one row per question, v1.1 and v2.0 alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.engine.data.squad_json import looks_like_squad, read_squad
from workbench.errors import UserError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

V2 = {
    "version": "v2.0",
    "data": [
        {
            "title": "Paris",
            "paragraphs": [
                {
                    "context": "Paris is the capital of France.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "What is the capital of France?",
                            "answers": [{"text": "Paris", "answer_start": 0}],
                            "is_impossible": False,
                        },
                        {
                            "id": "q2",
                            "question": "What is the capital of Mars?",
                            "answers": [],
                            "plausible_answers": [{"text": "Paris", "answer_start": 0}],
                            "is_impossible": True,
                        },
                    ],
                }
            ],
        }
    ],
}


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_v2_rows_carry_answers_and_unanswerable_flags(tmp_path):
    frame = read_squad(write(tmp_path, V2))
    assert list(frame.columns) == ["id", "title", "question", "context", "answers", "is_impossible"]
    assert frame["id"].tolist() == ["q1", "q2"]
    assert frame["answers"].tolist() == [[{"text": "Paris", "answer_start": 0}], []]
    assert frame["is_impossible"].tolist() == [False, True]
    assert frame["context"].tolist() == ["Paris is the capital of France."] * 2
    assert frame["title"].tolist() == ["Paris", "Paris"]


def test_v11_without_is_impossible_reads_every_question_as_answerable(tmp_path):
    document = json.loads(json.dumps(V2))
    qas = document["data"][0]["paragraphs"][0]["qas"]
    del qas[1]
    del qas[0]["is_impossible"]
    del document["data"][0]["title"]
    frame = read_squad(write(tmp_path, document))
    assert frame["is_impossible"].tolist() == [False]
    assert frame["title"].tolist() == [""]


def test_not_squad_json_shows_the_expected_layout(tmp_path):
    with pytest.raises(UserError, match=r"is not SQuAD JSON.*\"paragraphs\""):
        read_squad(write(tmp_path, [{"text": "a", "label": 1}]))
    with pytest.raises(UserError, match=r"missing 'question'"):
        read_squad(
            write(tmp_path, {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": 1}]}]}]})
        )


def test_broken_json_and_empty_files_are_refused(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(UserError, match="cannot read broken.json as JSON"):
        read_squad(path)
    with pytest.raises(UserError, match="has no questions"):
        read_squad(write(tmp_path, {"data": []}))


def test_looks_like_squad(tmp_path):
    assert looks_like_squad(write(tmp_path, V2))
    assert not looks_like_squad(write(tmp_path, [{"text": "a"}]))
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"text": "data paragraphs", "label": 1}\n', encoding="utf-8")
    assert not looks_like_squad(jsonl)


@pytest.mark.parametrize(
    ("relative", "questions"),
    [("squad/train-subset.json", 3807), ("xquad_en/xquad.en.json", 1190)],
)
def test_shared_squad_files_read_to_their_published_question_counts(relative, questions):
    path = SHARED / relative
    if not path.exists():
        pytest.skip("shared data not available")
    assert looks_like_squad(path)
    frame = read_squad(path)
    assert len(frame) == questions
    assert frame["id"].is_unique
    assert not frame["is_impossible"].any()
    first = frame.iloc[0]
    answer = first["answers"][0]
    start = answer["answer_start"]
    assert first["context"][start : start + len(answer["text"])] == answer["text"]
