"""The per-frame contact table: one row per contact point, floats in ``cf`` and ints in ``ci``.

A row is written by the narrow phase (point, normal, separation, feature key) and completed by the
solver's prepare pass. Rows are array-of-structs on purpose: the solver touches every field of a
contact together, so one contact is a few adjacent cache lines.
"""

from __future__ import annotations

import numpy as np

# cf columns. The first 32 (four cache lines) are what the substep passes read; the rest are used
# once per frame (prepare, restitution, events).
NX, NY, NZ = 0, 1, 2  # unit normal from body a to body b
SEP = 3  # separation at frame start (negative: penetration)
RAX, RAY, RAZ = 4, 5, 6  # point - centre of a (world, frame start)
RBX, RBY, RBZ = 7, 8, 9  # point - centre of b (or the world point when b is the static world)
LAX, LAY, LAZ = 10, 11, 12  # anchor in a's body frame
LBX, LBY, LBZ = 13, 14, 15  # anchor in b's body frame
NMASS = 16
T1X, T1Y, T1Z = 17, 18, 19
T2X, T2Y, T2Z = 20, 21, 22
TMASS1, TMASS2 = 23, 24
FRICTION = 25
JN, JT1, JT2 = 26, 27, 28  # accumulated impulses of the current substep (warm starting)
MAXJN = 29
APPROACH = 30  # most negative normal velocity seen before a solve that pushed (m/s)
GN = 31  # relative acceleration of b from a along the normal due to gravity (m/s^2)
RESTITUTION = 32
JSUM = 33  # normal impulse applied over the whole frame (events)
VT0 = 34  # sliding speed at frame start
VN0 = 35  # normal velocity at frame start
PX, PY, PZ = 36, 37, 38  # contact point (world, frame start): midway between the two surfaces
NCOLS = 40  # 320-byte rows: a whole number of cache lines

# ci columns
CA, CB, CNEW = 0, 1, 2
#: 1 when a box that can move is involved: the separation must follow the bodies' rotation, not only
#: their translation (for two spheres, a sphere and the ground or a sphere and a static box, it
#: depends on the centres alone, and the pair has a single contact point)
CROT = 3
NICOLS = 4

#: joined-pair keys (a << 21 | b + 1) need body rows below this
MAX_BODIES_FOR_KEYS = 1 << 21


class ContactTable:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.cf = np.zeros((capacity, NCOLS), dtype=np.float64)
        self.ci = np.zeros((capacity, NICOLS), dtype=np.int64)
        self.n = 0
        # warm-start memory of the previous frame, bucketed by body a: the points of body a are rows
        # prev_start[a]:prev_start[a + 1] (their other body, anchor in a's frame, impulses)
        self.forget()

    def grow(self, capacity: int) -> None:
        capacity = max(capacity, 2 * self.capacity)
        self.cf = np.zeros((capacity, NCOLS), dtype=np.float64)
        self.ci = np.zeros((capacity, NICOLS), dtype=np.int64)
        self.capacity = capacity

    def forget(self) -> None:
        """Drops warm-start memory (after bodies were renumbered)."""
        self.prev_start = np.zeros(1, dtype=np.int64)
        self.prev_other = np.zeros(0, dtype=np.int64)
        self.prev_local = np.zeros((0, 3), dtype=np.float64)
        self.prev_impulses = np.zeros((0, 3), dtype=np.float64)

    def remember(self, nbodies: int) -> None:
        """Sizes the warm-start memory for this frame's contacts (filled by ``save_warm_start``)."""
        self.prev_start = np.zeros(nbodies + 1, dtype=np.int64)
        self.prev_other = np.empty(self.n, dtype=np.int64)
        self.prev_local = np.empty((self.n, 3))
        self.prev_impulses = np.empty((self.n, 3))
