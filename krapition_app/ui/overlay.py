"""Text drawn over the 3D view (the FPS counter): painted with QPainter after the 3D items."""

from __future__ import annotations

import time
from collections import deque

import pyqtgraph.opengl as gl
from PySide6 import QtCore, QtGui


class FpsOverlay(gl.GLGraphicsItem.GLGraphicsItem):
    """Frames per second over the last second, in the top-left corner of the view."""

    def __init__(self) -> None:
        super().__init__()
        self.setDepthValue(1_000)  # after every 3D item
        self._frames: deque[float] = deque(maxlen=600)

    def fps(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        recent = [t for t in self._frames if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def paint(self) -> None:
        self._frames.append(time.perf_counter())
        view = self.view()
        painter = QtGui.QPainter(view)
        try:
            painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
            text = f"{self.fps():.0f} fps" if len(self._frames) > 1 else "— fps"
            font = painter.font()
            font.setPointSize(11)
            font.setBold(True)
            painter.setFont(font)
            rect = QtCore.QRectF(8, 8, 110, 24)
            painter.fillRect(rect, QtGui.QColor(0, 0, 0, 140))
            painter.setPen(QtGui.QColor(240, 240, 240))
            painter.drawText(rect, QtCore.Qt.AlignmentFlag.AlignCenter, text)
        finally:
            painter.end()
