"""The signed event chain: append (sign + commit), verify-and-store, replay, bytes per event.

Peer: raw PyNaCl ed25519 sign and verify of the same envelope bytes, measured in the same run
(before and after the chain, averaged) so the ratios hold on a noisy machine.
Goals: append >= 70 % of raw sign (batched commits), verify-and-store >= 80 % of raw verify,
replay of 100,000 events to the same projection <= 3 s.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

DESCRIPTION = "signed event chain: append, verify-and-store and replay rates against raw PyNaCl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (the default; accepted for scripts)")
    parser.add_argument("--events", type=int, default=100_000,
                        help="events appended, and replayed (default: 100000)")
    parser.add_argument("--verify-events", type=int, default=20_000,
                        help="events a second node verifies and stores (default: 20000)")
    parser.add_argument("--batch", type=int, default=512, help="events per append_many call (default: 512)")
    parser.add_argument("--raw", type=int, default=5_000, help="raw sign/verify operations per round")


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import os
    import tempfile
    from pathlib import Path

    from nacl.signing import SigningKey

    from ..model.events import BodyState, ObjectCreated, ObjectMoved
    from ..model.scene import BodySpec
    from ..p2p.chain import make_envelope
    from ..p2p.clock import system_clock
    from ..p2p.ledger import EventLedger, RetentionPolicy
    from ..p2p.testing import seeded_identity
    from ..store import Store

    events, verify_n, batch = max(args.events, 1), max(min(args.verify_events, args.events), 1), args.batch
    writer_id, reader_id = seeded_identity("bench-writer"), seeded_identity("bench-reader")
    authority = "bench.local:9000"

    names = [f"body-{i}" for i in range(1000)]
    bodies = [BodySpec(name=n, shape="sphere", radius=0.1, material="rubber", position=(i * 0.01, 0.0, 1.0))
              for i, n in enumerate(names)]

    def item(i: int) -> tuple[str, Any]:
        if i % 5 == 4:  # one tick of motion for four bodies
            moved = tuple(BodyState(name=names[(i + k) % 1000], position=(0.0, float(k), 1.0 + i * 1e-6))
                          for k in range(4))
            node = f"krapition://{authority}/system/nodes/{writer_id.node_id}"
            return node, ObjectMoved(tick=i, bodies=moved)
        body = bodies[i % 1000]
        return f"krapition://{authority}/physics/objects/{body.name}", ObjectCreated(body=body)

    payloads = [item(i) for i in range(events)]  # commands are built before timing: they are the input

    # the peer: raw PyNaCl on a representative envelope
    sample = make_envelope(author=writer_id.public_key, seq=1, prev=bytes(32), timestamp_ns=system_clock(),
                           uri=payloads[0][0], payload=payloads[0][1]).to_bytes()
    key = SigningKey(bytes(writer_id.signing_key))
    signed = key.sign(sample)
    verify_key = key.verify_key

    def raw_rates() -> tuple[float, float, float, float]:
        """(sign/s, verify/s) by the wall clock and by CPU time of this process."""
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.raw):
            key.sign(sample)
        t1, c1 = time.perf_counter(), time.process_time()
        for _ in range(args.raw):
            verify_key.verify(signed)
        t2, c2 = time.perf_counter(), time.process_time()
        n = args.raw
        return n / (t1 - t0), n / (t2 - t1), n / max(c1 - c0, 1e-9), n / max(c2 - c1, 1e-9)

    sign_a, verify_a, sign_cpu_a, verify_cpu_a = raw_rates()
    with tempfile.TemporaryDirectory(prefix="krapition-bench-") as folder:
        retention = RetentionPolicy(max_events=events + 10)
        writer = EventLedger(Store.open(Path(folder) / "writer.sqlite3"), writer_id, authority,
                             clock=system_clock, retention=retention)
        writer.start("bench")
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, events, batch):
            writer.append_many(payloads[i : i + batch])
        append_s, append_cpu = time.perf_counter() - t0, time.process_time() - c0

        raws = list(writer.store.raw_events(writer.author))
        bytes_per_event = sum(len(r) for r in raws) / len(raws)
        reader = EventLedger(Store.open(Path(folder) / "reader.sqlite3"), reader_id, "reader.local:9000",
                             clock=system_clock, retention=retention)
        to_verify = raws[: verify_n + 1]
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(to_verify), batch):
            result = reader.receive_many(to_verify[i : i + batch])
            if result.rejected:
                raise RuntimeError(f"benchmark events were rejected: {result.rejected[0][1]}")
        verify_s, verify_cpu = time.perf_counter() - t0, time.process_time() - c0

        t0 = time.perf_counter()
        projection = writer.replay()
        replay_s = time.perf_counter() - t0
        same = projection.values == writer.store.objects()

        writer.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_size = os.path.getsize(Path(folder) / "writer.sqlite3")
        writer.store.close()
        reader.store.close()
    sign_b, verify_b, sign_cpu_b, verify_cpu_b = raw_rates()

    raw_sign = (sign_a + sign_b) / 2
    raw_verify = (verify_a + verify_b) / 2
    raw_sign_cpu = (sign_cpu_a + sign_cpu_b) / 2
    raw_verify_cpu = (verify_cpu_a + verify_cpu_b) / 2
    append_rate = _rate(events, append_s)
    verify_rate = _rate(len(to_verify), verify_s)
    replay_100k = replay_s * 100_000 / len(raws)
    return {
        "append_per_s": append_rate,
        "verify_store_per_s": verify_rate,
        "raw_sign_per_s": round(raw_sign, 1),
        "raw_verify_per_s": round(raw_verify, 1),
        "replay_100k_s": round(replay_100k, 3),
        "bytes_per_event": round(bytes_per_event, 1),
        "db_bytes_per_event": round(db_size / len(raws), 1),
        "append_vs_raw_sign": round(append_rate / raw_sign, 3),
        "verify_store_vs_raw_verify": round(verify_rate / raw_verify, 3),
        # the same ratios by CPU time (all threads of this process): steadier on a shared machine,
        # but blind to what the commit pipeline overlaps
        "append_cpu_vs_raw_sign_cpu": round(_rate(events, append_cpu) / raw_sign_cpu, 3),
        "verify_store_cpu_vs_raw_verify_cpu": round(_rate(len(to_verify), verify_cpu) / raw_verify_cpu, 3),
        "replay_matches_store": same,
        "events": events,
        "verified_events": len(to_verify),
        "replayed_events": len(raws),
        "batch": batch,
        "goals": {
            "append_ge_70pct_raw_sign": append_rate >= 0.7 * raw_sign,
            "verify_store_ge_80pct_raw_verify": verify_rate >= 0.8 * raw_verify,
            "replay_100k_le_3s": replay_100k <= 3.0 and same,
        },
    }
