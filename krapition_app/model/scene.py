"""Scene specification: the bodies and constraints of a world, as saved in a JSON file.

One body is the JSON object the REST API reads and writes too::

    {"name": "ball-001", "shape": "sphere", "radius": 0.1, "material": "rubber",
     "position": [0, 0, 1], "orientation": [1, 0, 0, 0],
     "velocity": [0, 0, 0], "angular_velocity": [0, 0, 0]}

Boxes have ``half_extents`` (metres) instead of ``radius``. Worlds are z-up. Unknown keys and
wrong types are rejected with the key's name (and its path) in the message.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Literal

import msgspec
from msgspec.structs import force_setattr

from .encoding import from_json, to_json
from .errors import EncodingError, SceneFormatError
from .geometry import (
    IDENTITY_QUAT,
    ZERO3,
    Quat,
    Vec3,
    checked_quaternion,
    checked_vector,
)
from .materials import DEFAULT_MATERIAL, MATERIAL_NAMES
from .uri import MAX_NAME_LENGTH

SCENE_FORMAT = 1
MIN_SIZE = 0.005  # metres: below this a body is smaller than the solver's contact slop
MAX_SIZE = 50.0
MAX_COORDINATE = 10_000.0
MAX_SPEED = 1_000.0
MAX_BODIES = 100_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*\Z")


def _check_name(what: str, name: str) -> None:
    if not _NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{what} {name!r} must be 1-{MAX_NAME_LENGTH} of letters, digits and '._~-', "
            "starting with a letter or digit (it becomes the last segment of a URI)"
        )


def _check_size(what: str, value: float) -> None:
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise ValueError(f"{what} must be between {MIN_SIZE} and {MAX_SIZE} metres, got {value!r}")


class BodySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A rigid body: a sphere or a box of one material."""

    name: str
    shape: Literal["sphere", "box"]
    radius: float | None = None
    half_extents: Vec3 | None = None
    material: str = DEFAULT_MATERIAL
    position: Vec3 = ZERO3
    orientation: Quat = IDENTITY_QUAT
    velocity: Vec3 = ZERO3
    angular_velocity: Vec3 = ZERO3
    #: a static body never moves (walls, a ramp); it still collides and sounds
    static: bool = False

    def __post_init__(self) -> None:
        _check_name("name", self.name)
        if self.shape == "sphere":
            if self.radius is None:
                raise ValueError("a sphere needs 'radius'")
            if self.half_extents is not None:
                raise ValueError("a sphere has 'radius', not 'half_extents'")
            _check_size("radius", self.radius)
            force_setattr(self, "radius", float(self.radius))
        else:
            if self.half_extents is None:
                raise ValueError("a box needs 'half_extents'")
            if self.radius is not None:
                raise ValueError("a box has 'half_extents', not 'radius'")
            for h in self.half_extents:
                _check_size("each of 'half_extents'", h)
            force_setattr(self, "half_extents", checked_vector("half_extents", self.half_extents, MAX_SIZE))
        if self.material not in MATERIAL_NAMES:
            raise ValueError(
                f"unknown material {self.material!r}; known: {', '.join(MATERIAL_NAMES)}"
            )
        force_setattr(self, "position", checked_vector("position", self.position, MAX_COORDINATE))
        force_setattr(self, "orientation", checked_quaternion("orientation", self.orientation))
        force_setattr(self, "velocity", checked_vector("velocity", self.velocity, MAX_SPEED))
        force_setattr(
            self,
            "angular_velocity",
            checked_vector("angular_velocity", self.angular_velocity, MAX_SPEED),
        )

    @property
    def bounding_radius(self) -> float:
        if self.radius is not None:
            return self.radius
        hx, hy, hz = self.half_extents or ZERO3
        return float((hx * hx + hy * hy + hz * hz) ** 0.5)


class _ConstraintBase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
                      tag_field="kind"):
    name: str
    body_a: str
    #: None joins body_a to the static world
    body_b: str | None = None
    #: world-space point where the bodies are joined, at the time the scene starts
    anchor: Vec3 = ZERO3

    def __post_init__(self) -> None:
        _check_name("constraint name", self.name)
        force_setattr(self, "anchor", checked_vector("anchor", self.anchor, MAX_COORDINATE))


class BallSocketSpec(_ConstraintBase, frozen=True, tag="ball-socket"):
    """Keeps the anchor point of both bodies together; rotation is free."""


