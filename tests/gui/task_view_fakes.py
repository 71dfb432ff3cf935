"""Hand-made metrics dicts and fake predictors for every task, in the engine's documented
shapes (see workbench/engine/tasks/*.py), for the task-view tests."""

from __future__ import annotations

import re


def classification_metrics() -> dict:
    labels = ["negative", "neutral", "positive"]
    matrix = [[40, 6, 4], [5, 20, 5], [2, 3, 65]]
    report = {}
    for i, label in enumerate(labels):
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        p, r = matrix[i][i] / predicted, matrix[i][i] / support
        report[label] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r), "support": support}
    examples = [
        ["the battery died after a week", 0, 0, 0.97, 0.03046],
        ["it is fine, nothing special", 1, 1, 0.61, 0.49430],
        ["absolutely love the screen", 2, 2, 0.99, 0.01005],
        ["not bad at all", 2, 0, 0.72, 2.30259],
        ["works, I guess", 1, 0, 0.55, 1.20397],
        ["terrible support, great price", 0, 2, 0.51, 1.60944],
        ["meh", 1, 0, 0.66, 0.91629],
        ["would buy again", 2, 1, 0.58, 1.38629],
    ]
    return {
        "loss": 0.5123,
        "accuracy": 0.8333,
        "f1_macro": 0.7777,
        "labels": labels,
        "report": report,
        "confusion_matrix": matrix,
        "examples": examples,
        "num_examples": 150,
        "evaluated_on": "all",
    }


def pair_metrics() -> dict:
    """Three NLI classes: no positive label, so no pair F1."""
    metrics = classification_metrics()
    metrics["labels"] = ["entailment", "neutral", "contradiction"]
    metrics["report"] = dict(zip(metrics["labels"], metrics["report"].values()))
    metrics["examples"] = [
        ["A man plays a guitar. ‖ Someone makes music.", 0, 0, 0.91, 0.094],
        ["A dog sleeps. ‖ The dog is running.", 2, 1, 0.52, 1.61],
        ["Kids play outside. ‖ Children are playing.", 0, 0, 0.88, 0.128],
    ]
    return metrics


def binary_pair_metrics() -> dict:
    metrics = classification_metrics()
    metrics["labels"] = ["not_duplicate", "duplicate"]
    metrics["report"] = {
        "not_duplicate": {"precision": 0.9, "recall": 0.8, "f1": 0.847, "support": 60},
        "duplicate": {"precision": 0.75, "recall": 0.87, "f1": 0.806, "support": 40},
    }
    metrics["confusion_matrix"] = [[48, 12], [5, 35]]
    metrics["examples"] = [["How do I learn Python? ‖ Best way to learn Python?", 1, 1, 0.9, 0.1]]
    metrics.update(f1=0.8046, positive_label="duplicate")
    return metrics


def regression_metrics() -> dict:
    examples = [
        ["A man is playing a guitar. ‖ A man plays the guitar.", 4.8, 4.6],
        ["A dog runs. ‖ A cat sleeps.", 0.4, 1.1],
        ["Two kids play football. ‖ Children play soccer.", 4.2, 3.9],
        ["The sky is blue. ‖ It is raining.", 1.0, 2.6],
        ["She cooks pasta. ‖ A woman is cooking.", 3.4, 3.5],
    ]
    return {
        "pearson": 0.912,
        "spearman": 0.887,
        "mse": 0.4321,
        "loss": 0.4321,
        "examples": examples,
        "num_examples": 5,
        "evaluated_on": "all",
    }


def multi_label_metrics() -> dict:
    labels = ["battery", "screen", "price", "shipping"]
    report = {
        "battery": {"precision": 0.81, "recall": 0.75, "f1": 0.779, "support": 120},
        "screen": {"precision": 0.9, "recall": 0.92, "f1": 0.91, "support": 80},
        "price": {"precision": 0.66, "recall": 0.5, "f1": 0.569, "support": 30},
        "shipping": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 4},
    }
    examples = [
        ["Battery lasts forever", ["battery"], ["battery"]],
        ["Great screen but pricey", ["screen", "price"], ["screen"]],
        ["Arrived late, battery weak", ["shipping", "battery"], ["battery", "price"]],
    ]
    return {
        "f1_micro": 0.801,
        "f1_macro": 0.6145,
        "loss": 0.2211,
        "threshold": 0.35,
        "labels": labels,
        "report": report,
        "examples": examples,
        "num_examples": 234,
        "evaluated_on": "all",
    }


