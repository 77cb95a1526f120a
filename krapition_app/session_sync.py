"""Desync detection between an owner and the copies other nodes hold of its bodies (pure).

Every heartbeat carries, for the sender's own bodies, a hash of what it owns at a *confirmed tick*:
the sequence number of the newest event of its chain. A node that has applied that owner's events up
to exactly that sequence number compares the hash with one of its own copy; a difference means its
world has drifted from what the owner's chain says (a lost spawn, a body it never removed), and the
session resynchronises that owner's bodies from the replicated store and logs and shows it. A node
that is behind or ahead of the confirmed tick waits for the next heartbeat.

What is hashed: the set of body names (the copy's shape of the world). States are not: motion is
corrected by the motion codec's keyframes every few seconds anyway, and rest states are exact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

HASH_BYTES = 16


def bodies_hash(names: Iterable[str]) -> bytes:
    """BLAKE2b-128 of the sorted names, each length-prefixed (order-independent, canonical, and no
    two different sets run together into the same bytes)."""
    h = hashlib.blake2b(digest_size=HASH_BYTES)
    for name in sorted(names):
        raw = name.encode("utf-8")
        h.update(len(raw).to_bytes(4, "big"))
        h.update(raw)
    return h.digest()


@dataclass
class DesyncMonitor:
    """Per owner: the hash it announced at a chain seq, checked once our copy reaches that seq."""

    #: author hex -> (seq, hash) announced by the owner, not yet checked
    pending: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    checked: int = 0
    mismatches: int = 0

    def announced(self, author_hex: str, seq: int, digest: bytes) -> None:
        if len(digest) == HASH_BYTES and seq >= 0:
            self.pending[author_hex] = (seq, digest)

    def check(self, author_hex: str, applied_seq: int, names: Iterable[str]) -> bool | None:
        """None: nothing to check yet (no announcement, or our copy is not at its seq); True: in
        sync; False: diverged (the announcement is used up either way)."""
        announced = self.pending.get(author_hex)
        if announced is None or applied_seq != announced[0]:
            return None
        del self.pending[author_hex]
        self.checked += 1
        if bodies_hash(names) == announced[1]:
            return True
        self.mismatches += 1
        return False
