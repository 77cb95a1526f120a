"""Exact errors of the store. Each says which file and what to do next."""

from __future__ import annotations

from pathlib import Path

from ..model.errors import KrapitionError


class StoreError(KrapitionError):
    """Root of the store's errors."""


class CorruptDatabaseError(StoreError):
    """The database file is damaged or truncated (or is not a Krapition database at all).

    Nothing was changed. The way forward is :func:`krapition_app.store.database.move_aside`
    (``error.move_aside()``): the file is renamed next to itself, kept for inspection, and a fresh
    database starts; the node then fetches its peers' chains again. Our own chain is lost only if
    no peer holds a replica.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"the database {path} is damaged ({reason}); move it aside to start a new one "
            "(it is kept for inspection)"
        )
        self.path = Path(path)
        self.reason = reason

    def move_aside(self, stamp: str | None = None) -> Path:
        from .database import move_aside

        return move_aside(self.path, stamp)


class SchemaVersionError(StoreError):
    """The database was written by a newer Krapition (its schema version is unknown here)."""


class StoreIntegrityError(StoreError):
    """A write would break an invariant of the stored chains (e.g. a sequence number reused)."""


class InvalidSnapshotError(StoreError, ValueError):
    """Snapshot bytes (the projection at a checkpoint's horizon, from a peer) are malformed, not in
    canonical form, or do not hash to the state hash the author signed in its checkpoint.

    ``code``: "malformed", "not-canonical", "bad-row" or "hash-mismatch" (for counters)."""

    def __init__(self, message: str, code: str = "malformed") -> None:
        super().__init__(message)
        self.code = code
