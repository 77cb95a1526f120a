"""Test doubles and deterministic fixtures for the event chain (as ``trio.testing``).

Everything here is reproducible from fixed seeds: ed25519 signatures are deterministic, so
:func:`golden_cases` returns the same bytes on every machine. ``tests/data/make_chain_golden.py``
writes them to ``tests/data/chain/``, and the tests check that the files still match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from nacl.signing import SigningKey

from ..model.events import (
    AnyEventPayload,
    ChainCheckpoint,
    EventEnvelope,
    ObjectCreated,
    ObjectDeleted,
    ObjectMoved,
    SoundEmitted,
    SystemStart,
)
from ..model.events import BodyState as MovedBody
from ..model.scene import BodySpec
from .chain import ZERO_HASH, SignedEvent, sign
from .identity import Identity

GOLDEN_START_NS = 1_700_000_000_000_000_000
GOLDEN_NOW_NS = GOLDEN_START_NS + 1_000_000_000
#: the event size limit the oversized golden case is checked against
GOLDEN_MAX_EVENT_SIZE = 2048


def seeded_identity(label: str) -> Identity:
    """An identity derived from ``label``: the same key on every run."""
    return Identity.from_seed(hashlib.blake2b(label.encode(), digest_size=32).digest())


def object_uri(authority: str, name: str) -> str:
    return f"krapition://{authority}/physics/objects/{name}"


def node_uri(identity: Identity, authority: str) -> str:
    return f"krapition://{authority}/system/nodes/{identity.node_id}"


def ball(name: str, x: float = 0.0) -> BodySpec:
    return BodySpec(name=name, shape="sphere", radius=0.1, material="rubber", position=(x, 0.0, 1.0))


def box(name: str) -> BodySpec:
    return BodySpec(name=name, shape="box", half_extents=(0.2, 0.2, 0.2), material="metal")


def sign_next(key: SigningKey, *, seq: int, prev: bytes, uri: str, payload: AnyEventPayload,
              timestamp_ns: int) -> SignedEvent:
    envelope = EventEnvelope(author=bytes(key.verify_key), seq=seq, prev=prev, timestamp_ns=timestamp_ns,
                             uri=uri, payload=payload)
    return sign(key, envelope)


def build_chain(identity: Identity, authority: str, items: Sequence[tuple[str, AnyEventPayload]], *,
                start_ns: int = GOLDEN_START_NS, first_seq: int = 0,
                prev: bytes = ZERO_HASH) -> list[SignedEvent]:
    """Signs ``items`` as consecutive events of ``identity``'s chain (1 ms apart)."""
    out: list[SignedEvent] = []
    for i, (uri, payload) in enumerate(items):
        seq = first_seq + i
        event = sign_next(identity.signing_key, seq=seq, prev=prev, uri=uri, payload=payload,
                          timestamp_ns=start_ns + seq * 1_000_000)
        out.append(event)
        prev = event.id
    return out


def start_payload(authority: str) -> SystemStart:
    return SystemStart(version="golden", name="golden", authority=authority)


@dataclass(frozen=True)
class GoldenCase:
    name: str
    raw: bytes
    #: names of the cases fed to the verifier first (their own expectations apply)
    before: tuple[str, ...]
    #: the error class name the verifier must raise, or None for a valid event
    error: str | None
    max_event_size: int | None = None


