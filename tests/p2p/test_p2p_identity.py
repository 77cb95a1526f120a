from __future__ import annotations

import os
import stat

import pytest

from krapition_app.p2p.errors import IdentityError
from krapition_app.p2p.identity import KEY_FILE_NAME, fingerprint_of, load_or_create_identity, node_id_of
from krapition_app.paths import AppPaths


def test_created_once_with_mode_0600_and_reloaded(home: AppPaths) -> None:
    first = load_or_create_identity(home.data)
    path = home.data / KEY_FILE_NAME
    assert path.is_file()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_identity(home.data)
    assert again.public_key == first.public_key
    assert len(first.public_key) == 32


def test_node_id_and_fingerprint_derive_from_the_public_key(home: AppPaths) -> None:
    identity = load_or_create_identity(home.data)
    assert identity.node_id == node_id_of(identity.public_key)
    assert len(identity.node_id) == 32 and int(identity.node_id, 16) >= 0
    assert identity.fingerprint == fingerprint_of(identity.public_key)
    assert len(identity.fingerprint.split("-")) == 4


def test_damaged_key_file_is_refused_and_left_untouched(home: AppPaths) -> None:
    home.data.mkdir(parents=True)
    path = home.data / KEY_FILE_NAME
    path.write_bytes(b"short")
    with pytest.raises(IdentityError, match="move it aside"):
        load_or_create_identity(home.data)
    assert path.read_bytes() == b"short"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_too_open_key_file_is_tightened(home: AppPaths) -> None:
    identity = load_or_create_identity(home.data)
    path = home.data / KEY_FILE_NAME
    os.chmod(path, 0o644)
    assert load_or_create_identity(home.data).public_key == identity.public_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
