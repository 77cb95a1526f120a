"""The substep loop and the contact-event extraction, as single kernels (one call per frame)."""

from __future__ import annotations

import math

from numba import njit

from ..contacts import IMPACT, ROLLING, SLIDING
from .contacts_table import (
    CA,
    CB,
    CNEW,
    JN,
    JSUM,
    JT1,
    JT2,
    LAX,
    LAY,
    LAZ,
    NX,
    NY,
    NZ,
    PX,
    PY,
    PZ,
    VN0,
    VT0,
)
from .joints import (
    project_joints,
    project_points_direct,
    solve_drags,
    solve_joints,
    warm_start_drags,
    warm_start_joints,
)
from .manifolds import solve_manifolds, store_manifold_state, warm_start_manifolds
from .solver import (
    apply_restitution,
    contact_softness,
    integrate_positions,
    integrate_velocities,
    project_contacts,
    solve_contacts,
    warm_start_contacts,
)
from .vecmath import HOT, JIT, make_soft
from .wide import solve_chunks, store_state, warm_start_chunks

#: up to this many joints the point rows are projected with one dense solve (cost grows as n^3)
DIRECT_PROJECTION_LIMIT = 48


@njit(**JIT)
def run_substeps(
    cf, ci, nc,
    wf, wi, worig, ccnt, nchunks, sc, rows, nrows,
    bwf, bwi, morig, mccnt, mslots, mnchunks, bsc,
    pos, quat, vel, angvel, inv_mass, inv_iso, iw, sleeping,
    jkind, ja, jb, jlocal_a, jlocal_b, jaxis_a, jaxis_b, jref_a, jref_b, jlimits, jhas_limit, jlength,
    jimpulse,
    dbody, dlocal, dtarget, dimpulse, dmax_force,
    gx, gy, gz, dt, substeps, contact_hertz, sphere_contact_hertz, contact_zeta, joint_hertz, joint_zeta,
    max_push,
    restitution_threshold, angular_damping, max_speed, drag_hertz, drag_zeta, drag_angular_damping,
    joint_projection_iterations, contact_projection, sphere_contact_projection, contact_projection_iterations,
    allowed_penetration, sphere_allowed_penetration,
) -> None:
    h = dt / substeps
    inv_h = 1.0 / h
    soft = contact_softness(contact_hertz, sphere_contact_hertz, contact_zeta, h)
    # the wide lanes hold sphere contacts (ci CROT = 0), the manifold lanes box contacts (CROT = 1)
    br, ms, isc, sbr, sms, sisc = soft[0, 0], soft[0, 1], soft[0, 2], soft[0, 3], soft[0, 4], soft[0, 5]
    bbr, bms, bisc, bsbr, bsms, bsisc = soft[1, 0], soft[1, 1], soft[1, 2], soft[1, 3], soft[1, 4], soft[1, 5]
    jbr, jms, jisc = make_soft(joint_hertz, joint_zeta, h)
    dbr, dms, disc = make_soft(drag_hertz, drag_zeta, h)
    dmax = dmax_force * h
    for _ in range(substeps):
        integrate_velocities(vel, angvel, inv_mass, sleeping, gx, gy, gz, h, angular_damping, max_speed)
        warm_start_drags(dbody, dlocal, dimpulse, quat, vel, angvel, inv_mass, iw)
        warm_start_joints(jkind, ja, jb, jlocal_a, jlocal_b, jaxis_a, jaxis_b, jimpulse, pos, quat, vel,
                          angvel, inv_mass, iw)
        # the coloured contacts by the wide kernels, then the rest by the scalar ones
        warm_start_chunks(wf, wi, ccnt, nchunks, sc, vel, angvel, inv_mass, inv_iso)
        warm_start_manifolds(bwf, bwi, mccnt, mslots, mnchunks, bsc, vel, angvel, inv_mass, inv_iso, iw)
        warm_start_contacts(cf, ci, rows, nrows, vel, angvel, inv_mass, inv_iso, iw)
        solve_drags(dbody, dlocal, dtarget, dimpulse, dmax, pos, quat, vel, angvel, inv_mass, iw,
                    dbr, dms, disc, drag_angular_damping, h)
        solve_joints(jkind, ja, jb, jlocal_a, jlocal_b, jaxis_a, jaxis_b, jref_a, jref_b, jlimits, jhas_limit,
                     jlength, jimpulse, pos, quat, vel, angvel, inv_mass, iw, inv_h, True, jbr, jms, jisc)
        solve_chunks(wf, wi, ccnt, nchunks, sc, pos, vel, angvel, inv_mass, inv_iso, inv_h, True, br, ms, isc,
                     sbr, sms, sisc, max_push, gx, gy, gz)
        solve_manifolds(bwf, bwi, mccnt, mslots, mnchunks, bsc, pos, quat, vel, angvel, inv_mass, inv_iso, iw,
                        inv_h, True, bbr, bms, bisc, bsbr, bsms, bsisc, max_push, gx, gy, gz)
        solve_contacts(cf, ci, rows, nrows, pos, quat, vel, angvel, inv_mass, inv_iso, iw, inv_h, True, soft,
                       max_push)
        integrate_positions(pos, quat, vel, angvel, inv_mass, sleeping, gx, gy, gz, h)
        solve_joints(jkind, ja, jb, jlocal_a, jlocal_b, jaxis_a, jaxis_b, jref_a, jref_b, jlimits, jhas_limit,
                     jlength, jimpulse, pos, quat, vel, angvel, inv_mass, iw, inv_h, False, jbr, jms, jisc)
        solve_chunks(wf, wi, ccnt, nchunks, sc, pos, vel, angvel, inv_mass, inv_iso, inv_h, False, br, ms,
                     isc, sbr, sms, sisc, max_push, gx, gy, gz)
        solve_manifolds(bwf, bwi, mccnt, mslots, mnchunks, bsc, pos, quat, vel, angvel, inv_mass, inv_iso, iw,
                        inv_h, False, bbr, bms, bisc, bsbr, bsms, bsisc, max_push, gx, gy, gz)
        solve_contacts(cf, ci, rows, nrows, pos, quat, vel, angvel, inv_mass, inv_iso, iw, inv_h, False, soft,
                       max_push)
        for _ in range(joint_projection_iterations):
            if jkind.shape[0] <= DIRECT_PROJECTION_LIMIT:
                project_points_direct(jkind, ja, jb, jlocal_a, jlocal_b, pos, quat, inv_mass, iw)
            project_joints(jkind, ja, jb, jlocal_a, jlocal_b, jlength, pos, quat, inv_mass, iw, 1.0)
    store_state(wf, worig, ccnt, nchunks, cf)
    store_manifold_state(bwf, morig, mccnt, mnchunks, cf)
    apply_restitution(cf, ci, nc, vel, angvel, inv_mass, inv_iso, iw, restitution_threshold)
    for _ in range(contact_projection_iterations):
        project_contacts(cf, ci, nc, pos, quat, inv_mass, inv_iso, iw, contact_projection,
                         sphere_contact_projection, allowed_penetration, sphere_allowed_penetration)
    if contact_projection_iterations > 0:  # joints have the last word: they must not stretch
        for _ in range(joint_projection_iterations):
            if jkind.shape[0] <= DIRECT_PROJECTION_LIMIT:
                project_points_direct(jkind, ja, jb, jlocal_a, jlocal_b, pos, quat, inv_mass, iw)
            project_joints(jkind, ja, jb, jlocal_a, jlocal_b, jlength, pos, quat, inv_mass, iw, 1.0)


