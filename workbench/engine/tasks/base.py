"""The Task seam: what one task (text classification, NER, QA, …) supplies to the engine.

A task module (`engine/tasks/<task>.py`) subclasses `Task` and is one line in the registry
(`engine/tasks/__init__.py`). It says which columns it needs (and how to guess them), turns
tables into examples and examples into token features, collates a batch into a dict of
tensors, computes its loss from the head's logits, and turns the model's outputs into
metrics (one of them primary) and into predictions made of plain values. The training
procedure, evaluate, predict, export, the CLI and the GUI only ever talk to this interface.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from workbench.engine.data.sequences import PackedSequences, TextColumn
from workbench.engine.models.registry import fresh_weights_notice
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer


@dataclass(frozen=True)
class Role:
    """A column a task reads: `name` is the RunConfig field (`text_column`)."""

    field: str
    flag: str
    title: str
    required: bool = True


TEXT = Role("text_column", "--text-column", "Text")
TEXT_PAIR = Role("text_pair_column", "--text-pair-column", "Second text")
LABEL = Role("label_column", "--label-column", "Label")
QUESTION = Role("question_column", "--question-column", "Question")
CONTEXT = Role("context_column", "--context-column", "Context")
ANSWER = Role("answer_column", "--answer-column", "Answer")
PROMPT = Role("prompt_column", "--prompt-column", "Prompt")
RESPONSE = Role("response_column", "--response-column", "Response")
SOURCE = Role("source_column", "--source-column", "Source")
TARGET = Role("target_column", "--target-column", "Target")


class Rows:
    """Examples as named columns of equal length (plain Python values)."""

    def __init__(self, columns: dict[str, list[Any]]) -> None:
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(
                f"columns of different lengths: { {k: len(v) for k, v in columns.items()} }"
            )
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def __getitem__(self, name: str) -> list[Any]:
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def subset(self, indices: list[int] | np.ndarray) -> Rows:
        return Rows(
            {
                k: v.take(indices) if isinstance(v, TextColumn) else [v[i] for i in indices]
                for k, v in self.columns.items()
            }
        )

    def slice(self, start: int, stop: int) -> Rows:
        """Rows start..stop (a chunk to encode), without copying more than the slice."""
        return Rows({k: v[start:stop] for k, v in self.columns.items()})


@dataclass
class Features:
    """Token-level inputs, one entry per feature (a long document may give several
    windows, each a feature; `example_index` says whose).

    `sequences` are padded by the collator (input ids with the pad id, token type ids with
    0, any other sequence, such as per-token labels, with -100); `values` are stacked as
    they are; `extra` is what post-processing needs (offsets, word ids) and is not collated."""

    sequences: dict[str, list[list[int]] | PackedSequences]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    example_index: np.ndarray | None = None
    extra: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sequences["input_ids"])

    @property
    def lengths(self) -> list[int] | np.ndarray:
        ids = self.sequences["input_ids"]
        if isinstance(ids, PackedSequences):
            return ids.lengths
        return [len(s) for s in ids]

    def examples_of(self) -> np.ndarray:
        if self.example_index is None:
            return np.arange(len(self))
        return self.example_index


def pack_features(features: Features) -> Features:
    """The same features with every sequence packed (engine/data/sequences.py): a copy that
    keeps a subclass's own fields (masking settings, the tokenizer)."""
    packed = copy.copy(features)
    packed.sequences = {
        name: rows if isinstance(rows, PackedSequences) else PackedSequences.from_rows(rows)
        for name, rows in features.sequences.items()
    }
    return packed


def concat_features(parts: list[tuple[int, Features]]) -> Features:
    """One Features from (first row, features) per chunk of rows, in order: sequences and
    values joined, `example_index` moved to the whole table's rows, `extra` joined."""
    first = parts[0][1]
    out = copy.copy(first)
    out.sequences = {
        name: PackedSequences.concat([pack_features(p).sequences[name] for _, p in parts])
        for name in first.sequences
    }
    out.values = {name: np.concatenate([p.values[name] for _, p in parts]) for name in first.values}
    if all(p.example_index is None for _, p in parts):
        out.example_index = None
    else:
        out.example_index = np.concatenate(
            [np.asarray(p.examples_of(), dtype=np.int64) + start for start, p in parts]
        )
    out.extra = {}
    for name, value in first.extra.items():
        pieces = [p.extra[name] for _, p in parts]
        if isinstance(value, np.ndarray):
            out.extra[name] = np.concatenate(pieces)
        else:
            out.extra[name] = list(itertools.chain.from_iterable(pieces))
    return out


ENCODE_CHUNK_ROWS = 10_000
"""Rows encoded at once by `Task.encode_in_chunks`: the tokenizer's Encodings (ids, tokens as
strings, offsets, masks: ~100 bytes a token) live for one chunk only."""


