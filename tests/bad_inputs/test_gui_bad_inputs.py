"""The catalogue, through the GUI: bad data files chosen in the Data panel, bad columns, a
broken model folder chosen on the Model page, settings the widgets do or do not let through,
and a runs folder that cannot be written. Each case shows what is wrong and how to fix it
(inline on its page, and in the dialog Train opens), and writes nothing: no run folder, no
staging folder, nothing changed under the test's folders or WORKBENCH_HOME. The window is the
real one with the real engine (refusals come before any training)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from model_folders import BROKEN, tiny_bert  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402
from refusals import snapshot  # noqa: E402

from workbench import applog, runs  # noqa: E402
from workbench.gui.panels.data import MESSAGES as DATA_MESSAGES  # noqa: E402

ROWS = [
    (f"review number {i} is {'fine' if i % 2 else 'poor'}", "pos" if i % 2 else "neg")
    for i in range(40)
]
TIMEOUT = 60_000


@pytest.fixture(autouse=True)
def gui_settings(qapp, tmp_path_factory):
    """Settings of this test's own (outside tmp_path: remembering a folder is not a write the
    snapshot should see); background tasks joined before the next test."""
    folder = tmp_path_factory.mktemp("gui-settings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    QCoreApplication.setOrganizationName("WorkbenchBadInputs")
    QCoreApplication.setApplicationName(f"WorkbenchBadInputs-{os.getpid()}")
    QSettings().clear()
    yield
    from workbench.gui import predictor_service, tasks

    predictor_service.shutdown_all()
    tasks.wait_for_tasks()
    applog.shutdown()


@pytest.fixture
def good_csv(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    pd.DataFrame(ROWS, columns=["text", "label"]).to_csv(path, index=False)
    return path


def open_window(qtbot, data: Path):
    """The main window (real engine) with `data` opened if it is a file; dialogs are
    recorded instead of shown."""
    from workbench.gui.main_window import MainWindow

    window = MainWindow(data_path=data)
    qtbot.addWidget(window)
    window.dialogs = []
    window.train_panel.show_error = lambda parent, title, text: window.dialogs.append((title, text))
    window.show()
    settle(qtbot, window)
    return window


@pytest.fixture
def window(qtbot, good_csv):
    """Good data open: a user who then chooses a bad column, model or setting."""
    window = open_window(qtbot, good_csv)
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=TIMEOUT)
    settle(qtbot, window)
    assert window.data_panel.problem() is None
    return window


@pytest.fixture
def empty_window(qtbot, tmp_path):
    """No data open yet (a first start with no sample file found)."""
    window = open_window(qtbot, tmp_path / "no-file-yet")
    assert window.data_panel.frame() is None
    return window


def settle(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.data_panel.is_busy() and not window.model_panel.is_describing(),
        timeout=TIMEOUT,
    )


@pytest.fixture
def nothing_written(tmp_path, isolated_home):
    """Check that what follows writes nothing under tmp_path or WORKBENCH_HOME (the app log
    aside) and leaves no run folder."""
    applog.log_dir().mkdir(parents=True, exist_ok=True)
    logs = str(applog.log_dir())

    def written() -> dict[str, tuple]:
        return {
            k: v for k, v in snapshot(tmp_path, isolated_home).items() if not k.startswith(logs)
        }

    state: dict = {}

    def start() -> None:
        state["before"] = written()

    def check() -> None:
        assert written() == state["before"]
        runs_dir = runs.default_runs_dir()
        assert not runs_dir.is_dir() or not any(runs_dir.iterdir())

    return start, check


def press_train(qtbot, window) -> tuple[str, str]:
    """Press Train; the one dialog it opens (the GUI's own check, or the engine's refusal
    at the start of the run), and no run left behind."""
    count = len(window.dialogs)
    started = window.start_training()
    if started:
        with qtbot.waitSignal(window.runner.sig_run_finished, timeout=TIMEOUT) as finished:
            pass
        assert finished.args[0].status == "failed"
    assert len(window.dialogs) == count + 1, window.dialogs
    return window.dialogs[-1]


def choose_data(qtbot, window, path: Path) -> str:
    """Choose `path` in the Data panel; returns the panel's inline message."""
    panel = window.data_panel
    panel.open_file(path)
    settle(qtbot, window)
    return "" if panel.message.isHidden() else panel.message.text()


