"""Regenerates assets/default-scene.json (run: .venv/bin/python scripts/make_default_scene.py)."""

from pathlib import Path

from krapition_app.model.materials import MATERIAL_NAMES
from krapition_app.model.scene import BallSocketSpec, BodySpec, DistanceSpec, Scene, save_scene

bodies: list[BodySpec] = []
constraints = []

# A tower of wooden crates.
for i in range(6):
    bodies.append(BodySpec(name=f"crate-{i + 1:03d}", shape="box", half_extents=(0.15, 0.15, 0.15),
                           material="wood", position=(-1.2, -0.6, round(0.15 + 0.3 * i, 3))))
# One ball of every material in a row, biggest first.
for i, material in enumerate(MATERIAL_NAMES):
    r = 0.16 - 0.015 * i
    bodies.append(BodySpec(name=f"ball-{material}", shape="sphere", radius=round(r, 3),
                           material=material, position=(round(-0.9 + 0.42 * i, 3), 0.9, round(r, 3))))
# A small pyramid of plastic blocks.
n = 0
for level, count in enumerate((4, 3, 2, 1)):
    for j in range(count):
        n += 1
        x = 1.0 + 0.22 * j + 0.11 * level
        bodies.append(BodySpec(name=f"block-{n:03d}", shape="box", half_extents=(0.1, 0.1, 0.1),
                               material="plastic", position=(round(x, 3), -0.8, round(0.1 + 0.2 * level, 3))))
# A stone pedestal with a glass ball on it.
bodies.append(BodySpec(name="pedestal", shape="box", half_extents=(0.25, 0.25, 0.3),
                       material="stone", position=(1.7, 0.1, 0.3)))
bodies.append(BodySpec(name="ball-glass-top", shape="sphere", radius=0.12, material="glass",
                       position=(1.7, 0.1, 0.72)))
# A steel gallows beam with a pendulum of two links hanging at rest.
bodies.append(BodySpec(name="gallows-beam", shape="box", half_extents=(0.6, 0.05, 0.05),
                       material="metal", position=(0.0, -1.8, 1.6), static=True))
bodies.append(BodySpec(name="pendulum-1", shape="sphere", radius=0.08, material="metal",
                       position=(0.0, -1.8, 1.15)))
bodies.append(BodySpec(name="pendulum-2", shape="sphere", radius=0.1, material="metal",
                       position=(0.0, -1.8, 0.75)))
constraints.append(DistanceSpec(name="pendulum-rod-1", body_a="gallows-beam", body_b="pendulum-1",
                                anchor=(0.0, -1.8, 1.55), anchor_b=(0.0, -1.8, 1.15)))
constraints.append(BallSocketSpec(name="pendulum-joint", body_a="pendulum-1", body_b="pendulum-2",
                                  anchor=(0.0, -1.8, 0.95)))

scene = Scene(name="Krapition playground", bodies=tuple(bodies), constraints=tuple(constraints))
save_scene(scene, Path(__file__).resolve().parent.parent / "assets" / "default-scene.json")
print(f"{len(bodies)} bodies, {len(constraints)} constraints")
