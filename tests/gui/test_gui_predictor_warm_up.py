"""The Playground's predictor thread warms the predictor up when it loads it, so the fast
path is built before the user's first prediction (not in it); a predictor without
`warm_up` (an older or fake one) loads as before, and a failing warm-up leaves a loaded
predictor that still predicts (it is only a speed-up). The worker's slots are called directly on this thread."""

from __future__ import annotations

from workbench.gui.predictor_service import PredictorWorker


class FakePredictor:
    task = "text-classification"
    labels = ["negative", "positive"]

    def __init__(self) -> None:
        self.calls: list[str] = []

    def warm_up(self) -> bool:
        self.calls.append("warm_up")
        return True

    def predict(self, texts, **extra):
        self.calls.append("predict")
        return [{"label": "positive", "scores": {"negative": 0.1, "positive": 0.9}} for _ in texts]


def _worker(predictor):
    worker = PredictorWorker(load_fn=lambda source: predictor)
    events: dict[str, list] = {"loaded": [], "failed": [], "predicted": []}
    worker.sig_loaded.connect(events["loaded"].append)
    worker.sig_failed.connect(events["failed"].append)
    worker.sig_predicted.connect(lambda request, results: events["predicted"].append(results))
    return worker, events


def test_loading_warms_the_predictor_up_before_the_first_prediction():
    predictor = FakePredictor()
    worker, events = _worker(predictor)
    worker.load("run")
    assert predictor.calls == ["warm_up"] and events["loaded"] and not events["failed"]
    worker.predict(1, {"text": ["great"]})
    assert predictor.calls == ["warm_up", "predict"]
    assert events["predicted"][0][0]["label"] == "positive"


def test_a_predictor_without_warm_up_loads_as_before():
    class Plain:
        task = "text-classification"
        labels = ["a", "b"]

        def predict(self, texts, **extra):
            return [{"label": "a", "scores": {"a": 1.0, "b": 0.0}} for _ in texts]

    worker, events = _worker(Plain())
    worker.load("run")
    assert events["loaded"] and not events["failed"]


def test_a_warm_up_that_raises_still_loads_and_predicts():
    class Broken(FakePredictor):
        def warm_up(self) -> bool:
            raise MemoryError("no memory for the graph")

    worker, events = _worker(Broken())
    worker.load("run")
    assert events["loaded"] and not events["failed"]
    worker.predict(1, {"text": ["x"]})
    assert events["predicted"][0][0]["label"] == "positive"
