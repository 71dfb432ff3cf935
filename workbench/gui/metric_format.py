"""The one place that knows how each metric is named and written.

Convention: shares and scores on a 0–1 scale (accuracy, F1, precision, recall, exact match)
are shown as percentages with one decimal (``81.2%``), the way the Evaluate page shows
accuracy. Correlations (Pearson, Spearman) run from −1 to 1 and are no shares, so they keep
their usual form with three decimals (``0.912``). Losses, MSE and perplexity are plain
numbers. Small rates such as the learning rate are written in compact scientific notation
(``1.25e-4``), in fields and hints alike.
"""

from __future__ import annotations

import math
from typing import Any

METRIC_TITLES: dict[str, str] = {
    "accuracy": "Accuracy",
    "f1_macro": "Macro F1",
    "f1_micro": "Micro F1",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "mse": "MSE",
    "entity_f1": "Entity F1",
    "entity_precision": "Entity precision",
    "entity_recall": "Entity recall",
    "token_accuracy": "Token accuracy",
    "f1": "F1",
    "exact_match": "Exact match",
    "loss": "Loss",
    "perplexity": "Perplexity",
    "rougeL": "ROUGE-L",
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "bleu": "BLEU",
}

PERCENT_METRICS = frozenset(
    {
        "accuracy",
        "f1_macro",
        "f1_micro",
        "entity_f1",
        "entity_precision",
        "entity_recall",
        "token_accuracy",
        "f1",
        "exact_match",
        "rougeL",
        "rouge1",
        "rouge2",
        "bleu",
    }
)
CORRELATION_METRICS = frozenset({"pearson", "spearman"})
"""Bounded by −1 and 1; shown as coefficients, not percentages."""

_PLAIN_FORMATS = {"loss": "{:.4f}", "mse": "{:.4f}", "perplexity": "{:.2f}"}

MISSING = "—"


def metric_title(name: str) -> str:
    """The title of a metric ("entity_f1" gives "Entity F1"); an unknown name is made readable."""
    return METRIC_TITLES.get(name) or name.replace("_", " ").strip().capitalize() or name


def is_percent(name: str) -> bool:
    """Whether the metric is a 0–1 share that is shown (and plotted) as a percentage."""
    return name in PERCENT_METRICS


def is_bounded(name: str) -> bool:
    """Whether the metric has a known range (shares 0–1, correlations −1–1)."""
    return name in PERCENT_METRICS or name in CORRELATION_METRICS


def format_metric(name: str, value: Any) -> str:
    """81.2% for shares, 0.912 for correlations, 0.4200 for losses; — for no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # NumPy scalars
        except (TypeError, ValueError):
            return MISSING
    value = float(value)
    if math.isnan(value):
        return MISSING
    if name in PERCENT_METRICS:
        return f"{value * 100:.1f}%"
    if name in CORRELATION_METRICS:
        return f"{value:.3f}"
    return _PLAIN_FORMATS.get(name, "{:.4g}").format(value)


def metric_axis_label(name: str) -> str:
    """The axis title of a plot of the metric: "Entity F1 (%)", "Pearson r", "Loss"."""
    return f"{metric_title(name)} (%)" if name in PERCENT_METRICS else metric_title(name)


def plot_value(name: str, value: float) -> float:
    """The number a plot draws: shares in percent, so the axis matches the text."""
    return value * 100.0 if name in PERCENT_METRICS else value


def format_scientific(value: float) -> str:
    """1.25e-4, 5e-5, 0.01 → 1e-2: compact notation for learning rates and the like."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    mantissa, exponent = f"{value:.6e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def scalar_metrics(metrics: dict[str, Any], first: str | None = None) -> list[tuple[str, Any]]:
    """The metrics worth a line of text: known scalar ones, `first` first, then the rest in
    METRIC_TITLES order, loss near the end (reports, matrices and labels are left out)."""
    order = [first] if first else []
    order += [name for name in METRIC_TITLES if name not in order]
    return [
        (name, metrics[name])
        for name in order
        if name in metrics and format_metric(name, metrics[name]) != MISSING
    ]
