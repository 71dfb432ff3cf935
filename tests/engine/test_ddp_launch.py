"""Launching a run on all GPUs from one process (what the GUI does): torchrun in a
subprocess, its run's metrics.jsonl followed as events, a stop through the stop file, and a
failure without a result reported as one. `torchrun` is replaced by a small script that
writes what rank 0 would, so this runs anywhere in a second."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from pathlib import Path

import pytest
from model_folders import tiny_bert
from reviews_data import write_reviews

from workbench.config import RunConfig
from workbench.engine import events
from workbench.engine.training import launch
from workbench.errors import UserError

FAKE_TORCHRUN = textwrap.dedent(
    """
    import json, os, sys, time, tomllib
    from pathlib import Path

    args = sys.argv[1:]
    mode, config = args[0], args[args.index("--config") + 1]
    out = Path(tomllib.loads(Path(config).read_text())["output"])
    metrics = out / "metrics.jsonl"
    def write(record, partial=False):
        with open(metrics, "a") as handle:
            text = json.dumps(record) + "\\n"
            if partial:  # a line written in two pieces: the follower must wait for all
                handle.write(text[:10]); handle.flush(); time.sleep(0.3)
                text = text[10:]
            handle.write(text)
    if mode == "crash":
        print("rank 1 ran out of something", file=sys.stderr)
        sys.exit(3)
    write({"kind": "run_started", "run_dir": str(out), "total_steps": 4,
           "num_train_examples": 8, "num_eval_examples": 2, "labels": ["a", "b"],
           "device": "cuda", "precision": "bf16", "time": 1.0})
    write({"kind": "notice", "message": "training on 2 processes, one per GPU"})
    write({"kind": "step", "step": 1, "total_steps": 4, "epoch": 0.25, "loss": 0.7,
           "learning_rate": 1e-4, "examples_per_second": 9.0, "elapsed_seconds": 0.1,
           "eta_seconds": 0.3}, partial=True)
    write({"kind": "something_new", "value": 1})
    if mode == "stop":
        stop = Path(os.environ["WORKBENCH_STOP_FILE"])
        for _ in range(200):
            if stop.exists():
                break
            time.sleep(0.05)
        status = "stopped" if stop.exists() else "completed"
    else:
        status = "completed"
    write({"kind": "finished", "status": status, "run_dir": str(out),
           "metrics": {"accuracy": 0.5}, "error": None})
    """
)


@pytest.fixture
def config(tmp_path) -> RunConfig:
    model = tiny_bert(tmp_path / "model")
    data = write_reviews(tmp_path / "reviews.csv")
    return RunConfig(data=str(data), model=str(model), batch_size=8, max_length=32)


def _fake(tmp_path: Path, mode: str):
    script = tmp_path / "fake_torchrun.py"
    script.write_text(FAKE_TORCHRUN, encoding="utf-8")
    seen: list = []

    def command(arguments: list[str], processes: int) -> list[str]:
        seen.append((arguments, processes))
        return [sys.executable, str(script), mode, *arguments]

    return command, seen


def test_the_command_is_torchrun_on_this_python():
    argv = launch.torchrun_command(["--config", "run.toml"], 4)
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert argv[3:] == [
        "--standalone",
        "--nproc-per-node",
        "4",
        "-m",
        "workbench",
        "train",
        "--config",
        "run.toml",
    ]


def test_every_event_reads_back_from_its_line():
    samples = [
        events.RunStarted("r", 4, 8, 2, ["a"], "cuda", "bf16", resumed_from_step=2),
        events.StepLogged(1, 4, 0.25, 0.7, 1e-4, 9.0, 0.1, 0.3),
        events.StepSkipped(2, 4, 0.5, "the loss was nan", 1),
        events.EvalFinished(2, 0.5, {"accuracy": 0.5}),
        events.Notice("hello"),
        events.RunFinished("failed", "r", {}, "boom"),
    ]
    for event in samples:
        record = dict(events.event_to_dict(event), time=1.0)
        assert launch.event_from_dict(record) == event
    assert launch.event_from_dict({"kind": "unknown"}) is None
    assert launch.event_from_dict({"kind": "step", "step": 1}) is None  # fields missing


def test_the_follower_takes_whole_lines_only(tmp_path):
    path = tmp_path / "metrics.jsonl"
    follower = launch.MetricsFollower(path)
    assert follower.read() == []  # not there yet
    path.write_bytes(b'{"a": 1}\n{"b": ')
    assert follower.read() == [{"a": 1}]
    with open(path, "ab") as handle:
        handle.write(b'2}\nnot json\n{"c": "\xc3\xa9"}\n')
    assert follower.read() == [{"b": 2}, {"c": "é"}]
    assert follower.read() == []


def test_a_launched_run_reports_its_events(config, tmp_path):
    command, seen = _fake(tmp_path, "run")
    got: list = []
    result = launch.train_on_gpus(
        config, on_event=got.append, processes=2, command=command, poll_seconds=0.02
    )
    assert result.status == "completed" and result.metrics == {"accuracy": 0.5}
    assert [type(e) for e in got] == [
        events.RunStarted,
        events.Notice,
        events.StepLogged,
        events.RunFinished,
    ]
    assert got[2].loss == 0.7 and got[0].device == "cuda"
    ((arguments, processes),) = seen
    assert processes == 2 and arguments[0] == "--config"
    assert not Path(arguments[1]).exists()  # the scratch config is gone with the run
    assert Path(result.run_dir).is_dir() and result.run_dir == Path(got[0].run_dir)


def test_stop_reaches_the_processes_through_the_stop_file(config, tmp_path):
    command, _ = _fake(tmp_path, "stop")
    got: list = []
    result = launch.train_on_gpus(
        config,
        on_event=got.append,
        should_stop=lambda: any(isinstance(e, events.StepLogged) for e in got),
        processes=2,
        command=command,
        poll_seconds=0.02,
    )
    assert result.status == "stopped"


def test_processes_that_end_without_a_result_are_a_failed_run(config, tmp_path):
    command, _ = _fake(tmp_path, "crash")
    got: list = []
    result = launch.train_on_gpus(
        config, on_event=got.append, processes=2, command=command, poll_seconds=0.02
    )
    assert result.status == "failed"
    assert "exit code 3" in result.error and "rank 1 ran out of something" in result.error
    assert isinstance(got[-1], events.RunFinished) and got[-1].status == "failed"


def test_bad_input_is_refused_before_any_process_starts(config, tmp_path):
    command, seen = _fake(tmp_path, "run")
    with pytest.raises(UserError, match="multiple of 3"):
        launch.train_on_gpus(config, processes=3, command=command)
    with pytest.raises(UserError):
        launch.train_on_gpus(
            dataclasses.replace(config, data=str(tmp_path / "missing.csv")),
            processes=2,
            command=command,
        )
    assert seen == []
    assert launch.batch_size_problem(8, 1) is None and launch.batch_size_problem(8, 4) is None


def test_gpus_are_counted_without_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as before torch is imported
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert launch.cuda_device_count() == 0  # none visible, whatever the driver lists
