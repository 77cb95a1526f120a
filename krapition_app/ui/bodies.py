"""Reading one body out of a world snapshot, for the inspector and for undo; and its mass."""

from __future__ import annotations

import math

from ..engine.bodies import BOX, SPHERE, body_from_snapshot
from ..model.materials import MATERIALS
from ..model.scene import BodySpec

__all__ = ["BOX", "SPHERE", "body_from_snapshot", "mass_of"]


def mass_of(body: BodySpec) -> float:
    """kg: the material's density times the volume (a static body has no finite mass to show)."""
    if body.radius is not None:
        volume = 4.0 / 3.0 * math.pi * body.radius**3
    else:
        hx, hy, hz = body.half_extents or (0.0, 0.0, 0.0)
        volume = 8.0 * hx * hy * hz
    return MATERIALS[body.material].density * volume
