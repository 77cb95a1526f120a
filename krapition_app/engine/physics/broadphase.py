"""Broad phase: swept AABBs, a hashed uniform grid for ordinary bodies, brute force for the few large
ones (static walls, giant boxes). Produces candidate pairs (i < j) in a deterministic order."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .state import BOX
from .vecmath import HOT, JIT


@njit(**HOT)
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
    # bitwise & instead of `and`: one hard-to-predict branch per candidate instead of six
    return ((lo[i, 0] <= hi[j, 0]) & (lo[j, 0] <= hi[i, 0]) & (lo[i, 1] <= hi[j, 1]) & (lo[j, 1] <= hi[i, 1])
            & (lo[i, 2] <= hi[j, 2]) & (lo[j, 2] <= hi[i, 2]))


@njit(**JIT, inline="always")
def _wanted(static, sleeping, i, j) -> bool:
    """A pair matters when at least one side is an awake dynamic body."""
    return (not static[i] and not sleeping[i]) | (not static[j] and not sleeping[j])


@njit(**JIT, inline="always")
def _hash(cx, cy, cz, mask) -> int:
    return ((cx * 73856093) ^ (cy * 19349663) ^ (cz * 83492791)) & mask


@njit(**JIT)
def find_pairs(lo, hi, static, sleeping, pair_a, pair_b):
    """Writes candidate pairs (a < b) into pair_a/pair_b; returns their number. The arrays' last slot
    is scratch: a count of ``len(pair_a)`` or more means they were too small (grow, call again)."""
    n = lo.shape[0]
    if n == 0:
        return 0
    size = 1
    while size < 2 * n:
        size *= 2
    cells = max(size, DENSE_CELLS_PER_BODY * n + DENSE_EXTRA_CELLS)
    return _find_pairs(lo, hi, static, sleeping, pair_a, pair_b, np.empty(n, dtype=np.int64),
                       np.zeros(n, dtype=np.bool_), np.empty((n, 3), dtype=np.int64),
                       np.zeros(cells + 1, dtype=np.int64), np.empty(cells, dtype=np.int64),
                       np.empty(n, dtype=np.int64), np.empty((n, 6)), np.empty(n, dtype=np.bool_), size)


#: a dense grid (cell id = position in the grid's bounding box) is used while it has at most this
#: many cells per body (plus a few): no hashing, and the 13 forward neighbours are 5 runs of cells
DENSE_CELLS_PER_BODY = 8
DENSE_EXTRA_CELLS = 4096


@njit(**HOT)
def _find_pairs(lo, hi, static, sleeping, pair_a, pair_b, large, is_large, cell_of, start, fill, order,
                sorted_box, sorted_awake, hash_size):
    """find_pairs on preallocated scratch (no reference counting in the loops)."""
    n = lo.shape[0]
    count = 0
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
    nlarge = 0
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
            if _wanted(static, sleeping, i, j) and _overlap(lo, hi, i, j):
                count = _emit_pair(pair_a, pair_b, count, i, j)
    # small bodies: a grid keyed by the cell of the AABB centre; a neighbour is within 1 cell
    cx = cell_of[:, 0]
    cy = cell_of[:, 1]
    cz = cell_of[:, 2]
    big = 1 << 40
    minx = miny = minz = big
    maxx = maxy = maxz = -big
    nsmall = 0
    for i in range(n):
        if is_large[i]:
            continue
        cx[i] = math.floor(0.5 * (lo[i, 0] + hi[i, 0]) * inv_cell)
        cy[i] = math.floor(0.5 * (lo[i, 1] + hi[i, 1]) * inv_cell)
        cz[i] = math.floor(0.5 * (lo[i, 2] + hi[i, 2]) * inv_cell)
        minx, maxx = min(minx, cx[i]), max(maxx, cx[i])
        miny, maxy = min(miny, cy[i]), max(maxy, cy[i])
        minz, maxz = min(minz, cz[i]), max(maxz, cz[i])
        nsmall += 1
    if nsmall == 0:
        return count
    sx, sy, sz = maxx - minx + 1, maxy - miny + 1, maxz - minz + 1
    if sx * sy * sz <= start.shape[0] - 1:
        return _dense_pairs(lo, hi, static, sleeping, pair_a, pair_b, count, is_large, cx, cy, cz,
                            minx, miny, minz, sx, sy, sz, start, fill, order, sorted_box, sorted_awake)
    return _hashed_pairs(lo, hi, static, sleeping, pair_a, pair_b, count, is_large, cx, cy, cz, start, fill,
                         order, hash_size)


@njit(**HOT, inline="always")
def _emit_pair(pair_a, pair_b, count, i, j) -> int:
    if count < pair_a.shape[0]:
        pair_a[count] = min(i, j)
        pair_b[count] = max(i, j)
    return count + 1


@njit(**HOT, inline="always")
def _box_hit(box, awake, q, lx, ly, lz, hx, hy, hz, awake_i) -> bool:
    """Whether sorted box q overlaps the given one, one of the two being awake (bitwise &: no
    branches)."""
    return ((lx <= box[q, 3]) & (box[q, 0] <= hx) & (ly <= box[q, 4]) & (box[q, 1] <= hy)
            & (lz <= box[q, 5]) & (box[q, 2] <= hz) & (awake_i | awake[q]))


@njit(**HOT, inline="always")
def _scan(box, awake, pair_a, pair_b, count, qi, order, q0, q1) -> int:
    """Candidates q0:q1 of the cell-sorted boxes against the box at qi. Branch-free: every candidate
    is written at ``count`` (clamped to the capacity) and ``count`` advances only for a hit, so the
    CPU never mispredicts. The boxes are read in sorted order: a run of cells is contiguous memory."""
    i = order[qi]
    last = pair_a.shape[0] - 1
    lx, ly, lz, hx, hy, hz = box[qi, 0], box[qi, 1], box[qi, 2], box[qi, 3], box[qi, 4], box[qi, 5]
    awake_i = awake[qi]
    if last < 0:
        for q in range(q0, q1):
            count += _box_hit(box, awake, q, lx, ly, lz, hx, hy, hz, awake_i)
        return count
    for q in range(q0, q1):
        hit = _box_hit(box, awake, q, lx, ly, lz, hx, hy, hz, awake_i)
        j = order[q]
        k = min(count, last)
        pair_a[k] = min(i, j)
        pair_b[k] = max(i, j)
        count += hit
    return count


@njit(**HOT)
def _dense_pairs(lo, hi, static, sleeping, pair_a, pair_b, count, is_large, cx, cy, cz, minx, miny, minz,
                 sx, sy, sz, start, fill, order, box, awake) -> int:
    """Bodies sorted by cell id (a counting sort), visited in that order; each pair is seen once: in
    its own cell (the later body of the two) or from the lower of the two cells: +x in the same row,
    then whole runs of three cells in the next row (y + 1) and the next layer (z + 1). Their boxes
    and awake flags are copied in that order first (``box``, ``awake``), so the scans read runs."""
    ncells = sx * sy * sz
    n = lo.shape[0]
    for c in range(ncells + 1):
        start[c] = 0
    for i in range(n):
        if not is_large[i]:
            start[((cz[i] - minz) * sy + (cy[i] - miny)) * sx + (cx[i] - minx) + 1] += 1
    for c in range(ncells):
        start[c + 1] += start[c]
    for c in range(ncells):
        fill[c] = start[c]
    for i in range(n):
        if not is_large[i]:
            c = ((cz[i] - minz) * sy + (cy[i] - miny)) * sx + (cx[i] - minx)
            q = fill[c]
            order[q] = i
            for d in range(3):
                box[q, d] = lo[i, d]
                box[q, 3 + d] = hi[i, d]
            awake[q] = not static[i] and not sleeping[i]
            fill[c] = q + 1
    for qi in range(start[ncells]):
        i = order[qi]
        x, y, z = cx[i] - minx, cy[i] - miny, cz[i] - minz
        c = (z * sy + y) * sx + x
        # the later bodies of this cell, then the +x cell
        end = start[c + 2] if x + 1 < sx else start[c + 1]
        count = _scan(box, awake, pair_a, pair_b, count, qi, order, qi + 1, end)
        x0 = max(x - 1, 0)
        x1 = min(x + 1, sx - 1)
        if y + 1 < sy:  # next row, same layer
            r = (z * sy + y + 1) * sx
            count = _scan(box, awake, pair_a, pair_b, count, qi, order, start[r + x0], start[r + x1 + 1])
        if z + 1 < sz:  # next layer: three rows
            for yy in range(max(y - 1, 0), min(y + 1, sy - 1) + 1):
                r = ((z + 1) * sy + yy) * sx
                count = _scan(box, awake, pair_a, pair_b, count, qi, order, start[r + x0], start[r + x1 + 1])
    return count


@njit(**HOT)
def _hashed_pairs(lo, hi, static, sleeping, pair_a, pair_b, count, is_large, cx, cy, cz, start, fill, order,
                  size) -> int:
    """The same over a hashed grid, for bodies spread too thinly for a dense one."""
    n = lo.shape[0]
    mask = size - 1
    for h in range(size + 1):
        start[h] = 0
    for i in range(n):
        if not is_large[i]:
            start[_hash(cx[i], cy[i], cz[i], mask) + 1] += 1
    for h in range(size):
        start[h + 1] += start[h]
    for h in range(size):
        fill[h] = start[h]
    for i in range(n):
        if is_large[i]:
            continue
        h = _hash(cx[i], cy[i], cz[i], mask)
        order[fill[h]] = i
        fill[h] += 1
    # each pair is seen once: in its own cell (j > i) or from the lower cell of the two (13 forward cells)
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
                if _wanted(static, sleeping, i, j) and _overlap(lo, hi, i, j):
                    count = _emit_pair(pair_a, pair_b, count, i, j)
    return count
