"""`workbench train` in a child process whose save of the final model is interrupted by a
second Ctrl+C: the real CLI and its real SIGINT handler; only the save is instrumented, so
the signal lands while the model folder is half-written (weights there, no tokenizer yet).

    python signal_driver.py ARGS…   (the arguments of `workbench train`)

Test-only: the engine has no such hook of its own.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from workbench.cli import main
from workbench.engine.training import run


def interrupted_save(staging: Path, *args, **kwargs) -> None:
    (Path(staging) / "model.safetensors").write_bytes(b"half of the weights")
    os.kill(os.getpid(), signal.SIGINT)  # the user's second Ctrl+C, now
    time.sleep(30)  # the handler raises KeyboardInterrupt in here
    raise AssertionError("the second Ctrl+C did not abort the save")


if __name__ == "__main__":
    run.save_folder = interrupted_save
    sys.exit(main(["train", *sys.argv[1:]]))
