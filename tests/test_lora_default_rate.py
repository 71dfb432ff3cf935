"""With LoRA on and no learning rate given, a run uses the LoRA default (chosen on
validation data by bench/lora_lr.py), not the full fine-tuning rate."""

from __future__ import annotations

from workbench.config import GENERAL_DEFAULTS, LORA_LEARNING_RATE, RunConfig
from workbench.engine.tasks import task_defaults


def test_lora_without_a_rate_gets_the_lora_default():
    assert RunConfig(lora_rank=8).with_task_defaults().learning_rate == LORA_LEARNING_RATE
    assert LORA_LEARNING_RATE > 10 * GENERAL_DEFAULTS["learning_rate"]


def test_a_given_rate_and_full_fine_tuning_keep_theirs():
    assert RunConfig(lora_rank=8, learning_rate=1e-3).with_task_defaults().learning_rate == 1e-3
    full = RunConfig().with_task_defaults().learning_rate
    assert full == GENERAL_DEFAULTS["learning_rate"]
    assert RunConfig(task="masked-lm", lora_rank=0).with_task_defaults().learning_rate == 3e-4


def test_task_defaults_name_the_lora_rate_for_the_gui():
    assert task_defaults("text-classification")["lora_learning_rate"] == LORA_LEARNING_RATE
