"""Helpers for the node tests: many nodes on one in-memory network, waiting with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node, NodeConfig


def run(coro, limit: float = 60.0):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, limit))


async def wait_for(predicate: Callable[[], bool], limit: float = 5.0, step: float = 0.01) -> bool:
    """Polls ``predicate`` until it holds (True) or ``limit`` seconds pass (False)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def memory_config(net: MemoryNetwork, tmp: Path, name: str, index: int, **kw) -> NodeConfig:  # type: ignore[no-untyped-def]
    host = f"10.0.0.{index + 1}"
    return NodeConfig(data_dir=tmp / name, name=name, interface=host, port=9000, network=net.host(host),
                      discover=False, compact_every_s=0, **kw)


async def start_mesh(tmp: Path, names: list[str], net: MemoryNetwork | None = None,
                     **kw) -> tuple[MemoryNetwork, list[Node]]:  # type: ignore[no-untyped-def]
    """Starts one node per name on a memory network and connects every pair."""
    net = net or MemoryNetwork()
    nodes = [Node(memory_config(net, tmp, name, i, **kw)) for i, name in enumerate(names)]
    for node in nodes:
        await node.start_async()
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            await a.connect(b.config.interface, b.port)
    await wait_for(lambda: all(n.replicator is not None and len(n.replicator.caught_up) == len(nodes) - 1
                               for n in nodes), 5.0)
    return net, nodes


async def stop_all(nodes: list[Node]) -> None:
    for node in nodes:
        await node.stop_async()


def heads(node: Node) -> dict[str, int]:
    assert node.replicator is not None
    return node.replicator.heads()


def same_heads(nodes: list[Node]) -> bool:
    first = heads(nodes[0])
    return all(heads(n) == first for n in nodes[1:])
