"""Question answering: reading answers, windows over long contexts, the span loss, reading
answers back out of the logits, metrics, prediction, and the export in transformers."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.config import RunConfig
from workbench.engine import evaluate, export_hf, load_predictor, train
from workbench.engine.data import load_table
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Features, Rows
from workbench.engine.tasks.question_answering import (
    MAX_ANSWER_TOKENS,
    best_answers,
    encode_windows,
    span_loss,
)
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

TASK = get_task("question-answering")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PEOPLE = [
    ("Alice", "Paris", "1990", "doctor"),
    ("Bruno", "Lisbon", "1984", "baker"),
    ("Chen", "Shanghai", "1975", "pilot"),
    ("Dana", "Nairobi", "2001", "lawyer"),
    ("Émile", "Montréal", "1968", "painter"),
    ("Farah", "Cairo", "1993", "teacher"),
]


def people_squad(path: Path, version_2: bool = False) -> Path:
    """A small SQuAD file: where, when and as what each person was born and works."""
    articles = []
    for name, city, year, job in PEOPLE:
        context = (
            f"{name} was born in {city} in {year}. Today {name} works as a {job} and likes tea."
        )
        qas = []
        for i, (question, answer) in enumerate(
            [
                (f"Where was {name} born?", city),
                (f"When was {name} born?", year),
                (f"What does {name} do?", job),
            ]
        ):
            qas.append(
                {
                    "id": f"{name}-{i}",
                    "question": question,
                    "answers": [{"text": answer, "answer_start": context.index(answer)}],
                }
            )
        if version_2:
            qas.append(
                {
                    "id": f"{name}-x",
                    "question": f"What is {name}'s dog called?",
                    "answers": [],
                    "is_impossible": True,
                }
            )
        articles.append({"title": name, "paragraphs": [{"context": context, "qas": qas}]})
    path.write_text(
        json.dumps({"data": articles, "version": "v2.0" if version_2 else "1.1"}), encoding="utf-8"
    )
    return path


def read(path: Path, **overrides):
    config = RunConfig(task="question-answering", data=str(path), **overrides).with_task_defaults()
    return TASK.read(config, load_table)


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.from_folder(default_model_path(), 384)


# ---- reading data -------------------------------------------------------------------------
def test_squad_json_gives_questions_contexts_and_answer_spans(tmp_path):
    data = read(people_squad(tmp_path / "people.json"))
    assert data.columns == {
        "question_column": "question",
        "context_column": "context",
        "answer_column": "answers",
    }
    rows = data.train
    for context, answers, start, end in zip(
        rows["context"], rows["answers"], rows["answer_start"], rows["answer_end"], strict=True
    ):
        assert context[start:end] == answers[0]
    assert data.meta == {"version_2": False}
    # Questions about one context stay together: none is in both splits.
    assert not set(data.train["context"]) & set(data.eval["context"])


def test_v2_unanswerable_questions_are_kept_with_no_target(tmp_path):
    data = read(people_squad(tmp_path / "v2.json", version_2=True), eval_split=0.3)
    assert data.meta == {"version_2": True}
    rows = data.train
    unanswerable = [i for i, q in enumerate(rows["question"]) if "dog" in q]
    assert unanswerable and all(
        rows["answer_start"][i] == -1 and rows["answers"][i] == [] for i in unanswerable
    )


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_with_answer_start_and_without_it(tmp_path):
    context = "The river Thames flows through London. It is 346 km long."
    rows = [
        ["How long is the Thames?", context, "346 km", context.index("346 km")],
        ["Which city does it cross?", context, "London", context.index("London")],
    ] * 3
    with_start = write_csv(
        tmp_path / "with.csv", ["query", "passage", "answer_text", "answer_start"], rows
    )
    data = read(with_start)
    assert data.columns == {
        "question_column": "query",
        "context_column": "passage",
        "answer_column": "answer_text",
    }
    assert not any("answer_start" in n for n in data.notices)

    without = write_csv(
        tmp_path / "without.csv", ["question", "context", "answer"], [r[:3] for r in rows]
    )
    data = read(without)
    assert any("no answer_start column" in n and "first occurrence" in n for n in data.notices)
    rows = data.train
    for context, start, end, answers in zip(
        rows["context"], rows["answer_start"], rows["answer_end"], rows["answers"], strict=True
    ):
        assert context[start:end] == answers[0]


def test_answers_not_at_their_start_are_skipped_and_counted(tmp_path):
    context = "Mercury is the closest planet to the Sun."
    good = [["Which planet is closest?", context, "Mercury", 0]] * 4
    bad = [["What is it close to?", context, "Moon", 5], ["Which planet?", context, "Mercury", 3]]
    data = read(
        write_csv(
            tmp_path / "qa.csv", ["question", "context", "answer", "answer_start"], good + bad
        )
    )
    assert any(n.startswith("skipped 2 of 6 questions of qa.csv") for n in data.notices)
    assert len(data.train) + len(data.eval) == 4

    with pytest.raises(UserError, match="not in their context.*--answer-column"):
        read(
            write_csv(
                tmp_path / "all_bad.csv", ["question", "context", "answer", "answer_start"], bad * 2
            )
        )


def test_no_context_column_names_the_flag(tmp_path):
    path = write_csv(tmp_path / "qa.csv", ["question", "answer"], [["Who?", "me"]] * 4)
    with pytest.raises(UserError, match="context.*--context-column"):
        read(path)
    path = write_csv(
        tmp_path / "qa2.csv", ["question", "context", "reply"], [["Who?", "me and you", "me"]] * 4
    )
    with pytest.raises(UserError, match="--answer-column"):
        read(path)
    data = read(path, answer_column="reply")
    assert data.columns["answer_column"] == "reply"


# ---- windows -----------------------------------------------------------------------------
def synthetic_context(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n tokens (ids 1000 + i), token i covering characters [3i, 3i + 2)."""
    ids = np.arange(1000, 1000 + n, dtype=np.int64)
    offsets = np.stack([np.arange(n) * 3, np.arange(n) * 3 + 2], axis=1).astype(np.int32)
    return ids, offsets


