"""The transport over in-memory pipes with a mock clock (issue 7): time moves only when told to."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from krapition_app.model.events import NodeJoined, NodeLeft
from krapition_app.model.messages import Ack, DataRequest, DataResponse, DataUpdate, Message
from krapition_app.p2p.clock import MockClock
from krapition_app.p2p.health import Liveness
from krapition_app.p2p.limits import PeerLimits
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.peers import PeerInfo
from krapition_app.p2p.protocol.errors import (
    BackpressureError,
    NackError,
    PeerNotConnectedError,
    RequestTimeoutError,
)
from krapition_app.p2p.testing import seeded_identity
from krapition_app.p2p.transport import Transport, TransportConfig


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 30))


async def settle(rounds: int = 30) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


def make(net: MemoryNetwork, clock: MockClock, name: str, **kw: object) -> Transport:
    config = kw.pop("config", None) or TransportConfig(name=name, authority=f"{name}.local:9000")
    return Transport(seeded_identity(f"mem-{name}"), config, clock=clock,
                     network=net.host(f"10.0.0.{ord(name[0])}"), auto_tick=False, **kw)  # type: ignore[arg-type]


async def tick(clock: MockClock, nodes: list[Transport], seconds: float, step: float = 0.25) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        for node in nodes:
            await node.poll()
        await settle(5)


async def joined(a: Transport, b: Transport) -> None:
    port = await b.start(b.network.address, 9000)  # type: ignore[attr-defined]
    peer = await a.connect(b.network.address, port, expected_node_id=b.node_id)  # type: ignore[attr-defined]
    assert peer.node_id == b.node_id
    await settle()
    assert a.node_id in b.peers


def test_join_heartbeats_rtt_and_events() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        a, b = make(net, clock, "alpha"), make(net, clock, "beta")
        await joined(a, b)
        assert isinstance(a.events.get_nowait(), NodeJoined) and isinstance(b.events.get_nowait(), NodeJoined)
        await tick(clock, [a, b], 5.0)
        peer = a.peers.get(b.node_id)
        assert peer is not None and peer.liveness is Liveness.ALIVE and len(peer.rtt.samples) >= 4
        snap = a.snapshot()[0]
        assert snap.name == "beta" and snap.authority == "beta.local:9000" and snap.rtt_ms_median == 0.0
        await a.close()
        await settle()
        assert b.events.get_nowait() == NodeLeft(node_id=a.node_id, reason="graceful")
        assert a.node_id not in b.peers
        await b.close()

    run(main)


def test_requests_ack_nack_response_and_timeout() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        b_ref: list[Transport] = []

        def handler(peer: PeerInfo, message: Message) -> None:
            node = b_ref[0]
            if isinstance(message.data, DataRequest):
                if message.data.pattern == "silent":
                    return
                node.reply(message, DataResponse(ref=message.id, items=()))
            elif isinstance(message.data, DataUpdate):
                node.nack(message, "not-owner", "this node does not own that URI")
            else:
                node.ack(message)

        a, b = make(net, clock, "alpha"), make(net, clock, "beta", on_message=handler)
        b_ref.append(b)
        await joined(a, b)
        response = await a.request(b.node_id, DataRequest(pattern="krapition://beta.local:9000/physics/*/*"))
        assert isinstance(response.data, DataResponse) and response.source == b.node_id
        with pytest.raises(NackError) as info:
            uri = "krapition://beta.local:9000/physics/objects/x"
            await a.request(b.node_id, DataUpdate(uri=uri, body=None))
        assert info.value.code == "not-owner"
        pending = asyncio.ensure_future(a.request(b.node_id, DataRequest(pattern="silent"), timeout=2.0))
        await settle()
        await tick(clock, [a, b], 2.5)
        with pytest.raises(RequestTimeoutError):
            await pending
        assert not a._requests
        with pytest.raises(PeerNotConnectedError):
            await a.request("0" * 32, DataRequest(pattern="x"))
        await a.close()
        await b.close()

    run(main)


def test_hung_peer_goes_suspect_then_dead_and_paused_peer_comes_back() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        a, b = make(net, clock, "alpha"), make(net, clock, "beta")
        await joined(a, b)
        await tick(clock, [a, b], 10.0)
        b_reader = b.session_of(a.node_id).reader
        # paused for a while: suspect, then back to alive once it reads again
        b_reader.paused = True
        seen = []
        for _ in range(20):
            await tick(clock, [a], 0.25)
            seen.append(a.peers.get(b.node_id).liveness)
            if seen[-1] is Liveness.SUSPECT:
                break
        assert seen[-1] is Liveness.SUSPECT
        b_reader.paused = False
        await tick(clock, [a, b], 2.0)
        assert a.peers.get(b.node_id).liveness is Liveness.ALIVE
        # hung for good: dead within 5 s, NodeLeft(dead)
        a.events.get_nowait()
        b.session_of(a.node_id).reader.paused = True
        peer = a.peers.get(b.node_id)
        for _ in range(32):
            await tick(clock, [a], 0.25)
            if b.node_id not in a.peers:
                break
        assert b.node_id not in a.peers
        assert a.now() - peer.detector.last <= 5.0  # dead within 5 s of the last thing it said
        assert a.events.get_nowait() == NodeLeft(node_id=b.node_id, reason="dead")
        await a.close()
        await b.close()

    run(main)


def test_handshake_timeout_frees_the_slot() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        b = make(net, clock, "beta")
        port = await b.start("10.0.0.98", 9000)
        raw = net.host("10.0.0.50")
        _, writer = await raw.open_connection("10.0.0.98", port)
        await settle()
        assert b.pending_handshakes == 1 and b.limiter.pending_total == 1
        await tick(clock, [b], 6.0)
        assert b.pending_handshakes == 0 and b.limiter.pending_total == 0
        assert writer.is_closing()
        await b.close()

    run(main)


def test_peer_that_stops_reading_is_dropped_and_others_keep_going() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork(capacity=64 * 1024)
        config = TransportConfig(name="alpha", authority="alpha.local:9000",
                                 peer_limits=PeerLimits(outbound_queue=64, slow_peer_timeout_s=2.0))
        a, b = make(net, clock, "alpha", config=config), make(net, clock, "beta")
        c = make(net, clock, "gamma")
        await joined(a, b)
        port_c = await c.start("10.0.0.103", 9000)
        await a.connect("10.0.0.103", port_c)
        b.session_of(a.node_id).reader.paused = True
        payload = DataRequest(pattern="x" * 500)
        with pytest.raises(BackpressureError):
            for _ in range(10_000):
                a.send_nowait(b.node_id, payload)
                await asyncio.sleep(0)
        await tick(clock, [a, c], 3.0)
        assert b.node_id not in a.peers
        assert a.kicked.get("slow peer: its outbound queue stayed full") == 1
        assert c.node_id in a.peers and await a.ping(c.node_id) >= 0
        await a.close()
        await b.close()
        await c.close()

    run(main)


def test_both_dial_at_once_keeps_one_connection() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        a, b = make(net, clock, "alpha"), make(net, clock, "beta")
        pa = await a.start("10.0.0.97", 9000)
        pb = await b.start("10.0.0.98", 9000)
        results = await asyncio.gather(a.connect("10.0.0.98", pb), b.connect("10.0.0.97", pa),
                                       return_exceptions=True)
        await settle(60)
        assert all(not isinstance(r, BaseException) for r in results), results
        assert len(a.peers) == 1 and len(b.peers) == 1
        assert len(a._sessions) == 1 and len(b._sessions) == 1
        assert a.session_of(b.node_id).we_dialled == (a.node_id < b.node_id)
        await tick(clock, [a, b], 2.0)
        assert await a.ping(b.node_id) >= 0 and await b.ping(a.node_id) >= 0
        await a.close()
        await b.close()

    run(main)


class _HeldWriter:
    """A writer that holds back everything after its first ``pass_writes`` writes until released."""

    def __init__(self, writer, pass_writes: int) -> None:  # type: ignore[no-untyped-def]
        self.writer, self.pass_writes, self.writes, self.held = writer, pass_writes, 0, []
        self.holding = True

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.holding and self.writes > self.pass_writes:
            self.held.append(data)
        else:
            self.writer.write(data)

    def release(self) -> None:
        """Delivers what was held, as data in flight on TCP is even if its sender closed meanwhile."""
        self.holding = False
        pipe = self.writer._pipe
        for data in self.held:
            pipe.buffer += data
        pipe._update()
        self.held.clear()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.writer, name)


def test_one_side_dialling_twice_keeps_the_same_connection_at_both_ends() -> None:
    """Two connections dialled by the same side (discovery and a typed address at once) can finish
    their handshakes in a different order at each end; both ends must keep the same one (the one
    with the smaller session id, which both know), or each drops the one the other kept."""
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        a, b = make(net, clock, "alpha"), make(net, clock, "beta")
        pb = await b.start("10.0.0.98", 9000)
        held: list[_HeldWriter] = []
        slow_reader: list = []
        dial = a.network.open_connection

        class PauseAfterHandshake(_HeldWriter):
            """Alpha's side of connection 2: once alpha finished its handshake (its second write),
            it reads nothing more for a while: beta's Connect stays in flight."""

            def __init__(self, writer, reader) -> None:  # type: ignore[no-untyped-def]
                super().__init__(writer, pass_writes=1 << 30)
                self.reader = reader

            def write(self, data: bytes) -> None:
                super().write(data)
                if self.writes == 2:
                    self.reader.paused = True

        async def open_held(host: str, port: int):  # type: ignore[no-untyped-def]
            reader, writer = await dial(host, port)
            if not held:  # connection 1: its handshake goes through, alpha's Connect waits
                held.append(_HeldWriter(writer, pass_writes=2))
                return reader, held[0]
            slow_reader.append(reader)
            return reader, PauseAfterHandshake(writer, reader)

        a.network.open_connection = open_held  # type: ignore[method-assign]
        await a.connect("10.0.0.98", pb)  # connection 1 joined at alpha, not yet at beta
        second = asyncio.ensure_future(a.connect("10.0.0.98", pb))
        await settle(60)
        assert len(b.peers) == 1 and len(b._sessions) == 2  # connection 2 joined at beta
        held[0].release()  # beta now joins connection 1: its second
        await settle(60)
        slow_reader[0].paused = False  # alpha now reads beta's Connect on connection 2: its second
        await settle(60)
        await asyncio.gather(second, return_exceptions=True)
        await tick(clock, [a, b], 2.0)
        assert len(a.peers) == 1 and len(b.peers) == 1, (len(a.peers), len(b.peers))
        assert len(a._sessions) == 1 and len(b._sessions) == 1
        assert a.session_of(b.node_id).session_id == b.session_of(a.node_id).session_id
        assert await a.ping(b.node_id) >= 0 and await b.ping(a.node_id) >= 0
        await a.close()
        await b.close()

    run(main)


