"""The transport over real loopback sockets (issue 7): hostile bytes, floods, slow, killed and
stopped peers. Only 127.0.0.0/8 is used; every peer process is ours and ends by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable

import pytest
from p2p.net_helpers import PeerProcess, beat, hello

from krapition_app.model.events import NodeJoined, NodeLeft
from krapition_app.model.messages import EventPublish
from krapition_app.p2p.health import DetectorConfig, Liveness
from krapition_app.p2p.limits import AddressLimits, PeerLimits
from krapition_app.p2p.protocol import Connection, ConnectionConfig, Role
from krapition_app.p2p.protocol.errors import BackpressureError, TransportError
from krapition_app.p2p.testing import seeded_identity
from krapition_app.p2p.transport import Transport, TransportConfig

LOCAL = "127.0.0.1"


def run(coro: Callable[[], Awaitable[None]], limit: float = 60) -> None:
    asyncio.run(asyncio.wait_for(coro(), limit))


def node(name: str, **config: object) -> Transport:
    return Transport(seeded_identity(f"tcp-{name}"),
                     TransportConfig(name=name, authority=f"{name}.local:9000", **config))  # type: ignore[arg-type]


async def pair_up(**config: object) -> tuple[Transport, Transport, int]:
    a, b = node("alpha", **config), node("beta", **config)
    port = await b.start(LOCAL, 0)
    await a.connect(LOCAL, port, expected_node_id=b.node_id)
    return a, b, port


async def read_all(reader: asyncio.StreamReader, timeout: float) -> bytes:
    data = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                data += chunk
    except (TimeoutError, ConnectionError):
        pass
    return data


async def handshaken_attacker(port: int, label: str = "tcp-mallory", config: ConnectionConfig | None = None):
    """A raw client that completes a real handshake (a valid identity turned hostile)."""
    me = seeded_identity(label)
    conn = Connection(Role.INITIATOR, me, config)
    reader, writer = await asyncio.open_connection(LOCAL, port)
    writer.write(conn.initiate(time.time_ns()))
    reply = await asyncio.wait_for(reader.readexactly(144), 5)
    conn.receive_data(reply, time.time_ns())
    writer.write(conn.data_to_send() + conn.send(hello(me), time.time_ns()))
    await writer.drain()
    return me, conn, reader, writer


def test_wrong_passphrase_gets_no_bytes_and_the_node_keeps_serving() -> None:
    async def main() -> None:
        a, b, port = await pair_up(connection=ConnectionConfig(passphrase="orange sky"))
        for guess in ("purple sky", None):
            conn = Connection(Role.INITIATOR, seeded_identity("tcp-eve"), ConnectionConfig(passphrase=guess))
            reader, writer = await asyncio.open_connection(LOCAL, port)
            writer.write(conn.initiate(time.time_ns()))
            assert await read_all(reader, 2.0) == b""
            writer.close()
        assert len(b.peers) == 1 and await a.ping(b.node_id) < 5
        await a.close()
        await b.close()

    run(main)


def test_dialling_with_another_passphrase_fails_with_a_clear_error() -> None:
    async def main() -> None:
        b = node("beta", connection=ConnectionConfig(passphrase="orange sky"))
        port = await b.start(LOCAL, 0)
        a = node("alpha", connection=ConnectionConfig(passphrase="green sea"))
        with pytest.raises(TransportError, match="passphrase"):
            await a.connect(LOCAL, port)
        assert not a.peers and not b.peers and b.pending_handshakes == 0
        await a.close()
        await b.close()

    run(main)


@pytest.mark.parametrize("attack", ["garbage", "bitflip", "oversized", "truncated", "replay", "reorder"])
def test_hostile_bytes_close_that_connection_only(attack: str) -> None:
    async def main() -> None:
        a, b, port = await pair_up(connection=ConnectionConfig(max_frame_size=64 * 1024))
        if attack == "garbage":
            reader, writer = await asyncio.open_connection(LOCAL, port)
            writer.write(os.urandom(5000))
        else:
            me, conn, reader, writer = await handshaken_attacker(port)
            now = time.time_ns()
            f1, f2 = conn.send(beat(me, 1), now), conn.send(beat(me, 2), now)
            if attack == "bitflip":
                bad = bytearray(f1)
                bad[len(bad) // 2] ^= 0x40
                writer.write(bytes(bad))
            elif attack == "oversized":
                writer.write(b"\x7f\xff\xff\xff" + b"\x00" * 1000)
            elif attack == "truncated":
                writer.write(f1[:-3])
                writer.write_eof()
            elif attack == "replay":
                writer.write(f1 + f1)
            else:
                writer.write(f2 + f1)
        await writer.drain()
        await read_all(reader, 3.0)  # the node hangs up (after its own frames, if it accepted the hello)
        assert reader.at_eof()
        assert list(b.peers) and [p.node_id for p in b.peers] == [a.node_id]
        assert await a.ping(b.node_id) < 5 and await b.ping(a.node_id) < 5
        writer.close()
        await a.close()
        await b.close()

    run(main)


def test_flood_of_attempts_from_one_address_is_limited_while_heartbeats_flow() -> None:
    async def main() -> None:
        limits = AddressLimits(attempts_per_s=5, attempts_burst=10, pending_per_address=4)
        a, b, port = await pair_up(address_limits=limits)
        flood_host = "127.0.0.2"
        opened = []
        try:
            for _ in range(120):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.bind((flood_host, 0))
                with contextlib.suppress(BlockingIOError):
                    sock.connect((LOCAL, port))
                opened.append(sock)
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.3)
            rtts = [await a.ping(b.node_id) for _ in range(5)]
        finally:
            for sock in opened:
                sock.close()
        assert b.limiter.refused(flood_host) >= 90
        assert b.pending_handshakes <= 4
        assert a.peers.get(b.node_id).liveness is Liveness.ALIVE and max(rtts) < 2.0
        assert b.limiter.admit("127.0.0.3", b.now()) is None  # other addresses are not affected
        b.limiter.release("127.0.0.3")
        await a.close()
        await b.close()

    run(main)


def test_peer_that_stops_reading_is_disconnected_without_blocking_others() -> None:
    async def main() -> None:
        limits = PeerLimits(outbound_queue=32, slow_peer_timeout_s=1.0)
        a, b, port = await pair_up(peer_limits=limits)
        me, _, _reader, writer = await handshaken_attacker(port)  # it will never read again
        for _ in range(100):
            if me.node_id in b.peers:
                break
            await asyncio.sleep(0.02)
        big = EventPublish(events=(bytes(60_000),))
        start = time.monotonic()
        with pytest.raises(BackpressureError):
            for _ in range(5000):
                b.send_nowait(me.node_id, big)
                await asyncio.sleep(0)
        while me.node_id in b.peers and time.monotonic() - start < 10:
            assert await a.ping(b.node_id) < 1.0  # the others are served meanwhile
            await asyncio.sleep(0.05)
        assert me.node_id not in b.peers
        assert any(reason.startswith("slow peer") for reason in b.kicked)
        writer.close()
        await a.close()
        await b.close()

    run(main)


def _observer(**detector: float) -> Transport:
    return node("observer", detector=DetectorConfig(**detector)) if detector else node("observer")


def test_killed_peer_is_dead_within_five_seconds() -> None:
    async def main() -> None:
        me = _observer()
        port = await me.start(LOCAL, 0)
        peer = PeerProcess("--seed", "tcp-victim", "--connect", f"{LOCAL}:{port}", lifetime=30)
        try:
            joined = await asyncio.wait_for(me.events.get(), 15)
            assert isinstance(joined, NodeJoined)
            await asyncio.sleep(1.5)
            assert me.peers.get(joined.node_id).liveness is Liveness.ALIVE
            os.kill(peer.proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            left = await asyncio.wait_for(me.events.get(), 6)
            assert left == NodeLeft(node_id=joined.node_id, reason="dead")
            assert time.monotonic() - killed <= 5.0
        finally:
            peer.stop()
            await me.close()

    run(main)


def test_stopped_then_continued_peer_comes_back_to_alive() -> None:
    async def main() -> None:
        me = _observer(dead_phi=40.0, max_silence_s=10.0)
        port = await me.start(LOCAL, 0)
        peer = PeerProcess("--seed", "tcp-sleeper", "--connect", f"{LOCAL}:{port}", lifetime=40)
        try:
            joined = await asyncio.wait_for(me.events.get(), 15)
            await asyncio.sleep(2.0)
            info = me.peers.get(joined.node_id)
            os.kill(peer.proc.pid, signal.SIGSTOP)
            deadline = time.monotonic() + 8
            while info.liveness is Liveness.ALIVE and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert info.liveness is Liveness.SUSPECT
            os.kill(peer.proc.pid, signal.SIGCONT)
            deadline = time.monotonic() + 5
            while info.liveness is not Liveness.ALIVE and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert info.liveness is Liveness.ALIVE
            assert joined.node_id in me.peers and me.events.empty()
        finally:
            peer.stop()
            await me.close()

    run(main)
