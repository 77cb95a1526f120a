"""Secure peer transport on loopback: discovery + handshake time, heartbeat RTT, throughput.

Two nodes in one process find each other with zeroconf on 127.0.0.1 only (never a real interface)
and handshake; then Heartbeat round trips (median, p99), and N messages of ~1 KiB (an EventPublish
carrying one 1 KiB event) one way through the encrypted connection. The peer is a plain asyncio
socket carrying the same encoded messages with a 4-byte length prefix, measured in the same run
(before and after the encrypted run, best of each) so the ratio holds on a noisy machine.
Goals: discover + handshake <= 2 s; encrypted >= 50 % of plain; heartbeat RTT p99 <= 5 ms.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

DESCRIPTION = "secure transport: discovery+handshake, heartbeat RTT, encrypted vs plain socket throughput"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (the default; accepted for scripts)")
    parser.add_argument("--messages", type=int, default=20_000, help="messages per throughput run")
    parser.add_argument("--size", type=int, default=1024, help="payload bytes per message (default 1024)")
    parser.add_argument("--pings", type=int, default=300, help="heartbeat round trips measured")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds of each kind")
    parser.add_argument("--no-discovery", action="store_true", help="dial directly instead of zeroconf")


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio
    import struct

    import msgspec

    from ..model.messages import EventPublish, Message
    from ..p2p.identity import Identity
    from ..p2p.lan import LanNode, LanSettings
    from ..p2p.limits import PeerLimits
    from ..p2p.transport import TransportConfig

    decoder = msgspec.msgpack.Decoder(Message)
    n, size = max(1, args.messages), max(1, args.size)
    limits = PeerLimits(messages_per_s=1e9, messages_burst=1e9, bytes_per_s=1e12, bytes_burst=1e12,
                        outbound_queue=8192)
    received = 0
    done = asyncio.Event()
    target = 0

    def on_message(peer: Any, message: Message) -> None:
        nonlocal received
        received += 1
        if received >= target:
            done.set()

    settings = LanSettings(discovery_interfaces=("127.0.0.1",), discover=not args.no_discovery)
    a_id, b_id = Identity.generate(), Identity.generate()
    t0 = time.perf_counter()
    a = LanNode(a_id, TransportConfig(name="bench-a", authority="127.0.0.1:0", peer_limits=limits), settings)
    b = LanNode(b_id, TransportConfig(name="bench-b", authority="127.0.0.1:0", peer_limits=limits), settings,
                on_message=on_message)
    await a.start()
    port_b = await b.start()
    if args.no_discovery:
        await a.connect("127.0.0.1", port_b, expected_node_id=b.node_id)
    deadline = time.perf_counter() + 15
    while not (b.node_id in a.peers and a.node_id in b.peers) and time.perf_counter() < deadline:
        await asyncio.sleep(0.002)
    handshake_s = time.perf_counter() - t0
    if b.node_id not in a.peers:
        await a.close()
        await b.close()
        return {"error": "the nodes did not find each other within 15 s"}

    rtts = []
    for _ in range(max(1, args.pings)):
        rtts.append(await a.transport.ping(b.node_id))
        await asyncio.sleep(0.001)

    payload = EventPublish(events=(bytes(size),))
    messages = [Message(id=f"m{i}", data=payload, timestamp_ns=time.time_ns(), source=a.node_id,
                        destination=b.node_id) for i in range(n)]
    encoded = [m.to_bytes() for m in messages]
    wire_bytes = sum(len(e) for e in encoded)

    async def encrypted_round() -> float:
        nonlocal received, target
        received, target = 0, n
        done.clear()
        start = time.perf_counter()
        send, to = a.transport.send, b.node_id
        for i in range(n):
            await send(to, payload)
            if i % 256 == 255:
                await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 120)
        return time.perf_counter() - start

    async def plain_round() -> float:
        got = 0
        finished = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal got
            header = struct.Struct(">I")
            while got < n:
                (length,) = header.unpack(await reader.readexactly(4))
                decoder.decode(await reader.readexactly(length))  # the transport's decode, too
                got += 1
            finished.set()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        source, to = a.node_id, b.node_id
        start = time.perf_counter()
        for i in range(n):  # the same work per message as the transport's send(): build, encode, frame
            data = Message(id=f"p{i}", data=payload, timestamp_ns=time.time_ns(), source=source,
                           destination=to).to_bytes()
            writer.write(struct.pack(">I", len(data)) + data)
            if i % 256 == 255:
                await writer.drain()
        await writer.drain()
        await asyncio.wait_for(finished.wait(), 120)
        elapsed = time.perf_counter() - start
        writer.close()
        server.close()
        await server.wait_closed()
        return elapsed

    plain_times, enc_times = [], []
    for _ in range(max(1, args.rounds)):
        plain_times.append(await plain_round())
        enc_times.append(await encrypted_round())
    plain_times.append(await plain_round())
    await a.close()
    await b.close()
    enc, plain = min(enc_times), min(plain_times)
    mb = wire_bytes / 1e6
    result = {
        "handshake_ms": round(handshake_s * 1000, 1),
        "discovery": not args.no_discovery,
        "rtt_ms_median": round(_q(rtts, 0.5) * 1000, 3),
        "rtt_ms_p99": round(_q(rtts, 0.99) * 1000, 3),
        "messages": n,
        "message_bytes": round(wire_bytes / n),
        "msgs_per_s": round(n / enc),
        "mb_per_s": round(mb / enc, 2),
        "plain_msgs_per_s": round(n / plain),
        "plain_mb_per_s": round(mb / plain, 2),
        "ratio_vs_plain": round(plain / enc, 3),
    }
    result["goals"] = {
        "handshake_le_2s": result["handshake_ms"] <= 2000,
        "ratio_ge_0.5": result["ratio_vs_plain"] >= 0.5,
        "rtt_p99_le_5ms": result["rtt_ms_p99"] <= 5.0,
    }
    return result
