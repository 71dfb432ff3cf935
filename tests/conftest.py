"""Shared fixtures: an isolated user folder per test, small datasets, one trained run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # The workers share the machine's cores: one thread each (and in the CLIs and children
    # they start), or OpenMP's barriers spin against each other's (on 2 cores, 14 training
    # steps took 7 s on one thread and 99 s on two while other work ran).
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # public_data: splits of ../shared/data
sys.path.insert(0, str(ROOT / "tests"))  # reviews_data: the small review datasets

from reviews_data import write_reviews  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Runs land in a fresh WORKBENCH_HOME, never in the developer's real one."""
    home = tmp_path_factory.mktemp("workbench-home")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def qt_garbage_on_gui_thread(request):
    """Tests that use Qt collect Python's cyclic garbage on the GUI thread only, as the app
    does (workbench/gui/garbage.py): a window left by an earlier test and freed by a worker
    thread's collection deadlocked Qt."""
    if "qapp" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("qapp")
    from workbench.gui.garbage import MainThreadGarbageCollector

    collector = MainThreadGarbageCollector()
    yield
    collector.stop()


@pytest.fixture
def reviews_csv(tmp_path) -> Path:
    return write_reviews(tmp_path / "reviews.csv")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One short real run on the bundled model, shared by the tests that only read it."""
    from workbench.config import RunConfig
    from workbench.engine import train

    folder = tmp_path_factory.mktemp("trained")
    data = write_reviews(folder / "reviews.csv", repeats=4)
    config = RunConfig(
        data=str(data),
        output=str(folder / "run"),
        epochs=2,
        batch_size=8,
        max_length=32,
        learning_rate=2e-4,
        log_every_steps=2,
    )
    result = train(config)
    assert result.status == "completed", result.error
    return result.run_dir
