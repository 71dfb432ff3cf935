"""The catalogue, prediction-time text and arguments: strange text gets an answer (with a note
when there is nothing to read), never a traceback; text that is not UTF-8 gets one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# name -> (the text, whether predict must add a note that it had nothing to read)
TEXT_CASES: dict[str, tuple[str, bool]] = {
    "empty": ("", True),
    "whitespace only": (" \t \u3000 ", True),
    "zero-width only": ("\u200b\u200c\u200d\ufeff", True),
    "control characters only": ("\x01\x02\x1b\x7f", True),
    "100,000 characters": ("a good film " * 8334, False),
    "NUL bytes": ("a\x00good\x00film", False),
    "zero-width inside words": ("gr\u200beat fi\u200dlm", False),
    "ANSI escapes": ("\x1b[31mred\x1b[0m text", False),
    "right-to-left scripts": ("فيلم رائع جدا שלום עולם", False),
    "emoji": ("😀🎉👍🏽👨‍👩‍👧 great", False),
    "mixed scripts": ("Hello мир 世界 مرحبا 🌍 naïve", False),
    "combining marks": ("Z\u0351\u0352\u0353a\u0354\u0355l\u0356go", False),
}


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_predict_answers_any_text(case, micro_trained, cli):
    text, noted = TEXT_CASES[case]
    result = cli("predict", micro_trained, "--text", text, "--text", "a fine film")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    predictions = [json.loads(line) for line in result.out.splitlines()]
    assert len(predictions) == 2  # one per text, in order
    for prediction in predictions:
        assert prediction["label"] in ("negative", "positive")
        assert abs(sum(prediction["scores"].values()) - 1) < 1e-5
    assert ("text 1 is empty or has only invisible characters" in result.err) == noted
    assert "text 2" not in result.err


def test_text_that_is_not_utf8_gets_one_line(micro_trained, cli):
    from refusals import assert_refused

    # Bytes that are not UTF-8 reach Python's argv as lone surrogates (surrogateescape).
    line = assert_refused(cli("predict", micro_trained, "--text", "caf\udce9"), r"--text is not")
    assert "valid UTF-8 text" in line and "--file" in line


def test_predict_file_that_is_binary_or_empty(tmp_path, micro_trained, cli):
    from refusals import assert_refused

    (tmp_path / "b.txt").write_bytes(bytes(range(256)))
    (tmp_path / "e.txt").write_text("\n \n", "utf-8")
    assert_refused(cli("predict", micro_trained, "--file", tmp_path / "b.txt"),
                   r"give a UTF-8 text file, one text per line")  # fmt: skip
    assert_refused(cli("predict", micro_trained, "--file", tmp_path / "e.txt"),
                   r"nothing to predict; give --text")  # fmt: skip
    assert_refused(cli("predict", micro_trained, "--file", tmp_path / "none.txt"),
                   r"none\.txt does not exist")  # fmt: skip


def test_predict_default_says_to_train_first(cli):
    from refusals import assert_refused

    assert_refused(cli("predict", "default", "--text", "x"),
                   r'"default" is the bundled pretrained model, not trained .*workbench train')  # fmt: skip


def test_predict_into_a_closed_pipe_ends_quietly(micro_trained):
    # `workbench predict … | head -0`: the reader is gone before the first line is written.
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workbench",
            "predict",
            str(micro_trained),
            "--text",
            "a",
            "--text",
            "b",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    child.stdout.close()
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
