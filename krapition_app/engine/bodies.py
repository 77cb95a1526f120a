"""Reading one body out of a world snapshot (the inspector, undo, and the session's publishing)."""

from __future__ import annotations

import numpy as np

from ..model.materials import MATERIAL_NAMES
from ..model.scene import MAX_COORDINATE, MAX_SPEED, BodySpec

SPHERE, BOX = 0, 1


def _clipped(v, limit: float) -> tuple[float, float, float]:
    c = np.clip(np.asarray(v, dtype=float), -limit, limit)
    return (float(c[0]), float(c[1]), float(c[2]))


def body_from_snapshot(snapshot, name: str) -> BodySpec:
    """The body ``name`` as it is in ``snapshot``: what undoing its deletion brings back."""
    i = snapshot.index(name)
    q = np.asarray(snapshot.orientation[i], dtype=float)
    q = q / np.linalg.norm(q)
    common = dict(
        name=name, shape="sphere" if snapshot.shape[i] == SPHERE else "box",
        material=MATERIAL_NAMES[int(snapshot.material[i])],
        position=_clipped(snapshot.position[i], MAX_COORDINATE), orientation=tuple(float(v) for v in q),
        velocity=_clipped(snapshot.velocity[i], MAX_SPEED),
        angular_velocity=_clipped(snapshot.angular_velocity[i], MAX_SPEED), static=bool(snapshot.static[i]),
    )
    half = snapshot.half_extents[i]
    if snapshot.shape[i] == SPHERE:
        return BodySpec(radius=float(half[0]), **common)
    return BodySpec(half_extents=(float(half[0]), float(half[1]), float(half[2])), **common)
