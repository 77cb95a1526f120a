"""The late-joiner part of ``krapition bench session``: how long a node that joins a world of N
bodies takes to be in sync (every body in its world, within 1 mm of the owner's state).

An owner node in its own process (`krapition node --world`, N boxes at rest on a grid) publishes
them; once its chain holds them all, a fresh node with an empty world dials it, and once the owner
has cut its chain behind a checkpoint, another. The clock runs from the dial to the moment the
joiner's world holds every body within 1 mm of where the owner has it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

#: remote copies closer than this to the owner's state count as in sync (m)
IN_SYNC_M = 1e-3
SPACING = 0.3
RADIUS = 0.1


def _grid(n: int) -> list[Any]:
    from ..model.scene import BodySpec

    side = math.ceil(math.sqrt(n))
    return [BodySpec(name=f"late-{k}", shape="box", half_extents=(RADIUS, RADIUS, RADIUS), material="wood",
                     position=((k % side - side / 2) * SPACING, (k // side - side / 2) * SPACING, RADIUS))
            for k in range(n)]


def _wait(predicate: Any, limit: float, every: float = 0.02) -> bool:
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def _owner_process(folder: Path, specs: list[Any], max_events: int) -> tuple[Any, dict[str, Any]]:
    """The owner as its own process (`krapition node --world`), as on a LAN: it shares no GIL with
    the joiner."""
    import json
    import subprocess
    import sys

    from ..model.scene import Scene, save_scene

    scene = folder / "owner-scene.json"
    save_scene(Scene(name="owner", bodies=tuple(specs)), scene)
    proc = subprocess.Popen(
        [sys.executable, "-m", "krapition_app", "node", "--world", "--scene", str(scene), "--name", "owner",
         "--interface", "127.0.0.1", "--no-discovery", "--api-port", "0", "--max-events", str(max_events),
         "--data-dir", str(folder / "owner")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline() if proc.stdout is not None else ""
    if not line:
        proc.kill()
        raise RuntimeError("the owner node did not start")
    return proc, json.loads(line)


def _chain_head(api_port: int) -> int:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/status", timeout=5) as r:
            return int(json.loads(r.read())["chain"]["head"])
    except (OSError, ValueError, KeyError):
        return -1


def _chain_tail(api_port: int) -> int:
    """The oldest seq the owner still holds (> 0 once it cut its chain behind a checkpoint)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/status", timeout=5) as r:
            return int(json.loads(r.read())["chain"]["tail"] or 0)
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def _join(name: str, folder: Path, ready: dict[str, Any], specs: list[Any], limit: float) -> dict[str, Any]:
    """A fresh node with an empty world dials the owner; seconds until its world is in sync."""
    from ..engine.world import World
    from ..model.scene import Scene
    from ..p2p.node import Node, NodeConfig
    from ..session import Session, local_name

    joiner = Session(Node(NodeConfig(data_dir=folder / name, name=name, interface="127.0.0.1",
                                     discover=False, compact_every_s=0, redial_every_s=0)))
    empty = World(Scene(name=name))
    try:
        joiner.start()
        empty.start()
        joiner.attach(empty)
        author = bytes.fromhex(ready["public_key"])
        names = [local_name(s.name, author) for s in specs]
        truth_pos = np.array([s.position for s in specs])  # at rest where they were put
        started = time.perf_counter()
        joiner.connect("127.0.0.1", ready["port"])
        seen_all: list[float] = []

        def in_sync() -> bool:
            snap = empty.snapshot()
            if len(snap.names) < len(names):
                return False
            where = {n: i for i, n in enumerate(snap.names)}
            if any(n not in where for n in names):
                return False
            if not seen_all:
                seen_all.append(time.perf_counter() - started)
            rows = [where[n] for n in names]
            return bool(np.abs(snap.position[rows] - truth_pos).max() <= IN_SYNC_M)

        ok = _wait(in_sync, limit, 0.05)
        elapsed = time.perf_counter() - started
        return {"s": round(elapsed, 3) if ok else None, "in_sync": ok,
                "all_bodies_s": round(seen_all[0], 3) if seen_all else None}
    finally:
        joiner.stop()
        empty.stop()


def measure(n_bodies: int, folder: Path, limit: float = 120.0) -> dict[str, Any]:
    """Two late joiners: one while the owner's chain still holds every event since its start (each
    event verified), one after the owner cut its chain behind a checkpoint (the usual case in a
    session that has run a while: the checkpoint's snapshot, verified against its signed hash,
    plus the tail). ``late_join_s`` is the slower of the two."""
    import signal

    from ..engine.world import World

    World.warm_up()
    specs = _grid(n_bodies)
    proc, ready = _owner_process(folder, specs, max_events=max(10, n_bodies // 4))
    try:
        # every body created on the owner's chain before anyone joins
        if not _wait(lambda: _chain_head(ready["api_port"]) >= n_bodies, limit, 0.2):
            raise RuntimeError("the owner did not publish its bodies in time")
        time.sleep(1.0)
        first = _join("joiner-1", folder, ready, specs, limit)
        # the owner compacts every 30 s: then its creations are behind a checkpoint
        cut = _wait(lambda: _chain_tail(ready["api_port"]) > n_bodies // 2, 90.0, 0.5)
        second = _join("joiner-2", folder, ready, specs, limit) if cut else {"s": None, "in_sync": False}
        times = [t for t in (first["s"], second["s"]) if t is not None]
        return {"late_join_bodies": n_bodies,
                "late_join_s": max(times) if len(times) == 2 else None,
                "late_join_full_chain_s": first["s"], "late_join_all_bodies_s": first.get("all_bodies_s"),
                "late_join_from_checkpoint_s": second["s"],
                "late_join_in_sync": bool(first["in_sync"] and second["in_sync"])}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait(timeout=10)
