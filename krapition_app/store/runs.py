"""Runs: the events table's rows, each up to :data:`RUN_MAX` consecutive events of one chain.

A row's key is the packed position of its first event (``chain << SEQ_BITS | seq``, see
:func:`key_of`); ``n`` says how many follow it; ``raw`` holds their exact signed bytes: the count
and each event's length (4 little-endian bytes each), then the events one after the other.
Storing 64 events in one row instead of 64 rows takes a fraction of sqlite's per-row work (the
writer's hot path: about 2 µs less per event), and reading a range is one range query over the
keys plus a split. A chain with holes (a late joiner's) simply has no run across a hole.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence

from ..model.events import MAX_SEQ, SEQ_BITS

#: events per row at most (a row of about 40 KiB for the typical 600-byte event)
RUN_MAX = 64
SEQ_MASK = MAX_SEQ - 1
_COUNT = struct.Struct("<I")


def key_of(chain: int, seq: int) -> int:
    return (chain << SEQ_BITS) | seq


def pack(raws: Sequence[bytes]) -> bytes:
    """The row bytes of a run: the count, each event's length, then the events."""
    n = len(raws)
    return _COUNT.pack(n) + struct.pack(f"<{n}I", *map(len, raws)) + b"".join(raws)


def unpack(blob: bytes) -> list[bytes]:
    """The events of a run's row bytes, in order. Raises ValueError for bytes that are not a run."""
    if len(blob) < 4:
        raise ValueError(f"{len(blob)} bytes are too short for a run")
    (n,) = _COUNT.unpack_from(blob, 0)
    at = 4 + 4 * n
    if at > len(blob):
        raise ValueError(f"a run of {n} events needs {at} bytes of lengths; it has {len(blob)}")
    out: list[bytes] = []
    for size in struct.unpack_from(f"<{n}I", blob, 4):
        out.append(blob[at : at + size])
        at += size
    if at != len(blob):
        raise ValueError(f"a run's events end at byte {at}, its bytes at {len(blob)}")
    return out


def consecutive(chain: int, first: int, raws: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
    """The runs of ``raws``, the events ``first``, ``first + 1`` ... of one chain (the hot path)."""
    return [(key_of(chain, first + i), min(RUN_MAX, len(raws) - i), pack(raws[i : i + RUN_MAX]))
            for i in range(0, len(raws), RUN_MAX)]


def runs(events: Iterable[tuple[int, int, bytes]]) -> Iterator[tuple[int, int, bytes]]:
    """``(key, n, row bytes)`` of each run of ``(chain, seq, raw)`` in the given order: a run ends
    at another chain, a seq that does not follow, or :data:`RUN_MAX` events."""
    chain = seq = first = -1
    part: list[bytes] = []
    for c, s, raw in events:
        if part and (c != chain or s != seq + 1 or len(part) == RUN_MAX):
            yield key_of(chain, first), len(part), pack(part)
            part = []
        if not part:
            chain, first = c, s
        part.append(raw)
        seq = s
    if part:
        yield key_of(chain, first), len(part), pack(part)