def golden_cases() -> list[GoldenCase]:
    """Valid events of two authors and one broken event per verification rule."""
    a, c = seeded_identity("golden-a"), seeded_identity("golden-c")
    auth_a, auth_b = "a.example:7000", "b.example:7000"
    valid = build_chain(a, auth_a, [
        (node_uri(a, auth_a), start_payload(auth_a)),
        (object_uri(auth_a, "ball-1"), ObjectCreated(body=ball("ball-1"))),
        (object_uri(auth_a, "box-1"), ObjectCreated(body=box("box-1"))),
        (node_uri(a, auth_a),
         ObjectMoved(tick=7, bodies=(MovedBody(name="ball-1", position=(0.5, 0.0, 1.0)),))),
        (object_uri(auth_a, "box-1"), ObjectDeleted(reason="golden")),
    ])
    head = valid[-1]
    cases: list[GoldenCase] = []
    names: list[str] = []
    for event in valid:
        name = f"valid-{event.seq:02d}-{event.type}"
        cases.append(GoldenCase(name, event.raw, tuple(names), None))
        names.append(name)
    chain = tuple(names)
    checkpoint_uri = f"krapition://{auth_a}/system/checkpoints/{a.node_id}"
    checkpoint = build_chain(a, auth_a, [(checkpoint_uri, ChainCheckpoint(
        horizon_seq=3, horizon_id=valid[3].id, authority=auth_a,
        state_hash=hashlib.blake2b(b"golden", digest_size=32).digest(),
    ))], first_seq=head.seq + 1, prev=head.id)[0]
    cases.append(GoldenCase(f"valid-{checkpoint.seq:02d}-ChainCheckpoint", checkpoint.raw, chain, None))

    def nxt(uri: str, payload: AnyEventPayload, *, seq: int | None = None, prev: bytes | None = None,
            ts: int | None = None, key: SigningKey = a.signing_key) -> SignedEvent:
        seq = head.seq + 1 if seq is None else seq
        return sign_next(key, seq=seq, prev=head.id if prev is None else prev, uri=uri, payload=payload,
                         timestamp_ns=GOLDEN_START_NS + seq * 1_000_000 if ts is None else ts)

    ok_next = nxt(object_uri(auth_a, "ball-2"), ObjectCreated(body=ball("ball-2")))
    # one broken event per rule
    raw_ok = ok_next.raw
    flipped_sig = bytes([raw_ok[0] ^ 0x01]) + raw_ok[1:]
    tampered = raw_ok.replace(b"ball-2", b"ball-3")
    body = raw_ok[64:]
    non_canonical_body = body.replace(b"\xa3seq\x05", b"\xa3seq\xcc\x05", 1)
    assert non_canonical_body != body
    non_canonical = bytes(a.signing_key.sign(non_canonical_body))
    equivocation = nxt(object_uri(auth_a, "ball-9"), ObjectCreated(body=ball("ball-9")), seq=2,
                       prev=valid[1].id)
    big = nxt(f"krapition://{auth_a}/audio/sources/ball-1", SoundEmitted(
        source=object_uri(auth_a, "ball-1"), time=0.0, frequencies=tuple(100.0 + i for i in range(80)),
        amplitudes=(0.5,) * 80, decay_rates=(3.0,) * 80))
    assert len(big.raw) > GOLDEN_MAX_EVENT_SIZE
    bad_checkpoint = nxt(checkpoint_uri, ChainCheckpoint(
        horizon_seq=2, horizon_id=valid[3].id, state_hash=bytes(32), authority=auth_a))
    invalid = [
        ("malformed-truncated", raw_ok[:-7], chain, "MalformedEventError", None),
        ("malformed-short", raw_ok[:40], chain, "MalformedEventError", None),
        ("malformed-noncanonical", non_canonical, chain, "MalformedEventError", None),
        ("oversized", big.raw, chain, "OversizedEventError", GOLDEN_MAX_EVENT_SIZE),
        ("bad-signature-flipped", flipped_sig, chain, "BadSignatureError", None),
        ("bad-signature-tampered", tampered, chain, "BadSignatureError", None),
        ("not-owner", nxt(object_uri(auth_b, "ball-2"), ObjectCreated(body=ball("ball-2"))).raw, chain,
         "NotOwnerError", None),
        ("unbound-author", build_chain(c, auth_b, [(object_uri(auth_b, "ball-1"),
                                                    ObjectCreated(body=ball("ball-1")))])[0].raw,
         chain, "UnboundAuthorError", None),
        ("authority-claimed", build_chain(c, auth_a, [(node_uri(c, auth_a), start_payload(auth_a))])[0].raw,
         chain, "AuthorityClaimedError", None),
        ("sequence-gap", nxt(object_uri(auth_a, "ball-2"), ObjectCreated(body=ball("ball-2")),
                             seq=head.seq + 2).raw, chain, "SequenceGapError", None),
        ("replay", valid[2].raw, chain, "DuplicateEventError", None),
        ("wrong-prev", nxt(object_uri(auth_a, "ball-2"), ObjectCreated(body=ball("ball-2")),
                           prev=valid[2].id).raw, chain, "WrongPreviousHashError", None),
        ("future-timestamp", nxt(object_uri(auth_a, "ball-2"), ObjectCreated(body=ball("ball-2")),
                                 ts=GOLDEN_NOW_NS + 60_000_000_000).raw, chain, "FutureTimestampError", None),
        ("checkpoint-mismatch", bad_checkpoint.raw, chain, "CheckpointMismatchError", None),
        ("equivocation", equivocation.raw, chain, "EquivocationError", None),
        ("forked-author", raw_ok, (*chain, "invalid-equivocation"), "AuthorForkedError", None),
    ]
    for name, raw, before, error, limit in invalid:
        cases.append(GoldenCase(f"invalid-{name}", raw, before, error, limit))
    return cases
