"""Snapshot transfer behind a checkpoint: a late joiner learns the objects whose last change was cut.

When an author's chain was cleaned up, a late joiner gets the newest ``ChainCheckpoint`` and the
tail after its horizon; the objects last changed behind the horizon are in no event it can get. The
checkpoint signs the hash of the author's projection at the horizon
(:func:`~krapition_app.store.projection.state_hash`: BLAKE2b-256 over the sorted ``(uri, kind,
bytes)`` values), so the state itself can come from anyone:

- the blob is the canonical snapshot (:meth:`~krapition_app.store.Projection.snapshot`: sorted
  ``[uri, kind, bytes, seq]`` rows in canonical msgpack), named
  ``krapition://<author's authority>/system/checkpoints/snapshot-<horizon seq>`` and fetched with
  DataRequest/DataResponse parts (:mod:`.blobs`);
- every peer that can derive it serves it (the author, a full replica, or a replica that installed
  the snapshot itself): snapshots relay like events;
- the receiver checks the bytes against the state hash in the checkpoint it verified and stored. A
  mismatch is counted (``ReplicationStats.snapshots_rejected``) and the peer that sent it is
  disconnected; the next peer is asked. A good snapshot becomes the author's stored base, and the
  cache is rebuilt from it plus the stored tail (an ``ObjectMoved`` in the tail of a body created
  behind the horizon now moves it).

The hash covers the values, not the seq each value came from: seqs are only checked for range.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..model.encoding import MAX_ENCODED_SIZE
from ..model.events import ChainCheckpoint
from ..model.messages import DataRequest, Message
from ..model.uri import KrapitionURI
from ..store.errors import InvalidSnapshotError
from ..store.projection import Projection
from .blobs import BlobFetchError, BlobServer, fetch_blob
from .chain import SignedEvent
from .errors import ChainError
from .ledger import EventLedger
from .peers import PeerInfo
from .ratelog import PeerLogger
from .transport import Transport

if TYPE_CHECKING:
    from .replication import ReplicationStats

log = logging.getLogger(__name__)

SNAPSHOT_PREFIX = "snapshot-"
#: the largest snapshot sent or accepted (what :func:`~krapition_app.model.encoding.decode` takes)
MAX_SNAPSHOT_BYTES = MAX_ENCODED_SIZE


def snapshot_uri(authority: str, horizon_seq: int) -> str:
    """The name of an author's snapshot at ``horizon_seq``."""
    return str(KrapitionURI.build(authority, "system", "checkpoints", f"{SNAPSHOT_PREFIX}{horizon_seq}"))


def parse_snapshot_uri(text: str) -> tuple[str, int] | None:
    """(authority, horizon seq) of a snapshot URI; None for any other text."""
    if SNAPSHOT_PREFIX not in text:
        return None  # cheap: most DataRequests are object reads
    try:
        uri = KrapitionURI.parse(text)
    except ValueError:
        return None
    if (uri.kind, uri.collection) != ("system", "checkpoints") or not uri.name.startswith(SNAPSHOT_PREFIX):
        return None
    digits = uri.name[len(SNAPSHOT_PREFIX):]
    canonical = digits.isascii() and digits.isdigit() and not (len(digits) > 1 and digits[0] == "0")
    if not canonical or len(digits) > 18:
        return None
    return str(uri.authority), int(digits)


