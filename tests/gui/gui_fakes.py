"""Fake engine functions and data for GUI tests (the end-to-end test uses the real engine)."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from workbench.engine.events import EvalFinished, Notice, RunFinished, RunStarted, StepLogged

POSITIVE = [
    "great product, works well",
    "I love it",
    "excellent quality, fast delivery",
    "very happy with this",
    "works perfectly",
    "best purchase this year",
]
NEGATIVE = [
    "terrible, broke after a day",
    "I hate it",
    "awful quality",
    "very disappointed",
    "does not work at all",
    "waste of money",
]


def write_small_csv(path: Path, rows: int = 200) -> Path:
    texts, labels = [], []
    for i in range(rows):
        pool, label = (POSITIVE, "positive") if i % 2 else (NEGATIVE, "negative")
        texts.append(f"{pool[i % len(pool)]} ({i})")
        labels.append(label)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def eval_metrics(labels=("negative", "positive"), matrix=((8, 2), (1, 9))) -> dict:
    matrix = [list(row) for row in matrix]
    total = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(len(matrix)))
    report = {}
    for i, label in enumerate(labels):
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = matrix[i][i] / predicted if predicted else 0.0
        recall = matrix[i][i] / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return {
        "loss": 0.42,
        "accuracy": correct / total,
        "f1_macro": sum(r["f1"] for r in report.values()) / len(report),
        "labels": list(labels),
        "report": report,
        "confusion_matrix": matrix,
    }


class FakeTrain:
    """Emits a run's events; optionally raises, or waits for Stop between steps."""

    def __init__(
        self,
        steps: int = 10,
        raise_at: int | None = None,
        exc: BaseException | None = None,
        wait_for_stop: bool = False,
        run_dir: str = "/tmp/fake-run",
    ) -> None:
        self.steps = steps
        self.raise_at = raise_at
        self.exc = exc or RuntimeError("CUDA out of memory")
        self.wait_for_stop = wait_for_stop
        self.run_dir = run_dir
        self.started = threading.Event()
        self.configs: list = []

    def __call__(self, config, on_event, should_stop):
        self.configs.append(config)
        on_event(
            RunStarted(self.run_dir, self.steps, 180, 20, ["negative", "positive"], "cpu", "fp32")
        )
        self.started.set()
        on_event(Notice("fake engine: no real training"))
        step = 0
        while step < self.steps or self.wait_for_stop:
            if should_stop():
                on_event(EvalFinished(step, step / self.steps, eval_metrics()))
                on_event(RunFinished("stopped", self.run_dir, eval_metrics()))
                return None
            step += 1
            if self.raise_at is not None and step == self.raise_at:
                raise self.exc
            on_event(
                StepLogged(
                    min(step, self.steps),
                    self.steps,
                    step / self.steps,
                    1.0 / step,
                    1e-4,
                    100.0,
                    0.1 * step,
                    0.1 * (self.steps - step),
                )
            )
            if step % 5 == 0:
                on_event(EvalFinished(step, step / self.steps, eval_metrics()))
            if self.wait_for_stop:
                threading.Event().wait(0.01)  # a step takes time in the real engine
        on_event(RunFinished("completed", self.run_dir, eval_metrics()))
        return None


class FakePredictor:
    labels = ["negative", "positive"]

    def predict(self, texts):
        out = []
        for text in texts:
            p = 0.8 if ("好" in text or "love" in text) else 0.3
            out.append(
                {
                    "label": "positive" if p > 0.5 else "negative",
                    "scores": {"negative": 1 - p, "positive": p},
                }
            )
        return out


def fake_load_predictor(source):
    if "missing" in str(source):
        from workbench.errors import UserError

        raise UserError(f"{source} has no trained model")
    return FakePredictor()
