from __future__ import annotations

import pytest

from krapition_app.model.events import EventType, ObjectCreated, UserCommand
from krapition_app.model.scene import HingeSpec
from krapition_app.p2p.chain import SignedEvent
from krapition_app.p2p.data import DataManager
from krapition_app.p2p.errors import DataNotFoundError, InvalidCommandError, NotOwnedURIError
from krapition_app.p2p.testing import ball, box, object_uri

from .conftest import LedgerFactory


def test_set_get_delete_list(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger("a")
    data = DataManager(ledger)
    uri = object_uri(ledger.authority, "ball-1")
    event = data.set_data(uri, ball("ball-1", x=1.5))
    assert event.type is EventType.OBJECT_CREATED and event.uri == uri
    assert data.get_data(uri) == ball("ball-1", x=1.5)
    data.set_data(uri, ball("ball-1", x=2.5))  # replace
    assert data.get_data(uri).position[0] == 2.5  # type: ignore[union-attr]
    data.set_data(object_uri(ledger.authority, "box-1"), box("box-1"))
    hinge = HingeSpec(name="h1", body_a=uri)
    data.set_data(f"krapition://{ledger.authority}/physics/constraints/h1", hinge)
    assert data.list_data(f"krapition://{ledger.authority}/physics/objects/*") == sorted(
        [uri, object_uri(ledger.authority, "box-1")]
    )
    assert data.list_data("krapition://*/physics/*/h*") == [
        f"krapition://{ledger.authority}/physics/constraints/h1"
    ]
    data.delete_data(uri)
    data.delete_data(f"krapition://{ledger.authority}/physics/constraints/h1")
    with pytest.raises(DataNotFoundError):
        data.get_data(uri)
    with pytest.raises(DataNotFoundError):
        data.delete_data(uri)
    assert ledger.replay().values == ledger.store.objects()


def test_commands_are_checked_before_they_become_events(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger("a")
    data = DataManager(ledger)
    seq = ledger.next_seq
    with pytest.raises(NotOwnedURIError):
        data.set_data(object_uri("b.local:9000", "ball-1"), ball("ball-1"))
    with pytest.raises(InvalidCommandError):
        data.set_data(object_uri(ledger.authority, "ball-1"), ball("other"))
    with pytest.raises(InvalidCommandError):
        data.set_data(f"krapition://{ledger.authority}/physics/materials/ball-1", ball("ball-1"))
    with pytest.raises(NotOwnedURIError):
        ledger.append(object_uri("b.local:9000", "x"), ObjectCreated(body=ball("x")))
    assert ledger.next_seq == seq and ledger.store.objects() == {}


def test_remote_values_come_from_the_cache(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    DataManager(a).set_data(object_uri(a.authority, "ball-1"), ball("ball-1"))
    b.receive_many(list(a.store.raw_events(a.author)))
    remote = DataManager(b)
    assert remote.get_data(object_uri(a.authority, "ball-1")) == ball("ball-1")
    assert remote.list_data("krapition://*/physics/objects/*") == [object_uri(a.authority, "ball-1")]
    with pytest.raises(NotOwnedURIError):
        remote.delete_data(object_uri(a.authority, "ball-1"))
    assert b.store.get_cached(object_uri(a.authority, "ball-1")).seq == 1  # type: ignore[union-attr]


def test_processor_handlers_and_subscriptions(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    created: list[SignedEvent] = []
    seen: list[SignedEvent] = []
    b.processor.register(EventType.OBJECT_CREATED, created.append)
    b.processor.register(EventType.OBJECT_CREATED, lambda e: 1 / 0)  # a broken handler is contained
    sub = b.processor.subscribe(seen.append, pattern="krapition://a.local:9000/physics/objects/*",
                                authors=[a.author])
    DataManager(a).set_data(object_uri(a.authority, "ball-1"), ball("ball-1"))
    DataManager(a).delete_data(object_uri(a.authority, "ball-1"))
    b.receive_many(list(a.store.raw_events(a.author)))
    assert [e.type for e in created] == [EventType.OBJECT_CREATED]
    assert [e.type for e in seen] == [EventType.OBJECT_CREATED, EventType.OBJECT_DELETED]
    sub.cancel()
    DataManager(a).set_data(object_uri(a.authority, "ball-2"), ball("ball-2"))
    b.receive(next(iter(a.store.raw_events(a.author, a.next_seq - 1))))
    assert len(seen) == 2 and len(created) == 2
    assert len(b.processor.stream(a.author)) == a.next_seq


def test_user_commands_become_checked_events(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger("a")
    data = DataManager(ledger)
    uri = object_uri(ledger.authority, "ball-1")
    created = data.execute(UserCommand(command="set", target=uri, body=ball("ball-1")))
    assert created.type is EventType.OBJECT_CREATED
    assert data.execute(UserCommand(command="delete", target=uri)).type is EventType.OBJECT_DELETED
    with pytest.raises(InvalidCommandError):
        data.execute(UserCommand(command="explode", target=uri))
    with pytest.raises(NotOwnedURIError):
        data.execute(UserCommand(command="set", target=object_uri("b.local:9000", "x"), body=ball("x")))
