"""Canonical encoding of events and messages: round trip, determinism, strictness."""

import hashlib
import json
import math
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import EVENT_PAYLOAD_STRATEGIES, MESSAGE_DATA_STRATEGIES, envelopes, event_payloads, messages

from krapition_app.model import events as ev
from krapition_app.model import messages as msg
from krapition_app.model.encoding import decode, encode, from_json, to_json
from krapition_app.model.errors import EncodingError, NonCanonicalEncodingError

GOLDEN = Path(__file__).parent / "golden" / "encodings.json"


def test_the_seed_event_and_message_types_all_exist():
    seed_events = {
        "ObjectCreated",
        "ObjectDeleted",
        "ObjectMoved",
        "CollisionDetected",
        "ConstraintApplied",
        "SoundEmitted",
        "SoundReceived",
        "AcousticCollision",
        "AcousticReflection",
        "AcousticInterference",
        "UserInput",
        "UserAction",
        "UserCommand",
        "SystemStart",
        "SystemStop",
        "NodeJoined",
        "NodeLeft",
    }
    assert seed_events <= {t.value for t in ev.EventType}
    assert {t.value for t in ev.EventType} == {t.value for t in ev.PAYLOAD_TYPES}
    assert {t.value for t in msg.MessageType} == {
        "Connect",
        "Disconnect",
        "Heartbeat",
        "Ack",
        "Nack",
        "DataRequest",
        "DataResponse",
        "DataUpdate",
        "EventPublish",
        "EventSubscribe",
        "EventUnsubscribe",
    }


def test_every_type_has_a_property_strategy():
    assert set(EVENT_PAYLOAD_STRATEGIES) == set(ev.PAYLOAD_TYPES.values())
    assert set(MESSAGE_DATA_STRATEGIES) == set(msg.DATA_TYPES.values())


@given(envelopes)
def test_envelope_round_trip(envelope):
    data = envelope.to_bytes()
    assert ev.EventEnvelope.from_bytes(data) == envelope
    assert ev.EventEnvelope.from_bytes(data).type is envelope.payload.event_type


@given(envelopes)
def test_same_value_same_bytes(envelope):
    # a value rebuilt from its parts (not the same object) encodes to the very same bytes
    rebuilt = msgspec.convert(msgspec.to_builtins(envelope), ev.EventEnvelope)
    assert rebuilt == envelope
    assert encode(rebuilt) == encode(envelope)


@given(messages)
def test_message_round_trip(message):
    assert msg.Message.from_bytes(message.to_bytes()) == message
    assert message.type.value == type(message.data).__name__


@given(event_payloads)
def test_json_view_round_trip(payload):
    text = to_json(payload)
    assert json.loads(text)["type"] == payload.event_type.value
    assert from_json(text, ev.AnyEventPayload) == payload


@given(envelopes, st.data())
def test_every_truncation_is_rejected(envelope, data):
    raw = envelope.to_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(EncodingError):
        ev.EventEnvelope.from_bytes(raw[:cut])


@given(st.binary(max_size=300))
@example(b"\x81\xa8\x00\x00\x00\x00\x00\x00\x00\x80")  # a field name that is not UTF-8
def test_arbitrary_bytes_decode_or_raise_encoding_error_only(raw):
    try:
        value = msg.Message.from_bytes(raw)
    except EncodingError:
        return
    assert value.to_bytes() == raw


def test_non_canonical_bytes_are_refused():
    body = ev.ObjectDeleted(reason="x")
    canonical = encode(body)
    # the same map with its keys in another order is valid msgpack but not canonical
    reordered = msgspec.msgpack.encode({"moved_to": None, "type": "ObjectDeleted", "reason": "x"})
    assert decode(canonical, ev.AnyEventPayload) == body
    with pytest.raises(NonCanonicalEncodingError):
        decode(reordered, ev.AnyEventPayload)
    # an integer where a float belongs decodes, but is not the canonical float64
    state = ev.BodyState(name="a", position=(1.0, 2.0, 3.0))
    as_ints = msgspec.msgpack.encode({**msgspec.to_builtins(state), "position": [1, 2, 3]})
    with pytest.raises(NonCanonicalEncodingError):
        decode(as_ints, ev.BodyState)


