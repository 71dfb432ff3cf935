"""Predictions from a trained model: label and the probability of every label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from workbench.engine.inference import predict_logits, softmax
from workbench.engine.models.registry import resolve_model
from workbench.engine.tasks.classification import build_classifier
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.precision import Precision, pick_device
from workbench.errors import UserError


class Predictor:
    """A loaded classifier. Not thread-safe: make one per thread."""

    def __init__(self, model: torch.nn.Module, tokenizer: TextTokenizer, labels: list[str], precision: Precision, folder: Path) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.precision = precision
        self.folder = folder

    @classmethod
    def load(cls, run_or_model: str | Path, device: str = "cpu") -> Predictor:
        path = Path(run_or_model)
        if not path.exists():
            raise UserError(f"{path} does not exist; give a run folder or an exported model folder")
        if path.is_dir() and (path / "config.toml").exists() and not (path / "model").exists():
            raise UserError(f"run {path} has no trained model yet (it failed or is still running)")
        folder = resolve_model(path)
        model, labels, _ = build_classifier(folder)
        precision = Precision("fp32", pick_device(device))
        model.to(precision.device).eval()
        return cls(model, TextTokenizer.from_folder(folder), labels, precision, folder)

    def probabilities(self, texts: list[str], batch_size: int = 64):
        """(N, num_labels) numpy array of probabilities, in input order."""
        if not texts:
            raise UserError("no text to predict; type a sentence or give --text")
        ids = self.tokenizer.encode(texts)
        logits = predict_logits(self.model, ids, self.tokenizer.pad_id, self.precision, batch_size)
        return softmax(logits)

    def predict(self, texts: list[str], batch_size: int = 64) -> list[dict[str, Any]]:
        """One `{"label": ..., "scores": {label: probability}}` per text."""
        probs = self.probabilities(texts, batch_size)
        return [
            {
                "label": self.labels[int(row.argmax())],
                "scores": {label: float(p) for label, p in zip(self.labels, row)},
            }
            for row in probs
        ]
