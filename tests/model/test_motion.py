"""The motion codec: quantisation bounds, smallest three, delta streams, and bytes it must refuse."""

from __future__ import annotations

import contextlib
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from krapition_app.model import motion as m
from krapition_app.model.encoding import decode, encode
from krapition_app.model.errors import EncodingError, KrapitionError
from krapition_app.model.events import BodyState, ObjectMoved
from tests.strategies import unit_quaternions

coordinate = st.floats(-m.MAX_COORDINATE, m.MAX_COORDINATE, allow_nan=False)
speed = st.floats(-m.MAX_SPEED, m.MAX_SPEED, allow_nan=False)
ATOL = 1e-9


@st.composite
def states(draw: st.DrawFn, n: int | None = None) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(1, 20)) if n is None else n
    pos = np.array(draw(st.lists(st.tuples(coordinate, coordinate, coordinate), min_size=n, max_size=n)))
    quat = np.array(draw(st.lists(unit_quaternions(), min_size=n, max_size=n)))
    vel = np.array(draw(st.lists(st.tuples(speed, speed, speed), min_size=n, max_size=n)))
    ang = np.array(draw(st.lists(st.tuples(speed, speed, speed), min_size=n, max_size=n)))
    return pos, quat, vel, ang


def same_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a . b| per row: 1 for the same rotation (q and -q are one rotation)."""
    return np.abs(np.einsum("ij,ij->i", a, b))


def assert_within_bounds(frame: m.MotionFrame, pos, quat, vel, ang) -> None:
    order = np.argsort(frame.ids)
    assert np.all(np.abs(frame.position[order] - pos) <= m.POSITION_STEP / 2 + ATOL)
    assert np.all(np.abs(frame.velocity[order] - vel) <= m.VELOCITY_STEP / 2 + ATOL)
    assert np.all(np.abs(frame.angular_velocity[order] - ang) <= m.ANGULAR_STEP / 2 + ATOL)
    # 13-bit smallest three: well within 1e-3 rad
    assert np.all(same_rotation(frame.orientation[order], quat) >= np.cos(0.5e-3))


# ---- smallest three -------------------------------------------------------------------------


@given(unit_quaternions())
def test_smallest_three_round_trips_any_unit_quaternion_and_its_negative(q) -> None:
    q = np.array([q])
    index, three = m.smallest_three(q)
    index_neg, three_neg = m.smallest_three(-q)
    assert index.tolist() == index_neg.tolist() and three.tolist() == three_neg.tolist()  # q ~ -q
    back = m.from_smallest_three(index, three)
    assert abs(np.linalg.norm(back) - 1.0) < 1e-12
    assert same_rotation(back, q)[0] >= 1.0 - 1e-7  # back == q or -q, within the 13-bit grid
    assert np.abs(three).max() <= m.QUAT_LIMIT


def test_smallest_three_of_the_awkward_ones() -> None:
    qs = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0.5, 0.5, 0.5, 0.5], [-0.5, 0.5, -0.5, 0.5],
                   [np.sqrt(0.5), -np.sqrt(0.5), 0, 0], [0, 0, -1, 0]], dtype=float)
    back = m.from_smallest_three(*m.smallest_three(qs))
    assert np.all(same_rotation(back, qs) >= 1.0 - 1e-7)


# ---- keyframes and deltas ---------------------------------------------------------------------


@given(states())
def test_a_keyframe_round_trips_within_the_quantisation_bounds(state) -> None:
    pos, quat, vel, ang = state
    enc, dec = m.MotionEncoder(), m.MotionDecoder()
    ids = enc.ids([f"b{i}" for i in range(len(pos))])
    frame = dec.decode(enc.encode(1.5, ids, pos, quat, vel, ang))
    assert sorted(frame.ids.tolist()) == sorted(ids.tolist()) and frame.skipped == 0 and frame.reset
    assert frame.time == 1.5
    assert_within_bounds(frame, pos, quat, vel, ang)
    assert {dec.name(int(i)) for i in ids} == {f"b{i}" for i in range(len(pos))}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(2, 12))
def test_a_stream_of_deltas_decodes_to_exactly_the_quantised_states(data, ticks) -> None:
    """Whatever each tick holds (bodies in or out, moving or jumping, gravity or not), the decoder
    reconstructs the very codes the encoder quantised: nothing drifts, deltas are exact."""
    n = data.draw(st.integers(1, 12))
    pos, quat, vel, ang = data.draw(states(n))
    enc, dec = m.MotionEncoder(keyframe_every=data.draw(st.integers(1, 5))), m.MotionDecoder()
    ids = enc.ids([f"body-{i}" for i in range(n)])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    t = 0.0
    for _ in range(ticks):
        t += data.draw(st.sampled_from([1 / 30, 1 / 25, 0.1, 0.5]))
        # small motion, sometimes a jump, sometimes a turn past the largest component
        jitter = rng.normal(0, 0.01, pos.shape) * (rng.random((n, 1)) < 0.8)
        pos = np.clip(pos + vel * 0.01 + jitter, -9e3, 9e3)
        vel = np.clip(vel + rng.normal(0, 0.3, vel.shape), -900, 900)
        quat = quat + rng.normal(0, 0.2, quat.shape)
        quat /= np.linalg.norm(quat, axis=1, keepdims=True)
        ang = np.clip(ang + rng.normal(0, 0.5, ang.shape), -900, 900)
        sent = rng.random(n) < 0.7
        rest = (rng.random(n) < 0.2) & sent
        frame = dec.decode(enc.encode(t, ids[sent], pos[sent], quat[sent], vel[sent], ang[sent],
                                      gravity=(0.0, 0.0, -9.81), rest=rest[sent]))
        assert frame.skipped == 0
        order = np.argsort(frame.ids)
        expected = m.quantise(pos[sent], quat[sent], vel[sent], ang[sent])
        expected[rest[sent], 7:] = 0
        # the decoder's states are the encoder's codes dequantised, to the bit (re-quantising them
        # would not do as a check: where two quaternion components tie for the largest, the
        # dequantised one may drop the other)
        got = (frame.position[order], frame.orientation[order], frame.velocity[order],
               frame.angular_velocity[order])
        for mine, theirs in zip(got, m.dequantise(expected), strict=True):
            assert np.array_equal(mine, theirs)
        assert frame.rest[order].tolist() == rest[sent].tolist()
        assert not (frame.rest & frame.ballistic).any()


def test_free_flight_costs_almost_nothing_and_an_empty_packet_is_a_header() -> None:
    enc = m.MotionEncoder()
    n = 300
    rng = np.random.default_rng(1)
    pos = rng.uniform(-5, 5, (n, 3)) + np.array([0, 0, 10])
    vel = rng.uniform(-3, 3, (n, 3))
    quat = np.tile([1.0, 0, 0, 0], (n, 1))
    ang = np.zeros((n, 3))
    ids = enc.ids([f"b{i}" for i in range(n)])
    first = enc.encode(0.0, ids, pos, quat, vel, ang)
    sizes = []
    for k in range(1, 10):  # ballistic flight: the gravity predictor gets it to the quantum
        t = k / 30
        p = pos + vel * t + 0.5 * np.array([0, 0, -9.81]) * t * t
        v = vel + np.array([0, 0, -9.81]) * t
        sizes.append(len(enc.encode(t, ids, p, quat, v, ang)))
    assert len(first) > 8 * n  # keyframes: whole positions, velocities and names
    assert max(sizes) < 2.0 * n  # deltas of a predictable flight: < 2 bytes a body
    assert len(enc.encode(1.0, ids[:0], pos[:0], quat[:0], vel[:0], ang[:0])) < 40  # nobody: a header


def test_a_late_joiner_skips_deltas_and_is_complete_within_a_keyframe_interval() -> None:
    enc = m.MotionEncoder(keyframe_every=10)
    n = 40
    ids = enc.ids([f"b{i}" for i in range(n)])
    rng = np.random.default_rng(2)
    packets = []
    for k in range(40):
        pos = rng.uniform(-1, 1, (n, 3))
        packets.append(enc.encode(k / 30, ids, pos, np.tile([1.0, 0, 0, 0], (n, 1)), np.zeros((n, 3)),
                                  np.zeros((n, 3))))
    late = m.MotionDecoder()
    seen: set[int] = set()
    for k, packet in enumerate(packets[15:]):  # joins mid-stream
        frame = late.decode(packet)
        assert frame.reset == (k == 0)
        seen |= set(frame.ids.tolist())
        assert frame.skipped + len(frame.ids) == n
        if k >= 10:
            assert frame.skipped == 0 and len(seen) == n


def test_a_gap_drops_references_until_keyframes() -> None:
    enc, dec = m.MotionEncoder(keyframe_every=1000), m.MotionDecoder()
    ids = enc.ids(["a", "b"])
    args = (np.zeros((2, 3)), np.tile([1.0, 0, 0, 0], (2, 1)), np.zeros((2, 3)), np.zeros((2, 3)))
    p0, p1, p2 = (enc.encode(k / 30, ids, *args) for k in range(3))
    dec.decode(p0)
    frame = dec.decode(p2)  # p1 lost: the references may be wrong now
    assert frame.reset and frame.skipped == 2 and not len(frame.ids)
    enc.reset()  # a new stream starts with keyframes
    ids = enc.ids(["a", "b"])
    frame = dec.decode(enc.encode(0.2, ids, *args))
    assert frame.reset and len(frame.ids) == 2 and set(frame.names.values()) == {"a", "b"}
    del p1


# ---- bytes that are not a packet ------------------------------------------------------------------


def valid_packet() -> tuple[bytes, m.MotionEncoder]:
    enc = m.MotionEncoder(stream=1234)
    ids = enc.ids(["ball", "box"])
    data = enc.encode(0.5, ids, np.array([[0, 0, 1.0], [1, 2, 3]]),
                      np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]), np.array([[0, 0, -1.0], [0.5, 0, 0]]),
                      np.zeros((2, 3)))
    return data, enc


@given(st.data())
def test_every_truncation_raises_the_precise_error(data) -> None:
    packet, _ = valid_packet()
    cut = data.draw(st.integers(0, len(packet) - 1))
    with pytest.raises(m.MotionDecodeError):
        m.MotionDecoder().decode(packet[:cut])


@given(st.data())
def test_corrupt_bytes_raise_the_precise_error_or_decode_and_never_crash(data) -> None:
    packet, _ = valid_packet()
    corrupt = bytearray(packet)
    for _ in range(data.draw(st.integers(1, 4))):
        corrupt[data.draw(st.integers(0, len(corrupt) - 1))] ^= data.draw(st.integers(1, 255))
    decoder = m.MotionDecoder()
    try:
        decoder.decode(bytes(corrupt))
    except m.MotionDecodeError:
        assert decoder.stream is None  # refused: nothing changed
    assert issubclass(m.MotionDecodeError, KrapitionError) and issubclass(m.MotionDecodeError, EncodingError)


@given(st.binary(max_size=400))
def test_any_inflated_bytes_raise_the_precise_error_or_decode(raw) -> None:
    """Valid zlib around arbitrary content: the parser's checks, not zlib's, must hold."""
    with contextlib.suppress(m.MotionDecodeError):
        m.MotionDecoder().decode(bytes([m.FORMAT]) + zlib.compress(raw))


def raw_packet(n: int = 1, id_width: int = 1, widths: tuple[int, ...] = (1,) * 13, flags: bytes = b"\x01",
               names: bytes = b"\x01a", body: bytes | None = None, time_us: int = 0) -> bytes:
    header = struct.pack("<IIq3iIB13B", 7, 0, time_us, 0, 0, -40182, n, id_width, *widths)
    ids = b"\x00" * (n * id_width)
    values = body if body is not None else b"\x00" * (n * sum(widths))
    return bytes([m.FORMAT]) + zlib.compress(header + ids + flags + names + values)


@pytest.mark.parametrize(("packet", "why"), [
    (b"", "at least 2 bytes"),
    (bytes([9]) + zlib.compress(b"x"), "unknown motion format"),
    (bytes([m.FORMAT]) + b"not zlib at all", "corrupt"),
    (bytes([m.FORMAT]) + zlib.compress(b"x") + b"tail", "trailing"),
    (raw_packet(n=m.MAX_ENTRIES + 1), "out of range"),
    (raw_packet(widths=(9,) + (1,) * 12), "out of range"),
    (raw_packet(time_us=-1), "out of range"),
    (raw_packet(flags=b"\x40"), "unknown entry flags"),
    (raw_packet(flags=b"\x03"), "keyframe entry with delta flags"),
    (raw_packet(flags=b"\x0a", names=b""), "at rest cannot be falling"),
    (raw_packet(names=b"\x00"), "bad name"),
    (raw_packet(names=b"\x02\xff\xfe"), "not UTF-8"),
    (raw_packet(names=b"", body=b""), "name table is truncated"),
    (raw_packet(body=b"\x00" * 12), "columns are truncated"),
    (raw_packet(body=b"\x00" * 3 + b"\x08" + b"\x00" * 9), "orientation index"),
    (raw_packet(body=b"\x00" * 13 + b"\x00"), "trailing"),
    (raw_packet(widths=(4,) + (1,) * 12, body=struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 12), "out of range"),
    (raw_packet(widths=(1,) * 4 + (2,) * 3 + (1,) * 6, body=b"\x00" * 4 + struct.pack("<3H", *[2 * 4095] * 3)
                + b"\x00" * 6), "not a unit quaternion"),
])
def test_malformed_packets_are_refused_with_a_reason(packet: bytes, why: str) -> None:
    with pytest.raises(m.MotionDecodeError, match=why):
        m.MotionDecoder().decode(packet)


def test_a_delta_against_a_reference_from_the_future_is_refused() -> None:
    enc, dec = m.MotionEncoder(), m.MotionDecoder()
    ids = enc.ids(["a"])
    args = (np.zeros((1, 3)), np.array([[1.0, 0, 0, 0]]), np.zeros((1, 3)), np.zeros((1, 3)))
    dec.decode(enc.encode(1.0, ids, *args))
    raw = bytearray(zlib.decompress(enc.encode(2.0, ids, *args)[1:]))
    struct.pack_into("<q", raw, 8, 500_000)  # the delta now claims an earlier time than its reference
    with pytest.raises(m.MotionDecodeError, match="too old or in the future"):
        dec.decode(bytes([m.FORMAT]) + zlib.compress(bytes(raw)))


# ---- in the event -----------------------------------------------------------------------------------


def test_object_moved_keeps_its_old_bytes_and_carries_a_packet() -> None:
    old = ObjectMoved(tick=3, bodies=(BodyState(name="b", position=(0.1, 0.2, 0.3)),))
    assert b"motion" not in encode(old)  # no packet: the bytes it always had
    packet, _ = valid_packet()
    new = ObjectMoved(tick=4, bodies=(), motion=packet)
    back = decode(encode(new), ObjectMoved)
    assert back == new and m.MotionDecoder().decode(back.motion).names
    with pytest.raises(ValueError, match="limited"):
        ObjectMoved(tick=1, bodies=(), motion=bytes(5 * 1024 * 1024))
