"""The wide solver for contacts with a turning box: one contact manifold (up to 4 points of one body
pair) per SIMD lane, as PhysX's contact batches.

``wide`` runs contacts whose gap follows the centres alone one point per lane. A box contact needs
more per point: its anchors turn with the bodies (a quaternion rotation each, every pass) and its
bodies' full world inverse inertia. Gathered per point, that state cost more than the lanes saved
(measured on a 3,000-box pile). A manifold's points share their two bodies and their normal, so
here a lane gathers its bodies once (velocities, poses, masses, the 3x3 inertias) and solves its
points in turn; the manifolds of a colour share no moving body, so the lanes are independent.

Measured on a 3,000-box pile (three layouts, against the scalar rows): 0.79-0.83 of the frame
time, the same pile height and overlap.

Per chunk of up to ``MCH`` manifolds: gather, then per point slot a branch-free loop over the lanes
that LLVM vectorises (the slot's field offsets are compile-time constants: the slot loop is four
inlined calls), then scatter. The next chunk's fields are prefetched meanwhile: a slot's 26 field
streams are more than the hardware prefetchers follow (without, a pass took 2.9 ms instead of 1.0
on 39,000 points). The lanes are filled after ``solver.prepare_contacts`` by ``load_lanes``, in lane
order. Points are solved in the scalar solver's order and with its
operations (normal impulse, then the friction cone, per point), so the results agree with the
scalar kernels run in the same contact order. A chunk's manifolds are ordered by point count, most
first, so slot p's loop runs over a prefix of the lanes and no empty slot is computed.

A manifold is normalised so that its lane's body a moves, as in ``wide``: if only b moves the two
swap, the normal flips (the sign bit of the stored friction marks it) and the fixed side keeps its
anchor as a world point. Which contacts: runs of consecutive contacts of the table (the narrow
phase writes a pair's points together) with ci CROT = 1 and the same two bodies. A manifold that
fits no colour, or moves no body, stays with the scalar rows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .colouring import NCOL, take_colour
from .contacts_table import (
    APPROACH,
    CA,
    CB,
    CROT,
    FRICTION,
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
    RAX,
    RAY,
    RAZ,
    RBX,
    RBY,
    RBZ,
    SEP,
    TMASS1,
    TMASS2,
)
from .vecmath import HOT, JIT, prefetch, relative_velocity, rotate, tangent_basis

#: manifolds per chunk; a chunk's fields (92 x MFS doubles) and scratch stay in the L2 cache
MCH = 64
#: doubles from one field of a chunk to the next: one cache line over MCH (see ``wide.FS``)
MFS = MCH + 8
#: points per manifold (lane slots)
NPT = 4

# manifold fields: the normal as prepared (a swapped lane uses -n), the friction (sign bit: swapped)
M_NX, M_NY, M_NZ, M_FRICTION = 0, 1, 2, 3
#: the first point slot's fields; slot p starts at MP0 + p * NP
MP0 = 4
# point fields, from the slot's start
P_RAX, P_RAY, P_RAZ = 0, 1, 2  # point - centre of a (world, frame start)
P_RBX, P_RBY, P_RBZ = 3, 4, 5
P_LAX, P_LAY, P_LAZ = 6, 7, 8  # anchor in a's body frame
P_LBX, P_LBY, P_LBZ = 9, 10, 11  # in b's body frame; a fixed b: its anchor's world point
P_NMASS, P_TMASS1, P_TMASS2 = 12, 13, 14
P_SEP = 15
P_JN, P_JT1, P_JT2 = 16, 17, 18
P_MAXJN = 19
P_APPROACH = 20
P_JSUM = 21
NP = 22
MNF = MP0 + NPT * NP
#: point fields copied back to the contact table after the substeps
STATE_FIELDS = ((P_JN, JN), (P_JT1, JT1), (P_JT2, JT2), (P_MAXJN, MAXJN), (P_APPROACH, APPROACH),
                (P_JSUM, JSUM))

# gather scratch (one chunk's bodies), column-major as the fields
S_VA, S_WA, S_VB, S_WB = 0, 3, 6, 9
S_PA, S_PB = 12, 15
S_QA, S_QB = 18, 22
S_MA, S_MB = 26, 27
S_KA, S_KB = 28, 29  # scalar inverse inertia (a sphere), else -1: use the matrix
S_IA, S_IB = 30, 39  # world inverse inertia, row-major
S_NX, S_T1X, S_T2X = 48, 51, 54  # the lane's normal and tangents, oriented from its a to its b
MNS = 57

#: ``colour`` of a contact that went into a manifold lane (the sphere lanes' are >= 0, the scalar
#: rows' -1)
IN_MANIFOLD = -2


# ---- per frame: manifolds, colouring, chunk plan, lanes ------------------------------------------
@njit(**HOT)
def colour_manifolds(ci, nc, inv_mass, mask, colour, mfirst, mcount, mcolour) -> int:
    """Cuts the contacts with a turning box (ci CROT = 1) into manifolds (consecutive rows of one
    pair, at most NPT) and colours them greedily in contact order, as ``wide.colour_contacts``. A
    coloured manifold's contacts get ``colour`` IN_MANIFOLD; the others keep theirs. Returns the
    number of manifolds (first contact, point count, colour in the m arrays). ``mask`` (uint64 per
    body) is scratch."""
    for i in range(mask.shape[0]):
        mask[i] = 0
    m = 0
    c = 0
    while c < nc:
        if not ci[c, CROT]:
            c += 1
            continue
        a = ci[c, CA]
        b = ci[c, CB]
        end = c + 1
        while end < nc and end - c < NPT and ci[end, CROT] and ci[end, CA] == a and ci[end, CB] == b:
            end += 1
        move_a = inv_mass[a] > 0.0
        move_b = b >= 0 and inv_mass[b] > 0.0
        k = take_colour(mask, a, b, move_a, move_b) if (move_a or move_b) else -1
        if k >= 0:
            mfirst[m] = c
            mcount[m] = end - c
            mcolour[m] = k
            m += 1
            for q in range(c, end):
                colour[q] = IN_MANIFOLD
        c = end
    return m


@njit(**HOT)
def plan_manifold_chunks(nm, mfirst, mcount, mcolour, count, first, mccnt, mslots, morig) -> int:
    """Orders the manifolds by colour, and inside a colour by point count (most first, then manifold
    order), and cuts each colour into chunks of up to MCH lanes. Fills the lane counts, ``mslots[k *
    NPT + p]`` (the lanes of chunk k with a point in slot p: a prefix, as counts fall) and
    ``morig[lane * NPT + point slot]``, the contact in each slot (-1: an empty slot). ``count`` and
    ``first`` (NCOL ints) are scratch. Returns the chunk count."""
    for k in range(NCOL):
        count[k] = 0
    for m in range(nm):
        count[mcolour[m]] += 1
    nchunks = 0
    for k in range(NCOL):
        first[k] = nchunks
        left = count[k]
        while left > 0:
            mccnt[nchunks] = min(left, MCH)
            for s in range(NPT):
                mslots[nchunks * NPT + s] = 0
            left -= MCH
            nchunks += 1
        count[k] = 0
    for points in range(NPT, 0, -1):
        for m in range(nm):
            if mcount[m] != points:
                continue
            k = mcolour[m]
            p = count[k]
            count[k] = p + 1
            chunk = first[k] + p // MCH
            l_ = p % MCH
            lane = chunk * MCH + l_
            for s in range(NPT):
                if s < points:
                    c = mfirst[m] + s
                    morig[lane * NPT + s] = c
                    mslots[chunk * NPT + s] = l_ + 1
                else:
                    morig[lane * NPT + s] = -1
    return nchunks


@njit(**JIT, inline="always")
def write_point(bwf, bwi, slot, pos, quat, inv_mass, a, b, n, ra, rb, la, lb, masses, friction, sep, impulses,
                approach) -> None:
    """Writes a box contact prepared by ``solver.prepare_contacts`` into its manifold's lane slot,
    normalised so that a moves. A fixed side keeps its anchor's world point, computed as the scalar
    solver's separation computes it."""
    nx, ny, nz = n
    rax, ray, raz = ra
    rbx, rby, rbz = rb
    lax, lay, laz = la
    lbx, lby, lbz = lb
    nmass, tmass1, tmass2 = masses
    jn, jt1, jt2 = impulses
    lane = slot // NPT
    s = slot - lane * NPT
    k = lane // MCH
    l_ = lane - k * MCH
    o = k * MNF * MFS + l_
    swap = inv_mass[a] <= 0.0
    fixed_b = swap or b < 0 or inv_mass[b] <= 0.0
    if swap:
        ga = b
        qx, qy, qz = rotate(quat[a, 0], quat[a, 1], quat[a, 2], quat[a, 3], lax, lay, laz)
        xbx, xby, xbz = pos[a, 0] + qx, pos[a, 1] + qy, pos[a, 2] + qz
        rax, ray, raz, rbx, rby, rbz = rbx, rby, rbz, rax, ray, raz
        lax, lay, laz = lbx, lby, lbz
    else:
        ga = a
        if b < 0:
            xbx, xby, xbz = lbx, lby, lbz  # the static world's anchor is the world point
        elif fixed_b:
            qx, qy, qz = rotate(quat[b, 0], quat[b, 1], quat[b, 2], quat[b, 3], lbx, lby, lbz)
            xbx, xby, xbz = pos[b, 0] + qx, pos[b, 1] + qy, pos[b, 2] + qz
        else:
            xbx, xby, xbz = lbx, lby, lbz
    bwf[o + M_NX * MFS] = nx
    bwf[o + M_NY * MFS] = ny
    bwf[o + M_NZ * MFS] = nz
    bwf[o + M_FRICTION * MFS] = -friction if swap else friction
    p = o + (MP0 + s * NP) * MFS
    bwf[p + P_RAX * MFS] = rax
    bwf[p + P_RAY * MFS] = ray
    bwf[p + P_RAZ * MFS] = raz
    bwf[p + P_RBX * MFS] = rbx
    bwf[p + P_RBY * MFS] = rby
    bwf[p + P_RBZ * MFS] = rbz
    bwf[p + P_LAX * MFS] = lax
    bwf[p + P_LAY * MFS] = lay
    bwf[p + P_LAZ * MFS] = laz
    bwf[p + P_LBX * MFS] = xbx
    bwf[p + P_LBY * MFS] = xby
    bwf[p + P_LBZ * MFS] = xbz
    bwf[p + P_NMASS * MFS] = nmass
    bwf[p + P_TMASS1 * MFS] = tmass1
    bwf[p + P_TMASS2 * MFS] = tmass2
    bwf[p + P_SEP * MFS] = sep
    bwf[p + P_JN * MFS] = jn
    bwf[p + P_JT1 * MFS] = jt1
    bwf[p + P_JT2 * MFS] = jt2
    bwf[p + P_MAXJN * MFS] = 0.0
    bwf[p + P_APPROACH * MFS] = approach
    bwf[p + P_JSUM * MFS] = 0.0
    g = 2 * MCH * k + l_
    bwi[g] = ga
    bwi[g + MCH] = ga if fixed_b else b


