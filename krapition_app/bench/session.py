"""``krapition bench session``: nodes sharing one world of moving bodies; what their motion costs.

``--nodes`` headless nodes (the app's :class:`~krapition_app.session.Session` on a real
:class:`~krapition_app.p2p.node.Node` each) run in this process over real TCP on 127.0.0.1 (no
discovery: they dial each other). Each owns an equal share of ``--bodies`` bodies in a World of its
own with real physics; every world holds all bodies (its own, and copies of the others').

One driver thread steps all worlds in lockstep at the physics rate and pumps every session at
``--rate``, paced to the wall clock, so all worlds share one simulation time: a remote copy can be
compared with its owner's true state at the owner time the copy shows (the interpolator's render
time), and the display delay is the owner's current time minus that render time (interpolation
delay plus transport, signing and storing included). The sessions' clock is that simulation time.
The nodes run on their own threads, as in the app.

Phases: spawn (every world gets every body), moving (``--seconds``: every body thrown up, then each
tick a random share of each owner's bodies, so that each is thrown again about every
``--kick-every`` seconds), settling (no throws, until the bodies sleep), rest (``--rest-seconds`` of
measuring the copies of resting bodies). Errors are measured from two seconds after the first throw.
Bandwidth is counted over the moving phase: the signed ObjectMoved events each node published
(``kbit_per_s_per_node``, what one copy of its chain costs) and, side by side in the same run, the
same ticks as full unquantised float64 state (13 values) of every body that moved
(``naive_kbit_per_s_per_node``, no names nor envelopes: a lower bound of the naive way). The wire
bytes each node sent to all its peers (encrypted frames, heartbeats, every event) are reported too.

Goals (issue 9): <= 500 kbit/s per node for 1,000 moving bodies at 30 Hz, remote copies within
1 mm of their owner at rest, <= 100 ms p95 display delay.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

DESCRIPTION = "LAN session: motion kbit/s per node vs full state, remote-copy error, display delay, CPU"

RADIUS = 0.1
SPACING = 0.6
#: the issue's goal: a late joiner with 10,000 bodies in the world is in sync within this (s)
LATE_JOIN_GOAL_S = 3.0
WARM_UP_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=3, help="nodes (default 3)")
    parser.add_argument("--bodies", type=int, default=1000, help="bodies over all nodes (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="moving phase (default 10 s)")
    parser.add_argument("--settle", type=float, default=12.0, help="most seconds to wait for rest")
    parser.add_argument("--rest-seconds", type=float, default=1.0, help="rest phase measured (default 1 s)")
    parser.add_argument("--rate", type=float, default=30.0, help="publishing ticks per second (default 30)")
    parser.add_argument("--chain-kbit", type=float, default=None,
                        help="motion budget of one copy of a node's chain, kbit/s (default: the session's)")
    parser.add_argument("--kick-every", type=float, default=2.0,
                        help="in the moving phase each body is thrown up again about this often (s)")
    parser.add_argument("--late-join", type=int, default=10_000, metavar="N",
                        help="then time a late joiner into a world of N bodies (default 10000; 0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON (always on; for symmetry)")


def _quantile(values: np.ndarray | list[float], q: float) -> float | None:
    a = np.asarray(values, dtype=np.float64)
    return None if not len(a) else round(float(np.quantile(a, q)), 3)


class _Clock:
    """The simulation time of the lockstep worlds, running on with the wall clock within a tick (so
    arrivals between two ticks get times between them), never past the next tick."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.tick_time = 0.0
        self.wall = time.perf_counter()

    def set(self, sim_time: float) -> None:
        self.tick_time, self.wall = sim_time, time.perf_counter()

    def __call__(self) -> float:
        return self.tick_time + min(max(0.0, time.perf_counter() - self.wall), self.period)


