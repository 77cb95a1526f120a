"""The graph-coloured, SIMD-friendly ("wide") contact solver, as in Box2D v3 and PhysX.

The scalar passes of ``solver`` are throughput-bound: ~700 scalar instructions per contact. Here the
contacts are coloured once per frame so that no colour holds one moving body twice; a colour's
contacts are then independent, and the solve and relax passes run, per chunk of up to ``CH``
contacts of one colour, a gather loop (the bodies' velocities, positions, inverse masses and
inertias into contiguous scratch), a branch-free compute loop over contiguous fields that LLVM turns
into packed AVX-512/AVX2 code, and a scatter loop (the warm start needs no gather). The physical
model is the scalar solver's, operation for operation (the results agree bit for bit with the
scalar kernels run in the same contact order): the soft step with the stiffer coefficients against
a fixed body, speculative bias s/h, max_push, clamped accumulated impulses, the Coulomb cone on the
two tangent impulses, and the MAXJN/APPROACH/JSUM bookkeeping of restitution and contact events.

Which contacts: those whose separation follows the centres alone (ci CROT = 0: two spheres, a sphere
and the ground or a static box), one per lane. Contacts with a box that turns go to ``manifolds``,
one manifold per lane (gathered per point, their state cost more than the lanes saved). The
contacts that fit no colour and those where neither body moves stay with the scalar kernels, which
solve these ``rows`` after the chunks in every pass, with their kind's coefficients
(``solver.contact_softness``; the lanes use the spheres').

Layout: one float array ``wf`` of chunks; in chunk k, field F of lane l is ``wf[(k * NF + F) * FS +
l]`` (column-major, every field a contiguous run). The field offsets are compile-time constants, which
lets LLVM prove the iterations of the compute loop independent. The passes are bound by memory
traffic, so a lane stores only what cannot be recomputed or gathered cheaply: the tangents follow
from the normal (``tangent_basis``, as prepare computes them), gravity's part of the normal
acceleration from the normal and whether b moves, and the masses are gathered with the velocities
(same cache line). A contact is normalised so that body a moves (inverse mass > 0): if only b moves,
the two swap and the normal and tangents flip, which leaves every impulse and speed unchanged (the
sign bit of the stored friction marks it). A side that does not move ("fixed": the static world, a
static body) contributes no velocity and its anchor is a constant world point for the frame; its
gather index is a's, so its loads stay valid and a's own store overwrites its scatter.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .colouring import NCOL, take_colour
from .contacts_table import APPROACH, CA, CB, CROT, JN, JSUM, JT1, JT2, MAXJN
from .manifolds import IN_MANIFOLD, Manifolds
from .vecmath import HOT, JIT, relative_velocity, tangent_basis

#: lanes per chunk. A chunk's fields and its scratch (42 x FS doubles, 45 KiB) stay in the L2 cache;
#: measured against 64 lanes (24 KiB, within L1) in one process, frames interleaved: 4-5 % less
#: frame time on a 10,000-sphere pile (fewer chunk loops, longer vector runs)
CH = 128
#: doubles from one field of a chunk to the next. Not CH: with power-of-two field strides (512 bytes
#: at 64 lanes), fields 8 apart (and the scratch's fields) share their address bits 0-11, and the
#: CPU takes a load from one for a dependency on a store to the other ("4K aliasing"): measured, the
#: relax pass ran 1.1 to 1.8 ms on the same contacts depending on where the scratch happened to be
#: allocated. One cache line of padding spreads 64 fields over distinct lines modulo 4 KiB.
FS = CH + 8

# chunk fields: frame constants, then the accumulated state
W_NX, W_NY, W_NZ = 0, 1, 2  # the contact's normal as prepared (a swapped lane uses -n)
W_RAX, W_RAY, W_RAZ = 3, 4, 5
W_RBX, W_RBY, W_RBZ = 6, 7, 8  # a fixed b: its anchor's world point
W_NMASS, W_TMASS1, W_TMASS2 = 9, 10, 11
W_FRICTION = 12  # its sign bit: a and b swapped
W_SEP = 13
W_JN, W_JT1, W_JT2 = 14, 15, 16
W_MAXJN = 17
W_APPROACH = 18
W_JSUM = 19
NF = 20
#: fields copied back to the contact table after the substeps (the swap leaves them unchanged)
STATE_FIELDS = ((W_JN, JN), (W_JT1, JT1), (W_JT2, JT2), (W_MAXJN, MAXJN), (W_APPROACH, APPROACH),
                (W_JSUM, JSUM))

# gather scratch (one chunk's bodies), same column-major layout
S_VA, S_WA, S_VB, S_WB, S_PA, S_PB = 0, 3, 6, 9, 12, 15
S_MA, S_MB = 18, 19  # inverse masses
S_KA, S_KB = 20, 21  # scalar inverse inertias (spheres)
NS = 22
S_P, S_CA, S_CB = 0, 3, 6  # the warm start's: impulse, its moments about a's and b's anchors

# ---- per frame: colouring, chunk plan, lanes ----------------------------------------------------
@njit(**HOT)
def colour_contacts(ci, nc, inv_mass, mask, colour) -> None:
    """Greedy colouring in contact order: each contact takes the lowest colour in which none of its
    moving bodies is used yet (a fixed body never constrains). -1: solved by the scalar kernels (a
    box is involved, no colour is left, or neither body moves). ``mask`` (uint64 per body) is
    scratch."""
    for i in range(mask.shape[0]):
        mask[i] = 0
    for c in range(nc):
        a = ci[c, CA]
        b = ci[c, CB]
        move_a = inv_mass[a] > 0.0
        move_b = b >= 0 and inv_mass[b] > 0.0
        if ci[c, CROT] or not (move_a or move_b):
            colour[c] = -1
            continue
        colour[c] = take_colour(mask, a, b, move_a, move_b)


@njit(**HOT)
def plan_chunks(nc, colour, count, first, ccnt, lane_of, worig, rows):
    """Orders the coloured contacts by colour, keeping contact order inside a colour, and cuts each
    colour into chunks of up to CH lanes. Fills the lane counts, ``lane_of[c]`` (chunk * CH + lane,
    or -1), its inverse ``worig`` and the scalar ``rows`` (contact order; not the contacts that went
    into a manifold lane). ``count`` and ``first``
    (NCOL ints) are scratch. Returns (chunks, scalar rows)."""
    for k in range(NCOL):
        count[k] = 0
    nrows = 0
    for c in range(nc):
        k = colour[c]
        if k >= 0:
            count[k] += 1
        elif k != IN_MANIFOLD:
            rows[nrows] = c
            nrows += 1
    nchunks = 0
    for k in range(NCOL):
        first[k] = nchunks
        left = count[k]
        while left > 0:
            ccnt[nchunks] = min(left, CH)
            left -= CH
            nchunks += 1
        count[k] = 0  # now the fill cursor of the colour
    for c in range(nc):
        k = colour[c]
        if k < 0:
            lane_of[c] = -1
            continue
        p = count[k]
        count[k] = p + 1
        lane = (first[k] + p // CH) * CH + p % CH
        lane_of[c] = lane
        worig[lane] = c
    return nchunks, nrows


@njit(**JIT, inline="always")
def write_lane(wf, wi, lane, pos, inv_mass, a, b, n, ra, rb, lb, masses, friction, sep, impulses,
               approach) -> None:
    """Writes a contact prepared by ``solver.prepare_contacts`` into its lane, normalised so that a
    moves; a fixed side keeps only its anchor's world point, computed as the scalar solver's
    separation does. Vectors come as tuples: a call of more than 30 arguments is not inlined."""
    nx, ny, nz = n
    rax, ray, raz = ra
    rbx, rby, rbz = rb
    nmass, tmass1, tmass2 = masses
    jn, jt1, jt2 = impulses
    k = lane // CH
    l_ = lane - k * CH
    o = k * NF * FS + l_
    swap = inv_mass[a] <= 0.0  # then b moves (the colouring left the rest to the scalar rows)
    fixed_b = swap or b < 0 or inv_mass[b] <= 0.0
    if swap:
        ga = b
        xbx, xby, xbz = pos[a, 0] + rax, pos[a, 1] + ray, pos[a, 2] + raz
        rax, ray, raz = rbx, rby, rbz
    else:
        ga = a
        if b < 0:
            xbx, xby, xbz = lb  # the static world's anchor is the world point
        elif fixed_b:
            xbx, xby, xbz = pos[b, 0] + rbx, pos[b, 1] + rby, pos[b, 2] + rbz
        else:
            xbx, xby, xbz = rbx, rby, rbz
    wf[o + W_NX * FS] = nx
    wf[o + W_NY * FS] = ny
    wf[o + W_NZ * FS] = nz
    wf[o + W_RAX * FS] = rax
    wf[o + W_RAY * FS] = ray
    wf[o + W_RAZ * FS] = raz
    wf[o + W_RBX * FS] = xbx
    wf[o + W_RBY * FS] = xby
    wf[o + W_RBZ * FS] = xbz
    wf[o + W_NMASS * FS] = nmass
    wf[o + W_TMASS1 * FS] = tmass1
    wf[o + W_TMASS2 * FS] = tmass2
    wf[o + W_FRICTION * FS] = -friction if swap else friction  # -0.0 keeps the mark too
    wf[o + W_SEP * FS] = sep
    wf[o + W_JN * FS] = jn
    wf[o + W_JT1 * FS] = jt1
    wf[o + W_JT2 * FS] = jt2
    wf[o + W_MAXJN * FS] = 0.0
    wf[o + W_APPROACH * FS] = approach
    wf[o + W_JSUM * FS] = 0.0
    g = 2 * CH * k + l_
    wi[g] = ga
    wi[g + CH] = ga if fixed_b else b


@njit(**HOT)
def store_state(wf, worig, ccnt, nchunks, cf) -> None:
    """After the substeps: the accumulated impulses and the restitution/event bookkeeping back into
    the contact table (restitution, events, sleep and warm starting read them there)."""
    for k in range(nchunks):
        o = k * NF * FS
        for l_ in range(ccnt[k]):
            c = worig[k * CH + l_]
            for wfield, cfield in STATE_FIELDS:
                cf[c, cfield] = wf[o + wfield * FS + l_]


# ---- per substep: the passes ---------------------------------------------------------------------
@njit(**JIT, inline="always")
def _gather(g, sc, n, vel, angvel, inv_mass, inv_iso, pos) -> None:
    for l_ in range(n):
        a = g[l_]
        b = g[CH + l_]
        for d in range(3):
            sc[(S_VA + d) * FS + l_] = vel[a, d]
            sc[(S_WA + d) * FS + l_] = angvel[a, d]
            sc[(S_VB + d) * FS + l_] = vel[b, d]
            sc[(S_WB + d) * FS + l_] = angvel[b, d]
        sc[S_MA * FS + l_] = inv_mass[a]
        sc[S_MB * FS + l_] = inv_mass[b]
        sc[S_KA * FS + l_] = inv_iso[a]
        sc[S_KB * FS + l_] = inv_iso[b]
        for d in range(3):
            sc[(S_PA + d) * FS + l_] = pos[a, d]
            sc[(S_PB + d) * FS + l_] = pos[b, d]


@njit(**JIT, inline="always")
def _scatter(g, sc, n, vel, angvel) -> None:
    for l_ in range(n):
        a = g[l_]
        b = g[CH + l_]
        # b first: a fixed b's gather index is a, whose row a's own store then overwrites
        for d in range(3):
            vel[b, d] = sc[(S_VB + d) * FS + l_]
            angvel[b, d] = sc[(S_WB + d) * FS + l_]
        for d in range(3):
            vel[a, d] = sc[(S_VA + d) * FS + l_]
            angvel[a, d] = sc[(S_WA + d) * FS + l_]


@njit(**JIT, inline="always")
def _lane(w, g, sc, l_):
    """Lane l's bodies (a fixed b's velocity, mass and inertia, gathered from a, times 0) and its
    normal and tangents oriented from its a to its b."""
    fb = 1.0 if g[CH + l_] != g[l_] else 0.0
    sg = math.copysign(1.0, w[W_FRICTION * FS + l_])
    nx, ny, nz = w[W_NX * FS + l_], w[W_NY * FS + l_], w[W_NZ * FS + l_]
    t1x, t1y, t1z, t2x, t2y, t2z = tangent_basis(nx, ny, nz)
    return (fb, sg * nx, sg * ny, sg * nz, sg * t1x, sg * t1y, sg * t1z, sg * t2x, sg * t2y, sg * t2z,
            sc[S_VA * FS + l_], sc[(S_VA + 1) * FS + l_], sc[(S_VA + 2) * FS + l_],
            sc[S_WA * FS + l_], sc[(S_WA + 1) * FS + l_], sc[(S_WA + 2) * FS + l_],
            fb * sc[S_VB * FS + l_], fb * sc[(S_VB + 1) * FS + l_], fb * sc[(S_VB + 2) * FS + l_],
            fb * sc[S_WB * FS + l_], fb * sc[(S_WB + 1) * FS + l_], fb * sc[(S_WB + 2) * FS + l_],
            sc[S_MA * FS + l_], fb * sc[S_MB * FS + l_], sc[S_KA * FS + l_], fb * sc[S_KB * FS + l_])


@njit(**JIT, inline="always")
def _store_vel(sc, l_, vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz) -> None:
    sc[S_VA * FS + l_] = vax
    sc[(S_VA + 1) * FS + l_] = vay
    sc[(S_VA + 2) * FS + l_] = vaz
    sc[S_WA * FS + l_] = wax
    sc[(S_WA + 1) * FS + l_] = way
    sc[(S_WA + 2) * FS + l_] = waz
    sc[S_VB * FS + l_] = vbx
    sc[(S_VB + 1) * FS + l_] = vby
    sc[(S_VB + 2) * FS + l_] = vbz
    sc[S_WB * FS + l_] = wbx
    sc[(S_WB + 1) * FS + l_] = wby
    sc[(S_WB + 2) * FS + l_] = wbz


@njit(**JIT, inline="always")
def _apply(ma, mb, ka, kb, rax, ray, raz, rbx, rby, rbz, px, py, pz, vax, vay, vaz, wax, way, waz, vbx, vby,
           vbz, wbx, wby, wbz):
    """Impulse P at the contact: -P on a, +P on b (as the scalar ``_apply``); returns the new
    velocities."""
    cax, cay, caz = ray * pz - raz * py, raz * px - rax * pz, rax * py - ray * px
    cbx, cby, cbz = rby * pz - rbz * py, rbz * px - rbx * pz, rbx * py - rby * px
    return (vax - ma * px, vay - ma * py, vaz - ma * pz, wax - ka * cax, way - ka * cay, waz - ka * caz,
            vbx + mb * px, vby + mb * py, vbz + mb * pz, wbx + kb * cbx, wby + kb * cby, wbz + kb * cbz)


@njit(**HOT)
def warm_start_chunks(wf, wi, ccnt, nchunks, sc, vel, angvel, inv_mass, inv_iso) -> None:
    """Applies the lanes' accumulated impulses, as ``solver.warm_start_contacts``. An impulse does not
    depend on the velocities, so nothing is gathered: a vector loop computes each impulse and its
    moments about the two anchors, a scalar loop adds them to the bodies (a colour holds a moving
    body once; a fixed b gets nothing). Measured 40 % faster than gather, compute and scatter."""
    for k in range(nchunks):
        w = wf[k * NF * FS:(k + 1) * NF * FS]
        g = wi[2 * CH * k:2 * CH * (k + 1)]
        n = ccnt[k]
        for l_ in range(n):
            sg = math.copysign(1.0, w[W_FRICTION * FS + l_])
            nx, ny, nz = w[W_NX * FS + l_], w[W_NY * FS + l_], w[W_NZ * FS + l_]
            t1x, t1y, t1z, t2x, t2y, t2z = tangent_basis(nx, ny, nz)
            jn = w[W_JN * FS + l_]
            j1 = w[W_JT1 * FS + l_]
            j2 = w[W_JT2 * FS + l_]
            px = jn * (sg * nx) + j1 * (sg * t1x) + j2 * (sg * t2x)
            py = jn * (sg * ny) + j1 * (sg * t1y) + j2 * (sg * t2y)
            pz = jn * (sg * nz) + j1 * (sg * t1z) + j2 * (sg * t2z)
            rax, ray, raz = w[W_RAX * FS + l_], w[W_RAY * FS + l_], w[W_RAZ * FS + l_]
            rbx, rby, rbz = w[W_RBX * FS + l_], w[W_RBY * FS + l_], w[W_RBZ * FS + l_]
            sc[S_P * FS + l_] = px
            sc[(S_P + 1) * FS + l_] = py
            sc[(S_P + 2) * FS + l_] = pz
            sc[S_CA * FS + l_] = ray * pz - raz * py
            sc[(S_CA + 1) * FS + l_] = raz * px - rax * pz
            sc[(S_CA + 2) * FS + l_] = rax * py - ray * px
            sc[S_CB * FS + l_] = rby * pz - rbz * py
            sc[(S_CB + 1) * FS + l_] = rbz * px - rbx * pz
            sc[(S_CB + 2) * FS + l_] = rbx * py - rby * px
        for l_ in range(n):
            a = g[l_]
            b = g[CH + l_]
            ma = inv_mass[a]
            ka = inv_iso[a]
            mb = inv_mass[b]
            kb = inv_iso[b]
            for d in range(3):
                vel[a, d] -= ma * sc[(S_P + d) * FS + l_]
                angvel[a, d] -= ka * sc[(S_CA + d) * FS + l_]
            if b != a:  # b moves
                for d in range(3):
                    vel[b, d] += mb * sc[(S_P + d) * FS + l_]
                    angvel[b, d] += kb * sc[(S_CB + d) * FS + l_]


@njit(**HOT)
def solve_chunks(wf, wi, ccnt, nchunks, sc, pos, vel, angvel, inv_mass, inv_iso, inv_h, use_bias, br, ms,
                 isc, sbr, sms, sisc, max_push, gx, gy, gz) -> None:
    """``solver.solve_contacts`` on the chunks (``use_bias`` False: the relax pass)."""
    for k in range(nchunks):
        w = wf[k * NF * FS:(k + 1) * NF * FS]
        g = wi[2 * CH * k:2 * CH * (k + 1)]
        n = ccnt[k]
        _gather(g, sc, n, vel, angvel, inv_mass, inv_iso, pos)
        for l_ in range(n):
            (fb, nx, ny, nz, t1x, t1y, t1z, t2x, t2y, t2z, vax, vay, vaz, wax, way, waz, vbx, vby, vbz,
             wbx, wby, wbz, ma, mb, ka, kb) = _lane(w, g, sc, l_)
            rax, ray, raz = w[W_RAX * FS + l_], w[W_RAY * FS + l_], w[W_RAZ * FS + l_]
            rbx, rby, rbz = w[W_RBX * FS + l_], w[W_RBY * FS + l_], w[W_RBZ * FS + l_]
            # separation from the current centres (a fixed b: its anchor's world point)
            dx = -(sc[S_PA * FS + l_] + rax) + (fb * sc[S_PB * FS + l_] + rbx)
            dy = -(sc[(S_PA + 1) * FS + l_] + ray) + (fb * sc[(S_PB + 1) * FS + l_] + rby)
            dz = -(sc[(S_PA + 2) * FS + l_] + raz) + (fb * sc[(S_PB + 2) * FS + l_] + rbz)
            s = dx * nx + dy * ny + dz * nz + w[W_SEP * FS + l_]
            vx, vy, vz = relative_velocity(vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz,
                                  rax, ray, raz, rbx, rby, rbz)
            vn = vx * nx + vy * ny + vz * nz
            # soft step: a speculative contact closes at most its gap; the stiffer coefficients
            # apply against a fixed body. Selects, not branches: the loop must vectorise
            fixed = fb == 0.0
            spec = s > 0.0
            push = max((sbr if fixed else br) * s, -max_push)
            bias = s * inv_h if spec else (push if use_bias else 0.0)
            msc = 1.0 if (spec or not use_bias) else (sms if fixed else ms)
            iscale = 0.0 if (spec or not use_bias) else (sisc if fixed else isc)
            jn_old = w[W_JN * FS + l_]
            imp = -w[W_NMASS * FS + l_] * msc * (vn + bias) - iscale * jn_old
            jn = max(jn_old + imp, 0.0)
            imp = jn - jn_old
            w[W_JN * FS + l_] = jn
            maxjn = w[W_MAXJN * FS + l_]
            w[W_MAXJN * FS + l_] = imp if imp > maxjn else maxjn
            # the speed at which the gap closed (restitution): free flight under gravity from s;
            # gravity accelerates b from a along n unless b is fixed (a always moves)
            an = (fb - 1.0) * (gx * nx + gy * ny + gz * nz)
            v_ref = vn - an / inv_h if use_bias else vn
            fall = -math.sqrt(max(v_ref * v_ref - 2.0 * an * s, 0.0)) if v_ref < 0.0 else v_ref
            hit = fall if spec else vn
            approach = w[W_APPROACH * FS + l_]
            w[W_APPROACH * FS + l_] = hit if (jn > 0.0 and hit < approach) else approach
            jsum = w[W_JSUM * FS + l_]
            w[W_JSUM * FS + l_] = jsum if use_bias else jsum + jn  # the relax pass ends the substep
            (vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz) = _apply(
                ma, mb, ka, kb, rax, ray, raz, rbx, rby, rbz, imp * nx, imp * ny, imp * nz,
                vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz)
            # friction: Coulomb cone clamped on the pair of tangent impulses
            limit = abs(w[W_FRICTION * FS + l_]) * jn
            vx, vy, vz = relative_velocity(vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz,
                                  rax, ray, raz, rbx, rby, rbz)
            v1 = vx * t1x + vy * t1y + vz * t1z
            v2 = vx * t2x + vy * t2y + vz * t2z
            o1 = w[W_JT1 * FS + l_]
            o2 = w[W_JT2 * FS + l_]
            n1 = o1 - w[W_TMASS1 * FS + l_] * v1
            n2 = o2 - w[W_TMASS2 * FS + l_] * v2
            mag2 = n1 * n1 + n2 * n2
            scale = (limit / math.sqrt(mag2) if mag2 > 0.0 else 0.0) if mag2 > limit * limit else 1.0
            n1 *= scale
            n2 *= scale
            w[W_JT1 * FS + l_] = n1
            w[W_JT2 * FS + l_] = n2
            d1 = n1 - o1
            d2 = n2 - o2
            (vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz) = _apply(
                ma, mb, ka, kb, rax, ray, raz, rbx, rby, rbz, d1 * t1x + d2 * t2x, d1 * t1y + d2 * t2y,
                d1 * t1z + d2 * t2z, vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz)
            _store_vel(sc, l_, vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz)
        _scatter(g, sc, n, vel, angvel)


# ---- the per-frame table -------------------------------------------------------------------------
class WideContacts:
    """The chunks and the scalar rows of one frame; buffers grow as needed and are reused.

    Per frame: ``plan`` (after the narrow phase) colours the contacts and lays out the chunks: the
    sphere contacts' here, the box manifolds' in ``manifolds``; ``solver.prepare_contacts`` writes
    each coloured sphere contact into its lane (``lanes``) and completes the other rows, which
    ``manifolds.load_lanes`` copies into the manifold lanes; the substep passes run the chunks, the
    manifold chunks, then the scalar kernels on ``rows``; ``store_state`` and
    ``manifolds.store_manifold_state`` copy the lanes' impulses back into the contact table."""

    def __init__(self) -> None:
        self.enabled = True
        self.nchunks = 0
        self.nrows = 0
        self.colour = np.zeros(0, dtype=np.int64)
        self.lane_of = np.zeros(0, dtype=np.int64)
        self.rows = np.zeros(0, dtype=np.int64)
        self.mask = np.zeros(0, dtype=np.uint64)
        self.ccnt = np.zeros(0, dtype=np.int64)
        self.wf = np.zeros(0)
        self.wi = np.zeros(0, dtype=np.int32)  # gather indices of a and b (half the bytes of int64)
        self.worig = np.zeros(0, dtype=np.int64)
        self.sc = np.zeros(NS * FS)
        self._count = np.zeros(NCOL, dtype=np.int64)
        self._first = np.zeros(NCOL, dtype=np.int64)
        self._no_lanes = np.zeros(0, dtype=np.int64)
        self.manifolds = Manifolds()

    @property
    def lanes(self) -> np.ndarray:
        """Each contact's lane (-1: a scalar row); empty when the wide solver is off."""
        return self.lane_of if self.enabled else self._no_lanes

    def plan(self, ci: np.ndarray, nc: int, inv_mass: np.ndarray, enabled: bool = True) -> None:
        """Colours this frame's contacts and lays out their chunks. ``enabled`` False: no chunks;
        the scalar kernels solve the whole table in contact order."""
        if self.colour.shape[0] < nc:
            cap = max(nc, 2 * self.colour.shape[0], 64)
            self.colour = np.zeros(cap, dtype=np.int64)
            self.lane_of = np.zeros(cap, dtype=np.int64)
            self.rows = np.zeros(cap, dtype=np.int64)
        self.enabled = enabled
        if not enabled:
            self.nchunks = 0
            self.manifolds.clear()
            self.nrows = nc
            self.rows[:nc] = np.arange(nc)
            return
        max_chunks = nc // CH + NCOL + 1
        if self.ccnt.shape[0] < max_chunks:
            cap = max(max_chunks, 2 * self.ccnt.shape[0])
            self.ccnt = np.zeros(cap, dtype=np.int64)
            self.wi = np.zeros(2 * cap * CH, dtype=np.int32)
            self.worig = np.zeros(cap * CH, dtype=np.int64)
        if self.mask.shape[0] < inv_mass.shape[0]:
            self.mask = np.zeros(max(inv_mass.shape[0], 2 * self.mask.shape[0]), dtype=np.uint64)
        colour_contacts(ci, nc, inv_mass, self.mask, self.colour)
        self.manifolds.plan(ci, nc, inv_mass, self.mask, self.colour, self._count, self._first)
        nchunks, nrows = plan_chunks(nc, self.colour, self._count, self._first, self.ccnt, self.lane_of,
                                     self.worig, self.rows)
        if self.wf.shape[0] < nchunks * NF * FS:
            self.wf = np.zeros(max(nchunks, self.wf.shape[0] // (NF * FS) * 3 // 2) * NF * FS)
        self.nchunks = int(nchunks)
        self.nrows = int(nrows)