@njit(**HOT)
def load_lanes(cf, ci, morig, mslots, nchunks, pos, quat, inv_mass, bwf, bwi) -> None:
    """Copies the manifolds' contacts, completed in the table by ``solver.prepare_contacts``, into
    their lanes, in lane order: the lanes' fields are written chunk after chunk, the table's rows
    read ahead of use (written in contact order instead, the fields of one point are 26 cache lines
    at random places: measured 2x slower)."""
    for k in range(nchunks):
        for s in range(NPT):  # slot by slot: a slot's fields (26 cache lines a lane) stay in L1
            n = mslots[k * NPT + s]
            for l_ in range(n):
                lane = k * MCH + l_
                ahead = morig[(k * MCH + min(l_ + 8, n - 1)) * NPT + s]
                for col in (0, 8, 16, 24, 31):  # the row's cache lines (rows need not start on one)
                    prefetch(cf, (ahead, col))
                c = morig[lane * NPT + s]
                write_point(bwf, bwi, lane * NPT + s, pos, quat, inv_mass, ci[c, CA], ci[c, CB],
                            (cf[c, NX], cf[c, NY], cf[c, NZ]), (cf[c, RAX], cf[c, RAY], cf[c, RAZ]),
                            (cf[c, RBX], cf[c, RBY], cf[c, RBZ]), (cf[c, LAX], cf[c, LAY], cf[c, LAZ]),
                            (cf[c, LBX], cf[c, LBY], cf[c, LBZ]),
                            (cf[c, NMASS], cf[c, TMASS1], cf[c, TMASS2]), cf[c, FRICTION], cf[c, SEP],
                            (cf[c, JN], cf[c, JT1], cf[c, JT2]), cf[c, APPROACH])