class _Truth:
    """An owner's true states of its bodies after each physics step (the newest ~2 s)."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=240)
        self.pos: deque[np.ndarray] = deque(maxlen=240)
        self.vel: deque[np.ndarray] = deque(maxlen=240)

    def add(self, t: float, pos: np.ndarray, vel: np.ndarray) -> None:
        self.times.append(t)
        self.pos.append(pos)
        self.vel.append(vel)

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(positions, velocities) at owner time ``t``: Hermite between the steps around it."""
        times = np.fromiter(self.times, dtype=np.float64)
        if not len(times) or not times[0] <= t <= times[-1] + 1e-9:
            return None
        j = int(np.clip(np.searchsorted(times, t), 1, len(times) - 1))
        i = j - 1
        h = times[j] - times[i]
        x = 0.0 if h <= 0 else min(1.0, max(0.0, (t - times[i]) / h))
        p0, p1, v0, v1 = self.pos[i], self.pos[j], self.vel[i], self.vel[j]
        x2, x3 = x * x, x * x * x
        pos = ((2 * x3 - 3 * x2 + 1) * p0 + (x3 - 2 * x2 + x) * h * v0 + (-2 * x3 + 3 * x2) * p1
               + (x3 - x2) * h * v1)
        return pos, v0 + (v1 - v0) * x


