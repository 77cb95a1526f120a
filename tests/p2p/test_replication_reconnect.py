"""Two nodes dialling each other at once (a manual dial racing discovery's): one connection replaces
the other, and afterwards both must still catch up from each other and push live events on the
connection that survived.

In-memory network; each case staggers the three dials by a few loop turns, so the connections join
(and are replaced) in a different order on each side. Node ids are random, so which side wins the
tie-break varies from run to run too: the twelve cases together failed 7-8 of 12 before the fix."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from p2p.node_helpers import memory_config, run, stop_all, wait_for

from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node
from krapition_app.p2p.testing import ball


async def _yield(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _dial(node: Node, other: Node, delay: int) -> None:
    await _yield(delay)
    with contextlib.suppress(Exception):
        await node.connect(other.config.interface, other.port)


def _links_ok(a: Node, b: Node) -> bool:
    assert a.replicator is not None and b.replicator is not None
    return (b.node_id in a.replicator.caught_up and a.node_id in b.replicator.caught_up
            and b.node_id in a.replicator.subscribers and a.node_id in b.replicator.subscribers)


def _has_head_of(node: Node, author: Node) -> bool:
    assert node.replicator is not None and author.ledger is not None
    return node.replicator.heads().get(author.public_key.hex()) == author.ledger.next_seq


@pytest.mark.parametrize("delays", [(0, 0, 0), (0, 1, 0), (0, 0, 2), (1, 0, 3), (0, 3, 1), (2, 0, 0),
                                    (0, 5, 5), (4, 0, 1), (0, 2, 6), (3, 3, 0), (0, 8, 0), (6, 0, 2)])
def test_simultaneous_dials_still_catch_up_and_push_live(tmp_path: Path,
                                                         delays: tuple[int, int, int]) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a, b = (Node(memory_config(net, tmp_path, name, i, redial_every_s=0.5)) for i, name in
                enumerate(["a", "b"]))
        await a.start_async()
        await b.start_async()
        try:
            # a few events each before they meet, so that a catch-up has something to carry
            for node in (a, b):
                for i in range(3):
                    node.set_body(ball(f"{node.config.name}-{i}"))
            # a dials b by address twice (manual + discovery) while b dials a: connections race
            await asyncio.gather(_dial(a, b, delays[0]), _dial(b, a, delays[1]), _dial(a, b, delays[2]))
            assert await wait_for(lambda: _links_ok(a, b), 5.0), (
                f"caught_up a={a.replicator.caught_up} b={b.replicator.caught_up} "  # type: ignore[union-attr]
                f"subs a={a.replicator.subscribers} b={b.replicator.subscribers}")  # type: ignore[union-attr]
            # later events are pushed live over the connection that survived
            for node in (a, b):
                node.set_body(ball(f"{node.config.name}-later"))
            assert await wait_for(lambda: _has_head_of(b, a) and _has_head_of(a, b), 5.0)
        finally:
            await stop_all([a, b])

    run(main(), 30.0)
