"""The body table: what the acoustic model needs to know about each body, struct-of-arrays.

Row ``i`` describes the body whose index is ``i`` in :class:`~krapition_app.engine.contacts.ContactEvents`
(``body_a`` / ``body_b``). The physics world fills it from its own arrays each step; tests build it
with :meth:`BodyTable.build`.

==================  ==================  ========================================================
field               dtype, shape        meaning
==================  ==================  ========================================================
``shape``           uint8 (n,)          SPHERE (0) or BOX (1)
``radius``          float64 (n,)        sphere radius, metres (ignored for boxes)
``half_extents``    float64 (n, 3)      box half sizes, metres (ignored for spheres)
``material``        int32 (n,)          index into ``model.materials.MATERIAL_NAMES``
``position``        float64 (n, 3)      centre of mass, metres (world, z up)
``velocity``        float64 (n, 3)      m/s
``mass``            float64 (n,)        kg; 0 means "derive from size and density"
==================  ==================  ========================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...model.errors import UnknownMaterialError
from ...model.materials import MATERIAL_NAMES, MATERIALS, material_index
from .errors import AcousticInputError

SPHERE = 0
BOX = 1
SHAPE_NAMES = ("sphere", "box")

#: per material index, float64 arrays the vectorised code indexes with the body's material
DENSITY = np.array([MATERIALS[n].density for n in MATERIAL_NAMES])
YOUNGS = np.array([MATERIALS[n].youngs_modulus for n in MATERIAL_NAMES])
POISSON = np.array([MATERIALS[n].poisson_ratio for n in MATERIAL_NAMES])
LOSS = np.array([MATERIALS[n].loss_factor for n in MATERIAL_NAMES])
BRIGHTNESS = np.array([MATERIALS[n].brightness for n in MATERIAL_NAMES])
SHEAR_SPEED = np.sqrt(YOUNGS / (2.0 * (1.0 + POISSON)) / DENSITY)  # c_s = sqrt(G / rho), G = E / 2(1+nu)


@dataclass(frozen=True, slots=True)
class BodyTable:
    shape: np.ndarray
    radius: np.ndarray
    half_extents: np.ndarray
    material: np.ndarray
    position: np.ndarray
    velocity: np.ndarray
    mass: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.shape)
        for name, dtype, shape in _LAYOUT:
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != (n, *shape):
                got = f"{array.dtype.name} {array.shape}" if isinstance(array, np.ndarray) else type(array)
                raise AcousticInputError(
                    f"BodyTable.{name}", f"must be {np.dtype(dtype).name} of shape {(n, *shape)}, got {got}"
                )

    def __len__(self) -> int:
        return len(self.shape)

    @classmethod
    def empty(cls, n: int = 0) -> BodyTable:
        return cls(**{name: np.zeros((n, *shape), dtype=dtype) for name, dtype, shape in _LAYOUT})

    @classmethod
    def build(
        cls,
        shape: Sequence[str | int],
        material: Sequence[str | int],
        position: Sequence[Sequence[float]] | np.ndarray,
        radius: Sequence[float] | None = None,
        half_extents: Sequence[Sequence[float]] | None = None,
        velocity: Sequence[Sequence[float]] | np.ndarray | None = None,
        mass: Sequence[float] | None = None,
    ) -> BodyTable:
        """A validated table from plain sequences; shapes and materials may be names."""
        n = len(shape)
        codes = np.array(
            [
                SHAPE_NAMES.index(s)
                if isinstance(s, str) and s in SHAPE_NAMES
                else (s if isinstance(s, int) else 255)
                for s in shape
            ],
            dtype=np.uint8,
        )
        mats = np.array(
            [material_index(m) if isinstance(m, str) else int(m) for m in material], dtype=np.int32
        )
        table = cls(
            shape=codes,
            radius=np.asarray(radius if radius is not None else np.zeros(n), dtype=np.float64).reshape(n),
            half_extents=np.asarray(
                half_extents if half_extents is not None else np.zeros((n, 3)), dtype=np.float64
            ).reshape(n, 3),
            material=mats,
            position=np.asarray(position, dtype=np.float64).reshape(n, 3),
            velocity=np.asarray(
                velocity if velocity is not None else np.zeros((n, 3)), dtype=np.float64
            ).reshape(n, 3),
            mass=np.asarray(mass if mass is not None else np.zeros(n), dtype=np.float64).reshape(n),
        )
        table.validate()
        return table

    def validate(self, rows: np.ndarray | None = None) -> None:
        """Raise a precise error for the first broken rule among ``rows`` (all rows by default)."""
        idx = np.arange(len(self)) if rows is None else np.asarray(rows)
        if len(idx) == 0:
            return
        bad = idx[(self.shape[idx] != SPHERE) & (self.shape[idx] != BOX)]
        if len(bad):
            raise AcousticInputError(
                "shape",
                f"must be SPHERE (0) or BOX (1), got {self.shape[bad[0]]}",
                tuple(int(b) for b in bad),
            )
        mats = self.material[idx]
        bad = idx[(mats < 0) | (mats >= len(MATERIAL_NAMES))]
        if len(bad):
            raise UnknownMaterialError(
                f"index {int(self.material[bad[0]])} (body row {int(bad[0])})", MATERIAL_NAMES
            )
        sphere = self.shape[idx] == SPHERE
        sizes = np.where(sphere[:, None], self.radius[idx][:, None], self.half_extents[idx])
        bad = idx[~np.all(np.isfinite(sizes) & (sizes > 0), axis=1)]
        if len(bad):
            raise AcousticInputError(
                "size", "radius and half extents must be finite and > 0", tuple(int(b) for b in bad)
            )
        for name in ("position", "velocity", "mass"):
            values = getattr(self, name)[idx]
            ok = np.isfinite(values) if values.ndim == 1 else np.all(np.isfinite(values), axis=1)
            if name == "mass":
                ok &= values >= 0
            bad = idx[~ok]
            if len(bad):
                raise AcousticInputError(
                    name,
                    "must be finite" + (" and >= 0" if name == "mass" else ""),
                    tuple(int(b) for b in bad),
                )

    def masses(self, rows: np.ndarray) -> np.ndarray:
        """kg of ``rows``: the given mass, or density times volume where it is 0."""
        rho = DENSITY[self.material[rows]]
        he = self.half_extents[rows]
        volume = np.where(
            self.shape[rows] == SPHERE,
            4.0 / 3.0 * math.pi * self.radius[rows] ** 3,
            8.0 * he[:, 0] * he[:, 1] * he[:, 2],
        )
        given = self.mass[rows]
        return np.where(given > 0, given, rho * volume)

    def contact_radius(self, rows: np.ndarray) -> np.ndarray:
        """Radius of curvature at a contact: the sphere's radius; for a box, a rounded edge of the
        smallest half extent (boxes hit on edges and corners far more often than flat)."""
        return np.where(self.shape[rows] == SPHERE, self.radius[rows], self.half_extents[rows].min(axis=1))

    def size(self, rows: np.ndarray) -> np.ndarray:
        """A characteristic radius (metres) for radiation: the sphere radius or the box's mean half extent."""
        return np.where(self.shape[rows] == SPHERE, self.radius[rows], self.half_extents[rows].mean(axis=1))


_LAYOUT: tuple[tuple[str, type, tuple[int, ...]], ...] = (
    ("shape", np.uint8, ()),
    ("radius", np.float64, ()),
    ("half_extents", np.float64, (3,)),
    ("material", np.int32, ()),
    ("position", np.float64, (3,)),
    ("velocity", np.float64, (3,)),
    ("mass", np.float64, ()),
)