def windows(tokenizer, n, answer_tokens, max_length, stride, question=(7, 8, 9)):
    ids, offsets = synthetic_context(n)
    targets = None
    if answer_tokens is not None:
        first, last = answer_tokens
        targets = (
            ([int(offsets[first, 0])], [int(offsets[last, 1])]) if first >= 0 else ([-1], [-1])
        )
    features = encode_windows(
        [list(question)], [(ids, offsets)], tokenizer.template, max_length, stride, targets
    )
    return features, ids


def context_tokens(features: Features, f: int) -> list[int]:
    ids = np.asarray(features.sequences["input_ids"][f])
    return ids[features.extra["context_mask"][f]].tolist()


def test_a_short_context_is_one_window_pointing_at_the_answer(tokenizer):
    features, ids = windows(tokenizer, 20, (5, 7), max_length=64, stride=16)
    assert len(features) == 1
    cls = tokenizer.template.pair_prefix[0]
    sequence = features.sequences["input_ids"][0]
    assert sequence[0] == cls and sequence[1:4] == [7, 8, 9]
    assert context_tokens(features, 0) == ids.tolist()
    start, end = features.values["start_positions"][0], features.values["end_positions"][0]
    assert sequence[start] == 1005 and sequence[end] == 1007
    # token types: 0 for the question part, the family's second type for the context
    assert features.sequences["token_type_ids"][0][start] == tokenizer.template.second_type


def test_long_contexts_are_windows_sharing_stride_tokens(tokenizer):
    max_length, stride = 32, 8
    budget = max_length - tokenizer.template.pair_extra - 3
    features, ids = windows(tokenizer, 100, None, max_length, stride)
    seen = [context_tokens(features, f) for f in range(len(features))]
    assert all(len(s) <= budget for s in seen) and all(
        len(seq) <= max_length for seq in features.sequences["input_ids"]
    )
    assert sorted({t for s in seen for t in s}) == ids.tolist()  # every token in some window
    for left, right in zip(seen, seen[1:], strict=False):
        assert left[-stride:] == right[:stride]  # neighbours share `stride` tokens
    assert "start_positions" not in features.values  # nothing to train on when predicting
    assert features.examples_of().tolist() == [0] * len(features)


