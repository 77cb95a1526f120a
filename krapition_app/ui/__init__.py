"""The PySide6 + pyqtgraph user interface. Only krapition_app.app imports it."""
