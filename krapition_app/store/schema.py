"""Schema versions and their migrations (``PRAGMA user_version`` holds the version).

A migration is a function of a sqlite-utils ``Database`` run inside one transaction, so a crash
mid-migration leaves the previous version intact. Add a function to :data:`MIGRATIONS`; never edit
one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from ..model.events import SEQ_BITS
from .runs import runs


def _v1(db: sqlite_utils.Database) -> None:
    # every verified event of every author (the seed's event database). Rows go in rowid order
    # and are found by their chain position; there is no index on the random event ids, whose
    # inserts would rewrite pages all over such an index on every commit.
    db["events"].create(
        {"author": bytes, "seq": int, "id": bytes, "prev": bytes, "timestamp_ns": int,
         "type": str, "uri": str, "raw": bytes},
        not_null={"author", "seq", "id", "prev", "timestamp_ns", "type", "uri", "raw"},
    )
    db["events"].create_index(["author", "seq"], unique=True, index_name="events_chain")
    # the chain of each author: its authority binding and head (the high-water mark of its seqs)
    db["authors"].create(
        {"author": bytes, "authority": str, "head_seq": int, "head_id": bytes, "forked": int,
         "checkpoint_id": bytes},
        pk="author", not_null={"authority", "head_seq", "head_id", "forked"},
    )
    db["authors"].create_index(["authority"], unique=True, index_name="authors_authority")
    # the projection at an author's last checkpoint horizon: where a replay starts
    db["snapshots"].create(
        {"author": bytes, "horizon_seq": int, "horizon_id": bytes, "state": bytes, "state_hash": bytes},
        pk="author", not_null={"horizon_seq", "horizon_id", "state", "state_hash"},
    )
    # equivocation proofs: two signed events of one author with the same seq
    db["forks"].create(
        {"author": bytes, "seq": int, "first_id": bytes, "first_raw": bytes, "second_id": bytes,
         "second_raw": bytes},
        pk=("author", "seq", "second_id"), not_null={"first_id", "second_raw"},
    )
    # the current value of every URI this node owns (the seed's distributed database)
    db["objects"].create(
        {"uri": str, "kind": str, "value": bytes, "seq": int},
        pk="uri", not_null={"kind", "value", "seq"},
    )
    # the newest known value of remote URIs and the seq of the author's event it came from
    db["cache"].create(
        {"uri": str, "author": bytes, "kind": str, "value": bytes, "seq": int},
        pk="uri", not_null={"author", "kind", "value", "seq"},
    )
    db["cache"].create_index(["author"], index_name="cache_author")


def _v2(db: sqlite_utils.Database) -> None:
    # the read model (objects, cache) trails the events by a bounded amount and is written out in
    # batches: ``projected_seq`` is the author's seq up to which its stored events are in it (on
    # open, the events after it are replayed into it), ``own`` says which table they go to
    # (objects: this node's chain; cache: a peer's). A database of version 1 is fully projected.
    db.execute("ALTER TABLE authors ADD COLUMN projected_seq INTEGER NOT NULL DEFAULT -1")
    db.execute("ALTER TABLE authors ADD COLUMN own INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE authors SET projected_seq = head_seq")


def _v3(db: sqlite_utils.Database) -> None:
    # a slimmer events table. A row keeps what is not inside the event's signed bytes, or is looked
    # up by: the chain (a small number for the author, ``authors.chain``, instead of its 32-byte key
    # in every row and index entry), the seq, the id (the hash of the bytes), the type (checkpoints
    # are found by it) and the exact bytes. prev, timestamp_ns and uri are in the bytes
    # (``Store.event_rows`` reads them from there). Writing a stored event costs about a third less.
    db.execute("ALTER TABLE authors ADD COLUMN chain INTEGER")
    db.execute("UPDATE authors SET chain = rowid")
    db["authors"].create_index(["chain"], unique=True, index_name="authors_chain")
    db.execute(
        "CREATE TABLE events_v3 (chain INTEGER NOT NULL, seq INTEGER NOT NULL, id BLOB NOT NULL, "
        "type TEXT NOT NULL, raw BLOB NOT NULL)"
    )
    # every event has its author's row (the store refuses an event of an unbound author); were one
    # missing, its NULL chain would fail the migration rather than lose the event
    db.execute("INSERT INTO events_v3(chain, seq, id, type, raw) SELECT a.chain, e.seq, e.id, e.type, e.raw "
               "FROM events e LEFT JOIN authors a ON a.author = e.author ORDER BY e.rowid")
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE events_v3 RENAME TO events")
    db["events"].create_index(["chain", "seq"], unique=True, index_name="events_chain")


def _v4(db: sqlite_utils.Database) -> None:
    # a row holds a run of up to 64 consecutive events of one chain (``store.runs``), keyed by the
    # first one's chain number and seq packed into one integer (``chain << 40 | seq``, the rowid):
    # no second index, no per-event row. The id (the BLAKE2b-256 of the signed bytes) is computed
    # when read (only resends and forks look one up); the types went with the rows, and the
    # checkpoints, looked up by type, are listed by key on their own. Storing an event costs about
    # a third of what it did.
    conn = db.conn
    conn.execute("CREATE TABLE events_v4 (key INTEGER PRIMARY KEY, n INTEGER NOT NULL, raw BLOB NOT NULL)")
    conn.execute("CREATE TABLE checkpoints (key INTEGER PRIMARY KEY)")
    conn.execute(f"INSERT INTO checkpoints(key) SELECT (chain << {SEQ_BITS}) | seq FROM events "
                 "WHERE type = 'ChainCheckpoint'")
    rows = conn.execute("SELECT chain, seq, raw FROM events ORDER BY chain, seq")
    conn.executemany("INSERT INTO events_v4(key, n, raw) VALUES (?, ?, ?)", list(runs(rows)))
    conn.execute("DROP TABLE events")
    conn.execute("ALTER TABLE events_v4 RENAME TO events")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)
