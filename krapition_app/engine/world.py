"""The world loop: owns the clock and the physics, takes commands, publishes snapshots.

Threads: any thread may ``submit`` commands (a bounded, thread-safe queue) and read ``snapshot()``
(an immutable object swapped in atomically: the renderer never waits and never sees half a step).
Only the simulation thread (``start()``, or whoever calls ``tick``) touches the physics arrays.

Commands name bodies by their scene name. A command is validated completely before it changes
anything: a bad one raises a precise error (``UnknownBodyError``, ``InvalidCommandError``, ...) and
leaves the world as it was. ``submit`` checks what it can at once (values, sizes, known names), so
the caller gets the error on its own thread; what can only be checked when the command runs (a body
deleted meanwhile) is reported to ``on_error``.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model.materials import MATERIAL_NAMES
from ..model.scene import BallSocketSpec, BodySpec, ConstraintSpec, DistanceSpec, HingeSpec, Scene
from .contacts import ContactEvents
from .physics import (
    CommandQueueFullError,
    DuplicateBodyError,
    InvalidCommandError,
    PhysicsError,
    Settings,
    Simulation,
    UnknownBodyError,
    UnknownDragError,
)
from .physics.simulation import MAX_COORDINATE, MAX_SPEED, RayHit, _unit_quat, _vec
from .physics.state import BOX, DISTANCE, HINGE, JOINT_KIND_NAMES, SHAPE_NAMES
from .physics.warmup import Progress, warm_up

Vec3 = tuple[float, float, float]


# ---- commands ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Spawn:
    body: BodySpec


@dataclass(frozen=True, slots=True)
class SpawnMany:
    """Many bodies in one command (a late joiner takes thousands at once), as a ``Spawn`` per body:
    ``submit`` refuses the command if a name is taken or repeated; when it runs, a body that turns out
    bad is reported to ``on_error`` as its own ``Spawn`` and the others are spawned."""

    bodies: tuple[BodySpec, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    name: str


@dataclass(frozen=True, slots=True)
class SetState:
    name: str
    position: Sequence[float] | None = None
    orientation: Sequence[float] | None = None
    velocity: Sequence[float] | None = None
    angular_velocity: Sequence[float] | None = None


@dataclass(frozen=True, slots=True)
class Drag:
    """Starts (or moves) the drag ``key`` of body ``name``: its point ``grab_point`` (world, where it
    was grabbed; used when the drag starts) is pulled towards ``target``."""

    key: str
    name: str
    grab_point: Sequence[float]
    target: Sequence[float]


@dataclass(frozen=True, slots=True)
class Release:
    key: str


Command = Spawn | SpawnMany | Delete | SetState | Drag | Release


# ---- snapshots -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state after a step, for the renderer and the network. Arrays are read-only copies."""

    step: int
    time: float
    #: fraction of a step the clock has run past ``time`` (for interpolation), 0..1
    alpha: float
    names: tuple[str, ...]
    shape: np.ndarray  # int8: 0 sphere, 1 box
    half_extents: np.ndarray  # (n, 3); a sphere's radius in column 0 (all three equal)
    material: np.ndarray  # int16, index into MATERIAL_NAMES
    static: np.ndarray
    sleeping: np.ndarray
    position: np.ndarray
    orientation: np.ndarray  # (w, x, y, z)
    velocity: np.ndarray
    angular_velocity: np.ndarray
    #: contact events of the steps since the previous snapshot
    contacts: ContactEvents = field(default_factory=ContactEvents.empty)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise UnknownBodyError(name) from None


class _BadBody(Exception):
    """Body ``index`` of a SpawnMany cannot be spawned, for ``error``."""

    def __init__(self, index: int, error: PhysicsError) -> None:
        super().__init__(index, error)
        self.index, self.error = index, error


