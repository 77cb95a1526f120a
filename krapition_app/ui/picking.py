"""From a pixel to a ray in the world, and from a ray to a point on a drag plane (pure math)."""

from __future__ import annotations

import numpy as np
from PySide6 import QtGui


def pixel_ray(view, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
    """The world-space ray (origin on the near plane, unit direction) under pixel (x, y) of a
    pyqtgraph GL view; x and y in logical pixels from the top-left corner."""
    w, h = max(view.width(), 1), max(view.height(), 1)
    dpr = view.devicePixelRatio()
    region = (0, 0, int(w * dpr), int(h * dpr))
    mvp = view.projectionMatrix(region, region) * view.viewMatrix()
    inverse, invertible = mvp.inverted()
    if not invertible:
        raise ValueError("the view's projection cannot be inverted (zero-size view?)")
    nx, ny = 2.0 * x / w - 1.0, 1.0 - 2.0 * y / h
    near = inverse.map(QtGui.QVector3D(nx, ny, -1.0))
    far = inverse.map(QtGui.QVector3D(nx, ny, 1.0))
    origin = np.array([near.x(), near.y(), near.z()])
    direction = np.array([far.x(), far.y(), far.z()]) - origin
    return origin, direction / np.linalg.norm(direction)


def camera_forward(view) -> np.ndarray:
    """Unit vector from the camera towards the point it orbits."""
    eye = view.cameraPosition()
    centre = view.opts["center"]
    d = np.array([centre.x() - eye.x(), centre.y() - eye.y(), centre.z() - eye.z()])
    return d / np.linalg.norm(d)


def ray_plane(origin: np.ndarray, direction: np.ndarray, point: np.ndarray,
              normal: np.ndarray) -> np.ndarray | None:
    """Where the ray meets the plane through ``point`` with ``normal``; None if parallel or behind."""
    denom = float(np.dot(direction, normal))
    if abs(denom) < 1e-9:
        return None
    t = float(np.dot(point - origin, normal)) / denom
    return None if t < 0 else origin + t * direction