@njit(**HOT)
def store_manifold_state(bwf, morig, mccnt, nchunks, cf) -> None:
    """After the substeps: the points' impulses and bookkeeping back into the contact table."""
    for k in range(nchunks):
        for l_ in range(mccnt[k]):
            for s in range(NPT):
                c = morig[(k * MCH + l_) * NPT + s]
                if c < 0:
                    continue
                p = k * MNF * MFS + (MP0 + s * NP) * MFS + l_
                for wfield, cfield in STATE_FIELDS:
                    cf[c, cfield] = bwf[p + wfield * MFS]


# ---- per substep: the passes ---------------------------------------------------------------------
@njit(**JIT, inline="always")
def _gather_motion(g, sc, n, vel, angvel, inv_mass, inv_iso, iw) -> None:
    """Velocities, inverse masses and inertias of the chunk's bodies; a fixed b's (gathered from a)
    are zeroed, so it takes no part in the lane's arithmetic."""
    for l_ in range(n):
        a = g[l_]
        b = g[MCH + l_]
        fb = 1.0 if b != a else 0.0
        for d in range(3):
            sc[(S_VA + d) * MFS + l_] = vel[a, d]
            sc[(S_WA + d) * MFS + l_] = angvel[a, d]
            sc[(S_VB + d) * MFS + l_] = fb * vel[b, d]
            sc[(S_WB + d) * MFS + l_] = fb * angvel[b, d]
        sc[S_MA * MFS + l_] = inv_mass[a]
        sc[S_MB * MFS + l_] = fb * inv_mass[b]
        sc[S_KA * MFS + l_] = inv_iso[a]
        sc[S_KB * MFS + l_] = inv_iso[b] if fb == 1.0 else 0.0  # 0: a fixed b turns by nothing
        for r in range(3):
            for s in range(3):
                sc[(S_IA + 3 * r + s) * MFS + l_] = iw[a, r, s]
                sc[(S_IB + 3 * r + s) * MFS + l_] = fb * iw[b, r, s]


