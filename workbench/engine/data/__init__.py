"""Reading the user's tables and turning them into labelled examples."""

from workbench.engine.data.columns import ColumnGuess, guess_columns
from workbench.engine.data.examples import (
    LabelledTexts,
    label_counts,
    make_examples,
    stratified_split,
)
from workbench.engine.data.readers import SUPPORTED_SUFFIXES, load_table

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ColumnGuess",
    "LabelledTexts",
    "guess_columns",
    "label_counts",
    "load_table",
    "make_examples",
    "stratified_split",
]
