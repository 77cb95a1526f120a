"""Box-box contact: separating-axis test over the 15 axes, then face clipping (up to 4 points) or a
single edge-edge point. Speculative: configurations separated by less than ``margin`` still produce
points, with positive separation.

Both stages work in a box's own frame, from the 3x3 matrix of dot products between the two boxes'
axes (as Gottschalk's OBB test and ODE's dBoxBox): an edge axis costs a dozen operations instead of
a cross product and six projections, and the incident face is clipped in 2-D against the reference
face's rectangle."""

from __future__ import annotations

import math

from numba import njit

from .vecmath import HOT, JIT

# absolute tolerances that make the choice of axis stable from frame to frame (less jitter)
_FACE_TOL = 0.0005
_EDGE_TOL = 0.001

# work rows: the axis dot products, their absolute values, the centre offset in each box's frame,
# then the clipping polygons (8 points each)
_C, _ABSC, _T, _POLY, _TMP = 0, 3, 6, 8, 16
WORK_ROWS = 24
#: feature ids: a face point's is below 200 (face, clip plane, vertex); reference face on b adds
#: FLIPPED_FEATURE; the edge-edge point's is EDGE_FEATURE + 3 i + j
FLIPPED_FEATURE = 200
EDGE_FEATURE = 400


@njit(**HOT)
def box_box(pos, rot, half, a, b, margin, out_p, out_n, out_sep, out_feat, work, iwork) -> int:
    """Contacts between boxes ``a`` and ``b`` (rows of ``pos``, ``half`` and ``rot``, whose columns
    are the box axes in world space). Writes points, the normal from a to b, separations and feature
    ids into the out arrays (at least 4 rows); returns the number of points. ``work`` (float,
    WORK_ROWS x 3) and ``iwork`` (int, 20) are scratch, so a pair allocates nothing."""
    dx, dy, dz = pos[b, 0] - pos[a, 0], pos[b, 1] - pos[a, 1], pos[b, 2] - pos[a, 2]
    # c[i, j] = dot(a_i, b_j); ta = d in a's frame, tb = d in b's frame
    for i in range(3):
        for j in range(3):
            cij = rot[a, 0, i] * rot[b, 0, j] + rot[a, 1, i] * rot[b, 1, j] + rot[a, 2, i] * rot[b, 2, j]
            work[_C + i, j] = cij
            work[_ABSC + i, j] = abs(cij) + 1e-12
        work[_T, i] = dx * rot[a, 0, i] + dy * rot[a, 1, i] + dz * rot[a, 2, i]
        work[_T + 1, i] = dx * rot[b, 0, i] + dy * rot[b, 1, i] + dz * rot[b, 2, i]
    best_a = -1e30
    axis_a = 0
    for i in range(3):
        r = half[a, i] + half[b, 0] * work[_ABSC + i, 0] + half[b, 1] * work[_ABSC + i, 1] \
            + half[b, 2] * work[_ABSC + i, 2]
        s = abs(work[_T, i]) - r
        if s > margin:
            return 0
        if s > best_a:
            best_a = s
            axis_a = i
    best_b = -1e30
    axis_b = 0
    for j in range(3):
        r = half[b, j] + half[a, 0] * work[_ABSC, j] + half[a, 1] * work[_ABSC + 1, j] \
            + half[a, 2] * work[_ABSC + 2, j]
        s = abs(work[_T + 1, j]) - r
        if s > margin:
            return 0
        if s > best_b:
            best_b = s
            axis_b = j
    # edge axes a_i x b_j, in a's frame: component i1 = -c[i2, j], component i2 = c[i1, j]
    best_e = -1e30
    edge_i = 0
    edge_j = 0
    edge_sign = 1.0
    for i in range(3):
        i1 = (i + 1) % 3
        i2 = (i + 2) % 3
        for j in range(3):
            j1 = (j + 1) % 3
            j2 = (j + 2) % 3
            c1 = work[_C + i1, j]
            c2 = work[_C + i2, j]
            length2 = c1 * c1 + c2 * c2
            if length2 < 1e-10:  # a_i and b_j (nearly) parallel: the face axes cover it
                continue
            d = work[_T, i2] * c1 - work[_T, i1] * c2
            r = half[a, i1] * abs(c2) + half[a, i2] * abs(c1) \
                + half[b, j1] * abs(work[_C + i, j2]) + half[b, j2] * abs(work[_C + i, j1])
            s = (abs(d) - r) / math.sqrt(length2)
            if s > margin:
                return 0
            if s > best_e:
                best_e = s
                edge_i = i
                edge_j = j
                edge_sign = 1.0 if d >= 0.0 else -1.0
    best_face = max(best_a, best_b)
    if best_e > best_face + _EDGE_TOL:
        return _edge_contact(pos, rot, half, a, b, edge_i, edge_j, edge_sign, margin, out_p, out_n, out_sep,
                             out_feat)
    if best_b > best_a + _FACE_TOL:
        count = _face_contact(pos, rot, half, b, a, axis_b, True, margin, out_p, out_n, out_sep, out_feat,
                              work, iwork)
        for k in range(count):  # reference was b: the normal must point from a to b
            out_n[k, 0] = -out_n[k, 0]
            out_n[k, 1] = -out_n[k, 1]
            out_n[k, 2] = -out_n[k, 2]
            out_feat[k] += FLIPPED_FEATURE
        return count
    return _face_contact(pos, rot, half, a, b, axis_a, False, margin, out_p, out_n, out_sep, out_feat, work,
                         iwork)


