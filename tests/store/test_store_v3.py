"""Schema v3 (slim events table with chain numbers), commits of peers' events, and the read model's
unencoded bodies: the store holds exactly what a replay gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from store_files import bind_author, old_version_file

from krapition_app.model.events import BodyState as MovedBody
from krapition_app.model.events import (
    ConstraintApplied,
    EventEnvelope,
    ObjectCreated,
    ObjectDeleted,
    ObjectMoved,
)
from krapition_app.model.scene import BallSocketSpec
from krapition_app.p2p.testing import ball, build_chain, node_uri, object_uri, seeded_identity, start_payload
from krapition_app.store import DB_FILE_NAME, EventRow, NewEvent, Store, StoreIntegrityError
from krapition_app.store import database as database_module
from krapition_app.store.projection import Projection
from krapition_app.store.schema import SCHEMA_VERSION

ID, PEER = seeded_identity("v3-own"), seeded_identity("v3-peer")
AUTH, PEER_AUTH = "v3.local:9000", "v3-peer.local:9000"


def _rows(identity, authority: str, items: list) -> list[tuple[EventRow, EventEnvelope]]:  # type: ignore[no-untyped-def]
    return [(EventRow(e.id, e.author, e.seq, e.prev, e.timestamp_ns, str(e.type), e.uri, e.raw), e.envelope)
            for e in build_chain(identity, authority, items)]


def _items(authority: str, identity, n: int) -> list:  # type: ignore[no-untyped-def]
    out: list = [(node_uri(identity, authority), start_payload(authority))]
    out += [(object_uri(authority, f"b{i}"), ObjectCreated(body=ball(f"b{i}"))) for i in range(n)]
    return out


def test_a_version_2_database_is_migrated_with_its_events(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    conn = old_version_file(path, 2)
    own, peer = _rows(ID, AUTH, _items(AUTH, ID, 5)), _rows(PEER, PEER_AUTH, _items(PEER_AUTH, PEER, 3))
    for author, authority, rows in ((PEER.public_key, PEER_AUTH, peer), (ID.public_key, AUTH, own)):
        bind_author(conn, author, authority, rows, own=author == ID.public_key)
        conn.executemany("INSERT INTO events(id, author, seq, prev, timestamp_ns, type, uri, raw) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [row for row, _ in rows])
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        assert store.event_rows(ID.public_key) == [row for row, _ in own]
        assert store.event_rows(PEER.public_key) == [row for row, _ in peer]
        columns = [c[1] for c in store.conn.execute("PRAGMA table_info(events)")]
        assert columns == ["key", "n", "raw"]
        assert store.integrity_check() == "ok"
        more = _rows(ID, AUTH, _items(AUTH, ID, 7))[6:]
        store.append(more, own=True)
        assert store.event_rows(ID.public_key) == [row for row, _ in own + more]
        assert store.count_events(PEER.public_key) == len(peer)
        assert sorted(c for (c,) in store.conn.execute("SELECT chain FROM authors")) == [1, 2]


def test_rows_of_either_shape_store_the_same(tmp_path: Path) -> None:
    rows = _rows(ID, AUTH, _items(AUTH, ID, 4))
    slim = [(NewEvent(r.id, r.author, r.seq, r.type, r.raw), env) for r, env in rows]
    with Store.open(tmp_path / "a.sqlite3") as a, Store.open(tmp_path / "b.sqlite3") as b:
        a.append(rows, own=True, new_authors={ID.public_key: AUTH})
        b.append(slim, own=True, new_authors={ID.public_key: AUTH})
        assert a.event_rows(ID.public_key) == b.event_rows(ID.public_key) == [r for r, _ in rows]
        with pytest.raises(StoreIntegrityError, match="no authority binding"):
            a.append(_rows(PEER, PEER_AUTH, _items(PEER_AUTH, PEER, 1)), own=False)
        assert a.count_events(PEER.public_key) == 0


def test_a_rolled_back_binding_does_not_keep_its_chain_number(tmp_path: Path) -> None:
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        peer = _rows(PEER, PEER_AUTH, _items(PEER_AUTH, PEER, 2))
        with pytest.raises(RuntimeError), store.transaction():
            store.bind_authors({PEER.public_key: PEER_AUTH})
            store.insert_events(peer, own=False)
            raise RuntimeError("abort")
        store.append(_rows(ID, AUTH, _items(AUTH, ID, 2)), own=True, new_authors={ID.public_key: AUTH})
        store.append(peer, own=False, new_authors={PEER.public_key: PEER_AUTH})
        assert [r.seq for r in store.event_rows(ID.public_key)] == [0, 1, 2]
        assert [r.seq for r in store.event_rows(PEER.public_key)] == [0, 1, 2]


def test_peers_events_commit_without_waiting_for_the_disk_and_ours_with(tmp_path: Path) -> None:
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        synchronous = lambda: store.conn.execute("PRAGMA synchronous").fetchone()[0]  # noqa: E731
        assert synchronous() == 2  # FULL
        store.append(_rows(PEER, PEER_AUTH, _items(PEER_AUTH, PEER, 2)), own=False,
                     new_authors={PEER.public_key: PEER_AUTH})
        assert synchronous() == 1  # NORMAL: a replica, fetched again from peers after a power loss
        store.append(_rows(ID, AUTH, _items(AUTH, ID, 2)), own=True, new_authors={ID.public_key: AUTH})
        assert synchronous() == 2  # our own chain: FULL before it leaves the node
        store.record_fork(PEER.public_key, 1, bytes(32), bytes(32), b"x")
        assert synchronous() == 2


@pytest.mark.parametrize("seed", range(6))
def test_the_read_model_with_unencoded_bodies_is_the_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            seed: int) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(database_module, "PROJECTION_FLUSH_EVENTS", rng.choice([3, 7, 50]))
    names = [f"b{i}" for i in range(5)]
    items: list = [(node_uri(ID, AUTH), start_payload(AUTH))]
    for tick in range(120):
        roll, name = rng.random(), rng.choice(names)
        uri = object_uri(AUTH, name)
        if roll < 0.3:
            items.append((uri, ObjectCreated(body=ball(name, x=rng.uniform(-5, 5)))))
        elif roll < 0.4:
            items.append((uri, ObjectDeleted()))
        elif roll < 0.45:
            constraint = BallSocketSpec(name="c", body_a=name)
            items.append((f"krapition://{AUTH}/physics/constraints/c",
                          ConstraintApplied(constraint=constraint, active=rng.random() < 0.7)))
        else:
            moved = tuple(MovedBody(name=rng.choice([*names, "ghost"]),
                                    position=(rng.uniform(-1, 1), 0.0, float(tick)),
                                    velocity=(0.0, rng.uniform(-1, 1), 0.0))
                          for _ in range(rng.randint(1, 3)))
            items.append((node_uri(ID, AUTH), ObjectMoved(tick=tick, bodies=moved)))
    rows = _rows(ID, AUTH, items)
    path = tmp_path / DB_FILE_NAME
    store = Store.open(path)
    store.bind_authors({ID.public_key: AUTH})
    i = 0
    while i < len(rows):
        n = rng.randint(1, 9)
        store.append(rows[i : i + n], own=True, new_authors={ID.public_key: AUTH})
        i += n
        projection = Projection()
        for _, env in rows[:i]:
            projection.apply(env)
        assert store.objects() == projection.values
        for uri, value in projection.values.items():
            stored = store.get_object(uri)
            assert stored is not None and stored.value == value and stored.seq == projection.seqs[uri]
    store.conn.close()  # as a kill -9: the tables hold what was written out, a reopen replays the rest
    with Store.open(path) as again:
        rows_now = again.conn.execute("SELECT uri, kind, value FROM objects")
        table = {uri: (kind, value) for uri, kind, value in rows_now}
        assert table == {uri: tuple(v) for uri, v in projection.values.items()}


def test_a_version_3_database_is_migrated_to_packed_keys_with_its_events(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    conn = old_version_file(path, 3)
    own, peer = _rows(ID, AUTH, _items(AUTH, ID, 6)), _rows(PEER, PEER_AUTH, _items(PEER_AUTH, PEER, 4))
    bind_author(conn, PEER.public_key, PEER_AUTH, peer, own=False, chain=1)
    bind_author(conn, ID.public_key, AUTH, own, own=True, chain=2)
    # interleaved, as two chains arrive: the migration orders them by chain and seq
    for row, _ in [r for pair in zip(own, peer, strict=False) for r in pair] + own[len(peer):]:
        chain = 2 if row.author == ID.public_key else 1
        conn.execute("INSERT INTO events(chain, seq, id, type, raw) VALUES (?, ?, ?, ?, ?)",
                     (chain, row.seq, row.id, row.type, row.raw))
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.event_rows(ID.public_key) == [row for row, _ in own]
        assert store.event_rows(PEER.public_key) == [row for row, _ in peer]
        assert store.event_id_at(ID.public_key, 3) == own[3][0].id
        assert store.event_id_at(ID.public_key, 99) is None
        assert store.first_seq(PEER.public_key) == 0 and store.count_events(PEER.public_key) == len(peer)
        assert list(store.raw_events(ID.public_key, 2, 4)) == [row.raw for row, _ in own[2:5]]
        assert store.integrity_check() == "ok"


def test_a_seq_the_packed_key_cannot_hold_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    from krapition_app.model.events import MAX_SEQ

    with pytest.raises(ValueError, match="seq must be in"):
        EventEnvelope(author=ID.public_key, seq=MAX_SEQ, prev=bytes(32), timestamp_ns=1,
                      uri=object_uri(AUTH, "b"), payload=ObjectDeleted())
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        rows = _rows(ID, AUTH, _items(AUTH, ID, 2))
        store.append(rows, own=True, new_authors={ID.public_key: AUTH})
        (last, env) = rows[-1]
        # a row past the limit (a model that checked less): the store refuses it, keeps the rest
        forged = (NewEvent(last.id, last.author, MAX_SEQ, last.type, last.raw), env)
        with pytest.raises(StoreIntegrityError, match="outside"):
            store.append([forged], own=True)
        assert [r.seq for r in store.event_rows(ID.public_key)] == [0, 1, 2]
