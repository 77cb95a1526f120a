"""Each verification rule rejects a forged or broken event, and a rejected event stores nothing."""

from __future__ import annotations

import msgspec
import pytest

from krapition_app.model.events import ChainCheckpoint, EventEnvelope, ObjectCreated, SystemStart
from krapition_app.p2p import errors
from krapition_app.p2p.chain import (
    ZERO_HASH,
    ChainState,
    SignedEvent,
    VerifyLimits,
    check_signature,
    event_id,
    verify,
)
from krapition_app.p2p.ledger import EventLedger
from krapition_app.p2p.testing import ball, build_chain, object_uri, seeded_identity, sign_next, start_payload

from .conftest import LedgerFactory


def _snapshot(ledger: EventLedger) -> tuple:
    store = ledger.store
    return (
        store.count_events(),
        sorted(store.conn.execute("SELECT uri, value FROM cache")),
        sorted(store.conn.execute("SELECT * FROM authors")),
        sorted(store.conn.execute("SELECT * FROM forks")),
    )


@pytest.fixture
def pair(make_ledger: LedgerFactory) -> tuple[EventLedger, EventLedger]:
    a, b = make_ledger("a"), make_ledger("b")
    a.append(object_uri(a.authority, "ball-1"), ObjectCreated(body=ball("ball-1")))
    b.receive_many([raw for raw in a.store.raw_events(a.author)])
    return a, b


def _next(a: EventLedger, **overrides: object) -> bytes:
    own = a.state.author(a.author)
    assert own is not None
    fields: dict = dict(seq=own.next_seq, prev=own.head_id, uri=object_uri(a.authority, "ball-2"),
                        payload=ObjectCreated(body=ball("ball-2")), timestamp_ns=a.clock())
    fields.update(overrides)
    return sign_next(a.identity.signing_key, **fields).raw


def _rejects(b: EventLedger, raw: bytes, error: type[Exception]) -> Exception:
    before = _snapshot(b)
    state = b.state
    with pytest.raises(error) as info:
        b.receive(raw)
    if not isinstance(info.value, errors.EquivocationError):
        assert _snapshot(b) == before, "a rejected event changed the store"
        assert b.state is state
    return info.value


