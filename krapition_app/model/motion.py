"""The motion codec: one tick's motion of an author's bodies as compact bytes (issue 9).

What a state becomes (13 integers per body):

- position: a grid of :data:`POSITION_STEP` (1/4096 m, so at most 0.122 mm off per axis);
- orientation: "smallest three": the index of the largest component (made positive, so q and -q
  encode alike) and the other three, which lie in [-1/sqrt 2, 1/sqrt 2], on 13 bits each;
- linear and angular velocity: grids of :data:`VELOCITY_STEP` (m/s) and :data:`ANGULAR_STEP`
  (rad/s); they only steer interpolation and extrapolation, so they are coarser.

Delta coding: every body has a small id in its author's *stream*; an entry is either a keyframe
(absolute values and the body's name) or the residual against a prediction from the body's previous
entry in the same stream, which every peer holds because an author's chain reaches it whole and in
order. The prediction runs the reference forward by its velocity (and by gravity, when the entry's
flag says so) and turns it by its angular velocity, in integer arithmetic and IEEE +, *, /, sqrt
only, so encoder and decoder compute the very same numbers on any machine. A receiver that misses a
packet (a gap in ``seq``), or joins mid-stream, drops its references and waits for keyframes, which
the encoder sends for every body it sends at least every ``keyframe_every`` packets. An entry may
be flagged REST: the body came to rest in that state (its velocities are zero).

Bytes: ``FORMAT`` then one zlib stream of a fixed header (stream, seq, simulation time in us,
gravity, count, widths) and column-wise data: ids (ascending, delta coded), flags, the keyframes'
names, and each of the 13 value columns zigzag coded, as byte planes of the smallest width that
holds the column. Mostly-zero planes are what zlib compresses best. Everything is numpy over all
bodies at once: no per-body Python per tick.

:class:`MotionDecoder` raises :class:`MotionDecodeError` (and nothing else) for bytes that are not
a valid packet, and changes nothing when it does.
"""

from __future__ import annotations

import math
import secrets
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import EncodingError
from .scene import MAX_COORDINATE, MAX_SPEED

FORMAT = 1
#: 1/4096 m: at most 0.122 mm off per axis
POSITION_STEP = 1.0 / 4096.0
#: velocities only steer interpolation and extrapolation (<= 250 ms): 4 mm/s, 1/64 rad/s are plenty
VELOCITY_STEP = 1.0 / 256.0
ANGULAR_STEP = 1.0 / 64.0
#: the three small components of a unit quaternion lie within +-1/sqrt(2): mapped onto +-4095
#: (13 bits: a point 0.5 m from a body's centre is off by at most ~0.15 mm)
QUAT_LIMIT = 4095
QUAT_SCALE = QUAT_LIMIT * math.sqrt(2.0)
POSITION_LIMIT = math.ceil(MAX_COORDINATE / POSITION_STEP)
VELOCITY_LIMIT = math.ceil(MAX_SPEED / VELOCITY_STEP)
ANGULAR_LIMIT = math.ceil(MAX_SPEED / ANGULAR_STEP)
#: gravity used by the predictor is clipped to this (m/s^2): keeps the integer maths in int64
GRAVITY_LIMIT = 100.0
#: a reference older than this is not predicted from (a keyframe goes instead)
MAX_PREDICT_US = 2_000_000
MAX_ENTRIES = 65_536
MAX_ID = 1 << 24
MAX_NAME_BYTES = 128
#: a packet never inflates beyond this (a hostile one cannot make us allocate more)
MAX_RAW_BYTES = 64 + MAX_ENTRIES * (4 + 1 + 1 + MAX_NAME_BYTES + 13 * 8)
MAX_PACKET_BYTES = 8 * 1024 * 1024

#: entry flags
KEY = 1  # absolute values, the name follows in the name table
GRAVITY = 2  # the prediction includes gravity
ORIENT_ABS = 4  # the orientation columns are absolute (its largest component changed)
REST = 8  # the body came to rest in this state (its velocities are zero): hold it there
_KNOWN_FLAGS = KEY | GRAVITY | ORIENT_ABS | REST

