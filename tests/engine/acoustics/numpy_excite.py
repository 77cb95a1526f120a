"""The numpy implementation of ``excite`` that the numba kernel replaced: the tests' reference.

The kernel (``krapition_app.engine.acoustics.excite_kernel``) evaluates the same formulas in the same
order; the two differ only where numpy's SIMD exp/log/power round the last bit differently.
"""

from __future__ import annotations

import math

import numpy as np

from krapition_app.engine.acoustics.bodies import BRIGHTNESS, DENSITY, POISSON, YOUNGS, BodyTable
from krapition_app.engine.acoustics.errors import AcousticInputError
from krapition_app.engine.acoustics.excitation import (
    AIR_DENSITY,
    GRAVITY,
    GROUND_SLAB,
    PULSE_Q,
    ROLLING_NOISE_FACTOR,
    ROLLING_ROUGHNESS,
    SLIDING_NOISE,
    SLIDING_ROUGHNESS,
    SPEED_OF_SOUND,
    VIBRATION_FRACTION,
    Excitations,
    air_absorption_db_per_m,
    hertz_duration,
    mode_weights,
    pulse_envelope,
    radiation,
    validate_contacts,
)
from krapition_app.engine.acoustics.modes import (
    FREQ_MIN,
    MODES,
    body_frequencies,
    decay_rates,
    plate_frequencies,
)
from krapition_app.engine.contacts import IMPACT, SLIDING, ContactEvents
from krapition_app.model.materials import material_index


