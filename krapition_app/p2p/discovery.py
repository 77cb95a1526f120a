"""LAN discovery with zeroconf (mDNS/DNS-SD): announce this node, browse for the others.

Each node registers ``<name>-<node id prefix>._krapition._tcp.local.`` with TXT records:

=========  ==================================================================
``pv``     protocol version (:data:`~.protocol.handshake.PROTOCOL_VERSION`)
``id``     node id (hash of the ed25519 public key)
``fp``     public-key fingerprint, for people to compare
``build``  compatibility hash (protocol version and message types)
``auth``   the node's URI authority ``host:port``
=========  ==================================================================

What mDNS says is a *hint*: anyone on the LAN can announce anything. The node id from TXT is used
only as the key the dialler expects the handshake to prove (so a spoofed record leads to a refused
connection, not to a false peer). Peers that vanish from mDNS are *not* dropped for it; the
transport's heartbeats decide who is alive. Incompatible peers are listed (``compatible=False`` with
a reason) but not joined.

Interfaces are a setting: ``None`` means the LAN interfaces (private IPv4 addresses, loopback
excluded); tests pass ``["127.0.0.1"]`` or a test namespace's address so nothing is sent on a real
network. Everything read from TXT is bounded and validated before use.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ..model.messages import MessageType
from .identity import Identity
from .protocol.handshake import PROTOCOL_VERSION
from .ratelog import PeerLogger, clip

log = logging.getLogger(__name__)

SERVICE_TYPE = "_krapition._tcp.local."
_NODE_ID = re.compile(r"[0-9a-f]{32}\Z")
_FINGERPRINT = re.compile(r"[0-9a-f]{4}(-[0-9a-f]{4}){3}\Z")
MAX_DISCOVERED = 1024
MAX_ADDRESSES = 8


def compatibility_hash() -> str:
    """Changes whenever nodes could no longer understand each other."""
    text = f"{PROTOCOL_VERSION}|" + ",".join(sorted(t.value for t in MessageType))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def lan_interfaces() -> list[str]:
    """The IPv4 addresses of this machine's LAN interfaces (private ranges, no loopback)."""
    import ifaddr  # a dependency of zeroconf

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue
            address = ipaddress.IPv4Address(ip.ip)
            if address.is_loopback or address.is_multicast or address.is_unspecified:
                continue
            if address.is_private or address.is_link_local:
                found.append(str(address))
    return found


@dataclass(frozen=True, slots=True)
class DiscoveredPeer:
    service_name: str
    node_id: str
    fingerprint: str
    protocol_version: int
    build: str
    authority: str
    addresses: tuple[str, ...]
    port: int
    compatible: bool
    #: why not compatible ("" when it is)
    reason: str = ""


def _text(properties: dict[bytes, bytes | None], key: bytes, limit: int = 300) -> str:
    value = properties.get(key) or b""
    return value[:limit].decode("utf-8", "replace")


def parse_service(info: AsyncServiceInfo, name: str) -> DiscoveredPeer | None:
    """A validated :class:`DiscoveredPeer` from a resolved service, or None if it is not one."""
    props = info.properties or {}
    node_id = _text(props, b"id", 64)
    fingerprint = _text(props, b"fp", 32)
    if not _NODE_ID.match(node_id) or not _FINGERPRINT.match(fingerprint):
        return None
    port = info.port or 0
    if not 1 <= port <= 65535:
        return None
    addresses = tuple(info.parsed_addresses(IPVersion.V4Only)[:MAX_ADDRESSES])
    if not addresses:
        return None
    version_text = _text(props, b"pv", 8)
    version = int(version_text) if version_text.isdigit() else -1
    build = _text(props, b"build", 32)
    reason = ""
    if version != PROTOCOL_VERSION:
        reason = f"protocol version {version_text!r}, we speak {PROTOCOL_VERSION}"
    elif build != compatibility_hash():
        reason = f"build {build!r} is not compatible with ours ({compatibility_hash()})"
    return DiscoveredPeer(service_name=name[:256], node_id=node_id, fingerprint=fingerprint,
                          protocol_version=version, build=build, authority=_text(props, b"auth", 300),
                          addresses=addresses, port=port, compatible=not reason, reason=reason)