def _bodies(n_total: int) -> list[Any]:
    """Spheres and boxes at rest on a square grid, named ``b-<k>``."""
    from ..model.scene import BodySpec

    side = math.ceil(math.sqrt(n_total))
    out = []
    for k in range(n_total):
        x, y = (k % side - side / 2) * SPACING, (k // side - side / 2) * SPACING
        common = dict(name=f"b-{k}", material=("rubber", "wood", "plastic")[k % 3], position=(x, y, RADIUS))
        if k % 2:
            out.append(BodySpec(shape="sphere", radius=RADIUS, **common))
        else:
            out.append(BodySpec(shape="box", half_extents=(RADIUS, RADIUS * 0.8, RADIUS * 0.6), **common))
    return out


def _kick(world: Any, names: list[str], rows: np.ndarray, rng: np.random.Generator, share: float) -> None:
    """Throws a random ``share`` of the bodies up (and a little toward the middle), spinning."""
    from ..engine.batch import set_states

    snap = world.snapshot()
    pick = rng.random(len(rows)) < share
    rows = rows[pick]
    n = len(rows)
    pos = snap.position[rows]
    vel = np.column_stack([rng.uniform(-1.0, 1.0, n) - 0.1 * pos[:, 0],
                           rng.uniform(-1.0, 1.0, n) - 0.1 * pos[:, 1], rng.uniform(2.0, 5.0, n)])
    spin = rng.normal(0.0, 4.0, (n, 3))
    set_states(world, [names[i] for i in np.flatnonzero(pick)], pos, snap.orientation[rows], vel, spin)


def _run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import psutil

    from ..engine.world import World
    from ..model.scene import Scene
    from ..p2p.node import Node, NodeConfig
    from ..session import Session, local_name
    from ..session_motion import MotionSettings

    World.warm_up()
    rng = np.random.default_rng(args.seed)
    n_nodes = max(2, args.nodes)
    period = 1.0 / args.rate
    clock = _Clock(period)
    motion = MotionSettings() if args.chain_kbit is None else MotionSettings(chain_kbit_s=args.chain_kbit)
    nodes = [Node(NodeConfig(data_dir=folder / f"n{i}", name=f"n{i}", interface="127.0.0.1",
                             discover=False, discovery_interfaces=("127.0.0.1",), compact_every_s=0,
                             redial_every_s=0))
             for i in range(n_nodes)]
    sessions = [Session(node, rate_hz=args.rate, clock=clock, motion=motion) for node in nodes]
    worlds: list[World] = []
    try:
        for s in sessions:
            s.start(pump=False)
        for i, a in enumerate(sessions):
            for b in nodes[i + 1:]:
                a.connect("127.0.0.1", b.port)
        if not _wait(lambda: all(len(n.peers()) == n_nodes - 1 for n in nodes), 20.0):
            raise RuntimeError("the nodes did not connect")
        specs = _bodies(max(n_nodes, args.bodies))
        owned = [[b for k, b in enumerate(specs) if k % n_nodes == i] for i in range(n_nodes)]
        worlds = [World(Scene(name=f"n{i}", bodies=tuple(owned[i]))) for i in range(n_nodes)]
        for s, w in zip(sessions, worlds, strict=True):
            s.attach(w)
        dt = worlds[0].sim.settings.dt
        truth = [_Truth() for _ in range(n_nodes)]
        own_names = [[b.name for b in owned[i]] for i in range(n_nodes)]
        own_rows = [np.array([w.row(n) for n in own_names[i]]) for i, w in enumerate(worlds)]
        cpu = np.zeros(n_nodes)
        tick = 0
        started = time.perf_counter()
        steps_done = 0

        def step_all(measure: Any = None) -> None:
            """One publishing tick of the lockstep: physics steps due, then every session's pump."""
            nonlocal tick, steps_done
            due = int((tick + 1) * period / dt + 1e-9) - steps_done
            for i, w in enumerate(worlds):
                t0 = time.thread_time()
                for _ in range(due):
                    w.step()
                    snap = w.snapshot()
                    truth[i].add(snap.time, snap.position[own_rows[i]], snap.velocity[own_rows[i]])
                cpu[i] += time.thread_time() - t0
            steps_done += due
            clock.set(worlds[0].snapshot().time)
            if measure is not None:
                measure(before=True)
            for i, s in enumerate(sessions):
                t0 = time.thread_time()
                s.pump(now=clock.tick_time)  # remote bodies shown as of the worlds' time
                cpu[i] += time.thread_time() - t0
            if measure is not None:
                measure(before=False)
            tick += 1
            wait = started + tick * period - time.perf_counter()
            if wait > 0:
                time.sleep(wait)

        # spawn: every world gets every body
        total = len(specs)
        deadline = time.monotonic() + 60.0
        while not all(len(w.snapshot().names) == total for w in worlds):
            if time.monotonic() > deadline:
                raise RuntimeError("the worlds did not all get every body in 60 s")
            step_all()
        spawn_s = time.perf_counter() - started
        authors = [n.public_key for n in nodes]
        # rows of every owner's bodies in every world (fixed from now on: nothing is spawned or deleted)
        copies: dict[tuple[int, int], np.ndarray] = {}
        for w_i, w in enumerate(worlds):
            for o in range(n_nodes):
                if o != w_i:
                    copies[w_i, o] = np.array([w.row(local_name(n, authors[o])) for n in own_names[o]])
        for i, w in enumerate(worlds):
            _kick(w, own_names[i], own_rows[i], rng, 1.0)

        moving_err: list[np.ndarray] = []
        slow_err: list[np.ndarray] = []
        rest_err: list[np.ndarray] = []
        delays: list[float] = []
        last_render: dict[tuple[int, int], float] = {}
        phase = {"name": "moving"}

        def measure(*, before: bool) -> None:
            now = clock.tick_time  # the worlds' time: every owner is there now
            for (w_i, o), rows in copies.items():
                s = sessions[w_i]
                r = s.interpolator.render_time(authors[o])
                if r is None:
                    continue
                if before:  # the copy as our own physics carried it since the last pump
                    shown = last_render.get((w_i, o))
                    if shown is None:
                        continue
                    r = shown + (now - last_render_at[w_i, o])
                else:
                    last_render[w_i, o], last_render_at[w_i, o] = r, now
                    if phase["name"] == "moving":
                        delays.append(now - r)
                state = truth[o].at(r) if phase["name"] != "rest" else (truth[o].pos[-1], truth[o].vel[-1])
                if state is None:
                    continue
                true_pos, true_vel = state
                err = np.linalg.norm(worlds[w_i].sim.bodies.pos[rows] - true_pos, axis=1) * 1000.0
                speed = np.linalg.norm(true_vel, axis=1)
                if phase["name"] == "moving":
                    moving_err.append(err[speed > 0.05])
                    slow_err.append(err[speed <= 0.05])
                elif phase["name"] == "rest":
                    rest_err.append(err[speed < 0.01])

        last_render_at: dict[tuple[int, int], float] = {}
        # moving: measured after two seconds (the interpolators measure delay and jitter over the
        # newest 1.5 s: the burst of bodies created at the start leaves their window first)
        share = 1.0 / max(1.0, args.kick_every * args.rate)  # each body about every kick_every s
        for _ in range(max(1, round(WARM_UP_S * args.rate))):
            step_all()
        base_stats = [_counters(s) for s in sessions]
        base_wire = _wire_out(nodes)
        process = psutil.Process()
        base_threads = _thread_cpu(process, nodes)
        base_cpu, base_process = cpu.copy(), sum(process.cpu_times()[:2])
        t_sim0, t_wall0 = clock.tick_time, time.perf_counter()
        n_moving_ticks = max(1, round(args.seconds * args.rate))
        for _ in range(n_moving_ticks):
            for i, w in enumerate(worlds):
                _kick(w, own_names[i], own_rows[i], rng, share)
            step_all(measure)
        sim_s = clock.tick_time - t_sim0
        wall_s = time.perf_counter() - t_wall0
        end_stats = [_counters(s) for s in sessions]
        end_wire = _wire_out(nodes)
        end_threads = _thread_cpu(process, nodes)
        node_cpu = (cpu - base_cpu) + (end_threads - base_threads)
        process_cpu = sum(process.cpu_times()[:2]) - base_process
        # settling, then rest
        phase["name"] = "settle"
        settle_deadline = tick + round(args.settle * args.rate)
        while tick < settle_deadline:
            step_all(measure)
            if all(w.snapshot().sleeping[r].all() for w, r in zip(worlds, own_rows, strict=True)):
                break
        asleep = float(np.mean([w.snapshot().sleeping[r].mean()
                                for w, r in zip(worlds, own_rows, strict=True)]))
        for _ in range(round(args.rate)):  # the last rest states reach every world and are shown
            step_all()
        phase["name"] = "rest"
        for _ in range(max(1, round(args.rest_seconds * args.rate))):
            step_all(measure)

        def per_node(key: str) -> list[float]:
            return [(e[key] - b[key]) * 8 / 1000 / sim_s for b, e in zip(base_stats, end_stats, strict=True)]

        kbit = per_node("event_bytes")
        naive = per_node("naive_bytes")
        motion_kbit = per_node("motion_bytes")
        wire = [(end_wire[a] - base_wire.get(a, 0)) * 8 / 1000 / sim_s for a in end_wire]
        moving = np.concatenate(moving_err) if moving_err else np.zeros(0)
        slow = np.concatenate(slow_err) if slow_err else np.zeros(0)
        rest = np.concatenate(rest_err) if rest_err else np.zeros(0)
        sent = sum(e["bodies_sent"] - b["bodies_sent"] for b, e in zip(base_stats, end_stats, strict=True))
        due_n = sum(e["bodies_due"] - b["bodies_due"] for b, e in zip(base_stats, end_stats, strict=True))
        ticks = n_moving_ticks * n_nodes
        mean_kbit = statistics.fmean(kbit)
        result = {
            "nodes": n_nodes,
            "bodies": total,
            "rate_hz": args.rate,
            "moving_seconds": round(sim_s, 3),
            "kbit_per_s_per_node": round(mean_kbit, 1),
            "naive_kbit_per_s_per_node": round(statistics.fmean(naive), 1),
            "compression_ratio": round(statistics.fmean(naive) / mean_kbit, 2) if mean_kbit else None,
            "kbit_per_s_per_node_each": [round(x, 1) for x in kbit],
            "motion_codec_kbit_per_s_per_node": round(statistics.fmean(motion_kbit), 1),
            "wire_kbit_per_s_sent_per_node": round(statistics.fmean(wire), 1) if wire else None,
            "bodies_sent_per_node_tick": round(sent / ticks, 1),
            "bodies_due_per_node_tick": round(due_n / ticks, 1),
            "error_mm_moving_median": _quantile(moving, 0.5),
            "error_mm_moving_p99": _quantile(moving, 0.99),
            "error_mm_slow_p99": _quantile(slow, 0.99),
            "error_mm_rest_p99": _quantile(rest, 0.99),
            "error_mm_rest_max": round(float(rest.max()), 3) if len(rest) else None,
            "error_samples": {"moving": len(moving), "slow": len(slow), "rest": len(rest)},
            "asleep_fraction_at_rest": round(asleep, 3),
            "display_delay_ms_median": _ms(_quantile(delays, 0.5)),
            "display_delay_ms_p95": _ms(_quantile(delays, 0.95)),
            "interpolation_delay_ms": round(1000 * statistics.fmean(
                s.interpolator.delay(a) for s in sessions for a in authors if a != s.node.public_key), 1),
            "cpu_fraction_per_node": round(float(node_cpu.mean()) / wall_s, 3),
            "cpu_fraction_per_node_max": round(float(node_cpu.max()) / wall_s, 3),
            "process_cpu_fraction_per_node": round(process_cpu / wall_s / n_nodes, 3),
            "realtime_factor": round(sim_s / wall_s, 3),
            "spawn_s": round(spawn_s, 3),
            "decode_errors": sum(s.stats.decode_errors for s in sessions),
            "goals": {"kbit_per_s_per_node_max": 500.0, "error_mm_rest_p99_max": 1.0,
                      "display_delay_ms_p95_max": 100.0},
            "machine": {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg())},
            "note": ("nodes in one process, real TCP on 127.0.0.1; worlds stepped in lockstep by one "
                     "thread (errors compare each remote copy with its owner at the time it shows, "
                     "sampled after each pump's apply and before the next); naive = 13 float64 per "
                     "moved body per tick, no names or envelopes"),
        }
        result["met"] = {
            "kbit_per_s_per_node": result["kbit_per_s_per_node"] <= 500.0,
            "error_mm_rest_p99": (result["error_mm_rest_p99"] is not None
                                  and result["error_mm_rest_p99"] <= 1.0),
            "display_delay_ms_p95": (result["display_delay_ms_p95"] is not None
                                     and result["display_delay_ms_p95"] <= 100.0),
        }
        return result
    finally:
        stops = [threading.Thread(target=s.stop, daemon=True) for s in sessions]
        for s, t in zip(sessions, stops, strict=True):
            s.attach(None)
            t.start()
        for t in stops:
            t.join(20.0)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000.0 * seconds, 1)


