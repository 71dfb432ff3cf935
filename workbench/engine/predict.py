"""Predictions from a trained model, as plain values (one dict per input, the task's shape)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.engine.inference import FrozenForward, run_model
from workbench.engine.models.family import CAUSAL_LM, SEQ2SEQ_LM
from workbench.engine.trained import TrainedModel, inference_config, load_trained
from workbench.errors import UserError

# At most this many tokens in one call (the Playground's sentence) run on one intra-op
# thread: a forward over so few tokens is a few small matmuls that threads split for little
# gain, and when another process or our own training thread holds a core, every op waits
# for the descheduled thread. Measured on a loaded 2-core machine (MiniLM, one sentence):
# p50 242 ms with 2 threads, 18.5 ms with 1; again 2026-12-02 00:15 UTC (load 5-8, the
# frozen graph, calls alternating): p50 293 ms with 2 threads, 74.6 ms with 1.
SMALL_CALL_TOKENS = 512


# Batches of at most this many padded tokens (and at most `batch_size` rows): bounded
# shapes and memory for long documents; short sentences fill `batch_size` rows under it.
MAX_BATCH_TOKENS = 16_384
WARM_UP_TEXT = "a short sentence to warm up the model with"


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
        self._frozen = FrozenForward(trained.task)
        self._use_frozen = False

    def warm_up(self) -> bool:
        """Build the fast path before the first real call (the Playground calls this right
        after loading, on its predictor thread): one probe input through the model builds
        and checks the frozen graph one-text calls then run through (~25 % less CPU per
        sentence; ~1-3 s and ~60 MB once, for MiniLM). Generative models stay eager (their
        predictions are generation loops). Best effort: a task that refuses the probe (a
        masked LM wants a mask token) or a graph that fails its check stays eager. True when
        a graph is in use."""
        task = self.trained.task
        if task.head_kind in (CAUSAL_LM, SEQ2SEQ_LM) or hasattr(task, "complete_predictions"):
            return False
        inputs = {name: [WARM_UP_TEXT] for name in self.inputs}
        self._use_frozen = True
        try:
            rows = task.rows_from_inputs(inputs)
            features = task.encode(rows, self.trained.tokenizer, self._config, self.trained.meta)
            if len(features):
                self._outputs(features, 1)
        except Exception:  # noqa: BLE001 - a warm-up never fails a load; predict says why
            self._use_frozen = False
        self._use_frozen = self._use_frozen and self._frozen.built > 0
        return self._use_frozen

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
                t.model,
                t.task,
                features,
                t.tokenizer.pad_id,
                t.precision,
                batch_size,
                forward=self._frozen if self._use_frozen else None,
                max_tokens=MAX_BATCH_TOKENS,
            )
        assert outputs is not None  # nothing can stop a prediction midway
        return outputs
