"""The graph-coloured ("wide") contact solver: its colouring, and its agreement with the scalar kernels.

Within a colour no moving body appears twice, so the wide passes over the chunks, then the scalar
kernels over the remaining rows, must give the scalar kernels' result for the same contact order.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from krapition_app.engine.physics import Settings, Simulation
from krapition_app.engine.physics import simulation as simulation_module
from krapition_app.engine.physics.contacts_table import APPROACH, CA, CB, CROT, JN, JSUM, JT1, JT2, MAXJN
from krapition_app.engine.physics.manifolds import (
    IN_MANIFOLD,
    MCH,
    NPT,
    solve_manifolds,
    store_manifold_state,
    warm_start_manifolds,
)
from krapition_app.engine.physics.solver import (
    contact_softness,
    integrate_positions,
    solve_contacts,
    warm_start_contacts,
)
from krapition_app.engine.physics.state import CACHE_LINE
from krapition_app.engine.physics.wide import (
    CH,
    NCOL,
    WideContacts,
    solve_chunks,
    store_state,
    warm_start_chunks,
)

STATE = (JN, JT1, JT2, MAXJN, APPROACH, JSUM)


def _contact_graph(seed: int, nbodies: int, ncontacts: int) -> tuple[np.ndarray, np.ndarray]:
    """Random contact rows (a, b, new, rot) over bodies of which some are fixed (inverse mass 0)."""
    rng = np.random.default_rng(seed)
    inv_mass = np.where(rng.random(nbodies) < 0.2, 0.0, rng.uniform(0.5, 2.0, nbodies))
    ci = np.zeros((ncontacts, 4), dtype=np.int64)
    a = rng.integers(0, nbodies, ncontacts)
    b = rng.integers(-1, nbodies, ncontacts)
    b = np.where(b == a, -1, b)
    ci[:, CA], ci[:, CB] = a, b
    ci[:, CROT] = rng.random(ncontacts) < 0.3
    # box pairs write their points in runs: repeat some rows' pair on the next rows
    for c in range(1, ncontacts):
        if ci[c, CROT] and ci[c - 1, CROT] and rng.random() < 0.6:
            ci[c, :2] = ci[c - 1, :2]
    return ci, inv_mass


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 60), st.integers(0, 400))
def test_colouring_is_proper_complete_and_deterministic(seed: int, nbodies: int, ncontacts: int) -> None:
    ci, inv_mass = _contact_graph(seed, nbodies, ncontacts)
    wide = WideContacts()
    wide.plan(ci, ncontacts, inv_mass)
    colour = wide.colour[:ncontacts].copy()
    mf = wide.manifolds
    lanes = [wide.worig[k * CH:k * CH + wide.ccnt[k]] for k in range(wide.nchunks)]
    slots = mf.morig[:mf.nchunks * MCH * NPT]
    manifold_lanes = [slots[k * MCH * NPT:(k * MCH + mf.mccnt[k]) * NPT] for k in range(mf.nchunks)]
    in_manifolds = np.concatenate(manifold_lanes) if manifold_lanes else np.zeros(0, dtype=np.int64)
    in_manifolds = in_manifolds[in_manifolds >= 0]
    manifold_contacts = set(in_manifolds.tolist())
    rows = wide.rows[:wide.nrows].copy()
    # every contact exactly once: in one lane, in one manifold slot, or in the scalar rows
    everyone = np.concatenate([*lanes, in_manifolds, rows])
    assert np.array_equal(np.sort(everyone), np.arange(ncontacts))
    assert np.array_equal(rows, np.sort(rows))  # the scalar rows keep contact order
    moving = inv_mass > 0.0
    for c in range(ncontacts):
        a, b = ci[c, CA], ci[c, CB]
        both_fixed = not moving[a] and (b < 0 or not moving[b])
        if both_fixed:
            assert colour[c] == -1  # contacts that move nothing stay scalar
        if ci[c, CROT]:
            assert colour[c] in (-1, IN_MANIFOLD)  # turning boxes: manifold lanes or scalar rows
        else:
            assert colour[c] != IN_MANIFOLD
        if colour[c] >= 0:
            assert wide.worig[wide.lane_of[c]] == c
        if colour[c] == IN_MANIFOLD:
            assert c in manifold_contacts
    # within a colour no moving body twice; a chunk holds one colour
    for k in range(NCOL):
        members = np.nonzero(colour == k)[0]
        bodies = [int(i) for c in members for i in ci[c, :2] if i >= 0 and moving[i]]
        assert len(bodies) == len(set(bodies))
    for chunk in lanes:
        assert len(set(colour[chunk].tolist())) == 1
    # a manifold: consecutive contacts of one pair, its colour shared by no other manifold's moving body
    for k in range(NCOL):
        members = np.nonzero(mf.mcolour[:mf.count] == k)[0]
        bodies = [int(i) for m in members for i in ci[mf.mfirst[m], :2] if i >= 0 and moving[i]]
        assert len(bodies) == len(set(bodies))
    for m in range(mf.count):
        pair = ci[mf.mfirst[m]:mf.mfirst[m] + mf.mcount[m], :2]
        assert 1 <= len(pair) <= NPT and np.all(pair == pair[0])
    # deterministic: the same input gives the same plan
    again = WideContacts()
    again.plan(ci.copy(), ncontacts, inv_mass.copy())
    assert np.array_equal(again.colour[:ncontacts], colour)
    assert np.array_equal(again.worig[:wide.nchunks * CH], wide.worig[:wide.nchunks * CH])
    assert np.array_equal(again.manifolds.morig[:slots.shape[0]], slots)
    assert np.array_equal(again.rows[:again.nrows], rows)


def _pile(seed: int, n: int, wide: bool) -> Simulation:
    """Spheres dropped into a bin of static walls around a static sphere (fixed sides, and a static
    body as contact side a), plus a few boxes (scalar rows)."""
    rng = np.random.default_rng(seed)
    sim = Simulation(settings=Settings(wide_contacts=wide, sleeping=False))
    sim.add_body("sphere", 0.08, position=(0.0, 0.0, 0.08), static=True)
    for x, y, half in ((0.34, 0.0, (0.02, 0.36, 0.3)), (-0.34, 0.0, (0.02, 0.36, 0.3)),
                       (0.0, 0.34, (0.36, 0.02, 0.3)), (0.0, -0.34, (0.36, 0.02, 0.3))):
        sim.add_body("box", half, position=(x, y, 0.3), static=True)
    for i in range(n):
        p = (rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 0.06 + 0.05 * (i // 8) + rng.uniform(0, 0.01))
        if i % 7 == 3:
            sim.add_body("box", (0.04, 0.03, 0.05), material="metal", position=p)
        else:
            sim.add_body("sphere", rng.uniform(0.03, 0.06), material=("wood", "rubber")[i % 2], position=p,
                         velocity=tuple(rng.uniform(-0.5, 0.5, 3)))
    return sim


def _capture(sim: Simulation) -> dict[str, Any]:
    """One step up to the substeps (narrow phase, plan, prepare): run_substeps' arguments by name."""
    names = list(inspect.signature(simulation_module.run_substeps.py_func).parameters)
    captured: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(simulation_module, "run_substeps",
                  lambda *args: captured.update(zip(names, args, strict=True)))
        sim.step()
    return captured


