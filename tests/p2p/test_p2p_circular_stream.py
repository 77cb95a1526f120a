from __future__ import annotations

import pytest

from krapition_app.model.events import ChainCheckpoint, ObjectCreated
from krapition_app.p2p.chain import CircularEventStream, SignedEvent
from krapition_app.p2p.errors import ChainLinkError, UnknownEventError
from krapition_app.p2p.testing import ball, build_chain, node_uri, object_uri, seeded_identity, start_payload

AUTH = "a.local:9000"
A = seeded_identity("stream-a")


def chain(n: int) -> list[SignedEvent]:
    items: list = [(node_uri(A, AUTH), start_payload(AUTH))]
    items += [(object_uri(AUTH, f"b{i}"), ObjectCreated(body=ball(f"b{i}"))) for i in range(n - 1)]
    return build_chain(A, AUTH, items)


def checkpoint_after(events: list[SignedEvent], horizon: int) -> SignedEvent:
    head = events[-1]
    return build_chain(A, AUTH, [(f"krapition://{AUTH}/system/checkpoints/x", ChainCheckpoint(
        horizon_seq=horizon, horizon_id=events[horizon].id, state_hash=bytes(32), authority=AUTH,
    ))], first_seq=head.seq + 1, prev=head.id)[0]


def test_links_head_and_tail() -> None:
    events = chain(5)
    stream = CircularEventStream(A.public_key, max_size=10)
    for e in events:
        stream.add_event(e)
    assert stream.head == events[-1].id and stream.tail == events[0].id
    assert list(stream) == events
    node = stream.node(events[2].id)
    assert node.previous_node_id == events[1].id and node.next_node_id == events[3].id
    assert stream.get_events(events[1].id, events[3].id) == events[1:4]
    assert stream.get_events() == events
    with pytest.raises(UnknownEventError):
        stream.get_events(b"x" * 32)
    with pytest.raises(ValueError):
        stream.get_events(events[3].id, events[1].id)


def test_add_event_refuses_what_does_not_extend_the_head() -> None:
    events = chain(4)
    stream = CircularEventStream(A.public_key)
    stream.add_event(events[0])
    with pytest.raises(ChainLinkError):
        stream.add_event(events[2])
    with pytest.raises(ChainLinkError):
        stream.add_event(events[0])
    other = build_chain(seeded_identity("other"), AUTH, [(node_uri(A, AUTH), start_payload(AUTH))])[0]
    with pytest.raises(ChainLinkError):
        stream.add_event(other)


def test_add_events_links_a_run_as_add_event_does_and_keeps_what_came_before_a_break() -> None:
    events = chain(8)
    one, run = CircularEventStream(A.public_key), CircularEventStream(A.public_key)
    for e in events:
        one.add_event(e)
    run.add_events(events[:1])  # an empty stream: one at a time
    run.add_events(events[1:])
    assert list(run) == list(one) == events and run.head == one.head and run.tail == one.tail
    assert [run.node(e.id).previous_node_id for e in events] == [None, *(e.id for e in events[:-1])]
    more = chain(12)[8:]
    broken = CircularEventStream(A.public_key)
    broken.add_events(events)
    with pytest.raises(ChainLinkError, match="does not extend"):
        broken.add_events([more[0], more[2]])  # seq 9 is missing
    assert broken.head == more[0].id and len(broken) == 9
    assert broken.node(events[-1].id).next_node_id == more[0].id
    with pytest.raises(ChainLinkError, match="already in the stream"):
        broken.add_events([more[0]])
    other = build_chain(seeded_identity("other"), AUTH, [(node_uri(A, AUTH), start_payload(AUTH))])[0]
    with pytest.raises(ChainLinkError, match="another author"):
        broken.add_events([other])
    assert broken.head == more[0].id and len(broken) == 9


def test_retention_by_count_and_cleanup_behind_a_checkpoint() -> None:
    events = chain(10)
    stream = CircularEventStream(A.public_key, max_size=6)
    for e in events:
        stream.add_event(e)
    horizon = stream.retention_horizon(now_ns=0)
    assert horizon == 4  # 10 events + the checkpoint to come, keep 6
    checkpoint = checkpoint_after(events, horizon)
    stream.add_event(checkpoint)
    dropped = stream.cleanup(checkpoint)
    assert [e.seq for e in dropped] == [0, 1, 2, 3, 4]
    assert len(stream) == 6 and stream.tail == events[5].id and stream.head == checkpoint.id
    assert stream.node(events[5].id).previous_node_id is None
    assert stream.checkpoint is checkpoint
    assert stream.retention_horizon(now_ns=0) is None


def test_retention_by_age() -> None:
    events = chain(6)  # 1 ms apart
    stream = CircularEventStream(A.public_key, max_size=100, max_age_ns=2_500_000)
    for e in events:
        stream.add_event(e)
    now = events[-1].timestamp_ns
    # events older than 2.5 ms: seqs 0, 1 and 2
    assert stream.retention_horizon(now) == 2
    assert stream.retention_horizon(events[0].timestamp_ns) is None


def test_cleanup_needs_a_held_checkpoint_with_the_right_horizon() -> None:
    events = chain(5)
    stream = CircularEventStream(A.public_key, max_size=3)
    for e in events:
        stream.add_event(e)
    checkpoint = checkpoint_after(events, 2)
    with pytest.raises(ChainLinkError):
        stream.cleanup(checkpoint)  # not added yet
    with pytest.raises(ChainLinkError):
        stream.cleanup(events[1])


def test_late_join_from_a_checkpoint() -> None:
    events = chain(8)
    checkpoint = checkpoint_after(events, 4)
    stream = CircularEventStream(A.public_key)
    stream.start_from(checkpoint)
    for e in events[5:]:
        stream.add_event(e)
    assert stream.head == checkpoint.id and stream.tail == events[5].id
    assert [e.seq for e in stream] == [5, 6, 7, 8]
