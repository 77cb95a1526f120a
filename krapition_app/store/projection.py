"""The read side: the value of every URI, projected from events. Pure (model only, no I/O).

A value is ``(kind, canonical bytes)``: ``("body", BodySpec)`` for ``physics/objects`` URIs and
``("constraint", ConstraintSpec)`` for ``physics/constraints``. Which events change what:

- ``ObjectCreated``: the URI's value is the body (create or replace: ``set_data`` writes it);
- ``ObjectDeleted``: the URI has no value any more;
- ``ObjectMoved``: each named body of the author gets the new motion state (unknown names: ignored);
- ``ConstraintApplied``: the constraint, or no value when ``active`` is false.

Every other event type leaves the projection alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import ClassVar, NamedTuple

import msgspec
from msgspec.structs import replace

from ..model.encoding import decode, encode
from ..model.errors import EncodingError
from ..model.events import (
    BodyState,
    ConstraintApplied,
    EventEnvelope,
    ObjectCreated,
    ObjectDeleted,
    ObjectMoved,
)
from ..model.scene import BodySpec
from .errors import InvalidSnapshotError

BODY = "body"
CONSTRAINT = "constraint"
#: state hash of an empty projection
_HASH_PERSON = b"krapition-state"


class Value(NamedTuple):
    kind: str
    data: bytes


#: uri -> new value, or None when the URI loses its value
Change = tuple[str, Value | None]
Lookup = Callable[[str], Value | None]


def changes_of(envelope: EventEnvelope, lookup: Lookup) -> list[Change]:
    """What ``envelope`` changes, given the current values (``lookup``)."""
    payload = envelope.payload
    if isinstance(payload, ObjectCreated):
        return [(envelope.uri, Value(BODY, encode(payload.body)))]
    if isinstance(payload, ObjectDeleted):
        return [(envelope.uri, None)]
    if isinstance(payload, ConstraintApplied):
        if not payload.active:
            return [(envelope.uri, None)]
        return [(envelope.uri, Value(CONSTRAINT, encode(payload.constraint)))]
    if isinstance(payload, ObjectMoved):
        prefix = objects_prefix(envelope.uri)
        out: list[Change] = []
        for state in payload.bodies:
            uri = prefix + state.name
            current = lookup(uri)
            if current is None or current.kind != BODY:
                continue
            out.append((uri, Value(BODY, moved_body(current.data, state))))
        return out
    return []


@lru_cache(maxsize=1024)
def objects_prefix(uri: str) -> str:
    """``krapition://host:port/physics/objects/`` of the authority of ``uri``."""
    base = uri.split("/", 3)[:3]  # krapition:, '', host:port
    return "/".join(base) + "/physics/objects/"


def looked_up_uris(envelope: EventEnvelope) -> list[str]:
    """The URIs whose current value :func:`changes_of` asks ``lookup`` for (to read them at once)."""
    payload = envelope.payload
    if isinstance(payload, ObjectMoved):
        prefix = objects_prefix(envelope.uri)
        return [prefix + state.name for state in payload.bodies]
    return []


_FIELDS_DECODER = msgspec.msgpack.Decoder(dict)
_IN_ORDER = msgspec.msgpack.Encoder()  # keeps a dict's order: the stored (canonical) field order


def moved_body(data: bytes, state: BodyState) -> bytes:
    """The canonical bytes of the stored body ``data`` with the motion of ``state``.

    Equal to ``encode(replace(decode(data, BodySpec), ...))`` without validating the body twice per
    tick: the stored body was validated when it was created and ``state`` when it was decoded, with
    the same limits. The decoded map keeps the canonical field order, and floats stay float64.
    """
    fields = _FIELDS_DECODER.decode(data)
    fields["position"] = state.position
    fields["orientation"] = state.orientation
    fields["velocity"] = state.velocity
    fields["angular_velocity"] = state.angular_velocity
    return _IN_ORDER.encode(fields)


class PendingBody(msgspec.Struct, gc=False):
    """A body value not encoded yet: ``base`` (a :class:`BodySpec`, or the canonical bytes of one)
    with the motion of ``state`` (None: as it is). :meth:`value` is what :func:`changes_of` makes of
    the same events: ``encode(base)``, then :func:`moved_body` with ``state`` (a later motion replaces
    every field an earlier one set, so only the newest counts).

    The store's read model keeps these until a value is read or written out: most bodies are
    created or moved again before that, and each encoding saved is a good part of storing an event.
    """

    base: BodySpec | bytes
    state: BodyState | None = None
    encoded: Value | None = None
    kind: ClassVar[str] = BODY

    def value(self) -> Value:
        value = self.encoded
        if value is None:
            base = self.base
            data = base if type(base) is bytes else encode(base)
            if self.state is not None:
                data = moved_body(data, self.state)
            value = self.encoded = Value(BODY, data)
        return value


def resolved(value: Value | PendingBody | None) -> Value | None:
    """The :class:`Value` of a read-model entry (None stays None)."""
    return value if value is None or type(value) is Value else value.value()


