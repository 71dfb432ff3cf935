"""Helpers for the bad-input catalogue: a micro model, the CLI in-process, and a snapshot that
proves a refused input wrote nothing.

The micro BERT (a 3,000-token vocab.txt, 16 hidden units) loads in milliseconds, so the
catalogue's dozens of refusals each cost a fraction of a second; the model is not the point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from model_folders import LABELS, TINY, tiny_state
from refusals import Result, assert_refused, snapshot
from safetensors.torch import save_file

from workbench import applog, runs
from workbench.cli import main
from workbench.engine.models.registry import default_model_path

MICRO_VOCAB = 3000


def micro_bert(folder: Path, trained: bool = False) -> Path:
    """A tiny random BERT with the first 3,000 entries of the bundled vocab.txt (characters and
    the commonest words); `trained=True` makes it a two-class Workbench classifier."""
    folder.mkdir(parents=True)
    source = default_model_path()
    vocab = (source / "vocab.txt").read_text("utf-8").splitlines()[:MICRO_VOCAB]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", "utf-8")
    shutil.copyfile(source / "tokenizer_config.json", folder / "tokenizer_config.json")
    config = {**TINY, "vocab_size": MICRO_VOCAB}
    if trained:
        config["architectures"] = ["BertForSequenceClassification"]
        config["id2label"] = {str(i): label for i, label in enumerate(LABELS)}
        config["label2id"] = {label: i for i, label in enumerate(LABELS)}
        config["workbench"] = {
            "task": "text-classification",
            "meta": {"labels": LABELS},
            "max_length": 32,
        }
    (folder / "config.json").write_text(json.dumps(config), "utf-8")
    save_file(tiny_state(config, trained), str(folder / "model.safetensors"))
    return folder


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory) -> Path:
    return micro_bert(tmp_path_factory.mktemp("micro") / "model")


@pytest.fixture(scope="session")
def micro_trained(tmp_path_factory) -> Path:
    return micro_bert(tmp_path_factory.mktemp("micro") / "trained", trained=True)


@pytest.fixture
def cli(capsys):
    """`workbench ARGS…` in this process (the console script's own `main`): exit code and output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run
    applog.shutdown()  # the CLI set up the app log in this test's WORKBENCH_HOME


@pytest.fixture
def refused(cli, tmp_path, isolated_home):
    """Run the CLI, check it refused with `pattern`, and that nothing under tmp_path or the
    user's Workbench folder was created, changed or left half-written (no staging folders);
    only the app log (WORKBENCH_HOME/logs) says what the user was told."""
    applog.log_dir().mkdir(parents=True)  # there before the first snapshot
    logs = str(applog.log_dir())

    def written() -> dict[str, tuple]:
        found = snapshot(tmp_path, isolated_home)
        return {k: v for k, v in found.items() if not k.startswith(logs)}

    def check(pattern: str, *argv: str) -> str:
        before = written()
        line = assert_refused(cli(*argv), pattern)
        assert written() == before
        assert not runs.default_runs_dir().exists() or not any(runs.default_runs_dir().iterdir())
        return line

    return check
