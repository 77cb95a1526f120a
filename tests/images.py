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


def hue_of(colour: tuple[float, float, float]) -> float:
    import colorsys

    return colorsys.rgb_to_hsv(*colour)[0] * 360.0


def hue_pixels(rgb: np.ndarray, colour: tuple[float, float, float], width: float = 10.0,
               min_chroma: float = 0.15) -> int:
    """Pixels of about the hue of ``colour`` (0..1 RGB), saturated and lit enough to be a body."""
    hue = hue_of(colour)
    x = rgb.astype(float) / 255.0
    top, low = x.max(axis=2), x.min(axis=2)
    chroma = top - low
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        other = np.where(top == g, (b - r) / chroma + 2, (r - g) / chroma + 4)
        h = np.where(top == r, ((g - b) / chroma) % 6, other)
    h = h * 60.0
    near = np.abs((h - hue + 180.0) % 360.0 - 180.0) < width
    return int((near & (chroma > min_chroma) & (top > 0.3)).sum())


def owner_tinted(material: str, public_key: bytes) -> tuple[float, float, float]:
    """The colour the window gives a body of ``material`` owned by the node with this key."""
    from krapition_app.model.materials import MATERIALS
    from krapition_app.p2p.identity import fingerprint_of
    from krapition_app.ui.ownership import node_rgb
    from krapition_app.ui.viewport import OWNER_TINT

    base = np.array(MATERIALS[material].colour)
    tint = np.array(node_rgb(fingerprint_of(public_key)))
    return tuple(float(c) for c in base + (tint - base) * OWNER_TINT)
