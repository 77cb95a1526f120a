"""A Krapition peer in its own process, for the transport and discovery tests (issue 7).

    python net_peer_proc.py --seed LABEL [--connect HOST:PORT] [--discover IFACE] [--lifetime S]

Prints one JSON line per event (``ready``, ``joined``, ``left``) and exits by itself after
``--lifetime`` seconds (always bounded). Only loopback or a test namespace's address is ever used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def main(args: argparse.Namespace) -> None:
    from krapition_app.model.events import NodeJoined
    from krapition_app.p2p.lan import LanNode, LanSettings
    from krapition_app.p2p.testing import seeded_identity
    from krapition_app.p2p.transport import TransportConfig

    identity = seeded_identity(args.seed)
    interfaces = tuple(args.discover) if args.discover else None
    settings = LanSettings(listen_host=args.listen, discovery_interfaces=interfaces,
                           discover=bool(args.discover))
    node = LanNode(identity, TransportConfig(name=args.seed[:20], authority=f"{args.listen}:0"), settings)
    start = time.monotonic()
    port = await node.start()
    emit(event="ready", node_id=identity.node_id, port=port)
    if args.connect:
        host, _, p = args.connect.rpartition(":")
        await node.connect(host, int(p))
    deadline = start + args.lifetime
    while time.monotonic() < deadline:
        try:
            event = await asyncio.wait_for(node.events.get(), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        if isinstance(event, NodeJoined):
            emit(event="joined", node_id=event.node_id, after_s=round(time.monotonic() - start, 3))
        else:
            emit(event="left", node_id=event.node_id, reason=event.reason)
    await node.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", required=True)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--connect")
    parser.add_argument("--discover", action="append")
    parser.add_argument("--lifetime", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
