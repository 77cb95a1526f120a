"""Per-row preparation of excitations for a given room, listener and output mode (numba, no GIL).

Everything about a struck body that does not depend on the voice it gets: its mode poles
p = exp((-d + i 2 pi f) / fs), its paths to the listener, and the air absorption along the direct path
(10^(-alpha(f) r / 20) per mode). The real-time engine runs this in the caller's thread, so the
synthesis thread only copies rows into voices; it is one kernel call that holds no GIL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .excitation import Excitations
from .listener import ListenerPose, output_mode_code
from .paths import compute_paths, max_images
from .room import RoomSettings


@dataclass(frozen=True, slots=True)
class Geometry:
    """Room, listener and output mode as the arrays the kernels take; ``key`` identifies it."""

    room: RoomSettings
    listener: ListenerPose
    mode: str
    fs: float
    max_paths: int
    ring_size: int
    lis: np.ndarray = field(init=False, compare=False)
    right: np.ndarray = field(init=False, compare=False)
    dims: np.ndarray = field(init=False, compare=False)
    beta: np.ndarray = field(init=False, compare=False)
    origin: np.ndarray = field(init=False, compare=False)
    mode_code: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lis", self.room.to_room(np.array(self.listener.position)))
        object.__setattr__(self, "right", self.listener.right)
        object.__setattr__(self, "dims", np.array(self.room.size))
        object.__setattr__(self, "beta", self.room.reflection)
        object.__setattr__(self, "origin", np.array(self.room.origin_))
        object.__setattr__(self, "mode_code", output_mode_code(self.mode))

    @property
    def key(self) -> tuple[RoomSettings, ListenerPose, str]:
        return (self.room, self.listener, self.mode)


@dataclass(frozen=True, slots=True)
class Prepared:
    key: tuple[RoomSettings, ListenerPose, str]
    src: np.ndarray  # (k, 3) room coordinates
    pr: np.ndarray  # (k, M) float32
    pi: np.ndarray
    exc: np.ndarray  # (k, M) float32: impact amplitudes after air absorption
    nin: np.ndarray  # (k, M) float32: noise input gains (0: no texture)
    npaths: np.ndarray  # (k,) int64
    pdelay: np.ndarray  # (k, P, 2) int64
    pgain: np.ndarray  # (k, P, 2) float32
    direct_gain: np.ndarray  # (k,) float32
    direct_delay: np.ndarray  # (k,) int64
    loud: np.ndarray  # (k,) float32: loudness at the listener

    def take(self, rows: np.ndarray) -> Prepared:
        return Prepared(self.key, *(getattr(self, name)[rows] for name in self.__slots__[1:]))

    @classmethod
    def concat(cls, parts: list[Prepared]) -> Prepared:
        return cls(parts[0].key, *(np.concatenate([getattr(p, n) for p in parts]) for n in cls.__slots__[1:]))


def prepare(rows: Excitations, geometry: Geometry, nframes: int = 256) -> Prepared:
    """The rows' poles, paths and air absorption for ``geometry``: one kernel call that holds no GIL
    (its output arrays and image-source scratch are allocated inside it)."""
    return Prepared(
        geometry.key,
        *_prepare_all(
            rows.position,
            geometry.origin,
            rows.freq,
            rows.decay,
            rows.amp,
            rows.noise_amp,
            rows.noise_cutoff,
            rows.air_db,
            rows.loudness,
            geometry.lis,
            geometry.right,
            geometry.dims,
            geometry.beta,
            geometry.room.max_order,
            geometry.mode_code,
            geometry.fs,
            geometry.ring_size - nframes - 1,
            geometry.max_paths,
        ),
    )


@njit(cache=True, nogil=True)
def _prepare_all(
    position, origin, freq, decay, amp, noise_amp, cutoff, air_db, loudness, lis, right, dims, beta,
    max_order, mode, fs, max_delay, max_paths,
):
    k = position.shape[0]
    m = freq.shape[1]
    src = np.zeros((k, 3))
    pr = np.zeros((k, m), np.float32)
    pi = np.zeros((k, m), np.float32)
    exc = np.zeros((k, m), np.float32)
    nin = np.zeros((k, m), np.float32)
    npaths = np.zeros(k, np.int64)
    pdelay = np.zeros((k, max_paths, 2), np.int64)
    pgain = np.zeros((k, max_paths, 2), np.float32)
    direct_gain = np.zeros(k, np.float32)
    direct_delay = np.zeros(k, np.int64)
    loud = np.zeros(k, np.float32)
    images = max_images(max_order)
    _prepare_rows(
        position - origin,
        freq,
        decay,
        amp,
        noise_amp,
        cutoff,
        air_db,
        loudness,
        lis,
        right,
        dims,
        beta,
        max_order,
        mode,
        fs,
        max_delay,
        np.zeros((images, 3)),
        np.zeros(images),
        np.zeros(images, np.int64),
        np.zeros((images, 6), np.int64),
        src,
        pr,
        pi,
        exc,
        nin,
        npaths,
        pdelay,
        pgain,
        direct_gain,
        direct_delay,
        loud,
    )
    return src, pr, pi, exc, nin, npaths, pdelay, pgain, direct_gain, direct_delay, loud


@njit(cache=True, nogil=True)
def _prepare_rows(
    position,
    freq,
    decay,
    amp,
    noise_amp,
    cutoff,
    air_db,
    loudness,
    lis,
    right,
    dims,
    beta,
    max_order,
    mode,
    fs,
    max_delay,
    img_pos,
    img_gain,
    img_order,
    img_index,
    src,
    pr,
    pi,
    exc,
    nin,
    npaths,
    pdelay,
    pgain,
    direct_gain,
    direct_delay,
    loud,
):
    for row in range(position.shape[0]):
        for c in range(3):
            src[row, c] = min(max(position[row, c], 0.01), dims[c] - 0.01)
        n, direct = compute_paths(
            src[row],
            lis,
            right,
            dims,
            beta,
            max_order,
            mode,
            fs,
            max_delay,
            pdelay.shape[1],
            img_pos,
            img_gain,
            img_order,
            img_index,
            pdelay[row],
            pgain[row],
        )
        npaths[row] = n
        r = max(direct, 0.1)
        direct_gain[row] = 1.0 / r
        direct_delay[row] = min(int(direct / 343.0 * fs + 0.5), max_delay)
        loud[row] = loudness[row] / r
        for k in range(freq.shape[1]):
            f = freq[row, k]
            if f < 20.0 or f > 0.45 * fs:
                continue
            rad = math.exp(-decay[row, k] / fs)
            w = 2.0 * math.pi * f / fs
            pr[row, k] = rad * math.cos(w)
            pi[row, k] = rad * math.sin(w)
            air = 10.0 ** (-air_db[row, k] * direct / 20.0)  # ISO 9613-1 along the direct path
            exc[row, k] = amp[row, k] * air
            if noise_amp[row, k] > 0.0:
                # white noise into z <- p z + g x keeps E|Im z|^2 = g^2 / (2 (1 - |p|^2)); the texture's
                # low-pass |H(f)| = 1 / sqrt(1 + (f / fc)^2) is folded into each mode's input gain
                shape = 1.0 / math.sqrt(1.0 + (f / max(cutoff[row], 1.0)) ** 2)
                nin[row, k] = noise_amp[row, k] * air * math.sqrt(1.0 - rad * rad) * shape