def test_broadcast_and_ack() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        got: list[Message] = []
        a = make(net, clock, "alpha")
        b = make(net, clock, "beta", on_message=lambda p, m: got.append(m))
        await joined(a, b)
        assert a.broadcast(Ack(ref="x")) == 1
        await settle()
        # an Ack nobody waits for is the handler's business
        assert [m.destination for m in got if isinstance(m.data, Ack)] == ["*"]
        assert a.broadcast(DataRequest(pattern="y")) == 1
        await settle()
        assert got and got[-1].destination == "*" and got[-1].source == a.node_id
        await a.close()
        await b.close()

    run(main)


def test_a_failing_handler_costs_no_connection() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        calls: list[str] = []

        def handler(peer: PeerInfo, message: Message) -> None:
            calls.append(message.id)
            raise RuntimeError("a bug in the app")

        a, b = make(net, clock, "alpha"), make(net, clock, "beta", on_message=handler)
        await joined(a, b)
        for _ in range(3):
            a.send_nowait(b.node_id, DataRequest(pattern="x"))
        await settle()
        assert len(calls) == 3 and a.node_id in b.peers and await a.ping(b.node_id) >= 0
        await a.close()
        await b.close()

    run(main)


def test_each_side_measures_how_far_the_others_clock_is_ahead() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()

        def ahead() -> int:
            return clock() + 3_000_000_000

        a = make(net, ahead, "alpha", monotonic=clock)  # type: ignore[arg-type]  # its wall clock: 3 s ahead
        b = make(net, clock, "beta")
        await joined(a, b)
        await tick(clock, [a, b], 3.0)
        seen_by_b = {p.node_id: p for p in b.peers.snapshot(b.now())}[a.node_id]
        seen_by_a = {p.node_id: p for p in a.peers.snapshot(a.now())}[b.node_id]
        assert seen_by_b.clock_offset_ms == pytest.approx(3000, abs=300)
        assert seen_by_a.clock_offset_ms == pytest.approx(-3000, abs=300)
        await a.close()
        await b.close()

    run(main)


def test_heartbeats_carry_load_and_state_hashes_and_survive_a_failing_provider() -> None:
    async def main() -> None:
        clock, net = MockClock(), MemoryNetwork()
        a, b = make(net, clock, "alpha"), make(net, clock, "beta")
        await joined(a, b)
        got: list = []
        b.on_heartbeat = lambda node_id, hb: got.append((node_id, hb))
        a.heartbeat_content = lambda: (0.25, {"ab" * 32: b"\x01" * 16}, 42, True)
        await tick(clock, [a, b], 2.0)
        assert got and got[-1][0] == a.node_id
        hb = got[-1][1]
        assert (hb.load, hb.state_hashes, hb.confirmed_tick) == (0.25, {"ab" * 32: b"\x01" * 16}, 42)
        assert hb.adopts is True

        def broken() -> tuple:
            raise RuntimeError("provider failed")
        a.heartbeat_content = broken
        got.clear()
        await tick(clock, [a, b], 5.0)
        assert got and got[-1][1].state_hashes == {}  # plain heartbeats: the link stays alive
        assert b.peers.get(a.node_id).liveness is Liveness.ALIVE  # type: ignore[union-attr]
        await a.close()
        await b.close()

    run(main)
