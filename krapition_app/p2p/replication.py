"""Replication of every author's chain between peers: head exchange, catch-up, live push, relay.

The protocol, on the 11 message types:

- on connect each side sends ``EventSubscribe(from_seq)``, as a request: ``from_seq`` maps each
  author it knows (hex key) to the first sequence number it lacks, and ``"*": 0`` asks for every
  author it does not list. The peer answers with the ranges it holds (``EventPublish`` chunks of at
  most :attr:`Replicator.chunk` events; when the start of a range was cut behind a checkpoint, the
  newest checkpoint first and then the tail) and finally an ``Ack`` of the request, which arrives
  after the chunks (one connection keeps its order): the requester knows its catch-up is complete.
  The subscriber then receives every new event live.
- every event this node stores (its own, or a peer's that passed verification) is pushed to every
  subscriber except the peer it came from: events of any author are relayed, so a chain travels
  through a third node.
- every received event is verified by the :class:`~.ledger.EventLedger` before it is stored or
  applied. Resends are dropped cheaply (id compared with the stored one, no signature check); an
  event that skips ahead waits in a bounded buffer while the missing range is asked for; every
  other rejection is counted by reason (the error's class name).
- ``EventUnsubscribe(authors)`` with ``"*"`` stops the live push to that peer.
- after a catch-up, a replica that started from a checkpoint (its history was cut) asks for the
  snapshot at the checkpoint's horizon, checks it against the signed state hash and replays its
  tail on top (:mod:`.snapshots`); any peer that can derive a snapshot serves it.

Catch-up runs on the node's network thread (never the GUI thread), chunk by chunk, yielding to the
loop between chunks. Not thread-safe: everything here runs on the node's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import msgspec

from ..model.events import NodeJoined, NodeLeft, SystemStart, SystemStop
from ..model.messages import Ack, DataRequest, EventPublish, EventSubscribe, EventUnsubscribe, Message
from .blobs import BlobServer
from .chain import SIGNATURE_SIZE, SignedEvent, event_id
from .errors import (
    DuplicateEventError,
    InvalidEventError,
    SequenceGapError,
    StaleEventError,
    UnboundAuthorError,
)
from .identity import node_id_of
from .ledger import EventLedger
from .peers import PeerInfo
from .protocol.errors import ProtocolError, TransportError
from .ratelog import PeerLogger
from .snapshots import SnapshotSync
from .transport import Transport

log = logging.getLogger(__name__)

ALL = "*"
#: events per EventPublish message (and per verify-and-commit step of a catch-up)
DEFAULT_CHUNK = 512
#: bytes of events per EventPublish message at most (frames are bounded at 1 MiB)
CHUNK_BYTES = 512 * 1024
#: events held per author while a gap before them is being filled
MAX_PARKED = 20_000
#: seconds between two requests for the same author's missing range
GAP_RETRY_S = 1.0


class _Head(msgspec.Struct):
    """Only the author and seq of an envelope: the rest (the payload) is skipped, not validated."""

    author: bytes
    seq: int


_HEAD = msgspec.msgpack.Decoder(_Head)


def peek(raw: bytes) -> tuple[bytes, int] | None:
    """(author, seq) of signed event bytes, cheaply and without trusting them; None if unreadable."""
    try:
        head = _HEAD.decode(memoryview(raw)[SIGNATURE_SIZE:])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return head.author, head.seq


@dataclass
class ReplicationStats:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    published: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    catchups_served: int = 0
    catchups_done: int = 0
    #: snapshots behind a checkpoint: installed here, made for peers, refused by reason
    snapshots_installed: int = 0
    snapshots_served: int = 0
    snapshots_rejected: Counter[str] = field(default_factory=Counter)


class Replicator:
    def __init__(self, ledger: EventLedger, transport: Transport, *, chunk: int = DEFAULT_CHUNK,
                 catchup_timeout_s: float = 300.0,
                 on_accepted: Callable[[list[SignedEvent], str | None], None] | None = None,
                 on_rejected: Callable[[bytes, InvalidEventError, str], None] | None = None,
                 blobs: BlobServer | None = None) -> None:
        self.ledger = ledger
        self.transport = transport
        self.chunk = max(1, min(chunk, 4096))
        self.catchup_timeout_s = catchup_timeout_s
        self.on_accepted = on_accepted
        self.on_rejected = on_rejected
        self.stats = ReplicationStats()
        self.subscribers: set[str] = set()
        #: node ids whose initial catch-up has completed (their Ack arrived)
        self.caught_up: set[str] = set()
        self._parked: dict[bytes, dict[int, tuple[bytes, str]]] = defaultdict(dict)
        self._gap_asked: dict[bytes, float] = {}
        self._source: str | None = None
        self._outbox: list[tuple[bytes, str | None, str, bytes, int]] = []
        #: subscriber -> author -> the first seq it lacks, as far as we know: from its subscription
        #: request, then moved on by the run of events pushed to it from there. What it holds below
        #: is not pushed to it again (a late joiner's catch-up is not relayed back to peers that had
        #: that history all along); a range it asks for is served whatever this says
        self._peer_heads: dict[str, dict[bytes, int]] = {}
        #: node id -> node ids it is connected to, as its chain says (relay only where needed)
        self.links: dict[str, set[str]] = {}
        self._node_ids: dict[bytes, str] = {}
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._catching_up = False
        self._waiting: list[str] = []
        self.peer_log = PeerLogger(log)
        self.snapshots = SnapshotSync(ledger, transport, blobs or BlobServer(transport), self.stats)
        self._subscription = ledger.processor.subscribe(self._on_processed)

    def close(self) -> None:
        self._subscription.cancel()
        for task in list(self._tasks):
            task.cancel()

    # ---- heads ------------------------------------------------------------------------------

    def heads(self) -> dict[str, int]:
        """Author hex -> the next sequence number we lack (what we ask peers for)."""
        return {author.hex(): known.next_seq for author, known in self.ledger.state.authors.items()}

    def head_table(self) -> list[dict[str, object]]:
        out = []
        for author, known in sorted(self.ledger.state.authors.items()):
            out.append({"author": author.hex(), "authority": known.authority, "next_seq": known.next_seq,
                        "head_id": known.head_id.hex(), "forked": known.forked})
        return out

    # ---- peers ------------------------------------------------------------------------------

    def peer_joined(self, peer: PeerInfo) -> None:
        """Starts the head exchange with a new peer (its catch-up runs as a task).

        One full catch-up at a time: peers that join while one runs wait for it to end, then ask
        for what is still missing (little, by then), so a late joiner does not fetch (and decrypt)
        the same history from every peer at once."""
        if self._catching_up:
            self._waiting.append(peer.node_id)
            return
        self._spawn(self._catch_up_in_turn(peer.node_id))

    async def _catch_up_in_turn(self, node_id: str) -> None:
        self._catching_up = True
        try:
            await self.catch_up_from(node_id)
            while self._waiting:
                waiting = self._waiting.pop(0)
                if waiting in self.transport.peers:
                    await self.catch_up_from(waiting)
        finally:
            self._catching_up = False

    def peer_left(self, node_id: str) -> None:
        """Forgets the peer's catch-up; asks another peer for the rest of its chain (what it wrote
        after the link broke reaches us through others, who no longer count on it pushing to us).

        Its live subscription stays (pushes skip it while it is not connected): when two connections
        race, one side may see the peer leave and come back while the other saw only its connection
        replaced, and that one never subscribes again; an event it misses meanwhile shows up as a gap
        at the next push, which it asks for."""
        self.caught_up.discard(node_id)
        author = next((a for a, n in self._node_ids.items() if n == node_id), None)
        others = [p.node_id for p in self.transport.peers if p.node_id != node_id]
        if author is not None and others and author in self.ledger.state.authors:
            known = self.ledger.state.authors[author]
            self._spawn(self.catch_up_from(others[0], authors={author.hex(): known.next_seq}))

    async def catch_up_from(self, node_id: str, *, authors: dict[str, int] | None = None) -> bool:
        """Asks ``node_id`` for what we lack and subscribes to its live events; True once complete."""
        failures = 0
        for _ in range(20):
            wanted = dict(authors) if authors is not None else {**self.heads(), ALL: 0}
            session = self.transport.session_of(node_id)
            try:
                await self.transport.request(node_id, EventSubscribe(from_seq=wanted),
                                             timeout=self.catchup_timeout_s)
                break
            except (TransportError, ProtocolError) as exc:
                self.peer_log.log(logging.INFO, ("catchup", node_id), "catch-up from %s did not finish: %s",
                                  node_id[:12], exc)
                if node_id not in self.transport.peers:
                    return False
                # the connection was replaced by another one to the same peer: ask again there (a
                # replacement is not a failure; anything else is, three times at most)
                if session is None or self.transport.session_of(node_id) is session:
                    failures += 1
                    if failures == 3:
                        return False
                await asyncio.sleep(0.05)
        else:
            return False
        if authors is None:
            self.caught_up.add(node_id)
            self.stats.catchups_done += 1
        # a chain we started from a checkpoint lacks the state at its horizon: ask for it (beside the
        # next catch-ups, which a slow snapshot must not hold up)
        if self.snapshots.missing():
            self._spawn(self.snapshots.fill(prefer=node_id))
        return True

    # ---- messages ---------------------------------------------------------------------------

    async def handle(self, peer: PeerInfo, message: Message) -> bool:
        """Handles a replication message; False when it is not one."""
        data = message.data
        if isinstance(data, EventPublish):
            await self.receive(data.events, peer.node_id)
            return True
        if isinstance(data, EventSubscribe):
            await self._serve(peer, message, data)
            return True
        if isinstance(data, EventUnsubscribe):
            if ALL in data.authors:
                self.subscribers.discard(peer.node_id)
                self._peer_heads.pop(peer.node_id, None)
            return True
        if isinstance(data, DataRequest):
            return self.snapshots.serve(peer, message, data)
        return False

    async def _serve(self, peer: PeerInfo, message: Message, data: EventSubscribe) -> None:
        """Sends the peer what it lacks (chunk by chunk), then Acks its request."""
        node_id = peer.node_id
        state = self.ledger.state
        everything = ALL in data.from_seq
        if everything:
            # subscribed before the ranges go: an event appended meanwhile is pushed (the peer parks
            # it until the range before it arrives) rather than lost between the two
            self.subscribers.add(node_id)
            self._peer_heads[node_id] = _heads_of(data.from_seq)
        for author, known in list(state.authors.items()):
            start = data.from_seq.get(author.hex(), 0 if everything else None)
            if start is None or start >= known.next_seq:
                continue
            for chunk in self._ranges(author, max(0, start)):
                try:
                    await self.transport.send(node_id, EventPublish(events=tuple(chunk)))
                except (TransportError, ProtocolError):
                    return
                self.stats.bytes_out += sum(len(r) for r in chunk)
                self.stats.published += len(chunk)
                await asyncio.sleep(0)
            held = self._peer_heads.get(node_id)
            if held is not None and held.get(author, 0) < known.next_seq:
                held[author] = known.next_seq  # it has the range now
        if everything:
            self.stats.catchups_served += 1
        with contextlib.suppress(TransportError, ProtocolError):
            await self.transport.send(node_id, Ack(ref=message.id))

    def _ranges(self, author: bytes, start: int) -> Iterator[list[bytes]]:
        """The stored events of ``author`` from ``start`` on, in chunks; when the range begins behind
        a checkpoint (cleaned up), the newest checkpoint comes first, then the tail after its horizon."""
        store = self.ledger.store
        first = store.event_id_at(author, start)
        raws_iter: Iterator[bytes]
        skip_seq = -1
        if first is None:
            stream = self.ledger.processor.streams.get(author)
            checkpoint = None if stream is None else stream.checkpoint
            if checkpoint is None:
                raws_iter = store.raw_events(author, start)
            else:
                horizon = checkpoint.payload.horizon_seq  # type: ignore[union-attr]
                skip_seq = checkpoint.seq

                def with_checkpoint() -> Iterator[bytes]:
                    yield checkpoint.raw
                    yield from store.raw_events(author, horizon + 1)

                raws_iter = with_checkpoint()
        else:
            raws_iter = store.raw_events(author, start)
        chunk: list[bytes] = []
        size = 0
        emitted_checkpoint = False
        for raw in raws_iter:
            if skip_seq >= 0:
                if not emitted_checkpoint:
                    emitted_checkpoint = True
                elif (peek(raw) or (b"", -1))[1] == skip_seq:
                    continue
            chunk.append(raw)
            size += len(raw)
            if len(chunk) >= self.chunk or size >= CHUNK_BYTES:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    # ---- receiving --------------------------------------------------------------------------

    async def receive(self, raws: tuple[bytes, ...] | list[bytes], source: str) -> int:
        """Verifies and stores ``raws`` (from ``source``); returns how many were accepted."""
        self.stats.received += len(raws)
        self.stats.bytes_in += sum(len(r) for r in raws)
        fresh = self._drop_resends(raws)
        accepted = 0
        for start in range(0, len(fresh), self.chunk):
            accepted += self._receive_chunk(fresh[start : start + self.chunk], source)
            if start + self.chunk < len(fresh):
                await asyncio.sleep(0)  # a long catch-up lets the loop breathe between chunks
        return accepted

    def _drop_resends(self, raws: tuple[bytes, ...] | list[bytes]) -> list[bytes]:
        """Drops events we already hold (same author, seq and id) without checking a signature."""
        state = self.ledger.state
        lookup = self.ledger.store.event_id_at
        out: list[bytes] = []
        for raw in raws:
            head = peek(raw)
            if head is None:
                out.append(raw)  # the ledger says why it is malformed
                continue
            author, seq = head
            known = state.authors.get(author)
            if known is not None and seq < known.next_seq:
                held = known.id_at(seq)
                if held is None:
                    held = lookup(author, seq)
                if held is not None and held == event_id(raw):
                    self.stats.duplicates += 1
                    continue
            out.append(raw)
        return out

    def _receive_chunk(self, raws: list[bytes], source: str) -> int:
        self._source = source
        try:
            result = self.ledger.receive_many(raws)
        finally:
            self._source = None
        accepted = len(result.accepted)
        gaps: set[bytes] = set()
        for raw, error in result.rejected:
            if isinstance(error, DuplicateEventError | StaleEventError):
                self.stats.duplicates += 1
                continue
            if isinstance(error, SequenceGapError) or self._unknown_author_ahead(raw, error):
                author, seq = peek(raw) or (b"", 0)
                parked = self._parked[author]
                if len(parked) < MAX_PARKED:
                    parked[seq] = (raw, source)
                gaps.add(author)
                continue
            reason = type(error).__name__
            self.stats.rejected[reason] += 1
            self.peer_log.log(logging.WARNING, ("rejected", reason, source), "rejected an event from %s: %s",
                              source[:12], error)
            if self.on_rejected is not None:
                try:
                    self.on_rejected(raw, error, source)
                except Exception:
                    log.exception("on_rejected failed")
        if result.accepted and self.on_accepted is not None:
            try:
                self.on_accepted(result.accepted, source)
            except Exception:
                log.exception("on_accepted failed")
        self.stats.accepted += accepted
        if result.accepted or gaps:
            accepted += self._drain_parked(gaps, source)
        return accepted

    def _unknown_author_ahead(self, raw: bytes, error: InvalidEventError) -> bool:
        """A later event of an author we have not met yet (its start is on its way): a gap too."""
        if not isinstance(error, UnboundAuthorError):
            return False
        head = peek(raw)
        return head is not None and head[1] > 0 and head[0] not in self.ledger.state.authors

    def _drain_parked(self, gaps: set[bytes], source: str) -> int:
        """Feeds parked events whose turn has come; asks for ranges still missing."""
        accepted = 0
        for author in list(self._parked):
            parked = self._parked[author]
            known = self.ledger.state.authors.get(author)
            if known is None:
                continue
            for seq in [s for s in parked if s < known.next_seq]:
                del parked[seq]
            ready = []
            seq = known.next_seq
            while seq in parked:
                ready.append(parked.pop(seq))
                seq += 1
            if ready:
                accepted += self._receive_chunk([r for r, _ in ready], ready[0][1])
            if not parked:
                del self._parked[author]
                self._gap_asked.pop(author, None)
            elif author in gaps:
                self._ask_for_gap(author, source)
        for author in gaps:
            if author not in self.ledger.state.authors:
                self._ask_for_gap(author, source)
        return accepted

    def _ask_for_gap(self, author: bytes, source: str) -> None:
        now = time.monotonic()
        if now - self._gap_asked.get(author, -1e9) < GAP_RETRY_S:
            return
        self._gap_asked[author] = now
        known = self.ledger.state.authors.get(author)
        start = 0 if known is None else known.next_seq
        self._spawn(self.catch_up_from(source, authors={author.hex(): start}))

    # ---- live push ----------------------------------------------------------------------------

    def _on_processed(self, event: SignedEvent) -> None:
        """Processor subscriber: every stored event (ours or a peer's) goes to the subscribers."""
        author_id = self._node_id_of(event.author)
        payload = event.payload
        if isinstance(payload, NodeJoined | NodeLeft | SystemStart | SystemStop):
            self._track_link(author_id, payload)
        if not self.subscribers:
            return
        self._outbox.append((event.raw, self._source, author_id, event.envelope.author, event.envelope.seq))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no loop (a test appending outside one): flush at once
                self._flush()

    def _node_id_of(self, author: bytes) -> str:
        node_id = self._node_ids.get(author)
        if node_id is None:
            if len(self._node_ids) > 100_000:
                self._node_ids.clear()
            node_id = self._node_ids[author] = node_id_of(author)
        return node_id

    def _track_link(self, author_id: str, payload: NodeJoined | NodeLeft | SystemStart | SystemStop) -> None:
        """Who each node says it is connected to (the lifecycle events of its chain)."""
        if isinstance(payload, NodeJoined):
            self.links.setdefault(author_id, set()).add(payload.node_id)
        elif isinstance(payload, NodeLeft):
            self.links.get(author_id, set()).discard(payload.node_id)
        else:
            self.links.pop(author_id, None)

    def _flush(self) -> None:
        self._flush_scheduled = False
        outbox, self._outbox = self._outbox, []
        if not outbox:
            return
        me = self.transport.node_id
        connected = self.transport.peers
        for node_id in list(self.subscribers):
            if node_id not in connected:
                continue  # gone for now: it asks for what it missed when it is back
            # not back to where it came from, not to its author, and not to a peer that its author
            # pushes to itself (a direct link, by the peer's own NodeJoined/NodeLeft events)
            # and not what it said it held when it subscribed, or was pushed since (the run from
            # there on: a late joiner's catch-up is not pushed back to peers that hold it)
            direct = self.links.get(node_id, ())
            held = self._peer_heads.setdefault(node_id, {})
            raws = []
            for raw, source, author_id, author, seq in outbox:
                if (source == node_id or author_id == node_id
                        or (author_id != me and author_id in direct)):
                    continue
                lacked = held.get(author, 0)
                if seq < lacked:
                    continue
                if seq == lacked:
                    held[author] = seq + 1
                raws.append(raw)
            if not raws:
                continue
            for start in range(0, len(raws), self.chunk):
                part = tuple(raws[start : start + self.chunk])
                try:
                    self.transport.send_nowait(node_id, EventPublish(events=part))
                except (TransportError, ProtocolError):
                    # a full queue: the peer asks for the gap once later events arrive
                    self.peer_log.log(logging.INFO, ("push", node_id), "could not push to %s", node_id[:12])
                    break
                self.stats.published += len(part)
                self.stats.bytes_out += sum(len(r) for r in part)

    # ---- helpers -----------------------------------------------------------------------------

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _heads_of(from_seq: dict[str, int]) -> dict[bytes, int]:
    """Author -> first seq lacked, of an EventSubscribe request (entries that are not a hex key
    and an int are left out: they only mean more is pushed)."""
    out: dict[bytes, int] = {}
    for key, seq in from_seq.items():
        if key == ALL or type(seq) is not int:
            continue
        try:
            out[bytes.fromhex(key)] = seq
        except ValueError:
            continue
    return out
