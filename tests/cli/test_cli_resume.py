"""`workbench train --resume RUN_DIR` and the checkpoint flags, as a user types them.

The resume of a killed run itself (bitwise equal to an uninterrupted one) is proven through
this command in tests/engine/test_resume.py; here: the messages when a run cannot resume.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import run_cli

from workbench.cli import build_parser, config_from_args
from workbench.config import RunConfig


def _run_folder(folder: Path, status: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(RunConfig(data="x.csv").to_toml(), encoding="utf-8")
    if status:
        (folder / "eval_results.json").write_text(json.dumps({"status": status}))
    return folder


def test_resuming_a_completed_run_says_so_and_exits_2(tmp_path):
    run = _run_folder(tmp_path / "done", "completed")
    result = run_cli("train", "--resume", str(run))
    assert result.returncode == 2
    assert "has already completed; there is nothing to resume" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in run.iterdir()) == ["config.toml", "eval_results.json"]


def test_resuming_a_run_without_a_complete_checkpoint_says_so_and_exits_2(tmp_path):
    run = _run_folder(tmp_path / "killed")
    (run / "checkpoints" / "step-5").mkdir(parents=True)  # killed before its marker
    result = run_cli("train", "--resume", str(run))
    assert result.returncode == 2
    assert "has no complete checkpoint" in result.stderr and "train it again" in result.stderr
    assert (run / "checkpoints" / "step-5").is_dir()  # nothing touched on a refusal


def test_resuming_a_folder_that_is_not_a_run_exits_2(tmp_path):
    missing = run_cli("train", "--resume", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "plain").mkdir()
    plain = run_cli("train", "--resume", str(tmp_path / "plain"))
    assert plain.returncode == 2 and "not a Workbench run folder" in plain.stderr


def test_resume_refuses_other_settings(tmp_path):
    run = _run_folder(tmp_path / "run", "stopped")
    result = run_cli("train", "--resume", str(run), "--epochs", "3", "--no-header")
    assert result.returncode == 2
    assert "leave out --epochs, --no-header" in result.stderr


def test_checkpoint_flags_reach_the_run_config():
    args = build_parser().parse_args(
        ["train", "--data", "x.csv", "--checkpoint-every", "50", "--keep-checkpoints", "3"]
    )
    config = config_from_args(args)
    assert (config.checkpoint_every_steps, config.keep_checkpoints) == (50, 3)
    assert (RunConfig().checkpoint_every_steps, RunConfig().keep_checkpoints) == (0, 2)


def test_bad_checkpoint_flags_exit_2_naming_the_setting(tmp_path):
    result = run_cli("train", "--data", str(tmp_path / "x.csv"), "--keep-checkpoints", "0")
    assert result.returncode == 2
    assert "keep_checkpoints must be between 1 and 1000, got 0" in result.stderr
    result = run_cli("train", "--data", str(tmp_path / "x.csv"), "--checkpoint-every", "-1")
    assert result.returncode == 2
    assert "checkpoint_every_steps must be at least 0, got -1" in result.stderr
