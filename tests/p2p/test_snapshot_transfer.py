"""Snapshot transfer behind a checkpoint: a late joiner learns objects last changed behind the cut,
from the author or from any peer holding its replica, and refuses a forged snapshot."""

from __future__ import annotations

import shutil
from pathlib import Path

from p2p.node_helpers import memory_config, run, stop_all, wait_for

from krapition_app.model.encoding import encode
from krapition_app.model.events import BodyState
from krapition_app.p2p.identity import KEY_FILE_NAME
from krapition_app.p2p.ledger import RetentionPolicy
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node
from krapition_app.p2p.snapshots import parse_snapshot_uri, snapshot_uri
from krapition_app.p2p.testing import ball, box
from krapition_app.store import Projection, Value

CUT = RetentionPolicy(max_events=20)


def write_history(a: Node) -> None:
    """Objects whose last change ends up behind the horizon, then churn that pushes them there."""
    for i in range(40):
        a.set_body(ball(f"ball-{i % 8}", x=float(i)))
    a.set_body(box("crate"))
    a.delete_body("ball-7")
    a.publish_motion(1, [BodyState(name="ball-2", position=(5.0, 5.0, 1.0))])
    for i in range(25):
        a.set_body(ball("churn", x=float(i)))


def cut(a: Node) -> int:
    """A's chain cleaned up behind a checkpoint; returns its horizon."""
    assert a.ledger is not None and a.store is not None
    checkpoint = a.ledger.compact()
    assert checkpoint is not None
    assert a.store.event_id_at(a.public_key, 0) is None
    return checkpoint.payload.horizon_seq  # type: ignore[union-attr]


def write_tail(a: Node) -> None:
    # after the cut: a move of a body created behind it (it must land on the snapshot's body)
    a.publish_motion(2, [BodyState(name="ball-3", position=(7.0, 0.0, 1.0))])
    a.set_body(ball("after"))


def has_all_of(node: Node, a: Node) -> bool:
    assert node.store is not None and a.store is not None
    return node.store.cached(a.public_key) == a.store.objects()


def state_hash_of(node: Node, author: bytes) -> bytes:
    assert node.ledger is not None
    return node.ledger.replay(author).state_hash()


def test_snapshot_uri_round_trip() -> None:
    uri = snapshot_uri("10.0.0.1:9000", 49)
    assert uri == "krapition://10.0.0.1:9000/system/checkpoints/snapshot-49"
    assert parse_snapshot_uri(uri) == ("10.0.0.1:9000", 49)
    for other in ("krapition://10.0.0.1:9000/system/checkpoints/snapshot-049",
                  "krapition://10.0.0.1:9000/system/checkpoints/snapshot-x",
                  "krapition://10.0.0.1:9000/system/checkpoints/abc",
                  "krapition://10.0.0.1:9000/physics/objects/snapshot-1", "snapshot-1"):
        assert parse_snapshot_uri(other) is None, other


