"""bench/vs_trainer.py: its FLOP and MFU arithmetic on known shapes, and the JSON of a tiny run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import vs_trainer  # noqa: E402


def test_training_flops_is_six_n_t_plus_the_attention_term():
    # 6 * 1000 * 10 + 12 * 2 layers * 8 wide * 50
    assert vs_trainer.training_flops(1000, 2, 8, 10, 50) == 60_000 + 9_600


def test_mfu_divides_by_seconds_and_the_ceiling():
    assert vs_trainer.mfu(2e9, 2.0, 2.0) == pytest.approx(0.5)  # 1 GFLOP/s of 2
    assert vs_trainer.mfu(1e9, 0.0, 2.0) is None
    assert vs_trainer.mfu(1e9, 1.0, 0.0) is None


def test_counter_separates_real_from_padded_tokens():
    counter = vs_trainer.TokenCounter()
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    counter.add({"input_ids": np.zeros((2, 4), dtype=np.int64), "attention_mask": mask})
    assert counter.as_dict() == {
        "batches": 1,
        "real_tokens": 5,
        "computed_tokens": 8,
        "attention_real": 9 + 4,
        "attention_computed": 2 * 16,
    }
    counter.active = False  # evaluation batches are not counted
    counter.add({"input_ids": np.zeros((2, 4), dtype=np.int64), "attention_mask": mask})
    assert counter.batches == 1


def test_counter_splits_packed_blocks_into_their_documents():
    counter = vs_trainer.TokenCounter()
    docs = np.array([[0, 0, 0, 1, 1, 2], [3, 3, 3, 3, -100, -100]])
    mask = (docs != -100).astype(np.int64)
    counter.add({"input_ids": np.zeros((2, 6)), "attention_mask": mask, "document_ids": docs})
    assert counter.real_tokens == 10
    assert counter.attention_real == 9 + 4 + 1 + 16  # each document attends within itself
    assert counter.attention_computed == 2 * 36


def test_shape_counts_a_tied_lm_head_and_drops_the_embedding_tables():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=16)
    model = transformers.GPT2LMHeadModel(config)
    shape = vs_trainer.shape_of(model, config)
    total = sum(p.numel() for p in model.parameters())
    tables = 100 * 32 + 16 * 32  # wte + wpe
    assert shape["parameters"] == total
    assert shape["matmul_parameters"] == total - tables + 100 * 32  # the LM head is wte again
    assert (shape["n_layer"], shape["d_model"]) == (2, 32)


def test_add_flops_uses_the_sides_precision_ceiling():
    side = {
        "precision": "bf16",
        "train_seconds": 2.0,
        "tokens": {
            "real_tokens": 10,
            "computed_tokens": 20,
            "attention_real": 50,
            "attention_computed": 200,
        },
    }
    shape = {"matmul_parameters": 1000, "n_layer": 2, "d_model": 8}
    vs_trainer.add_flops(side, shape, {"fp32": 1.0, "bf16": 4.0})
    assert side["ceiling_gflops"] == 4.0
    assert side["mfu"] == pytest.approx((60_000 + 9_600) / 2.0 / 4e9)
    assert side["mfu_computed"] == pytest.approx((120_000 + 38_400) / 2.0 / 4e9)
    assert side["train_tokens_per_second"] == 5.0
    assert side["padding_share"] == 0.5


def test_compare_picks_the_faster_grouped_trainer_as_best():
    sides = {
        "trainer_grouped_fp32": {"train_examples_per_second": 10.0, "wall_seconds": 5.0},
        "trainer_grouped_bf16": {"train_examples_per_second": 20.0, "wall_seconds": 4.0},
        "workbench": {"train_examples_per_second": 30.0, "wall_seconds": 2.0},
        "trainer_default": {"failed": True, "error": "x"},
    }
    out = vs_trainer.compare(sides, "accuracy")
    assert out["trainer_best"] == "trainer_grouped_bf16"
    assert out["workbench_over"]["trainer_best"]["examples_per_second"] == pytest.approx(1.5)
    assert "trainer_default" not in out["workbench_over"]


def test_a_tiny_run_prints_the_promised_keys(tmp_path):
    data = Path(vs_trainer.SHARED_DATA) / "rotten_tomatoes" / "rt-polarity.pos"
    if not data.exists():
        pytest.skip("shared Rotten Tomatoes data missing")
    from model_folders import tiny_bert

    model = tiny_bert(tmp_path / "bert")
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "vs_trainer.py"),
        "--case", "a", "--train-size", "64", "--eval-size", "32", "--sides", "workbench",
        "--model", str(model), "--peak-sizes", "128", "--device", "cpu", "--threads", "1",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert {"date", "machine", "peak", "cases", "command"} <= set(report)
    assert {"fp32", "bf16"} <= set(report["peak"]["ceiling_gflops"])
    case = report["cases"]["a"]
    side = case["sides"]["workbench"]
    assert not side.get("failed"), side
    for key in (
        "train_examples_per_second",
        "train_tokens_per_second",
        "wall_seconds",
        "peak_rss_mb",
        "final_train_loss",
        "metric_value",
        "mfu",
        "mfu_computed",
        "precision",
    ):
        assert side[key] is not None, key
    assert side["metric"] == "accuracy"
    assert side["tokens"]["real_tokens"] <= side["tokens"]["computed_tokens"]
    assert side["train_examples"] == 64
    assert 0 < side["mfu"] <= side["mfu_computed"]
    assert case["model_shape"]["n_layer"] == 2
    assert "peak_gpu_memory_mb" not in side  # a CPU run has no GPU memory figure
