"""``krapition node --world``: a headless node that also simulates the shared world (no window, no
sound). The same composition as the app's (node + world + session), minus the UI: it publishes its
own bodies' motion, applies other nodes' drags of them, and keeps copies of everyone else's.

Its own bodies come from its store when it has run before (it takes its bodies back after a
restart), else from ``--scene``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", action="store_true",
                        help="also simulate the shared world (apply drags of our bodies, publish motion)")
    parser.add_argument("--scene", type=Path, default=None,
                        help="with --world: our bodies on a first start (a scene JSON file)")


def own_bodies(node: Any) -> list[Any]:
    """The bodies our store holds (what we owned when we last ran)."""
    from .model.uri import URIPattern

    pattern = URIPattern.parse(f"krapition://{node.authority}/physics/objects/*")
    bodies = []
    for uri in node.data.list_data(pattern):
        found = node.read_local(uri)
        if found is not None and found.body is not None:
            bodies.append(found.body)
    return bodies


def run(args: argparse.Namespace) -> int:
    from .engine.world import World
    from .logs import configure_logging
    from .model.scene import Scene, load_scene
    from .p2p.headless import config_from_args
    from .p2p.node import Node
    from .session import Session

    args.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(args.data_dir / "logs", getattr(args, "log_level", "INFO"))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        scene = load_scene(args.scene) if args.scene is not None else Scene(name="headless")
        World.warm_up()
        node = Node(config_from_args(args))
        session = Session(node)
        session.start()  # the node first: our bodies may be in its store
    except Exception as exc:
        log.exception("the node failed")
        print(json.dumps({"event": "failed", "error": f"{type(exc).__name__}: {exc}"}), file=sys.stderr)
        return 1
    world = None
    try:
        stored = tuple(own_bodies(node))
        bodies = stored or scene.bodies
        built: list[World] = []
        world = World.from_scene(Scene(name=scene.name, gravity=scene.gravity, ground=scene.ground,
                                       bodies=bodies, constraints=() if stored else scene.constraints),
                                 on_contacts=lambda events: session.local_contacts(events, built[0]))
        built.append(world)  # its impacts are published for the other nodes to hear
        session.attach(world)
        world.start()
        print(json.dumps({"event": "ready", "node_id": node.node_id, "authority": node.authority,
                          "port": node.port, "api_port": node.api_port, "public_key": node.public_key.hex(),
                          "world": True, "bodies": len(bodies)}), flush=True)
        while not stop.wait(0.2):
            pass
        log.info("stopping on a signal")
    finally:
        session.stop()
        if world is not None:
            world.stop()
    print(json.dumps({"event": "stopped", "node_id": node.node_id}), flush=True)
    return 0
