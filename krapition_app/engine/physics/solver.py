"""Contact solver: soft-step (TGS-soft, as Box2D v3) sequential impulses with friction, restitution
per material pair, speculative contacts and warm starting. Plus the velocity/position integrators.

Per substep h: integrate velocities, warm start, solve with a soft bias, integrate positions, relax
(solve without bias). After the substeps: restitution. Anchors stay fixed for the frame; the
separation is brought up to date from the current poses every substep.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .contacts_table import (
    APPROACH,
    CA,
    CB,
    CNEW,
    CROT,
    FRICTION,
    GN,
    JN,
    JSUM,
    JT1,
    JT2,
    LAX,
    LAY,
    LAZ,
    LBX,
    LBY,
    LBZ,
    MAXJN,
    NMASS,
    NX,
    NY,
    NZ,
    PX,
    PY,
    PZ,
    RAX,
    RAY,
    RAZ,
    RBX,
    RBY,
    RBZ,
    RESTITUTION,
    SEP,
    T1X,
    T1Y,
    T1Z,
    T2X,
    T2Y,
    T2Z,
    TMASS1,
    TMASS2,
    VN0,
    VT0,
)
from .vecmath import (
    HOT,
    JIT,
    cross,
    make_soft,
    mat_vec_row,
    quat_rotate_inv,
    quat_rotate_row,
    tangent_basis,
)
from .wide import write_lane


@njit(**HOT)
def update_world_inertia(quat, inv_inertia, static, iw) -> None:
    """iw[i] = R diag(inv_inertia) R^T: the inverse inertia in world space for this frame."""
    for i in range(quat.shape[0]):
        if static[i]:
            for p in range(3):
                for q in range(3):
                    iw[i, p, q] = 0.0
            continue
        w, x, y, z = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
        r00, r01, r02 = 1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)
        r10, r11, r12 = 2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)
        r20, r21, r22 = 2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)
        a, b, c = inv_inertia[i, 0], inv_inertia[i, 1], inv_inertia[i, 2]
        iw[i, 0, 0] = r00 * a * r00 + r01 * b * r01 + r02 * c * r02
        iw[i, 0, 1] = r00 * a * r10 + r01 * b * r11 + r02 * c * r12
        iw[i, 0, 2] = r00 * a * r20 + r01 * b * r21 + r02 * c * r22
        iw[i, 1, 0] = r10 * a * r00 + r11 * b * r01 + r12 * c * r02
        iw[i, 1, 1] = r10 * a * r10 + r11 * b * r11 + r12 * c * r12
        iw[i, 1, 2] = r10 * a * r20 + r11 * b * r21 + r12 * c * r22
        iw[i, 2, 0] = r20 * a * r00 + r21 * b * r01 + r22 * c * r02
        iw[i, 2, 1] = r20 * a * r10 + r21 * b * r11 + r22 * c * r12
        iw[i, 2, 2] = r20 * a * r20 + r21 * b * r21 + r22 * c * r22


@njit(**JIT, inline="always")
def _ang_mass(inv_iso, iw, i, rx, ry, rz, dx, dy, dz) -> float:
    """(r x d) . I^-1 (r x d); a sphere's inverse inertia is the scalar the solver applies."""
    cx, cy, cz = cross(rx, ry, rz, dx, dy, dz)
    k = inv_iso[i]
    if k >= 0.0:
        return k * (cx * cx + cy * cy + cz * cz)
    ix, iy, iz = mat_vec_row(iw, i, cx, cy, cz)
    return cx * ix + cy * iy + cz * iz


