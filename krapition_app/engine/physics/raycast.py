"""Ray casting against every body (viewport picking)."""

from __future__ import annotations

import math

from numba import njit

from .state import SPHERE
from .vecmath import JIT, quat_rotate, quat_rotate_inv


@njit(**JIT)
def raycast(pos, quat, shape, half, ox, oy, oz, dx, dy, dz, max_distance):
    """Nearest hit of the ray origin + t * dir (dir unit, 0 <= t <= max_distance).
    Returns (row, t, normal x, y, z); row is -1 when nothing is hit."""
    best = -1
    best_t = max_distance
    bnx = bny = bnz = 0.0
    for i in range(pos.shape[0]):
        if shape[i] == SPHERE:
            r = half[i, 0]
            mx, my, mz = ox - pos[i, 0], oy - pos[i, 1], oz - pos[i, 2]
            b = mx * dx + my * dy + mz * dz
            c = mx * mx + my * my + mz * mz - r * r
            if c > 0.0 and b > 0.0:
                continue
            disc = b * b - c
            if disc < 0.0:
                continue
            t = max(-b - math.sqrt(disc), 0.0)
            if t < best_t:
                best_t = t
                best = i
                hx, hy, hz = ox + t * dx - pos[i, 0], oy + t * dy - pos[i, 1], oz + t * dz - pos[i, 2]
                inv = 1.0 / max(math.sqrt(hx * hx + hy * hy + hz * hz), 1e-12)
                bnx, bny, bnz = hx * inv, hy * inv, hz * inv
        else:
            # slab test in the box frame
            lox, loy, loz = quat_rotate_inv(quat[i], ox - pos[i, 0], oy - pos[i, 1], oz - pos[i, 2])
            ldx, ldy, ldz = quat_rotate_inv(quat[i], dx, dy, dz)
            tmin = 0.0
            tmax = best_t
            axis = -1
            sgn = 0.0
            hit = True
            for k in range(3):
                o = lox if k == 0 else (loy if k == 1 else loz)
                d = ldx if k == 0 else (ldy if k == 1 else ldz)
                h = half[i, k]
                if abs(d) < 1e-15:
                    if o < -h or o > h:
                        hit = False
                        break
                    continue
                t1 = (-h - o) / d
                t2 = (h - o) / d
                s = -1.0
                if t1 > t2:
                    t1, t2 = t2, t1
                    s = 1.0
                if t1 > tmin:
                    tmin = t1
                    axis = k
                    sgn = s
                tmax = min(tmax, t2)
                if tmin > tmax:
                    hit = False
                    break
            if hit and tmin < best_t:
                best_t = tmin
                best = i
                nlx = sgn if axis == 0 else 0.0
                nly = sgn if axis == 1 else 0.0
                nlz = sgn if axis == 2 else 0.0
                if axis < 0:  # origin inside the box
                    nlx, nly, nlz = -ldx, -ldy, -ldz
                bnx, bny, bnz = quat_rotate(quat[i], nlx, nly, nlz)
    return best, best_t, bnx, bny, bnz
