"""``krapition bench physics``: our engine against Rapier and PyBullet on the same falling pile.

N bodies (spheres of radius 5 cm or boxes of 10 cm, 1 kg) fall from a jittered lattice into an open
box of static walls; gravity -9.81, sleeping off, 60 Hz frames. Every engine runs the same scene in
this process, one after another, pinned to one core. Frame times are taken over the second half of
the run (the dense pile). Accuracy is measured the same way for every engine: our narrow phase runs
on each engine's final poses.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

DESCRIPTION = "rigid-body physics: our numba engine vs rapier3d and pybullet (frame times, accuracy)"

RADIUS = 0.05  # sphere radius; boxes have this half extent
MASS = 1.0
FRICTION = 0.5
RESTITUTION = 0.0
WALL_HALF_THICKNESS = 0.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bodies", type=int, default=2000, help="number of bodies (default 2000)")
    parser.add_argument("--shape", choices=("sphere", "box"), default="sphere")
    parser.add_argument("--compare", default="rapier,pybullet",
                        help="comma-separated peers: rapier, pybullet, or none (default both)")
    parser.add_argument("--seconds", type=float, default=4.0, help="simulated seconds (default 4)")
    parser.add_argument("--substeps", type=int, default=4, help="solver substeps per frame (all engines)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="wall-clock seconds per engine before its run is cut short (default 120)")
    parser.add_argument("--core", type=int, default=None, help="CPU core to pin to (default: the last)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")


# ---- the scene -------------------------------------------------------------------------------------
def build_layout(n: int, seed: int) -> dict[str, Any]:
    """Lattice positions and the open box (interior half width, wall height)."""
    rng = np.random.default_rng(seed)
    spacing = 2.5 * RADIUS
    per_side = max(2, math.ceil(math.sqrt(n / 16.0)))
    half_width = per_side * spacing / 2.0
    layers = math.ceil(n / (per_side * per_side))
    idx = np.arange(n)
    ix = idx % per_side
    iy = (idx // per_side) % per_side
    iz = idx // (per_side * per_side)
    pos = np.stack([(ix + 0.5) * spacing - half_width, (iy + 0.5) * spacing - half_width,
                    RADIUS * 2 + iz * spacing], axis=1)
    pos[:, :2] += rng.uniform(-0.1, 0.1, (n, 2)) * RADIUS
    top = float(pos[:, 2].max()) if n else 0.0
    angles = rng.uniform(-0.3, 0.3, (n, 3))
    return {"pos": pos, "angles": angles, "half_width": half_width, "wall_height": top + 0.5,
            "layers": layers}


def _walls(layout: dict[str, Any]) -> list[tuple[tuple[float, float, float], tuple[float, float, float]]]:
    """(centre, half extents) of the four static walls around the interior."""
    w = layout["half_width"]
    h = layout["wall_height"] / 2.0
    t = WALL_HALF_THICKNESS
    long = w + 2 * t
    return [((w + t, 0.0, h), (t, long, h)), ((-w - t, 0.0, h), (t, long, h)),
            ((0.0, w + t, h), (long, t, h)), ((0.0, -w - t, h), (long, t, h))]


def _quat_from_angles(a: np.ndarray) -> np.ndarray:
    """Rotation vector -> (w, x, y, z)."""
    angle = np.linalg.norm(a, axis=1, keepdims=True)
    axis = np.where(angle > 1e-12, a / np.maximum(angle, 1e-12), 0.0)
    return np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=1)


# ---- engines ---------------------------------------------------------------------------------------
class _Ours:
    name = "krapition"

    def __init__(self, layout: dict[str, Any], shape: str, substeps: int) -> None:
        from krapition_app.engine.physics import Settings, Simulation
        from krapition_app.model.materials import MATERIALS, Material

        base = MATERIALS["wood"]
        bench_material = Material(
            name="bench", density=1000.0, youngs_modulus=base.youngs_modulus,
            poisson_ratio=base.poisson_ratio,
            restitution=RESTITUTION, static_friction=FRICTION, dynamic_friction=FRICTION,
            loss_factor=base.loss_factor, brightness=base.brightness, colour=base.colour,
        )
        self.sim = Simulation(settings=Settings(substeps=substeps, sleeping=False),
                              materials=[bench_material], ground_material="bench")
        quats = _quat_from_angles(layout["angles"]) if shape == "box" else None
        size: Any = RADIUS if shape == "sphere" else (RADIUS, RADIUS, RADIUS)
        for i, p in enumerate(layout["pos"]):
            q = (1.0, 0.0, 0.0, 0.0) if quats is None else quats[i]
            self.sim.add_body(shape, size, material="bench", position=p, orientation=q, mass=MASS)
        for centre, half in _walls(layout):
            self.sim.add_body("box", half, material="bench", position=centre, static=True)
        self.n = len(layout["pos"])

    def step(self) -> None:
        self.sim.step()

    def poses(self) -> tuple[np.ndarray, np.ndarray]:
        return self.sim.bodies.pos[: self.n].copy(), self.sim.bodies.quat[: self.n].copy()


class _Rapier:
    name = "rapier"

    def __init__(self, layout: dict[str, Any], shape: str, substeps: int) -> None:
        import rapier3d as r

        self.world = r.PhysicsWorld(gravity=(0.0, 0.0, -9.81))
        if hasattr(self.world, "set_num_threads"):
            self.world.set_num_threads(1)
        params = self.world.integration_parameters  # modified in place
        params.dt = 1.0 / 60.0
        params.num_solver_iterations = substeps
        ground = r.Collider.cuboid(50.0, 50.0, 0.5).translation((0.0, 0.0, -0.5)).friction(FRICTION)
        self.world.add_collider(ground.restitution(RESTITUTION))
        for centre, half in _walls(layout):
            self.world.add_collider(r.Collider.cuboid(*half).translation(centre).friction(FRICTION)
                                    .restitution(RESTITUTION))
        self.handles = []
        for i, p in enumerate(layout["pos"]):
            builder = r.RigidBody.dynamic(translation=tuple(p), can_sleep=False)
            if shape == "box":
                builder = builder.rotation(tuple(layout["angles"][i]))
                collider = r.Collider.cuboid(RADIUS, RADIUS, RADIUS)
            else:
                collider = r.Collider.ball(RADIUS)
            collider = collider.mass(MASS).friction(FRICTION).restitution(RESTITUTION)
            self.handles.append(self.world.add_body(builder, [collider]))

    def step(self) -> None:
        self.world.step()

    def poses(self) -> tuple[np.ndarray, np.ndarray]:
        bodies = self.world.rigid_bodies
        pos = np.array([tuple(bodies[h].translation.to_tuple()) for h in self.handles], dtype=np.float64)
        quat = np.array([_rapier_quat(bodies[h].rotation) for h in self.handles], dtype=np.float64)
        return pos, quat


def _rapier_quat(rot: Any) -> tuple[float, float, float, float]:
    x, y, z, w = rot.to_tuple()  # this binding's tuple is (x, y, z, w): identity is (0, 0, 0, 1)
    return (float(w), float(x), float(y), float(z))


class _PyBullet:
    name = "pybullet"

    def __init__(self, layout: dict[str, Any], shape: str, substeps: int) -> None:
        import pybullet as pb

        self.pb = pb
        self.client = pb.connect(pb.DIRECT)
        pb.setGravity(0, 0, -9.81, physicsClientId=self.client)
        pb.setPhysicsEngineParameter(fixedTimeStep=1.0 / 60.0, numSubSteps=substeps,
                                     physicsClientId=self.client)
        plane = pb.createCollisionShape(pb.GEOM_PLANE, physicsClientId=self.client)
        ground = pb.createMultiBody(0, plane, physicsClientId=self.client)
        pb.changeDynamics(ground, -1, lateralFriction=FRICTION, restitution=RESTITUTION,
                          physicsClientId=self.client)
        for centre, half in _walls(layout):
            wall = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=self.client)
            body = pb.createMultiBody(0, wall, basePosition=centre, physicsClientId=self.client)
            pb.changeDynamics(body, -1, lateralFriction=FRICTION, restitution=RESTITUTION,
                              physicsClientId=self.client)
        if shape == "box":
            col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=(RADIUS,) * 3, physicsClientId=self.client)
        else:
            col = pb.createCollisionShape(pb.GEOM_SPHERE, radius=RADIUS, physicsClientId=self.client)
        quats = _quat_from_angles(layout["angles"])
        self.ids = []
        for i, p in enumerate(layout["pos"]):
            w, x, y, z = quats[i] if shape == "box" else (1.0, 0.0, 0.0, 0.0)
            body = pb.createMultiBody(MASS, col, basePosition=tuple(p), baseOrientation=(x, y, z, w),
                                      physicsClientId=self.client)
            pb.changeDynamics(body, -1, lateralFriction=FRICTION, restitution=RESTITUTION,
                              activationState=pb.ACTIVATION_STATE_DISABLE_SLEEPING,
                              physicsClientId=self.client)
            self.ids.append(body)

    def step(self) -> None:
        self.pb.stepSimulation(physicsClientId=self.client)

    def poses(self) -> tuple[np.ndarray, np.ndarray]:
        pos = []
        quat = []
        for body in self.ids:
            p, (x, y, z, w) = self.pb.getBasePositionAndOrientation(body, physicsClientId=self.client)
            pos.append(p)
            quat.append((w, x, y, z))
        return np.array(pos, dtype=np.float64), np.array(quat, dtype=np.float64)

    def close(self) -> None:
        self.pb.disconnect(physicsClientId=self.client)


_ENGINES: dict[str, Callable[..., Any]] = {"krapition": _Ours, "rapier": _Rapier, "pybullet": _PyBullet}


# ---- measurement -----------------------------------------------------------------------------------
def accuracy(pos: np.ndarray, quat: np.ndarray, layout: dict[str, Any], shape: str) -> dict[str, float]:
    """Escaped bodies, penetration (our narrow phase on the given poses) and pile height."""
    from krapition_app.engine.physics import Settings, Simulation
    from krapition_app.engine.physics.contacts_table import SEP

    n = len(pos)
    w = layout["half_width"]
    finite = np.all(np.isfinite(pos), axis=1)
    inside = finite & (np.abs(pos[:, 0]) <= w + RADIUS) & (np.abs(pos[:, 1]) <= w + RADIUS) & (
        pos[:, 2] >= -RADIUS)
    probe = Simulation(settings=Settings(sleeping=False, linear_slop=0.0))
    size: Any = RADIUS if shape == "sphere" else (RADIUS, RADIUS, RADIUS)
    for i in np.nonzero(finite)[0]:
        q = quat[i] / np.linalg.norm(quat[i])
        probe.add_body(shape, size, position=np.clip(pos[i], -1e4, 1e4), orientation=q)
    for centre, half in _walls(layout):
        probe.add_body("box", half, position=centre, static=True)
    probe.settings = Settings(sleeping=False, linear_slop=1e-9, substeps=1)
    probe.gravity = np.zeros(3)
    # one step with zero velocities: the contact table then holds every touching pair at these poses
    probe.bodies.vel[:] = 0.0
    probe.bodies.angvel[:] = 0.0
    probe.step()
    seps = probe.contacts.cf[: probe.last_contact_count, SEP]
    pen = -seps[seps < 0.0]
    tops = pos[finite, 2] + RADIUS
    return {
        "escaped": int(n - int(inside.sum())),
        "penetration_mean_rel": float(pen.mean() / RADIUS) if len(pen) else 0.0,
        "penetration_max_rel": float(pen.max() / RADIUS) if len(pen) else 0.0,
        "contacts_measured": len(seps),
        "pile_height": float(np.percentile(tops, 99)) if len(tops) else 0.0,
    }


def _run_engine(name: str, layout: dict[str, Any], shape: str, substeps: int, frames: int,
                budget: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    engine = _ENGINES[name](layout, shape, substeps)
    setup_s = time.perf_counter() - t0
    if name == "krapition":  # first-call compile (or cache load) is not a frame
        from krapition_app.engine.physics.warmup import warm_up

        warm_up()
    times = []
    cpu_times = []
    start = time.perf_counter()
    truncated = False
    for _ in range(frames):
        t = time.perf_counter()
        c = time.process_time()
        engine.step()
        cpu_times.append(time.process_time() - c)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            truncated = True
            break
    half = times[len(times) // 2:] if len(times) >= 2 else times
    ms = np.array(half) * 1e3
    # CPU time of this process: on a shared machine it leaves out the time other programs held the core
    cpu_ms = np.array(cpu_times[len(cpu_times) // 2:] if len(cpu_times) >= 2 else cpu_times) * 1e3
    pos, quat = engine.poses()
    if hasattr(engine, "close"):
        engine.close()
    n = len(layout["pos"])
    median = float(np.median(ms))
    result = {
        "median_ms": median,
        "p95_ms": float(np.percentile(ms, 95)),
        "body_steps_per_s": float(n / (median / 1e3)) if median > 0 else 0.0,
        "cpu_median_ms": float(np.median(cpu_ms)),
        "cpu_p95_ms": float(np.percentile(cpu_ms, 95)),
        "frames_run": len(times),
        "frames_measured": len(half),
        "truncated": truncated,
        "setup_s": setup_s,
    }
    result.update(accuracy(pos, quat, layout, shape))
    return result


def _pin(core: int | None) -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    chosen = cores[-1] if core is None else core
    os.sched_setaffinity(0, {chosen})
    return chosen


def run(args: argparse.Namespace) -> dict[str, Any]:
    core = _pin(args.core)
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    peers = [p.strip() for p in args.compare.split(",") if p.strip() and p.strip() != "none"]
    for p in peers:
        if p not in _ENGINES or p == "krapition":
            raise SystemExit(f"unknown peer {p!r}; known: rapier, pybullet")
    layout = build_layout(args.bodies, args.seed)
    frames = max(2, round(args.seconds * 60))
    engines: dict[str, Any] = {}
    for name in ["krapition", *peers]:
        try:
            engines[name] = _run_engine(name, layout, args.shape, args.substeps, frames, args.budget)
        except ImportError as exc:
            engines[name] = {"error": f"not installed: {exc}"}
    ours = engines["krapition"]
    out: dict[str, Any] = {
        "benchmark": "physics",
        "bodies": args.bodies,
        "shape": args.shape,
        "substeps": args.substeps,
        "seconds": args.seconds,
        "frame_hz": 60,
        "pinned_core": core,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "machine": platform.processor() or platform.machine(),
        "engines": engines,
    }
    for peer in ("rapier", "pybullet"):
        other = engines.get(peer, {})
        if "p95_ms" in other and ours.get("p95_ms"):
            out[f"ratio_vs_{peer}"] = other["median_ms"] / ours["median_ms"]
            out[f"ratio_p95_vs_{peer}"] = other["p95_ms"] / ours["p95_ms"]
            if ours.get("cpu_median_ms"):
                out[f"ratio_cpu_vs_{peer}"] = other["cpu_median_ms"] / ours["cpu_median_ms"]
        else:
            out[f"ratio_vs_{peer}"] = None
    rapier = engines.get("rapier", {})
    if rapier.get("pile_height"):
        out["pile_height_vs_rapier"] = ours["pile_height"] / rapier["pile_height"]
    return out
