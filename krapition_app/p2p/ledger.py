"""The node's event ledger: writes our chain, verifies and stores the chains of peers.

It joins the pure chain (:mod:`.chain`), the store and the processor:

- :meth:`EventLedger.append_many` signs our events, commits them (``synchronous=FULL``, one
  transaction per chunk of :data:`COMMIT_CHUNK`) and only then hands them to the processor, from
  where they may leave the node. The sequence number comes from the store's head, so a restart
  (even after ``kill -9``) never reuses one.
- :meth:`EventLedger.receive_many` verifies peers' events one by one with :func:`.chain.verify` and
  stores the ones that pass; a rejected event stores nothing. An equivocation stores both events as
  proof and marks the author forked.
- :meth:`EventLedger.compact` cuts our chain behind a signed checkpoint when retention asks for it;
  a peer's checkpoint cuts its chain here once our replay reproduces its state hash.
- :meth:`EventLedger.replay` rebuilds an author's projection from its snapshot and events;
  :meth:`EventLedger.rebuild` writes it back as the read side.

Not thread-safe: one thread (the node's network thread) owns a ledger and its store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import __version__
from ..model.events import AnyEventPayload, ChainCheckpoint, SystemStart
from ..model.uri import Authority, KrapitionURI
from ..store.database import DB_FILE_NAME, EventRow, Snapshot, Store
from ..store.projection import Projection
from .chain import (
    DEFAULT_LIMITS,
    RECENT_WINDOW,
    ZERO_HASH,
    ChainState,
    SignedEvent,
    Signer,
    VerifyLimits,
    decode_envelope_trusted,
    decode_trusted,
    event_id,
    make_envelope,
    uri_authority,
    verify,
)
from .clock import Clock, system_clock
from .errors import (
    ChainError,
    EquivocationError,
    InvalidEventError,
    NotOwnedURIError,
    OversizedEventError,
)
from .identity import Identity, load_or_create_identity
from .processor import EventStreamProcessor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How much of each chain a node keeps: the newest ``max_events``, none older than ``max_age_s``."""

    max_events: int = 10_000
    max_age_s: float | None = None

    @property
    def max_age_ns(self) -> int | None:
        return None if self.max_age_s is None else int(self.max_age_s * 1e9)


@dataclass
class ReceiveResult:
    accepted: list[SignedEvent] = field(default_factory=list)
    rejected: list[tuple[bytes, InvalidEventError]] = field(default_factory=list)


class NotStartedError(ChainError):
    """Our chain has no SystemStart yet: call :meth:`EventLedger.start` first."""


class AuthorityMismatchError(ChainError):
    """The store binds our key to another authority than the one we were started with."""


def row_of(event: SignedEvent) -> EventRow:
    env = event.envelope
    return EventRow(event.id, env.author, env.seq, env.prev, env.timestamp_ns,
                    str(env.payload.event_type), env.uri, event.raw)


