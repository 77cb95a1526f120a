"""The receiving hot paths give exactly what the plain rules give: checking a batch (one thread or
several), a run of one author's events at once (advance_run), and the relay that skips what a
subscriber holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from p2p.node_helpers import memory_config, run, same_heads, wait_for

from krapition_app.model.events import BodyState as MovedBody
from krapition_app.model.events import ChainCheckpoint, ObjectCreated, ObjectMoved
from krapition_app.p2p.chain import (
    ChainState,
    advance,
    advance_run,
    check_signature,
    check_signatures,
)
from krapition_app.p2p.clock import MockClock
from krapition_app.p2p.errors import InvalidEventError
from krapition_app.p2p.ledger import COMMIT_CHUNK, PARALLEL_SLICE, EventLedger
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node
from krapition_app.p2p.testing import ball, build_chain, node_uri, object_uri, seeded_identity, start_payload
from krapition_app.store import Store

from .conftest import LedgerFactory

A, B = seeded_identity("fast-a"), seeded_identity("fast-b")
AUTH_A, AUTH_B = "fast-a.local:9000", "fast-b.local:9000"
NOW = 2_000_000_000_000_000_000


def _items(identity, authority: str, n: int) -> list:  # type: ignore[no-untyped-def]
    items: list = [(node_uri(identity, authority), start_payload(authority))]
    for i in range(1, n):
        if i % 5 == 4:
            items.append((node_uri(identity, authority), ObjectMoved(tick=i, bodies=(
                MovedBody(name=f"b{i % 7}", position=(float(i), 0.0, 1.0)),))))
        else:
            name = f"b{i % 7}"
            items.append((object_uri(authority, name), ObjectCreated(body=ball(name, x=float(i)))))
    return items


def _outcome(item: object) -> object:
    if isinstance(item, InvalidEventError):
        return (type(item), str(item))
    return (item.raw, item.id, item.envelope)  # type: ignore[attr-defined]


def _flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]


def _mixed_raws() -> list[bytes]:
    a = [e.raw for e in build_chain(A, AUTH_A, _items(A, AUTH_A, 60))]
    b = [e.raw for e in build_chain(B, AUTH_B, _items(B, AUTH_B, 40))]
    raws = a[:30] + b[:20] + a[30:] + b[20:]
    raws[12] = _flip(raws[12], 3)  # a forged signature
    raws[40] = raws[40][:70]  # truncated: malformed
    raws[55] = _flip(raws[55], 200)  # a flipped envelope byte: malformed or a bad signature
    raws.insert(70, raws[69])  # a resend
    raws.append(b"not an event")
    raws.append(12345)  # type: ignore[arg-type]
    return raws


def test_check_signatures_is_check_signature_of_each() -> None:
    raws = _mixed_raws()
    expected = []
    for raw in raws:
        try:
            expected.append(_outcome(check_signature(raw, max_size=4096)))
        except InvalidEventError as exc:
            expected.append(_outcome(exc))
    assert [_outcome(x) for x in check_signatures(raws, max_size=4096)] == expected
    assert [_outcome(x) for x in check_signatures(raws, max_size=300)] == [
        _outcome(x) for x in (_checked(r, 300) for r in raws)
    ]


def _checked(raw: bytes, max_size: int) -> object:
    try:
        return check_signature(raw, max_size=max_size)
    except InvalidEventError as exc:
        return exc


def _step_by_step(state: ChainState, items: list) -> tuple[ChainState, list]:  # type: ignore[type-arg]
    out = []
    for item in items:
        if isinstance(item, InvalidEventError):
            out.append(_outcome(item))
            continue
        try:
            state, event = advance(state, item, now_ns=NOW)
            out.append(event.id)
        except InvalidEventError as exc:
            out.append(_outcome(exc))
    return state, out


def _with_runs(state: ChainState, items: list) -> tuple[ChainState, list]:  # type: ignore[type-arg]
    out = []
    i = 0
    while i < len(items):
        state, n = advance_run(state, items, i, now_ns=NOW)
        if n:
            out += [e.id for e in items[i : i + n]]
            i += n
            continue
        more, got = _step_by_step(state, [items[i]])
        state = more
        out += got
        i += 1
    return state, out


def test_advance_run_reaches_what_advance_reaches() -> None:
    items = check_signatures(_mixed_raws(), max_size=4096)
    slow_state, slow = _step_by_step(ChainState(), items)
    fast_state, fast = _with_runs(ChainState(), items)
    assert fast == slow
    assert fast_state == slow_state
    assert 10 < sum(1 for x in fast if isinstance(x, bytes)) < len(items)
    clean = check_signatures([e.raw for e in build_chain(A, AUTH_A, _items(A, AUTH_A, 60))], max_size=4096)
    assert _with_runs(ChainState(), clean) == _step_by_step(ChainState(), clean)


def test_advance_run_stops_at_a_checkpoint_a_future_stamp_and_another_author() -> None:
    chain = build_chain(A, AUTH_A, _items(A, AUTH_A, 10))
    state, _ = _step_by_step(ChainState(), chain[:3])
    checkpoint = build_chain(A, AUTH_A, [*_items(A, AUTH_A, 10), (
        f"krapition://{AUTH_A}/system/checkpoints/x",
        ChainCheckpoint(horizon_seq=5, horizon_id=chain[5].id, state_hash=bytes(32), authority=AUTH_A),
    )])[-1]
    items = [*chain[3:], checkpoint]
    assert advance_run(state, items, 0, now_ns=NOW)[1] == 7  # up to the checkpoint, not past it
    assert advance_run(state, items, 0, now_ns=0)[1] == 0  # stamped ahead of this clock
    assert advance_run(ChainState(), items, 0, now_ns=NOW) == (ChainState(), 0)  # unknown author
    assert advance_run(state, [*chain[3:5], *build_chain(B, AUTH_B, _items(B, AUTH_B, 2))], 0,
                       now_ns=NOW)[1] == 2


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_receive_many_on_several_threads_is_the_same(tmp_path: Path, workers: int) -> None:
    clock = MockClock(NOW)
    writer = EventLedger(Store.open(tmp_path / "w.sqlite3"), A, AUTH_A, clock=clock, workers=1)
    writer.start("w")
    writer.append_many(_items(A, AUTH_A, COMMIT_CHUNK + 3 * PARALLEL_SLICE)[1:])
    raws = list(writer.store.raw_events(A.public_key))
    raws[100] = _flip(raws[100], 5)  # the rest of that chunk is a gap, then the next chunk too
    raws[COMMIT_CHUNK + 3] = raws[COMMIT_CHUNK + 3][:50]
    results = []
    for i, w in enumerate((1, workers)):
        reader = EventLedger(Store.open(tmp_path / f"r{i}.sqlite3"), B, AUTH_B, clock=clock, workers=w)
        result = reader.receive_many(raws)
        rejected = [(raw, _outcome(err)) for raw, err in result.rejected]
        results.append(([e.id for e in result.accepted], rejected, reader.state,
                        reader.store.cached(A.public_key)))
        reader.store.close()
    writer.store.close()
    assert results[0] == results[1]
    assert len(results[0][0]) == 100


def test_events_a_subscriber_said_it_holds_are_not_pushed_to_it(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a, b, c = (Node(memory_config(net, tmp_path, n, i)) for i, n in enumerate(["a", "b", "c"]))
        for node in (a, b, c):
            await node.start_async()
        try:
            await a.connect(b.config.interface, b.port)
            await b.connect(c.config.interface, c.port)  # a - b - c
            assert a.ledger is not None and b.replicator is not None and c.replicator is not None
            a.ledger.append_many([(object_uri(a.authority, f"b{i}"), ObjectCreated(body=ball(f"b{i}")))
                                  for i in range(20)])
            assert await wait_for(lambda: same_heads([a, b, c]), 10.0)
            await asyncio_sleep(0.1)
            received = c.replicator.stats.received
            # b stores a's history again, as a node catching up would (c held all of it when it
            # subscribed to b), then one new event: only the new one reaches c
            old = list(a.ledger.processor.stream(a.ledger.author))[5:15]
            for event in old:
                b.replicator._on_processed(event)
            a.set_body(ball("new"))
            assert await wait_for(lambda: same_heads([a, b, c]), 5.0)
            await asyncio_sleep(0.1)
            assert c.replicator.stats.received - received == 1
        finally:
            for node in (a, b, c):
                await node.stop_async()

    run(main())


async def asyncio_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def test_make_ledger_default_workers_check_a_large_chunk(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    a.append_many(_items(a.identity, a.authority, 300)[1:])
    result = b.receive_many(list(a.store.raw_events(a.author)))
    assert not result.rejected and b.store.cached(a.author) == a.store.objects() == a.replay().values