@njit(**JIT, inline="always")
def _gather_pose(g, sc, n, pos, quat) -> None:
    for l_ in range(n):
        a = g[l_]
        b = g[MCH + l_]
        for d in range(3):
            sc[(S_PA + d) * MFS + l_] = pos[a, d]
            sc[(S_PB + d) * MFS + l_] = pos[b, d]
        for d in range(4):
            sc[(S_QA + d) * MFS + l_] = quat[a, d]
            sc[(S_QB + d) * MFS + l_] = quat[b, d]


@njit(**JIT, inline="always")
def _scatter(g, sc, n, vel, angvel) -> None:
    for l_ in range(n):
        a = g[l_]
        b = g[MCH + l_]
        # b first: a fixed b's gather index is a, whose row a's own store then overwrites
        for d in range(3):
            vel[b, d] = sc[(S_VB + d) * MFS + l_]
            angvel[b, d] = sc[(S_WB + d) * MFS + l_]
        for d in range(3):
            vel[a, d] = sc[(S_VA + d) * MFS + l_]
            angvel[a, d] = sc[(S_WA + d) * MFS + l_]


@njit(**JIT, inline="always")
def _turn(sc, l_, k_field, i_field, cx, cy, cz):
    """The angular velocity change of an impulse moment c: the scalar inverse inertia times c for a
    sphere, the world inverse inertia matrix times c for a box (the scalar ``_apply``'s choice)."""
    k = sc[k_field * MFS + l_]
    mx = sc[i_field * MFS + l_] * cx + sc[(i_field + 1) * MFS + l_] * cy + sc[(i_field + 2) * MFS + l_] * cz
    my = sc[(i_field + 3) * MFS + l_] * cx + sc[(i_field + 4) * MFS + l_] * cy \
        + sc[(i_field + 5) * MFS + l_] * cz
    mz = sc[(i_field + 6) * MFS + l_] * cx + sc[(i_field + 7) * MFS + l_] * cy \
        + sc[(i_field + 8) * MFS + l_] * cz
    sphere = k >= 0.0
    return (k * cx if sphere else mx), (k * cy if sphere else my), (k * cz if sphere else mz)


