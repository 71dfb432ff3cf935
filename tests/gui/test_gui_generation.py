"""The Playground's streamed generation (with a fake generator: no model, no torch): pieces
arrive one by one while the window stays live, Generate is off while it runs, Stop ends it
within a token or two, and the sampling controls reach the engine's GenerationSettings."""

from __future__ import annotations

import threading

import pytest
import task_view_fakes as fakes
from PySide6.QtCore import Qt

from workbench.errors import UserError
from workbench.gui.panels.playground import PlaygroundPanel
from workbench.gui.widgets.generation_settings import parse_stops

LEFT = Qt.MouseButton.LeftButton


class FakeGeneration:
    """Like the engine's Generation: iterate for pieces; `text` and `token_ids` after."""

    def __init__(self, owner, settings, should_stop) -> None:
        self.owner, self.settings, self.should_stop = owner, settings, should_stop
        self.token_ids: list[int] = []
        self.text = ""

    def __iter__(self):
        for i in range(self.settings.max_new_tokens):
            if self.should_stop():
                return
            if i == 2:
                self.owner.third_token.set()
            self.owner.release.wait(5)  # the test decides when tokens come
            threading.Event().wait(self.owner.delay)  # a token takes time in the engine
            self.token_ids.append(i)
            piece = f" w{i}"
            self.text += piece
            yield piece


class FakeGenerator:
    def __init__(self, pace: bool = False) -> None:
        self.settings: list = []
        self.loaded: list[str] = []
        self.release = threading.Event()
        self.third_token = threading.Event()
        self.delay = 0.02 if pace else 0.0
        if not pace:
            self.release.set()

    def load(self, source):
        self.loaded.append(str(source))
        return self

    def start(self, prompt, settings, should_stop=None):
        self.settings.append(settings)
        return FakeGeneration(self, settings, should_stop or (lambda: False))


def make(qtbot, generator: FakeGenerator, task: str = "causal-lm") -> PlaygroundPanel:
    panel = PlaygroundPanel(fakes.fake_task_loader(task), generator_fn=generator.load)
    qtbot.addWidget(panel)
    panel.resize(1024, 640)
    panel.show()
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/run-1")
    return panel


def test_stop_strings_are_comma_separated_with_escapes():
    assert parse_stops("") == ()
    assert parse_stops(r"\n\n, ###") == ("\n\n", "###")
    assert parse_stops(r"a\,b, \\") == ("a,b", "\\")
    with pytest.raises(UserError, match="empty"):
        parse_stops("a,,b")


def test_a_generative_model_gets_the_sampling_controls_and_generate(qtbot):
    panel = make(qtbot, FakeGenerator())
    assert panel.generative and panel.settings_box.isVisible()
    assert panel.generate_button.isVisible() and panel.generate_button.isEnabled()
    assert panel.stop_button.isVisible() and not panel.stop_button.isEnabled()
    assert panel.predict_button.text() == "Next tokens"
    other = make(qtbot, FakeGenerator(), task="text-classification")
    assert not other.generative and not other.settings_box.isVisible()
    assert not other.generate_button.isVisible() and other.predict_button.text() == "Predict"
    panel.shutdown()
    other.shutdown()


def test_the_continuation_streams_in_with_the_chosen_settings(qtbot):
    generator = FakeGenerator()
    panel = make(qtbot, generator)
    controls = panel.generation_settings
    controls.set_settings({"max_new_tokens": 5, "temperature": 0.0, "repetition_penalty": 1.2})
    controls.editors["stop"].setText(r"\n\n, END")
    assert not controls.editors["top_k"].isEnabled()  # greedy: sampling settings are moot
    pieces: list[str] = []
    panel.service.sig_piece.connect(lambda _id, piece: pieces.append(piece))
    panel.text_edit.setPlainText("Once upon")
    with qtbot.waitSignal(panel.sig_generation_finished, timeout=10_000) as done:
        qtbot.mouseClick(panel.generate_button, LEFT)
    assert pieces == [" w0", " w1", " w2", " w3", " w4"]
    assert panel.generation_output.toPlainText() == "Once upon w0 w1 w2 w3 w4"
    assert panel.generated_text() == " w0 w1 w2 w3 w4"
    assert done.args[0]["token_ids"] == [0, 1, 2, 3, 4] and not done.args[0]["stopped"]
    settings = generator.settings[0]
    assert (settings.max_new_tokens, settings.temperature) == (5, 0.0)
    assert settings.repetition_penalty == 1.2 and settings.stop == ("\n\n", "END")
    assert settings.seed is None  # "random"
    assert "5 new tokens" in panel.generation_stats.text()
    assert generator.loaded == ["/runs/run-1"]  # loaded once, on the predictor's thread
    assert panel.generate_button.isEnabled() and not panel.stop_button.isEnabled()
    panel.shutdown()


