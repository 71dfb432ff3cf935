"""Helpers for the GUI's "runs that survive" tests: a micro BERT that trains in a second, a
small CSV, and a tmpfs of a few MB (a real full disk; needs root, skipped otherwise)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from model_folders import TINY, tiny_state
from safetensors.torch import save_file

from workbench.config import RunConfig
from workbench.engine.models.registry import default_model_path

MICRO_VOCAB = 3000


def micro_bert(folder: Path) -> Path:
    """A random 16-wide BERT with the first 3,000 entries of the bundled vocabulary (220 KB
    of weights: a checkpoint is under 1 MB)."""
    folder.mkdir(parents=True)
    source = default_model_path()
    vocab = (source / "vocab.txt").read_text("utf-8").splitlines()[:MICRO_VOCAB]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", "utf-8")
    shutil.copyfile(source / "tokenizer_config.json", folder / "tokenizer_config.json")
    config = {**TINY, "vocab_size": MICRO_VOCAB}
    (folder / "config.json").write_text(json.dumps(config), "utf-8")
    save_file(tiny_state(config), str(folder / "model.safetensors"))
    return folder


def reviews_csv(path: Path, rows: int = 80) -> Path:
    lines = "".join(f"review {i} was {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(rows))
    path.write_text("text,label\n" + lines, "utf-8")
    return path


def micro_config(folder: Path, output: Path, **overrides) -> RunConfig:
    """One epoch of 24 rows (22 train: 6 steps of 4, a checkpoint at step 3), CPU, fp32."""
    model = folder / "micro"
    if not model.exists():
        micro_bert(model)
    values = dict(
        data=str(reviews_csv(folder / "reviews.csv", rows=24)),
        model=str(model),
        output=str(output),
        epochs=1,
        eval_every_steps=1000,
        checkpoint_every_steps=3,
        batch_size=4,
        max_length=16,
        log_every_steps=1,
        keep_checkpoints=1,
        precision="fp32",
        device="cpu",
    )
    values.update(overrides)
    return RunConfig.from_dict(values)


@contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` at `folder` (root only; the test is skipped otherwise)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Another program takes every free byte (but `leave`)."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free - leave
    try:
        with open(filler, "wb") as handle:
            while free > 0:
                chunk = min(free, 1 << 16)
                handle.write(b"\0" * chunk)
                handle.flush()
                free -= chunk
    except OSError:  # full
        pass
    return filler


def hidden_files(folder: Path) -> list[str]:
    """Staging folders and temporary files: what a half-written save leaves."""
    return sorted(str(p) for p in folder.rglob(".*"))