@njit(**JIT, inline="always")
def _apply(sc, l_, rax, ray, raz, rbx, rby, rbz, px, py, pz, v):
    """Impulse P at the point: -P on a, +P on b (as the scalar ``_apply``); the new velocities."""
    (vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz) = v
    ma = sc[S_MA * MFS + l_]
    mb = sc[S_MB * MFS + l_]
    iax, iay, iaz = _turn(sc, l_, S_KA, S_IA, ray * pz - raz * py, raz * px - rax * pz, rax * py - ray * px)
    ibx, iby, ibz = _turn(sc, l_, S_KB, S_IB, rby * pz - rbz * py, rbz * px - rbx * pz, rbx * py - rby * px)
    return (vax - ma * px, vay - ma * py, vaz - ma * pz, wax - iax, way - iay, waz - iaz,
            vbx + mb * px, vby + mb * py, vbz + mb * pz, wbx + ibx, wby + iby, wbz + ibz)


@njit(**JIT, inline="always")
def _rel(v, rax, ray, raz, rbx, rby, rbz):
    (vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz) = v
    return relative_velocity(vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz, rax, ray, raz, rbx,
                             rby, rbz)


@njit(**JIT, inline="always")
def _load_vel(sc, l_):
    return (sc[S_VA * MFS + l_], sc[(S_VA + 1) * MFS + l_], sc[(S_VA + 2) * MFS + l_],
            sc[S_WA * MFS + l_], sc[(S_WA + 1) * MFS + l_], sc[(S_WA + 2) * MFS + l_],
            sc[S_VB * MFS + l_], sc[(S_VB + 1) * MFS + l_], sc[(S_VB + 2) * MFS + l_],
            sc[S_WB * MFS + l_], sc[(S_WB + 1) * MFS + l_], sc[(S_WB + 2) * MFS + l_])


@njit(**JIT, inline="always")
def _store_vel(sc, l_, v) -> None:
    (vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz) = v
    sc[S_VA * MFS + l_] = vax
    sc[(S_VA + 1) * MFS + l_] = vay
    sc[(S_VA + 2) * MFS + l_] = vaz
    sc[S_WA * MFS + l_] = wax
    sc[(S_WA + 1) * MFS + l_] = way
    sc[(S_WA + 2) * MFS + l_] = waz
    sc[S_VB * MFS + l_] = vbx
    sc[(S_VB + 1) * MFS + l_] = vby
    sc[(S_VB + 2) * MFS + l_] = vbz
    sc[S_WB * MFS + l_] = wbx
    sc[(S_WB + 1) * MFS + l_] = wby
    sc[(S_WB + 2) * MFS + l_] = wbz


@njit(**JIT, inline="always")
def _frames(w, sc, n) -> None:
    """Each lane's normal and tangents, oriented from its a to its b, once for all its points."""
    for l_ in range(n):
        sg = math.copysign(1.0, w[M_FRICTION * MFS + l_])
        nx, ny, nz = w[M_NX * MFS + l_], w[M_NY * MFS + l_], w[M_NZ * MFS + l_]
        t1x, t1y, t1z, t2x, t2y, t2z = tangent_basis(nx, ny, nz)
        sc[S_NX * MFS + l_] = sg * nx
        sc[(S_NX + 1) * MFS + l_] = sg * ny
        sc[(S_NX + 2) * MFS + l_] = sg * nz
        sc[S_T1X * MFS + l_] = sg * t1x
        sc[(S_T1X + 1) * MFS + l_] = sg * t1y
        sc[(S_T1X + 2) * MFS + l_] = sg * t1z
        sc[S_T2X * MFS + l_] = sg * t2x
        sc[(S_T2X + 1) * MFS + l_] = sg * t2y
        sc[(S_T2X + 2) * MFS + l_] = sg * t2z


@njit(**JIT, inline="always")
def _frame(sc, l_):
    return (sc[S_NX * MFS + l_], sc[(S_NX + 1) * MFS + l_], sc[(S_NX + 2) * MFS + l_],
            sc[S_T1X * MFS + l_], sc[(S_T1X + 1) * MFS + l_], sc[(S_T1X + 2) * MFS + l_],
            sc[S_T2X * MFS + l_], sc[(S_T2X + 1) * MFS + l_], sc[(S_T2X + 2) * MFS + l_])


