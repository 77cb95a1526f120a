"""A late joiner whose range was cut behind a checkpoint gets the newest checkpoint plus the tail."""

from __future__ import annotations

from pathlib import Path

from p2p.node_helpers import memory_config, run, wait_for

from krapition_app.p2p.ledger import RetentionPolicy
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node
from krapition_app.p2p.testing import ball


def test_late_joiner_starts_from_checkpoint_and_tail(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a = Node(memory_config(net, tmp_path, "a", 0, retention=RetentionPolicy(max_events=20)))
        b = Node(memory_config(net, tmp_path, "b", 1))
        await a.start_async()
        await b.start_async()
        try:
            for i in range(60):
                a.set_body(ball(f"ball-{i % 7}", x=float(i)))
            checkpoint = a.ledger.compact()  # type: ignore[union-attr]
            assert checkpoint is not None
            assert a.store.event_id_at(a.public_key, 0) is None  # type: ignore[union-attr]
            a.set_body(ball("after"))
            await b.connect(a.config.interface, a.port)
            head = a.ledger.next_seq  # type: ignore[union-attr]
            assert await wait_for(lambda: b.replicator.heads().get(a.public_key.hex()) == head, 3.0)  # type: ignore[union-attr]
            assert sum(b.replicator.stats.rejected.values()) == 0  # type: ignore[union-attr]
            # the objects whose last change is in the tail are readable on b
            assert b.read_local(a.uri_for("after")) is not None
        finally:
            await b.stop_async()
            await a.stop_async()

    run(main())
