"""The app log: rotating, moved with WORKBENCH_HOME, and never a reason for the app to fail."""

from __future__ import annotations

import logging
import os

import pytest

from workbench import applog


@pytest.fixture(autouse=True)
def detached():
    yield
    applog.shutdown()


def test_the_log_rotates_and_keeps_three_old_files(tmp_path, monkeypatch):
    monkeypatch.setattr(applog, "MAX_BYTES", 2_000)
    path = applog.setup(tmp_path / "logs")
    assert path == tmp_path / "logs" / "workbench.log" and applog.log_path() == path
    for i in range(400):
        applog.logger.info("line %d %s", i, "x" * 40)
    names = sorted(p.name for p in (tmp_path / "logs").iterdir() if p.name.startswith("workbench"))
    assert names == ["workbench.log", "workbench.log.1", "workbench.log.2", "workbench.log.3"]
    assert all(p.stat().st_size <= 2_100 for p in (tmp_path / "logs").glob("workbench.log*"))
    assert "line 399" in path.read_text(encoding="utf-8")


def test_it_follows_workbench_home_and_a_second_setup_moves_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "a"))
    first = applog.setup()
    assert first == tmp_path / "a" / "logs" / "workbench.log"
    assert applog.setup() == first  # idempotent: one handler
    assert sum(isinstance(h, logging.FileHandler) for h in applog.logger.handlers) == 1
    second = applog.setup(tmp_path / "b")
    applog.logger.warning("after the move")
    assert "after the move" in second.read_text(encoding="utf-8")
    assert "after the move" not in first.read_text(encoding="utf-8")


def test_exceptions_are_logged_with_their_traceback(tmp_path):
    path = applog.setup(tmp_path)
    try:
        {}["missing"]
    except KeyError as exc:
        applog.log_exception("a test", exc)
    text = path.read_text(encoding="utf-8")
    assert "ERROR" in text and "unexpected error in a test: KeyError: 'missing'" in text
    assert "Traceback (most recent call last)" in text


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_an_unwritable_folder_loses_only_the_log(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert applog.setup(locked / "logs") is None
        applog.logger.error("goes nowhere, harmlessly")  # no handler: no exception, no output
    finally:
        locked.chmod(0o700)
    err = capsys.readouterr().err
    assert "cannot write the app log" in err and "goes nowhere" not in err
