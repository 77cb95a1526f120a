"""The ed25519 identity of this installation: one key pair, made on first start, never copied.

The 32-byte seed lives in ``<data folder>/identity.key`` with mode 0600. The node id and the
fingerprint are derived from the public key, so they need no storage of their own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from .errors import IdentityError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "identity.key"
SEED_SIZE = 32


def node_id_of(public_key: bytes) -> str:
    """32 hex digits from the public key: short, stable, and a valid URI name segment."""
    return hashlib.blake2b(public_key, digest_size=16, person=b"krapition-node").hexdigest()


def fingerprint_of(public_key: bytes) -> str:
    """A short form for people to compare aloud, e.g. ``3f2a-91c0-77de-0b14``."""
    digest = hashlib.blake2b(public_key, digest_size=8, person=b"krapition-fpr").hexdigest()
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class Identity:
    signing_key: SigningKey = field(repr=False)

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        if len(seed) != SEED_SIZE:
            raise IdentityError(f"a key seed is {SEED_SIZE} bytes, got {len(seed)}")
        return cls(SigningKey(seed))

    @classmethod
    def generate(cls) -> Identity:
        return cls(SigningKey.generate())

    @property
    def verify_key(self) -> VerifyKey:
        return self.signing_key.verify_key

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def node_id(self) -> str:
        return node_id_of(self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_key)


def load_or_create_identity(data_dir: Path) -> Identity:
    """Loads this installation's key from ``data_dir``, creating it (mode 0600) on first start.

    A key file of the wrong size raises :class:`IdentityError` and is left untouched: replacing it
    would silently give this node a new identity, and with it lose the authority over its URIs.
    """
    path = Path(data_dir) / KEY_FILE_NAME
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    identity = Identity.generate()
    try:
        # O_EXCL: if another process of ours won the race, use its key rather than overwrite it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        return _load(path)
    try:
        os.write(fd, bytes(identity.signing_key))
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("created a new node identity %s in %s", identity.fingerprint, path)
    return identity


def _load(path: Path) -> Identity:
    with open(path, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        seed = f.read(SEED_SIZE + 1)
    if len(seed) != SEED_SIZE:
        raise IdentityError(
            f"the key file {path} holds {len(seed)} bytes, not a {SEED_SIZE}-byte ed25519 seed; "
            "move it aside to start with a new identity (peers will see a new node)"
        )
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("key file %s was readable by others (mode %o); setting 0600", path, mode & 0o777)
        os.chmod(path, 0o600)
    return Identity.from_seed(seed)
