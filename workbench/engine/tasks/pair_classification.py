"""Pair classification: one label per pair of texts (paraphrase, entailment, duplicate questions).

The pair goes through the model's own pair template (`[CLS] a [SEP] b [SEP]` with token types
0/1 for BERT, `<s> a </s></s> b </s>` for RoBERTa), so the export is an ordinary
`AutoModelForSequenceClassification` that `transformers` feeds with `tokenizer(a, b)`.
Everything else (labels, class weights, the report and the confusion matrix) is text
classification's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.engine.metrics.classification import binary_f1
from workbench.engine.tasks.base import LABEL, TEXT, TEXT_PAIR, Rows, Task
from workbench.engine.tasks.text_classification import TextClassification
from workbench.errors import UserError
from workbench.lazy import pandas as pd

# Column names of the two texts in common pair datasets (compared lower-cased):
# GLUE/SentEval, SuperGLUE/NLI, Quora, and MRPC's own TSV header.
PAIR_NAMES = (
    ("sentence1", "sentence2"),
    ("sentence_1", "sentence_2"),
    ("sentence_a", "sentence_b"),
    ("text_a", "text_b"),
    ("text1", "text2"),
    ("premise", "hypothesis"),
    ("question1", "question2"),
    ("#1 string", "#2 string"),
)
# Names of the label column of pair tables (MRPC calls it Quality), compared lower-cased.
LABEL_NAMES = ("label", "labels", "gold_label", "class", "quality", "is_duplicate", "target", "y")
# Label names that mean "yes, the pair is a paraphrase / entailed / a duplicate": the
# positive class of the binary F1 (GLUE's F1 for MRPC and QQP), compared lower-cased.
POSITIVE_NAMES = ("1", "true", "yes", "entailment", "paraphrase", "equivalent")


def guess_pair(frame: pd.DataFrame, by_content: bool = True) -> tuple[str | None, str | None]:
    """The two text columns of a pair table: by name (sentence1/sentence2, premise/hypothesis
    …), else (when `by_content`) the two string columns with the longest entries, in file order."""
    lower = {str(c).lower().strip(): c for c in frame.columns}
    for first, second in PAIR_NAMES:
        if first in lower and second in lower:
            return lower[first], lower[second]
    if not by_content:
        return None, None
    sample = frame.head(2000)
    lengths = {
        c: float(sample[c].astype(str).str.len().mean())
        for c in frame.columns
        if _is_text(sample[c])
    }
    if len(lengths) < 2:  # one text column: the second text is the one to ask for
        return next(iter(lengths), None), None
    longest = sorted(lengths, key=lambda c: -lengths[c])[:2]
    first, second = sorted(longest, key=list(frame.columns).index)
    return first, second


def guess_label(frame: pd.DataFrame) -> str | None:
    """The label among the columns that are not the pair: by name, else the one with the
    fewest distinct values."""
    lower = {str(c).lower().strip(): c for c in frame.columns}
    named = next((lower[n] for n in LABEL_NAMES if n in lower), None)
    if named is not None or not len(frame.columns):
        return named
    sample = frame.head(2000)
    # As text, so a column of lists (unhashable) counts too.
    return min(frame.columns, key=lambda c: sample[c].dropna().astype(str).nunique())


def resolve_pair_columns(
    task: Task, frame: pd.DataFrame, config: Any, name: str, guessed: dict
) -> dict[str, str]:
    """Task.resolve_columns with the pair completed: naming one text of a guessed pair (say
    `--text-column sentence2`) makes the other guessed text the other role. `guessed` is
    final (the base method would guess again, undoing a pair the task chose to drop)."""
    chosen = {r.field: getattr(config, r.field, None) for r in task.roles}
    first, second = chosen.get("text_column"), chosen.get("text_pair_column")
    pair = [guessed.get("text_column"), guessed.get("text_pair_column")]
    if first and not second:
        chosen["text_pair_column"] = next((c for c in pair[::-1] if c and c != first), None)
    elif second and not first:
        chosen["text_column"] = next((c for c in pair if c and c != second), None)
    columns: dict[str, str] = {}
    for role in task.roles:
        column = chosen.get(role.field) or guessed.get(role.field)
        if column is None:
            if role.required:
                raise UserError(
                    f"cannot tell which column of {name} holds the {role.title.lower()}; "
                    f"name it with {role.flag} (columns: {', '.join(map(str, frame.columns))})"
                )
            continue
        columns[role.field] = column
    task.check_columns(frame, columns, name)
    if len(set(columns.values())) != len(columns):
        flags = ", ".join(r.flag for r in task.roles if r.field in columns)
        raise UserError(f"each role needs its own column of {name}; pick them with {flags}")
    return columns


def positive_label(labels: list[str]) -> str | None:
    """The class whose F1 is reported as `f1` when there are two: a name that means "yes",
    else the second label (sorted labels put 1 after 0)."""
    if len(labels) != 2:
        return None
    for label in labels:
        if label.lower().strip() in POSITIVE_NAMES:
            return label
    return labels[1]


def pair_inputs(inputs: dict[str, list[str]], required: bool) -> Rows:
    """Rows from `--text` and `--text-pair` (one pair per text)."""
    texts = list(inputs.get("text") or [])
    pairs = inputs.get("text_pair")
    if not texts:
        raise UserError("no text to predict; give --text (and --text-pair) for each pair")
    if pairs is None:
        if required:
            raise UserError("this model reads pairs of texts; give one --text-pair per --text")
        return Rows({"text": texts})
    if len(pairs) != len(texts):
        raise UserError(f"give one --text-pair per --text ({len(texts)} texts, {len(pairs)} pairs)")
    return Rows({"text": texts, "text_pair": list(pairs)})


class PairClassification(TextClassification):
    name = "pair-classification"
    title = "Pair classification"
    description = (
        "Fine-tunes the model to predict one label for a pair of texts: paraphrase or not "
        "(MRPC), entailment (RTE, NLI), duplicate questions."
    )
    metric_names = ("accuracy", "f1_macro", "f1", "loss")
    roles = (TEXT, TEXT_PAIR, LABEL)
    prediction_inputs = ("text", "text_pair")
    # Chosen on a 12 % hold-out of MRPC's train file (never its dev set), bench/glue_pairs.py;
    # small pair sets need several epochs; dropout 0.1 did not help there (see the README).
    defaults = {"epochs": 4, "learning_rate": 1e-4}

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        first, second = guess_pair(frame)
        rest = frame.drop(columns=[c for c in (first, second) if c is not None])
        return {"text_column": first, "text_pair_column": second, "label_column": guess_label(rest)}

    def resolve_columns(self, frame: pd.DataFrame, config: Any, name: str) -> dict[str, str]:
        return resolve_pair_columns(self, frame, config, name, self.guess_columns(frame))

    def text_fields(self, columns: dict[str, str]) -> list[str]:
        return [columns["text_column"], columns["text_pair_column"]]

    def examples(self, frame, columns, meta, name, config):
        rows, derived = super().examples(frame, columns, meta, name, config)
        if meta is None:
            positive = positive_label(derived["labels"])
            if positive is not None:
                derived["positive_label"] = positive
        return rows, derived

    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        metrics = super().metrics(outputs, features, rows, meta)
        positive = meta.get("positive_label")
        if positive is not None:
            predicted = np.stack(outputs).argmax(axis=1)
            index = meta["labels"].index(positive)
            metrics["f1"] = binary_f1(np.asarray(rows["label"]), predicted, index)
            metrics["positive_label"] = positive
        return metrics

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        return pair_inputs(inputs, required=True)


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or pd.api.types.is_string_dtype(column)


TASK = PairClassification()