@njit(**HOT)
def prepare_contacts(cf, ci, nc, pos, quat, vel, angvel, inv_mass, inv_iso, iw, material, ground_material,
                     friction_table, restitution_table, prev_start, prev_other, prev_local, prev_impulses,
                     match_distance, gx, gy, gz, lanes, wf, wi) -> None:
    """Completes each contact row: anchors, effective masses, material coefficients, frame-start
    velocities, and the warm-start impulses of the same feature last frame. A contact with a lane
    in the wide solver (``lanes[c] >= 0``; ``lanes`` is empty when it is off) goes to its chunk,
    and its row keeps only what the passes after the substeps read. (Box manifolds are completed
    here like the scalar rows; ``manifolds.load_lanes`` then copies them into their lanes.)
    Contacts go in contact order even so: reading the rows and last frame's buckets in order saves
    more than streaming the lane writes would (measured: lane order made this pass twice as slow).

    A contact whose separation follows the centres alone (ci CROT = 0: two spheres, a sphere and the
    ground or a static box) is its pair's only point: it inherits last frame's point of the same pair
    wherever that was, and needs no anchors in the body frames. (Matched by anchor, a sphere rolling
    faster than the match distance per frame lost its warm start and reported an impact every
    frame.)"""
    wide = lanes.shape[0] > 0
    for c in range(nc):
        a = ci[c, CA]
        b = ci[c, CB]
        turns = ci[c, CROT] != 0
        px, py, pz = cf[c, PX], cf[c, PY], cf[c, PZ]
        nx, ny, nz = cf[c, NX], cf[c, NY], cf[c, NZ]
        rax, ray, raz = px - pos[a, 0], py - pos[a, 1], pz - pos[a, 2]
        lax = lay = laz = 0.0
        if turns:
            lax, lay, laz = quat_rotate_inv(quat[a], rax, ray, raz)
        ma = inv_mass[a]
        mat_a = material[a]
        vax = vel[a, 0] + angvel[a, 1] * raz - angvel[a, 2] * ray
        vay = vel[a, 1] + angvel[a, 2] * rax - angvel[a, 0] * raz
        vaz = vel[a, 2] + angvel[a, 0] * ray - angvel[a, 1] * rax
        t1x, t1y, t1z, t2x, t2y, t2z = tangent_basis(nx, ny, nz)
        kn = ma + _ang_mass(inv_iso, iw, a, rax, ray, raz, nx, ny, nz)
        k1 = ma + _ang_mass(inv_iso, iw, a, rax, ray, raz, t1x, t1y, t1z)
        k2 = ma + _ang_mass(inv_iso, iw, a, rax, ray, raz, t2x, t2y, t2z)
        if b >= 0:
            rbx, rby, rbz = px - pos[b, 0], py - pos[b, 1], pz - pos[b, 2]
            lbx = lby = lbz = 0.0
            if turns:
                lbx, lby, lbz = quat_rotate_inv(quat[b], rbx, rby, rbz)
            mb = inv_mass[b]
            kn += mb + _ang_mass(inv_iso, iw, b, rbx, rby, rbz, nx, ny, nz)
            k1 += mb + _ang_mass(inv_iso, iw, b, rbx, rby, rbz, t1x, t1y, t1z)
            k2 += mb + _ang_mass(inv_iso, iw, b, rbx, rby, rbz, t2x, t2y, t2z)
            vbx = vel[b, 0] + angvel[b, 1] * rbz - angvel[b, 2] * rby
            vby = vel[b, 1] + angvel[b, 2] * rbx - angvel[b, 0] * rbz
            vbz = vel[b, 2] + angvel[b, 0] * rby - angvel[b, 1] * rbx
            mat_b = material[b]
        else:
            rbx = rby = rbz = 0.0
            lbx, lby, lbz = px, py, pz  # the static world's anchor is fixed
            vbx = vby = vbz = 0.0
            mat_b = ground_material
        cf[c, RAX], cf[c, RAY], cf[c, RAZ] = rax, ray, raz
        cf[c, LAX], cf[c, LAY], cf[c, LAZ] = lax, lay, laz
        cf[c, RBX], cf[c, RBY], cf[c, RBZ] = rbx, rby, rbz
        cf[c, LBX], cf[c, LBY], cf[c, LBZ] = lbx, lby, lbz
        # gravity accelerates only dynamic bodies: against a static body the gap closes at g.n
        ga = 1.0 if ma > 0.0 else 0.0
        gb = 1.0 if b >= 0 and inv_mass[b] > 0.0 else 0.0
        nmass = 1.0 / kn if kn > 0.0 else 0.0
        tmass1 = 1.0 / k1 if k1 > 0.0 else 0.0
        tmass2 = 1.0 / k2 if k2 > 0.0 else 0.0
        friction = friction_table[mat_a, mat_b]
        cf[c, NMASS] = nmass
        cf[c, RESTITUTION] = restitution_table[mat_a, mat_b]
        dvx, dvy, dvz = vbx - vax, vby - vay, vbz - vaz
        vn = dvx * nx + dvy * ny + dvz * nz
        cf[c, VN0] = vn
        tx, ty, tz = dvx - vn * nx, dvy - vn * ny, dvz - vn * nz
        cf[c, VT0] = math.sqrt(tx * tx + ty * ty + tz * tz)
        # warm start: the nearest point of the same pair last frame (by its anchor in a's frame);
        # matching by position, not by clip feature, survives the feature flips of a resting box
        best = -1
        best_d2 = match_distance * match_distance
        if a + 1 < prev_start.shape[0]:
            for idx in range(prev_start[a], prev_start[a + 1]):
                if prev_other[idx] != b:
                    continue
                if not turns:
                    best = idx
                    break
                d2 = ((prev_local[idx, 0] - lax) ** 2 + (prev_local[idx, 1] - lay) ** 2
                      + (prev_local[idx, 2] - laz) ** 2)
                if d2 <= best_d2:
                    best_d2 = d2
                    best = idx
        if best >= 0:
            jn, jt1, jt2 = prev_impulses[best, 0], prev_impulses[best, 1], prev_impulses[best, 2]
            ci[c, CNEW] = 0
        else:
            jn = jt1 = jt2 = 0.0
            ci[c, CNEW] = 1
        lane = lanes[c] if wide else -1
        if lane >= 0:
            write_lane(wf, wi, lane, pos, inv_mass, a, b, (nx, ny, nz), (rax, ray, raz), (rbx, rby, rbz),
                       (lbx, lby, lbz), (nmass, tmass1, tmass2), friction, cf[c, SEP], (jn, jt1, jt2), vn)
            continue
        cf[c, T1X], cf[c, T1Y], cf[c, T1Z] = t1x, t1y, t1z
        cf[c, T2X], cf[c, T2Y], cf[c, T2Z] = t2x, t2y, t2z
        cf[c, GN] = (gb - ga) * (gx * nx + gy * ny + gz * nz)
        cf[c, TMASS1] = tmass1
        cf[c, TMASS2] = tmass2
        cf[c, FRICTION] = friction
        cf[c, APPROACH] = vn
        cf[c, MAXJN] = 0.0
        cf[c, JSUM] = 0.0
        cf[c, JN] = jn
        cf[c, JT1] = jt1
        cf[c, JT2] = jt2


