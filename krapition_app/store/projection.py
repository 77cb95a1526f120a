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
from typing import NamedTuple

import msgspec
from msgspec.structs import replace

from ..model.encoding import decode, encode
from ..model.events import (
    BodyState,
    ConstraintApplied,
    EventEnvelope,
    ObjectCreated,
    ObjectDeleted,
    ObjectMoved,
)
from ..model.scene import BodySpec

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
        prefix = _objects_prefix(envelope.uri)
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
def _objects_prefix(uri: str) -> str:
    """``krapition://host:port/physics/objects/`` of the authority of ``uri``."""
    base = uri.split("/", 3)[:3]  # krapition:, '', host:port
    return "/".join(base) + "/physics/objects/"


def looked_up_uris(envelope: EventEnvelope) -> list[str]:
    """The URIs whose current value :func:`changes_of` asks ``lookup`` for (to read them at once)."""
    payload = envelope.payload
    if isinstance(payload, ObjectMoved):
        prefix = _objects_prefix(envelope.uri)
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
