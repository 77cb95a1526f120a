"""The rigid-body simulation: state arrays plus one ``step()`` that runs the kernels in order.

Rows of the body arrays are the body ids seen by contact events and ray casts. This class does no
locking and no name bookkeeping; ``engine.world.World`` wraps it for the app (names, commands,
snapshots, threads). Every public method validates its input completely before it changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...model.materials import MATERIALS, Material, pair_friction, pair_restitution
from ..contacts import ContactEvents
from .broadphase import compute_aabbs, find_pairs
from .contacts_table import MAX_BODIES_FOR_KEYS, ContactTable
from .errors import InvalidCommandError, UnknownBodyError, UnknownDragError
from .islands import update_sleep, wake_touched
from .joints import hinge_angle
from .manifolds import load_lanes
from .narrowphase import collide
from .raycast import raycast
from .solver import prepare_contacts, update_world_inertia
from .state import BALL_SOCKET, BOX, DISTANCE, HINGE, SPHERE, Bodies, Joints
from .stepper import count_events, fill_events, run_substeps, save_warm_start
from .wide import WideContacts

MIN_SIZE = 0.005
MAX_SIZE = 50.0
MAX_COORDINATE = 10_000.0
MAX_SPEED = 1_000.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Solver settings: Box2D v3's soft step, tuned for 3D boxes at 4 substeps.

    Contacts are springs of ``contact_hertz`` (twice that against static bodies), capped at a quarter
    of the substep rate. Box2D's damping ratio of 10 made 4-point box manifolds jitter in 3D (a
    10-level pyramid never slept); 1.0 settles it in half a second. For box contacts, stiffer than
    ~45 Hz at 4 substeps jitters (at 60 Hz the pyramid never sleeps); softer sags more under load (a
    10-box tower sinks ~1.4 cm at 40 Hz). A sphere's contact (with a sphere, the ground or a static
    box) is one point with no manifold to jitter, so it gets ``sphere_contact_hertz``: at 60 Hz a
    10,000-sphere pile sinks into itself half as deep as at 40 Hz (mean overlap 1 % of the radius
    instead of 2 %)."""

    dt: float = 1.0 / 60.0
    substeps: int = 4
    contact_hertz: float = 40.0
    sphere_contact_hertz: float = 60.0
    contact_damping_ratio: float = 1.0
    joint_hertz: float = 60.0
    joint_damping_ratio: float = 2.0
    #: position-projection passes over the joints after each substep (0: soft joints only)
    joint_projection_iterations: int = 2
    #: after the substeps, move overlapping bodies apart by this fraction of their overlap beyond
    #: ``allowed_penetration`` (position only; takes out the sag of soft contacts under a pile). For
    #: contacts with a box that turns: none. Projecting a manifold point by point tips the boxes: a
    #: 3,000-box pile dropped in columns toppled to 0.96-0.98 of Rapier's height (at 0.5, over 3
    #: layouts) and took 1.3-2x the frame time with the extra contacts of the fallen boxes; without,
    #: 1.014 of Rapier's height, mean overlap 3.3 % of the half size instead of 2.6 % (Rapier's: 6.2 %)
    contact_projection: float = 0.0
    #: the same for a sphere's contacts (one point: nothing to tip)
    sphere_contact_projection: float = 0.5
    contact_projection_iterations: int = 1
    allowed_penetration: float = 0.0005
    #: the same for a sphere's contacts (one point, no manifold to jitter): at the boxes' 0.5 mm a
    #: 10,000-sphere pile kept a mean overlap of 1.06 % of the radius, at this 0.98 %; a 3,000-box
    #: pile at this value kept moving more (1.15x the frame time)
    sphere_allowed_penetration: float = 0.00025
    #: fastest speed (m/s) at which overlap is pushed apart; more would look like an explosion
    max_push_speed: float = 3.0
    #: closing speeds below this (m/s) do not bounce: resting contacts stay at rest
    restitution_threshold: float = 1.0
    #: contact margin (m) besides how far a body moves in the frame: bodies closer than this already
    #: get a (speculative) contact. Rapier's default prediction distance. At 5 mm, more than half of
    #: a settled pile's contact points were gaps (a box pile's median point 0.6 mm apart); at 2 mm a
    #: 3,000-box pile has a quarter fewer points (0.79-0.88 of the frame time, over 3 layouts) and a
    #: 10,000-sphere pile 13 % fewer (0.87), with the same overlap and pile height or higher
    linear_slop: float = 0.002
    #: a contact point within this distance (m, in body a's frame) of one of last frame's points of
    #: the same pair inherits its impulses (warm starting)
    warm_start_distance: float = 0.02
    angular_damping: float = 0.02
    sleeping: bool = True
    sleep_linear_tolerance: float = 0.05
    time_to_sleep: float = 0.5
    drag_hertz: float = 5.0
    drag_damping_ratio: float = 0.7
    #: most acceleration (m/s^2) a drag may give its body
    drag_max_acceleration: float = 200.0
    drag_angular_damping: float = 2.0
    #: speed (m/s) above which a contact's bodies count as moving past each other (rolling events)
    event_motion_threshold: float = 0.01
    #: solve contacts by colour with the SIMD ("wide") kernels; False: all by the scalar kernels, in
    #: contact order (the reference the wide solver is tested against)
    wide_contacts: bool = True

    def __post_init__(self) -> None:
        if not (0.0 < self.dt <= 0.1 and 1 <= self.substeps <= 64):
            raise InvalidCommandError("dt must be in (0, 0.1] s and substeps in 1..64")