_HEADER = struct.Struct("<IIq3iIB13B")
# columns of the integer state
_POS = slice(0, 3)
_IDX = 3
_ORI = slice(4, 7)
_VEL = slice(7, 10)
_ANG = slice(10, 13)
_LIMITS = np.array([POSITION_LIMIT] * 3 + [3] + [QUAT_LIMIT] * 3 + [VELOCITY_LIMIT] * 3 + [ANGULAR_LIMIT] * 3,
                   dtype=np.int64)
#: position quanta per velocity quantum per second (VELOCITY_STEP / POSITION_STEP)
_VEL_TO_POS = 16


class MotionDecodeError(EncodingError):
    """Bytes that are not a valid motion packet (corrupt, truncated, out of range)."""


# ---- quantisation ----------------------------------------------------------------------------


def smallest_three(quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the largest component, the other three as ints) of unit quaternions (n, 4).
    The sign is chosen so the largest component is positive: q and -q give the same code."""
    q = np.asarray(quat, dtype=np.float64).reshape(-1, 4)
    norm = _norm4(q)[:, None]
    q = np.where(norm > 0, q / np.where(norm > 0, norm, 1.0), np.array([1.0, 0.0, 0.0, 0.0]))
    index = np.argmax(np.abs(q), axis=1)
    rows = np.arange(len(q))
    q = q * np.where(q[rows, index] < 0, -1.0, 1.0)[:, None]
    three = np.rint(q[rows[:, None], _OTHERS[index]] * QUAT_SCALE)
    return index.astype(np.int64), np.clip(three, -QUAT_LIMIT, QUAT_LIMIT).astype(np.int64)


def from_smallest_three(index: np.ndarray, three: np.ndarray) -> np.ndarray:
    """Unit quaternions (n, 4) back from :func:`smallest_three`."""
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    small = np.asarray(three, dtype=np.float64).reshape(-1, 3) / QUAT_SCALE
    a, b, c = small[:, 0], small[:, 1], small[:, 2]
    largest = np.sqrt(np.maximum(0.0, 1.0 - (a * a + b * b + c * c)))
    q = np.empty((len(index), 4))
    rows = np.arange(len(index))
    q[rows, index] = largest
    q[rows[:, None], _OTHERS[index]] = small
    return q / _norm4(q)[:, None]


def _norm4(q: np.ndarray) -> np.ndarray:
    # spelled out, not np.linalg.norm: predictions must be bit-identical on every machine, and only
    # IEEE +, *, /, sqrt element by element are (no summation order, no libm)
    return np.sqrt(q[:, 0] * q[:, 0] + q[:, 1] * q[:, 1] + q[:, 2] * q[:, 2] + q[:, 3] * q[:, 3])


def _turned(q: np.ndarray, w: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """``q`` turned by the world-frame angular velocity ``w`` for ``dt`` seconds: exp(w dt / 2) q,
    with the exponential's Taylor series (exact arithmetic only, see :func:`_norm4`). Turns of more
    than 2 rad are not predicted (the series would not hold)."""
    h = w * (0.5 * dt)[:, None]
    hx, hy, hz = h[:, 0], h[:, 1], h[:, 2]
    x2 = hx * hx + hy * hy + hz * hz
    c = 1.0 - x2 / 2.0 + x2 * x2 / 24.0 - x2 * x2 * x2 / 720.0
    s = 1.0 - x2 / 6.0 + x2 * x2 / 120.0 - x2 * x2 * x2 / 5040.0
    dx, dy, dz = s * hx, s * hy, s * hz
    w0, x0, y0, z0 = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    out = np.empty_like(q)
    out[:, 0] = c * w0 - dx * x0 - dy * y0 - dz * z0
    out[:, 1] = c * x0 + dx * w0 + dy * z0 - dz * y0
    out[:, 2] = c * y0 - dx * z0 + dy * w0 + dz * x0
    out[:, 3] = c * z0 + dx * y0 - dy * x0 + dz * w0
    return np.where((x2 <= 1.0)[:, None], out / _norm4(out)[:, None], q)


_OTHERS = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


def quantise(position: np.ndarray, orientation: np.ndarray, velocity: np.ndarray,
             angular_velocity: np.ndarray) -> np.ndarray:
    """The (n, 13) int64 codes of n states (values beyond the model's bounds are clipped)."""
    n = len(position)
    out = np.empty((n, 13), dtype=np.int64)
    out[:, _POS] = np.rint(np.clip(position, -MAX_COORDINATE, MAX_COORDINATE) / POSITION_STEP)
    out[:, _IDX], out[:, _ORI] = smallest_three(orientation)
    out[:, _VEL] = np.rint(np.clip(velocity, -MAX_SPEED, MAX_SPEED) / VELOCITY_STEP)
    out[:, _ANG] = np.rint(np.clip(angular_velocity, -MAX_SPEED, MAX_SPEED) / ANGULAR_STEP)
    return out


def dequantise(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(position, orientation, velocity, angular_velocity) float64 arrays of (n, 13) codes."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, 13)
    return (codes[:, _POS] * POSITION_STEP, from_smallest_three(codes[:, _IDX], codes[:, _ORI]),
            codes[:, _VEL] * VELOCITY_STEP, codes[:, _ANG] * ANGULAR_STEP)


def gravity_code(gravity: Sequence[float]) -> np.ndarray:
    """Gravity in position quanta per s^2 (as the predictor uses it)."""
    g = np.clip(np.asarray(gravity, dtype=np.float64).reshape(3), -GRAVITY_LIMIT, GRAVITY_LIMIT)
    return np.rint(g / POSITION_STEP).astype(np.int64)


def _rdiv(a: np.ndarray, b: int) -> np.ndarray:
    """a / b rounded half up, exact in int64 (encoder and decoder must agree to the last bit)."""
    return (2 * a + b) // (2 * b)


def predict(reference: np.ndarray, dt_us: np.ndarray, gravity_q: np.ndarray,
            ballistic: np.ndarray) -> np.ndarray:
    """The codes ``dt_us`` microseconds after ``reference``: moved by its velocity (and by gravity
    where ``ballistic``), turned by its angular velocity; the angular velocity stays."""
    out = reference.copy()
    dt = dt_us.astype(np.int64)[:, None]
    out[:, _POS] += _rdiv(reference[:, _VEL] * _VEL_TO_POS * dt, 1_000_000)
    if ballistic.any():
        g = gravity_q[None, :]
        fall = _rdiv(g * dt * dt, 2_000_000_000_000)
        speed = _rdiv(g * dt, _VEL_TO_POS * 1_000_000)
        out[:, _POS] += np.where(ballistic[:, None], fall, 0)
        out[:, _VEL] += np.where(ballistic[:, None], speed, 0)
    spinning = (reference[:, _ANG] != 0).any(axis=1) & (dt_us > 0)
    if spinning.any():
        ref = reference[spinning]
        q = from_smallest_three(ref[:, _IDX], ref[:, _ORI])
        turned = _turned(q, ref[:, _ANG] * ANGULAR_STEP, dt_us[spinning] / 1e6)
        out[spinning, _IDX], out[spinning, _ORI] = smallest_three(turned)
    return out


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return (u >> np.uint64(1)).view(np.int64) ^ -(u & np.uint64(1)).view(np.int64)


def _width(u: np.ndarray) -> int:
    return 0 if not len(u) else (int(u.max()).bit_length() + 7) // 8


def _planes(u: np.ndarray, width: int) -> bytes:
    """Little-endian bytes of ``u`` (uint64), plane by plane: all low bytes first."""
    if not width:
        return b""
    return np.ascontiguousarray(u.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :width].T).tobytes()


# ---- packets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MotionFrame:
    """One decoded packet: the bodies whose state it carried (decodable ones only)."""

    stream: int
    seq: int
    #: the author's simulation time of these states, seconds
    time: float
    gravity: np.ndarray
    ids: np.ndarray
    position: np.ndarray
    orientation: np.ndarray
    velocity: np.ndarray
    angular_velocity: np.ndarray
    #: the entry was predicted with gravity: its body flies freely (extrapolate with gravity)
    ballistic: np.ndarray
    #: the body came to rest in this state
    rest: np.ndarray
    #: names the packet's keyframes gave (id -> name)
    names: dict[int, str] = field(default_factory=dict)
    #: deltas dropped because we hold no reference for them (joined mid-stream, after a gap)
    skipped: int = 0
    #: references were dropped before this packet (a new stream, or a gap in ``seq``)
    reset: bool = False


@dataclass
class _Packet:
    stream: int
    seq: int
    time_us: int
    gravity_q: np.ndarray
    ids: np.ndarray
    flags: np.ndarray
    names: list[str]
    values: np.ndarray


def pack(stream: int, seq: int, time_us: int, gravity_q: np.ndarray, ids: np.ndarray, flags: np.ndarray,
         names: Sequence[str], values: np.ndarray, *, level: int = 6) -> bytes:
    """The bytes of a packet (``values``: keyframe codes or residuals, (n, 13) int64)."""
    n = len(ids)
    id_steps = np.diff(ids.astype(np.int64), prepend=-1) - 1  # ascending: steps of 1 cost 0
    id_u = id_steps.astype(np.uint64)
    id_width = _width(id_u)
    zz = _zigzag(np.ascontiguousarray(values, dtype=np.int64))
    widths = [_width(zz[:, c]) for c in range(13)]
    name_table = b"".join(bytes([len(b)]) + b for b in (s.encode() for s in names))
    parts = [_HEADER.pack(stream, seq, time_us, *(int(g) for g in gravity_q), n, id_width, *widths),
             _planes(id_u, id_width), flags.astype(np.uint8).tobytes(), name_table]
    parts += [_planes(zz[:, c], widths[c]) for c in range(13)]
    return bytes([FORMAT]) + zlib.compress(b"".join(parts), level)


def unpack(data: bytes | bytearray | memoryview) -> _Packet:
    """Parses and checks the shape of a packet (not its deltas: they need the stream's state)."""
    if len(data) < 2:
        raise MotionDecodeError("a motion packet needs at least 2 bytes")
    if len(data) > MAX_PACKET_BYTES:
        raise MotionDecodeError(f"a motion packet of {len(data)} bytes is over the limit")
    if data[0] != FORMAT:
        raise MotionDecodeError(f"unknown motion format {data[0]}")
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(bytes(data[1:]), MAX_RAW_BYTES)
    except zlib.error as exc:
        raise MotionDecodeError(f"corrupt motion packet: {exc}") from None
    if not inflate.eof or inflate.unconsumed_tail or inflate.unused_data:
        raise MotionDecodeError("truncated, oversized or trailing motion packet bytes")
    if len(raw) < _HEADER.size:
        raise MotionDecodeError("motion packet header is truncated")
    stream, seq, time_us, gx, gy, gz, n, id_width, *widths = _HEADER.unpack_from(raw)
    if n > MAX_ENTRIES or id_width > 8 or max(widths) > 8 or time_us < 0:
        raise MotionDecodeError("motion packet header is out of range")
    gravity_q = np.array([gx, gy, gz], dtype=np.int64)
    if np.abs(gravity_q).max() > GRAVITY_LIMIT / POSITION_STEP + 1:
        raise MotionDecodeError("gravity out of range")
    view = memoryview(raw)
    at = _HEADER.size
    id_steps, at = _read_planes(view, at, n, id_width)
    if n and id_steps.max() >= MAX_ID:
        raise MotionDecodeError("body id out of range")
    ids = np.cumsum(id_steps.astype(np.int64) + 1) - 1
    if n and ids[-1] >= MAX_ID:
        raise MotionDecodeError("body id out of range")
    if at + n > len(raw):
        raise MotionDecodeError("motion packet flags are truncated")
    flags = np.frombuffer(raw, dtype=np.uint8, count=n, offset=at).copy()
    at += n
    if n and (flags & ~np.uint8(_KNOWN_FLAGS)).any():
        raise MotionDecodeError("unknown entry flags")
    key = (flags & KEY) != 0
    if (flags[key] & (GRAVITY | ORIENT_ABS)).any():
        raise MotionDecodeError("a keyframe entry with delta flags")
    if ((flags & REST != 0) & (flags & GRAVITY != 0)).any():
        raise MotionDecodeError("an entry at rest cannot be falling")
    names: list[str] = []
    for _ in range(int(key.sum())):
        if at >= len(raw):
            raise MotionDecodeError("motion packet name table is truncated")
        size = raw[at]
        name = bytes(view[at + 1: at + 1 + size])
        if not 0 < size <= MAX_NAME_BYTES or len(name) != size:
            raise MotionDecodeError("bad name in the motion packet")
        try:
            names.append(name.decode())
        except UnicodeDecodeError:
            raise MotionDecodeError("a body name is not UTF-8") from None
        at += 1 + size
    values = np.zeros((n, 13), dtype=np.int64)
    for c in range(13):
        column, at = _read_planes(view, at, n, widths[c])
        values[:, c] = _unzigzag(column)
    if at != len(raw):
        raise MotionDecodeError("trailing bytes in the motion packet")
    absolute = key | ((flags & ORIENT_ABS) != 0)
    if ((values[:, _IDX] < 0) | (values[:, _IDX] > 3) | (~absolute & (values[:, _IDX] != 0))).any():
        raise MotionDecodeError("orientation index out of range")
    if (np.abs(values[key]) > _LIMITS).any():
        raise MotionDecodeError("keyframe value out of range")
    if (np.abs(values[:, _ORI][absolute]) > QUAT_LIMIT).any():
        raise MotionDecodeError("orientation out of range")
    return _Packet(stream, seq, time_us, gravity_q, ids, flags, names, values)


def _read_planes(view: memoryview, at: int, n: int, width: int) -> tuple[np.ndarray, int]:
    size = n * width
    if at + size > len(view):
        raise MotionDecodeError("motion packet columns are truncated")
    out = np.zeros((n, 8), dtype=np.uint8)
    if width:
        out[:, :width] = np.frombuffer(view, dtype=np.uint8, count=size, offset=at).reshape(width, n).T
    return out.view("<u8").reshape(n).astype(np.uint64), at + size


# ---- the stream's state on both sides ----------------------------------------------------------


class _References:
    """Per id: the codes and time (us) of the body's newest entry in the stream."""

    def __init__(self) -> None:
        self.codes = np.zeros((0, 13), dtype=np.int64)
        self.time_us = np.zeros(0, dtype=np.int64)
        self.known = np.zeros(0, dtype=bool)

    def grow(self, size: int) -> None:
        if size <= len(self.known):
            return
        size = max(size, 2 * len(self.known), 64)
        pad = size - len(self.known)
        self.codes = np.concatenate([self.codes, np.zeros((pad, 13), dtype=np.int64)])
        self.time_us = np.concatenate([self.time_us, np.zeros(pad, dtype=np.int64)])
        self.known = np.concatenate([self.known, np.zeros(pad, dtype=bool)])

    def clear(self) -> None:
        self.known[:] = False


class MotionEncoder:
    """The author's side of a stream: body ids, references, keyframe schedule.

    :meth:`encode` assumes the packet it returns goes onto our chain; if it does not, call
    :meth:`reset` (a new stream: receivers then wait for the keyframes it sends).
    """

    def __init__(self, *, keyframe_every: int = 90, stream: int | None = None, level: int = 6) -> None:
        if keyframe_every < 1:
            raise ValueError("keyframe_every must be >= 1")
        self.keyframe_every = keyframe_every
        self.level = level
        self.stream = secrets.randbits(32) if stream is None else stream
        self.seq = 0
        self._ids: dict[str, int] = {}
        self._names: list[str] = []
        self._refs = _References()
        self._last_key = np.zeros(0, dtype=np.int64)
        self._ballistic = np.zeros(0, dtype=bool)
        self._gravity_q = np.zeros(3, dtype=np.int64)

    def reset(self) -> None:
        """A new stream: new id space, no references (every body's next entry is a keyframe)."""
        self.stream = (self.stream + 1 + secrets.randbits(16)) & 0xFFFFFFFF
        self.seq = 0
        self._ids.clear()
        self._names.clear()
        self._refs = _References()
        self._last_key = np.zeros(0, dtype=np.int64)
        self._ballistic = np.zeros(0, dtype=bool)

    def ids(self, names: Sequence[str]) -> np.ndarray:
        """The stream ids of bodies (new names get new ids; ids are never reused in a stream)."""
        out = np.empty(len(names), dtype=np.int64)
        for i, name in enumerate(names):
            ident = self._ids.get(name)
            if ident is None:
                if len(name.encode()) > MAX_NAME_BYTES:
                    raise ValueError(f"body name {name!r} is too long for the motion codec")
                if len(self._names) >= MAX_ID:
                    raise ValueError("the motion stream ran out of ids: reset() it")
                ident = self._ids[name] = len(self._names)
                self._names.append(name)
            out[i] = ident
        self._refs.grow(len(self._names))
        pad = len(self._refs.known) - len(self._last_key)
        if pad > 0:
            self._last_key = np.concatenate([self._last_key, np.zeros(pad, dtype=np.int64)])
            self._ballistic = np.concatenate([self._ballistic, np.zeros(pad, dtype=bool)])
        return out

    def forget(self, ids: np.ndarray) -> None:
        """The next entry of these bodies is a keyframe (their peers' state is no longer ours)."""
        self._refs.known[np.asarray(ids, dtype=np.int64)] = False

    def retire(self, names: Sequence[str]) -> None:
        """Bodies that are gone: their ids are not used again."""
        for name in names:
            ident = self._ids.pop(name, None)
            if ident is not None:
                self._refs.known[ident] = False

    def held(self, ids: np.ndarray, time: float) -> tuple[np.ndarray, np.ndarray]:
        """What peers hold of these bodies, run forward to ``time`` as they extrapolate it:
        (known mask, predicted (n, 13) codes)."""
        ids = np.asarray(ids, dtype=np.int64)
        refs = self._refs
        dt = np.clip(round(time * 1e6) - refs.time_us[ids], 0, MAX_PREDICT_US)
        return refs.known[ids], predict(refs.codes[ids], dt, self._gravity_q, self._ballistic[ids])

    def encode(self, time: float, ids: np.ndarray, position: np.ndarray, orientation: np.ndarray,
               velocity: np.ndarray, angular_velocity: np.ndarray,
               gravity: Sequence[float] = (0.0, 0.0, -9.81), rest: np.ndarray | None = None) -> bytes:
        """One packet of the states of bodies ``ids`` (from :meth:`ids`) at simulation ``time`` (s);
        ``rest`` marks bodies that came to rest (sent with zero velocities)."""
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) > MAX_ENTRIES or (len(ids) > 1 and (np.diff(ids) == 0).any()):
            raise ValueError("a packet holds each body at most once, at most MAX_ENTRIES bodies")
        codes = quantise(np.asarray(position)[order], np.asarray(orientation)[order],
                         np.asarray(velocity)[order], np.asarray(angular_velocity)[order])
        still = np.zeros(len(ids), dtype=bool) if rest is None else np.asarray(rest, dtype=bool)[order]
        codes[still, _VEL.start:] = 0
        time_us = max(0, round(time * 1e6))
        gravity_q = gravity_code(gravity)
        refs = self._refs
        dt = time_us - refs.time_us[ids]
        known = refs.known[ids]
        key = (~known | (dt < 0) | (dt > MAX_PREDICT_US)
               | (self.seq - self._last_key[ids] >= self.keyframe_every))
        values = codes.copy()
        flags = np.where(key, KEY, 0).astype(np.uint8)
        delta = ~key
        ballistic = np.zeros(len(ids), dtype=bool)
        if delta.any():
            ref = refs.codes[ids[delta]]
            dtd = dt[delta]
            plain_pred = predict(ref, dtd, gravity_q, np.zeros(len(ref), dtype=bool))
            fall_pred = predict(ref, dtd, gravity_q, np.ones(len(ref), dtype=bool))
            plain_idx, fall_idx = plain_pred[:, _IDX], fall_pred[:, _IDX]
            plain, fall = codes[delta] - plain_pred, codes[delta] - fall_pred
            cost = lambda r: np.abs(r[:, _POS]).sum(axis=1) + np.abs(r[:, _VEL]).sum(axis=1)  # noqa: E731
            falls = ballistic[delta] = (cost(fall) < cost(plain)) & ~still[delta]
            residual = np.where(falls[:, None], fall, plain)
            turned = codes[delta, _IDX] != np.where(falls, fall_idx, plain_idx)
            residual[:, _IDX] = np.where(turned, codes[delta, _IDX], 0)
            residual[:, _ORI] = np.where(turned[:, None], codes[delta][:, _ORI], residual[:, _ORI])
            values[delta] = residual
            flags[delta] |= (np.where(falls, GRAVITY, 0) | np.where(turned, ORIENT_ABS, 0)).astype(np.uint8)
        flags[still] |= REST
        names = [self._names[i] for i in ids[key].tolist()]
        data = pack(self.stream, self.seq, time_us, gravity_q, ids, flags, names, values, level=self.level)
        refs.codes[ids] = codes
        refs.time_us[ids] = time_us
        refs.known[ids] = True
        self._ballistic[ids] = ballistic
        self._gravity_q = gravity_q
        # a body's first keyframe counts as older than it is, by a share of the interval that depends
        # on its id: bodies that appear together do not key together again
        first = key & ~known
        self._last_key[ids[key]] = self.seq - np.where(first[key], ids[key] % self.keyframe_every, 0)
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return data


