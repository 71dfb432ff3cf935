from __future__ import annotations

import time

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt

from workbench.gui.widgets.confusion_matrix import ConfusionMatrixWidget
from workbench.gui.widgets.curve_plot import CurvePlotWidget, SeriesBuffer
from workbench.gui.widgets.dataframe_model import MAX_CELL_CHARS, DataFrameModel
from workbench.gui.widgets.probability_bars import ProbabilityBarsWidget

DISPLAY = Qt.ItemDataRole.DisplayRole


def test_dataframe_model_shape_and_cells():
    frame = pd.DataFrame({"text": ["a", "b\nc", None], "label": [1, 2, 3]})
    model = DataFrameModel(frame)
    assert (model.rowCount(), model.columnCount()) == (3, 2)
    assert model.data(model.index(0, 0)) == "a"
    assert model.data(model.index(1, 0)) == "b c"  # one line per row
    assert model.data(model.index(2, 0)) == ""
    assert model.data(model.index(2, 1)) == "3"
    assert model.headerData(1, Qt.Orientation.Horizontal) == "label"
    assert model.headerData(0, Qt.Orientation.Vertical) == "1"


def test_dataframe_model_cuts_long_text_and_keeps_it_in_the_tooltip():
    long_text = "x" * (MAX_CELL_CHARS * 3)
    model = DataFrameModel(pd.DataFrame({"text": [long_text]}))
    shown = model.data(model.index(0, 0))
    assert len(shown) == MAX_CELL_CHARS and shown.endswith("…")
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole) == long_text


def test_dataframe_model_is_lazy_on_a_large_frame(qtbot):
    from PySide6.QtWidgets import QTableView

    frame = pd.DataFrame({"text": np.arange(1_000_000).astype(str), "label": 0})
    model = DataFrameModel()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    start = time.perf_counter()
    model.set_frame(frame)
    view.show()
    qtbot.waitExposed(view)
    assert time.perf_counter() - start < 2.0
    assert model.rowCount() == 1_000_000
    assert model.data(model.index(999_999, 0)) == "999999"


def test_confusion_matrix_shows_counts_and_labels(qtbot):
    widget = ConfusionMatrixWidget()
    qtbot.addWidget(widget)
    widget.set_matrix(["cat", "dog", "bird"], [[5, 1, 0], [2, 7, 1], [0, 0, 4]])
    model = widget.model
    assert (model.rowCount(), model.columnCount()) == (3, 3)
    assert model.data(model.index(1, 0)) == "2"  # true dog, predicted cat
    assert model.data(model.index(1, 1)) == "7"
    assert model.headerData(2, Qt.Orientation.Horizontal) == "bird"
    assert model.headerData(0, Qt.Orientation.Vertical) == "cat"
    diagonal = model.data(model.index(1, 1), Qt.ItemDataRole.BackgroundRole)
    off = model.data(model.index(1, 0), Qt.ItemDataRole.BackgroundRole)
    assert diagonal.alphaF() > off.alphaF()  # colour intensity follows the share of the row
    assert "true 'dog', predicted 'cat'" in model.data(
        model.index(1, 0), Qt.ItemDataRole.ToolTipRole
    )


def test_confusion_matrix_click_emits_the_cell_and_marks_it(qtbot):
    widget = ConfusionMatrixWidget()
    qtbot.addWidget(widget)
    widget.set_matrix(["cat", "dog"], [[5, 1], [2, 7]])
    widget.show()
    qtbot.waitExposed(widget)
    cell = widget.view.visualRect(widget.model.index(1, 0))
    with qtbot.waitSignal(widget.sig_cell_clicked) as blocker:
        qtbot.mouseClick(widget.view.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    assert blocker.args == [1, 0]  # true dog, predicted cat
    widget.mark((1, 0))
    assert widget.model.data(widget.model.index(1, 0), Qt.ItemDataRole.FontRole).bold()
    assert widget.model.data(widget.model.index(0, 0), Qt.ItemDataRole.FontRole) is None
    assert widget.view.minimumWidth() > 2 * 48  # short labels: the whole matrix is shown


def test_probability_bars_sorted(qtbot):
    widget = ProbabilityBarsWidget()
    qtbot.addWidget(widget)
    widget.set_scores({"a": 0.1, "b": 0.7, "c": 0.2})
    assert [label for label, _ in widget.shown] == ["b", "c", "a"]
    widget.set_scores({"x": 1.0})
    assert widget.shown == [("x", 1.0)]


def test_series_buffer_grows():
    buffer = SeriesBuffer(capacity=2)
    for i in range(5):
        buffer.append(i, i * i)
    assert len(buffer) == 5
    assert buffer.y.tolist() == [0, 1, 4, 9, 16]


def test_curve_plot_updates_on_its_timer_not_per_point(qtbot):
    widget = CurvePlotWidget()
    qtbot.addWidget(widget)
    for step in range(1, 50):
        widget.add_train_loss(step, 1.0 / step)
    widget.add_eval(25, 0.3, 0.9)
    assert widget.train_curve.getData()[0] is None or len(widget.train_curve.getData()[0]) == 0
    qtbot.waitUntil(lambda: widget.drawn_counts()["train_loss"] == 49)  # given, not thinned
    assert widget.metric_curve.getData()[1].tolist() == [90.0]  # accuracy, drawn in percent
