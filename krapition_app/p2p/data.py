"""The seed's ``DataManager``: values by URI, as commands (write side) and queries (read side).

CQRS: ``set_data`` and ``delete_data`` are commands. They are checked here (we own the URI, the
value fits it) and become signed events of our chain through the :class:`~.ledger.EventLedger`;
nothing else writes. The read side (``get_data``, ``list_data``) reads the projection the store
keeps, which is updated in the same transaction as the event and can be rebuilt at any time by
replaying events (:meth:`EventLedger.replay`). Values of URIs other nodes own come from the cache of
their verified events; writing them raises :class:`NotOwnedURIError` (send a command to the owner).
"""

from __future__ import annotations

from ..model.encoding import decode
from ..model.events import ConstraintApplied, ObjectCreated, ObjectDeleted, UserCommand
from ..model.scene import BodySpec, ConstraintSpec
from ..model.uri import KrapitionURI, URIPattern
from ..store.projection import BODY, CONSTRAINT, Value
from .chain import SignedEvent
from .errors import DataNotFoundError, InvalidCommandError, NotOwnedURIError
from .ledger import EventLedger

PhysicsObject = BodySpec | ConstraintSpec


class DataManager:
    def __init__(self, ledger: EventLedger) -> None:
        self.ledger = ledger
        self.store = ledger.store

    # ---- queries ----------------------------------------------------------------------------

    def get_data(self, uri: str | KrapitionURI) -> PhysicsObject:
        """The current value of ``uri``: ours from the objects table, a peer's from the cache."""
        parsed = _parse(uri)
        text = str(parsed)
        stored = self.store.get_object(text) if self._owns(parsed) else self.store.get_cached(text)
        if stored is None:
            raise DataNotFoundError(f"no value is known for {text}")
        return _decode_value(stored.value)

    def list_data(self, pattern: str | URIPattern) -> list[str]:
        """Every URI with a known value (ours and cached) that matches the glob ``pattern``."""
        return self.store.list_uris(pattern)

    # ---- commands ---------------------------------------------------------------------------

    def set_data(self, uri: str | KrapitionURI, data: PhysicsObject) -> SignedEvent:
        """Creates or replaces the value of an owned URI; returns the committed event."""
        parsed = self._owned(uri)
        if parsed.name != data.name:
            raise InvalidCommandError(f"the value is named {data.name!r} but the URI names {parsed.name!r}")
        if isinstance(data, BodySpec):
            if (parsed.kind, parsed.collection) != ("physics", "objects"):
                raise InvalidCommandError(f"a body lives under /physics/objects/, not at {parsed.path}")
            return self.ledger.append(str(parsed), ObjectCreated(body=data))
        if (parsed.kind, parsed.collection) != ("physics", "constraints"):
            raise InvalidCommandError(f"a constraint lives under /physics/constraints/, not at {parsed.path}")
        return self.ledger.append(str(parsed), ConstraintApplied(constraint=data, active=True))

    def delete_data(self, uri: str | KrapitionURI, reason: str = "") -> SignedEvent:
        """Deletes the value of an owned URI; raises :class:`DataNotFoundError` if it has none."""
        parsed = self._owned(uri)
        text = str(parsed)
        stored = self.store.get_object(text)
        if stored is None:
            raise DataNotFoundError(f"no value is known for {text}")
        if stored.value.kind == CONSTRAINT:
            constraint = decode(stored.value.data, ConstraintSpec)  # type: ignore[arg-type]
            return self.ledger.append(text, ConstraintApplied(constraint=constraint, active=False))
        return self.ledger.append(text, ObjectDeleted(reason=reason))

    def execute(self, command: UserCommand) -> SignedEvent:
        """A user's command on the world (from the UI or the REST API), checked like the calls
        above: ``set`` (target + body) or ``delete`` (target)."""
        if command.command == "set" and command.target is not None and command.body is not None:
            return self.set_data(command.target, command.body)
        if command.command == "delete" and command.target is not None:
            return self.delete_data(command.target, reason=str(command.params.get("reason", "")))
        raise InvalidCommandError(
            f"unknown or incomplete command {command.command!r}: 'set' needs target and body, "
            "'delete' needs target"
        )

    # ---- helpers -----------------------------------------------------------------------------

    def _owns(self, uri: KrapitionURI) -> bool:
        return str(uri.authority) == self.ledger.authority

    def _owned(self, uri: str | KrapitionURI) -> KrapitionURI:
        parsed = _parse(uri)
        if not self._owns(parsed):
            raise NotOwnedURIError(
                f"{parsed} is owned by {parsed.authority}, not by this node ({self.ledger.authority})"
            )
        return parsed


def _parse(uri: str | KrapitionURI) -> KrapitionURI:
    return uri if isinstance(uri, KrapitionURI) else KrapitionURI.parse(uri)


def _decode_value(value: Value) -> PhysicsObject:
    if value.kind == BODY:
        return decode(value.data, BodySpec)
    return decode(value.data, ConstraintSpec)  # type: ignore[arg-type]
