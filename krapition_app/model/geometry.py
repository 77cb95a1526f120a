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
    if type(values) is tuple and len(values) == 3:
        # the common case (every vector of every decoded event): three floats in range (each
        # comparison is false for NaN), checked without a loop; + 0.0 turns -0.0 into 0.0
        x, y, z = values
        if (type(x) is float and type(y) is float and type(z) is float
                and -limit <= x <= limit and -limit <= y <= limit and -limit <= z <= limit):
            return (x + 0.0, y + 0.0, z + 0.0)
    return _checked_vector(name, values, limit)


def _checked_vector(name: str, values: Sequence[float], limit: float) -> tuple[float, ...]:
    out = tuple([float(v) + 0.0 for v in values])  # + 0.0 turns -0.0 into 0.0 and nothing else
    for v in out:
        if not -limit <= v <= limit:  # also false for NaN
            if not math.isfinite(v):
                raise ValueError(f"{name}: {v!r} is not a finite number")
            raise ValueError(f"{name}: a component exceeds {limit:g} in magnitude")
    return out


def checked_quaternion(name: str, q: Sequence[float]) -> tuple[float, ...]:
    if type(q) is tuple and len(q) == 4:
        # the common case, as in checked_vector: four floats of a norm near 1 (so finite and in range)
        w, x, y, z = q
        if (type(w) is float and type(x) is float and type(y) is float and type(z) is float
                and abs(math.hypot(w, x, y, z) - 1.0) <= QUAT_NORM_TOLERANCE):
            return (w + 0.0, x + 0.0, y + 0.0, z + 0.0)
    out = _checked_vector(name, q, 1e300)
    norm = math.hypot(*out)
    if abs(norm - 1.0) > QUAT_NORM_TOLERANCE:
        raise ValueError(f"{name} must be a unit quaternion (w, x, y, z); its norm is {norm:.6g}")
    return out
