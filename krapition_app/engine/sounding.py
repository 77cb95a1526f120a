"""Physics to sound: the acoustics' body table from the physics arrays, and a world's steps as the
``(time, contacts, bodies)`` stream the offline renderer and the real-time engine take."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .acoustics import BodyTable
from .contacts import ContactEvents
from .world import World


def body_table(world: World) -> BodyTable:
    """Shape, size, material, position, velocity and mass of every body, copied from the physics
    arrays (vectorised: no per-body Python). Static bodies get mass 0: the acoustics then derives
    it from size and density."""
    b = world.sim.bodies
    n = b.n
    inv_mass = b.inv_mass[:n]
    mass = np.divide(1.0, inv_mass, out=np.zeros(n), where=inv_mass > 0)
    return BodyTable(
        shape=b.shape[:n].astype(np.uint8),
        radius=b.half[:n, 0].copy(),
        half_extents=b.half[:n].copy(),
        material=b.material[:n].astype(np.int32),
        position=b.pos[:n].copy(),
        velocity=b.vel[:n].copy(),
        mass=mass,
    )


def simulated_steps(world: World) -> Iterator[tuple[float, ContactEvents, BodyTable]]:
    """Steps ``world`` forever, yielding each step's end time, its contacts and the bodies.

    Time is the number of steps times the fixed step, so the stream (and a render of it) is the
    same on every run."""
    dt = world.sim.settings.dt
    step = 0
    while True:
        contacts = world.step()
        step += 1
        yield step * dt, contacts, body_table(world)
