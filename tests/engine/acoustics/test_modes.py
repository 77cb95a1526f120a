"""Mode tables against analytic values: free steel sphere (Lamb) and free steel bar (Euler-Bernoulli)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from krapition_app.engine.acoustics.bodies import SHEAR_SPEED, BodyTable
from krapition_app.engine.acoustics.modes import (
    BEAM_ROOTS,
    SUPPORT_DECAY,
    body_frequencies,
    decay_rates,
    plate_frequencies,
)
from krapition_app.model.materials import MATERIALS, material_index

STEEL = material_index("metal")


def test_lamb_solver_matches_the_literature() -> None:
    lamb = pytest.importorskip("lamb_sphere")
    # Lamb (1882), Sato & Usami (1962): gravest spheroidal mode (l = 2) of a Poisson solid, xi = 2.6399
    assert lamb.spheroidal_roots(2, 0.25, count=1)[0] == pytest.approx(2.6399, rel=2e-4)


def test_steel_sphere_modes_match_lamb_within_one_percent() -> None:
    lamb = pytest.importorskip("lamb_sphere")
    radius = 0.5  # a big steel ball, so its modes are audible
    bodies = BodyTable.build(shape=["sphere"], material=["metal"], position=[[0, 0, 0]], radius=[radius])
    got = body_frequencies(bodies, np.array([0]))[0]
    nu = MATERIALS["metal"].poisson_ratio
    roots = sorted(x for degree in range(lamb.MAX_DEGREE + 1) for x in lamb.spheroidal_roots(degree, nu))
    expected = np.array(roots[:12]) * SHEAR_SPEED[STEEL] / (2 * math.pi * radius)
    np.testing.assert_allclose(got[:12], expected, rtol=0.01)
    # 0.3 of steel is on the table's grid: the fundamental is exact to the table's 6 digits
    assert got[0] == pytest.approx(expected[0], rel=1e-5)


def test_free_steel_bar_bending_modes_match_euler_bernoulli() -> None:
    roots = [
        brentq(lambda x: math.cos(x) * math.cosh(x) - 1.0, a, b) for a, b in ((4, 5), (7, 8), (10.5, 11.5))
    ]
    np.testing.assert_allclose(BEAM_ROOTS[:3], roots, rtol=1e-9)
    np.testing.assert_allclose(roots, [4.7300408, 7.8532046, 10.9956078], rtol=1e-7)  # textbook values
    length, thick, width = 1.0, 0.01, 0.03
    bodies = BodyTable.build(
        shape=["box"],
        material=["metal"],
        position=[[0, 0, 0]],
        half_extents=[[length / 2, width / 2, thick / 2]],
    )
    got = body_frequencies(bodies, np.array([0]))[0]
    steel = MATERIALS["metal"]
    c = math.sqrt(steel.youngs_modulus / steel.density)
    thin = [r**2 / (2 * math.pi * length**2) * c * thick / math.sqrt(12) for r in roots]
    wide = [r**2 / (2 * math.pi * length**2) * c * width / math.sqrt(12) for r in roots]
    # f1 = 51.9 Hz for a 1 m x 10 mm steel bar; bending across the 30 mm side is 3 times higher
    np.testing.assert_allclose(got[:4], sorted(thin + wide)[:4], rtol=0.01)
    assert thin[0] == pytest.approx(51.9, rel=0.01)


def test_plate_fundamental_is_kirchhoff() -> None:
    steel = MATERIALS["metal"]
    a, b, t = 0.5, 0.4, 0.002
    d = steel.youngs_modulus * t**3 / (12 * (1 - steel.poisson_ratio**2))
    f11 = math.pi / 2 * math.sqrt(d / (steel.density * t)) * (1 / a**2 + 1 / b**2)
    got = plate_frequencies(np.array([a]), np.array([b]), np.array([t]), np.array([STEEL]))[0]
    assert got[0] == pytest.approx(f11, rel=1e-9)


def test_frequencies_scale_with_size_and_stiffness() -> None:
    bodies = BodyTable.build(
        shape=["sphere"] * 3,
        material=["metal", "metal", "rubber"],
        position=[[0, 0, 0]] * 3,
        radius=[0.2, 0.4, 0.2],
    )
    f = body_frequencies(bodies, np.arange(3))
    assert f[1, 0] == pytest.approx(f[0, 0] / 2, rel=1e-9)  # f ~ 1 / size
    assert f[2, 0] < f[0, 0] / 10  # soft rubber rings far lower than steel


def test_damping_follows_the_loss_factor() -> None:
    f = np.array([[100.0, 1000.0]])
    for name in ("metal", "rubber"):
        d = decay_rates(f, np.array([material_index(name)]))
        np.testing.assert_allclose(d, math.pi * f * MATERIALS[name].loss_factor + SUPPORT_DECAY)