def test_an_answer_across_a_window_edge_is_only_a_target_where_it_is_whole(tokenizer):
    max_length, stride = 32, 8
    budget = max_length - tokenizer.template.pair_extra - 3  # context tokens per window
    step = budget - stride
    # Tokens budget-2 .. budget+1 cross the first window's end; the second window (from `step`)
    # holds them whole.
    features, _ = windows(tokenizer, 100, (budget - 2, budget + 1), max_length, stride)
    starts, ends = features.values["start_positions"], features.values["end_positions"]
    assert starts[0] == 0 and ends[0] == 0  # [CLS]: not wholly inside the first window
    sequence = features.sequences["input_ids"][1]
    assert sequence[starts[1]] == 1000 + budget - 2 and sequence[ends[1]] == 1000 + budget + 1
    assert step <= budget - 2
    assert all(s == 0 and e == 0 for s, e in zip(starts[2:], ends[2:], strict=True))
    # An answer inside the overlap is a target in both windows.
    features, _ = windows(tokenizer, 100, (step + 1, step + 2), max_length, stride)
    assert features.values["start_positions"][0] > 0 and features.values["start_positions"][1] > 0


def test_unanswerable_and_out_of_window_answers_point_at_cls(tokenizer):
    features, _ = windows(tokenizer, 100, (-1, -1), 32, 8)
    assert (
        not features.values["start_positions"].any() and not features.values["end_positions"].any()
    )


def test_a_stride_larger_than_the_window_still_moves_on(tokenizer):
    features, ids = windows(tokenizer, 60, None, 24, 128)
    seen = [context_tokens(features, f) for f in range(len(features))]
    assert sorted({t for s in seen for t in s}) == ids.tolist()
    assert len(features) < 60


def test_offsets_slice_the_answers_out_of_real_contexts(tokenizer):
    contexts = [
        "Beyoncé Giselle Knowles-Carter (born September 4, 1981) is an American singer.",
        "北京是中华人民共和国的首都。 The café in Zürich opened in 1905.",
    ]
    rows = Rows(
        {
            "question": ["When was Beyoncé born?", "When did the café open?"],
            "context": contexts,
            "answers": [["September 4, 1981"], ["1905"]],
            "answer_start": [contexts[0].index("September"), contexts[1].index("1905")],
            "answer_end": [contexts[0].index(")"), contexts[1].index("1905") + 4],
        }
    )
    config = RunConfig(task="question-answering", max_length=24, stride=6)
    small = TextTokenizer.from_folder(default_model_path(), 24)
    features = TASK.encode(rows, small, config, {"version_2": False})
    assert len(features) > 2
    for f in range(len(features)):
        example = features.example_index[f]
        offsets, mask = features.extra["offsets"][f], features.extra["context_mask"][f]
        for start, end in offsets[mask]:
            assert 0 <= start < end <= len(contexts[example])
        s, e = features.values["start_positions"][f], features.values["end_positions"][f]
        if s:
            assert contexts[example][offsets[s, 0] : offsets[e, 1]] == rows["answers"][example][0]
    hits = {
        int(features.example_index[f])
        for f in range(len(features))
        if features.values["start_positions"][f]
    }
    assert hits == {0, 1}


# ---- loss and post-processing ------------------------------------------------------------
def test_the_loss_is_the_mean_of_start_and_end_cross_entropy():
    logits = torch.randn(2, 5, 2)
    batch = {
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
        "start_positions": torch.tensor([1, 2]),
        "end_positions": torch.tensor([3, 2]),
    }
    loss = TASK.loss(logits, batch, {})
    masked = logits.clone()
    masked[1, 3:] = -1e9  # padding is never a candidate
    expected = (
        torch.nn.functional.cross_entropy(masked[..., 0], batch["start_positions"])
        + torch.nn.functional.cross_entropy(masked[..., 1], batch["end_positions"])
    ) / 2
    assert torch.allclose(loss, expected)
    outputs = TASK.gather(logits, batch)
    assert [o.shape for o in outputs] == [(5, 2), (3, 2)]
    features = Features(
        {"input_ids": [[0] * 5, [0] * 3]},
        {"start_positions": np.array([1, 2]), "end_positions": np.array([3, 2])},
    )
    assert abs(span_loss(outputs, features) - float(expected)) < 1e-5


def hand_features(
    context: str, words: list[tuple[int, int]], windows_logits: list[tuple[np.ndarray, int]]
):
    """Features of one example whose windows hold context tokens `words` from position 2 on
    (position 0 is [CLS], 1 a question token)."""
    offsets, masks, outputs = [], [], []
    for logits, first in windows_logits:
        length = logits.shape[0]
        off = np.full((length, 2), -1, dtype=np.int32)
        mask = np.zeros(length, dtype=bool)
        take = words[first : first + length - 3]
        off[2 : 2 + len(take)] = take
        mask[2 : 2 + len(take)] = True
        offsets.append(off)
        masks.append(mask)
        outputs.append(logits)
    features = Features(
        {"input_ids": [[0] * len(o) for o in outputs]},
        example_index=np.zeros(len(outputs), dtype=np.int64),
        extra={"offsets": offsets, "context_mask": masks},
    )
    return features, outputs