@njit(**HOT)
def count_events(cf, nc) -> int:
    count = 0
    for c in range(nc):
        if cf[c, JSUM] > 0.0:
            count += 1
    return count


@njit(**HOT)
def fill_events(cf, ci, nc, vel, body_a, body_b, point, normal, normal_impulse, normal_speed,
                tangential_speed, kind, motion_threshold) -> None:
    """One row per contact that pushed during the frame. Kind: IMPACT when the contact is new,
    ROLLING when the surfaces barely slip while the bodies move past each other, else SLIDING."""
    k = 0
    for c in range(nc):
        if not cf[c, JSUM] > 0.0:  # the same test as count_events, NaN included: never past the arrays
            continue
        a = ci[c, CA]
        b = ci[c, CB]
        nx, ny, nz = cf[c, NX], cf[c, NY], cf[c, NZ]
        body_a[k] = a
        body_b[k] = b
        point[k, 0], point[k, 1], point[k, 2] = cf[c, PX], cf[c, PY], cf[c, PZ]
        normal[k, 0], normal[k, 1], normal[k, 2] = nx, ny, nz
        normal_impulse[k] = cf[c, JSUM]
        normal_speed[k] = max(0.0, -cf[c, VN0])
        slip = cf[c, VT0]
        tangential_speed[k] = slip
        if ci[c, CNEW] == 1:
            kind[k] = IMPACT
        else:
            # relative velocity of the centres, tangential part: how fast the bodies pass each other
            vx, vy, vz = -vel[a, 0], -vel[a, 1], -vel[a, 2]
            if b >= 0:
                vx += vel[b, 0]
                vy += vel[b, 1]
                vz += vel[b, 2]
            vn = vx * nx + vy * ny + vz * nz
            tx, ty, tz = vx - vn * nx, vy - vn * ny, vz - vn * nz
            passing = math.sqrt(tx * tx + ty * ty + tz * tz)
            if passing > motion_threshold and slip < 0.5 * passing:
                kind[k] = ROLLING
            else:
                kind[k] = SLIDING
        k += 1




@njit(**HOT)
def save_warm_start(cf, ci, nc, start, other, local, impulses) -> None:
    """Copies this frame's contacts as next frame's warm-start memory, bucketed by body a (a counting
    sort: ``start`` has one entry per body plus one, zeroed; the other arrays have nc rows). Within a
    bucket, points keep their contact order."""
    nb = start.shape[0] - 1
    for c in range(nc):
        start[ci[c, CA] + 1] += 1
    for i in range(nb):
        start[i + 1] += start[i]
    for c in range(nc):  # start[a] is used as the fill cursor of bucket a, then restored below
        a = ci[c, CA]
        k = start[a]
        start[a] = k + 1
        other[k] = ci[c, CB]
        local[k, 0] = cf[c, LAX]
        local[k, 1] = cf[c, LAY]
        local[k, 2] = cf[c, LAZ]
        impulses[k, 0] = cf[c, JN]
        impulses[k, 1] = cf[c, JT1]
        impulses[k, 2] = cf[c, JT2]
    for i in range(nb, 0, -1):
        start[i] = start[i - 1]
    start[0] = 0
