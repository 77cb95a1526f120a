"""The excitation of one physics step as one numba kernel (``nogil``): see :mod:`.excitation` for the physics.

:func:`excite_rows` is the whole of :func:`~.excitation.excite` after its argument checks: it validates
the contacts and the bodies they use (a failure returns a code; the caller then raises the precise error
from the numpy checks), works out both sides of every contact, merges several contacts of one body and
keeps the loudest rows. It holds no GIL, so the synthesis thread and the PortAudio callback run while a
large step is being excited.

Every formula is evaluated in the same order as the numpy expressions it replaced (``a * b * c`` is
``(a * b) * c``, sums over the modes are numpy's pairwise sum), so the results differ from them only
where numpy's SIMD ``exp``/``power`` round differently from the C library's (the last bit of some
values); the result depends on nothing but the inputs, so offline renders stay bit-identical between
runs. Per-material tables (sorted sphere roots, mode weights, the ground slab's modes) are computed
once with the numpy code in :mod:`.excitation` and passed in.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TWO_PI = 2.0 * math.pi
SQRT12 = math.sqrt(12.0)
#: error codes of :func:`excite_rows` (0: valid)
OK = 0
BAD_CONTACT = 1
BAD_BODY = 2


@njit(cache=True, nogil=True)
def pairwise_sum_sq(a, row):
    """numpy's ``(a * a).sum(axis=1)[row]`` bit for bit: its pairwise sum (8 partial sums) for 8+ values."""
    n = a.shape[1]
    if n < 8:
        res = 0.0
        for j in range(n):
            res += a[row, j] * a[row, j]
        return 0.0 + res
    r0 = a[row, 0] * a[row, 0]
    r1 = a[row, 1] * a[row, 1]
    r2 = a[row, 2] * a[row, 2]
    r3 = a[row, 3] * a[row, 3]
    r4 = a[row, 4] * a[row, 4]
    r5 = a[row, 5] * a[row, 5]
    r6 = a[row, 6] * a[row, 6]
    r7 = a[row, 7] * a[row, 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[row, i] * a[row, i]
        r1 += a[row, i + 1] * a[row, i + 1]
        r2 += a[row, i + 2] * a[row, i + 2]
        r3 += a[row, i + 3] * a[row, i + 3]
        r4 += a[row, i + 4] * a[row, i + 4]
        r5 += a[row, i + 5] * a[row, i + 5]
        r6 += a[row, i + 6] * a[row, i + 6]
        r7 += a[row, i + 7] * a[row, i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[row, i] * a[row, i]
        i += 1
    return 0.0 + res


@njit(cache=True, nogil=True)
def _finite3(v, i):
    return np.isfinite(v[i, 0]) and np.isfinite(v[i, 1]) and np.isfinite(v[i, 2])


@njit(cache=True, nogil=True)
def _contacts_ok(body_a, body_b, point, normal, impulse, speed, tangential, kind, nbodies):
    for i in range(body_a.shape[0]):
        if body_a[i] < 0 or body_a[i] >= nbodies or body_b[i] < -1 or body_b[i] >= nbodies:
            return False
        if not (_finite3(point, i) and _finite3(normal, i)):
            return False
        for v in (impulse[i], speed[i], tangential[i]):
            if not (np.isfinite(v) and v >= 0.0):
                return False
        if kind[i] > 2:
            return False
    return True


@njit(cache=True, nogil=True)
def _body_ok(b, shape, radius, half_extents, material, position, velocity, mass, nmaterials):
    if shape[b] != 0 and shape[b] != 1:
        return False
    if material[b] < 0 or material[b] >= nmaterials:
        return False
    if shape[b] == 0:
        if not (np.isfinite(radius[b]) and radius[b] > 0.0):
            return False
    else:
        for c in range(3):
            if not (np.isfinite(half_extents[b, c]) and half_extents[b, c] > 0.0):
                return False
    if not (_finite3(position, b) and _finite3(velocity, b)):
        return False
    return np.isfinite(mass[b]) and mass[b] >= 0.0


@njit(cache=True, nogil=True)
def _mass(b, shape, radius, half_extents, material, mass, density):
    if mass[b] > 0.0:
        return mass[b]
    if shape[b] == 0:
        volume = 4.0 / 3.0 * math.pi * radius[b] ** 3.0
    else:
        volume = 8.0 * half_extents[b, 0] * half_extents[b, 1] * half_extents[b, 2]
    return density[material[b]] * volume


@njit(cache=True, nogil=True)
def _contact_radius(b, shape, radius, half_extents):
    """The sphere's radius; for a box, a rounded edge of its smallest half extent (see bodies.py)."""
    if shape[b] == 0:
        return radius[b]
    return min(half_extents[b, 0], half_extents[b, 1], half_extents[b, 2])


@njit(cache=True, nogil=True)
def _box_frequencies(he, m, youngs, density, poisson, beam_roots_sq, out, row):
    """Plate or bar modes of a box (see modes.py), the lowest ``out.shape[1]`` ascending, 0-padded."""
    full = np.sort(2.0 * he)
    t, w, length = full[0], full[1], full[2]
    if t < 0.25 * w:  # plate: a = length, b = w, thickness t
        e, rho, nu = youngs[m], density[m], poisson[m]
        d = e * t**3.0 / (12.0 * (1.0 - nu * nu))
        root = (math.pi / 2.0) * math.sqrt(d / (rho * t))
        cand = np.empty(64)
        for i in range(8):
            ma = (i + 1) / length
            for j in range(8):
                nb = (j + 1) / w
                cand[i * 8 + j] = root * (ma * ma + nb * nb)
    else:  # bar: bending across t and w, plus longitudinal
        c = math.sqrt(youngs[m] / density[m])
        nroots = beam_roots_sq.shape[0]
        cand = np.empty(2 * nroots + 8)
        lsq2 = TWO_PI * (length * length)
        ct = c * t / SQRT12
        cw = c * w / SQRT12
        for k in range(nroots):
            cand[k] = beam_roots_sq[k] / lsq2 * ct
            cand[nroots + k] = beam_roots_sq[k] / lsq2 * cw
        half = c / (2.0 * length)
        for k in range(8):
            cand[2 * nroots + k] = float(k + 1) * half
    cand.sort()
    count = out.shape[1]
    j = 0
    for v in cand:
        if j == count:
            break
        if v > 0.0 and np.isfinite(v):
            out[row, j] = v
            j += 1
    while j < count:
        out[row, j] = 0.0
        j += 1


@njit(cache=True, nogil=True)
def _pulse_envelope(x):
    x = abs(x)
    if x <= 0.5:
        if abs(1.0 - 4.0 * x * x) < 1e-9:
            return math.pi / 4.0
        return math.cos(math.pi * x) / (1.0 - 4.0 * x * x)
    return min(math.pi / 4.0, 1.0 / max(4.0 * x * x - 1.0, 1e-12))


@njit(cache=True, nogil=True)
def _interp(x, xp, fp):
    """numpy.interp for one value (same slope and same order of operations)."""
    n = xp.shape[0]
    if x < xp[0]:
        return fp[0]
    if x >= xp[n - 1]:
        return fp[n - 1]
    j = np.searchsorted(xp, x, side="right") - 1
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    res = slope * (x - xp[j]) + fp[j]
    if np.isnan(res):
        res = slope * (x - xp[j + 1]) + fp[j + 1]
        if np.isnan(res) and fp[j] == fp[j + 1]:
            res = fp[j]
    return res


@njit(cache=True, nogil=True)
def _air_db(f, log_air_f, log_air_db, top_f, top_db):
    f = max(f, 1.0)
    if f > top_f:
        r = f / top_f
        return top_db * (r * r) / 1000.0
    return math.exp(_interp(math.log(f), log_air_f, log_air_db)) / 1000.0


@njit(cache=True, nogil=True)
def excite_rows(
    body_a,
    body_b,
    point,
    impulse,
    speed,
    tangential,
    kind,
    normal,
    shape,
    radius,
    half_extents,
    material,
    position,
    velocity,
    mass,
    static,
    time,
    step_dt,
    max_rows,
    density,
    youngs,
    poisson,
    loss,
    shear_speed,
    sphere_xi_low,
    weights_table,
    ground_freq,
    beam_roots_sq,
    log_air_f,
    log_air_db,
    top_f,
    top_db,
    vibration_fraction,
    sliding_noise,
    rolling_noise_factor,
    sliding_roughness,
    rolling_roughness,
    gravity,
    slab_mass,
    slab_size,
    pulse_q,
    freq_min,
    support_decay,
    air_density,
    speed_of_sound,
):
    """Validate and excite one step. Returns (code, body, time, position, freq, decay, amp, noise_amp,
    noise_cutoff, air_db, loudness, contact, duration); ``code`` != OK: invalid input, arrays empty."""
    n = body_a.shape[0]
    nb = shape.shape[0]
    modes = weights_table.shape[1]
    last = modes - 1
    if not _contacts_ok(body_a, body_b, point, normal, impulse, speed, tangential, kind, nb):
        return _nothing(BAD_CONTACT, modes)
    checked = np.zeros(nb, np.bool_)
    for i in range(n):
        for b in (body_a[i], body_b[i]):
            if b >= 0 and not checked[b]:
                if not _body_ok(b, shape, radius, half_extents, material, position, velocity, mass,
                                density.shape[0]):
                    return _nothing(BAD_BODY, modes)
                checked[b] = True

    k = 2 * n  # rows [0, n): body a of each contact; [n, 2n): body b or the ground
    freq = np.zeros((k, modes))
    amp = np.zeros((k, modes))
    noise = np.zeros((k, modes))
    side_body = np.empty(k, np.int64)
    side_mat = np.empty(k, np.int64)
    cutoff = np.zeros(k)
    loud = np.empty(k)
    tau = np.empty(k)
    imp = np.empty(k, np.bool_)
    pulse_on = np.empty(k, np.bool_)
    for i in range(n):
        a = np.int64(body_a[i])
        b = np.int64(body_b[i])
        world = b < 0
        ma = _mass(a, shape, radius, half_extents, material, mass, density)
        mat_a = material[a]
        ra = _contact_radius(a, shape, radius, half_extents)
        if world:
            mb = np.inf
            mat_b = static
            rb = np.inf
        else:
            mb = _mass(b, shape, radius, half_extents, material, mass, density)
            mat_b = material[b]
            rb = _contact_radius(b, shape, radius, half_extents)
        m_eff = 1.0 / (1.0 / ma + 1.0 / mb)
        r_eff = 1.0 / (1.0 / ra + 1.0 / rb)
        e_eff = 1.0 / (
            (1.0 - poisson[mat_a] * poisson[mat_a]) / youngs[mat_a]
            + (1.0 - poisson[mat_b] * poisson[mat_b]) / youngs[mat_b]
        )
        v = max(speed[i], 1e-3)
        t = 2.87 * (m_eff * m_eff / (r_eff * (e_eff * e_eff) * v)) ** 0.2
        is_impact = kind[i] == 0
        slide = kind[i] == 1
        for side in range(2):
            row = i + side * n
            body = a if side == 0 else b
            ground = body < 0
            if ground:
                bmass = slab_mass
                m = np.int64(static)
                size = slab_size
                for j in range(modes):
                    freq[row, j] = ground_freq[static, j]
            else:
                bmass = ma if side == 0 else mb
                m = np.int64(material[body])
                if shape[body] == 0:
                    size = radius[body]
                    s = shear_speed[m] / (TWO_PI * radius[body])
                    for j in range(modes):
                        freq[row, j] = sphere_xi_low[m, j] * s
                else:
                    size = (half_extents[body, 0] + half_extents[body, 1] + half_extents[body, 2]) / 3.0
                    he = half_extents[body]
                    _box_frequencies(he, m, youngs, density, poisson, beam_roots_sq, freq, row)
            freq[row, last] = 0.0  # the rigid-body pulse, below
            side_body[row] = body
            side_mat[row] = m
            tau[row] = t
            imp[row] = is_impact
            dv = impulse[i] / bmass
            for j in range(last):
                f = freq[row, j]
                if f < freq_min:
                    continue  # weight 0: no impact, no texture
                ka = TWO_PI * f / speed_of_sound * size
                rad = air_density * speed_of_sound * ka / math.sqrt(1.0 + ka * ka) * size
                w = weights_table[m, j]
                if is_impact:
                    amp[row, j] = vibration_fraction * dv * w * _pulse_envelope(f * t) * rad
            # rigid-body acceleration noise of the struck body (not the ground), see excitation.py
            on = is_impact and not ground
            pulse_on[row] = on
            if on:
                tt = max(t, 1e-6)
                pf = 0.5 / tt
                pka = TWO_PI * pf / speed_of_sound * size
                freq[row, last] = pf
                amp[row, last] = air_density * size**3.0 * dv / (2.0 * tt) * pka / math.sqrt(1.0 + pka * pka)
            if not is_impact:
                vt = tangential[i]
                load = math.sqrt(min(impulse[i] / step_dt / (bmass * gravity), 10.0))
                u = sliding_noise * vt * load * (1.0 if slide else rolling_noise_factor)
                for j in range(last):
                    f = freq[row, j]
                    if f < freq_min:
                        continue
                    ka = TWO_PI * f / speed_of_sound * size
                    rad = air_density * speed_of_sound * ka / math.sqrt(1.0 + ka * ka) * size
                    noise[row, j] = u * weights_table[m, j] * rad
                cutoff[row] = max(100.0, vt / (sliding_roughness if slide else rolling_roughness))
            loud[row] = math.sqrt(pairwise_sum_sq(amp, row)) + math.sqrt(pairwise_sum_sq(noise, row))

    # loudest first (it names position and contact); several rows of one body add up into its first
    order = np.argsort(-loud, kind="mergesort")
    by_body = np.argsort(side_body[order], kind="mergesort")
    groups = np.empty(k, np.int64)  # group of each position in ``order``
    first = np.empty(k, np.int64)  # first (loudest) position of each group, groups by body ascending
    ngroups = 0
    for q in range(k):
        p = by_body[q]
        if q == 0 or side_body[order[p]] != side_body[order[by_body[q - 1]]]:
            first[ngroups] = p
            ngroups += 1
        groups[p] = ngroups - 1
    if ngroups < k:
        g_amp = np.zeros((ngroups, modes))
        g_noise = np.zeros((ngroups, modes))
        g_cut = np.zeros(ngroups)
        for p in range(k):  # in loudness order, as numpy's add.at / maximum.at
            g = groups[p]
            r = order[p]
            for j in range(modes):
                g_amp[g, j] += amp[r, j]
                g_noise[g, j] = max(g_noise[g, j], noise[r, j])
            g_cut[g] = max(g_cut[g], cutoff[r])
        g_loud = np.empty(ngroups)
        for g in range(ngroups):
            g_loud[g] = math.sqrt(pairwise_sum_sq(g_amp, g)) + math.sqrt(pairwise_sum_sq(g_noise, g))
        keep = np.argsort(-g_loud, kind="mergesort")
        src = np.empty(ngroups, np.int64)  # source row of each kept group, for the per-row fields
        for q in range(ngroups):
            src[q] = order[first[keep[q]]]
    else:
        g_amp, g_noise, g_cut, g_loud = amp, noise, cutoff, loud
        keep = order
        src = order
    count = keep.shape[0] if max_rows < 0 else min(keep.shape[0], max_rows)

    o_body = np.empty(count, np.int32)
    o_time = np.full(count, time)
    o_pos = np.empty((count, 3))
    o_freq = np.empty((count, modes))
    o_decay = np.empty((count, modes))
    o_amp = np.empty((count, modes))
    o_noise = np.empty((count, modes))
    o_cut = np.empty(count)
    o_air = np.empty((count, modes))
    o_loud = np.empty(count)
    o_contact = np.empty(count, np.int32)
    o_duration = np.empty(count)
    for q in range(count):
        r = src[q]
        g = keep[q]
        c = r % n
        o_body[q] = side_body[r]
        for d in range(3):
            o_pos[q, d] = point[c, d]
        lf = loss[side_mat[r]]
        for j in range(modes):
            f = freq[r, j]
            o_freq[q, j] = f
            o_decay[q, j] = math.pi * f * lf + support_decay
            o_amp[q, j] = g_amp[g, j]
            o_noise[q, j] = g_noise[g, j]
            o_air[q, j] = _air_db(f, log_air_f, log_air_db, top_f, top_db)
        o_decay[q, last] = math.pi * freq[r, last] / pulse_q
        o_noise[q, last] = 0.0
        o_cut[q] = g_cut[g]
        o_loud[q] = g_loud[g]
        o_contact[q] = c
        o_duration[q] = tau[r] if imp[r] else 0.0
    return (OK, o_body, o_time, o_pos, o_freq, o_decay, o_amp, o_noise, o_cut, o_air, o_loud, o_contact,
            o_duration)


@njit(cache=True, nogil=True)
def _nothing(code, modes):
    z2 = np.zeros((0, modes))
    return (code, np.zeros(0, np.int32), np.zeros(0), np.zeros((0, 3)), z2, z2.copy(), z2.copy(), z2.copy(),
            np.zeros(0), z2.copy(), np.zeros(0), np.zeros(0, np.int32), np.zeros(0))