@njit(**JIT, inline="always")
def _apply(vel, angvel, inv_mass, inv_iso, iw, a, b, rax, ray, raz, rbx, rby, rbz, px, py, pz) -> None:
    """Impulse P at the contact: -P on a, +P on b."""
    ma = inv_mass[a]
    if ma > 0.0:
        vel[a, 0] -= ma * px
        vel[a, 1] -= ma * py
        vel[a, 2] -= ma * pz
        cx, cy, cz = cross(rax, ray, raz, px, py, pz)
        k = inv_iso[a]
        if k >= 0.0:
            ix, iy, iz = k * cx, k * cy, k * cz
        else:
            ix, iy, iz = mat_vec_row(iw, a, cx, cy, cz)
        angvel[a, 0] -= ix
        angvel[a, 1] -= iy
        angvel[a, 2] -= iz
    if b >= 0:
        mb = inv_mass[b]
        if mb > 0.0:
            vel[b, 0] += mb * px
            vel[b, 1] += mb * py
            vel[b, 2] += mb * pz
            cx, cy, cz = cross(rbx, rby, rbz, px, py, pz)
            k = inv_iso[b]
            if k >= 0.0:
                ix, iy, iz = k * cx, k * cy, k * cz
            else:
                ix, iy, iz = mat_vec_row(iw, b, cx, cy, cz)
            angvel[b, 0] += ix
            angvel[b, 1] += iy
            angvel[b, 2] += iz