@dataclass
class TaskData:
    """What a task read from the user's files, checked before any run folder exists."""

    train: Rows
    eval: Rows
    meta: dict[str, Any]
    """What the head and the export need (labels, label scheme, threshold …); JSON values."""
    columns: dict[str, str]
    """RunConfig role field -> the column it was read from."""
    notices: list[str] = field(default_factory=list)


class Task:
    """Base class with the behaviour most tasks share; subclasses override what differs."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    head_kind: ClassVar[str]
    primary_metric: ClassVar[str]
    greater_is_better: ClassVar[bool] = True
    roles: ClassVar[tuple[Role, ...]] = ()
    defaults: ClassVar[dict[str, Any]] = {}
    """RunConfig settings this task sets differently from the general defaults, with why."""
    metric_names: ClassVar[tuple[str, ...]] = ()
    """The metrics `evaluate` reports, primary first (0-1 scale)."""
    prediction_inputs: ClassVar[tuple[str, ...]] = ("text",)
    """What `predict` takes per input: "text", "text_pair", "context"."""
    evaluate_before_training: ClassVar[bool] = False
    """Evaluate once before the first step too (step 0), so the results can say how far
    training moved the metrics (`<metric>_before`): the masked LM's perplexity."""
    rows_encode_apart: ClassVar[bool] = True
    """Each row's features depend on that row alone, so `encode_in_chunks` may encode a big
    table a slice at a time; False for a task whose features join rows (packed blocks)."""
    probe_texts: ClassVar[tuple[str, ...] | None] = None
    """Texts the export's self-check predicts on, where the exporter's own do not fit the
    task (a masked LM needs a mask in them); None: the exporter's."""

    # ---- reading data --------------------------------------------------------------------
    def read(self, config: RunConfig, load: Callable[[str], pd.DataFrame]) -> TaskData:
        """Training and evaluation examples from the config's files; UserError when wrong."""
        name = Path(config.data).name
        frame = load(config.data)
        columns = self.resolve_columns(frame, config, name)
        train, meta = self.examples(frame, columns, None, name, config)
        notices: list[str] = list(frame.attrs.get("notices", []))
        del frame  # the examples hold what is needed: a big table goes before the split
        notices += fresh_weights_notice(config.model)
        if config.eval_data:
            eval_name = Path(config.eval_data).name
            eval_frame = load(config.eval_data)
            notices += eval_frame.attrs.get("notices", [])
            self.check_columns(eval_frame, columns, eval_name)
            evaluation, _ = self.examples(eval_frame, columns, meta, eval_name, config)
        else:
            train, evaluation = self.split(train, config.eval_split, config.seed)
        if len(train) == 0 or len(evaluation) == 0:
            raise UserError(
                f"{name} has too few usable examples to train and evaluate; add data or give --eval-data"
            )
        return TaskData(train, evaluation, meta, columns, notices)

    def resolve_columns(self, frame: pd.DataFrame, config: RunConfig, name: str) -> dict[str, str]:
        """The user's columns where given, else guessed; UserError naming the flag to use."""
        guessed = self.guess_columns(frame)
        columns: dict[str, str] = {}
        for role in self.roles:
            column = getattr(config, role.field, None) or guessed.get(role.field)
            if column is None:
                if role.required:
                    raise UserError(
                        f"cannot tell which column of {name} holds the {role.title.lower()}; "
                        f"name it with {role.flag} (columns: {', '.join(map(str, frame.columns))})"
                    )
                continue
            columns[role.field] = column
        self.check_columns(frame, columns, name)
        chosen = list(columns.values())
        if len(set(chosen)) != len(chosen):
            flags = ", ".join(r.flag for r in self.roles if r.field in columns)
            raise UserError(f"each role needs its own column of {name}; pick them with {flags}")
        return columns

    def check_columns(self, frame: pd.DataFrame, columns: dict[str, str], name: str) -> None:
        available = ", ".join(map(str, frame.columns))
        for role in self.roles:
            column = columns.get(role.field)
            if column is not None and column not in frame.columns:
                raise UserError(
                    f"{name} has no column {column!r}; pick the {role.title.lower()} column "
                    f"with {role.flag} (available: {available})"
                )

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        """RunConfig role field -> a guessed column (or None)."""
        return {}

    def examples(
        self,
        frame: pd.DataFrame,
        columns: dict[str, str],
        meta: dict[str, Any] | None,
        name: str,
        config: RunConfig,
    ) -> tuple[Rows, dict[str, Any]]:
        """Rows from a table. `meta` None: training data (the task derives its meta, e.g. the
        label set); given: evaluation data, which must fit that meta."""
        raise NotImplementedError

    def split(self, rows: Rows, fraction: float, seed: int) -> tuple[Rows, Rows]:
        """Hold out `fraction` for validation (seeded)."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(rows))
        held = max(1, int(round(len(rows) * fraction)))
        if len(rows) < 2:
            raise UserError(
                "too few examples to hold out a validation split; add data or give --eval-data"
            )
        return rows.subset(sorted(order[held:])), rows.subset(sorted(order[:held]))

    # ---- the model ------------------------------------------------------------------------
    def head_for(self, meta: dict[str, Any]) -> str:
        """The head kind of a model trained with this meta: `head_kind`, unless a setting the
        task keeps in its meta asks for another (masked LM with next-sentence prediction)."""
        return self.head_kind

    def init_head(self, model: torch.nn.Module, meta: dict[str, Any]) -> None:
        """Adjust a freshly initialised head before training (no RNG draws), e.g. start a
        regression head's bias at the training mean; the default leaves it as built."""

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return len(meta["labels"])

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        """Whether a checkpoint's own head (its task meta, or None) fits this run's meta."""
        return saved is not None and saved.get("labels") == meta.get("labels")

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        """config.json fields `transformers` reads for this task (id2label, problem_type …)."""
        labels = meta.get("labels") or []
        return {
            "id2label": {str(i): label for i, label in enumerate(labels)},
            "label2id": {label: i for i, label in enumerate(labels)},
        }

    def check_model(self, family_name: str) -> None:
        """Refuse a model that cannot do this task, before any work (after the head check)."""

    # ---- tensors --------------------------------------------------------------------------
    def encode(
        self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta: dict[str, Any]
    ) -> Features:
        raise NotImplementedError

    def encode_in_chunks(
        self,
        rows: Rows,
        tokenizer: TextTokenizer,
        config: RunConfig,
        meta: dict[str, Any],
        progress: Callable[[int, int], None] | None = None,
        chunk_rows: int = ENCODE_CHUNK_ROWS,
    ) -> Features:
        """`encode`, a chunk of rows at a time, with every sequence packed: what training
        keeps of a big table. Equal to `encode` of all rows (see `rows_encode_apart`);
        `progress(rows done, rows)` after each chunk."""
        total = len(rows)
        if progress is not None:
            progress(0, total)
        if not self.rows_encode_apart or total <= chunk_rows:
            features = pack_features(self.encode(rows, tokenizer, config, meta))
            if progress is not None:
                progress(total, total)
            return features
        parts: list[tuple[int, Features]] = []
        for start in range(0, total, chunk_rows):
            stop = min(start + chunk_rows, total)
            part = self.encode(rows.slice(start, stop), tokenizer, config, meta)
            parts.append((start, pack_features(part)))  # the chunk's lists go here
            if progress is not None:
                progress(stop, total)
        return concat_features(parts)

    def collate(
        self, features: Features, indices: list[int], pad_id: int, multiple_of: int, training: bool
    ) -> dict[str, torch.Tensor]:
        from workbench.engine.training.batching import collate_features

        return collate_features(features, indices, pad_id, multiple_of)

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
        return model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    def loss_units(self, meta: dict[str, Any]) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
        """What `loss` is a mean over, counted for a batch (engine/tasks/loss_units.py), so a
        batch cut into micro-batches (out of memory) sums to exactly its gradient. Default:
        examples (classification, regression, QA spans)."""
        from workbench.engine.tasks.loss_units import example_units

        return example_units

    def loss(
        self, logits: Any, batch: dict[str, torch.Tensor], meta: dict[str, Any]
    ) -> torch.Tensor:
        raise NotImplementedError

    def gather(self, logits: Any, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        """Per-feature outputs as float32 numpy, for metrics and predictions."""
        return list(logits.float().cpu().numpy())

    # ---- results --------------------------------------------------------------------------
    def tune(
        self, outputs: list[np.ndarray], features: Features, rows: Rows, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Meta updates learned on validation data after training (a decision threshold)."""
        return {}

    def metrics(
        self, outputs: list[np.ndarray], features: Features, rows: Rows, meta: dict[str, Any]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def predict(
        self, outputs: list[np.ndarray], features: Features, rows: Rows, meta: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def inputs_for(self, meta: dict[str, Any]) -> tuple[str, ...]:
        """What `predict` takes for a model trained with this meta: `prediction_inputs`,
        unless the meta says otherwise (a regression model trained on pairs needs both)."""
        return self.prediction_inputs

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        """Rows to predict on from what the user typed (`--text`, `--text-pair`, `--context`)."""
        texts = inputs.get("text") or []
        if not texts:
            raise UserError("no text to predict; type a text or give --text")
        return Rows({"text": list(texts)})

    def describe(self) -> dict[str, Any]:
        """Plain facts for the CLI's --help and the GUI's task list."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "primary_metric": self.primary_metric,
            "metrics": list(self.metric_names),
            "roles": [(r.field, r.flag, r.title, r.required) for r in self.roles],
            "prediction_inputs": list(self.prediction_inputs),
            "defaults": dict(self.defaults),
        }