def test_a_seq2seq_model_streams_its_target_without_the_source_before_it(qtbot):
    panel = make(qtbot, FakeGenerator(), task="seq2seq")
    assert panel.generative and panel.settings_box.isVisible()
    panel.generation_settings.set_settings({"max_new_tokens": 3, "temperature": 0.0})
    panel.text_edit.setPlainText("#Person1#: Hello. #Person2#: Hi.")
    with qtbot.waitSignal(panel.sig_generation_finished, timeout=10_000):
        qtbot.mouseClick(panel.generate_button, LEFT)
    assert panel.generation_output.toPlainText() == " w0 w1 w2"
    assert panel.generated_text() == " w0 w1 w2"
    panel.shutdown()


def test_generate_is_off_while_running_and_stop_ends_it_within_a_token(qtbot):
    generator = FakeGenerator(pace=True)
    panel = make(qtbot, generator)
    panel.generation_settings.set_settings({"max_new_tokens": 500})
    panel.text_edit.setPlainText("Hello")
    assert panel.generate()
    assert panel.is_generating() and not panel.generate_button.isEnabled()
    assert panel.stop_button.isEnabled() and not panel.predict_button.isEnabled()
    assert not panel.generate()  # one at a time
    generator.release.set()
    assert generator.third_token.wait(5)
    qtbot.waitUntil(lambda: len(panel.generated_text().split()) >= 3, timeout=5_000)
    with qtbot.waitSignal(panel.sig_generation_finished, timeout=10_000) as done:
        qtbot.mouseClick(panel.stop_button, LEFT)
        shown = len(panel.generated_text().split())
    result = done.args[0]
    assert result["stopped"] and len(result["token_ids"]) < 500
    assert len(result["token_ids"]) <= shown + 2  # within a token or two of the click
    assert "stopped" in panel.generation_stats.text()
    assert panel.generate_button.isEnabled() and not panel.is_generating()
    panel.shutdown()


def test_problems_are_said_and_nothing_hangs(qtbot):
    panel = make(qtbot, FakeGenerator())
    assert not panel.generate()  # no prompt
    assert "prompt" in panel.message.text().lower()
    panel.text_edit.setPlainText("Hi")
    panel.generation_settings.editors["stop"].setText("a,,b")
    assert not panel.generate() and "stop string" in panel.message.text()

    def broken(source):
        raise UserError(f"{source} cannot generate text")

    failing = PlaygroundPanel(fakes.fake_task_loader("causal-lm"), generator_fn=broken)
    qtbot.addWidget(failing)
    with qtbot.waitSignal(failing.service.sig_loaded, timeout=10_000):
        failing.set_model("/runs/run-2")
    failing.text_edit.setPlainText("Hi")
    with qtbot.waitSignal(failing.sig_generation_finished, timeout=10_000):
        failing.generate()
    assert "cannot generate text" in failing.message.text()
    assert failing.generate_button.isEnabled()
    panel.shutdown()
    failing.shutdown()


def test_closing_during_a_generation_does_not_wait_for_it(qtbot):
    generator = FakeGenerator(pace=True)
    panel = make(qtbot, generator)
    panel.generation_settings.set_settings({"max_new_tokens": 4096})
    panel.text_edit.setPlainText("Hello")
    panel.generate()
    generator.release.set()
    assert generator.third_token.wait(5)
    panel.shutdown()  # sets the stop flag first, so the thread ends at the next token
    assert panel.service._thread is None