class EventLedger:
    def __init__(self, store: Store, identity: Identity, authority: Authority | str, *, clock: Clock,
                 processor: EventStreamProcessor | None = None, limits: VerifyLimits = DEFAULT_LIMITS,
                 retention: RetentionPolicy | None = None) -> None:
        self.store = store
        self.identity = identity
        self.author = identity.public_key
        self._signer = Signer(identity.signing_key)
        self.authority = str(Authority.parse(str(authority)))
        self.clock = clock
        self.limits = limits
        self.retention = retention or RetentionPolicy()
        self.processor = processor or EventStreamProcessor(
            max_size=self.retention.max_events, max_age_ns=self.retention.max_age_ns
        )
        self.node_uri = str(KrapitionURI.build(self.authority, "system", "nodes", identity.node_id))
        self.checkpoint_uri = str(KrapitionURI.build(self.authority, "system", "checkpoints",
                                                     identity.node_id))
        self.state = ChainState()
        self._restore()

    # ---- start ----------------------------------------------------------------------------------

    def _restore(self) -> None:
        own = self.store.author(self.author)
        if own is not None and own.authority != self.authority:
            raise AuthorityMismatchError(
                f"this node's key is bound to {own.authority} in {self.store.path}, not to "
                f"{self.authority}; start it on its old address"
            )
        for row in self.store.authors():
            stream_events = [decode_trusted(raw) for raw in self.store.raw_events(row.author)]
            recent = tuple(e.id for e in stream_events[-RECENT_WINDOW:]
                           if e.seq > row.head_seq - RECENT_WINDOW)
            self.state = self.state.resume(row.author, row.authority, row.head_seq + 1, row.head_id,
                                           recent, forked=row.forked)
            for event in stream_events:
                self.processor.restore(event)
            if row.checkpoint_id is not None:
                stream = self.processor.stream(row.author)
                if row.checkpoint_id in stream:
                    stream.checkpoint = stream.node(row.checkpoint_id).event

    @property
    def next_seq(self) -> int:
        own = self.state.author(self.author)
        return 0 if own is None else own.next_seq

    def start(self, name: str = "krapition") -> SignedEvent:
        """Writes SystemStart: seq 0 claims our authority; later ones mark a restart."""
        return self._append([(self.node_uri, SystemStart(version=__version__, name=name,
                                                          authority=self.authority))])[0]

    # ---- our chain ---------------------------------------------------------------------------

    def append(self, uri: str, payload: AnyEventPayload) -> SignedEvent:
        return self.append_many([(uri, payload)])[0]

    def append_many(self, items: Sequence[tuple[str, AnyEventPayload]]) -> list[SignedEvent]:
        """Signs and commits events of our chain (a transaction per :data:`COMMIT_CHUNK`); returns
        them once durable. If a commit fails, the chunks before it are in the chain and the error
        propagates; nothing of the failed chunk was stored or sent."""
        if self.next_seq == 0:
            raise NotStartedError("our chain has no SystemStart yet: call start() first")
        return self._append(items)

    def _append(self, items: Sequence[tuple[str, AnyEventPayload]]) -> list[SignedEvent]:
        if not items:
            return []
        for uri, _ in items:  # every command is checked before the first event is signed
            if uri_authority(uri) != self.authority:
                raise NotOwnedURIError(f"{uri} is owned by another node, not by {self.authority}")
        now = self.clock()
        own = self.state.author(self.author)
        seq = 0 if own is None else own.next_seq
        prev = ZERO_HASH if own is None else own.head_id
        signer = self._signer
        done: list[SignedEvent] = []
        for start in range(0, len(items), COMMIT_CHUNK):
            chunk: list[SignedEvent] = []
            # the rules of :func:`advance` hold by construction: our authority, the next seq, the head
            for uri, payload in items[start : start + COMMIT_CHUNK]:
                event = signer.sign(make_envelope(author=self.author, seq=seq, prev=prev, timestamp_ns=now,
                                                  uri=uri, payload=payload))
                if len(event.raw) > self.limits.max_event_size:
                    # peers would refuse it: it must not enter our chain (split the batch instead)
                    raise OversizedEventError(
                        f"a {payload.event_type} event of {len(event.raw)} bytes is over the "
                        f"{self.limits.max_event_size}-byte limit"
                    )
                chunk.append(event)
                seq, prev = seq + 1, event.id
            first = self.state.author(self.author) is None
            # if this raises, the chunks before it are committed and accounted for; this one is not
            self.store.append([(row_of(e), e.envelope) for e in chunk], own=True,
                              new_authors={self.author: self.authority} if first else None)
            self._committed_own(chunk)
            done += chunk
        return done

    def _committed_own(self, events: list[SignedEvent]) -> None:
        """Our events are durable: advance our head, then let them go (processor, later the network)."""
        if not events:
            return
        own = self.state.author(self.author)
        recent = (*(() if own is None else own.recent), *(e.id for e in events[-RECENT_WINDOW:]))
        self.state = self.state.resume(self.author, self.authority, events[-1].seq + 1, events[-1].id,
                                       recent)
        for event in events:
            self.processor.process_event(event)

    # ---- peers' chains ---------------------------------------------------------------------------

    def receive(self, raw: bytes) -> SignedEvent:
        """Verifies and stores one event of a peer; raises its :class:`InvalidEventError`."""
        result = self.receive_many([raw])
        if result.rejected:
            raise result.rejected[0][1]
        return result.accepted[0]

    def receive_many(self, raws: Iterable[bytes]) -> ReceiveResult:
        """Verifies each event in order and stores those that pass, one transaction per chunk of
        :data:`COMMIT_CHUNK` events. An event reaches the processor only once it is durable; if a
        commit fails the error propagates, and the verifier state holds exactly what was committed.
        """
        raws = list(raws)
        now = self.clock()
        result = ReceiveResult()
        lookup = self.store.event_id_at
        state = self.state
        for start in range(0, len(raws), COMMIT_CHUNK):
            chunk_start = state
            accepted: list[SignedEvent] = []
            for raw in raws[start : start + COMMIT_CHUNK]:
                before = state
                try:
                    state, event = verify(state, raw, now_ns=now, limits=self.limits, lookup=lookup)
                except EquivocationError as exc:
                    state = exc.state
                    self._record_fork(exc)
                    result.rejected.append((raw, exc))
                    continue
                except InvalidEventError as exc:
                    result.rejected.append((raw, exc))
                    continue
                if event.author == self.author:
                    # only this node writes its chain: a new event of ours from outside means a stolen
                    # key or a restored backup; never store it
                    error = InvalidEventError("a peer sent a new event of our own chain")
                    result.rejected.append((raw, error))
                    state = before
                    continue
                accepted.append(event)
            if accepted:
                new_authors = {e.author: state.authors[e.author].authority for e in accepted
                               if e.author not in chunk_start.authors}
                try:
                    self.store.append([(row_of(e), e.envelope) for e in accepted], own=False,
                                      new_authors=new_authors)
                except BaseException:
                    # forks recorded in this chunk are stored already; the accepted events are not
                    self.state = _with_forks(chunk_start, state)
                    raise
            self.state = state
            for event in accepted:
                self.processor.process_event(event)
            result.accepted.extend(accepted)
        for event in result.accepted:
            if isinstance(event.payload, ChainCheckpoint):
                self._follow_checkpoint(event)
        return result

    def _record_fork(self, exc: EquivocationError) -> None:
        log.warning("author %s forked its chain at seq %d", exc.author.hex()[:12], exc.seq)
        self.store.record_fork(exc.author, exc.seq, exc.first_id, event_id(exc.second), exc.second)

    def _follow_checkpoint(self, checkpoint: SignedEvent) -> None:
        """Cuts a peer's chain behind its checkpoint once our replay gives the same state hash."""
        payload: ChainCheckpoint = checkpoint.payload  # type: ignore[assignment]
        projection = self._projection_at(checkpoint.author, payload.horizon_seq)
        if projection is None:
            return  # we joined after its horizon: nothing of ours to cut
        if projection.state_hash() != payload.state_hash:
            log.warning("checkpoint at seq %d of %s: our replay has another state hash; keeping events",
                        checkpoint.seq, checkpoint.author.hex()[:12])
            return
        self._cut(checkpoint, projection)

    # ---- retention ----------------------------------------------------------------------------

    def compact(self) -> SignedEvent | None:
        """Cuts our chain as retention asks: appends a signed checkpoint, then drops the events
        behind its horizon (store and stream). Returns the checkpoint, or None when nothing is due."""
        stream = self.processor.stream(self.author)
        horizon = stream.retention_horizon(self.clock())
        if horizon is None:
            return None
        projection = self._projection_at(self.author, horizon)
        horizon_id = self.store.event_id_at(self.author, horizon)
        if projection is None or horizon_id is None:
            return None
        checkpoint = self.append(self.checkpoint_uri, ChainCheckpoint(
            horizon_seq=horizon, horizon_id=horizon_id, state_hash=projection.state_hash(),
            authority=self.authority,
        ))
        self._cut(checkpoint, projection)
        return checkpoint

    def _cut(self, checkpoint: SignedEvent, projection: Projection) -> None:
        payload: ChainCheckpoint = checkpoint.payload  # type: ignore[assignment]
        snapshot = Snapshot(payload.horizon_seq, payload.horizon_id, projection.snapshot(),
                            payload.state_hash)
        self.store.compact(checkpoint.author, snapshot, checkpoint.id)
        stream = self.processor.stream(checkpoint.author)
        if checkpoint.id in stream:
            stream.cleanup(checkpoint)

    # ---- read side ----------------------------------------------------------------------------

    def _projection_at(self, author: bytes, horizon: int | None) -> Projection | None:
        """The author's projection after seq ``horizon`` (None: the head), from its snapshot and
        stored events; None when the stored events do not cover the way there."""
        snapshot = self.store.snapshot(author)
        if snapshot is not None and horizon is not None and horizon < snapshot.horizon_seq:
            return None
        projection = Projection.from_snapshot(snapshot.state) if snapshot else Projection()
        expected = 0 if snapshot is None else snapshot.horizon_seq + 1
        for raw in self.store.raw_events(author, expected, horizon):
            envelope = decode_envelope_trusted(raw)
            if envelope.seq != expected:
                return None  # a hole (we joined late): no replay from here
            projection.apply(envelope)
            expected += 1
        if horizon is not None and expected != horizon + 1:
            return None
        return projection

    def replay(self, author: bytes | None = None) -> Projection:
        """Rebuilds the author's projection (default: ours) by replaying its snapshot and events."""
        author = self.author if author is None else author
        projection = self._projection_at(author, None)
        if projection is None:
            raise ChainError(f"the stored chain of {author.hex()[:12]} has a hole; it cannot be replayed")
        return projection

    def rebuild(self, author: bytes | None = None) -> Projection:
        """Rebuilds the read side of an author (objects for us, cache for a peer) by replaying its
        events, replacing what the store held. Returns the projection."""
        author = self.author if author is None else author
        projection = self.replay(author)
        self.store.replace_projection(
            author, {uri: (value, projection.seqs[uri]) for uri, value in projection},
            own=author == self.author,
        )
        return projection

    def stored_projection(self, author: bytes | None = None) -> dict:
        """What the store's read model holds for the author (objects for us, cache for peers)."""
        author = self.author if author is None else author
        return self.store.objects() if author == self.author else self.store.cached(author)


