"""What a listener hears: louder and brighter when harder, duller for rubber, later and quieter far away,
on the side it comes from, and with comb filtering from coherent reflections."""

from __future__ import annotations

import numpy as np
import pytest
from acoustic_helpers import DRY_ROOM, LISTENER, centroid, impact, one_body, rms

from krapition_app.engine.acoustics import BodyTable, ListenerPose, RoomSettings, render_steps
from krapition_app.engine.acoustics.events import comb_notches
from krapition_app.engine.acoustics.excitation import excite, hertz_duration, pulse_envelope
from krapition_app.engine.contacts import ROLLING, SLIDING

FS = 48_000


def _render(bodies, contacts, seconds=0.5, room=DRY_ROOM, listener=LISTENER, mode="stereo"):
    samples, _ = render_steps(
        [(0.01, contacts, bodies)], seconds, room=room, listener=listener, output_mode=mode
    )
    return samples


def _onset(samples: np.ndarray, threshold: float = 1e-7) -> int:
    return int(np.nonzero(np.abs(samples).max(axis=1) > threshold)[0][0])


def test_hertz_contact_is_shorter_when_faster_and_harder() -> None:
    m, r = np.array([1.0]), np.array([0.05])
    slow = hertz_duration(m, r, np.array([50e9]), np.array([1.0]))
    fast = hertz_duration(m, r, np.array([50e9]), np.array([2.0]))
    soft = hertz_duration(m, r, np.array([0.05e9]), np.array([1.0]))
    assert fast[0] == pytest.approx(slow[0] * 2**-0.2)  # tau ~ v^(-1/5)
    assert soft[0] > 10 * slow[0]
    x = np.linspace(0, 5, 200)
    env = pulse_envelope(x)
    assert env[0] == 1.0 and np.all(np.diff(env) <= 1e-12)  # monotone: shorter pulses are brighter


def test_doubling_impact_speed_raises_level_and_centroid() -> None:
    bodies = one_body("box", "wood", half_extents=(0.25, 0.04, 0.02))
    slow = _render(bodies, impact(speed=1.0))
    fast = _render(bodies, impact(speed=2.0))
    assert rms(fast) > 1.8 * rms(slow)
    assert centroid(fast) > centroid(slow) * 1.02


def test_rubber_is_duller_than_glass() -> None:
    def pair(material: str) -> np.ndarray:  # two 10 cm balls of one material collide in mid-air
        bodies = BodyTable.build(
            shape=["sphere", "sphere"],
            material=[material] * 2,
            radius=[0.1, 0.1],
            position=[(0.0, 0.0, 0.5), (0.0, 0.0, 0.7)],
        )
        mass = float(bodies.masses(np.array([0]))[0])
        return _render(bodies, impact(speed=2.0, impulse=mass * 2.0, other=1, point=(0.0, 0.0, 0.6)))

    glass, rubber = pair("glass"), pair("rubber")
    assert rms(rubber) > 0 and rms(glass) > 0
    assert centroid(rubber) < 0.5 * centroid(glass)


def test_distant_impact_arrives_later_and_quieter() -> None:
    near_bodies = one_body("box", "wood", position=(0.0, 0.0, 0.5), half_extents=(0.25, 0.04, 0.02))
    far_bodies = one_body("box", "wood", position=(0.0, 6.0, 0.5), half_extents=(0.25, 0.04, 0.02))
    near = _render(near_bodies, impact(point=(0.0, 0.0, 0.5)))
    far = _render(far_bodies, impact(point=(0.0, 6.0, 0.5)))
    d_near, d_far = 2.0, 8.0
    assert _onset(far) - _onset(near) == pytest.approx((d_far - d_near) / 343.0 * FS, abs=2)
    assert rms(far) < 0.5 * rms(near)


