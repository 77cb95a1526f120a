"""Acceptance scenarios of issue 3: stacking, conservation, bounce, tunnelling, joints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from krapition_app.engine.physics import Settings, Simulation
from krapition_app.model.materials import Material

IDEAL = Material(
    name="ideal", density=1000.0, youngs_modulus=1e9, poisson_ratio=0.3, restitution=1.0,
    static_friction=0.0, dynamic_friction=0.0, loss_factor=0.01, brightness=0.5, colour=(0.5, 0.5, 0.5),
)


def test_ten_box_tower_stands_for_ten_seconds() -> None:
    sim = Simulation()
    h = 0.1
    for level in range(10):
        sim.add_body("box", (h, h, h), material="wood", position=(0.0, 0.0, h + 2 * h * level))
    start = sim.bodies.pos[:10].copy()
    for _ in range(600):
        sim.step()
    sideways = np.linalg.norm(sim.bodies.pos[:10, :2] - start[:, :2], axis=1)
    assert sideways.max() < 0.02, sideways
    # soft contacts sag a little under load (issue 3 follow-up: position projection); it still stands
    assert sim.bodies.pos[9, 2] > 1.85
    assert np.all(np.abs(sim.bodies.quat[:10, 0]) > 0.999)  # upright: nothing toppled


def test_ten_level_pyramid_settles_and_sleeps() -> None:
    sim = Simulation()
    h = 0.1
    rows = []
    for level in range(10):
        count = 10 - level
        for k in range(count):
            x = (k - (count - 1) / 2) * 2.02 * h
            pos = (x, 0.0, h + 2 * h * level)
            rows.append(sim.add_body("box", (h, h, h), material="stone", position=pos))
    start = sim.bodies.pos[: sim.n].copy()
    for _ in range(600):
        sim.step()
        if sim.bodies.sleeping[: sim.n].all():
            break
    assert sim.bodies.sleeping[: sim.n].all(), "the pyramid is still awake after 10 s"
    drift = np.linalg.norm(sim.bodies.pos[: sim.n] - start, axis=1)
    assert drift.max() < 0.02, drift.max()


def _column(shape: str, sphere_contact_hertz: float) -> np.ndarray:
    """Ten bodies stacked on the ground for 2 s, without the position projection (the springs' sag
    only); their final positions."""
    sim = Simulation(settings=Settings(sphere_contact_hertz=sphere_contact_hertz,
                                       contact_projection_iterations=0))
    size = 0.05 if shape == "sphere" else (0.05, 0.05, 0.05)
    rows = [sim.add_body(shape, size, position=(0.0, 0.0, 0.05 + 0.1 * i)) for i in range(10)]
    for _ in range(120):
        sim.step()
    return sim.bodies.pos[rows].copy()


def test_sphere_contacts_have_their_own_stiffness_and_box_contacts_keep_theirs() -> None:
    soft, stiff = _column("sphere", 30.0), _column("sphere", 60.0)
    # a stiffer contact carries the load with less overlap: the column stands taller
    assert stiff[-1, 2] > soft[-1, 2] + 0.005
    assert np.allclose(stiff[:, :2], 0.0) and stiff[-1, 2] < 0.95 + 1e-3  # still a column, not apart
    assert np.array_equal(_column("box", 30.0), _column("box", 60.0))


def _top(shape: str, **settings: float) -> float:
    """Ten bodies stacked on the ground for 2 s: the top one's height."""
    sim = Simulation(settings=Settings(**settings))
    size = 0.05 if shape == "sphere" else (0.05, 0.05, 0.05)
    rows = [sim.add_body(shape, size, position=(0.0, 0.0, 0.05 + 0.1 * i)) for i in range(10)]
    for _ in range(120):
        sim.step()
    return float(sim.bodies.pos[rows[-1], 2])


def test_position_projection_lifts_sphere_contacts_and_leaves_box_manifolds() -> None:
    """The projection after the substeps takes out a share of the sag of soft contacts under a
    load; by default for a sphere's contacts only (projected point by point, a box's manifold
    tipped the boxes of a pile)."""
    for shape in ("sphere", "box"):
        without = _top(shape, contact_projection_iterations=0)
        both = _top(shape, contact_projection=0.5, sphere_contact_projection=0.5)
        assert both > without  # asked to, the projection lifts either column (without: the same bits)
        if shape == "sphere":
            assert _top(shape) == both  # by default: spheres projected...
        else:
            assert _top(shape) == without  # ...boxes not


def test_head_on_elastic_collision_conserves_momentum_and_energy() -> None:
    sim = Simulation(gravity=(0.0, 0.0, 0.0), ground=False, materials=[IDEAL], ground_material="ideal")
    a = sim.add_body("sphere", 0.1, material="ideal", position=(-1.0, 0.0, 1.0), velocity=(3.0, 0.0, 0.0))
    b = sim.add_body("sphere", 0.2, material="ideal", position=(1.0, 0.0, 1.0), velocity=(-1.0, 0.0, 0.0))
    masses = np.array([sim.bodies.mass(a), sim.bodies.mass(b)])
    p0 = (masses[:, None] * sim.bodies.vel[:2]).sum(axis=0)
    e0 = sim.kinetic_energy()
    hit = False
    for _ in range(120):
        events = sim.step()
        hit = hit or len(events) > 0
    assert hit
    assert sim.bodies.vel[a, 0] < sim.bodies.vel[b, 0] < 0.0  # the light one bounced back
    p1 = (masses[:, None] * sim.bodies.vel[:2]).sum(axis=0)
    assert np.linalg.norm(p1 - p0) <= 1e-3 * np.linalg.norm(masses * np.abs(sim.bodies.vel[:2, 0]))
    assert abs(sim.kinetic_energy() - e0) <= 1e-3 * e0


