"""Acoustic events for the event stream: what rang, what reached the listener, and how."""

from __future__ import annotations

import pytest
from acoustic_helpers import impact, one_body

from krapition_app.engine.acoustics import ListenerPose, RoomSettings, acoustic_events, excite
from krapition_app.model.events import (
    AcousticCollision,
    AcousticInterference,
    AcousticReflection,
    SoundEmitted,
    SoundReceived,
)

HOST = "krapition://host:8080"
LISTENER_URI = f"{HOST}/audio/listeners/main"


def _uri(body: int) -> str | None:
    return f"{HOST}/physics/objects/ball-{body:03d}" if body >= 0 else None


def test_one_impact_gives_every_kind_of_event() -> None:
    bodies = one_body("sphere", "glass", position=(1.0, 0.0, 0.5), radius=0.1)
    contacts = impact(point=(1.0, 0.0, 0.4), speed=3.0)
    room = RoomSettings(size=(10.0, 8.0, 4.0), absorption=(0.2,) * 6)
    listener = ListenerPose(position=(1.0, -3.0, 0.4), forward=(0.0, 1.0, 0.0))
    rows = excite(contacts, bodies, 12.5)
    events = acoustic_events(contacts, bodies, rows, room, listener, _uri, LISTENER_URI, max_reflections=4)
    kinds = [type(e) for e in events]
    assert kinds.count(SoundEmitted) == 1  # the ground has no URI here: only the ball is reported
    emitted = next(e for e in events if isinstance(e, SoundEmitted))
    assert emitted.source == _uri(0) and emitted.time == 12.5 and len(emitted.frequencies) > 0
    received = next(e for e in events if isinstance(e, SoundReceived))
    assert received.listener == LISTENER_URI
    assert received.delay == pytest.approx(3.0 / 343.0)
    assert received.gain == pytest.approx(1 / 3.0)
    assert abs(received.pan) < 1e-6  # straight ahead
    reflections = [e for e in events if isinstance(e, AcousticReflection)]
    assert len(reflections) == 4
    assert all(len(r.walls) == r.order >= 1 and r.delay > received.delay for r in reflections)
    interference = next(e for e in events if isinstance(e, AcousticInterference))
    assert interference.notch_frequencies[0] == pytest.approx(343.0 / (2 * interference.path_difference))
    collision = next(e for e in events if isinstance(e, AcousticCollision))
    assert collision.body_a == _uri(0) and collision.body_b is None
    assert collision.material_a == "glass" and collision.material_b == "stone"
    assert collision.impulse == pytest.approx(1.5) and collision.contact_duration > 0


def test_events_are_capped_to_the_loudest_sources() -> None:
    bodies = one_body()
    rows = excite(impact(), bodies, 0.0)
    events = acoustic_events(
        impact(),
        bodies,
        rows,
        RoomSettings(),
        ListenerPose(),
        lambda b: f"{HOST}/physics/objects/b{b + 1}",
        LISTENER_URI,
        max_sources=1,
    )
    assert sum(isinstance(e, SoundEmitted) for e in events) == 1
