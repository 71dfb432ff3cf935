"""Playground: type a text (and a second text, or a context), see what the last trained model
predicts, drawn the task's way (label and bars, entities in the text, the answer in its
context, the words for each [MASK] …).

Which boxes are shown comes from the loaded predictor (`PredictorInfo.inputs`), how the
result is drawn from its task (`task_views.view_for(task).OUTPUT_VIEW`). Predictions run on
the predictor's own thread; the slots here only read the boxes and draw results.

A generative model (its task view says `GENERATIVE = True`: causal LM, seq2seq) gets the
sampling controls beside the prompt and Generate/Stop: the continuation streams into the
output box piece by piece from the predictor's thread (`PredictorService.generate`), the
window stays live, and Stop ends it within a token. Predict stays as "Next tokens" (the
likeliest next tokens and the short greedy continuation of the task's prediction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QKeySequence, QShortcut, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import UserError
from workbench.gui import task_views
from workbench.gui.predictor_service import (
    DEFAULT_TASK,
    GeneratorLoadFn,
    LoadFn,
    PredictorInfo,
    PredictorService,
)
from workbench.gui.task_views.base import OutputView
from workbench.gui.widgets.generation_settings import GenerationSettingsWidget
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "no_model": "Train a model first: the playground uses the last finished run.",
    "loading": "Loading the model of {name}…",
    "ready": "Model: {name} · {task}{labels}. Type and press Predict (Ctrl+Enter).",
    "labels": " · {count} labels",
    "predicting": "Predicting…",
    "empty_input": "Type the {title} first.",
    "result": "Prediction",
    "input": "Input",
    "no_result": "The prediction appears here.",
    "mask": "[MASK]",
    "ready_generative": "Model: {name} · {task}. Type a prompt and press Generate (Ctrl+Enter).",
    "no_continuation": "The continuation appears here, token by token.",
    "generating": "Generating…",
    "generated": "{tokens:,} new tokens in {seconds:.1f} s ({speed:.1f} tokens/s){how}.",
    "generated_stopped": ", stopped",
    "generated_none": "The model ended the text at once (no new tokens).",
    "output": "Output",
    "settings": "Sampling",
    "predict": "Predict",
    "next_tokens": "Next tokens",
    "next_tokens_tip": "The likeliest next tokens and the short greedy continuation (Ctrl+Enter "
    "generates).",
}

ALONE_HEIGHT = 120  # the box of a model that reads one text
EDIT_HEIGHT = {"context": 150}  # with several boxes: the context is the long one
DEFAULT_HEIGHT = 70


class PlaygroundPanel(QWidget):
    sig_prediction_shown = Signal(dict)  # the prediction as drawn (the task's result dict)

    sig_generation_finished = Signal(dict)  # {text, token_ids, stopped, seconds} or {error}

    def __init__(
        self,
        load_fn: LoadFn | None = None,
        parent: QWidget | None = None,
        generator_fn: GeneratorLoadFn | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = PredictorService(load_fn, parent=self, generator_fn=generator_fn)
        self.model_source = ""
        self.generative = False
        self.last_generation: dict[str, Any] = {}
        self._generation_id = 0  # the generation whose pieces are drawn (0: none running)
        self.last_result: dict[str, Any] = {}
        self.info: PredictorInfo | None = None
        self.task = DEFAULT_TASK
        self.inputs: tuple[str, ...] = ("text",)
        self._ready = False
        self._pending_id = 0
        self._pending_inputs: dict[str, str] = {}
        self.input_edits: dict[str, QPlainTextEdit] = {}
        self.input_titles: dict[str, QLabel] = {}
        self.output_views: dict[str, OutputView] = {}
        self._build()
        self._show_inputs(self.task, self.inputs)
        self._update_enabled()

    def _build(self) -> None:
        self.status_label = QLabel(MESSAGES["no_model"])
        self.status_label.setWordWrap(True)
        self.inputs_layout = QVBoxLayout()
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("color: palette(placeholder-text);")
        self.hint_label.setVisible(False)
        self.predict_button = QPushButton("Predict")
        self.predict_button.setProperty("primary", True)  # styled by resources/styles
        self.predict_button.setToolTip("Ctrl+Enter")
        self.predict_button.setMinimumWidth(110)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setMinimumWidth(90)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setProperty("primary", True)
        self.generate_button.setToolTip("Ctrl+Enter")
        self.generate_button.setMinimumWidth(110)
        self.message = InlineMessageWidget()
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addStretch(0)
        for button in (self.predict_button, self.stop_button, self.generate_button):
            buttons.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        self.generation_settings = GenerationSettingsWidget()
        self.settings_box = QGroupBox(MESSAGES["settings"])
        QVBoxLayout(self.settings_box).addWidget(self.generation_settings)
        self.settings_box.setFixedWidth(300)
        inputs_row = QHBoxLayout()
        inputs_column = QVBoxLayout()
        inputs_column.addLayout(self.inputs_layout)
        inputs_column.addWidget(self.hint_label)
        inputs_column.addStretch(1)
        inputs_row.addLayout(inputs_column, 1)
        inputs_row.addWidget(self.settings_box, 0, Qt.AlignmentFlag.AlignTop)
        self.input_box = QGroupBox("Input")
        input_layout = QVBoxLayout(self.input_box)
        input_layout.addLayout(inputs_row)
        input_layout.addLayout(buttons)

        self.result_box = QGroupBox(MESSAGES["result"])
        # Only the current task's view is visible, so the box is as tall as that view.
        self.outputs_layout = QVBoxLayout(self.result_box)
        self.result_placeholder = QLabel(MESSAGES["no_result"])
        self.result_placeholder.setStyleSheet("color: palette(placeholder-text);")
        self.outputs_layout.addWidget(self.result_placeholder)
        # Generative models: the prompt (muted) and its continuation, streamed in.
        self.generation_output = QPlainTextEdit(readOnly=True)
        self.generation_output.setObjectName("generationOutput")
        self.generation_output.setMinimumHeight(160)
        self.generation_output.setPlaceholderText(MESSAGES["no_continuation"])
        self.generation_stats = QLabel()
        self.generation_stats.setStyleSheet("color: palette(placeholder-text);")
        self.outputs_layout.addWidget(self.generation_output)
        self.outputs_layout.addWidget(self.generation_stats)

        content = QWidget()
        content.setObjectName("playgroundContent")
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 4, 0)
        content_layout.addWidget(self.input_box)
        content_layout.addWidget(self.result_box)
        content_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        self.scroll.setStyleSheet("QScrollArea, #playgroundContent { background: transparent; }")
        self.scroll.viewport().setAutoFillBackground(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(self.scroll, 1)

        self.predict_button.clicked.connect(self._on_predict_button_clicked)
        self.generate_button.clicked.connect(self._on_generate_button_clicked)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.service.sig_loaded.connect(self._on_service_loaded)
        self.service.sig_predicted.connect(self._on_service_predicted)
        self.service.sig_failed.connect(self._on_service_failed)
        self.service.sig_piece.connect(self._on_service_piece)
        self.service.sig_generated.connect(self._on_service_generated)
        self._set_generative(False)

    # ---- inputs and outputs -------------------------------------------------------------
    def _edit(self, name: str) -> QPlainTextEdit:
        """The box of one input, made the first time it is needed."""
        if name not in self.input_edits:
            edit = QPlainTextEdit()
            edit.setObjectName(f"input-{name}")
            title = QLabel()
            title.setStyleSheet("font-weight: 600;")
            for keys in ("Ctrl+Return", "Ctrl+Enter"):
                shortcut = QShortcut(QKeySequence(keys), edit)
                shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
                shortcut.activated.connect(self._on_shortcut_activated)
            self.inputs_layout.addWidget(title)
            self.inputs_layout.addWidget(edit)
            self.input_edits[name] = edit
            self.input_titles[name] = title
        return self.input_edits[name]

    def _show_inputs(self, task: str, inputs: tuple[str, ...]) -> None:
        titles = task_views.input_titles(task)
        for name in inputs:
            edit = self._edit(name)
            title, placeholder = titles.get(name, (name.replace("_", " ").capitalize(), ""))
            edit.setPlaceholderText(placeholder)
            self.input_titles[name].setText(title)
        for name, edit in self.input_edits.items():
            shown = name in inputs
            edit.setVisible(shown)
            edit.setFixedHeight(
                ALONE_HEIGHT if len(inputs) == 1 else EDIT_HEIGHT.get(name, DEFAULT_HEIGHT)
            )
            # one box needs no title of its own: the group box carries it
            self.input_titles[name].setVisible(shown and len(inputs) > 1)
        alone = titles.get(inputs[0], ("", ""))[0] if len(inputs) == 1 else ""
        self.input_box.setTitle(alone or MESSAGES["input"])
        mask = (self.info.mask_token if self.info else None) or MESSAGES["mask"]
        hint = task_views.view_for(task).HINT.format(mask=mask)
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))

    def _output_view(self, task: str) -> OutputView:
        if task not in self.output_views:
            view = task_views.view_for(task).OUTPUT_VIEW()
            view.setVisible(False)
            self.output_views[task] = view
            self.outputs_layout.addWidget(view)
        return self.output_views[task]

    @property
    def output_view(self) -> OutputView:
        return self._output_view(self.task)

    @property
    def text_edit(self) -> QPlainTextEdit:
        return self._edit("text")

    @property
    def pair_edit(self) -> QPlainTextEdit:
        return self._edit("text_pair")

    @property
    def context_edit(self) -> QPlainTextEdit:
        return self._edit("context")

    @property
    def label_value(self) -> QLabel:
        return self.output_view.label_value  # type: ignore[attr-defined]  # classification

    @property
    def bars(self):
        return self.output_view.bars  # type: ignore[attr-defined]  # classification, multi-label

    # ---- public API ---------------------------------------------------------------------
    def set_model(self, source: str) -> None:
        """Use the model of a finished run (or any model folder) for predictions."""
        self.model_source = str(source)
        self._ready = False
        self._generation_id = 0  # a running generation ends (the service stops it)
        self._update_enabled()
        self.message.clear_message()
        self.status_label.setText(MESSAGES["loading"].format(name=Path(source).name))
        self.service.load(self.model_source)

    def is_ready(self) -> bool:
        return self._ready

    def shown_inputs(self) -> tuple[str, ...]:
        return tuple(name for name in self.inputs if not self.input_edits[name].isHidden())

    def predict(self) -> None:
        if not self._ready:
            self.message.show_message(MESSAGES["no_model"], "info")
            return
        titles = task_views.input_titles(self.task)
        values = {name: self._edit(name).toPlainText().strip() for name in self.inputs}
        for name in self.inputs:
            if not values[name]:
                title = titles.get(name, (name, ""))[0].lower()
                self.message.show_message(MESSAGES["empty_input"].format(title=title), "info")
                self._edit(name).setFocus()
                return
        self.message.show_message(MESSAGES["predicting"], "info")
        self.predict_button.setEnabled(False)
        self._pending_inputs = values
        self._pending_id = self.service.predict({k: [v] for k, v in values.items()})

    def is_generating(self) -> bool:
        return bool(self._generation_id)

    def generate(self) -> bool:
        """Stream the continuation of the prompt with the sampling controls' settings; False
        (and a message) when nothing can start."""
        if not self._ready or not self.generative or self._generation_id:
            return False
        prompt = self.text_edit.toPlainText()
        if not prompt.strip():
            title = task_views.input_titles(self.task).get("text", ("prompt", ""))[0].lower()
            self.message.show_message(MESSAGES["empty_input"].format(title=title), "info")
            self.text_edit.setFocus()
            return False
        try:
            settings = self.generation_settings.settings()
        except UserError as exc:
            self.message.show_message(str(exc))
            return False
        self.message.show_message(MESSAGES["generating"], "info")
        self.generation_stats.setText("")
        self.last_generation = {}
        self._streamed = ""
        self.generation_output.clear()
        if getattr(task_views.view_for(self.task), "ECHO_PROMPT", True):  # a continuation
            muted = QTextCharFormat()
            muted.setForeground(QColor(self.palette().placeholderText().color()))
            self.generation_output.textCursor().insertText(prompt, muted)
        self._generation_id = self.service.generate(prompt, settings)
        self._update_enabled()
        self.result_placeholder.setVisible(False)
        self.generation_output.setVisible(True)
        return True

    def stop_generation(self) -> None:
        if self._generation_id:
            self.stop_button.setEnabled(False)
            self.service.stop_generation()

    def generated_text(self) -> str:
        """The continuation shown so far (without the prompt)."""
        return self._streamed

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

    @Slot()
    def _on_shortcut_activated(self) -> None:
        if self.generative:
            self.generate()
        elif self._ready:
            self.predict()

    @Slot()
    def _on_generate_button_clicked(self) -> None:
        self.generate()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        self.stop_generation()

    @Slot(int, str)
    def _on_service_piece(self, request_id: int, piece: str) -> None:
        if request_id != self._generation_id or not piece:
            return
        self._streamed += piece
        cursor = self.generation_output.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(piece, QTextCharFormat())
        bar = self.generation_output.verticalScrollBar()
        bar.setValue(bar.maximum())

    @Slot(int, dict)
    def _on_service_generated(self, request_id: int, result: dict) -> None:
        if request_id != self._generation_id:
            return
        self._generation_id = 0
        self.last_generation = dict(result)
        self._update_enabled()
        if "error" in result:
            self.message.show_message(str(result["error"]))
        else:
            self.message.clear_message()
            tokens = len(result.get("token_ids") or [])
            seconds = float(result.get("seconds") or 0.0)
            how = MESSAGES["generated_stopped"] if result.get("stopped") else ""
            if tokens:
                speed = tokens / seconds if seconds > 0 else 0.0
                text = MESSAGES["generated"].format(
                    tokens=tokens, seconds=seconds, speed=speed, how=how
                )
            else:
                text = MESSAGES["generated_none"]
            self.generation_stats.setText(text)
        self.sig_generation_finished.emit(self.last_generation)

    @Slot(object)
    def _on_service_loaded(self, info: PredictorInfo) -> None:
        if info.source != self.model_source:
            return
        self.info = info
        self.task = info.task
        self.inputs = tuple(info.inputs) or ("text",)
        self._set_generative(bool(getattr(task_views.view_for(self.task), "GENERATIVE", False)))
        self._show_inputs(self.task, self.inputs)
        view = self._output_view(self.task)
        view.set_info(info)
        view.clear()
        for other in self.output_views.values():
            other.setVisible(False)
        self.result_placeholder.setVisible(not self.generative)  # the output box says it
        self.last_result = {}
        self._ready = True
        title = task_views.view_for(self.task).TITLE
        if task_views.view_for(self.task) is task_views.GENERIC:
            title = self.task
        labels = MESSAGES["labels"].format(count=len(info.labels)) if info.labels else ""
        ready = MESSAGES["ready_generative" if self.generative else "ready"]
        self.status_label.setText(
            ready.format(name=Path(info.source).name, task=title, labels=labels)
        )
        self._update_enabled()

    @Slot(int, list)
    def _on_service_predicted(self, request_id: int, results: list) -> None:
        if request_id != self._pending_id:
            return
        self.predict_button.setEnabled(self._ready)
        self.message.clear_message()
        if not results:
            return
        result = results[0] if isinstance(results[0], dict) else {"value": results[0]}
        self.last_result = dict(result)
        self.result_placeholder.setVisible(False)
        self.output_view.setVisible(True)
        self.output_view.show_result(result, self._pending_inputs)
        self.scroll.ensureWidgetVisible(self.result_box, 0, 0)
        self.sig_prediction_shown.emit(self.last_result)

    @Slot(str)
    def _on_service_failed(self, message: str) -> None:
        self.message.show_message(message)
        self._update_enabled()

    def _set_generative(self, generative: bool) -> None:
        """Show the sampling controls, Generate/Stop and the streamed output, or not."""
        self.generative = generative
        self._streamed = ""
        self.settings_box.setVisible(generative)
        self.generate_button.setVisible(generative)
        self.stop_button.setVisible(generative)
        self.generation_output.setVisible(generative)
        self.generation_output.clear()
        self.generation_stats.setText("")
        self.generation_stats.setVisible(generative)
        self.predict_button.setText(MESSAGES["next_tokens" if generative else "predict"])
        self.predict_button.setToolTip(MESSAGES["next_tokens_tip"] if generative else "Ctrl+Enter")
        self.predict_button.setProperty("primary", not generative)
        self.predict_button.style().unpolish(self.predict_button)
        self.predict_button.style().polish(self.predict_button)
        self.result_box.setTitle(MESSAGES["output" if generative else "result"])

    def _update_enabled(self) -> None:
        running = bool(self._generation_id)
        for edit in self.input_edits.values():
            edit.setEnabled(self._ready)
        self.predict_button.setEnabled(self._ready and not running)
        self.generate_button.setEnabled(self._ready and not running)
        self.stop_button.setEnabled(running)


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
