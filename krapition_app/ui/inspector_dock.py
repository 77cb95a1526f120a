"""The Inspector dock: the selected body's URI, owner, material, mass and motion; editable where
this node owns it (edits become commands to the world, never direct writes)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..model.scene import BodySpec
from .bodies import mass_of


def _vector_fields() -> list[QtWidgets.QDoubleSpinBox]:
    boxes = []
    for _ in range(3):
        box = QtWidgets.QDoubleSpinBox()
        box.setRange(-1000.0, 1000.0)
        box.setDecimals(3)
        box.setSingleStep(0.05)
        box.setKeyboardTracking(False)
        boxes.append(box)
    return boxes


class InspectorDock(QtWidgets.QDockWidget):
    #: name, position, velocity: the user edited a body this node owns
    stateEdited = QtCore.Signal(str, tuple, tuple)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Inspector", parent)
        self.setObjectName("inspector_dock")
        self.name: str | None = None
        self.editable = False
        self.uri = QtWidgets.QLabel()
        self.uri.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.uri.setWordWrap(True)
        self.owner = QtWidgets.QLabel()
        self.shape = QtWidgets.QLabel()
        self.material = QtWidgets.QLabel()
        self.mass = QtWidgets.QLabel()
        self.speed = QtWidgets.QLabel()
        self.position = _vector_fields()
        self.velocity = _vector_fields()
        form = QtWidgets.QFormLayout()
        form.addRow("URI", self.uri)
        form.addRow("Owner", self.owner)
        form.addRow("Shape", self.shape)
        form.addRow("Material", self.material)
        form.addRow("Mass", self.mass)
        form.addRow("Speed", self.speed)
        for label, fields in (("Position (m)", self.position), ("Velocity (m/s)", self.velocity)):
            row = QtWidgets.QHBoxLayout()
            for f in fields:
                row.addWidget(f)
                f.editingFinished.connect(self._edited)
            form.addRow(label, row)
        self.empty = QtWidgets.QLabel("Click a body to inspect it")
        self.empty.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.details = QtWidgets.QWidget()
        self.details.setLayout(form)
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.details)
        self.setWidget(self.stack)

    def show_body(self, body: BodySpec | None, *, uri: str = "", owner: str = "",
                  editable: bool = False) -> None:
        """Shows ``body`` (None clears). Fields being edited by the user are left alone."""
        if body is None:
            self.name = None
            self.stack.setCurrentWidget(self.empty)
            return
        self.name, self.editable = body.name, editable and not body.static
        self.stack.setCurrentWidget(self.details)
        self.uri.setText(uri or body.name)
        self.owner.setText(owner)
        size = f"r = {body.radius:g} m" if body.radius is not None else (
            "half extents " + " × ".join(f"{h:g}" for h in body.half_extents or ()) + " m")
        self.shape.setText(f"{body.shape}, {size}" + (" (static)" if body.static else ""))
        self.material.setText(body.material)
        self.mass.setText("immovable" if body.static else f"{mass_of(body):.3g} kg")
        speed = sum(v * v for v in body.velocity) ** 0.5
        self.speed.setText(f"{speed:.2f} m/s")
        for fields, values in ((self.position, body.position), (self.velocity, body.velocity)):
            for f, v in zip(fields, values, strict=True):
                f.setEnabled(self.editable)
                if not f.hasFocus():
                    f.blockSignals(True)
                    f.setValue(v)
                    f.blockSignals(False)

    def _edited(self) -> None:
        if self.name is None or not self.editable:
            return
        position = tuple(f.value() for f in self.position)
        velocity = tuple(f.value() for f in self.velocity)
        self.stateEdited.emit(self.name, position, velocity)

