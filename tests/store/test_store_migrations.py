from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from krapition_app.store import Store
from krapition_app.store import database as database_module
from krapition_app.store.schema import MIGRATIONS, SCHEMA_VERSION


def test_a_new_migration_runs_once_and_bumps_the_version(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.sqlite3"
    Store.open(path).close()
    runs: list[int] = []

    def v_next(db: sqlite_utils.Database) -> None:
        runs.append(1)
        db["extra"].create({"k": str}, pk="k")

    monkeypatch.setattr(database_module, "MIGRATIONS", [*MIGRATIONS, v_next])
    monkeypatch.setattr(database_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    for _ in range(2):
        with Store.open(path) as store:
            assert store.schema_version == SCHEMA_VERSION + 1
            assert "extra" in store.db.table_names()
    assert runs == [1]


def test_a_failing_migration_leaves_the_previous_version_intact(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.sqlite3"
    Store.open(path).close()

    def broken(db: sqlite_utils.Database) -> None:
        db["half"].create({"k": str}, pk="k")
        db["half"].create_index(["k"], index_name="half_k")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(database_module, "MIGRATIONS", [*MIGRATIONS, broken])
    monkeypatch.setattr(database_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError, match="migration bug"):
        Store.open(path)
    monkeypatch.undo()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert "half" not in store.db.table_names()