def test_malformed(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    raw = _next(a)
    for broken in (raw[:-3], raw[:10], b"", raw[:64] + b"\xc1" + raw[65:]):
        _rejects(b, broken, errors.MalformedEventError)


def test_non_canonical_envelope_is_malformed_even_when_signed(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    env = EventEnvelope.from_bytes(_next(a)[64:])
    as_dict = msgspec.to_builtins(env)  # a msgpack map of another key order: valid msgpack, not canonical
    body = msgspec.msgpack.encode(dict(reversed(list(as_dict.items()))))
    raw = bytes(a.identity.signing_key.sign(body))
    _rejects(b, raw, errors.MalformedEventError)


def test_oversized(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    b.limits = VerifyLimits(max_event_size=200)
    _rejects(b, _next(a), errors.OversizedEventError)


def test_bad_signature(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    raw = _next(a)
    _rejects(b, bytes([raw[5] ^ 0x40]).join([raw[:5], raw[6:]]), errors.BadSignatureError)
    # signed by another key but claiming a's authorship
    mallory = seeded_identity("mallory")
    forged = bytes(mallory.signing_key.sign(raw[64:]))
    _rejects(b, forged, errors.BadSignatureError)


def test_author_not_owner_of_the_uri(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    _rejects(b, _next(a, uri=object_uri(b.authority, "ball-2")), errors.NotOwnerError)


def test_unknown_author_without_a_claim(pair: tuple[EventLedger, EventLedger]) -> None:
    _, b = pair
    c = seeded_identity("c")
    raw = build_chain(c, "c.local:9000", [(object_uri("c.local:9000", "x"),
                                           ObjectCreated(body=ball("x")))])[0]
    _rejects(b, raw.raw, errors.UnboundAuthorError)


def test_claiming_someone_elses_authority(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    c = seeded_identity("c")
    raw = build_chain(c, a.authority, [(f"krapition://{a.authority}/system/nodes/{c.node_id}",
                                        start_payload(a.authority))])[0]
    _rejects(b, raw.raw, errors.AuthorityClaimedError)
    # and a known key cannot move to a new authority either
    _rejects(b, _next(a, uri=f"krapition://{a.authority}/system/nodes/x",
                      payload=SystemStart(version="1", name="x", authority="elsewhere.local:9000")),
             errors.AuthorityClaimedError)


def test_sequence_gap_and_replay(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    own = a.state.author(a.author)
    assert own is not None
    _rejects(b, _next(a, seq=own.next_seq + 1), errors.SequenceGapError)
    first = next(iter(a.store.raw_events(a.author)))
    _rejects(b, first, errors.DuplicateEventError)


def test_wrong_previous_hash(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    _rejects(b, _next(a, prev=ZERO_HASH), errors.WrongPreviousHashError)


def test_timestamp_far_in_the_future(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    _rejects(b, _next(a, timestamp_ns=a.clock() + 60_000_000_000), errors.FutureTimestampError)
    # within the allowed skew is fine
    b.receive(_next(a, timestamp_ns=a.clock() + 1_000_000_000))


def test_checkpoint_naming_another_horizon(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    payload = ChainCheckpoint(horizon_seq=0, horizon_id=bytes(32), state_hash=bytes(32),
                              authority=a.authority)
    _rejects(b, _next(a, uri=a.checkpoint_uri, payload=payload), errors.CheckpointMismatchError)


def test_equivocation_keeps_both_events_and_marks_the_author_forked(
    pair: tuple[EventLedger, EventLedger],
) -> None:
    a, b = pair
    first = list(a.store.raw_events(a.author))[1]
    env = EventEnvelope.from_bytes(first[64:])
    fork = sign_next(a.identity.signing_key, seq=env.seq, prev=env.prev, uri=object_uri(a.authority, "evil"),
                     payload=ObjectCreated(body=ball("evil")), timestamp_ns=env.timestamp_ns).raw
    events_before = b.store.count_events()
    cache_before = b.store.cached(a.author)
    error = _rejects(b, fork, errors.EquivocationError)
    assert isinstance(error, errors.EquivocationError)
    assert error.first_id == event_id(first) and error.second == fork
    assert b.state.author(a.author).forked  # type: ignore[union-attr]
    assert b.store.author(a.author).forked  # type: ignore[union-attr]
    assert b.store.forks(a.author) == [(env.seq, first, fork)]
    assert b.store.count_events() == events_before and b.store.cached(a.author) == cache_before
    # nothing more of a forked author is accepted, even its honest next event
    _rejects(b, _next(a), errors.AuthorForkedError)


def test_equivocation_behind_the_window_is_found_through_the_store(make_ledger: LedgerFactory) -> None:
    a, b = make_ledger("a"), make_ledger("b")
    for i in range(40):
        a.append(object_uri(a.authority, f"b{i}"), ObjectCreated(body=ball(f"b{i}")))
    b.receive_many(list(a.store.raw_events(a.author)))
    old = EventEnvelope.from_bytes(list(a.store.raw_events(a.author))[3][64:])
    fork = sign_next(a.identity.signing_key, seq=old.seq, prev=old.prev, uri=object_uri(a.authority, "evil"),
                     payload=ObjectCreated(body=ball("evil")), timestamp_ns=old.timestamp_ns).raw
    with pytest.raises(errors.EquivocationError):
        b.receive(fork)
    # without the store's lookup the pure verifier can only call it stale
    with pytest.raises(errors.StaleEventError):
        verify(_fresh_state(a, b), fork, now_ns=b.clock())


def _fresh_state(a: EventLedger, b: EventLedger) -> ChainState:
    own = b.state.author(a.author)
    assert own is not None
    return ChainState().resume(a.author, a.authority, own.next_seq, own.head_id)


def test_verify_is_pure(pair: tuple[EventLedger, EventLedger]) -> None:
    a, b = pair
    state = b.state
    raw = _next(a)
    first, event = verify(state, raw, now_ns=b.clock())
    second, _ = verify(state, raw, now_ns=b.clock())
    assert first == second and first is not state
    assert state.author(a.author).next_seq == event.seq  # type: ignore[union-attr]
    assert check_signature(raw, max_size=10_000).id == event.id


def test_a_chain_must_start_with_system_start() -> None:
    c = seeded_identity("c")
    state = ChainState().pin(c.public_key, "c.local:9000")
    raw = build_chain(c, "c.local:9000", [(object_uri("c.local:9000", "x"),
                                           ObjectCreated(body=ball("x")))])[0]
    with pytest.raises(errors.MalformedEventError):
        verify(state, raw.raw, now_ns=raw.timestamp_ns)


def _chain_with_checkpoint(horizon: int, n: int = 8) -> tuple[list[SignedEvent], SignedEvent]:
    a = seeded_identity("late")
    auth = "late.local:9000"
    items: list = [(f"krapition://{auth}/system/nodes/{a.node_id}", start_payload(auth))]
    items += [(object_uri(auth, f"b{i}"), ObjectCreated(body=ball(f"b{i}"))) for i in range(n - 1)]
    events = build_chain(a, auth, items)
    head = events[-1]
    checkpoint = build_chain(a, auth, [(f"krapition://{auth}/system/checkpoints/{a.node_id}", ChainCheckpoint(
        horizon_seq=horizon, horizon_id=events[horizon].id, state_hash=bytes(32), authority=auth,
    ))], first_seq=head.seq + 1, prev=head.id)[0]
    return events, checkpoint


def test_late_join_right_behind_the_horizon() -> None:
    _, checkpoint = _chain_with_checkpoint(horizon=7)
    state, _ = verify(ChainState(), checkpoint.raw, now_ns=checkpoint.timestamp_ns)
    known = state.author(checkpoint.author)
    assert known is not None and known.next_seq == checkpoint.seq + 1 and known.pending is None


def test_late_join_refuses_a_tail_that_does_not_reach_the_checkpoint() -> None:
    events, checkpoint = _chain_with_checkpoint(horizon=3)
    now = checkpoint.timestamp_ns
    state, _ = verify(ChainState(), checkpoint.raw, now_ns=now)
    for event in events[4:7]:
        state, _ = verify(state, event.raw, now_ns=now)
    # seq 7 signed again with other content: the checkpoint links to the original seq 7
    other = sign_next(seeded_identity("late").signing_key, seq=7, prev=events[6].id,
                      uri=object_uri("late.local:9000", "zz"), payload=ObjectCreated(body=ball("zz")),
                      timestamp_ns=events[7].timestamp_ns)
    with pytest.raises(errors.WrongPreviousHashError):
        verify(state, other.raw, now_ns=now)
    state, _ = verify(state, events[7].raw, now_ns=now)
    known = state.author(checkpoint.author)
    assert known is not None and known.next_seq == checkpoint.seq + 1
    with pytest.raises(errors.DuplicateEventError):
        verify(state, checkpoint.raw, now_ns=now)


def test_pinning_from_a_handshake() -> None:
    a, c = seeded_identity("pin-a"), seeded_identity("pin-c")
    state = ChainState().pin(a.public_key, "a.local:9000")
    assert state.pin(a.public_key, "a.local:9000") is state
    with pytest.raises(errors.AuthorityClaimedError):
        state.pin(c.public_key, "a.local:9000")
    with pytest.raises(errors.AuthorityClaimedError):
        state.pin(a.public_key, "other.local:9000")
    with pytest.raises(errors.MalformedEventError):
        ChainState().pin(a.public_key, "A.LOCAL:9000")  # not canonical
    start = build_chain(a, "a.local:9000", [(f"krapition://a.local:9000/system/nodes/{a.node_id}",
                                             start_payload("a.local:9000"))])[0]
    state, _ = verify(state, start.raw, now_ns=start.timestamp_ns)
    assert state.author(a.public_key).started  # type: ignore[union-attr]


def test_events_larger_than_the_signing_buffer_sign_and_verify_too() -> None:
    from krapition_app.model.events import BodyState, ObjectMoved
    from krapition_app.p2p.chain import Signer

    identity = seeded_identity("big")
    signer = Signer(identity.signing_key)
    bodies = tuple(BodyState(name=f"body-{i}", position=(float(i), 0.5, 1.0)) for i in range(700))
    event = signer.sign_next(1, ZERO_HASH, 1, f"krapition://big.local:9000/system/nodes/{identity.node_id}",
                             ObjectMoved(tick=1, bodies=bodies))
    assert len(event.raw) > 64 * 1024
    assert event.raw == sign_next(identity.signing_key, seq=1, prev=ZERO_HASH, uri=event.uri,
                                  payload=event.payload, timestamp_ns=1).raw
    assert check_signature(event.raw, max_size=1 << 20).id == event.id
    forged = event.raw[:5] + bytes([event.raw[5] ^ 1]) + event.raw[6:]
    with pytest.raises(errors.BadSignatureError):
        check_signature(forged, max_size=1 << 20)
