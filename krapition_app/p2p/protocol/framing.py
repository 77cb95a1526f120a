"""Encrypted frames after the handshake: ``length | AEAD(kind | body)``.

- ``length`` is 4 bytes big-endian: the ciphertext's size. It is checked against ``max_frame_size``
  *before* any byte of the frame is buffered beyond the header, so a hostile prefix allocates nothing
  large. It is also the AEAD's associated data, so it cannot be changed in transit.
- The AEAD is ChaCha20-Poly1305 (IETF) with a 96-bit nonce that is the frame counter of that
  direction: 0, 1, 2, ... Nothing is sent with the nonce, the receiver expects the exact next one,
  so a replayed, dropped, reordered or duplicated frame fails its tag and closes the connection.
- ``kind`` 0 carries messages (each ``u32 length | canonical msgpack``), ``kind`` 1 is a rekey: the
  sender's next frames use ``ratchet(key)`` with the counter back at 0. A sender rekeys after
  ``rekey_after_s`` or ``rekey_after_frames``, long before a counter could wrap.
"""

from __future__ import annotations

import struct

from .errors import FrameError
from .handshake import TAG_SIZE, aead_decrypt, aead_encrypt, ratchet

HEADER = struct.Struct(">I")
U32 = struct.Struct(">I")
KIND_MESSAGES = 0
KIND_REKEY = 1
_KINDS = {KIND_MESSAGES, KIND_REKEY}
_NONCE_PREFIX = b"\x00\x00\x00\x00"
_Q = struct.Struct("<Q")


class FrameSealer:
    """One direction's sending state: a key and a strictly increasing nonce counter."""

    __slots__ = ("counter", "installed_ns", "key")

    def __init__(self, key: bytes, now_ns: int) -> None:
        self.key = key
        self.counter = 0
        self.installed_ns = now_ns

    def seal(self, kind: int, body: bytes) -> bytes:
        return self.seal_plaintext(bytes((kind,)) + body)

    def seal_plaintext(self, plaintext: bytes) -> bytes:
        """Seals ``kind | body`` already joined (saves a copy of large frames)."""
        header = HEADER.pack(len(plaintext) + TAG_SIZE)
        nonce = _NONCE_PREFIX + _Q.pack(self.counter)
        self.counter += 1
        return header + aead_encrypt(self.key, nonce, plaintext, header)

    def rekey(self, now_ns: int) -> bytes:
        frame = self.seal(KIND_REKEY, b"")
        self.key = ratchet(self.key)
        self.counter = 0
        self.installed_ns = now_ns
        return frame


class FrameOpener:
    """One direction's receiving state: checks lengths, tags and nonce order."""

    __slots__ = ("counter", "key", "max_frame_size", "rekeys")

    def __init__(self, key: bytes, max_frame_size: int) -> None:
        self.key = key
        self.counter = 0
        self.max_frame_size = max_frame_size
        self.rekeys = 0

    def frame_length(self, header: bytes) -> int:
        (length,) = HEADER.unpack(header)
        if length > self.max_frame_size:
            raise FrameError(f"a frame length prefix of {length} bytes is over the "
                             f"{self.max_frame_size}-byte limit", reason="oversized-frame")
        if length < TAG_SIZE + 1:
            raise FrameError(f"a frame of {length} bytes is too short to be one", reason="short-frame")
        return length

    def open(self, header: bytes, ciphertext: bytes) -> tuple[int, bytes]:
        """Returns ``(kind, body)`` of the next frame; handles a rekey frame itself."""
        nonce = _NONCE_PREFIX + _Q.pack(self.counter)
        plaintext = aead_decrypt(self.key, nonce, ciphertext, header, "a frame")
        self.counter += 1
        kind = plaintext[0]
        if kind not in _KINDS:
            raise FrameError(f"unknown frame kind {kind}", reason="bad-frame-kind")
        if kind == KIND_REKEY:
            if len(plaintext) != 1:
                raise FrameError("a rekey frame carries no body", reason="bad-rekey")
            self.key = ratchet(self.key)
            self.counter = 0
            self.rekeys += 1
        return kind, plaintext[1:]


_KIND_MESSAGES_BYTE = bytes((KIND_MESSAGES,))


def pack_messages(encoded: list[bytes]) -> bytes:
    return b"".join([b for m in encoded for b in (U32.pack(len(m)), m)])


def messages_plaintext(encoded: list[bytes]) -> bytes:
    """``kind | u32 length | message | ...``: a messages frame's plaintext, joined once."""
    parts = [_KIND_MESSAGES_BYTE]
    pack = U32.pack
    for m in encoded:
        parts.append(pack(len(m)))
        parts.append(m)
    return b"".join(parts)


def unpack_messages(body: bytes, max_messages: int) -> list[memoryview]:
    """The messages of a frame's body, as views into it (no copies)."""
    out: list[memoryview] = []
    view = memoryview(body)
    pos, end = 0, len(body)
    while pos < end:
        if pos + 4 > end:
            raise FrameError("a truncated message length inside a frame", reason="bad-frame-body")
        (n,) = U32.unpack_from(view, pos)
        pos += 4
        if n > end - pos:
            raise FrameError("a message length runs past the end of its frame", reason="bad-frame-body")
        out.append(view[pos : pos + n])
        pos += n
        if len(out) > max_messages:
            raise FrameError("too many messages in one frame", reason="bad-frame-body")
    return out
