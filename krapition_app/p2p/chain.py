"""The signed, hash-linked, bounded event chain of every author. Pure: no I/O, no clock, no state
but a cache of parsed URIs.

Format of one event (the exact bytes that are stored and sent)::

    signed = signature (64 bytes, ed25519 over the envelope bytes) || envelope bytes (canonical msgpack)
    id     = BLAKE2b-256(signed)

An author's events form a chain: ``seq`` counts from 0 and ``prev`` is the id of the event at
``seq - 1`` (32 zero bytes for seq 0).

How a key is bound to its authority (``host:port``, the owner of every URI under it): an author's
first event is ``SystemStart`` at seq 0 whose ``authority`` is claimed for the key, or, for a late
joiner that never saw seq 0, a signed ``ChainCheckpoint`` that repeats the claim. The verifier pins
the binding in its state (first claim wins; a key cannot move to another authority and an authority
cannot change hands), and every later event of that author must be about a URI under it. The
handshake of a later issue pins the binding too, with :meth:`ChainState.pin`.

:func:`verify` is the pure transition ``(state, signed bytes, now) -> (state, event)``; it raises one
:class:`~.errors.InvalidEventError` subclass per broken rule and never changes the state it was given.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType

import msgspec
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError as _NaclBadSignature
from nacl.signing import SigningKey

try:  # libsodium as PyNaCl's bindings call it, without their per-call buffers and checks
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _lib
except ImportError:  # pragma: no cover - a PyNaCl without its cffi module: use the bindings
    _ffi = _lib = None

from ..model.errors import EncodingError
from ..model.events import (
    HASH_SIZE,
    PUBLIC_KEY_SIZE,
    AnyEventPayload,
    ChainCheckpoint,
    EventEnvelope,
    EventType,
    SystemStart,
    event_id,
)
from ..model.uri import Authority, KrapitionURI
from .errors import (
    AuthorForkedError,
    AuthorityClaimedError,
    BadSignatureError,
    ChainLinkError,
    CheckpointMismatchError,
    DuplicateEventError,
    EquivocationError,
    FutureTimestampError,
    InvalidEventError,
    MalformedEventError,
    NotOwnerError,
    OversizedEventError,
    SequenceGapError,
    StaleEventError,
    UnboundAuthorError,
    UnknownEventError,
    WrongPreviousHashError,
)

SIGNATURE_SIZE = 64
ZERO_HASH = bytes(HASH_SIZE)
#: How many recent ids per author the verifier remembers itself, to tell a resend from a fork
#: without asking the store.
RECENT_WINDOW = 16


_blake2b = hashlib.blake2b


@lru_cache(maxsize=8192)
def uri_authority(uri: str) -> str:
    """The canonical ``host:port`` of ``uri`` (cached). Raises InvalidURIError."""
    # Parsing a URI costs more than verifying half a signature; the same few URIs come back each tick.
    return str(KrapitionURI.parse(uri).authority)


_DECODER = msgspec.msgpack.Decoder(EventEnvelope)  # the model caches its URI checks
_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
#: payload class -> its event type (``payload.event_type`` builds the enum member on every call)
_EVENT_TYPES: dict[type, EventType] = {}


def event_type_of(payload: AnyEventPayload) -> EventType:
    """``payload.event_type``, cached per payload class (it is on every event's hot path)."""
    cls = type(payload)
    found = _EVENT_TYPES.get(cls)
    if found is None:
        found = _EVENT_TYPES[cls] = payload.event_type
    return found


#: payload class -> the name of its event type (what the store keeps)
_TYPE_NAMES: dict[type, str] = {}


def type_name_of(payload: AnyEventPayload) -> str:
    """``event_type_of(payload).value``, cached per payload class."""
    found = _TYPE_NAMES.get(type(payload))
    if found is None:
        found = _TYPE_NAMES[type(payload)] = event_type_of(payload).value
    return found


class SignedEvent(msgspec.Struct, frozen=True, gc=False):
    """A signed event: the exact bytes, their id, and the decoded envelope.

    Not tracked by the garbage collector (``gc=False``: it holds bytes and an immutable envelope,
    so it is never part of a cycle): a node holds the newest thousands of events of every chain,
    and each tracked one would be walked again by every full collection.
    """

    raw: bytes
    id: bytes
    envelope: EventEnvelope

    @property
    def signature(self) -> bytes:
        return self.raw[:SIGNATURE_SIZE]

    @property
    def envelope_bytes(self) -> bytes:
        return self.raw[SIGNATURE_SIZE:]

    @property
    def author(self) -> bytes:
        return self.envelope.author

    @property
    def seq(self) -> int:
        return self.envelope.seq

    @property
    def prev(self) -> bytes:
        return self.envelope.prev

    @property
    def timestamp_ns(self) -> int:
        return self.envelope.timestamp_ns

    @property
    def uri(self) -> str:
        return self.envelope.uri

    @property
    def type(self) -> EventType:
        return event_type_of(self.envelope.payload)

    @property
    def payload(self) -> AnyEventPayload:
        return self.envelope.payload

    def __repr__(self) -> str:
        return (f"SignedEvent({self.type}, seq={self.seq}, id={self.id.hex()[:12]}, "
                f"author={self.author.hex()[:12]}, uri={self.uri!r})")


#: signed or verified messages up to this size use a buffer kept per thread
_BUFFER_SIZE = 64 * 1024


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.message = None if _ffi is None else _ffi.new("unsigned char[]", _BUFFER_SIZE)
        self.length = None if _ffi is None else _ffi.new("unsigned long long *")


_buffers = _Buffers()


def _sign_bytes(message: bytes, secret: bytes) -> bytes:
    """``crypto_sign(message, secret)`` (signature || message) into this thread's buffer."""
    size = len(message) + SIGNATURE_SIZE
    if _lib is None or size > _BUFFER_SIZE:
        return crypto_sign(message, secret)
    buffers = _buffers
    if _lib.crypto_sign(buffers.message, buffers.length, message, len(message), secret) != 0:
        raise RuntimeError("libsodium could not sign")  # pragma: no cover - only on a broken key
    return _ffi.buffer(buffers.message, size)[:]


def _signature_ok(signed: bytes, author: bytes) -> bool:
    """Whether ``signed`` (signature || message) carries a valid signature of ``author``."""
    if _lib is None or len(signed) > _BUFFER_SIZE or len(author) != PUBLIC_KEY_SIZE:
        try:
            crypto_sign_open(signed, author)
        except (_NaclBadSignature, ValueError):
            return False
        return True
    buffers = _buffers
    return _lib.crypto_sign_open(buffers.message, buffers.length, signed, len(signed), author) == 0


class Signer:
    """Signs envelopes of one author: the expanded secret key is derived once, not per event."""

    __slots__ = ("_secret", "author")

    def __init__(self, signing_key: SigningKey) -> None:
        self.author, self._secret = crypto_sign_seed_keypair(bytes(signing_key))

    def __repr__(self) -> str:
        return f"Signer(author={self.author.hex()[:12]})"

    def sign(self, envelope: EventEnvelope) -> SignedEvent:
        if envelope.author != self.author:
            raise ValueError("the envelope's author is not this signer's public key")
        raw = _sign_bytes(_ENCODER.encode(envelope), self._secret)
        return SignedEvent(raw, event_id(raw), envelope)

    def sign_next(self, seq: int, prev: bytes, timestamp_ns: int, uri: str,
                  payload: AnyEventPayload) -> SignedEvent:
        """Signs the envelope of this author at ``seq`` (the writer's hot path: one call per event).

        The caller checked ``uri`` (:func:`uri_authority`); the envelope still validates itself."""
        envelope = EventEnvelope(author=self.author, seq=seq, prev=prev, timestamp_ns=timestamp_ns,
                                uri=uri, payload=payload)
        raw = _sign_bytes(_ENCODER.encode(envelope), self._secret)
        return SignedEvent(raw, _blake2b(raw, digest_size=HASH_SIZE).digest(), envelope)

    def sign_many(self, seq: int, prev: bytes, timestamp_ns: int,
                  items: Sequence[tuple[str, AnyEventPayload]]) -> list[SignedEvent]:
        """:meth:`sign_next` of each item, the next one linked to the one before (``seq`` and
        ``prev`` are those of the first), in one loop: the writer's hot path."""
        author, secret, encode, blake2b = self.author, self._secret, _ENCODER.encode, _blake2b
        new, make = SignedEvent, EventEnvelope
        out: list[SignedEvent] = []
        append = out.append
        if _lib is None:  # pragma: no cover - a PyNaCl without its cffi module
            for uri, payload in items:
                envelope = make(author=author, seq=seq, prev=prev, timestamp_ns=timestamp_ns, uri=uri,
                                payload=payload)
                raw = _sign_bytes(encode(envelope), secret)
                prev = blake2b(raw, digest_size=HASH_SIZE).digest()
                append(new(raw, prev, envelope))
                seq += 1
            return out
        # _sign_bytes in line: this thread's buffer, libsodium called directly
        buffers = _buffers
        buffer, length, sign, view = buffers.message, buffers.length, _lib.crypto_sign, _ffi.buffer
        for uri, payload in items:
            envelope = make(author=author, seq=seq, prev=prev, timestamp_ns=timestamp_ns, uri=uri,
                            payload=payload)
            message = encode(envelope)
            size = len(message) + SIGNATURE_SIZE
            if size > _BUFFER_SIZE:
                raw = _sign_bytes(message, secret)
            elif sign(buffer, length, message, len(message), secret) == 0:
                raw = view(buffer, size)[:]
            else:  # pragma: no cover - only on a broken key
                raise RuntimeError("libsodium could not sign")
            prev = blake2b(raw, digest_size=HASH_SIZE).digest()
            append(new(raw, prev, envelope))
            seq += 1
        return out


def sign(signing_key: SigningKey, envelope: EventEnvelope) -> SignedEvent:
    """Signs the canonical bytes of ``envelope`` with ``signing_key`` (which must be its author)."""
    return Signer(signing_key).sign(envelope)


def make_envelope(*, author: bytes, seq: int, prev: bytes, timestamp_ns: int, uri: str,
                  payload: AnyEventPayload) -> EventEnvelope:
    """An envelope with the URI check cached (the writer builds thousands for the same URIs)."""
    return EventEnvelope(author=author, seq=seq, prev=prev, timestamp_ns=timestamp_ns, uri=uri,
                         payload=payload)


def decode_signed(raw: bytes, *, max_size: int) -> SignedEvent:
    """Splits and decodes signed bytes without checking the signature (see :func:`check_signature`)."""
    if not isinstance(raw, bytes):
        raise MalformedEventError(f"a signed event is bytes, not {type(raw).__name__}")
    if len(raw) > max_size:
        raise OversizedEventError(f"{len(raw)} bytes is over the {max_size}-byte event limit")
    if len(raw) <= SIGNATURE_SIZE:
        raise MalformedEventError(f"{len(raw)} bytes is too short for a signature and an envelope")
    body = raw[SIGNATURE_SIZE:]
    try:
        envelope = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise MalformedEventError(f"not a valid event envelope: {exc}") from None
    if _ENCODER.encode(envelope) != body:
        raise MalformedEventError("the envelope bytes are not in canonical form")
    return SignedEvent(raw, _blake2b(raw, digest_size=HASH_SIZE).digest(), envelope)


def check_signature(raw: bytes, *, max_size: int) -> SignedEvent:
    """Decodes ``raw`` and checks its signature against its author key. Stateless: safe to run in
    parallel ahead of :func:`advance`."""
    event = decode_signed(raw, max_size=max_size)
    if not _signature_ok(raw, event.envelope.author):
        raise _bad_signature(event)
    return event


def check_signatures(raws: Sequence[bytes], *, max_size: int) -> list[SignedEvent | InvalidEventError]:
    """:func:`check_signature` of each of ``raws``: the decoded event, or the error it raised.

    Stateless, so slices of a batch can be checked on several threads at once. Each event is
    decoded (holding the GIL, a few microseconds), then its signature checked by libsodium, which
    releases the GIL: two threads running this loop hold it in short turns and check about twice
    as many events per second as one. (A thread that needs the GIL back after each libsodium call
    while another thread runs Python for milliseconds waits a switch interval, 5 ms, each time.)
    """
    out: list[SignedEvent | InvalidEventError] = []
    append = out.append
    decode, encode, blake2b, new = _DECODER.decode, _ENCODER.encode, _blake2b, SignedEvent
    limit = min(max_size, _BUFFER_SIZE)
    if _lib is not None:
        buffers = _buffers
        message, length, sign_open = buffers.message, buffers.length, _lib.crypto_sign_open
    for raw in raws:
        # the common case of check_signature in line (one call per event less); anything unusual
        # (not bytes, too long or short, not decodable, not canonical, a bad signature) takes
        # check_signature itself, which raises the precise error
        if _lib is not None and type(raw) is bytes and SIGNATURE_SIZE < len(raw) <= limit:
            body = raw[SIGNATURE_SIZE:]
            try:
                envelope = decode(body)
            except (msgspec.ValidationError, msgspec.DecodeError):
                envelope = None
            if (envelope is not None and encode(envelope) == body
                    and sign_open(message, length, raw, len(raw), envelope.author) == 0):
                append(new(raw, blake2b(raw, digest_size=HASH_SIZE).digest(), envelope))
                continue
        try:
            append(check_signature(raw, max_size=max_size))
        except InvalidEventError as exc:
            append(exc)
    return out


def _bad_signature(event: SignedEvent) -> BadSignatureError:
    return BadSignatureError(
        f"bad signature on seq {event.seq} of author {event.author.hex()[:12]}: "
        "Signature was forged or corrupt"
    )


def decode_trusted(raw: bytes) -> SignedEvent:
    """Decodes bytes that were verified before (read back from our own store): no signature check."""
    try:
        return SignedEvent(raw, event_id(raw), _DECODER.decode(raw[SIGNATURE_SIZE:]))
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise EncodingError(f"a stored event does not decode: {exc}") from None


def decode_envelope_trusted(raw: bytes) -> EventEnvelope:
    """Only the envelope of stored, already verified bytes (replays): no signature, no hash."""
    return _DECODER.decode(raw[SIGNATURE_SIZE:])


# ---- verifier state ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyLimits:
    max_event_size: int = 1024 * 1024
    #: how far an event's timestamp may be ahead of our clock (clock skew on a LAN is small)
    max_future_ns: int = 5_000_000_000


DEFAULT_LIMITS = VerifyLimits()

#: ``lookup(author, seq) -> id or None``: the id of an event the caller stored (to tell resends from
#: forks behind the verifier's own window). A read, so :func:`verify` stays a pure function.
IdLookup = Callable[[bytes, int], bytes | None]


@dataclass(frozen=True, slots=True)
class AuthorState:
    """What the verifier knows of one author's chain."""

    authority: str
    #: the seq the next accepted event must have
    next_seq: int = 0
    #: id of the event at ``next_seq - 1`` (what the next event's ``prev`` must be)
    head_id: bytes = ZERO_HASH
    #: ids of the newest accepted events, the last one being ``head_id``
    recent: tuple[bytes, ...] = ()
    #: a checkpoint accepted ahead of its tail (late join): (seq, id, prev)
    pending: tuple[int, bytes, bytes] | None = None
    started: bool = False
    forked: bool = False

    def id_at(self, seq: int) -> bytes | None:
        first = self.next_seq - len(self.recent)
        if first <= seq < self.next_seq:
            return self.recent[seq - first]
        if self.pending is not None and self.pending[0] == seq:
            return self.pending[1]
        return None


@dataclass(frozen=True, slots=True)
class ChainState:
    """Immutable verifier state: every known author and the authority each one is bound to."""

    authors: Mapping[bytes, AuthorState] = field(default_factory=lambda: MappingProxyType({}))
    owners: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))

    def author(self, author: bytes) -> AuthorState | None:
        return self.authors.get(author)

    def owner_of(self, authority: str) -> bytes | None:
        return self.owners.get(authority)

    def pin(self, author: bytes, authority: str) -> ChainState:
        """Binds ``author`` to ``authority`` ahead of its chain (from an authenticated handshake)."""
        authority = _canonical_authority(authority)
        _check_claim(self, author, authority)
        if author in self.authors:
            return self
        return self._with(author, AuthorState(authority=authority), new_owner=authority)

    def resume(self, author: bytes, authority: str, next_seq: int, head_id: bytes,
               recent: tuple[bytes, ...] = (), *, forked: bool = False) -> ChainState:
        """The state of an author as a store recorded it (used when a node restarts)."""
        authority = _canonical_authority(authority)
        _check_claim(self, author, authority)
        state = AuthorState(authority=authority, next_seq=next_seq, head_id=head_id,
                            recent=recent[-RECENT_WINDOW:], started=next_seq > 0, forked=forked)
        return self._with(author, state, new_owner=authority)

    def _with(self, author: bytes, state: AuthorState, new_owner: str | None = None) -> ChainState:
        authors = dict(self.authors)
        authors[author] = state
        owners = self.owners
        if new_owner is not None and owners.get(new_owner) != author:
            owners = MappingProxyType({**owners, new_owner: author})
        return ChainState(MappingProxyType(authors), owners)