#: events per transaction: a larger batch is committed chunk by chunk (bounded transactions)
COMMIT_CHUNK = 512


def _with_forks(base: ChainState, newer: ChainState) -> ChainState:
    """``base`` with the forked marks ``newer`` added (their proofs are already stored)."""
    state = base
    for author, known in newer.authors.items():
        if known.forked:
            old = state.authors.get(author)
            if old is not None and not old.forked:
                state = state._with(author, replace(old, forked=True))
    return state


def open_ledger(data_dir: Path, authority: Authority | str, *, clock: Clock = system_clock,
                retention: RetentionPolicy | None = None, name: str = "krapition") -> EventLedger:
    """Opens this installation's ledger from its data folder and writes its SystemStart.

    The key is ``<data_dir>/identity.key`` (made on first start) and the database
    ``<data_dir>/krapition.sqlite3``. A damaged database raises
    :class:`~krapition_app.store.CorruptDatabaseError`; offer ``error.move_aside()`` and call again.
    """
    identity = load_or_create_identity(data_dir)
    store = Store.open(Path(data_dir) / DB_FILE_NAME)
    try:
        ledger = EventLedger(store, identity, authority, clock=clock, retention=retention)
        ledger.start(name)
    except BaseException:
        store.close()
        raise
    return ledger
