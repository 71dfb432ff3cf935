"""`workbench predict --file`: the texts of a file (or standard input) as they are read, and a
progress line for a terminal.

A file of 10,000 texts used to be read, decoded and encoded whole before the first answer;
now the texts come in chunks, so answers start at once and memory stays that of one chunk
(`workbench predict run --file big.txt | head` stops early too). A line that is not UTF-8
is named by its number.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from workbench.errors import UserError

CHUNK = 256
"""Texts per call of the predictor: big enough for full batches, small enough to start soon."""


def open_text_file(name: str) -> tuple[BinaryIO, int | None]:
    """The file `name` ("-": standard input) opened for reading bytes, and its size when it is
    a regular file (for the progress). UserError when it cannot be read."""
    if name == "-":
        return sys.stdin.buffer, None
    path = Path(name).expanduser()
    try:
        handle = open(path, "rb")  # noqa: SIM115 (the caller closes it)
    except FileNotFoundError:
        raise UserError(f"text file {path} does not exist; check the path") from None
    except OSError as exc:
        raise UserError(
            f"cannot read {path}: {exc.strerror or exc}; give a UTF-8 text file, one text per line"
        ) from None
    info = os.fstat(handle.fileno())
    if stat.S_ISDIR(info.st_mode):
        handle.close()
        raise UserError(f"cannot read {path}: it is a folder; give a UTF-8 text file")
    return handle, info.st_size if stat.S_ISREG(info.st_mode) else None


def text_chunks(handle: BinaryIO, name: str, chunk: int = CHUNK) -> Iterator[tuple[list[str], int]]:
    """Lists of at most `chunk` texts (blank lines skipped, as before), each with the bytes
    read so far. One line at a time is decoded: a pipe's texts arrive as they are written."""
    texts: list[str] = []
    done = 0
    for number, raw in enumerate(handle, 1):
        done += len(raw)
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise UserError(
                f"cannot read {name}: line {number:,} is not UTF-8 text; give a UTF-8 text file, "
                "one text per line"
            ) from None
        texts.extend(piece for piece in line.splitlines() if piece.strip())
        if len(texts) >= chunk:
            yield texts, done
            texts = []
    if texts:
        yield texts, done


class LineProgress:
    """A line "predicting: 2,560 texts  25%" on a terminal, redrawn at most 10 times a second;
    silent when the stream is not a terminal (a log file, a pipe)."""

    def __init__(self, stream: IO[str], total_bytes: int | None) -> None:
        self.stream = stream
        self.total = total_bytes
        self.shown = False
        self._last = 0.0
        try:
            self.active = stream.isatty()
        except (AttributeError, ValueError):
            self.active = False

    def update(self, texts: int, done_bytes: int, force: bool = False) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        text = f"predicting: {texts:,} texts"
        if self.total:
            share = min(done_bytes / self.total, 1.0)
            width = 24
            bar = "#" * int(width * share) + "." * (width - int(width * share))
            text = f"[{bar}] {text}  {share:.0%}"
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self.shown = True

    def finish(self, texts: int) -> None:
        """The bar becomes a summary line, on a terminal only."""
        if self.active and self.shown:
            self.stream.write(f"\r\x1b[Kpredicted {texts:,} texts\n")
            self.stream.flush()
            self.shown = False

    def clear(self) -> None:
        """Take the line away before other output, or at the end."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
