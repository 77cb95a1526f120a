"""Byte blobs over DataRequest/DataResponse: a snapshot at a checkpoint, a diagnostics bundle.

A blob is named by a URI and travels in parts, one request per part, so no frame comes near the
transport's limit and the asker sets the pace (a slow asker holds nothing of ours but one cache
entry)::

    asker:  DataRequest(pattern=URI)                 ->
            <- DataResponse(blob=part 0, offset=0, total=N, digest=BLAKE2b-256 of the whole blob)
    asker:  DataRequest(pattern=URI, offset=len(part 0)) ->
            <- DataResponse(blob=part 1, offset=..., total=N, digest=...)    ... until N bytes

The server makes the blob once (``produce``) and keeps it a short while per key, so every part
comes from the same bytes; a digest that changes between parts means the blob was made again, and
the asker starts over once. "Not here" is a Nack (``not-found``, ``refused``, ``rate-limited``,
``too-large``); an old node that does not know blobs answers a DataResponse without one, read as
``not-found`` too. Requests are paced per peer with a token bucket (only authenticated sessions
reach this code: the transport hands us messages of joined peers only).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from ..model.messages import MAX_BLOB_CHUNK, DataRequest, DataResponse, Message
from .limits import TokenBucket
from .peers import PeerInfo
from .protocol.errors import (
    NackError,
    PeerNotConnectedError,
    ProtocolError,
    RequestTimeoutError,
    TransportError,
)
from .ratelog import PeerLogger
from .transport import Transport

log = logging.getLogger(__name__)

#: bytes of a blob per DataResponse (well under the 1 MiB frame limit, beside other traffic)
BLOB_CHUNK = 256 * 1024
#: the smallest part an asker takes (but the last): a server cannot make it crawl byte by byte
MIN_PART = 1024


def blob_digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


class BlobFetchError(Exception):
    """A blob could not be fetched from one peer: ``code`` as in a Nack ("not-found", "refused",
    "rate-limited", "too-large") or "timeout", "left", "unreachable", "bad-response", "changed"."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class _Cached:
    data: bytes
    digest: bytes
    made: float


@dataclass(frozen=True, slots=True)
class BlobLimits:
    #: part requests per second per peer, and the burst (a 16 MiB blob is 64 parts)
    requests_per_s: float = 40.0
    requests_burst: float = 160.0
    #: how long a made blob is served from memory (and not made again for the same key)
    keep_s: float = 10.0
    #: blobs kept in memory at once, and their bytes in all (least recently used go first)
    max_cached: int = 8
    max_cached_bytes: int = 64 * 1024 * 1024


