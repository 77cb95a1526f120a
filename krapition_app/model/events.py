"""The seed's 17 event types (plus the chain's checkpoint), as typed, frozen, self-validating structs.

Every change in a Krapition world is one of these events, written by the node that owns the URI
it is about. A payload struct's tag is its event type, so ``EventType`` and payload can never
disagree. :class:`EventEnvelope` is the unsigned event: signing, hashing and chaining it is the
job of ``p2p.chain``.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Literal

import msgspec
from msgspec.structs import force_setattr

from .encoding import canonical_float, decode, encode
from .geometry import IDENTITY_QUAT, ZERO3, Quat, Vec3, checked_quaternion, checked_vector
from .scene import MAX_COORDINATE, MAX_SPEED, BodySpec, ConstraintSpec
from .uri import KrapitionURI

#: A small JSON-like mapping for free-form parameters of user input, actions and commands.
Params = dict[str, str | int | float | bool | None]
MAX_TEXT = 1024
MAX_ITEMS = 4096
#: bytes of one ObjectMoved's motion packet (model.motion keeps far below: ~5 bytes a moving body)
MAX_MOTION_BYTES = 4 * 1024 * 1024


class EventType(enum.StrEnum):
    # physics
    OBJECT_CREATED = "ObjectCreated"
    OBJECT_DELETED = "ObjectDeleted"
    OBJECT_MOVED = "ObjectMoved"
    COLLISION_DETECTED = "CollisionDetected"
    CONSTRAINT_APPLIED = "ConstraintApplied"
    # sound
    SOUND_EMITTED = "SoundEmitted"
    SOUND_RECEIVED = "SoundReceived"
    ACOUSTIC_COLLISION = "AcousticCollision"
    ACOUSTIC_REFLECTION = "AcousticReflection"
    ACOUSTIC_INTERFERENCE = "AcousticInterference"
    # user
    USER_INPUT = "UserInput"
    USER_ACTION = "UserAction"
    USER_COMMAND = "UserCommand"
    # system
    SYSTEM_START = "SystemStart"
    SYSTEM_STOP = "SystemStop"
    NODE_JOINED = "NodeJoined"
    NODE_LEFT = "NodeLeft"
    # chain (added by the event chain: the signed horizon behind which old events may be dropped)
    CHAIN_CHECKPOINT = "ChainCheckpoint"


def _check_text(what: str, text: str, limit: int = MAX_TEXT) -> None:
    if len(text) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")


#: URIs that passed _check_uri (most events name one of a few URIs; bounded, then it starts over)
_VALID_URIS: set[str] = set()


def _check_uri(what: str, text: str) -> None:
    if type(text) is str and text in _VALID_URIS:
        return
    try:
        KrapitionURI.parse(text)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if type(text) is str:
        if len(_VALID_URIS) >= 8192:
            _VALID_URIS.clear()
        _VALID_URIS.add(text)


def _check_params(what: str, params: Params) -> None:
    if len(params) > 64:
        raise ValueError(f"{what} holds more than 64 entries")
    for key, value in params.items():
        _check_text(f"{what} key", key, 64)
        if isinstance(value, float):
            canonical_float(value)
        elif isinstance(value, str):
            _check_text(f"{what}[{key!r}]", value)


def _finite(what: str, value: float, low: float = -1e12, high: float = 1e12) -> float:
    try:
        value = canonical_float(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if not low <= value <= high:
        raise ValueError(f"{what} must be within [{low:g}, {high:g}], got {value!r}")
    return value


class EventPayload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
                   tag_field="type", tag=True, gc=False):
    """Base of every payload; the tag (the class name) is the event type.

    Events, like their envelopes and bodies, are not tracked by the garbage collector (``gc=False``):
    they are immutable and hold plain data, so they never form a cycle, and a node keeps thousands
    of them that every full collection would otherwise walk again."""

    @property
    def event_type(self) -> EventType:
        return EventType(type(self).__name__)


def _canon_floats(obj: msgspec.Struct, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            force_setattr(obj, name, _finite(name, value))


# ---- physics ---------------------------------------------------------------------------------


class ObjectCreated(EventPayload, frozen=True):
    body: BodySpec


class ObjectDeleted(EventPayload, frozen=True):
    reason: str = ""
    #: set when the object was handed to another node: the URI it lives on as now
    moved_to: str | None = None

    def __post_init__(self) -> None:
        _check_text("reason", self.reason)
        if self.moved_to is not None:
            _check_uri("moved_to", self.moved_to)


class BodyState(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The motion state of one body at one tick."""

    name: str
    position: Vec3
    orientation: Quat = IDENTITY_QUAT
    velocity: Vec3 = ZERO3
    angular_velocity: Vec3 = ZERO3

    def __post_init__(self) -> None:
        _check_text("name", self.name, 128)
        force_setattr(self, "position", checked_vector("position", self.position, MAX_COORDINATE))
        force_setattr(self, "orientation", checked_quaternion("orientation", self.orientation))
        force_setattr(self, "velocity", checked_vector("velocity", self.velocity, MAX_SPEED))
        force_setattr(
            self, "angular_velocity",
            checked_vector("angular_velocity", self.angular_velocity, MAX_SPEED),
        )


