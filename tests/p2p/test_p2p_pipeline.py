"""Large batches commit chunk by chunk: the same results as one by one, and a failed commit
leaves the verifier state, the stream and the store in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from krapition_app.model.events import ObjectCreated, ObjectDeleted
from krapition_app.p2p.chain import SignedEvent, VerifyLimits
from krapition_app.p2p.clock import MockClock
from krapition_app.p2p.errors import BadSignatureError, OversizedEventError, SequenceGapError
from krapition_app.p2p.ledger import COMMIT_CHUNK, PIPELINE_MIN, EventLedger
from krapition_app.p2p.testing import ball, object_uri, seeded_identity
from krapition_app.store import Store

from .conftest import LedgerFactory

N = COMMIT_CHUNK * 2 + 17


def items(ledger: EventLedger, n: int = N) -> list:
    return [(object_uri(ledger.authority, f"b{i % 40}"), ObjectCreated(body=ball(f"b{i % 40}", x=float(i))))
            for i in range(n)]


def test_large_append_and_receive(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    seen: list[SignedEvent] = []
    a.processor.subscribe(seen.append)
    events = a.append_many(items(a))
    assert [e.seq for e in events] == list(range(1, N + 1))
    assert [e.seq for e in seen] == [e.seq for e in events]
    assert a.next_seq == N + 1 and a.store.count_events(a.author) == N + 1
    result = b.receive_many(list(a.store.raw_events(a.author)))
    assert not result.rejected and len(result.accepted) == N + 1
    assert b.store.cached(a.author) == a.store.objects() == a.replay().values


def test_a_bad_event_in_a_large_batch_stores_exactly_the_prefix(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    a.append_many(items(a))
    raws = list(a.store.raw_events(a.author))
    bad = 150
    raws[bad] = raws[bad][:10] + bytes([raws[bad][10] ^ 1]) + raws[bad][11:]
    result = b.receive_many(raws)
    assert [e.seq for e in result.accepted] == list(range(bad))
    assert isinstance(result.rejected[0][1], BadSignatureError)
    assert all(isinstance(err, SequenceGapError) for _, err in result.rejected[1:])
    assert b.store.count_events(a.author) == bad
    assert b.state.author(a.author).next_seq == bad  # type: ignore[union-attr]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_commit_leaves_state_and_store_in_step(
    make_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    a = make_ledger("a")
    a.pipeline = workers > 1  # each chunk is signed here and stored by the writer thread
    real_insert = a.store.insert_events

    def flaky(events: list, **kwargs: object) -> None:
        if any(row.seq > COMMIT_CHUNK for row, _ in events):  # the second chunk fails
            raise OSError("disk full")
        real_insert(events, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(a.store, "insert_events", flaky)
    with pytest.raises(OSError, match="disk full"):
        a.append_many(items(a))
    # the first chunk is committed and accounted for; nothing after it
    assert a.store.count_events(a.author) == 1 + COMMIT_CHUNK
    assert a.next_seq == 1 + COMMIT_CHUNK
    assert len(a.processor.stream(a.author)) == 1 + COMMIT_CHUNK
    assert a.store.integrity_check() == "ok" and not a.store.conn.in_transaction
    monkeypatch.setattr(a.store, "insert_events", real_insert)
    more = a.append_many(items(a, 3))
    assert [e.seq for e in more] == [1 + COMMIT_CHUNK + i for i in range(3)]
    assert a.replay().values == a.store.objects()


def test_a_failed_commit_while_receiving(make_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    a.append_many(items(a))
    raws = list(a.store.raw_events(a.author))
    real_append = b.store.append
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real_append(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(b.store, "append", flaky)
    with pytest.raises(OSError, match="disk full"):
        b.receive_many(raws)
    assert b.store.count_events(a.author) == COMMIT_CHUNK
    assert b.state.author(a.author).next_seq == COMMIT_CHUNK  # type: ignore[union-attr]
    assert len(b.processor.stream(a.author)) == COMMIT_CHUNK
    monkeypatch.setattr(b.store, "append", real_append)
    result = b.receive_many(raws[COMMIT_CHUNK:])
    assert not result.rejected
    assert b.store.cached(a.author) == a.store.objects()


def _twin(tmp_path: Path, clock: MockClock, name: str, workers: int, **kwargs: object) -> EventLedger:
    store = Store.open(tmp_path / f"{name}-{workers}.sqlite3")
    ledger = EventLedger(store, seeded_identity(name), f"{name}.local:9000", clock=clock, workers=workers,
                         pipeline=workers > 1, **kwargs)  # type: ignore[arg-type]
    ledger.start(name)
    return ledger


def test_the_pipelined_append_writes_what_one_thread_writes(tmp_path: Path, clock: MockClock) -> None:
    one, two = _twin(tmp_path, clock, "a", 1), _twin(tmp_path, clock, "a", 2)
    try:
        for ledger in (one, two):
            ledger.append_many(items(ledger))
            ledger.append_many(items(ledger, PIPELINE_MIN - 1))  # below the pipeline: one thread
        assert list(one.store.raw_events(one.author)) == list(two.store.raw_events(two.author))
        assert one.store.objects() == two.store.objects() == two.replay().values
        assert one.state == two.state
        assert [e.id for e in two.processor.stream(two.author)] == [e.id for e in
                                                                     one.processor.stream(one.author)]
    finally:
        one.store.close()
        two.store.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_oversized_event_inside_a_chunk_stores_nothing_of_that_chunk(tmp_path: Path, clock: MockClock,
                                                                         workers: int) -> None:
    a = _twin(tmp_path, clock, "a", workers, limits=VerifyLimits(max_event_size=1000))
    try:
        batch = items(a, COMMIT_CHUNK + 100)
        batch[COMMIT_CHUNK + 50] = (batch[0][0], ObjectDeleted(reason="x" * 1000))
        with pytest.raises(OversizedEventError):
            a.append_many(batch)
        assert a.store.count_events(a.author) == a.next_seq == 1 + COMMIT_CHUNK
        assert len(a.processor.stream(a.author)) == 1 + COMMIT_CHUNK
        assert a.store.integrity_check() == "ok" and not a.store.conn.in_transaction
        more = a.append_many(items(a, PIPELINE_MIN * 2))
        assert more[0].seq == 1 + COMMIT_CHUNK and a.replay().values == a.store.objects()
    finally:
        a.store.close()


def test_checking_signatures_on_a_pool_gives_the_same_verdicts(tmp_path: Path, clock: MockClock) -> None:
    a = _twin(tmp_path, clock, "a", 1)
    a.append_many(items(a, COMMIT_CHUNK + 40))
    raws = list(a.store.raw_events(a.author))
    raws[70] = raws[70][:10] + bytes([raws[70][10] ^ 1]) + raws[70][11:]  # bad signature
    raws.insert(90, b"\x00" * 100)  # malformed
    raws.insert(95, raws[20])  # a resend
    readers = [_twin(tmp_path, clock, "b", workers) for workers in (1, 3)]
    try:
        results = [reader.receive_many(raws) for reader in readers]
        for reader in readers[1:]:
            assert reader.state == readers[0].state
            assert reader.store.cached(a.author) == readers[0].store.cached(a.author)
        verdicts = [([e.id for e in r.accepted], [(raw, type(err), str(err)) for raw, err in r.rejected])
                    for r in results]
        assert verdicts[0] == verdicts[1]
        assert isinstance(results[1].rejected[0][1], BadSignatureError)
        assert [e.seq for e in results[1].accepted] == list(range(70))
    finally:
        a.store.close()
        for reader in readers:
            reader.store.close()