@njit(**JIT, inline="always")
def _separation(cf, ci, c, a, b, pos, quat, nx, ny, nz, rax, ray, raz, rbx, rby, rbz):
    """Contact ``c``'s separation along its normal from the current poses: anchors turn with a box;
    a sphere's separation depends on its centre only (turning its anchor would open a false gap as
    it rolls)."""
    if ci[c, CROT]:
        qax, qay, qaz = quat_rotate_row(quat, a, cf[c, LAX], cf[c, LAY], cf[c, LAZ])
    else:
        qax, qay, qaz = rax, ray, raz
    dx = -(pos[a, 0] + qax)
    dy = -(pos[a, 1] + qay)
    dz = -(pos[a, 2] + qaz)
    if b >= 0:
        if ci[c, CROT]:
            qbx, qby, qbz = quat_rotate_row(quat, b, cf[c, LBX], cf[c, LBY], cf[c, LBZ])
        else:
            qbx, qby, qbz = rbx, rby, rbz
        dx += pos[b, 0] + qbx
        dy += pos[b, 1] + qby
        dz += pos[b, 2] + qbz
    else:
        dx += cf[c, LBX]
        dy += cf[c, LBY]
        dz += cf[c, LBZ]
    return dx * nx + dy * ny + dz * nz + cf[c, SEP]


@njit(**JIT, inline="always")
def _rel_vel(vel, angvel, a, b, rax, ray, raz, rbx, rby, rbz):
    vx = -(vel[a, 0] + angvel[a, 1] * raz - angvel[a, 2] * ray)
    vy = -(vel[a, 1] + angvel[a, 2] * rax - angvel[a, 0] * raz)
    vz = -(vel[a, 2] + angvel[a, 0] * ray - angvel[a, 1] * rax)
    if b >= 0:
        vx += vel[b, 0] + angvel[b, 1] * rbz - angvel[b, 2] * rby
        vy += vel[b, 1] + angvel[b, 2] * rbx - angvel[b, 0] * rbz
        vz += vel[b, 2] + angvel[b, 0] * rby - angvel[b, 1] * rbx
    return vx, vy, vz


@njit(**HOT)
def warm_start_contacts(cf, ci, rows, nrows, vel, angvel, inv_mass, inv_iso, iw) -> None:
    """Applies the warm-start impulses of the contacts ``rows[:nrows]``."""
    for i in range(nrows):
        c = rows[i]
        jn, j1, j2 = cf[c, JN], cf[c, JT1], cf[c, JT2]
        if jn == 0.0 and j1 == 0.0 and j2 == 0.0:
            continue
        px = jn * cf[c, NX] + j1 * cf[c, T1X] + j2 * cf[c, T2X]
        py = jn * cf[c, NY] + j1 * cf[c, T1Y] + j2 * cf[c, T2Y]
        pz = jn * cf[c, NZ] + j1 * cf[c, T1Z] + j2 * cf[c, T2Z]
        _apply(vel, angvel, inv_mass, inv_iso, iw, ci[c, CA], ci[c, CB], cf[c, RAX], cf[c, RAY], cf[c, RAZ],
               cf[c, RBX], cf[c, RBY], cf[c, RBZ], px, py, pz)


