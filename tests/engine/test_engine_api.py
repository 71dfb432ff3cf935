"""The engine's public API lists what its registries hold."""

from __future__ import annotations

import workbench.engine.tasks  # noqa: F401  (the subpackage must not shadow an API function)
from workbench import engine
from workbench.engine.export import FORMAT_NAMES
from workbench.engine.tasks import TASK_NAMES


def test_the_task_list_comes_from_the_registry():
    listed = engine.list_tasks()
    assert [t["name"] for t in listed] == list(TASK_NAMES)
    text = next(t for t in listed if t["name"] == "text-classification")
    assert text["primary_metric"] == "accuracy"
    assert ("label_column", "--label-column", "Label", True) in [tuple(r) for r in text["roles"]]


def test_the_export_formats_come_from_the_registry():
    assert [f["name"] for f in engine.export_formats()] == list(FORMAT_NAMES)


def test_task_defaults_put_the_tasks_choices_over_the_general_ones():
    from workbench.config import GENERAL_DEFAULTS, LORA_LEARNING_RATE

    general = {**GENERAL_DEFAULTS, "lora_learning_rate": LORA_LEARNING_RATE}
    assert engine.task_defaults("text-classification") == general
    pairs = engine.task_defaults("pair-classification")
    assert pairs["epochs"] == 4 and pairs["batch_size"] == GENERAL_DEFAULTS["batch_size"]


def test_api_functions_survive_their_modules_being_imported(trained_run, reviews_csv):
    """A submodule named like an API function would replace it on first use."""
    first = engine.evaluate(trained_run, reviews_csv)
    second = engine.evaluate(trained_run, reviews_csv)
    assert first["accuracy"] == second["accuracy"]
    for name in (
        "train",
        "evaluate",
        "load_predictor",
        "export_model",
        "list_tasks",
        "describe_model",
        "diagnose",
    ):
        assert callable(getattr(engine, name)), name


def test_long_texts_keep_their_start_and_end_by_default_and_older_models_keep_theirs(
    trained_run, tmp_path
):
    import json
    import shutil

    from workbench.config import RunConfig
    from workbench.engine.trained import load_trained

    # head+tail: chosen on IMDB validation reviews (bench/imdb_long.py, see the README).
    assert RunConfig().truncation == "head+tail"
    assert load_trained(trained_run / "model").settings["truncation"] == "head+tail"
    # A model saved before the setting was recorded was trained with the tail cut off.
    older = tmp_path / "older"
    shutil.copytree(trained_run / "model", older)
    config = json.loads((older / "config.json").read_text(encoding="utf-8"))
    del config["workbench"]["truncation"]
    (older / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert load_trained(older).settings["truncation"] == "tail"