def _counters(session: Any) -> dict[str, int]:
    s = session.stats
    return {"event_bytes": s.event_bytes, "naive_bytes": s.naive_bytes, "motion_bytes": s.motion_bytes,
            "bodies_sent": s.bodies_sent, "bodies_due": s.bodies_due}


def _wire_out(nodes: list[Any]) -> dict[str, int]:
    """authority -> bytes the others received from it so far."""
    out = {n.authority: 0 for n in nodes}
    for n in nodes:
        for peer in n.peers():
            if peer.authority in out:
                out[peer.authority] += peer.bytes_in
    return out


def _thread_cpu(process: Any, nodes: list[Any]) -> np.ndarray:
    """CPU seconds of each node's own thread (its asyncio loop: network, signing, storing)."""
    times = {t.id: t.user_time + t.system_time for t in process.threads()}
    return np.array([times.get(getattr(n._thread, "native_id", -1), 0.0) for n in nodes])


def _wait(predicate: Any, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def run(args: argparse.Namespace) -> dict[str, Any]:
    # every node shares this process's GIL with the driver (in the app each has a process of its
    # own): switch threads more often, so a node's loop is not kept from its sockets for 5 ms at a time
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        with tempfile.TemporaryDirectory(prefix="krapition-bench-session-") as folder:
            result = _run(args, Path(folder))
        if args.late_join > 0:
            from .late_join import measure

            with tempfile.TemporaryDirectory(prefix="krapition-bench-late-join-") as folder:
                result.update(measure(args.late_join, Path(folder)))
            seconds = result["late_join_s"]
            result["met"]["late_join_s"] = seconds is not None and seconds <= LATE_JOIN_GOAL_S
        return result
    finally:
        sys.setswitchinterval(switch)
