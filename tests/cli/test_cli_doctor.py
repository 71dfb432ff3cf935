"""`workbench doctor` as a user types it: the readable report, --json, and mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workbench.cli import EXIT_OK, EXIT_USAGE, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=dict(os.environ),
        timeout=300,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def training_file(tmp_path: Path) -> Path:
    rows = "".join(f"good review {i},pos\nbad review {i},neg\n" for i in range(6))
    return write(tmp_path / "train.csv", "text,label\n" + rows + "good review 1,neg\n,pos\n")


def test_the_readable_report_puts_problems_first_with_examples_indented(tmp_path):
    evaluation = write(tmp_path / "eval.csv", "text,label\ngood review 2,pos\nso so,neutral\n")
    done = run_cli("doctor", str(training_file(tmp_path)), "--eval-data", str(evaluation))
    assert done.returncode == EXIT_OK, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "train.csv: 14 rows, 13 used by training"
    assert lines[1] == "eval.csv: 2 rows, 2 used by training"
    findings = [line for line in lines if not line.startswith(" ")][3:-1]
    severities = [line.split()[0] for line in findings]
    assert severities == sorted(severities, key=["PROBLEM", "warning", "info"].index)
    assert any(
        line.startswith("PROBLEM") and "never saw" in line and "'neutral' 1" in line
        for line in findings
    )
    conflict = lines.index(next(line for line in lines if "different labels" in line))
    assert lines[conflict + 1].strip() == 'row 3, 13: "good review 1"  labels: neg | pos'
    assert lines[-1] == "2 problems, 3 warnings, 8 fine"
    assert done.stderr == ""


def test_json_prints_one_object_and_takes_the_role_flags(tmp_path):
    path = write(
        tmp_path / "data.csv",
        "id,body,gold\n" + "".join(f"{i},text number {i},{'ab'[i % 2]}\n" for i in range(10)),
    )
    done = run_cli(
        "doctor",
        str(path),
        "--text-column",
        "body",
        "--label-column",
        "gold",
        "--json",
        "--max-length",
        "8",
        "--sample",
        "4",
    )
    assert done.returncode == EXIT_OK, done.stderr
    report = json.loads(done.stdout)
    assert report["columns"] == {"text_column": "body", "label_column": "gold"}
    assert report["task"] == "text-classification" and report["max_length"] == 8
    lengths = next(f for f in report["findings"] if f["check"] == "token_lengths")
    assert lengths["counts"]["sampled"] == 4
    assert report["summary"]["problem"] == 0


def test_no_header_reads_the_first_row_as_data(tmp_path, capsys):
    path = write(tmp_path / "bare.csv", "".join(f"text {i} here,{'xy'[i % 2]}\n" for i in range(8)))
    code = main(
        [
            "doctor",
            str(path),
            "--no-header",
            "--text-column",
            "column_1",
            "--label-column",
            "column_2",
            "--json",
        ]
    )
    assert code == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["rows"]["train"]["read"] == 8
    balance = next(f for f in report["findings"] if f["check"] == "label_balance")
    assert balance["counts"]["labels"] == {"x": 4, "y": 4}


def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    assert main(["doctor", str(tmp_path / "missing.csv")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    data = training_file(tmp_path)
    assert main(["doctor", str(data), "--text-column", "nope"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--text-column" in err
    assert main(["doctor", str(data), "--model", str(tmp_path)]) == EXIT_USAGE
    assert "config.json" in capsys.readouterr().err
    assert main(["doctor", str(data), "--max-length", "2"]) == EXIT_USAGE
    assert "max_length" in capsys.readouterr().err
    done = run_cli("doctor", str(data), "--task", "no-such-task")
    assert done.returncode == EXIT_USAGE and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
