"""The asyncio adapter around the sans-IO protocol: listen, dial, heartbeats, limits, requests.

One :class:`Transport` per node, on the network thread's event loop. It owns the sockets (or the
in-memory pipes of :mod:`.memory`); the protocol itself lives in :mod:`.protocol`.

Per connection, one reader task (read, limit, decrypt, dispatch) and one writer task (drain the
bounded outbound queue, batch what is queued into as few frames as fit, write, wait for the socket
to drain). Everything that depends on time happens in :meth:`Transport.poll`, which a ticker task
calls every ``tick_s``; with ``auto_tick=False`` and a :class:`~.clock.MockClock`, tests call it
themselves and time moves only when they say so:

- every ``heartbeat_interval_s`` a Heartbeat to each peer; the peer answers with an Ack whose
  ``ref`` is the heartbeat's id, which gives the round-trip time;
- every message received feeds that peer's phi-accrual detector: alive -> suspect -> dead; a dead
  peer is disconnected and a ``NodeLeft(reason="dead")`` produced;
- handshakes not finished within ``handshake_timeout_s``, and requests not answered within their
  timeout, are ended.

Protection, before authentication: a per-address token bucket for connection attempts and a cap on
pending handshakes (per address and in all); a refused connection is closed before a byte is read
or written. After it: per-peer token buckets for messages and bytes pace the reading (TCP pushes
back on the sender); a peer deep in debt is disconnected as a flood; a peer that does not read
(its outbound queue stays full, or its socket does not drain, for ``slow_peer_timeout_s``) is
disconnected without holding up the others. Each such end is logged once with its reason, through
the rate-limited :class:`~.ratelog.PeerLogger`.

``NodeJoined``/``NodeLeft`` model payloads go to :attr:`Transport.events` (a bounded queue) and to
the optional ``on_event`` callback; messages other than heartbeats and responses to our requests go
to ``on_message(peer, message)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model.events import NodeJoined, NodeLeft
from ..model.messages import Ack, Connect, DataResponse, Disconnect, Heartbeat, Message, MessageData, Nack
from .clock import Clock, system_clock
from .health import DetectorConfig, Liveness, PhiAccrualDetector
from .identity import Identity
from .limits import AddressLimiter, AddressLimits, PeerLimits, TokenBucket
from .peers import PeerInfo, PeerTable, PinStore
from .protocol.connection import (
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    HandshakeComplete,
    MessageReceived,
    Role,
    State,
)
from .protocol.errors import (
    BackpressureError,
    LocalProtocolError,
    NackError,
    PeerNotConnectedError,
    ProtocolError,
    RemoteProtocolError,
    RequestTimeoutError,
    TransportError,
)
from .protocol.handshake import PROTOCOL_VERSION, ReplayCache
from .ratelog import PeerLogger, clip

log = logging.getLogger(__name__)

NodeEvent = NodeJoined | NodeLeft
#: message types the transport itself looks at before the handler
_CONTROL = frozenset({Heartbeat, Ack, Nack, DataResponse, Disconnect, Connect})
#: (load 0..1, author hex -> state hash, the tick the hashes are of)
#: what our heartbeats carry: (load 0..1, state hashes by author hex, confirmed tick, adopts bodies)
HeartbeatContent = tuple[float, dict[str, bytes], int, bool]
MessageHandler = Callable[[PeerInfo, Message], Awaitable[None] | None]
EventHandler = Callable[[NodeEvent], None]


@dataclass(frozen=True, slots=True)
class TransportConfig:
    name: str = "krapition"
    #: our URI authority ("host:port"), told to peers in Connect
    authority: str = "localhost:0"
    capabilities: tuple[str, ...] = ()
    connection: ConnectionConfig = field(default_factory=ConnectionConfig)
    address_limits: AddressLimits = field(default_factory=AddressLimits)
    peer_limits: PeerLimits = field(default_factory=PeerLimits)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    handshake_timeout_s: float = 5.0
    request_timeout_s: float = 5.0
    tick_s: float = 0.1
    read_chunk: int = 256 * 1024
    #: messages batched into one write (one or a few frames)
    write_batch: int = 512
    events_queue: int = 1024


class Stream(Protocol):
    """What the transport needs of a connection: the subset of asyncio's StreamReader/Writer."""

    async def read(self, n: int) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


