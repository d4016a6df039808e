"""The live-input row of the Live dock: which input, a level meter, start/stop, and the
beat by hand (tap, resync). It only shows and drives an app.live.audio_input.LiveInput and
the Stage's live mode; the analysis is the engine's."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

MONITOR = "__monitor__"


class LiveBar(QGroupBox):
    def __init__(self, stage, live_input, parent=None):
        super().__init__("Live audio in", parent)
        self.stage, self.live = stage, live_input
        self.device = QComboBox()
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
        self.tap.clicked.connect(live_input.tap)
        self.resync = QPushButton("Resync")
        self.resync.setToolTip("this is a beat: move the beat's phase here")
        self.resync.clicked.connect(live_input.resync)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.device, 1)
        row.addWidget(self.start_button)
        beat = QHBoxLayout()
        beat.addWidget(self.tap)
        beat.addWidget(self.resync)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.meter)
        lay.addLayout(beat)
        lay.addWidget(self.status)
        live_input.levelChanged.connect(self._level)
        live_input.errorOccurred.connect(self.status.setText)
        live_input.stateChanged.connect(self._state)
        stage.liveChanged.connect(self._live_changed)
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
        device = self.device.currentData()
        if device == MONITOR:
            device = self.live.expose_monitor()
            if device is None:
                self.start_button.setChecked(False)
                return
            self.refresh_devices()
        if not self.stage.start_live(self.live, device):
            self.start_button.setChecked(False)

    def _level(self, peak: float, rms: float) -> None:
        self.meter.setValue(int(round(100 * min(1.0, max(0.0, peak)))))

    def _state(self, state: str) -> None:
        if state == "running":
            self.status.setText("listening")

    def _live_changed(self, on: bool) -> None:
        self.start_button.blockSignals(True)
        self.start_button.setChecked(on)
        self.start_button.setText("Stop" if on else "Start")
        self.start_button.blockSignals(False)
        if not on:
            self.meter.setValue(0)
