"""From contact events to excitations: how hard, how bright and where each body is struck.

An impact gives the struck body a velocity change dv = J / m (J: normal impulse). A fraction of it
goes into elastic vibration and is shared out over the modes with a spectral tilt set by the
material's brightness and by the force pulse: Hertz theory gives the contact duration
tau = 2.87 (m*^2 / (R* E*^2 v))^(1/5) (Johnson, "Contact Mechanics", eq. 11.24) and a half-sine pulse
of that length passes frequencies below about 1 / tau; harder and faster impacts are shorter and
brighter. The surface velocity of each mode radiates like a pulsating sphere of the body's size,
p(r) = rho0 c u (ka / sqrt(1 + (ka)^2)) a / r (Kinsler & Frey, "Fundamentals of Acoustics").

Sliding and rolling contacts drive the same modes with noise whose bandwidth grows with speed
(surface roughness of wavelength lambda passed at speed v sounds at v / lambda).

The vectorised functions here state the formulas (and build the per-material tables); :func:`excite`
runs them for a whole step as one numba kernel without the GIL (``excite_kernel``), so a large step
never holds up the audio threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...model.errors import UnknownMaterialError
from ...model.materials import MATERIAL_NAMES, material_index
from ..contacts import ROLLING, STATIC_WORLD, ContactEvents
from .bodies import BRIGHTNESS, DENSITY, LOSS, POISSON, SHEAR_SPEED, YOUNGS, BodyTable
from .errors import AcousticInputError
from .excite_kernel import OK, excite_rows
from .modes import BEAM_ROOTS, FREQ_MIN, MODES, SUPPORT_DECAY, lowest, plate_frequencies, sphere_xi

AIR_DENSITY = 1.204  # kg/m^3 at 20 C
SPEED_OF_SOUND = 343.0  # m/s at 20 C
#: fraction of an impact's velocity change that goes into elastic vibration (empirical, small)
VIBRATION_FRACTION = 0.01
#: surface velocity of sliding noise per m/s of sliding speed; rolling is quieter
SLIDING_NOISE = 0.002
ROLLING_NOISE_FACTOR = 0.25
SLIDING_ROUGHNESS = 0.5e-3  # m: roughness wavelength of a sliding contact
ROLLING_ROUGHNESS = 2e-3
GRAVITY = 9.81
#: the static world rings as a slab of the static material this big (x, y, thickness), metres
GROUND_SLAB = (2.0, 2.0, 0.05)
#: body index of the static world's voice
GROUND = STATIC_WORLD
#: quality factor of the rigid-body "acceleration noise" pulse (Richards et al. 1979): heavily damped
PULSE_Q = 0.7

# ISO 9613-1 pure-tone air attenuation at 20 C, 70 % RH, dB/km (as tabulated in ISO 9613-2, table 2)
_AIR_F = np.array([63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0])
_AIR_DB_KM = np.array([0.1, 0.3, 1.1, 2.8, 5.0, 9.0, 22.9, 76.6])


def air_absorption_db_per_m(freqs: np.ndarray) -> np.ndarray:
    """dB/m of air absorption at ``freqs`` (log-log interpolation; ~f^2 above 8 kHz)."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1.0)
    db = np.exp(np.interp(np.log(f), np.log(_AIR_F), np.log(_AIR_DB_KM)))
    high = f > _AIR_F[-1]
    db = np.where(high, _AIR_DB_KM[-1] * (f / _AIR_F[-1]) ** 2, db)
    return db / 1000.0


