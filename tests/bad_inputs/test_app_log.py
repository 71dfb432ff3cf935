"""The catalogue, the app log from the CLI: what `workbench train` refused, a run that failed
and an unexpected error land in WORKBENCH_HOME/logs/workbench.log (the GUI writes the same
file), so a user who reports a problem can send one file; the terminal gets one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench import applog
from workbench.engine.training import run as run_module


def _app_log() -> str:
    return (applog.log_dir() / applog.LOG_NAME).read_text(encoding="utf-8")


def test_a_refused_train_is_in_the_app_log(tmp_path, micro_model, isolated_home):
    # The real console entry point: a child process with this test's WORKBENCH_HOME.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "train",
            "--data",
            str(tmp_path / "nope.csv"),
            "--model",
            str(micro_model),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    log = _app_log()
    assert "INFO MainThread workbench: workbench train" in log
    assert f"WARNING MainThread workbench: workbench train refused: data file {tmp_path}" in log
    assert "nope.csv does not exist; check the path" in log
    assert not (isolated_home / "runs").exists()


def test_a_run_that_fails_is_in_the_app_log_with_its_traceback(
    tmp_path, micro_model, cli, monkeypatch
):
    def broken_fit(*args, **kwargs):
        raise RuntimeError("a bug deep in training")

    monkeypatch.setattr(run_module, "fit", broken_fit)
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"r {i},{i % 2}\n" for i in range(20)), "utf-8")
    result = cli("train", "--data", data, "--model", micro_model, "--output", tmp_path / "run")
    assert result.code == 1
    assert "training failed: RuntimeError: a bug deep in training" in result.err
    assert "Traceback" not in result.err
    log = _app_log()
    assert f"run started: {tmp_path / 'run'}" in log
    assert "ERROR MainThread workbench: unexpected error in run" in log
    assert 'raise RuntimeError("a bug deep in training")' in log  # the traceback
    assert "run failed:" in log and "RuntimeError: a bug deep in training" in log


def test_an_unexpected_error_is_one_line_with_the_logs_place(tmp_path, cli, monkeypatch):
    def broken_prepare(config, on_event=None):
        raise KeyError("nobody expected this")

    monkeypatch.setattr(run_module, "prepare", broken_prepare)
    result = cli("train", "--data", tmp_path / "x.csv")
    assert result.code == 1 and "Traceback" not in result.err
    [line] = result.err.splitlines()
    assert line.startswith("workbench: unexpected error (KeyError: 'nobody expected this')")
    assert str(applog.log_dir() / applog.LOG_NAME) in line
    log = _app_log()
    assert "unexpected error in workbench train: KeyError" in log and "Traceback" in log


@pytest.mark.parametrize(
    "command", [["models", "/nowhere"], ["predict", "/nowhere", "--text", "a"]]
)
def test_other_commands_log_their_refusals_too(command, cli):
    assert cli(*command).code == 2
    assert f"workbench {command[0]} refused:" in _app_log()
