"""Ray casts, contact events, sleeping and waking, deletion."""

from __future__ import annotations

import numpy as np
import pytest

from krapition_app.engine.contacts import IMPACT, ROLLING, SLIDING
from krapition_app.engine.physics import Simulation


def test_raycast_hits_the_nearest_body_with_its_normal() -> None:
    sim = Simulation()
    near = sim.add_body("sphere", 0.1, position=(0.0, 1.0, 0.5))
    sim.add_body("box", (0.2, 0.2, 0.2), position=(0.0, 3.0, 0.5))
    hit = sim.raycast((0.0, -1.0, 0.5), (0.0, 1.0, 0.0))
    assert hit is not None and hit.body == near
    assert hit.distance == pytest.approx(1.9)
    assert hit.normal == pytest.approx((0.0, -1.0, 0.0))
    box_hit = sim.raycast((0.0, 5.0, 0.5), (0.0, -1.0, 0.0))
    assert box_hit is not None and box_hit.body == 1 and box_hit.distance == pytest.approx(1.8)
    assert box_hit.normal == pytest.approx((0.0, 1.0, 0.0))
    assert sim.raycast((0.0, -1.0, 5.0), (0.0, 1.0, 0.0)) is None


def test_impact_then_rolling_or_sliding_events() -> None:
    sim = Simulation()
    ball = sim.add_body("sphere", 0.1, material="rubber", position=(0.0, 0.0, 0.5))
    kinds: list[int] = []
    first = None
    for _ in range(60):
        ev = sim.step()
        if len(ev) and first is None:
            first = ev
        kinds.extend(ev.kind.tolist())
    assert first is not None
    assert first.kind[0] == IMPACT and first.body_a[0] == ball and first.body_b[0] == -1
    assert first.normal_speed[0] == pytest.approx(np.sqrt(2 * 9.81 * 0.4), rel=0.05)
    assert first.normal[0] == pytest.approx((0.0, 0.0, -1.0))
    assert first.normal_impulse[0] > 0
    # now roll it along the ground
    sim.set_state(ball, velocity=(1.0, 0.0, 0.0), angular_velocity=(0.0, 10.0, 0.0))
    rolled = []
    for _ in range(30):
        rolled.extend(sim.step().kind.tolist())
    assert ROLLING in rolled
    box = sim.add_body("box", (0.1, 0.1, 0.1), material="wood", position=(1.0, 1.0, 0.1))
    for _ in range(20):
        sim.step()
    sim.set_state(box, velocity=(2.0, 0.0, 0.0))
    slid = [ev for _ in range(10) for ev in [sim.step()] if len(ev)]
    assert any(SLIDING in ev.kind[ev.body_a == box] for ev in slid)


@pytest.mark.parametrize("floor", ["ground plane", "static box"])
def test_a_fast_rolling_sphere_keeps_one_continuing_contact(floor: str) -> None:
    """At 3 m/s a 5 cm ball turns a radian a frame, so its contact point moves 5 cm in the ball's
    own frame: the contact is still the same one (warm started, reported as rolling, not as a new
    impact every frame)."""
    sim = Simulation(ground=floor == "ground plane")
    if floor == "static box":
        sim.add_body("box", (20.0, 20.0, 0.5), position=(0.0, 0.0, -0.5), static=True)
    r = 0.05
    ball = sim.add_body("sphere", r, position=(0.0, 0.0, r), velocity=(3.0, 0.0, 0.0),
                        angular_velocity=(0.0, 3.0 / r, 0.0))
    kinds = []
    for _ in range(30):
        ev = sim.step()
        kinds.append(ev.kind[(ev.body_a == ball) | (ev.body_b == ball)].tolist())
    assert all(IMPACT not in frame for frame in kinds[1:]), kinds
    assert sum(ROLLING in frame for frame in kinds) >= 25, kinds
    assert sim.bodies.pos[ball, 0] > 1.4  # it rolled on: 3 m/s for 0.5 s, little lost


def test_resting_bodies_sleep_and_a_hit_wakes_the_island() -> None:
    sim = Simulation()
    low = sim.add_body("box", (0.1, 0.1, 0.1), position=(0.0, 0.0, 0.1))
    top = sim.add_body("box", (0.1, 0.1, 0.1), position=(0.0, 0.0, 0.3))
    for _ in range(120):
        sim.step()
    assert sim.bodies.sleeping[low] and sim.bodies.sleeping[top]
    ball = sim.add_body("sphere", 0.05, position=(-1.0, 0.0, 0.1), velocity=(6.0, 0.0, 0.0))
    for _ in range(20):
        sim.step()
        if not sim.bodies.sleeping[top]:
            break
    assert not sim.bodies.sleeping[low] and not sim.bodies.sleeping[top]
    assert ball == 2


def test_deleting_the_bottom_box_wakes_and_drops_the_top() -> None:
    sim = Simulation()
    low = sim.add_body("box", (0.1, 0.1, 0.1), position=(0.0, 0.0, 0.1))
    sim.add_body("box", (0.1, 0.1, 0.1), position=(0.0, 0.0, 0.3))
    sim.add_joint("ball-socket", low, None, (0.0, 0.0, 0.0))
    for _ in range(90):
        sim.step()
    remap = sim.remove_bodies([low])
    assert remap.tolist() == [-1, 0] and sim.joints.n == 0
    for _ in range(40):
        sim.step()
    assert sim.bodies.pos[0, 2] == pytest.approx(0.1, abs=0.01)
