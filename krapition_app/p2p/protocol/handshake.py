"""The handshake: mutual ed25519 proof, ephemeral X25519, passphrase as a pre-shared key.

Three fixed-size messages (1.5 round trips). ``I`` is the initiator (who dialled), ``R`` the
responder; ``psk`` is the key derived from the session passphrase (argon2id over the passphrase,
or a fixed public constant when no passphrase is set, so there is one code path)::

    msg1  I -> R   MAGIC | e_I | t_I | mac            mac = BLAKE2b_psk(MAGIC | e_I | t_I)
    msg2  R -> I   e_R | AEAD_k(R_pub | sig_R(h1 | R_pub))          h1 = H(msg1 | e_R)
    msg3  I -> R   AEAD_k'(I_pub | sig_I(h2 | I_pub | R_pub))      h2 = H(h1 | msg2)

``k``, ``k'`` and the session keys come from BLAKE2b keyed with ``psk`` over the X25519 shared secret
``DH(e_I, e_R)`` and the transcript hash, so every key depends on the passphrase, on both ephemeral
keys and on everything said so far.

Threat model (a LAN where anyone may listen, inject or connect):

- *No passphrase known, no answer.* The responder sends nothing at all before ``msg1`` verifies:
  the MAC needs the passphrase, ``t_I`` must be within ``replay_window`` of the responder's clock and
  an ``e_I`` seen before is refused (a bounded replay cache), so a recorded ``msg1`` replayed later
  gets silence too. Without a passphrase the MAC key is public: anyone may then handshake, but must
  still prove an ed25519 identity.
- *Identity.* Each side signs the transcript (both ephemeral keys) with its long-term ed25519 key,
  so a man in the middle cannot complete the handshake without a private key. The initiator can pin
  the key it expects (the node id it dialled, from discovery or a pin store); mDNS is only a hint.
  Identities travel encrypted, so a passive listener does not learn who talks to whom.
- *Forward secrecy.* The X25519 keys are ephemeral and dropped after the handshake; a stolen
  identity key does not decrypt recorded sessions. (The passphrase alone decrypts nothing either.)
- *Offline guessing.* ``msg1`` lets a listener test passphrase guesses offline; argon2id makes each
  guess expensive, but a weak passphrase stays weak. It keeps strangers out; it is not a password
  vault.
- *Not covered.* Traffic analysis (sizes, timing), denial of service by a host that can drop
  packets, a compromised peer (it holds its own valid key: the event chain's signatures and the
  per-URI authority rules limit what it can do), and clocks more than ``replay_window`` apart.
"""

from __future__ import annotations

import functools
import hmac
import struct
from collections import OrderedDict
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions
import nacl.pwhash
from nacl.signing import SigningKey, VerifyKey

from .errors import AuthenticationError, RemoteProtocolError

PROTOCOL_VERSION = 1
MAGIC = b"KRP" + bytes([PROTOCOL_VERSION])
KEY_SIZE = 32
TAG_SIZE = 16
SIG_SIZE = 64
MSG1_SIZE = 4 + 32 + 8 + 32
MSG2_SIZE = 32 + 32 + SIG_SIZE + TAG_SIZE
MSG3_SIZE = 32 + SIG_SIZE + TAG_SIZE
_PSK_SALT = b"krapition-psk-v1"  # 16 bytes: argon2id's salt size
_NO_PASSPHRASE_KEY = b"\x00" * KEY_SIZE
_ZERO_NONCE = b"\x00" * 12


def h(*parts: bytes, person: bytes = b"krp-hash") -> bytes:
    return sodium.crypto_generichash_blake2b_salt_personal(
        b"".join(parts), digest_size=32, person=person.ljust(16, b"\x00"))


def keyed(key: bytes, *parts: bytes, person: bytes, size: int = 32) -> bytes:
    return sodium.crypto_generichash_blake2b_salt_personal(
        b"".join(parts), digest_size=size, key=key, person=person.ljust(16, b"\x00"))


