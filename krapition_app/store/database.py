"""The node's sqlite database (through sqlite-utils): events of every chain, owned objects, cache.

One file, WAL mode, ``synchronous=FULL``: a transaction that returned is on disk, so an event of
our own chain is durable before it leaves the node, and a sequence number is never handed out twice
(the authors table keeps each chain's head, updated in the same transaction as the events).
Events of peers (:meth:`Store.append` with ``own=False``) commit with ``synchronous=NORMAL``: they
survive a crash of the process, and the file stays consistent on a power loss, which may take the
newest of them back (to be fetched from the peers again; the next FULL commit makes them durable).

The read model (``objects``, ``cache``) is a projection of the stored events, written out in
batches: the changes of committed events wait in memory (every read of this Store sees them) until
:data:`PROJECTION_FLUSH_URIS` URIs or :data:`PROJECTION_FLUSH_EVENTS` events are pending, then go
into the tables inside the transaction of the events that crossed the mark. Each author's
``projected_seq`` says up to where its events are in the tables; on open, the events after it
(those of a process that was killed) are replayed into them. Writing a URI once per batch instead of
once per commit is most of the cost of storing an event that moves bodies.

A damaged file raises :class:`CorruptDatabaseError` on open and is never rewritten: the caller
offers :func:`move_aside` and starts a fresh database.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import msgspec
import sqlite_utils

from ..model.encoding import encode
from ..model.events import (
    MAX_SEQ,
    SEQ_BITS,
    ConstraintApplied,
    EventEnvelope,
    ObjectCreated,
    ObjectDeleted,
    ObjectMoved,
    event_id,
)
from ..model.uri import URIPattern
from .errors import CorruptDatabaseError, SchemaVersionError, StoreIntegrityError
from .projection import (
    BODY,
    CONSTRAINT,
    PendingBody,
    Value,
    objects_prefix,
    resolved,
)
from .runs import SEQ_MASK, consecutive, key_of, pack, runs, unpack
from .schema import MIGRATIONS, SCHEMA_VERSION

DB_FILE_NAME = "krapition.sqlite3"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm", "-journal")
NO_HASH = bytes(32)
CACHE_KIB = 32 * 1024
#: page size of a new database (an existing one keeps its own). Events are about 600 bytes and go
#: in append order, so a commit writes whole runs of pages to the WAL: 16 KiB pages take a quarter
#: of the frames and write calls that 4 KiB pages do (about a third less time per commit)
PAGE_SIZE = 16_384
#: WAL bytes between automatic checkpoints (sqlite's default is 1000 pages). A checkpoint runs
#: inside the commit that crosses the mark; rarer ones write the pages that every chunk rewrites
#: (the read model, index pages, the authors row) to the database file less often: about 15 % less
#: time per stored chunk, for a WAL file of up to about 16 MiB
WAL_AUTOCHECKPOINT_BYTES = 16_000_000
#: at most this many ``?`` in one ``IN (...)`` (sqlite allows 32766 since 3.32, 999 before)
_IN_LIMIT = 900
#: at most this many read-model values are kept in memory per table (then it starts over)
KNOWN_VALUES = 50_000
#: the read model is written out once this many URIs have changes waiting in memory ...
PROJECTION_FLUSH_URIS = 4096
#: ... or this many events were committed since it was (bounds the replay on open after a crash)
PROJECTION_FLUSH_EVENTS = 16_384
#: signed event bytes are a 64-byte ed25519 signature, then the envelope (``p2p.chain``'s format);
#: the store reads envelopes back only to replay them into the read model
SIGNATURE_SIZE = 64
_ENVELOPE = msgspec.msgpack.Decoder(EventEnvelope)
_TABLES = ("objects", "cache")
#: the one event type the store finds by type (a chain's checkpoints, listed by key)
_CHECKPOINT = "ChainCheckpoint"
#: a change of the read model: (new value or None for none, seq of its event, its author); a body's
#: value may wait unencoded (:class:`~.projection.PendingBody`) until it is read or written out
_Change = tuple["Value | PendingBody | None", int, bytes]


class EventRow(NamedTuple):
    """One event with its chain position and the exact signed bytes (``prev``, ``timestamp_ns``
    and ``uri`` are read from the bytes; a row is stored as its :class:`NewEvent`)."""

    id: bytes
    author: bytes
    seq: int
    prev: bytes
    timestamp_ns: int
    type: str
    uri: str
    raw: bytes


class NewEvent(NamedTuple):
    """What the events table keeps of an event: ``(id, author, seq, type, raw)``.
    :meth:`Store.append` takes these or :class:`EventRow`."""

    id: bytes
    author: bytes
    seq: int
    type: str
    raw: bytes


class AuthorRow(NamedTuple):
    author: bytes
    authority: str
    #: seq of the newest stored event (-1: none yet); never decreases
    head_seq: int
    head_id: bytes
    forked: bool
    checkpoint_id: bytes | None


class Snapshot(NamedTuple):
    horizon_seq: int
    horizon_id: bytes
    state: bytes
    state_hash: bytes


class StoredValue(NamedTuple):
    value: Value
    #: seq of the event that set it
    seq: int
    author: bytes | None = None


def move_aside(path: Path, stamp: str | None = None) -> Path:
    """Renames a (damaged) database and its side files next to itself; returns the new path."""
    path = Path(path)
    stamp = stamp or time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


def _check_header(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except FileNotFoundError:
        return
    if not header:
        return  # an empty file is a database sqlite has not written yet
    if not header.startswith(_SQLITE_HEADER):
        raise CorruptDatabaseError(path, "the file is not an SQLite database")
    if len(header) < 100:
        raise CorruptDatabaseError(path, "the file is truncated inside its header")


class Store:
    """Open with :meth:`open`; one process per file (the node's network thread)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.db = sqlite_utils.Database(conn)
        #: committed values of the read model by table (None: known to have none), so a moved body
        #: is not read back from the table it was written to; only what a transaction of this Store
        #: committed goes in (one process writes a file), and a rebuild empties it
        self._known: dict[str, dict[str, Value | None]] = {"objects": {}, "cache": {}}
        #: committed changes not written to the tables yet, by table (newest change per URI)
        self._dirty: dict[str, dict[str, _Change]] = {"objects": {}, "cache": {}}
        #: events committed since the tables were last written
        self._dirty_events = 0
        #: the changes of the open transaction, by table (not in ``_dirty`` until it commits)
        self._txn: dict[str, dict[str, _Change]] = {"objects": {}, "cache": {}}
        self._txn_events = 0
        #: the open transaction wrote ``_dirty`` (and these changes of its own) to the tables
        self._txn_flushed: list[dict[str, _Change]] | None = None
        #: authors whose ``own`` mark is stored
        self._own_marked: set[bytes] = set()
        #: the connection commits with synchronous=FULL (else NORMAL, see :meth:`transaction`)
        self._durable = True
        #: author -> chain number (``authors.chain``), as read or assigned in committed transactions
        self._chains: dict[bytes, int] = {}

    @classmethod
    def open(cls, path: Path | str, *, check: bool = True) -> Store:
        """Opens (creating and migrating) the database at ``path``.

        ``check`` runs ``PRAGMA quick_check`` first. Raises :class:`CorruptDatabaseError` for a
        damaged or foreign file and :class:`SchemaVersionError` for one from a newer version.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_header(path)
        # check_same_thread=False: built by the composition root, then used by the network thread only
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a no-op once the file has its first page
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA wal_autocheckpoint={max(WAL_AUTOCHECKPOINT_BYTES // page_size, 1)}")
            if check:
                rows = conn.execute("PRAGMA quick_check").fetchall()
                if rows != [("ok",)]:
                    raise CorruptDatabaseError(path, "; ".join(str(r[0]) for r in rows[:5]))
            store = cls(conn, path)
            store._migrate()
            store._catch_up()
            return store
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptDatabaseError(path, str(exc)) from None
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Writes out the waiting read-model changes (else the next open replays them) and closes."""
        try:
            if self._dirty_events and not self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error), self.transaction():
                    self._write_projection()
        finally:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """One write transaction; it is on disk (synchronous=FULL) when the block exits normally.

        ``durable=False`` (replicas of peers' chains only): committed with ``synchronous=NORMAL``,
        without waiting for the disk; a crash of the process loses nothing, a power loss may undo it
        (never half of it)."""
        if durable != self._durable:
            self.conn.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
            self._durable = durable
        self.conn.execute("BEGIN IMMEDIATE")
        self._txn = {"objects": {}, "cache": {}}
        self._txn_events = 0
        self._txn_flushed = None
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self._txn = {"objects": {}, "cache": {}}
            self._txn_events = 0
            self._txn_flushed = None
            self._chains.clear()  # a chain number bound in the transaction is not taken after all
            if self.conn.in_transaction:  # a failed COMMIT can leave the transaction open
                self.conn.execute("ROLLBACK")
            raise
        txn, self._txn = self._txn, {"objects": {}, "cache": {}}
        flushed, self._txn_flushed = self._txn_flushed, None
        if flushed is not None:  # the tables hold what was waiting: start over
            self._dirty = {"objects": {}, "cache": {}}
            self._dirty_events = 0
            for table, changes in zip(_TABLES, flushed, strict=True):
                self._remember(table, changes)
        self._dirty_events += self._txn_events
        for table in _TABLES:
            changes = txn[table]
            if changes:
                self._dirty[table].update(changes)
                self._remember(table, changes)

    def _remember(self, table: str, changes: Mapping[str, _Change]) -> None:
        known = self._known[table]
        if len(known) + len(changes) > KNOWN_VALUES:
            known.clear()
        for uri, change in changes.items():
            known[uri] = change[0]

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {version}; this Krapition knows up to {SCHEMA_VERSION}"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                MIGRATIONS[number](self.db)
                self.conn.execute(f"PRAGMA user_version={number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        rows = self.conn.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    # ---- writing events ---------------------------------------------------------------------

    def append(self, events: Sequence[tuple[NewEvent | EventRow, EventEnvelope]], *, own: bool,
               new_authors: Mapping[bytes, str] | None = None) -> None:
        """Stores verified events and applies them to the projection, in one transaction.

        ``own``: the events are this node's (they update ``objects``; otherwise ``cache``).
        ``new_authors``: authority bindings to record first. Own events must extend the head:
        a sequence number at or below it raises :class:`StoreIntegrityError` (nothing is written).
        Own events are durable when it returns; peers' events are committed without waiting for
        the disk (``transaction(durable=False)``).
        """
        with self.transaction(durable=own):
            self.bind_authors(new_authors)
            self.insert_events(events, own=own)

    def bind_authors(self, new_authors: Mapping[bytes, str] | None) -> None:
        """Records authority bindings (inside :meth:`transaction`); a known author is left alone."""
        if new_authors:
            self.conn.executemany(
                "INSERT OR IGNORE INTO authors(author, authority, head_seq, head_id, forked, chain) "
                "VALUES (?, ?, -1, ?, 0, (SELECT coalesce(max(chain), 0) + 1 FROM authors))",
                [(author, authority, NO_HASH) for author, authority in new_authors.items()],
            )

    def insert_events(self, events: Sequence[tuple[NewEvent | EventRow, EventEnvelope]], *,
                      own: bool) -> None:
        """The body of :meth:`append`, inside a :meth:`transaction` the caller holds (a writer may
        add a chunk in several calls and commit once). Raises :class:`StoreIntegrityError` as
        :meth:`append` does; the caller rolls back."""
        if not events:
            return
        conn = self.conn
        heads: dict[bytes, tuple[int, bytes]] = {}
        firsts: dict[bytes, int] = {}
        authors = {row[1] for row, _ in events}
        seqs: list[int] = []
        if len(authors) == 1:  # the common case: one author's events, in one go
            seqs = [row[2] for row, _ in events]
            (author,) = authors
            high = max(seqs)
            heads[author] = (high, events[seqs.index(high)][0][0])
            firsts[author] = min(seqs)
        else:
            for row, _ in events:
                author, seq = row[1], row[2]
                head = heads.get(author)
                if head is None:
                    firsts[author] = seq
                    heads[author] = (seq, row[0])
                elif seq > head[0]:
                    heads[author] = (seq, row[0])
                if seq < firsts[author]:
                    firsts[author] = seq
        if own:
            for author, first in firsts.items():
                current = conn.execute("SELECT head_seq FROM authors WHERE author=?", (author,)).fetchone()
                if current is None or first <= current[0]:
                    raise StoreIntegrityError(
                        f"seq {first} would reuse a sequence number (head is "
                        f"{None if current is None else current[0]})"
                    )
        chains: dict[bytes, int] = {}
        for author, (high, _) in heads.items():
            chain = self._chain(author)
            if chain is None:
                raise StoreIntegrityError(f"author {author.hex()[:12]} has no authority binding")
            if firsts[author] < 0 or high >= MAX_SEQ:  # the model refuses these: a key never spills over
                raise StoreIntegrityError(f"seq {high} is outside 0 .. {MAX_SEQ - 1}")
            chains[author] = chain
        raws = [row[4] if len(row) == 5 else row[7] for row, _ in events]
        only = next(iter(heads)) if len(heads) == 1 else None
        if only is not None and seqs == list(range(firsts[only], firsts[only] + len(seqs))):
            new_runs = consecutive(chains[only], firsts[only], raws)  # one author's next events
        else:
            new_runs = list(runs((chains[row[1]], row[2], raw)
                                 for (row, _), raw in zip(events, raws, strict=True)))
        self._refuse_stored(new_runs)
        conn.executemany("INSERT INTO events(key, n, raw) VALUES (?, ?, ?)", new_runs)
        types = [row[3] if len(row) == 5 else row[5] for row, _ in events]
        if _CHECKPOINT in types:
            marked = zip(events, types, strict=True)
            conn.executemany("INSERT INTO checkpoints(key) VALUES (?)",
                             [(key_of(chains[row[1]], row[2]),) for (row, _), type_ in marked
                              if type_ == _CHECKPOINT])
        for author, (seq, head_id) in heads.items():
            conn.execute("UPDATE authors SET head_seq=?, head_id=? WHERE author=? AND head_seq<?",
                         (seq, head_id, author, seq))
        if own:
            self._mark_own(heads)
        self._project([envelope for _, envelope in events], own)
        self._txn_events += len(events)
        if (self._dirty_events + self._txn_events >= PROJECTION_FLUSH_EVENTS
                or len(self._dirty["objects"]) + len(self._txn["objects"]) >= PROJECTION_FLUSH_URIS
                or len(self._dirty["cache"]) + len(self._txn["cache"]) >= PROJECTION_FLUSH_URIS):
            self._write_projection()

    def _refuse_stored(self, new_runs: Sequence[tuple[int, int, bytes]]) -> None:
        """Raises :class:`StoreIntegrityError` if a stored run holds a position of a new one (or
        two new ones overlap): a stored event is never replaced."""
        conn = self.conn
        ordered = sorted((key, n) for key, n, _ in new_runs)
        for i, (key, n) in enumerate(ordered):
            last = key + n - 1
            # the stored run that starts last at or before our last position: it holds one of ours
            # if it reaches our first (runs never cross chains, so it is of our chain then)
            below = conn.execute("SELECT key, n FROM events WHERE key <= ? ORDER BY key DESC LIMIT 1",
                                 (last,)).fetchone()
            clash = below is not None and below[0] + below[1] > key
            if i and ordered[i - 1][0] + ordered[i - 1][1] > key:
                clash = True
            if clash:
                raise StoreIntegrityError(
                    f"an event is already stored at seq {key & SEQ_MASK} .. {last & SEQ_MASK} of chain "
                    f"{key >> SEQ_BITS}"
                )

    def _chain(self, author: bytes) -> int | None:
        """The author's chain number in the events table (None: the author is not bound)."""
        chain = self._chains.get(author)
        if chain is None:
            row = self.conn.execute("SELECT chain FROM authors WHERE author=?", (author,)).fetchone()
            if row is None or row[0] is None:
                return None
            chain = self._chains[author] = row[0]
        return chain

    def _mark_own(self, authors: Iterable[bytes]) -> None:
        for author in authors:
            if author not in self._own_marked:
                self.conn.execute("UPDATE authors SET own=1 WHERE author=? AND own=0", (author,))
                self._own_marked.add(author)

    def _project(self, envelopes: Sequence[EventEnvelope], own: bool) -> None:
        """Applies the events to the read model of the open transaction (written out later, see
        :meth:`_write_projection`). The values moved bodies start from are read in one query."""
        table = "objects" if own else "cache"
        txn, dirty, known = self._txn[table], self._dirty[table], self._known[table]
        # written by this transaction already, so newer than ``dirty`` (and than ``known``)
        flushed = {} if self._txn_flushed is None else self._txn_flushed[_TABLES.index(table)]
        # the bodies that motion events move and no map in memory holds: read in one query
        wanted: set[str] = set()
        for envelope in envelopes:
            payload = envelope.payload
            if type(payload) is ObjectMoved:
                prefix = objects_prefix(envelope.uri)
                for state in payload.bodies:
                    uri = prefix + state.name
                    if uri not in txn and uri not in flushed and uri not in dirty and uri not in known:
                        wanted.add(uri)
        stored: dict[str, Value | None] = dict.fromkeys(wanted)
        if wanted:
            uris = list(wanted)
            for i in range(0, len(uris), _IN_LIMIT):
                part = uris[i : i + _IN_LIMIT]
                marks = ",".join("?" * len(part))
                for uri, kind, value in self.conn.execute(
                    f"SELECT uri, kind, value FROM {table} WHERE uri IN ({marks})", part
                ):
                    stored[uri] = Value(kind, value)

        # what projection.changes_of makes of each event, with bodies left unencoded (PendingBody)
        pending = PendingBody
        for envelope in envelopes:
            payload = envelope.payload
            kind = type(payload)
            if kind is ObjectCreated:
                txn[envelope.uri] = (pending(payload.body), envelope.seq, envelope.author)
            elif kind is ObjectMoved:
                prefix, seq, author = objects_prefix(envelope.uri), envelope.seq, envelope.author
                for state in payload.bodies:
                    uri = prefix + state.name
                    found = txn.get(uri) or flushed.get(uri) or dirty.get(uri)
                    current = found[0] if found is not None else (
                        stored[uri] if uri in stored else known[uri])
                    if current is None or current.kind != BODY:
                        continue
                    txn[uri] = (pending(current.base if type(current) is pending else current.data, state),
                                seq, author)
            elif kind is ObjectDeleted:
                txn[envelope.uri] = (None, envelope.seq, envelope.author)
            elif kind is ConstraintApplied:
                value = Value(CONSTRAINT, encode(payload.constraint)) if payload.active else None
                txn[envelope.uri] = (value, envelope.seq, envelope.author)

    def _write_projection(self) -> None:
        """Writes every waiting change of the read model to its table and moves each author's
        ``projected_seq`` to its head (inside the caller's transaction; kept once it commits)."""
        conn = self.conn
        written = []
        for table in _TABLES:
            changes = {uri: (resolved(v), seq, author) for uri, (v, seq, author) in
                       {**self._dirty[table], **self._txn[table]}.items()}
            written.append(changes)
            if not changes:
                continue
            if table == "objects":
                conn.executemany(
                    "INSERT INTO objects(uri, kind, value, seq) VALUES (?, ?, ?, ?) ON CONFLICT(uri) "
                    "DO UPDATE SET kind=excluded.kind, value=excluded.value, seq=excluded.seq",
                    [(uri, v.kind, v.data, seq) for uri, (v, seq, _) in changes.items() if v],
                )
            else:
                conn.executemany(
                    "INSERT INTO cache(uri, kind, value, seq, author) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(uri) DO UPDATE SET kind=excluded.kind, value=excluded.value, "
                    "seq=excluded.seq, author=excluded.author",
                    [(uri, v.kind, v.data, seq, author) for uri, (v, seq, author) in changes.items() if v],
                )
            deletes = [(uri,) for uri, (v, _, _) in changes.items() if v is None]
            if deletes:
                conn.executemany(f"DELETE FROM {table} WHERE uri=?", deletes)
        conn.execute("UPDATE authors SET projected_seq=head_seq WHERE projected_seq<head_seq")
        if self._txn_flushed is not None:  # written twice in one transaction: keep both for _known
            written = [{**before, **now} for before, now in zip(self._txn_flushed, written, strict=True)]
        self._txn_flushed = written
        self._txn = {"objects": {}, "cache": {}}
        self._txn_events = 0  # from here on, the transaction's events wait again

    def flush_projection(self) -> None:
        """Writes the waiting read-model changes to the tables now (readers of this Store see them
        anyway; this is for whoever reads the file)."""
        if self._dirty_events or any(self._dirty.values()):
            with self.transaction():
                self._write_projection()

    def _catch_up(self) -> None:
        """Replays into the read model the stored events after each author's ``projected_seq``
        (a process killed before it wrote them out)."""
        behind = self.conn.execute(
            "SELECT author, own, projected_seq FROM authors WHERE projected_seq<head_seq"
        ).fetchall()
        if not behind:
            return
        with self.transaction():
            for author, own, projected in behind:
                if own:
                    self._own_marked.add(author)
                envelopes = [_ENVELOPE.decode(raw[SIGNATURE_SIZE:])
                             for raw in self.raw_events(author, projected + 1)]
                for i in range(0, len(envelopes), 4096):
                    self._project(envelopes[i : i + 4096], bool(own))
            self._write_projection()

    def record_fork(self, author: bytes, seq: int, first_id: bytes, second_id: bytes,
                    second_raw: bytes) -> None:
        """Keeps both events of an equivocation as proof and marks the author forked."""
        with self.transaction():
            first = self._raw_at(author, seq)
            if first is not None and event_id(first) != first_id:
                first = None
            self.conn.execute(
                "INSERT OR IGNORE INTO forks VALUES (?, ?, ?, ?, ?, ?)",
                (author, seq, first_id, first, second_id, second_raw),
            )
            self.conn.execute("UPDATE authors SET forked=1 WHERE author=?", (author,))

    def forks(self, author: bytes) -> list[tuple[int, bytes | None, bytes]]:
        """(seq, first raw, second raw) of every recorded equivocation of ``author``."""
        return list(self.conn.execute(
            "SELECT seq, first_raw, second_raw FROM forks WHERE author=? ORDER BY seq", (author,)
        ))

    def compact(self, author: bytes, snapshot: Snapshot, checkpoint_id: bytes) -> int:
        """Drops the author's events up to the snapshot's horizon, keeping the snapshot (one
        transaction). Returns how many events were dropped."""
        with self.transaction():
            self._write_projection()  # the events it drops must not be needed by a replay on open
            return self._compact(author, snapshot, checkpoint_id)

    def _compact(self, author: bytes, snapshot: Snapshot, checkpoint_id: bytes) -> int:
        conn = self.conn
        low, high = self._keys(author, 0, snapshot.horizon_seq)
        dropped = 0
        if low <= high:
            # the run across the horizon keeps the events after it, under the key of the first of those
            straddling = conn.execute("SELECT key, n, raw FROM events WHERE key BETWEEN ? AND ? AND "
                                      "key + n - 1 > ?", (low, high, high)).fetchone()
            if straddling is not None:
                key, n, blob = straddling
                keep = unpack(blob)[high - key + 1 :]
                conn.execute("DELETE FROM events WHERE key=?", (key,))
                conn.execute("INSERT INTO events(key, n, raw) VALUES (?, ?, ?)",
                             (high + 1, len(keep), pack(keep)))
                dropped += n - len(keep)
            row = conn.execute("SELECT coalesce(sum(n), 0) FROM events WHERE key BETWEEN ? AND ?",
                               (low, high)).fetchone()
            dropped += int(row[0])
            conn.execute("DELETE FROM events WHERE key BETWEEN ? AND ?", (low, high))
            conn.execute("DELETE FROM checkpoints WHERE key BETWEEN ? AND ?", (low, high))
        conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?)", (author, *snapshot))
        conn.execute("UPDATE authors SET checkpoint_id=? WHERE author=?", (checkpoint_id, author))
        return dropped

    def install_snapshot(self, author: bytes, snapshot: Snapshot, checkpoint_id: bytes,
                         values: Mapping[str, tuple[Value, int]], *, own: bool) -> int:
        """A peer's snapshot becomes the author's base: :meth:`compact` and
        :meth:`replace_projection` (``values``: the state at the head, the snapshot plus the stored
        tail) in one transaction, so a crash never leaves the base without its read side."""
        table = "objects" if own else "cache"
        with self.transaction():
            self._write_projection()
            dropped = self._compact(author, snapshot, checkpoint_id)
            self._replace_rows(author, values, own=own)
        self._known[table].clear()  # what the transaction remembered was overwritten
        return dropped

    # ---- reading ----------------------------------------------------------------------------

    def author(self, author: bytes) -> AuthorRow | None:
        row = self.conn.execute(
            "SELECT author, authority, head_seq, head_id, forked, checkpoint_id FROM authors "
            "WHERE author=?", (author,),
        ).fetchone()
        return None if row is None else AuthorRow(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    def authors(self) -> list[AuthorRow]:
        rows = self.conn.execute(
            "SELECT author, authority, head_seq, head_id, forked, checkpoint_id FROM authors"
        )
        return [AuthorRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def event_id_at(self, author: bytes, seq: int) -> bytes | None:
        raw = self._raw_at(author, seq)
        return None if raw is None else event_id(raw)

    def _raw_at(self, author: bytes, seq: int) -> bytes | None:
        return next((raw for _, raw in self._events(author, seq, seq)), None)

    def _events(self, author: bytes, from_seq: int, to_seq: int) -> Iterator[tuple[int, bytes]]:
        """``(seq, signed bytes)`` of the author's stored events from ``from_seq`` to ``to_seq``."""
        low, high = self._keys(author, from_seq, to_seq)
        if low > high:
            return
        base = low & ~SEQ_MASK
        # the run that holds from_seq starts at or before it
        floor = self.conn.execute(
            "SELECT key FROM events WHERE key BETWEEN ? AND ? ORDER BY key DESC LIMIT 1", (base, low)
        ).fetchone()
        start = low if floor is None else floor[0]
        rows = self.conn.execute("SELECT key, raw FROM events WHERE key BETWEEN ? AND ? ORDER BY key",
                                 (start, high))
        for key, blob in rows:
            seq = key & SEQ_MASK
            for raw in unpack(blob):
                if seq > to_seq:
                    return
                if seq >= from_seq:
                    yield seq, raw
                seq += 1

    def _keys(self, author: bytes, from_seq: int, to_seq: int) -> tuple[int, int]:
        """The key range of the author's events ``from_seq .. to_seq`` (an empty one if the author
        has no chain number or the range holds no valid seq)."""
        chain = self._chain(author)
        if chain is None or from_seq > to_seq or to_seq < 0 or from_seq >= MAX_SEQ:
            return 0, -1
        base = chain << SEQ_BITS
        return base | max(from_seq, 0), base | min(to_seq, MAX_SEQ - 1)

    def raw_events(self, author: bytes, from_seq: int = 0, to_seq: int | None = None) -> Iterator[bytes]:
        """The exact signed bytes of the author's stored events, oldest first."""
        for _, raw in self._events(author, from_seq, MAX_SEQ - 1 if to_seq is None else to_seq):
            yield raw

    def first_seq(self, author: bytes) -> int | None:
        """The lowest seq of the author's stored events (None: none stored)."""
        row = self.conn.execute("SELECT min(key) FROM events WHERE key BETWEEN ? AND ?",
                                self._keys(author, 0, MAX_SEQ - 1)).fetchone()
        return None if row is None or row[0] is None else int(row[0]) & SEQ_MASK

    def raw_events_of_type(self, author: bytes, type_: str, *, newest_first: bool = True) -> Iterator[bytes]:
        """The exact bytes of the author's stored events of one type (e.g. "ChainCheckpoint")."""
        if type_ == _CHECKPOINT:  # listed on their own
            order = "DESC" if newest_first else "ASC"
            keys = [key for (key,) in self.conn.execute(
                f"SELECT key FROM checkpoints WHERE key BETWEEN ? AND ? ORDER BY key {order}",
                self._keys(author, 0, MAX_SEQ - 1),
            )]
            for key in keys:
                raw = self._raw_at(author, key & SEQ_MASK)
                if raw is not None:
                    yield raw
            return
        found = [raw for _, raw in self._events(author, 0, MAX_SEQ - 1)
                 if _ENVELOPE.decode(raw[SIGNATURE_SIZE:]).payload.event_type.value == type_]
        yield from (reversed(found) if newest_first else found)

    def event_rows(self, author: bytes) -> list[EventRow]:
        """The author's stored events, oldest first (``prev``, ``timestamp_ns`` and ``uri`` read
        from the signed bytes)."""
        out = []
        for seq, raw in self._events(author, 0, MAX_SEQ - 1):
            env = _ENVELOPE.decode(raw[SIGNATURE_SIZE:])
            out.append(EventRow(event_id(raw), author, seq, env.prev, env.timestamp_ns,
                                env.payload.event_type.value, env.uri, raw))
        return out

    def count_events(self, author: bytes | None = None) -> int:
        if author is None:
            return int(self.conn.execute("SELECT coalesce(sum(n), 0) FROM events").fetchone()[0])
        row = self.conn.execute("SELECT coalesce(sum(n), 0) FROM events WHERE key BETWEEN ? AND ?",
                                self._keys(author, 0, MAX_SEQ - 1)).fetchone()
        return int(row[0])

    def snapshot(self, author: bytes) -> Snapshot | None:
        row = self.conn.execute(
            "SELECT horizon_seq, horizon_id, state, state_hash FROM snapshots WHERE author=?", (author,)
        ).fetchone()
        return None if row is None else Snapshot(*row)

    # the read model: the tables, with the changes that wait in memory on top

    def _waiting(self, table: str) -> dict[str, _Change]:
        """The changes of ``table`` not in it yet: committed ones, then the open transaction's."""
        txn = self._txn[table]
        return {**self._dirty[table], **txn} if txn else self._dirty[table]

    def get_object(self, uri: str) -> StoredValue | None:
        waiting = self._txn["objects"].get(uri) or self._dirty["objects"].get(uri)
        if waiting is not None:
            return None if waiting[0] is None else StoredValue(resolved(waiting[0]), waiting[1])  # type: ignore[arg-type]
        row = self.conn.execute("SELECT kind, value, seq FROM objects WHERE uri=?", (uri,)).fetchone()
        return None if row is None else StoredValue(Value(row[0], row[1]), row[2])

    def get_cached(self, uri: str) -> StoredValue | None:
        waiting = self._txn["cache"].get(uri) or self._dirty["cache"].get(uri)
        if waiting is not None:
            value, seq, author = waiting
            return None if value is None else StoredValue(resolved(value), seq, author)  # type: ignore[arg-type]
        row = self.conn.execute("SELECT kind, value, seq, author FROM cache WHERE uri=?", (uri,)).fetchone()
        return None if row is None else StoredValue(Value(row[0], row[1]), row[2], row[3])

    def objects(self) -> dict[str, Value]:
        out = {uri: Value(kind, value) for uri, kind, value in
               self.conn.execute("SELECT uri, kind, value FROM objects")}
        return _with_waiting(out, self._waiting("objects"))

    def cached(self, author: bytes) -> dict[str, Value]:
        out = {uri: Value(kind, value) for uri, kind, value in
               self.conn.execute("SELECT uri, kind, value FROM cache WHERE author=?", (author,))}
        return _with_waiting(out, self._waiting("cache"), author)

    def list_uris(self, pattern: URIPattern | str) -> list[str]:
        """URIs with a value (owned or cached) that match ``pattern``, sorted."""
        if isinstance(pattern, str):
            pattern = URIPattern.parse(pattern)
        uris: set[str] = set()
        for table in _TABLES:
            held = {u: None for (u,) in self.conn.execute(f"SELECT uri FROM {table}")}
            uris.update(_with_waiting(held, self._waiting(table)))
        return sorted(u for u in uris if pattern.matches(u))

    def replace_projection(self, author: bytes, values: Mapping[str, tuple[Value, int]], *,
                           own: bool) -> None:
        """Rewrites the author's rows of the read model (after a replay), in one transaction."""
        with self.transaction():
            self._write_projection()
            self._replace_rows(author, values, own=own)
        self._known["objects" if own else "cache"].clear()  # what the transaction remembered was overwritten

    def _replace_rows(self, author: bytes, values: Mapping[str, tuple[Value, int]], *, own: bool) -> None:
        if own:
            self.conn.execute("DELETE FROM objects")
            self.conn.executemany("INSERT INTO objects VALUES (?, ?, ?, ?)",
                                  [(u, v.kind, v.data, s) for u, (v, s) in values.items()])
        else:
            self.conn.execute("DELETE FROM cache WHERE author=?", (author,))
            self.conn.executemany(
                "INSERT INTO cache(uri, author, kind, value, seq) VALUES (?, ?, ?, ?, ?)",
                [(u, author, v.kind, v.data, s) for u, (v, s) in values.items()],
            )


def _with_waiting(values: dict, waiting: Mapping[str, _Change], author: bytes | None = None) -> dict:
    """``values`` read from a table, with the changes that wait in memory applied (only the
    author's, when one is given)."""
    for uri, (value, _, of) in waiting.items():
        if author is not None and of != author:
            continue
        if value is None:
            values.pop(uri, None)
        else:
            values[uri] = resolved(value)
    return values
