"""Checkpoints and exact resume: a run killed at any moment continues bitwise.

The proofs: a training process SIGKILLed between two checkpoints, resumed, ends with weights
equal (torch.equal, every tensor) to an uninterrupted run's, with every step logged once; a
process killed before each low-level operation of writing a checkpoint always leaves the
newest complete checkpoint to resume from; the state loads under weights_only. Fast: a tiny
random BERT with a 200-token vocabulary, 54 short reviews, 14 steps, fp32 on the CPU, with
dropout on so the RNG states matter.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from reviews_data import NEGATIVE, POSITIVE, write_reviews
from safetensors import safe_open
from safetensors.torch import load_file

from workbench.config import RunConfig
from workbench.engine import resume, resume_status, train
from workbench.engine.events import StepLogged
from workbench.engine.training import checkpointing
from workbench.engine.training.optim import linear_schedule, make_optimizer
from workbench.engine.training.state import TrainState
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

DRIVER = Path(__file__).with_name("resume_driver.py")
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX")


def _tiny_bert(folder: Path) -> Path:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        (POSITIVE + NEGATIVE) * 5,
        trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials),
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """The tiny model, the data and the settings every run here shares."""
    folder = tmp_path_factory.mktemp("resume")
    return dict(
        data=str(write_reviews(folder / "reviews.csv", repeats=3)),
        model=str(_tiny_bert(folder / "tiny-bert")),
        epochs=2,
        batch_size=8,  # 54 training rows: 7 steps per epoch, 14 in all
        max_length=16,
        learning_rate=1e-3,
        dropout=0.1,  # on, so the torch RNG state decides every step
        log_every_steps=1,
        precision="fp32",
        device="cpu",
        checkpoint_every_steps=3,  # 3, 6, the epoch end (7), 9, 12
        eval_every_steps=4,  # 4, the epoch end (7), 8, 12, 14
        early_stopping_patience=50,  # never stops, but keeps the best weights and counts
    )


# One thread everywhere: bitwise equality holds for one thread count (a reduction split over
# threads may add in another order), and on a busy 2-core machine one thread trained these
# 14 steps in 7 s where two took 99 s (spinning at every parallel region's barrier).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _driver(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DRIVER), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **ONE_THREAD),
        timeout=timeout,
    )


def _train_in_child(settings: dict, output: Path, kill_at_step: int = -1, kill_at: str = "-"):
    return _driver(
        "train", json.dumps(dict(settings, output=str(output))), str(kill_at_step), kill_at
    )


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory) -> Path:
    """The uninterrupted run, in a child process as the interrupted ones are."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    done = _train_in_child(setup, run_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "completed"
    return run_dir


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _steps(run_dir: Path) -> list[tuple[int, float, float]]:
    return [
        (r["step"], r["loss"], r["learning_rate"]) for r in _records(run_dir) if r["kind"] == "step"
    ]


def _evals(run_dir: Path) -> list[tuple[int, float, float]]:
    return [
        (r["step"], r["metrics"]["accuracy"], r["metrics"]["loss"])
        for r in _records(run_dir)
        if r["kind"] == "eval"
    ]


def assert_same_run(run_dir: Path, reference: Path) -> None:
    """Bitwise the same weights, the same step losses and learning rates, every step and
    every evaluation exactly once, the same final metrics."""
    ours = load_file(run_dir / "model" / "model.safetensors")
    theirs = load_file(reference / "model" / "model.safetensors")
    assert ours.keys() == theirs.keys()
    different = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert not different, f"weights differ: {different[:5]}"
    steps = _steps(run_dir)
    assert [s[0] for s in steps] == list(range(1, 15)), "a step is missing or repeated"
    assert steps == _steps(reference)
    assert _evals(run_dir) == _evals(reference)
    assert [e[0] for e in _evals(run_dir)] == [4, 7, 8, 12, 14]
    ours_results = json.loads((run_dir / "eval_results.json").read_text())
    theirs_results = json.loads((reference / "eval_results.json").read_text())
    for key in ("accuracy", "loss", "best_step", "train_steps", "train_examples", "status"):
        assert ours_results[key] == theirs_results[key], key
    assert not (run_dir / "checkpoints").exists(), "a completed run keeps no checkpoints"


