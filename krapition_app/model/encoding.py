"""Canonical binary encoding (msgpack) and a JSON view for humans.

Signatures and hashes cover exact bytes, so every value has exactly one accepted encoding: structs
encode their fields in declaration order, dict keys are sorted, floats are always float64 and
integers take their shortest form. :func:`decode` re-encodes what it decoded and refuses bytes that
are not that canonical form.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar

import msgspec

from .errors import EncodingError, NonCanonicalEncodingError

T = TypeVar("T")

_MSGPACK = msgspec.msgpack.Encoder(order="deterministic")
_JSON = msgspec.json.Encoder()  # field order: the human view reads like the struct
_DECODERS: dict[Any, msgspec.msgpack.Decoder[Any]] = {}
_JSON_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
#: Upper bound on what decode accepts, so a hostile length cannot make us allocate without limit.
MAX_ENCODED_SIZE = 16 * 1024 * 1024


def encode(value: Any) -> bytes:
    """The canonical bytes of ``value`` (a model struct, or plain data)."""
    return _MSGPACK.encode(value)


def decode(data: bytes | bytearray | memoryview, type_: type[T]) -> T:
    """Decodes canonical bytes into ``type_``; raises :class:`EncodingError` on anything else."""
    if len(data) > MAX_ENCODED_SIZE:
        raise EncodingError(f"{len(data)} bytes is over the {MAX_ENCODED_SIZE}-byte limit")
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS.setdefault(type_, msgspec.msgpack.Decoder(type_))
    try:
        value = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise EncodingError(f"not a valid {_name(type_)}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise EncodingError(f"corrupt or truncated {_name(type_)} bytes: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec lets this through for a field name that is not UTF-8
        raise EncodingError(f"corrupt {_name(type_)} bytes: a string is not UTF-8 ({exc.reason})") from None
    if _MSGPACK.encode(value) != bytes(data):
        raise NonCanonicalEncodingError(f"bytes of a {_name(type_)} are not in canonical form")
    return value


def to_json(value: Any, *, indent: int = 0) -> str:
    """A JSON view of ``value`` for people and for the REST API (bytes appear as base64).

    With ``indent``, lists of plain numbers or strings stay on one line: ``[0.0, 0.0, 1.0]``.
    """
    raw = _JSON.encode(value)
    if not indent:
        return raw.decode()
    text = msgspec.json.format(raw, indent=indent).decode()
    return _FLAT_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\s*", m.group(1).strip())) + "]", text)


# A JSON list that holds no list, object or string (so no commas inside strings to trip over).
_FLAT_LIST = re.compile(r"\[([^\[\]{}\"]*)\]")


def from_json(text: str | bytes, type_: type[T]) -> T:
    """Parses the JSON view back; unknown keys and wrong types raise :class:`EncodingError`."""
    decoder = _JSON_DECODERS.get(type_)
    if decoder is None:
        decoder = _JSON_DECODERS.setdefault(type_, msgspec.json.Decoder(type_))
    try:
        return decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise EncodingError(f"not a valid {_name(type_)}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise EncodingError(f"malformed JSON for a {_name(type_)}: {exc}") from None


def canonical_float(x: float) -> float:
    """Maps -0.0 to 0.0 (equal values must have equal bytes); rejects NaN and infinities."""
    if not math.isfinite(x):
        raise ValueError(f"{x!r} is not a finite number")
    return x + 0.0 if x == 0 else float(x)


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or str(type_)
