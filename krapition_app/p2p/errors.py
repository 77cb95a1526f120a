"""Exact errors of identity, the signed event chain and the data manager.

:class:`InvalidEventError` and its subclasses mean "a peer (or a file) sent an event that breaks a
rule": the event is rejected and nothing is stored. Each rule has its own class so callers and tests
can tell them apart; ``str()`` says which rule and why. Errors of our own misuse (appending to a
chain out of order, writing a URI we do not own) are separate classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.errors import KrapitionError

if TYPE_CHECKING:
    from .chain import ChainState


class IdentityError(KrapitionError):
    """The key file of this installation cannot be used; the message names the file."""


class ChainError(KrapitionError):
    """Root of the event chain's errors."""


class InvalidEventError(ChainError):
    """A received event breaks a verification rule; it is rejected and nothing is stored."""


class MalformedEventError(InvalidEventError):
    """The bytes are not a signed, canonically encoded event envelope."""


class OversizedEventError(InvalidEventError):
    """The signed event is larger than the configured limit (checked before anything is decoded)."""


class BadSignatureError(InvalidEventError):
    """The ed25519 signature does not match the author key over the exact envelope bytes."""


class NotOwnerError(InvalidEventError):
    """The author is not the key bound to the authority (``host:port``) of the event's URI."""


class UnboundAuthorError(NotOwnerError):
    """The author has no authority yet: its first event must be SystemStart at seq 0 or a checkpoint."""


class AuthorityClaimedError(NotOwnerError):
    """The event claims an authority already bound to another key (or a second one for this key)."""


class SequenceError(InvalidEventError):
    """The event's sequence number does not follow the author's head."""


class SequenceGapError(SequenceError):
    """The sequence number skips ahead: events in between are missing (ask for them first)."""


class ReplayError(SequenceError):
    """The sequence number is at or behind the author's head."""


class DuplicateEventError(ReplayError):
    """The exact event was already accepted (harmless: a resend)."""


class StaleEventError(ReplayError):
    """The event is older than every event still remembered for this author (behind a cleanup)."""


class WrongPreviousHashError(InvalidEventError):
    """``prev`` is not the id of the author's event just before this one."""


class FutureTimestampError(InvalidEventError):
    """The timestamp is further ahead of our clock than the allowed skew."""


class CheckpointMismatchError(InvalidEventError):
    """A checkpoint names a horizon that is not the author's event at that sequence number."""


class EquivocationError(InvalidEventError):
    """Two validly signed events with the same author and sequence number but different ids.

    The author has forked its chain. ``state`` is the verifier state with the author marked forked,
    ``first_id`` the id already accepted and ``second`` the exact bytes of the conflicting event:
    keep both as proof.
    """

    def __init__(self, message: str, *, state: ChainState, author: bytes, seq: int,
                 first_id: bytes, second: bytes) -> None:
        super().__init__(message)
        self.state = state
        self.author = author
        self.seq = seq
        self.first_id = first_id
        self.second = second


class AuthorForkedError(InvalidEventError):
    """The author was caught equivocating earlier; nothing more of its chain is accepted."""


class ChainLinkError(ChainError):
    """Local misuse: an event added to a :class:`CircularEventStream` does not extend its head."""


class UnknownEventError(ChainError, KeyError):
    """An event id that the stream does not hold (never seen, or dropped behind a checkpoint)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown event"


class DataError(KrapitionError):
    """Root of the data manager's command errors."""


class NotOwnedURIError(DataError, PermissionError):
    """A command tries to write a URI this node does not own (send it to the owner instead)."""


class DataNotFoundError(DataError, KeyError):
    """No value is known for the URI."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class InvalidCommandError(DataError, ValueError):
    """A command's value does not fit its URI (wrong kind, a body named differently, ...)."""