def _canonical_authority(text: str) -> str:
    try:
        canonical = str(Authority.parse(text))
    except ValueError as exc:
        raise MalformedEventError(f"bad authority claim: {exc}") from None
    if canonical != text:
        raise MalformedEventError(f"authority {text!r} is not in canonical form {canonical!r}")
    return canonical


def _check_claim(state: ChainState, author: bytes, authority: str) -> None:
    owner = state.owners.get(authority)
    if owner is not None and owner != author:
        raise AuthorityClaimedError(
            f"authority {authority} is bound to key {owner.hex()[:12]}, not {author.hex()[:12]}"
        )
    known = state.authors.get(author)
    if known is not None and known.authority != authority:
        raise AuthorityClaimedError(
            f"key {author.hex()[:12]} is bound to {known.authority}; it cannot claim {authority}"
        )


def verify(state: ChainState, raw: bytes, *, now_ns: int, limits: VerifyLimits = DEFAULT_LIMITS,
           lookup: IdLookup | None = None) -> tuple[ChainState, SignedEvent]:
    """Verifies one signed event against ``state``: returns the next state and the decoded event.

    Raises (one class per rule, see :mod:`.errors`): :class:`OversizedEventError`,
    :class:`MalformedEventError`, :class:`BadSignatureError`, :class:`AuthorForkedError`,
    :class:`NotOwnerError` (and its :class:`UnboundAuthorError`, :class:`AuthorityClaimedError`),
    :class:`DuplicateEventError` / :class:`StaleEventError` (replays), :class:`EquivocationError`
    (carrying the state with the author marked forked), :class:`FutureTimestampError`,
    :class:`SequenceGapError`, :class:`WrongPreviousHashError`, :class:`CheckpointMismatchError`.
    """
    return advance(state, check_signature(raw, max_size=limits.max_event_size), now_ns=now_ns,
                   limits=limits, lookup=lookup)