class ObjectMoved(EventPayload, frozen=True, omit_defaults=True):
    """One tick's motion of the author's bodies that moved: one event per tick, not per body.

    ``bodies`` holds exact states (bodies that came to rest, or every moved body of an author
    without the codec); ``motion`` the motion codec's packet (``model.motion``): quantised,
    delta-coded states of the moving ones. ``motion`` is left out of the encoding when empty, so an
    event without it has the bytes it always had.
    """

    tick: int
    bodies: tuple[BodyState, ...]
    motion: bytes = b""

    def __post_init__(self) -> None:
        if self.tick < 0:
            raise ValueError("tick must be >= 0")
        if len(self.bodies) > MAX_ITEMS * 16:
            raise ValueError("too many bodies in one ObjectMoved batch")
        if len(self.motion) > MAX_MOTION_BYTES:
            raise ValueError(f"a motion packet is limited to {MAX_MOTION_BYTES} bytes")


ContactKind = Literal["impact", "sliding", "rolling"]


class CollisionDetected(EventPayload, frozen=True):
    body_a: str
    #: None: the static world (ground, walls)
    body_b: str | None
    point: Vec3
    normal: Vec3
    #: N*s, the normal impulse the solver applied
    impulse: float
    #: m/s along the normal (approach speed) and across it
    normal_speed: float
    tangential_speed: float
    kind: ContactKind = "impact"
    tick: int = 0

    def __post_init__(self) -> None:
        _check_uri("body_a", self.body_a)
        if self.body_b is not None:
            _check_uri("body_b", self.body_b)
        force_setattr(self, "point", checked_vector("point", self.point, MAX_COORDINATE))
        force_setattr(self, "normal", checked_vector("normal", self.normal, 1.0 + 1e-6))
        force_setattr(self, "impulse", _finite("impulse", self.impulse, 0.0))
        force_setattr(self, "normal_speed", _finite("normal_speed", self.normal_speed, 0.0))
        force_setattr(
            self, "tangential_speed", _finite("tangential_speed", self.tangential_speed, 0.0)
        )


class ConstraintApplied(EventPayload, frozen=True):
    constraint: ConstraintSpec
    #: False when the constraint is removed
    active: bool = True


# ---- sound -----------------------------------------------------------------------------------


class SoundEmitted(EventPayload, frozen=True):
    """A body starts to ring: the modes its impact excited."""

    source: str
    #: simulation time of the excitation, seconds
    time: float
    frequencies: tuple[float, ...]
    amplitudes: tuple[float, ...]
    #: 1/s, per mode
    decay_rates: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_uri("source", self.source)
        _canon_floats(self, "time")
        n = len(self.frequencies)
        if not (len(self.amplitudes) == len(self.decay_rates) == n) or n > 256:
            raise ValueError("frequencies, amplitudes and decay_rates need one entry per mode (<= 256)")
        for name in ("frequencies", "amplitudes", "decay_rates"):
            values = getattr(self, name)
            if any(v < 0 for v in values):
                raise ValueError(f"{name} must be >= 0")
            force_setattr(self, name, checked_vector(name, values, 1e7))


