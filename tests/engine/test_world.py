"""The World loop: scenes in and out, the command queue, snapshots, the clock."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from krapition_app.engine.physics import (
    CommandQueueFullError,
    DuplicateBodyError,
    InvalidCommandError,
    UnknownBodyError,
    UnknownDragError,
)
from krapition_app.engine.world import Delete, Drag, Release, SetState, Spawn, SpawnMany, World
from krapition_app.model.scene import BallSocketSpec, BodySpec, HingeSpec, Scene


def _scene() -> Scene:
    return Scene(
        name="test",
        bodies=(
            BodySpec(name="ball-001", shape="sphere", radius=0.1, material="rubber",
                     position=(0.0, 0.0, 1.0)),
            BodySpec(name="crate", shape="box", half_extents=(0.1, 0.2, 0.1), position=(1.0, 0.0, 0.1)),
            BodySpec(name="wall", shape="box", half_extents=(0.05, 1.0, 0.5), position=(2.0, 0.0, 0.5),
                     static=True),
            BodySpec(name="link", shape="box", half_extents=(0.1, 0.02, 0.02), position=(-1.0, 0.0, 1.0)),
        ),
        constraints=(
            BallSocketSpec(name="pin", body_a="link", anchor=(-1.1, 0.0, 1.0)),
            HingeSpec(name="door", body_a="crate", anchor=(1.0, 0.2, 0.1), axis=(0.0, 0.0, 1.0),
                      lower_limit=-1.0, upper_limit=1.0),
        ),
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_scene_round_trip() -> None:
    world = World(_scene())
    assert world.names == ("ball-001", "crate", "wall", "link")
    scene = world.to_scene()
    assert scene.body("crate").half_extents == pytest.approx((0.1, 0.2, 0.1))
    assert scene.body("wall").static
    assert {c.name for c in scene.constraints} == {"pin", "door"}
    again = World(scene).to_scene()
    assert again == scene


def test_fixed_step_accumulator_with_an_injected_clock() -> None:
    clock = FakeClock()
    world = World(_scene(), clock=clock)
    assert world.tick() == 0
    clock.now = 0.5 / 60
    assert world.tick() == 0
    clock.now = 1.5 / 60
    assert world.tick() == 1
    clock.now = 10.0  # a long stall: at most max_steps_per_tick, the rest is dropped
    assert world.tick() == 4
    clock.now = 10.0 + 1.0 / 60
    assert world.tick() == 1
    snap = world.snapshot()
    assert snap.step == 6 and 0.0 <= snap.alpha < 1.0


def test_commands_apply_in_order_and_snapshots_are_immutable() -> None:
    world = World(_scene())
    world.submit(Spawn(BodySpec(name="new", shape="sphere", radius=0.05, position=(0.0, 1.0, 2.0))))
    world.submit(SetState("ball-001", velocity=(0.0, 0.0, 3.0)))
    world.step()
    assert world.snapshot().velocity[0, 2] > 2.0
    world.submit(Delete("ball-001"))
    world.step()
    snap = world.snapshot()
    assert snap.names == ("crate", "wall", "link", "new")
    with pytest.raises(ValueError):
        snap.position[0, 0] = 5.0
    world.step()
    assert snap.names == ("crate", "wall", "link", "new")  # an old snapshot never changes
    scene = world.to_scene()
    assert [c.name for c in scene.constraints] == ["pin", "door"]


def test_drag_and_release() -> None:
    world = World(_scene())
    for _ in range(60):
        world.step()  # the ball lands
    row = world.row("ball-001")
    start = world.snapshot().position[row].copy()
    world.submit(Drag("mouse", "ball-001", grab_point=tuple(start), target=(0.0, 0.0, 1.0)))
    for _ in range(60):
        world.step()
    assert world.snapshot().position[row, 2] > start[2] + 0.3
    world.submit(Release("mouse"))
    world.step()
    assert not world.sim.drags
    with pytest.raises(UnknownDragError):
        world.apply(Release("mouse"))


def test_bad_commands_raise_precise_errors_and_change_nothing() -> None:
    world = World(_scene())
    world.step()
    before = world.to_scene()
    with pytest.raises(UnknownBodyError):
        world.submit(Delete("nobody"))
    with pytest.raises(UnknownBodyError):
        world.submit(SetState("nobody", position=(0.0, 0.0, 0.0)))
    with pytest.raises(InvalidCommandError):
        world.submit(SetState("crate", position=(math.nan, 0.0, 0.0)))
    with pytest.raises(InvalidCommandError):
        world.submit(Drag("m", "crate", grab_point=(1.0, 0.0, 0.1), target=(0.0, math.inf, 0.0)))
    with pytest.raises(InvalidCommandError):
        world.apply(SetState("wall", velocity=(1.0, 0.0, 0.0)))
    with pytest.raises(DuplicateBodyError):
        world.apply(Spawn(BodySpec(name="crate", shape="sphere", radius=0.1)))
    assert world.to_scene() == before
    # a command that turns bad while queued (its body deleted meanwhile) is reported, not raised
    world.submit(Delete("crate"))
    world.submit(SetState("crate", position=(0.0, 0.0, 1.0)))
    world.step()
    assert len(world.errors) == 1 and isinstance(world.errors[0][1], UnknownBodyError)


def _many(prefix: str, n: int) -> tuple[BodySpec, ...]:
    return tuple(
        BodySpec(name=f"{prefix}{i}", shape="box", half_extents=(0.05, 0.04 + 0.001 * i, 0.03),
                 material="metal", position=(0.3 * i, 0.5, 0.2), orientation=(0.6, 0.8, 0.0, 0.0),
                 velocity=(0.0, 1.0, 0.0))
        if i % 3 == 0 else
        BodySpec(name=f"{prefix}{i}", shape="sphere", radius=0.02 + 0.001 * i, material="rubber",
                 position=(0.3 * i, -0.5, 0.5), static=i % 7 == 1)
        for i in range(n))


def test_spawn_many_is_one_spawn_per_body_in_one_command() -> None:
    """A late joiner's thousands of bodies come as one command: the same rows, the same bits, the
    same simulation as a Spawn each."""
    specs = _many("b", 40)
    batch, single = World(_scene()), World(_scene())
    batch.submit(SpawnMany(specs))
    for spec in specs:
        single.submit(Spawn(spec))
    for _ in range(30):
        batch.step()
        single.step()
    assert batch.names == single.names and batch.sim.n == single.sim.n == 44
    b, s = batch.sim.bodies, single.sim.bodies
    for field in ("pose", "motion", "inv_inertia", "half", "bound", "material", "static", "shape"):
        assert getattr(b, field)[: b.n].tobytes() == getattr(s, field)[: s.n].tobytes(), field


def test_spawn_many_refuses_taken_names_and_reports_a_body_that_turned_bad() -> None:
    world = World(_scene())
    with pytest.raises(DuplicateBodyError):
        world.submit(SpawnMany((_many("x", 1)[0], BodySpec(name="crate", shape="sphere", radius=0.1))))
    with pytest.raises(DuplicateBodyError):
        world.submit(SpawnMany(_many("x", 2) + _many("x", 1)))
    with pytest.raises(InvalidCommandError):
        world.submit(SpawnMany(("not a body",)))  # type: ignore[arg-type]
    assert world.sim.n == 4
    # taken while the batch waited in the queue: that body is reported as its own Spawn, the rest spawn
    late = BodySpec(name="y1", shape="sphere", radius=0.1)
    world.submit(Spawn(late))
    world.submit(SpawnMany(_many("y", 4)))
    world.step()
    assert world.names[4:] == ("y1", "y0", "y2", "y3")
    assert len(world.errors) == 1
    command, error = world.errors[0]
    assert isinstance(command, Spawn) and command.body.name == "y1" and isinstance(error, DuplicateBodyError)


def test_add_bodies_names_the_bad_row_and_adds_nothing() -> None:
    world = World(_scene())
    sim = world.sim
    k = 3
    good = dict(shape=np.zeros(k, dtype=np.int8), half=np.full((k, 3), 0.1),
                material=np.zeros(k, dtype=np.int64), position=np.zeros((k, 3)),
                orientation=np.tile([1.0, 0.0, 0.0, 0.0], (k, 1)),
                velocity=np.zeros((k, 3)), angular_velocity=np.zeros((k, 3)), static=np.zeros(k, dtype=bool))
    for field, row, value, words in (("position", 2, [0.0, math.nan, 0.0], "body 2: position"),
                                     ("orientation", 1, [0.5, 0.0, 0.0, 0.0], "body 1: orientation"),
                                     ("half", 0, [1e-9, 0.1, 0.1], "body 0: size"),
                                     ("velocity", 1, [1e9, 0.0, 0.0], "body 1: velocity"),
                                     ("material", 2, 999, "body 2: unknown material")):
        bad = {name: array.copy() for name, array in good.items()}
        bad[field][row] = value
        with pytest.raises(InvalidCommandError, match=words):
            sim.add_bodies(**bad)
        assert sim.n == 4
    rows = sim.add_bodies(**good)
    assert rows.tolist() == [4, 5, 6] and sim.n == 7


def test_queue_is_bounded() -> None:
    world = World(_scene(), queue_size=2)
    world.submit(SetState("crate", position=(1.0, 0.0, 0.2)))
    world.submit(SetState("crate", position=(1.0, 0.0, 0.3)))
    with pytest.raises(CommandQueueFullError):
        world.submit(SetState("crate", position=(1.0, 0.0, 0.4)))


def test_simulation_thread_publishes_snapshots_while_others_submit() -> None:
    world = World(_scene())
    world.start()
    try:
        seen = []
        done = threading.Event()

        def producer() -> None:
            for k in range(20):
                world.submit(SetState("ball-001", velocity=(0.0, 0.0, float(k % 3))))
            done.set()

        t = threading.Thread(target=producer)
        t.start()
        t.join(5)
        deadline = threading.Event()
        for _ in range(200):
            seen.append(world.snapshot().step)
            if seen[-1] >= 5:
                break
            deadline.wait(0.02)
        assert done.is_set() and seen[-1] >= 5
        assert all(np.all(np.isfinite(world.snapshot().position)) for _ in range(3))
    finally:
        world.stop()


def test_warm_up_reports_progress() -> None:
    steps: list[float] = []
    World.warm_up(lambda fraction, _what: steps.append(fraction))
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)


def test_picking_by_ray() -> None:
    world = World(_scene())
    hit = world.raycast((0.0, -3.0, 1.0), (0.0, 1.0, 0.0))
    assert hit is not None and hit[0] == "ball-001"
