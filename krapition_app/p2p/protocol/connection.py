"""The sans-IO connection: fed bytes, returns events; turns messages into bytes (as h11 does).

Nothing here touches a socket, a clock or a task: the caller passes ``now_ns`` and moves the bytes.
One :class:`Connection` is one side of one TCP connection::

    conn = Connection(Role.INITIATOR, identity, config)
    sock.send(conn.initiate(now))                 # msg1
    events = conn.receive_data(chunk, now)        # HandshakeComplete, MessageReceived, ...
    sock.send(conn.data_to_send())                # handshake replies (msg2 / msg3)
    sock.send(conn.send(message, now))            # one encrypted frame

States and the only transitions allowed (:data:`TRANSITIONS`)::

    HANDSHAKE --handshake-done--> ESTABLISHED --send-disconnect--> CLOSING --recv-disconnect--> CLOSED
        |                             |  \\--recv-disconnect--> CLOSED              |
        +--error / eof--> ERROR/CLOSED +--error--> ERROR        eof --> CLOSED   <--+

Any bad input raises :class:`RemoteProtocolError` (and the state becomes ERROR); the caller closes
the connection without sending anything. Misuse by the caller raises :class:`LocalProtocolError`.
After the handshake the first message each way must be ``Connect``, naming exactly the key that the
handshake proved; every later message must name the peer as its ``source``.

Memory: the receive buffer never holds more than one frame (at most ``max_frame_size`` bytes,
checked on the 4-byte prefix) plus the current chunk; during the handshake, no more than the fixed
size of the message expected.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec

from ...model.messages import Connect, Disconnect, Message
from ..identity import Identity, node_id_of
from .errors import FrameError, LocalProtocolError, PinMismatchError, RemoteProtocolError
from .framing import KIND_MESSAGES, FrameOpener, FrameSealer, messages_plaintext, unpack_messages
from .handshake import (
    MSG1_SIZE,
    MSG2_SIZE,
    MSG3_SIZE,
    PROTOCOL_VERSION,
    InitiatorHandshake,
    ReplayCache,
    ResponderHandshake,
    psk_from_passphrase,
)

# Messages are not signed (frames are authenticated as a whole), so unlike events they need no
# canonical-form check: a plain typed decode, whose struct validation still runs.
_DECODER = msgspec.msgpack.Decoder(Message)
#: messages are packed into frames of about this size (smaller frames pipeline better)
FRAME_TARGET = 64 * 1024


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class State(enum.Enum):
    HANDSHAKE = "handshake"
    ESTABLISHED = "established"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"


TRANSITIONS: dict[tuple[State, str], State] = {
    (State.HANDSHAKE, "handshake-done"): State.ESTABLISHED,
    (State.HANDSHAKE, "error"): State.ERROR,
    (State.HANDSHAKE, "eof"): State.CLOSED,
    (State.ESTABLISHED, "send-disconnect"): State.CLOSING,
    (State.ESTABLISHED, "recv-disconnect"): State.CLOSED,
    (State.ESTABLISHED, "error"): State.ERROR,
    (State.ESTABLISHED, "eof"): State.CLOSED,
    (State.CLOSING, "recv-disconnect"): State.CLOSED,
    (State.CLOSING, "error"): State.ERROR,
    (State.CLOSING, "eof"): State.CLOSED,
    (State.CLOSED, "eof"): State.CLOSED,
    (State.ERROR, "eof"): State.ERROR,
}


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    #: the session passphrase (pre-shared key); None: anyone may handshake (identities still proven)
    passphrase: str | None = None
    #: largest accepted ciphertext of one frame, bytes
    max_frame_size: int = 1 << 20
    max_messages_per_frame: int = 4096
    #: the sending key is ratcheted after this long or this many frames
    rekey_after_s: float = 600.0
    rekey_after_frames: int = 1 << 32
    #: how far the initiator's clock may be from ours, and how long a first message is remembered
    replay_window_s: float = 600.0

    def __post_init__(self) -> None:
        if not 64 <= self.max_frame_size <= 16 << 20:
            raise ValueError("max_frame_size must be within 64 B .. 16 MiB")


# ---- events (frozen, as h11's) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    peer_public_key: bytes
    peer_node_id: str
    session_id: bytes


@dataclass(frozen=True, slots=True)
class MessageReceived:
    message: Message
    #: encoded size, bytes
    size: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    #: True after the peer's Disconnect; False when the stream just ended
    graceful: bool
    reason: str = ""


Event = HandshakeComplete | MessageReceived | ConnectionClosed


class Connection:
    def __init__(self, role: Role, identity: Identity, config: ConnectionConfig | None = None, *,
                 expected_public_key: bytes | None = None, expected_node_id: str | None = None,
                 replay_cache: ReplayCache | None = None) -> None:
        self.role = role
        self.config = config or ConnectionConfig()
        self.identity = identity
        self.state = State.HANDSHAKE
        self.expected_public_key = expected_public_key
        self.expected_node_id = expected_node_id
        self.peer_public_key: bytes | None = None
        self.peer_node_id: str | None = None
        #: the peer's Connect message, once received
        self.peer_hello: Connect | None = None
        self.error: RemoteProtocolError | None = None
        self._psk = psk_from_passphrase(self.config.passphrase)
        self._buffer = bytearray()
        self._out = bytearray()
        self._sealer: FrameSealer | None = None
        self._opener: FrameOpener | None = None
        self._sent_hello = False
        self._frame_length: int | None = None
        self._initiator: InitiatorHandshake | None = None
        self._responder: ResponderHandshake | None = None
        if role is Role.RESPONDER:
            self._responder = ResponderHandshake(identity.signing_key, self._psk,
                                                 replay_cache if replay_cache is not None else ReplayCache(),
                                                 int(self.config.replay_window_s * 1e9))
        else:
            self._initiator = InitiatorHandshake(identity.signing_key, self._psk)
        self._hs_step = 0
        self.frames_received = 0
        self.bytes_received = 0

    # ---- state -------------------------------------------------------------------------------

    def _transition(self, what: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, what)]
        except KeyError:
            raise LocalProtocolError(f"{what!r} is not allowed in state {self.state.value}",
                                     reason="bad-transition") from None

    def _fail(self, exc: RemoteProtocolError) -> RemoteProtocolError:
        self.error = exc
        if self.state in (State.HANDSHAKE, State.ESTABLISHED, State.CLOSING):
            self._transition("error")
        self._buffer.clear()
        self._out.clear()
        self._sealer = self._opener = None
        self._initiator = self._responder = None
        return exc

    @property
    def established(self) -> bool:
        return self.state is State.ESTABLISHED

    # ---- outgoing ----------------------------------------------------------------------------

    def initiate(self, now_ns: int) -> bytes:
        """The initiator's first flight (``msg1``)."""
        if self.role is not Role.INITIATOR or self._hs_step != 0 or self._initiator is None:
            raise LocalProtocolError("initiate() is called once, by the initiator", reason="misuse")
        self._hs_step = 1
        return self._initiator.start(now_ns)

    def data_to_send(self) -> bytes:
        """Handshake bytes produced by :meth:`receive_data` that the caller must send."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def send(self, message: Message, now_ns: int) -> bytes:
        return self.send_many([message], now_ns)

    def send_many(self, messages: list[Message], now_ns: int) -> bytes:
        """Encrypts ``messages`` into as few frames as fit; returns the bytes to write."""
        if self.state is not State.ESTABLISHED or self._sealer is None:
            raise LocalProtocolError(f"cannot send in state {self.state.value}", reason="not-established")
        if not self._sent_hello:
            if not messages or not isinstance(messages[0].data, Connect):
                raise LocalProtocolError("the first message sent must be Connect", reason="misuse")
            self._sent_hello = True
        encoded = [m.to_bytes() for m in messages]
        if any(type(m.data) is Disconnect for m in messages):
            self._transition("send-disconnect")
        return self._seal_messages(encoded, now_ns)

    def send_encoded(self, encoded: list[bytes], now_ns: int) -> bytes:
        """As :meth:`send_many`, for messages already encoded (after Connect was sent)."""
        if self.state is not State.ESTABLISHED or self._sealer is None or not self._sent_hello:
            raise LocalProtocolError(f"cannot send in state {self.state.value}", reason="not-established")
        return self._seal_messages(encoded, now_ns)

    def _seal_messages(self, encoded: list[bytes], now_ns: int) -> bytes:
        sealer = self._sealer
        assert sealer is not None
        out: list[bytes] = []
        if (sealer.counter >= self.config.rekey_after_frames
                or now_ns - sealer.installed_ns >= self.config.rekey_after_s * 1e9):
            out.append(sealer.rekey(now_ns))
        limit = self.config.max_frame_size - 64
        target = min(FRAME_TARGET, limit)
        batch: list[bytes] = []
        size = 0
        for item in encoded:
            if len(item) + 4 > limit:
                raise LocalProtocolError(f"a message of {len(item)} bytes is over the frame limit",
                                         reason="message-too-large")
            if batch and (size + len(item) + 4 > target or len(batch) >= self.config.max_messages_per_frame):
                out.append(sealer.seal_plaintext(messages_plaintext(batch)))
                batch, size = [], 0
            batch.append(item)
            size += len(item) + 4
        if batch:
            out.append(sealer.seal_plaintext(messages_plaintext(batch)))
        return b"".join(out)

    def force_rekey(self, now_ns: int) -> bytes:
        if self._sealer is None or self.state is not State.ESTABLISHED:
            raise LocalProtocolError("cannot rekey before the handshake", reason="not-established")
        return self._sealer.rekey(now_ns)

    # ---- incoming ----------------------------------------------------------------------------

    def receive_data(self, data: bytes, now_ns: int) -> list[Event]:
        """Feeds received bytes (``b""`` = end of stream); returns what they completed."""
        if self.state is State.ERROR:
            raise RemoteProtocolError("the connection already failed", reason="failed")
        if not data:
            graceful = self.state is State.CLOSED
            if self.state is not State.CLOSED:
                self._transition("eof")
            return [ConnectionClosed(graceful=graceful, reason="end of stream")]
        if self.state is State.CLOSED:
            raise self._fail(RemoteProtocolError("data after Disconnect", reason="data-after-close"))
        self.bytes_received += len(data)
        try:
            return self._receive(data, now_ns)
        except RemoteProtocolError as exc:
            raise self._fail(exc) from None

    def _receive(self, data: bytes, now_ns: int) -> list[Event]:
        events: list[Event] = []
        if self.state is State.HANDSHAKE:
            self._buffer += data
            self._handshake(now_ns, events)
            if self.state is State.HANDSHAKE:
                return events
            data = bytes(self._buffer)
            self._buffer.clear()
        elif self._buffer:
            data = bytes(self._buffer) + data  # at most one frame is ever held back
            self._buffer.clear()
        opener = self._opener
        assert opener is not None
        pos, end = 0, len(data)
        while True:
            if self._frame_length is None:
                if end - pos < 4:
                    break
                self._frame_length = opener.frame_length(data[pos : pos + 4])
            length = self._frame_length
            if end - pos < 4 + length:
                break
            kind, body = opener.open(data[pos : pos + 4], data[pos + 4 : pos + 4 + length])
            pos += 4 + length
            self._frame_length = None
            self.frames_received += 1
            if kind == KIND_MESSAGES:
                self._messages(body, events)
                if self.state is State.CLOSED and pos < end:
                    raise RemoteProtocolError("data after Disconnect", reason="data-after-close")
        if pos < end:
            self._buffer += data[pos:] if pos else data
        return events

    def _handshake(self, now_ns: int, events: list[Event]) -> None:
        buf = self._buffer
        if self.role is Role.RESPONDER:
            assert self._responder is not None
            if self._hs_step == 0:
                if len(buf) < MSG1_SIZE:
                    return
                if len(buf) > MSG1_SIZE:  # the initiator may say nothing more before our reply
                    raise RemoteProtocolError("bytes beyond the first handshake message", reason="bad-hello")
                self._out += self._responder.on_msg1(bytes(buf), now_ns)
                buf.clear()
                self._hs_step = 1
                return
            if len(buf) < MSG3_SIZE:
                return
            peer_key, keys = self._responder.on_msg3(bytes(buf[:MSG3_SIZE]))
            del buf[:MSG3_SIZE]
            self._responder = None
        else:
            assert self._initiator is not None
            if self._hs_step != 1:
                raise RemoteProtocolError("the responder spoke first", reason="bad-hello")
            if len(buf) < MSG2_SIZE:
                return
            msg3, peer_key, keys = self._initiator.on_msg2(bytes(buf[:MSG2_SIZE]))
            if len(buf) > MSG2_SIZE:  # the responder sends nothing more before our msg3
                raise RemoteProtocolError("bytes beyond the handshake reply", reason="bad-hello")
            buf.clear()
            self._check_pin(peer_key)
            self._out += msg3
            self._initiator = None
        self.peer_public_key = peer_key
        self.peer_node_id = node_id_of(peer_key)
        self._sealer = FrameSealer(keys.send_key, now_ns)
        self._opener = FrameOpener(keys.recv_key, self.config.max_frame_size)
        self._hs_step = 2
        self._transition("handshake-done")
        events.append(HandshakeComplete(peer_key, self.peer_node_id, keys.session_id))

    def _check_pin(self, peer_key: bytes) -> None:
        if self.expected_public_key is not None and peer_key != self.expected_public_key:
            raise PinMismatchError("the peer proved a key other than the one pinned for it",
                                   reason="pin-mismatch")
        if self.expected_node_id is not None and node_id_of(peer_key) != self.expected_node_id:
            raise PinMismatchError(f"expected node {self.expected_node_id}, the peer proved another key",
                                   reason="pin-mismatch")

    def _messages(self, body: bytes, events: list[Event]) -> None:
        for raw in unpack_messages(body, self.config.max_messages_per_frame):
            if self.state is State.CLOSED:
                raise RemoteProtocolError("a message after Disconnect", reason="data-after-close")
            try:
                message = _DECODER.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
                raise FrameError(f"a message does not decode: {str(exc)[:200]}",
                                 reason="bad-message") from None
            self._check_message(message)
            events.append(MessageReceived(message, len(raw)))
            if isinstance(message.data, Disconnect):
                self._transition("recv-disconnect")
                events.append(ConnectionClosed(graceful=True, reason=message.data.reason))

    def _check_message(self, message: Message) -> None:
        if self.peer_hello is None:
            hello = message.data
            if not isinstance(hello, Connect):
                raise RemoteProtocolError("the first message must be Connect", reason="no-connect")
            if hello.public_key != self.peer_public_key or hello.node_id != self.peer_node_id:
                raise PinMismatchError("Connect names another key than the handshake proved",
                                       reason="connect-mismatch")
            if hello.protocol_version != PROTOCOL_VERSION:
                raise RemoteProtocolError(f"protocol version {hello.protocol_version} is not "
                                          f"{PROTOCOL_VERSION}", reason="incompatible-version")
            self.peer_hello = hello
        if message.source != self.peer_node_id:
            raise RemoteProtocolError("a message names another node as its source", reason="bad-source")
