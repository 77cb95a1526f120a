"""Exact errors of the wire protocol (as h11 and Trio separate them).

- :class:`RemoteProtocolError`: the *peer* broke the protocol (bad MAC, bad signature, a frame that
  does not authenticate, an oversized length prefix, a message that does not decode, ...). The
  connection is dead: close it, without sending anything, and keep serving the other peers.
- :class:`LocalProtocolError`: *we* misused the connection object (sending before the handshake,
  sending after close, ...). That is a bug in the caller.

Every error carries a short, fixed ``reason`` code (safe to log and count: it never contains
peer-supplied text) and the message says what happened.
"""

from __future__ import annotations

from ...model.errors import KrapitionError


class ProtocolError(KrapitionError):
    """Root of the wire protocol's errors; ``reason`` is a short fixed code for logs and metrics."""

    def __init__(self, message: str, *, reason: str = "protocol") -> None:
        super().__init__(message)
        self.reason = reason


class LocalProtocolError(ProtocolError):
    """We used the connection in a way its state does not allow (a bug of the caller)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow; the connection must be closed."""


class AuthenticationError(RemoteProtocolError):
    """The peer failed to prove something: the passphrase MAC, its signature, or a frame's AEAD tag."""


class PinMismatchError(AuthenticationError):
    """The peer proved a key, but not the key we expected (pinned) for that node id."""


class FrameError(RemoteProtocolError):
    """A frame's length prefix is out of bounds or its contents are malformed."""


class TransportError(KrapitionError):
    """Root of the transport's own errors (not a protocol violation by the peer)."""


class PeerNotConnectedError(TransportError, LookupError):
    """No established connection to that node id."""


class RequestTimeoutError(TransportError, TimeoutError):
    """No response to a request within its timeout."""


class NackError(TransportError):
    """The peer answered a request with a Nack; ``code`` and ``reason`` say why."""

    def __init__(self, ref: str, code: str, reason: str) -> None:
        super().__init__(f"request {ref} refused: {code}: {reason[:200]!r}")
        self.ref = ref
        self.code = code
        self.reason = reason


class BackpressureError(TransportError):
    """The peer's bounded outbound queue stayed full: it does not read fast enough."""


class ConnectionRefusedByPolicy(TransportError):
    """We refused to start a connection (limits, or an incompatible peer)."""