def test_negative_zero_is_stored_as_zero():
    a = ev.BodyState(name="a", position=(-0.0, 0.0, 0.0))
    b = ev.BodyState(name="a", position=(0.0, 0.0, 0.0))
    assert encode(a) == encode(b)
    assert math.copysign(1.0, a.position[0]) == 1.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ev.BodyState(name="a", position=(math.nan, 0.0, 0.0)), "finite"),
        (
            lambda: ev.BodyState(name="a", position=(0.0, 0.0, 0.0), orientation=(2.0, 0.0, 0.0, 0.0)),
            "quaternion",
        ),
        (
            lambda: ev.CollisionDetected(
                body_a="nope",
                body_b=None,
                point=(0, 0, 0),
                normal=(0, 0, 1),
                impulse=1.0,
                normal_speed=1.0,
                tangential_speed=0.0,
            ),
            "body_a",
        ),
        (
            lambda: ev.CollisionDetected(
                body_a="krapition://h:1/physics/objects/a",
                body_b=None,
                point=(0, 0, 0),
                normal=(0, 0, 1),
                impulse=-1.0,
                normal_speed=1.0,
                tangential_speed=0.0,
            ),
            "impulse",
        ),
        (
            lambda: ev.SoundEmitted(
                source="krapition://h:1/physics/objects/a",
                time=0.0,
                frequencies=(1.0,),
                amplitudes=(),
                decay_rates=(),
            ),
            "one entry per mode",
        ),
        (
            lambda: ev.AcousticReflection(
                source="krapition://h:1/physics/objects/a",
                listener="krapition://h:1/audio/listeners/l",
                order=2,
                walls=("x-",),
                delay=0.0,
                gain=1.0,
            ),
            "one wall per reflection",
        ),
        (
            lambda: ev.EventEnvelope(
                author=b"short",
                seq=0,
                prev=bytes(32),
                timestamp_ns=0,
                uri="krapition://h:1/physics/objects/a",
                payload=ev.SystemStop(),
            ),
            "author",
        ),
        (
            lambda: ev.EventEnvelope(
                author=bytes(32),
                seq=-1,
                prev=bytes(32),
                timestamp_ns=0,
                uri="krapition://h:1/physics/objects/a",
                payload=ev.SystemStop(),
            ),
            "seq",
        ),
        (lambda: msg.Heartbeat(seq=1, load=math.inf), "finite"),
        (
            lambda: msg.Connect(protocol_version=1, node_id="n", name="n", authority="h:1", public_key=b"x"),
            "public_key",
        ),
        (
            lambda: msg.Message(id="", data=msg.Ack(ref="r"), timestamp_ns=0, source="a", destination="b"),
            "id",
        ),
    ],
)
def test_structs_validate_themselves(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_validation_applies_when_decoding_too():
    good = ev.BodyState(name="a", position=(0.0, 0.0, 0.0))
    raw = msgspec.msgpack.encode({**msgspec.to_builtins(good), "orientation": [2.0, 0.0, 0.0, 0.0]})
    with pytest.raises(EncodingError, match="unit quaternion"):
        decode(raw, ev.BodyState)


def test_encodings_match_the_golden_file():
    """The same values give the same bytes on every machine: pinned by hashes in a golden file."""
    samples = golden_samples()
    actual = {
        name: hashlib.blake2b(encode(value), digest_size=16).hexdigest() for name, value in samples.items()
    }
    expected = json.loads(GOLDEN.read_text())
    assert actual == expected


def golden_samples() -> dict[str, object]:
    uri = "krapition://alice.local:8080/physics/objects/ball-001"
    from krapition_app.model.scene import BodySpec

    body = BodySpec(name="ball-001", shape="sphere", radius=0.1, material="rubber", position=(0.0, 1.5, 0.25))
    return {
        "ObjectCreated": ev.EventEnvelope(
            author=bytes(range(32)),
            seq=7,
            prev=bytes(32),
            timestamp_ns=1_700_000_000,
            uri=uri,
            payload=ev.ObjectCreated(body=body),
        ),
        "ObjectMoved": ev.ObjectMoved(
            tick=3,
            bodies=(ev.BodyState(name="ball-001", position=(0.1, 0.2, 0.3), velocity=(0.0, 0.0, -1.0)),),
        ),
        "CollisionDetected": ev.CollisionDetected(
            body_a=uri,
            body_b=None,
            point=(0.0, 0.0, 0.0),
            normal=(0.0, 0.0, 1.0),
            impulse=0.5,
            normal_speed=2.0,
            tangential_speed=0.1,
            kind="sliding",
            tick=9,
        ),
        "UserCommand": ev.UserCommand(command="set", target=uri, body=body, params={"b": 1, "a": 0.5}),
        "Heartbeat": msg.Message(
            id="m-1",
            data=msg.Heartbeat(seq=2, load=0.25, state_hashes={"x": b"\x01"}),
            timestamp_ns=5,
            source="n1",
            destination="*",
        ),
        "EventPublish": msg.Message(
            id="m-2", data=msg.EventPublish(events=(b"abc",)), timestamp_ns=6, source="n1", destination="n2"
        ),
    }


if __name__ == "__main__":  # regenerate the golden file after a deliberate format change
    GOLDEN.parent.mkdir(exist_ok=True)
    hashes = {n: hashlib.blake2b(encode(v), digest_size=16).hexdigest() for n, v in golden_samples().items()}
    GOLDEN.write_text(json.dumps(hashes, indent=2) + "\n")
