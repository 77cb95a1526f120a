"""A damaged database file gives a precise error and a way forward, never a silent loss."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from krapition_app.model.events import ObjectCreated
from krapition_app.p2p.clock import MockClock
from krapition_app.p2p.ledger import EventLedger
from krapition_app.p2p.testing import ball, object_uri, seeded_identity
from krapition_app.paths import AppPaths
from krapition_app.store import DB_FILE_NAME, CorruptDatabaseError, SchemaVersionError, Store, move_aside
from krapition_app.store.database import PAGE_SIZE


def _filled(path: Path, n: int = 300) -> None:
    with Store.open(path) as store:
        ledger = EventLedger(store, seeded_identity("x"), "x.local:9000", clock=MockClock())
        ledger.start()
        for i in range(0, n, 10):
            names = [f"b{i + j}" for j in range(10)]
            ledger.append_many([(object_uri("x.local:9000", n), ObjectCreated(body=ball(n))) for n in names])
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0


def _damage_and_check(path: Path, damage: bytes | None = None, truncate_to: int | None = None) -> None:
    original = path.read_bytes()
    if truncate_to is not None:
        path.write_bytes(original[:truncate_to])
    if damage is not None:
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle : middle + len(damage)] = damage
        path.write_bytes(bytes(data))
    broken = path.read_bytes()
    with pytest.raises(CorruptDatabaseError) as info:
        Store.open(path)
    error = info.value
    assert error.path == path and "move it aside" in str(error)
    assert path.read_bytes() == broken, "opening a damaged file must not change it"
    aside = error.move_aside(stamp="test")
    assert not path.exists() and aside.read_bytes() == broken
    assert aside.name == f"{DB_FILE_NAME}.corrupt-test"
    with Store.open(path) as fresh:  # the way forward: a new database
        assert fresh.count_events() == 0 and fresh.integrity_check() == "ok"


@pytest.fixture
def db(home: AppPaths) -> Path:
    path = home.data / DB_FILE_NAME
    _filled(path)
    return path


def test_truncated_file(db: Path) -> None:
    _damage_and_check(db, truncate_to=db.stat().st_size // 2)


def test_truncated_inside_the_header(db: Path) -> None:
    _damage_and_check(db, truncate_to=60)


def test_garbage_in_the_middle(db: Path) -> None:
    # a page's worth: it spans a page header wherever it lands (garbage inside one event's signed
    # bytes is a structurally sound file; the bytes' signature finds that)
    _damage_and_check(db, damage=b"\xde\xad\xbe\xef" * (PAGE_SIZE // 4))


def test_not_a_database(home: AppPaths) -> None:
    path = home.data / DB_FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is a text file, not a database\n" * 10)
    _damage_and_check(path)


def test_move_aside_takes_side_files_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    for suffix, data in (("", b"db"), ("-wal", b"wal"), ("-shm", b"shm")):
        Path(str(path) + suffix).write_bytes(data)
    first = move_aside(path, "s")
    path.write_bytes(b"db2")
    second = move_aside(path, "s")
    assert first != second and first.read_bytes() == b"db" and second.read_bytes() == b"db2"
    assert Path(str(first) + "-wal").read_bytes() == b"wal"
    assert Path(str(first) + "-shm").read_bytes() == b"shm"


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(SchemaVersionError):
        Store.open(path)