@njit(**JIT)
def contact_softness(contact_hertz, sphere_contact_hertz, zeta, h):
    """The soft-step coefficients of the contact passes, one row per value of ci CROT: row 0 for the
    contacts whose gap follows the centres alone (spheres), row 1 for those with a box that turns.
    Each row: bias rate, mass scale, impulse scale, then the same against a fixed body (twice as
    stiff)."""
    soft = np.empty((2, 6))
    for row, hertz in ((0, sphere_contact_hertz), (1, contact_hertz)):
        soft[row, 0], soft[row, 1], soft[row, 2] = make_soft(hertz, zeta, h)
        soft[row, 3], soft[row, 4], soft[row, 5] = make_soft(2.0 * hertz, zeta, h)
    return soft


@njit(**HOT)
def solve_contacts(cf, ci, rows, nrows, pos, quat, vel, angvel, inv_mass, inv_iso, iw, inv_h, use_bias, soft,
                   max_push) -> None:
    """One Gauss-Seidel pass over the contacts ``rows[:nrows]`` (``use_bias`` False: relax), with the
    coefficients of ``contact_softness`` chosen by each contact's kind."""
    for i in range(nrows):
        c = rows[i]
        a = ci[c, CA]
        b = ci[c, CB]
        kind = ci[c, CROT]
        nx, ny, nz = cf[c, NX], cf[c, NY], cf[c, NZ]
        rax, ray, raz = cf[c, RAX], cf[c, RAY], cf[c, RAZ]
        rbx, rby, rbz = cf[c, RBX], cf[c, RBY], cf[c, RBZ]
        s = _separation(cf, ci, c, a, b, pos, quat, nx, ny, nz, rax, ray, raz, rbx, rby, rbz)
        vx, vy, vz = _rel_vel(vel, angvel, a, b, rax, ray, raz, rbx, rby, rbz)
        vn = vx * nx + vy * ny + vz * nz
        bias = 0.0
        ms = 1.0
        isc = 0.0
        if s > 0.0:
            bias = s * inv_h  # speculative: may close the gap this substep, no more
        elif use_bias:
            if inv_mass[a] == 0.0 or b < 0 or inv_mass[b] == 0.0:
                bias = max(soft[kind, 3] * s, -max_push)
                ms = soft[kind, 4]
                isc = soft[kind, 5]
            else:
                bias = max(soft[kind, 0] * s, -max_push)
                ms = soft[kind, 1]
                isc = soft[kind, 2]
        jn_old = cf[c, JN]
        imp = -cf[c, NMASS] * ms * (vn + bias) - isc * jn_old
        jn = max(jn_old + imp, 0.0)
        imp = jn - jn_old
        cf[c, JN] = jn
        if imp > cf[c, MAXJN]:
            cf[c, MAXJN] = imp
        if jn > 0.0:
            # the speed at which the gap actually closed (restitution): free flight from the
            # velocity the bodies had where the gap was s, exact under gravity
            an = cf[c, GN]
            v_ref = vn - an / inv_h if use_bias else vn
            hit = vn
            if s > 0.0:
                hit = -math.sqrt(max(v_ref * v_ref - 2.0 * an * s, 0.0)) if v_ref < 0.0 else v_ref
            if hit < cf[c, APPROACH]:
                cf[c, APPROACH] = hit
        if imp != 0.0:
            _apply(vel, angvel, inv_mass, inv_iso, iw, a, b, rax, ray, raz, rbx, rby, rbz,
                   imp * nx, imp * ny, imp * nz)
        if not use_bias:
            cf[c, JSUM] += jn  # the relax pass ends the substep: count its impulse for the events
        # friction: Coulomb cone clamped on the pair of tangent impulses
        limit = cf[c, FRICTION] * jn
        vx, vy, vz = _rel_vel(vel, angvel, a, b, rax, ray, raz, rbx, rby, rbz)
        t1x, t1y, t1z = cf[c, T1X], cf[c, T1Y], cf[c, T1Z]
        t2x, t2y, t2z = cf[c, T2X], cf[c, T2Y], cf[c, T2Z]
        v1 = vx * t1x + vy * t1y + vz * t1z
        v2 = vx * t2x + vy * t2y + vz * t2z
        o1 = cf[c, JT1]
        o2 = cf[c, JT2]
        n1 = o1 - cf[c, TMASS1] * v1
        n2 = o2 - cf[c, TMASS2] * v2
        mag2 = n1 * n1 + n2 * n2
        if mag2 > limit * limit:
            scale = limit / math.sqrt(mag2) if mag2 > 0.0 else 0.0
            n1 *= scale
            n2 *= scale
        cf[c, JT1] = n1
        cf[c, JT2] = n2
        d1 = n1 - o1
        d2 = n2 - o2
        if d1 != 0.0 or d2 != 0.0:
            _apply(vel, angvel, inv_mass, inv_iso, iw, a, b, rax, ray, raz, rbx, rby, rbz,
                   d1 * t1x + d2 * t2x, d1 * t1y + d2 * t2y, d1 * t1z + d2 * t2z)


