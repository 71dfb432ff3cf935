"""The catalogue, columns, labels and settings: refused by `workbench train` (exit 2, one line
naming the flag to use) before any run folder exists; odd label names are kept as they are."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from workbench.config import RunConfig
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.run import prepare
from workbench.errors import UserError


def _csv(folder: Path, name: str, header: list[str], rows: list[tuple]) -> Path:
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _reviews(folder: Path, n: int = 20) -> Path:
    rows = [(f"review {i} of the film", "pos" if i % 2 else "neg") for i in range(n)]
    return _csv(folder, "good.csv", ["text", "label"], rows)


def _labels(values: list) -> list[tuple]:
    return [(f"review {i}", v) for i, v in enumerate(values)]


# name -> (rows of text,label, extra flags, what the one line must say)
COLUMN_CASES: dict[str, tuple[list[tuple], list[str], str]] = {
    "missing text column": (
        _labels(["a", "b"] * 10),
        ["--text-column", "body"],
        r"has no column 'body'; pick the text column with --text-column \(available: text, label\)",
    ),
    "missing label column": (
        _labels(["a", "b"] * 10),
        ["--label-column", "stars"],
        r"has no column 'stars'; pick the label column with --label-column",
    ),
    "all-empty text": (
        [("", "a"), ("  ", "b")] * 10,
        [],
        r"text column 'text' .* is empty where labels are given; .* --text-column",
    ),
    "NaN labels": (
        _labels([""] * 20),
        ["--label-column", "label"],
        r"label column 'label' .* has no values; .* --label-column",
    ),
    "one class only": (_labels(["pos"] * 20), [], r"only one class \('pos'\).* --label-column"),
    "float labels for classification": (
        _labels([i * 0.37 for i in range(20)]),
        [],
        r"holds decimal numbers \(0\.37, 0\.74, 1\.11, …\), not classes; .*--task regression",
    ),
    "thousands of classes, one example each": (
        _labels([f"class {i}" for i in range(2000)]),
        [],
        r"every one of the 2,000 examples has a label of its own.* --label-column",
    ),
    "the same column for text and label": (
        _labels(["a", "b"] * 10),
        ["--text-column", "label", "--label-column", "label"],
        r"label",
    ),
}


@pytest.mark.parametrize("case", list(COLUMN_CASES))
def test_train_refuses_unusable_columns(case, tmp_path, micro_model, refused):
    rows, flags, pattern = COLUMN_CASES[case]
    data = _csv(tmp_path, "data.csv", ["text", "label"], rows)
    out = tmp_path / "out"
    refused(pattern, "train", "--data", data, "--model", micro_model, "--output", out, *flags)


def test_evaluation_labels_never_seen_in_training(tmp_path, micro_model, refused):
    train = _reviews(tmp_path)
    unseen = _csv(tmp_path, "eval.csv", ["text", "label"], _labels(["maybe", "pos"] * 3))
    refused(r"eval\.csv has labels the model was not trained on: 'maybe'; the known labels",
            "train", "--data", train, "--eval-data", unseen, "--model", micro_model)  # fmt: skip


def test_evaluate_refuses_labels_the_model_does_not_know(tmp_path, micro_trained, refused):
    data = _csv(tmp_path, "eval.csv", ["text", "label"], _labels(["neutral", "positive"] * 3))
    refused(r"not trained on: 'neutral'", "evaluate", micro_trained, "--data", data)


def test_hostile_label_names_are_kept_as_data(tmp_path, micro_model):
    """/, .., newlines and 10,000 characters are label NAMES: kept whole, never a path. (A full
    run with such names, checked to write nothing outside its folder, is in
    tests/engine/test_written_files.py::test_hostile_label_names_stay_inside_and_files_are_readable.)"""
    names = ["a/b", "..", "../../etc/passwd", "two\nlines", "x" * 10_000]
    data = _csv(tmp_path, "data.csv", ["text", "label"], _labels(names * 4))
    prepared = prepare(RunConfig(data=str(data), model=str(micro_model)))
    assert sorted(prepared.labels) == sorted(names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


# ---- settings -----------------------------------------------------------------------------

# name -> (flags, what the one line must say)
SETTING_CASES: dict[str, tuple[list[str], str]] = {
    "zero epochs": (["--epochs", "0"], r"epochs must be between 1 and 10000, got 0"),
    "negative epochs": (["--epochs", "-3"], r"epochs must be between 1 and 10000, got -3"),
    "10**9 epochs": (["--epochs", "1000000000"], r"epochs must be between 1 and 10000"),
    "fractional epochs": (["--epochs", "1.5"], r"--epochs: invalid int value: '1\.5'"),
    "batch size 0": (["--batch-size", "0"], r"batch_size must be between 1 and 65536, got 0"),
    "absurd batch size": (["--batch-size", "10000000"], r"batch_size must be between 1 and 65536"),
    "learning rate 0": (["--lr", "0"], r"learning_rate must be greater than 0"),
    "negative learning rate": (["--lr=-1e-4"], r"learning_rate must be greater than 0"),
    "NaN learning rate": (["--lr", "nan"], r"learning_rate must be a number, got nan"),
    "infinite learning rate": (["--lr", "inf"], r"learning_rate must be a number, got inf"),
    "learning rate as text": (["--lr", "fast"], r"--lr: invalid float value: 'fast'"),
    "max_length 0": (["--max-length", "0"], r"max_length must be between 8 and 8192, got 0"),
    "max_length above the model's positions": (
        ["--max-length", "512"],
        r"--max-length 512 is more than this model can read: model has 64 positions; use "
        r"--max-length 64 or less",
    ),
    "negative seed": (["--seed", "-1"], r"seed must be between 0 and 4294967295, got -1"),
    "seed above 2**32-1": (["--seed", str(2**32)], r"seed must be between 0 and 4294967295"),
    "unknown task": (["--task", "summarise"], r"--task: invalid choice: 'summarise'"),
    "unknown truncation": (["--truncation", "middle"], r"unknown truncation 'middle'; choose"),
    "a task the model cannot do": (
        ["--task", "causal-lm"],
        r"bert models cannot do causal language modelling .*choose another model or another --task",
    ),
    "model folder missing": (["--model", "/nowhere/model"], r"unknown model '/nowhere/model'"),
}


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_train_refuses_a_setting_that_cannot_work(case, tmp_path, micro_model, refused):
    flags, pattern = SETTING_CASES[case]
    data = _reviews(tmp_path)
    argv = ["train", "--data", data, "--model", micro_model, "--output", tmp_path / "run", *flags]
    if "--model" in flags:
        argv[3:5] = []
    refused(pattern, *argv)


def test_max_length_above_the_models_positions_is_capped_by_the_tokenizer(micro_model):
    # The micro model has 64 positions: the tokenizer never cuts to more (a run refuses a
    # --max-length above them, see SETTING_CASES; a saved run's own length is always within).
    assert TextTokenizer.from_folder(micro_model, max_length=512).max_length == 64


def test_a_default_max_length_above_the_models_positions_is_lowered_and_said(tmp_path, micro_model):
    # The task's default (128) is more than the micro model's 64 positions: not the user's
    # choice, so the run trains at 64, says so, and its config.toml says 64 (resume, predict).
    prepared = prepare(RunConfig(data=str(_reviews(tmp_path)), model=str(micro_model)))
    assert prepared.config.max_length == 64
    assert "max length 64 (the task's default of 128 is more than model's 64 positions)" in (
        prepared.data.notices
    )
    exact = prepare(RunConfig(data=str(_reviews(tmp_path)), model=str(micro_model), max_length=64))
    assert exact.config.max_length == 64 and not any("max length" in n for n in exact.data.notices)


# name -> (config.toml content (bytes for a non-UTF-8 file), what the one line must say)
CONFIG_CASES: dict[str, tuple[str | bytes, str]] = {
    "unknown key": ("epoch = 3\n", r"unknown setting\(s\) epoch; known settings are: .*epochs"),
    "wrong type": ('epochs = "three"\n', r"epochs must be a whole number, got 'three'"),
    "a list where a path belongs": (
        'model = ["a", "b"]\n',
        r"model must be a text \(in quotes\), got \['a', 'b'\]",
    ),
    "a number where a name belongs": ("text_column = 3\n", r"text_column must be a text"),
    "a boolean where a number belongs": ("batch_size = true\n", r"batch_size must be a whole"),
    "not TOML": ("this: is yaml\n- not toml\n", r"is not valid TOML: .*line 2"),
    "binary": (bytes(range(256)), r"is not UTF-8 text; save it as UTF-8"),
    "Latin-1": ('text_column = "intitulé"\n'.encode("latin-1"), r"is not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_train_refuses_a_bad_config_file(case, tmp_path, micro_model, refused):
    content, pattern = CONFIG_CASES[case]
    config = tmp_path / "run.toml"
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(f'data = "{_reviews(tmp_path).name}"\n' + content, "utf-8")
    refused(pattern, "train", "--config", config, "--model", micro_model)


def test_config_file_missing_or_a_folder(tmp_path, refused):
    refused(
        r"none\.toml does not exist; check the path", "train", "--config", tmp_path / "none.toml"
    )
    refused(r"cannot read config file .*: Is a directory", "train", "--config", tmp_path)


def test_config_values_round_trip_through_toml_with_newlines(tmp_path):
    config = RunConfig(data=str(tmp_path / "a\nb.csv"), text_column='say "hi"\n\x7f')
    path = tmp_path / "run.toml"
    path.write_text(config.to_toml(), "utf-8")
    assert RunConfig.from_toml(path).text_column == config.text_column


# ---- --output ------------------------------------------------------------------------------


def _output_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    full = tmp_path / "full"
    full.mkdir()
    (full / "model").mkdir()
    afile = tmp_path / "notes.txt"
    afile.write_text("mine", "utf-8")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    return {
        "exists, not empty": (full, r"already exists and is not empty; choose a new --output"),
        "is a file": (afile, r"is a file, not a folder; choose a new --output"),
        "parent is a file": (afile / "run", r"cannot create the run folder .*Not a directory"),
        "dangling symlink": (tmp_path / "dangling", r"a link to nothing .*choose a new --output"),
    }


@pytest.mark.parametrize("case", ["exists, not empty", "is a file", "parent is a file",
                                  "dangling symlink"])  # fmt: skip
def test_train_refuses_an_output_it_cannot_use(case, tmp_path, micro_model, refused):
    data = _reviews(tmp_path)
    output, pattern = _output_cases(tmp_path)[case]
    refused(pattern, "train", "--data", data, "--model", micro_model, "--output", output)
    assert (tmp_path / "notes.txt").read_text("utf-8") == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_train_refuses_a_read_only_output(tmp_path, micro_model, refused):
    data = _reviews(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    refused(r"cannot create the run folder|cannot write into", "train", "--data", data,
            "--model", micro_model, "--output", locked / "run")  # fmt: skip


def test_export_refuses_an_output_that_exists(tmp_path, micro_trained, refused):
    target = tmp_path / "export"
    target.mkdir()
    (target / "keep.txt").write_text("mine", "utf-8")
    refused(r"already exists and is not empty; choose a new folder", "export", micro_trained,
            "--output", target)  # fmt: skip


def test_an_engine_caller_gets_the_same_user_errors():
    with pytest.raises(UserError, match="seed must be between"):
        RunConfig(seed=2**32)
