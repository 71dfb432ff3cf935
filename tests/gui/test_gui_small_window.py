"""Every page is usable in a small window (1024×640): no label is cut, plots keep a usable size.

A page that cannot fit scrolls; what is inside a scroll area only has to fit the scrolled
content, not the viewport.
"""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from gui_fakes import FakeTrain, fake_load_predictor
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QWidget

from workbench.gui.main_window import MainWindow

SMALL = (1024, 640)
MIN_PLOT = (200, 120)  # the data area of each plot, in pixels
PAGES = ("data", "model", "hyperparams", "train", "evaluate", "playground", "export", "runs")
OTHERS_FAILING: set[str] = set()  # pages of panels being reworked for tasks that do not fit yet


def _page_param(key: str):
    if key in OTHERS_FAILING:
        return pytest.param(
            key, marks=pytest.mark.xfail(strict=False, reason="panel reworked for tasks")
        )
    return key


@pytest.fixture
def window(qtbot, small_csv, tmp_path):
    window = MainWindow(
        data_path=small_csv, train_fn=FakeTrain(steps=10), load_predictor_fn=fake_load_predictor
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=10_000)
    window.resize(*SMALL)
    qtbot.wait(20)  # the resize and the layouts happen in the event loop
    assert (window.width(), window.height()) == SMALL, "the window cannot shrink to 1024×640"
    return window


def _clip_rect(widget: QWidget, page: QWidget) -> tuple[QWidget, QRect]:
    """The ancestor that clips `widget` last (the page, or the content of a scroll area)."""
    ancestor = widget.parentWidget()
    while ancestor is not None and ancestor is not page:
        viewport_owner = ancestor.parentWidget()
        if (
            isinstance(viewport_owner, QAbstractScrollArea)
            and ancestor is viewport_owner.viewport()
        ):
            return viewport_owner, QRect()  # scrolled: only the content's own size counts
        ancestor = ancestor.parentWidget()
    return page, page.rect()


def cut_labels(page: QWidget) -> list[str]:
    """Visible labels whose text does not fit their size, or that stick out of the page."""
    problems = []
    for label in page.findChildren(QLabel):
        if not label.isVisibleTo(page) or not label.text().strip():
            continue
        name = f"{label.objectName() or type(label.parentWidget()).__name__}: {label.text()!r}"
        hint = label.sizeHint()
        if label.wordWrap():
            needed = label.heightForWidth(label.width())
            if label.height() < needed:
                problems.append(f"{name} is {label.height()} px high, needs {needed}")
        else:
            if label.width() < hint.width():
                problems.append(f"{name} is {label.width()} px wide, needs {hint.width()}")
            if label.height() < label.fontMetrics().height():
                problems.append(f"{name} is {label.height()} px high")
        _, clip = _clip_rect(label, page)
        if not clip.isNull():
            top_left = label.mapTo(page, label.rect().topLeft())
            shown = QRect(top_left, label.size())
            if not clip.contains(shown):
                problems.append(
                    f"{name} at {shown.getRect()} sticks out of the page {clip.getRect()}"
                )
    return problems


def small_plots(page: QWidget) -> list[str]:
    """Plots whose data area is below MIN_PLOT, or whose axis titles are cut."""
    problems = []
    for view in page.findChildren(pg.GraphicsView):
        if not view.isVisibleTo(page):
            continue
        for item in view.scene().items():
            if not isinstance(item, pg.PlotItem):
                continue
            box = item.getViewBox().size()
            if box.width() < MIN_PLOT[0] or box.height() < MIN_PLOT[1]:
                problems.append(
                    f"plot {item.titleLabel.text!r} is {box.width():.0f}×{box.height():.0f}"
                )
            for side in ("left", "bottom"):
                axis = item.getAxis(side)
                if not axis.isVisible() or not axis.labelText:
                    continue
                text = axis.label.boundingRect().width()  # the left label is turned on its side
                room = axis.height() if side == "left" else axis.width()
                if text > room:
                    problems.append(
                        f"axis title {axis.labelText!r} needs {text:.0f} px, has {room:.0f}"
                    )
    return problems


@pytest.mark.parametrize("key", [_page_param(key) for key in PAGES])
def test_each_page_fits_a_small_window(window, qtbot, key):
    window.show_page(key)
    page = window.stack.currentWidget()
    qtbot.waitUntil(lambda: page.isVisible())
    qtbot.wait(50)  # let the layouts and the plots' scene settle  (no sleep: the event loop runs)
    problems = cut_labels(page) + small_plots(page)
    assert problems == []


def test_the_train_page_fits_during_a_run(window, qtbot):
    window.show_page("train")
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000):
        window.start_training()
    window.train_panel.plot.refresh()
    qtbot.wait(50)
    page = window.stack.currentWidget()
    assert cut_labels(page) + small_plots(page) == []


def test_the_status_bar_fits(window):
    assert cut_labels(window.statusBar()) == []


def test_the_hyperparams_page_fits_with_its_run_note(window, qtbot):
    window.show_page("hyperparams")
    window.hyperparams_panel.set_run_active(True)
    qtbot.wait(50)
    page = window.stack.currentWidget()
    assert window.hyperparams_panel.run_note.isVisible()
    assert cut_labels(page) == []


def test_the_checks_find_a_cut_label_and_a_squeezed_plot(qtbot):
    from PySide6.QtWidgets import QVBoxLayout

    page = QWidget()
    qtbot.addWidget(page)
    layout = QVBoxLayout(page)
    cut = QLabel("a label far too long for the forty pixels it is given")
    cut.setFixedWidth(40)
    wrapped = QLabel("a wrapped label " * 20)
    wrapped.setWordWrap(True)
    wrapped.setFixedSize(120, 20)
    fine = QLabel("fits")
    plot = pg.PlotWidget()
    plot.setLabel("left", "a long axis title that cannot fit")
    plot.setFixedHeight(60)
    for widget in (cut, wrapped, fine, plot):
        layout.addWidget(widget)
    page.resize(400, 300)
    page.show()
    qtbot.waitExposed(page)
    labels = cut_labels(page)
    assert len(labels) == 2 and "forty pixels" in labels[0] and "wrapped" in labels[1]
    plots = small_plots(page)
    assert any(p.startswith("plot ") for p in plots) and any("axis title" in p for p in plots)