@njit(**JIT, inline="always")
def _prefetch_chunk(bwf, k, nchunks) -> None:
    """Chunk k's fields into the cache while the chunk before it is solved: a slot pass reads 26
    fields as interleaved streams, more than the hardware prefetchers follow."""
    if k < nchunks:
        for i in range(k * MNF * MFS, (k + 1) * MNF * MFS, 8):
            prefetch(bwf, i)


@njit(**JIT, inline="always")
def _warm_slot(w, g, sc, n, P) -> None:
    """The warm-start impulses of point slot P (field offset P, a constant) on every lane."""
    for l_ in range(n):
        nx, ny, nz, t1x, t1y, t1z, t2x, t2y, t2z = _frame(sc, l_)
        jn = w[(P + P_JN) * MFS + l_]
        j1 = w[(P + P_JT1) * MFS + l_]
        j2 = w[(P + P_JT2) * MFS + l_]
        px = jn * nx + j1 * t1x + j2 * t2x
        py = jn * ny + j1 * t1y + j2 * t2y
        pz = jn * nz + j1 * t1z + j2 * t2z
        v = _apply(sc, l_, w[(P + P_RAX) * MFS + l_], w[(P + P_RAY) * MFS + l_], w[(P + P_RAZ) * MFS + l_],
                   w[(P + P_RBX) * MFS + l_], w[(P + P_RBY) * MFS + l_], w[(P + P_RBZ) * MFS + l_],
                   px, py, pz, _load_vel(sc, l_))
        _store_vel(sc, l_, v)


@njit(**HOT)
def warm_start_manifolds(bwf, bwi, mccnt, mslots, nchunks, sc, vel, angvel, inv_mass, inv_iso, iw) -> None:
    """Applies the points' accumulated impulses, point after point as ``solver.warm_start_contacts``."""
    _prefetch_chunk(bwf, 0, nchunks)
    for k in range(nchunks):
        w = bwf[k * MNF * MFS:(k + 1) * MNF * MFS]
        g = bwi[2 * MCH * k:2 * MCH * (k + 1)]
        n = mccnt[k]
        _gather_motion(g, sc, n, vel, angvel, inv_mass, inv_iso, iw)
        _prefetch_chunk(bwf, k + 1, nchunks)
        _frames(w, sc, n)
        _warm_slot(w, g, sc, mslots[k * NPT], MP0)
        _warm_slot(w, g, sc, mslots[k * NPT + 1], MP0 + NP)
        _warm_slot(w, g, sc, mslots[k * NPT + 2], MP0 + 2 * NP)
        _warm_slot(w, g, sc, mslots[k * NPT + 3], MP0 + 3 * NP)
        _scatter(g, sc, n, vel, angvel)


