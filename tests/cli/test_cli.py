"""The `workbench` command as a user types it: train, evaluate, predict, export, and mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a child process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=dict(os.environ),
        timeout=600,
    )


def test_train_predict_evaluate_export_round_trip(reviews_csv, tmp_path):
    run_dir = tmp_path / "run"
    done = run_cli(
        "train",
        "--data",
        str(reviews_csv),
        "--output",
        str(run_dir),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--max-length",
        "32",
        "--lr",
        "2e-4",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run_dir)
    assert "step" in done.stderr and "eval at step" in done.stderr

    predicted = run_cli(
        "predict",
        str(run_dir),
        "--text",
        "a wonderful film with a warm heart",
        "--text",
        "服务太差了",
    )
    assert predicted.returncode == 0, predicted.stderr
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(lines) == 2
    assert set(lines[0]["scores"]) == {"negative", "positive"}
    assert abs(sum(lines[1]["scores"].values()) - 1) < 1e-6

    evaluated = run_cli("evaluate", str(run_dir), "--data", str(reviews_csv))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {"accuracy", "f1_macro", "loss", "report", "confusion_matrix"} <= set(metrics)

    exported = run_cli("export", str(run_dir), "--format", "hf", "--output", str(tmp_path / "hf"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "hf" / "model.safetensors").exists()


def test_train_from_a_config_file_with_a_flag_overriding_it(reviews_csv, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(
        f'data = "{reviews_csv.name}"\nepochs = 5\nbatch_size = 16\nmax_length = 32\n',
        encoding="utf-8",
    )
    code = main(
        [
            "train",
            "--config",
            str(config),
            "--epochs",
            "1",
            "--dropout",
            "0.1",
            "--output",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    saved = (tmp_path / "run" / "config.toml").read_text(encoding="utf-8")
    assert "epochs = 1\n" in saved and "batch_size = 16\n" in saved and "dropout = 0.1\n" in saved
    assert f'data = "{reviews_csv}"' in saved


def test_the_saved_config_reproduces_the_run(trained_run, tmp_path, capsys):
    from workbench.config import RunConfig

    config = RunConfig.from_toml(trained_run / "config.toml")
    config.output = str(tmp_path / "again")
    (tmp_path / "again.toml").write_text(config.to_toml(), encoding="utf-8")
    assert main(["train", "--config", str(tmp_path / "again.toml")]) == 0
    first = json.loads((trained_run / "eval_results.json").read_text())
    second = json.loads((tmp_path / "again" / "eval_results.json").read_text())
    assert first["accuracy"] == second["accuracy"] and first["loss"] == pytest.approx(
        second["loss"], abs=1e-6
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BAD_TRAIN_INPUTS = {
    "missing file": (lambda d: ["--data", str(d / "nope.csv")], "does not exist"),
    "unreadable file": (
        lambda d: ["--data", str(write(d / "x.parquet", "not parquet"))],
        "cannot read x.parquet",
    ),
    "missing column": (
        lambda d: ["--data", str(d / "ok.csv"), "--text-column", "body"],
        "no column 'body'",
    ),
    "one class": (
        lambda d: ["--data", str(write(d / "one.csv", "text,label\na,x\nb,x\n"))],
        "at least two",
    ),
    "empty text": (
        lambda d: ["--data", str(write(d / "empty.csv", "text,label\n,x\n ,y\n"))],
        "is empty",
    ),
    "unknown model": (
        lambda d: ["--data", str(d / "ok.csv"), "--model", "no-such-model"],
        "unknown model",
    ),
    "bad number": (lambda d: ["--data", str(d / "ok.csv"), "--epochs", "two"], "invalid int value"),
    "bad range": (lambda d: ["--data", str(d / "ok.csv"), "--lr", "-3"], "learning_rate must be"),
    "bad dropout": (lambda d: ["--data", str(d / "ok.csv"), "--dropout", "1.5"], "dropout must be"),
    "bad precision": (
        lambda d: ["--data", str(d / "ok.csv"), "--precision", "int3"],
        "unknown precision",
    ),
}


@pytest.mark.parametrize("case", BAD_TRAIN_INPUTS)
def test_bad_training_input_is_one_line_exit_2_and_writes_nothing(
    case, tmp_path, reviews_csv, isolated_home
):
    reviews_csv.rename(tmp_path / "ok.csv")
    make_args, message = BAD_TRAIN_INPUTS[case]
    done = run_cli("train", *make_args(tmp_path), "--output", str(tmp_path / "run"))
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    assert not (isolated_home / "runs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "{missing}", "--text", "hi"], "does not exist"),
        (["predict", "{run}"], "nothing to predict"),
        (["predict", "{run}", "--file", "{missing}"], "does not exist"),
        (["evaluate", "{run}", "--data", "{missing}"], "does not exist"),
        (["export", "{run}", "--output", "{run}/model/inner"], "outside the run's model folder"),
        (["export", "{run}", "--output", "{run}"], "not empty"),
        (["export", "{run}", "--format", "onnx", "--output", "{tmp}/x"], "invalid choice"),
        (["train", "--config", "{missing}"], "does not exist"),
    ],
)
def test_other_commands_refuse_bad_input_in_one_line(args, message, trained_run, tmp_path):
    values = {"run": str(trained_run), "missing": str(tmp_path / "missing"), "tmp": str(tmp_path)}
    done = run_cli(*[a.format(**values) for a in args])
    assert done.returncode == 2, done.stdout
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_evaluate_on_labels_the_model_never_saw_says_so(trained_run, tmp_path):
    data = write(tmp_path / "other.csv", "text,label\ngood,positive\nmeh,neutral\n")
    done = run_cli("evaluate", str(trained_run), "--data", str(data))
    assert done.returncode == 2 and "'neutral'" in done.stderr


def test_version_and_help():
    assert run_cli("--version").stdout.startswith("workbench ")
    help_text = " ".join(run_cli("train", "--help").stdout.split())
    assert "--batch-size" in help_text
    from workbench.config import GENERAL_DEFAULTS
    from workbench.engine.tasks import TASK_NAMES

    assert "peak learning rate (default 1.25e-4" in help_text
    assert f"examples per step (default {GENERAL_DEFAULTS['batch_size']}" in help_text
    assert all(name in help_text for name in TASK_NAMES)  # the task list comes from the registry


@pytest.mark.slow
def test_rotten_tomatoes_end_to_end_reaches_075_on_its_test_split(tmp_path):
    """A real public benchmark, a few thousand sentences, one epoch, default settings."""
    from public_data import rotten_tomatoes_available, rotten_tomatoes_splits

    if not rotten_tomatoes_available():
        pytest.skip("../shared/data/rotten_tomatoes is not present")
    splits = rotten_tomatoes_splits(tmp_path / "rt", train_size=3000)
    run_dir = tmp_path / "run"
    done = run_cli(
        "train",
        "--data",
        str(splits["train"]),
        "--eval-data",
        str(splits["dev"]),
        "--output",
        str(run_dir),
    )
    assert done.returncode == 0, done.stderr
    evaluated = run_cli("evaluate", str(run_dir), "--data", str(splits["test"]))
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] >= 0.75


def test_models_lists_family_size_and_tasks():
    done = run_cli("models", "default")
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout)
    assert described["family"] == "bert" and described["parameters"] == 22_713_728
    assert described["size_bytes"] > 80_000_000
    assert "text-classification" in described["tasks"]
    missing = run_cli("models", "/no/such/folder")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
