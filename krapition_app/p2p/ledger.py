"""The node's event ledger: writes our chain, verifies and stores the chains of peers.

It joins the pure chain (:mod:`.chain`), the store and the processor:

- :meth:`EventLedger.append_many` signs our events, commits them (``synchronous=FULL``, one
  transaction per chunk of :data:`COMMIT_CHUNK`) and only then hands them to the processor, from
  where they may leave the node. The sequence number comes from the store's head, so a restart
  (even after ``kill -9``) never reuses one. With ``pipeline``, a writer thread inserts a chunk
  while the caller signs it (the commit and the hand-off still wait for the whole chunk).
- :meth:`EventLedger.receive_many` verifies peers' events in order, as :func:`.chain.verify` does
  (the stateless checks, decoding and the signature, of a chunk run on ``workers`` threads first)
  and stores the ones that pass; a rejected event stores nothing. An equivocation stores both
  events as proof and marks the author forked.
- :meth:`EventLedger.compact` cuts our chain behind a signed checkpoint when retention asks for it;
  a peer's checkpoint cuts its chain here once our replay reproduces its state hash.
- :meth:`EventLedger.replay` rebuilds an author's projection from its snapshot and events;
  :meth:`EventLedger.rebuild` writes it back as the read side.
- Snapshots behind a checkpoint: a replica that started from a checkpoint lacks the state at its
  horizon (:meth:`EventLedger.missing_base`); :meth:`EventLedger.snapshot_at` makes that state's
  bytes wherever it can be derived (any full or completed replica, so peers relay it), and
  :meth:`EventLedger.install_snapshot` checks such bytes from a peer against the state hash the
  author signed, then stores them and replays the tail on top.

Not thread-safe: one thread (the node's network thread) owns a ledger and its store. The threads
a ledger starts itself (shared pools, made on first use) only check signatures, or hold the store
while the owning thread waits for them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import SimpleQueue

from .. import __version__
from ..model.events import AnyEventPayload, ChainCheckpoint, EventEnvelope, EventType, SystemStart
from ..model.uri import Authority, KrapitionURI
from ..store.database import DB_FILE_NAME, EventRow, NewEvent, Snapshot, Store
from ..store.projection import Projection, verify_snapshot
from .chain import (
    DEFAULT_LIMITS,
    RECENT_WINDOW,
    ZERO_HASH,
    ChainState,
    SignedEvent,
    Signer,
    VerifyLimits,
    advance,
    advance_run,
    check_signatures,
    decode_envelope_trusted,
    decode_trusted,
    event_id,
    type_name_of,
    uri_authority,
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
                    type_name_of(env.payload), env.uri, event.raw)


def rows_of(events: Iterable[SignedEvent]) -> list[tuple[NewEvent, EventEnvelope]]:
    """``(row, e.envelope)`` of each event, for :meth:`Store.append` (the hot path of every
    stored event: the rows are made without :class:`NewEvent`'s Python-level constructor)."""
    out: list[tuple[NewEvent, EventEnvelope]] = []
    append, make = out.append, tuple.__new__
    for event in events:
        env = event.envelope
        append((make(NewEvent, (event.id, env.author, env.seq, type_name_of(env.payload), event.raw)), env))
    return out


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Threads a ledger checks the signatures of a large received chunk on (a catch-up; a live
    event is checked in line), the caller's included: the CPUs this process may run on, at most 4.
    They hold the GIL only between libsodium calls, so on two CPUs two threads check about twice
    as many signatures per second as one."""
    return max(1, min(4, _usable_cpus()))


_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(kind: str, workers: int) -> ThreadPoolExecutor:
    """A shared thread pool, made on first use (``kind``: "verify" or "writer")."""
    key = f"{kind}-{workers}"
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = ThreadPoolExecutor(workers, thread_name_prefix=f"krapition-{kind}")
    return pool


def _forget_pools_after_fork() -> None:
    # a forked child has none of the parent's threads: its pools would take work and never run it
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


class _Abort(Exception):
    """The signing side of a pipelined append gave up: the writer rolls its transaction back."""


_ABORT = object()


class EventLedger:
    def __init__(self, store: Store, identity: Identity, authority: Authority | str, *, clock: Clock,
                 processor: EventStreamProcessor | None = None, limits: VerifyLimits = DEFAULT_LIMITS,
                 retention: RetentionPolicy | None = None, workers: int | None = None,
                 pipeline: bool | None = None) -> None:
        self.store = store
        #: threads that check the signatures of a large received chunk, the caller's included
        #: (1: all on the caller's thread)
        self.workers = default_workers() if workers is None else max(1, workers)
        #: sign a large chunk of our events here while a writer thread stores it. It costs CPU time
        #: (the two threads hand the GIL back and forth) and pays only with a core to spare, so by
        #: default it is on where this process may use three CPUs or more
        self.pipeline = _usable_cpus() >= PIPELINE_MIN_CPUS if pipeline is None else pipeline
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
        authority = self.authority
        for uri, _ in items:  # every command is checked before the first event is signed
            if uri_authority(uri) != authority:
                raise NotOwnedURIError(f"{uri} is owned by another node, not by {authority}")
        now = self.clock()
        done: list[SignedEvent] = []
        for start in range(0, len(items), COMMIT_CHUNK):
            own = self.state.author(self.author)
            seq = 0 if own is None else own.next_seq
            prev = ZERO_HASH if own is None else own.head_id
            new_authors = {self.author: authority} if own is None else None
            part = items[start : start + COMMIT_CHUNK]
            # if this raises, the chunks before it are committed and accounted for; this one is not
            if self.pipeline and len(part) >= PIPELINE_MIN:
                chunk = self._sign_and_store_pipelined(part, seq, prev, now, new_authors)
            else:
                chunk = self._sign(part, seq, prev, now)
                self.store.append(rows_of(chunk), own=True, new_authors=new_authors)
            self._committed_own(chunk)
            done += chunk
        return done

    def _sign(self, part: Sequence[tuple[str, AnyEventPayload]], seq: int, prev: bytes,
              now: int) -> list[SignedEvent]:
        # the rules of :func:`advance` hold by construction: our authority, the next seq, the head
        chunk = self._signer.sign_many(seq, prev, now, part)
        limit = self.limits.max_event_size
        for event in chunk:
            if len(event.raw) > limit:
                _refuse_oversized(event, limit)
        return chunk

    def _sign_and_store_pipelined(self, part: Sequence[tuple[str, AnyEventPayload]], seq: int,
                                  prev: bytes, now: int,
                                  new_authors: dict[bytes, str] | None) -> list[SignedEvent]:
        """Signs a chunk here while a writer thread inserts it (one transaction, committed once all
        of it is in). libsodium and sqlite release the GIL, so the two overlap. Returns the chunk
        once it is durable; if either side fails, nothing of the chunk is stored."""
        queue: SimpleQueue = SimpleQueue()
        future = _pool("writer", 4).submit(self._write_chunk, queue, len(part), new_authors)
        chunk: list[SignedEvent] = []
        try:
            # a slice at a time (the writer wakes once per slice, not per event); while this thread
            # signs, it holds the GIL only between two libsodium calls
            for start in range(0, len(part), WRITER_BATCH):
                batch = self._sign(part[start : start + WRITER_BATCH], seq, prev, now)
                queue.put(batch)
                chunk += batch
                seq, prev = seq + len(batch), batch[-1].id
                if future.done():  # the writer failed: stop signing, its error is raised below
                    break
        except BaseException:
            queue.put(_ABORT)
            _wait_quietly(future)
            raise
        future.result()  # raises what the writer raised (its transaction was rolled back)
        return chunk

    def _write_chunk(self, queue: SimpleQueue, n: int, new_authors: dict[bytes, str] | None) -> None:
        """The writer thread's part of a pipelined append: one transaction for ``n`` events, which
        arrive in slices."""
        store, get = self.store, queue.get
        with store.transaction():
            store.bind_authors(new_authors)
            left = n
            while left:
                batch = get()
                if batch is _ABORT:
                    raise _Abort("the signer gave up on this chunk")
                store.insert_events(rows_of(batch), own=True)
                left -= len(batch)

    def _committed_own(self, events: list[SignedEvent]) -> None:
        """Our events are durable: advance our head, then let them go (processor, later the network)."""
        if not events:
            return
        own = self.state.author(self.author)
        recent = (*(() if own is None else own.recent), *(e.id for e in events[-RECENT_WINDOW:]))
        self.state = self.state.resume(self.author, self.authority, events[-1].seq + 1, events[-1].id,
                                       recent)
        self.processor.process_events(events)

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

        The stateless part of each event's verification (decoding, the signature) runs on
        :attr:`workers` threads per chunk; the rules that depend on the chain then run in order,
        exactly as :func:`.chain.verify` would.
        """
        raws = list(raws)
        now = self.clock()
        result = ReceiveResult()
        lookup = self.store.event_id_at
        limits = self.limits
        own_author = self.author
        state = self.state
        for start in range(0, len(raws), COMMIT_CHUNK):
            chunk_start = state
            accepted: list[SignedEvent] = []
            part = raws[start : start + COMMIT_CHUNK]
            checks = self._check_signatures(part)
            i, n = 0, len(part)
            while i < n:
                checked = checks[i]
                if type(checked) is SignedEvent and checked.envelope.author != own_author:
                    # the common case, a run of one author's next events, at once
                    state, run = advance_run(state, checks, i, now_ns=now, limits=limits)
                    if run:
                        accepted += checks[i : i + run]  # type: ignore[arg-type]
                        i += run
                        continue
                raw = part[i]
                i += 1
                if isinstance(checked, InvalidEventError):
                    result.rejected.append((raw, checked))
                    continue
                before = state
                try:
                    state, event = advance(state, checked, now_ns=now, limits=limits, lookup=lookup)
                except EquivocationError as exc:
                    state = exc.state
                    self._record_fork(exc)
                    result.rejected.append((raw, exc))
                    continue
                except InvalidEventError as exc:
                    result.rejected.append((raw, exc))
                    continue
                if event.envelope.author == own_author:
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
                    self.store.append(rows_of(accepted), own=False, new_authors=new_authors)
                except BaseException:
                    # forks recorded in this chunk are stored already; the accepted events are not
                    self.state = _with_forks(chunk_start, state)
                    raise
            self.state = state
            self.processor.process_events(accepted)
            result.accepted.extend(accepted)
        for event in result.accepted:
            if isinstance(event.payload, ChainCheckpoint):
                self._follow_checkpoint(event)
        return result

    def _check_signatures(self, raws: list[bytes]) -> list[SignedEvent | InvalidEventError]:
        """:func:`.chain.check_signatures` of ``raws``, in order.

        With :attr:`workers` > 1 and enough events, this thread and ``workers - 1`` pool threads
        check slices of them at once, taking the next slice from a shared queue; the sequential
        rules run once all are checked (while they run, the threads would wait for the GIL)."""
        max_size = self.limits.max_event_size
        helpers = min(self.workers, len(raws) // PARALLEL_SLICE) - 1
        if helpers <= 0:
            return check_signatures(raws, max_size=max_size)
        out: list[SignedEvent | InvalidEventError] = [None] * len(raws)  # type: ignore[list-item]
        starts = iter(range(0, len(raws), PARALLEL_SLICE))  # next() is atomic under the GIL

        def check() -> None:
            for start in starts:
                end = start + PARALLEL_SLICE
                out[start:end] = check_signatures(raws[start:end], max_size=max_size)

        pool = _pool("verify", self.workers - 1)
        futures = [pool.submit(check) for _ in range(helpers)]
        try:
            check()
        finally:
            for future in futures:
                _wait_quietly(future)
        for future in futures:
            future.result()
        return out

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

    # ---- snapshots behind a checkpoint ---------------------------------------------------------

    def missing_base(self, author: bytes) -> SignedEvent | None:
        """The checkpoint whose snapshot the author's replica lacks, or None when it is complete.

        A replica that started from a checkpoint (a late join, or a restore) holds the events after
        its horizon only: without the state at the horizon, objects last changed behind it are
        unknown. The newest stored checkpoint whose horizon reaches our oldest event is the one to
        fill from (its horizon is the one peers that cut their replica still serve)."""
        first = self.store.first_seq(author)
        if first is None or first == 0:
            return None
        held = self.store.snapshot(author)
        if held is not None and held.horizon_seq + 1 >= first:
            return None
        for raw in self.store.raw_events_of_type(author, EventType.CHAIN_CHECKPOINT.value):
            checkpoint = decode_trusted(raw)
            payload = checkpoint.payload
            if isinstance(payload, ChainCheckpoint) and payload.horizon_seq + 1 >= first:
                return checkpoint
            break  # horizons only grow: an older checkpoint does not reach further back
        return None

    def snapshot_at(self, author: bytes, horizon_seq: int) -> bytes | None:
        """The canonical snapshot bytes of the author's projection after ``horizon_seq``, or None
        when our stored snapshot and events cannot derive it (we hold a hole, or cut past it), or
        when no checkpoint of the author names that horizon (peers ask for those only, and a replay
        per made-up horizon would be work for nothing)."""
        if horizon_seq not in self.checkpoint_horizons(author):
            return None
        projection = self._projection_at(author, horizon_seq)
        return None if projection is None else projection.snapshot()

    def checkpoint_horizons(self, author: bytes) -> set[int]:
        """The horizons of the author's checkpoints we hold (stored events, and our snapshot's)."""
        out = set()
        held = self.store.snapshot(author)
        if held is not None:
            out.add(held.horizon_seq)
        for raw in self.store.raw_events_of_type(author, EventType.CHAIN_CHECKPOINT.value):
            payload = decode_envelope_trusted(raw).payload
            if isinstance(payload, ChainCheckpoint):
                out.add(payload.horizon_seq)
        return out

    def install_snapshot(self, checkpoint: SignedEvent, data: bytes) -> Projection | None:
        """Takes a peer's snapshot at ``checkpoint``'s horizon into the author's replica.

        ``checkpoint`` is a stored (verified) ``ChainCheckpoint``; ``data`` must hash to its signed
        state hash (else :class:`~krapition_app.store.InvalidSnapshotError`, nothing stored). Then
        the snapshot is stored as the author's base, events up to the horizon are dropped, and the
        read side (cache, or our objects after a restore) is rebuilt from it plus the stored tail.
        Returns the projection at our head, or None when we hold that base already. Raises
        :class:`ChainError` when the stored tail has a hole (nothing stored; ask again later)."""
        payload = checkpoint.payload
        if not isinstance(payload, ChainCheckpoint):
            raise ChainError("a snapshot is installed at a ChainCheckpoint")
        author = checkpoint.author
        known = self.state.authors.get(author)
        if known is None:
            raise ChainError(f"author {author.hex()[:12]} is unknown here")
        base = verify_snapshot(data, payload.state_hash, authority_of=uri_authority,
                               authority=known.authority, max_seq=payload.horizon_seq)
        held = self.store.snapshot(author)
        if held is not None and held.horizon_seq >= payload.horizon_seq:
            return None
        head = Projection(base.values, base.seqs)
        expected = payload.horizon_seq + 1
        for raw in self.store.raw_events(author, expected):
            envelope = decode_envelope_trusted(raw)
            if envelope.seq != expected:
                raise ChainError(f"the stored chain of {author.hex()[:12]} has a hole at seq {expected}")
            head.apply(envelope)
            expected += 1
        snapshot = Snapshot(payload.horizon_seq, payload.horizon_id, data, payload.state_hash)
        self.store.install_snapshot(author, snapshot, checkpoint.id,
                                    {uri: (value, head.seqs[uri]) for uri, value in head},
                                    own=author == self.author)
        stream = self.processor.stream(author)
        if checkpoint.id in stream:
            stream.cleanup(checkpoint)
        log.info("installed the snapshot of %s at seq %d (%d objects)", author.hex()[:12],
                 payload.horizon_seq, len(base))
        return head

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
#: a chunk of our events at least this long is signed and stored on two threads (with ``pipeline``)
PIPELINE_MIN = 32
#: usable CPUs from which ``pipeline`` is on by default
PIPELINE_MIN_CPUS = 3
#: events the writer thread inserts per statement while the chunk is being signed
WRITER_BATCH = 64
#: received events per slice that one thread checks the signatures of (a chunk below two slices is
#: checked in line)
PARALLEL_SLICE = 32


def _refuse_oversized(event: SignedEvent, limit: int) -> None:
    # peers would refuse it: it must not enter our chain (split the batch instead)
    raise OversizedEventError(
        f"a {event.type} event of {len(event.raw)} bytes is over the {limit}-byte limit"
    )


def _wait_quietly(future: Future) -> None:
    """Waits for ``future`` to finish, whatever it raised (the caller is handling another error)."""
    with contextlib.suppress(Exception):
        future.exception()


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