def advance(state: ChainState, event: SignedEvent, *, now_ns: int,
            limits: VerifyLimits = DEFAULT_LIMITS,
            lookup: IdLookup | None = None) -> tuple[ChainState, SignedEvent]:
    """The stateful rules, for an event whose signature :func:`check_signature` already checked."""
    env = event.envelope
    author, seq, payload = env.author, env.seq, env.payload
    known = state.authors.get(author)
    if (known is not None and known.started and not known.forked and known.pending is None
            and seq == known.next_seq and seq > 0 and env.prev == known.head_id
            and not isinstance(payload, SystemStart | ChainCheckpoint)
            and env.timestamp_ns <= now_ns + limits.max_future_ns
            and uri_authority(env.uri) == known.authority):
        # the common case (the next event of a known chain, no claim, no checkpoint): every rule
        # below holds, so this is the state the full path would reach
        recent = (*known.recent, event.id)
        if len(recent) > RECENT_WINDOW:
            recent = recent[-RECENT_WINDOW:]
        return state._with(author, AuthorState(known.authority, seq + 1, event.id, recent, None, True)), event
    if known is not None and known.forked:
        raise AuthorForkedError(f"author {author.hex()[:12]} forked its chain; its events are refused")

    new_owner: str | None = None
    if known is None or not known.started:
        claim = _start_claim(payload, seq)
        if claim is None:
            if known is None:
                raise UnboundAuthorError(
                    f"first event of unknown author {author.hex()[:12]} is {env.type} at seq {seq}; "
                    "a chain starts with SystemStart at seq 0 or a checkpoint"
                )
            claim = known.authority
        claim = _canonical_authority(claim)
        _check_claim(state, author, claim)
        if known is None:
            known = AuthorState(authority=claim)
            new_owner = claim
    elif isinstance(payload, SystemStart | ChainCheckpoint) and payload.authority != known.authority:
        raise AuthorityClaimedError(
            f"key {author.hex()[:12]} is bound to {known.authority}; it cannot claim {payload.authority}"
        )

    owner_of_uri = uri_authority(env.uri)
    if owner_of_uri != known.authority:
        raise NotOwnerError(
            f"author {author.hex()[:12]} owns {known.authority}, not the authority of {env.uri}"
        )

    expected = known.next_seq
    if seq < expected or (known.pending is not None and seq == known.pending[0]):
        first_id = known.id_at(seq)
        if first_id is None and lookup is not None:
            first_id = lookup(author, seq)
        if first_id == event.id:
            raise DuplicateEventError(f"seq {seq} of author {author.hex()[:12]} was already accepted")
        if first_id is None:
            raise StaleEventError(
                f"seq {seq} of author {author.hex()[:12]} is behind its head ({expected}) and no "
                "longer held"
            )
        forked_state = state._with(author, replace(known, forked=True), new_owner)
        raise EquivocationError(
            f"author {author.hex()[:12]} signed two different events at seq {seq}",
            state=forked_state, author=author, seq=seq, first_id=first_id, second=event.raw,
        )

    if env.timestamp_ns > now_ns + limits.max_future_ns:
        raise FutureTimestampError(
            f"seq {seq} of author {author.hex()[:12]} is stamped "
            f"{(env.timestamp_ns - now_ns) / 1e9:.3f} s ahead of our clock"
        )

    if isinstance(payload, ChainCheckpoint) and payload.horizon_seq >= seq:
        raise MalformedEventError(f"checkpoint at seq {seq} names a horizon at or after itself")

    if seq > expected:
        if isinstance(payload, ChainCheckpoint) and not known.started and known.pending is None:
            # a late joiner starts from a checkpoint: the tail follows from horizon_seq + 1
            if payload.horizon_seq + 1 == seq:
                if env.prev != payload.horizon_id:
                    raise WrongPreviousHashError(f"checkpoint at seq {seq} does not link to its horizon")
                started = replace(known, next_seq=seq + 1, head_id=event.id, recent=(event.id,),
                                  started=True)
            else:
                started = replace(known, next_seq=payload.horizon_seq + 1, head_id=payload.horizon_id,
                                  recent=(), pending=(seq, event.id, env.prev), started=True)
            return state._with(author, started, new_owner), event
        raise SequenceGapError(
            f"seq {seq} of author {author.hex()[:12]} skips ahead of the expected {expected}"
        )

    if env.prev != known.head_id:
        raise WrongPreviousHashError(
            f"seq {seq} of author {author.hex()[:12]} links to {env.prev.hex()[:12]}, "
            f"not to its previous event {known.head_id.hex()[:12]}"
        )
    if seq == 0 and not isinstance(payload, SystemStart):
        raise MalformedEventError("an author's chain must start with SystemStart at seq 0")
    if isinstance(payload, ChainCheckpoint):
        horizon = known.id_at(payload.horizon_seq)
        if horizon is None and lookup is not None:
            horizon = lookup(author, payload.horizon_seq)
        if horizon is not None and horizon != payload.horizon_id:
            raise CheckpointMismatchError(
                f"checkpoint at seq {seq} names {payload.horizon_id.hex()[:12]} at seq "
                f"{payload.horizon_seq}, but that event is {horizon.hex()[:12]}"
            )

    recent = (*known.recent, event.id)
    if len(recent) > RECENT_WINDOW:
        recent = recent[-RECENT_WINDOW:]
    pending = known.pending
    if pending is not None and pending[0] == seq + 1:
        # the tail reached the checkpoint we started from: it is the next event, already accepted
        if pending[2] != event.id:
            raise WrongPreviousHashError(
                f"the checkpoint at seq {pending[0]} of author {author.hex()[:12]} does not link to "
                f"this event at seq {seq}"
            )
        next_state = AuthorState(known.authority, seq + 2, pending[1], (*recent, pending[1]), None, True)
    else:
        next_state = AuthorState(known.authority, seq + 1, event.id, recent, pending, True)
    return state._with(author, next_state, new_owner), event