class Network(Protocol):
    async def start_server(self, handler: Callable[[Any, Any], Awaitable[None]], host: str,
                           port: int) -> tuple[Any, int]: ...
    async def open_connection(self, host: str, port: int) -> tuple[Any, Any]: ...


class TcpNetwork:
    """Real sockets (asyncio streams; asyncio sets TCP_NODELAY)."""

    async def start_server(self, handler: Callable[[Any, Any], Awaitable[None]], host: str,
                           port: int) -> tuple[Any, int]:
        server = await asyncio.start_server(handler, host, port, limit=1 << 16)
        return server, server.sockets[0].getsockname()[1]

    async def open_connection(self, host: str, port: int) -> tuple[Any, Any]:
        return await asyncio.open_connection(host, port, limit=1 << 16)


class _Session:
    """One connection, from the first byte to its end."""

    def __init__(self, transport: Transport, conn: Connection, reader: Any, writer: Any, address: str,
                 *, we_dialled: bool, started: float) -> None:
        self.transport = transport
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.address = address
        self.host = address.rsplit(":", 1)[0]
        self.we_dialled = we_dialled
        self.started = started
        self.peer: PeerInfo | None = None
        self.joined = asyncio.get_running_loop().create_future()
        self.queue: asyncio.Queue[Message] = asyncio.Queue(transport.config.peer_limits.outbound_queue)
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False
        self.pending_slot = not we_dialled
        limits = transport.config.peer_limits
        self.msg_bucket = TokenBucket(limits.messages_per_s, limits.messages_burst, started)
        self.byte_bucket = TokenBucket(limits.bytes_per_s, limits.bytes_burst, started)
        self.hb_seq = 0
        self.hb_sent: dict[str, float] = {}
        self.last_hb = started
        self.full_since: float | None = None
        self.requests: set[str] = set()
        self.end_reason = ""
        #: the handshake's transcript hash: the same at both ends, unique to this connection
        self.session_id = b""


