"""Undo and redo of what the user does to the world.

In an event-sourced world nothing is erased: undoing appends the compensating change (a deleted
body is spawned again as it was, a spawned one is deleted), and redoing appends the change again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6 import QtGui

from ..engine.world import Delete, SetState, Spawn
from ..model.scene import BodySpec

Submit = Callable[[object], None]


class SpawnBodies(QtGui.QUndoCommand):
    def __init__(self, submit: Submit, bodies: Sequence[BodySpec], text: str) -> None:
        super().__init__(text)
        self._submit, self.bodies = submit, list(bodies)

    def redo(self) -> None:
        for body in self.bodies:
            self._submit(Spawn(body))

    def undo(self) -> None:
        for body in reversed(self.bodies):
            self._submit(Delete(body.name))


class DeleteBody(QtGui.QUndoCommand):
    """Remembers the body as it was when deleted, so undo brings back that state."""

    def __init__(self, submit: Submit, body: BodySpec) -> None:
        super().__init__(f"delete {body.name}")
        self._submit, self.body = submit, body

    def redo(self) -> None:
        self._submit(Delete(self.body.name))

    def undo(self) -> None:
        self._submit(Spawn(self.body))


class EditState(QtGui.QUndoCommand):
    def __init__(self, submit: Submit, name: str, before: tuple[tuple, tuple],
                 after: tuple[tuple, tuple]) -> None:
        super().__init__(f"edit {name}")
        self._submit, self.name, self.before, self.after = submit, name, before, after

    def redo(self) -> None:
        self._submit(SetState(self.name, position=self.after[0], velocity=self.after[1]))

    def undo(self) -> None:
        self._submit(SetState(self.name, position=self.before[0], velocity=self.before[1]))
