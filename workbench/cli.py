"""The `workbench` command: the GUI by default, and train/evaluate/predict/export.

Bad input ends with one line on stderr that says what is wrong and what to do, and exit
code 2; a run that fails after it started exits 1. No tracebacks for the user's mistakes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from workbench import __version__
from workbench.config import RunConfig
from workbench.errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# CLI flag -> RunConfig field, for `train`.
TRAIN_FLAGS: dict[str, tuple[str, type, str]] = {
    "--data": ("data", str, "training data: .csv, .tsv, .jsonl, .json or .parquet"),
    "--eval-data": ("eval_data", str, "validation data (default: hold out a stratified 10%%)"),
    "--text-column": ("text_column", str, "column with the text (default: guessed)"),
    "--label-column": ("label_column", str, "column with the label (default: guessed)"),
    "--model": ("model", str, '"default" (bundled all-MiniLM-L6-v2) or a Hugging Face model folder'),
    "--epochs": ("epochs", int, "passes over the training data"),
    "--batch-size": ("batch_size", int, "examples per step"),
    "--lr": ("learning_rate", float, "peak learning rate"),
    "--warmup-ratio": ("warmup_ratio", float, "fraction of steps to warm up"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay"),
    "--dropout": ("dropout", float, "dropout while training, 0 to 0.9; try 0.1 for several epochs"),
    "--max-length": ("max_length", int, "truncate texts to this many tokens"),
    "--seed": ("seed", int, "random seed"),
    "--precision": ("precision", str, "auto, fp32, bf16 or fp16"),
    "--device": ("device", str, "auto, cpu, cuda or mps"),
    "--eval-every": ("eval_every_steps", int, "also evaluate every N steps (default: each epoch)"),
    "--output": ("output", str, "run folder to create (default: a new folder in your runs folder)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: what is wrong and where to look.
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", description="Fine-tune pretrained transformers on your own machine.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--open", metavar="FILE", help="GUI: open this data file at start")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    gui = sub.add_parser("gui", help="open the Workbench window (the default)")
    gui.add_argument("--open", metavar="FILE", help="open this data file at start")

    train = sub.add_parser("train", help="fine-tune a model; prints the run folder")
    train.add_argument("--config", help="run.toml with the settings (flags given here override it)")
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    for flag, (field, kind, help_text) in TRAIN_FLAGS.items():
        if "default" not in help_text and defaults[field] not in (None, ""):
            help_text += f" (default {defaults[field]:g})" if kind is float else f" (default {defaults[field]})"
        train.add_argument(flag, type=kind, default=None, help=help_text)

    evaluate = sub.add_parser("evaluate", help="metrics of a trained model on labelled data (JSON)")
    evaluate.add_argument("run", help="run folder (or exported model folder)")
    evaluate.add_argument("--data", required=True, help="labelled data file")
    evaluate.add_argument("--text-column")
    evaluate.add_argument("--label-column")

    predict = sub.add_parser("predict", help="label texts; one JSON object per text")
    predict.add_argument("run", help="run folder (or exported model folder)")
    predict.add_argument("--text", action="append", default=[], help="a text (repeatable)")
    predict.add_argument("--file", help="a file with one text per line")

    export = sub.add_parser("export", help="export a trained model")
    export.add_argument("run", help="run folder")
    export.add_argument("--format", choices=["hf"], default="hf", help="hf: a Hugging Face folder")
    export.add_argument("--output", required=True, help="folder to create")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in (None, "gui"):
            return _gui(args)
        return {"train": _train, "evaluate": _evaluate, "predict": _predict, "export": _export}[
            args.command
        ](args)
    except UserError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _gui(args: argparse.Namespace) -> int:
    from workbench.gui.app import main as gui_main

    return gui_main([args.open] if args.open else [])


def config_from_args(args: argparse.Namespace):

    values: dict[str, Any] = {}
    if args.config:
        values = RunConfig.from_toml(args.config).to_dict()
    for flag, (field, _, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            values[field] = value
    return RunConfig.from_dict(values)


def _train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    from workbench.engine import train

    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this step (Ctrl+C again to abort)…", file=sys.stderr)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        result = train(config, on_event=ProgressPrinter(sys.stderr), should_stop=stop.is_set)
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.status == "failed":
        print(f"workbench: training failed: {result.error}", file=sys.stderr)
        return EXIT_FAILED
    print(result.run_dir)
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    from workbench.engine import evaluate

    metrics = evaluate(args.run, args.data, args.text_column, args.label_column)
    print(json.dumps(metrics, ensure_ascii=False))
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    texts = list(args.text)
    if args.file:
        path = Path(args.file)
        try:
            texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except FileNotFoundError:
            raise UserError(f"text file {path} does not exist; check the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {path}: {exc}; give a UTF-8 text file, one text per line") from None
    if not texts:
        raise UserError("nothing to predict; give --text \"...\" (repeatable) or --file FILE")
    from workbench.engine import load_predictor

    for prediction in load_predictor(args.run).predict(texts):
        print(json.dumps(prediction, ensure_ascii=False))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from workbench.engine import export_hf

    print(export_hf(args.run, args.output))
    return EXIT_OK


class ProgressPrinter:
    """Draws engine events on stderr: a one-line bar on a terminal, plain lines otherwise."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, event) -> None:
        kind = event.kind
        if kind == "run_started":
            self._line(
                f"training on {event.num_train_examples} examples, evaluating on "
                f"{event.num_eval_examples}; {event.total_steps} steps on {event.device} ({event.precision})"
            )
        elif kind == "step":
            text = (
                f"step {event.step}/{event.total_steps}  loss {event.loss:.4f}  "
                f"lr {event.learning_rate:.2e}  {event.examples_per_second:.0f} ex/s  "
                f"ETA {_duration(event.eta_seconds)}"
            )
            if self.tty:
                width = 24
                done = int(width * event.step / max(event.total_steps, 1))
                self.stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {text}\x1b[K")
                self.stream.flush()
            else:
                self._line(text)
        elif kind == "eval":
            m = event.metrics
            self._line(
                f"eval at step {event.step}: loss {m['loss']:.4f}  accuracy {m['accuracy']:.4f}  "
                f"macro-F1 {m['f1_macro']:.4f}"
            )
        elif kind == "notice":
            self._line(event.message)
        elif kind == "finished" and event.status != "failed":
            self._line(f"run {event.status}: {event.run_dir}")

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[K" if self.tty else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
