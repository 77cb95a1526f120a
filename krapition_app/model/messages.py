"""The 11 message types of the seed: what nodes say to each other on the wire.

A :class:`Message` carries an id, its data (whose tag is the message type), a timestamp, a source
and a destination, as the seed's ``Message`` struct. Events travel inside ``EventPublish`` as the
exact signed bytes their author produced, never re-encoded.
"""

from __future__ import annotations

import enum

import msgspec
from msgspec.structs import force_setattr

from .encoding import canonical_float, decode, encode
from .events import MAX_TEXT
from .scene import BodySpec

MAX_EVENTS_PER_MESSAGE = 4096
MAX_ID_LENGTH = 64
#: bytes of a blob in one DataResponse at most (frames are bounded at 1 MiB; senders use less)
MAX_BLOB_CHUNK = 512 * 1024
#: the largest blob (snapshot, diagnostics bundle) a DataResponse may announce
MAX_BLOB_SIZE = 64 * 1024 * 1024


class MessageType(enum.StrEnum):
    # control
    CONNECT = "Connect"
    DISCONNECT = "Disconnect"
    HEARTBEAT = "Heartbeat"
    ACK = "Ack"
    NACK = "Nack"
    # data
    DATA_REQUEST = "DataRequest"
    DATA_RESPONSE = "DataResponse"
    DATA_UPDATE = "DataUpdate"
    # events
    EVENT_PUBLISH = "EventPublish"
    EVENT_SUBSCRIBE = "EventSubscribe"
    EVENT_UNSUBSCRIBE = "EventUnsubscribe"


def _check_len(what: str, value: str | bytes | tuple | dict, limit: int) -> None:
    if len(value) > limit:
        raise ValueError(f"{what} holds more than {limit} items")


class MessageData(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
                  tag_field="type", tag=True):
    """Base of every message's data; the tag (the class name) is the message type."""

    @property
    def message_type(self) -> MessageType:
        return MessageType(type(self).__name__)


class Connect(MessageData, frozen=True):
    protocol_version: int
    node_id: str
    name: str
    authority: str
    public_key: bytes
    capabilities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ValueError("public_key must be 32 bytes")
        for field in ("node_id", "name", "authority"):
            _check_len(field, getattr(self, field), 300)
        _check_len("capabilities", self.capabilities, 64)


class Disconnect(MessageData, frozen=True):
    reason: str = "bye"

    def __post_init__(self) -> None:
        _check_len("reason", self.reason, MAX_TEXT)


class Heartbeat(MessageData, frozen=True):
    seq: int
    #: 0..1 load of the sender (for load balancing)
    load: float = 0.0
    #: author hex id -> hash of that owner's state at ``confirmed_tick``
    state_hashes: dict[str, bytes] = {}
    confirmed_tick: int = 0
    #: the sender simulates a world: bodies handed over to it are adopted (a headless node without
    #: a world says False and is never chosen for a hand-over)
    adopts: bool = False

    def __post_init__(self) -> None:
        _check_len("state_hashes", self.state_hashes, 1024)
        if not 0.0 <= canonical_float(self.load) <= 1.0:
            raise ValueError(f"load must be within 0..1, got {self.load!r}")
        force_setattr(self, "load", canonical_float(self.load))


class Ack(MessageData, frozen=True):
    ref: str

    def __post_init__(self) -> None:
        _check_len("ref", self.ref, MAX_ID_LENGTH)


class Nack(MessageData, frozen=True):
    ref: str
    code: str
    reason: str = ""

    def __post_init__(self) -> None:
        _check_len("ref", self.ref, MAX_ID_LENGTH)
        _check_len("code", self.code, 64)
        _check_len("reason", self.reason, MAX_TEXT)


class DataRequest(MessageData, frozen=True, omit_defaults=True):
    """Asks for the value of one URI, or of every URI matching a pattern.

    For a URI whose value is a bytes blob (a snapshot at a checkpoint, a diagnostics bundle),
    ``offset`` is the first byte wanted: the blob comes in parts, one request per part.
    """

    pattern: str
    #: optional (omitted when 0, so the bytes of a request without it are unchanged)
    offset: int = 0

    def __post_init__(self) -> None:
        _check_len("pattern", self.pattern, 512)
        if not 0 <= self.offset < MAX_BLOB_SIZE:
            raise ValueError(f"offset must be in 0 .. {MAX_BLOB_SIZE - 1}")


class DataItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    uri: str
    #: the sequence number of the event the value comes from
    seq: int
    body: BodySpec | None


class DataResponse(MessageData, frozen=True, omit_defaults=True):
    """The answer to a DataRequest: the values of the URIs asked for, or one part of a bytes blob.

    A blob part is ``blob`` = bytes ``offset .. offset + len(blob)`` of a blob of ``total`` bytes
    whose BLAKE2b-256 is ``digest`` (the receiver checks the whole blob against it, and a digest that
    changes between parts means the blob changed: start over). The blob fields are optional and
    omitted at their defaults, so a response without a blob keeps its old bytes.
    """

    ref: str
    items: tuple[DataItem, ...]
    blob: bytes = b""
    offset: int = 0
    #: size of the whole blob (0: no blob)
    total: int = 0
    digest: bytes = b""

    def __post_init__(self) -> None:
        _check_len("ref", self.ref, MAX_ID_LENGTH)
        _check_len("items", self.items, 100_000)
        _check_len("blob", self.blob, MAX_BLOB_CHUNK)
        if not 0 <= self.total <= MAX_BLOB_SIZE:
            raise ValueError(f"total must be in 0 .. {MAX_BLOB_SIZE}")
        if self.offset < 0 or self.offset + len(self.blob) > self.total:
            raise ValueError("the blob part must lie within 0 .. total")
        if self.digest and len(self.digest) != 32:
            raise ValueError("digest must be a 32-byte BLAKE2b-256 hash")


class DataUpdate(MessageData, frozen=True):
    """Asks the owner of ``uri`` to set it to ``body`` (or delete it, when ``body`` is None)."""

    uri: str
    body: BodySpec | None


class EventPublish(MessageData, frozen=True):
    #: exact signed event bytes, as their author produced them
    events: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_len("events", self.events, MAX_EVENTS_PER_MESSAGE)


class EventSubscribe(MessageData, frozen=True):
    #: author hex id -> the first sequence number wanted (everything after what we hold)
    from_seq: dict[str, int]

    def __post_init__(self) -> None:
        _check_len("from_seq", self.from_seq, 4096)


class EventUnsubscribe(MessageData, frozen=True):
    authors: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_len("authors", self.authors, 4096)


AnyMessageData = (
    Connect | Disconnect | Heartbeat | Ack | Nack
    | DataRequest | DataResponse | DataUpdate
    | EventPublish | EventSubscribe | EventUnsubscribe
)

DATA_TYPES: dict[MessageType, type[MessageData]] = {
    MessageType(cls.__name__): cls for cls in AnyMessageData.__args__  # type: ignore[attr-defined]
}


class Message(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    data: AnyMessageData
    timestamp_ns: int
    #: node ids; destination "*" is every peer
    source: str
    destination: str

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > MAX_ID_LENGTH:
            raise ValueError(f"id must be 1..{MAX_ID_LENGTH} characters")
        if not 0 <= self.timestamp_ns < 2**63:
            raise ValueError("timestamp_ns must be in 0 .. 2**63-1")
        _check_len("source", self.source, 300)
        _check_len("destination", self.destination, 300)

    @property
    def type(self) -> MessageType:
        return self.data.message_type

    def to_bytes(self) -> bytes:
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        return decode(data, cls)
