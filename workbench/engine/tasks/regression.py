"""Regression: one number per text or per pair of texts (similarity scores, ratings …).

The head has one output trained with mean squared error on the raw targets: no internal
scaling, so the exported `AutoModelForSequenceClassification` (problem_type "regression")
gives exactly the numbers Workbench predicts. A pair (STS-B's sentence1/sentence2) goes
through the model's pair template, as in pair classification.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.data.columns import guess_columns
from workbench.engine.metrics.correlation import mse, pearson, spearman
from workbench.engine.models.family import SEQUENCE_CLASSIFICATION
from workbench.engine.tasks.base import LABEL, TEXT, TEXT_PAIR, Features, Rows, Task
from workbench.engine.tasks.pair_classification import guess_pair, pair_inputs, resolve_pair_columns
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer

# Names of a column holding the number to predict (compared lower-cased), in preference order.
_TARGET_NAMES = ("score", "label", "target", "value", "similarity", "relatedness", "rating", "y")
OPTIONAL_TEXT_PAIR = dataclasses.replace(TEXT_PAIR, required=False)
VALUE = dataclasses.replace(LABEL, title="Value")  # the same column flag, named for what it holds


def guess_target(frame: pd.DataFrame, exclude: set[str]) -> str | None:
    """The numeric column to predict: by name, else the last numeric column that is not an id
    (all-distinct whole numbers, such as `index`)."""
    candidates = [c for c in frame.columns if c not in exclude]
    lower = {str(c).lower().strip(): c for c in candidates}
    for name in _TARGET_NAMES:
        if name in lower:
            return lower[name]
    numeric = []
    for column in candidates:
        values = frame[column].head(2000)
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            continue
        present = values.dropna()
        looks_like_id = present.is_unique and bool(np.all(np.mod(present, 1) == 0))
        if len(present) > 1 and not looks_like_id:
            numeric.append(column)
    return numeric[-1] if numeric else None


def numeric_targets(frame: pd.DataFrame, column: str, name: str) -> pd.Series:
    """The column as float64 (missing values stay NaN); UserError when a value is no number."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    present = raw.notna() & (raw.astype(str).str.strip() != "")
    bad = present & ~np.isfinite(values.fillna(np.inf))  # words and inf alike
    if bad.any():
        shown = ", ".join(repr(str(v)) for v in raw[bad].unique()[:3])
        raise UserError(
            f"the label column {column!r} of {name} holds values that are not numbers ({shown}); "
            "regression needs one number per row: pick the column of numbers with --label-column "
            "(or train --task text-classification for categories)"
        )
    return values.where(present)