@POSIX_ONLY
@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_bitwise_identical(setup, reference, tmp_path):
    run_dir = tmp_path / "run"
    killed = _train_in_child(setup, run_dir, kill_at_step=5)  # after step-3, before step-6
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [s[0] for s in _steps(run_dir)] == [1, 2, 3, 4]  # step 5 ran, was never logged
    assert resume_status(run_dir)["step"] == 3

    # The user's way back: the CLI, with nothing but the run folder.
    resumed = subprocess.run(
        [sys.executable, "-m", "workbench", "train", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        env=dict(os.environ, **ONE_THREAD),
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from the checkpoint of step 3 of 14" in resumed.stderr
    assert resumed.stdout.strip() == str(run_dir.resolve())
    assert_same_run(run_dir, reference)
    kinds = [r["kind"] for r in _records(run_dir)]
    assert kinds.count("finished") == 1 and kinds[-1] == "finished"


@POSIX_ONLY
@pytest.mark.slow
def test_a_kill_before_any_operation_of_writing_a_checkpoint_leaves_the_last_complete_one(
    tmp_path,
):
    """One child per operation (each safetensors chunk, fsync, rename, the marker, pruning
    the oldest, the index), each SIGKILLed just before it: resume always finds the newest
    checkpoint whose COMPLETE marker was written, reads it back exactly, and clears the rest."""
    done = _driver("kill-writes", str(tmp_path), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    names = {r["name"] for r in reports}
    assert {"_write_chunk", "_write_bytes", "_fsync_dir", "rename", "rmtree", "index"} <= names
    assert len(reports) > 20
    for report in reports[:-1]:
        assert report["killed"], report
    assert not reports[-1]["killed"]  # the run that wrote everything
    for report in reports:
        expected = 6 if "step-6" in report["markers"] else 4
        assert report["resume_step"] == expected, report
        assert report["loaded_equal"] is True, report
        assert set(report["left"]) - {"index.json"} <= {"step-2", "step-4", "step-6"}, report
        assert not [name for name in report["left"] if name.startswith(".")], report
    # Both outcomes happen: killed before the marker (resume from 4), and after it (from 6).
    assert {r["resume_step"] for r in reports} == {4, 6}


@POSIX_ONLY
@pytest.mark.slow
def test_a_training_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(
    setup, reference, tmp_path
):
    run_dir = tmp_path / "run"
    # The 4th file write of the run is step 6's COMPLETE marker (step 3: state.json, marker;
    # step 6: state.json, marker): step-6/ is in place but unmarked when the process dies.
    killed = _train_in_child(setup, run_dir, kill_at="_write_bytes:4")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (run_dir / "checkpoints" / "step-6").is_dir()
    assert not (run_dir / "checkpoints" / "step-6" / "COMPLETE").exists()
    assert resume_status(run_dir)["step"] == 3
    result = resume(run_dir)
    assert result.status == "completed", result.error
    assert_same_run(run_dir, reference)


def _state(seed: int = 0) -> tuple[torch.nn.Module, TrainState]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 12), torch.nn.LayerNorm(12), torch.nn.Linear(12, 2)
    )
    optimizer = make_optimizer(model, 1e-2, 0.01)
    return model, TrainState(optimizer, linear_schedule(optimizer, 3, 50))


def _steps_of(model: torch.nn.Module, state: TrainState, count: int) -> None:
    for _ in range(count):
        x = torch.randn(5, 6)
        loss = torch.nn.functional.dropout(model(x), 0.5).square().mean()
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        state.optimizer.zero_grad()
        state.step += 1


def _draws() -> tuple:
    return (random.random(), float(np.random.rand()), torch.rand(3).tolist())


@pytest.mark.parametrize("route", ["torch.load(weights_only=True)", "safetensors+json"])
def test_rng_optimizer_and_scheduler_state_round_trip_without_pickle(route, tmp_path):
    model, state = _state()
    _steps_of(model, state, 4)
    state.best_metric, state.evals_since_best, state.running_count = 0.75, 2, 3
    state.running_loss = torch.tensor(1.25)
    saved = state.state_dict()  # live tensors: written out at once, as a checkpoint is
    if route.startswith("torch.load"):
        buffer = io.BytesIO()
        torch.save(saved, buffer)
    else:
        tensors: dict[str, torch.Tensor] = {}
        text = json.dumps(checkpointing.encode(saved, tensors))
        checkpointing._write_safetensors(tmp_path / "state.safetensors", tensors)
    saved = {  # for the comparisons below
        "scheduler": dict(saved["scheduler"]),
        "optimizer": {"param_groups": [dict(g) for g in saved["optimizer"]["param_groups"]]},
    }
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    expected_draws = _draws()  # what the generators give next
    _steps_of(model, state, 3)
    expected_weights = {k: v.clone() for k, v in model.state_dict().items()}

    if route.startswith("torch.load"):
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=True)
    else:
        loaded = checkpointing.decode(
            json.loads(text), checkpointing.read_safetensors(tmp_path / "state.safetensors")
        )
    random.seed(123), np.random.seed(123), torch.manual_seed(123)  # move every generator on
    other, restored = _state(seed=9)
    other.load_state_dict(weights)
    restored.load_state_dict(loaded)
    assert _draws() == expected_draws
    assert (restored.step, restored.best_metric, restored.evals_since_best) == (4, 0.75, 2)
    assert restored.running_count == 3 and restored.running_loss.item() == 1.25
    assert restored.scheduler.last_epoch == 4
    assert restored.scheduler.get_last_lr() == saved["scheduler"]["_last_lr"]
    for group, original in zip(
        restored.optimizer.param_groups, saved["optimizer"]["param_groups"], strict=True
    ):
        assert group["lr"] == original["lr"] and group["betas"] == original["betas"]
    # The same three steps from the restored state give bitwise the same weights.
    _steps_of(other, restored, 3)
    assert all(torch.equal(v, expected_weights[k]) for k, v in other.state_dict().items())


