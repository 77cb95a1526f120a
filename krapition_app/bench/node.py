"""Nodes on loopback: replication delay at 60 batches/s, catch-up of a late joiner, bytes per event.

Three headless nodes (the same :class:`~krapition_app.p2p.node.Node` as the app and ``krapition
node``) run in this process on one asyncio loop, over real TCP on 127.0.0.1 (no discovery, they dial
each other). One writes ``--rate`` batches per second (one signed ObjectMoved event per batch, as the
world loop will); the delay is from the append at the writer (the envelope's timestamp) to the event
being verified and stored at each other node. Then the writer appends ``--catchup-events`` more, and
a late joiner connects to all three and catches up; its rate is compared with the raw single-thread
PyNaCl verify rate of the same events, measured in the same run, before and after.

Goals: replication delay p99 <= 20 ms at 60 events/s among 3 nodes; catch-up >= 80 % of raw verify.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

DESCRIPTION = "headless nodes on loopback: replication delay, late-joiner catch-up, bytes per event"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=3, help="nodes in the live phase (default 3)")
    parser.add_argument("--rate", type=float, default=60.0, help="batches per second of the writer")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the live phase")
    parser.add_argument("--bodies", type=int, default=8,
                        help="bodies per ObjectMoved batch of the live phase")
    parser.add_argument("--catchup-events", type=int, default=50_000, help="events the late joiner fetches")
    parser.add_argument("--json", action="store_true", help="print JSON (always on; for symmetry)")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _raw_verify_rate(raws: list[bytes], public_key: bytes, n: int) -> float:
    from nacl.signing import VerifyKey

    key = VerifyKey(public_key)
    sample = raws[:n]
    t0 = time.perf_counter()
    for raw in sample:
        key.verify(raw[64:], raw[:64])
    return len(sample) / (time.perf_counter() - t0)


async def _run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from ..model.events import BodyState, ObjectCreated, ObjectMoved
    from ..model.scene import BodySpec
    from ..p2p.ledger import RetentionPolicy
    from ..p2p.node import Node, NodeConfig

    retention = RetentionPolicy(max_events=max(10_000, args.catchup_events * 2))
    n_nodes = max(2, args.nodes)

    def config(name: str) -> NodeConfig:
        return NodeConfig(data_dir=folder / name, name=name, interface="127.0.0.1", discover=False,
                          retention=retention, compact_every_s=0, discovery_interfaces=("127.0.0.1",))

    nodes = [Node(config(f"n{i}")) for i in range(n_nodes)]
    for node in nodes:
        await node.start_async()
    late: Node | None = None
    try:
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                await a.connect("127.0.0.1", b.port)
        await _until(lambda: all(len(n.replicator.caught_up) == n_nodes - 1 for n in nodes), 10.0)  # type: ignore[union-attr]
        writer, readers = nodes[0], nodes[1:]
        author = writer.public_key
        delays: list[float] = []

        def on_event(event) -> None:  # type: ignore[no-untyped-def]
            if event.author == author and event.type == "ObjectMoved":
                delays.append((time.time_ns() - event.timestamp_ns) / 1e6)

        for reader in readers:
            reader.ledger.processor.subscribe(on_event)  # type: ignore[union-attr]
        uri = writer.ledger.node_uri  # type: ignore[union-attr]
        bodies = [f"ball-{i}" for i in range(args.bodies)]

        def batch(tick: int) -> ObjectMoved:
            return ObjectMoved(tick=tick, bodies=tuple(
                BodyState(name=name, position=(0.001 * tick, 0.01 * j, 1.0))
                for j, name in enumerate(bodies)))

        def wire_bytes() -> int:
            return sum(p.bytes_in for n in readers for p in n.transport.peers)  # type: ignore[union-attr]

        await asyncio.sleep(1.2)  # first heartbeats settle
        period = 1.0 / args.rate
        n_live = int(args.seconds * args.rate)
        bytes_before = wire_bytes()
        start = time.perf_counter()
        append_ms: list[float] = []
        for tick in range(n_live):
            target = start + tick * period
            wait = target - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            t_append = time.perf_counter()
            writer.ledger.append(uri, batch(tick))  # type: ignore[union-attr]
            append_ms.append((time.perf_counter() - t_append) * 1000)
        await _until(lambda: len(delays) >= n_live * len(readers), 5.0)
        live_bytes = wire_bytes() - bytes_before
        event_size = len(next(iter(writer.ledger.store.raw_events(author, writer.ledger.next_seq - 1))))  # type: ignore[union-attr]
        replication = list(delays)

        # the writer's history grows by catchup_events (the chain benchmark's mix: four body
        # creations, then one tick of motion of four bodies); the others follow live
        total = args.catchup_events
        authority = writer.authority
        specs = [BodySpec(name=f"body-{i}", shape="sphere", radius=0.1, material="rubber",
                          position=(i * 0.01, 0.0, 1.0)) for i in range(1000)]

        def item(i: int) -> tuple[str, Any]:
            if i % 5 == 4:
                moved = tuple(BodyState(name=specs[(i + k) % 1000].name,
                                        position=(0.0, float(k), 1.0 + i * 1e-6)) for k in range(4))
                return uri, ObjectMoved(tick=i, bodies=moved)
            spec = specs[i % 1000]
            return f"krapition://{authority}/physics/objects/{spec.name}", ObjectCreated(body=spec)

        target_heads = writer.replicator.heads()  # type: ignore[union-attr]
        for i in range(0, total, 2000):
            writer.ledger.append_many([item(i + k) for k in range(min(2000, total - i))])  # type: ignore[union-attr]
            target_heads = writer.replicator.heads()  # type: ignore[union-attr]
            # paced: the readers (on this same loop) follow before the next chunk
            await _until(lambda t=target_heads: all(n.replicator.heads() == t for n in readers), 60.0)  # type: ignore[misc, union-attr]
        if not all(n.replicator.heads() == target_heads for n in readers):  # type: ignore[union-attr]
            raise RuntimeError("the readers did not follow the writer's history")
        raws = list(writer.ledger.store.raw_events(author, writer.ledger.next_seq - total))  # type: ignore[union-attr]
        sample = min(5000, len(raws))
        raw_before = _raw_verify_rate(raws[-sample:], author, sample)

        # the late joiner
        late = Node(config("late"))
        await late.start_async()
        held_before = sum(late.replicator.heads().get(k, 0) for k in target_heads)  # type: ignore[union-attr]
        t0 = time.perf_counter()
        for node in nodes:
            await late.connect("127.0.0.1", node.port)
        if not await _until(lambda: all(late.replicator.heads().get(k, 0) >= v  # type: ignore[union-attr]
                                        for k, v in target_heads.items()), 240.0):
            raise RuntimeError("the late joiner did not catch up in 240 s")
        catchup_s = time.perf_counter() - t0
        fetched = sum(target_heads.values()) - held_before
        raw_after = _raw_verify_rate(raws[:sample], author, sample)
        ledger_rate = _ledger_receive_rate(folder / "ceiling", writer.ledger.store, author)  # type: ignore[union-attr]
        raw_verify = (raw_before + raw_after) / 2
        catchup_rate = fetched / catchup_s
        stats = late.replicator.stats  # type: ignore[union-attr]
        return {
            "nodes": n_nodes,
            "rate_per_s": args.rate,
            "live_events": n_live,
            "replication_ms_median": round(statistics.median(replication), 3) if replication else None,
            "replication_ms_p99": round(_quantile(replication, 0.99), 3) if replication else None,
            "replication_ms_max": round(max(replication), 3) if replication else None,
            "replication_samples": len(replication),
            "catchup_events": fetched,
            "catchup_s": round(catchup_s, 3),
            "catchup_events_per_s": round(catchup_rate, 1),
            "raw_verify_per_s": round(raw_verify, 1),
            "raw_verify_before_after": [round(raw_before, 1), round(raw_after, 1)],
            "catchup_ratio_vs_verify": round(catchup_rate / raw_verify, 3),
            "ledger_receive_per_s": round(ledger_rate, 1),
            "catchup_ratio_vs_ledger_receive": round(catchup_rate / ledger_rate, 3),
            "append_ms_median": round(statistics.median(append_ms), 3),
            "append_ms_p99": round(_quantile(append_ms, 0.99), 3),
            "catchup_duplicates_dropped": stats.duplicates,
            "catchup_rejected": dict(stats.rejected),
            "bytes_per_event": round(live_bytes / max(1, n_live * len(readers)), 1),
            "event_bytes": event_size,
            "verify_workers": late.ledger.workers,  # type: ignore[union-attr]
            "goals": {"replication_ms_p99_max": 20.0, "catchup_ratio_min": 0.8},
            "met": {
                "replication_p99": bool(replication) and _quantile(replication, 0.99) <= 20.0,
                "catchup_ratio": catchup_rate / raw_verify >= 0.8,
            },
            "machine": {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg())},
            "note": "all nodes in one process on one asyncio loop, real TCP on 127.0.0.1",
        }
    finally:
        for node in [*nodes, *([late] if late is not None else [])]:
            await node.stop_async()


def _ledger_receive_rate(folder: Path, source: Any, author: bytes) -> float:
    """The ceiling of a catch-up: EventLedger.receive_many of the whole chain, no network."""
    from ..p2p.identity import Identity
    from ..p2p.ledger import EventLedger
    from ..store.database import Store

    folder.mkdir(parents=True, exist_ok=True)
    raws = list(source.raw_events(author))
    store = Store.open(folder / "ceiling.sqlite3")
    try:
        ledger = EventLedger(store, Identity.generate(), "127.0.0.9:1", clock=time.time_ns)
        t0 = time.perf_counter()
        for i in range(0, len(raws), 512):
            ledger.receive_many(raws[i : i + 512])
        return len(raws) / (time.perf_counter() - t0)
    finally:
        store.close()


async def _until(predicate, limit: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.005)
    return bool(predicate())


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="krapition-bench-node-") as folder:
        result = asyncio.run(_run(args, Path(folder)))
    result["machine"]["loadavg_before"] = load_before
    return result
