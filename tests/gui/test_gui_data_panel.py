from __future__ import annotations

import pandas as pd
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from workbench import engine
from workbench.gui.panels.data import MESSAGES, DataPanel


def make_panel(qtbot) -> DataPanel:
    panel = DataPanel()
    qtbot.addWidget(panel)
    return panel


def load(qtbot, panel: DataPanel, path) -> None:
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        panel.open_file(path)


def test_loads_csv_guesses_columns_and_counts_labels(qtbot, small_csv):
    panel = make_panel(qtbot)
    load(qtbot, panel, small_csv)
    assert panel.text_combo.currentText() == "text"
    assert panel.label_combo.currentText() == "label"
    assert panel.preview_model.rowCount() == 200
    assert panel.counts() == {"negative": 100, "positive": 100}
    table = panel.counts_table
    assert table.rowCount() == 2
    assert {table.item(r, 0).text() for r in range(2)} == {"negative", "positive"}
    assert table.item(0, 1).text() == "100"
    assert panel.problem() is None
    assert panel.message.kind != "error"
    assert panel.config_values() == {
        "data": str(small_csv),
        "eval_data": None,
        "header": "auto",
        "text_column": "text",
        "text_pair_column": None,
        "label_column": "label",
        "question_column": None,
        "context_column": None,
        "answer_column": None,
        "prompt_column": None,
        "response_column": None,
        "source_column": None,
        "target_column": None,
    }


def test_open_button_uses_the_dialog_and_remembers_the_folder(qtbot, small_csv, monkeypatch):
    from workbench.gui import settings as ui_settings

    asked = []
    monkeypatch.setattr(
        DataPanel,
        "choose_file",
        staticmethod(lambda parent, title, folder: asked.append(folder) or str(small_csv)),
    )
    panel = make_panel(qtbot)
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert panel.path == str(small_csv)
    assert ui_settings.settings().value(ui_settings.KEY_DATA_FOLDER) == str(small_csv.parent)


def test_single_class_label_column_is_an_inline_error(qtbot, tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a b", "c d", "e f"], "label": ["x", "x", "x"]}).to_csv(
        path, index=False
    )
    panel = make_panel(qtbot)
    load(qtbot, panel, path)
    assert panel.message.kind == "error"
    assert "only one class" in panel.message.text()
    assert panel.problem() == panel.message.text()


def test_switching_the_label_column_recounts(qtbot, tmp_path):
    path = tmp_path / "two.csv"
    pd.DataFrame(
        {
            "text": ["a b", "c d", "e f", "g h"],
            "label": ["x", "y", "x", "y"],
            "source": ["web", "web", "web", "web"],
        }
    ).to_csv(path, index=False)
    panel = make_panel(qtbot)
    load(qtbot, panel, path)
    assert panel.problem() is None
    panel.label_combo.setCurrentText("source")
    qtbot.waitUntil(lambda: panel.counts() == {"web": 4})  # counted off the GUI thread
    assert "only one class" in panel.message.text()
    panel.label_combo.setCurrentText("text")
    panel.text_combo.setCurrentText("text")
    assert panel.message.text() == MESSAGES["same_column"].format(first="text", second="label")


def test_file_without_a_label_column_says_so(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "suggest_task", lambda frame: None)  # keep text classification
    path = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["a", "b"]}).to_csv(path, index=False)
    panel = make_panel(qtbot)
    load(qtbot, panel, path)
    assert panel.message.kind == "error"
    assert panel.message.text() == MESSAGES["no_role"].format(
        role="label", task="Text classification", needed="a text and a label column"
    )


def test_missing_column_by_name_is_an_inline_error(qtbot, small_csv):
    panel = make_panel(qtbot)
    load(qtbot, panel, small_csv)
    panel.set_columns("text", "sentiment")
    assert panel.message.kind == "error"
    assert "no column 'sentiment'" in panel.message.text()


def test_bad_file_shows_the_engine_message(qtbot, tmp_path):
    path = tmp_path / "table.docx"
    path.write_text("not really")
    panel = make_panel(qtbot)
    with qtbot.waitSignal(panel.sig_data_failed, timeout=10_000) as blocker:
        panel.open_file(path)
    assert "unsupported file type" in blocker.args[0]
    assert panel.message.kind == "error" and panel.message.text() == blocker.args[0]
    assert panel.open_button.isEnabled()


def test_drop_a_file_onto_the_panel(qtbot, small_csv):
    panel = make_panel(qtbot)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_csv))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        panel.dropEvent(event)
    assert panel.path == str(small_csv)


def test_eval_file_is_checked_for_the_columns(qtbot, small_csv, tmp_path, monkeypatch):
    other = tmp_path / "eval.csv"
    pd.DataFrame({"sentence": ["a"], "label": ["x"]}).to_csv(other, index=False)
    panel = make_panel(qtbot)
    load(qtbot, panel, small_csv)
    monkeypatch.setattr(DataPanel, "choose_file", staticmethod(lambda *a: str(other)))
    with qtbot.waitSignal(panel.sig_eval_checked, timeout=10_000):
        qtbot.mouseClick(panel.eval_button, Qt.MouseButton.LeftButton)
    assert panel.config_values()["eval_data"] == str(other)
    assert "no column 'text'" in panel.message.text()
    with qtbot.waitSignal(panel.sig_eval_checked):
        qtbot.mouseClick(panel.eval_clear_button, Qt.MouseButton.LeftButton)
    assert panel.config_values()["eval_data"] is None
    assert panel.problem() is None
