"""The signed event chain: append (sign + commit), verify-and-store, replay, bytes per event.

Peer: raw PyNaCl ed25519 sign and verify of the same envelope bytes, single-threaded, measured in
the same run: in short bursts between the chain's batches (timed apart from them), and in rounds
before and after it. Each run's ratios divide by the rate of its own bursts: interleaved with its
batches, they see the same machine (a shared one that slows down for a while slows both), where
the rounds at the ends would weigh the first and last seconds (``raw_*_rounds_per_s`` report them).
Goals: append >= 70 % of raw sign (batched commits), verify-and-store >= 80 % of raw verify,
replay of 100,000 events to the same projection <= 3 s.

``append_per_s`` and ``verify_store_per_s`` are measured with the ledger's default threads: with
three usable CPUs or more a writer thread stores a chunk while the caller signs it (``--pipeline``),
and a received chunk is checked (decoded, signatures) by the caller and pool threads together
(``--workers``, the caller's thread included; default: the usable CPUs, at most 4, so two on two
CPUs). When the measured run uses threads, the ``*_single_thread_*`` keys measure the same with
``workers=1`` and no pipeline (first, on ``--single-events`` events, by default as many); otherwise
they repeat the measured run. The ``*_cpu_*`` ratios divide by the CPU time of all threads: what
threads gain on a free core shows in the wall-clock ratios only, and on a machine whose cores are
busy with other work they gain little.
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
    parser.add_argument("--raw", type=int, default=5_000,
                        help="raw sign/verify operations per round, before and after the chain")
    parser.add_argument("--raw-burst", type=int, default=96,
                        help="raw signs (verifies) after each appended (received) batch, timed apart")
    parser.add_argument("--workers", type=int, default=None,
                        help="threads that check received events, the caller's included (default: usable "
                             "CPUs, at most 4)")
    parser.add_argument("--pipeline", choices=("auto", "on", "off"), default="auto",
                        help="sign our events while a writer thread stores them (default: auto, the "
                             "ledger's default: on from 3 usable CPUs)")
    parser.add_argument("--single-events", type=int, default=None,
                        help="events of the single-thread comparison run (0: skip it; default: --events)")


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import gc
    import os
    import tempfile
    from pathlib import Path

    from nacl.signing import SigningKey

    from ..model.events import BodyState, ObjectCreated, ObjectMoved
    from ..model.scene import BodySpec
    from ..p2p.chain import make_envelope
    from ..p2p.clock import system_clock
    from ..p2p.ledger import EventLedger, RetentionPolicy, default_workers
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

    class Raw:
        """Raw single-thread PyNaCl sign and verify, timed in rounds before and after the chain and
        in short bursts between its batches, so that the rates compare under the same load."""

        def __init__(self) -> None:
            self.sign = [0, 0.0, 0.0]  # operations, wall seconds, CPU seconds
            self.verify = [0, 0.0, 0.0]
            # of those, in the rounds: signs, seconds, CPU seconds, verifies, seconds, CPU seconds
            self.rounds = [0, 0.0, 0.0, 0, 0.0, 0.0]

        def signs(self, n: int, into: list | None = None) -> None:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                key.sign(sample)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            for acc in (self.sign, into) if into is not None else (self.sign,):
                acc[0] += n
                acc[1] += wall
                acc[2] += cpu

        def verifies(self, n: int, into: list | None = None) -> None:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                verify_key.verify(signed)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            for acc in (self.verify, into) if into is not None else (self.verify,):
                acc[0] += n
                acc[1] += wall
                acc[2] += cpu

        def round(self) -> None:
            before = self.sign[1], self.sign[2], self.verify[1], self.verify[2]
            self.signs(args.raw)
            self.verifies(args.raw)
            self.rounds[0] += args.raw
            self.rounds[1] += self.sign[1] - before[0]
            self.rounds[2] += self.sign[2] - before[1]
            self.rounds[3] += args.raw
            self.rounds[4] += self.verify[1] - before[2]
            self.rounds[5] += self.verify[2] - before[3]

        def rates(self, which: str) -> tuple[float, float]:
            """(per wall second, per CPU second) of the bursts alone (all of it without bursts)."""
            ops, wall, cpu = self.sign if which == "sign" else self.verify
            r = self.rounds[:3] if which == "sign" else self.rounds[3:]
            if ops > r[0] and wall > r[1]:
                ops, wall, cpu = ops - r[0], wall - r[1], cpu - r[2]
            return ops / wall, ops / max(cpu, 1e-9)

    raw = Raw()
    burst = max(args.raw_burst, 0)

    workers = default_workers() if args.workers is None else max(1, args.workers)
    retention = RetentionPolicy(max_events=events + 10)

    pipeline = {"auto": None, "on": True, "off": False}[args.pipeline]

    def append_and_verify(folder: str, n: int, n_verify: int, threads: int,
                          overlap: bool | None) -> dict[str, Any]:
        """Appends ``n`` events (batches of ``batch``), then a second node verifies and stores the
        first ``n_verify + 1``; rates by the wall clock and by the CPU time of this process."""
        writer = EventLedger(Store.open(Path(folder) / f"writer-{threads}.sqlite3"), writer_id, authority,
                             clock=system_clock, retention=retention, workers=threads, pipeline=overlap)
        writer.start("bench")
        append_s = append_cpu = 0.0
        signs: list = [0, 0.0, 0.0]  # this run's raw bursts: operations, wall and CPU seconds
        verifies: list = [0, 0.0, 0.0]
        for i in range(0, n, batch):
            t0, c0 = time.perf_counter(), time.process_time()
            writer.append_many(payloads[i : min(i + batch, n)])
            append_s, append_cpu = append_s + time.perf_counter() - t0, append_cpu + time.process_time() - c0
            raw.signs(burst, signs)
        raws = list(writer.store.raw_events(writer.author))
        reader = EventLedger(Store.open(Path(folder) / f"reader-{threads}.sqlite3"), reader_id,
                             "reader.local:9000", clock=system_clock, retention=retention, workers=threads)
        to_verify = raws[: n_verify + 1]
        verify_s = verify_cpu = 0.0
        for i in range(0, len(to_verify), batch):
            t0, c0 = time.perf_counter(), time.process_time()
            result = reader.receive_many(to_verify[i : i + batch])
            verify_s, verify_cpu = verify_s + time.perf_counter() - t0, verify_cpu + time.process_time() - c0
            if result.rejected:
                raise RuntimeError(f"benchmark events were rejected: {result.rejected[0][1]}")
            raw.verifies(burst, verifies)
        reader.store.close()
        return {"writer": writer, "pipeline": writer.pipeline, "raws": raws, "append_s": append_s,
                "append_cpu": append_cpu, "n": n, "verified": len(to_verify), "verify_s": verify_s,
                "verify_cpu": verify_cpu, "signs": signs, "verifies": verifies}

    def rate_of(bursts: list, fallback: tuple[float, float]) -> tuple[float, float]:
        """(per wall second, per CPU second) of a run's raw bursts (the fallback without bursts)."""
        ops, wall, cpu = bursts
        return (ops / wall, ops / max(cpu, 1e-9)) if ops and wall > 0 else fallback

    raw.round()
    with tempfile.TemporaryDirectory(prefix="krapition-bench-") as folder:
        single: dict[str, Any] | None = None
        n_single = events if args.single_events is None else min(max(args.single_events, 0), events)
        threaded = workers > 1 or pipeline is True or (pipeline is None and _default_pipeline())
        if n_single and threaded:  # first, then let go of, so neither run has the larger heap
            single = append_and_verify(folder, n_single, min(verify_n, n_single), 1, False)
            single.pop("writer").store.close()
            del single["raws"]
            gc.collect()
        main = append_and_verify(folder, events, verify_n, workers, pipeline)
        writer, raws = main["writer"], main["raws"]
        append_s, append_cpu, verify_s, verify_cpu = (main["append_s"], main["append_cpu"], main["verify_s"],
                                                      main["verify_cpu"])
        to_verify_n = main["verified"]
        bytes_per_event = sum(len(r) for r in raws) / len(raws)

        t0 = time.perf_counter()
        projection = writer.replay()
        replay_s = time.perf_counter() - t0
        same = projection.values == writer.store.objects()

        writer.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_size = os.path.getsize(Path(folder) / f"writer-{workers}.sqlite3")
        writer.store.close()
    raw.round()

    # each run against the raw bursts between its own batches
    raw_sign, raw_sign_cpu = rate_of(main["signs"], raw.rates("sign"))
    raw_verify, raw_verify_cpu = rate_of(main["verifies"], raw.rates("verify"))
    append_rate = _rate(events, append_s)
    verify_rate = _rate(to_verify_n, verify_s)
    replay_100k = replay_s * 100_000 / len(raws)
    out: dict[str, Any] = {
        "append_per_s": append_rate,
        "verify_store_per_s": verify_rate,
        "raw_sign_per_s": round(raw_sign, 1),
        "raw_verify_per_s": round(raw_verify, 1),
        "replay_100k_s": round(replay_100k, 3),
        "bytes_per_event": round(bytes_per_event, 1),
        "db_bytes_per_event": round(db_size / len(raws), 1),
        # the raw rates of the rounds at the ends alone (the ratios use the bursts between the batches)
        "raw_sign_rounds_per_s": round(raw.rounds[0] / raw.rounds[1], 1),
        "raw_verify_rounds_per_s": round(raw.rounds[3] / raw.rounds[4], 1),
        "append_vs_raw_sign": round(append_rate / raw_sign, 3),
        "verify_store_vs_raw_verify": round(verify_rate / raw_verify, 3),
        # the same ratios by CPU time (all threads of this process): steadier on a shared machine,
        # but blind to what the threads overlap
        "append_cpu_vs_raw_sign_cpu": round(_rate(events, append_cpu) / raw_sign_cpu, 3),
        "verify_store_cpu_vs_raw_verify_cpu": round(_rate(to_verify_n, verify_cpu) / raw_verify_cpu, 3),
        "workers": workers,
        "pipeline": main["pipeline"],
        "cpus": _usable_cpus(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    if single is not None or n_single:
        if single is None:  # the measured run was single-threaded already
            single = main
        append_single = _rate(single["n"], single["append_s"])
        verify_single = _rate(single["verified"], single["verify_s"])
        single_sign = rate_of(single["signs"], (raw_sign, raw_sign_cpu))[0]
        single_verify = rate_of(single["verifies"], (raw_verify, raw_verify_cpu))[0]
        out.update({
            "append_single_thread_per_s": append_single,
            "verify_store_single_thread_per_s": verify_single,
            "append_single_thread_vs_raw_sign": round(append_single / single_sign, 3),
            "verify_store_single_thread_vs_raw_verify": round(verify_single / single_verify, 3),
            "single_thread_events": single["n"],
        })
    out.update({
        "replay_matches_store": same,
        "events": events,
        "verified_events": to_verify_n,
        "replayed_events": len(raws),
        "batch": batch,
        "goals": {
            "append_ge_70pct_raw_sign": append_rate >= 0.7 * raw_sign,
            "verify_store_ge_80pct_raw_verify": verify_rate >= 0.8 * raw_verify,
            "replay_100k_le_3s": replay_100k <= 3.0 and same,
        },
    })
    return out


def _default_pipeline() -> bool:
    from ..p2p.ledger import PIPELINE_MIN_CPUS

    return _usable_cpus() >= PIPELINE_MIN_CPUS


def _usable_cpus() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
