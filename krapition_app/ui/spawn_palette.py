"""The spawn palette: choose a shape, size and material, then click in the world to drop it."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..model.materials import MATERIAL_NAMES
from ..model.scene import BodySpec

SIZES_CM = (2.5, 5.0, 10.0, 15.0, 25.0, 40.0)


class SpawnPalette(QtWidgets.QToolBar):
    """While "Place" is on, each click in the 3D view drops the chosen body there."""

    #: the body to place (its name and position are chosen at the click), or None when off
    templateChanged = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Spawn", parent)
        self.setObjectName("spawn_palette")
        self.shape = QtWidgets.QComboBox()
        self.shape.addItems(["Sphere", "Box"])
        self.size = QtWidgets.QComboBox()
        self.size.addItems([f"{s:g} cm" for s in SIZES_CM])
        self.size.setCurrentIndex(2)
        self.size.setToolTip("Radius of a sphere, half the side of a box")
        self.material = QtWidgets.QComboBox()
        self.material.addItems([m.capitalize() for m in MATERIAL_NAMES])
        self.material.setCurrentIndex(MATERIAL_NAMES.index("rubber"))
        self.place = QtWidgets.QToolButton()
        self.place.setText("Place")
        self.place.setCheckable(True)
        self.place.setToolTip("Click in the world to drop the body (Esc stops)")
        self.addWidget(QtWidgets.QLabel(" Spawn: "))
        for w in (self.shape, self.size, self.material, self.place):
            self.addWidget(w)
        for combo in (self.shape, self.size, self.material):
            combo.currentIndexChanged.connect(self._changed)
        self.place.toggled.connect(self._changed)

    def template(self) -> BodySpec | None:
        if not self.place.isChecked():
            return None
        size = SIZES_CM[self.size.currentIndex()] / 100.0
        material = MATERIAL_NAMES[self.material.currentIndex()]
        if self.shape.currentIndex() == 0:
            return BodySpec(name="palette", shape="sphere", radius=size, material=material)
        return BodySpec(name="palette", shape="box", half_extents=(size, size, size), material=material)

    def _changed(self) -> None:
        self.templateChanged.emit(self.template())

    def stop_placing(self) -> None:
        self.place.setChecked(False)
