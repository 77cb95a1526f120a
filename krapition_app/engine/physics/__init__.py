"""The rigid-body physics engine: numba kernels over struct-of-arrays numpy state.

``Simulation`` is the engine (rows, one fixed-step ``step()``); ``engine.world.World`` runs it for
the app. Kernels compile on first use and are cached on disk (``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

from . import cache as _cache

_cache.ensure_fresh()  # before any kernel loads from the disk cache

from .errors import (  # noqa: E402
    CommandQueueFullError,
    DuplicateBodyError,
    InvalidCommandError,
    PhysicsError,
    UnknownBodyError,
    UnknownDragError,
)
from .simulation import RayHit, Settings, Simulation  # noqa: E402

__all__ = [
    "CommandQueueFullError",
    "DuplicateBodyError",
    "InvalidCommandError",
    "PhysicsError",
    "RayHit",
    "Settings",
    "Simulation",
    "UnknownBodyError",
    "UnknownDragError",
]
