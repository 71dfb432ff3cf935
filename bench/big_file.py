"""Training on a big CSV: memory and time before the first step.

Generates a CSV of short labelled sentences (default 300 MB) in a temporary folder, runs
`workbench train` on it in a child process with `log_every_steps = 1` (a config file: no
flag exists only for this), samples the child's RSS every 0.2 s, and stops it (SIGKILL) once
the first step is logged: what matters here is what happens before training, not the run.
Prints one JSON object: the file, peak RSS (the kernel's high-water mark, VmHWM), RSS over
time, seconds to the first progress line on stderr, seconds to the first step, and the
stderr lines with their times.

    python bench/big_file.py [--mb 300] [--rows-per-mb N] [--keep DIR]

Timings on a shared machine move with its load (printed): compare runs made back to back.

Measured 2026-12-02 on the shared 2-core machine (MiniLM, max_length 64, batch 16):
- 30 MB (560,000 rows), back to back at load 13-14: before (101dcf3) peak RSS 1,801 MB,
  nothing on stderr for 128 s, first step at 134 s; after: peak 882 MB, "Reading … 0 %" at
  6.1 s, first step at 130 s (tokenising itself is the tokenizer's time, unchanged).
- 100 MB (1.82 M rows), load 6-7: peak 1,225 MB, first progress 4.8 s, first step 167 s.
- 300 MB (5.44 M rows), load 2-9: peak RSS 2,115 MB (at the first step; ~1.3-1.4 GB while
  tokenising), "Reading … 0 %" at 3.9 s, read by 5.4 s, tokenised by 371 s, first step at
  378 s. (At load 12-13 the same run was still tokenising at 2,400 s, peak 1,795 MB so far.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

WORDS = (
    "the a film movie story plot actor actress scene music score ending start one two good "
    "great bad awful fine dull boring brilliant moving funny sad long short slow fast very "
    "quite rather not never always again really truly simply just so too and but or with "
    "without for from into about over after before while because although it this that these "
    "those was is were are be been being has have had do does did i you we they he she "
    "loved hated liked enjoyed watched saw felt thought found made gave took kept left "
    "characters dialogue camera light colour sound picture time minutes hours day night "
    "best worst better worse most least more less much many few little big small new old"
).split()


def generate(path: Path, megabytes: float, seed: int = 0) -> int:
    """A CSV `text,label` of about `megabytes` MB: sentences of 4-14 words, two labels.
    Returns the number of rows."""
    rng = np.random.default_rng(seed)
    target = int(megabytes * 2**20)
    words = np.asarray(WORDS, dtype=object)
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("text,label\n")
        written = 0
        while written < target:
            n = 20_000
            lengths = rng.integers(4, 15, size=n)
            picks = rng.integers(0, len(words), size=int(lengths.sum()))
            labels = rng.integers(0, 2, size=n)
            block, start = [], 0
            for length, label in zip(lengths, labels, strict=True):
                sentence = " ".join(words[picks[start : start + length]])
                start += length
                block.append(f"{sentence},{'positive' if label else 'negative'}\n")
            text = "".join(block)
            out.write(text)
            written += len(text)
            rows += n
    return rows


def _rss_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a process in MB, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def measure(data: Path, workdir: Path, timeout: float) -> dict:
    config = workdir / "bench.toml"
    config.write_text(
        'task = "text-classification"\nepochs = 1\nbatch_size = 16\nmax_length = 64\n'
        "log_every_steps = 1\neval_sample = 200\n",
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-m",
        "workbench",
        "train",
        "--config",
        str(config),
        "--data",
        str(data),
        "--output",
        str(workdir / "run"),
    ]
    env = {**os.environ, "WORKBENCH_HOME": str(workdir / "home")}
    start = time.monotonic()
    child = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True
    )
    lines: list[tuple[float, str]] = []
    first_step = threading.Event()

    def read_stderr() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            now = time.monotonic() - start
            for part in line.replace("\r", "\n").splitlines():
                if part.strip():
                    lines.append((round(now, 2), part.strip()[:200]))
                    if part.startswith("step "):
                        first_step.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    samples: list[tuple[float, float]] = []
    peak = 0.0
    while child.poll() is None and not first_step.is_set():
        now = time.monotonic() - start
        if now > timeout:
            break
        rss = _rss_mb(child.pid)
        if rss is not None:
            samples.append((round(now, 1), round(rss[0], 1)))
            peak = max(peak, rss[1])
        time.sleep(0.2)
    rss = _rss_mb(child.pid)
    if rss is not None:
        peak = max(peak, rss[1])
    step_seconds = round(time.monotonic() - start, 2) if first_step.is_set() else None
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join(timeout=5)
    progress = [t for t, text in lines if text.startswith(("Reading ", "Tokenising "))]
    every = max(1, len(samples) // 60)  # about 60 points over time
    return {
        "peak_rss_mb": round(peak, 1),
        "seconds_to_first_progress": progress[0] if progress else None,
        "seconds_to_first_stderr_line": lines[0][0] if lines else None,
        "seconds_to_first_step": step_seconds,
        "rss_over_time_mb": samples[::every],
        "stderr": lines[:80],
        "exit": child.returncode,
        "command": " ".join(command),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=300.0, help="size of the generated CSV")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this")
    parser.add_argument("--keep", type=Path, help="write the CSV here (and reuse it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="workbench-big-") as tmp:
        workdir = Path(tmp)
        folder = args.keep or workdir
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / f"big_{args.mb:g}mb.csv"
        if not data.exists():
            rows = generate(data, args.mb)
        else:
            rows = sum(1 for _ in open(data, "rb")) - 1
        result = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "load_average": os.getloadavg(),
            "file_mb": round(data.stat().st_size / 2**20, 1),
            "rows": rows,
            **measure(data, workdir, args.timeout),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
