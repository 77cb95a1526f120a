"""Transport + discovery wired together: what a node starts to be on the LAN.

:class:`LanNode` listens, announces itself, dials the compatible peers it finds (the smaller node id
dials at once, the other after ``fallback_dial_s`` if still unconnected, so a pair rarely dials
twice), re-dials known peers that dropped (with a backoff), and keeps a manual
``connect(host, port)`` for networks where multicast does not pass. Peers found but incompatible
are kept in :attr:`LanNode.incompatible` for the UI to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, replace

from .clock import Clock, system_clock
from .discovery import DiscoveredPeer, Discovery
from .identity import Identity
from .peers import PeerInfo
from .ratelog import PeerLogger
from .transport import EventHandler, MessageHandler, Transport, TransportConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LanSettings:
    #: where to listen; None: the first discovery interface, or all interfaces
    listen_host: str | None = None
    port: int = 0
    #: None: the LAN interfaces; tests: ["127.0.0.1"]
    discovery_interfaces: tuple[str, ...] | None = None
    discover: bool = True
    fallback_dial_s: float = 2.0
    redial_every_s: float = 5.0
    max_backoff_s: float = 30.0


class LanNode:
    def __init__(self, identity: Identity, config: TransportConfig | None = None,
                 settings: LanSettings | None = None, *, on_message: MessageHandler | None = None,
                 on_event: EventHandler | None = None, clock: Clock = system_clock) -> None:
        self.identity = identity
        self.settings = settings or LanSettings()
        self.transport = Transport(identity, config, clock=clock, on_message=on_message, on_event=on_event)
        self.discovery: Discovery | None = None
        self.incompatible: dict[str, DiscoveredPeer] = {}
        self._dialling: set[str] = set()
        self._backoff: dict[str, tuple[float, float]] = {}  # node id -> (next try, delay)
        self._tasks: set[asyncio.Task[None]] = set()
        self._redial: asyncio.Task[None] | None = None
        self.peer_log = PeerLogger(log)

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    @property
    def peers(self):  # type: ignore[no-untyped-def]
        return self.transport.peers

    @property
    def events(self):  # type: ignore[no-untyped-def]
        return self.transport.events

    async def start(self) -> int:
        s = self.settings
        interfaces = list(s.discovery_interfaces) if s.discovery_interfaces is not None else None
        host = s.listen_host or (interfaces[0] if interfaces else "0.0.0.0")
        port = await self.transport.start(host, s.port)
        if self.transport.config.authority.endswith(":0"):  # not configured: where we listen
            shown = host if host not in ("0.0.0.0", "") else socket.gethostname().lower()
            self.transport.config = replace(self.transport.config, authority=f"{shown}:{port}")
        if s.discover:
            self.discovery = Discovery(self.identity, port=port, authority=self.transport.config.authority,
                                       name=self.transport.config.name, interfaces=interfaces,
                                       on_change=self._on_discovered)
            await self.discovery.start()
            self._redial = asyncio.get_running_loop().create_task(self._redial_loop())
        return port

    async def connect(self, host: str, port: int, *, expected_node_id: str | None = None) -> PeerInfo:
        """The manual fallback: dial ``host:port`` (optionally insisting on a node id)."""
        return await self.transport.connect(host, port, expected_node_id=expected_node_id)

    async def close(self) -> None:
        if self._redial is not None:
            self._redial.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.discovery is not None:
            await self.discovery.close()
        await self.transport.close()

    def _on_discovered(self, peer: DiscoveredPeer, added: bool) -> None:
        if not added:
            return  # mDNS going quiet proves nothing: the heartbeats decide
        if not peer.compatible:
            self.incompatible[peer.node_id] = peer
            return
        self.incompatible.pop(peer.node_id, None)
        delay = 0.0 if self.node_id < peer.node_id else self.settings.fallback_dial_s
        self._dial_later(peer, delay)

    def _dial_later(self, peer: DiscoveredPeer, delay: float) -> None:
        if peer.node_id in self._dialling or peer.node_id in self.transport.peers:
            return
        self._dialling.add(peer.node_id)
        task = asyncio.get_running_loop().create_task(self._dial(peer, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dial(self, peer: DiscoveredPeer, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            for address in peer.addresses:
                if peer.node_id in self.transport.peers:
                    return
                try:
                    await self.transport.connect(address, peer.port, expected_node_id=peer.node_id)
                    self._backoff.pop(peer.node_id, None)
                    return
                except (TimeoutError, OSError, Exception) as exc:
                    self.peer_log.log(logging.INFO, ("dial", peer.node_id), "could not reach %s at %s:%d: %s",
                                      peer.fingerprint, address, peer.port, type(exc).__name__)
            _, delay_s = self._backoff.get(peer.node_id, (0.0, self.settings.redial_every_s / 2))
            delay_s = min(delay_s * 2, self.settings.max_backoff_s)
            self._backoff[peer.node_id] = (self.transport.now() + delay_s, delay_s)
        finally:
            self._dialling.discard(peer.node_id)

    async def _redial_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.redial_every_s)
            if self.discovery is None:
                continue
            now = self.transport.now()
            for peer in list(self.discovery.found.values()):
                if not peer.compatible or peer.node_id in self.transport.peers:
                    continue
                next_try, _ = self._backoff.get(peer.node_id, (0.0, 0.0))
                if now >= next_try:
                    with contextlib.suppress(RuntimeError):
                        self._dial_later(peer, 0.0)
