"""The `workbench` command: the GUI by default, and train/evaluate/predict/export.

Bad input ends with one line on stderr that says what is wrong and what to do, and exit
code 2; a run that fails after it started exits 1. No tracebacks for the user's mistakes.
`train`: Ctrl+C (or SIGTERM) once stops after the current step, saves and evaluates the model
trained so far, prints the run folder and exits 0 (the run is "stopped" and can be resumed);
a second one aborts at once with exit 130 (143 for SIGTERM), leaving the run's last complete
checkpoint for `--resume` and nothing half-written. Each command writes the app log.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from workbench import __version__
from workbench.config import GENERAL_DEFAULTS, RunConfig
from workbench.errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Column roles: CLI flag -> RunConfig field (train and evaluate).
ROLE_FLAGS: dict[str, tuple[str, type, str]] = {
    "--text-column": ("text_column", str, "column with the text (default: guessed)"),
    "--text-pair-column": (
        "text_pair_column",
        str,
        "column with the second text of a pair (default: guessed)",
    ),
    "--label-column": (
        "label_column",
        str,
        "column with the label, labels, tags or number (default: guessed)",
    ),
    "--question-column": (
        "question_column",
        str,
        "question answering: the question (default: guessed)",
    ),
    "--context-column": (
        "context_column",
        str,
        "question answering: the context (default: guessed)",
    ),
    "--answer-column": ("answer_column", str, "question answering: the answer (default: guessed)"),
    "--prompt-column": (
        "prompt_column",
        str,
        "causal LM on pairs: the prompt (default: guessed)",
    ),
    "--response-column": (
        "response_column",
        str,
        "causal LM on pairs: the response, the only tokens trained on (default: guessed)",
    ),
    "--source-column": ("source_column", str, "seq2seq: the input text (default: guessed)"),
    "--target-column": ("target_column", str, "seq2seq: the text to generate (default: guessed)"),
}
# CLI flag -> RunConfig field, for `train`.
TRAIN_FLAGS: dict[str, tuple[str, type, str]] = {
    "--task": ("task", str, "what to train for (see the list above)"),
    "--data": (
        "data",
        str,
        "training data: .csv, .tsv, .jsonl, .json, .parquet, .xlsx, CoNLL, SQuAD JSON, .txt or a folder",
    ),
    "--eval-data": (
        "eval_data",
        str,
        "validation data (default: hold out 10%% of the training data)",
    ),
    **ROLE_FLAGS,
    "--model": (
        "model",
        str,
        '"default" (bundled all-MiniLM-L6-v2) or a Hugging Face model folder',
    ),
    "--epochs": ("epochs", int, "passes over the training data"),
    "--max-steps": (
        "max_steps",
        int,
        "stop after N optimizer steps, the schedule ending there; overrides --epochs "
        "(default: off)",
    ),
    "--batch-size": ("batch_size", int, "examples per step"),
    "--lr": ("learning_rate", float, "peak learning rate"),
    "--warmup-ratio": ("warmup_ratio", float, "fraction of steps to warm up"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay"),
    "--dropout": (
        "dropout",
        float,
        "dropout while training, 0 to 0.9 (default 0); try 0.1 if a long run overfits",
    ),
    "--max-length": ("max_length", int, "tokens per input or window"),
    "--truncation": ("truncation", str, "what a long text loses: tail, head or head+tail"),
    "--stride": ("stride", int, "tokens shared by overlapping windows (NER, QA)"),
    "--early-stopping": (
        "early_stopping_patience",
        int,
        "stop after N evaluations without improvement; keep the best model (0: off)",
    ),
    "--eval-sample": (
        "eval_sample",
        int,
        "evaluations during training use at most this many examples",
    ),
    "--mlm-probability": ("mlm_probability", float, "masked LM: share of tokens to mask"),
    "--seed": ("seed", int, "random seed"),
    "--precision": ("precision", str, "auto, fp32, bf16 or fp16"),
    "--device": ("device", str, "auto, cpu, cuda or mps"),
    "--eval-every": (
        "eval_every_steps",
        int,
        "evaluate every N steps (default: about 5 times per run)",
    ),
    "--checkpoint-every": (
        "checkpoint_every_steps",
        int,
        "save a checkpoint for --resume every N steps (default: about every 10 minutes of "
        "training, and at each epoch end)",
    ),
    "--max-bad-steps": (
        "max_bad_steps",
        int,
        "steps with a non-finite loss are skipped; stop after this many in a row (default 3)",
    ),
    "--keep-checkpoints": (
        "keep_checkpoints",
        int,
        "how many of the newest checkpoints to keep, besides the best",
    ),
    "--output": ("output", str, "run folder to create (default: a new folder in your runs folder)"),
    "--freeze-layers": ("freeze_layers", int, "keep the bottom N transformer layers frozen"),
    "--lora-rank": (
        "lora_rank",
        int,
        "train LoRA updates of rank R (and the new head), freezing the base model (default: off)",
    ),
    "--lora-alpha": (
        "lora_alpha",
        float,
        "LoRA scale alpha; updates scale by alpha/R (default 2R)",
    ),
    "--lora-dropout": ("lora_dropout", float, "dropout on LoRA's input, 0 to below 1"),
    "--lora-targets": (
        "lora_targets",
        str,
        "layers LoRA adapts: default (attention query/value), attention, all (attention and "
        "MLP), or module names such as query,value",
    ),
}


# Switches: CLI flag -> (RunConfig field, value when given, help).
TRAIN_SWITCHES: dict[str, tuple[str, Any, str]] = {
    "--freeze-embeddings": ("freeze_embeddings", True, "keep the input embeddings frozen"),
    "--head-only": ("head_only", True, "train only the task head's new weights"),
    "--gradient-checkpointing": (
        "gradient_checkpointing",
        True,
        "recompute layer activations in backward: less memory, about 30%% more time",
    ),
    "--no-header": ("header", "no", "the CSV/TSV's first row is data, not column names"),
    "--header": ("header", "yes", "the CSV/TSV's first row names the columns (default: detected)"),
    "--class-weights": ("class_weights", True, "weigh the loss by inverse class frequency"),
    "--whole-word-masking": ("whole_word_masking", True, "masked LM: mask whole words"),
    "--next-sentence-prediction": (
        "next_sentence_prediction",
        True,
        "masked LM: also train BERT's next-sentence head",
    ),
    "--packing": (
        "packing",
        True,
        "causal LM: pack documents into full blocks (default for plain text)",
    ),
    "--no-packing": (
        "packing",
        False,
        "causal LM: one padded document per row (default for prompt/response pairs)",
    ),
}


# `new-model`: flag, default, help. nanoGPT's "baby GPT" sizes (about 11 M parameters with
# the 1,024-token vocabulary), which bench/tinyshakespeare_gpt2.py trains in minutes.
NEW_MODEL_SIZES: tuple[tuple[str, int, str], ...] = (
    ("--layers", 6, "transformer layers"),
    ("--heads", 6, "attention heads per layer (must divide --hidden)"),
    ("--hidden", 384, "width of the hidden states"),
    ("--context", 256, "positions: the longest input in tokens"),
    ("--vocab-size", 1024, "at most this many tokens in the fitted tokenizer (above 256)"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: what is wrong and where to look.
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workbench", description="Fine-tune pretrained transformers on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--open", metavar="FILE", help="GUI: open this data file at start")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    gui = sub.add_parser("gui", help="open the Workbench window (the default)")
    gui.add_argument("--open", metavar="FILE", help="open this data file at start")

    from workbench.engine.export import FORMAT_NAMES
    from workbench.engine.tasks import TASK_NAMES

    train = sub.add_parser(
        "train",
        help="fine-tune a model; prints the run folder",
        description="Fine-tune a model. Tasks (--task): " + ", ".join(TASK_NAMES) + ".",
    )
    train.add_argument("--config", help="run.toml with the settings (flags given here override it)")
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a stopped, failed or killed run from its last checkpoint, with its own "
        "settings and in its own folder",
    )
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    for flag, (field, kind, help_text) in TRAIN_FLAGS.items():
        if field in GENERAL_DEFAULTS:
            help_text += _task_default_help(field, kind)
        elif "default" not in help_text and defaults[field] not in (None, ""):
            shown = short_float(defaults[field]) if kind is float else defaults[field]
            help_text += f" (default {shown})"
        choices = TASK_NAMES if field == "task" else None
        train.add_argument(flag, type=kind, default=None, help=help_text, choices=choices)
    for flag, (_, value, help_text) in TRAIN_SWITCHES.items():
        train.add_argument(flag, action="store_const", const=value, default=None, help=help_text)

    evaluate = sub.add_parser(
        "evaluate", help="the task's metrics of a trained model on labelled data (JSON)"
    )
    evaluate.add_argument("run", help="run folder (or exported model folder)")
    evaluate.add_argument("--data", required=True, help="labelled data file")
    for flag, (_, kind, help_text) in ROLE_FLAGS.items():
        evaluate.add_argument(
            flag,
            type=kind,
            default=None,
            help=help_text.replace("guessed", "the run's, else guessed"),
        )

    predict = sub.add_parser("predict", help="predict for texts; one JSON object per input")
    predict.add_argument("run", help="run folder (or exported model folder)")
    predict.add_argument(
        "--text", action="append", default=[], help="a text, or the question for QA (repeatable)"
    )
    predict.add_argument(
        "--text-pair",
        action="append",
        default=None,
        help="pair tasks: the second text (one per --text)",
    )
    predict.add_argument(
        "--context",
        action="append",
        default=None,
        help="question answering: the context (one per --text)",
    )
    predict.add_argument(
        "--file",
        help="a file with one text per line (- reads standard input); answers start as it is "
        "read, with a progress line on a terminal",
    )

    generate = sub.add_parser(
        "generate",
        help="continue a prompt with a decoder (GPT-2 …), or write the target of a source text "
        "with an encoder-decoder (T5, BART), streamed as it is written",
        description="Continue --prompt with a causal language model, or write its target "
        "(a summary, a translation) with a seq2seq model; the new text is printed as it is "
        "generated. Greedy unless --temperature is above 0.",
    )
    generate.add_argument(
        "model",
        help="a decoder or an encoder-decoder: model folder, run folder, .gguf file, or "
        '"smollm2" (the bundled decoder)',
    )
    generate.add_argument(
        "--prompt", required=True, help="the text to continue (a seq2seq model: its source)"
    )
    generate.add_argument(
        "--max-new-tokens", type=int, default=64, help="at most this many new tokens (default 64)"
    )
    generate.add_argument(
        "--temperature", type=float, default=0.0, help="0 = greedy (default); above 0 samples"
    )
    generate.add_argument(
        "--top-k", type=int, default=0, help="sample among the k likeliest tokens (0 = all)"
    )
    generate.add_argument(
        "--top-p", type=float, default=1.0, help="sample within this probability mass (0-1]"
    )
    generate.add_argument(
        "--repetition-penalty",
        type=float,
        default=1.0,
        help="above 1 discourages repeating tokens (default 1 = off)",
    )
    generate.add_argument(
        "--stop",
        action="extend",
        nargs="+",
        default=[],
        metavar="S",
        help=r"stop before this text (repeatable; \n is a newline)",
    )
    generate.add_argument("--seed", type=int, default=None, help="the same seed repeats a sample")
    generate.add_argument(
        "--chat",
        action="store_true",
        help="ask as a user in the model's chat template (instruction-tuned models such as "
        "smollm2, and runs trained on prompt/response pairs)",
    )
    generate.add_argument(
        "--json", action="store_true", help='print {"text", "token_ids"} at the end instead'
    )

    export = sub.add_parser("export", help="export a trained model")
    export.add_argument("run", help="run folder")
    export.add_argument(
        "--format", choices=FORMAT_NAMES, default="hf", help="hf: a Hugging Face folder"
    )
    export.add_argument("--output", required=True, help="folder to create")

    new_model = sub.add_parser(
        "new-model",
        help="write a GPT-2 model folder to train from scratch, with a tokenizer fitted to "
        "your text; prints the folder",
        description="Write a GPT-2 config.json (no weights) and a byte-level BPE tokenizer "
        "fitted to --data into a new folder; `workbench train --task causal-lm --model "
        "FOLDER` then trains it from random weights.",
    )
    new_model.add_argument("family", choices=("gpt2",), help="the architecture (gpt2 for now)")
    new_model.add_argument(
        "--data",
        required=True,
        help="the training text the tokenizer is fitted to: .txt, or a table with a text column",
    )
    new_model.add_argument(
        "--text-column", default=None, help="the table's text column (default: guessed)"
    )
    new_model.add_argument("--output", required=True, help="new (or empty) folder to write")
    for flag, default, help_text in NEW_MODEL_SIZES:
        new_model.add_argument(
            flag, type=int, default=default, help=f"{help_text} (default {default})"
        )

    models = sub.add_parser(
        "models", help="what a model is: family, size, the tasks it supports (JSON)"
    )
    models.add_argument(
        "model",
        nargs="*",
        default=None,
        help='"default", model folders or org/name of models in the Hugging Face cache',
    )
    models.add_argument(
        "--list",
        action="store_true",
        help="every model on offer: the bundled ones and each one in the Hugging Face cache "
        "(those Workbench cannot read with the reason)",
    )

    download = sub.add_parser(
        "download",
        help="download a model by repo id into the Hugging Face cache (needs huggingface_hub)",
    )
    download.add_argument("repo_id", help="the model's repository, as org/name")
    download.add_argument("--revision", default=None, help="branch, tag or commit (default main)")

    doctor = sub.add_parser(
        "doctor",
        help="check data before training: labels, duplicates, leakage, lengths, unknown tokens",
        description="Check training data (and evaluation data) the way training reads it.",
    )
    doctor.add_argument("data", help="training data file (or folder of class sub-folders)")
    doctor.add_argument(
        "--eval-data", help="validation data: checked too, and for leakage from the training data"
    )
    doctor.add_argument(
        "--task",
        choices=TASK_NAMES,
        default="text-classification",
        help="read the data as this task does (default text-classification)",
    )
    for flag, (_, kind, help_text) in ROLE_FLAGS.items():
        doctor.add_argument(flag, type=kind, default=None, help=help_text)
    doctor.add_argument(
        "--model",
        default="default",
        help="whose tokenizer counts lengths and unknown tokens (default: the bundled model)",
    )
    doctor.add_argument(
        "--max-length", type=int, default=None, help="tokens per input (default: the task's)"
    )
    doctor.add_argument(
        "--truncation",
        default="head+tail",
        help="what a long text loses: tail, head or head+tail (default: head+tail, as train)",
    )
    doctor.add_argument(
        "--sample",
        type=int,
        default=5000,
        help="texts to tokenise for lengths and unknown tokens (default 5000)",
    )
    for flag in ("--no-header", "--header"):
        doctor.add_argument(
            flag,
            action="store_const",
            const=TRAIN_SWITCHES[flag][1],
            dest="header",
            help=TRAIN_SWITCHES[flag][2],
        )
    doctor.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the readable report"
    )
    return parser


def short_float(value: float) -> str:
    """1.25e-4 rather than 0.000125 for small rates, as the GUI shows them."""
    if value == 0 or abs(value) >= 1e-3:
        return f"{value:g}"
    mantissa, exponent = f"{value:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _task_default_help(field: str, kind: type) -> str:
    """ "(default 1.25e-4; question-answering 1e-4)": the general default and the tasks'."""
    from workbench.engine.tasks import TASK_NAMES, task_defaults

    def show(value: Any) -> str:
        return short_float(value) if kind is float else str(value)

    general = GENERAL_DEFAULTS[field]
    special = [
        f"{name} {show(task_defaults(name)[field])}"
        for name in TASK_NAMES
        if task_defaults(name)[field] != general
    ]
    return f" (default {show(general)}" + "".join(f"; {s}" for s in special) + ")"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in (None, "gui"):  # the GUI sets up the app log itself
        return _main(args)
    from workbench import applog

    applog.setup()  # WORKBENCH_HOME/logs/workbench.log; the command runs on without it
    applog.logger.info("workbench %s", args.command)
    try:
        return _main(args)
    finally:
        applog.shutdown()  # the log and the crash file closed, not left to the interpreter


