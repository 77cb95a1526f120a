"""The sans-IO protocol core (issue 7): handshake, passphrase, pins, frames and their attacks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from p2p.net_helpers import NOW, beat, hello, pair

from krapition_app.model.messages import Disconnect, Message
from krapition_app.p2p.protocol import (
    TRANSITIONS,
    AuthenticationError,
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    FrameError,
    LocalProtocolError,
    MessageReceived,
    PinMismatchError,
    ProtocolError,
    RemoteProtocolError,
    ReplayCache,
    Role,
    State,
)
from krapition_app.p2p.protocol.handshake import MSG1_SIZE
from krapition_app.p2p.testing import seeded_identity

A, B, C = seeded_identity("net-a"), seeded_identity("net-b"), seeded_identity("net-c")


def test_handshake_then_messages_both_ways() -> None:
    ci, cr, a, b = pair()
    assert ci.state is State.ESTABLISHED and cr.state is State.ESTABLISHED
    assert ci.peer_node_id == b.node_id and cr.peer_node_id == a.node_id
    events = cr.receive_data(ci.send_many([beat(a, 1), beat(a, 2)], NOW), NOW)
    assert [e.message.data.seq for e in events if isinstance(e, MessageReceived)] == [1, 2]
    events = ci.receive_data(cr.send(beat(b, 7), NOW), NOW)
    assert events[0].message.data.seq == 7


def test_data_split_into_single_bytes_still_parses() -> None:
    ci, cr, a, _ = pair()
    wire = ci.send_many([beat(a, i) for i in range(5)], NOW)
    got = []
    for i in range(len(wire)):
        got += cr.receive_data(wire[i : i + 1], NOW)
    assert [e.message.data.seq for e in got] == list(range(5))


def test_wrong_passphrase_gets_no_reply_bytes() -> None:
    ci = Connection(Role.INITIATOR, A, ConnectionConfig(passphrase="wrong horse"))
    cr = Connection(Role.RESPONDER, B, ConnectionConfig(passphrase="correct horse"))
    with pytest.raises(AuthenticationError) as info:
        cr.receive_data(ci.initiate(NOW), NOW)
    assert info.value.reason == "bad-psk"
    assert cr.data_to_send() == b"" and cr.state is State.ERROR
    # no passphrase at all against a node that has one: silence too
    cr2 = Connection(Role.RESPONDER, B, ConnectionConfig(passphrase="correct horse"))
    with pytest.raises(AuthenticationError):
        cr2.receive_data(Connection(Role.INITIATOR, A).initiate(NOW), NOW)
    assert cr2.data_to_send() == b""


def test_same_passphrase_handshakes() -> None:
    config = ConnectionConfig(passphrase="correct horse")
    ci, cr, _, _ = pair(config)
    assert ci.established and cr.established


def test_replayed_first_message_gets_no_reply() -> None:
    cache = ReplayCache()
    ci = Connection(Role.INITIATOR, A)
    msg1 = ci.initiate(NOW)
    first = Connection(Role.RESPONDER, B, replay_cache=cache)
    first.receive_data(msg1, NOW)
    assert first.data_to_send()
    again = Connection(Role.RESPONDER, B, replay_cache=cache)
    with pytest.raises(AuthenticationError) as info:
        again.receive_data(msg1, NOW + 10**9)
    assert info.value.reason == "replayed-hello" and again.data_to_send() == b""
    late = Connection(Role.RESPONDER, B)
    with pytest.raises(AuthenticationError) as info:
        late.receive_data(msg1, NOW + 3600 * 10**9)
    assert info.value.reason == "stale-hello"


def test_key_other_than_the_pinned_one_is_refused() -> None:
    # we dial expecting node C, but B answers (e.g. a spoofed mDNS record pointing at B)
    ci = Connection(Role.INITIATOR, A, expected_node_id=C.node_id)
    cr = Connection(Role.RESPONDER, B)
    cr.receive_data(ci.initiate(NOW), NOW)
    with pytest.raises(PinMismatchError):
        ci.receive_data(cr.data_to_send(), NOW)
    assert ci.data_to_send() == b""  # we do not even send our identity proof
    ci2 = Connection(Role.INITIATOR, A, expected_public_key=C.public_key)
    cr2 = Connection(Role.RESPONDER, B)
    cr2.receive_data(ci2.initiate(NOW), NOW)
    with pytest.raises(PinMismatchError):
        ci2.receive_data(cr2.data_to_send(), NOW)


def test_connect_naming_another_key_is_refused() -> None:
    ci = Connection(Role.INITIATOR, A)
    cr = Connection(Role.RESPONDER, B)
    cr.receive_data(ci.initiate(NOW), NOW)
    ci.receive_data(cr.data_to_send(), NOW)
    forged = hello(C)  # A claims to be C in its Connect
    with pytest.raises(PinMismatchError):
        cr.receive_data(ci.data_to_send() + ci.send(forged, NOW), NOW)


def test_first_message_must_be_connect() -> None:
    ci = Connection(Role.INITIATOR, A)
    with pytest.raises(LocalProtocolError):
        ci.send(beat(A, 1), NOW)  # before the handshake
    cr = Connection(Role.RESPONDER, B)
    cr.receive_data(ci.initiate(NOW), NOW)
    ci.receive_data(cr.data_to_send(), NOW)
    with pytest.raises(LocalProtocolError):
        ci.send(beat(A, 1), NOW)  # after it, but before Connect


@pytest.mark.parametrize("where", [0, 3, 4, 10, -1])
def test_bit_flip_closes(where: int) -> None:
    ci, cr, a, _ = pair()
    frame = bytearray(ci.send(beat(a, 1), NOW))
    frame[where] ^= 0x01
    with pytest.raises(RemoteProtocolError):
        cr.receive_data(bytes(frame), NOW)
    assert cr.state is State.ERROR
    with pytest.raises(RemoteProtocolError):  # and it stays dead
        cr.receive_data(ci.send(beat(a, 2), NOW), NOW)


def test_truncated_frame_waits_then_eof_closes() -> None:
    ci, cr, a, _ = pair()
    frame = ci.send(beat(a, 1), NOW)
    assert cr.receive_data(frame[:-5], NOW) == []
    events = cr.receive_data(b"", NOW)
    assert events == [ConnectionClosed(graceful=False, reason="end of stream")]
    assert cr.state is State.CLOSED


def test_replayed_and_reordered_frames_close() -> None:
    ci, cr, a, _ = pair()
    f1, f2 = ci.send(beat(a, 1), NOW), ci.send(beat(a, 2), NOW)
    cr.receive_data(f1, NOW)
    with pytest.raises(AuthenticationError):
        cr.receive_data(f1, NOW)  # replay
    ci, cr, a, _ = pair()
    f1, f2 = ci.send(beat(a, 1), NOW), ci.send(beat(a, 2), NOW)
    with pytest.raises(AuthenticationError):
        cr.receive_data(f2 + f1, NOW)  # reorder


def test_oversized_length_prefix_closes_without_buffering() -> None:
    _, cr, _, _ = pair(ConnectionConfig(max_frame_size=4096))
    with pytest.raises(FrameError) as info:
        cr.receive_data(b"\xff\xff\xff\xff" + b"x" * 10, NOW)
    assert info.value.reason == "oversized-frame"
    assert len(cr._buffer) == 0


def test_garbage_before_and_after_handshake() -> None:
    cr = Connection(Role.RESPONDER, B)
    with pytest.raises(RemoteProtocolError):
        cr.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"z" * 60, NOW)
    assert cr.data_to_send() == b""
    cr = Connection(Role.RESPONDER, B)
    with pytest.raises(RemoteProtocolError):
        cr.receive_data(b"\x00" * (MSG1_SIZE + 1), NOW)
    _, cr2, _, _ = pair()
    with pytest.raises(RemoteProtocolError):
        cr2.receive_data(b"\x00\x00\x00\x40" + bytes(range(64)), NOW)


def test_rekey_after_the_set_time_and_frames() -> None:
    config = ConnectionConfig(rekey_after_s=10.0)
    ci, cr, a, _ = pair(config)
    key = ci._sealer.key
    later = NOW + 11 * 10**9
    events = cr.receive_data(ci.send(beat(a, 1), later), later)
    assert ci._sealer.key != key and cr._opener.rekeys == 1
    assert events[0].message.data.seq == 1
    cr.receive_data(ci.send(beat(a, 2), later), later)
    ci2, cr2, a2, _ = pair(ConnectionConfig(rekey_after_frames=3))
    for i in range(10):
        assert cr2.receive_data(ci2.send(beat(a2, i), NOW), NOW)[0].message.data.seq == i
    assert cr2._opener.rekeys >= 3


def test_disconnect_closes_gracefully_and_data_after_it_is_an_error() -> None:
    ci, cr, a, _ = pair()
    bye = Message(id="bye", data=Disconnect(reason="done"), timestamp_ns=NOW, source=a.node_id,
                  destination="*")
    events = cr.receive_data(ci.send(bye, NOW), NOW)
    assert events[-1] == ConnectionClosed(graceful=True, reason="done")
    assert ci.state is State.CLOSING and cr.state is State.CLOSED
    assert cr.receive_data(b"", NOW)[0].graceful


def test_transition_table_is_closed() -> None:
    states = {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values())
    assert states == set(State)
    ci = Connection(Role.INITIATOR, A)
    with pytest.raises(LocalProtocolError):
        ci._transition("send-disconnect")


def test_source_must_be_the_peer() -> None:
    ci, cr, _, _ = pair()
    with pytest.raises(RemoteProtocolError) as info:
        cr.receive_data(ci.send(beat(C, 1), NOW), NOW)
    assert info.value.reason == "bad-source"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), max_size=6),
       st.sampled_from(["responder", "initiator", "established"]))
def test_fuzz_arbitrary_bytes_raise_only_protocol_errors(chunks: list[bytes], where: str) -> None:
    if where == "responder":
        conn = Connection(Role.RESPONDER, B)
    elif where == "initiator":
        conn = Connection(Role.INITIATOR, A)
        conn.initiate(NOW)
    else:
        _, conn, _, _ = pair()
    for chunk in chunks:
        try:
            conn.receive_data(chunk, NOW)
        except ProtocolError:
            return
        assert conn.data_to_send() == b"" or where == "responder"
        assert len(conn._buffer) <= conn.config.max_frame_size + 4 + 300


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_fuzz_authenticated_plaintext_raises_only_protocol_errors(bodies: list[bytes]) -> None:
    """Garbage *inside* valid frames (an authenticated but broken peer)."""
    from krapition_app.p2p.protocol.framing import KIND_MESSAGES, pack_messages

    ci, cr, _, _ = pair()
    for body in bodies:
        frames = [ci._sealer.seal(KIND_MESSAGES, body), ci._sealer.seal(KIND_MESSAGES, pack_messages([body]))]
        if body:
            frames.append(ci._sealer.seal(body[0], body[1:]))
        for frame in frames:
            try:
                cr.receive_data(frame, NOW)
            except ProtocolError:
                return


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["send", "deliver", "rekey"]), st.booleans(),
                          st.integers(min_value=1, max_value=3000)), max_size=40))
def test_any_interleaving_delivers_everything_in_order(ops: list[tuple[str, bool, int]]) -> None:
    """Sends, partial deliveries and rekeys in any order, both ways: nothing lost, nothing reordered."""
    ci, cr, a, b = pair(ConnectionConfig(rekey_after_frames=5))
    sides = {True: (ci, cr, a), False: (cr, ci, b)}
    wire = {True: bytearray(), False: bytearray()}
    sent = {True: 0, False: 0}
    got: dict[bool, list[int]] = {True: [], False: []}
    for op, forward, n in ops:
        sender, receiver, who = sides[forward]
        if op == "send":
            count = n % 7 + 1
            wire[forward] += sender.send_many([beat(who, sent[forward] + i) for i in range(count)], NOW)
            sent[forward] += count
        elif op == "rekey":
            wire[forward] += sender.force_rekey(NOW)
        else:
            chunk, wire[forward] = bytes(wire[forward][:n]), wire[forward][n:]
            if chunk:
                got[forward] += [e.message.data.seq for e in receiver.receive_data(chunk, NOW)
                                 if isinstance(e, MessageReceived)]
    for forward in (True, False):
        _, receiver, _ = sides[forward]
        if wire[forward]:
            got[forward] += [e.message.data.seq for e in receiver.receive_data(bytes(wire[forward]), NOW)
                             if isinstance(e, MessageReceived)]
        assert got[forward] == list(range(sent[forward]))
