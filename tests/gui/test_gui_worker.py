"""TrainingRunner/TrainingWorker with fake train functions."""

from __future__ import annotations

from gui_fakes import FakeTrain

from workbench.engine.events import RunFinished
from workbench.errors import UserError
from workbench.gui.worker import TrainingRunner


def record(runner: TrainingRunner) -> dict[str, list]:
    seen: dict[str, list] = {"started": [], "steps": [], "evals": [], "notices": [], "finished": []}
    runner.sig_run_started.connect(seen["started"].append)
    runner.sig_step_logged.connect(seen["steps"].append)
    runner.sig_eval_finished.connect(seen["evals"].append)
    runner.sig_notice.connect(seen["notices"].append)
    runner.sig_run_finished.connect(seen["finished"].append)
    return seen


def run_to_end(qtbot, runner: TrainingRunner, config=None) -> RunFinished:
    with qtbot.waitSignal(runner.sig_run_finished, timeout=10_000) as blocker:
        runner.start(config)
    return blocker.args[0]


def test_every_event_arrives_in_order_and_the_thread_ends(qtbot):
    runner = TrainingRunner(FakeTrain(steps=200))
    seen = record(runner)
    finish = run_to_end(qtbot, runner)
    assert finish.status == "completed"
    assert [e.step for e in seen["steps"]] == list(range(1, 201))  # no point dropped
    assert len(seen["evals"]) == 40 and len(seen["started"]) == 1
    assert seen["notices"][0].message == "fake engine: no real training"
    assert not runner.is_running() and runner._thread is None


def test_an_exception_becomes_a_failed_finish_with_its_message(qtbot):
    runner = TrainingRunner(FakeTrain(steps=10, raise_at=4))
    seen = record(runner)
    finish = run_to_end(qtbot, runner)
    assert finish.status == "failed"
    assert finish.error == "RuntimeError: CUDA out of memory"
    assert finish.run_dir == "/tmp/fake-run"
    assert len(seen["steps"]) == 3 and len(seen["finished"]) == 1


def test_a_user_error_is_shown_as_its_message(qtbot):
    def bad_train(config, on_event, should_stop):
        raise UserError("data file x.csv does not exist; check the path")

    runner = TrainingRunner(bad_train)
    finish = run_to_end(qtbot, runner)
    assert finish.status == "failed"
    assert finish.error == "data file x.csv does not exist; check the path"


def test_an_engine_that_returns_without_finishing_still_finishes(qtbot):
    runner = TrainingRunner(lambda config, on_event, should_stop: None)
    finish = run_to_end(qtbot, runner)
    assert finish.status == "failed" and "without reporting" in finish.error


def test_stop_ends_the_run_and_the_runner_is_usable_again(qtbot):
    fake = FakeTrain(steps=5, wait_for_stop=True)
    runner = TrainingRunner(fake)
    with qtbot.waitSignal(runner.sig_step_logged, timeout=10_000):
        runner.start("first")
    assert runner.is_running()
    with qtbot.waitSignal(runner.sig_run_finished, timeout=10_000) as blocker:
        runner.stop()
    assert blocker.args[0].status == "stopped"
    fake.wait_for_stop = False
    assert run_to_end(qtbot, runner, "second").status == "completed"
    assert fake.configs == ["first", "second"]


def test_shutdown_during_a_run_stops_and_joins_the_thread(qtbot):
    fake = FakeTrain(steps=5, wait_for_stop=True)
    runner = TrainingRunner(fake)
    with qtbot.waitSignal(runner.sig_step_logged, timeout=10_000):
        runner.start(None)
    thread = runner._thread
    runner.shutdown()
    assert thread.isFinished()
    assert not runner.is_running() and runner._thread is None