def _main(args: argparse.Namespace) -> int:
    try:
        _check_text_arguments(args)
        if args.command in (None, "gui"):
            return _gui(args)
        commands = {
            "train": _train,
            "evaluate": _evaluate,
            "predict": _predict,
            "generate": _generate,
            "export": _export,
            "models": _models,
            "new-model": _new_model,
            "download": _download,
            "doctor": _doctor,
        }
        return commands[args.command](args)
    except UserError as exc:
        _log_refusal(args.command, exc)
        print(f"workbench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl+C outside a run (train handles its own): no traceback
        print("\nworkbench: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # `workbench predict … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return EXIT_OK
    except Exception as exc:  # a bug or the machine: one line here, the traceback in the log
        if args.command in (None, "gui"):
            raise  # the GUI's own crash handling has shown and logged it
        from workbench import applog

        applog.log_exception(f"workbench {args.command}", exc)
        where = applog.log_path() if applog.is_set_up() else "(no app log)"
        print(
            f"workbench: unexpected error ({type(exc).__name__}: {exc}); the details are in "
            f"{where}: please send that file with a report",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _log_refusal(command: str | None, exc: UserError) -> None:
    """A refused command in the app log, so a user's report has what they were told."""
    if command not in (None, "gui"):
        from workbench import applog

        applog.logger.warning("workbench %s refused: %s", command, exc)


# Arguments that are file or folder names: any bytes the file system allows.
_PATH_ARGUMENTS = frozenset({"open", "config", "resume", "data", "eval_data", "model", "output"})
_PATH_ARGUMENTS |= {"run", "file"}


def _check_text_arguments(args: argparse.Namespace) -> None:
    """Text that is not UTF-8 reaches Python as lone surrogates, which no tokenizer takes."""
    for name, value in vars(args).items():
        if name in _PATH_ARGUMENTS:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    flag = "--" + name.replace("_", "-")
                    raise UserError(
                        f"{flag} is not valid UTF-8 text ({item.encode('utf-8', 'replace')!r}); "
                        "set your terminal to UTF-8 or pass the text with --file"
                    ) from None


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
    for flag, (field, _, _) in TRAIN_SWITCHES.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            values[field] = value
    return RunConfig.from_dict(values)


def _train(args: argparse.Namespace) -> int:
    if args.resume:
        _check_resume_alone(args)
    else:
        config = config_from_args(args)
    from workbench.engine import resume, train

    stop = threading.Event()
    signals: list[int] = []
    # SIGTERM (`kill`, a logout, a job scheduler) stops a run as Ctrl+C does.
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def on_interrupt(signum, frame) -> None:
        signals.append(signum)
        if stop.is_set():
            raise KeyboardInterrupt  # the second: abort (every write is atomic)
        stop.set()
        what = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
        # os.write, not print: the handler may run inside the printer's own write.
        os.write(2, f"\nstopping after this step ({what}; Ctrl+C again to abort)…\n".encode())

    for signum in previous:
        signal.signal(signum, on_interrupt)
    if not args.resume and sys.stderr.isatty():  # a pipe or a log gets no extra line
        _say_big_data(config, sys.stderr)
    run_dirs: list[str] = []
    try:
        try:
            printer = _logged(ProgressPrinter(sys.stderr), run_dirs)
            if args.resume:
                run_dirs.append(str(args.resume))
                result = resume(args.resume, on_event=printer, should_stop=stop.is_set)
            else:
                result = train(config, on_event=printer, should_stop=stop.is_set)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    except KeyboardInterrupt:
        return _aborted(run_dirs[-1] if run_dirs else None, signals[-1] if signals else None)
    except OSError as exc:  # even the failure could not be recorded: the disk is full
        if exc.errno not in _NO_SPACE:
            raise
        return _no_space(run_dirs[-1] if run_dirs else None, exc)
    if result.status == "failed":
        print(f"workbench: training failed: {result.error}", file=sys.stderr)
        return EXIT_FAILED
    print(result.run_dir)
    return EXIT_OK


def _say_big_data(config: RunConfig, stream) -> None:
    """Reading and tokenising a big file takes minutes before the first step: say so."""
    from workbench.engine.data.readers import PREVIEW_WHOLE_BYTES

    for name in (config.data, config.eval_data):
        try:
            size = Path(name).expanduser().stat().st_size if name else 0
        except OSError:
            continue  # prepare says what is wrong with it
        if size > PREVIEW_WHOLE_BYTES:
            print(
                f"reading {Path(name).name} ({size / 2**20:,.0f} MB) and tokenising it before the "
                "first step; a big file takes a while",
                file=stream,
            )


def _logged(printer: ProgressPrinter, run_dirs: list[str] | None = None):
    """The printer, with runs started, finished and failed written to the app log too (and
    the run folder noted in `run_dirs`, for the message of an abort)."""
    from workbench import applog

    def on_event(event) -> None:
        if run_dirs is not None and getattr(event, "run_dir", None):
            run_dirs.append(str(event.run_dir))
        applog.log_event(event)
        printer(event)

    return on_event


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def _no_space(run_dir: str | None, exc: OSError) -> int:
    """A run stopped by a full disk (or a file size limit) where even its log could not be
    written: what a checkpoint needs, what is free, and what was kept. Exit 1."""
    import shutil

    from workbench import applog
    from workbench.engine import resume_status

    applog.log_exception(f"workbench train ({run_dir})", exc)
    if run_dir is None:
        print(f"workbench: training failed: {exc.strerror}; free some space", file=sys.stderr)
        return EXIT_FAILED
    status = resume_status(run_dir)
    step = status.get("step") if status.get("resumable") else None
    newest = Path(run_dir) / "checkpoints" / f"step-{step}"
    need = sum(f.stat().st_size for f in newest.rglob("*") if f.is_file()) if step else 0
    free = shutil.disk_usage(run_dir).free
    if exc.errno == errno.EFBIG:
        what = "a file of the run is larger than this process may write (see `ulimit -f`)"
    else:
        what = f"the disk is full ({free / 2**20:,.1f} MB free where {run_dir} is)"
    if step:
        kept = (
            f"a checkpoint needs {need / 2**20:,.1f} MB; the checkpoint of step {step} is "
            f"intact, so free some space and continue with `workbench train --resume {run_dir}`"
        )
    else:
        kept = "no checkpoint was saved yet, so free some space and train again"
    print(f"workbench: training failed: {what}; {kept}", file=sys.stderr)
    return EXIT_FAILED


def _aborted(run_dir: str | None, signum: int | None) -> int:
    """A second Ctrl+C (or SIGTERM): one line saying what is left, exit 128 + the signal.
    Every file of a run is written atomically and staging folders are removed on the way
    out, so the folder holds its last complete checkpoint and nothing half-written."""
    from workbench import applog
    from workbench.engine import resume_status

    signum = signum or signal.SIGINT
    if run_dir is None:
        message = "aborted before the run folder was made; nothing was written"
    else:
        status = resume_status(run_dir)
        if status.get("resumable"):
            message = (
                f"aborted; {run_dir} keeps its checkpoint of step {status.get('step')}: continue "
                f"with `workbench train --resume {run_dir}`"
            )
        else:
            message = f"aborted; {run_dir} has no checkpoint to resume from, so train again"
    applog.logger.warning("workbench train %s (signal %d)", message, signum)
    print(f"{chr(13) + chr(27) + '[K' if sys.stderr.isatty() else ''}workbench: {message}",
          file=sys.stderr)  # fmt: skip
    return 128 + signum


def _check_resume_alone(args: argparse.Namespace) -> None:
    """A resumed run keeps its settings: other settings would make it another run."""
    given = ["--config"] if args.config else []
    for flag in {**TRAIN_FLAGS, **TRAIN_SWITCHES}:
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            given.append(flag)
    if given:
        raise UserError(
            f"--resume continues a run with the settings in its config.toml; leave out "
            f"{', '.join(dict.fromkeys(given))}"
        )


def _evaluate(args: argparse.Namespace) -> int:
    from workbench.engine import evaluate

    columns = {
        field: getattr(args, flag[2:].replace("-", "_"))
        for flag, (field, _, _) in ROLE_FLAGS.items()
    }
    metrics = evaluate(args.run, args.data, {k: v for k, v in columns.items() if v})
    metrics.pop("examples", None)  # the rows behind the metrics: for the GUI's lists
    print(json.dumps(metrics, ensure_ascii=False))
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    from workbench.text_lines import open_text_file, text_chunks

    handle, size = open_text_file(args.file) if args.file else (None, None)
    try:
        if handle is not None and args.text_pair is None and args.context is None:
            return _predict_streamed(args, handle, size)
        texts = list(args.text)  # pairs and contexts are counted against every text
        if handle is not None:
            texts += [text for chunk, _ in text_chunks(handle, args.file) for text in chunk]
        return _predict_all(args, texts)
    finally:
        if handle is not None and handle is not sys.stdin.buffer:
            handle.close()


def _predict_all(args: argparse.Namespace, texts: list[str]) -> int:
    if not texts:
        raise UserError('nothing to predict; give --text "..." (repeatable) or --file FILE')
    for flag, extra in (("--text-pair", args.text_pair), ("--context", args.context)):
        if extra is not None and len(extra) != len(texts):
            raise UserError(
                f"give one {flag} per --text ({len(texts)} texts, {len(extra)} {flag} values)"
            )
    predictor = _load_predictor_for(args)
    _note_invisible(texts, 1)
    for prediction in predictor.predict(texts, text_pairs=args.text_pair, contexts=args.context):
        print(json.dumps(prediction, ensure_ascii=False))
    return EXIT_OK


def _predict_streamed(args: argparse.Namespace, handle, size: int | None) -> int:
    """--file without pairs: answers chunk by chunk as the file is read (a 10,000-line file
    starts answering at once, in the memory of one chunk), a progress line on a terminal."""
    import itertools

    from workbench.text_lines import LineProgress, text_chunks

    predictor = _load_predictor_for(args)
    progress = LineProgress(sys.stderr, size)
    chunks = text_chunks(handle, args.file)
    given = [(list(args.text), 0)] if args.text else []
    count = 0
    for texts, done in itertools.chain(given, chunks):
        if not all(map(_visible, texts)):
            progress.clear()  # the notes get lines of their own
        _note_invisible(texts, count + 1)
        for prediction in predictor.predict(texts):
            sys.stdout.write(json.dumps(prediction, ensure_ascii=False) + "\n")
        sys.stdout.flush()  # a pipe's reader gets each chunk's answers now
        count += len(texts)
        progress.update(count, done)
    progress.finish(count)
    if not count:
        raise UserError('nothing to predict; give --text "..." (repeatable) or --file FILE')
    return EXIT_OK


def _load_predictor_for(args: argparse.Namespace):
    from workbench.engine import load_predictor

    predictor = load_predictor(args.run)
    needs = set(predictor.inputs) - {"text"}
    given = {"text_pair": args.text_pair, "context": args.context}
    for need in needs:
        if given.get(need) is None:
            flag = "--" + need.replace("_", "-")
            raise UserError(f"this {predictor.task} model needs {flag} for each --text")
    return predictor


def _note_invisible(texts: list[str], first_number: int) -> None:
    for number, text in enumerate(texts, first_number):
        if not _visible(text):
            print(
                f"workbench: note: text {number} is empty or has only invisible characters; "
                "its prediction is the model's guess for no text",
                file=sys.stderr,
            )


def _visible(text: str) -> bool:
    """Any character that is not white space, a control, format (zero-width) or unassigned one."""
    import unicodedata

    return any(not c.isspace() and unicodedata.category(c)[0] != "C" for c in text)


def _generate(args: argparse.Namespace) -> int:
    from workbench.engine import load_generator
    from workbench.engine.generation.generate import GenerationSettings

    settings = GenerationSettings(  # checked before the model is loaded
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        stop=tuple(s.replace("\\n", "\n").replace("\\t", "\t") for s in args.stop),
        seed=args.seed,
    )
    generator = load_generator(args.model)
    prompt = generator.chat_prompt(args.prompt) if args.chat else args.prompt
    generation = generator.start(prompt, settings)
    try:
        for piece in generation:
            if not args.json:
                sys.stdout.write(piece)
                sys.stdout.flush()
    except KeyboardInterrupt:
        if not args.json:
            print()
        return EXIT_FAILED
    if args.json:
        result = {"text": generation.text, "token_ids": generation.token_ids}
        print(json.dumps(result, ensure_ascii=False))
    else:
        print()
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from workbench.engine import export_model

    print(export_model(args.run, args.output, args.format))
    return EXIT_OK


def _models(args: argparse.Namespace) -> int:
    from workbench.engine import describe_model
    from workbench.engine.models.checks import check_model

    if args.list:
        from workbench.engine import list_models

        for described in list_models():
            print(json.dumps(described, ensure_ascii=False))
    for name in args.model or ([] if args.list else ["default"]):
        described = describe_model(name)
        check_model(described["path"])  # the weight shapes too (imports torch; the GUI skips it)
        print(json.dumps(described, ensure_ascii=False))
    return EXIT_OK


def _new_model(args: argparse.Namespace) -> int:
    """A from-scratch GPT-2 folder; every size is checked before the data is read, and the
    folder is written only once the tokenizer is fitted."""
    from workbench.engine.models.scratch import (
        check_gpt2_sizes,
        gpt2_parameter_count,
        new_gpt2_folder,
        texts_for_tokenizer,
    )

    sizes = {
        "vocab_size": args.vocab_size,
        "n_layer": args.layers,
        "n_embd": args.hidden,
        "n_head": args.heads,
        "n_positions": args.context,
    }
    check_gpt2_sizes(**sizes)
    output = Path(args.output).expanduser()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UserError(f"--output {output} already exists and is not empty; give a new folder")
    texts = texts_for_tokenizer(args.data, args.text_column)
    folder = new_gpt2_folder(output, texts, **sizes)
    count = gpt2_parameter_count(folder)
    print(
        f"GPT-2 from scratch: {count:,} parameters; train it with `workbench train --task "
        f"causal-lm --data {args.data} --model {folder} --lr 2e-3`",
        file=sys.stderr,
    )
    print(folder)
    return EXIT_OK


def _download(args: argparse.Namespace) -> int:
    from workbench.engine import download_model

    print(download_model(args.repo_id, args.revision))
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from workbench.engine import diagnose

    values: dict[str, Any] = {
        "data": args.data,
        "eval_data": args.eval_data,
        "task": args.task,
        "model": args.model,
        "max_length": args.max_length,
        "truncation": args.truncation,
        "header": args.header or "auto",
    }
    for flag, (field, _, _) in ROLE_FLAGS.items():
        values[field] = getattr(args, flag[2:].replace("-", "_"))
    report = diagnose(RunConfig.from_dict(values), sample=args.sample)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        from workbench.engine.data.doctor import format_report

        print(format_report(report))
    return EXIT_OK


class ProgressPrinter:
    """Draws engine events on stderr: a one-line bar on a terminal, plain lines otherwise."""

    # Off a terminal, reading and tokenising are a few lines: at these shares done.
    PROGRESS_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)
    # A stage that ends sooner says nothing: a refusal stays one line, a small file quiet.
    PROGRESS_AFTER_SECONDS = 1.0

    def __init__(self, stream, clock=time.monotonic, progress_after: float | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._clock = clock
        self._after = self.PROGRESS_AFTER_SECONDS if progress_after is None else progress_after
        self._progress_shown: dict[tuple[str, str], int] = {}  # (stage, what) -> steps shown
        self._progress_began: dict[tuple[str, str], float] = {}

    def _progress(self, event) -> None:
        """Reading and tokenising: one line that updates on a terminal, else a few lines;
        nothing for a stage that ends within `progress_after` seconds."""
        key = (event.stage, event.what)
        began = self._progress_began.setdefault(key, self._clock())
        if key not in self._progress_shown and self._clock() - began < self._after:
            return
        if self.tty:
            self._progress_shown.setdefault(key, 0)
            if event.done >= event.total:
                self._line(event.message)
            else:
                self.stream.write(f"\r{event.message}\x1b[K")
                self.stream.flush()
            return
        shown = self._progress_shown.get(key, 0)
        fraction = 1.0 if event.fraction is None else event.fraction
        reached = sum(1 for share in self.PROGRESS_STEPS if fraction >= share)
        if reached > shown:
            self._progress_shown[key] = reached
            self._line(event.message)

    def __call__(self, event) -> None:
        kind = event.kind
        if kind == "progress":
            self._progress(event)
        elif kind in ("run_started", "run_resumed"):
            self._line(
                f"training on {event.num_train_examples} examples, evaluating on "
                f"{event.num_eval_examples}; {event.total_steps} steps on {event.device} ({event.precision})"
            )
            if event.total_parameters:
                share = 100 * event.trainable_parameters / event.total_parameters
                self._line(
                    f"trainable parameters: {event.trainable_parameters:,} of "
                    f"{event.total_parameters:,} ({share:.3g} %)"
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
            scalars = "  ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v:,}"
                for k, v in event.metrics.items()
                if isinstance(v, float | int) and not isinstance(v, bool) and k != "num_examples"
            )
            self._line(f"eval at step {event.step}: {scalars}")
        elif kind == "notice":
            self._line(event.message)
        elif kind == "step_skipped":
            self._line(f"step {event.step} skipped ({event.in_row} in a row): {event.reason}")
        elif kind == "finished" and event.status != "failed":
            self._line(f"run {event.status}: {event.run_dir}")

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[K" if self.tty else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