def advance_run(state: ChainState, items: Sequence[SignedEvent | InvalidEventError], start: int, *,
                now_ns: int, limits: VerifyLimits = DEFAULT_LIMITS) -> tuple[ChainState, int]:
    """:func:`advance` of ``items[start:]`` as long as they are its common case: the next events
    of one known author's chain (started, not forked, no checkpoint pending), none a claim or a
    checkpoint, none stamped too far ahead, each about a URI of the author's authority. Returns the
    state after them and how many there were (0: ``items[start]`` needs :func:`advance` itself).

    The state is built once for the run, not once per event: the receiving hot path.
    """
    first = items[start]
    if type(first) is not SignedEvent:
        return state, 0
    author = first.envelope.author
    known = state.authors.get(author)
    if known is None or not known.started or known.forked or known.pending is not None:
        return state, 0
    authority, seq, head = known.authority, known.next_seq, known.head_id
    if seq <= 0:
        return state, 0
    latest = now_ns + limits.max_future_ns
    ids: list[bytes] = []
    n = len(items)
    i = start
    while i < n:
        event = items[i]
        if type(event) is not SignedEvent:
            break
        env = event.envelope
        if (env.author != author or env.seq != seq or env.prev != head
                or isinstance(env.payload, SystemStart | ChainCheckpoint)
                or env.timestamp_ns > latest or uri_authority(env.uri) != authority):
            break
        head = event.id
        ids.append(head)
        seq += 1
        i += 1
    if not ids:
        return state, 0
    recent = (*known.recent[-RECENT_WINDOW:], *ids[-RECENT_WINDOW:])[-RECENT_WINDOW:]
    return state._with(author, AuthorState(authority, seq, head, recent, None, True)), len(ids)


