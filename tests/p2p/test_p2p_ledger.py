from __future__ import annotations

import pytest

from krapition_app.model.events import BodyState as Moved
from krapition_app.model.events import ChainCheckpoint, ObjectCreated, ObjectDeleted, ObjectMoved
from krapition_app.p2p.chain import ChainState, verify
from krapition_app.p2p.clock import MockClock
from krapition_app.p2p.ledger import (
    AuthorityMismatchError,
    EventLedger,
    NotStartedError,
    RetentionPolicy,
    open_ledger,
)
from krapition_app.p2p.testing import ball, object_uri
from krapition_app.paths import AppPaths

from .conftest import LedgerFactory


def fill(a: EventLedger, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        a.append(object_uri(a.authority, f"b{i % 7}"), ObjectCreated(body=ball(f"b{i % 7}", x=float(i))))


def test_start_then_append(make_ledger: LedgerFactory) -> None:
    a = make_ledger("a", start=False)
    try:
        fill(a, 1)
    except NotStartedError:
        pass
    else:
        raise AssertionError("appending before start must fail")
    first = a.start()
    assert first.seq == 0
    fill(a, 3)
    assert a.next_seq == 4


def test_restart_continues_the_chain_without_reusing_a_seq(make_ledger: LedgerFactory) -> None:
    a = make_ledger("a")
    fill(a, 5)
    head = a.state.author(a.author)
    a.store.close()
    again = make_ledger("a")
    assert again.state.author(again.author) == head
    restart = again.start()
    assert restart.seq == 6 and restart.prev == head.head_id  # type: ignore[union-attr]


def test_replay_equals_the_stored_projection_for_every_author(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    fill(a, 20)
    a.append(object_uri(a.authority, "b3"), ObjectDeleted())
    a.append(a.node_uri, ObjectMoved(tick=1, bodies=(Moved(name="b1", position=(9.0, 9.0, 9.0)),
                                                     Moved(name="nobody", position=(0.0, 0.0, 0.0)))))
    b.receive_many(list(a.store.raw_events(a.author)))
    assert a.replay().values == a.store.objects()
    assert b.replay(a.author).values == b.store.cached(a.author) == a.store.objects()
    assert object_uri(a.authority, "b3") not in a.store.objects()


def test_compaction_cuts_behind_a_checkpoint_and_peers_follow(make_ledger: LedgerFactory,
                                                              clock: MockClock) -> None:
    a = make_ledger("a", retention=RetentionPolicy(max_events=10))
    b = make_ledger("b")
    fill(a, 25)
    b.receive_many(list(a.store.raw_events(a.author)))
    before = a.store.objects()
    checkpoint = a.compact()
    assert checkpoint is not None and isinstance(checkpoint.payload, ChainCheckpoint)
    assert a.store.count_events(a.author) == 10
    stream = a.processor.stream(a.author)
    assert len(stream) == 10 and stream.head == checkpoint.id
    assert stream.tail_event.seq == checkpoint.payload.horizon_seq + 1  # type: ignore[union-attr]
    # the read side survives the cut, and a replay from the snapshot still gives it
    assert a.store.objects() == before == a.replay().values
    # the peer verifies our replay of the horizon and cuts its copy too
    b.receive(checkpoint.raw)
    assert b.store.count_events(a.author) == 10
    assert b.replay(a.author).values == b.store.cached(a.author) == before
    assert b.store.snapshot(a.author).state_hash == checkpoint.payload.state_hash  # type: ignore[union-attr]
    # the next events keep flowing; a restart keeps counting from the head
    fill(a, 3, start=100)
    b.receive_many(list(a.store.raw_events(a.author, checkpoint.seq + 1)))
    assert b.replay(a.author).values == a.store.objects()
    second = a.compact()
    assert second is not None and a.store.count_events(a.author) == 10
    assert a.compact() is None
    assert a.replay().values == a.store.objects()


def test_late_joiner_starts_from_checkpoint_and_tail(make_ledger: LedgerFactory) -> None:
    a = make_ledger("a", retention=RetentionPolicy(max_events=8))
    fill(a, 20)
    checkpoint = a.compact()
    assert checkpoint is not None
    fill(a, 2, start=50)
    tail = list(a.store.raw_events(a.author))
    state = ChainState()
    state, _first = verify(state, checkpoint.raw, now_ns=a.clock())
    for raw in tail:
        if raw == checkpoint.raw:
            continue
        state, _ = verify(state, raw, now_ns=a.clock())
    joined, source = state.author(a.author), a.state.author(a.author)
    assert joined is not None and source is not None
    assert (joined.next_seq, joined.head_id, joined.authority, joined.pending) == (
        source.next_seq, source.head_id, source.authority, None)
    # through a ledger (store + stream) as well
    c = make_ledger("c")
    result = c.receive_many([checkpoint.raw, *[r for r in tail if r != checkpoint.raw]])
    assert not result.rejected
    stream = c.processor.stream(a.author)
    assert [e.seq for e in stream] == [e.seq for e in a.processor.stream(a.author)]


def test_retention_by_age_uses_the_injected_clock(make_ledger: LedgerFactory, clock: MockClock) -> None:
    a = make_ledger("a", retention=RetentionPolicy(max_events=1000, max_age_s=60))
    fill(a, 5)
    assert a.compact() is None
    clock.advance(120)
    fill(a, 2, start=10)
    checkpoint = a.compact()
    assert checkpoint is not None and checkpoint.payload.horizon_seq == 5  # type: ignore[union-attr]
    assert a.store.count_events(a.author) == 3


def test_restart_after_repeated_compaction(make_ledger: LedgerFactory) -> None:
    a = make_ledger("a", retention=RetentionPolicy(max_events=4))
    for _ in range(3):
        fill(a, 4)
        assert a.compact() is not None
    before = [e.id for e in a.processor.stream(a.author)]
    a.store.close()
    again = make_ledger("a", retention=RetentionPolicy(max_events=4))
    assert [e.id for e in again.processor.stream(again.author)] == before
    assert again.processor.stream(again.author).checkpoint is not None
    fill(again, 1)
    assert again.replay().values == again.store.objects()


def test_rebuild_restores_a_damaged_read_side(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a", retention=RetentionPolicy(max_events=6)), make_ledger("b")
    fill(a, 12)
    b.receive_many(list(a.store.raw_events(a.author)))
    assert a.compact() is not None
    fill(a, 3, start=30)
    b.receive_many(list(a.store.raw_events(a.author, b.state.author(a.author).next_seq)))  # type: ignore[union-attr]
    a.store.flush_projection()  # the tables hold the read model (not only this Store's memory)
    b.store.flush_projection()
    objects = dict(a.store.conn.execute("SELECT uri, seq FROM objects"))
    cached = dict(b.store.conn.execute("SELECT uri, seq FROM cache"))
    a.store.conn.execute("DELETE FROM objects WHERE uri LIKE '%b1'")
    a.store.conn.execute("UPDATE objects SET value=x'00' WHERE uri LIKE '%b2'")
    b.store.conn.execute("DELETE FROM cache")
    a.rebuild()
    b.rebuild(a.author)
    assert dict(a.store.conn.execute("SELECT uri, seq FROM objects")) == objects
    assert dict(b.store.conn.execute("SELECT uri, seq FROM cache")) == cached
    assert a.store.objects() == a.replay().values == b.store.cached(a.author)


def test_open_ledger_from_the_data_folder(home: AppPaths, clock: MockClock) -> None:
    first = open_ledger(home.data, "me.local:9000", clock=clock)
    fill(first, 2)
    key = first.author
    first.store.close()
    again = open_ledger(home.data, "me.local:9000", clock=clock)
    assert again.author == key and again.next_seq == 4  # start, 2 events, the restart marker
    assert (home.data / "identity.key").is_file() and (home.data / "krapition.sqlite3").is_file()
    again.store.close()
    with pytest.raises(AuthorityMismatchError):
        open_ledger(home.data, "other.local:9000", clock=clock)


def test_our_own_oversized_event_never_enters_the_chain(make_ledger: LedgerFactory) -> None:
    from krapition_app.p2p.chain import VerifyLimits
    from krapition_app.p2p.errors import OversizedEventError

    a = make_ledger("a")
    a.limits = VerifyLimits(max_event_size=300)
    seq = a.next_seq
    with pytest.raises(OversizedEventError):
        fill(a, 1)
    assert a.next_seq == seq and a.store.count_events(a.author) == seq
