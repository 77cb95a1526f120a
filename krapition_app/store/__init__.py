"""Storage (sqlite through sqlite-utils): owned objects, events of every chain, cache of remote objects.

Knows sqlite and the model only: events arrive here verified and signed, as exact bytes.
"""

from .database import DB_FILE_NAME, AuthorRow, EventRow, NewEvent, Snapshot, Store, StoredValue, move_aside
from .errors import (
    CorruptDatabaseError,
    InvalidSnapshotError,
    SchemaVersionError,
    StoreError,
    StoreIntegrityError,
)
from .projection import Projection, Value

__all__ = [
    "DB_FILE_NAME",
    "AuthorRow",
    "CorruptDatabaseError",
    "EventRow",
    "InvalidSnapshotError",
    "NewEvent",
    "Projection",
    "SchemaVersionError",
    "Snapshot",
    "Store",
    "StoreError",
    "StoreIntegrityError",
    "StoredValue",
    "Value",
    "move_aside",
]