@njit(**JIT, inline="always")
def _solve_slot(w, g, sc, n, P, inv_h, use_bias, br, ms, isc, sbr, sms, sisc, max_push, gx, gy, gz) -> None:
    """``solver.solve_contacts`` for point slot P (field offset P, a constant) on every lane."""
    for l_ in range(n):
        fb = 1.0 if g[MCH + l_] != g[l_] else 0.0
        nx, ny, nz, t1x, t1y, t1z, t2x, t2y, t2z = _frame(sc, l_)
        rax, ray, raz = w[(P + P_RAX) * MFS + l_], w[(P + P_RAY) * MFS + l_], w[(P + P_RAZ) * MFS + l_]
        rbx, rby, rbz = w[(P + P_RBX) * MFS + l_], w[(P + P_RBY) * MFS + l_], w[(P + P_RBZ) * MFS + l_]
        # separation from the current poses: anchors turned by the bodies' rotations (a fixed b:
        # its anchor's world point)
        qax, qay, qaz = rotate(sc[S_QA * MFS + l_], sc[(S_QA + 1) * MFS + l_], sc[(S_QA + 2) * MFS + l_],
                                sc[(S_QA + 3) * MFS + l_], w[(P + P_LAX) * MFS + l_],
                                w[(P + P_LAY) * MFS + l_], w[(P + P_LAZ) * MFS + l_])
        lbx, lby, lbz = w[(P + P_LBX) * MFS + l_], w[(P + P_LBY) * MFS + l_], w[(P + P_LBZ) * MFS + l_]
        qbx, qby, qbz = rotate(sc[S_QB * MFS + l_], sc[(S_QB + 1) * MFS + l_], sc[(S_QB + 2) * MFS + l_],
                                sc[(S_QB + 3) * MFS + l_], lbx, lby, lbz)
        moving_b = fb == 1.0
        xbx = sc[S_PB * MFS + l_] + qbx if moving_b else lbx
        xby = sc[(S_PB + 1) * MFS + l_] + qby if moving_b else lby
        xbz = sc[(S_PB + 2) * MFS + l_] + qbz if moving_b else lbz
        dx = -(sc[S_PA * MFS + l_] + qax) + xbx
        dy = -(sc[(S_PA + 1) * MFS + l_] + qay) + xby
        dz = -(sc[(S_PA + 2) * MFS + l_] + qaz) + xbz
        s = dx * nx + dy * ny + dz * nz + w[(P + P_SEP) * MFS + l_]
        v = _load_vel(sc, l_)
        vx, vy, vz = _rel(v, rax, ray, raz, rbx, rby, rbz)
        vn = vx * nx + vy * ny + vz * nz
        fixed = not moving_b
        spec = s > 0.0
        push = max((sbr if fixed else br) * s, -max_push)
        bias = s * inv_h if spec else (push if use_bias else 0.0)
        msc = 1.0 if (spec or not use_bias) else (sms if fixed else ms)
        iscale = 0.0 if (spec or not use_bias) else (sisc if fixed else isc)
        jn_old = w[(P + P_JN) * MFS + l_]
        imp = -w[(P + P_NMASS) * MFS + l_] * msc * (vn + bias) - iscale * jn_old
        jn = max(jn_old + imp, 0.0)
        imp = jn - jn_old
        w[(P + P_JN) * MFS + l_] = jn
        maxjn = w[(P + P_MAXJN) * MFS + l_]
        w[(P + P_MAXJN) * MFS + l_] = imp if imp > maxjn else maxjn
        # the speed at which the gap closed (restitution), as in ``wide.solve_chunks``
        an = (fb - 1.0) * (gx * nx + gy * ny + gz * nz)
        v_ref = vn - an / inv_h if use_bias else vn
        fall = -math.sqrt(max(v_ref * v_ref - 2.0 * an * s, 0.0)) if v_ref < 0.0 else v_ref
        hit = fall if spec else vn
        approach = w[(P + P_APPROACH) * MFS + l_]
        w[(P + P_APPROACH) * MFS + l_] = hit if (jn > 0.0 and hit < approach) else approach
        jsum = w[(P + P_JSUM) * MFS + l_]
        w[(P + P_JSUM) * MFS + l_] = jsum if use_bias else jsum + jn
        v = _apply(sc, l_, rax, ray, raz, rbx, rby, rbz, imp * nx, imp * ny, imp * nz, v)
        # friction: Coulomb cone clamped on the pair of tangent impulses
        limit = abs(w[M_FRICTION * MFS + l_]) * jn
        vx, vy, vz = _rel(v, rax, ray, raz, rbx, rby, rbz)
        v1 = vx * t1x + vy * t1y + vz * t1z
        v2 = vx * t2x + vy * t2y + vz * t2z
        o1 = w[(P + P_JT1) * MFS + l_]
        o2 = w[(P + P_JT2) * MFS + l_]
        n1 = o1 - w[(P + P_TMASS1) * MFS + l_] * v1
        n2 = o2 - w[(P + P_TMASS2) * MFS + l_] * v2
        mag2 = n1 * n1 + n2 * n2
        scale = (limit / math.sqrt(mag2) if mag2 > 0.0 else 0.0) if mag2 > limit * limit else 1.0
        n1 *= scale
        n2 *= scale
        w[(P + P_JT1) * MFS + l_] = n1
        w[(P + P_JT2) * MFS + l_] = n2
        d1 = n1 - o1
        d2 = n2 - o2
        v = _apply(sc, l_, rax, ray, raz, rbx, rby, rbz, d1 * t1x + d2 * t2x, d1 * t1y + d2 * t2y,
                   d1 * t1z + d2 * t2z, v)
        _store_vel(sc, l_, v)