def hertz_duration(m_eff: np.ndarray, r_eff: np.ndarray, e_eff: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Seconds of Hertzian contact between elastic bodies (Johnson eq. 11.24)."""
    v = np.maximum(speed, 1e-3)
    return 2.87 * (m_eff**2 / (r_eff * e_eff**2 * v)) ** 0.2


def pulse_envelope(x: np.ndarray) -> np.ndarray:
    """Upper envelope of |spectrum| / impulse of a half-sine force pulse, x = f * tau.

    The exact magnitude is |cos(pi x) / (1 - 4 x^2)|; its notches depend on an idealised pulse shape,
    so the monotone envelope is used: exact up to x = 1/2, then min(pi/4, 1 / (4 x^2 - 1)).
    """
    x = np.abs(x)
    low = x <= 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.where(
            np.abs(1.0 - 4.0 * x * x) < 1e-9, math.pi / 4.0, np.cos(math.pi * x) / (1.0 - 4.0 * x * x)
        )
        tail = np.minimum(math.pi / 4.0, 1.0 / np.maximum(4.0 * x * x - 1.0, 1e-12))
    return np.where(low, exact, tail)


def radiation(freqs: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Pressure at 1 m per m/s of surface velocity of a pulsating sphere of radius ``size``."""
    ka = 2.0 * math.pi * freqs / SPEED_OF_SOUND * size[:, None]
    return AIR_DENSITY * SPEED_OF_SOUND * ka / np.sqrt(1.0 + ka * ka) * size[:, None]


def mode_weights(brightness: np.ndarray, count: int = MODES) -> np.ndarray:
    """Share of vibration per mode, (k+1)^-tilt with tilt 1.5 (1 - brightness), sum of squares 1."""
    k = np.arange(1, count + 1, dtype=np.float64)[None, :]
    w = k ** (-1.5 * (1.0 - brightness[:, None]))
    return w / np.sqrt((w * w).sum(axis=1, keepdims=True))


#: per material: the sorted sphere roots xi (a sphere's modes are these times c_s / (2 pi a)), the mode
#: weights, and the modes of the ground slab; computed once with the numpy functions above for the kernel
_MATERIALS = np.arange(len(MATERIAL_NAMES))
_SPHERE_XI_LOW = lowest(sphere_xi(POISSON), MODES)
_WEIGHTS = mode_weights(BRIGHTNESS)
_GROUND_FREQ = plate_frequencies(
    np.full(len(_MATERIALS), GROUND_SLAB[0]),
    np.full(len(_MATERIALS), GROUND_SLAB[1]),
    np.full(len(_MATERIALS), GROUND_SLAB[2]),
    _MATERIALS,
)
_BEAM_ROOTS_SQ = BEAM_ROOTS**2
_LOG_AIR_F = np.log(_AIR_F)
_LOG_AIR_DB = np.log(_AIR_DB_KM)


@dataclass(frozen=True, slots=True)
class Excitations:
    """One row per excited body. Amplitudes are sound pressure in Pa at 1 m, before air absorption."""

    body: np.ndarray  # int32 (k,)
    time: np.ndarray  # float64 (k,), seconds on the caller's clock
    position: np.ndarray  # float64 (k, 3)
    freq: np.ndarray  # float64 (k, MODES), Hz (0: unused)
    decay: np.ndarray  # float64 (k, MODES), 1/s
    amp: np.ndarray  # float64 (k, MODES), Pa at 1 m of an impact (0 for pure noise rows)
    noise_amp: np.ndarray  # float64 (k, MODES), steady Pa at 1 m of sliding/rolling texture
    noise_cutoff: np.ndarray  # float64 (k,), Hz
    air_db: np.ndarray  # float64 (k, MODES), dB/m
    loudness: np.ndarray  # float64 (k,), Pa at 1 m (rms over modes)
    contact: np.ndarray  # int32 (k,), the contact row that caused it (the loudest one)
    duration: np.ndarray  # float64 (k,), Hertz contact seconds (0 for noise)

    def __len__(self) -> int:
        return len(self.body)

    def take(self, rows: np.ndarray) -> Excitations:
        return Excitations(**{name: getattr(self, name)[rows] for name in self.__slots__})

    @classmethod
    def concat(cls, parts: list[Excitations]) -> Excitations:
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in cls.__slots__})


