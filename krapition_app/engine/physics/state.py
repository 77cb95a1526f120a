"""World state as struct-of-arrays: one row per body, growable, no per-body Python objects.

Rows ``0..n-1`` are live. Kernels receive views ``array[:n]``; growing reallocates (doubling) and
copies, which happens only on spawn, never inside a step.
"""

from __future__ import annotations

import numpy as np

SPHERE = 0
BOX = 1
SHAPE_CODES = {"sphere": SPHERE, "box": BOX}
SHAPE_NAMES = ("sphere", "box")

# joint kinds
BALL_SOCKET = 0
HINGE = 1
DISTANCE = 2
JOINT_KIND_NAMES = ("ball-socket", "hinge", "distance")


#: cache-line size: the solver reads a body's packed row for two random bodies per contact
CACHE_LINE = 64


def aligned_zeros(shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """np.zeros whose first byte starts a cache line, so a 64-byte packed row is one line, not two
    (numpy's own allocations start 16 bytes into one)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.zeros(nbytes + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start:start + nbytes].view(dtype).reshape(shape)


class Bodies:
    """The per-body arrays. ``half[i]`` holds a box's half extents, or (r, r, r) for a sphere."""

    # pos/quat and vel/angvel/inv_mass live side by side in two packed arrays (``pose``, ``motion``):
    # the solver reads them for two random bodies per contact, so one cache line each instead of
    # one per field. ``pos``, ``quat``, ``vel``, ``angvel`` and ``inv_mass`` are views into them.
    _PACKED: tuple[tuple[str, str, int, int], ...] = (
        ("pos", "pose", 0, 3),
        ("quat", "pose", 3, 7),
        ("vel", "motion", 0, 3),
        ("angvel", "motion", 3, 6),
        ("inv_mass", "motion", 6, -1),
        # a sphere's scalar inverse inertia (the solver then skips the 3x3 matrix); -1 for a box
        ("inv_iso", "motion", 7, -1),
    )
    _FIELDS: tuple[tuple[str, type, tuple[int, ...]], ...] = (
        ("pose", np.float64, (8,)),
        ("motion", np.float64, (8,)),
        ("inv_inertia", np.float64, (3,)),  # body frame, principal axes
        ("shape", np.int8, ()),
        ("half", np.float64, (3,)),
        ("bound", np.float64, ()),  # bounding-sphere radius
        ("material", np.int16, ()),
        ("owner", np.int32, ()),
        ("static", np.bool_, ()),
        ("sleeping", np.bool_, ()),
        ("sleep_time", np.float64, ()),
        ("island", np.int32, ()),  # id of the sleeping island a body belongs to, -1 when awake
    )

    def __init__(self, capacity: int = 64) -> None:
        self.n = 0
        self.capacity = max(1, capacity)
        for name, dtype, shape in self._FIELDS:
            setattr(self, name, aligned_zeros((self.capacity, *shape), dtype))
        self._views()
        self.quat[:, 0] = 1.0
        self.island[:] = -1

    def reserve(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        new_cap = max(capacity, 2 * self.capacity)
        for name, dtype, shape in self._FIELDS:
            old = getattr(self, name)
            new = aligned_zeros((new_cap, *shape), dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        self._views()
        self.quat[self.n :, 0] = 1.0
        self.island[self.n :] = -1
        self.capacity = new_cap

    def _views(self) -> None:
        for name, packed, lo, hi in self._PACKED:
            arr = getattr(self, packed)
            setattr(self, name, arr[:, lo] if hi < 0 else arr[:, lo:hi])

    def append(
        self,
        *,
        shape: int,
        half: tuple[float, float, float],
        density: float,
        material: int,
        pos: tuple[float, ...],
        quat: tuple[float, ...],
        vel: tuple[float, ...],
        angvel: tuple[float, ...],
        static: bool,
        owner: int = 0,
    ) -> int:
        """Adds one body and returns its row; mass and inertia follow from shape and density."""
        return int(self.extend(
            shape=np.array([shape]), half=np.array([half], dtype=np.float64), density=np.array([density]),
            material=np.array([material]), pos=np.array([pos], dtype=np.float64),
            quat=np.array([quat], dtype=np.float64), vel=np.array([vel], dtype=np.float64),
            angvel=np.array([angvel], dtype=np.float64), static=np.array([static]), owner=np.array([owner]),
        )[0])

    def extend(
        self,
        *,
        shape: np.ndarray,
        half: np.ndarray,
        density: np.ndarray,
        material: np.ndarray,
        pos: np.ndarray,
        quat: np.ndarray,
        vel: np.ndarray,
        angvel: np.ndarray,
        static: np.ndarray,
        owner: np.ndarray,
    ) -> np.ndarray:
        """Adds ``len(shape)`` bodies (one row of each array per body) and returns their rows. One
        path for one body and for many, so a body gets the same bits whichever way it came."""
        k = len(shape)
        self.reserve(self.n + k)
        rows = np.arange(self.n, self.n + k)
        hx, hy, hz = half[:, 0], half[:, 1], half[:, 2]
        sphere = shape == SPHERE
        mass = np.where(sphere, density * 4.0 / 3.0 * np.pi * hx**3, density * 8.0 * hx * hy * hz)
        inertia = np.where(sphere[:, None], (0.4 * mass * hx * hx)[:, None],
                           mass[:, None] / 3.0 * np.stack([hy * hy + hz * hz, hx * hx + hz * hz,
                                                           hx * hx + hy * hy], axis=1))
        moving = ~static
        self.pos[rows] = pos
        self.quat[rows] = quat / np.sqrt(np.einsum("ij,ij->i", quat, quat))[:, None]
        self.vel[rows] = np.where(moving[:, None], vel, 0.0)
        self.angvel[rows] = np.where(moving[:, None], angvel, 0.0)
        self.inv_mass[rows] = np.where(moving, 1.0 / mass, 0.0)
        self.inv_inertia[rows] = np.where(moving[:, None], 1.0 / inertia, 0.0)
        self.inv_iso[rows] = np.where(sphere, np.where(moving, 1.0 / inertia[:, 0], 0.0), -1.0)
        self.shape[rows] = shape
        self.half[rows] = half
        self.bound[rows] = np.where(sphere, hx, np.sqrt(hx * hx + hy * hy + hz * hz))
        self.material[rows] = material
        self.owner[rows] = owner
        self.static[rows] = static
        self.sleeping[rows] = False
        self.sleep_time[rows] = 0.0
        self.island[rows] = -1
        self.n += k
        return rows

    def remove(self, rows: np.ndarray) -> np.ndarray:
        """Deletes rows keeping the order of the others; returns old row -> new row (-1: deleted)."""
        keep = np.ones(self.n, dtype=np.bool_)
        keep[rows] = False
        remap = np.full(self.n, -1, dtype=np.int64)
        remap[keep] = np.arange(int(keep.sum()))
        for name, _dtype, _shape in self._FIELDS:
            arr = getattr(self, name)
            kept = arr[: self.n][keep].copy()
            arr[: len(kept)] = kept
        self.n = int(keep.sum())
        return remap

    def mass(self, i: int) -> float:
        return 0.0 if self.inv_mass[i] == 0.0 else 1.0 / self.inv_mass[i]


class Joints:
    """Joint rows: kind, bodies (b = -1 is the static world), local anchors and axes, limits and the
    accumulated impulses (warm starting)."""

    _FIELDS: tuple[tuple[str, type, tuple[int, ...]], ...] = (
        ("kind", np.int8, ()),
        ("a", np.int32, ()),
        ("b", np.int32, ()),
        ("local_a", np.float64, (3,)),  # anchor in a's frame
        ("local_b", np.float64, (3,)),  # anchor in b's frame (world frame when b = -1)
        ("axis_a", np.float64, (3,)),  # hinge axis in a's frame
        ("axis_b", np.float64, (3,)),  # hinge axis in b's frame (world when b = -1)
        ("ref_a", np.float64, (3,)),  # a vector perpendicular to the axis, in a's frame (angle zero)
        ("ref_b", np.float64, (3,)),  # the same vector in b's frame at creation
        ("limits", np.float64, (2,)),  # hinge lower, upper angle (radians)
        ("has_limit", np.bool_, ()),
        ("length", np.float64, ()),  # distance joint rest length
        ("impulse", np.float64, (7,)),  # point(3), angular(2), limit(1), distance(1)
    )

    def __init__(self, capacity: int = 8) -> None:
        self.n = 0
        self.capacity = capacity
        for name, dtype, shape in self._FIELDS:
            setattr(self, name, np.zeros((capacity, *shape), dtype=dtype))

    def append(self, **values: object) -> int:
        if self.n == self.capacity:
            new_cap = 2 * self.capacity
            for name, dtype, shape in self._FIELDS:
                new = np.zeros((new_cap, *shape), dtype=dtype)
                new[: self.n] = getattr(self, name)[: self.n]
                setattr(self, name, new)
            self.capacity = new_cap
        i = self.n
        for name, _dtype, _shape in self._FIELDS:
            getattr(self, name)[i] = 0
        for name, value in values.items():
            getattr(self, name)[i] = value
        self.n += 1
        return i

    def remove(self, rows: np.ndarray) -> None:
        keep = np.ones(self.n, dtype=np.bool_)
        keep[rows] = False
        for name, _dtype, _shape in self._FIELDS:
            arr = getattr(self, name)
            kept = arr[: self.n][keep].copy()
            arr[: len(kept)] = kept
        self.n = int(keep.sum())

    def remap_bodies(self, remap: np.ndarray) -> np.ndarray:
        """After bodies were deleted: drop joints that lost a body, renumber the others; returns the
        rows (before removal) of the joints dropped."""
        a = self.a[: self.n]
        b = self.b[: self.n]
        lost = (remap[a] < 0) | ((b >= 0) & (remap[np.maximum(b, 0)] < 0))
        self.a[: self.n] = remap[a]
        self.b[: self.n] = np.where(b >= 0, remap[np.maximum(b, 0)], -1)
        dropped = np.nonzero(lost)[0]
        self.remove(dropped)
        return dropped