class Transport:
    def __init__(self, identity: Identity, config: TransportConfig | None = None, *,
                 clock: Clock = system_clock, monotonic: Clock | None = None,
                 network: Network | None = None, on_message: MessageHandler | None = None,
                 on_event: EventHandler | None = None, pins: PinStore | None = None,
                 auto_tick: bool = True) -> None:
        self.identity = identity
        self.node_id = identity.node_id
        self.config = config or TransportConfig()
        self.clock = clock
        self.monotonic = monotonic or (time.monotonic_ns if clock is system_clock else clock)
        self.network: Network = network or TcpNetwork()
        self.on_message = on_message
        self.on_event = on_event
        self.pins = pins or PinStore()
        self.auto_tick = auto_tick
        self.peers = PeerTable()
        self.events: asyncio.Queue[NodeEvent] = asyncio.Queue(self.config.events_queue)
        self.limiter = AddressLimiter(self.config.address_limits)
        self.replay_cache = ReplayCache()
        self.peer_log = PeerLogger(log)
        self.port: int | None = None
        self.kicked: dict[str, int] = {}
        #: what our heartbeats carry besides their seq (load, per-owner state hashes, confirmed tick);
        #: asked at every heartbeat, so it must be cheap (the session keeps it ready)
        self.heartbeat_content: Callable[[], HeartbeatContent] | None = None
        #: called with (peer node id, heartbeat) for every heartbeat a peer sends
        self.on_heartbeat: Callable[[str, Heartbeat], None] | None = None
        self._server: Any = None
        self._sessions: set[_Session] = set()
        self._by_node: dict[str, _Session] = {}
        self._requests: dict[str, tuple[asyncio.Future[Message], float]] = {}
        self._id_prefix = secrets.token_hex(4)
        self._id_counter = 0
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False

    # ---- lifecycle ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.monotonic() / 1e9

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listens on ``host:port`` (0: any free port); returns the port."""
        self._server, self.port = await self.network.start_server(self._accept, host, port)
        self._start_ticker()
        log.info("node %s listening on %s:%s", self.identity.fingerprint, host, self.port)
        return self.port

    def _start_ticker(self) -> None:
        if self.auto_tick and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(), name="krapition-tick")

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            try:
                await self.poll()
            except Exception:  # a bug in one tick must not stop the heartbeats
                log.exception("transport tick failed")

    async def close(self) -> None:
        """Says Disconnect to every peer, then closes everything."""
        self._closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            await self._goodbye(session, "shutdown")
        for session in list(self._sessions):
            await self._end(session, "shutdown", "graceful", log_it=False)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    # ---- connecting --------------------------------------------------------------------------

    async def connect(self, host: str, port: int, *, expected_node_id: str | None = None,
                      expected_public_key: bytes | None = None, timeout: float | None = None) -> PeerInfo:
        """Dials ``host:port``, handshakes and waits for the peer's Connect; returns the peer.

        ``expected_node_id`` (from discovery, or typed by the user) is checked against the key the
        peer proves, and so is the key pinned for that node id, if any. Raises a
        :class:`ProtocolError` (the peer failed a check), :class:`TransportError` (it hung up or
        timed out) or ``OSError`` (nothing listens there).
        """
        if expected_node_id is not None and expected_public_key is None:
            expected_public_key = self.pins.expected_key(expected_node_id)
        if expected_node_id is not None and expected_node_id in self._by_node:
            return self._by_node[expected_node_id].peer  # type: ignore[return-value]
        self._start_ticker()
        reader, writer = await asyncio.wait_for(self.network.open_connection(host, port),
                                                timeout or self.config.handshake_timeout_s)
        conn = Connection(Role.INITIATOR, self.identity, self.config.connection,
                          expected_public_key=expected_public_key, expected_node_id=expected_node_id)
        session = _Session(self, conn, reader, writer, f"{host}:{port}", we_dialled=True, started=self.now())
        self._sessions.add(session)
        writer.write(conn.initiate(self.clock()))
        self._spawn(session)
        limit = timeout or self.config.handshake_timeout_s + 1.0
        try:
            return await asyncio.wait_for(asyncio.shield(session.joined), limit)
        except TimeoutError:
            await self._end(session, "handshake timeout", "kicked")
            raise TransportError(f"no handshake with {host}:{port} in time") from None
        except TransportError:
            # both sides dialled at once and this connection lost the tie-break: use the other one
            node_id = session.conn.peer_node_id
            if node_id is None or "duplicate" not in session.end_reason:
                raise
            for _ in range(int(limit / 0.01)):
                other = self._by_node.get(node_id)
                if other is not None and other.peer is not None:
                    return other.peer
                await asyncio.sleep(0.01)
            raise

    async def _accept(self, reader: Any, writer: Any) -> None:
        peername = writer.get_extra_info("peername") or ("?", 0)
        address = f"{peername[0]}:{peername[1]}"
        host = str(peername[0])
        now = self.now()
        refusal = "shutting down" if self._closing else self.limiter.admit(host, now)
        if refusal is not None:
            self.peer_log.log(logging.WARNING, ("refused", host), "refused a connection from %s: %s",
                              host, refusal)
            _abort(writer)
            return
        conn = Connection(Role.RESPONDER, self.identity, self.config.connection,
                          replay_cache=self.replay_cache)
        session = _Session(self, conn, reader, writer, address, we_dialled=False, started=now)
        self._sessions.add(session)
        self._spawn(session)

    def _spawn(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        session.tasks.append(loop.create_task(self._read_loop(session),
                                              name=f"krapition-read-{session.address}"))

    # ---- reading -----------------------------------------------------------------------------

    async def _read_loop(self, session: _Session) -> None:
        conn = session.conn
        limits = self.config.peer_limits
        try:
            while not session.closed:
                # before authentication, small reads: a stranger makes us hold at most a few KiB
                size = self.config.read_chunk if conn.state is not State.HANDSHAKE else 4096
                data = await session.reader.read(size)
                if session.closed:
                    return
                events = conn.receive_data(data, self.clock())
                out = conn.data_to_send()
                if out:
                    session.writer.write(out)
                now = self.now()
                if data and conn.state is not State.HANDSHAKE:
                    wait = session.byte_bucket.charge(now, len(data))
                else:
                    wait = 0.0
                n_messages = 0
                handler = self.on_message
                for event in events:
                    if type(event) is MessageReceived:
                        n_messages += 1
                        peer = session.peer
                        data_type = type(event.message.data)
                        if peer is not None and handler is not None and data_type not in _CONTROL:
                            peer.messages_in += 1  # the common case, inlined: straight to the handler
                            peer.bytes_in += event.size
                            await self._handle(handler, peer, event.message)
                        else:
                            await self._on_message(session, event, now)
                    elif isinstance(event, HandshakeComplete):
                        self._on_handshake(session, event)
                    elif isinstance(event, ConnectionClosed):
                        graceful = event.graceful
                        await self._end(session, "peer said goodbye" if graceful else "connection lost",
                                        "graceful" if graceful else "dead", log_it=not graceful)
                        return
                    if session.closed:
                        return
                if n_messages:
                    if session.peer is not None:  # any message shows the peer alive
                        session.peer.detector.heartbeat(now)
                    wait = max(wait, session.msg_bucket.charge(now, n_messages))
                if wait > limits.max_debt_s:
                    await self._kick(session, "flooding: over its message or byte rate")
                    return
                if wait > 0:
                    await asyncio.sleep(wait)  # stop reading: TCP pushes back on the sender
        except RemoteProtocolError as exc:
            await self._kick(session, f"protocol error: {exc.reason}", quiet=conn.peer_hello is None)
        except (ConnectionError, OSError) as exc:
            await self._end(session, f"connection error: {type(exc).__name__}", "dead")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("bug while reading from %s", session.address)
            await self._end(session, "internal error", "kicked")

    def _on_handshake(self, session: _Session, event: HandshakeComplete) -> None:
        if event.peer_node_id == self.node_id:
            raise RemoteProtocolError("connected to ourselves", reason="self-connection")
        session.session_id = event.session_id
        self.pins.check(event.peer_node_id, event.peer_public_key)
        hello = Connect(protocol_version=PROTOCOL_VERSION, node_id=self.node_id, name=self.config.name,
                        authority=self.config.authority, public_key=self.identity.public_key,
                        capabilities=self.config.capabilities)
        session.writer.write(session.conn.send(self._message(hello, event.peer_node_id), self.clock()))

    async def _on_message(self, session: _Session, event: MessageReceived, now: float) -> None:
        message = event.message
        data = message.data
        peer = session.peer
        if peer is None:  # the first message: Connect (the connection checked it)
            assert isinstance(data, Connect)
            await self._join(session, data, now)
            return
        peer.messages_in += 1
        peer.bytes_in += event.size
        if type(data) not in _CONTROL:  # the common case: straight to the handler
            if self.on_message is not None:
                await self._handle(self.on_message, peer, message)
            return
        if isinstance(data, Heartbeat):
            self._enqueue(session, self._message(Ack(ref=message.id), peer.node_id))
            if self.on_heartbeat is not None:
                try:
                    self.on_heartbeat(peer.node_id, data)
                except Exception:
                    log.exception("on_heartbeat failed")
            return
        if isinstance(data, Ack) and data.ref in session.hb_sent:
            rtt = now - session.hb_sent.pop(data.ref)
            peer.rtt.add(rtt)
            peer.clock.add(rtt, message.timestamp_ns, self.clock())
            return
        if isinstance(data, Ack | Nack | DataResponse) and data.ref in self._requests:
            future, _ = self._requests.pop(data.ref)
            if not future.done():
                if isinstance(data, Nack):
                    future.set_exception(NackError(data.ref, data.code, data.reason))
                else:
                    future.set_result(message)
            return
        if isinstance(data, Disconnect):
            return
        if self.on_message is not None:
            await self._handle(self.on_message, peer, message)

    async def _handle(self, handler: MessageHandler, peer: PeerInfo, message: Message) -> None:
        """Calls the message handler; a bug in it is logged (rate-limited) and costs no connection."""
        try:
            result = handler(peer, message)
            if result is not None and inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self.peer_log.log(logging.ERROR, ("handler", type(message.data).__name__),
                              "the message handler failed on a %s from %s", type(message.data).__name__,
                              peer.fingerprint, exc_info=True)

    async def _join(self, session: _Session, hello: Connect, now: float) -> None:
        conn = session.conn
        node_id = conn.peer_node_id
        assert node_id is not None and conn.peer_public_key is not None
        self.pins.check(node_id, conn.peer_public_key, hello.authority)
        self._release(session)
        existing = self._by_node.get(node_id)
        if existing is not None and existing is not session:
            # two connections between the same pair: both ends must keep the same one, whatever order
            # their handshakes finished in. Each side dialled one: the one the smaller id dialled. One
            # side dialled both: the one with the smaller session id (the transcript hash both know).
            if session.we_dialled != existing.we_dialled:
                keep_new = (self.node_id < node_id) == session.we_dialled
            else:
                keep_new = session.session_id < existing.session_id
            if not keep_new:
                await self._goodbye(session, "duplicate connection")
                await self._end(session, "duplicate connection", "graceful", log_it=False)
                if not session.joined.done():
                    session.joined.set_result(existing.peer)
                return
        self.pins.pin(node_id, conn.peer_public_key, hello.authority)
        peer = PeerInfo(node_id=node_id, public_key=conn.peer_public_key, name=hello.name,
                        authority=hello.authority, address=session.address, we_dialled=session.we_dialled,
                        detector=PhiAccrualDetector(self.config.detector, now))
        session.peer = peer
        session.last_hb = now - self.config.detector.heartbeat_interval_s  # first heartbeat at once
        self.peers.add(peer)
        self._by_node[node_id] = session
        session.tasks.append(asyncio.get_running_loop().create_task(
            self._write_loop(session), name=f"krapition-write-{session.address}"))
        if existing is None or existing.peer is None:
            self._emit(NodeJoined(node_id=node_id, name=hello.name[:300], authority=hello.authority[:300],
                                  fingerprint=peer.fingerprint))
        self.peer_log.log(logging.INFO, ("joined", node_id), "peer %s (%s, %s) joined from %s",
                          peer.fingerprint, clip(hello.name, 60), clip(hello.authority, 60), session.address)
        if not session.joined.done():
            session.joined.set_result(peer)
        if existing is not None and existing is not session and existing.peer is not None:
            # the replaced connection ends only now that this one stands in its place: its end (or the
            # peer's goodbye on it, read while ours drains) is no NodeLeft, and requests still waiting
            # on it fail, so that their callers ask again on this one
            await self._goodbye(existing, "duplicate connection")
            await self._end(existing, "duplicate connection", None, log_it=False)

    # ---- writing -----------------------------------------------------------------------------

    def _message(self, data: MessageData, destination: str) -> Message:
        self._id_counter += 1
        return Message(id=f"{self._id_prefix}-{self._id_counter:x}", data=data,
                       timestamp_ns=max(0, self.clock()), source=self.node_id, destination=destination)

    def _enqueue(self, session: _Session, message: Message) -> bool:
        try:
            session.queue.put_nowait(message)
        except asyncio.QueueFull:
            if session.full_since is None:
                session.full_since = self.now()
            return False
        return True

    async def _write_loop(self, session: _Session) -> None:
        queue, conn, writer = session.queue, session.conn, session.writer
        batch_max = self.config.write_batch
        slow = self.config.peer_limits.slow_peer_timeout_s
        try:
            while not session.closed:
                batch = [await queue.get()]
                while len(batch) < batch_max and not queue.empty():
                    batch.append(queue.get_nowait())
                session.full_since = None
                if conn.state is not State.ESTABLISHED:
                    return
                writer.write(conn.send_many(batch, self.clock()))
                if session.peer is not None:
                    session.peer.messages_out += len(batch)
                try:
                    async with asyncio.timeout(slow):
                        await writer.drain()
                except TimeoutError:
                    await self._kick(session, "slow peer: it does not read what we send")
                    return
        except (ConnectionError, OSError) as exc:
            await self._end(session, f"connection error: {type(exc).__name__}", "dead")
        except LocalProtocolError:
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("bug while writing to %s", session.address)
            await self._end(session, "internal error", "kicked")

    def _session_of(self, node_id: str) -> _Session:
        session = self._by_node.get(node_id)
        if session is None or session.closed or session.peer is None:
            raise PeerNotConnectedError(f"no connection to node {node_id}")
        return session

    def send_nowait(self, node_id: str, data: MessageData, *, destination: str | None = None) -> str:
        """Queues a message to one peer; returns its id. Raises :class:`BackpressureError` when full."""
        session = self._session_of(node_id)
        message = self._message(data, destination or node_id)
        if not self._enqueue(session, message):
            raise BackpressureError(f"the outbound queue to {node_id} is full")
        return message.id

    async def send(self, node_id: str, data: MessageData, *, destination: str | None = None) -> str:
        """Queues a message to one peer, waiting while its queue is full (backpressure)."""
        session = self._session_of(node_id)
        message = self._message(data, destination or node_id)
        if self._enqueue(session, message):
            return message.id
        try:
            async with asyncio.timeout(self.config.peer_limits.slow_peer_timeout_s):
                await session.queue.put(message)
        except TimeoutError:
            await self._kick(session, "slow peer: its outbound queue stayed full")
            raise BackpressureError(f"the outbound queue to {node_id} stayed full") from None
        return message.id

    def broadcast(self, data: MessageData) -> int:
        """Queues a message to every peer (destination ``*``); returns how many queues took it."""
        sent = 0
        for node_id in list(self._by_node):
            try:
                self.send_nowait(node_id, data, destination="*")
                sent += 1
            except TransportError:
                pass
        return sent

    async def request(self, node_id: str, data: MessageData, *, timeout: float | None = None) -> Message:
        """Sends ``data`` and waits for the Ack or DataResponse whose ``ref`` is its id.

        A Nack raises :class:`NackError`; no answer within ``timeout`` raises
        :class:`RequestTimeoutError`; the peer leaving raises :class:`PeerNotConnectedError`.
        """
        session = self._session_of(node_id)
        message = self._message(data, node_id)
        future = self._expect_response(session, message, timeout)
        return await future

    def _expect_response(self, session: _Session, message: Message,
                         timeout: float | None) -> asyncio.Future[Message]:
        """Registers a pending request (with its deadline) and queues it."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        deadline = self.now() + (timeout if timeout is not None else self.config.request_timeout_s)
        ref = message.id
        self._requests[ref] = (future, deadline)
        session.requests.add(ref)

        def forget(_f: object) -> None:
            self._requests.pop(ref, None)
            session.requests.discard(ref)

        future.add_done_callback(forget)
        if not self._enqueue(session, message):
            future.cancel()
            raise BackpressureError(f"the outbound queue to {session.address} is full")
        return future

    def reply(self, to: Message, data: MessageData) -> str:
        """Answers ``to`` (an Ack, Nack or DataResponse whose ``ref`` is ``to.id``)."""
        return self.send_nowait(to.source, data)

    def ack(self, to: Message) -> str:
        return self.reply(to, Ack(ref=to.id))

    def nack(self, to: Message, code: str, reason: str = "") -> str:
        return self.reply(to, Nack(ref=to.id, code=code[:64], reason=reason[:1024]))

    async def ping(self, node_id: str, *, timeout: float | None = None) -> float:
        """Sends a Heartbeat now and waits for its Ack; returns the round-trip time in seconds."""
        session = self._session_of(node_id)
        session.hb_seq += 1
        start = self.now()
        message = self._message(Heartbeat(seq=session.hb_seq), node_id)
        await self._expect_response(session, message, timeout)
        rtt = self.now() - start
        if session.peer is not None:
            session.peer.rtt.add(rtt)
        return rtt

    def _heartbeat(self, seq: int) -> Heartbeat:
        if self.heartbeat_content is None:
            return Heartbeat(seq=seq)
        try:
            load, hashes, tick, adopts = self.heartbeat_content()
            return Heartbeat(seq=seq, load=min(max(load, 0.0), 1.0), state_hashes=hashes, confirmed_tick=tick,
                             adopts=bool(adopts))
        except Exception:  # a bad provider must not stop the heartbeats (the peer would think us dead)
            log.exception("heartbeat content failed")
            return Heartbeat(seq=seq)

    async def kick(self, node_id: str, reason: str) -> None:
        """Drops the connection to a peer that misbehaved (counted in :attr:`kicked` by reason,
        logged once, ``NodeLeft(reason="kicked")``); nothing happens when it is not connected."""
        session = self._by_node.get(node_id)
        if session is not None and not session.closed:
            await self._kick(session, reason)

    async def disconnect(self, node_id: str, reason: str = "bye") -> None:
        session = self._by_node.get(node_id)
        if session is not None:
            await self._goodbye(session, reason)
            await self._end(session, reason, "graceful", log_it=False)

    # ---- time --------------------------------------------------------------------------------

    async def poll(self) -> None:
        """Heartbeats, failure detection, handshake and request timeouts (call every ~100 ms)."""
        now = self.now()
        interval = self.config.detector.heartbeat_interval_s
        slow = self.config.peer_limits.slow_peer_timeout_s
        for session in list(self._sessions):
            if session.closed:
                continue
            peer = session.peer
            if peer is None:
                if now - session.started > self.config.handshake_timeout_s:
                    await self._kick(session, "handshake timeout", quiet=True)
                continue
            if session.full_since is not None and now - session.full_since > slow:
                await self._kick(session, "slow peer: its outbound queue stayed full")
                continue
            if now - session.last_hb >= interval:
                session.last_hb = now
                session.hb_seq += 1
                message = self._message(self._heartbeat(session.hb_seq), peer.node_id)
                if len(session.hb_sent) > 64:
                    session.hb_sent.pop(next(iter(session.hb_sent)))
                session.hb_sent[message.id] = now
                self._enqueue(session, message)
            liveness = peer.detector.liveness(now)
            if liveness is not peer.liveness:
                previous, peer.liveness = peer.liveness, liveness
                self.peer_log.log(logging.INFO, ("liveness", peer.node_id), "peer %s: %s -> %s (phi %.1f)",
                                  peer.fingerprint, previous, liveness, peer.detector.phi(now))
                if liveness is Liveness.DEAD:
                    await self._end(session, "failure detector: no heartbeats", "dead")
        for ref, (future, deadline) in list(self._requests.items()):
            if now >= deadline and not future.done():
                self._requests.pop(ref, None)
                future.set_exception(RequestTimeoutError(f"no response to request {ref} in time"))

    # ---- ending ------------------------------------------------------------------------------

    def _release(self, session: _Session) -> None:
        if session.pending_slot:
            session.pending_slot = False
            self.limiter.release(session.host)

    async def _goodbye(self, session: _Session, reason: str) -> None:
        if session.closed or session.conn.state is not State.ESTABLISHED or session.peer is None:
            return
        with contextlib.suppress(ProtocolError, ConnectionError, OSError):
            session.writer.write(session.conn.send(self._message(Disconnect(reason=reason), "*"),
                                                   self.clock()))
            await asyncio.wait_for(session.writer.drain(), 0.5)

    async def _kick(self, session: _Session, reason: str, *, quiet: bool = False) -> None:
        self.kicked[reason] = self.kicked.get(reason, 0) + 1
        who = session.peer.fingerprint if session.peer else session.host
        self.peer_log.log(logging.DEBUG if quiet else logging.WARNING, (reason, session.host),
                          "disconnecting %s (%s): %s", who, session.address, reason)
        await self._end(session, reason, "kicked", log_it=False)

    async def _end(self, session: _Session, reason: str, left: str | None, *, log_it: bool = True) -> None:
        """Closes ``session`` (idempotent); produces NodeLeft if it had joined."""
        if session.closed:
            return
        session.closed = True
        session.end_reason = reason
        self._sessions.discard(session)
        self._release(session)
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        if left in ("kicked", "dead"):
            _abort(session.writer)
        else:
            with contextlib.suppress(Exception):
                session.writer.close()
        if not session.joined.done():
            error: Exception | None = session.conn.error
            if error is None and session.we_dialled and session.conn.state is not State.ESTABLISHED:
                error = TransportError(f"{session.address} hung up during the handshake: a different "
                                       "session passphrase, clocks over 10 minutes apart, a connection "
                                       "limit, or not a Krapition node")
            session.joined.set_exception(
                error or TransportError(f"connection to {session.address} ended: {reason}"))
            session.joined.exception()  # retrieved: no "never retrieved" warning when nobody waits
        peer = session.peer
        if peer is None:
            return
        for ref in list(session.requests):
            entry = self._requests.pop(ref, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(PeerNotConnectedError(f"node {peer.node_id} left: {reason}"))
        if self._by_node.get(peer.node_id) is session:
            del self._by_node[peer.node_id]
            self.peers.remove(peer.node_id)
            if left is not None:
                peer.liveness = Liveness.DEAD
                self._emit(NodeLeft(node_id=peer.node_id, reason=left))  # type: ignore[arg-type]
                if log_it:
                    self.peer_log.log(logging.INFO, ("left", peer.node_id), "peer %s left (%s): %s",
                                      peer.fingerprint, left, reason)

    def _emit(self, event: NodeEvent) -> None:
        if self.events.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.events.get_nowait()  # the oldest goes: a slow reader loses history, not liveness
        self.events.put_nowait(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("on_event handler failed")

    # ---- views -------------------------------------------------------------------------------

    @property
    def pending_handshakes(self) -> int:
        return sum(1 for s in self._sessions if s.peer is None)

    def snapshot(self):  # type: ignore[no-untyped-def]
        return self.peers.snapshot(self.now())

    def session_of(self, node_id: str) -> _Session | None:
        return self._by_node.get(node_id)


def _abort(writer: Any) -> None:
    """Closes at once, dropping anything unsent (a refused or hostile peer gets no more bytes)."""
    with contextlib.suppress(Exception):
        transport = getattr(writer, "transport", None)
        if transport is not None:
            transport.abort()
        else:
            writer.close()
