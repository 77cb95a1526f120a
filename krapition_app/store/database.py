"""The node's sqlite database (through sqlite-utils): events of every chain, owned objects, cache.

One file, WAL mode, ``synchronous=FULL``: a transaction that returned is on disk, so an event of
our own chain is durable before it leaves the node, and a sequence number is never handed out twice
(the authors table keeps each chain's head, updated in the same transaction as the events).

A damaged file raises :class:`CorruptDatabaseError` on open and is never rewritten: the caller
offers :func:`move_aside` and starts a fresh database.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import sqlite_utils

from ..model.events import EventEnvelope
from ..model.uri import URIPattern
from .errors import CorruptDatabaseError, SchemaVersionError, StoreIntegrityError
from .projection import Value, changes_of, looked_up_uris
from .schema import MIGRATIONS, SCHEMA_VERSION

DB_FILE_NAME = "krapition.sqlite3"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm", "-journal")
NO_HASH = bytes(32)
CACHE_KIB = 32 * 1024
#: WAL pages between automatic checkpoints (sqlite's default is 1000). A checkpoint runs inside the
#: commit that crosses the mark; rarer ones write the pages that every chunk rewrites (the read
#: model, index pages, the authors row) to the database file less often: about 15 % less time per
#: stored chunk, for a WAL file of up to 16 MiB at 4 KiB pages
WAL_AUTOCHECKPOINT_PAGES = 4000
#: at most this many ``?`` in one ``IN (...)`` (sqlite allows 32766 since 3.32, 999 before)
_IN_LIMIT = 900
#: at most this many read-model values are kept in memory per table (then it starts over)
KNOWN_VALUES = 50_000


class EventRow(NamedTuple):
    """One stored event: its chain position and the exact signed bytes."""

    id: bytes
    author: bytes
    seq: int
    prev: bytes
    timestamp_ns: int
    type: str
    uri: str
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
        #: is not read back from the table it was just written to; only what a transaction of this
        #: Store committed goes in (one process writes a file), and a rebuild empties it
        self._known: dict[str, dict[str, Value | None]] = {"objects": {}, "cache": {}}
        #: what the open transaction will add to ``_known`` once it commits
        self._staged: list[tuple[str, dict[str, Value | None]]] = []

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
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            if check:
                rows = conn.execute("PRAGMA quick_check").fetchall()
                if rows != [("ok",)]:
                    raise CorruptDatabaseError(path, "; ".join(str(r[0]) for r in rows[:5]))
            store = cls(conn, path)
            store._migrate()
            return store
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptDatabaseError(path, str(exc)) from None
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; it is on disk (synchronous=FULL) when the block exits normally."""
        self.conn.execute("BEGIN IMMEDIATE")
        self._staged = []
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self._staged = []
            if self.conn.in_transaction:  # a failed COMMIT can leave the transaction open
                self.conn.execute("ROLLBACK")
            raise
        staged, self._staged = self._staged, []
        for table, values in staged:
            known = self._known[table]
            if len(known) + len(values) > KNOWN_VALUES:
                known.clear()
            known.update(values)

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

    def append(self, events: Sequence[tuple[EventRow, EventEnvelope]], *, own: bool,
               new_authors: Mapping[bytes, str] | None = None) -> None:
        """Stores verified events and applies them to the projection, in one transaction.

        ``own``: the events are this node's (they update ``objects``; otherwise ``cache``).
        ``new_authors``: authority bindings to record first. Own events must extend the head:
        a sequence number at or below it raises :class:`StoreIntegrityError` (nothing is written).
        """
        with self.transaction():
            self.bind_authors(new_authors)
            self.insert_events(events, own=own)

    def bind_authors(self, new_authors: Mapping[bytes, str] | None) -> None:
        """Records authority bindings (inside :meth:`transaction`); a known author is left alone."""
        if new_authors:
            self.conn.executemany(
                "INSERT OR IGNORE INTO authors(author, authority, head_seq, head_id, forked) "
                "VALUES (?, ?, -1, ?, 0)", [(author, authority, NO_HASH) for author, authority in
                                            new_authors.items()],
            )

    def insert_events(self, events: Sequence[tuple[EventRow, EventEnvelope]], *, own: bool) -> None:
        """The body of :meth:`append`, inside a :meth:`transaction` the caller holds (a writer may
        add a chunk in several calls and commit once). Raises :class:`StoreIntegrityError` as
        :meth:`append` does; the caller rolls back."""
        if not events:
            return
        conn = self.conn
        heads: dict[bytes, tuple[int, bytes]] = {}
        firsts: dict[bytes, int] = {}
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
        try:
            conn.executemany(
                "INSERT INTO events(id, author, seq, prev, timestamp_ns, type, uri, raw) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [row for row, _ in events],
            )
        except sqlite3.IntegrityError as exc:
            raise StoreIntegrityError(f"an event is already stored: {exc}") from None
        for author, (seq, event_id) in heads.items():
            cur = conn.execute(
                "UPDATE authors SET head_seq=?, head_id=? WHERE author=? AND head_seq<?",
                (seq, event_id, author, seq),
            )
            if cur.rowcount == 0 and self.author(author) is None:
                raise StoreIntegrityError(f"author {author.hex()[:12]} has no authority binding")
        self._project(events, own)

    def _project(self, events: Sequence[tuple[EventRow, EventEnvelope]], own: bool) -> None:
        """Applies the events to the read model: each URI is written once per call (the last
        change wins), and the values moved bodies start from are read in one query."""
        table = "objects" if own else "cache"
        conn = self.conn
        known = self._known[table]
        wanted: set[str] = set()
        for _, envelope in events:
            for uri in looked_up_uris(envelope):
                if uri not in known:
                    wanted.add(uri)
        # read in this transaction (so maybe written by an earlier part of it): staged, not known yet
        stored: dict[str, Value | None] = dict.fromkeys(wanted)
        if wanted:
            uris = list(wanted)
            for i in range(0, len(uris), _IN_LIMIT):
                part = uris[i : i + _IN_LIMIT]
                marks = ",".join("?" * len(part))
                for uri, kind, value in conn.execute(
                    f"SELECT uri, kind, value FROM {table} WHERE uri IN ({marks})", part
                ):
                    stored[uri] = Value(kind, value)
        pending: dict[str, tuple[Value | None, int, bytes]] = {}

        def lookup(uri: str) -> Value | None:
            found = pending.get(uri)
            if found is not None:
                return found[0]
            if uri in stored:
                return stored[uri]
            return known[uri]

        for row, envelope in events:
            changes = changes_of(envelope, lookup)
            if changes:
                seq, author = row[2], row[1]
                for uri, value in changes:
                    pending[uri] = (value, seq, author)
        if own:
            upserts: list[tuple] = [(uri, v.kind, v.data, seq) for uri, (v, seq, _) in pending.items() if v]
            conn.executemany(
                "INSERT INTO objects(uri, kind, value, seq) VALUES (?, ?, ?, ?) ON CONFLICT(uri) "
                "DO UPDATE SET kind=excluded.kind, value=excluded.value, seq=excluded.seq",
                upserts,
            )
        else:
            upserts = [(uri, v.kind, v.data, seq, author) for uri, (v, seq, author) in pending.items() if v]
            conn.executemany(
                "INSERT INTO cache(uri, kind, value, seq, author) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(uri) DO UPDATE SET kind=excluded.kind, value=excluded.value, "
                "seq=excluded.seq, author=excluded.author",
                upserts,
            )
        deletes = [(uri,) for uri, (v, _, _) in pending.items() if v is None]
        if deletes:
            conn.executemany(f"DELETE FROM {table} WHERE uri=?", deletes)
        stored.update((uri, v) for uri, (v, _, _) in pending.items())
        self._staged.append((table, stored))

    def record_fork(self, author: bytes, seq: int, first_id: bytes, second_id: bytes,
                    second_raw: bytes) -> None:
        """Keeps both events of an equivocation as proof and marks the author forked."""
        with self.transaction():
            first = self.conn.execute("SELECT raw FROM events WHERE author=? AND seq=? AND id=?",
                                      (author, seq, first_id)).fetchone()
            self.conn.execute(
                "INSERT OR IGNORE INTO forks VALUES (?, ?, ?, ?, ?, ?)",
                (author, seq, first_id, None if first is None else first[0], second_id, second_raw),
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
            return self._compact(author, snapshot, checkpoint_id)

    def _compact(self, author: bytes, snapshot: Snapshot, checkpoint_id: bytes) -> int:
        cur = self.conn.execute("DELETE FROM events WHERE author=? AND seq<=?",
                                (author, snapshot.horizon_seq))
        self.conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?)", (author, *snapshot))
        self.conn.execute("UPDATE authors SET checkpoint_id=? WHERE author=?", (checkpoint_id, author))
        return cur.rowcount

    def install_snapshot(self, author: bytes, snapshot: Snapshot, checkpoint_id: bytes,
                         values: Mapping[str, tuple[Value, int]], *, own: bool) -> int:
        """A peer's snapshot becomes the author's base: :meth:`compact` and
        :meth:`replace_projection` (``values``: the state at the head, the snapshot plus the stored
        tail) in one transaction, so a crash never leaves the base without its read side."""
        self._known["objects" if own else "cache"].clear()
        with self.transaction():
            dropped = self._compact(author, snapshot, checkpoint_id)
            self._replace_rows(author, values, own=own)
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
        row = self.conn.execute("SELECT id FROM events WHERE author=? AND seq=?", (author, seq)).fetchone()
        return None if row is None else row[0]

    def raw_events(self, author: bytes, from_seq: int = 0, to_seq: int | None = None) -> Iterator[bytes]:
        """The exact signed bytes of the author's stored events, oldest first."""
        upper = 2**63 - 1 if to_seq is None else to_seq
        for (raw,) in self.conn.execute(
            "SELECT raw FROM events WHERE author=? AND seq>=? AND seq<=? ORDER BY seq",
            (author, from_seq, upper),
        ):
            yield raw

    def first_seq(self, author: bytes) -> int | None:
        """The lowest seq of the author's stored events (None: none stored)."""
        row = self.conn.execute("SELECT min(seq) FROM events WHERE author=?", (author,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def raw_events_of_type(self, author: bytes, type_: str, *, newest_first: bool = True) -> Iterator[bytes]:
        """The exact bytes of the author's stored events of one type (e.g. "ChainCheckpoint")."""
        order = "DESC" if newest_first else "ASC"
        for (raw,) in self.conn.execute(
            f"SELECT raw FROM events WHERE author=? AND type=? ORDER BY seq {order}", (author, type_)
        ):
            yield raw

    def event_rows(self, author: bytes) -> list[EventRow]:
        return [EventRow(*r) for r in self.conn.execute(
            "SELECT id, author, seq, prev, timestamp_ns, type, uri, raw FROM events WHERE author=? "
            "ORDER BY seq", (author,),
        )]

    def count_events(self, author: bytes | None = None) -> int:
        if author is None:
            return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])
        return int(self.conn.execute("SELECT count(*) FROM events WHERE author=?", (author,)).fetchone()[0])

    def snapshot(self, author: bytes) -> Snapshot | None:
        row = self.conn.execute(
            "SELECT horizon_seq, horizon_id, state, state_hash FROM snapshots WHERE author=?", (author,)
        ).fetchone()
        return None if row is None else Snapshot(*row)

    def get_object(self, uri: str) -> StoredValue | None:
        row = self.conn.execute("SELECT kind, value, seq FROM objects WHERE uri=?", (uri,)).fetchone()
        return None if row is None else StoredValue(Value(row[0], row[1]), row[2])

    def get_cached(self, uri: str) -> StoredValue | None:
        row = self.conn.execute("SELECT kind, value, seq, author FROM cache WHERE uri=?", (uri,)).fetchone()
        return None if row is None else StoredValue(Value(row[0], row[1]), row[2], row[3])

    def objects(self) -> dict[str, Value]:
        return {uri: Value(kind, value) for uri, kind, value in
                self.conn.execute("SELECT uri, kind, value FROM objects")}

    def cached(self, author: bytes) -> dict[str, Value]:
        return {uri: Value(kind, value) for uri, kind, value in
                self.conn.execute("SELECT uri, kind, value FROM cache WHERE author=?", (author,))}

    def list_uris(self, pattern: URIPattern | str) -> list[str]:
        """URIs with a value (owned or cached) that match ``pattern``, sorted."""
        if isinstance(pattern, str):
            pattern = URIPattern.parse(pattern)
        uris = [u for (u,) in self.conn.execute("SELECT uri FROM objects UNION SELECT uri FROM cache")]
        return sorted(u for u in uris if pattern.matches(u))

    def replace_projection(self, author: bytes, values: Mapping[str, tuple[Value, int]], *,
                           own: bool) -> None:
        """Rewrites the author's rows of the read model (after a replay), in one transaction."""
        self._known["objects" if own else "cache"].clear()
        with self.transaction():
            self._replace_rows(author, values, own=own)

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
