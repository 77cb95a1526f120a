"""Joint and drag constraints, solved inside the same substeps as the contacts.

Ball-socket: the two anchor points coincide (3 rows, one 3x3 block). Hinge: ball-socket plus two
angular rows that keep the axes parallel, plus an optional angle limit (one-sided, speculative).
Distance: one row along the line between the anchors. Drag: a soft, force-limited point constraint
from a body's grab point to a target (the mouse), as Box2D's mouse joint.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .state import DISTANCE, HINGE
from .vecmath import JIT, cross, invert3, mat_vec, mat_vec_row, quat_rotate_row, tangent_basis


@njit(**JIT, inline="always")
def _apply_linear(vel, angvel, inv_mass, iw, i, sign, rx, ry, rz, px, py, pz) -> None:
    m = inv_mass[i]
    if m == 0.0:
        return
    vel[i, 0] += sign * m * px
    vel[i, 1] += sign * m * py
    vel[i, 2] += sign * m * pz
    cx, cy, cz = cross(rx, ry, rz, px, py, pz)
    ix, iy, iz = mat_vec_row(iw, i, cx, cy, cz)
    angvel[i, 0] += sign * ix
    angvel[i, 1] += sign * iy
    angvel[i, 2] += sign * iz


@njit(**JIT, inline="always")
def _apply_angular(angvel, inv_mass, iw, i, sign, lx, ly, lz) -> None:
    if inv_mass[i] == 0.0:
        return
    ix, iy, iz = mat_vec_row(iw, i, lx, ly, lz)
    angvel[i, 0] += sign * ix
    angvel[i, 1] += sign * iy
    angvel[i, 2] += sign * iz


@njit(**JIT)
def _point_mass(iw, inv_mass, i, rx, ry, rz, k) -> None:
    """k += m I - [r]x I^-1 [r]x  (the point's response to an impulse at it)."""
    m = inv_mass[i]
    if m == 0.0:
        return
    s = np.empty((3, 3))
    s[0, 0], s[0, 1], s[0, 2] = 0.0, -rz, ry
    s[1, 0], s[1, 1], s[1, 2] = rz, 0.0, -rx
    s[2, 0], s[2, 1], s[2, 2] = -ry, rx, 0.0
    ii = iw[i]
    for p in range(3):
        for q in range(3):
            acc = 0.0
            for u in range(3):
                for v in range(3):
                    acc += s[p, u] * ii[u, v] * s[v, q]
            k[p, q] -= acc
        k[p, p] += m


@njit(**JIT, inline="always")
def _anchors(pos, quat, a, b, local_a, local_b, j):
    rax, ray, raz = quat_rotate_row(quat, a, local_a[j, 0], local_a[j, 1], local_a[j, 2])
    if b >= 0:
        rbx, rby, rbz = quat_rotate_row(quat, b, local_b[j, 0], local_b[j, 1], local_b[j, 2])
        pbx, pby, pbz = pos[b, 0] + rbx, pos[b, 1] + rby, pos[b, 2] + rbz
    else:
        rbx = rby = rbz = 0.0
        pbx, pby, pbz = local_b[j, 0], local_b[j, 1], local_b[j, 2]
    return (rax, ray, raz, rbx, rby, rbz, pbx - pos[a, 0] - rax, pby - pos[a, 1] - ray,
            pbz - pos[a, 2] - raz)


@njit(**JIT, inline="always")
def _point_vel(vel, angvel, i, rx, ry, rz):
    return (vel[i, 0] + angvel[i, 1] * rz - angvel[i, 2] * ry,
            vel[i, 1] + angvel[i, 2] * rx - angvel[i, 0] * rz,
            vel[i, 2] + angvel[i, 0] * ry - angvel[i, 1] * rx)


@njit(**JIT, inline="always")
def _axes(quat, a, b, axis_a, axis_b, j):
    ax, ay, az = quat_rotate_row(quat, a, axis_a[j, 0], axis_a[j, 1], axis_a[j, 2])
    if b >= 0:
        bx, by, bz = quat_rotate_row(quat, b, axis_b[j, 0], axis_b[j, 1], axis_b[j, 2])
    else:
        bx, by, bz = axis_b[j, 0], axis_b[j, 1], axis_b[j, 2]
    return ax, ay, az, bx, by, bz


@njit(**JIT)
def hinge_angle(quat, a, b, axis_a, ref_a, ref_b, j) -> float:
    """Angle of b relative to a about the hinge axis (radians, -pi..pi)."""
    ax, ay, az = quat_rotate_row(quat, a, axis_a[j, 0], axis_a[j, 1], axis_a[j, 2])
    ux, uy, uz = quat_rotate_row(quat, a, ref_a[j, 0], ref_a[j, 1], ref_a[j, 2])
    if b >= 0:
        vx, vy, vz = quat_rotate_row(quat, b, ref_b[j, 0], ref_b[j, 1], ref_b[j, 2])
    else:
        vx, vy, vz = ref_b[j, 0], ref_b[j, 1], ref_b[j, 2]
    cx, cy, cz = cross(ux, uy, uz, vx, vy, vz)
    return math.atan2(cx * ax + cy * ay + cz * az, ux * vx + uy * vy + uz * vz)


@njit(**JIT)
def warm_start_joints(kind, ja, jb, local_a, local_b, axis_a, axis_b, impulse, pos, quat, vel, angvel,
                      inv_mass, iw) -> None:
    for j in range(kind.shape[0]):
        a = ja[j]
        b = jb[j]
        rax, ray, raz, rbx, rby, rbz, cx, cy, cz = _anchors(pos, quat, a, b, local_a, local_b, j)
        if kind[j] == DISTANCE:
            d = math.sqrt(cx * cx + cy * cy + cz * cz)
            if d < 1e-9:
                continue
            p = impulse[j, 6] / d
            px, py, pz = p * cx, p * cy, p * cz
        else:
            px, py, pz = impulse[j, 0], impulse[j, 1], impulse[j, 2]
        _apply_linear(vel, angvel, inv_mass, iw, a, -1.0, rax, ray, raz, px, py, pz)
        if b >= 0:
            _apply_linear(vel, angvel, inv_mass, iw, b, 1.0, rbx, rby, rbz, px, py, pz)
        if kind[j] == HINGE:
            ax, ay, az, _bx, _by, _bz = _axes(quat, a, b, axis_a, axis_b, j)
            t1x, t1y, t1z, t2x, t2y, t2z = tangent_basis(ax, ay, az)
            lim = impulse[j, 5] - impulse[j, 6]  # lower pushes +axis, upper pushes -axis
            lx = impulse[j, 3] * t1x + impulse[j, 4] * t2x + lim * ax
            ly = impulse[j, 3] * t1y + impulse[j, 4] * t2y + lim * ay
            lz = impulse[j, 3] * t1z + impulse[j, 4] * t2z + lim * az
            _apply_angular(angvel, inv_mass, iw, a, -1.0, lx, ly, lz)
            if b >= 0:
                _apply_angular(angvel, inv_mass, iw, b, 1.0, lx, ly, lz)


@njit(**JIT)
def solve_joints(kind, ja, jb, local_a, local_b, axis_a, axis_b, ref_a, ref_b, limits, has_limit, length,
                 impulse, pos, quat, vel, angvel, inv_mass, iw, inv_h, use_bias, bias_rate, mass_scale,
                 impulse_scale) -> None:
    k = np.empty((3, 3))
    kinv = np.empty((3, 3))
    for j in range(kind.shape[0]):
        a = ja[j]
        b = jb[j]
        br, ms, isc = (bias_rate, mass_scale, impulse_scale) if use_bias else (0.0, 1.0, 0.0)
        if kind[j] == HINGE:
            ax, ay, az, bx, by, bz = _axes(quat, a, b, axis_a, axis_b, j)
            # angle limits first (they are inequalities; the point rows then see their effect)
            if has_limit[j]:
                ix, iy, iz = mat_vec_row(iw, a, ax, ay, az)
                kk = ax * ix + ay * iy + az * iz
                if b >= 0:
                    ix, iy, iz = mat_vec_row(iw, b, ax, ay, az)
                    kk += ax * ix + ay * iy + az * iz
                axial_mass = 1.0 / kk if kk > 0.0 else 0.0
                angle = hinge_angle(quat, a, b, axis_a, ref_a, ref_b, j)
                for side in range(2):
                    c = angle - limits[j, 0] if side == 0 else limits[j, 1] - angle
                    sgn = 1.0 if side == 0 else -1.0
                    bias, lms, lis = 0.0, 1.0, 0.0
                    if c > 0.0:
                        bias = c * inv_h
                    elif use_bias:
                        bias, lms, lis = br * c, ms, isc
                    wr = -(angvel[a, 0] * ax + angvel[a, 1] * ay + angvel[a, 2] * az)
                    if b >= 0:
                        wr += angvel[b, 0] * ax + angvel[b, 1] * ay + angvel[b, 2] * az
                    cdot = sgn * wr
                    old = impulse[j, 5 + side]
                    imp = -axial_mass * lms * (cdot + bias) - lis * old
                    new = max(old + imp, 0.0)
                    imp = new - old
                    impulse[j, 5 + side] = new
                    _apply_angular(angvel, inv_mass, iw, a, -sgn * imp, ax, ay, az)
                    if b >= 0:
                        _apply_angular(angvel, inv_mass, iw, b, sgn * imp, ax, ay, az)
            # keep the axes parallel: rotation error about two directions normal to the axis
            ex, ey, ez = cross(ax, ay, az, bx, by, bz)
            t1x, t1y, t1z, t2x, t2y, t2z = tangent_basis(ax, ay, az)
            for r in range(2):
                tx, ty, tz = (t1x, t1y, t1z) if r == 0 else (t2x, t2y, t2z)
                ix, iy, iz = mat_vec_row(iw, a, tx, ty, tz)
                kk = tx * ix + ty * iy + tz * iz
                if b >= 0:
                    ix, iy, iz = mat_vec_row(iw, b, tx, ty, tz)
                    kk += tx * ix + ty * iy + tz * iz
                if kk == 0.0:
                    continue
                c = ex * tx + ey * ty + ez * tz
                cdot = -(angvel[a, 0] * tx + angvel[a, 1] * ty + angvel[a, 2] * tz)
                if b >= 0:
                    cdot += angvel[b, 0] * tx + angvel[b, 1] * ty + angvel[b, 2] * tz
                imp = -ms / kk * (cdot + br * c) - isc * impulse[j, 3 + r]
                impulse[j, 3 + r] += imp
                _apply_angular(angvel, inv_mass, iw, a, -imp, tx, ty, tz)
                if b >= 0:
                    _apply_angular(angvel, inv_mass, iw, b, imp, tx, ty, tz)
        rax, ray, raz, rbx, rby, rbz, cx, cy, cz = _anchors(pos, quat, a, b, local_a, local_b, j)
        vax, vay, vaz = _point_vel(vel, angvel, a, rax, ray, raz)
        if b >= 0:
            vbx, vby, vbz = _point_vel(vel, angvel, b, rbx, rby, rbz)
        else:
            vbx = vby = vbz = 0.0
        dvx, dvy, dvz = vbx - vax, vby - vay, vbz - vaz
        if kind[j] == DISTANCE:
            d = math.sqrt(cx * cx + cy * cy + cz * cz)
            if d < 1e-9:
                continue
            ux, uy, uz = cx / d, cy / d, cz / d
            kk = inv_mass[a] + _ang(iw, inv_mass, a, rax, ray, raz, ux, uy, uz)
            if b >= 0:
                kk += inv_mass[b] + _ang(iw, inv_mass, b, rbx, rby, rbz, ux, uy, uz)
            if kk == 0.0:
                continue
            c = d - length[j]
            cdot = dvx * ux + dvy * uy + dvz * uz
            imp = -ms / kk * (cdot + br * c) - isc * impulse[j, 6]
            impulse[j, 6] += imp
            px, py, pz = imp * ux, imp * uy, imp * uz
        else:  # BALL_SOCKET and the point part of HINGE
            for p in range(3):
                for q in range(3):
                    k[p, q] = 0.0
            _point_mass(iw, inv_mass, a, rax, ray, raz, k)
            if b >= 0:
                _point_mass(iw, inv_mass, b, rbx, rby, rbz, k)
            invert3(k, kinv)
            rx = dvx + br * cx
            ry = dvy + br * cy
            rz = dvz + br * cz
            sx, sy, sz = mat_vec(kinv, rx, ry, rz)
            px = -ms * sx - isc * impulse[j, 0]
            py = -ms * sy - isc * impulse[j, 1]
            pz = -ms * sz - isc * impulse[j, 2]
            impulse[j, 0] += px
            impulse[j, 1] += py
            impulse[j, 2] += pz
        _apply_linear(vel, angvel, inv_mass, iw, a, -1.0, rax, ray, raz, px, py, pz)
        if b >= 0:
            _apply_linear(vel, angvel, inv_mass, iw, b, 1.0, rbx, rby, rbz, px, py, pz)


@njit(**JIT, inline="always")
def _ang(iw, inv_mass, i, rx, ry, rz, ux, uy, uz) -> float:
    if inv_mass[i] == 0.0:
        return 0.0
    cx, cy, cz = cross(rx, ry, rz, ux, uy, uz)
    ix, iy, iz = mat_vec_row(iw, i, cx, cy, cz)
    return cx * ix + cy * iy + cz * iz


@njit(**JIT)
def solve_drags(body, local, target, impulse, max_impulse, pos, quat, vel, angvel, inv_mass, iw,
                bias_rate, mass_scale, impulse_scale, angular_damping, h) -> None:
    """Soft spring from each dragged body's grab point to its target; the accumulated impulse per
    substep is capped (max_impulse), so a drag cannot fling a heavy pile through the floor."""
    k = np.empty((3, 3))
    kinv = np.empty((3, 3))
    for d in range(body.shape[0]):
        i = body[d]
        if inv_mass[i] == 0.0:
            continue
        rx, ry, rz = quat_rotate_row(quat, i, local[d, 0], local[d, 1], local[d, 2])
        cx = pos[i, 0] + rx - target[d, 0]
        cy = pos[i, 1] + ry - target[d, 1]
        cz = pos[i, 2] + rz - target[d, 2]
        vx, vy, vz = _point_vel(vel, angvel, i, rx, ry, rz)
        for p in range(3):
            for q in range(3):
                k[p, q] = 0.0
        _point_mass(iw, inv_mass, i, rx, ry, rz, k)
        invert3(k, kinv)
        sx, sy, sz = mat_vec(kinv, vx + bias_rate * cx, vy + bias_rate * cy, vz + bias_rate * cz)
        ox, oy, oz = impulse[d, 0], impulse[d, 1], impulse[d, 2]
        nx = ox - mass_scale * sx - impulse_scale * ox
        ny = oy - mass_scale * sy - impulse_scale * oy
        nz = oz - mass_scale * sz - impulse_scale * oz
        mag = math.sqrt(nx * nx + ny * ny + nz * nz)
        if mag > max_impulse[d]:
            f = max_impulse[d] / mag
            nx *= f
            ny *= f
            nz *= f
        impulse[d, 0], impulse[d, 1], impulse[d, 2] = nx, ny, nz
        _apply_linear(vel, angvel, inv_mass, iw, i, 1.0, rx, ry, rz, nx - ox, ny - oy, nz - oz)
        damp = 1.0 / (1.0 + h * angular_damping)
        angvel[i, 0] *= damp
        angvel[i, 1] *= damp
        angvel[i, 2] *= damp



@njit(**JIT)
def warm_start_drags(body, local, impulse, quat, vel, angvel, inv_mass, iw) -> None:
    for d in range(body.shape[0]):
        i = body[d]
        rx, ry, rz = quat_rotate_row(quat, i, local[d, 0], local[d, 1], local[d, 2])
        _apply_linear(vel, angvel, inv_mass, iw, i, 1.0, rx, ry, rz,
                      impulse[d, 0], impulse[d, 1], impulse[d, 2])


@njit(**JIT, inline="always")
def _nudge(pos, quat, inv_mass, iw, i, sign, rx, ry, rz, px, py, pz) -> None:
    """Moves body i as if a position-level impulse P acted at r (no velocity change)."""
    m = inv_mass[i]
    if m == 0.0:
        return
    pos[i, 0] += sign * m * px
    pos[i, 1] += sign * m * py
    pos[i, 2] += sign * m * pz
    cx, cy, cz = cross(rx, ry, rz, px, py, pz)
    tx, ty, tz = mat_vec_row(iw, i, cx, cy, cz)
    tx *= sign
    ty *= sign
    tz *= sign
    w, x, y, z = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
    nw = w + 0.5 * (-tx * x - ty * y - tz * z)
    nx = x + 0.5 * (tx * w + ty * z - tz * y)
    ny = y + 0.5 * (ty * w + tz * x - tx * z)
    nz = z + 0.5 * (tz * w + tx * y - ty * x)
    inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
    quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3] = nw * inv, nx * inv, ny * inv, nz * inv


