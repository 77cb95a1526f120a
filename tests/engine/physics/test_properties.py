"""Property tests: any valid scene stays finite; bad commands raise precise errors, change nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from krapition_app.engine.physics import InvalidCommandError, Simulation, UnknownBodyError, UnknownDragError
from krapition_app.model.materials import MATERIAL_NAMES

coord = st.floats(-2.0, 2.0, allow_nan=False)
speed = st.floats(-60.0, 60.0, allow_nan=False)
body = st.fixed_dictionaries({
    "shape": st.sampled_from(["sphere", "box"]),
    "size": st.tuples(st.floats(0.005, 0.5), st.floats(0.005, 0.5), st.floats(0.005, 0.5)),
    "material": st.sampled_from(MATERIAL_NAMES),
    "position": st.tuples(coord, coord, st.floats(0.0, 3.0)),
    "orientation": st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1)),
    "velocity": st.tuples(speed, speed, speed),
    "angular_velocity": st.tuples(speed, speed, speed),
    "static": st.booleans(),
})


def _add(sim: Simulation, spec: dict) -> int:
    q = np.array(spec["orientation"])
    norm = float(np.linalg.norm(q))
    q = q / norm if norm > 1e-3 else np.array([1.0, 0.0, 0.0, 0.0])
    size = spec["size"][0] if spec["shape"] == "sphere" else spec["size"]
    return sim.add_body(spec["shape"], size, material=spec["material"], position=spec["position"],
                        orientation=q, velocity=spec["velocity"], angular_velocity=spec["angular_velocity"],
                        static=spec["static"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(body, min_size=1, max_size=12), st.booleans())
def test_any_valid_scene_stays_finite(bodies: list[dict], joint: bool) -> None:
    sim = Simulation()
    rows = [_add(sim, b) for b in bodies]
    if joint and len(rows) >= 2:
        sim.add_joint("ball-socket", rows[0], rows[1], sim.bodies.pos[rows[0]].copy())
    for _ in range(30):
        events = sim.step()
        assert np.all(np.isfinite(events.normal_impulse))
    n = sim.n
    for arr in (sim.bodies.pos, sim.bodies.quat, sim.bodies.vel, sim.bodies.angvel):
        assert np.all(np.isfinite(arr[:n]))
    assert np.allclose(np.linalg.norm(sim.bodies.quat[:n], axis=1), 1.0)


def _state(sim: Simulation) -> bytes:
    b = sim.bodies
    return b"".join(getattr(b, f)[: b.n].tobytes() for f in ("pos", "quat", "vel", "angvel", "sleeping"))


@pytest.fixture
def sim() -> Simulation:
    s = Simulation()
    s.add_body("sphere", 0.1, position=(0.0, 0.0, 0.1))
    s.add_body("box", (0.1, 0.1, 0.1), position=(1.0, 0.0, 0.1))
    return s


bad_number = st.sampled_from([math.nan, math.inf, -math.inf, 1e9])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=bad_number, which=st.integers(0, 2))
def test_nan_or_huge_values_are_rejected_without_change(sim: Simulation, bad: float, which: int) -> None:
    before = _state(sim)
    vec = [0.0, 0.0, 0.0]
    vec[which] = bad
    with pytest.raises(InvalidCommandError):
        sim.set_state(0, position=vec)
    with pytest.raises(InvalidCommandError):
        sim.set_state(1, velocity=(1.0, 1.0, 1.0), angular_velocity=vec)  # the valid half is not applied
    drag = sim.start_drag(0, (0.0, 0.0, 0.1))
    with pytest.raises(InvalidCommandError):
        sim.move_drag(drag, vec)
    sim.end_drag(drag)
    assert _state(sim) == before


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.one_of(st.floats(max_value=0.0049), st.just(math.nan), st.floats(min_value=50.01)))
def test_bad_sizes_are_rejected(sim: Simulation, size: float) -> None:
    with pytest.raises(InvalidCommandError):
        sim.add_body("sphere", size)
    with pytest.raises(InvalidCommandError):
        sim.add_body("box", (0.1, size, 0.1))
    assert sim.n == 2


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.one_of(st.integers(max_value=-1), st.integers(min_value=2)))
def test_unknown_bodies_are_rejected(sim: Simulation, row: int) -> None:
    before = _state(sim)
    with pytest.raises(UnknownBodyError):
        sim.set_state(row, position=(0.0, 0.0, 1.0))
    with pytest.raises(UnknownBodyError):
        sim.start_drag(row, (0.0, 0.0, 0.0))
    with pytest.raises(UnknownBodyError):
        sim.remove_bodies([0, row])
    with pytest.raises(UnknownDragError):
        sim.move_drag(12345, (0.0, 0.0, 0.0))
    assert _state(sim) == before and sim.n == 2


def test_other_bad_commands(sim: Simulation) -> None:
    with pytest.raises(InvalidCommandError):
        sim.add_body("cone", 0.1)
    with pytest.raises(InvalidCommandError):
        sim.add_body("sphere", 0.1, material="cheese")
    with pytest.raises(InvalidCommandError):
        sim.add_body("sphere", 0.1, orientation=(2.0, 0.0, 0.0, 0.0))
    static = sim.add_body("box", (1.0, 1.0, 0.1), position=(0.0, 3.0, 0.1), static=True)
    with pytest.raises(InvalidCommandError):
        sim.start_drag(static, (0.0, 3.0, 0.1))
    with pytest.raises(InvalidCommandError):
        sim.add_joint("hinge", 0, 1, (0.0, 0.0, 0.0), axis=(0.0, 0.0, 0.0))
    assert sim.joints.n == 0
