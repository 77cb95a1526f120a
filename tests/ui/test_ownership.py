"""Other nodes' bodies are tinted with their node's colour; ours keep their material's colour."""

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6 import QtGui

from krapition_app.p2p.identity import fingerprint_of
from krapition_app.ui.ownership import OwnerTint, node_colour, node_rgb
from krapition_app.ui.viewport import MATERIAL_COLOURS, OWNER_TINT, snapshot_instances

THEIRS = bytes(range(32))


class FakeSession:
    def __init__(self) -> None:
        self.remote_version = 0
        self.owners = {"ball~00010203": THEIRS}
        self.asked = 0

    def owner_of(self, name):
        self.asked += 1
        return self.owners.get(name)


def snapshot(names):
    n = len(names)
    return SimpleNamespace(
        names=names,
        material=np.zeros(n, np.int16),
        static=np.zeros(n, bool),
        sleeping=np.zeros(n, bool),
        shape=np.zeros(n, np.int8),
        position=np.zeros((n, 3)),
        orientation=np.tile([1.0, 0, 0, 0], (n, 1)),
        half_extents=np.full((n, 3), 0.1),
    )


def test_node_colours_are_stable_and_match_qt():
    fp = fingerprint_of(THEIRS)
    assert node_colour(fp) == node_colour(fp)
    hue = int.from_bytes(fp.encode(), "little") % 360
    assert node_colour(fp) == QtGui.QColor.fromHsv(hue, 160, 230).name()


def test_remote_bodies_are_tinted_and_ours_are_not():
    session = FakeSession()
    tint = OwnerTint(session)
    names = ("mine", "ball~00010203")
    rgb = tint.rgb(names)
    assert np.isnan(rgb[0]).all()
    assert rgb[1] == pytest.approx(node_rgb(fingerprint_of(THEIRS)))
    spheres = snapshot_instances(snapshot(names), owner_tint=rgb)["sphere"][3]
    base = MATERIAL_COLOURS[0, :3]
    assert spheres[0, :3] == pytest.approx(base)
    assert spheres[1, :3] == pytest.approx(base + (rgb[1] - base) * OWNER_TINT)


def test_the_tint_is_computed_once_per_change_not_per_frame():
    session = FakeSession()
    tint = OwnerTint(session)
    names = ("mine", "ball~00010203")
    tint.rgb(names)
    asked = session.asked
    for _ in range(10):
        tint.rgb(names)
    assert session.asked == asked
    session.remote_version += 1  # a remote body came or went
    tint.rgb(names)
    assert session.asked == asked + 2
