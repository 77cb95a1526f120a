"""Errors of the physics engine: each names exactly what was wrong with a command."""

from __future__ import annotations

from ...model.errors import KrapitionError, ModelValidationError


class PhysicsError(KrapitionError):
    """Root of the errors the physics engine raises on purpose."""


class UnknownBodyError(PhysicsError, KeyError):
    """A command names a body that the world does not hold."""

    def __init__(self, name: object) -> None:
        super().__init__(f"unknown body {name!r}")
        self.name = name

    def __str__(self) -> str:  # KeyError would quote the message again
        return str(self.args[0])


class DuplicateBodyError(PhysicsError, ValueError):
    """A spawn names a body that already exists."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a body named {name!r} already exists")
        self.name = name


class UnknownDragError(PhysicsError, KeyError):
    """A release or drag update names a drag that is not active."""

    def __init__(self, drag_id: object) -> None:
        super().__init__(f"no active drag {drag_id!r}")
        self.drag_id = drag_id

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidCommandError(PhysicsError, ModelValidationError):
    """A command's value breaks a rule (NaN target, negative size, static body dragged, ...)."""


class CommandQueueFullError(PhysicsError):
    """The world's bounded command queue is full: the simulation is behind its producers."""
