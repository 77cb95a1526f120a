"""The Audio dock: output device, volume, mute, output mode, the room, and the listener.

Everything here is a call on the audio engine's public API (safe from any thread); choices are kept
in the settings and applied again at the next start.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..engine.acoustics import OUTPUT_MODES, AudioEngine, RoomSettings

DEFAULT_DEVICE = "System default"


class AudioDock(QtWidgets.QDockWidget):
    #: the room changed: its settings (the 3D view outlines it)
    roomChanged = QtCore.Signal(object)

    def __init__(self, engine: AudioEngine, settings: QtCore.QSettings,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Audio", parent)
        self.setObjectName("audio_dock")
        self.engine = engine
        self.settings = settings
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.device = QtWidgets.QComboBox()
        self.volume = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.volume.setRange(0, 200)
        self.volume.setToolTip("Master volume, % (100 = as synthesised)")
        self.mute = QtWidgets.QCheckBox("Mute")
        self.mode = QtWidgets.QComboBox()
        self.mode.addItems(list(OUTPUT_MODES))
        self.room_size = []
        for default in RoomSettings().size:
            box = QtWidgets.QDoubleSpinBox()
            box.setRange(0.5, 200.0)
            box.setDecimals(1)
            box.setSuffix(" m")
            box.setValue(default)
            box.setKeyboardTracking(False)
            self.room_size.append(box)
        self.absorption = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.absorption.setRange(0, 100)
        self.absorption.setToolTip("How much sound the walls swallow, % (0: bare concrete, 100: open air)")
        self.follow_camera = QtWidgets.QCheckBox("Listener follows the camera")
        self.follow_camera.setChecked(True)
        self.stats = QtWidgets.QLabel()
        form = QtWidgets.QFormLayout()
        form.addRow(self.status)
        form.addRow("Device", self.device)
        form.addRow("Volume", self.volume)
        form.addRow("", self.mute)
        form.addRow("Output", self.mode)
        size_row = QtWidgets.QHBoxLayout()
        for box in self.room_size:
            size_row.addWidget(box)
        form.addRow("Room (x, y, z)", size_row)
        form.addRow("Wall absorption", self.absorption)
        form.addRow("", self.follow_camera)
        form.addRow("Engine", self.stats)
        body = QtWidgets.QWidget()
        body.setLayout(form)
        self.setWidget(body)
        self._restore()
        self.device.activated.connect(self._device_chosen)
        self.volume.valueChanged.connect(self._volume_changed)
        self.mute.toggled.connect(self._mute_toggled)
        self.mode.currentTextChanged.connect(self._mode_changed)
        for box in self.room_size:
            box.valueChanged.connect(self._room_changed)
        self.absorption.valueChanged.connect(self._room_changed)
        self.refresh()

    # ---- settings -----------------------------------------------------------------------------

    def _restore(self) -> None:
        s = self.settings
        self.fill_devices()
        self.volume.setValue(int(float(s.value("audio/volume", 100))))
        self.engine.set_volume(self.volume.value() / 100.0)
        self.mute.setChecked(s.value("audio/muted", False) in (True, "true"))
        self.engine.set_muted(self.mute.isChecked())
        mode = str(s.value("audio/mode", "stereo"))
        self.mode.setCurrentText(mode if mode in OUTPUT_MODES else "stereo")
        self.engine.set_output_mode(self.mode.currentText())
        size = s.value("audio/room_size")
        if isinstance(size, list) and len(size) == 3:
            for box, v in zip(self.room_size, size, strict=True):
                box.setValue(float(v))
        self.absorption.setValue(int(float(s.value("audio/absorption", 20))))
        self._apply_room()

    def fill_devices(self) -> None:
        self.device.clear()
        self.device.addItem(DEFAULT_DEVICE, None)
        for d in AudioEngine.devices(refresh=True):
            self.device.addItem(f"{d.name} ({d.hostapi})", d.name)
        chosen = self.settings.value("audio/device")
        index = self.device.findData(chosen) if chosen else 0
        self.device.setCurrentIndex(max(index, 0))

    # ---- changes ------------------------------------------------------------------------------

    def _device_chosen(self, index: int) -> None:
        name = self.device.itemData(index)
        self.settings.setValue("audio/device", name or "")
        self.engine.set_device(name)
        self.refresh()

    def _volume_changed(self, value: int) -> None:
        self.engine.set_volume(value / 100.0)
        self.settings.setValue("audio/volume", value)

    def _mute_toggled(self, muted: bool) -> None:
        self.engine.set_muted(muted)
        self.settings.setValue("audio/muted", muted)

    def _mode_changed(self, mode: str) -> None:
        self.engine.set_output_mode(mode)
        self.settings.setValue("audio/mode", mode)

    def _room_changed(self) -> None:
        self._apply_room()
        self.settings.setValue("audio/room_size", [b.value() for b in self.room_size])
        self.settings.setValue("audio/absorption", self.absorption.value())

    def _apply_room(self) -> None:
        a = self.absorption.value() / 100.0
        size = tuple(b.value() for b in self.room_size)
        room = RoomSettings(size=size, absorption=(a, a, a, a, a, a))
        self.engine.set_room(room)
        self.roomChanged.emit(room)

    # ---- shown state --------------------------------------------------------------------------

    def refresh(self) -> None:
        status = self.engine.status
        if status.running and not status.silent:
            # whether the sound threads got real-time scheduling: without it a busy machine can delay them
            threads = f"; sound threads: {status.realtime}" if status.realtime else ""
            self.status.setText(f"Playing on {status.device}, "
                                f"{1000 * status.scheduled_latency:.0f} ms from collision to sound{threads}")
        else:
            self.status.setText(f"Silent: {status.reason}")
        stats = self.engine.stats()
        voices = stats.get("active_voices", 0)
        self.stats.setText(f"{voices} voices, {stats.get('underruns', 0)} underruns")

    def status_text(self) -> str:
        status = self.engine.status
        if status.running and not status.silent:
            return f"audio: {status.device}"
        return "audio: silent"