class HingeSpec(_ConstraintBase, frozen=True, tag="hinge"):
    """Rotation about one axis only, optionally between two angles (radians)."""

    axis: Vec3 = (0.0, 0.0, 1.0)
    lower_limit: float | None = None
    upper_limit: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        axis = checked_vector("axis", self.axis, MAX_COORDINATE)
        norm = sum(c * c for c in axis) ** 0.5
        if norm < 1e-9:
            raise ValueError("a hinge 'axis' must not be zero")
        force_setattr(self, "axis", tuple(c / norm + 0.0 for c in axis))
        lo, hi = self.lower_limit, self.upper_limit
        if (lo is None) != (hi is None):
            raise ValueError("a hinge needs both 'lower_limit' and 'upper_limit', or neither")
        if lo is not None and hi is not None and not -3.2 <= lo <= hi <= 3.2:
            raise ValueError("hinge limits must satisfy -pi <= lower_limit <= upper_limit <= pi")


class DistanceSpec(_ConstraintBase, frozen=True, tag="distance"):
    """Keeps two anchor points (anchor on body_a, anchor_b on body_b) at a fixed distance."""

    anchor_b: Vec3 = ZERO3
    #: None means the distance between the anchors when the scene starts
    distance: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        force_setattr(self, "anchor_b", checked_vector("anchor_b", self.anchor_b, MAX_COORDINATE))
        if self.distance is not None and not 0 <= self.distance <= MAX_COORDINATE:
            raise ValueError("'distance' must be a non-negative length in metres")


ConstraintSpec = BallSocketSpec | HingeSpec | DistanceSpec


class Scene(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole world: what File > Open loads and File > Save writes."""

    format: Literal[1] = SCENE_FORMAT
    name: str = "Untitled"
    gravity: Vec3 = (0.0, 0.0, -9.81)
    #: an infinite static ground plane at z = 0
    ground: bool = True
    bodies: tuple[BodySpec, ...] = ()
    constraints: tuple[ConstraintSpec, ...] = ()

    def __post_init__(self) -> None:
        force_setattr(self, "gravity", checked_vector("gravity", self.gravity, 1_000.0))
        if len(self.bodies) > MAX_BODIES:
            raise ValueError(f"a scene holds at most {MAX_BODIES} bodies")
        names: set[str] = set()
        for body in self.bodies:
            if body.name in names:
                raise ValueError(f"two bodies are named {body.name!r}")
            names.add(body.name)
        constraint_names: set[str] = set()
        for c in self.constraints:
            if c.name in constraint_names:
                raise ValueError(f"two constraints are named {c.name!r}")
            constraint_names.add(c.name)
            for ref in (c.body_a, c.body_b):
                if ref is not None and ref not in names:
                    raise ValueError(f"constraint {c.name!r} names unknown body {ref!r}")
            if c.body_a == c.body_b:
                raise ValueError(f"constraint {c.name!r} joins body {c.body_a!r} to itself")

    def body(self, name: str) -> BodySpec:
        for body in self.bodies:
            if body.name == name:
                return body
        raise KeyError(name)


def body_from_json(text: str | bytes) -> BodySpec:
    """One body object, as the REST API receives it; raises :class:`EncodingError`."""
    return from_json(text, BodySpec)


def body_to_json(body: BodySpec) -> str:
    return to_json(_without_nulls(msgspec.to_builtins(body)))


def scene_from_json(text: str | bytes, *, source: str = "scene") -> Scene:
    try:
        return from_json(text, Scene)
    except EncodingError as exc:
        raise SceneFormatError(f"{source}: {exc}") from None


def scene_to_json(scene: Scene) -> str:
    data = msgspec.to_builtins(scene)
    data["bodies"] = [_without_nulls(b) for b in data["bodies"]]
    data["constraints"] = [_without_nulls(c) for c in data["constraints"]]
    return to_json(data, indent=2) + "\n"


def load_scene(path: str | os.PathLike[str]) -> Scene:
    """Reads a scene file; any problem raises :class:`SceneFormatError` naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SceneFormatError(f"cannot read scene file {path}: {exc.strerror or exc}") from None
    return scene_from_json(data, source=str(path))


def save_scene(scene: Scene, path: str | os.PathLike[str]) -> None:
    """Writes atomically: a crash mid-write leaves the old file, never half a new one."""
    path = Path(path)
    text = scene_to_json(scene)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _without_nulls(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if v is not None}
