"""Where the files in `resources/` are, from a checkout, an installed package or a bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller unpacks data files here
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def sample_data_path() -> Path:
    """The bundled sample dataset the app opens on first launch."""
    return resource_path("sample", "reviews.csv")
