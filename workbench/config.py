"""RunConfig: every experiment setting of a run, and its TOML form.

The GUI builds a RunConfig from its panels and saves it as `config.toml` in the run
directory; `workbench train --config run.toml` reads the same file. Validation lives
here so the CLI and the GUI give the same messages.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path, PurePath
from typing import Any

from workbench.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_MODEL = "default"
TRUNCATIONS = ("tail", "head", "head+tail")
HEADERS = ("auto", "yes", "no")

# Settings a task may choose for itself (None in a RunConfig = "the task's default").
GENERAL_DEFAULTS = {"epochs": 1, "learning_rate": 1.25e-4, "batch_size": 32, "max_length": 128}
# With LoRA on (`lora_rank` > 0) and no learning rate given, a run uses its task's
# `lora_learning_rate` (a key of the task's `defaults`), else this: LoRA trains far fewer
# weights, from B = 0, and wants a much larger step than full fine-tuning. Chosen on
# validation data (bench/lora_lr.py: MiniLM, r=8, 1 epoch, Rotten Tomatoes; see its numbers).
LORA_LEARNING_RATE = 5e-3


@dataclass
class RunConfig:
    """One fine-tuning run. Defaults are tuned for the bundled MiniLM on a few thousand
    short sentences (see bench/ and the README for how they were chosen)."""

    data: str = ""
    """Training data: .csv, .tsv, .jsonl/.json or .parquet."""
    eval_data: str | None = None
    """Validation data; when absent a stratified `eval_split` of `data` is held out."""
    header: str = "auto"
    """Whether a CSV/TSV's first row names the columns: auto (detected), yes or no."""
    text_column: str | None = None
    """Column with the text; guessed when absent (as every column role below)."""
    text_pair_column: str | None = None
    """Second text of a pair (pair classification, regression on pairs)."""
    label_column: str | None = None
    """Column with the label (strings or integers), labels, tags or a number."""
    question_column: str | None = None
    context_column: str | None = None
    answer_column: str | None = None
    """Question answering: the answer text (with `answer_start`) or SQuAD `answers`."""
    prompt_column: str | None = None
    response_column: str | None = None
    source_column: str | None = None
    target_column: str | None = None
    """Causal LM on prompt/response pairs: the loss is on the response tokens only."""
    model: str = DEFAULT_MODEL
    """"default" (the bundled all-MiniLM-L6-v2) or a Hugging Face model folder."""
    task: str = "text-classification"
    epochs: int | None = None
    """None: the task's default (1 for text classification; see `workbench train --help`)."""
    max_steps: int = 0
    """Stop after this many optimizer steps, the learning-rate schedule ending there; as many
    epochs as they take, the last one partly (0: off, `epochs` decide)."""
    batch_size: int | None = None
    learning_rate: float | None = None
    warmup_ratio: float = 0.1
    """Fraction of the steps during which the learning rate rises linearly from 0."""
    weight_decay: float = 0.01
    dropout: float = 0.0
    """Dropout on hidden states, attention and the head while training. In one epoch each
    example is seen once, so there is little to regularise; 0.1 helps over several epochs."""
    max_length: int | None = None
    """Longer texts are truncated (classification) or split into windows (NER, QA)."""
    truncation: str = "head+tail"
    """What a long text loses in classification: its tail, its head, or its middle.
    head+tail (keep the start and the end) is the default: on 2,000 IMDB reviews at 256
    tokens it scored 0.861 on validation against 0.847 for tail (bench/imdb_long.py);
    texts that fit are unaffected."""
    stride: int = 128
    """Tokens shared by consecutive windows of a long document (NER, QA)."""
    class_weights: bool = False
    """Weigh the loss by inverse class frequency (imbalanced labels)."""
    early_stopping_patience: int = 0
    """Stop after this many evaluations without a better primary metric, and keep the best
    model rather than the last (0: train all epochs, keep the last)."""
    eval_sample: int = 1000
    """Evaluations during training use a fixed sample of at most this many examples; the
    final evaluation uses all of them."""
    mlm_probability: float = 0.15
    whole_word_masking: bool = False
    next_sentence_prediction: bool = False
    """Masked LM: also train BERT's next-sentence head (off, as in RoBERTa)."""
    packing: bool | None = None
    """Causal LM: concatenate documents into full blocks of max_length tokens (no attention
    across documents) rather than one padded document per row. None: packed for plain text,
    padded for prompt/response pairs (a packed pair could lose its prompt at a block edge)."""
    max_grad_norm: float = 1.0
    max_bad_steps: int = 3
    """A step whose loss or gradients are not finite is skipped (its update is not applied);
    this many in a row stop the run and roll it back to its last good checkpoint."""
    freeze_embeddings: bool = False
    """Keep the input embeddings as pretrained (full fine-tuning of the rest)."""
    freeze_layers: int = 0
    """Keep the bottom N transformer layers as pretrained."""
    head_only: bool = False
    """Train only the task head's new weights (a linear probe on the frozen model)."""
    lora_rank: int = 0
    """LoRA: train rank-r updates of the chosen linear layers and the new head, freezing the
    rest (0: off, full fine-tuning). The run's model is saved with the update merged in."""
    lora_alpha: float | None = None
    """LoRA scale alpha (the update is multiplied by alpha / rank); None: 2 * rank, so the
    update's size does not change with the rank."""
    lora_dropout: float = 0.0
    """Dropout on LoRA's input; 0 as `dropout` (one epoch has little to regularise)."""
    lora_targets: str = "default"
    """Which linear layers get LoRA: default (attention query/value), attention, all
    (attention and MLP), or comma-separated module names (query,value)."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in backward: less memory, ~30 % more time."""
    seed: int = 42
    precision: str = "auto"
    """auto picks bf16 only where it is fast: GPUs that support it, CPUs with AMX."""
    device: str = "auto"
    eval_split: float = 0.1
    eval_every_steps: int = 0
    """Also evaluate every N optimizer steps (0: about five times per run, and at the end
    of each epoch)."""
    log_every_steps: int = 5
    checkpoint_every_steps: int = 0
    """Save a checkpoint (for `workbench train --resume`) every N optimizer steps, and at each
    epoch end (0: about every 10 minutes of training, and at each epoch end)."""
    keep_checkpoints: int = 2
    """How many of the newest checkpoints to keep (plus the one with the best metric)."""
    output: str | None = None
    """Run directory; a new folder under the user's runs folder when absent."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise UserError naming the first setting that cannot work."""
        from workbench.engine.tasks import TASK_NAMES

        for field in fields(self):  # a TOML list or number where a name or path belongs
            value = getattr(self, field.name)
            if field.type in ("str", "str | None") and value is not None:
                if not isinstance(value, str | PurePath):
                    raise UserError(f"{field.name} must be a text (in quotes), got {value!r}")
        if self.task not in TASK_NAMES:
            raise UserError(f"unknown task {self.task!r}; choose one of: {', '.join(TASK_NAMES)}")
        if self.truncation not in TRUNCATIONS:
            raise UserError(
                f"unknown truncation {self.truncation!r}; choose one of: {', '.join(TRUNCATIONS)}"
            )
        if self.header not in HEADERS:
            raise UserError(f"header must be one of: {', '.join(HEADERS)}; got {self.header!r}")
        if self.precision not in PRECISIONS:
            raise UserError(
                f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}"
            )
        if self.device not in DEVICES:
            raise UserError(f"unknown device {self.device!r}; choose one of: {', '.join(DEVICES)}")
        if self.epochs is not None:
            _check_int("epochs", self.epochs, 1, 10_000)
        if self.batch_size is not None:
            _check_int("batch_size", self.batch_size, 1, 65_536)
        if self.max_length is not None:
            _check_int("max_length", self.max_length, 8, 8192)
        if self.learning_rate is not None:
            _check_float("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        _check_int("eval_every_steps", self.eval_every_steps, 0)
        _check_int("max_steps", self.max_steps, 0, 10_000_000)
        _check_int("log_every_steps", self.log_every_steps, 1)
        _check_int("checkpoint_every_steps", self.checkpoint_every_steps, 0)
        _check_int("keep_checkpoints", self.keep_checkpoints, 1, 1000)
        _check_int("stride", self.stride, 0, 4096)
        _check_int("early_stopping_patience", self.early_stopping_patience, 0)
        _check_int("eval_sample", self.eval_sample, 1)
        _check_float("mlm_probability", self.mlm_probability, 0.0, 0.9, low_open=True)
        for flag in ("class_weights", "whole_word_masking", "next_sentence_prediction"):
            if not isinstance(getattr(self, flag), bool):
                raise UserError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.packing is not None and not isinstance(self.packing, bool):
            raise UserError(f"packing must be true or false, got {self.packing!r}")
        _check_float("warmup_ratio", self.warmup_ratio, 0.0, 1.0)
        _check_float("weight_decay", self.weight_decay, 0.0, 10.0)
        _check_float("dropout", self.dropout, 0.0, 0.9)
        _check_float("max_grad_norm", self.max_grad_norm, 0.0, 1e6)
        if isinstance(self.max_bad_steps, int) and not isinstance(self.max_bad_steps, bool):
            if not 1 <= self.max_bad_steps <= 10_000:
                raise UserError(
                    "--max-bad-steps must be between 1 and 10000 (1: stop at the first "
                    f"non-finite step), got {self.max_bad_steps}"
                )
        _check_int("max_bad_steps", self.max_bad_steps, 1, 10_000)
        _check_float("eval_split", self.eval_split, 0.0, 0.9, low_open=True)
        self._validate_parameter_efficiency()

    def _validate_parameter_efficiency(self) -> None:
        for flag in ("freeze_embeddings", "head_only", "gradient_checkpointing"):
            if not isinstance(getattr(self, flag), bool):
                raise UserError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        _check_int("freeze_layers", self.freeze_layers, 0, 10_000)
        if isinstance(self.lora_rank, int) and not isinstance(self.lora_rank, bool):
            if self.lora_rank < 0:
                raise UserError(
                    f"--lora-rank must be at least 1 (0 turns LoRA off), got {self.lora_rank}"
                )
        _check_int("lora_rank", self.lora_rank, 0, 4096)
        if self.lora_alpha is not None:
            _check_float("lora_alpha", self.lora_alpha, 0.0, 1e6, low_open=True)
        if not isinstance(self.lora_dropout, bool) and isinstance(self.lora_dropout, int | float):
            if not 0.0 <= self.lora_dropout < 1.0:
                raise UserError(
                    f"--lora-dropout must be at least 0 and below 1, got {self.lora_dropout}"
                )
        _check_float("lora_dropout", self.lora_dropout, 0.0, 1.0)
        if not isinstance(self.lora_targets, str) or not self.lora_targets.strip():
            raise UserError(
                "--lora-targets must be default, attention, all or module names such as "
                f"query,value; got {self.lora_targets!r}"
            )
        if not self.lora_rank:
            if self.lora_alpha is not None or self.lora_dropout or self.lora_targets != "default":
                raise UserError(
                    "--lora-alpha, --lora-dropout and --lora-targets need --lora-rank R (LoRA is off)"
                )
            return
        if self.head_only:
            raise UserError(
                "--head-only and --lora-rank exclude each other: LoRA trains the head as well; "
                "give one of them"
            )
        if self.freeze_layers or self.freeze_embeddings:
            raise UserError(
                "--freeze-layers and --freeze-embeddings are for full fine-tuning; with "
                "--lora-rank every base weight is frozen already"
            )

    def with_task_defaults(self) -> RunConfig:
        """A copy with every "task's default" (None) setting filled in."""
        from workbench.engine.tasks import task_defaults

        defaults = task_defaults(self.task)
        filled = {k: defaults[k] for k in GENERAL_DEFAULTS if getattr(self, k) is None}
        if self.learning_rate is None and self.lora_rank:
            filled["learning_rate"] = defaults.get("lora_learning_rate", LORA_LEARNING_RATE)
        return dataclasses.replace(self, **filled)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The TOML text that `from_toml` reads back to an equal RunConfig."""
        lines = ["# Workbench run configuration: `workbench train --config <this file>`"]
        for key, value in self.to_dict().items():
            if value is None:
                continue  # TOML has no null; absent means "not set".
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(
                f"unknown setting(s) {', '.join(unknown)}; known settings are: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"config file {path} does not exist; check the path") from None
        except OSError as exc:
            raise UserError(f"cannot read config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UserError(
                f"config file {path} is not UTF-8 text; save it as UTF-8 (TOML files are UTF-8)"
            ) from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"config file {path} is not valid TOML: {exc}") from None
        config = cls.from_dict(values)
        # Relative data paths in a config file are relative to the file, not the shell.
        for key in ("data", "eval_data"):
            value = getattr(config, key)
            if value and not Path(value).is_absolute():
                setattr(config, key, str((path.parent / value).resolve()))
        return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # A JSON string is a valid TOML basic string (newlines and quotes escaped), but for DEL.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UserError(f"{name} must be {bound}, got {value}")


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{name} must be a number, got {value!r}")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        side = "greater than" if low_open else "at least"
        raise UserError(f"{name} must be {side} {low} and at most {high}, got {value}")