def test_late_joiners_get_the_snapshot_from_the_author_and_through_a_relay(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a = Node(memory_config(net, tmp_path, "a", 0, retention=CUT))
        b = Node(memory_config(net, tmp_path, "b", 1))
        c = Node(memory_config(net, tmp_path, "c", 2))
        nodes = [a, b, c]
        for n in nodes:
            await n.start_async()
        try:
            write_history(a)
            horizon = cut(a)
            write_tail(a)
            assert a.read_local(a.uri_for("ball-0")) is not None
            # B joins A late: it starts from the checkpoint, and the snapshot comes from the author
            await b.connect(a.config.interface, a.port)
            assert await wait_for(lambda: has_all_of(b, a), 5.0), (sorted(b.store.cached(a.public_key)),
                                                                     sorted(a.store.objects()))
            assert b.replicator.stats.snapshots_installed == 1  # type: ignore[union-attr]
            # C joins B only: A's chain and its snapshot both come through B, which joined late itself
            await c.connect(b.config.interface, b.port)
            assert await wait_for(lambda: has_all_of(c, a), 5.0)
            assert a.node_id not in c.transport.peers  # type: ignore[union-attr]
            assert b.replicator.stats.snapshots_served >= 1  # type: ignore[union-attr]
            assert state_hash_of(c, a.public_key) == state_hash_of(a, a.public_key)
            assert c.store.snapshot(a.public_key).horizon_seq == horizon  # type: ignore[union-attr]
            for uri in a.store.objects():  # type: ignore[union-attr]
                # each cached value with the seq of the event it came from, as on its owner
                assert c.store.get_cached(uri).seq == a.store.get_object(uri).seq  # type: ignore[union-attr]
            # objects last changed behind the checkpoint, a move after it, a delete behind it
            assert c.read_local(a.uri_for("ball-0")).body.position[0] == 32.0  # type: ignore[union-attr]
            assert c.read_local(a.uri_for("crate")) is not None
            assert c.read_local(a.uri_for("ball-2")).body.position == (5.0, 5.0, 1.0)  # type: ignore[union-attr]
            assert c.read_local(a.uri_for("ball-3")).body.position == (7.0, 0.0, 1.0)  # type: ignore[union-attr]
            assert c.read_local(a.uri_for("ball-7")) is None
            assert sorted(c.list_uris(f"krapition://{a.authority}/physics/objects/*")) == sorted(
                a.list_uris(f"krapition://{a.authority}/physics/objects/*"))
            for n in nodes:
                assert sum(n.replicator.stats.rejected.values()) == 0  # type: ignore[union-attr]
                assert not n.replicator.stats.snapshots_rejected  # type: ignore[union-attr]
            # the installed base carries on: A cuts again, and B and C follow the new checkpoint
            for i in range(30):
                a.set_body(ball(f"late-{i % 3}", x=float(i)))
            new_horizon = cut(a)
            assert await wait_for(lambda: all(
                n.store.snapshot(a.public_key) is not None  # type: ignore[union-attr]
                and n.store.snapshot(a.public_key).horizon_seq == new_horizon for n in (b, c)), 5.0)  # type: ignore[union-attr]
            assert await wait_for(lambda: has_all_of(c, a) and has_all_of(b, a), 3.0)
        finally:
            await stop_all(nodes)

    run(main())


def test_a_forged_snapshot_is_refused_counted_and_its_sender_dropped(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a = Node(memory_config(net, tmp_path, "a", 0, retention=CUT))
        liar = Node(memory_config(net, tmp_path, "liar", 1))
        b = Node(memory_config(net, tmp_path, "b", 2))
        c = Node(memory_config(net, tmp_path, "c", 3, redial_every_s=0))
        nodes = [a, liar, b, c]
        for n in nodes:
            await n.start_async()
        try:
            # the liar and B hold full replicas of A (connected while A wrote)
            await liar.connect(a.config.interface, a.port)
            await b.connect(a.config.interface, a.port)
            write_history(a)
            cut(a)
            write_tail(a)
            assert await wait_for(lambda: has_all_of(liar, a) and has_all_of(b, a), 5.0)
            honest = liar.ledger.snapshot_at  # type: ignore[union-attr]

            def forged(author: bytes, horizon: int) -> bytes | None:
                data = honest(author, horizon)
                assert data is not None
                projection = Projection.from_snapshot(data)
                uri = a.uri_for("ball-0")
                # one value changed; the bytes stay canonical, only the signed hash tells
                projection.values[uri] = Value("body", encode(ball("ball-0", x=999.0)))
                return projection.snapshot()

            liar.ledger.snapshot_at = forged  # type: ignore[union-attr,method-assign]
            await c.connect(liar.config.interface, liar.port)
            stats = c.replicator.stats  # type: ignore[union-attr]
            assert await wait_for(lambda: stats.snapshots_rejected["hash-mismatch"] >= 1, 5.0)
            assert await wait_for(lambda: liar.node_id not in c.transport.peers, 2.0)  # type: ignore[union-attr]
            assert any("snapshot" in reason for reason in c.transport.kicked)  # type: ignore[union-attr]
            assert c.read_local(a.uri_for("ball-0")) is None  # nothing of the forgery was stored
            assert c.store.snapshot(a.public_key) is None  # type: ignore[union-attr]
            # C carries on and converges from an honest peer
            await c.connect(b.config.interface, b.port)
            assert await wait_for(lambda: has_all_of(c, a), 5.0)
            assert c.read_local(a.uri_for("ball-0")).body.position[0] == 32.0  # type: ignore[union-attr]
            assert state_hash_of(c, a.public_key) == state_hash_of(a, a.public_key)
            assert stats.snapshots_installed == 1
            c.monitor.sample()  # type: ignore[union-attr]
            text = c.monitor.prometheus_text().decode()  # type: ignore[union-attr]
            assert 'krapition_rejected_events{reason="snapshot-hash-mismatch"} 1.0' in text
        finally:
            await stop_all(nodes)

    run(main())


def test_restore_of_a_cut_chain_brings_back_objects_behind_the_checkpoint(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        # a tail before the checkpoint longer than a catch-up chunk (512 events): the restore must
        # store our own chain in seq order although the checkpoint comes first
        retention = RetentionPolicy(max_events=600)
        a = Node(memory_config(net, tmp_path, "a", 0, retention=retention))
        b = Node(memory_config(net, tmp_path, "b", 1))
        await a.start_async()
        await b.start_async()
        a2: Node | None = None
        try:
            await b.connect(a.config.interface, a.port)
            write_history(a)
            for i in range(600):
                a.set_body(ball("long", x=float(i)))
            cut(a)
            write_tail(a)
            assert await wait_for(lambda: has_all_of(b, a), 5.0)
            head = a.ledger.next_seq  # type: ignore[union-attr]
            objects = a.store.objects()  # type: ignore[union-attr]
            await a.stop_async()
            await wait_for(lambda: a.node_id not in b.transport.peers, 2.0)  # type: ignore[union-attr]
            key = (a.data_dir / KEY_FILE_NAME).read_bytes()
            shutil.rmtree(a.data_dir)
            a.data_dir.mkdir()
            (a.data_dir / KEY_FILE_NAME).write_bytes(key)
            (a.data_dir / KEY_FILE_NAME).chmod(0o600)
            a2 = Node(memory_config(net, tmp_path, "a", 0, retention=retention,
                                    peers=(f"{b.config.interface}:{b.port}",)))
            await a2.start_async()
            assert a2.store.objects() == objects  # type: ignore[union-attr]
            assert a2.ledger.next_seq > head  # type: ignore[union-attr]
            assert a2.replicator.stats.snapshots_installed == 1  # type: ignore[union-attr]
            a2.set_body(ball("after-restore"))
            assert await wait_for(lambda: has_all_of(b, a2), 3.0)  # type: ignore[arg-type]
            assert sum(b.replicator.stats.rejected.values()) == 0  # type: ignore[union-attr]
        finally:
            await stop_all([n for n in (a2, b) if n is not None])

    run(main())
