"""Dragging a body that another node owns.

The dragger sends its drag as ``UserAction`` events (grab, drag, release, throw) on its own chain,
at input rate; the owner's :class:`DragArbiter` turns them into drag commands on its world, and its
motion events carry the result back to everyone. The dragger's own copy follows the mouse at once
(prediction) and rejoins the owner's state when the drag ends.

Conflicts are decided by the owner alone, so every node agrees: the first grab wins; a grab of a
body someone else holds is refused (the session tells the refused node through the owner's chain);
a holder that stops sending for ``hold_timeout`` seconds (it died, or its link did) loses the body.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..model.events import UserAction
from .world import Drag, Release

#: drag updates a dragger sends per second (grab and release always go at once)
SEND_RATE_HZ = 30.0
#: seconds without an update after which the owner releases a remote drag
HOLD_TIMEOUT_S = 2.0
KEY_PREFIX = "remote-"

Vec3 = tuple[float, float, float]


def drag_key(author_hex: str) -> str:
    """The world's drag key for one remote dragger (a node drags one body at a time)."""
    return KEY_PREFIX + author_hex[:16]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A grab the owner refused: who asked, for what, and who holds it."""

    author: str
    target: str
    holder: str


@dataclass(slots=True)
class _Hold:
    author: str
    key: str
    name: str
    grab_point: Vec3
    last_seen: float


class DragArbiter:
    """The owner's side: remote drag actions on our bodies -> world commands, first grab wins."""

    def __init__(self, hold_timeout: float = HOLD_TIMEOUT_S) -> None:
        self.hold_timeout = hold_timeout
        self._by_target: dict[str, _Hold] = {}
        self._by_author: dict[str, str] = {}
        self.refused = 0

    def holder(self, target: str) -> str | None:
        hold = self._by_target.get(target)
        return None if hold is None else hold.author

    def on_action(self, author: str, action: UserAction, local_name: str | None,
                  now: float) -> tuple[list[Drag | Release], Refusal | None]:
        """One action of ``author`` (hex key) on one of our bodies (``local_name`` in our world;
        None when we no longer have it). Returns the world commands and a refusal, if any."""
        commands: list[Drag | Release] = []
        target = action.target
        if target is None:
            return commands, None
        hold = self._by_target.get(target)
        if action.action == "grab":
            if local_name is None or action.point is None:
                return commands, None
            if hold is not None and hold.author != author:
                self.refused += 1
                return commands, Refusal(author=author, target=target, holder=hold.author)
            # one body per dragger: a new grab ends the author's previous drag
            commands += self._release_author(author)
            point = _point(action.point)
            hold = _Hold(author, drag_key(author), local_name, point, now)
            self._by_target[target] = hold
            self._by_author[author] = target
            commands.append(Drag(hold.key, local_name, point, point))
        elif action.action == "drag":
            if hold is None or hold.author != author:
                return commands, None
            hold.last_seen = now
            if action.point is not None:  # None: a keep-alive while the mouse rests
                commands.append(Drag(hold.key, hold.name, hold.grab_point, _point(action.point)))
        elif action.action in ("release", "throw") and hold is not None and hold.author == author:
            commands += self._release_author(author)
        return commands, None

    def forget_body(self, target: str) -> list[Release]:
        """Our body ``target`` is gone: its drag ends."""
        hold = self._by_target.pop(target, None)
        if hold is None:
            return []
        self._by_author.pop(hold.author, None)
        return [Release(hold.key)]

    def expire(self, now: float) -> list[Release]:
        """Releases drags whose holder went quiet."""
        stale = [h.author for h in self._by_target.values() if now - h.last_seen > self.hold_timeout]
        out: list[Release] = []
        for author in stale:
            out += self._release_author(author)
        return out

    def _release_author(self, author: str) -> list[Release]:
        target = self._by_author.pop(author, None)
        if target is None:
            return []
        hold = self._by_target.pop(target)
        return [Release(hold.key)]


def _point(value: object) -> Vec3:
    if not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"a point is three numbers, got {value!r}")
    x, y, z = (float(v) for v in value)
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise ValueError(f"a point must be finite, got {value!r}")
    return x, y, z


class DragSender:
    """The dragger's side: which drag actions to put on our chain, and when (rate-limited)."""

    def __init__(self, rate_hz: float = SEND_RATE_HZ) -> None:
        self.interval = 1.0 / rate_hz
        self._target: str | None = None
        self._pending: Vec3 | None = None
        self._last_sent = -math.inf

    @property
    def dragging(self) -> str | None:
        return self._target

    def grab(self, target: str, grab_point: Sequence[float], now: float) -> UserAction:
        self._target = target
        self._pending = None
        self._last_sent = now
        return UserAction(action="grab", target=target, point=_point(grab_point))

    def move(self, target_point: Sequence[float], now: float) -> UserAction | None:
        """The mouse moved: an action now if the rate allows, else it waits for :meth:`flush`."""
        if self._target is None:
            return None
        self._pending = _point(target_point)
        return self.flush(now)

    def flush(self, now: float) -> UserAction | None:
        """The newest waiting position, once the rate allows (call every tick), or a keep-alive so
        the owner does not time the drag out while the mouse rests."""
        if self._target is None or now - self._last_sent < self.interval:
            return None
        if self._pending is None:
            if now - self._last_sent < HOLD_TIMEOUT_S / 4:
                return None
            self._last_sent = now
            return UserAction(action="drag", target=self._target)
        point, self._pending = self._pending, None
        self._last_sent = now
        return UserAction(action="drag", target=self._target, point=point)

    def release(self) -> UserAction | None:
        """The mouse let go. The owner's body keeps the velocity its drag gave it (a throw), as a
        local drag does."""
        if self._target is None:
            return None
        target, self._target = self._target, None
        self._pending = None
        return UserAction(action="release", target=target)
