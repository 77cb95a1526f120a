"""Setting the state of many bodies at once, as the session does with its remote bodies."""

from __future__ import annotations

import numpy as np

from krapition_app.engine.batch import set_states
from krapition_app.engine.world import World
from krapition_app.model.scene import BodySpec, Scene


def world() -> World:
    return World(Scene(name="w", bodies=(
        BodySpec(name="a", shape="sphere", radius=0.1, position=(0, 0, 0.1)),
        BodySpec(name="b", shape="box", half_extents=(0.1, 0.1, 0.1), position=(1, 0, 0.1)),
        BodySpec(name="floor", shape="box", half_extents=(5, 5, 0.1), position=(0, 0, -0.1), static=True),
    )))


def test_states_of_many_bodies_are_set_at_once_skipping_what_cannot_be_set() -> None:
    w = world()
    names = ["a", "b", "floor", "nobody", "a"]
    pos = np.array([[0, 0, 2.0], [1, 0, 3.0], [9, 9, 9.0], [9, 9, 9.0], [np.nan, 0, 0]])
    quat = np.tile([2.0, 0, 0, 0], (5, 1))  # not normalised: it will be
    vel = np.array([[0, 0, 1.0], [0, 1e6, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert set_states(w, names, pos, quat, vel, np.zeros((5, 3))) == 2  # not static, unknown or NaN
    b = w.sim.bodies
    assert b.pos[w.row("a")].tolist() == [0, 0, 2.0] and b.pos[w.row("b")].tolist() == [1, 0, 3.0]
    assert b.quat[w.row("a")].tolist() == [1, 0, 0, 0]
    assert b.vel[w.row("b")].tolist() == [0, 1000.0, 0]  # clipped into the world's bounds
    assert b.pos[w.row("floor")].tolist() == [0, 0, -0.1]
    assert set_states(w, [], np.zeros((0, 3)), np.zeros((0, 4)), np.zeros((0, 3)), np.zeros((0, 3))) == 0


def test_a_sleeping_body_is_woken_with_its_island() -> None:
    w = world()
    for _ in range(120):
        w.step()
    b = w.sim.bodies
    assert b.sleeping[w.row("a")] and b.sleeping[w.row("b")]
    set_states(w, ["a"], np.array([[0, 0, 0.5]]), np.array([[1.0, 0, 0, 0]]), np.zeros((1, 3)),
               np.zeros((1, 3)))
    assert not b.sleeping[w.row("a")]
    w.step()
    assert w.snapshot().position[w.row("a"), 2] < 0.5  # falling again
