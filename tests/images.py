"""Pixel statistics of screenshots, for the tests that look at what the app shows."""

from __future__ import annotations

import numpy as np
from PySide6 import QtGui


def rgb_array(image: QtGui.QImage) -> np.ndarray:
    """An (h, w, 3) int array of a QImage."""
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    assert not image.isNull()
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return raw[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)
