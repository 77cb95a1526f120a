"""Box-box contact: separating-axis test over the 15 axes, then face clipping (up to 4 points) or a
single edge-edge point. Speculative: configurations separated by less than ``margin`` still produce
points, with positive separation."""

from __future__ import annotations

import math

from numba import njit

from .vecmath import HOT

# absolute tolerances that make the choice of axis stable from frame to frame (less jitter)
_FACE_TOL = 0.0005
_EDGE_TOL = 0.001


@njit(**HOT)
def box_box(ca, ra, ha, cb, rb, hb, margin, out_p, out_n, out_sep, out_feat, work, iwork) -> int:
    """Contacts between boxes A and B (centres ca, cb; rotation matrices ra, rb whose columns are
    the box axes; half extents ha, hb). Writes points, the normal from A to B, separations and
    feature ids into the out arrays (at least 4 rows); returns the number of points. ``work``
    (float, 40 x 3) and ``iwork`` (int, 40) are scratch space, so a pair allocates nothing."""
    dx, dy, dz = cb[0] - ca[0], cb[1] - ca[1], cb[2] - ca[2]
    # c[i, j] = dot(a_i, b_j)
    c = work[0:3]
    absc = work[3:6]
    for i in range(3):
        for j in range(3):
            c[i, j] = ra[0, i] * rb[0, j] + ra[1, i] * rb[1, j] + ra[2, i] * rb[2, j]
            absc[i, j] = abs(c[i, j]) + 1e-12
    best_a = -1e30
    axis_a = 0
    for i in range(3):
        d = dx * ra[0, i] + dy * ra[1, i] + dz * ra[2, i]
        r = ha[i] + hb[0] * absc[i, 0] + hb[1] * absc[i, 1] + hb[2] * absc[i, 2]
        s = abs(d) - r
        if s > margin:
            return 0
        if s > best_a:
            best_a = s
            axis_a = i
    best_b = -1e30
    axis_b = 0
    for j in range(3):
        d = dx * rb[0, j] + dy * rb[1, j] + dz * rb[2, j]
        r = hb[j] + ha[0] * absc[0, j] + ha[1] * absc[1, j] + ha[2] * absc[2, j]
        s = abs(d) - r
        if s > margin:
            return 0
        if s > best_b:
            best_b = s
            axis_b = j
    best_e = -1e30
    edge_i = 0
    edge_j = 0
    enx = eny = enz = 0.0
    for i in range(3):
        for j in range(3):
            # axis = a_i x b_j
            ax = ra[1, i] * rb[2, j] - ra[2, i] * rb[1, j]
            ay = ra[2, i] * rb[0, j] - ra[0, i] * rb[2, j]
            az = ra[0, i] * rb[1, j] - ra[1, i] * rb[0, j]
            length = math.sqrt(ax * ax + ay * ay + az * az)
            if length < 1e-5:
                continue
            ax /= length
            ay /= length
            az /= length
            r = 0.0
            for k in range(3):
                r += ha[k] * abs(ax * ra[0, k] + ay * ra[1, k] + az * ra[2, k])
                r += hb[k] * abs(ax * rb[0, k] + ay * rb[1, k] + az * rb[2, k])
            d = dx * ax + dy * ay + dz * az
            s = abs(d) - r
            if s > margin:
                return 0
            if s > best_e:
                best_e = s
                edge_i = i
                edge_j = j
                sign = 1.0 if d >= 0.0 else -1.0
                enx, eny, enz = ax * sign, ay * sign, az * sign
    best_face = max(best_a, best_b)
    if best_e > best_face + _EDGE_TOL:
        return _edge_contact(ca, ra, ha, cb, rb, hb, edge_i, edge_j, enx, eny, enz, margin,
                             out_p, out_n, out_sep, out_feat)
    if best_b > best_a + _FACE_TOL:
        count = _face_contact(cb, rb, hb, ca, ra, ha, axis_b, margin, out_p, out_n, out_sep, out_feat,
                              work, iwork)
        for k in range(count):  # reference was B: the normal must point from A to B
            out_n[k, 0] = -out_n[k, 0]
            out_n[k, 1] = -out_n[k, 1]
            out_n[k, 2] = -out_n[k, 2]
            out_feat[k] += 192
        return count
    return _face_contact(ca, ra, ha, cb, rb, hb, axis_a, margin, out_p, out_n, out_sep, out_feat,
                         work, iwork)