class Regression(Task):
    name = "regression"
    title = "Regression"
    description = (
        "Fine-tunes the model to predict a number for a text or a pair of texts "
        "(a similarity score, a rating)."
    )
    head_kind = SEQUENCE_CLASSIFICATION
    primary_metric = "pearson"
    metric_names = ("pearson", "spearman", "mse", "loss")
    roles = (TEXT, OPTIONAL_TEXT_PAIR, VALUE)
    # Chosen on a 12 % hold-out of STS-B's train file (never its dev set), bench/glue_pairs.py.
    defaults = {"epochs": 4, "learning_rate": 1e-4}

    # ---- reading data --------------------------------------------------------------------
    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        # Only named pairs: two text columns of a table are not a pair by themselves.
        first, second = guess_pair(frame, by_content=False)
        if first is None:
            first = guess_columns(frame).text
        target = guess_target(frame, {c for c in (first, second) if c is not None})
        return {"text_column": first, "text_pair_column": second, "label_column": target}

    def resolve_columns(self, frame: pd.DataFrame, config: Any, name: str) -> dict[str, str]:
        guessed = self.guess_columns(frame)
        if getattr(config, "text_column", None) and not getattr(config, "text_pair_column", None):
            if config.text_column not in (guessed["text_column"], guessed["text_pair_column"]):
                # A text of the user's choosing, not one of a pair: it stands alone.
                guessed.update(text_column=config.text_column, text_pair_column=None)
        return resolve_pair_columns(self, frame, config, name, guessed)

    def examples(self, frame, columns, meta, name, config):
        pair = "text_pair_column" in columns if meta is None else bool(meta.get("pair"))
        if pair and "text_pair_column" not in columns:
            raise UserError(
                f"this model scores pairs of texts; name the column of {name} with the second "
                "text with --text-pair-column"
            )
        texts = [columns["text_column"]] + ([columns["text_pair_column"]] if pair else [])
        targets = numeric_targets(frame, columns["label_column"], name)
        keep = targets.notna()
        for column in texts:
            keep &= frame[column].notna() & (frame[column].astype(str).str.strip() != "")
        if not keep.any():
            raise UserError(
                f"{name} has no row with both a text and a number; pick the columns with "
                "--text-column and --label-column"
            )
        rows = Rows({"text": frame[texts[0]][keep].astype(str).tolist()})
        if pair:
            rows.columns["text_pair"] = frame[texts[1]][keep].astype(str).tolist()
        rows.columns["value"] = targets[keep].astype(float).tolist()
        if meta is None:
            values = np.asarray(rows["value"])
            if np.ptp(values) == 0:
                raise UserError(
                    f"every value of {columns['label_column']!r} in {name} is {values[0]:g}; "
                    "regression needs varied numbers: pick another column with --label-column"
                )
            meta = {
                "target": str(columns["label_column"]),
                "pair": pair,
                "mean": float(values.mean()),
                "std": float(values.std()),
                "min": float(values.min()),
                "max": float(values.max()),
            }
        return rows, meta

    # ---- the model ------------------------------------------------------------------------
    def num_outputs(self, meta: dict[str, Any]) -> int:
        return 1

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        # Our own regression model, or a Hugging Face one with a single output.
        return saved is not None and ("mean" in saved or len(saved.get("labels") or []) == 1)

    def init_head(self, model: torch.nn.Module, meta: dict[str, Any]) -> None:
        """Start the output's bias at the training mean. A fresh head outputs ~0, and AdamW
        moves a bias by about the learning rate per step, so without this the first
        hundreds of steps go into shifting the output to the targets' level (STS-B: 2.7)."""
        import torch
        from torch import nn

        outputs = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 1]
        if outputs and outputs[-1].bias is not None:
            with torch.no_grad():
                outputs[-1].bias.fill_(float(meta["mean"]))

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        target = meta.get("target", "value")
        return {
            "id2label": {"0": target},
            "label2id": {target: 0},
            "num_labels": 1,
            "problem_type": "regression",
        }

    def inputs_for(self, meta: dict[str, Any]) -> tuple[str, ...]:
        return ("text", "text_pair") if meta.get("pair") else ("text",)

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        if meta.get("pair"):
            if "text_pair" not in rows:
                raise UserError("this model scores pairs of texts; give one --text-pair per --text")
            ids, types = tokenizer.encode_pairs(rows["text"], rows["text_pair"])
            sequences = {"input_ids": ids, "token_type_ids": types}
        else:
            sequences = {"input_ids": tokenizer.encode(rows["text"], config.truncation)}
        values = {}
        if "value" in rows:
            values["labels"] = np.asarray(rows["value"], dtype=np.float32)
        return Features(sequences, values)

    def loss(self, logits, batch, meta) -> torch.Tensor:
        import torch.nn.functional as F

        return F.mse_loss(logits.float().squeeze(-1), batch["labels"].float())  # (B,) vs (B,)

    # ---- results --------------------------------------------------------------------------
    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        predicted = np.stack(outputs)[:, 0].astype(np.float64)
        true = np.asarray(rows["value"], dtype=np.float64)
        error = mse(true, predicted)
        return {
            "pearson": pearson(true, predicted),
            "spearman": spearman(true, predicted),
            "mse": error,
            "loss": error,
            "num_examples": int(len(true)),
            "examples": example_values(rows, predicted),
        }

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        return [{"value": float(output[0])} for output in outputs]

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        return pair_inputs(inputs, required=False)


def example_values(rows: Rows, predicted: np.ndarray, limit: int = 5000) -> list:
    """[text, true, predicted] per example, at most `limit` (the GUI's scatter plot)."""
    out = []
    for i in range(min(len(predicted), limit)):
        text = rows["text"][i]
        if "text_pair" in rows:
            text = f"{text} ‖ {rows['text_pair'][i]}"
        out.append([text[:500], round(float(rows["value"][i]), 6), round(float(predicted[i]), 6)])
    return out


TASK = Regression()
