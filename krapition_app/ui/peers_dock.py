"""The Peers dock: every node of the session, with its state, round trip and bodies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

COLUMNS = ("", "Name", "Authority", "Key", "State", "RTT", "Bodies")
STATE_COLOURS = {"alive": "#60d060", "suspect": "#e0c040", "dead": "#e05050", "self": "#80b0ff"}


@dataclass(frozen=True, slots=True)
class PeerRow:
    name: str
    authority: str
    fingerprint: str
    #: alive / suspect / dead, or self for this node
    state: str
    rtt_ms: float | None
    owned_bodies: int
    #: the node's colour in the 3D view, "#rrggbb"
    colour: str


class PeersModel(QtCore.QAbstractTableModel):
    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PeerRow] = []

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation,
                   role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == QtCore.Qt.Orientation.Horizontal and role == QtCore.Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        if role == QtCore.Qt.ItemDataRole.DecorationRole and column == 0:
            return QtGui.QColor(row.colour)
        if role == QtCore.Qt.ItemDataRole.ForegroundRole and column == 4:
            return QtGui.QColor(STATE_COLOURS.get(row.state, "#c0c0c0"))
        if role != QtCore.Qt.ItemDataRole.DisplayRole:
            return None
        rtt = "—" if row.rtt_ms is None else f"{row.rtt_ms:.1f} ms"
        return ("", row.name, row.authority, row.fingerprint, row.state, rtt, row.owned_bodies)[column]

    def set_rows(self, rows: Sequence[PeerRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[PeerRow]:
        return list(self._rows)


class PeersDock(QtWidgets.QDockWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Peers", parent)
        self.setObjectName("peers_dock")
        self.model = PeersModel(self)
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.summary = QtWidgets.QLabel()
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        self.setWidget(body)
        self.set_peers([])

    def set_peers(self, rows: Sequence[PeerRow]) -> None:
        self.model.set_rows(rows)
        others = [r for r in rows if r.state != "self"]
        alive = sum(r.state == "alive" for r in others)
        self.summary.setText(
            f"{len(others)} peer(s), {alive} alive" if others else "No peers yet: alone in the session"
        )
