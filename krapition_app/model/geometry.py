"""Small, validated vector types shared by scenes, events and messages.

Worlds are z-up (as pyqtgraph's 3D view): gravity points along -z. Quaternions are (w, x, y, z).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .encoding import canonical_float

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

ZERO3: Vec3 = (0.0, 0.0, 0.0)
IDENTITY_QUAT: Quat = (1.0, 0.0, 0.0, 0.0)
#: How far from 1 the norm of a stored quaternion may be (rounding in files written by hand).
QUAT_NORM_TOLERANCE = 1e-3


def checked_vector(name: str, values: Sequence[float], limit: float) -> tuple[float, ...]:
    """Canonical floats of ``values``; raises ValueError naming ``name`` if any is not finite or
    exceeds ``limit`` in magnitude."""
    try:
        out = tuple(canonical_float(v) for v in values)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if any(abs(v) > limit for v in out):
        raise ValueError(f"{name}: a component exceeds {limit:g} in magnitude")
    return out


def checked_quaternion(name: str, q: Sequence[float]) -> tuple[float, ...]:
    out = checked_vector(name, q, float("inf"))
    norm = math.sqrt(sum(c * c for c in out))
    if abs(norm - 1.0) > QUAT_NORM_TOLERANCE:
        raise ValueError(f"{name} must be a unit quaternion (w, x, y, z); its norm is {norm:.6g}")
    return out
