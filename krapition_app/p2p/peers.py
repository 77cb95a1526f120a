"""The peer table: who we are connected to, how alive they are, their round-trip times; and pins.

The live :class:`PeerInfo` objects belong to the network thread; other threads read
:meth:`PeerTable.snapshot`, a tuple of frozen :class:`PeerSnapshot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .health import ClockOffset, Liveness, PhiAccrualDetector, RttStats
from .identity import fingerprint_of
from .protocol.errors import PinMismatchError


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    node_id: str
    fingerprint: str
    name: str
    authority: str
    address: str
    liveness: Liveness
    phi: float
    rtt_ms_last: float | None
    rtt_ms_median: float | None
    rtt_ms_p99: float | None
    #: how far the peer's wall clock is ahead of ours (ms; None: not measured yet)
    clock_offset_ms: float | None
    messages_in: int
    messages_out: int
    bytes_in: int
    we_dialled: bool


@dataclass(eq=False)
class PeerInfo:
    node_id: str
    public_key: bytes
    name: str
    authority: str
    #: "host:port" of the TCP connection's other end
    address: str
    we_dialled: bool
    detector: PhiAccrualDetector
    rtt: RttStats = field(default_factory=RttStats)
    clock: ClockOffset = field(default_factory=ClockOffset)
    liveness: Liveness = Liveness.ALIVE
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_key)

    def snapshot(self, now: float) -> PeerSnapshot:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        return PeerSnapshot(
            node_id=self.node_id, fingerprint=self.fingerprint, name=self.name, authority=self.authority,
            address=self.address, liveness=self.liveness, phi=round(self.detector.phi(now), 3),
            rtt_ms_last=ms(self.rtt.last), rtt_ms_median=ms(self.rtt.median),
            rtt_ms_p99=ms(self.rtt.quantile(0.99)),
            clock_offset_ms=None if self.clock.ns is None else round(self.clock.ns / 1e6, 3),
            messages_in=self.messages_in,
            messages_out=self.messages_out, bytes_in=self.bytes_in, we_dialled=self.we_dialled,
        )


class PeerTable:
    def __init__(self) -> None:
        self._peers: dict[str, PeerInfo] = {}

    def add(self, peer: PeerInfo) -> None:
        self._peers[peer.node_id] = peer

    def remove(self, node_id: str) -> PeerInfo | None:
        return self._peers.pop(node_id, None)

    def get(self, node_id: str) -> PeerInfo | None:
        return self._peers.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._peers

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._peers.values()))

    def __len__(self) -> int:
        return len(self._peers)

    def snapshot(self, now: float) -> tuple[PeerSnapshot, ...]:
        return tuple(sorted((p.snapshot(now) for p in self._peers.values()), key=lambda s: s.node_id))


class PinStore:
    """Keys pinned per node id and per authority (trust on first use unless pinned beforehand).

    mDNS only hints which node id answers at an address; the handshake proves a key. A node id is
    the hash of its key, so the pin by node id is what the dialler checks; the pin by authority
    (``host:port`` from the peer's Connect) catches another key claiming an authority seen before.
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.by_node: dict[str, bytes] = {}
        self.by_authority: dict[str, bytes] = {}
        self.max_entries = max_entries

    def pin(self, node_id: str, public_key: bytes, authority: str | None = None) -> None:
        if len(self.by_node) < self.max_entries:
            self.by_node.setdefault(node_id, public_key)
        if authority and len(self.by_authority) < self.max_entries:
            self.by_authority.setdefault(authority, public_key)

    def expected_key(self, node_id: str) -> bytes | None:
        return self.by_node.get(node_id)

    def check(self, node_id: str, public_key: bytes, authority: str | None = None) -> None:
        """Raises :class:`PinMismatchError` if another key is pinned for the node id or authority."""
        pinned = self.by_node.get(node_id)
        if pinned is not None and pinned != public_key:
            raise PinMismatchError(f"node {node_id} presented a key other than the pinned one",
                                   reason="pin-mismatch")
        if authority:
            pinned = self.by_authority.get(authority)
            if pinned is not None and pinned != public_key:
                raise PinMismatchError(f"authority {authority} is pinned to another key",
                                       reason="pin-mismatch")
