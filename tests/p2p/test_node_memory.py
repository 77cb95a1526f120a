"""Three (or more) nodes on the in-memory transport: replication, routing, forgery, partitions,
restore, the background-thread API."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from p2p.node_helpers import heads, memory_config, run, same_heads, start_mesh, stop_all, wait_for

from krapition_app.model.events import BodyState as MovedBody
from krapition_app.model.events import ObjectCreated
from krapition_app.model.messages import EventPublish
from krapition_app.p2p.auth import authorize
from krapition_app.p2p.identity import KEY_FILE_NAME
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node
from krapition_app.p2p.protocol.errors import NackError
from krapition_app.p2p.testing import ball, sign_next


def all_events(node: Node) -> dict[str, list[bytes]]:
    store = node.store
    assert store is not None
    return {row.author.hex(): list(store.raw_events(row.author)) for row in store.authors()}


def test_objects_appear_on_all_and_remote_put_goes_through_the_owner(tmp_path: Path) -> None:
    async def main() -> None:
        _, nodes = await start_mesh(tmp_path, ["a", "b", "c"])
        a, b, c = nodes
        try:
            for node in nodes:
                node.set_body(ball(f"ball-{node.config.name}"))
            assert await wait_for(lambda: all(len(n.list_uris()) == 3 for n in nodes), 2.0)
            uri = a.uri_for("ball-a")
            assert b.read_local(uri).source == "cache"  # type: ignore[union-attr]
            assert await b.write(uri, ball("ball-a", x=5.0)) == "accepted"
            # the owner applied it first (the event is A's), then everyone has it
            assert a.read_local(uri).body.position[0] == 5.0  # type: ignore[union-attr]
            assert await wait_for(lambda: all(n.read_local(uri).body.position[0] == 5.0  # type: ignore[union-attr]
                                              for n in nodes), 2.0)
            last = list(a.store.raw_events(a.public_key))[-1]  # type: ignore[union-attr]
            assert b.public_key not in last
            # a delete routed the same way
            assert await c.write(uri, None) == "accepted"
            assert await wait_for(lambda: all(n.read_local(uri) is None for n in nodes), 2.0)
            # a refused request comes back with the owner's reason
            with pytest.raises(NackError) as info:
                await c.write(uri, None)
            assert info.value.code == "not-found"
            assert await wait_for(lambda: same_heads(nodes), 2.0)
            # a tick of motion of owned bodies: one batch event, applied to the replicas
            c.set_body(ball("ball-m"))
            c.publish_motion(1, [MovedBody(name="ball-m", position=(3.0, 0.0, 1.0))])
            def moved(n: Node) -> bool:
                found = n.read_local(c.uri_for("ball-m"))
                return found is not None and found.body is not None and found.body.position[0] == 3.0

            assert await wait_for(lambda: all(moved(n) for n in nodes), 2.0)
        finally:
            await stop_all(nodes)

    run(main())


def test_forged_event_for_a_foreign_uri_is_rejected_by_all_and_counted(tmp_path: Path) -> None:
    async def main() -> None:
        _, nodes = await start_mesh(tmp_path, ["a", "b", "c"])
        a, b, c = nodes
        try:
            a.set_body(ball("ball-a"))
            uri = a.uri_for("ball-a")
            assert await wait_for(lambda: all(n.read_local(uri) is not None for n in nodes), 2.0)
            own = c.ledger.state.author(c.public_key)  # type: ignore[union-attr]
            forged = sign_next(c.identity.signing_key, seq=own.next_seq, prev=own.head_id,  # type: ignore[union-attr]
                               uri=uri, payload=ObjectCreated(body=ball("ball-a", x=99.0)),
                               timestamp_ns=c.ledger.clock())  # type: ignore[union-attr]
            assert c.transport.broadcast(EventPublish(events=(forged.raw,))) == 2  # type: ignore[union-attr]
            await c.replicator.receive([forged.raw], "test")  # type: ignore[union-attr]
            assert await wait_for(lambda: all(sum(n.replicator.stats.rejected.values()) >= 1  # type: ignore[union-attr]
                                              for n in nodes), 2.0)
            assert a.replicator.stats.rejected["NotOwnerError"] == 1  # type: ignore[union-attr]
            assert b.replicator.stats.rejected["NotOwnerError"] == 1  # type: ignore[union-attr]
            for node in nodes:
                assert node.read_local(uri).body.position[0] == 0.0  # type: ignore[union-attr]
            # and the metrics show it by reason
            b.monitor.sample()  # type: ignore[union-attr]
            assert b'reason="NotOwnerError"' in b.monitor.prometheus_text()  # type: ignore[union-attr]
            # C's chain goes on unharmed
            c.set_body(ball("ball-c"))
            assert await wait_for(lambda: same_heads(nodes), 2.0)
        finally:
            await stop_all(nodes)

    run(main())


def test_partition_and_heal_converge_without_duplicates(tmp_path: Path) -> None:
    async def main() -> None:
        _, nodes = await start_mesh(tmp_path, ["a", "b", "c"], redial_every_s=0)
        a, b, c = nodes
        try:
            for x, y in ((a, c), (b, c)):
                await x.transport.disconnect(y.node_id, "partition")  # type: ignore[union-attr]
            assert await wait_for(lambda: len(c.transport.peers) == 0, 2.0)  # type: ignore[union-attr]
            for i in range(20):
                a.set_body(ball(f"a-{i}"))
                c.set_body(ball(f"c-{i}"))
                if i % 5 == 0:
                    b.set_body(ball(f"b-{i}"))
            assert await wait_for(lambda: heads(a) == heads(b), 2.0)
            assert heads(a) != heads(c)
            assert c.is_stale(a.uri_for("a-0")) is True or c.read_local(a.uri_for("a-0")) is None
            # heal
            await c.connect(a.config.interface, a.port)
            await c.connect(b.config.interface, b.port)
            assert await wait_for(lambda: same_heads(nodes), 5.0)
            events = [all_events(n) for n in nodes]
            assert events[0] == events[1] == events[2]
            for author, raws in events[0].items():
                assert len(raws) == len(set(raws)) == heads(a)[author]  # no duplicates, no holes
            assert all(len(n.list_uris()) == 44 for n in nodes)
        finally:
            await stop_all(nodes)

    run(main())


def test_relay_through_a_third_node(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        nodes = [Node(memory_config(net, tmp_path, n, i)) for i, n in enumerate(["a", "b", "c"])]
        for node in nodes:
            await node.start_async()
        a, b, c = nodes
        try:
            await a.connect(b.config.interface, b.port)  # a - b - c, a and c never meet
            await b.connect(c.config.interface, c.port)
            a.set_body(ball("ball-a"))
            assert await wait_for(lambda: c.read_local(a.uri_for("ball-a")) is not None, 2.0)
            assert c.is_stale(a.uri_for("ball-a"))  # readable from the replica; its owner is not a peer
            assert await wait_for(lambda: same_heads(nodes), 2.0)
        finally:
            await stop_all(nodes)

    run(main())


def test_read_only_owner_refuses_and_a_dead_peer_stays_readable(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a = Node(memory_config(net, tmp_path, "a", 0, read_only=True))
        b = Node(memory_config(net, tmp_path, "b", 1))
        await a.start_async()
        await b.start_async()
        try:
            await b.connect(a.config.interface, a.port)
            a.set_body(ball("ball-a"))
            uri = a.uri_for("ball-a")
            assert await wait_for(lambda: b.read_local(uri) is not None, 2.0)
            with pytest.raises(NackError) as info:
                await b.write(uri, ball("ball-a", x=1.0))
            assert info.value.code == "read-only"
            assert a.refused["read-only"] == 1
            assert authorize(a, uri, "request", session=b.node_id).code == "read-only"
            assert authorize(a, uri, "write")
            assert authorize(b, uri, "write").code == "not-owner"
            assert authorize(b, uri, "read")
            await a.stop_async()
            assert await wait_for(lambda: len(b.transport.peers) == 0, 3.0)  # type: ignore[union-attr]
            found = b.read_local(uri)
            assert found is not None and found.stale
        finally:
            await b.stop_async()
            await a.stop_async()

    run(main())


def test_restore_own_chain_from_peers_after_losing_the_data_folder(tmp_path: Path) -> None:
    async def main() -> None:
        net, nodes = await start_mesh(tmp_path, ["a", "b", "c"])
        a, b, c = nodes
        for i in range(30):
            a.set_body(ball(f"ball-{i}"))
        a.delete_body("ball-3")
        assert await wait_for(lambda: same_heads(nodes), 2.0)
        before_head = a.ledger.next_seq  # type: ignore[union-attr]
        objects_before = sorted(a.store.objects())  # type: ignore[union-attr]
        await a.stop_async()
        await wait_for(lambda: not b.transport.peers.get(a.node_id), 2.0)  # type: ignore[union-attr]
        key = (a.data_dir / KEY_FILE_NAME).read_bytes()
        shutil.rmtree(a.data_dir)
        a.data_dir.mkdir()
        (a.data_dir / KEY_FILE_NAME).write_bytes(key)
        (a.data_dir / KEY_FILE_NAME).chmod(0o600)
        a2 = Node(memory_config(net, tmp_path, "a", 0, peers=(f"{b.config.interface}:{b.port}",
                                                                f"{c.config.interface}:{c.port}")))
        try:
            await a2.start_async()
            assert a2.node_id == a.node_id
            assert a2.restored_events >= before_head
            assert sorted(a2.store.objects()) == objects_before  # type: ignore[union-attr]
            # no reused sequence: the new SystemStart follows the restored head, and peers accept it
            assert a2.ledger.next_seq > before_head  # type: ignore[union-attr]
            a2.set_body(ball("after"))
            assert await wait_for(lambda: same_heads([a2, b, c]), 3.0)
            assert all(sum(n.replicator.stats.rejected.values()) == 0 for n in (b, c))  # type: ignore[union-attr]
        finally:
            await stop_all([a2, b, c])

    run(main())


def test_node_on_a_background_thread(tmp_path: Path) -> None:
    net = MemoryNetwork()
    seen: list[object] = []
    # the loop of each node is its own thread: connect them through a shared memory network is not
    # possible across loops, so one node alone checks the thread API
    node = Node(memory_config(net, tmp_path, "solo", 0))
    node.on_events = seen.extend
    node.start()
    try:
        node.submit(node.set_body, ball("ball-1")).result(5)
        assert node.call(node.read, node.uri_for("ball-1")).body.name == "ball-1"
        assert node.submit(node.status).result(5)["owned_objects"] == 1
        assert any(getattr(e, "uri", "").endswith("ball-1") for e in seen)
    finally:
        node.stop()
    assert node._thread is not None and not node._thread.is_alive()
    assert asyncio  # keeps the import used in every variant of this file