def _substep(d: dict[str, Any], cf: np.ndarray, ci: np.ndarray, wide: bool) -> None:
    """One substep's contact passes: warm start, solve, move, relax (no joints in the scene)."""
    h = d["dt"] / d["substeps"]
    inv_h = 1.0 / h
    soft = contact_softness(d["contact_hertz"], d["sphere_contact_hertz"], d["contact_zeta"], h)
    pos, quat, vel, angvel = d["pos"], d["quat"], d["vel"], d["angvel"]
    inv_mass, inv_iso, iw, g = d["inv_mass"], d["inv_iso"], d["iw"], (d["gx"], d["gy"], d["gz"])
    rows, nrows = (d["rows"], d["nrows"]) if wide else (np.arange(d["nc"]), d["nc"])
    chunks = (d["wf"], d["wi"], d["ccnt"], d["nchunks"], d["sc"])
    manifolds = (d["bwf"], d["bwi"], d["mccnt"], d["mslots"], d["mnchunks"], d["bsc"])
    if wide:
        warm_start_chunks(*chunks, vel, angvel, inv_mass, inv_iso)
        warm_start_manifolds(*manifolds, vel, angvel, inv_mass, inv_iso, iw)
    warm_start_contacts(cf, ci, rows, nrows, vel, angvel, inv_mass, inv_iso, iw)
    for use_bias in (True, False):
        if not use_bias:
            integrate_positions(pos, quat, vel, angvel, inv_mass, d["sleeping"], *g, h)
        if wide:
            solve_chunks(*chunks, pos, vel, angvel, inv_mass, inv_iso, inv_h, use_bias, *soft[0],
                         d["max_push"], *g)
            solve_manifolds(*manifolds, pos, quat, vel, angvel, inv_mass, inv_iso, iw, inv_h, use_bias,
                            *soft[1], d["max_push"], *g)
        solve_contacts(cf, ci, rows, nrows, pos, quat, vel, angvel, inv_mass, inv_iso, iw, inv_h, use_bias,
                       soft, d["max_push"])
    if wide:
        store_state(d["wf"], d["worig"], d["ccnt"], d["nchunks"], cf)
        store_manifold_state(d["bwf"], d["morig"], d["mccnt"], d["mnchunks"], cf)


