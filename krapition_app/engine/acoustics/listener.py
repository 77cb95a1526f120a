"""The listener: where the camera is, which way it looks, and how the sound is played to it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import AcousticInputError
from .paths import OUTPUT_MODES


@dataclass(frozen=True, slots=True)
class ListenerPose:
    #: ears' midpoint, metres (world, z up)
    position: tuple[float, float, float] = (0.0, -3.0, 1.6)
    #: the direction the listener faces
    forward: tuple[float, float, float] = (0.0, 1.0, 0.0)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("position", "forward", "up"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3 or not all(math.isfinite(v) for v in value):
                raise AcousticInputError(
                    f"listener.{name}", f"three finite numbers, got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, value)
        if np.linalg.norm(self.right_raw) < 1e-9:
            raise AcousticInputError("listener", "forward and up must be non-zero and not parallel")

    @property
    def right_raw(self) -> np.ndarray:
        return np.cross(np.array(self.forward), np.array(self.up))

    @property
    def right(self) -> np.ndarray:
        """Unit vector to the listener's right ear (forward x up)."""
        r = self.right_raw
        return r / np.linalg.norm(r)


def output_mode_code(mode: str) -> int:
    """'mono' | 'stereo' (speakers) | 'headphones' -> kernel code."""
    try:
        return OUTPUT_MODES.index(mode)
    except ValueError:
        raise AcousticInputError("output_mode", f"one of {OUTPUT_MODES}, got {mode!r}") from None
