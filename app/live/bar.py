"""The live-input row of the Live dock: which input, a level meter, start/stop, the beat
by hand (tap, resync), the previous / next style and Record set. It only shows and drives
an app.live.audio_input.LiveInput and the Stage's live mode; the analysis, the set and its
recording are the engine's (engine.control.live_set).

Taps are timed when they happen, not when the GUI thread gets to them: :meth:`LiveBar.tap_at`
takes a ``time.monotonic()`` instant (a button click's, or an OSC / MIDI tap's arrival,
which the control panel hands on) and puts it on the stream's clock with an
:class:`engine.control.StreamClock` tied to every block the input reads.

Record set records what the live input hears (a FLAC), every features step and every
control move into ``<shows folder>/<name>.json``; stopping it (or stopping the input)
saves the show, leaves live mode and opens it like any show, ready for File > Export.

The device list is the input's (LiveInput.devices), shown again whenever it says it changed
(devicesChanged), when the list is opened and on Start: after an audio server restart the
input's list is the new server's, which no signal announces but the reconnect's."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

MONITOR = "__monitor__"
LIST_WAIT_S = 5.0  # a new monitor input appears in Qt's device list within this


def set_name_now() -> str:
    return time.strftime("live set %Y-%m-%d %H-%M-%S")


class DeviceCombo(QComboBox):
    """A combo box that says when its list is about to open (``opening``), for the inputs
    to be read again first."""

    opening = Signal()

    def showPopup(self) -> None:  # Qt's name
        self.opening.emit()
        super().showPopup()


class LiveBar(QGroupBox):
    moveRequested = Signal(object)  # a ControlEvent (style.previous / style.next)

    def __init__(self, stage, live_input, shows_folder=None, parent=None):
        from engine.control import StreamClock

        super().__init__("Live audio in", parent)
        self.stage, self.live = stage, live_input
        self.stream_clock = StreamClock()
        self.shows_folder = shows_folder  # () -> Path: where recorded sets are saved
        self.device = DeviceCombo()
        self.device.opening.connect(self.refresh_devices)
        self.device.setToolTip("a microphone, a line in, or what this computer plays")
        self.start_button = QPushButton("Start")
        self.start_button.setCheckable(True)
        self.start_button.setToolTip("let the live sound drive the preview instead of the "
                                     "track (the style and reactivity stay as chosen)")
        self.start_button.toggled.connect(self._toggle)
        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setMaximumHeight(10)
        self.tap = QPushButton("Tap")
        self.tap.setToolTip("tap the beat: two or more taps set tempo and phase")
        self.tap.clicked.connect(lambda: self.tap_at(time.monotonic()))
        self.resync = QPushButton("Resync")
        self.resync.setToolTip("this is a beat: move the beat's phase here")
        self.resync.clicked.connect(lambda: self.resync_at(time.monotonic()))
        self.previous_style = QPushButton("◀ Style")
        self.previous_style.setToolTip("the previous style, from the next beat (as "
                                       "/sonolume/style/previous)")
        self.previous_style.clicked.connect(lambda: self._move("style.previous"))
        self.next_style = QPushButton("Style ▶")
        self.next_style.setToolTip("the next style, from the next beat (as "
                                   "/sonolume/style/next)")
        self.next_style.clicked.connect(lambda: self._move("style.next"))
        for b in (self.previous_style, self.next_style):
            b.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.set_name = QLineEdit()
        self.set_name.setPlaceholderText("set name (default: the date and time)")
        self.set_name.setToolTip("the recorded set is saved under this name in the shows "
                                 "folder")
        self.record = QPushButton("● Record set")
        self.record.setCheckable(True)
        self.record.setEnabled(False)
        self.record.setStyleSheet("QPushButton:checked { background: #b03030; color: white; }")
        self.record.setToolTip("record what the input hears, the live reactivity and every "
                               "control move; stop to save it as a show that renders the "
                               "same frames")
        self.record.toggled.connect(self._record_toggled)
        self.elapsed = QLabel("")
        self._clock = QTimer(self)
        self._clock.setInterval(200)
        self._clock.timeout.connect(self._show_elapsed)
        row = QHBoxLayout()
        row.addWidget(self.device, 1)
        row.addWidget(self.start_button)
        beat = QHBoxLayout()
        beat.addWidget(self.tap)
        beat.addWidget(self.resync)
        beat.addStretch(1)
        beat.addWidget(self.previous_style)
        beat.addWidget(self.next_style)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.meter)
        lay.addLayout(beat)
        rec = QHBoxLayout()
        rec.addWidget(self.set_name, 1)
        rec.addWidget(self.record)
        rec.addWidget(self.elapsed)
        lay.addLayout(rec)
        lay.addWidget(self.status)
        live_input.levelChanged.connect(self._level)
        live_input.errorOccurred.connect(self.status.setText)
        live_input.stateChanged.connect(self._state)
        if hasattr(live_input, "stepsReady"):
            live_input.stepsReady.connect(self._block_read)
        if hasattr(live_input, "devicesChanged"):
            live_input.devicesChanged.connect(self._devices_changed)
        stage.liveChanged.connect(self._live_changed)
        stage.liveRecordingChanged.connect(self._recording_changed)
        stage.statusMessage.connect(self._stage_message)
        self.refresh_devices()

    def _devices_changed(self) -> None:
        if not self.device.view().isVisible():  # an open list is not changed under the user
            self.refresh_devices()

    def refresh_devices(self) -> None:
        current = self.device.currentData()
        self.device.clear()
        for d in self.live.devices():
            self.device.addItem(d.description + (" (default)" if d.is_default else ""), d.id)
        self.device.addItem("What this computer plays (monitor)", MONITOR)
        i = self.device.findData(current)
        self.device.setCurrentIndex(max(0, i))

    def _toggle(self, on: bool) -> None:
        if not on:
            self.stage.stop_live()
            return
        device = self.device.currentData()  # what was picked, even if gone meanwhile
        self.refresh_devices()
        if device == MONITOR:
            device = self.live.expose_monitor()
            if device is None:
                self.start_button.setChecked(False)
                return
            if not any(d.id == device for d in self.live.devices()):
                # The audio server made the input; Qt lists it a moment later.
                self.status.setText("opening what this computer plays…")
                self._start_when_listed(device, time.monotonic() + LIST_WAIT_S)
                return
            self.refresh_devices()
        if not self.stage.start_live(self.live, device):
            self.start_button.setChecked(False)

    def _start_when_listed(self, device: str, until: float) -> None:
        if not self.start_button.isChecked():
            return  # stopped meanwhile
        if any(d.id == device for d in self.live.devices()) or time.monotonic() > until:
            self.refresh_devices()
            if not self.stage.start_live(self.live, device):
                self.start_button.setChecked(False)
            return
        QTimer.singleShot(100, lambda: self._start_when_listed(device, until))

    def _level(self, peak: float, rms: float) -> None:
        self.meter.setValue(int(round(100 * min(1.0, max(0.0, peak)))))

    def _state(self, state: str) -> None:
        if state == "running":
            self.status.setText("listening")
            self.stream_clock.reset()  # a new stream, or the device reopened

    # -- the beat by hand ----------------------------------------------------------------
    def _block_read(self, _block, _steps) -> None:
        """The input read a block: the stream's clock against the monotonic one at the
        moment the capture thread read it (the GUI thread may get the block later), the
        block's end being the stream's time then. An input without that stamp: now."""
        read_at = getattr(self.live, "read_at", 0.0) or None
        self.stream_clock.note(self.live.stream_time(), read_at)

    def tap_at(self, at: float) -> None:
        """A tap that happened at ``at`` (time.monotonic()): the tracker gets it there,
        however late the GUI thread is to hand it on."""
        an = getattr(self.live, "analyzer", None)
        if an is not None and getattr(self.live, "state", "running") != "stopped":
            an.tap(self.stream_clock.stream_at(at))

    def resync_at(self, at: float) -> None:
        """A beat is at ``at`` (time.monotonic()): the grid moves there."""
        an = getattr(self.live, "analyzer", None)
        if an is not None and getattr(self.live, "state", "running") != "stopped":
            an.resync(self.stream_clock.stream_at(at))

    def _move(self, control: str) -> None:
        from engine.control import ControlEvent

        self.moveRequested.emit(ControlEvent(control, source="live dock"))

    def _live_changed(self, on: bool) -> None:
        self.start_button.blockSignals(True)
        self.start_button.setChecked(on)
        self.start_button.setText("Stop" if on else "Start")
        self.start_button.blockSignals(False)
        self.record.setEnabled(on)
        for b in (self.previous_style, self.next_style):
            b.setEnabled(on)
        if not on:
            self.meter.setValue(0)
            self._recording_changed(False)

    # -- recording the set ---------------------------------------------------------------
    def set_path(self) -> Path:
        from engine.control.live_set import set_files
        from engine.paths import shows_dir
        from engine.scene.show import _slug

        folder = Path(self.shows_folder()) if self.shows_folder is not None else shows_dir()
        name = _slug(self.set_name.text().strip() or set_name_now())
        path, n = folder / f"{name}.json", 1
        while any(p.exists() for p in set_files(path)):  # never over an earlier set
            n += 1
            path = folder / f"{name}-{n}.json"
        return path

    def _record_toggled(self, on: bool) -> None:
        if on:
            path = self.set_path()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.status.setText(f"cannot record the set: {path.parent}: "
                                    f"{exc.strerror or exc}")
                self._recording_changed(False)
                return
            if not self.stage.start_live_recording(path):
                self._recording_changed(False)
            return
        if self.stage.live_recording:
            self.stage.stop_live()  # saves the set, leaves live mode; the show opens

    def _recording_changed(self, on: bool) -> None:
        self.record.blockSignals(True)
        self.record.setChecked(on)
        self.record.setText("■ Stop and save" if on else "● Record set")
        self.record.blockSignals(False)
        self.set_name.setEnabled(not on)
        if on:
            self._clock.start()
            self._show_elapsed()
        else:
            self._clock.stop()
            self.elapsed.setText("")

    def _show_elapsed(self) -> None:
        live = self.stage.live_set
        t = live.elapsed if live is not None else 0.0
        self.elapsed.setText(f"● {int(t) // 60}:{int(t) % 60:02d}.{int(t * 10) % 10}")

    def _stage_message(self, text: str) -> None:
        if text.startswith(("live set", "cannot record", "recording the live set")):
            self.status.setText(text)
