"""Runs the local world behind the window: warm-up with progress, stepping, snapshots to the view.

The simulation runs on its own thread (``World.start``); this controller only reads the newest
snapshot at display rate and hands user commands to the world's queue, so the GUI thread never
waits for physics. Pause, single step and slow motion act on the world's clock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import numpy as np
from PySide6 import QtCore, QtGui

from ..engine.acoustics import AudioEngine, ListenerPose
from ..engine.clock import SimulationClock
from ..engine.sounding import body_table
from ..engine.world import Delete, Drag, Release, Spawn, World
from ..model.errors import KrapitionError
from ..model.scene import BodySpec, Scene
from .bodies import body_from_snapshot
from .interaction import Interaction
from .ownership import OwnerTint
from .undo import DeleteBody, EditState, SpawnBodies

log = logging.getLogger(__name__)
FRAME_INTERVAL_MS = 16
SLOW_MOTION_RATE = 0.25
#: queued commands handed to the world per frame (its command queue holds 1,024)
COMMANDS_PER_FRAME = 256
QUEUED = QtCore.Qt.ConnectionType.QueuedConnection


class WorldController(QtCore.QObject):
    #: fraction 0..1 and what is being prepared, while the physics kernels compile
    warmUpProgress = QtCore.Signal(float, str)
    #: the world is built and running
    ready = QtCore.Signal()
    #: after a new snapshot was drawn: step number and simulated seconds
    stepped = QtCore.Signal(int, float)

    def __init__(self, viewport, parent: QtCore.QObject | None = None, *,
                 audio: AudioEngine | None = None) -> None:
        super().__init__(parent)
        self.viewport = viewport
        #: hears every contact of the world (None: a silent app, e.g. in tests)
        self.audio = audio
        self.listener_follows_camera = True
        #: set when the window joins a session: other nodes' bodies are tinted with their colour
        self.owner_tint: OwnerTint | None = None
        #: the LAN session, once joined: drags of remote bodies and our impacts go through it
        self.session = None
        self._listener_key: tuple | None = None
        self.undo_stack = QtGui.QUndoStack(self)
        self.clock = SimulationClock()
        self.world: World | None = None
        self.interaction: Interaction | None = None
        self._last_step = -1
        self._step_ms = 0.0
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(FRAME_INTERVAL_MS)
        self._timer.timeout.connect(self._draw_newest)
        self._warm = threading.Event()
        self._pending: list[object] = []
        self.ready.connect(self._on_ready)

    # ---- lifecycle ----------------------------------------------------------------------------

    def warm_up_in_background(self) -> threading.Thread:
        """Compiles or loads the physics kernels off the GUI thread, reporting progress."""
        def report(fraction: float, what: str) -> None:
            # RuntimeError: the window closed while the kernels compiled, nobody to tell
            with contextlib.suppress(RuntimeError):
                self.warmUpProgress.emit(fraction, what)

        def run() -> None:
            start = time.perf_counter()
            World.warm_up(report)
            log.info("physics warmed up", extra={"seconds": round(time.perf_counter() - start, 2)})
            self._warm.set()
            report(1.0, "physics ready")

        thread = threading.Thread(target=run, name="krapition-warm-up", daemon=True)
        thread.start()
        return thread

    def load(self, scene: Scene) -> None:
        """Replaces the running world by one built from ``scene`` (once the kernels are ready)."""
        self.stop()
        self._pending_scene = scene

        def build() -> None:
            self._warm.wait()
            built: list[World] = []
            # always: without a sound device our impacts are still published for the other nodes
            on_contacts = lambda events: self._sound(built[0], events)  # noqa: E731
            world = World.from_scene(scene, clock=self.clock, on_contacts=on_contacts)
            built.append(world)
            self._new_world = world
            with contextlib.suppress(RuntimeError):  # the window closed meanwhile
                QtCore.QMetaObject.invokeMethod(self, "_emit_ready", QUEUED)

        threading.Thread(target=build, name="krapition-world-build", daemon=True).start()

    @QtCore.Slot()
    def _emit_ready(self) -> None:
        self.ready.emit()

    def _on_ready(self) -> None:
        world = self._new_world
        self.world = world
        self.undo_stack.clear()  # the previous world's history does not apply to this one
        self.interaction = Interaction(self.viewport, self)
        self.viewport.interaction = self.interaction
        self._last_step = -1
        world.start()
        self._timer.start()
        self._draw_newest()

    def stop(self) -> None:
        self._timer.stop()
        self._pending.clear()
        self.viewport.interaction = None
        self.interaction = None
        if self.world is not None:
            self.world.stop()
            self.world = None

    # ---- per frame ----------------------------------------------------------------------------

    def _sound(self, world: World, events) -> None:
        """Simulation thread, once per step: the step's contacts go to the session (which publishes
        the impacts this node owns, and drops those an owner's event already played) and to the audio
        engine."""
        session = self.session
        if session is not None and len(events):
            events = session.local_contacts(events, world)
        if len(events) and self.audio is not None:
            try:
                self.audio.submit(events, body_table(world), step_dt=world.sim.settings.dt)
            except KrapitionError as exc:  # bad input is the engine's to refuse; the world goes on
                log.warning("contacts not heard", extra={"reason": str(exc)})

    def hear_remote(self, contacts, world: World) -> None:
        """(the session's thread) Owners' impacts our own world did not have: heard now, placed for
        our listener."""
        if self.audio is None or world is not self.world:
            return
        try:
            self.audio.submit(contacts, body_table(world), step_dt=world.sim.settings.dt)
        except KrapitionError as exc:
            log.warning("remote impacts not heard", extra={"reason": str(exc)})

    def _follow_camera(self) -> None:
        if self.audio is None or not self.listener_follows_camera:
            return
        eye = self.viewport.cameraPosition()
        centre = self.viewport.opts["center"]
        key = (round(eye.x(), 3), round(eye.y(), 3), round(eye.z(), 3),
               round(centre.x(), 3), round(centre.y(), 3), round(centre.z(), 3))
        if key == self._listener_key:
            return
        self._listener_key = key
        forward = (key[3] - key[0], key[4] - key[1], key[5] - key[2])
        if forward != (0.0, 0.0, 0.0):
            self.audio.set_listener(ListenerPose(position=key[:3], forward=forward))

    def _draw_newest(self) -> None:
        world = self.world
        if world is None:
            return
        self._feed_pending()
        self._follow_camera()
        snapshot = world.snapshot()
        hovered = self.interaction.hovered if self.interaction else None
        if snapshot.step == self._last_step and hovered == getattr(self, "_last_hovered", None):
            return
        self._last_step, self._last_hovered = snapshot.step, hovered
        tint = self.owner_tint.rgb(snapshot.names) if self.owner_tint is not None else None
        self.viewport.show_snapshot(snapshot, highlight=hovered, owner_tint=tint)
        self.stepped.emit(snapshot.step, snapshot.time)

    def scene(self) -> Scene | None:
        """The world as it is now, as a scene (for File > Save)."""
        return None if self.world is None else self.world.to_scene()

    # ---- commands -----------------------------------------------------------------------------

    def raycast(self, origin, direction, max_distance: float = 1e4):
        return None if self.world is None else self.world.raycast(origin, direction, max_distance)

    def submit(self, command) -> None:
        """Commands from the user: spawns and deletes go through the undo stack, the rest (drags)
        straight to the world."""
        if self.world is None:
            return
        if isinstance(command, Spawn):
            self.undo_stack.push(SpawnBodies(self.world.submit, [command.body], f"spawn {command.body.name}"))
        elif isinstance(command, Delete):
            body = body_from_snapshot(self.world.snapshot(), command.name)
            self.undo_stack.push(DeleteBody(self.world.submit, body))
        else:
            if self.session is not None and isinstance(command, Drag | Release):
                self.session.local_drag(command)  # a peer's body: its owner applies the drag
            self.world.submit(command)

    def edit_state(self, name: str, position: tuple, velocity: tuple) -> None:
        if self.world is None:
            return
        before = body_from_snapshot(self.world.snapshot(), name)
        self.undo_stack.push(EditState(self.world.submit, name, (before.position, before.velocity),
                                       (position, velocity)))

    def set_paused(self, paused: bool) -> None:
        self.clock.pause() if paused else self.clock.resume()

    def single_step(self) -> None:
        """One fixed step forward (pauses first)."""
        if self.world is None:
            return
        self.clock.pause()
        self.clock.advance(self.world.sim.settings.dt)

    def set_slow_motion(self, on: bool) -> None:
        self.clock.set_rate(SLOW_MOTION_RATE if on else 1.0)


    def drop_balls(self, count: int, material: str = "rubber", radius: float = 0.05,
                   seed: int | None = None) -> list[BodySpec]:
        """Drops ``count`` balls from a jittered lattice above the middle of the world."""
        rng = np.random.default_rng(seed)
        side = int(np.ceil(np.sqrt(count)))
        spacing = radius * 2.6
        bodies = []
        tag = f"{time.monotonic_ns() % 1_000_000:06d}"
        for i in range(count):
            layer, rest = divmod(i, side * side)
            row, col = divmod(rest, side)
            x = (col - side / 2) * spacing + rng.uniform(-0.2, 0.2) * radius
            y = (row - side / 2) * spacing + rng.uniform(-0.2, 0.2) * radius
            z = 1.5 + layer * spacing
            bodies.append(BodySpec(name=f"drop-{tag}-{i:05d}", shape="sphere", radius=radius,
                                   material=material, position=(x, y, z)))
        if self.world is not None:
            # one undo step for the whole rain; the world gets the bodies a batch per frame
            self.undo_stack.push(SpawnBodies(self._pending.append, bodies, f"drop {count} balls"))
        return bodies

    def _feed_pending(self) -> None:
        """Hands queued commands to the world a batch per frame, so its bounded queue never overflows."""
        if self.world is None or not self._pending:
            return
        # in place: undo commands hold this very list's append
        batch = self._pending[:COMMANDS_PER_FRAME]
        del self._pending[:COMMANDS_PER_FRAME]
        for command in batch:
            self.world.submit(command)
