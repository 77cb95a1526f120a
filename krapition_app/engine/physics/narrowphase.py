"""Narrow phase: contact points for every candidate pair and for bodies near the ground plane.

Each point is written as a row of the contact table (see ``contacts_table``) with its two bodies;
the feature id is kept for determinism of the point order only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .boxbox import WORK_ROWS, box_box
from .contacts_table import CA, CB, CNEW, CROT, NX, NY, NZ, PX, PY, PZ, SEP
from .state import SPHERE
from .vecmath import HOT, JIT, quat_rotate_inv, quat_to_matrix, rotate


@njit(**JIT, inline="always")
def _emit(cf, ci, k, a, b, px, py, pz, nx, ny, nz, sep, feature, rotates) -> int:
    if k < cf.shape[0]:
        cf[k, PX] = px
        cf[k, PY] = py
        cf[k, PZ] = pz
        cf[k, NX] = nx
        cf[k, NY] = ny
        cf[k, NZ] = nz
        cf[k, SEP] = sep
        ci[k, CA] = a
        ci[k, CB] = b
        ci[k, CNEW] = 1
        ci[k, CROT] = rotates
    return k + 1


@njit(**HOT)
def _sphere_box(cs, r, cb, qb, hb, margin):
    """Sphere centre cs radius r against box (centre cb, quaternion qb, half extents hb).
    Returns (ok, point, normal from box to sphere, separation)."""
    lx, ly, lz = quat_rotate_inv(qb, cs[0] - cb[0], cs[1] - cb[1], cs[2] - cb[2])
    qx = min(max(lx, -hb[0]), hb[0])
    qy = min(max(ly, -hb[1]), hb[1])
    qz = min(max(lz, -hb[2]), hb[2])
    dx, dy, dz = lx - qx, ly - qy, lz - qz
    d2 = dx * dx + dy * dy + dz * dz
    if d2 > 1e-18:
        dist = math.sqrt(d2)
        sep = dist - r
        if sep > margin:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        nlx, nly, nlz = dx / dist, dy / dist, dz / dist
    else:
        # centre inside the box: push out through the nearest face
        px = hb[0] - abs(lx)
        py = hb[1] - abs(ly)
        pz = hb[2] - abs(lz)
        nlx = nly = nlz = 0.0
        if px <= py and px <= pz:
            nlx = 1.0 if lx >= 0 else -1.0
            qx = nlx * hb[0]
            sep = -px - r
        elif py <= pz:
            nly = 1.0 if ly >= 0 else -1.0
            qy = nly * hb[1]
            sep = -py - r
        else:
            nlz = 1.0 if lz >= 0 else -1.0
            qz = nlz * hb[2]
            sep = -pz - r
    # back to world
    w, x, y, z = qb[0], qb[1], qb[2], qb[3]
    nx, ny, nz = rotate(w, x, y, z, nlx, nly, nlz)
    sx, sy, sz = rotate(w, x, y, z, qx, qy, qz)
    sx += cb[0]
    sy += cb[1]
    sz += cb[2]
    # midway between the box surface point and the sphere's deepest point
    px_ = 0.5 * (sx + cs[0] - r * nx)
    py_ = 0.5 * (sy + cs[1] - r * ny)
    pz_ = 0.5 * (sz + cs[2] - r * nz)
    return True, px_, py_, pz_, nx, ny, nz, sep


@njit(**JIT)
def collide(pos, quat, shape, half, static, sleeping, margin, pair_a, pair_b, npairs, ground, joined, cf,
            ci) -> int:
    """Fills the contact table; returns the number of rows (may exceed its capacity: grow, retry).
    ``joined``: sorted pair keys of bodies tied by a joint; those do not collide with each other."""
    rot = np.empty((pos.shape[0], 3, 3))
    for i in range(pos.shape[0]):
        if shape[i] != SPHERE:
            quat_to_matrix(quat[i], rot[i])
    return _collide(pos, quat, rot, shape, half, static, sleeping, margin, pair_a, pair_b, npairs, ground,
                    joined, cf, ci, np.empty((8, 3)), np.empty((8, 3)), np.empty(8),
                    np.empty(8, dtype=np.int64), np.empty(8), np.empty((8, 3)), np.empty((WORK_ROWS, 3)),
                    np.empty(20, dtype=np.int64))


@njit(**HOT)
def _collide(pos, quat, rot, shape, half, static, sleeping, margin, pair_a, pair_b, npairs, ground, joined,
             cf, ci, out_p, out_n, out_sep, out_feat, corner_sep, corner_p, work, iwork) -> int:
    """collide on preallocated scratch (no reference counting in the loops)."""
    k = 0
    n = pos.shape[0]
    # ground plane (z = 0, normal +z): contacts first, they carry the pile
    if ground:
        for i in range(n):
            if static[i] or sleeping[i]:
                continue
            m = margin[i]
            if shape[i] == SPHERE:
                r = half[i, 0]
                sep = pos[i, 2] - r
                if sep <= m:
                    k = _emit(cf, ci, k, i, -1, pos[i, 0], pos[i, 1], 0.5 * (pos[i, 2] - r),
                              0.0, 0.0, -1.0, sep, 0, 0)
            else:
                ra = rot[i]
                if pos[i, 2] - (abs(ra[2, 0]) * half[i, 0] + abs(ra[2, 1]) * half[i, 1]
                                + abs(ra[2, 2]) * half[i, 2]) > m:
                    continue
                nc = 0
                for c in range(8):
                    sx = half[i, 0] if c & 1 else -half[i, 0]
                    sy = half[i, 1] if c & 2 else -half[i, 1]
                    sz = half[i, 2] if c & 4 else -half[i, 2]
                    x = pos[i, 0] + ra[0, 0] * sx + ra[0, 1] * sy + ra[0, 2] * sz
                    y = pos[i, 1] + ra[1, 0] * sx + ra[1, 1] * sy + ra[1, 2] * sz
                    z = pos[i, 2] + ra[2, 0] * sx + ra[2, 1] * sy + ra[2, 2] * sz
                    corner_p[c, 0] = x
                    corner_p[c, 1] = y
                    corner_p[c, 2] = z
                    corner_sep[c] = z
                    if z <= m:
                        nc += 1
                # at most the 4 deepest corners (ties broken by corner index: deterministic)
                for _ in range(min(nc, 4)):
                    best = -1
                    for c in range(8):
                        if corner_sep[c] <= m and (best < 0 or corner_sep[c] < corner_sep[best]):
                            best = c
                    z = corner_sep[best]
                    k = _emit(cf, ci, k, i, -1, corner_p[best, 0], corner_p[best, 1], 0.5 * z,
                              0.0, 0.0, -1.0, z, best, 1)
                    corner_sep[best] = 1e300
    for p in range(npairs):
        a = pair_a[p]
        b = pair_b[p]
        if (static[a] or sleeping[a]) and (static[b] or sleeping[b]):
            continue
        if joined.shape[0] > 0:
            key = (a << 21) | (b + 1)
            at = np.searchsorted(joined, key)
            if at < joined.shape[0] and joined[at] == key:
                continue
        m = margin[a] + margin[b]
        sa = shape[a]
        sb = shape[b]
        if sa == SPHERE and sb == SPHERE:
            dx, dy, dz = pos[b, 0] - pos[a, 0], pos[b, 1] - pos[a, 1], pos[b, 2] - pos[a, 2]
            d2 = dx * dx + dy * dy + dz * dz
            rsum = half[a, 0] + half[b, 0]
            if d2 > (rsum + m) ** 2:
                continue
            d = math.sqrt(d2)
            if d > 1e-12:
                nx, ny, nz = dx / d, dy / d, dz / d
            else:
                nx, ny, nz = 0.0, 0.0, 1.0
            sep = d - rsum
            # midway between the two surfaces
            t = half[a, 0] + 0.5 * sep
            k = _emit(cf, ci, k, a, b, pos[a, 0] + nx * t, pos[a, 1] + ny * t, pos[a, 2] + nz * t,
                      nx, ny, nz, sep, 0, 0)
        elif sa == SPHERE or sb == SPHERE:
            s, bx = (a, b) if sa == SPHERE else (b, a)
            ok, px, py, pz, nx, ny, nz, sep = _sphere_box(pos[s], half[s, 0], pos[bx], quat[bx], half[bx], m)
            if not ok:
                continue
            if s == a:  # normal was box -> sphere; it must point from a to b
                nx, ny, nz = -nx, -ny, -nz
            # against a static box the gap follows the sphere's centre alone (the box never turns)
            k = _emit(cf, ci, k, a, b, px, py, pz, nx, ny, nz, sep, 0, 0 if static[bx] else 1)
        else:
            nc = box_box(pos, rot, half, a, b, m, out_p, out_n, out_sep, out_feat, work, iwork)
            for q in range(nc):
                k = _emit(cf, ci, k, a, b, out_p[q, 0], out_p[q, 1], out_p[q, 2],
                          out_n[q, 0], out_n[q, 1], out_n[q, 2], out_sep[q], out_feat[q], 1)
    return k
