"""Image sources of a shoebox room and the sound paths they give a listener (numba kernels).

Allen & Berkley (1979): along each axis an image sits at x = (1 - 2 q) x_s + 2 n L (q in {0, 1},
n integer); it has met the x = 0 wall |n - q| times and the x = L wall |n| times, so its pressure is
scaled by beta_x-^|n-q| * beta_x+^|n|. Every path is a pure delay r / c and a gain product(beta) / r;
all paths add coherently at the listener, which is what makes comb filtering (interference) audible.

Each path reaches the two ears (or speakers) with its own delay and gain:
- mono: the same signal on both channels;
- stereo (speakers): constant-power panning by the lateral direction s = sin(azimuth);
- headphones: Woodworth's interaural time difference ITD = (a / c) (asin s + s), a = 8.75 cm, and a
  broadband interaural level difference of up to ILD_DB (head shadow), plus the same per-path delays.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SPEED_OF_SOUND = 343.0
HEAD_RADIUS = 0.0875  # m (Woodworth)
ILD_DB = 10.0  # broadband level difference for a source fully to one side
MIN_DISTANCE = 0.1  # m: 1/r is capped here
MONO, STEREO, HEADPHONES = 0, 1, 2
OUTPUT_MODES = ("mono", "stereo", "headphones")


@njit(cache=True, nogil=True)
def max_images(max_order: int) -> int:
    return (2 * max_order + 1) ** 3 * 8


@njit(cache=True, nogil=True)
def image_sources(src, lis, dims, beta, max_order, out_pos, out_gain, out_order, out_index):
    """Fill the images of order <= max_order and return how many.

    Each ``out_index`` row is (n_x, n_y, n_z, q_x, q_y, q_z).
    """
    count = 0
    for nx in range(-max_order, max_order + 1):
        for qx in range(2):
            ox = abs(nx - qx) + abs(nx)
            if ox > max_order:
                continue
            gx = beta[0] ** abs(nx - qx) * beta[1] ** abs(nx)
            x = (1 - 2 * qx) * src[0] + 2 * nx * dims[0]
            for ny in range(-max_order, max_order + 1):
                for qy in range(2):
                    oy = abs(ny - qy) + abs(ny)
                    if ox + oy > max_order:
                        continue
                    gy = beta[2] ** abs(ny - qy) * beta[3] ** abs(ny)
                    y = (1 - 2 * qy) * src[1] + 2 * ny * dims[1]
                    for nz in range(-max_order, max_order + 1):
                        for qz in range(2):
                            oz = abs(nz - qz) + abs(nz)
                            if ox + oy + oz > max_order:
                                continue
                            gz = beta[4] ** abs(nz - qz) * beta[5] ** abs(nz)
                            out_pos[count, 0] = x
                            out_pos[count, 1] = y
                            out_pos[count, 2] = (1 - 2 * qz) * src[2] + 2 * nz * dims[2]
                            out_gain[count] = gx * gy * gz
                            out_order[count] = ox + oy + oz
                            out_index[count, 0] = nx
                            out_index[count, 1] = ny
                            out_index[count, 2] = nz
                            out_index[count, 3] = qx
                            out_index[count, 4] = qy
                            out_index[count, 5] = qz
                            count += 1
    return count


@njit(cache=True, nogil=True)
def ear_taps(r, lateral, gain, mode, fs):
    """(delay_left, delay_right, gain_left, gain_right) of one path of length r and lateral s."""
    base = r / SPEED_OF_SOUND * fs
    s = min(1.0, max(-1.0, lateral))
    if mode == MONO:
        d = int(base + 0.5)
        return d, d, gain, gain
    if mode == STEREO:
        theta = (s + 1.0) * math.pi / 4.0
        d = int(base + 0.5)
        return d, d, gain * math.sqrt(2.0) * math.cos(theta), gain * math.sqrt(2.0) * math.sin(theta)
    itd = HEAD_RADIUS / SPEED_OF_SOUND * (math.asin(s) + s) * fs  # > 0: the right ear hears first
    gl = gain * 10.0 ** (-ILD_DB * s / 40.0)
    gr = gain * 10.0 ** (ILD_DB * s / 40.0)
    return int(base + 0.5 * itd + 0.5), int(max(0.0, base - 0.5 * itd) + 0.5), gl, gr


@njit(cache=True, nogil=True)
def compute_paths(
    src,
    lis,
    right,
    dims,
    beta,
    max_order,
    mode,
    fs,
    max_delay,
    max_paths,
    img_pos,
    img_gain,
    img_order,
    img_index,
    out_delay,
    out_gain,
):
    """The ``max_paths`` strongest paths (direct first) into out_delay (P, 2) / out_gain (P, 2).

    Returns (number of paths, direct distance in metres). Paths longer than ``max_delay`` samples are
    left out.
    """
    n = image_sources(src, lis, dims, beta, max_order, img_pos, img_gain, img_order, img_index)
    strength = np.empty(n)
    dist = np.empty(n)
    for i in range(n):
        dx = img_pos[i, 0] - lis[0]
        dy = img_pos[i, 1] - lis[1]
        dz = img_pos[i, 2] - lis[2]
        dist[i] = math.sqrt(dx * dx + dy * dy + dz * dz)
        strength[i] = img_gain[i] / max(dist[i], MIN_DISTANCE)
    order = np.argsort(-strength, kind="mergesort")
    direct = 0.0
    count = 0
    for j in range(n):
        i = order[j]
        if count >= max_paths:
            break
        r = dist[i]
        if img_order[i] == 0:
            direct = r
        if r / SPEED_OF_SOUND * fs + 64.0 > max_delay:
            continue
        lateral = 0.0
        if r > 1e-9:
            lateral = (
                (img_pos[i, 0] - lis[0]) * right[0]
                + (img_pos[i, 1] - lis[1]) * right[1]
                + (img_pos[i, 2] - lis[2]) * right[2]
            ) / r
        dl, dr, gl, gr = ear_taps(r, lateral, strength[i], mode, fs)
        out_delay[count, 0] = dl
        out_delay[count, 1] = dr
        out_gain[count, 0] = gl
        out_gain[count, 1] = gr
        count += 1
    return count, direct


class ImageSourceScratch:
    """Preallocated scratch arrays for :func:`compute_paths` (one per thread that calls it)."""

    def __init__(self, max_order: int) -> None:
        k = max_images(max_order)
        self.pos = np.zeros((k, 3))
        self.gain = np.zeros(k)
        self.order = np.zeros(k, dtype=np.int64)
        self.index = np.zeros((k, 6), dtype=np.int64)


def images(
    src_room: np.ndarray, lis_room: np.ndarray, size: np.ndarray, beta: np.ndarray, max_order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All images of order <= max_order: positions (k, 3), gains (k,), orders (k,), indices (k, 6)."""
    s = ImageSourceScratch(max_order)
    n = image_sources(
        np.asarray(src_room, dtype=np.float64),
        np.asarray(lis_room, dtype=np.float64),
        np.asarray(size, dtype=np.float64),
        np.asarray(beta, dtype=np.float64),
        max_order,
        s.pos,
        s.gain,
        s.order,
        s.index,
    )
    return s.pos[:n].copy(), s.gain[:n].copy(), s.order[:n].copy(), s.index[:n].copy()
