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
from krapition_app.engine.world import Delete, Drag, Release, SetState, Spawn, World
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