@pytest.mark.parametrize("material", ["rubber", "glass", "wood"])
def test_ball_rebounds_to_e_squared_of_its_height(material: str) -> None:
    sim = Simulation(ground_material=material)
    r = 0.1
    drop = 1.5
    row = sim.add_body("sphere", r, material=material, position=(0.0, 0.0, r + drop))
    e = sim.restitution_table[sim.material_index(material), len(sim.materials)]
    was_falling = True
    apex = None
    rising = False
    for _ in range(240):
        sim.step()
        vz = sim.bodies.vel[row, 2]
        if vz > 0:
            rising = True
        if rising and vz <= 0 and apex is None:
            apex = sim.bodies.pos[row, 2] - r
            break
        was_falling = vz < 0
    assert was_falling is not None
    assert apex is not None
    assert apex == pytest.approx(e * e * drop, rel=0.02)


def test_fast_sphere_does_not_pass_a_one_centimetre_wall() -> None:
    sim = Simulation(gravity=(0.0, 0.0, 0.0), ground=False)
    sim.add_body("box", (0.005, 1.0, 1.0), material="metal", position=(0.0, 0.0, 1.0), static=True)
    for speed_offset, y in ((0.0, 0.0), (0.3, 0.4), (0.7, -0.3)):
        row = sim.add_body("sphere", 0.05, material="metal", position=(-2.0 - speed_offset, y, 1.0),
                           velocity=(50.0, 0.0, 0.0))
        for _ in range(30):
            sim.step()
            assert sim.bodies.pos[row, 0] < 0.0, "the sphere went through the wall"
        sim.remove_bodies([row])


def _chain(kind: str, links: int = 10) -> tuple[Simulation, list[int]]:
    sim = Simulation(ground=False)
    r = 0.05
    prev = None
    joints = []
    for k in range(links):
        x = (2 * k + 1) * r
        row = sim.add_body("box", (r, 0.02, 0.02), material="wood", position=(x, 0.0, 2.0))
        anchor = (2 * k * r, 0.0, 2.0)
        if kind == "hinge":
            joints.append(sim.add_joint("hinge", row, prev, anchor, axis=(0.0, 1.0, 0.0)))
        else:
            joints.append(sim.add_joint("ball-socket", row, prev, anchor))
        prev = row
    return sim, joints


@pytest.mark.parametrize("kind", ["ball-socket", "hinge"])
def test_swinging_chain_keeps_joint_error_under_a_millimetre(kind: str) -> None:
    sim, joints = _chain(kind)
    worst = 0.0
    for _ in range(180):
        sim.step()
        worst = max(worst, *(sim.joint_error(j) for j in joints))
    assert sim.bodies.pos[9, 2] < 1.6  # it really swung down
    assert worst < 1e-3, worst


def test_hinge_limit_holds() -> None:
    sim = Simulation(ground=False)
    row = sim.add_body("box", (0.2, 0.02, 0.02), material="wood", position=(0.2, 0.0, 1.0))
    j = sim.add_joint("hinge", row, None, (0.0, 0.0, 1.0), axis=(0.0, 1.0, 0.0), limits=(-0.5, 0.5))
    for _ in range(120):
        sim.step()
    # gravity turns the bar about +y by a positive angle; the limit stops it at 0.5 rad
    assert abs(sim.hinge_angle(j)) == pytest.approx(0.5, abs=0.03)


def test_distance_joint_keeps_its_length() -> None:
    sim = Simulation(ground=False)
    a = sim.add_body("sphere", 0.05, position=(0.0, 0.0, 2.0), static=True)
    b = sim.add_body("sphere", 0.05, position=(0.5, 0.0, 2.0))
    j = sim.add_joint("distance", a, b, (0.0, 0.0, 2.0), anchor_b=(0.5, 0.0, 2.0))
    for _ in range(120):
        sim.step()
        assert sim.joint_error(j) < 2e-3
    assert sim.bodies.pos[b, 2] < 1.7


def test_drag_pulls_a_body_to_the_target() -> None:
    sim = Simulation()
    row = sim.add_body("box", (0.1, 0.1, 0.1), position=(0.0, 0.0, 0.1))
    for _ in range(60):
        sim.step()
    drag = sim.start_drag(row, (0.0, 0.0, 0.2))
    sim.move_drag(drag, (0.5, 0.0, 1.0))
    for _ in range(180):
        sim.step()
    grab = sim.bodies.pos[row] + np.array([0.0, 0.0, 0.1])
    assert math.dist(grab, (0.5, 0.0, 1.0)) < 0.1
    sim.end_drag(drag)
    for _ in range(60):
        sim.step()
    assert sim.bodies.pos[row, 2] < 0.5  # released: it falls
