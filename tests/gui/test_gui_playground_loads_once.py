"""The Playground loads a generative run's model once: its predictor's model also generates
(before, the first Generate built the same weights a second time). Counted on the one place
weights meet modules (`loading.build_model`), with the worker's slots called directly on
this thread; the shared model's greedy ids equal a generator loaded on its own."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.slow  # trains a tiny GPT-2 for a few steps first

TEXTS = [
    "The quick brown fox jumps over the lazy dog and runs into the woods.",
    "A small model writes a short story about a cat and a hat.",
    "Hello world! Hello again, world, and hello to everyone here.",
] * 4


@pytest.fixture(scope="module")
def causal_run(tmp_path_factory):
    pytest.importorskip("transformers")
    from tiny_gpt2 import write_tiny_gpt2  # tests/ is on the path (conftest)

    from workbench.config import RunConfig
    from workbench.engine import train

    root = tmp_path_factory.mktemp("loads-once")
    model = write_tiny_gpt2(root / "gpt2")
    data = root / "stories.txt"
    data.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    result = train(
        RunConfig(
            task="causal-lm",
            data=str(data),
            model=str(model),
            output=str(root / "run"),
            epochs=1,
            batch_size=4,
            max_length=32,
        )
    )
    assert result.status == "completed", result.error
    return result.run_dir


def test_generating_in_the_playground_reuses_the_predictors_model(causal_run, monkeypatch):
    from workbench import engine
    from workbench.engine.generation.generate import GenerationSettings
    from workbench.engine.models import loading
    from workbench.gui.predictor_service import PredictorWorker

    builds = []
    real_build = loading.build_model

    def counting_build(*args, **kwargs):
        builds.append(args[:2])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(loading, "build_model", counting_build)
    worker = PredictorWorker()  # the engine's own loaders
    failed, loaded, generated = [], [], []
    worker.sig_failed.connect(failed.append)
    worker.sig_loaded.connect(loaded.append)
    worker.sig_generated.connect(lambda request, result: generated.append(result))
    worker.load(str(causal_run))
    assert not failed and loaded and loaded[0].task == "causal-lm"
    assert len(builds) == 1

    settings = {"max_new_tokens": 6, "temperature": 0.0}
    for request in (1, 2):
        worker.generate(request, "The quick", settings, threading.Event())
    assert len(builds) == 1, f"the model was built again to generate: {builds}"
    assert [("error" in result) for result in generated] == [False, False], generated
    assert worker._generator.model is worker._predictor.trained.model

    alone = engine.load_generator(causal_run).start("The quick", GenerationSettings(**settings))
    list(alone)
    assert generated[0]["token_ids"] == alone.token_ids == generated[1]["token_ids"]
    assert len(builds) == 2  # a generator of its own builds its own model (what was saved)


def test_a_classifier_still_gets_a_generator_of_its_own():
    """A predictor whose head does not generate shares nothing (the generator_fn loads)."""
    from workbench.engine.generation.generate import Generator
    from workbench.engine.tasks import get_task

    class Trained:
        task = get_task("text-classification")
        meta = {"labels": ["a", "b"]}

    assert Generator.from_trained(Trained()) is None  # type: ignore[arg-type]
