"""UI preferences in QSettings (geometry, last folders, last hyperparameters).

Experiment settings live in RunConfig and the run folder; only what makes the UI remember
the user goes here.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "Workbench"
APPLICATION = "Workbench"

KEY_GEOMETRY = "window/geometry"
KEY_PAGE = "window/page"
KEY_DATA_FOLDER = "folders/data"
KEY_EXPORT_FOLDER = "folders/export"
KEY_MODEL_FOLDER = "folders/model"
HYPERPARAMS_GROUP = "hyperparams"


def settings() -> QSettings:
    """The app's settings; organisation and application names come from the QApplication."""
    return QSettings()


def last_folder(key: str) -> str:
    value = settings().value(key, "", type=str)
    return value if value and Path(value).is_dir() else str(Path.home())


def remember_folder(key: str, path: str | Path) -> None:
    path = Path(path)
    settings().setValue(key, str(path if path.is_dir() else path.parent))