@njit(**JIT)
def project_joints(kind, ja, jb, local_a, local_b, length, pos, quat, inv_mass, iw, fraction) -> None:
    """Position projection (NGS): removes ``fraction`` of each joint's remaining position error
    directly, so chains do not stretch under load the way soft constraints alone would let them."""
    k = np.empty((3, 3))
    kinv = np.empty((3, 3))
    for j in range(kind.shape[0]):
        a = ja[j]
        b = jb[j]
        rax, ray, raz, rbx, rby, rbz, cx, cy, cz = _anchors(pos, quat, a, b, local_a, local_b, j)
        if kind[j] == DISTANCE:
            d = math.sqrt(cx * cx + cy * cy + cz * cz)
            if d < 1e-9:
                continue
            ux, uy, uz = cx / d, cy / d, cz / d
            kk = inv_mass[a] + _ang(iw, inv_mass, a, rax, ray, raz, ux, uy, uz)
            if b >= 0:
                kk += inv_mass[b] + _ang(iw, inv_mass, b, rbx, rby, rbz, ux, uy, uz)
            if kk == 0.0:
                continue
            lam = -fraction * (d - length[j]) / kk
            px, py, pz = lam * ux, lam * uy, lam * uz
        else:
            for p in range(3):
                for q in range(3):
                    k[p, q] = 0.0
            _point_mass(iw, inv_mass, a, rax, ray, raz, k)
            if b >= 0:
                _point_mass(iw, inv_mass, b, rbx, rby, rbz, k)
            invert3(k, kinv)
            sx, sy, sz = mat_vec(kinv, cx, cy, cz)
            px, py, pz = -fraction * sx, -fraction * sy, -fraction * sz
        _nudge(pos, quat, inv_mass, iw, a, -1.0, rax, ray, raz, px, py, pz)
        if b >= 0:
            _nudge(pos, quat, inv_mass, iw, b, 1.0, rbx, rby, rbz, px, py, pz)


