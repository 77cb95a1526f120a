"""Mode tables: the frequencies, damping and excitation of each body's vibration modes.

- Sphere: spheroidal modes of a free elastic sphere, f = xi * c_s / (2 pi a), xi from the roots of
  Lamb's frequency equation (Takeuchi & Saito 1972, tabulated in ``_sphere_table``; interpolated in
  Poisson's ratio).
- Bar (a box with one long side): free-free Euler-Bernoulli bending in both transverse directions,
  f_k = (beta_k L)^2 / (2 pi L^2) * sqrt(E I / (rho A)), I/A = h^2 / 12, beta_k L the roots of
  cos x cosh x = 1; plus longitudinal modes f_k = k c / (2 L), c = sqrt(E / rho).
- Plate (a box with one thin side): Kirchhoff plate, f_mn = (pi / 2) sqrt(D / (rho t)) ((m/a)^2 + (n/b)^2),
  D = E t^3 / (12 (1 - nu^2)) (simply-supported mode shapes: an approximation for a free plate).
- Any other box uses the bar formulas along its longest side (beam theory on a block: approximate).

Damping: a mode at f Hz decays at pi * f * eta (eta: the material's loss factor) plus a small support
loss. All functions are vectorised over bodies; nothing here loops over bodies in Python.
"""

from __future__ import annotations

import math

import numpy as np

from . import _sphere_table
from .bodies import BOX, DENSITY, LOSS, POISSON, SHEAR_SPEED, SPHERE, YOUNGS, BodyTable

MODES = 32
FREQ_MIN = 20.0
#: 1/s added to every mode: energy lost to supports and the air (keeps steel from ringing a minute)
SUPPORT_DECAY = 1.5

_XI = np.array(_sphere_table.XI, dtype=np.float64).reshape(
    len(_sphere_table.POISSON), _sphere_table.MAX_DEGREE + 1, _sphere_table.MAX_OVERTONE
)
_XI_NU = np.array(_sphere_table.POISSON)


def _free_free_roots(count: int) -> np.ndarray:
    """beta_k L of a free-free beam: roots of cos x cosh x = 1 (Newton from (2k+1) pi / 2)."""
    x = (2.0 * np.arange(1, count + 1) + 1.0) * math.pi / 2.0
    for _ in range(20):
        f = np.cos(x) * np.cosh(x) - 1.0
        df = -np.sin(x) * np.cosh(x) + np.cos(x) * np.sinh(x)
        x = x - f / df
    return x


BEAM_ROOTS = _free_free_roots(24)  # 4.7300, 7.8532, 10.9956, 14.1372, ...


def sphere_xi(nu: np.ndarray) -> np.ndarray:
    """(n, degrees*overtones) dimensionless frequencies xi for Poisson ratios ``nu`` (0 = absent)."""
    pos = np.clip(np.interp(nu, _XI_NU, np.arange(len(_XI_NU))), 0, len(_XI_NU) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(_XI_NU) - 1)
    w = (pos - lo)[:, None]
    a = _XI[lo].reshape(len(nu), -1)
    b = _XI[hi].reshape(len(nu), -1)
    out = a * (1.0 - w) + b * w
    return np.where((a > 0) & (b > 0), out, 0.0)


def lowest(freqs: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` lowest positive frequencies per row, ascending; 0 pads missing ones."""
    f = np.where(freqs > 0, freqs, np.inf)
    f.sort(axis=1)
    f = f[:, :count]
    if f.shape[1] < count:
        f = np.pad(f, ((0, 0), (0, count - f.shape[1])), constant_values=np.inf)
    return np.where(np.isfinite(f), f, 0.0)


def sphere_frequencies(radius: np.ndarray, material: np.ndarray, count: int = MODES) -> np.ndarray:
    xi = sphere_xi(POISSON[material])
    f = xi * (SHEAR_SPEED[material] / (2.0 * math.pi * radius))[:, None]
    return lowest(f, count)


def bar_frequencies(
    length: np.ndarray, thickness: np.ndarray, width: np.ndarray, material: np.ndarray, count: int = MODES
) -> np.ndarray:
    """Free-free bar of full ``length``, bending across ``thickness`` and ``width``, plus longitudinal."""
    c = np.sqrt(YOUNGS[material] / DENSITY[material])
    bl2 = BEAM_ROOTS[None, :] ** 2
    lsq = (length**2)[:, None]
    bend_t = bl2 / (2.0 * math.pi * lsq) * (c * thickness / math.sqrt(12.0))[:, None]
    bend_w = bl2 / (2.0 * math.pi * lsq) * (c * width / math.sqrt(12.0))[:, None]
    longitudinal = np.arange(1, 9)[None, :] * (c / (2.0 * length))[:, None]
    return lowest(np.concatenate([bend_t, bend_w, longitudinal], axis=1), count)


def plate_frequencies(
    a: np.ndarray, b: np.ndarray, thickness: np.ndarray, material: np.ndarray, count: int = MODES
) -> np.ndarray:
    E, rho, nu = YOUNGS[material], DENSITY[material], POISSON[material]
    D = E * thickness**3 / (12.0 * (1.0 - nu**2))
    k = np.arange(1, 9)
    m, n = np.meshgrid(k, k, indexing="ij")
    m, n = m.ravel()[None, :], n.ravel()[None, :]
    f = (
        (math.pi / 2.0)
        * np.sqrt(D / (rho * thickness))[:, None]
        * ((m / a[:, None]) ** 2 + (n / b[:, None]) ** 2)
    )
    return lowest(f, count)


def body_frequencies(bodies: BodyTable, rows: np.ndarray, count: int = MODES) -> np.ndarray:
    """(len(rows), count) modal frequencies in Hz of the given body rows (0 = no mode)."""
    out = np.zeros((len(rows), count))
    mat = bodies.material[rows]
    sphere = bodies.shape[rows] == SPHERE
    if sphere.any():
        out[sphere] = sphere_frequencies(bodies.radius[rows][sphere], mat[sphere], count)
    box = bodies.shape[rows] == BOX
    if box.any():
        full = np.sort(2.0 * bodies.half_extents[rows][box], axis=1)  # t <= w <= L
        t, w, length = full[:, 0], full[:, 1], full[:, 2]
        plate = t < 0.25 * w
        bm = mat[box]
        f = np.zeros((len(full), count))
        if plate.any():
            f[plate] = plate_frequencies(length[plate], w[plate], t[plate], bm[plate], count)
        if (~plate).any():
            f[~plate] = bar_frequencies(length[~plate], t[~plate], w[~plate], bm[~plate], count)
        out[box] = f
    return out


def decay_rates(freqs: np.ndarray, material: np.ndarray) -> np.ndarray:
    """1/s amplitude decay of each mode: pi * f * eta (loss-factor definition) plus support losses."""
    return math.pi * freqs * LOSS[material][:, None] + SUPPORT_DECAY
