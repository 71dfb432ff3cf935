"""The Train page during a run (curves, progress, texts), the number formats it uses, and
the Hyperparameters page's note while a run goes on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, Signal

from workbench.engine.events import EvalFinished, Notice, RunFinished, RunStarted, StepLogged
from workbench.gui.metric_format import (
    METRIC_TITLES,
    format_metric,
    format_scientific,
    metric_title,
)
from workbench.gui.panels.hyperparams import MESSAGES as HYPERPARAMS_MESSAGES
from workbench.gui.panels.hyperparams import HyperparamsPanel
from workbench.gui.panels.train import MESSAGES, TrainPanel
from workbench.gui.widgets.curve_plot import MESSAGES as PLOT_MESSAGES
from workbench.gui.widgets.curve_plot import CurvePlotWidget, nice_ceiling

BRIEF_METRICS = (
    "accuracy f1_macro f1_micro pearson spearman mse entity_f1 entity_precision "
    "entity_recall token_accuracy f1 exact_match loss perplexity"
).split()


@dataclasses.dataclass(frozen=True)
class TaskRunStarted(RunStarted):
    """RunStarted as it will be once the engine names the task and its primary metric."""

    task: str = "token-classification"
    primary_metric: str = "entity_f1"


class FakeRunner(QObject):
    sig_run_started = Signal(object)
    sig_step_logged = Signal(object)
    sig_eval_finished = Signal(object)
    sig_notice = Signal(object)
    sig_run_finished = Signal(object)
    sig_running_changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1


def step(n: int, total: int = 10, loss: float = 1.0) -> StepLogged:
    return StepLogged(n, total, n / total, loss, 1e-4, 250.0, 0.5 * n, 0.5 * (total - n))


def started(event_type=RunStarted, total: int = 10) -> RunStarted:
    return event_type("/tmp/run", total, 180, 20, ["a", "b"], "cpu", "fp32")


@pytest.fixture
def panel(qtbot):
    panel = TrainPanel()
    qtbot.addWidget(panel)
    runner = FakeRunner()
    panel.connect_runner(runner)
    panel.runner = runner
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


# ---- number formats ------------------------------------------------------------------------
def test_every_metric_has_a_title_and_one_format():
    assert set(BRIEF_METRICS) <= set(METRIC_TITLES)
    assert metric_title("entity_f1") == "Entity F1" and metric_title("f1_macro") == "Macro F1"
    assert metric_title("some_new_score") == "Some new score"
    shares = [
        n for n in BRIEF_METRICS if n not in ("pearson", "spearman", "mse", "loss", "perplexity")
    ]
    assert {format_metric(name, 0.8125) for name in shares} == {"81.2%"}
    assert format_metric("f1_macro", np.float32(0.5)) == "50.0%"
    assert format_metric("pearson", 0.91234) == "0.912"
    assert format_metric("spearman", -0.25) == "-0.250"
    assert format_metric("loss", 0.42) == "0.4200"
    assert format_metric("mse", 12.5) == "12.5000"
    assert format_metric("perplexity", 23.456) == "23.46"
    assert format_metric("accuracy", None) == format_metric("loss", float("nan")) == "—"


def test_scientific_notation_for_rates():
    assert format_scientific(1.25e-4) == "1.25e-4"
    assert format_scientific(5e-5) == "5e-5"
    assert format_scientific(0.01) == "1e-2"
    assert float(format_scientific(3.3e-6)) == 3.3e-6


def test_nice_ceiling():
    assert [nice_ceiling(v) for v in (0.43, 1.1, 5.2, 23, 0)] == [0.5, 1.2, 6, 25, 1.0]


# ---- the plot --------------------------------------------------------------------------------
def test_empty_plot_has_fixed_ranges_and_a_placeholder(qtbot):
    plot = CurvePlotWidget()
    qtbot.addWidget(plot)
    plot.resize(700, 300)
    plot.show()
    qtbot.waitExposed(plot)
    assert plot.placeholder.isVisible()
    assert plot.placeholder.text() == PLOT_MESSAGES["placeholder"]
    ranges = plot.ranges()
    assert ranges["x"][0] <= 0 and ranges["x"][1] >= 100  # steps, not 0.1 to 0.9
    assert -0.1 <= ranges["loss"][0] <= 0 and ranges["loss"][1] >= 1
    assert -8 <= ranges["metric"][0] <= 0 and 100 <= ranges["metric"][1] <= 108
    assert "Accuracy" in plot.metric_plot.getAxis("left").labelText


def test_first_point_shows_the_whole_run_from_zero(qtbot):
    plot = CurvePlotWidget()
    qtbot.addWidget(plot)
    plot.show()
    plot.set_total_steps(300)
    plot.add_train_loss(10, 5.0)
    qtbot.waitUntil(lambda: plot.drawn_counts()["train_loss"] == 1)
    ranges = plot.ranges()
    assert ranges["x"][0] <= 0 and 300 <= ranges["x"][1] <= 320
    low, high = ranges["loss"]
    assert low <= 0 and 5.0 < high <= 7.0  # not 4.6 to 5.4 around the point
    assert not plot.placeholder.isVisible()
    assert plot.train_curve.opts["symbol"] is not None  # a lone point is drawn as a dot
    plot.add_train_loss(20, 2.0)
    qtbot.waitUntil(lambda: plot.drawn_counts()["train_loss"] == 2)
    assert plot.train_curve.opts["symbol"] is None
    plot.clear()
    assert plot.placeholder.isVisible()


def test_unbounded_and_correlation_metrics_get_their_own_ranges(qtbot):
    plot = CurvePlotWidget(metric="mse")
    qtbot.addWidget(plot)
    plot.add_eval(5, None, 12.0)
    plot.refresh()
    low, high = plot.ranges()["metric"]
    assert low <= 0 and 12 < high <= 17
    assert plot.metric_plot.getAxis("left").labelText == "MSE"
    plot.set_metric("pearson")
    plot.add_eval(5, None, 0.4)
    plot.refresh()
    assert plot.ranges()["metric"][0] > -0.2 and plot.ranges()["metric"][1] >= 1
    plot.add_eval(10, None, -0.3)
    plot.refresh()
    assert plot.ranges()["metric"][0] <= -1


# ---- the Train panel during a run ------------------------------------------------------------
def test_the_second_plot_follows_the_primary_metric(panel, qtbot):
    panel.runner.sig_run_started.emit(started(TaskRunStarted))
    assert panel.plot.metric_plot.getAxis("left").labelText == "Entity F1 (%)"
    assert panel.stat_captions["metric"].text() == "Entity F1"
    metrics = {"loss": 0.5, "entity_f1": 0.7, "entity_precision": 0.75, "report": {"PER": {}}}
    panel.runner.sig_eval_finished.emit(EvalFinished(5, 0.5, metrics))
    qtbot.waitUntil(lambda: panel.plot.drawn_counts()["eval_metric"] == 1)
    assert panel.plot.metric_curve.getData()[1].tolist() == [70.0]
    assert panel.stat_labels["metric"].text() == "70.0%"
    line = panel.log.toPlainText()
    assert (
        line
        == "Evaluation at step 5 (epoch 0.50): Entity F1 70.0%, Entity precision 75.0%, Loss 0.5000"
    )
    assert "{" not in line and "report" not in line


def test_without_a_primary_metric_the_plot_shows_accuracy(panel, qtbot):
    panel.runner.sig_run_started.emit(started())
    assert panel.plot.metric_plot.getAxis("left").labelText == "Accuracy (%)"
    panel.runner.sig_eval_finished.emit(
        EvalFinished(5, 0.5, {"accuracy": 0.812, "f1_macro": 0.809})
    )
    assert "Accuracy 81.2%, Macro F1 80.9%" in panel.log.toPlainText()


def test_progress_text_is_beside_the_bar(panel):
    assert not panel.progress.isTextVisible()
    assert panel.progress_label.text() == MESSAGES["not_started"]
    panel.runner.sig_run_started.emit(started())
    panel.runner.sig_step_logged.emit(step(5))
    assert panel.progress.value() == 5 and panel.progress.maximum() == 10
    assert panel.progress_label.text() == "step 5 of 10 (50%)"


def test_after_stop_remaining_says_stopped_and_speed_is_the_average(panel, qtbot):
    panel.runner.sig_running_changed.emit(True)
    panel.runner.sig_run_started.emit(started())
    panel.runner.sig_step_logged.emit(step(4))
    assert panel.stat_labels["eta"].text() == "0:03"
    assert panel.stat_labels["speed"].text() == "250.0"
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert panel.runner.stops == 1
    panel.runner.sig_notice.emit(Notice("stopped at step 4 of 10; saving the model trained so far"))
    panel.runner.sig_running_changed.emit(False)
    finished = {"accuracy": 0.8, "train_examples_per_second": 187.25}
    panel.runner.sig_run_finished.emit(RunFinished("stopped", "/tmp/run", finished))
    assert panel.stat_labels["eta"].text() == MESSAGES["eta_finished"]["stopped"]
    assert panel.stat_labels["speed"].text() == "187.2"
    assert panel.progress_label.text() == "stopped at step 4 of 10"
    assert panel.stat_labels["metric"].text() == "80.0%"


def test_a_completed_run_has_nothing_remaining(panel):
    panel.runner.sig_run_started.emit(started())
    panel.runner.sig_step_logged.emit(step(10))
    panel.runner.sig_run_finished.emit(RunFinished("completed", "/tmp/run", {}))
    assert panel.stat_labels["eta"].text() == MESSAGES["eta_finished"]["completed"]
    assert panel.stat_labels["speed"].text() == "250.0"  # no average given: the last one stays
    assert panel.progress.value() == panel.progress.maximum() == 10


# ---- Hyperparameters while a run goes on -----------------------------------------------------
def test_hyperparams_say_changes_apply_to_the_next_run(qtbot):
    panel = HyperparamsPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.run_note.isVisible()
    panel.set_run_active(True)
    assert panel.run_note.isVisible() and panel.is_run_active()
    assert panel.run_note.text() == HYPERPARAMS_MESSAGES["run_active"]
    assert all(editor.isEnabled() for editor in panel.editors.values())
    panel.editors["epochs"].setValue(2)
    assert panel.values()["epochs"] == 2
    panel.set_run_active(False)
    assert not panel.run_note.isVisible()


def test_learning_rate_field_and_hint_use_the_same_notation(qtbot):
    panel = HyperparamsPanel()
    qtbot.addWidget(panel)
    text = panel.editors["learning_rate"].text()
    assert text == "1.25e-4"
    assert text in HYPERPARAMS_MESSAGES["hints"]["learning_rate"]
    assert panel.editors["warmup_ratio"].text() == "0.1"
    assert panel.editors["weight_decay"].text() == "0.01"
