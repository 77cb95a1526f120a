"""Hypothesis strategies for the data model, shared by the model's property tests."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from krapition_app.model import events as ev
from krapition_app.model import messages as msg
from krapition_app.model.materials import MATERIAL_NAMES
from krapition_app.model.scene import BallSocketSpec, BodySpec, DistanceSpec, HingeSpec, Scene
from krapition_app.model.uri import COLLECTIONS, Authority, KrapitionURI

_LABEL = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
dns_hosts = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
ipv4_hosts = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6_hosts = st.integers(0, 2**128 - 1).map(lambda n: f"[{ipaddress.IPv6Address(n).compressed}]")
hosts = st.one_of(dns_hosts, ipv4_hosts, ipv6_hosts)
ports = st.integers(1, 65535)
authorities = st.builds(Authority, hosts, ports)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,40}", fullmatch=True)
kind_collections = st.sampled_from([(k, c) for k, cs in COLLECTIONS.items() for c in sorted(cs)])


@st.composite
def uris(draw: st.DrawFn, kind: str | None = None, collection: str | None = None) -> KrapitionURI:
    k, c = (kind, collection) if kind else draw(kind_collections)
    return KrapitionURI(draw(authorities), k, c, draw(names))


object_uris = uris("physics", "objects").map(str)
listener_uris = uris("audio", "listeners").map(str)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
positive = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)
vec3 = st.tuples(finite, finite, finite)
sizes = st.floats(0.005, 50.0, allow_nan=False)
materials = st.sampled_from(MATERIAL_NAMES)


@st.composite
def unit_quaternions(draw: st.DrawFn) -> tuple[float, float, float, float]:
    q = draw(
        st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 4).filter(lambda q: sum(c * c for c in q) > 1e-3)
    )
    n = sum(c * c for c in q) ** 0.5
    return tuple(c / n for c in q)  # type: ignore[return-value]


@st.composite
def bodies(draw: st.DrawFn, name: str | None = None) -> BodySpec:
    shape = draw(st.sampled_from(["sphere", "box"]))
    size = (
        {"radius": draw(sizes)}
        if shape == "sphere"
        else {"half_extents": draw(st.tuples(sizes, sizes, sizes))}
    )
    return BodySpec(
        name=name or draw(names),
        shape=shape,
        material=draw(materials),
        position=draw(vec3),
        orientation=draw(unit_quaternions()),
        velocity=draw(vec3),
        angular_velocity=draw(vec3),
        static=draw(st.booleans()),
        **size,
    )


@st.composite
def scenes(draw: st.DrawFn) -> Scene:
    body_names = draw(st.lists(names, max_size=8, unique=True))
    body_list = tuple(draw(bodies(name=n)) for n in body_names)
    constraints = []
    if len(body_names) >= 2:
        a, b = body_names[0], body_names[1]
        constraints = [
            BallSocketSpec(name="joint", body_a=a, body_b=b, anchor=draw(vec3)),
            HingeSpec(name="hinge", body_a=a, axis=(0.0, 1.0, 0.0), lower_limit=-1.0, upper_limit=1.0),
            DistanceSpec(name="rod", body_a=a, body_b=b, anchor_b=draw(vec3), distance=draw(positive)),
        ]
    return Scene(
        name=draw(st.text(max_size=20)),
        bodies=body_list,
        constraints=tuple(constraints),
        ground=draw(st.booleans()),
    )


small_text = st.text(max_size=30)
params = st.dictionaries(
    st.text(max_size=10),
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), finite, small_text),
    max_size=4,
)
body_states = st.builds(
    ev.BodyState,
    name=names,
    position=vec3,
    orientation=unit_quaternions(),
    velocity=vec3,
    angular_velocity=vec3,
)
unit_normals = st.just((0.0, 0.0, 1.0)) | st.just((1.0, 0.0, 0.0)) | st.just((0.0, -1.0, 0.0))


@st.composite
def sound_emitted(draw: st.DrawFn) -> ev.SoundEmitted:
    n = draw(st.integers(0, 8))
    modes = st.lists(positive, min_size=n, max_size=n).map(tuple)
    return ev.SoundEmitted(
        source=draw(object_uris),
        time=draw(positive),
        frequencies=draw(modes),
        amplitudes=draw(modes),
        decay_rates=draw(modes),
    )


@st.composite
def reflections(draw: st.DrawFn) -> ev.AcousticReflection:
    walls = draw(st.lists(st.sampled_from(["x-", "x+", "y-", "y+", "z-", "z+"]), max_size=4))
    return ev.AcousticReflection(
        source=draw(object_uris),
        listener=draw(listener_uris),
        order=len(walls),
        walls=tuple(walls),
        delay=draw(positive),
        gain=draw(positive),
    )


EVENT_PAYLOAD_STRATEGIES: dict[type, st.SearchStrategy] = {
    ev.ObjectCreated: st.builds(ev.ObjectCreated, body=bodies()),
    ev.ObjectDeleted: st.builds(ev.ObjectDeleted, reason=small_text, moved_to=st.none() | object_uris),
    ev.ObjectMoved: st.builds(
        ev.ObjectMoved, tick=st.integers(0, 2**40), bodies=st.lists(body_states, max_size=4).map(tuple)
    ),
    ev.CollisionDetected: st.builds(
        ev.CollisionDetected,
        body_a=object_uris,
        body_b=st.none() | object_uris,
        point=vec3,
        normal=unit_normals,
        impulse=positive,
        normal_speed=positive,
        tangential_speed=positive,
        kind=st.sampled_from(["impact", "sliding", "rolling"]),
        tick=st.integers(0, 2**40),
    ),
    ev.ConstraintApplied: st.builds(
        ev.ConstraintApplied,
        constraint=st.builds(BallSocketSpec, name=names, body_a=names, anchor=vec3),
        active=st.booleans(),
    ),
    ev.SoundEmitted: sound_emitted(),
    ev.SoundReceived: st.builds(
        ev.SoundReceived,
        source=object_uris,
        listener=listener_uris,
        delay=positive,
        gain=positive,
        pan=st.floats(-1, 1),
    ),
    ev.AcousticCollision: st.builds(
        ev.AcousticCollision,
        body_a=object_uris,
        body_b=st.none() | object_uris,
        material_a=materials,
        material_b=st.none() | materials,
        impulse=positive,
        contact_duration=positive,
        time=positive,
    ),
    ev.AcousticReflection: reflections(),
    ev.AcousticInterference: st.builds(
        ev.AcousticInterference,
        source=object_uris,
        listener=listener_uris,
        path_difference=positive,
        notch_frequencies=st.lists(positive, max_size=6).map(tuple),
    ),
    ev.UserInput: st.builds(
        ev.UserInput,
        device=st.sampled_from(["mouse", "keyboard", "touch", "api"]),
        action=small_text,
        params=params,
    ),
    ev.UserAction: st.builds(
        ev.UserAction,
        action=st.sampled_from(["grab", "drag", "release", "spawn", "delete", "throw"]),
        target=st.none() | object_uris,
        point=st.none() | vec3,
        params=params,
    ),
    ev.UserCommand: st.builds(
        ev.UserCommand,
        command=small_text,
        target=st.none() | object_uris,
        body=st.none() | bodies(),
        params=params,
    ),
    ev.SystemStart: st.builds(
        ev.SystemStart, version=small_text, name=small_text, authority=authorities.map(str)
    ),
    ev.SystemStop: st.builds(ev.SystemStop, reason=small_text),
    ev.NodeJoined: st.builds(
        ev.NodeJoined,
        node_id=small_text,
        name=small_text,
        authority=authorities.map(str),
        fingerprint=small_text,
    ),
    ev.NodeLeft: st.builds(
        ev.NodeLeft, node_id=small_text, reason=st.sampled_from(["graceful", "dead", "kicked"])
    ),
    ev.ChainCheckpoint: st.builds(
        ev.ChainCheckpoint,
        horizon_seq=st.integers(0, ev.MAX_SEQ - 1),
        horizon_id=st.binary(min_size=32, max_size=32),
        state_hash=st.binary(min_size=32, max_size=32),
        authority=authorities.map(str),
    ),
}
event_payloads = st.one_of(*EVENT_PAYLOAD_STRATEGIES.values())

envelopes = st.builds(
    ev.EventEnvelope,
    author=st.binary(min_size=32, max_size=32),
    seq=st.integers(0, ev.MAX_SEQ - 1),
    prev=st.binary(min_size=32, max_size=32),
    timestamp_ns=st.integers(0, 2**63 - 1),
    uri=uris().map(str),
    payload=event_payloads,
)

ids = st.text(min_size=1, max_size=32)
MESSAGE_DATA_STRATEGIES: dict[type, st.SearchStrategy] = {
    msg.Connect: st.builds(
        msg.Connect,
        protocol_version=st.integers(0, 100),
        node_id=small_text,
        name=small_text,
        authority=authorities.map(str),
        public_key=st.binary(min_size=32, max_size=32),
        capabilities=st.lists(small_text, max_size=3).map(tuple),
    ),
    msg.Disconnect: st.builds(msg.Disconnect, reason=small_text),
    msg.Heartbeat: st.builds(
        msg.Heartbeat,
        seq=st.integers(0, 2**40),
        load=st.floats(0, 1),
        state_hashes=st.dictionaries(small_text, st.binary(max_size=32), max_size=3),
        confirmed_tick=st.integers(0, 2**40),
    ),
    msg.Ack: st.builds(msg.Ack, ref=ids),
    msg.Nack: st.builds(msg.Nack, ref=ids, code=small_text, reason=small_text),
    msg.DataRequest: st.builds(msg.DataRequest, pattern=small_text),
    msg.DataResponse: st.builds(
        msg.DataResponse,
        ref=ids,
        items=st.lists(
            st.builds(msg.DataItem, uri=object_uris, seq=st.integers(0, 2**40), body=st.none() | bodies()),
            max_size=3,
        ).map(tuple),
    ),
    msg.DataUpdate: st.builds(msg.DataUpdate, uri=object_uris, body=st.none() | bodies()),
    msg.EventPublish: st.builds(
        msg.EventPublish, events=st.lists(st.binary(max_size=64), max_size=4).map(tuple)
    ),
    msg.EventSubscribe: st.builds(
        msg.EventSubscribe, from_seq=st.dictionaries(small_text, st.integers(0, 2**40), max_size=3)
    ),
    msg.EventUnsubscribe: st.builds(
        msg.EventUnsubscribe, authors=st.lists(small_text, max_size=3).map(tuple)
    ),
}
message_data = st.one_of(*MESSAGE_DATA_STRATEGIES.values())
messages = st.builds(
    msg.Message,
    id=ids,
    data=message_data,
    timestamp_ns=st.integers(0, 2**63 - 1),
    source=small_text,
    destination=small_text,
)
