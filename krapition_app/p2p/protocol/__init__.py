"""The sans-IO wire protocol: handshake, encrypted frames, the connection state machine, errors.

See :mod:`.handshake` for the design and threat model, :mod:`.framing` for the frame format and
:mod:`.connection` for the state machine.
"""

from .connection import (
    TRANSITIONS,
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    Event,
    HandshakeComplete,
    MessageReceived,
    Role,
    State,
)
from .errors import (
    AuthenticationError,
    FrameError,
    LocalProtocolError,
    PinMismatchError,
    ProtocolError,
    RemoteProtocolError,
)
from .handshake import PROTOCOL_VERSION, ReplayCache

__all__ = [
    "PROTOCOL_VERSION",
    "TRANSITIONS",
    "AuthenticationError",
    "Connection",
    "ConnectionClosed",
    "ConnectionConfig",
    "Event",
    "FrameError",
    "HandshakeComplete",
    "LocalProtocolError",
    "MessageReceived",
    "PinMismatchError",
    "ProtocolError",
    "RemoteProtocolError",
    "ReplayCache",
    "Role",
    "State",
]