def _config(setup: dict, tmp_path: Path, **overrides) -> RunConfig:
    return RunConfig(**dict(setup, output=str(tmp_path / "run"), **overrides))


def _stop_after(step: int):
    """An event sink and a should_stop that asks to stop once `step` is logged."""
    asked = {"stop": False}

    def on_event(event) -> None:
        if isinstance(event, StepLogged) and event.step == step:
            asked["stop"] = True

    return on_event, lambda: asked["stop"]


@pytest.mark.slow
def test_a_stopped_run_keeps_the_newest_checkpoints_and_the_best_and_resumes_exactly(
    setup, reference, tmp_path
):
    on_event, should_stop = _stop_after(10)
    result = train(_config(setup, tmp_path), on_event=on_event, should_stop=should_stop)
    assert result.status == "stopped", result.error
    run_dir = result.run_dir
    found = checkpointing.complete_checkpoints(run_dir)
    # Saved at 3, 6, 7 (the epoch's end, just evaluated), 9 and 10 (the stop); kept: the
    # newest two, and 7, the only one with a metric and so the best.
    assert [c.step for c in found] == [7, 9, 10]
    assert isinstance(found[0].metric, float) and found[1].metric is None
    index = json.loads((run_dir / "checkpoints" / "index.json").read_text())
    assert (index["best_step"], index["last_step"]) == (7, 10)
    assert [c["step"] for c in index["checkpoints"]] == [7, 9, 10]
    on_disk = sum(p.stat().st_size for p in (run_dir / "checkpoints").rglob("step-*/*"))
    assert 0 < index["total_bytes"] <= on_disk < index["total_bytes"] + 3 * 1024
    for checkpoint in found:  # nothing pickled: safetensors and JSON only
        names = {p.name for p in checkpoint.path.iterdir()}
        assert names == {
            "model.safetensors",
            "state.safetensors",
            "best.safetensors",  # early stopping keeps the best weights, so they are saved
            "state.json",
            "COMPLETE",
        }
        json.loads((checkpoint.path / "state.json").read_text(encoding="utf-8"))
        for name in ("model.safetensors", "state.safetensors", "best.safetensors"):
            with safe_open(str(checkpoint.path / name), framework="pt") as handle:
                assert list(handle.keys())
    status = resume_status(run_dir)
    assert status["resumable"] and (status["step"], status["total_steps"]) == (10, 14)

    resumed = resume(run_dir)
    assert resumed.status == "completed", resumed.error
    assert_same_run(run_dir, reference)  # the stopped run's final evaluation is cut away


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_keeps_the_previous_one_and_says_what_it_needs(
    setup, reference, tmp_path, monkeypatch
):
    real = checkpointing._write_chunk

    def full_disk(handle, data) -> None:
        if ".step-6." in handle.name:  # the second checkpoint's files
            raise OSError(errno.ENOSPC, "No space left on device")
        real(handle, data)

    monkeypatch.setattr(checkpointing, "_write_chunk", full_disk)
    result = train(_config(setup, tmp_path))
    assert result.status == "failed"
    assert "the disk is full: a checkpoint needs" in result.error and " MB" in result.error
    assert "the checkpoint of step 3 is intact" in result.error
    assert f"workbench train --resume {result.run_dir}" in result.error
    left = sorted(p.name for p in (result.run_dir / "checkpoints").iterdir())
    assert left == ["index.json", "step-3"]  # no half-written folder, the old one whole
    assert resume_status(result.run_dir)["step"] == 3

    monkeypatch.setattr(checkpointing, "_write_chunk", real)  # space was freed
    assert resume(result.run_dir).status == "completed"
    assert_same_run(result.run_dir, reference)


@pytest.mark.slow
def test_checkpointing_at_every_step_changes_nothing_in_the_run(setup, reference, tmp_path):
    """Checkpoints read the state and draw on no RNG: the same run as with every 3 steps."""
    result = train(_config(setup, tmp_path, checkpoint_every_steps=1, keep_checkpoints=1))
    assert result.status == "completed", result.error
    assert_same_run(result.run_dir, reference)