class MotionDecoder:
    """A receiver's side of an author's stream (one per author)."""

    def __init__(self) -> None:
        self.stream: int | None = None
        self.seq = -1
        self._refs = _References()
        self._names: dict[int, str] = {}

    def name(self, ident: int) -> str | None:
        return self._names.get(ident)

    def decode(self, data: bytes | bytearray | memoryview) -> MotionFrame:
        """The states a packet carries; raises :class:`MotionDecodeError` (changing nothing) if the
        bytes are not a valid packet. Deltas we hold no reference for are skipped (counted)."""
        p = unpack(data)
        reset = p.stream != self.stream or p.seq != (self.seq + 1) & 0xFFFFFFFF
        refs = _References() if reset else self._refs
        key = (p.flags & KEY) != 0
        ballistic = (p.flags & GRAVITY) != 0
        if len(p.ids):
            refs_size = int(p.ids[-1]) + 1
            if refs_size > len(refs.known):
                refs = self._grown(refs, refs_size)
        known = refs.known[p.ids] | key
        usable = known
        codes = p.values.copy()
        delta = usable & ~key
        if delta.any():
            ids = p.ids[delta]
            dt = p.time_us - refs.time_us[ids]
            if (dt < 0).any() or (dt > MAX_PREDICT_US).any():
                raise MotionDecodeError("a delta against a reference too old or in the future")
            ref = refs.codes[ids]
            pred = predict(ref, dt, p.gravity_q, ballistic[delta])
            turned = (p.flags[delta] & ORIENT_ABS) != 0
            out = p.values[delta] + pred
            out[:, _IDX] = np.where(turned, p.values[delta, _IDX], pred[:, _IDX])
            out[:, _ORI] = np.where(turned[:, None], p.values[delta][:, _ORI], out[:, _ORI])
            codes[delta] = out
        codes = codes[usable]
        if (np.abs(codes) > _LIMITS).any():
            raise MotionDecodeError("a decoded state is out of range")
        rest = (p.flags[usable] & REST) != 0
        if codes[rest, _VEL.start:].any():
            raise MotionDecodeError("an entry at rest with a velocity")
        small = codes[:, _ORI].astype(np.float64) / QUAT_SCALE
        if (np.sum(small * small, axis=1) > 1.0 + 1e-6).any():
            raise MotionDecodeError("not a unit quaternion")
        # valid: commit
        ids = p.ids[usable]
        refs.codes[ids] = codes
        refs.time_us[ids] = p.time_us
        refs.known[ids] = True
        if reset:
            self._names = {}
        names = dict(zip(p.ids[key].tolist(), p.names, strict=True))
        self._names.update(names)
        self._refs, self.stream, self.seq = refs, p.stream, p.seq
        pos, quat, vel, ang = dequantise(codes)
        return MotionFrame(stream=p.stream, seq=p.seq, time=p.time_us / 1e6,
                           gravity=p.gravity_q * POSITION_STEP, ids=ids, position=pos, orientation=quat,
                           velocity=vel, angular_velocity=ang, ballistic=ballistic[usable], rest=rest,
                           names=names, skipped=int((~usable).sum()), reset=reset)

    @staticmethod
    def _grown(refs: _References, size: int) -> _References:
        """A copy of ``refs`` with room for ``size`` ids (the original stays as it was until commit)."""
        out = _References()
        out.codes, out.time_us, out.known = refs.codes.copy(), refs.time_us.copy(), refs.known.copy()
        out.grow(size)
        return out