CONTEXT = "The tower was built in 1889 by Gustave Eiffel ."
WORDS = [(m.start(), m.end()) for m in re.finditer(r"\S+", CONTEXT)]


def test_the_best_valid_span_wins_over_invalid_higher_scores():
    logits = np.zeros((len(WORDS) + 3, 2), dtype=np.float32)
    logits[1] = [50, 50]  # the question token: never an answer
    logits[2 + 7, 0] = 9.0  # start at "Gustave"
    logits[2 + 2, 1] = 9.5  # an end before it: invalid
    logits[2 + 8, 1] = 8.0  # "Eiffel"
    logits[2 + 5, 0] = 6.0  # "1889"
    logits[2 + 5, 1] = 7.0
    features, outputs = hand_features(CONTEXT, WORDS, [(logits, 0)])
    (ranked,) = best_answers(outputs, features, [CONTEXT], version_2=False)
    best = ranked[0]
    assert best["answer"] == "Gustave Eiffel"
    assert CONTEXT[best["start"] : best["end"]] == best["answer"]
    assert all(r["answer"] != "" for r in ranked)  # v1.1: never "no answer"
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-6


def test_spans_longer_than_the_limit_are_not_answers():
    words = [(i * 2, i * 2 + 1) for i in range(MAX_ANSWER_TOKENS + 10)]
    context = " ".join("x" for _ in words)
    logits = np.zeros((len(words) + 3, 2), dtype=np.float32)
    logits[2, 0] = 10.0
    logits[2 + MAX_ANSWER_TOKENS, 1] = 10.0  # 31 tokens long
    logits[2 + 3, 1] = 1.0
    features, outputs = hand_features(context, words, [(logits, 0)])
    (ranked,) = best_answers(outputs, features, [context], version_2=False)
    assert (ranked[0]["start"], ranked[0]["end"]) == (0, words[3][1])


def test_the_best_window_wins_and_v2_can_answer_nothing():
    weak = np.zeros((8, 2), dtype=np.float32)
    weak[2 + 1] = [2.0, 2.0]  # "tower" in window 1
    strong = np.zeros((8, 2), dtype=np.float32)
    strong[2 + 1] = [5.0, 5.0]  # window 2 starts at word 4: "1889"
    strong[0] = [1.0, 1.0]
    features, outputs = hand_features(CONTEXT, WORDS, [(weak, 0), (strong, 4)])
    (ranked,) = best_answers(outputs, features, [CONTEXT], version_2=True)
    assert ranked[0]["answer"] == "1889"
    assert "" in [r["answer"] for r in ranked]  # the null answer is ranked too
    # The "no answer" score (the lowest [CLS] score over windows) beats every span:
    weak[0] = [9.0, 9.0]
    strong[0] = [8.0, 8.0]
    (ranked,) = best_answers(outputs, features, [CONTEXT], version_2=True)
    assert ranked[0] == {"answer": "", "start": 0, "end": 0, "score": ranked[0]["score"]}
    assert ranked[0]["score"] > 0.5
    (ranked,) = best_answers(outputs, features, [CONTEXT], version_2=False)
    assert ranked[0]["answer"] == "1889"


def test_metrics_on_fixed_strings():
    logits = np.zeros((len(WORDS) + 3, 2), dtype=np.float32)
    logits[2 + 7, 0] = logits[2 + 8, 1] = 5.0  # "Gustave Eiffel"
    features, outputs = hand_features(CONTEXT, WORDS, [(logits, 0)])
    features.values = {"start_positions": np.array([9]), "end_positions": np.array([10])}

    def score(golds):
        rows = Rows(
            {
                "question": ["Who built it?"],
                "context": [CONTEXT],
                "answers": [golds],
                "answer_start": [CONTEXT.index(golds[0]) if golds[0] in CONTEXT else -1],
                "answer_end": [-1],
            }
        )
        return TASK.metrics(outputs, features, rows, {"version_2": False})

    exact = score(["Gustave Eiffel"])
    assert exact["f1"] == 1.0 and exact["exact_match"] == 1.0 and exact["num_examples"] == 1
    assert exact["examples"][0][2:4] == [["Gustave Eiffel"], "Gustave Eiffel"]
    assert exact["loss"] > 0
    partial = score(["by Gustave Eiffel Jr"])  # 2 of 4 gold words, both predicted words right
    assert partial["exact_match"] == 0.0 and abs(partial["f1"] - 2 * 1.0 * 0.5 / 1.5) < 1e-9
    assert score(["Koechlin", "the Gustave Eiffel"])["exact_match"] == 1.0  # best of several golds