@njit(**HOT)
def apply_restitution(cf, ci, nc, vel, angvel, inv_mass, inv_iso, iw, threshold) -> None:
    """After the substeps: contacts hit faster than ``threshold`` leave at e times that speed."""
    for c in range(nc):
        e = cf[c, RESTITUTION]
        approach = cf[c, APPROACH]
        if e == 0.0 or approach > -threshold or cf[c, MAXJN] == 0.0:
            continue
        a = ci[c, CA]
        b = ci[c, CB]
        nx, ny, nz = cf[c, NX], cf[c, NY], cf[c, NZ]
        rax, ray, raz = cf[c, RAX], cf[c, RAY], cf[c, RAZ]
        rbx, rby, rbz = cf[c, RBX], cf[c, RBY], cf[c, RBZ]
        vx, vy, vz = _rel_vel(vel, angvel, a, b, rax, ray, raz, rbx, rby, rbz)
        vn = vx * nx + vy * ny + vz * nz
        jn_old = cf[c, JN]
        imp = -cf[c, NMASS] * (vn + e * approach)
        jn = max(jn_old + imp, 0.0)
        imp = jn - jn_old
        cf[c, JN] = jn
        cf[c, JSUM] += imp
        if imp != 0.0:
            _apply(vel, angvel, inv_mass, inv_iso, iw, a, b, rax, ray, raz, rbx, rby, rbz,
                   imp * nx, imp * ny, imp * nz)


@njit(**HOT)
def integrate_velocities(vel, angvel, inv_mass, sleeping, gx, gy, gz, h, angular_damping, max_speed) -> None:
    damp = 1.0 / (1.0 + h * angular_damping)
    for i in range(vel.shape[0]):
        if inv_mass[i] == 0.0 or sleeping[i]:
            continue
        vel[i, 0] += h * gx
        vel[i, 1] += h * gy
        vel[i, 2] += h * gz
        angvel[i, 0] *= damp
        angvel[i, 1] *= damp
        angvel[i, 2] *= damp
        v2 = vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2
        if v2 > max_speed * max_speed:
            k = max_speed / math.sqrt(v2)
            vel[i, 0] *= k
            vel[i, 1] *= k
            vel[i, 2] *= k
        # at most a quarter turn per substep: larger rates are numerical blow-ups, not physics
        w2 = angvel[i, 0] ** 2 + angvel[i, 1] ** 2 + angvel[i, 2] ** 2
        wmax = 0.5 * math.pi / h
        if w2 > wmax * wmax:
            k = wmax / math.sqrt(w2)
            angvel[i, 0] *= k
            angvel[i, 1] *= k
            angvel[i, 2] *= k