@pytest.mark.parametrize("mode", ["stereo", "headphones"])
def test_source_on_the_left_is_louder_in_the_left_channel(mode: str) -> None:
    bodies = one_body("box", "wood", position=(-3.0, -1.0, 0.5), half_extents=(0.25, 0.04, 0.02))
    out = _render(bodies, impact(point=(-3.0, -1.0, 0.5)), mode=mode)
    left, right = rms(out[:, 0]), rms(out[:, 1])
    assert left > 1.5 * right
    if mode == "headphones":  # the near (left) ear also hears it first: interaural time difference
        assert _onset(out[:, :1]) < _onset(out[:, 1:])


def test_mono_is_the_same_on_both_channels() -> None:
    out = _render(one_body("box", "wood"), impact(), mode="mono")
    np.testing.assert_array_equal(out[:, 0], out[:, 1])


def test_sliding_makes_a_speed_dependent_texture() -> None:
    bodies = one_body("box", "wood", half_extents=(0.25, 0.04, 0.02))

    def steps(speed: float) -> list:
        contact = impact(speed=0.0, impulse=0.01, kind=SLIDING, tangential=speed)
        return [(0.01 + i / 240, contact, bodies) for i in range(60)]

    slow, _ = render_steps(steps(0.2), 0.3, room=DRY_ROOM, listener=LISTENER)
    fast, _ = render_steps(steps(2.0), 0.3, room=DRY_ROOM, listener=LISTENER)
    assert rms(slow) > 0
    assert rms(fast) > rms(slow)
    assert centroid(fast) > centroid(slow)
    rolling, _ = render_steps(
        [(0.01, impact(speed=0.0, impulse=0.01, kind=ROLLING, tangential=2.0), bodies)],
        0.2,
        room=DRY_ROOM,
        listener=LISTENER,
    )
    assert rms(rolling) > 0


def test_reflections_add_coherently_comb_filter() -> None:
    """Direct sound plus one floor reflection: the rendered spectrum has the predicted notches."""
    room = RoomSettings(
        size=(40.0, 40.0, 20.0),
        absorption=(1.0, 1.0, 1.0, 1.0, 0.0, 1.0),
        max_order=1,
        reverb=False,
        origin=(-20.0, -20.0, 0.0),
    )
    listener = ListenerPose(position=(0.0, -1.0, 1.0), forward=(0.0, 1.0, 0.0))
    # a dense, bright, quickly decaying source (many modes of a small stone bar: almost a click)
    bodies = one_body("box", "stone", position=(0.0, 1.0, 1.0), half_extents=(0.06, 0.01, 0.005))
    out, _ = render_steps(
        [(0.01, impact(point=(0.0, 1.0, 1.0)), bodies)], 0.3, room=room, listener=listener, output_mode="mono"
    )
    direct = 2.0
    reflected = float(np.hypot(2.0, 2.0))
    notches = comb_notches(reflected - direct)
    assert notches[0] == pytest.approx(343.0 / (2 * (reflected - direct)))
    # the same render without the floor reflection: the ratio of spectra is the comb |1 + g e^{-iwt}|
    dry_room = RoomSettings(
        size=room.size, absorption=(1.0,) * 6, max_order=1, reverb=False, origin=room.origin
    )
    dry, _ = render_steps(
        [(0.01, impact(point=(0.0, 1.0, 1.0)), bodies)],
        0.3,
        room=dry_room,
        listener=listener,
        output_mode="mono",
    )
    ratio = np.abs(np.fft.rfft(out[:, 0])) / np.maximum(np.abs(np.fft.rfft(dry[:, 0])), 1e-12)
    freqs = np.fft.rfftfreq(len(out), 1 / FS)
    g = direct / reflected  # floor reflection: beta = 1, 1/r relative to the direct path
    for f in notches[:3]:
        at = np.argmin(np.abs(freqs - f))
        assert ratio[at] == pytest.approx(1 - g, abs=0.08)
    peak = np.argmin(np.abs(freqs - 343.0 / (reflected - direct)))
    assert ratio[peak] == pytest.approx(1 + g, abs=0.08)


def test_the_static_world_rings_too() -> None:
    rows = excite(impact(), one_body(), 0.0)
    assert sorted(rows.body.tolist()) == [-1, 0]