def test_resume_refuses_data_that_changed_and_touches_nothing(setup, tmp_path):
    data = write_reviews(tmp_path / "reviews.csv", repeats=3)
    on_event, should_stop = _stop_after(4)
    config = _config(setup, tmp_path, data=str(data), epochs=1)
    result = train(config, on_event=on_event, should_stop=should_stop)
    assert result.status == "stopped", result.error
    write_reviews(data, repeats=3, seed=1)  # the same rows, another split and order
    metrics = (result.run_dir / "metrics.jsonl").read_bytes()
    with pytest.raises(UserError, match="changed since step 4 was saved"):
        resume(result.run_dir)
    assert (result.run_dir / "metrics.jsonl").read_bytes() == metrics


def _fake_run(folder: Path, status: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(RunConfig(data="x.csv").to_toml(), encoding="utf-8")
    if status:
        (folder / "eval_results.json").write_text(json.dumps({"status": status}))
    return folder


def test_resume_status_and_resume_say_why_a_run_cannot_resume(tmp_path):
    completed = _fake_run(tmp_path / "completed", "completed")
    assert resume_status(completed)["resumable"] is False
    with pytest.raises(UserError, match="has already completed; there is nothing to resume"):
        resume(completed)

    killed_early = _fake_run(tmp_path / "killed-early", "stopped")
    (killed_early / "checkpoints" / "step-3").mkdir(parents=True)  # no COMPLETE marker
    (killed_early / "checkpoints" / ".step-6.abc.tmp").mkdir()
    status = resume_status(killed_early)
    assert (status["resumable"], status["step"]) == (False, None)
    with pytest.raises(UserError, match="has no complete checkpoint"):
        resume(killed_early)

    with pytest.raises(UserError, match="does not exist"):
        resume(tmp_path / "missing")
    (tmp_path / "not-a-run").mkdir()
    with pytest.raises(UserError, match="not a Workbench run folder"):
        resume(tmp_path / "not-a-run")


def test_a_torn_or_empty_marker_is_not_a_complete_checkpoint(tmp_path):
    run_dir = _fake_run(tmp_path / "run")
    for step, marker in (
        (3, '{"step": 3, "epoch": 0, "batch_in_epoch": 3, "bytes": 1}'),
        (6, '{"step": 6, "epo'),
        (9, ""),
    ):
        (run_dir / "checkpoints" / f"step-{step}").mkdir(parents=True)
        (run_dir / "checkpoints" / f"step-{step}" / "COMPLETE").write_text(marker)
    assert [c.step for c in checkpointing.complete_checkpoints(run_dir)] == [3]
    assert sorted(checkpointing.remove_incomplete(run_dir)) == ["step-6", "step-9"]
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step-3"]


def test_written_safetensors_are_read_by_safetensors_itself(tmp_path):
    tensors = {
        "weight": torch.randn(3, 4),
        "half": torch.randn(5).to(torch.bfloat16),
        "step": torch.tensor(7.0),
        "empty": torch.zeros(0, 2),
        "ids": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "flags": torch.tensor([True, False]),
        "bytes": torch.get_rng_state(),
    }
    checkpointing._write_safetensors(tmp_path / "t.safetensors", tensors)
    loaded = load_file(tmp_path / "t.safetensors")
    assert loaded.keys() == tensors.keys()
    for key, value in tensors.items():
        assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value), key


def test_by_default_a_run_checkpoints_every_ten_minutes_of_training_and_at_epoch_ends():
    checkpointer = checkpointing.Checkpointer(
        Path("unused"),
        every_steps=0,
        keep=2,
        primary_metric="accuracy",
        greater_is_better=True,
        batches=lambda epoch: [],
        steps_per_epoch=1000,
        total_steps=3000,
        keep_best_weights=False,
    )
    state = TrainState(None, None, step=40, train_seconds=599.0)  # type: ignore[arg-type]
    assert not checkpointer.due(state, "step")
    state.step, state.train_seconds = 41, 600.5
    assert checkpointer.due(state, "step")
    checkpointer.last_step, checkpointer.last_seconds = 41, 600.5  # as save() leaves them
    state.step, state.train_seconds = 42, 615.0
    assert not checkpointer.due(state, "step")
    assert checkpointer.due(state, "epoch") and checkpointer.due(state, "stop")
    state.step = 41
    assert not checkpointer.due(state, "epoch")  # that step is saved already
    every_five = dataclasses.replace(checkpointer, every_steps=5, last_step=None)
    assert [s for s in range(1, 16) if every_five.due(TrainState(None, None, step=s), "step")] == [
        5,
        10,
        15,
    ]