class BlobServer:
    """Serves blobs part by part (see the module). Runs on the node's loop."""

    def __init__(self, transport: Transport, *, limits: BlobLimits | None = None,
                 now: Callable[[], float] | None = None) -> None:
        self.transport = transport
        self.limits = limits or BlobLimits()
        self.now = now or transport.now
        max_frame = transport.config.connection.max_frame_size
        # a part and its message envelope fit one frame of the peer's (equal) limit with room to spare
        self.chunk = max(MIN_PART, min(BLOB_CHUNK, MAX_BLOB_CHUNK, max_frame // 2 - 1024))
        self._cache: OrderedDict[Hashable, _Cached] = OrderedDict()
        self._buckets: dict[str, TokenBucket] = {}
        self.served_parts = 0
        self.refused: dict[str, int] = {}
        self.peer_log = PeerLogger(log)

    def serve(self, peer: PeerInfo, message: Message, request: DataRequest, key: Hashable,
              produce: Callable[[], bytes | None], *, max_size: int) -> None:
        """Answers ``request`` with the part of the blob ``key`` at its offset. ``produce`` makes
        the blob (None: we cannot, answered ``not-found``) when it is not in memory."""
        now = self.now()
        bucket = self._buckets.get(peer.node_id)
        if bucket is None:
            if len(self._buckets) > 1024:
                self._buckets.clear()
            bucket = self._buckets[peer.node_id] = TokenBucket(self.limits.requests_per_s,
                                                               self.limits.requests_burst, now)
        if not bucket.try_take(now):
            self._refuse(message, "rate-limited", "too many blob requests; slow down", peer)
            return
        cached = self._cache.get(key)
        if cached is not None and now - cached.made > self.limits.keep_s:
            del self._cache[key]
            cached = None
        if cached is None:
            try:
                data = produce()
            except Exception:  # a bug making the blob costs the asker an answer, not the connection
                log.exception("making the blob %r failed", key)
                self._refuse(message, "internal", "the blob could not be made", peer)
                return
            if data is None:
                self._refuse(message, "not-found", f"{request.pattern[:200]} is not held here", peer)
                return
            if len(data) > max_size:
                self._refuse(message, "too-large", f"the blob is {len(data)} bytes, over {max_size}", peer)
                return
            cached = _Cached(data, blob_digest(data), now)
            self._cache[key] = cached
        self._cache.move_to_end(key)
        while len(self._cache) > 1 and (len(self._cache) > self.limits.max_cached or sum(
                len(c.data) for c in self._cache.values()) > self.limits.max_cached_bytes):
            self._cache.popitem(last=False)
        offset = request.offset
        if offset > len(cached.data) or (offset == len(cached.data) and offset > 0):
            self._refuse(message, "invalid", f"offset {offset} is past the blob's {len(cached.data)} bytes",
                         peer)
            return
        part = cached.data[offset : offset + self.chunk]
        try:
            self.transport.reply(message, DataResponse(ref=message.id, items=(), blob=part, offset=offset,
                                                       total=len(cached.data), digest=cached.digest))
        except (TransportError, ProtocolError):
            return  # the peer left, or its queue is full: it asks again
        self.served_parts += 1

    def _refuse(self, message: Message, code: str, reason: str, peer: PeerInfo) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1
        self.peer_log.log(logging.INFO, ("blob", code, peer.node_id), "blob request from %s refused: %s",
                          peer.fingerprint, reason)
        with contextlib.suppress(TransportError, ProtocolError):
            self.transport.nack(message, code, reason)


async def fetch_blob(transport: Transport, node_id: str, uri: str, *, max_size: int,
                     timeout_s: float = 10.0, deadline: float | None = None) -> bytes:
    """Fetches the blob ``uri`` from peer ``node_id``, part by part; returns its bytes once they
    match the digest the peer announced. Each part waits ``timeout_s`` at most, and no part is
    asked for after ``deadline`` (the transport's clock, :meth:`Transport.now`). Raises
    :class:`BlobFetchError`."""
    for _attempt in range(2):  # a blob made again between two parts: start over once
        parts: list[bytes] = []
        got = 0
        total: int | None = None
        digest = b""
        while total is None or got < total:
            wait = timeout_s
            if deadline is not None:
                wait = min(wait, deadline - transport.now())
                if wait <= 0:
                    raise BlobFetchError("timeout", f"no complete answer from {node_id[:12]} in time")
            answer = await _ask(transport, node_id, DataRequest(pattern=uri, offset=got), wait)
            if not answer.total:
                raise BlobFetchError("not-found", f"{node_id[:12]} holds no blob {uri[:200]}")
            if total is None:
                if answer.total > max_size:
                    raise BlobFetchError("too-large", f"the blob is {answer.total} bytes, over {max_size}")
                total, digest = answer.total, answer.digest
            elif answer.total != total or answer.digest != digest:
                break  # made again meanwhile
            if answer.offset != got or len(digest) != 32:
                raise BlobFetchError("bad-response", f"{node_id[:12]} answered a part that was not asked for")
            if len(answer.blob) < min(MIN_PART, total - got):  # no crawl of one-byte parts
                raise BlobFetchError("bad-response", f"{node_id[:12]} sent a part of {len(answer.blob)} B")
            parts.append(answer.blob)
            got += len(answer.blob)
        else:
            data = b"".join(parts)
            if blob_digest(data) != digest:
                raise BlobFetchError("bad-response",
                                     f"the blob from {node_id[:12]} does not match its digest")
            return data
    raise BlobFetchError("changed", f"the blob {uri[:200]} changed on {node_id[:12]} while it was fetched")


async def _ask(transport: Transport, node_id: str, request: DataRequest, timeout: float) -> DataResponse:
    try:
        message = await transport.request(node_id, request, timeout=timeout)
    except NackError as exc:
        raise BlobFetchError(exc.code, exc.reason) from None
    except PeerNotConnectedError as exc:
        raise BlobFetchError("left", str(exc)) from None
    except RequestTimeoutError as exc:
        raise BlobFetchError("timeout", str(exc)) from None
    except (TransportError, ProtocolError) as exc:  # its queue stayed full, or the connection broke
        raise BlobFetchError("unreachable", str(exc)) from None
    data = message.data
    if not isinstance(data, DataResponse):
        raise BlobFetchError("bad-response", f"{node_id[:12]} answered a {message.type}")
    return data
