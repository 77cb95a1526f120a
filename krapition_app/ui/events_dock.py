"""The Event stream dock: a live list of the world's events, with a type filter and a search.

It keeps the newest :data:`MAX_ROWS` events (older rows scroll away, as the chain itself is
bounded). Feed it on the GUI thread with :meth:`EventsDock.append`; the app's feed bridges threads.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6 import QtCore, QtWidgets

from ..model.encoding import to_json
from ..model.events import EventType

MAX_ROWS = 5_000
COLUMNS = ("Time", "Type", "Seq", "Author", "URI", "Details")
ALL_TYPES = "All event types"


class EventLike(Protocol):
    """What the dock reads of an event (a signed chain event has all of it)."""

    author: bytes
    seq: int
    timestamp_ns: int
    uri: str

    @property
    def type(self) -> EventType: ...

    @property
    def payload(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class EventRow:
    time: str
    type: str
    seq: int
    author: str
    uri: str
    details: str

    @classmethod
    def of(cls, event: EventLike) -> EventRow:
        when = dt.datetime.fromtimestamp(event.timestamp_ns / 1e9).strftime("%H:%M:%S.%f")[:-3]
        details = to_json(event.payload)
        if len(details) > 240:
            details = details[:239] + "…"
        return cls(when, str(event.type), event.seq, event.author.hex()[:12], event.uri, details)

    def cell(self, column: int) -> str | int:
        return (self.time, self.type, self.seq, self.author, self.uri, self.details)[column]


class EventsModel(QtCore.QAbstractTableModel):
    def __init__(self, parent: QtCore.QObject | None = None, max_rows: int = MAX_ROWS) -> None:
        super().__init__(parent)
        self._rows: deque[EventRow] = deque(maxlen=max_rows)

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role in (QtCore.Qt.ItemDataRole.DisplayRole, QtCore.Qt.ItemDataRole.ToolTipRole):
            return row.cell(index.column())
        return None

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation,
                   role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == QtCore.Qt.Orientation.Horizontal and role == QtCore.Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def append(self, rows: list[EventRow]) -> None:
        if not rows:
            return
        overflow = len(self._rows) + len(rows) - (self._rows.maxlen or 0)
        if overflow > 0:  # the oldest rows leave first, as they do from the bounded chain
            drop = min(overflow, len(self._rows))
            self.beginRemoveRows(QtCore.QModelIndex(), 0, drop - 1)
            for _ in range(drop):
                self._rows.popleft()
            self.endRemoveRows()
            rows = rows[-(self._rows.maxlen or len(rows)):]
        first = len(self._rows)
        self.beginInsertRows(QtCore.QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()


class _Filter(QtCore.QSortFilterProxyModel):
    """Keeps rows of the chosen type whose text contains the search (any column, any case)."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.event_type: str | None = None
        self.text = ""

    def filterAcceptsRow(self, source_row: int, source_parent: QtCore.QModelIndex) -> bool:
        model = self.sourceModel()
        row_type = model.index(source_row, 1, source_parent).data()
        if self.event_type is not None and row_type != self.event_type:
            return False
        if not self.text:
            return True
        return any(self.text in str(model.index(source_row, c, source_parent).data()).lower()
                   for c in range(len(COLUMNS)))

    def set_filter(self, event_type: str | None, text: str) -> None:
        self.beginFilterChange()
        self.event_type, self.text = event_type, text.lower()
        self.endFilterChange(QtCore.QSortFilterProxyModel.Direction.Rows)


class EventsDock(QtWidgets.QDockWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Event stream", parent)
        self.setObjectName("events_dock")
        self.model = EventsModel(self)
        self.proxy = _Filter(self)
        self.proxy.setSourceModel(self.model)
        self.type_box = QtWidgets.QComboBox()
        self.type_box.addItem(ALL_TYPES)
        self.type_box.addItems([t.value for t in EventType])
        self.search = QtWidgets.QLineEdit()
        self.search.setPlaceholderText("Search events…")
        self.search.setClearButtonEnabled(True)
        self.follow = QtWidgets.QCheckBox("Follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Scroll to each new event")
        self.count_label = QtWidgets.QLabel()
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        top = QtWidgets.QHBoxLayout()
        for w in (self.type_box, self.search, self.follow, self.count_label):
            top.addWidget(w)
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self.setWidget(body)
        self.type_box.currentTextChanged.connect(self._refilter)
        self.search.textChanged.connect(self._refilter)
        self._update_count()

    def append(self, events: Iterable[EventLike]) -> None:
        self.model.append([EventRow.of(e) for e in events])
        self._update_count()
        if self.follow.isChecked():
            self.table.scrollToBottom()

    def _refilter(self) -> None:
        chosen = self.type_box.currentText()
        self.proxy.set_filter(None if chosen == ALL_TYPES else chosen, self.search.text())
        self._update_count()

    def _update_count(self) -> None:
        self.count_label.setText(f"{self.proxy.rowCount()} / {self.model.rowCount()}")