DiscoveryHandler = Callable[[DiscoveredPeer, bool], None]


class Discovery:
    """Registers this node and browses for others on the configured interfaces."""

    def __init__(self, identity: Identity, *, port: int, authority: str, name: str = "krapition",
                 interfaces: Sequence[str] | None = None, on_change: DiscoveryHandler | None = None,
                 service_type: str = SERVICE_TYPE, resolve_timeout_s: float = 3.0) -> None:
        self.identity = identity
        self.port = port
        self.authority = authority
        self.name = re.sub(r"[^A-Za-z0-9-]", "-", name)[:24] or "krapition"
        self.interfaces = list(interfaces) if interfaces is not None else None
        self.on_change = on_change
        self.service_type = service_type
        self.resolve_timeout_s = resolve_timeout_s
        #: service name -> what it announced (a hint table, bounded)
        self.found: dict[str, DiscoveredPeer] = {}
        self.peer_log = PeerLogger(log)
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def service_name(self) -> str:
        return f"{self.name}-{self.identity.node_id[:12]}.{self.service_type}"

    def _addresses(self) -> list[str]:
        assert self.interfaces is not None
        return [a for a in self.interfaces if _is_ipv4(a)]

    async def start(self) -> None:
        if self.interfaces is None:
            self.interfaces = lan_interfaces()
            if not self.interfaces:
                raise OSError("no LAN interface found for discovery; connect manually with host:port")
        addresses = self._addresses()
        if not addresses:
            raise ValueError(f"discovery interfaces {self.interfaces!r} hold no IPv4 address")
        self._azc = AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
        self._info = AsyncServiceInfo(
            self.service_type, self.service_name,
            addresses=[socket.inet_aton(a) for a in addresses], port=self.port,
            properties={"pv": str(PROTOCOL_VERSION), "id": self.identity.node_id,
                        "fp": self.identity.fingerprint, "build": compatibility_hash(),
                        "auth": self.authority},
            server=f"krapition-{self.identity.node_id[:12]}.local.",
        )
        # browse first, so announcements sent while we register are already heard
        self._browser = AsyncServiceBrowser(self._azc.zeroconf, [self.service_type],
                                            handlers=[self._on_state_change])
        # the instance name carries our node id, so it is unique without the ~1 s of probing (and a
        # spoofed duplicate is only a hint anyway: the handshake proves who answers)
        await self._azc.async_register_service(self._info, cooperating_responders=True)
        log.info("discovery on %s announces %s", ", ".join(addresses), self.service_name)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.async_cancel()
            self._browser = None
        if self._azc is not None:
            if self._info is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._azc.async_unregister_service(self._info), 2.0)
            await self._azc.async_close()
            self._azc = None

    def _on_state_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                         state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            peer = self.found.pop(name, None)
            if peer is not None and self.on_change is not None:
                self.on_change(peer, False)
            return
        if len(self._tasks) >= 64:  # a flood of announcements: resolve them later, on update
            return
        task = asyncio.get_running_loop().create_task(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str) -> None:
        assert self._azc is not None
        info = AsyncServiceInfo(self.service_type, name)
        if not await info.async_request(self._azc.zeroconf, self.resolve_timeout_s * 1000):
            return
        peer = parse_service(info, name)
        if peer is None:
            self.peer_log.log(logging.INFO, ("bad-service", name[:64]), "ignoring malformed service %s",
                              clip(name, 80))
            return
        if peer.node_id == self.identity.node_id:
            return
        if name not in self.found and len(self.found) >= MAX_DISCOVERED:
            return
        previous = self.found.get(name)
        self.found[name] = peer
        if not peer.compatible and previous != peer:
            self.peer_log.log(logging.WARNING, ("incompatible", peer.node_id),
                              "found an incompatible node %s at %s: %s", peer.fingerprint,
                              clip(peer.addresses[0], 40), clip(peer.reason, 100))
        if previous != peer and self.on_change is not None:
            self.on_change(peer, True)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
