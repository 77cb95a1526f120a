"""Synthetic bodies and contacts, and signal measures, for the acoustics tests."""

from __future__ import annotations

import numpy as np

from krapition_app.engine.acoustics import BodyTable, ListenerPose, RoomSettings
from krapition_app.engine.contacts import IMPACT, ContactEvents


def one_body(
    shape: str = "sphere",
    material: str = "glass",
    position=(0.0, 0.0, 0.5),
    radius: float = 0.1,
    half_extents=(0.2, 0.05, 0.02),
) -> BodyTable:
    return BodyTable.build(
        shape=[shape],
        material=[material],
        position=[position],
        radius=[radius if shape == "sphere" else 0.0],
        half_extents=[half_extents if shape == "box" else (0.0, 0.0, 0.0)],
    )


def impact(
    body: int = 0,
    speed: float = 2.0,
    impulse: float | None = None,
    point=(0.0, 0.0, 0.4),
    other: int = -1,
    kind: int = IMPACT,
    tangential: float = 0.0,
) -> ContactEvents:
    c = ContactEvents.empty(1)
    c.body_a[:] = body
    c.body_b[:] = other
    c.point[:] = point
    c.normal[:] = (0.0, 0.0, 1.0)
    c.normal_speed[:] = speed
    c.normal_impulse[:] = impulse if impulse is not None else 0.5 * speed
    c.tangential_speed[:] = tangential
    c.kind[:] = kind
    return c


#: a dry, quiet room so the tests hear the direct sound clearly
DRY_ROOM = RoomSettings(size=(20.0, 20.0, 10.0), absorption=(0.9,) * 6, max_order=3, reverb=False)
LISTENER = ListenerPose(position=(0.0, -2.0, 0.5), forward=(0.0, 1.0, 0.0))


def centroid(samples: np.ndarray, fs: int = 48_000) -> float:
    mono = samples.astype(np.float64).mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono))
    freqs = np.fft.rfftfreq(len(mono), 1.0 / fs)
    return float((spectrum * freqs).sum() / max(spectrum.sum(), 1e-30))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def avalanche_bodies(n: int = 5000) -> BodyTable:
    """``n`` small spheres of mixed materials heaped in a 4 m square."""
    rng = np.random.default_rng(5)
    materials = rng.integers(0, 6, n)
    pos = np.column_stack([rng.uniform(-2, 2, n), rng.uniform(-2, 2, n), rng.uniform(0.05, 1.5, n)])
    return BodyTable.build(
        shape=["sphere"] * n,
        material=[int(m) for m in materials],
        position=pos,
        radius=rng.uniform(0.03, 0.12, n),
    )


def avalanche_step(bodies: BodyTable, rng: np.random.Generator, contacts: int = 300) -> ContactEvents:
    """One physics step of an avalanche: impacts between neighbours and on the ground, some sliding."""
    n = len(bodies)
    c = ContactEvents.empty(contacts)
    c.body_a[:] = rng.integers(0, n, contacts)
    other = rng.integers(-1, n, contacts)
    c.body_b[:] = np.where(other == c.body_a, -1, other)
    c.point[:] = bodies.position[c.body_a]
    c.normal[:, 2] = 1.0
    c.normal_speed[:] = rng.uniform(0.1, 4.0, contacts)
    c.normal_impulse[:] = c.normal_speed * rng.uniform(0.05, 2.0, contacts)
    c.tangential_speed[:] = rng.uniform(0.0, 2.0, contacts)
    c.kind[:] = rng.choice([0, 1, 2], contacts, p=[0.6, 0.3, 0.1]).astype(np.uint8)
    return c