@dataclass(frozen=True, slots=True)
class RayHit:
    body: int
    distance: float
    point: tuple[float, float, float]
    normal: tuple[float, float, float]


def _vec(what: str, value: Sequence[float], limit: float, size: int = 3) -> np.ndarray:
    """A finite float vector of ``size`` components within +-limit, or InvalidCommandError."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidCommandError(f"{what} must be {size} numbers, got {value!r}") from None
    if arr.shape != (size,):
        raise InvalidCommandError(f"{what} must be {size} numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidCommandError(f"{what} must be finite, got {arr.tolist()}")
    if np.any(np.abs(arr) > limit):
        raise InvalidCommandError(f"{what} exceeds {limit:g} in magnitude: {arr.tolist()}")
    return arr


def _unit_quat(what: str, value: Sequence[float]) -> np.ndarray:
    q = _vec(what, value, 2.0, 4)
    norm = float(np.sqrt(np.dot(q, q)))
    if abs(norm - 1.0) > 1e-3:
        raise InvalidCommandError(f"{what} must be a unit quaternion (w, x, y, z); its norm is {norm:.6g}")
    return q / norm


class Simulation:
    def __init__(
        self,
        *,
        gravity: Sequence[float] = (0.0, 0.0, -9.81),
        ground: bool = True,
        settings: Settings | None = None,
        materials: Sequence[Material] | None = None,
        ground_material: str = "stone",
    ) -> None:
        self.settings = settings or Settings()
        self.gravity = _vec("gravity", gravity, 1_000.0)
        self.ground = bool(ground)
        self.materials: tuple[Material, ...] = tuple(materials or MATERIALS.values())
        names = [m.name for m in self.materials]
        if ground_material not in names:
            raise InvalidCommandError(f"unknown ground material {ground_material!r}; known: {names}")
        self.ground_material_name = ground_material
        self._material_index = {m.name: i for i, m in enumerate(self.materials)}
        # tables indexed by material row; the last row is the ground
        mats = [*self.materials, self.materials[names.index(ground_material)]]
        size = len(mats)
        self.friction_table = np.array(
            [[pair_friction(a, b) for b in mats] for a in mats]
        ).reshape(size, size)
        self.restitution_table = np.array(
            [[pair_restitution(a, b) for b in mats] for a in mats]
        ).reshape(size, size)
        self.bodies = Bodies()
        self.joints = Joints()
        self.contacts = ContactTable()
        self.wide = WideContacts()
        self.iw = np.zeros((self.bodies.capacity, 3, 3))
        self._lo = np.zeros((0, 3))
        self._hi = np.zeros((0, 3))
        self._margin = np.zeros(0)
        self._pair_a = np.zeros(256, dtype=np.int64)
        self._pair_b = np.zeros(256, dtype=np.int64)
        # drags: id -> row of the small drag arrays (rebuilt on change; a handful at most)
        self._drags: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self._next_drag = 1
        self.time = 0.0
        self.steps = 0
        self.last_pair_count = 0
        self.last_contact_count = 0
        self.last_removed_joints = np.zeros(0, dtype=np.int64)

    # ---- bodies -------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.bodies.n

    def material_index(self, name: str) -> int:
        try:
            return self._material_index[name]
        except KeyError:
            raise InvalidCommandError(
                f"unknown material {name!r}; known: {', '.join(self._material_index)}"
            ) from None

    def add_body(
        self,
        shape: str,
        size: float | Sequence[float],
        *,
        material: str = "wood",
        position: Sequence[float] = (0.0, 0.0, 0.0),
        orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0),
        velocity: Sequence[float] = (0.0, 0.0, 0.0),
        angular_velocity: Sequence[float] = (0.0, 0.0, 0.0),
        static: bool = False,
        owner: int = 0,
        mass: float | None = None,
    ) -> int:
        """Adds a sphere (size = radius) or a box (size = half extents); returns its row. The mass
        follows from the material's density unless ``mass`` (kg) is given."""
        if shape == "sphere":
            code = SPHERE
            try:
                r = float(size)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise InvalidCommandError(f"a sphere's size is its radius, got {size!r}") from None
            half = (r, r, r)
        elif shape == "box":
            code = BOX
            half = tuple(float(h) for h in _vec("half_extents", size, 1e30))  # type: ignore[arg-type]
        else:
            raise InvalidCommandError(f"unknown shape {shape!r}; known: sphere, box")
        for h in half:
            if not (math.isfinite(h) and MIN_SIZE <= h <= MAX_SIZE):
                raise InvalidCommandError(
                    f"size must be between {MIN_SIZE} and {MAX_SIZE} metres, got {h!r}"
                )
        mat = self.material_index(material)
        pos = _vec("position", position, MAX_COORDINATE)
        _unit_quat("orientation", orientation)  # checked here, normalised once by the body arrays
        quat = np.asarray(orientation, dtype=np.float64)
        vel = _vec("velocity", velocity, MAX_SPEED)
        angvel = _vec("angular_velocity", angular_velocity, MAX_SPEED)
        if self.bodies.n + 1 >= MAX_BODIES_FOR_KEYS:
            raise InvalidCommandError(f"the world holds at most {MAX_BODIES_FOR_KEYS - 1} bodies")
        density = self.materials[mat].density
        if mass is not None:
            if not (math.isfinite(mass) and mass > 0.0):
                raise InvalidCommandError(f"mass must be a positive number of kg, got {mass!r}")
            volume = (4.0 / 3.0 * math.pi * half[0] ** 3 if code == SPHERE
                      else 8.0 * half[0] * half[1] * half[2])
            density = mass / volume
        row = self.bodies.append(
            shape=code, half=half, density=density, material=mat,
            pos=tuple(pos), quat=tuple(quat), vel=tuple(vel), angvel=tuple(angvel), static=bool(static),
            owner=owner,
        )
        return row

    def add_bodies(
        self,
        shape: np.ndarray,
        half: np.ndarray,
        material: np.ndarray,
        position: np.ndarray,
        orientation: np.ndarray,
        velocity: np.ndarray,
        angular_velocity: np.ndarray,
        static: np.ndarray,
    ) -> np.ndarray:
        """Adds many bodies at once (a late joiner's world: thousands in one go) and returns their
        rows. Rows of the arrays are bodies: ``shape`` codes (SPHERE, BOX), ``half`` extents (r, r, r
        for a sphere), ``material`` indices. Checked as :meth:`add_body` checks one body; a bad row
        raises ``InvalidCommandError`` naming it (``body 12: ...``) and adds nothing."""
        shape = np.asarray(shape, dtype=np.int8)
        k = len(shape)
        arrays = {}
        for what, value, width, limit in (("half_extents", half, 3, MAX_SIZE),
                                          ("position", position, 3, MAX_COORDINATE),
                                          ("orientation", orientation, 4, 2.0),
                                          ("velocity", velocity, 3, MAX_SPEED),
                                          ("angular_velocity", angular_velocity, 3, MAX_SPEED)):
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != (k, width):
                raise InvalidCommandError(f"{what} must be {k} rows of {width} numbers, got {arr.shape}")
            bad = ~(np.isfinite(arr) & (np.abs(arr) <= limit)).all(axis=1)
            if bad.any():
                i = int(np.argmax(bad))
                raise InvalidCommandError(f"body {i}: {what} must be finite and within {limit:g}, "
                                          f"got {arr[i].tolist()}")
            arrays[what] = arr
        material = np.asarray(material, dtype=np.int64)
        static = np.asarray(static, dtype=np.bool_)
        if material.shape != (k,) or static.shape != (k,):
            raise InvalidCommandError(f"material and static must be {k} values each")
        checks = (
            (~np.isin(shape, (SPHERE, BOX)), "unknown shape code"),
            ((material < 0) | (material >= len(self.materials)), "unknown material index"),
            ((arrays["half_extents"] < MIN_SIZE).any(axis=1),
             f"size must be between {MIN_SIZE} and {MAX_SIZE} metres"),
            (np.abs(np.linalg.norm(arrays["orientation"], axis=1) - 1.0) > 1e-3,
             "orientation must be a unit quaternion (w, x, y, z)"),
        )
        for bad, why in checks:
            if bad.any():
                raise InvalidCommandError(f"body {int(np.argmax(bad))}: {why}")
        if self.bodies.n + k >= MAX_BODIES_FOR_KEYS:
            raise InvalidCommandError(f"the world holds at most {MAX_BODIES_FOR_KEYS - 1} bodies")
        density = np.array([m.density for m in self.materials])[material]
        return self.bodies.extend(
            shape=shape, half=arrays["half_extents"], density=density, material=material,
            pos=arrays["position"], quat=arrays["orientation"], vel=arrays["velocity"],
            angvel=arrays["angular_velocity"], static=static, owner=np.zeros(k, dtype=np.int32))

    def check_row(self, row: int) -> int:
        if not isinstance(row, int | np.integer) or not 0 <= row < self.bodies.n:
            raise UnknownBodyError(row)
        return int(row)

    def remove_bodies(self, rows: Sequence[int]) -> np.ndarray:
        """Deletes bodies (and the joints and drags on them); returns old row -> new row (-1: gone)."""
        rows_arr = np.array(sorted({self.check_row(r) for r in rows}), dtype=np.int64)
        b = self.bodies
        # islands holding a deleted body wake (what rested on it must fall)
        gone_islands = {int(i) for i in b.island[rows_arr] if i >= 0}
        for isl in gone_islands:
            mask = b.island[: b.n] == isl
            b.sleeping[: b.n][mask] = False
            b.island[: b.n][mask] = -1
            b.sleep_time[: b.n][mask] = 0.0
        remap = b.remove(rows_arr)
        island = b.island[: b.n]
        island[:] = np.where(island >= 0, remap[np.maximum(island, 0)], -1)
        self.last_removed_joints = self.joints.remap_bodies(remap)
        for drag_id, (row, local, target) in list(self._drags.items()):
            if remap[row] < 0:
                del self._drags[drag_id]
            else:
                self._drags[drag_id] = (int(remap[row]), local, target)
        self.contacts.forget()
        return remap

    def set_state(
        self,
        row: int,
        *,
        position: Sequence[float] | None = None,
        orientation: Sequence[float] | None = None,
        velocity: Sequence[float] | None = None,
        angular_velocity: Sequence[float] | None = None,
    ) -> None:
        row = self.check_row(row)
        values = {}
        if position is not None:
            values["pos"] = _vec("position", position, MAX_COORDINATE)
        if orientation is not None:
            values["quat"] = _unit_quat("orientation", orientation)
        if velocity is not None:
            values["vel"] = _vec("velocity", velocity, MAX_SPEED)
        if angular_velocity is not None:
            values["angvel"] = _vec("angular_velocity", angular_velocity, MAX_SPEED)
        b = self.bodies
        if b.static[row] and ("vel" in values or "angvel" in values):
            raise InvalidCommandError(f"body {row} is static: it has no velocity")
        for name, value in values.items():
            getattr(b, name)[row] = value
        self.wake(row)

    def wake(self, row: int) -> None:
        b = self.bodies
        isl = b.island[row]
        if isl >= 0:
            mask = b.island[: b.n] == isl
            b.sleeping[: b.n][mask] = False
            b.island[: b.n][mask] = -1
            b.sleep_time[: b.n][mask] = 0.0
        b.sleeping[row] = False
        b.sleep_time[row] = 0.0

    # ---- joints -------------------------------------------------------------------------------
    def add_joint(
        self,
        kind: str,
        a: int,
        b: int | None,
        anchor: Sequence[float],
        *,
        axis: Sequence[float] = (0.0, 0.0, 1.0),
        limits: tuple[float, float] | None = None,
        anchor_b: Sequence[float] | None = None,
        distance: float | None = None,
    ) -> int:
        """Joins rows a and b (None: the static world) at the world point ``anchor``."""
        a = self.check_row(a)
        b_row = -1 if b is None else self.check_row(b)
        if a == b_row:
            raise InvalidCommandError("a joint needs two different bodies")
        anchor_arr = _vec("anchor", anchor, MAX_COORDINATE)
        bd = self.bodies
        kinds = {"ball-socket": BALL_SOCKET, "hinge": HINGE, "distance": DISTANCE}
        if kind not in kinds:
            raise InvalidCommandError(f"unknown joint kind {kind!r}; known: {', '.join(kinds)}")

        def local(row: int, p: np.ndarray) -> np.ndarray:
            if row < 0:
                return p.copy()
            return _rotate_inv(bd.quat[row], p - bd.pos[row])

        def local_dir(row: int, d: np.ndarray) -> np.ndarray:
            return d.copy() if row < 0 else _rotate_inv(bd.quat[row], d)

        values: dict[str, object] = {"kind": kinds[kind], "a": a, "b": b_row, "local_a": local(a, anchor_arr)}
        if kind == "distance":
            other = _vec("anchor_b", anchor_b if anchor_b is not None else anchor, MAX_COORDINATE)
            rest = float(np.linalg.norm(other - anchor_arr)) if distance is None else float(distance)
            if not (math.isfinite(rest) and 0.0 <= rest <= MAX_COORDINATE):
                raise InvalidCommandError(f"distance must be a non-negative length, got {distance!r}")
            values["local_b"] = local(b_row, other)
            values["length"] = rest
        else:
            values["local_b"] = local(b_row, anchor_arr)
        if kind == "hinge":
            ax = _vec("axis", axis, MAX_COORDINATE)
            norm = float(np.linalg.norm(ax))
            if norm < 1e-9:
                raise InvalidCommandError("a hinge axis must not be zero")
            ax = ax / norm
            ref = np.cross(ax, (1.0, 0.0, 0.0) if abs(ax[0]) < 0.9 else (0.0, 1.0, 0.0))
            ref /= np.linalg.norm(ref)
            values["axis_a"] = local_dir(a, ax)
            values["axis_b"] = local_dir(b_row, ax)
            values["ref_a"] = local_dir(a, ref)
            values["ref_b"] = local_dir(b_row, ref)
            if limits is not None:
                lo, hi = (float(v) for v in limits)
                ok = math.isfinite(lo) and math.isfinite(hi) and -math.pi - 0.1 <= lo <= hi <= math.pi + 0.1
                if not ok:
                    raise InvalidCommandError(
                        f"hinge limits must satisfy -pi <= lower <= upper <= pi: {limits}"
                    )
                values["limits"] = (lo, hi)
                values["has_limit"] = True
        row = self.joints.append(**values)
        self.wake(a)
        if b_row >= 0:
            self.wake(b_row)
        return row

    def hinge_angle(self, joint: int) -> float:
        j = self.joints
        return float(hinge_angle(self.bodies.quat[: self.bodies.n], j.a[joint], j.b[joint],
                                 j.axis_a[: j.n], j.ref_a[: j.n], j.ref_b[: j.n], joint))

    def joint_error(self, joint: int) -> float:
        """Distance (m) between the two anchor points of a ball-socket or hinge joint."""
        j = self.joints
        bd = self.bodies
        a, b = int(j.a[joint]), int(j.b[joint])
        pa = bd.pos[a] + _rotate(bd.quat[a], j.local_a[joint])
        pb = j.local_b[joint] if b < 0 else bd.pos[b] + _rotate(bd.quat[b], j.local_b[joint])
        gap = float(np.linalg.norm(pb - pa))
        return abs(gap - j.length[joint]) if j.kind[joint] == DISTANCE else gap

    # ---- drags --------------------------------------------------------------------------------
    def start_drag(self, row: int, grab_point: Sequence[float]) -> int:
        row = self.check_row(row)
        point = _vec("grab point", grab_point, MAX_COORDINATE)
        if self.bodies.static[row]:
            raise InvalidCommandError(f"body {row} is static and cannot be dragged")
        bd = self.bodies
        local = _rotate_inv(bd.quat[row], point - bd.pos[row])
        drag_id = self._next_drag
        self._next_drag += 1
        self._drags[drag_id] = (row, local, point.copy())
        self.wake(row)
        return drag_id

    def move_drag(self, drag_id: int, target: Sequence[float]) -> None:
        if drag_id not in self._drags:
            raise UnknownDragError(drag_id)
        point = _vec("drag target", target, MAX_COORDINATE)
        row, local, _old = self._drags[drag_id]
        self._drags[drag_id] = (row, local, point)
        self.wake(row)

    def end_drag(self, drag_id: int) -> None:
        if drag_id not in self._drags:
            raise UnknownDragError(drag_id)
        del self._drags[drag_id]

    @property
    def drags(self) -> dict[int, tuple[int, np.ndarray, np.ndarray]]:
        return dict(self._drags)

    # ---- queries ------------------------------------------------------------------------------
    def raycast(self, origin: Sequence[float], direction: Sequence[float],
                max_distance: float = 1e4) -> RayHit | None:
        o = _vec("ray origin", origin, 1e9)
        d = _vec("ray direction", direction, 1e9)
        norm = float(np.linalg.norm(d))
        if norm < 1e-12:
            raise InvalidCommandError("a ray direction must not be zero")
        d = d / norm
        bd = self.bodies
        n = bd.n
        row, t, nx, ny, nz = raycast(bd.pos[:n], bd.quat[:n], bd.shape[:n], bd.half[:n], o[0], o[1], o[2],
                                     d[0], d[1], d[2], float(max_distance))
        if row < 0:
            return None
        p = o + t * d
        return RayHit(int(row), float(t), (float(p[0]), float(p[1]), float(p[2])), (nx, ny, nz))

    def kinetic_energy(self) -> float:
        bd = self.bodies
        n = bd.n
        dyn = bd.inv_mass[:n] > 0
        m = 1.0 / bd.inv_mass[:n][dyn]
        lin = 0.5 * float(np.sum(m * np.sum(bd.vel[:n][dyn] ** 2, axis=1)))
        ang = 0.0
        for i in np.nonzero(dyn)[0]:
            w_local = _rotate_inv(bd.quat[i], bd.angvel[i])
            ang += 0.5 * float(np.sum(w_local**2 / bd.inv_inertia[i]))
        return lin + ang

    # ---- the step -----------------------------------------------------------------------------
    def step(self, on_stage: Callable[[str], None] | None = None) -> ContactEvents:
        """Advances the world by one fixed frame (settings.dt) and returns its contact events.

        ``on_stage(name)`` is called after each stage (the warm-up reports compile progress with it)."""
        stage = on_stage or _no_stage
        s = self.settings
        bd = self.bodies
        n = bd.n
        if self.iw.shape[0] < bd.capacity:
            self.iw = np.zeros((bd.capacity, 3, 3))
        if self._lo.shape[0] < n:
            cap = max(n, 2 * self._lo.shape[0], 16)
            self._lo = np.zeros((cap, 3))
            self._hi = np.zeros((cap, 3))
            self._margin = np.zeros(cap)
        pos, quat, vel, angvel = bd.pos[:n], bd.quat[:n], bd.vel[:n], bd.angvel[:n]
        static, sleeping = bd.static[:n], bd.sleeping[:n]
        lo, hi, margin = self._lo[:n], self._hi[:n], self._margin[:n]
        inv_mass = bd.inv_mass[:n]
        iw = self.iw[:n]
        jn = self.joints.n
        jt = self.joints
        drag_rows = [(row, local, target) for _id, (row, local, target) in sorted(self._drags.items())]
        nd = len(drag_rows)
        dbody = np.array([r for r, _l, _t in drag_rows], dtype=np.int64)
        dlocal = np.array([lc for _r, lc, _t in drag_rows], dtype=np.float64).reshape(nd, 3)
        dtarget = np.array([t for _r, _l, t in drag_rows], dtype=np.float64).reshape(nd, 3)
        dimpulse = np.zeros((nd, 3))
        dmax = np.array([s.drag_max_acceleration * bd.mass(r) for r in dbody], dtype=np.float64)

        compute_aabbs(pos, quat, vel, angvel, bd.shape[:n], bd.half[:n], bd.bound[:n], static, sleeping,
                      s.dt, s.linear_slop, lo, hi, margin)
        npairs = self._find_pairs(lo, hi, static, sleeping)
        stage("broad phase")
        woke = wake_touched(self._pair_a, self._pair_b, npairs, jt.a[:jn], jt.b[:jn], dbody, static, sleeping,
                            bd.island[:n], bd.sleep_time[:n])
        if woke:  # pairs inside the woken islands were skipped as sleeping: find them now
            npairs = self._find_pairs(lo, hi, static, sleeping)
        self.last_pair_count = npairs
        # bodies tied by a joint do not collide with each other (Box2D's collideConnected = false)
        ja, jb = jt.a[:jn].astype(np.int64), jt.b[:jn].astype(np.int64)
        both = jb >= 0
        joined = np.unique((np.minimum(ja, jb)[both] << 21) | (np.maximum(ja, jb)[both] + 1))
        ct = self.contacts
        while True:
            nc = collide(pos, quat, bd.shape[:n], bd.half[:n], static, sleeping, margin, self._pair_a,
                         self._pair_b, npairs, self.ground, joined, ct.cf, ct.ci)
            if nc <= ct.capacity:
                break
            ct.grow(nc + nc // 2)
        self.last_contact_count = nc
        stage("narrow phase")
        update_world_inertia(quat, bd.inv_inertia[:n], static, iw)
        wide = self.wide
        wide.plan(ct.ci, nc, inv_mass, s.wide_contacts)
        prepare_contacts(ct.cf, ct.ci, nc, pos, quat, vel, angvel, inv_mass, bd.inv_iso[:n], iw,
                         bd.material[:n], len(self.materials), self.friction_table, self.restitution_table,
                         ct.prev_start, ct.prev_other, ct.prev_local, ct.prev_impulses, s.warm_start_distance,
                         *self.gravity, wide.lanes, wide.wf, wide.wi)
        mf = wide.manifolds
        load_lanes(ct.cf, ct.ci, mf.morig, mf.mslots, mf.nchunks, pos, quat, inv_mass, mf.wf, mf.wi)
        g = self.gravity
        run_substeps(
            ct.cf, ct.ci, nc,
            wide.wf, wide.wi, wide.worig, wide.ccnt, wide.nchunks, wide.sc, wide.rows, wide.nrows,
            mf.wf, mf.wi, mf.morig, mf.mccnt, mf.mslots, mf.nchunks, mf.sc,
            pos, quat, vel, angvel, inv_mass, bd.inv_iso[:n], iw, sleeping,
            jt.kind[:jn], jt.a[:jn], jt.b[:jn], jt.local_a[:jn], jt.local_b[:jn], jt.axis_a[:jn],
            jt.axis_b[:jn], jt.ref_a[:jn], jt.ref_b[:jn], jt.limits[:jn], jt.has_limit[:jn], jt.length[:jn],
            jt.impulse[:jn],
            dbody, dlocal, dtarget, dimpulse, dmax,
            g[0], g[1], g[2], s.dt, s.substeps, min(s.contact_hertz, 0.25 * s.substeps / s.dt),
            min(s.sphere_contact_hertz, 0.25 * s.substeps / s.dt), s.contact_damping_ratio, s.joint_hertz,
            s.joint_damping_ratio, s.max_push_speed,
            s.restitution_threshold, s.angular_damping, MAX_SPEED, s.drag_hertz, s.drag_damping_ratio,
            s.drag_angular_damping, s.joint_projection_iterations, s.contact_projection,
            s.sphere_contact_projection, s.contact_projection_iterations, s.allowed_penetration,
            s.sphere_allowed_penetration,
        )
        stage("solver")
        # warm-start memory for the next frame, bucketed by body
        ct.n = nc
        ct.remember(n)
        save_warm_start(ct.cf, ct.ci, nc, ct.prev_start, ct.prev_other, ct.prev_local, ct.prev_impulses)
        update_sleep(ct.cf, ct.ci, nc, jt.a[:jn], jt.b[:jn], dbody, vel, angvel, bd.bound[:n], static,
                     sleeping, bd.island[:n], bd.sleep_time[:n], s.dt, s.sleep_linear_tolerance,
                     s.time_to_sleep, s.sleeping)
        events = ContactEvents.empty(int(count_events(ct.cf, nc)))
        fill_events(ct.cf, ct.ci, nc, vel, events.body_a, events.body_b, events.point, events.normal,
                    events.normal_impulse, events.normal_speed, events.tangential_speed, events.kind,
                    s.event_motion_threshold)
        stage("islands and events")
        self.time += s.dt
        self.steps += 1
        return events

    def _find_pairs(self, lo: np.ndarray, hi: np.ndarray, static: np.ndarray, sleeping: np.ndarray) -> int:
        while True:
            count = find_pairs(lo, hi, static, sleeping, self._pair_a, self._pair_b)
            if count < self._pair_a.shape[0]:  # the last slot is the broad phase's scratch
                return count
            size = count + count // 2 + 1
            self._pair_a = np.zeros(size, dtype=np.int64)
            self._pair_b = np.zeros(size, dtype=np.int64)


def _no_stage(_name: str) -> None:
    pass


def _rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    u = np.array([x, y, z])
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def _rotate_inv(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _rotate(np.array([q[0], -q[1], -q[2], -q[3]]), np.asarray(v, dtype=np.float64))