@njit(**HOT)
def _edge_contact(ca, ra, ha, cb, rb, hb, i, j, nx, ny, nz, margin, out_p, out_n, out_sep, out_feat) -> int:
    # the edge of A furthest along n, and the edge of B furthest along -n
    pax, pay, paz = ca[0], ca[1], ca[2]
    pbx, pby, pbz = cb[0], cb[1], cb[2]
    for k in range(3):
        if k != i:
            s = 1.0 if nx * ra[0, k] + ny * ra[1, k] + nz * ra[2, k] > 0.0 else -1.0
            pax += s * ha[k] * ra[0, k]
            pay += s * ha[k] * ra[1, k]
            paz += s * ha[k] * ra[2, k]
        if k != j:
            s = -1.0 if nx * rb[0, k] + ny * rb[1, k] + nz * rb[2, k] > 0.0 else 1.0
            pbx += s * hb[k] * rb[0, k]
            pby += s * hb[k] * rb[1, k]
            pbz += s * hb[k] * rb[2, k]
    # closest points of the lines pa + s u and pb + t v, clamped to the edges
    ux, uy, uz = ra[0, i], ra[1, i], ra[2, i]
    vx, vy, vz = rb[0, j], rb[1, j], rb[2, j]
    rx, ry, rz = pax - pbx, pay - pby, paz - pbz
    b = ux * vx + uy * vy + uz * vz
    cc = ux * rx + uy * ry + uz * rz
    f = vx * rx + vy * ry + vz * rz
    denom = 1.0 - b * b
    s = 0.0
    if denom > 1e-12:
        s = (b * f - cc) / denom
    s = min(max(s, -ha[i]), ha[i])
    t = b * s + f
    t = min(max(t, -hb[j]), hb[j])
    s = min(max(b * t - cc, -ha[i]), ha[i])
    qax, qay, qaz = pax + s * ux, pay + s * uy, paz + s * uz
    qbx, qby, qbz = pbx + t * vx, pby + t * vy, pbz + t * vz
    sep = (qbx - qax) * nx + (qby - qay) * ny + (qbz - qaz) * nz
    if sep > margin:
        return 0
    out_p[0, 0] = 0.5 * (qax + qbx)
    out_p[0, 1] = 0.5 * (qay + qby)
    out_p[0, 2] = 0.5 * (qaz + qbz)
    out_n[0, 0] = nx
    out_n[0, 1] = ny
    out_n[0, 2] = nz
    out_sep[0] = sep
    out_feat[0] = 384 + 3 * i + j
    return 1


