"""The optional blob fields of DataRequest/DataResponse: old bytes decode and re-encode unchanged,
new ones round-trip, and a part that does not fit its blob is refused."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from krapition_app.model import messages as msg
from krapition_app.model.encoding import decode, encode
from krapition_app.model.errors import EncodingError

_PLAIN = msgspec.msgpack.Encoder()  # keeps the dict order given: the bytes an older node sent


def old_bytes(data: dict) -> bytes:
    return _PLAIN.encode({"id": "m-1", "data": data, "timestamp_ns": 5, "source": "a", "destination": "b"})


def test_messages_without_blob_fields_keep_their_bytes() -> None:
    item = {"uri": "krapition://10.0.0.1:9000/physics/objects/x", "seq": 3, "body": None}
    for data in ({"type": "DataRequest", "pattern": "krapition://*/physics/objects/*"},
                 {"type": "DataResponse", "ref": "r-1", "items": [item]},
                 {"type": "DataResponse", "ref": "r-1", "items": []}):
        raw = old_bytes(data)
        message = msg.Message.from_bytes(raw)  # the canonical check: re-encoding gives the same bytes
        assert message.to_bytes() == raw
    request = msg.Message.from_bytes(old_bytes({"type": "DataRequest", "pattern": "p"})).data
    assert isinstance(request, msg.DataRequest) and request.offset == 0
    response = msg.Message.from_bytes(old_bytes({"type": "DataResponse", "ref": "r", "items": []})).data
    assert isinstance(response, msg.DataResponse)
    assert (response.blob, response.offset, response.total, response.digest) == (b"", 0, 0, b"")
    # a default written out is not the canonical form (one value, one encoding)
    with pytest.raises(EncodingError):
        msg.Message.from_bytes(old_bytes({"type": "DataRequest", "pattern": "p", "offset": 0}))


@given(st.binary(max_size=2048), st.integers(min_value=0, max_value=1 << 20),
       st.integers(min_value=0, max_value=64))
def test_blob_parts_round_trip(part: bytes, offset: int, extra: int) -> None:
    total = offset + len(part) + extra
    if total == 0:
        return
    data = msg.DataResponse(ref="r-1", items=(), blob=part, offset=offset, total=total,
                            digest=hashlib.blake2b(part, digest_size=32).digest())
    message = msg.Message(id="m-2", data=data, timestamp_ns=1, source="a", destination="b")
    assert msg.Message.from_bytes(message.to_bytes()) == message
    request = msg.DataRequest(pattern="krapition://10.0.0.1:9000/system/nodes/diagnostics", offset=offset)
    assert decode(encode(request), msg.DataRequest) == request


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"blob": b"x" * 10, "offset": 0, "total": 5}, "within"),
    ({"blob": b"x", "offset": 5, "total": 5}, "within"),
    ({"blob": b"", "offset": -1, "total": 5}, "within"),
    ({"blob": b"x", "offset": 0, "total": 0}, "within"),
    ({"total": msg.MAX_BLOB_SIZE + 1}, "total"),
    ({"blob": b"x", "total": 1, "digest": b"short"}, "digest"),
    ({"blob": b"x" * (msg.MAX_BLOB_CHUNK + 1), "total": msg.MAX_BLOB_CHUNK + 1}, "blob"),
])
def test_bad_blob_parts_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        msg.DataResponse(ref="r", items=(), **kwargs)


def test_bad_offsets_are_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        msg.DataRequest(pattern="p", offset=-1)
    with pytest.raises(ValueError, match="offset"):
        msg.DataRequest(pattern="p", offset=msg.MAX_BLOB_SIZE)