@njit(**HOT)
def solve_manifolds(bwf, bwi, mccnt, mslots, nchunks, sc, pos, quat, vel, angvel, inv_mass, inv_iso, iw,
                    inv_h, use_bias, br, ms, isc, sbr, sms, sisc, max_push, gx, gy, gz) -> None:
    """``solver.solve_contacts`` on the manifold chunks (``use_bias`` False: the relax pass)."""
    _prefetch_chunk(bwf, 0, nchunks)
    for k in range(nchunks):
        w = bwf[k * MNF * MFS:(k + 1) * MNF * MFS]
        g = bwi[2 * MCH * k:2 * MCH * (k + 1)]
        n = mccnt[k]
        _gather_motion(g, sc, n, vel, angvel, inv_mass, inv_iso, iw)
        _gather_pose(g, sc, n, pos, quat)
        _prefetch_chunk(bwf, k + 1, nchunks)
        _frames(w, sc, n)
        s = k * NPT
        _solve_slot(w, g, sc, mslots[s], MP0, inv_h, use_bias, br, ms, isc, sbr, sms, sisc, max_push, gx, gy,
                    gz)
        _solve_slot(w, g, sc, mslots[s + 1], MP0 + NP, inv_h, use_bias, br, ms, isc, sbr, sms, sisc, max_push,
                    gx, gy, gz)
        _solve_slot(w, g, sc, mslots[s + 2], MP0 + 2 * NP, inv_h, use_bias, br, ms, isc, sbr, sms, sisc,
                    max_push, gx, gy, gz)
        _solve_slot(w, g, sc, mslots[s + 3], MP0 + 3 * NP, inv_h, use_bias, br, ms, isc, sbr, sms, sisc,
                    max_push, gx, gy, gz)
        _scatter(g, sc, n, vel, angvel)


# ---- the per-frame table -------------------------------------------------------------------------
class Manifolds:
    """The manifold chunks of one frame; buffers grow as needed and are reused. Planned by
    ``WideContacts.plan`` after the sphere lanes, filled by ``load_lanes`` after
    ``solver.prepare_contacts``."""

    def __init__(self) -> None:
        self.nchunks = 0
        self.count = 0
        self.mfirst = np.zeros(0, dtype=np.int64)
        self.mcount = np.zeros(0, dtype=np.int64)
        self.mcolour = np.zeros(0, dtype=np.int64)
        self.mccnt = np.zeros(0, dtype=np.int64)
        self.mslots = np.zeros(0, dtype=np.int64)
        self.morig = np.zeros(0, dtype=np.int64)
        self.wf = np.zeros(0)
        self.wi = np.zeros(0, dtype=np.int32)
        self.sc = np.zeros(MNS * MFS)

    def plan(self, ci: np.ndarray, nc: int, inv_mass: np.ndarray, mask: np.ndarray, colour: np.ndarray,
             count: np.ndarray, first: np.ndarray) -> None:
        """Finds and colours this frame's manifolds (their contacts' ``colour`` becomes IN_MANIFOLD)
        and lays out their chunks. ``mask``, ``count`` and ``first`` are the caller's scratch."""
        if self.mfirst.shape[0] < nc:
            cap = max(nc, 2 * self.mfirst.shape[0], 64)
            self.mfirst = np.zeros(cap, dtype=np.int64)
            self.mcount = np.zeros(cap, dtype=np.int64)
            self.mcolour = np.zeros(cap, dtype=np.int64)
        nm = colour_manifolds(ci, nc, inv_mass, mask, colour, self.mfirst, self.mcount, self.mcolour)
        max_chunks = nm // MCH + NCOL + 1
        if self.mccnt.shape[0] < max_chunks:
            cap = max(max_chunks, 2 * self.mccnt.shape[0])
            self.mccnt = np.zeros(cap, dtype=np.int64)
            self.mslots = np.zeros(cap * NPT, dtype=np.int64)
            self.wi = np.zeros(2 * cap * MCH, dtype=np.int32)
            self.morig = np.zeros(cap * MCH * NPT, dtype=np.int64)
            self.wf = np.zeros(cap * MNF * MFS)
        self.count = int(nm)
        self.nchunks = int(plan_manifold_chunks(nm, self.mfirst, self.mcount, self.mcolour, count, first,
                                                self.mccnt, self.mslots, self.morig))

    def clear(self) -> None:
        self.nchunks = 0
        self.count = 0
