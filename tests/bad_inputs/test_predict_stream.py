"""The catalogue, `workbench predict --file` with 10,000 lines: streamed (answers come before
the input ends, so neither the file nor its encodings are held whole), a progress line only
when stderr is a terminal, and `| head` ends quietly."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from refusals import assert_refused

LINES = 10_000


def _predict(run: Path, *args: str, **popen) -> subprocess.Popen:
    # One thread: on a busy machine two spin at every parallel region (see test_resume.py).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "predict", str(run), *args], env=env, **popen
    )


def _texts(start: int, stop: int) -> bytes:
    return "".join(f"text number {i} is a fine film\n" for i in range(start, stop)).encode()


def _readline(stream, timeout: float) -> bytes:
    """One line from a pipe, or b"" when none came in `timeout` seconds."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else b""


def test_answers_start_before_the_input_ends(micro_trained):
    # Standard input stays open: a CLI that read it whole first would print nothing here.
    child = _predict(micro_trained, "--file", "-", stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        child.stdin.write(_texts(0, 300))
        child.stdin.flush()
        first = _readline(child.stdout, timeout=240)
        assert first, "no answer while the input was still open"
        assert json.loads(first)["label"] in ("negative", "positive")

        def write_the_rest() -> None:  # while this thread reads the answers (no deadlock)
            child.stdin.write(_texts(300, 2_000))
            child.stdin.close()

        writer = threading.Thread(target=write_the_rest, daemon=True)
        writer.start()
        rest = child.stdout.read()
        err = child.stderr.read()
        writer.join(60)
    finally:
        child.kill() if child.poll() is None else None
    assert child.wait(timeout=60) == 0, err
    assert len(rest.splitlines()) + 1 == 2_000
    assert err == b""  # stderr is no terminal: no progress line


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
def test_a_progress_line_on_a_terminal_and_every_answer_on_stdout(micro_trained, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_bytes(_texts(0, LINES))
    main, terminal = pty.openpty()
    answers_file = open(tmp_path / "answers.jsonl", "wb")  # noqa: SIM115 (a pipe could fill up)
    child = _predict(micro_trained, "--file", texts, stdout=answers_file, stderr=terminal)
    os.close(terminal)
    answers_file.close()
    shown = b""
    while True:  # the terminal's side: until the child has closed it
        try:
            piece = os.read(main, 4096)
        except OSError:  # EIO: no writer left
            break
        if not piece:
            break
        shown += piece
    assert child.wait(timeout=60) == 0
    os.close(main)
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_bytes().splitlines()]
    assert len(answers) == LINES and "Traceback" not in shown.decode()
    assert b"] predicting: 256 texts  " in shown and shown.count(b"\r[") >= 2  # redrawn
    assert shown.endswith(b"\r\x1b[Kpredicted 10,000 texts\r\n")  # then a summary line


def test_head_ends_a_10000_line_prediction_quietly(micro_trained, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_bytes(_texts(0, LINES))
    child = _predict(micro_trained, "--file", texts, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)  # fmt: skip
    head = [child.stdout.readline() for _ in range(3)]  # `| head -3`
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=240) == 0, err
    assert all(json.loads(line)["label"] for line in head)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err


def test_a_line_that_is_not_utf8_is_named(micro_trained, tmp_path, cli):
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"a fine film\nanother one\ncaf\xe9 au lait\n")
    assert_refused(cli("predict", micro_trained, "--file", texts),
                   r"texts\.txt: line 3 is not UTF-8 text; give a UTF-8 text file")  # fmt: skip