def validate_contacts(contacts: ContactEvents, bodies: BodyTable) -> None:
    """Raise :class:`AcousticInputError` naming the field and rows of the first broken rule."""
    n = len(bodies)
    checks = (
        ("body_a", (contacts.body_a < 0) | (contacts.body_a >= n), f"must index a body (0..{n - 1})"),
        (
            "body_b",
            (contacts.body_b < STATIC_WORLD) | (contacts.body_b >= n),
            f"must index a body (0..{n - 1}) or be -1 (static world)",
        ),
        ("point", ~np.all(np.isfinite(contacts.point), axis=1), "must be finite"),
        ("normal", ~np.all(np.isfinite(contacts.normal), axis=1), "must be finite"),
        (
            "normal_impulse",
            ~(np.isfinite(contacts.normal_impulse) & (contacts.normal_impulse >= 0)),
            "must be finite and >= 0",
        ),
        (
            "normal_speed",
            ~(np.isfinite(contacts.normal_speed) & (contacts.normal_speed >= 0)),
            "must be finite and >= 0",
        ),
        (
            "tangential_speed",
            ~(np.isfinite(contacts.tangential_speed) & (contacts.tangential_speed >= 0)),
            "must be finite and >= 0",
        ),
        ("kind", contacts.kind > ROLLING, "must be IMPACT, SLIDING or ROLLING"),
    )
    for field, bad, reason in checks:
        if bad.any():
            raise AcousticInputError(
                f"ContactEvents.{field}", reason, tuple(int(i) for i in np.nonzero(bad)[0])
            )
    used = np.unique(np.concatenate([contacts.body_a, contacts.body_b[contacts.body_b >= 0]]))
    bodies.validate(used)


def excite(
    contacts: ContactEvents,
    bodies: BodyTable,
    time: float,
    *,
    static_material: str = "stone",
    step_dt: float = 1.0 / 240.0,
    max_rows: int | None = None,
) -> Excitations:
    """The excitations of one physics step (validated; see :func:`validate_contacts`).

    Each contact excites both of its bodies (the static world does not ring). Several contacts of
    one body in a step add up into one row; at most ``max_rows`` of the loudest rows are kept.
    The work is one numba kernel that holds no GIL (:func:`.excite_kernel.excite_rows`); where the
    input is invalid, the numpy checks of :func:`validate_contacts` name the field and rows.
    """
    if not (math.isfinite(time) and math.isfinite(step_dt) and step_dt > 0):
        raise AcousticInputError("time", "time must be finite and step_dt finite and > 0")
    if len(contacts) == 0:
        validate_contacts(contacts, bodies)
        return _empty()
    try:
        static = material_index(static_material)
    except UnknownMaterialError:
        validate_contacts(contacts, bodies)  # a broken contact is reported first, as it always was
        raise
    c, b = contacts, bodies
    code, *fields = excite_rows(
        c.body_a,
        c.body_b,
        c.point,
        c.normal_impulse,
        c.normal_speed,
        c.tangential_speed,
        c.kind,
        c.normal,
        b.shape,
        b.radius,
        b.half_extents,
        b.material,
        b.position,
        b.velocity,
        b.mass,
        static,
        float(time),
        float(step_dt),
        -1 if max_rows is None else int(max_rows),
        DENSITY,
        YOUNGS,
        POISSON,
        LOSS,
        SHEAR_SPEED,
        _SPHERE_XI_LOW,
        _WEIGHTS,
        _GROUND_FREQ,
        _BEAM_ROOTS_SQ,
        _LOG_AIR_F,
        _LOG_AIR_DB,
        float(_AIR_F[-1]),
        float(_AIR_DB_KM[-1]),
        VIBRATION_FRACTION,
        SLIDING_NOISE,
        ROLLING_NOISE_FACTOR,
        SLIDING_ROUGHNESS,
        ROLLING_ROUGHNESS,
        GRAVITY,
        float(DENSITY[static] * GROUND_SLAB[0] * GROUND_SLAB[1] * GROUND_SLAB[2]),
        0.5 * math.sqrt(GROUND_SLAB[0] * GROUND_SLAB[1]),
        PULSE_Q,
        FREQ_MIN,
        SUPPORT_DECAY,
        AIR_DENSITY,
        SPEED_OF_SOUND,
    )
    if code != OK:
        validate_contacts(contacts, bodies)  # raises the precise error
        raise AcousticInputError("contacts", "invalid contacts or bodies")
    return Excitations(*fields)


def _empty() -> Excitations:
    z = np.zeros
    return Excitations(
        body=z(0, np.int32),
        time=z(0),
        position=z((0, 3)),
        freq=z((0, MODES)),
        decay=z((0, MODES)),
        amp=z((0, MODES)),
        noise_amp=z((0, MODES)),
        noise_cutoff=z(0),
        air_db=z((0, MODES)),
        loudness=z(0),
        contact=z(0, np.int32),
        duration=z(0),
    )
