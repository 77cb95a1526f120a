"""Database files as older Krapition versions left them, for the migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from krapition_app.store.schema import MIGRATIONS


def old_version_file(path: Path, version: int) -> sqlite3.Connection:
    """A database file at schema ``version``, as an older Krapition left it (no authors yet)."""
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for migration in MIGRATIONS[:version]:
        migration(db)
    conn.execute(f"PRAGMA user_version={version}")
    return conn


def bind_author(conn: sqlite3.Connection, author: bytes, authority: str, rows: list, *, own: bool,
                chain: int | None = None) -> None:
    """The author's row as that version kept it: head at the last of ``rows``, fully projected."""
    columns = "author, authority, head_seq, head_id, forked, projected_seq, own"
    values = "?, ?, ?, ?, 0, ?, ?"
    params: tuple = (author, authority, rows[-1][0].seq, rows[-1][0].id, rows[-1][0].seq, int(own))
    if chain is not None:
        columns, values, params = columns + ", chain", values + ", ?", (*params, chain)
    conn.execute(f"INSERT INTO authors({columns}) VALUES ({values})", params)