@functools.lru_cache(maxsize=8)
def psk_from_passphrase(passphrase: str | None) -> bytes:
    """The pre-shared key of a session passphrase (argon2id, cached: it costs ~0.1 s by design)."""
    if not passphrase:
        return _NO_PASSPHRASE_KEY
    return nacl.pwhash.argon2id.kdf(
        KEY_SIZE, passphrase.encode("utf-8"), _PSK_SALT,
        opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    )


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


def aead_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes, what: str) -> bytes:
    try:
        return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)
    except nacl.exceptions.CryptoError:
        raise AuthenticationError(f"{what} does not authenticate", reason="bad-tag") from None


class ReplayCache:
    """Ephemeral keys of ``msg1`` seen within the replay window (bounded: oldest forgotten first)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, int] = OrderedDict()

    def check_and_add(self, ephemeral: bytes, now_ns: int, window_ns: int) -> bool:
        """True when ``ephemeral`` is new; remembers it. Entries older than the window are dropped."""
        while self._seen:
            oldest, seen_ns = next(iter(self._seen.items()))
            if now_ns - seen_ns <= 2 * window_ns and len(self._seen) < self.capacity:
                break
            del self._seen[oldest]
        if ephemeral in self._seen:
            return False
        self._seen[ephemeral] = now_ns
        return True


@dataclass(frozen=True, slots=True)
class SessionKeys:
    send_key: bytes
    recv_key: bytes
    #: the transcript hash: the same on both sides, unique to this session
    session_id: bytes


class _Ephemeral:
    def __init__(self) -> None:
        self.secret = sodium.randombytes(32)
        self.public = sodium.crypto_scalarmult_base(self.secret)

    def dh(self, other_public: bytes) -> bytes:
        try:
            shared = sodium.crypto_scalarmult(self.secret, other_public)
        except nacl.exceptions.RuntimeError:
            raise AuthenticationError("the peer's ephemeral key is a low-order point",
                                      reason="bad-ephemeral") from None
        if shared == b"\x00" * 32:
            raise AuthenticationError("the peer's ephemeral key is a low-order point", reason="bad-ephemeral")
        return shared


def _session_keys(psk: bytes, shared: bytes, transcript: bytes, initiator: bool) -> SessionKeys:
    material = keyed(psk, shared, transcript, person=b"krp-session", size=64)
    i2r, r2i = material[:32], material[32:]
    return SessionKeys(i2r if initiator else r2i, r2i if initiator else i2r, transcript)


def _handshake_key(psk: bytes, shared: bytes, transcript: bytes, label: bytes) -> bytes:
    return keyed(psk, shared, transcript, person=label)


def _verify(public_key: bytes, signed: bytes, signature: bytes) -> None:
    try:
        VerifyKey(public_key).verify(signed, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise AuthenticationError("the peer's identity signature does not verify",
                                  reason="bad-signature") from None


class InitiatorHandshake:
    """The dialling side: :meth:`start` gives ``msg1``; :meth:`on_msg2` gives ``msg3`` and keys."""

    def __init__(self, signing_key: SigningKey, psk: bytes) -> None:
        self._signing_key = signing_key
        self._psk = psk
        self._eph = _Ephemeral()
        self._msg1 = b""

    def start(self, now_ns: int) -> bytes:
        body = MAGIC + self._eph.public + struct.pack(">Q", now_ns // 1_000_000)
        self._msg1 = body + keyed(self._psk, body, person=b"krp-msg1")
        return self._msg1

    def on_msg2(self, msg2: bytes) -> tuple[bytes, bytes, SessionKeys]:
        """Returns ``(msg3, responder public key, session keys)``."""
        e_r, sealed = msg2[:32], msg2[32:]
        shared = self._eph.dh(e_r)
        h1 = h(self._msg1, e_r)
        plain = aead_decrypt(_handshake_key(self._psk, shared, h1, b"krp-hs-r"), _ZERO_NONCE, sealed, h1,
                             "the responder's handshake reply")
        r_pub, sig_r = plain[:32], plain[32:]
        _verify(r_pub, b"krp-resp" + h1 + r_pub, sig_r)
        h2 = h(h1, msg2)
        i_pub = bytes(self._signing_key.verify_key)
        sig_i = self._signing_key.sign(b"krp-init" + h2 + i_pub + r_pub).signature
        msg3 = aead_encrypt(_handshake_key(self._psk, shared, h2, b"krp-hs-i"), _ZERO_NONCE,
                            i_pub + sig_i, h2)
        keys = _session_keys(self._psk, shared, h(h2, msg3), initiator=True)
        self._eph = None  # type: ignore[assignment]  # forward secrecy: forget the ephemeral secret
        return msg3, r_pub, keys


class ResponderHandshake:
    """The listening side: :meth:`on_msg1` gives ``msg2``; :meth:`on_msg3` the peer key and keys."""

    def __init__(self, signing_key: SigningKey, psk: bytes, replay_cache: ReplayCache | None,
                 replay_window_ns: int) -> None:
        self._signing_key = signing_key
        self._psk = psk
        self._replay = replay_cache
        self._window_ns = replay_window_ns
        self._eph: _Ephemeral | None = None
        self._shared = b""
        self._h2 = b""

    def on_msg1(self, msg1: bytes, now_ns: int) -> bytes:
        if msg1[:4] != MAGIC:
            raise RemoteProtocolError("not a Krapition handshake (or another protocol version)",
                                      reason="bad-magic")
        body, mac = msg1[:-32], msg1[-32:]
        if not hmac.compare_digest(mac, keyed(self._psk, body, person=b"krp-msg1")):
            raise AuthenticationError("the first handshake message's passphrase MAC does not verify",
                                      reason="bad-psk")
        e_i = msg1[4:36]
        (t_ms,) = struct.unpack(">Q", msg1[36:44])
        if abs(t_ms * 1_000_000 - now_ns) > self._window_ns:
            raise AuthenticationError("the handshake timestamp is outside the replay window "
                                      "(a replay, or clocks too far apart)", reason="stale-hello")
        if self._replay is not None and not self._replay.check_and_add(e_i, now_ns, self._window_ns):
            raise AuthenticationError("a replayed first handshake message", reason="replayed-hello")
        self._eph = _Ephemeral()
        self._shared = self._eph.dh(e_i)
        h1 = h(msg1, self._eph.public)
        r_pub = bytes(self._signing_key.verify_key)
        sig_r = self._signing_key.sign(b"krp-resp" + h1 + r_pub).signature
        sealed = aead_encrypt(_handshake_key(self._psk, self._shared, h1, b"krp-hs-r"), _ZERO_NONCE,
                              r_pub + sig_r, h1)
        msg2 = self._eph.public + sealed
        self._h2 = h(h1, msg2)
        self._eph = None  # the shared secret is all we still need
        return msg2

    def on_msg3(self, msg3: bytes) -> tuple[bytes, SessionKeys]:
        plain = aead_decrypt(_handshake_key(self._psk, self._shared, self._h2, b"krp-hs-i"), _ZERO_NONCE,
                             msg3, self._h2, "the initiator's handshake proof")
        i_pub, sig_i = plain[:32], plain[32:]
        r_pub = bytes(self._signing_key.verify_key)
        _verify(i_pub, b"krp-init" + self._h2 + i_pub + r_pub, sig_i)
        keys = _session_keys(self._psk, self._shared, h(self._h2, msg3), initiator=False)
        self._shared = b""
        return i_pub, keys


def ratchet(key: bytes) -> bytes:
    """The next key of one direction after a rekey (the old key cannot be recovered from it)."""
    return keyed(key, b"rekey", person=b"krp-rekey")
