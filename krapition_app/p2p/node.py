"""One running Krapition node, with or without a window: identity, ledger, transport, replication,
URI ownership and routing, sessions, monitoring and (optionally) the local REST API.

Two ways to run it, one code path:

- on an asyncio loop you own: ``await node.start_async()`` ... ``await node.stop_async()``
  (the headless ``krapition node`` command, tests);
- on a background thread with its own loop (the app): ``node.start()`` and ``node.stop()`` from any
  thread; ``node.call(coro_fn, ...)`` runs a coroutine on the node's loop and returns its result;
  ``node.submit(fn, ...)`` runs a function there. The callbacks ``on_events``, ``on_peers``,
  ``on_node_event`` and ``on_alert`` are called **on the node's thread**: a GUI hands them on to
  its own thread (a Qt signal, a queue).

Start: the key is loaded (or made); if the key survived but the database did not, the node first
restores its own chain from its peers (no sequence number is ever reused; when the chain was cut
behind a checkpoint, the snapshot at its horizon comes from the peers too), then opens the ledger
and writes SystemStart. Stop: SystemStop is written and pushed, peers are told goodbye.

Besides events, peers fetch bytes blobs from a node (:mod:`.blobs`): snapshots behind a checkpoint
(:mod:`.snapshots`, served by the replicator) and diagnostics bundles (:mod:`.diagnostics`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..model.events import (
    BodyState,
    ChainCheckpoint,
    CollisionDetected,
    NodeJoined,
    NodeLeft,
    ObjectMoved,
    SystemStop,
    UserAction,
    UserCommand,
)
from ..model.messages import EventPublish, EventSubscribe, Heartbeat, Message
from ..model.scene import BodySpec
from ..model.uri import Authority, KrapitionURI
from ..store.database import DB_FILE_NAME, Store
from ..store.projection import Projection
from .blobs import BlobServer
from .chain import ChainState, SignedEvent, verify
from .data import DataManager
from .diagnostics import DiagnosticsServer
from .errors import InvalidEventError, ReplayError
from .identity import KEY_FILE_NAME, Identity, load_or_create_identity
from .lan import LanNode, LanSettings
from .ledger import EventLedger, RetentionPolicy, row_of
from .monitoring import Alert, AlertRules, Monitor
from .peers import PeerInfo, PeerSnapshot
from .protocol.errors import ProtocolError, TransportError
from .replication import Replicator
from .routing import ReadResult, Router
from .transport import HeartbeatContent, Transport, TransportConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    name: str = "krapition"
    #: where to listen (and, unless ``discovery_interfaces`` says otherwise, where to announce)
    interface: str = "127.0.0.1"
    #: 0: a free port, chosen before start (the authority must be known before the ledger opens)
    port: int = 0
    #: the host in our authority; None: the interface (or the host name when listening on 0.0.0.0)
    advertised_host: str | None = None
    #: None: no REST API; 0: a free port
    api_port: int | None = None
    api_host: str = "127.0.0.1"
    passphrase: str | None = None
    discover: bool = True
    discovery_interfaces: tuple[str, ...] | None = None
    #: "host:port" of peers to dial at start (where multicast does not pass; tests)
    peers: tuple[str, ...] = ()
    #: refuse change requests from other nodes
    read_only: bool = False
    #: answer peers that ask for our diagnostics bundle (``krapition diagnostics --all-peers``)
    share_diagnostics: bool = True
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    #: how long a node restoring its lost chain waits for a first peer
    restore_wait_s: float = 5.0
    compact_every_s: float = 30.0
    #: how often a replica that still lacks its snapshot behind a checkpoint asks the peers again
    #: (besides after every catch-up; 0: only then)
    snapshot_retry_s: float = 10.0
    #: how often peers given by address are dialled again while not connected (0: never)
    redial_every_s: float = 2.0
    monitor_every_s: float = 1.0
    alert_rules: AlertRules = field(default_factory=AlertRules)
    #: a :class:`~.memory.MemoryHost` (tests): no sockets, no discovery
    network: Any = None
    transport: TransportConfig = field(default_factory=TransportConfig)
    #: recent events kept for the UI's event dock and the diagnostics
    recent_events: int = 1000


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.identity: Identity | None = None
        self.store: Store | None = None
        self.ledger: EventLedger | None = None
        self.data: DataManager | None = None
        self.lan: LanNode | None = None
        self.transport: Transport | None = None
        self.replicator: Replicator | None = None
        self.router = Router(self)
        self.monitor: Monitor | None = None
        self.api: Any = None
        self.blobs: BlobServer | None = None
        self.diagnostics: DiagnosticsServer | None = None
        self.authority = ""
        self.port = 0
        self.api_port: int | None = None
        self.read_only = config.read_only
        self.share_diagnostics = config.share_diagnostics
        self.started_at = 0.0
        self.events_stored = 0
        self.refused: Counter[str] = Counter()
        self.restored_events = 0
        self.recent_events: deque[SignedEvent] = deque(maxlen=config.recent_events)
        #: callbacks, called on the node's thread
        self.on_events: Callable[[list[SignedEvent]], None] | None = None
        self.on_peers: Callable[[tuple[PeerSnapshot, ...]], None] | None = None
        self.on_node_event: Callable[[NodeJoined | NodeLeft], None] | None = None
        self.on_alert: Callable[[Alert], None] | None = None
        #: a snapshot behind a checkpoint was installed: (author, its projection at our head); the
        #: objects it holds came with no event
        self.on_snapshot: Callable[[bytes, Projection], None] | None = None
        #: what our heartbeats carry (load, per-owner state hashes, their tick), and a callback for
        #: each peer's heartbeat (node id, Heartbeat): the session's load balancing and desync checks
        self.heartbeat_content: Callable[[], HeartbeatContent] | None = None
        self.on_heartbeat: Callable[[str, Heartbeat], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = False
        self._restoring = False
        self._restore_state = ChainState()
        #: our checkpoint that a restore received ahead of the tail before it (stored after the tail)
        self._restore_ahead: SignedEvent | None = None
        self._deferred: list[tuple[PeerInfo, Message]] = []
        #: peers given by address ("host:port" -> node id): dialled again when the connection is lost
        self._manual: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None

    # ---- identity ---------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        assert self.identity is not None
        return self.identity.node_id

    @property
    def public_key(self) -> bytes:
        assert self.identity is not None
        return self.identity.public_key

    # ---- lifecycle (on the loop) --------------------------------------------------------------

    async def start_async(self) -> None:
        cfg = self.config
        self.loop = asyncio.get_running_loop()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key_existed = (self.data_dir / KEY_FILE_NAME).exists()
        db_existed = (self.data_dir / DB_FILE_NAME).exists()
        self.identity = load_or_create_identity(self.data_dir)
        self.store = Store.open(self.data_dir / DB_FILE_NAME)
        self.port = cfg.port or self._previous_port()
        if not self.port and cfg.network is None:
            self.port = _free_port(cfg.interface)
        host = cfg.advertised_host or (cfg.interface if cfg.interface not in ("0.0.0.0", "", "::")
                                       else socket.gethostname().lower())
        tconfig = replace(cfg.transport, name=cfg.name,
                          connection=replace(cfg.transport.connection, passphrase=cfg.passphrase)
                          if cfg.passphrase else cfg.transport.connection)
        if cfg.network is not None:
            if not self.port:
                raise ValueError("a node on a memory network needs an explicit port")
            self.authority = str(Authority.parse(f"{host}:{self.port}"))
            self.transport = Transport(self.identity, replace(tconfig, authority=self.authority),
                                       network=cfg.network, on_message=self._on_message,
                                       on_event=self._on_transport_event)
            await self.transport.start(cfg.interface, self.port)
        else:
            self.authority = str(Authority.parse(f"{host}:{self.port}"))
            interfaces = cfg.discovery_interfaces
            if interfaces is None and cfg.interface not in ("0.0.0.0", "", "::"):
                interfaces = (cfg.interface,)
            settings = LanSettings(listen_host=cfg.interface, port=self.port, discover=cfg.discover,
                                   discovery_interfaces=interfaces)
            self.lan = LanNode(self.identity, replace(tconfig, authority=self.authority), settings,
                               on_message=self._on_message, on_event=self._on_transport_event)
            self.transport = self.lan.transport
            await self.lan.start()
        self.transport.heartbeat_content = self._heartbeat_content
        self.transport.on_heartbeat = self._on_heartbeat
        self.blobs = BlobServer(self.transport)
        restoring = key_existed and not db_existed
        if restoring:
            await self._restore_own_chain()
        self.ledger = EventLedger(self.store, self.identity, self.authority, retention=cfg.retention,
                                  clock=time.time_ns)
        self.ledger.processor.subscribe(self._on_processed)
        self.data = DataManager(self.ledger)
        self.replicator = Replicator(self.ledger, self.transport, blobs=self.blobs)
        self.replicator.snapshots.on_installed = self._on_snapshot
        self.diagnostics = DiagnosticsServer(self, self.blobs)
        self.monitor = Monitor(self, cfg.alert_rules)
        if restoring and self.replicator.snapshots.missing():
            # our chain was cut behind a checkpoint: the objects behind it come as a snapshot
            installed = await self.replicator.snapshots.fill()
            log.info("restore: %s the snapshot of our chain", "installed" if installed else "could not get")
        self.ledger.start(cfg.name)
        self.started_at = time.time()
        self._ready = True
        if not restoring:  # a restore dialled them already
            for peer_address in cfg.peers:
                self._spawn(self._dial(peer_address))
        deferred, self._deferred = self._deferred, []
        for peer in list(self.transport.peers):
            self._peer_joined(peer)
        for peer, message in deferred:
            if peer.node_id in self.transport.peers:
                await self._dispatch(peer, message)
        self._spawn(self._every(cfg.monitor_every_s, self.monitor.sample))
        if cfg.redial_every_s > 0:
            self._spawn(self._redial_loop())
        if cfg.compact_every_s > 0:
            self._spawn(self._every(cfg.compact_every_s, self.ledger.compact))
        if cfg.snapshot_retry_s > 0:
            self._spawn(self._snapshot_retry_loop(cfg.snapshot_retry_s))
        if cfg.api_port is not None:
            from .api import ApiServer

            self.api = ApiServer(self, host=cfg.api_host, port=cfg.api_port)
            self.api_port = await self.api.start()
            (self.data_dir / "api-port").write_text(f"{self.api_port}\n", encoding="ascii")
        log.info("node %s (%s) started at %s", self.identity.fingerprint, cfg.name, self.authority,
                 extra={"node_id": self.node_id, "authority": self.authority, "api_port": self.api_port})

    def _previous_port(self) -> int:
        """With no port asked for, the one our chain is bound to (its authority), if any."""
        assert self.store is not None and self.identity is not None
        row = self.store.author(self.identity.public_key)
        if row is None:
            return 0
        return Authority.parse(row.authority).port

    async def stop_async(self, reason: str = "shutdown") -> None:
        if self._stopping:
            return
        self._stopping = True
        if self.api is not None:
            with contextlib.suppress(Exception):
                await self.api.stop()
        if self.ledger is not None and self._ready:
            with contextlib.suppress(Exception):
                self.ledger.append(self.ledger.node_uri, SystemStop(reason=reason))
            await asyncio.sleep(0)  # the replicator's push of SystemStop
            await self._drain_queues(0.5)
        for task in list(self._tasks):
            task.cancel()
        if self.replicator is not None:
            self.replicator.close()
        if self.lan is not None:
            await self.lan.close()
        elif self.transport is not None:
            await self.transport.close()
        if self.store is not None:
            self.store.close()
        log.info("node %s stopped (%s)", self.authority, reason)

    async def _drain_queues(self, limit_s: float) -> None:
        assert self.transport is not None
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            sessions = [self.transport.session_of(p.node_id) for p in self.transport.peers]
            if all(s is None or s.queue.empty() for s in sessions):
                await asyncio.sleep(0.02)  # the writer wrote the last batch
                return
            await asyncio.sleep(0.01)

    async def _dial(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        assert self.transport is not None
        for attempt in range(20):
            if self._stopping or self._manual.get(address) in self.transport.peers:
                return
            try:
                peer = await self.transport.connect(host, int(port))
                self._manual[address] = peer.node_id
                return
            except (TransportError, ProtocolError, OSError, TimeoutError) as exc:
                log.info("could not reach peer %s (%s); retrying", address, type(exc).__name__)
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))

    async def connect(self, host: str, port: int) -> PeerInfo:
        """Dials a peer by address (the manual fallback when multicast does not pass); the node
        dials it again whenever the connection is lost."""
        assert self.transport is not None
        peer = await self.transport.connect(host, port)
        self._manual[f"{host}:{port}"] = peer.node_id
        return peer

    async def _redial_loop(self) -> None:
        """Re-dials the peers given by address that are not connected (every ``redial_every_s``)."""
        assert self.transport is not None
        while True:
            await asyncio.sleep(self.config.redial_every_s)
            connected = {p.node_id for p in self.transport.peers}
            for address, node_id in list(self._manual.items()):
                if node_id in connected or self._stopping:
                    continue
                host, _, port = address.rpartition(":")
                with contextlib.suppress(TransportError, ProtocolError, OSError, TimeoutError):
                    await self.transport.connect(host, int(port), expected_node_id=node_id or None)

    async def _every(self, period: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                fn()
            except Exception:
                log.exception("periodic %r failed", fn)

    async def _snapshot_retry_loop(self, period: float) -> None:
        """Asks again for snapshots still missing (no peer could serve one at the last catch-up)."""
        assert self.replicator is not None
        while True:
            await asyncio.sleep(period)
            try:
                peers = 0 if self.transport is None else len(self.transport.peers)
                if peers and self.replicator.snapshots.missing():
                    await self.replicator.snapshots.fill()
            except Exception:
                log.exception("asking for missing snapshots failed")

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- restore ------------------------------------------------------------------------------

    async def _restore_own_chain(self) -> None:
        """Our key survived but the database did not: fetch our chain back from the peers first."""
        assert self.transport is not None
        self._restoring = True
        for address in self.config.peers:
            self._spawn(self._dial(address))
        deadline = time.monotonic() + self.config.restore_wait_s
        while not len(self.transport.peers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # let other peers that are dialling at the same time join too
        for peer in list(self.transport.peers):
            with contextlib.suppress(TransportError, ProtocolError):
                wanted = EventSubscribe(from_seq={self.public_key.hex(): 0})
                await self.transport.request(peer.node_id, wanted, timeout=120.0)
        if self._restore_ahead is not None:
            # the tail before our checkpoint did not all come: store it anyway (its seq is taken)
            self._store_restored([self._restore_ahead])
            self._restore_ahead = None
        self._restoring = False
        log.info("restored %d events of our chain from %d peers", self.restored_events,
                 len(self.transport.peers))

    def _restore_receive(self, raws: tuple[bytes, ...]) -> None:
        own = self.public_key
        now = time.time_ns()
        events = []
        for raw in raws:
            try:
                state, event = verify(self._restore_state, raw, now_ns=now)
            except ReplayError:  # a second peer's copy of what we restored already
                continue
            except InvalidEventError as exc:
                log.warning("restore: refused an event: %s", exc)
                continue
            if event.author != own:
                continue
            first = own not in self._restore_state.authors
            self._restore_state = state
            payload = event.payload
            if first and isinstance(payload, ChainCheckpoint) and event.seq > payload.horizon_seq + 1:
                # a cut chain comes as its checkpoint, then the tail before it: our own chain is stored
                # in seq order only, so the checkpoint waits for the event before it
                self._restore_ahead = event
                continue
            events.append(event)
            ahead = self._restore_ahead
            if ahead is not None and event.seq + 1 == ahead.seq:
                events.append(ahead)
                self._restore_ahead = None
        self._store_restored(events)

    def _store_restored(self, events: list[SignedEvent]) -> None:
        assert self.store is not None
        if not events:
            return
        own = self.public_key
        known = self._restore_state.authors.get(own)
        new_authors = None if self.store.author(own) is not None or known is None else {own: known.authority}
        self.store.append([(row_of(e), e.envelope) for e in events], own=True, new_authors=new_authors)
        self.restored_events += len(events)

    # ---- transport callbacks -------------------------------------------------------------------

    async def _on_message(self, peer: PeerInfo, message: Message) -> None:
        if not self._ready:
            if self._restoring and isinstance(message.data, EventPublish):
                self._restore_receive(message.data.events)
            elif len(self._deferred) < 10_000:
                self._deferred.append((peer, message))
            return
        await self._dispatch(peer, message)

    async def _dispatch(self, peer: PeerInfo, message: Message) -> None:
        assert self.replicator is not None
        if await self.replicator.handle(peer, message):
            return
        if self.diagnostics is not None and self.diagnostics.handle(peer, message):
            return
        if await self.router.handle(peer, message):
            return
        log.debug("ignored a %s from %s", message.type, peer.fingerprint)

    def _on_transport_event(self, event: NodeJoined | NodeLeft) -> None:
        assert self.transport is not None
        if isinstance(event, NodeJoined):
            peer = self.transport.peers.get(event.node_id)
            if peer is not None and self._ready:
                self._peer_joined(peer)
        elif self._ready:
            assert self.replicator is not None and self.ledger is not None
            self.replicator.peer_left(event.node_id)
            with contextlib.suppress(Exception):
                if not self._stopping:
                    self.ledger.append(self.ledger.node_uri, event)
            if event.reason == "dead" and self.monitor is not None and not self._stopping:
                self.monitor.peer_dead(event.node_id)
        self._notify(self.on_node_event, event)
        self._notify(self.on_peers, self.peers())

    def _peer_joined(self, peer: PeerInfo) -> None:
        assert self.replicator is not None and self.ledger is not None
        with contextlib.suppress(Exception):
            self.ledger.append(self.ledger.node_uri, NodeJoined(
                node_id=peer.node_id, name=peer.name[:300], authority=peer.authority[:300],
                fingerprint=peer.fingerprint))
        self.replicator.peer_joined(peer)

    def _heartbeat_content(self) -> HeartbeatContent:
        provider = self.heartbeat_content
        return provider() if provider is not None else (0.0, {}, 0, False)  # no session: no world

    def _on_heartbeat(self, node_id: str, heartbeat: Heartbeat) -> None:
        if self.on_heartbeat is not None:
            self.on_heartbeat(node_id, heartbeat)

    def _on_snapshot(self, author: bytes, projection: Projection) -> None:
        if self.on_snapshot is None:
            return
        try:
            self.on_snapshot(author, projection)
        except Exception:
            log.exception("node callback on_snapshot failed")

    def _on_processed(self, event: SignedEvent) -> None:
        self.events_stored += 1
        self.recent_events.append(event)
        if self.on_events is not None:
            self._notify(self.on_events, [event])

    @staticmethod
    def _notify(callback: Callable[[Any], None] | None, value: Any) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:
            log.exception("node callback %r failed", callback)

    # ---- data (on the loop) ------------------------------------------------------------------

    def uri_for(self, name: str, collection: str = "objects") -> str:
        return str(KrapitionURI.build(self.authority, "physics", collection, name))

    def owns(self, uri: str | KrapitionURI) -> bool:
        parsed = uri if isinstance(uri, KrapitionURI) else KrapitionURI.parse(uri)
        return str(parsed.authority) == self.authority

    def apply_local(self, uri: KrapitionURI | str, body: BodySpec | None, *,
                    requested_by: str | None = None) -> SignedEvent:
        """Writes an owned URI (a set, or a delete when ``body`` is None) as an event of our chain."""
        assert self.data is not None
        if body is None:
            reason = f"requested by {requested_by}" if requested_by else ""
            return self.data.delete_data(uri, reason=reason)
        return self.data.set_data(uri, body)

    def set_body(self, body: BodySpec) -> SignedEvent:
        """The app's call for a body this node owns: creates or replaces ``.../physics/objects/NAME``."""
        return self.apply_local(self.uri_for(body.name), body)

    def delete_body(self, name: str) -> SignedEvent:
        return self.apply_local(self.uri_for(name), None)

    def publish_motion(self, tick: int, bodies: Sequence[BodyState]) -> SignedEvent:
        """One tick of motion of owned bodies as one signed batch event (the world loop's call)."""
        assert self.ledger is not None
        return self.ledger.append(self.ledger.node_uri, ObjectMoved(tick=tick, bodies=tuple(bodies)))

    def publish(self, payload: UserAction | UserCommand | CollisionDetected) -> SignedEvent:
        """An action on the world (a drag of any body, for its owner to apply), a command (an owner's
        answer to one) or an impact of our bodies (for every node to hear) as one signed event on our
        chain."""
        assert self.ledger is not None
        if not isinstance(payload, UserAction | UserCommand | CollisionDetected):
            raise TypeError(f"only user actions and collisions are published this way, not {type(payload)}")
        return self.ledger.append(self.ledger.node_uri, payload)

    async def write(self, uri: str, body: BodySpec | None) -> str:
        """Any URI: ours at once ("applied"), a remote one through its owner ("accepted")."""
        return await self.router.write(uri, body)

    async def read(self, uri: str) -> ReadResult | None:
        return await self.router.read(uri)

    def read_local(self, uri: str) -> ReadResult | None:
        return self.router.read_local(uri)

    def list_uris(self, pattern: str = "krapition://*/physics/objects/*") -> list[str]:
        assert self.data is not None
        return self.data.list_data(pattern)

    def count_refused(self, code: str) -> None:
        self.refused[code] += 1

    # ---- views -------------------------------------------------------------------------------

    def peers(self) -> tuple[PeerSnapshot, ...]:
        return () if self.transport is None else self.transport.snapshot()

    def is_stale(self, uri: str) -> bool:
        """A remote URI whose owner is not connected: its value comes from the replica only."""
        return not self.owns(uri) and self.router.owner_peer(KrapitionURI.parse(uri)) is None

    def status(self) -> dict[str, Any]:
        assert self.ledger is not None and self.identity is not None and self.store is not None
        own = self.ledger.processor.streams.get(self.public_key)
        tail = own.tail_event if own is not None else None
        return {
            "node_id": self.node_id,
            "name": self.config.name,
            "authority": self.authority,
            "public_key": self.public_key.hex(),
            "fingerprint": self.identity.fingerprint,
            "peers": len(self.transport.peers) if self.transport is not None else 0,
            "owned_objects": len(self.store.objects()),
            "chain": {
                "head": self.ledger.next_seq - 1,
                "tail": tail.seq if tail is not None else None,
                "max_size": self.config.retention.max_events,
            },
            "read_only": self.read_only,
            "uptime_s": round(time.time() - self.started_at, 3) if self.started_at else 0.0,
            "api_port": self.api_port,
        }

    # ---- a background thread with its own loop (the app) ------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Starts the node on a new thread with its own asyncio loop; returns once it runs."""
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._thread_main, args=(started,), name="krapition-node",
                                        daemon=True)
        self._thread.start()
        started.result(timeout)

    def _thread_main(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._thread_stop = asyncio.Event()
            try:
                await self.start_async()
            except BaseException as exc:
                started.set_exception(exc)
                with contextlib.suppress(Exception):
                    await self.stop_async("failed start")
                return
            started.set_result(None)
            await self._thread_stop.wait()
            await self.stop_async()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the node started with :meth:`start` (from any thread) and waits for its thread."""
        loop, stop = self.loop, self._thread_stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, timeout: float = 10.0) -> Any:
        """Runs ``await fn(*args)`` on the node's loop from another thread; returns its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(*args), self.loop).result(timeout)

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Runs ``fn(*args)`` on the node's loop (e.g. ``node.submit(node.set_body, body)``)."""
        assert self.loop is not None
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host if host not in ("", "0.0.0.0") else "0.0.0.0", 0))
        return int(sock.getsockname()[1])
