"""Small, validated vector types shared by scenes, events and messages.

Worlds are z-up (as pyqtgraph's 3D view): gravity points along -z. Quaternions are (w, x, y, z).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

ZERO3: Vec3 = (0.0, 0.0, 0.0)
IDENTITY_QUAT: Quat = (1.0, 0.0, 0.0, 0.0)
#: How far from 1 the norm of a stored quaternion may be (rounding in files written by hand).
QUAT_NORM_TOLERANCE = 1e-3


def checked_vector(name: str, values: Sequence[float], limit: float) -> tuple[float, ...]:
    """Canonical floats of ``values``; raises ValueError naming ``name`` if any is not finite or
    exceeds ``limit`` in magnitude."""
    out = tuple([float(v) + 0.0 for v in values])  # + 0.0 turns -0.0 into 0.0 and nothing else
    for v in out:
        if not -limit <= v <= limit:  # also false for NaN
            if not math.isfinite(v):
                raise ValueError(f"{name}: {v!r} is not a finite number")
            raise ValueError(f"{name}: a component exceeds {limit:g} in magnitude")
    return out


def checked_quaternion(name: str, q: Sequence[float]) -> tuple[float, ...]:
    out = checked_vector(name, q, 1e300)
    norm = math.hypot(*out)
    if abs(norm - 1.0) > QUAT_NORM_TOLERANCE:
        raise ValueError(f"{name} must be a unit quaternion (w, x, y, z); its norm is {norm:.6g}")
    return out
