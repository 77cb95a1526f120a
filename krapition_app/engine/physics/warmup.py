"""Compiles (or loads from the disk cache) every physics kernel, reporting progress.

The app calls this once at start, behind a splash or a status-bar message: the first compile takes
tens of seconds, a cached load well under a second.
"""

from __future__ import annotations

from collections.abc import Callable

from .simulation import Settings, Simulation

#: progress(fraction 0..1, what is being prepared)
Progress = Callable[[float, str], None]

_STAGES = ("broad phase", "narrow phase", "solver", "islands and events")


def warm_up(progress: Progress | None = None) -> None:
    report = progress or (lambda _f, _s: None)
    report(0.0, "physics: preparing a test scene")
    sim = Simulation(settings=Settings(substeps=2))
    # every shape pair, a static box, every joint kind and a drag: every kernel path runs once
    s0 = sim.add_body("sphere", 0.1, position=(0.0, 0.0, 0.12))
    s1 = sim.add_body("sphere", 0.1, position=(0.0, 0.0, 0.33))
    b0 = sim.add_body("box", (0.1, 0.1, 0.1), position=(0.3, 0.0, 0.11))
    b1 = sim.add_body("box", (0.1, 0.1, 0.1), position=(0.3, 0.0, 0.32),
                      orientation=(0.9659, 0.0, 0.0, 0.2588))
    sim.add_body("box", (0.05, 1.0, 0.5), position=(0.6, 0.0, 0.5), static=True)
    sim.add_joint("ball-socket", s1, None, (0.0, 0.0, 0.5))
    sim.add_joint("hinge", b1, b0, (0.3, 0.0, 0.22), axis=(0.0, 1.0, 0.0), limits=(-0.5, 0.5))
    sim.add_joint("distance", s0, b0, (0.0, 0.0, 0.12), anchor_b=(0.3, 0.0, 0.11))
    sim.start_drag(b0, (0.3, 0.0, 0.2))
    total = len(_STAGES) + 2
    done = 0

    def on_stage(name: str) -> None:
        nonlocal done
        done += 1
        report(min(done / total, 0.95), f"physics: {name} ready")

    sim.step(on_stage)
    sim.raycast((0.0, -5.0, 0.1), (0.0, 1.0, 0.0))
    report(0.97, "physics: ray casting ready")
    for _ in range(3):
        sim.step()
    # a body far away makes the grid too sparse for the dense broad phase: its hashed path compiles
    sim.add_body("sphere", 0.1, position=(2000.0, 0.0, 0.12))
    sim.step()
    # a world of one body (or none): its rows of the packed body arrays look contiguous to numba,
    # a type of their own (without this, the first one-body world compiled for half a minute)
    single = Simulation(settings=Settings(substeps=2))
    single.add_body("box", (0.1, 0.1, 0.1), position=(0.0, 0.0, 0.5))
    single.start_drag(0, (0.0, 0.0, 0.5))
    single.step()
    single.raycast((0.0, -5.0, 0.5), (0.0, 1.0, 0.0))
    report(1.0, "physics ready")