@njit(**HOT)
def _edge_contact(pos, rot, half, a, b, i, j, sign, margin, out_p, out_n, out_sep, out_feat) -> int:
    # the axis in world space
    nx = rot[a, 1, i] * rot[b, 2, j] - rot[a, 2, i] * rot[b, 1, j]
    ny = rot[a, 2, i] * rot[b, 0, j] - rot[a, 0, i] * rot[b, 2, j]
    nz = rot[a, 0, i] * rot[b, 1, j] - rot[a, 1, i] * rot[b, 0, j]
    inv = sign / math.sqrt(nx * nx + ny * ny + nz * nz)
    nx *= inv
    ny *= inv
    nz *= inv
    # the edge of a furthest along n, and the edge of b furthest along -n
    pax, pay, paz = pos[a, 0], pos[a, 1], pos[a, 2]
    pbx, pby, pbz = pos[b, 0], pos[b, 1], pos[b, 2]
    for k in range(3):
        if k != i:
            s = half[a, k] if nx * rot[a, 0, k] + ny * rot[a, 1, k] + nz * rot[a, 2, k] > 0.0 else -half[a, k]
            pax += s * rot[a, 0, k]
            pay += s * rot[a, 1, k]
            paz += s * rot[a, 2, k]
        if k != j:
            s = -half[b, k] if nx * rot[b, 0, k] + ny * rot[b, 1, k] + nz * rot[b, 2, k] > 0.0 else half[b, k]
            pbx += s * rot[b, 0, k]
            pby += s * rot[b, 1, k]
            pbz += s * rot[b, 2, k]
    # closest points of the lines pa + s u and pb + t v, clamped to the edges
    ux, uy, uz = rot[a, 0, i], rot[a, 1, i], rot[a, 2, i]
    vx, vy, vz = rot[b, 0, j], rot[b, 1, j], rot[b, 2, j]
    rx, ry, rz = pax - pbx, pay - pby, paz - pbz
    bb = ux * vx + uy * vy + uz * vz
    cc = ux * rx + uy * ry + uz * rz
    f = vx * rx + vy * ry + vz * rz
    denom = 1.0 - bb * bb
    s = 0.0
    if denom > 1e-12:
        s = (bb * f - cc) / denom
    s = min(max(s, -half[a, i]), half[a, i])
    t = bb * s + f
    t = min(max(t, -half[b, j]), half[b, j])
    s = min(max(bb * t - cc, -half[a, i]), half[a, i])
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
    out_feat[0] = EDGE_FEATURE + 3 * i + j
    return 1


@njit(**JIT, inline="always")
def _dot_ri(work, flip, i, j) -> float:
    """dot(r_i, n_j): reference axis i with incident axis j (the work matrix is a's axes by b's)."""
    return work[_C + j, i] if flip else work[_C + i, j]


