"""Predictions from a trained model, as plain values (one dict per input, the task's shape)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.engine.inference import run_model
from workbench.engine.trained import TrainedModel, inference_config, load_trained
from workbench.errors import UserError

# At most this many tokens in one call (the Playground's sentence) run on one intra-op
# thread: a forward over so few tokens is a few small matmuls that threads split for little
# gain, and when another process or our own training thread holds a core, every op waits
# for the descheduled thread. Measured on a loaded 2-core machine (MiniLM, one sentence):
# p50 242 ms with 2 threads, 18.5 ms with 1.
SMALL_CALL_TOKENS = 512


def _threads_for(features) -> int | None:
    """1 for a small call, None (torch's setting) otherwise."""
    return 1 if sum(features.lengths) <= SMALL_CALL_TOKENS else None


@contextlib.contextmanager
def _intra_op_threads(count: int | None):
    """torch's intra-op threads for this thread during the call, restored after. (The
    setting is per thread, but a thread started meanwhile inherits it: hence restored.)"""
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Predictor:
    """A loaded trained model. Not thread-safe: make one per thread."""

    def __init__(self, trained: TrainedModel) -> None:
        self.trained = trained
        self._config = inference_config(trained)

    @classmethod
    def load(cls, run_or_model: str | Path, device: str = "cpu") -> Predictor:
        return cls(load_trained(run_or_model, device))

    @property
    def task(self) -> str:
        return self.trained.task.name

    @property
    def labels(self) -> list[str]:
        return list(self.trained.meta.get("labels", []))

    @property
    def inputs(self) -> tuple[str, ...]:
        """What each prediction takes: "text", and "text_pair" or "context" for some tasks."""
        return self.trained.task.inputs_for(self.trained.meta)

    @property
    def tokenizer(self):
        return self.trained.tokenizer

    def predict(
        self,
        texts: list[str],
        text_pairs: list[str] | None = None,
        contexts: list[str] | None = None,
        batch_size: int = 64,
    ) -> list[dict[str, Any]]:
        """One dict per text, shaped by the task (`{"label", "scores"}` for classification)."""
        inputs: dict[str, list[str]] = {"text": [str(t) for t in texts]}
        if text_pairs is not None:
            inputs["text_pair"] = [str(t) for t in text_pairs]
        if contexts is not None:
            inputs["context"] = [str(t) for t in contexts]
        task = self.trained.task
        rows = task.rows_from_inputs(inputs)
        features = task.encode(rows, self.trained.tokenizer, self._config, self.trained.meta)
        outputs = self._outputs(features, batch_size)
        results = task.predict(outputs, features, rows, self.trained.meta)
        # What needs the model beyond one forward pass (a decoder's continuation of each text).
        complete = getattr(task, "complete_predictions", None)
        return results if complete is None else complete(results, self.trained, features)

    def probabilities(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(N, num_labels) probabilities of a single-label classifier, in input order."""
        if not texts:
            raise UserError("no text to predict; type a sentence or give --text")
        results = self.predict(texts, batch_size=batch_size)
        if not results or "scores" not in results[0]:
            raise UserError(f"a {self.task} model has no class probabilities")
        return np.array([[r["scores"][label] for label in self.labels] for r in results])

    def _outputs(self, features, batch_size: int) -> list[np.ndarray]:
        t = self.trained
        # inference_mode, not only no_grad: no version counters or views kept for autograd.
        # Safe here because a Predictor's model never trains (run_model under training keeps
        # no_grad: a buffer cached in inference mode could not be saved for backward).
        with torch.inference_mode(), _intra_op_threads(_threads_for(features)):
            outputs = run_model(
                t.model, t.task, features, t.tokenizer.pad_id, t.precision, batch_size
            )
        assert outputs is not None  # nothing can stop a prediction midway
        return outputs
