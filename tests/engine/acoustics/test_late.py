"""Impacts added to frames already rendered ahead (late.py) sound as if they had been scheduled in time."""

from __future__ import annotations

import numpy as np
import pytest
from acoustic_helpers import DRY_ROOM, LISTENER, avalanche_bodies, avalanche_step, impact, one_body
from hypothesis import given, settings
from hypothesis import strategies as st

from krapition_app.engine.acoustics import Mixer, MixerConfig, RoomSettings, excite
from krapition_app.engine.acoustics.late import ring_add
from krapition_app.engine.acoustics.ring import READ, FrameRing
from krapition_app.engine.contacts import IMPACT, SLIDING

BLOCK = 256
BODIES = avalanche_bodies(40)  # few: steps hit bodies still ringing from the one before


def _steps(seed: int, steps: int) -> list:
    """Impacts of 16 bodies on the ground per step."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        contacts = avalanche_step(BODIES, rng, 16)
        # every body hits the ground at one spot, each always as hard: a voice hit again keeps its room paths
        # and its modes (the contact's own low mode depends on the impact). New ones would switch at the
        # hit's block in time and at the render head late: a difference of when, not of how
        contacts.point[:] = (0.3, 0.2, 0.4)
        contacts.body_b[:] = -1
        contacts.normal_speed[:] = 0.5 + 0.5 * (contacts.body_a % 7)
        contacts.normal_impulse[:] = 0.8 * contacts.normal_speed
        contacts.kind[:] = IMPACT
        out.append(excite(contacts, BODIES, 0.0))
    return out


def _render(steps: list, starts: list[int], room: RoomSettings, lead: int | None, total: int) -> np.ndarray:
    """The ring's frames [0, total): every step's rows from ``starts[i]`` (7 frames apart), scheduled before
    anything is rendered (``lead=None``), or only once the render head is past them, with the callback
    ``lead`` frames behind the head."""
    mixer = Mixer(MixerConfig(max_voices=256, paths_per_voice=8), room, LISTENER)
    ring = FrameRing(8192)
    out, rev = np.zeros((BLOCK, 2), np.float32), np.zeros(BLOCK, np.float32)
    frames = [start + 7 * np.arange(len(rows)) for rows, start in zip(steps, starts, strict=True)]
    pending = list(range(len(steps)))
    if lead is None:
        for rows, f in zip(steps, frames, strict=True):
            mixer.schedule(f, rows)
        pending = []
    while mixer.frame < total:
        ring.index[READ] = max(0, mixer.frame - lead) if lead is not None else 0
        for i in [i for i in pending if frames[i][0] < mixer.frame]:
            assert frames[i][0] >= ring.read  # in time: not a frame the callback has played
            mixer.schedule(frames[i], steps[i])
            pending.remove(i)
            assert mixer.patch(ring) == ring.read
        mixer.render(out, rev, ring)
    return ring.data[:total].copy()


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 1000),
    gaps=st.lists(st.integers(0, 900), min_size=3, max_size=3),
    lead=st.integers(2 * BLOCK, 1400),
)
def test_a_late_impact_sounds_as_if_scheduled_in_time(seed: int, gaps: list[int], lead: int) -> None:
    """Superposition: the voices are linear in their excitations, so adding an impact's effect to frames
    already rendered (and to its voice's state for what follows) gives what rendering it in time gives,
    to float rounding, in a room without the reverb tail. Bodies already ringing get hit again, also
    twice within one block (rendered in time, the block is split at each hit's frame)."""
    steps = _steps(seed, 3)
    starts = list(600 + np.cumsum(gaps))
    total = 6144
    in_time = _render(steps, starts, DRY_ROOM, None, total)
    late = _render(steps, starts, DRY_ROOM, lead, total)
    peak = np.abs(in_time).max()
    assert peak > 0
    np.testing.assert_allclose(late, in_time, rtol=0, atol=2e-5 * peak)  # float32 rounding, reordered


def test_with_the_reverb_tail_only_the_tail_moves() -> None:
    """The reverb's input of frames already past the reverb goes in at the render head: the direct sound and
    the reflections are as in time, the tail starts at most the lead later, with the same energy."""
    steps = _steps(4, 1)
    room = RoomSettings(size=(6.0, 5.0, 3.0), absorption=(0.3,) * 6, reverb=True)
    total = 8192
    in_time = _render(steps, [700], room, None, total)
    late = _render(steps, [700], room, 1024, total)
    dry_room = RoomSettings(size=(6.0, 5.0, 3.0), absorption=(0.3,) * 6, reverb=False)
    dry_in_time = _render(steps, [700], dry_room, None, total)
    tail = in_time - dry_in_time
    assert np.abs(tail).max() > 0.01 * np.abs(in_time).max()  # the tail is there and audible
    first = int(np.nonzero(np.abs(tail).max(axis=1) > 0)[0][0])
    np.testing.assert_allclose(late[:first], in_time[:first], rtol=0, atol=1e-5 * np.abs(in_time).max())
    energy = float((late.astype(np.float64) ** 2).sum()), float((in_time.astype(np.float64) ** 2).sum())
    assert energy[0] == pytest.approx(energy[1], rel=0.05)


@pytest.mark.parametrize("late", [False, True], ids=["in-time", "late"])
def test_a_sliding_contact_starts_its_texture_at_its_frame(late: bool) -> None:
    bodies = one_body("box", "wood", position=(0.0, 0.0, 0.5), half_extents=(0.25, 0.04, 0.02))
    rows = excite(impact(point=(0.0, 0.0, 0.5), kind=SLIDING, tangential=1.0), bodies, 0.0)
    mixer = Mixer(MixerConfig(paths_per_voice=8), DRY_ROOM, LISTENER)
    ring = FrameRing(8192)
    out, rev = np.zeros((BLOCK, 2), np.float32), np.zeros(BLOCK, np.float32)
    if not late:
        mixer.schedule(np.full(len(rows), 700, np.int64), rows)
    while mixer.frame < 1024:
        mixer.render(out, rev, ring)
    if late:
        ring.index[READ] = 512
        mixer.schedule(np.full(len(rows), 700, np.int64), rows)
        mixer.patch(ring)
    while mixer.frame < 4096:
        mixer.render(out, rev, ring)
    delay = int(mixer.voices.direct_delay[mixer.voices.body == 0][0])
    sounding = np.nonzero(np.abs(ring.data[:4096]).max(axis=1) > 0)[0]
    assert sounding[0] == 700 + delay + 1  # the first sample the noise-driven modes have turned
    # the texture goes on seamlessly past the frame the late rows were added up to
    level = np.abs(ring.data[sounding[0] : 4096, 0])
    assert level[1024 - sounding[0] : 1024 - sounding[0] + 256].max() > 0.2 * level.max()


def test_rows_for_frames_already_played_start_at_the_first_unplayed_frame() -> None:
    bodies = one_body("sphere", "glass", position=(0.0, 0.0, 0.5))
    rows = excite(impact(point=(0.0, 0.0, 0.5)), bodies, 0.0)
    mixer = Mixer(MixerConfig(paths_per_voice=8), DRY_ROOM, LISTENER)
    ring = FrameRing(8192)
    out, rev = np.zeros((BLOCK, 2), np.float32), np.zeros(BLOCK, np.float32)
    while mixer.frame < 2048:
        mixer.render(out, rev, ring)
    ring.index[READ] = 1000
    mixer.schedule(np.full(len(rows), 600, np.int64), rows)  # its frame was played already
    assert mixer.patch(ring) == 1000
    assert mixer.late_rows == len(rows)
    v = mixer.voices
    delay = int(v.direct_delay[v.state != 0].min())  # the body's and the ground's voices
    sounding = np.nonzero(np.abs(ring.data[:4096]).max(axis=1) > 0)[0]
    assert sounding[0] == 1000 + delay  # an impact sounds on its first frame


def test_ring_add_leaves_played_frames_alone() -> None:
    ring = FrameRing(1024)
    ring.data[:] = 1.0
    ring.index[READ] = 130
    patch = np.zeros((2, 1024), np.float32)
    patch[:, :200] = 0.5
    assert ring_add(ring.data, ring.index, 100, patch, 200) == 130
    assert (ring.data[100:130] == 1.0).all()  # played: a late add would go nowhere (and could tear)
    assert (ring.data[130:300] == 1.5).all() and (ring.data[300:] == 1.0).all()
    assert not patch.any()  # cleared for the next batch
