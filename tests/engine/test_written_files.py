"""What Workbench writes stays inside the run or export folder, whatever the data names, and
is readable by other tools and users (temp files are 0600 and temp folders 0700 until fixed)."""

from __future__ import annotations

import csv
import os
import stat
import sys
from pathlib import Path

import pytest
from model_folders import tiny_bert

from workbench import runs
from workbench.config import RunConfig
from workbench.engine import export_model, load_predictor, train

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")

HOSTILE = ["../../escaped", "a/b/c", "line\nbreak", "x" * 10_000, "/etc/passwd", "..", "nul\x00"]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
        for p in [root, *root.rglob("*")]
        if not p.is_symlink()
    }


def test_atomic_writes_respect_the_umask(tmp_path, umask_022):
    runs.write_text_atomic(tmp_path / "a.txt", "hi")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    staging = runs.staging_dir_for(tmp_path / "model")
    assert stat.S_IMODE(staging.stat().st_mode) == 0o755
    os.umask(0o077)  # a user who wants private files gets them
    runs.write_text_atomic(tmp_path / "b.txt", "hi")
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE(runs.staging_dir_for(tmp_path / "m2").stat().st_mode) == 0o700


def test_current_umask_reads_it_without_changing_it(umask_022):
    assert runs.current_umask() == 0o022
    assert os.umask(0o022) == 0o022


def test_run_names_never_leave_the_runs_folder(tmp_path):
    for name in ("../../escaped", "a/b", "..", "x" * 500, "line\nbreak"):
        folder = runs.new_run_dir(tmp_path / "runs", name=name)
        assert folder.parent == tmp_path / "runs"
        assert "/" not in folder.name and "\n" not in folder.name and len(folder.name) < 120
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_hostile_label_names_stay_inside_and_files_are_readable(tmp_path, umask_022, monkeypatch):
    model = tiny_bert(tmp_path / "model")
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)  # a relative escape ("../../x") would land under tmp_path
    data = work / "data.csv"
    labels = [label.replace("\x00", "") for label in HOSTILE]  # CSV cannot hold NUL
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(6):
            for n, label in enumerate(labels):
                writer.writerow([f"review {n} number {i}", label])
    before = set(tmp_path.rglob("*"))
    run_dir = work / "run"
    config = RunConfig(
        data=str(data),
        model=str(model),
        output=str(run_dir),
        epochs=1,
        batch_size=8,
        max_length=16,
        checkpoint_every_steps=2,
        lora_rank=2,
    )  # fmt: skip  (checkpoints, when kept, and a LoRA adapter are run files too)
    result = train(config)
    assert result.status == "completed", result.error
    out = Path(export_model(run_dir, work / "export", "hf"))
    created = set(tmp_path.rglob("*")) - before
    inside = {run_dir, out}
    assert [p for p in created if not inside & {p, *p.parents}] == []
    predictor = load_predictor(run_dir)
    assert sorted(predictor.labels) == sorted(labels)
    assert sorted(load_predictor(out).labels) == sorted(labels)
    assert (run_dir / "model" / "adapter" / "adapter_model.safetensors").exists()
    for root in (run_dir, out):
        for name, mode in _modes(root).items():
            path = root / name
            assert mode == (0o755 if path.is_dir() else 0o644), (root, name, oct(mode))