class SoundReceived(EventPayload, frozen=True):
    """A sound reaches a listener along the direct path."""

    source: str
    listener: str
    #: seconds of propagation (distance / speed of sound)
    delay: float
    gain: float
    #: -1 (left) .. 1 (right)
    pan: float = 0.0

    def __post_init__(self) -> None:
        _check_uri("source", self.source)
        _check_uri("listener", self.listener)
        force_setattr(self, "delay", _finite("delay", self.delay, 0.0))
        force_setattr(self, "gain", _finite("gain", self.gain, 0.0))
        force_setattr(self, "pan", _finite("pan", self.pan, -1.0, 1.0))


class AcousticCollision(EventPayload, frozen=True):
    """The acoustic side of a collision: what the contact model made of it."""

    body_a: str
    body_b: str | None
    material_a: str
    material_b: str | None
    impulse: float
    #: Hertz contact duration, seconds: shorter is brighter
    contact_duration: float
    time: float

    def __post_init__(self) -> None:
        _check_uri("body_a", self.body_a)
        if self.body_b is not None:
            _check_uri("body_b", self.body_b)
        _check_text("material_a", self.material_a, 64)
        _check_text("material_b", self.material_b or "", 64)
        force_setattr(self, "impulse", _finite("impulse", self.impulse, 0.0))
        force_setattr(self, "contact_duration", _finite("contact_duration", self.contact_duration, 0.0))
        _canon_floats(self, "time")


class AcousticReflection(EventPayload, frozen=True):
    """One early reflection (image source) from a source to a listener."""

    source: str
    listener: str
    #: reflection order: how many walls the path touches
    order: int
    #: the walls in the order they are hit, e.g. ("x-", "z+")
    walls: tuple[str, ...]
    delay: float
    gain: float

    def __post_init__(self) -> None:
        _check_uri("source", self.source)
        _check_uri("listener", self.listener)
        if not 0 <= self.order <= 64 or len(self.walls) != self.order:
            raise ValueError("order must be 0..64 and name one wall per reflection")
        force_setattr(self, "delay", _finite("delay", self.delay, 0.0))
        force_setattr(self, "gain", _finite("gain", self.gain, 0.0))


class AcousticInterference(EventPayload, frozen=True):
    """Direct and reflected sound add coherently: the comb filter's notches at the listener."""

    source: str
    listener: str
    #: metres between the two paths that interfere
    path_difference: float
    notch_frequencies: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_uri("source", self.source)
        _check_uri("listener", self.listener)
        force_setattr(self, "path_difference", _finite("path_difference", self.path_difference, 0.0))
        if len(self.notch_frequencies) > 256:
            raise ValueError("at most 256 notch frequencies")
        force_setattr(
            self, "notch_frequencies", checked_vector("notch_frequencies", self.notch_frequencies, 1e7)
        )


# ---- user ------------------------------------------------------------------------------------


class UserInput(EventPayload, frozen=True):
    """Raw input worth recording (e.g. a pointer ray at a pick)."""

    device: Literal["mouse", "keyboard", "touch", "api"]
    action: str
    params: Params = {}

    def __post_init__(self) -> None:
        _check_text("action", self.action, 64)
        _check_params("params", self.params)


class UserAction(EventPayload, frozen=True):
    """An interaction with a body: grab, drag, release, spawn, delete."""

    action: Literal["grab", "drag", "release", "spawn", "delete", "throw"]
    target: str | None = None
    point: Vec3 | None = None
    params: Params = {}

    def __post_init__(self) -> None:
        if self.target is not None:
            _check_uri("target", self.target)
        if self.point is not None:
            force_setattr(self, "point", checked_vector("point", self.point, MAX_COORDINATE))
        _check_params("params", self.params)


class UserCommand(EventPayload, frozen=True):
    """A command on the world: set a body, undo, reset the scene, pause."""

    command: str
    target: str | None = None
    body: BodySpec | None = None
    params: Params = {}

    def __post_init__(self) -> None:
        _check_text("command", self.command, 64)
        if self.target is not None:
            _check_uri("target", self.target)
        _check_params("params", self.params)