NER_TOKENS = ["Angela", "Merkel", "visited", "Paris", "with", "Airbus", "staff", "."]
NER_GOLD = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O", "O"]
NER_PREDICTED = ["B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "O", "O"]


def token_metrics() -> dict:
    return {
        "entity_f1": 0.9012,
        "entity_precision": 0.8934,
        "entity_recall": 0.9091,
        "token_accuracy": 0.9812,
        "loss": 0.0712,
        "scheme": "IOB2",
        "report": {
            "LOC": {"precision": 0.92, "recall": 0.93, "f1": 0.925, "support": 1668},
            "ORG": {"precision": 0.85, "recall": 0.88, "f1": 0.865, "support": 1661},
            "PER": {"precision": 0.96, "recall": 0.96, "f1": 0.96, "support": 1617},
            "MISC": {"precision": 0.78, "recall": 0.8, "f1": 0.79, "support": 702},
        },
        "examples": [
            [NER_TOKENS, NER_GOLD, NER_PREDICTED],
            [["Rain", "in", "Berlin", "."], ["O", "O", "B-LOC", "O"], ["O", "O", "B-LOC", "O"]],
            [["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"], ["O"] * 4],
        ],
        "num_examples": 3453,
        "evaluated_on": "all",
    }


QA_CONTEXT = (
    "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891, where she studied "
    "physics and met Pierre Curie."
)


def qa_metrics() -> dict:
    return {
        "f1": 0.8123,
        "exact_match": 0.7,
        "loss": 1.234,
        "examples": [
            ["Where was Marie Curie born?", QA_CONTEXT, ["Warsaw"], "Warsaw", 0.93],
            ["When did she move to Paris?", QA_CONTEXT, ["1891", "in 1891"], "1867", 0.41],
            ["Whom did she meet?", QA_CONTEXT, ["Pierre Curie"], "met Pierre Curie", 0.66],
        ],
        "num_examples": 3,
        "evaluated_on": "all",
    }


def masked_lm_metrics(before: bool = True) -> dict:
    metrics = {
        "perplexity": 12.4,
        "loss": 2.5177,
        "num_examples": 1000,
        "masked_tokens": 15000,
        "evaluated_on": "all",
    }
    if before:
        metrics["perplexity_before"] = 35.2
    return metrics


def causal_lm_metrics() -> dict:
    return {
        "perplexity": 20.5,
        "loss": 3.02,
        "perplexity_before": 410.0,
        "num_examples": 50,
        "predicted_tokens": 12345,
    }


def seq2seq_metrics() -> dict:
    return {
        "rougeL": 0.312,
        "rouge1": 0.356,
        "rouge2": 0.121,
        "bleu": 0.087,
        "loss": 2.41,
        "num_examples": 40,
        "examples": [
            {
                "source": "#Person1#: Are you coming tonight? #Person2#: Yes, at eight.",
                "target": "#Person2# will come at eight.",
                "generated": "#Person2# comes tonight at eight.",
            }
        ],
    }


METRICS = {
    "text-classification": classification_metrics,
    "pair-classification": pair_metrics,
    "regression": regression_metrics,
    "multi-label-classification": multi_label_metrics,
    "token-classification": token_metrics,
    "question-answering": qa_metrics,
    "masked-lm": masked_lm_metrics,
    "causal-lm": causal_lm_metrics,
    "seq2seq": seq2seq_metrics,
}


# ---- predictors --------------------------------------------------------------------------
class FakeTaskPredictor:
    """A predictor of one task with the engine's output shapes; records what it was given."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.calls: list[dict] = []
        self.labels = {
            "text-classification": ["negative", "positive"],
            "pair-classification": ["entailment", "neutral", "contradiction"],
            "multi-label-classification": ["battery", "screen", "price"],
            "token-classification": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"],
        }.get(task, [])
        self.inputs = {
            "pair-classification": ("text", "text_pair"),
            "question-answering": ("text", "context"),
        }.get(task, ("text",))
        self.threshold = 0.35 if task == "multi-label-classification" else None

    def predict(self, texts, text_pairs=None, contexts=None):
        self.calls.append({"texts": texts, "text_pairs": text_pairs, "contexts": contexts})
        return [self._one(i, text, text_pairs, contexts) for i, text in enumerate(texts)]

    def _one(self, i, text, pairs, contexts):
        task = self.task
        if task == "text-classification":
            return {"label": "positive", "scores": {"negative": 0.2, "positive": 0.8}}
        if task == "pair-classification":
            assert pairs is not None, "a pair model needs its second text"
            return {
                "label": "entailment",
                "scores": {"entailment": 0.7, "neutral": 0.2, "contradiction": 0.1},
            }
        if task == "multi-label-classification":
            return {
                "labels": ["battery", "screen"],
                "scores": {"battery": 0.9, "screen": 0.4, "price": 0.1},
            }
        if task == "regression":
            return {"value": 3.14159}
        if task == "token-classification":
            entities = []
            for match in re.finditer(r"Angela Merkel|Paris", text):
                kind = "PER" if match.group().startswith("Angela") else "LOC"
                entities.append(
                    {
                        "text": match.group(),
                        "type": kind,
                        "start": match.start(),
                        "end": match.end(),
                        "score": 0.97,
                    }
                )
            return {"entities": entities}
        if task == "question-answering":
            context = contexts[i]
            start = context.find("Warsaw")
            return {
                "answer": "Warsaw",
                "start": start,
                "end": start + 6,
                "score": 0.91,
                "top_k": [
                    {"answer": "Warsaw", "start": start, "end": start + 6, "score": 0.91},
                    {"answer": "Paris", "start": 0, "end": 0, "score": 0.06},
                ],
            }
        if task == "masked-lm":
            position = text.find("[MASK]")
            return {
                "masks": [
                    {
                        "position": position,
                        "fills": [
                            {
                                "token": "capital",
                                "score": 0.82,
                                "text": "Paris is the capital of France.",
                            },
                            {
                                "token": "heart",
                                "score": 0.05,
                                "text": "Paris is the heart of France.",
                            },
                        ],
                    }
                ]
            }
        if task == "causal-lm":
            return {
                "text": text,
                "next_tokens": [
                    {"token": " upon", "id": 5, "probability": 0.6},
                    {"token": "\n", "id": 2, "probability": 0.1},
                ],
                "continuation": " upon a time",
                "token_ids": [5, 6, 7],
            }
        if task == "seq2seq":
            return {"text": "A short summary."}
        return {"something": [1, 2, 3]}


def fake_task_loader(task: str):
    """A load_fn for PlaygroundPanel that loads a FakeTaskPredictor of `task`."""
    predictors: list[FakeTaskPredictor] = []

    def load(source):
        predictor = FakeTaskPredictor(task)
        predictors.append(predictor)
        return predictor

    load.predictors = predictors  # type: ignore[attr-defined]
    return load
