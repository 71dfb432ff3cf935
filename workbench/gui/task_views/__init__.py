"""Per-task Evaluate and Playground views, registered by task name like the engine's tasks.

Each task has one small module here that defines:

- `EVALUATE_VIEW`: an `EvaluateView` subclass that draws the task's metrics dict (cards,
  report, the task's own details such as a confusion matrix or highlighted entities);
- `OUTPUT_VIEW`: an `OutputView` subclass that draws one prediction of the task's shape;
- `INPUTS`: {input name: (title, placeholder)} for the Playground's boxes ("text",
  "text_pair", "context"; which of them are shown comes from the loaded predictor);
- `HINT`: a line under the inputs ("{mask}" is replaced by the model's mask token);
- `TITLE`;
- optionally `GENERATIVE = True`: the Playground streams a continuation of the prompt with
  sampling controls (`engine.load_generator`), as for causal LM; a seq2seq view sets it too,
  with `ECHO_PROMPT = False` (its output is a new text, shown without the source before it).

A task without its own module (one added to the engine later) gets `generic`, which shows
every known scalar metric and a prediction as text, so it is usable before it is pretty.
Adding a view is one module and one line in VIEWS.
"""

from __future__ import annotations

from types import ModuleType

from workbench.gui.task_views import (
    causal_lm,
    generic,
    masked_lm,
    multi_label,
    pair_classification,
    question_answering,
    regression,
    seq2seq,
    text_classification,
    token_classification,
)

VIEWS: dict[str, ModuleType] = {
    "text-classification": text_classification,
    "pair-classification": pair_classification,
    "regression": regression,
    "multi-label-classification": multi_label,
    "token-classification": token_classification,
    "question-answering": question_answering,
    "masked-lm": masked_lm,
    "causal-lm": causal_lm,
    "seq2seq": seq2seq,
}
GENERIC = generic


def view_for(task: str | None) -> ModuleType:
    """The module of a task's views; the generic one for a task without its own."""
    return VIEWS.get(str(task), GENERIC)


def input_titles(task: str | None) -> dict[str, tuple[str, str]]:
    """(title, placeholder) per Playground input: the task's own over the generic ones."""
    return {**GENERIC.INPUTS, **view_for(task).INPUTS}
