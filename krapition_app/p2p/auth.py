"""Sessions and authorisation (the seed's SecurityManager).

A *session* is an authenticated peer connection: the transport's handshake proved the peer's key and
the key is pinned to its node id and authority. :func:`authorize` decides per URI and action:

- ``read``: anyone (the local user, the REST API, any session) may read any URI;
- ``write``: only this node writes the URIs under its own authority (they become events of its
  chain); a URI another node owns is never written here (route the write to its owner instead);
- ``request``: a peer (a session) may ask the owner to change a URI it owns, unless the owner's
  ``read_only`` setting refuses changes from others;
- ``diagnose``: a peer (a session) may ask a node for its own diagnostics bundle (its recent logs
  and metrics), unless the node's ``share_diagnostics`` setting is off; a node never answers for
  another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from ..model.uri import KrapitionURI

Action = Literal["read", "write", "request", "diagnose"]


class _NodeLike(Protocol):
    @property
    def authority(self) -> str: ...
    @property
    def read_only(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: a stable code for Nack and the REST API: "ok", "not-owner", "read-only", "no-session", "refused",
    #: "bad-action"
    code: str
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def authorize(node: _NodeLike, resource: str | KrapitionURI, action: str, *,
              session: str | None = None) -> Decision:
    """May ``session`` (a peer's node id; None: this node's own user) do ``action`` on ``resource``?"""
    uri = resource if isinstance(resource, KrapitionURI) else KrapitionURI.parse(resource)
    owned = str(uri.authority) == node.authority
    if action == "read":
        return Decision(True, "ok")
    if action == "write":
        if not owned:
            return Decision(False, "not-owner", f"{uri} is owned by {uri.authority}; send the change there")
        if session is not None:
            return Decision(False, "no-session", "peers never write directly: they request a change")
        return Decision(True, "ok")
    if action == "request":
        if not owned:
            return Decision(False, "not-owner", f"this node ({node.authority}) does not own {uri}")
        if session is not None and node.read_only:
            return Decision(False, "read-only", f"{node.authority} accepts no changes from other nodes")
        return Decision(True, "ok")
    if action == "diagnose":
        if not owned:
            return Decision(False, "not-owner", f"{node.authority} answers for its own diagnostics only")
        if session is not None and not getattr(node, "share_diagnostics", True):
            return Decision(False, "refused", f"{node.authority} does not share its diagnostics with peers")
        return Decision(True, "ok")
    return Decision(False, "bad-action", f"unknown action {action!r}")