class SnapshotSync:
    """Serves snapshots to peers and fills our replicas that lack theirs. Runs on the node's loop."""

    def __init__(self, ledger: EventLedger, transport: Transport, blobs: BlobServer, stats: ReplicationStats,
                 *, timeout_s: float = 10.0,
                 on_installed: Callable[[bytes, Projection], None] | None = None) -> None:
        self.ledger = ledger
        self.transport = transport
        self.blobs = blobs
        self.stats = stats
        self.timeout_s = timeout_s
        #: called (on the loop) with the author and its projection at our head after an install
        self.on_installed = on_installed
        self._filling: set[bytes] = set()
        #: peers that sent a forged snapshot: not asked again (they may reconnect)
        self.liars: set[str] = set()
        self.peer_log = PeerLogger(log)

    # ---- serving ------------------------------------------------------------------------------

    def serve(self, peer: PeerInfo, message: Message, request: DataRequest) -> bool:
        """Answers a request for a snapshot; False when ``request`` names none."""
        parsed = parse_snapshot_uri(request.pattern)
        if parsed is None:
            return False
        authority, horizon = parsed
        author = self.ledger.state.owner_of(authority)

        def produce() -> bytes | None:
            if author is None:
                return None
            data = self.ledger.snapshot_at(author, horizon)
            if data is not None:
                self.stats.snapshots_served += 1
            return data

        self.blobs.serve(peer, message, request, ("snapshot", authority, horizon), produce,
                         max_size=MAX_SNAPSHOT_BYTES)
        return True

    # ---- filling ------------------------------------------------------------------------------

    def missing(self) -> list[SignedEvent]:
        """The checkpoints whose snapshot our replicas lack (one per author at most)."""
        out = []
        for author in list(self.ledger.state.authors):
            checkpoint = self.ledger.missing_base(author)
            if checkpoint is not None:
                out.append(checkpoint)
        return out

    async def fill(self, prefer: str | None = None) -> int:
        """Fetches and installs every missing snapshot, asking ``prefer`` first and then every other
        connected peer; returns how many were installed."""
        installed = 0
        for checkpoint in self.missing():
            author = checkpoint.author
            if author in self._filling:
                continue  # another catch-up is fetching it
            self._filling.add(author)
            try:
                installed += await self._fill_one(checkpoint, prefer)
            finally:
                self._filling.discard(author)
        return installed

    async def _fill_one(self, checkpoint: SignedEvent, prefer: str | None) -> bool:
        payload = checkpoint.payload
        known = self.ledger.state.authors.get(checkpoint.author)
        if not isinstance(payload, ChainCheckpoint) or known is None:
            return False
        uri = snapshot_uri(known.authority, payload.horizon_seq)
        peers = sorted((p.node_id for p in self.transport.peers), key=lambda node_id: node_id != prefer)
        for node_id in peers:
            if node_id not in self.transport.peers or node_id in self.liars:
                continue
            try:
                # a deadline per peer: one that answers each part slowly cannot hold the fill up
                data = await fetch_blob(self.transport, node_id, uri, max_size=MAX_SNAPSHOT_BYTES,
                                        timeout_s=self.timeout_s,
                                        deadline=self.transport.now() + 6 * self.timeout_s)
            except BlobFetchError as exc:
                self.peer_log.log(logging.INFO, ("snapshot", exc.code, node_id),
                                  "no snapshot %s from %s: %s", uri, node_id[:12], exc)
                continue
            if self.ledger.missing_base(checkpoint.author) is None:
                return False  # filled meanwhile (another peer's answer, or a replay)
            try:
                projection = self.ledger.install_snapshot(checkpoint, data)
            except InvalidSnapshotError as exc:
                self.stats.snapshots_rejected[exc.code] += 1
                if len(self.liars) < 10_000:
                    self.liars.add(node_id)
                self.peer_log.log(logging.WARNING, ("snapshot-rejected", node_id),
                                  "rejected the snapshot %s from %s: %s", uri, node_id[:12], exc)
                # it signed nothing, but it lied about what the author signed: drop the connection
                await self.transport.kick(node_id, "sent a snapshot that does not match its checkpoint")
                continue
            except ChainError as exc:
                log.info("snapshot %s not installed yet: %s", uri, exc)
                return False
            if projection is None:
                return False
            self.stats.snapshots_installed += 1
            if self.on_installed is not None:
                try:
                    self.on_installed(checkpoint.author, projection)
                except Exception:
                    log.exception("on_installed failed")
            return True
        return False