@njit(**HOT)
def _face_contact(cr, rr, hr, ci, ri, hi, k, margin, out_p, out_n, out_sep, out_feat, work, iwork) -> int:
    """Reference face: face k of box R facing box I. Clips I's most anti-parallel face against the
    side planes of the reference face."""
    d = (ci[0] - cr[0]) * rr[0, k] + (ci[1] - cr[1]) * rr[1, k] + (ci[2] - cr[2]) * rr[2, k]
    sgn = 1.0 if d >= 0.0 else -1.0
    nx, ny, nz = sgn * rr[0, k], sgn * rr[1, k], sgn * rr[2, k]
    # incident face: most anti-parallel to n
    best = -1.0
    m = 0
    for j in range(3):
        dd = abs(nx * ri[0, j] + ny * ri[1, j] + nz * ri[2, j])
        if dd > best:
            best = dd
            m = j
    isg = -1.0 if nx * ri[0, m] + ny * ri[1, m] + nz * ri[2, m] > 0.0 else 1.0
    u = (m + 1) % 3
    v = (m + 2) % 3
    fx = ci[0] + isg * hi[m] * ri[0, m]
    fy = ci[1] + isg * hi[m] * ri[1, m]
    fz = ci[2] + isg * hi[m] * ri[2, m]
    poly = work[6:22]
    ids = iwork[0:16]
    signs_u = (1.0, -1.0, -1.0, 1.0)
    signs_v = (1.0, 1.0, -1.0, -1.0)
    for q in range(4):
        su = signs_u[q] * hi[u]
        sv = signs_v[q] * hi[v]
        poly[q, 0] = fx + su * ri[0, u] + sv * ri[0, v]
        poly[q, 1] = fy + su * ri[1, u] + sv * ri[1, v]
        poly[q, 2] = fz + su * ri[2, u] + sv * ri[2, v]
        ids[q] = q
    count = 4
    tmp = work[22:38]
    tmp_ids = iwork[16:32]
    # side planes of the reference face: +-axis ru and rv with offsets
    ru = (k + 1) % 3
    rv = (k + 2) % 3
    plane = 0
    for ax in (ru, rv):
        for s in (1.0, -1.0):
            px, py, pz = s * rr[0, ax], s * rr[1, ax], s * rr[2, ax]
            off = px * cr[0] + py * cr[1] + pz * cr[2] + hr[ax]
            out_count = 0
            for q in range(count):
                q2 = (q + 1) % count
                d1 = px * poly[q, 0] + py * poly[q, 1] + pz * poly[q, 2] - off
                d2 = px * poly[q2, 0] + py * poly[q2, 1] + pz * poly[q2, 2] - off
                if d1 <= 0.0:
                    tmp[out_count, 0] = poly[q, 0]
                    tmp[out_count, 1] = poly[q, 1]
                    tmp[out_count, 2] = poly[q, 2]
                    tmp_ids[out_count] = ids[q]
                    out_count += 1
                if (d1 <= 0.0) != (d2 <= 0.0):
                    t = d1 / (d1 - d2)
                    tmp[out_count, 0] = poly[q, 0] + t * (poly[q2, 0] - poly[q, 0])
                    tmp[out_count, 1] = poly[q, 1] + t * (poly[q2, 1] - poly[q, 1])
                    tmp[out_count, 2] = poly[q, 2] + t * (poly[q2, 2] - poly[q, 2])
                    tmp_ids[out_count] = 8 + plane * 8 + (ids[q] & 7)
                    out_count += 1
            for q in range(out_count):
                poly[q, 0] = tmp[q, 0]
                poly[q, 1] = tmp[q, 1]
                poly[q, 2] = tmp[q, 2]
                ids[q] = tmp_ids[q]
            count = out_count
            plane += 1
            if count == 0:
                return 0
    # separation of each clipped point from the reference face
    rfx = cr[0] + hr[k] * nx
    rfy = cr[1] + hr[k] * ny
    rfz = cr[2] + hr[k] * nz
    seps = work[22:38, 0]  # the clipping buffer is free again: reuse it for the separations
    keep = 0
    for q in range(count):
        sep = (poly[q, 0] - rfx) * nx + (poly[q, 1] - rfy) * ny + (poly[q, 2] - rfz) * nz
        if sep <= margin:
            poly[keep, 0] = poly[q, 0]
            poly[keep, 1] = poly[q, 1]
            poly[keep, 2] = poly[q, 2]
            ids[keep] = ids[q]
            seps[keep] = sep
            keep += 1
    chosen = iwork[32:36]
    nchosen = _reduce(poly, seps, keep, nx, ny, nz, chosen)
    feat_base = (k * 2 + (1 if sgn > 0 else 0)) * 32
    for q in range(nchosen):
        p = chosen[q]
        sep = seps[p]
        out_p[q, 0] = poly[p, 0] - 0.5 * sep * nx
        out_p[q, 1] = poly[p, 1] - 0.5 * sep * ny
        out_p[q, 2] = poly[p, 2] - 0.5 * sep * nz
        out_n[q, 0] = nx
        out_n[q, 1] = ny
        out_n[q, 2] = nz
        out_sep[q] = sep
        out_feat[q] = feat_base + ids[p]
    return nchosen


@njit(**HOT)
def _reduce(poly, seps, count, nx, ny, nz, chosen) -> int:
    """Keeps at most 4 points that span the manifold: the deepest, the farthest from it, then the
    ones that make the largest triangle on each side of that diagonal."""
    if count <= 4:
        for q in range(count):
            chosen[q] = q
        return count
    a = 0
    for q in range(1, count):
        if seps[q] < seps[a]:
            a = q
    b = -1
    best = -1.0
    for q in range(count):
        d = (poly[q, 0] - poly[a, 0]) ** 2 + (poly[q, 1] - poly[a, 1]) ** 2 + (poly[q, 2] - poly[a, 2]) ** 2
        if d > best:
            best = d
            b = q
    ex, ey, ez = poly[b, 0] - poly[a, 0], poly[b, 1] - poly[a, 1], poly[b, 2] - poly[a, 2]
    c = -1
    d_ = -1
    most = 0.0
    least = 0.0
    for q in range(count):
        if q == a or q == b:  # noqa: SIM109 (numba: plain comparisons)
            continue
        fx, fy, fz = poly[q, 0] - poly[a, 0], poly[q, 1] - poly[a, 1], poly[q, 2] - poly[a, 2]
        area = (ey * fz - ez * fy) * nx + (ez * fx - ex * fz) * ny + (ex * fy - ey * fx) * nz
        if c < 0 or area > most:
            most = area
            c = q
        if d_ < 0 or area < least:
            least = area
            d_ = q
    chosen[0] = a
    chosen[1] = b
    n = 2
    if c >= 0:
        chosen[n] = c
        n += 1
    if d_ >= 0 and d_ != c:
        chosen[n] = d_
        n += 1
    return n