@njit(**HOT)
def _face_contact(pos, rot, half, r, n_, k, flip, margin, out_p, out_n, out_sep, out_feat, work,
                  iwork) -> int:
    """Reference face: face k of box r facing box n_ (``flip``: r is the pair's b). Clips the incident
    box's most anti-parallel face against the side planes of the reference face, in r's frame."""
    # the incident box's centre in r's frame
    tr = _T + 1 if flip else _T
    sgn_t = -1.0 if flip else 1.0
    t0, t1, t2 = sgn_t * work[tr, 0], sgn_t * work[tr, 1], sgn_t * work[tr, 2]
    tk = t0 if k == 0 else (t1 if k == 1 else t2)
    sgn = 1.0 if tk >= 0.0 else -1.0
    # incident face: the one most anti-parallel to the normal sgn * r_k
    best = -1.0
    m = 0
    for j in range(3):
        dd = abs(_dot_ri(work, flip, k, j))
        if dd > best:
            best = dd
            m = j
    isg = -1.0 if sgn * _dot_ri(work, flip, k, m) > 0.0 else 1.0
    u = (m + 1) % 3
    v = (m + 2) % 3
    poly = work[_POLY:_POLY + 8]
    ids = iwork[0:8]
    for q in range(3):  # q: a coordinate of r's frame
        c = t0 if q == 0 else (t1 if q == 1 else t2)
        poly[0, q] = c + isg * half[n_, m] * _dot_ri(work, flip, q, m)
        poly[1, q] = half[n_, u] * _dot_ri(work, flip, q, u)  # edge half-vectors, for now
        poly[2, q] = half[n_, v] * _dot_ri(work, flip, q, v)
    for q in range(3):
        fc, eu, ev = poly[0, q], poly[1, q], poly[2, q]
        poly[0, q] = fc + eu + ev
        poly[1, q] = fc - eu + ev
        poly[2, q] = fc - eu - ev
        poly[3, q] = fc + eu - ev
    for q in range(4):
        ids[q] = q
    count = 4
    tmp = work[_TMP:_TMP + 8]
    tmp_ids = iwork[8:16]
    # side planes of the reference face: coordinate ax within +-half[r, ax]
    ru = (k + 1) % 3
    rv = (k + 2) % 3
    plane = 0
    for ax in (ru, rv):
        for s in (1.0, -1.0):
            off = half[r, ax]
            out_count = 0
            for q in range(count):
                q2 = q + 1 if q + 1 < count else 0
                d1 = s * poly[q, ax] - off
                d2 = s * poly[q2, ax] - off
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
    seps = tmp[:, 0]  # the clipping buffer is free again: reuse it for the separations
    keep = 0
    for q in range(count):
        sep = sgn * poly[q, k] - half[r, k]
        if sep <= margin:
            poly[keep, 0] = poly[q, 0]
            poly[keep, 1] = poly[q, 1]
            poly[keep, 2] = poly[q, 2]
            ids[keep] = ids[q]
            seps[keep] = sep
            keep += 1
    chosen = iwork[16:20]
    nl0 = sgn if k == 0 else 0.0
    nl1 = sgn if k == 1 else 0.0
    nl2 = sgn if k == 2 else 0.0
    nchosen = _reduce(poly, seps, keep, nl0, nl1, nl2, chosen)
    nx, ny, nz = sgn * rot[r, 0, k], sgn * rot[r, 1, k], sgn * rot[r, 2, k]
    feat_base = (k * 2 + (1 if sgn > 0 else 0)) * 32
    for q in range(nchosen):
        p = chosen[q]
        sep = seps[p]
        x0, x1, x2 = poly[p, 0], poly[p, 1], poly[p, 2]
        out_p[q, 0] = pos[r, 0] + rot[r, 0, 0] * x0 + rot[r, 0, 1] * x1 + rot[r, 0, 2] * x2 - 0.5 * sep * nx
        out_p[q, 1] = pos[r, 1] + rot[r, 1, 0] * x0 + rot[r, 1, 1] * x1 + rot[r, 1, 2] * x2 - 0.5 * sep * ny
        out_p[q, 2] = pos[r, 2] + rot[r, 2, 0] * x0 + rot[r, 2, 1] * x1 + rot[r, 2, 2] * x2 - 0.5 * sep * nz
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