def _box_pile(seed: int, n: int) -> Simulation:
    """Boxes of several sizes dropped into a bin of static walls (a static box as contact side a: the
    manifold lanes swap), on the ground and on a static slab, with a few spheres among them (a
    sphere against a moving box is a one-point manifold)."""
    rng = np.random.default_rng(seed)
    sim = Simulation(settings=Settings(sleeping=False))
    for x, y, half in ((0.34, 0.0, (0.02, 0.36, 0.3)), (-0.34, 0.0, (0.02, 0.36, 0.3)),
                       (0.0, 0.34, (0.36, 0.02, 0.3)), (0.0, -0.34, (0.36, 0.02, 0.3))):
        sim.add_body("box", half, position=(x, y, 0.3), static=True)
    sim.add_body("box", (0.15, 0.15, 0.02), position=(0.15, 0.15, 0.02), static=True)
    for i in range(n):
        p = (rng.uniform(-0.28, 0.28), rng.uniform(-0.28, 0.28), 0.08 + 0.07 * (i // 8))
        if i % 9 == 4:
            sim.add_body("sphere", 0.03, material="rubber", position=p)
        else:
            sim.add_body("box", tuple(rng.uniform(0.02, 0.05, 3)), material=("wood", "metal")[i % 2],
                         position=p, velocity=tuple(rng.uniform(-0.3, 0.3, 3)))
    return sim


def _wide_order(w: dict[str, Any]) -> np.ndarray:
    """The contacts in the order the wide passes solve them: the sphere chunks' lanes, the manifold
    chunks' lanes point after point (lanes are independent, so lane after lane is the same), then
    the scalar rows."""
    lanes = [w["worig"][k * CH:k * CH + w["ccnt"][k]] for k in range(w["nchunks"])]
    slots = [w["morig"][k * MCH * NPT:(k * MCH + w["mccnt"][k]) * NPT] for k in range(w["mnchunks"])]
    slots = [m[m >= 0] for m in slots]
    return np.concatenate([*lanes, *slots, w["rows"][:w["nrows"]]])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from(["spheres", "boxes"]))
def test_wide_passes_match_the_scalar_ones_in_the_same_order(seed: int, scene: str) -> None:
    wide_sim = _pile(seed, 60, True) if scene == "spheres" else _box_pile(seed, 60)
    for _ in range(25):  # a settling heap, with warm-start impulses from the frames before
        wide_sim.step()
    scalar_sim = copy.deepcopy(wide_sim)
    scalar_sim.settings = dataclasses.replace(scalar_sim.settings, wide_contacts=False)
    w = _capture(wide_sim)
    s = _capture(scalar_sim)
    nc = w["nc"]
    assert nc == s["nc"] and w["mnchunks"] > 0
    assert w["nchunks"] > 0 if scene == "spheres" else w["nrows"] < nc // 10
    assert w["pos"].tobytes() == s["pos"].tobytes()
    # the scalar kernels over the whole table, in the wide passes' order
    order = _wide_order(w)
    assert np.array_equal(np.sort(order), np.arange(nc))
    cf, ci = s["cf"][order].copy(), s["ci"][order].copy()
    _substep(s, cf, ci, wide=False)
    _substep(w, w["cf"], w["ci"], wide=True)
    for name in ("pos", "quat", "vel", "angvel"):
        np.testing.assert_allclose(w[name], s[name], rtol=1e-12, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(w["cf"][:nc][order][:, STATE], cf[:, STATE], rtol=1e-12, atol=1e-13)


def test_both_solvers_settle_the_same_pile() -> None:
    """Whole steps (different contact orders, so not equal): the same pile, at rest, as high. A heap
    is chaotic: one jittered pile's mean height differs between the orders by up to ~3.5 mm either
    way, and a straggler may still be rolling off it, so the test takes five jitters."""
    heights = {True: [], False: []}
    for seed in range(5, 10):
        for wide in (True, False):
            rng = np.random.default_rng(seed)  # the same jitter for both
            sim = _pile(0, 0, wide)
            for i in range(196):  # four layers of 7 x 7 spheres, jittered
                x, y = (i % 7 - 3) * 0.09 + rng.uniform(-0.005, 0.005), (i // 7 % 7 - 3) * 0.09
                sim.add_body("sphere", 0.04, position=(x, y, 0.2 + 0.09 * (i // 49)))
            for _ in range(150):
                sim.step()
            z = sim.bodies.pos[6:sim.n, 2]
            speed = np.linalg.norm(sim.bodies.vel[:sim.n], axis=1)
            # at rest: 9 in 10 at gravity's residual speed per frame (~0.02 m/s), nothing flying
            assert np.all(np.isfinite(z)) and float(np.percentile(speed, 90)) < 0.05 and speed.max() < 0.5
            heights[wide].append(float(z.mean()))
    assert abs(np.mean(heights[True]) - np.mean(heights[False])) < 0.003


def test_settings_switch_the_wide_solver_off() -> None:
    sim = Simulation(settings=dataclasses.replace(Settings(), wide_contacts=False))
    sim.add_body("sphere", 0.05, position=(0.0, 0.0, 0.05))
    sim.add_body("sphere", 0.05, position=(0.0, 0.0, 0.149))
    sim.step()
    assert sim.wide.nchunks == 0 and sim.wide.nrows == sim.last_contact_count > 0


def test_packed_body_rows_stay_on_cache_lines_as_the_world_grows() -> None:
    """The solver gathers a body's 64-byte packed rows for two random bodies per contact: each must
    be one cache line, also after the arrays were reallocated."""
    sim = Simulation()
    for i in range(200):  # past the first capacities: the arrays are reallocated on the way
        sim.add_body("sphere", 0.05, position=(0.0, 0.0, 0.1 + 0.2 * i))
        for packed in (sim.bodies.pose, sim.bodies.motion):
            assert packed.ctypes.data % CACHE_LINE == 0 and packed.strides[0] == CACHE_LINE
    assert sim.bodies.vel[199, 2] == 0.0 and sim.bodies.pos[199, 2] == pytest.approx(39.9)