def _start_claim(payload: AnyEventPayload, seq: int) -> str | None:
    if isinstance(payload, SystemStart) and seq == 0:
        return payload.authority
    if isinstance(payload, ChainCheckpoint):
        return payload.authority
    return None


# ---- the bounded chain of one author ------------------------------------------------------------


class EventNode(msgspec.Struct, gc=False):
    """One event in a :class:`CircularEventStream`, linked both ways (ids, as in the seed).

    Untracked by the garbage collector as :class:`SignedEvent` (it refers to ids and an event only)."""

    event: SignedEvent
    previous_node_id: bytes | None = None
    next_node_id: bytes | None = None

    @property
    def id(self) -> bytes:
        return self.event.id


class CircularEventStream:
    """The newest events of one author's chain, linked by id: ``head`` is the newest, ``tail`` the
    oldest still held.

    The stream is bounded by ``max_size`` events and ``max_age_ns``; :meth:`retention_horizon` says
    how far retention wants to drop, and :meth:`cleanup` drops the oldest events only behind a
    signed checkpoint (its ``horizon_seq``), so the tail always links to a signed horizon. Until a
    checkpoint arrives the stream may hold more than ``max_size`` events. Only verified events
    belong here; :meth:`add_event` checks that they extend the head.
    """

    def __init__(self, author: bytes, max_size: int = 10_000, max_age_ns: int | None = None) -> None:
        if max_size < 2:
            raise ValueError("max_size must be at least 2 (an event and the checkpoint behind it)")
        self.author = author
        self.max_size = max_size
        self.max_age_ns = max_age_ns
        self.head: bytes | None = None
        self.tail: bytes | None = None
        #: the newest checkpoint the stream was cut behind (None before the first cleanup)
        self.checkpoint: SignedEvent | None = None
        self._nodes: dict[bytes, EventNode] = {}
        self._by_seq: dict[int, bytes] = {}
        #: a checkpoint we started from that the tail has not reached yet
        self._pending: SignedEvent | None = None

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._nodes

    def __iter__(self) -> Iterator[SignedEvent]:
        node_id = self.tail
        while node_id is not None:
            node = self._nodes[node_id]
            yield node.event
            node_id = node.next_node_id

    def node(self, event_id: bytes) -> EventNode:
        try:
            return self._nodes[event_id]
        except KeyError:
            raise UnknownEventError(f"event {event_id.hex()[:12]} is not held in this stream") from None

    def event_at(self, seq: int) -> SignedEvent | None:
        event_id = self._by_seq.get(seq)
        return None if event_id is None else self._nodes[event_id].event

    def id_at(self, seq: int) -> bytes | None:
        return self._by_seq.get(seq)

    @property
    def head_event(self) -> SignedEvent | None:
        return None if self.head is None else self._nodes[self.head].event

    @property
    def tail_event(self) -> SignedEvent | None:
        return None if self.tail is None else self._nodes[self.tail].event

    def add_event(self, event: SignedEvent) -> None:
        """Appends a verified event; it must be the author's and extend the head."""
        env, event_id, nodes = event.envelope, event.id, self._nodes
        if env.author != self.author:
            raise ChainLinkError("the event belongs to another author's stream")
        if event_id in nodes:
            raise ChainLinkError(f"event {event_id.hex()[:12]} is already in the stream")
        seq, head_id = env.seq, self.head
        if head_id is not None:
            head = nodes[head_id]
            if seq != head.event.envelope.seq + 1 or env.prev != head_id:
                raise ChainLinkError(
                    f"seq {seq} does not extend the head at seq {head.event.envelope.seq}"
                )
            head.next_node_id = event_id
            nodes[event_id] = EventNode(event, head_id)
        else:
            if self.checkpoint is not None:
                horizon: ChainCheckpoint = self.checkpoint.payload  # type: ignore[assignment]
                if seq != horizon.horizon_seq + 1 or env.prev != horizon.horizon_id:
                    raise ChainLinkError(f"seq {seq} does not follow the checkpoint's horizon")
            nodes[event_id] = EventNode(event)
            self.tail = event_id
        self._by_seq[seq] = event_id
        self.head = event_id
        pending = self._pending
        if pending is not None and pending.seq == seq + 1 and pending.prev == event_id:
            self._pending = None
            self.add_event(pending)

    def add_events(self, events: Sequence[SignedEvent]) -> None:
        """:meth:`add_event` of each event in order, with the same checks (a run of verified
        events: the writer's and a receiver's hot path). If one fails, those before it are in."""
        if self.head is None or self._pending is not None:
            for event in events:
                self.add_event(event)
            return
        author, nodes, by_seq, make = self.author, self._nodes, self._by_seq, EventNode
        head_id = self.head
        head = nodes[head_id]
        seq = head.event.envelope.seq
        for event in events:
            env, event_id = event.envelope, event.id
            if env.author != author:
                raise ChainLinkError("the event belongs to another author's stream")
            if event_id in nodes:
                raise ChainLinkError(f"event {event_id.hex()[:12]} is already in the stream")
            if env.seq != seq + 1 or env.prev != head_id:
                raise ChainLinkError(f"seq {env.seq} does not extend the head at seq {seq}")
            seq += 1
            head.next_node_id = event_id
            head = nodes[event_id] = make(event, head_id)
            by_seq[seq] = event_id
            head_id = self.head = event_id

    def start_from(self, checkpoint: SignedEvent) -> None:
        """Starts an empty stream from a checkpoint (a late join): the tail after its horizon
        follows with :meth:`add_event`, and the checkpoint joins the chain once the tail reaches it."""
        payload = checkpoint.payload
        if not isinstance(payload, ChainCheckpoint) or checkpoint.author != self.author:
            raise ChainLinkError("a stream starts from a checkpoint event of its author")
        if self._nodes:
            raise ChainLinkError("only an empty stream starts from a checkpoint")
        self.checkpoint = checkpoint
        self._pending = checkpoint

    def get_events(self, from_id: bytes | None = None, to_id: bytes | None = None) -> list[SignedEvent]:
        """Events from ``from_id`` to ``to_id`` inclusive, oldest first (default: tail and head)."""
        start = self.tail if from_id is None else self.node(from_id).id
        end = self.head if to_id is None else self.node(to_id).id
        if start is None or end is None:
            return []
        if self._nodes[start].event.seq > self._nodes[end].event.seq:
            raise ValueError("from_id is newer than to_id")
        out: list[SignedEvent] = []
        node_id: bytes | None = start
        while node_id is not None:
            node = self._nodes[node_id]
            out.append(node.event)
            if node_id == end:
                break
            node_id = node.next_node_id
        return out

    def retention_horizon(self, now_ns: int) -> int | None:
        """The highest seq that retention by count and by age wants dropped, or None.

        The head is never dropped, nor is a checkpoint at the tail (it is the late joiner's start).
        """
        tail, head = self.tail_event, self.head_event
        if tail is None or head is None:
            return None
        horizon: int | None = None
        if len(self._nodes) > self.max_size:
            # count: one slot is left for the checkpoint that the cleanup will append
            horizon = tail.seq + len(self._nodes) - self.max_size
        if self.max_age_ns is not None:
            cutoff = now_ns - self.max_age_ns
            seq = tail.seq
            while seq < head.seq:
                event = self.event_at(seq)
                if event is None or event.timestamp_ns >= cutoff:
                    break
                seq += 1
            if seq > tail.seq:
                horizon = max(horizon or -1, seq - 1)
        if horizon is None:
            return None
        return min(horizon, head.seq - 1)

    def cleanup(self, checkpoint: SignedEvent) -> list[SignedEvent]:
        """Drops every event up to the checkpoint's horizon; returns what was dropped, oldest first.

        ``checkpoint`` must be a verified ``ChainCheckpoint`` of this author held in the stream,
        whose ``horizon_id`` is the event held at ``horizon_seq`` (or one already dropped).
        """
        payload = checkpoint.payload
        if not isinstance(payload, ChainCheckpoint) or checkpoint.author != self.author:
            raise ChainLinkError("cleanup needs a checkpoint event of this stream's author")
        if checkpoint.id not in self._nodes:
            raise ChainLinkError("add the checkpoint to the stream before cleaning up behind it")
        held = self._by_seq.get(payload.horizon_seq)
        if held is not None and held != payload.horizon_id:
            raise ChainLinkError("the checkpoint's horizon is not the event held at that seq")
        dropped: list[SignedEvent] = []
        while self.tail is not None:
            node = self._nodes[self.tail]
            if node.event.seq > payload.horizon_seq:
                node.previous_node_id = None
                break
            dropped.append(node.event)
            del self._nodes[node.id]
            del self._by_seq[node.event.seq]
            self.tail = node.next_node_id
        self.checkpoint = checkpoint
        return dropped
