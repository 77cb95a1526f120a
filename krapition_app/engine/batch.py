"""``SetState`` for many bodies at once (the remote bodies of a session, every publishing tick).

One ``SetState`` command per body costs ~50 us of Python (checked when queued, checked again when
applied): 700 remote bodies at 30 Hz would take more than a core. :func:`set_states` writes the
arrays in one go under the world's step lock (as ``World.raycast`` reads them), with the same
meaning as ``Simulation.set_state``: values clipped into the world's bounds, quaternions normalised,
static bodies and unknown names skipped, sleeping bodies woken with their island.

The world's own batch command would be the proper home for this (a hook asked of the physics' and
world's owners); until then it stays here, beside the world it reaches into.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .physics.simulation import MAX_COORDINATE, MAX_SPEED
from .world import World


def set_states(world: World, names: Sequence[str], position: np.ndarray, orientation: np.ndarray,
               velocity: np.ndarray, angular_velocity: np.ndarray) -> int:
    """Sets the motion state of the bodies ``names`` (rows of the arrays); returns how many were set.
    Non-finite rows are skipped too: nothing here can put a NaN into the world."""
    if not len(names):
        return 0
    q = np.asarray(orientation, dtype=np.float64)
    norm = np.linalg.norm(q, axis=1)
    finite = (np.isfinite(position).all(axis=1) & np.isfinite(q).all(axis=1)
              & np.isfinite(velocity).all(axis=1) & np.isfinite(angular_velocity).all(axis=1) & (norm > 0.5))
    with world._lock:  # the step lock: no step runs while we write
        lookup = world._rows
        rows = np.fromiter((lookup.get(n, -1) for n in names), dtype=np.int64, count=len(names))
        b = world.sim.bodies
        ok = finite & (rows >= 0)
        ok[ok] &= ~b.static[rows[ok]]
        take = rows[ok]
        if not len(take):
            return 0
        b.pos[take] = np.clip(position[ok], -MAX_COORDINATE, MAX_COORDINATE)
        b.quat[take] = q[ok] / norm[ok, None]
        b.vel[take] = np.clip(velocity[ok], -MAX_SPEED, MAX_SPEED)
        b.angvel[take] = np.clip(angular_velocity[ok], -MAX_SPEED, MAX_SPEED)
        for row in take[b.sleeping[take]].tolist():  # rare: wakes the island as set_state does
            world.sim.wake(row)
        b.sleep_time[take] = 0.0
        return len(take)
