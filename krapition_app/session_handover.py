"""Handing bodies to another node (the session's side of it; pure rules, no I/O).

A body's URI names its owner, so a body that changes owner changes URI. The protocol, over signed
events only, is built so that no world ever holds two copies of one body (they would overlap and
explode apart):

1. The old owner removes the body from its own world and writes, on its chain, the body's exact
   last state (``ObjectCreated`` replacing it) and then its tombstone: ``ObjectDeleted`` with
   ``moved_to`` = the new URI (under the new owner's authority). The chain rules make sure only the
   owner of the old URI can write either.
2. Every node removes its copy of the old URI on the tombstone and remembers the hand-over.
3. The new owner (the node whose authority ``moved_to`` names; no other adopts it) spawns the body
   as its own, under the name of ``moved_to`` if free (else a unique one), at that state, in the
   same world step that removes the old copy, and publishes ``UserCommand("adopted", target=new
   URI, params={"moved_from": old URI})`` and then, as for any new body, ``ObjectCreated``.
4. A node that sees the new URI's ``ObjectCreated`` before the old URI's tombstone (the two come on
   different chains) holds the new copy back until the old one is gone (bounded wait).
5. A tombstone nobody adopts does not lose the body: the old owner, if it still runs, takes it back
   (re-creates the old URI at the tombstone's state) when the target is gone or after
   ``RECLAIM_S``; if the old owner is gone too, the connected node with the lowest node id (of
   those that are neither) adopts it after ``ORPHAN_S``. The target adopts only a fresh tombstone
   (``ADOPT_WINDOW_S``, shorter than ``RECLAIM_S``), so a late catch-up never revives a body the old
   owner took back. The tombstone's age is its timestamp read on our clock through the old owner's
   measured clock offset (heartbeat round trips), so clocks that disagree by seconds still agree on
   it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .model.scene import BodySpec
from .model.uri import MAX_NAME_LENGTH

#: the UserCommand an adopter publishes (target: the new URI; params: moved_from)
ADOPTED = "adopted"
#: the tombstone's reason
HANDED_OVER = "handed over"
#: a target adopts tombstones at most this old (by their timestamp, corrected by the old owner's
#: clock offset): less than ``LEAVE_WAIT_S``,
#: after which a leaving node takes back what was not adopted
ADOPT_WINDOW_S = 2.5
#: the old owner takes back a body not adopted after this long, or, when the target is not
#: connected, after ``TARGET_GONE_S``
RECLAIM_S = 6.0
TARGET_GONE_S = 1.0
#: a hand-over whose old owner and target are both gone is adopted by a third node after this long
ORPHAN_S = 2.0
#: a new copy that waits for its old copy's tombstone waits at most this long
HOLD_BACK_S = 5.0
#: hand-overs forgotten after this long, adopted or not
FORGET_S = 60.0
#: leave(): how long to wait for the adoptions at most
LEAVE_WAIT_S = 3.0


@dataclass
class Handoff:
    """A tombstone that points to a new URI, as a node saw it."""

    old_uri: str
    new_uri: str
    #: the old owner's public key
    author: bytes
    #: the body at its exact last state, under its old name
    spec: BodySpec
    #: when we saw it (our clock)
    since: float
    #: the tombstone's timestamp (the author's clock), ns
    timestamp_ns: int = 0


def unique_name(wanted: str, taken: Callable[[str], bool]) -> str:
    """``wanted`` if it is free, else ``wanted-2``, ``wanted-3``, ... (cut to the longest name)."""
    if not taken(wanted):
        return wanted
    n = 2
    while True:
        suffix = f"-{n}"
        name = wanted[: MAX_NAME_LENGTH - len(suffix)] + suffix
        if not taken(name):
            return name
        n += 1


def orphan_adopter(own_id: str, connected: Iterable[str], exclude: Iterable[str]) -> bool:
    """The deterministic rule for a hand-over whose old owner and target are gone: the node with the
    lowest node id among us and the connected peers, neither of the two, adopts it."""
    skip = set(exclude)
    candidates = sorted({own_id, *connected} - skip)
    return bool(candidates) and candidates[0] == own_id