@njit(**JIT)
def _solve_dense(a, rhs, n) -> None:
    """Solves a x = rhs in place (rhs becomes x) by Gaussian elimination with partial pivoting."""
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(a[r, col]) > abs(a[piv, col]):
                piv = r
        if abs(a[piv, col]) < 1e-300:
            continue
        if piv != col:
            for c in range(n):
                a[col, c], a[piv, c] = a[piv, c], a[col, c]
            rhs[col], rhs[piv] = rhs[piv], rhs[col]
        inv = 1.0 / a[col, col]
        for r in range(col + 1, n):
            f = a[r, col] * inv
            if f != 0.0:
                for c in range(col, n):
                    a[r, c] -= f * a[col, c]
                rhs[r] -= f * rhs[col]
    for col in range(n - 1, -1, -1):
        acc = rhs[col]
        for c in range(col + 1, n):
            acc -= a[col, c] * rhs[c]
        rhs[col] = acc / a[col, col] if abs(a[col, col]) > 1e-300 else 0.0


@njit(**JIT)
def project_points_direct(kind, ja, jb, local_a, local_b, pos, quat, inv_mass, iw) -> None:
    """Position projection of all point rows (ball-socket and hinge anchors) solved together:
    (J M^-1 J^T) lambda = -C, one linear solve. Chains converge in one pass where Gauss-Seidel
    would need ~n^2 sweeps. Only for a few dozen joints (the matrix is dense)."""
    rows = np.empty(kind.shape[0], dtype=np.int64)
    m = 0
    for j in range(kind.shape[0]):
        if kind[j] != DISTANCE:
            rows[m] = j
            m += 1
    if m == 0:
        return
    r = np.empty((m, 6))  # rA, rB per point joint
    c = np.empty(3 * m)
    for p in range(m):
        j = rows[p]
        rax, ray, raz, rbx, rby, rbz, cx, cy, cz = _anchors(pos, quat, ja[j], jb[j], local_a, local_b, j)
        r[p, 0], r[p, 1], r[p, 2], r[p, 3], r[p, 4], r[p, 5] = rax, ray, raz, rbx, rby, rbz
        c[3 * p], c[3 * p + 1], c[3 * p + 2] = -cx, -cy, -cz
    big = np.zeros((3 * m, 3 * m))
    blk = np.empty((3, 3))
    sj = np.empty((3, 3))
    sk = np.empty((3, 3))
    for p in range(m):
        for q in range(p, m):
            # every body the two joints share adds sign_p sign_q (m I - [r_p]x I^-1 [r_q]x)
            jp, jq = rows[p], rows[q]
            for side_p in range(2):
                bp = ja[jp] if side_p == 0 else jb[jp]
                if bp < 0 or inv_mass[bp] == 0.0:
                    continue
                for side_q in range(2):
                    bq = ja[jq] if side_q == 0 else jb[jq]
                    if bq != bp:
                        continue
                    sign = (-1.0 if side_p == 0 else 1.0) * (-1.0 if side_q == 0 else 1.0)
                    o = 3 * side_p
                    _skew(r[p, o], r[p, o + 1], r[p, o + 2], sj)
                    o = 3 * side_q
                    _skew(r[q, o], r[q, o + 1], r[q, o + 2], sk)
                    ii = iw[bp]
                    for u in range(3):
                        for v in range(3):
                            acc = 0.0
                            for x in range(3):
                                for y in range(3):
                                    acc += sj[u, x] * ii[x, y] * sk[y, v]
                            blk[u, v] = -acc
                        blk[u, u] += inv_mass[bp]
                    for u in range(3):
                        for v in range(3):
                            big[3 * p + u, 3 * q + v] += sign * blk[u, v]
                            if q != p:
                                big[3 * q + v, 3 * p + u] += sign * blk[u, v]
    _solve_dense(big, c, 3 * m)
    for p in range(m):
        j = rows[p]
        px, py, pz = c[3 * p], c[3 * p + 1], c[3 * p + 2]
        _nudge(pos, quat, inv_mass, iw, ja[j], -1.0, r[p, 0], r[p, 1], r[p, 2], px, py, pz)
        if jb[j] >= 0:
            _nudge(pos, quat, inv_mass, iw, jb[j], 1.0, r[p, 3], r[p, 4], r[p, 5], px, py, pz)


@njit(**JIT, inline="always")
def _skew(x, y, z, s) -> None:
    s[0, 0], s[0, 1], s[0, 2] = 0.0, -z, y
    s[1, 0], s[1, 1], s[1, 2] = z, 0.0, -x
    s[2, 0], s[2, 1], s[2, 2] = -y, x, 0.0
