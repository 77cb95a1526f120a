"""Image sources against geometry and against pyroomacoustics; wall sequences; RT60 of the tail."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from krapition_app.engine.acoustics import RoomSettings
from krapition_app.engine.acoustics.errors import AcousticInputError
from krapition_app.engine.acoustics.paths import MONO, ImageSourceScratch, compute_paths, images
from krapition_app.engine.acoustics.reverb import FeedbackDelayNetwork, fdn_process
from krapition_app.engine.acoustics.room import WALLS, wall_sequence

FS = 48_000
SIZE = np.array([6.0, 5.0, 3.0])
SOURCE = np.array([1.2, 1.7, 1.1])
LISTENER = np.array([4.1, 3.3, 1.6])
ABSORPTION = (0.1, 0.2, 0.3, 0.4, 0.25, 0.6)


def _room() -> RoomSettings:
    return RoomSettings(size=tuple(SIZE), absorption=ABSORPTION, origin=(0.0, 0.0, 0.0), max_order=3)


def test_arrival_times_match_path_lengths_within_one_sample() -> None:
    room = _room()
    pos, gain, _, _ = images(SOURCE, LISTENER, SIZE, room.reflection, 3)
    scratch = ImageSourceScratch(3)
    delay = np.zeros((128, 2), np.int64)
    gains = np.zeros((128, 2), np.float32)
    n, direct = compute_paths(
        SOURCE,
        LISTENER,
        np.array([1.0, 0, 0]),
        SIZE,
        room.reflection,
        3,
        MONO,
        float(FS),
        1e9,
        128,
        scratch.pos,
        scratch.gain,
        scratch.order,
        scratch.index,
        delay,
        gains,
    )
    assert n == len(pos) == 63  # 1 + 6 + 18 + 38 images up to order 3
    assert direct == pytest.approx(np.linalg.norm(SOURCE - LISTENER))
    lengths = np.sort(np.linalg.norm(pos - LISTENER, axis=1))
    arrival = np.sort(delay[:n, 0])
    assert np.all(np.abs(arrival - lengths / 343.0 * FS) <= 1.0)
    # gains follow the walls: product of sqrt(1 - alpha) per reflection, over distance
    np.testing.assert_allclose(
        np.sort(gains[:n, 0]), np.sort(gain / np.linalg.norm(pos - LISTENER, axis=1)), rtol=1e-6
    )


def test_first_order_images_are_the_six_mirrors() -> None:
    room = _room()
    pos, gain, order, index = images(SOURCE, LISTENER, SIZE, room.reflection, 3)
    first = order == 1
    assert first.sum() == 6
    beta = np.sqrt(1 - np.array(ABSORPTION))
    for p, g, idx in zip(pos[first], gain[first], index[first], strict=True):
        walls = wall_sequence(idx[:3], idx[3:], SOURCE, LISTENER, SIZE)
        assert len(walls) == 1
        w = WALLS.index(walls[0])
        axis, side = divmod(w, 2)
        plane = SIZE[axis] * side
        assert p[axis] == pytest.approx(2 * plane - SOURCE[axis])
        assert g == pytest.approx(beta[w])


def test_wall_sequences_have_one_wall_per_reflection() -> None:
    room = _room()
    _, _, order, index = images(SOURCE, LISTENER, SIZE, room.reflection, 3)
    for o, idx in zip(order, index, strict=True):
        walls = wall_sequence(idx[:3], idx[3:], SOURCE, LISTENER, SIZE)
        assert len(walls) == o
        assert all(a != b for a, b in itertools.pairwise(walls))  # never the same wall twice in a row


def test_image_sources_match_pyroomacoustics() -> None:
    pra = pytest.importorskip("pyroomacoustics")
    names = {"x-": "west", "x+": "east", "y-": "south", "y+": "north", "z-": "floor", "z+": "ceiling"}
    materials = {names[w]: pra.Material(a) for w, a in zip(WALLS, ABSORPTION, strict=True)}
    ref = pra.ShoeBox(SIZE.tolist(), fs=FS, materials=materials, max_order=3, air_absorption=False)
    ref.add_source(SOURCE.tolist())
    ref.add_microphone(LISTENER.tolist())
    ref.image_source_model()
    src = ref.sources[0]
    ref_pos = src.images.T
    ref_damp = src.damping[0]
    room = _room()
    pos, gain, order, _ = images(SOURCE, LISTENER, SIZE, room.reflection, 3)
    assert len(pos) == len(ref_pos)
    key = np.lexsort(np.round(pos, 6).T[::-1])
    ref_key = np.lexsort(np.round(ref_pos, 6).T[::-1])
    np.testing.assert_allclose(pos[key], ref_pos[ref_key], atol=1e-5)  # pyroomacoustics works in float32
    np.testing.assert_allclose(gain[key], ref_damp[ref_key], rtol=1e-5)
    np.testing.assert_array_equal(order[key], src.orders[ref_key])
    # the same arrival samples as pyroomacoustics' own distance / c
    ref_delay = np.linalg.norm(ref_pos - LISTENER, axis=1) / pra.constants.get("c") * FS
    ours = np.linalg.norm(pos - LISTENER, axis=1) / 343.0 * FS
    assert np.all(np.abs(np.sort(ours) - np.sort(ref_delay)) <= 1.0)


def test_late_tail_decays_at_the_rooms_rt60() -> None:
    room = RoomSettings(size=(8.0, 6.0, 3.0), absorption=(0.2,) * 6, max_order=3)
    rt60 = room.rt60
    assert rt60 == pytest.approx(0.161 * 144 / (0.2 * 2 * (48 + 24 + 18)), rel=1e-9)
    fdn = FeedbackDelayNetwork(room, FS)
    n = int(rt60 * FS)
    x = np.zeros(n, np.float32)
    x[0] = 1.0
    y = np.zeros((n, 2), np.float32)
    fdn_process(
        x,
        y,
        fdn.buf,
        fdn.pos,
        fdn.lengths,
        fdn.gains,
        np.float32(1.0),
        np.ones(8, np.float32),
        np.ones(8, np.float32),
    )
    energy = y[:, 0].astype(np.float64) ** 2
    window = FS // 20
    early = energy[FS // 10 : FS // 10 + window].sum()
    late = energy[FS // 10 + FS // 4 : FS // 10 + FS // 4 + window].sum()
    measured = 0.25 * 60.0 / (10 * math.log10(early / late))  # seconds per 60 dB
    assert measured == pytest.approx(rt60, rel=0.25)


@pytest.mark.parametrize(
    "bad",
    [
        {"size": (-1.0, 5.0, 3.0)},
        {"size": (float("nan"), 5.0, 3.0)},
        {"absorption": (1.5,) * 6},
        {"absorption": (0.1,) * 5},
        {"max_order": 9},
    ],
)
def test_bad_room_settings_are_rejected(bad: dict) -> None:
    with pytest.raises(AcousticInputError):
        RoomSettings(**bad)


def test_room_from_a_settings_value() -> None:
    room = RoomSettings.from_settings({"size": [4, 4, 3], "absorption": {"z-": 0.5}, "max_order": 4})
    assert room.size == (4.0, 4.0, 3.0)
    assert room.absorption[4] == 0.5 and room.absorption[0] == RoomSettings().absorption[0]
    assert room.max_order == 4
    with pytest.raises(AcousticInputError, match="unknown walls"):
        RoomSettings.from_settings({"absorption": {"roof": 0.5}})
    with pytest.raises(AcousticInputError, match="unknown keys"):
        RoomSettings.from_settings({"colour": "red"})