@njit(**HOT)
def integrate_positions(pos, quat, vel, angvel, inv_mass, sleeping, gx, gy, gz, h) -> None:
    # x += h (v - h g / 2): exact for free flight under gravity (the velocity already holds this
    # substep's h g), so heights and bounces do not drift with the step size
    cx, cy, cz = 0.5 * h * gx, 0.5 * h * gy, 0.5 * h * gz
    for i in range(pos.shape[0]):
        if inv_mass[i] == 0.0 or sleeping[i]:
            continue
        pos[i, 0] += h * (vel[i, 0] - cx)
        pos[i, 1] += h * (vel[i, 1] - cy)
        pos[i, 2] += h * (vel[i, 2] - cz)
        wx, wy, wz = angvel[i, 0], angvel[i, 1], angvel[i, 2]
        w, x, y, z = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
        # q' = q + h/2 (0, w) q
        hh = 0.5 * h
        nw = w + hh * (-wx * x - wy * y - wz * z)
        nx = x + hh * (wx * w + wy * z - wz * y)
        ny = y + hh * (wy * w + wz * x - wx * z)
        nz = z + hh * (wz * w + wx * y - wy * x)
        inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        quat[i, 0] = nw * inv
        quat[i, 1] = nx * inv
        quat[i, 2] = ny * inv
        quat[i, 3] = nz * inv


@njit(**HOT)
def project_contacts(cf, ci, nc, pos, quat, inv_mass, inv_iso, iw, fraction, sphere_fraction, allowed,
                     sphere_allowed) -> None:
    """Position projection (NGS, as Box2D 2.x): moves bodies apart by ``fraction`` of each contact's
    penetration beyond ``allowed`` (``sphere_fraction`` and ``sphere_allowed`` for a sphere's
    contact, ci CROT = 0), without touching velocities. Soft contacts alone sag under a heavy pile
    (the spring needs the overlap to carry the weight); this takes the sag out."""
    for c in range(nc):
        turns = ci[c, CROT] != 0
        frac = fraction if turns else sphere_fraction
        if frac == 0.0:
            continue
        a = ci[c, CA]
        b = ci[c, CB]
        allow = allowed if turns else sphere_allowed
        nx, ny, nz = cf[c, NX], cf[c, NY], cf[c, NZ]
        rax, ray, raz = cf[c, RAX], cf[c, RAY], cf[c, RAZ]
        rbx, rby, rbz = cf[c, RBX], cf[c, RBY], cf[c, RBZ]
        s = _separation(cf, ci, c, a, b, pos, quat, nx, ny, nz, rax, ray, raz, rbx, rby, rbz)
        if s >= -allow:
            continue
        lam = -frac * (s + allow) * cf[c, NMASS]
        px, py, pz = lam * nx, lam * ny, lam * nz
        _move(pos, quat, inv_mass, inv_iso, iw, a, -1.0, rax, ray, raz, px, py, pz)
        if b >= 0:
            _move(pos, quat, inv_mass, inv_iso, iw, b, 1.0, rbx, rby, rbz, px, py, pz)


@njit(**JIT, inline="always")
def _move(pos, quat, inv_mass, inv_iso, iw, i, sign, rx, ry, rz, px, py, pz) -> None:
    m = inv_mass[i]
    if m == 0.0:
        return
    pos[i, 0] += sign * m * px
    pos[i, 1] += sign * m * py
    pos[i, 2] += sign * m * pz
    cx, cy, cz = cross(rx, ry, rz, px, py, pz)
    k = inv_iso[i]
    if k >= 0.0:
        tx, ty, tz = k * cx, k * cy, k * cz
    else:
        tx, ty, tz = mat_vec_row(iw, i, cx, cy, cz)
    tx *= 0.5 * sign
    ty *= 0.5 * sign
    tz *= 0.5 * sign
    w, x, y, z = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
    nw = w + (-tx * x - ty * y - tz * z)
    nx = x + (tx * w + ty * z - tz * y)
    ny = y + (ty * w + tz * x - tx * z)
    nz = z + (tz * w + tx * y - ty * x)
    inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
    quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3] = nw * inv, nx * inv, ny * inv, nz * inv
