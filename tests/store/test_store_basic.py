from __future__ import annotations

from pathlib import Path

import pytest

from krapition_app.model.events import EventEnvelope, ObjectCreated
from krapition_app.model.scene import BodySpec
from krapition_app.p2p.testing import ball, build_chain, node_uri, object_uri, seeded_identity, start_payload
from krapition_app.store import DB_FILE_NAME, EventRow, Store, StoreIntegrityError
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
