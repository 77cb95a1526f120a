"""Large batches commit chunk by chunk: the same results as one by one, and a failed commit
leaves the verifier state, the stream and the store in step."""

from __future__ import annotations

import pytest

from krapition_app.model.events import ObjectCreated
from krapition_app.p2p.chain import SignedEvent
from krapition_app.p2p.errors import BadSignatureError, SequenceGapError
from krapition_app.p2p.ledger import COMMIT_CHUNK, EventLedger
from krapition_app.p2p.testing import ball, object_uri

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


def test_a_failed_commit_leaves_state_and_store_in_step(make_ledger: LedgerFactory,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_ledger("a")
    real_append = a.store.append
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real_append(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(a.store, "append", flaky)
    with pytest.raises(OSError, match="disk full"):
        a.append_many(items(a))
    # the first chunk is committed and accounted for; nothing after it
    assert a.store.count_events(a.author) == 1 + COMMIT_CHUNK
    assert a.next_seq == 1 + COMMIT_CHUNK
    monkeypatch.setattr(a.store, "append", real_append)
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
