"""Playground: type a text, see what the last trained model predicts, with probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.predictor_service import LoadFn, PredictorService
from workbench.gui.widgets.inline_message import InlineMessageWidget
from workbench.gui.widgets.probability_bars import ProbabilityBarsWidget

MESSAGES = {
    "no_model": "Train a model first: the playground uses the last finished run.",
    "loading": "Loading the model of {name}…",
    "ready": "Model: {name} ({labels} labels). Type a text and press Predict (Ctrl+Enter).",
    "predicting": "Predicting…",
    "empty_text": "Type a text to classify.",
    "placeholder": "Type or paste a text here, e.g. “The battery lasts all day and the screen is great.”",
}


class PlaygroundPanel(QWidget):
    sig_prediction_shown = Signal(dict)  # {"label": str, "scores": {label: prob}}

    def __init__(self, load_fn: LoadFn | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = PredictorService(load_fn, parent=self)
        self.model_source = ""
        self.last_result: dict[str, Any] = {}
        self._ready = False
        self._pending_id = 0
        self._build()
        self._update_enabled()

    def _build(self) -> None:
        self.status_label = QLabel(MESSAGES["no_model"])
        self.status_label.setWordWrap(True)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setPlaceholderText(MESSAGES["placeholder"])
        self.text_edit.setMinimumHeight(110)
        self.text_edit.setMaximumHeight(200)
        self.predict_button = QPushButton("Predict")
        self.predict_button.setProperty("primary", True)  # styled by resources/styles
        self.predict_button.setToolTip("Ctrl+Enter")
        self.predict_button.setMinimumWidth(110)
        self.message = InlineMessageWidget()
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.predict_button)
        input_box = QGroupBox("Text")
        input_layout = QVBoxLayout(input_box)
        input_layout.addWidget(self.text_edit)
        input_layout.addLayout(buttons)

        self.label_value = QLabel("—")
        self.label_value.setStyleSheet("font-size: 24px; font-weight: 600;")
        self.label_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bars = ProbabilityBarsWidget()
        result_box = QGroupBox("Prediction")
        result_layout = QVBoxLayout(result_box)
        result_layout.addWidget(self.label_value)
        result_layout.addWidget(self.bars)

        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(input_box)
        layout.addWidget(result_box)
        layout.addStretch(1)

        self.predict_button.clicked.connect(self._on_predict_button_clicked)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self.text_edit)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(self._on_predict_button_clicked)
        self.service.sig_loaded.connect(self._on_service_loaded)
        self.service.sig_predicted.connect(self._on_service_predicted)
        self.service.sig_failed.connect(self._on_service_failed)

    # ---- public API ---------------------------------------------------------------------
    def set_model(self, source: str) -> None:
        """Use the model of a finished run (or any model folder) for predictions."""
        self.model_source = str(source)
        self._ready = False
        self._update_enabled()
        self.status_label.setText(MESSAGES["loading"].format(name=Path(source).name))
        self.service.load(self.model_source)

    def is_ready(self) -> bool:
        return self._ready

    def predict(self) -> None:
        text = self.text_edit.toPlainText().strip()
        if not text:
            self.message.show_message(MESSAGES["empty_text"], "info")
            return
        self.message.show_message(MESSAGES["predicting"], "info")
        self.predict_button.setEnabled(False)
        self._pending_id = self.service.predict([text])

    def shutdown(self) -> None:
        self.service.shutdown()

    def closeEvent(self, event) -> None:  # standalone use
        self.shutdown()
        super().closeEvent(event)

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_predict_button_clicked(self) -> None:
        if self._ready:
            self.predict()

    @Slot(str, list)
    def _on_service_loaded(self, source: str, labels: list) -> None:
        if source != self.model_source:
            return
        self._ready = True
        self.status_label.setText(
            MESSAGES["ready"].format(name=Path(source).name, labels=len(labels))
        )
        self._update_enabled()

    @Slot(int, list)
    def _on_service_predicted(self, request_id: int, results: list) -> None:
        if request_id != self._pending_id or not results:
            return
        self.predict_button.setEnabled(True)
        self.message.clear_message()
        result = results[0]
        self.last_result = {"label": result["label"], "scores": dict(result["scores"])}
        self.label_value.setText(str(result["label"]))
        self.bars.set_scores(result["scores"])
        self.sig_prediction_shown.emit(self.last_result)

    @Slot(str)
    def _on_service_failed(self, message: str) -> None:
        self.message.show_message(message)
        self._update_enabled()

    def _update_enabled(self) -> None:
        self.text_edit.setEnabled(self._ready)
        self.predict_button.setEnabled(self._ready)


if __name__ == "__main__":
    import sys

    from workbench.gui.standalone import ensure_app, run_alone

    ensure_app()

    def _make() -> PlaygroundPanel:
        panel = PlaygroundPanel()
        if len(sys.argv) > 1:
            panel.set_model(sys.argv[1])
        return panel

    raise SystemExit(run_alone(_make))
