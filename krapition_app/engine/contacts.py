"""The contact events a physics step reports: the one format physics and acoustics share.

A step returns a :class:`ContactEvents` of ``n`` rows, struct-of-arrays, one row per contact point
that touched during the step. Body indices are rows of the world's body arrays; ``-1`` is the
static world (the ground plane). Vectors are in world space, z up, SI units.

========================  ==================  ==================================================
field                     dtype, shape        meaning
========================  ==================  ==================================================
``body_a``                int32 (n,)          first body (always a dynamic or static body row)
``body_b``                int32 (n,)          second body, or -1 for the static world
``point``                 float64 (n, 3)      contact point, metres
``normal``                float64 (n, 3)      unit normal pointing from a to b
``normal_impulse``        float64 (n,)        N*s the solver applied along the normal (>= 0)
``normal_speed``          float64 (n,)        m/s closing speed along the normal before the
                                              step (>= 0)
``tangential_speed``      float64 (n,)        m/s relative sliding speed at the point (>= 0)
``kind``                  uint8 (n,)          IMPACT (new contact), SLIDING or ROLLING
========================  ==================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMPACT = 0
SLIDING = 1
ROLLING = 2
KIND_NAMES = ("impact", "sliding", "rolling")
STATIC_WORLD = -1


@dataclass(frozen=True, slots=True)
class ContactEvents:
    body_a: np.ndarray
    body_b: np.ndarray
    point: np.ndarray
    normal: np.ndarray
    normal_impulse: np.ndarray
    normal_speed: np.ndarray
    tangential_speed: np.ndarray
    kind: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.body_a)
        for name, dtype, shape in _LAYOUT:
            array = getattr(self, name)
            if array.dtype != dtype or array.shape != (n, *shape):
                raise ValueError(
                    f"ContactEvents.{name} must be {np.dtype(dtype).name} of shape {(n, *shape)}, "
                    f"got {array.dtype.name} {array.shape}"
                )

    def __len__(self) -> int:
        return len(self.body_a)

    @classmethod
    def empty(cls, n: int = 0) -> ContactEvents:
        """Zero-filled arrays for ``n`` contacts (tests and synthetic contacts fill them in)."""
        return cls(**{name: np.zeros((n, *shape), dtype=dtype) for name, dtype, shape in _LAYOUT})


_LAYOUT: tuple[tuple[str, type, tuple[int, ...]], ...] = (
    ("body_a", np.int32, ()),
    ("body_b", np.int32, ()),
    ("point", np.float64, (3,)),
    ("normal", np.float64, (3,)),
    ("normal_impulse", np.float64, ()),
    ("normal_speed", np.float64, ()),
    ("tangential_speed", np.float64, ()),
    ("kind", np.uint8, ()),
)