def test_predict_needs_a_context():
    with pytest.raises(UserError, match="--context"):
        TASK.rows_from_inputs({"text": ["Who?"]})
    with pytest.raises(UserError, match="one --context per question"):
        TASK.rows_from_inputs({"text": ["Who?", "When?"], "context": ["Me."]})
    with pytest.raises(UserError, match="empty"):
        TASK.rows_from_inputs({"text": ["Who?"], "context": ["  "]})


# ---- a tiny real run ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def qa_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("qa")
    data = people_squad(folder / "people.json")
    config = RunConfig(
        task="question-answering",
        data=str(data),
        eval_data=str(data),
        output=str(folder / "run"),
        epochs=1,
        batch_size=6,
        max_length=32,
        stride=8,
        learning_rate=1e-4,
        eval_every_steps=10**6,
    )
    result = train(config)
    assert result.status == "completed", result.error
    return result.run_dir


@pytest.mark.slow
def test_a_run_predicts_answers_with_character_offsets(qa_run):
    results = json.loads((qa_run / "eval_results.json").read_text(encoding="utf-8"))
    assert {"f1", "exact_match", "loss", "num_examples"} <= set(results)
    assert results["num_examples"] == 18
    saved = json.loads((qa_run / "model" / "config.json").read_text(encoding="utf-8"))
    assert saved["workbench"]["task"] == "question-answering" and saved["workbench"]["stride"] == 8
    predictor = load_predictor(qa_run)
    assert predictor.inputs == ("text", "context")
    long_context = ("Filler words come first here. " * 6) + "Greta was born in Oslo in 1999."
    answers = predictor.predict(
        ["Where was Greta born?"] * 2, contexts=[long_context, "Greta lives in Oslo."]
    )
    for answer, context in zip(answers, [long_context, "Greta lives in Oslo."], strict=True):
        assert set(answer) == {"answer", "start", "end", "score", "top_k"}
        assert answer["answer"] and context[answer["start"] : answer["end"]] == answer["answer"]
        assert 0 < answer["score"] <= 1 and answer["top_k"][0]["answer"] == answer["answer"]
        for other in answer["top_k"]:
            assert context[other["start"] : other["end"]] == other["answer"]
    metrics = evaluate(qa_run, qa_run.parent / "people.json")
    assert (
        metrics["num_examples"] == 18 and 0 <= metrics["f1"] <= 1 and "examples" in metrics
    )  # the rows behind the metrics, for the GUI


@pytest.mark.slow
def test_export_loads_in_transformers_with_the_same_logits(qa_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = export_hf(qa_run, tmp_path / "export")
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    assert type(model).__name__ == "BertForQuestionAnswering"
    predictor = load_predictor(qa_run)
    rows = TASK.rows_from_inputs(
        {"text": ["Where was Alice born?"], "context": ["Alice was born in Paris. " * 8]}
    )
    features = TASK.encode(rows, predictor.tokenizer, predictor._config, predictor.trained.meta)
    assert len(features) > 1  # several windows
    ours = predictor._outputs(features, 8)
    for f in range(len(features)):
        ids = torch.tensor([features.sequences["input_ids"][f]])
        types = torch.tensor([features.sequences["token_type_ids"][f]])
        with torch.no_grad():
            out = model(input_ids=ids, token_type_ids=types, attention_mask=torch.ones_like(ids))
        theirs = torch.stack([out.start_logits[0], out.end_logits[0]], dim=-1).numpy()
        assert np.abs(theirs - ours[f]).max() <= 1e-5
    # transformers' tokenizer makes the same pair (question, first window) for a short context
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    short = TASK.encode(
        TASK.rows_from_inputs(
            {"text": ["Where was Alice born?"], "context": ["Alice was born in Paris."]}
        ),
        predictor.tokenizer,
        predictor._config,
        predictor.trained.meta,
    )
    assert (
        tokenizer("Where was Alice born?", "Alice was born in Paris.")["input_ids"]
        == short.sequences["input_ids"][0]
    )