def test_the_generative_playground_fits_a_small_window(qtbot, tmp_path):
    import os

    from test_gui_small_window import SMALL, cut_labels

    from workbench.gui.main_window import MainWindow

    generator = FakeGenerator()
    window = MainWindow(
        data_path=tmp_path / "none.csv", load_predictor_fn=fakes.fake_task_loader("causal-lm")
    )
    qtbot.addWidget(window)
    window.playground_panel.service._generator_fn = generator.load
    window.show()
    window.resize(*SMALL)
    window.show_page("playground")
    panel = window.playground_panel
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/run-1")
    panel.text_edit.setPlainText("Once upon a time")
    with qtbot.waitSignal(panel.sig_generation_finished, timeout=10_000):
        panel.generate()
    qtbot.wait(50)
    page = window.stack.currentWidget()
    assert cut_labels(page) == []
    assert panel.settings_box.isVisibleTo(page) and panel.generation_output.height() >= 120
    if os.environ.get("WORKBENCH_GUI_SHOTS"):
        window.grab().save(os.path.join(os.environ["WORKBENCH_GUI_SHOTS"], "playground-gen.png"))
    window.close()


def test_the_train_page_shows_each_evaluations_generations(qtbot):
    from workbench.engine.events import EvalFinished
    from workbench.gui.panels.train import TrainPanel

    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.resize(1024, 600)
    panel.show()
    panel._on_runner_eval_finished(EvalFinished(0, 0.0, {"perplexity": 9.0}))
    assert not panel.generations_box.isVisible()  # a task without generations: no box

    def gens(output: str) -> list[dict]:
        return [
            {"prompt": "Once upon", "output": output, "reference": " a time"},
            {"prompt": "<b>x</b>", "output": "", "reference": ""},
        ]

    for step, output in ((0, " zzz"), (4, " a tim"), (8, " a time there")):
        metrics = {"perplexity": 9.0 - step, "loss": 2.0, "generations": gens(output)}
        panel._on_runner_eval_finished(EvalFinished(step, step / 8, metrics))
    assert panel.generations_box.isVisible()
    assert [s for s, _ in panel.generations] == [0, 4, 8]
    text = panel.generations_view.toPlainText()
    assert text.index("step 8") < text.index("step 4") < text.index("step 0")  # newest first
    assert text.index("a time there") < text.index("zzz")
    assert "<b>x</b>" in text and "expected: a time" in text  # escaped, not markup
    assert "nothing: the text ended here" in text
    panel.reset()
    assert not panel.generations_box.isVisible() and panel.generations == []


def test_the_learning_rate_follows_lora_until_the_user_sets_one(qtbot):
    from workbench import engine
    from workbench.config import LORA_LEARNING_RATE
    from workbench.gui.metric_format import format_scientific
    from workbench.gui.panels.hyperparams import HyperparamsPanel

    panel = HyperparamsPanel()
    qtbot.addWidget(panel)
    panel.apply_task_defaults(engine.task_defaults("text-classification"))
    editor = panel.editors["learning_rate"]
    assert editor.text() == "1.25e-4" and panel.config_values()["learning_rate"] is None
    lora = format_scientific(LORA_LEARNING_RATE)
    assert lora in panel.hint_labels["learning_rate"].text()
    panel.set_lora(True)
    assert editor.text() == lora and panel.config_values()["learning_rate"] is None
    assert panel.values()["learning_rate"] == LORA_LEARNING_RATE
    assert "default " + lora in panel.hint_labels["learning_rate"].text()
    editor.setText("1e-3")  # the user's own rate stays, and is sent
    assert panel.config_values()["learning_rate"] == 1e-3
    panel.set_lora(False)
    assert editor.text() == "1e-3" and panel.config_values()["learning_rate"] == 1e-3
    editor.setText("1.25e-4")
    panel.set_lora(True)
    panel.apply_task_defaults(engine.task_defaults("masked-lm"))  # another task: its rate
    assert panel.config_values()["learning_rate"] is None