def moved_body_checked(data: bytes, state: BodyState) -> bytes:
    """The slow, validating form of :func:`moved_body` (the tests compare the two)."""
    body = replace(decode(data, BodySpec), position=state.position, orientation=state.orientation,
                   velocity=state.velocity, angular_velocity=state.angular_velocity)
    return encode(body)


def state_hash(items: Iterable[tuple[str, Value]]) -> bytes:
    """BLAKE2b-256 over the sorted (uri, kind, bytes) triples: equal projections, equal hashes."""
    rows = sorted((uri, value.kind, value.data) for uri, value in items)
    return hashlib.blake2b(encode(rows), digest_size=32, person=_HASH_PERSON).digest()


def encode_snapshot(items: Iterable[tuple[str, Value, int]]) -> bytes:
    """Canonical bytes of a projection: sorted ``[uri, kind, data, seq]`` rows."""
    return encode(sorted([uri, value.kind, value.data, seq] for uri, value, seq in items))


#: kinds a projection holds (a snapshot with another kind was not made by this projection)
KINDS = frozenset({BODY, CONSTRAINT})


def verify_snapshot(data: bytes, expected_hash: bytes, *, authority_of: Callable[[str], str] | None = None,
                    authority: str | None = None, max_seq: int | None = None) -> Projection:
    """The projection in snapshot bytes from a peer, checked against a signed state hash.

    The bytes must be exactly what :meth:`Projection.snapshot` makes of their rows (canonical
    msgpack, rows sorted by URI, each URI once), and the values must hash (:func:`state_hash`, the
    hash a ``ChainCheckpoint`` signs) to ``expected_hash``. The hash covers the values, not the seq
    of each row, so the seqs are only checked for range (``-1 .. max_seq``). With ``authority_of``
    and ``authority``, every URI must be under the author's authority. Raises
    :class:`InvalidSnapshotError` saying which check failed.
    """
    try:
        rows = decode(data, list[tuple[str, str, bytes, int]])
    except EncodingError as exc:
        raise InvalidSnapshotError(f"the snapshot does not decode: {exc}") from None
    previous: str | None = None
    for uri, kind, _, seq in rows:
        # sorted and unique: one snapshot per projection, so equal states travel as equal bytes
        if previous is not None and uri <= previous:
            raise InvalidSnapshotError("the snapshot's rows are not sorted by URI, each URI once",
                                       "not-canonical")
        previous = uri
        if kind not in KINDS:
            raise InvalidSnapshotError(f"the snapshot holds a value of unknown kind {kind[:40]!r}", "bad-row")
        if seq < -1 or (max_seq is not None and seq > max_seq):
            raise InvalidSnapshotError(f"the snapshot says {uri[:80]} was set at seq {seq}, past its horizon",
                                       "bad-row")
        if authority_of is not None and authority is not None:
            try:
                owner = authority_of(uri)
            except ValueError as exc:
                raise InvalidSnapshotError(f"the snapshot holds a bad URI: {exc}", "bad-row") from None
            if owner != authority:
                raise InvalidSnapshotError(f"the snapshot holds {uri[:80]}, not under {authority}", "bad-row")
    projection = Projection({uri: Value(kind, blob) for uri, kind, blob, _ in rows},
                            {uri: seq for uri, _, _, seq in rows})
    if projection.state_hash() != expected_hash:
        raise InvalidSnapshotError("the snapshot's state hash is not the one its checkpoint signed",
                                   "hash-mismatch")
    return projection


class Projection:
    """An in-memory projection: replaying an author's events into it gives that author's values,
    and for each the seq of the event that set it."""

    def __init__(self, values: dict[str, Value] | None = None, seqs: dict[str, int] | None = None) -> None:
        self.values: dict[str, Value] = dict(values or {})
        self.seqs: dict[str, int] = dict(seqs or {})

    @classmethod
    def from_snapshot(cls, data: bytes) -> Projection:
        rows = decode(data, list[tuple[str, str, bytes, int]])
        return cls({uri: Value(kind, blob) for uri, kind, blob, _ in rows},
                   {uri: seq for uri, _, _, seq in rows})

    def apply(self, envelope: EventEnvelope) -> list[Change]:
        changes = changes_of(envelope, self.values.get)
        for uri, value in changes:
            if value is None:
                self.values.pop(uri, None)
                self.seqs.pop(uri, None)
            else:
                self.values[uri] = value
                self.seqs[uri] = envelope.seq
        return changes

    def state_hash(self) -> bytes:
        """The hash a checkpoint signs: of the values only (the seqs follow from the chain)."""
        return state_hash(self.values.items())

    def snapshot(self) -> bytes:
        return encode_snapshot((uri, value, self.seqs.get(uri, -1)) for uri, value in self.values.items())

    def __iter__(self) -> Iterator[tuple[str, Value]]:
        return iter(self.values.items())

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Projection) and self.values == other.values

    __hash__ = None  # type: ignore[assignment]
