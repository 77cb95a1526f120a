"""Draws Krapition's icon with QPainter and writes ``assets/krapition.png`` (256×256, RGBA).

No artwork is downloaded: run ``python packaging/make_icon.py [OUT.png] [--size N]`` to regenerate it.
The picture: a shaded rubber ball resting on a blue block, with sound arcs where they collide.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "krapition.png"


def draw_icon(size: int = 256):
    from PySide6 import QtCore, QtGui

    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    s = size / 256.0
    p = QtGui.QPainter(image)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.scale(s, s)

    # background: a dark rounded square with a soft vertical gradient
    bg = QtGui.QLinearGradient(0, 0, 0, 256)
    bg.setColorAt(0.0, QtGui.QColor("#2b3a55"))
    bg.setColorAt(1.0, QtGui.QColor("#10151f"))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(bg)
    p.drawRoundedRect(QtCore.QRectF(8, 8, 240, 240), 44, 44)

    # the floor's shadow under the block
    p.setBrush(QtGui.QColor(0, 0, 0, 90))
    p.drawEllipse(QtCore.QRectF(52, 196, 152, 26))

    # a blue block in simple two-point perspective (front and top faces)
    def poly(*points: tuple[int, int]) -> QtGui.QPolygonF:
        return QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in points])

    front = poly((60, 150), (170, 150), (170, 206), (60, 206))
    side = poly((170, 150), (200, 134), (200, 190), (170, 206))
    top = poly((60, 150), (90, 134), (200, 134), (170, 150))
    p.setBrush(QtGui.QColor("#2f6fd6"))
    p.drawPolygon(front)
    p.setBrush(QtGui.QColor("#1f4e9e"))
    p.drawPolygon(side)
    p.setBrush(QtGui.QColor("#5b93ee"))
    p.drawPolygon(top)

    # the ball: a radial gradient gives it a highlight and a dark rim
    ball = QtCore.QRectF(78, 40, 100, 100)
    shade = QtGui.QRadialGradient(QtCore.QPointF(110, 70), 70, QtCore.QPointF(104, 62))
    shade.setColorAt(0.0, QtGui.QColor("#ffb3a8"))
    shade.setColorAt(0.35, QtGui.QColor("#e8412f"))
    shade.setColorAt(1.0, QtGui.QColor("#7a130b"))
    p.setBrush(shade)
    p.drawEllipse(ball)

    # sound: three arcs on each side of the contact point
    for i, alpha in enumerate((230, 170, 110)):
        pen = QtGui.QPen(QtGui.QColor(255, 214, 102, alpha), 7 - i)
        pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        r = 26 + 18 * i
        box = QtCore.QRectF(128 - r, 138 - r, 2 * r, 2 * r)
        p.drawArc(box, 150 * 16, 50 * 16)  # left (angles in 1/16 degree)
        p.drawArc(box, -20 * 16, 50 * 16)  # right
    p.end()
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtGui

    _app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication([sys.argv[0]])
    image = draw_icon(args.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.out), "PNG"):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.size}x{args.size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