# ---- system ----------------------------------------------------------------------------------


class SystemStart(EventPayload, frozen=True):
    version: str
    name: str
    authority: str

    def __post_init__(self) -> None:
        _check_text("version", self.version, 64)
        _check_text("name", self.name, 128)
        _check_text("authority", self.authority, 300)


class SystemStop(EventPayload, frozen=True):
    reason: str = "shutdown"

    def __post_init__(self) -> None:
        _check_text("reason", self.reason)


class NodeJoined(EventPayload, frozen=True):
    node_id: str
    name: str
    authority: str
    #: short fingerprint of the peer's public key
    fingerprint: str

    def __post_init__(self) -> None:
        for field in ("node_id", "name", "authority", "fingerprint"):
            _check_text(field, getattr(self, field), 300)


class NodeLeft(EventPayload, frozen=True):
    node_id: str
    reason: Literal["graceful", "dead", "kicked"] = "graceful"

    def __post_init__(self) -> None:
        _check_text("node_id", self.node_id, 300)


class ChainCheckpoint(EventPayload, frozen=True):
    """The signed horizon of an author's bounded chain.

    Events up to and including ``horizon_seq`` may be dropped; ``horizon_id`` is the id of the event
    at the horizon (so the retained tail still links to it) and ``state_hash`` the hash of the
    author's projection after that event, so a late joiner can start from a snapshot it checks
    against this hash, plus the tail. ``authority`` repeats the author's claim for such a joiner.
    """

    horizon_seq: int
    horizon_id: bytes
    state_hash: bytes
    authority: str

    def __post_init__(self) -> None:
        if not 0 <= self.horizon_seq < MAX_SEQ:
            raise ValueError(f"horizon_seq must be in 0 .. {MAX_SEQ - 1}")
        if len(self.horizon_id) != HASH_SIZE or len(self.state_hash) != HASH_SIZE:
            raise ValueError(f"horizon_id and state_hash must be {HASH_SIZE}-byte hashes")
        _check_text("authority", self.authority, 300)


AnyEventPayload = (
    ObjectCreated | ObjectDeleted | ObjectMoved | CollisionDetected | ConstraintApplied
    | SoundEmitted | SoundReceived | AcousticCollision | AcousticReflection | AcousticInterference
    | UserInput | UserAction | UserCommand
    | SystemStart | SystemStop | NodeJoined | NodeLeft
    | ChainCheckpoint
)

PAYLOAD_TYPES: dict[EventType, type[EventPayload]] = {
    EventType(cls.__name__): cls for cls in AnyEventPayload.__args__  # type: ignore[attr-defined]
}

HASH_SIZE = 32
PUBLIC_KEY_SIZE = 32
#: sequence numbers of a chain are below 2**40 (a thousand events a second for 34 years): the store
#: keys an event by its chain number and seq packed into one 64-bit integer
SEQ_BITS = 40
MAX_SEQ = 1 << SEQ_BITS


def event_id(signed: bytes) -> bytes:
    """An event's id: BLAKE2b-256 of its exact signed bytes."""
    return hashlib.blake2b(signed, digest_size=HASH_SIZE).digest()


class EventEnvelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """An event before signing: who wrote it, where it sits in the author's chain, what it says."""

    author: bytes
    seq: int
    prev: bytes
    timestamp_ns: int
    uri: str
    payload: AnyEventPayload

    def __post_init__(self) -> None:
        if len(self.author) != PUBLIC_KEY_SIZE:
            raise ValueError(f"author must be a {PUBLIC_KEY_SIZE}-byte public key")
        if len(self.prev) != HASH_SIZE:
            raise ValueError(f"prev must be a {HASH_SIZE}-byte hash")
        if not 0 <= self.seq < MAX_SEQ:
            raise ValueError(f"seq must be in 0 .. {MAX_SEQ - 1}")
        if not 0 <= self.timestamp_ns < 2**63:
            raise ValueError("timestamp_ns must be in 0 .. 2**63-1")
        _check_uri("uri", self.uri)

    @property
    def type(self) -> EventType:
        return self.payload.event_type

    def to_bytes(self) -> bytes:
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> EventEnvelope:
        return decode(data, cls)