def _frozen(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out.flags.writeable = False
    return out


def _concat(events: list[ContactEvents]) -> ContactEvents:
    if not events:
        return ContactEvents.empty()
    if len(events) == 1:
        return events[0]
    fields = ContactEvents.__dataclass_fields__
    return ContactEvents(**{f: np.concatenate([getattr(e, f) for e in events]) for f in fields})


class World:
    def __init__(
        self,
        scene: Scene | None = None,
        *,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.monotonic,
        queue_size: int = 1024,
        max_steps_per_tick: int = 4,
        on_error: Callable[[Command, PhysicsError], None] | None = None,
        on_contacts: Callable[[ContactEvents], None] | None = None,
    ) -> None:
        scene = scene or Scene()
        self.sim = Simulation(gravity=scene.gravity, ground=scene.ground, settings=settings)
        self.scene_name = scene.name
        self._clock = clock
        self._commands: queue.Queue[Command] = queue.Queue(maxsize=queue_size)
        self._max_steps = max_steps_per_tick
        self._on_error = on_error
        self._on_contacts = on_contacts
        self._names: list[str] = []
        self._rows: dict[str, int] = {}
        self._joint_names: list[str] = []
        self._drag_ids: dict[str, int] = {}
        self._accumulator = 0.0
        self._last_time: float | None = None
        self._pending_events: list[ContactEvents] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held by whoever steps; snapshots need no lock
        self.errors: list[tuple[Command, PhysicsError]] = []
        #: wall-clock milliseconds the newest step took (for the metrics dashboard)
        self.step_ms = 0.0
        for body in scene.bodies:
            self._spawn(body)
        for c in scene.constraints:
            self._add_constraint(c)
        self._front = self._make_snapshot()

    @classmethod
    def from_scene(cls, scene: Scene, **kwargs: object) -> World:
        return cls(scene, **kwargs)  # type: ignore[arg-type]

    # ---- names ---------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._names)

    def row(self, name: str) -> int:
        try:
            return self._rows[name]
        except (KeyError, TypeError):
            raise UnknownBodyError(name) from None

    # ---- commands ------------------------------------------------------------------------------
    def submit(self, command: Command) -> None:
        """Queues a command for the next tick (any thread). Raises at once for a command that can
        never be valid, or ``CommandQueueFullError`` when the simulation is behind."""
        self._precheck(command)
        try:
            self._commands.put_nowait(command)
        except queue.Full:
            raise CommandQueueFullError(
                f"the world's command queue is full ({self._commands.maxsize} commands)"
            ) from None

    def apply(self, command: Command) -> None:
        """Runs a command now (simulation thread only); raises and changes nothing if it is bad."""
        with self._lock:
            self._apply(command)

    def _precheck(self, command: Command) -> None:
        if isinstance(command, Spawn):
            if not isinstance(command.body, BodySpec):
                raise InvalidCommandError("Spawn needs a BodySpec")
            if command.body.name in self._rows:
                raise DuplicateBodyError(command.body.name)
        elif isinstance(command, SpawnMany):
            if not all(isinstance(b, BodySpec) for b in command.bodies):
                raise InvalidCommandError("SpawnMany needs BodySpecs")
            seen: set[str] = set()
            for b in command.bodies:
                if b.name in self._rows or b.name in seen:
                    raise DuplicateBodyError(b.name)
                seen.add(b.name)
        elif isinstance(command, Delete):
            self.row(command.name)
        elif isinstance(command, SetState):
            self.row(command.name)
            for what, value, limit in (("position", command.position, MAX_COORDINATE),
                                       ("velocity", command.velocity, MAX_SPEED),
                                       ("angular_velocity", command.angular_velocity, MAX_SPEED)):
                if value is not None:
                    _vec(what, value, limit)
            if command.orientation is not None:
                _unit_quat("orientation", command.orientation)
        elif isinstance(command, Drag):
            self.row(command.name)
            _vec("grab point", command.grab_point, MAX_COORDINATE)
            _vec("drag target", command.target, MAX_COORDINATE)
        elif isinstance(command, Release):
            if not isinstance(command.key, str):
                raise InvalidCommandError("Release needs a drag key (str)")
        else:
            raise InvalidCommandError(f"unknown command {command!r}")

    def _apply(self, command: Command) -> None:
        if isinstance(command, SpawnMany):  # checked body by body: a bad one is reported, the rest spawn
            self._spawn_many(command.bodies)
            return
        self._precheck(command)
        if isinstance(command, Spawn):
            self._spawn(command.body)
        elif isinstance(command, Delete):
            self._delete(command.name)
        elif isinstance(command, SetState):
            self.sim.set_state(self.row(command.name), position=command.position,
                               orientation=command.orientation, velocity=command.velocity,
                               angular_velocity=command.angular_velocity)
        elif isinstance(command, Drag):
            row = self.row(command.name)
            drag = self._drag_ids.get(command.key)
            if drag is not None and self.sim.drags.get(drag, (None,))[0] != row:
                self.sim.end_drag(drag)  # the key moved on to another body
                drag = None
                del self._drag_ids[command.key]
            if drag is None:
                drag = self.sim.start_drag(row, command.grab_point)
                try:
                    self.sim.move_drag(drag, command.target)
                except PhysicsError:
                    self.sim.end_drag(drag)
                    raise
                self._drag_ids[command.key] = drag
            else:
                self.sim.move_drag(drag, command.target)
        elif isinstance(command, Release):
            drag = self._drag_ids.pop(command.key, None)
            if drag is None:
                raise UnknownDragError(command.key)
            if drag in self.sim.drags:
                self.sim.end_drag(drag)

    def _spawn(self, body: BodySpec) -> int:
        if body.name in self._rows:
            raise DuplicateBodyError(body.name)
        size = body.radius if body.shape == "sphere" else body.half_extents
        if size is None:
            raise InvalidCommandError(f"body {body.name!r} has no size")
        row = self.sim.add_body(body.shape, size, material=body.material, position=body.position,
                                orientation=body.orientation, velocity=body.velocity,
                                angular_velocity=body.angular_velocity, static=body.static)
        self._names.append(body.name)
        self._rows[body.name] = row
        return row

    def _spawn_many(self, bodies: Sequence[BodySpec]) -> None:
        bodies = list(bodies)
        while bodies:
            try:
                self._spawn_all(bodies)
                return
            except _BadBody as bad:
                body = bodies.pop(bad.index)
                if self._on_error is not None:
                    self._on_error(Spawn(body), bad.error)
                else:
                    self.errors.append((Spawn(body), bad.error))
                    del self.errors[:-100]

    def _spawn_all(self, bodies: Sequence[BodySpec]) -> np.ndarray:
        """Spawns all of ``bodies`` or, raising ``_BadBody`` for the first bad one found, none."""
        k = len(bodies)
        half = np.empty((k, 3))
        codes = {name: i for i, name in enumerate(SHAPE_NAMES)}
        material = np.empty(k, dtype=np.int64)
        seen: set[str] = set()
        for i, body in enumerate(bodies):
            if not isinstance(body, BodySpec):
                raise _BadBody(i, InvalidCommandError(f"SpawnMany needs BodySpecs, got {body!r}"))
            size = body.radius if body.shape == "sphere" else body.half_extents
            if size is None or body.shape not in codes:
                raise _BadBody(i, InvalidCommandError(f"body {body.name!r} has no size or an unknown shape"))
            if body.name in self._rows or body.name in seen:
                raise _BadBody(i, DuplicateBodyError(body.name))
            seen.add(body.name)
            try:
                material[i] = self.sim.material_index(body.material)
            except InvalidCommandError as exc:
                raise _BadBody(i, exc) from None
            half[i] = size
        shape = np.array([codes[b.shape] for b in bodies], dtype=np.int8)
        try:
            rows = self.sim.add_bodies(
                shape, half, material, np.array([b.position for b in bodies], dtype=np.float64).reshape(k, 3),
                np.array([b.orientation for b in bodies], dtype=np.float64).reshape(k, 4),
                np.array([b.velocity for b in bodies], dtype=np.float64).reshape(k, 3),
                np.array([b.angular_velocity for b in bodies], dtype=np.float64).reshape(k, 3),
                np.array([b.static for b in bodies], dtype=np.bool_))
        except InvalidCommandError as exc:  # "body 12: ..." -> that body, by name
            head, _, why = str(exc).partition(": ")
            if head.startswith("body ") and head[5:].isdigit():
                i = int(head[5:])
                raise _BadBody(i, InvalidCommandError(f"body {bodies[i].name!r}: {why}")) from None
            raise
        for body, row in zip(bodies, rows.tolist(), strict=True):
            self._names.append(body.name)
            self._rows[body.name] = row
        return rows

    def _delete(self, name: str) -> None:
        row = self.row(name)
        self.sim.remove_bodies([row])
        dropped = set(self.sim.last_removed_joints.tolist())
        self._joint_names = [n for i, n in enumerate(self._joint_names) if i not in dropped]
        del self._names[row]
        self._rows = {n: i for i, n in enumerate(self._names)}
        live = set(self.sim.drags)
        self._drag_ids = {k: d for k, d in self._drag_ids.items() if d in live}

    def _add_constraint(self, c: ConstraintSpec) -> None:
        a = self.row(c.body_a)
        b = None if c.body_b is None else self.row(c.body_b)
        if isinstance(c, HingeSpec):
            limits = None
            if c.lower_limit is not None and c.upper_limit is not None:
                limits = (c.lower_limit, c.upper_limit)
            self.sim.add_joint("hinge", a, b, c.anchor, axis=c.axis, limits=limits)
        elif isinstance(c, DistanceSpec):
            self.sim.add_joint("distance", a, b, c.anchor, anchor_b=c.anchor_b, distance=c.distance)
        else:
            self.sim.add_joint("ball-socket", a, b, c.anchor)
        self._joint_names.append(c.name)

    # ---- stepping ------------------------------------------------------------------------------
    def drain_commands(self) -> int:
        """Applies every queued command (in order); bad ones go to ``on_error`` / ``errors``."""
        done = 0
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return done
            try:
                self._apply(command)
            except PhysicsError as exc:
                if self._on_error is not None:
                    self._on_error(command, exc)
                else:
                    self.errors.append((command, exc))
                    del self.errors[:-100]
            done += 1

    def step(self) -> ContactEvents:
        """One fixed step now, regardless of the clock (tests, headless replays)."""
        with self._lock:
            self.drain_commands()
            events = self.sim.step()
            self._pending_events.append(events)
            if self._on_contacts is not None:
                self._on_contacts(events)
            self._publish(0.0)
        return events

    def tick(self, now: float | None = None) -> int:
        """Advances the fixed-step accumulator to ``now`` (the clock's time by default), runs the due
        steps (at most ``max_steps_per_tick``: a stall drops time instead of spiralling) and
        publishes a snapshot. Returns the number of steps run."""
        now = self._clock() if now is None else now
        dt = self.sim.settings.dt
        with self._lock:
            if self._last_time is None:
                self._last_time = now
            self._accumulator += max(0.0, now - self._last_time)
            self._last_time = now
            self.drain_commands()
            steps = 0
            while self._accumulator >= dt and steps < self._max_steps:
                started = time.perf_counter()
                events = self.sim.step()
                self.step_ms = 1000.0 * (time.perf_counter() - started)
                self._pending_events.append(events)
                if self._on_contacts is not None:
                    self._on_contacts(events)
                self._accumulator -= dt
                steps += 1
            if self._accumulator >= dt:  # behind: forget the backlog rather than spiral
                self._accumulator = math.fmod(self._accumulator, dt)
            if steps:
                self._publish(self._accumulator / dt)
            return steps

    def snapshot(self) -> Snapshot:
        """The newest published state (any thread, never blocks)."""
        return self._front

    def _publish(self, alpha: float) -> None:
        snap = self._make_snapshot(alpha)
        self._front = snap  # one reference assignment: readers see the old or the new, never half

    def _make_snapshot(self, alpha: float = 0.0) -> Snapshot:
        b = self.sim.bodies
        n = b.n
        events = _concat(self._pending_events)
        self._pending_events = []
        return Snapshot(
            step=self.sim.steps, time=self.sim.time, alpha=alpha, names=tuple(self._names),
            shape=_frozen(b.shape[:n]), half_extents=_frozen(b.half[:n]), material=_frozen(b.material[:n]),
            static=_frozen(b.static[:n]), sleeping=_frozen(b.sleeping[:n]), position=_frozen(b.pos[:n]),
            orientation=_frozen(b.quat[:n]), velocity=_frozen(b.vel[:n]),
            angular_velocity=_frozen(b.angvel[:n]), contacts=events,
        )

    # ---- the thread ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="krapition-physics", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        dt = self.sim.settings.dt
        while not self._stop.is_set():
            self.tick()
            # sleep until the next step is due (kernels release the GIL meanwhile: nogil)
            self._stop.wait(max(0.0, dt - self._accumulator))

    # ---- queries -------------------------------------------------------------------------------
    def raycast(self, origin: Sequence[float], direction: Sequence[float],
                max_distance: float = 1e4) -> tuple[str, RayHit] | None:
        """Picking: the name and hit of the first body along the ray (simulation thread)."""
        with self._lock:
            hit = self.sim.raycast(origin, direction, max_distance)
            return None if hit is None else (self._names[hit.body], hit)

    @staticmethod
    def warm_up(progress: Progress | None = None) -> None:
        """Compiles or loads every physics kernel; call once at app start (any thread)."""
        warm_up(progress)

    # ---- export --------------------------------------------------------------------------------
    def to_scene(self, name: str | None = None) -> Scene:
        """The current state as a scene (File > Save, late joiners)."""
        with self._lock:
            b = self.sim.bodies
            bodies = []
            for i, body_name in enumerate(self._names):
                q = b.quat[i] / np.linalg.norm(b.quat[i])
                common = dict(
                    name=body_name, shape=SHAPE_NAMES[int(b.shape[i])],
                    material=MATERIAL_NAMES[int(b.material[i])],
                    position=_clip(b.pos[i], MAX_COORDINATE), orientation=tuple(float(v) for v in q),
                    velocity=_clip(b.vel[i], MAX_SPEED), angular_velocity=_clip(b.angvel[i], MAX_SPEED),
                    static=bool(b.static[i]),
                )
                if b.shape[i] == BOX:
                    bodies.append(BodySpec(half_extents=tuple(float(v) for v in b.half[i]), **common))
                else:
                    bodies.append(BodySpec(radius=float(b.half[i, 0]), **common))
            constraints = [self._constraint_spec(j) for j in range(self.sim.joints.n)]
            return Scene(name=name or self.scene_name, gravity=tuple(float(v) for v in self.sim.gravity),
                         ground=self.sim.ground, bodies=tuple(bodies), constraints=tuple(constraints))

    def _constraint_spec(self, j: int) -> ConstraintSpec:
        jt = self.sim.joints
        b = self.sim.bodies
        a_row, b_row = int(jt.a[j]), int(jt.b[j])
        anchor = _world_point(b.pos[a_row], b.quat[a_row], jt.local_a[j])
        common = dict(name=self._joint_names[j], body_a=self._names[a_row],
                      body_b=None if b_row < 0 else self._names[b_row], anchor=_clip(anchor, MAX_COORDINATE))
        kind = int(jt.kind[j])
        if kind == HINGE:
            axis = _world_point(np.zeros(3), b.quat[a_row], jt.axis_a[j])
            lo, hi = (float(jt.limits[j, 0]), float(jt.limits[j, 1])) if jt.has_limit[j] else (None, None)
            return HingeSpec(axis=tuple(float(v) for v in axis), lower_limit=lo, upper_limit=hi, **common)
        if kind == DISTANCE:
            other = jt.local_b[j] if b_row < 0 else _world_point(b.pos[b_row], b.quat[b_row], jt.local_b[j])
            return DistanceSpec(anchor_b=_clip(other, MAX_COORDINATE), distance=float(jt.length[j]), **common)
        assert JOINT_KIND_NAMES[kind] == "ball-socket"
        return BallSocketSpec(**common)


def _world_point(pos: np.ndarray, q: np.ndarray, local: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    u = np.array([x, y, z])
    t = 2.0 * np.cross(u, local)
    return pos + local + w * t + np.cross(u, t)


def _clip(v: np.ndarray, limit: float) -> Vec3:
    c = np.clip(v, -limit, limit)
    return (float(c[0]) + 0.0, float(c[1]) + 0.0, float(c[2]) + 0.0)
