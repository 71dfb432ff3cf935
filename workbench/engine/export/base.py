"""The Exporter seam: a format writes a trained model, atomically, and checks what it wrote."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

from workbench import runs
from workbench.engine.trained import TrainedModel, load_trained
from workbench.errors import UserError


class Exporter:
    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]

    def refuse(self, trained: TrainedModel) -> str | None:
        """Why this format cannot take the model (its task or family), or None."""
        return None

    def write(self, trained: TrainedModel, staging: Path) -> None:
        """Write the artefact's files into the (empty) staging folder."""
        raise NotImplementedError

    def self_check(self, trained: TrainedModel, written: Path) -> None:
        """Load what was written in its own runtime and compare it with the trained model;
        raise UserError when they disagree (the export is then not kept)."""

    def export(self, source: Path, output: Path) -> Path:
        """`source` (a run or model folder) -> `output`, whole and checked, or not at all."""
        source = Path(source).expanduser()
        if not source.exists():
            raise UserError(f"{source} does not exist; give a run folder")
        if (source / "config.toml").exists() and not (source / "model").exists():
            raise UserError(
                f"run {source} has no trained model to export (it failed or is still running)"
            )
        trained = load_trained(source)
        reason = self.refuse(trained)
        if reason:
            raise UserError(f"cannot export as {self.name}: {reason}")
        output = Path(output).expanduser().resolve()
        folder = trained.folder.resolve()
        if output == folder or folder in output.parents:
            raise UserError("choose an export folder outside the run's model folder")
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise UserError(
                f"export folder {output} already exists and is not empty; choose a new folder"
            )
        staging = runs.staging_dir_for(output)
        try:
            self.write(trained, staging)
            self.self_check(trained, staging)
            if output.exists():
                output.rmdir()
            runs.replace_dir_atomic(staging, output)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return output
