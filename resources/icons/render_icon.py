"""Render `workbench.svg` to PNG with Qt's own SVG renderer (no extra dependencies).

python resources/icons/render_icon.py              # workbench.png, 256 px
python resources/icons/render_icon.py --size 512 --output /tmp/icon.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def render(svg: Path, output: Path, size: int) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # QPainter needs one
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG that Qt can render")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(output)):
        raise OSError(f"cannot write {output}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the Workbench icon to PNG.")
    parser.add_argument("--svg", type=Path, default=HERE / "workbench.svg")
    parser.add_argument("--output", type=Path, default=HERE / "workbench.png")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    print(render(args.svg, args.output, args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
