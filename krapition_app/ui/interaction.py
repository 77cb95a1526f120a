"""Mouse interaction with the world: pick, drag, throw, hover, delete, spawn.

The view never moves a body itself: a drag becomes engine commands (a soft spring from the point
that was grabbed to a target in a plane facing the camera), and the body follows through physics,
so releasing it while it moves throws it. A press on empty space falls through to the camera
(orbit, pan, zoom).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..engine.world import Delete, Drag, Release, Spawn
from ..model.scene import BodySpec
from .picking import camera_forward, pixel_ray, ray_plane

DRAG_KEY = "mouse"
#: the wheel moves a dragged body towards or away from the camera by this fraction per notch
WHEEL_DEPTH_STEP = 0.08


class Hit(Protocol):
    point: tuple[float, float, float]


class WorldPort(Protocol):
    """What interaction needs of the world (``engine.world.World`` has it)."""

    def raycast(self, origin, direction, max_distance: float = ...) -> tuple[str, Hit] | None: ...

    def submit(self, command) -> None: ...


@dataclass
class DragState:
    name: str
    #: a point on the plane the target moves in, and its normal (towards the camera)
    plane_point: np.ndarray
    plane_normal: np.ndarray
    target: np.ndarray


class Interaction:
    """Turns viewport mouse events into world commands. Stateless about rendering."""

    def __init__(self, view, world: WorldPort) -> None:
        self.view = view
        self.world = world
        self.drag: DragState | None = None
        self.hovered: str | None = None
        self.selected: str | None = None
        #: set by the spawn palette: the next click drops this body (its name and position are set then)
        self.spawn_template: BodySpec | None = None

    # ---- picking --------------------------------------------------------------------------

    def pick(self, x: float, y: float) -> tuple[str, np.ndarray] | None:
        origin, direction = pixel_ray(self.view, x, y)
        hit = self.world.raycast(origin, direction)
        if hit is None:
            return None
        name, info = hit
        return name, np.asarray(info.point, dtype=float)

    def ground_point(self, x: float, y: float) -> np.ndarray | None:
        origin, direction = pixel_ray(self.view, x, y)
        return ray_plane(origin, direction, np.zeros(3), np.array([0.0, 0.0, 1.0]))

    # ---- mouse ----------------------------------------------------------------------------

    def press(self, x: float, y: float) -> bool:
        """Left button down. True if it grabbed a body (or spawned one): the camera stays put."""
        if self.spawn_template is not None:
            return self._spawn_at(x, y)
        picked = self.pick(x, y)
        if picked is None:
            self.selected = None
            return False
        name, point = picked
        normal = -camera_forward(self.view)
        self.drag = DragState(name, point, normal, point)
        self.selected = name
        self.world.submit(Drag(DRAG_KEY, name, tuple(point), tuple(point)))
        return True

    def move(self, x: float, y: float) -> bool:
        """Mouse moved. True if it moved a dragged body."""
        if self.drag is None:
            picked = self.pick(x, y)
            self.hovered = None if picked is None else picked[0]
            return False
        origin, direction = pixel_ray(self.view, x, y)
        target = ray_plane(origin, direction, self.drag.plane_point, self.drag.plane_normal)
        if target is None:
            return True
        self.drag.target = target
        self.world.submit(Drag(DRAG_KEY, self.drag.name, tuple(self.drag.plane_point), tuple(target)))
        return True

    def wheel(self, notches: float) -> bool:
        """Wheel turned. While dragging it moves the body nearer (positive) or farther."""
        if self.drag is None:
            return False
        eye = self.view.cameraPosition()
        eye = np.array([eye.x(), eye.y(), eye.z()])
        distance = float(np.linalg.norm(self.drag.target - eye))
        shift = self.drag.plane_normal * distance * WHEEL_DEPTH_STEP * notches
        self.drag.plane_point = self.drag.plane_point + shift
        self.drag.target = self.drag.target + shift
        self.world.submit(Drag(DRAG_KEY, self.drag.name, tuple(self.drag.plane_point),
                               tuple(self.drag.target)))
        return True

    def release(self) -> bool:
        """Left button up. The body keeps the velocity the drag gave it: a throw."""
        if self.drag is None:
            return False
        self.world.submit(Release(DRAG_KEY))
        self.drag = None
        return True

    def delete(self) -> str | None:
        """Deletes the selected (or hovered) body; returns its name."""
        name = self.selected or self.hovered
        if name is None:
            return None
        if self.drag is not None and self.drag.name == name:
            self.release()
        self.world.submit(Delete(name))
        self.selected = self.hovered = None
        return name

    def _spawn_at(self, x: float, y: float) -> bool:
        template = self.spawn_template
        assert template is not None
        picked = self.pick(x, y)
        point = picked[1] if picked is not None else self.ground_point(x, y)
        if point is None:
            return False
        # rest the new body on what was clicked: lift it by its size along +z
        lift = template.radius if template.radius is not None else template.half_extents[2]
        body = BodySpec(
            name=f"{template.shape}-{template.material}-{secrets.token_hex(3)}", shape=template.shape,
            radius=template.radius, half_extents=template.half_extents, material=template.material,
            position=(float(point[0]), float(point[1]), float(point[2]) + lift + 0.002),
        )
        self.world.submit(Spawn(body))
        self.selected = body.name
        return True
