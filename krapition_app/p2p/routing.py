"""Reads and writes by URI, wherever its owner is.

- A read of a URI we own comes from our objects; of a remote URI from the cache of its owner's
  replicated events, or, when the cache has nothing, from the owner with ``DataRequest`` /
  ``DataResponse``.
- A write of a URI we own becomes an event of our chain. A write of a remote URI goes to its owner as
  ``DataUpdate``: the owner alone turns it into an event (and Acks), or answers ``Nack`` with a code
  and a reason (``read-only``, ``not-owner``, ``not-found``, ``invalid``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..model.messages import DataItem, DataRequest, DataResponse, DataUpdate, Message
from ..model.scene import BodySpec
from ..model.uri import KrapitionURI, URIPattern
from .auth import authorize
from .data import DataManager
from .errors import DataNotFoundError, InvalidCommandError, NotOwnedURIError
from .peers import PeerInfo
from .protocol.errors import NackError, PeerNotConnectedError, ProtocolError, TransportError
from .transport import Transport

log = logging.getLogger(__name__)

#: items in one DataResponse at most
MAX_ITEMS = 1000


class RouteError(Exception):
    """A routed write or read failed: ``code`` as in a Nack ("unreachable", "timeout", ...)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReadResult:
    uri: str
    body: BodySpec | None
    seq: int
    #: "local", "cache" or "owner"
    source: str
    #: the owner is not connected: the value may be old
    stale: bool = False


class Router:
    def __init__(self, node) -> None:  # type: ignore[no-untyped-def]
        self.node = node

    @property
    def data(self) -> DataManager:
        return self.node.data

    @property
    def transport(self) -> Transport:
        return self.node.transport

    def owner_peer(self, uri: KrapitionURI) -> PeerInfo | None:
        authority = str(uri.authority)
        for peer in self.transport.peers:
            if peer.authority == authority:
                return peer
        return None

    # ---- reads ------------------------------------------------------------------------------

    def read_local(self, uri: str | KrapitionURI) -> ReadResult | None:
        """What this node knows of ``uri`` (ours, or the cache); None when nothing."""
        parsed = uri if isinstance(uri, KrapitionURI) else KrapitionURI.parse(uri)
        text = str(parsed)
        store = self.data.store
        owned = str(parsed.authority) == self.node.authority
        stored = store.get_object(text) if owned else store.get_cached(text)
        if stored is None:
            return None
        try:
            value = self.data.get_data(parsed)
        except DataNotFoundError:
            return None
        body = value if isinstance(value, BodySpec) else None
        stale = not owned and self.owner_peer(parsed) is None
        return ReadResult(text, body, stored.seq, "local" if owned else "cache", stale)

    async def read(self, uri: str | KrapitionURI, *, timeout: float = 2.0) -> ReadResult | None:
        parsed = uri if isinstance(uri, KrapitionURI) else KrapitionURI.parse(uri)
        found = self.read_local(parsed)
        if found is not None or str(parsed.authority) == self.node.authority:
            return found
        peer = self.owner_peer(parsed)
        if peer is None:
            return None
        try:
            answer = await self.transport.request(peer.node_id, DataRequest(pattern=str(parsed)),
                                                  timeout=timeout)
        except (TransportError, ProtocolError):
            return None
        data = answer.data
        if isinstance(data, DataResponse):
            for item in data.items:
                if item.uri == str(parsed):
                    return ReadResult(item.uri, item.body, item.seq, "owner")
        return None

    # ---- writes -----------------------------------------------------------------------------

    async def write(self, uri: str | KrapitionURI, body: BodySpec | None, *, timeout: float = 5.0) -> str:
        """Sets (or deletes, ``body`` None) ``uri``. Returns "applied" (ours) or "accepted" (the
        owner applied it). Raises :class:`NackError` (the owner refused), :class:`RouteError`, or
        the DataManager's errors for an owned URI."""
        parsed = uri if isinstance(uri, KrapitionURI) else KrapitionURI.parse(uri)
        if str(parsed.authority) == self.node.authority:
            self.node.apply_local(parsed, body)
            return "applied"
        peer = self.owner_peer(parsed)
        if peer is None:
            raise RouteError("unreachable", f"the owner of {parsed} ({parsed.authority}) is not connected")
        try:
            update = DataUpdate(uri=str(parsed), body=body)
            await self.transport.request(peer.node_id, update, timeout=timeout)
        except NackError:
            raise
        except PeerNotConnectedError as exc:
            raise RouteError("unreachable", str(exc)) from None
        except (TransportError, ProtocolError) as exc:
            raise RouteError("timeout", str(exc)) from None
        return "accepted"

    # ---- serving peers ------------------------------------------------------------------------

    async def handle(self, peer: PeerInfo, message: Message) -> bool:
        data = message.data
        if isinstance(data, DataUpdate):
            self._serve_update(peer, message, data)
            return True
        if isinstance(data, DataRequest):
            self._serve_request(message, data)
            return True
        return False

    def _serve_update(self, peer: PeerInfo, message: Message, data: DataUpdate) -> None:
        transport = self.transport
        try:
            parsed = KrapitionURI.parse(data.uri)
        except ValueError as exc:
            transport.nack(message, "invalid", f"bad URI: {exc}")
            return
        decision = authorize(self.node, parsed, "request", session=peer.node_id)
        if not decision:
            transport.nack(message, decision.code, decision.reason)
            self.node.count_refused(decision.code)
            return
        try:
            self.node.apply_local(parsed, data.body, requested_by=peer.node_id)
        except DataNotFoundError as exc:
            transport.nack(message, "not-found", str(exc))
            return
        except NotOwnedURIError as exc:
            transport.nack(message, "not-owner", str(exc))
            return
        except (InvalidCommandError, ValueError) as exc:
            transport.nack(message, "invalid", str(exc))
            return
        transport.ack(message)

    def _serve_request(self, message: Message, data: DataRequest) -> None:
        transport = self.transport
        try:
            if "*" in data.pattern:
                uris = self.data.list_data(URIPattern.parse(data.pattern))[:MAX_ITEMS]
            else:
                uris = [str(KrapitionURI.parse(data.pattern))]
        except ValueError as exc:
            transport.nack(message, "invalid", f"bad pattern: {exc}")
            return
        items = []
        for uri in uris:
            found = self.read_local(uri)
            if found is not None and found.source == "local":
                items.append(DataItem(uri=found.uri, seq=found.seq, body=found.body))
        transport.reply(message, DataResponse(ref=message.id, items=tuple(items)))
