"""Broad phase: swept AABBs, a hashed uniform grid for ordinary bodies, brute force for the few large
ones (static walls, giant boxes). Produces candidate pairs (i < j) in a deterministic order."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .state import BOX
from .vecmath import JIT


@njit(**JIT)
def compute_aabbs(pos, quat, vel, angvel, shape, half, bound, static, sleeping, dt, slop, lo, hi, margin):
    """Tight AABB of each body, grown by how far it can move this frame (speculative margin)."""
    n = pos.shape[0]
    for i in range(n):
        if shape[i] == BOX:
            w, x, y, z = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
            hx, hy, hz = half[i, 0], half[i, 1], half[i, 2]
            ex = (abs(1 - 2 * (y * y + z * z)) * hx + abs(2 * (x * y - w * z)) * hy
                  + abs(2 * (x * z + w * y)) * hz)
            ey = (abs(2 * (x * y + w * z)) * hx + abs(1 - 2 * (x * x + z * z)) * hy
                  + abs(2 * (y * z - w * x)) * hz)
            ez = (abs(2 * (x * z - w * y)) * hx + abs(2 * (y * z + w * x)) * hy
                  + abs(1 - 2 * (x * x + y * y)) * hz)
        else:
            ex = ey = ez = half[i, 0]
        if static[i] or sleeping[i]:
            m = slop
        else:
            v = math.sqrt(vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2)
            wv = math.sqrt(angvel[i, 0] ** 2 + angvel[i, 1] ** 2 + angvel[i, 2] ** 2) * bound[i]
            m = slop + (v + wv) * dt
        margin[i] = m
        lo[i, 0] = pos[i, 0] - ex - m
        lo[i, 1] = pos[i, 1] - ey - m
        lo[i, 2] = pos[i, 2] - ez - m
        hi[i, 0] = pos[i, 0] + ex + m
        hi[i, 1] = pos[i, 1] + ey + m
        hi[i, 2] = pos[i, 2] + ez + m


@njit(**JIT, inline="always")
def _overlap(lo, hi, i, j) -> bool:
    return (lo[i, 0] <= hi[j, 0] and lo[j, 0] <= hi[i, 0] and lo[i, 1] <= hi[j, 1] and lo[j, 1] <= hi[i, 1]
            and lo[i, 2] <= hi[j, 2] and lo[j, 2] <= hi[i, 2])


@njit(**JIT, inline="always")
def _wanted(static, sleeping, i, j) -> bool:
    """A pair matters when at least one side is an awake dynamic body."""
    ai = not static[i] and not sleeping[i]
    aj = not static[j] and not sleeping[j]
    return ai or aj


@njit(**JIT, inline="always")
def _hash(cx, cy, cz, mask) -> int:
    return ((cx * 73856093) ^ (cy * 19349663) ^ (cz * 83492791)) & mask


@njit(**JIT)
def find_pairs(lo, hi, static, sleeping, pair_a, pair_b):
    """Writes candidate pairs (a < b) into pair_a/pair_b; returns their number (which may exceed the
    capacity: the caller then grows the arrays and calls again)."""
    n = lo.shape[0]
    cap = pair_a.shape[0]
    count = 0
    if n == 0:
        return 0
    # cell size: the largest extent among dynamic bodies, capped at 4x their mean so that one giant
    # body does not make the grid useless (it goes to the brute-force list instead)
    total = 0.0
    largest = 0.0
    ndyn = 0
    for i in range(n):
        if not static[i]:
            e = max(hi[i, 0] - lo[i, 0], max(hi[i, 1] - lo[i, 1], hi[i, 2] - lo[i, 2]))
            total += e
            largest = max(largest, e)
            ndyn += 1
    if ndyn == 0:
        return 0
    cell = min(largest, 4.0 * total / ndyn)
    inv_cell = 1.0 / cell
    large = np.empty(n, dtype=np.int64)
    nlarge = 0
    is_large = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        e = max(hi[i, 0] - lo[i, 0], max(hi[i, 1] - lo[i, 1], hi[i, 2] - lo[i, 2]))
        if e > cell or static[i]:
            is_large[i] = True
            large[nlarge] = i
            nlarge += 1
    # pairs with a large body: brute force over all bodies, each unordered pair once
    for k in range(nlarge):
        i = large[k]
        for j in range(n):
            if j == i or (is_large[j] and j < i):
                continue
            if not _wanted(static, sleeping, i, j) or not _overlap(lo, hi, i, j):
                continue
            if count < cap:
                pair_a[count] = min(i, j)
                pair_b[count] = max(i, j)
            count += 1
    # small bodies: hashed grid keyed by the cell of the AABB centre; a neighbour is within 1 cell
    size = 1
    while size < 2 * n:
        size *= 2
    mask = size - 1
    cx = np.empty(n, dtype=np.int64)
    cy = np.empty(n, dtype=np.int64)
    cz = np.empty(n, dtype=np.int64)
    start = np.zeros(size + 1, dtype=np.int64)
    for i in range(n):
        if is_large[i]:
            continue
        cx[i] = math.floor(0.5 * (lo[i, 0] + hi[i, 0]) * inv_cell)
        cy[i] = math.floor(0.5 * (lo[i, 1] + hi[i, 1]) * inv_cell)
        cz[i] = math.floor(0.5 * (lo[i, 2] + hi[i, 2]) * inv_cell)
        start[_hash(cx[i], cy[i], cz[i], mask) + 1] += 1
    for s in range(size):
        start[s + 1] += start[s]
    fill = start[:size].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        if is_large[i]:
            continue
        h = _hash(cx[i], cy[i], cz[i], mask)
        order[fill[h]] = i
        fill[h] += 1
    # visit bodies in row order, so pairs come out sorted by their first body: the solver then walks
    # the body arrays nearly in order (bodies spawned together sit together in memory). Each pair is
    # seen once: in its own cell (j > i) or from the lower cell of the two (13 forward cells).
    for i in range(n):
        if is_large[i]:
            continue
        for o in range(14):
            dz = 0 if o < 5 else 1
            dy = (0 if o == 0 or o == 1 else 1) if o < 5 else (o - 5) // 3 - 1
            dx = (0 if o == 0 else (1 if o == 1 else o - 3)) if o < 5 else (o - 5) % 3 - 1
            nx, ny, nz = cx[i] + dx, cy[i] + dy, cz[i] + dz
            h = _hash(nx, ny, nz, mask)
            for q in range(start[h], start[h + 1]):
                j = order[q]
                if cx[j] != nx or cy[j] != ny or cz[j] != nz or (o == 0 and j <= i):
                    continue
                if not _wanted(static, sleeping, i, j) or not _overlap(lo, hi, i, j):
                    continue
                if count < cap:
                    pair_a[count] = min(i, j)
                    pair_b[count] = max(i, j)
                count += 1
    return count
