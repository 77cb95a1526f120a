from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from krapition_app.model.events import BodyState as MovedBody
from krapition_app.model.events import EventEnvelope, ObjectCreated, ObjectMoved
from krapition_app.model.scene import BodySpec
from krapition_app.p2p.testing import ball, build_chain, node_uri, object_uri, seeded_identity, start_payload
from krapition_app.store import DB_FILE_NAME, EventRow, Store, StoreIntegrityError
from krapition_app.store import database as database_module
from krapition_app.store.projection import BODY, Projection
from krapition_app.store.schema import SCHEMA_VERSION

AUTH = "s.local:9000"
ID = seeded_identity("store")


def rows(n: int) -> list[tuple[EventRow, EventEnvelope]]:
    items: list = [(node_uri(ID, AUTH), start_payload(AUTH))]
    items += [(object_uri(AUTH, f"b{i}"), ObjectCreated(body=ball(f"b{i}"))) for i in range(n - 1)]
    return [
        (EventRow(e.id, e.author, e.seq, e.prev, e.timestamp_ns, str(e.type), e.uri, e.raw), e.envelope)
        for e in build_chain(ID, AUTH, items)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store.open(tmp_path / DB_FILE_NAME) as s:
        yield s  # type: ignore[misc]


def test_wal_full_sync_and_schema(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version == SCHEMA_VERSION
    assert {"events", "authors", "snapshots", "forks", "objects", "cache"} <= set(store.db.table_names())


def test_append_projects_objects_in_the_same_transaction(store: Store) -> None:
    batch = rows(4)
    store.append(batch, own=True, new_authors={ID.public_key: AUTH})
    assert store.count_events() == 4
    assert store.author(ID.public_key).head_seq == 3  # type: ignore[union-attr]
    assert set(store.objects()) == {object_uri(AUTH, f"b{i}") for i in range(3)}
    stored = store.get_object(object_uri(AUTH, "b1"))
    assert stored is not None and stored.value.kind == BODY and stored.seq == 2
    projection = Projection()
    for _, env in batch:
        projection.apply(env)
    assert projection.values == store.objects()


def test_a_sequence_number_is_never_reused(store: Store) -> None:
    batch = rows(4)
    store.append(batch[:3], own=True, new_authors={ID.public_key: AUTH})
    before = store.count_events()
    with pytest.raises(StoreIntegrityError):
        store.append(batch[2:], own=True)  # seq 2 again
    assert store.count_events() == before  # the whole batch was rolled back
    store.append(batch[3:], own=True)
    assert store.count_events() == 4


def test_events_of_an_unbound_author_are_refused(store: Store) -> None:
    with pytest.raises(StoreIntegrityError):
        store.append(rows(1), own=False)
    assert store.count_events() == 0


def test_list_uris_matches_owned_and_cached(store: Store) -> None:
    store.append(rows(3), own=True, new_authors={ID.public_key: AUTH})
    assert store.list_uris(f"krapition://{AUTH}/physics/objects/*") == [object_uri(AUTH, "b0"),
                                                                      object_uri(AUTH, "b1")]
    assert store.list_uris("krapition://other.local:1/physics/objects/*") == []


def test_moved_body_fast_path_equals_the_validating_one() -> None:
    from krapition_app.model.encoding import encode
    from krapition_app.model.events import BodyState
    from krapition_app.store.projection import moved_body, moved_body_checked

    for body in (ball("b1", x=0.25), BodySpec(name="x", shape="box", half_extents=(0.1, 0.2, 0.3),
                                                  static=True, velocity=(1.0, -2.0, 0.0))):
        state = BodyState(name=body.name, position=(-1.5, 2.0, 3.25), orientation=(0.0, 1.0, 0.0, 0.0),
                          velocity=(0.0, -0.0, 1e-9), angular_velocity=(3.0, 2.0, 1.0))
        assert moved_body(encode(body), state) == moved_body_checked(encode(body), state)


def test_a_rolled_back_delete_does_not_hide_the_body_from_the_next_move(store: Store) -> None:
    from krapition_app.model.encoding import encode
    from krapition_app.model.events import BodyState, ObjectDeleted, ObjectMoved
    from krapition_app.store.projection import moved_body

    node, uri = node_uri(ID, AUTH), object_uri(AUTH, "b1")
    state = BodyState(name="b1", position=(1.0, 2.0, 3.0), velocity=(0.5, 0.0, 0.0))
    events = build_chain(ID, AUTH, [(node, start_payload(AUTH)), (uri, ObjectCreated(body=ball("b1"))),
                                    (uri, ObjectDeleted()), (node, ObjectMoved(tick=1, bodies=(state,)))])
    pairs = [(EventRow(e.id, e.author, e.seq, e.prev, e.timestamp_ns, str(e.type), e.uri, e.raw), e.envelope)
             for e in events]
    store.append(pairs[:2], own=True, new_authors={ID.public_key: AUTH})
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_events(pairs[2:3], own=True)  # deletes b1, then fails: rolled back
        raise RuntimeError("the commit fails")
    assert store.get_object(uri) is not None
    store.append([(pairs[3][0]._replace(seq=2), pairs[3][1])], own=True)
    stored = store.get_object(uri)
    assert stored is not None and stored.value.data == moved_body(encode(ball("b1")), state)


def _table(store: Store) -> dict:
    rows = store.conn.execute("SELECT uri, kind, value FROM objects")
    return {uri: (kind, value) for uri, kind, value in rows}


def _replayed(batch: list[tuple[EventRow, EventEnvelope]]) -> dict:
    projection = Projection()
    for _, env in batch:
        projection.apply(env)
    return projection.values


def _moving_rows() -> list[tuple[EventRow, EventEnvelope]]:
    items: list = [(node_uri(ID, AUTH), start_payload(AUTH))]
    items += [(object_uri(AUTH, f"b{i}"), ObjectCreated(body=ball(f"b{i}"))) for i in range(3)]
    items += [(node_uri(ID, AUTH), ObjectMoved(tick=t, bodies=(
        MovedBody(name=f"b{t % 3}", position=(float(t), 0.0, 1.0)),))) for t in range(6)]
    return [
        (EventRow(e.id, e.author, e.seq, e.prev, e.timestamp_ns, str(e.type), e.uri, e.raw), e.envelope)
        for e in build_chain(ID, AUTH, items)
    ]


def test_the_read_model_waits_in_memory_and_a_reopen_replays_it(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    batch = _moving_rows()
    store = Store.open(path)
    store.append(batch, own=True, new_authors={ID.public_key: AUTH})
    assert _table(store) == {}  # not written out yet ...
    assert store.objects() == _replayed(batch)  # ... but every read of this Store sees it
    assert store.get_object(object_uri(AUTH, "b1")).seq == 8  # type: ignore[union-attr]
    assert store.list_uris(f"krapition://{AUTH}/physics/objects/*") == sorted(_replayed(batch))
    store.conn.close()  # as a kill -9: nothing written out on the way
    with Store.open(path) as again:
        assert _table(again) == _replayed(batch)
        marks = again.conn.execute("SELECT projected_seq, head_seq, own FROM authors").fetchall()
        assert marks == [(9, 9, 1)]



def test_a_clean_close_writes_the_read_model_out(tmp_path: Path) -> None:
    batch = _moving_rows()
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        store.append(batch, own=True, new_authors={ID.public_key: AUTH})
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    rows = conn.execute("SELECT uri, kind, value FROM objects")
    objects = {uri: (kind, value) for uri, kind, value in rows}
    assert objects == _replayed(batch)
    assert conn.execute("SELECT projected_seq, head_seq FROM authors").fetchall() == [(9, 9)]
    conn.close()


def test_the_read_model_is_written_out_past_the_mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "PROJECTION_FLUSH_EVENTS", 3)
    batch = _moving_rows()
    with Store.open(tmp_path / DB_FILE_NAME) as store, store.transaction():
        # one transaction, several inserts (as the pipelined writer): the first write-out happens
        # inside it, and the bodies moved after it start from the values it wrote
        store.bind_authors({ID.public_key: AUTH})
        for i in range(0, len(batch), 2):
            store.insert_events(batch[i : i + 2], own=True)
        assert _table(store) == _replayed(batch[:8])  # written out at the marks (after 4 and 8 events)
        assert store.objects() == _replayed(batch)
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        assert _table(store) == store.objects() == _replayed(batch)


def test_a_rolled_back_transaction_leaves_no_waiting_change(store: Store) -> None:
    batch = _moving_rows()
    store.append(batch[:4], own=True, new_authors={ID.public_key: AUTH})
    before = store.objects()
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_events(batch[4:], own=True)
        raise RuntimeError("abort")
    assert store.objects() == before == _replayed(batch[:4])
    store.append(batch[4:], own=True)
    assert store.objects() == _replayed(batch)
