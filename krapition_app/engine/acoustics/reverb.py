"""Late reverberation: an 8-line feedback delay network tuned to the room's RT60 (Jot & Chaigne 1991).

Each line of m samples is scaled by g = 10^(-3 m / (fs RT60)) per pass, so every recirculating path
decays 60 dB in RT60 seconds; a normalised Hadamard matrix mixes the lines without loss. Line
lengths are mutually prime and spread around the room's mean free path 4V/S, so the echo density
grows like a real room's. The output is scaled so that the tail's energy after the early
reflections equals the diffuse-field energy of the room: at the critical distance the reverberant
energy equals the direct energy (1 / r_c^2), decaying as exp(-13.8 t / RT60) from the mixing time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .room import RoomSettings

LINES = 8
_STRETCH = (1.0, 1.13, 1.27, 1.41, 1.57, 1.73, 1.91, 2.09)
_OUT_L = np.array([1, -1, 1, -1, 1, -1, 1, -1], np.float32)
_OUT_R = np.array([1, 1, -1, -1, 1, 1, -1, -1], np.float32)


def _next_prime(n: int) -> int:
    def prime(k: int) -> bool:
        return k > 1 and all(k % d for d in range(2, math.isqrt(k) + 1))

    while not prime(n):
        n += 1
    return n


class FeedbackDelayNetwork:
    """Preallocated state of the FDN for one room; :meth:`process` adds the tail to a stereo block."""

    def __init__(self, room: RoomSettings, fs: int) -> None:
        base = min(max(room.mean_free_path / 343.0 * fs, 300.0), 4000.0)
        self.lengths = np.array([_next_prime(int(base * s)) for s in _STRETCH], np.int64)
        self.size = int(2 ** math.ceil(math.log2(int(self.lengths.max()) + 1)))
        self.buf = np.zeros((LINES, self.size), np.float32)
        self.pos = np.zeros(1, np.int64)
        self.gains = (10.0 ** (-3.0 * self.lengths / (fs * room.rt60))).astype(np.float32)
        self.enabled = room.reverb
        # calibrate: energy of the tail for a unit impulse, against the diffuse-field target
        self.out_gain = np.float32(1.0)
        probe_len = int(min(room.rt60, 4.0) * fs)
        probe_in = np.zeros(probe_len, np.float32)
        probe_in[0] = 1.0
        probe_out = np.zeros((probe_len, 2), np.float32)
        fdn_process(
            probe_in, probe_out, self.buf, self.pos, self.lengths, self.gains, np.float32(1.0), _OUT_L, _OUT_R
        )
        energy = float((probe_out.astype(np.float64) ** 2).sum() / 2.0)
        mixing_time = (room.max_order + 1) * room.mean_free_path / 343.0
        target = math.exp(-13.8 * mixing_time / room.rt60) / room.critical_distance**2
        self.out_gain = np.float32(math.sqrt(target / max(energy, 1e-30)))
        self.buf[:] = 0.0
        self.pos[0] = 0

    def process(self, rev_in: np.ndarray, out: np.ndarray) -> None:
        if self.enabled:
            fdn_process(
                rev_in, out, self.buf, self.pos, self.lengths, self.gains, self.out_gain, _OUT_L, _OUT_R
            )


@njit(cache=True, nogil=True, fastmath=True)
def fdn_process(inp, out, buf, pos, lengths, gains, out_gain, out_l, out_r):
    size = buf.shape[1]
    mask = size - 1
    p = pos[0]
    x = np.empty(LINES, np.float32)
    for n in range(inp.shape[0]):
        for i in range(LINES):
            x[i] = buf[i, (p - lengths[i]) & mask] * gains[i]
        left = np.float32(0.0)
        right = np.float32(0.0)
        for i in range(LINES):
            left += out_l[i] * x[i]
            right += out_r[i] * x[i]
        out[n, 0] += out_gain * left
        out[n, 1] += out_gain * right
        # fast Walsh-Hadamard transform of 8, normalised by 1/sqrt(8): lossless mixing
        h = 1
        while h < LINES:
            for i in range(0, LINES, 2 * h):
                for j in range(i, i + h):
                    a = x[j]
                    b = x[j + h]
                    x[j] = a + b
                    x[j + h] = a - b
            h *= 2
        for i in range(LINES):
            buf[i, p & mask] = x[i] * np.float32(0.35355339) + inp[n]
        p += 1
    pos[0] = p
