"""Voice management: a cap with graceful stealing by loudness, and a limiter that never clips."""

from __future__ import annotations

import numpy as np
from acoustic_helpers import LISTENER

from krapition_app.engine.acoustics import BodyTable, Mixer, MixerConfig, RoomSettings, excite
from krapition_app.engine.acoustics.voices import ACTIVE
from krapition_app.engine.contacts import IMPACT, ContactEvents


def _bodies(n: int, spacing: float = 0.3) -> BodyTable:
    side = int(np.ceil(np.sqrt(n)))
    pos = [((i % side) * spacing - 2.0, (i // side) * spacing, 0.2) for i in range(n)]
    return BodyTable.build(shape=["sphere"] * n, material=["wood"] * n, position=pos, radius=[0.1] * n)


def _contacts(bodies: BodyTable, impulses: np.ndarray) -> ContactEvents:
    n = len(impulses)
    c = ContactEvents.empty(n)
    c.body_a[:] = np.arange(n)
    c.body_b[:] = -1
    c.point[:] = bodies.position[:n]
    c.normal[:, 2] = 1.0
    c.normal_impulse[:] = impulses
    c.normal_speed[:] = 2.0
    c.kind[:] = IMPACT
    return c


def test_cap_steals_the_quietest_and_drops_quieter_newcomers() -> None:
    mixer = Mixer(MixerConfig(max_voices=4, spare_voices=4, paths_per_voice=4), RoomSettings(), LISTENER)
    bodies = _bodies(8)
    out = np.zeros((256, 2), np.float32)
    quiet = excite(_contacts(bodies, np.array([0.1, 0.2, 0.3, 0.4])), bodies, 0.0)
    mixer.schedule(np.zeros(len(quiet), np.int64), quiet)
    mixer.render(out)
    v = mixer.voices
    assert v.active_count() == 4  # the ground counts as a sounding body too: 3 balls + ground
    loud_contacts = _contacts(bodies, np.array([0, 0, 0, 0, 5.0, 6.0, 0.0001, 0.0001]))
    loud = excite(loud_contacts, bodies, 0.0)
    keep = np.isin(loud.body, [4, 5, 6, 7])
    mixer.schedule(np.full(int(keep.sum()), mixer.frame, np.int64), loud.take(np.nonzero(keep)[0]))
    mixer.render(out)
    active = set(v.body[v.state == ACTIVE].tolist())
    assert v.active_count() <= 4
    assert {4, 5} <= active  # the loud newcomers took voices
    assert not {6, 7} & active  # the nearly silent newcomers were dropped
    assert v.counters[0] >= 2 and v.counters[1] >= 2  # stolen, dropped
    for _ in range(4):
        mixer.render(out)  # stolen voices fade out (no click) and free their slot
    assert v.sounding_count() <= v.capacity


def test_thousand_body_avalanche_never_clips() -> None:
    bodies = _bodies(1000, spacing=0.05)
    mixer = Mixer(MixerConfig(max_voices=256, paths_per_voice=8), RoomSettings(), LISTENER)
    rng = np.random.default_rng(1)
    out = np.zeros((256, 2), np.float32)
    peak = 0.0
    for step in range(40):
        rows = excite(_contacts(bodies, rng.uniform(0.5, 20.0, 1000)), bodies, step / 240.0, max_rows=256)
        mixer.schedule(np.full(len(rows), mixer.frame + 37, np.int64), rows)
        mixer.render(out)
        peak = max(peak, float(np.abs(out).max()))
    assert np.isfinite(peak) and 0.1 < peak <= np.float32(0.98)  # the limiter ceiling, as float32
    assert mixer.voices.active_count() <= 256
