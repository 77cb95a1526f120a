"""The shoebox room: size, per-wall absorption, and what follows from them (RT60, reflection gains).

Walls are named by the axis and side they close: ``x-`` (x = 0 of the room), ``x+``, ``y-``, ``y+``,
``z-`` (floor), ``z+`` (ceiling). A wall of energy absorption alpha reflects pressure with
beta = sqrt(1 - alpha) (as pyroomacoustics and Allen & Berkley 1979). The late tail follows
Sabine's formula RT60 = 0.161 V / sum(S_i alpha_i).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import AcousticInputError

WALLS = ("x-", "x+", "y-", "y+", "z-", "z+")
MAX_ROOM_SIZE = 200.0
MAX_ORDER = 6


@dataclass(frozen=True, slots=True)
class RoomSettings:
    #: inner size (x, y, z) in metres
    size: tuple[float, float, float] = (10.0, 8.0, 4.0)
    #: energy absorption per wall in WALLS order, 0 (mirror) .. 1 (open)
    absorption: tuple[float, float, float, float, float, float] = (0.15, 0.15, 0.15, 0.15, 0.10, 0.40)
    #: world position of the room's (x-, y-, z-) corner; None: centred on the origin, floor at z = 0
    origin: tuple[float, float, float] | None = None
    #: image-source order of the early reflections (>= 3 recommended)
    max_order: int = 3
    #: the late reverberation tail (feedback delay network) on or off
    reverb: bool = True
    origin_: tuple[float, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        size = tuple(float(v) for v in self.size)
        if len(size) != 3 or not all(math.isfinite(v) and 0.5 <= v <= MAX_ROOM_SIZE for v in size):
            raise AcousticInputError(
                "room.size", f"three sizes in 0.5 .. {MAX_ROOM_SIZE} m, got {self.size!r}"
            )
        absorption = tuple(float(v) for v in self.absorption)
        if len(absorption) != 6 or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in absorption):
            raise AcousticInputError(
                "room.absorption", f"six values in 0..1 ({', '.join(WALLS)}), got {self.absorption!r}"
            )
        if not (isinstance(self.max_order, int) and 0 <= self.max_order <= MAX_ORDER):
            raise AcousticInputError("room.max_order", f"an integer 0..{MAX_ORDER}, got {self.max_order!r}")
        origin = self.origin if self.origin is not None else (-size[0] / 2, -size[1] / 2, 0.0)
        origin = tuple(float(v) for v in origin)
        if len(origin) != 3 or not all(math.isfinite(v) for v in origin):
            raise AcousticInputError("room.origin", f"three finite coordinates, got {self.origin!r}")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "absorption", absorption)
        object.__setattr__(self, "origin_", origin)

    @classmethod
    def from_settings(cls, value: Mapping[str, Any]) -> RoomSettings:
        """From a settings mapping: ``{"size": [x, y, z], "absorption": {"x-": 0.2, ...} or [6 values],
        "origin": [x, y, z], "max_order": 3, "reverb": true}``; missing keys keep their defaults."""
        known = {"size", "absorption", "origin", "max_order", "reverb"}
        unknown = set(value) - known
        if unknown:
            raise AcousticInputError("room", f"unknown keys {sorted(unknown)}; known: {sorted(known)}")
        kwargs: dict[str, Any] = {k: value[k] for k in known & set(value) if k != "absorption"}
        if "absorption" in value:
            absorption = value["absorption"]
            if isinstance(absorption, Mapping):
                default = dict(zip(WALLS, cls().absorption, strict=True))
                bad = set(absorption) - set(WALLS)
                if bad:
                    raise AcousticInputError(
                        "room.absorption", f"unknown walls {sorted(bad)}; walls: {WALLS}"
                    )
                default.update(absorption)
                absorption = [default[w] for w in WALLS]
            elif isinstance(absorption, int | float):
                absorption = [absorption] * 6
            kwargs["absorption"] = tuple(absorption)
        for key in ("size", "origin"):
            if key in kwargs and kwargs[key] is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @property
    def reflection(self) -> np.ndarray:
        """Pressure reflection coefficient per wall, sqrt(1 - alpha)."""
        return np.sqrt(1.0 - np.array(self.absorption))

    @property
    def volume(self) -> float:
        return self.size[0] * self.size[1] * self.size[2]

    @property
    def surface(self) -> float:
        x, y, z = self.size
        return 2.0 * (x * y + x * z + y * z)

    @property
    def rt60(self) -> float:
        """Sabine reverberation time in seconds (capped at 10 s for nearly reflecting rooms)."""
        x, y, z = self.size
        areas = np.array([y * z, y * z, x * z, x * z, x * y, x * y])
        sabins = float((areas * np.array(self.absorption)).sum())
        return min(10.0, 0.161 * self.volume / max(sabins, 1e-9))

    @property
    def critical_distance(self) -> float:
        """Metres at which direct and reverberant energy are equal: 0.057 sqrt(V / RT60)."""
        return 0.057 * math.sqrt(self.volume / self.rt60)

    @property
    def mean_free_path(self) -> float:
        """4 V / S (Kosten): the mean distance sound travels between two reflections."""
        return 4.0 * self.volume / self.surface

    def to_room(self, world: np.ndarray) -> np.ndarray:
        """World coordinates to room coordinates, clamped 1 cm inside the walls."""
        local = np.asarray(world, dtype=np.float64) - np.array(self.origin_)
        return np.clip(local, 0.01, np.array(self.size) - 0.01)


def wall_sequence(
    image_index: Sequence[int],
    parity: Sequence[int],
    source: np.ndarray,
    listener: np.ndarray,
    size: Sequence[float],
) -> tuple[str, ...]:
    """The walls a path touches in the order it hits them (for AcousticReflection events).

    ``image_index`` (n_x, n_y, n_z) and ``parity`` (q_x, q_y, q_z) name the image as in Allen & Berkley:
    x_image = (1 - 2 q) x_source + 2 n L. Unfolded, the straight line from image to listener crosses
    the planes x = m L; plane m is the wall x- when m is even and x+ when m is odd.
    """
    img = np.array(
        [(1 - 2 * q) * s + 2 * n * L for n, q, s, L in zip(image_index, parity, source, size, strict=True)]
    )
    crossings: list[tuple[float, str]] = []
    for axis in range(3):
        a, b, L = img[axis], listener[axis], size[axis]
        if a == b:
            continue
        lo, hi = sorted((a, b))
        for m in range(math.ceil(lo / L - 1e-12), math.floor(hi / L + 1e-12) + 1):
            plane = m * L
            if lo < plane < hi:
                t = (plane - a) / (b - a)
                crossings.append((t, WALLS[2 * axis + (m % 2)]))
    crossings.sort()
    return tuple(name for _, name in crossings)