def numpy_excite(
    contacts: ContactEvents,
    bodies: BodyTable,
    time: float,
    *,
    static_material: str = "stone",
    step_dt: float = 1.0 / 240.0,
    max_rows: int | None = None,
) -> Excitations:
    """:func:`excite` as it was written in numpy before it became one numba kernel (the reference)."""
    if not (math.isfinite(time) and math.isfinite(step_dt) and step_dt > 0):
        raise AcousticInputError("time", "time must be finite and step_dt finite and > 0")
    validate_contacts(contacts, bodies)
    n = len(contacts)
    if n == 0:
        raise ValueError("the reference needs at least one contact")
    static = material_index(static_material)
    a, b = contacts.body_a.astype(np.int64), contacts.body_b.astype(np.int64)
    world = b < 0
    b_safe = np.where(world, a, b)
    ma = bodies.masses(a)
    mb = np.where(world, np.inf, bodies.masses(b_safe))
    mat_a = bodies.material[a]
    mat_b = np.where(world, static, bodies.material[b_safe])
    ra = bodies.contact_radius(a)
    rb = np.where(world, np.inf, bodies.contact_radius(b_safe))
    m_eff = 1.0 / (1.0 / ma + 1.0 / mb)
    r_eff = 1.0 / (1.0 / ra + 1.0 / rb)
    e_eff = 1.0 / ((1.0 - POISSON[mat_a] ** 2) / YOUNGS[mat_a] + (1.0 - POISSON[mat_b] ** 2) / YOUNGS[mat_b])
    tau = hertz_duration(m_eff, r_eff, e_eff, contacts.normal_speed)
    impact = contacts.kind == IMPACT
    sliding = contacts.kind == SLIDING

    # both sides of every contact: rows [0, n) for body a, [n, 2n) for body b or the ground
    side_body = np.concatenate([a, b])
    contact_row = np.concatenate([np.arange(n), np.arange(n)])
    ground = side_body < 0
    body_rows = np.where(ground, 0, side_body)
    slab_mass = DENSITY[static] * GROUND_SLAB[0] * GROUND_SLAB[1] * GROUND_SLAB[2]
    mass = np.where(ground, slab_mass, np.concatenate([ma, mb]))
    freq = body_frequencies(bodies, body_rows) if len(body_rows) else np.zeros((0, MODES))
    if ground.any():
        one = np.ones(1)
        freq[ground] = plate_frequencies(
            GROUND_SLAB[0] * one, GROUND_SLAB[1] * one, GROUND_SLAB[2] * one, np.array([static])
        )
    mat = np.where(ground, static, bodies.material[body_rows])
    size = np.where(ground, 0.5 * math.sqrt(GROUND_SLAB[0] * GROUND_SLAB[1]), bodies.size(body_rows))
    freq[:, -1] = 0.0  # the last slot is the rigid-body pulse, filled below
    decay = decay_rates(freq, mat)
    rad = radiation(freq, size)
    audible = freq >= FREQ_MIN
    weights = mode_weights(BRIGHTNESS[mat]) * audible
    imp = impact[contact_row]
    dv = contacts.normal_impulse[contact_row] / mass
    t = tau[contact_row]
    amp = np.where(
        imp[:, None],
        VIBRATION_FRACTION * dv[:, None] * weights * pulse_envelope(freq * t[:, None]) * rad,
        0.0,
    )
    # rigid-body acceleration noise of the struck body (not the ground): a dipole of the body's size
    # accelerated by dv over tau, p ~ rho0 a^3 (dv / tau) / (2 r) * ka / sqrt(1 + (ka)^2), centred at
    # 1 / (2 tau) with Q = PULSE_Q (Richards, Westcott & Jeyapalan 1979, J. Sound Vib. 62(4))
    pulse_f = 0.5 / np.maximum(t, 1e-6)
    pulse_ka = 2.0 * math.pi * pulse_f / SPEED_OF_SOUND * size
    pulse = AIR_DENSITY * size**3 * dv / (2.0 * np.maximum(t, 1e-6)) * pulse_ka / np.sqrt(1.0 + pulse_ka**2)
    pulse_on = imp & ~ground
    freq[:, -1] = np.where(pulse_on, pulse_f, 0.0)
    decay[:, -1] = math.pi * freq[:, -1] / PULSE_Q
    amp[:, -1] = np.where(pulse_on, pulse, 0.0)
    vt = contacts.tangential_speed[contact_row]
    slide = sliding[contact_row]
    load = np.sqrt(np.minimum(contacts.normal_impulse[contact_row] / step_dt / (mass * GRAVITY), 10.0))
    u_noise = np.where(imp, 0.0, SLIDING_NOISE * vt * load * np.where(slide, 1.0, ROLLING_NOISE_FACTOR))
    noise_amp = u_noise[:, None] * weights * rad
    noise_amp[:, -1] = 0.0
    cutoff = np.where(imp, 0.0, np.maximum(100.0, vt / np.where(slide, SLIDING_ROUGHNESS, ROLLING_ROUGHNESS)))
    loud = np.sqrt((amp * amp).sum(axis=1)) + np.sqrt((noise_amp * noise_amp).sum(axis=1))
    rows = Excitations(
        body=side_body.astype(np.int32),
        time=np.full(len(side_body), float(time)),
        position=contacts.point[contact_row],
        freq=freq,
        decay=decay,
        amp=amp,
        noise_amp=noise_amp,
        noise_cutoff=cutoff,
        air_db=air_absorption_db_per_m(freq),
        loudness=loud,
        contact=contact_row.astype(np.int32),
        duration=np.where(imp, t, 0.0),
    )
    return _merge_by_body(rows, max_rows)


def _merge_by_body(rows: Excitations, max_rows: int | None) -> Excitations:
    order = np.argsort(-rows.loudness, kind="stable")  # loudest first: it names position and contact
    rows = rows.take(order)
    bodies, first, inverse = np.unique(rows.body, return_index=True, return_inverse=True)
    if len(bodies) < len(rows):
        merged = rows.take(first)
        amp = np.zeros_like(merged.amp)
        np.add.at(amp, inverse, rows.amp)  # impacts of one body in one step add coherently
        noise = np.zeros_like(merged.noise_amp)
        np.maximum.at(noise, inverse, rows.noise_amp)
        cutoff = np.zeros_like(merged.noise_cutoff)
        np.maximum.at(cutoff, inverse, rows.noise_cutoff)
        loud = np.sqrt((amp * amp).sum(axis=1)) + np.sqrt((noise * noise).sum(axis=1))
        rows = Excitations(
            body=merged.body,
            time=merged.time,
            position=merged.position,
            freq=merged.freq,
            decay=merged.decay,
            amp=amp,
            noise_amp=noise,
            noise_cutoff=cutoff,
            air_db=merged.air_db,
            loudness=loud,
            contact=merged.contact,
            duration=merged.duration,
        )
        rows = rows.take(np.argsort(-rows.loudness, kind="stable"))
    if max_rows is not None and len(rows) > max_rows:
        rows = rows.take(np.arange(max_rows))
    return rows