def _write(folder: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding, newline="")
    return path


CSV = "text,label\n" + "".join(f"{t},{label}\n" for t, label in ROWS)
DATA_CASES = {
    "missing": (lambda f: f / "nope.csv", r"nope\.csv does not exist; check the path"),
    "empty": (lambda f: _write(f, "empty.csv", ""), r"empty\.csv has no rows; add examples"),
    "header only": (
        lambda f: _write(f, "head.csv", "text,label\n"),
        r"head\.csv has no rows; add examples",
    ),
    "binary": (
        lambda f: _write(f, "bin.csv", bytes(range(256)) * 8),
        r"it is binary, not UTF-8 text; save it as UTF-8",
    ),
    "UTF-16 with BOM": (
        lambda f: _write(f, "u16.csv", CSV, "utf-16"),
        r"it is UTF-16 text \(it starts with a UTF-16 byte-order mark\), not UTF-8 text; save",
    ),
    "a folder without class folders": (
        lambda f: (f / "reviews").mkdir() or f / "reviews",
        r"has no sub-folders; it needs one sub-folder",
    ),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_a_bad_data_file_is_shown_inline_and_train_refuses_it(
    case, qtbot, empty_window, tmp_path, nothing_written
):
    window = empty_window
    make, pattern = DATA_CASES[case]
    path = make(tmp_path)
    start, check = nothing_written
    start()
    inline = choose_data(qtbot, window, path)
    assert re.search(pattern, inline), inline  # what is wrong with it, and what to do
    assert window.data_panel.message.kind == "error"
    title, text = press_train(qtbot, window)
    assert text == window.data_panel.problem() == DATA_MESSAGES["no_data"]
    check()


@pytest.mark.parametrize("case", ["missing", "binary", "UTF-16 with BOM"])
def test_a_bad_file_chosen_over_a_good_one_keeps_the_good_one_and_says_why(
    case, qtbot, window, good_csv, tmp_path, nothing_written
):
    make, pattern = DATA_CASES[case]
    path = make(tmp_path)
    start, check = nothing_written
    start()
    inline = choose_data(qtbot, window, path)
    assert re.search(pattern, inline), inline
    # The file shown (and trained on, if Train is pressed) is still the good one.
    assert window.data_panel.path == str(good_csv)
    assert window.data_panel.config_values()["data"] == str(good_csv)
    check()


def test_a_column_asked_for_by_name_that_is_missing_is_an_inline_error(
    qtbot, window, nothing_written
):
    start, check = nothing_written
    start()
    window.data_panel.set_columns("text", "sentiment")  # as a saved setup or a config names it
    message = window.data_panel.message.text()
    assert message == "reviews.csv has no column 'sentiment'; pick one of: text, label."
    assert window.data_panel.label_column() == "label"  # the columns that exist stay chosen
    check()


def test_a_file_without_a_label_column_is_an_inline_error_and_train_refuses(
    qtbot, window, tmp_path, nothing_written, monkeypatch
):
    from workbench import engine

    monkeypatch.setattr(engine, "suggest_task", lambda frame: None)  # stay on classification
    path = tmp_path / "texts.csv"
    pd.DataFrame({"text": [t for t, _ in ROWS]}).to_csv(path, index=False)
    start, check = nothing_written
    start()
    inline = choose_data(qtbot, window, path)
    assert inline == DATA_MESSAGES["no_role"].format(
        role="label", task="Text classification", needed="a text and a label column"
    )
    title, text = press_train(qtbot, window)
    assert text == inline
    check()


def test_one_class_only_is_an_inline_error_and_train_refuses(
    qtbot, window, tmp_path, nothing_written
):
    path = tmp_path / "one.csv"
    pd.DataFrame({"text": [t for t, _ in ROWS], "label": ["pos"] * len(ROWS)}).to_csv(
        path, index=False
    )
    start, check = nothing_written
    start()
    inline = choose_data(qtbot, window, path)
    assert "has only one class ('pos')" in inline
    title, text = press_train(qtbot, window)
    assert "only one class" in text
    check()


@pytest.mark.parametrize("case", ["config not JSON", "config is a list", "zero heads"])
def test_a_model_folder_with_a_broken_config_is_refused_on_the_model_page(
    case, qtbot, window, tmp_path, nothing_written
):
    folder = tiny_bert(tmp_path / "model")
    breaker, expected, names = BROKEN[case]
    breaker(folder)
    start, check = nothing_written
    start()
    before = window.model_panel.model_name
    window.model_panel.set_model(folder)
    settle(qtbot, window)
    message = window.model_panel.message.text()
    assert expected in message and names in message, message
    assert window.model_panel.message.kind == "error"
    assert window.model_panel.model_name == before  # the last good model stays
    check()


@pytest.mark.parametrize("case", ["truncated safetensors", "empty safetensors"])
def test_a_model_folder_with_broken_weights_is_refused_when_train_is_pressed(
    case, qtbot, window, tmp_path, nothing_written
):
    folder = tiny_bert(tmp_path / "model")
    breaker, expected, names = BROKEN[case]
    breaker(folder)
    start, check = nothing_written
    start()
    window.model_panel.set_model(folder)
    settle(qtbot, window)
    message = window.model_panel.message
    shown = "" if message.isHidden() else message.text()  # (its page is not the one shown)
    if window.model_panel.model_name == str(folder):  # the header was readable: train checks
        title, text = press_train(qtbot, window)
        assert expected in text and names in text, text
        assert "Traceback" not in text
    else:  # refused at once, on the Model page
        assert expected in shown and names in shown, shown
    check()


def test_the_spin_boxes_do_not_let_absurd_numbers_through(window):
    editors = window.hyperparams_panel.editors
    for name, low in (("epochs", 1), ("batch_size", 1), ("max_length", 8)):
        editors[name].setValue(0)
        assert editors[name].value() == low, name  # clamped: 0 cannot be typed in
        editors[name].setValue(-5)
        assert editors[name].value() == low, name
    editors["epochs"].setValue(10**9)
    assert editors["epochs"].value() == 1000  # the widget's ceiling, not 7·10⁹ steps
    editors["seed"].setValue(-1)
    assert editors["seed"].value() == 0


@pytest.mark.parametrize(
    "rate, pattern",
    [
        ("abc", r"Learning rate must be a number like 1e-4 or 5e-5, got 'abc'"),
        ("0", r"^Learning rate must be greater than 0\.0 and at most 1\.0, got 0\.0"),
        ("-1e-4", r"^Learning rate must be greater than 0\.0 and at most 1\.0, got -0\.0001"),
        ("nan", r"^Learning rate must be a number, got nan"),
    ],
)
def test_a_bad_learning_rate_is_an_inline_hint_and_train_refuses(
    rate, pattern, qtbot, window, nothing_written
):
    start, check = nothing_written
    start()
    window.hyperparams_panel.editors["learning_rate"].setText(rate)
    problem = window.hyperparams_panel.validate()
    assert problem and re.search(pattern, problem), problem
    assert window.hyperparams_panel.message.text() == problem
    title, text = press_train(qtbot, window)
    assert text == problem
    check()


def test_a_runs_folder_that_is_a_file_is_refused_with_what_to_do(
    qtbot, window, isolated_home, nothing_written
):
    runs_dir = runs.default_runs_dir()
    if runs_dir.is_dir():
        shutil.rmtree(runs_dir)
    runs_dir.parent.mkdir(parents=True, exist_ok=True)
    runs_dir.write_text("not a folder", "utf-8")
    start, check = nothing_written
    start()
    title, text = press_train(qtbot, window)
    assert text.startswith(f"cannot create a run folder in {runs_dir} (")
    assert "set WORKBENCH_HOME to one" in text and "Traceback" not in text
    assert runs_dir.read_text("utf-8") == "not a folder"
    check()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_runs_folder_is_refused_with_what_to_do(
    qtbot, window, isolated_home, nothing_written
):
    runs_dir = runs.default_runs_dir()
    runs_dir.mkdir(parents=True, exist_ok=True)
    runs_dir.chmod(0o500)
    try:
        start, check = nothing_written
        start()
        title, text = press_train(qtbot, window)
        assert text.startswith(f"cannot create a run folder in {runs_dir} (Permission denied)")
        check()
    finally:
        runs_dir.chmod(0o700)
