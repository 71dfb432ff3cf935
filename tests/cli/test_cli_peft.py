"""The CLI's freezing and LoRA flags: a LoRA run, its two exports, and bad values (exit 2;
the other bad combinations are checked in tests/engine/test_peft.py)."""

from __future__ import annotations

import json

import pytest
from test_cli import run_cli

SMALL = ("--epochs", "1", "--batch-size", "8", "--max-length", "32", "--lr", "1e-3")


def test_lora_train_prints_the_counts_and_exports_merged_and_adapter(reviews_csv, tmp_path):
    run_dir = tmp_path / "run"
    done = run_cli(
        "train", "--data", str(reviews_csv), *SMALL, "--lora-rank", "4", "--output", str(run_dir)
    )
    assert done.returncode == 0, done.stderr
    # MiniLM: 6 layers x (query, value) x 4 x (384 + 384), plus the 2-label classifier
    assert "trainable parameters: 37,634 of 22," in done.stderr
    config = (run_dir / "config.toml").read_text(encoding="utf-8")
    assert "lora_rank = 4" in config and 'lora_targets = "default"' in config

    hf = run_cli("export", str(run_dir), "--format", "hf", "--output", str(tmp_path / "hf"))
    assert hf.returncode == 0, hf.stderr
    peft = run_cli("export", str(run_dir), "--format", "peft", "--output", str(tmp_path / "ad"))
    assert peft.returncode == 0, peft.stderr
    adapter = json.loads((tmp_path / "ad" / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["r"] == 4 and adapter["peft_type"] == "LORA"


@pytest.mark.parametrize(
    "flags, message",
    [
        (("--lora-rank", "-2"), "--lora-rank must be at least 1"),
        (("--lora-rank", "4", "--lora-dropout", "1"), "--lora-dropout must be at least 0 and"),
        (("--freeze-layers", "9"), "--freeze-layers 9 is more than this model's 6 layers"),
        (("--lora-rank", "2", "--lora-targets", "c_attn"), "--lora-targets 'c_attn' matches no"),
    ],
)
def test_bad_values_exit_2_with_one_line_and_no_run_folder(reviews_csv, tmp_path, flags, message):
    run_dir = tmp_path / "run"
    done = run_cli("train", "--data", str(reviews_csv), *flags, "--output", str(run_dir))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not run_dir.exists()


def test_peft_export_of_a_full_run_exits_2(trained_run, tmp_path):
    done = run_cli("export", str(trained_run), "--format", "peft", "--output", str(tmp_path / "a"))
    assert done.returncode == 2
    assert "no LoRA adapter" in done.stderr and "--format hf" in done.stderr
