"""The same scene and the same commands give bit-identical state."""

from __future__ import annotations

import numpy as np

from krapition_app.engine.physics import Simulation


def _run(frames: int = 90) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(7)
    sim = Simulation()
    sim.add_body("box", (2.0, 0.05, 0.5), position=(0.0, 1.05, 0.5), static=True)
    for i in range(1000):
        shape = "sphere" if i % 3 else "box"
        size = 0.05 if shape == "sphere" else (0.05, 0.04, 0.06)
        p = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), 0.1 + (i // 100) * 0.15 + rng.uniform(0, 0.02))
        sim.add_body(shape, size, material=("wood", "rubber", "metal")[i % 3], position=p)
    drag = None
    for frame in range(frames):
        if frame == 20:
            drag = sim.start_drag(5, sim.bodies.pos[5].copy())
        if drag is not None and 20 <= frame < 60:
            sim.move_drag(drag, (0.5 * np.sin(frame * 0.1), 0.0, 1.0))
        if frame == 60 and drag is not None:
            sim.end_drag(drag)
        sim.step()
    b = sim.bodies
    n = b.n
    return b.pos[:n].copy(), b.quat[:n].copy(), b.vel[:n].copy(), b.angvel[:n].copy(), b.sleeping[:n].copy()


def test_two_runs_with_the_same_drags_are_bit_identical() -> None:
    first = _run()
    second = _run()
    for a, b in zip(first, second, strict=True):
        assert a.tobytes() == b.tobytes()
    assert np.all(np.isfinite(first[0]))
