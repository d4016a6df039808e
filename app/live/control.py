"""Live control: OSC and MIDI in, the MIDI mapping table with MIDI-learn, and Record.

For the main window (a dock)::

    panel = ControlPanel(stage, settings, editor=show_editor,
                         styles=lambda: library.list())
    dock.setWidget(panel)
    panel.statusMessage.connect(statusBar().showMessage)
    ...
    panel.shutdown()          # on close: stops the OSC server and the MIDI thread

``stage``: the app's Stage (its ``scene``, ``show_active``, ``current_time()``);
``settings``: AppSettings (keys ``control/osc_port`` default 9000, ``control/osc_enabled``,
``control/osc_host`` default 127.0.0.1, ``control/midi_device``); ``editor``: the
ShowEditor, so live style changes land on its undo stack and a recorded take is one
undoable step that marks the show unsaved; ``styles``: a callable giving the styles that
next / previous / pick walk through when the show itself has only one (default: the
show's styles). ``midi_lister`` / ``midi_opener``: stand-ins for mido's port functions
(tests).

Signals: ``moveReceived(ControlEvent)`` (emitted on the OSC / MIDI threads, delivered
queued on the GUI thread), ``learned(Binding)``, ``midiStatus(str)``,
``recordingChanged(bool)``, ``statusMessage(str)``, ``tapped(float)`` (BPM from
``/sonolume/tap`` or a tap pad, from the second tap on: for display), ``tappedAt(float)``
(every tap's arrival, ``time.monotonic()`` on the OSC / MIDI thread: connect it to the
live beat tracker, app.live.bar.LiveBar.tap_at, so a tap counts where it was hit).

Moves are queued into the engine's :class:`~engine.control.Controller` and applied to the
stage's scene once per video frame, so they act on the next frame and a fast knob costs one
rebuild a frame. In live mode they go through the stage's live set
(:class:`engine.control.live_set.LiveSet`) on the stream's clock, style changes walk the
set's styles (a show's) or the library, and this panel's Record is off: the live input's
Record set records audio, reactivity and moves together. What each control does and how it
is recorded is in :mod:`engine.control.controller`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.control import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SPECS,
    Binding,
    ControlError,
    Controller,
    MidiInput,
    MidiMap,
    MidiRouter,
    OscServer,
)
from engine.scene import edit

log = logging.getLogger("sonolume.app.control")

FLUSH_MS = 10  # moves wait at most this long before they reach the scene (< one frame)
NO_DEVICE = "(none)"


class RecordedTake(QUndoCommand):
    """One recorded take on the show's undo stack: the automation before and after."""

    def __init__(self, stage, before, after):
        super().__init__("record take")
        self.stage, self.before, self.after = stage, before, after

    def _set(self, automation) -> None:
        if self.stage.scene is not None:
            self.stage.scene.set_automation(automation)
            self.stage.scene_edited()

    def redo(self) -> None:
        self._set(self.after)

    def undo(self) -> None:
        self._set(self.before)


class ControlPanel(QWidget):
    moveReceived = Signal(object)  # ControlEvent
    learned = Signal(object)  # Binding
    midiStatus = Signal(str)
    recordingChanged = Signal(bool)
    statusMessage = Signal(str)
    tapped = Signal(float)  # BPM from tap tempo, for display
    tappedAt = Signal(float)  # each tap's arrival (time.monotonic()), for the beat tracker

    def __init__(self, stage, settings, editor=None, styles=None, parent=None,
                 midi_lister=None, midi_opener=None):
        super().__init__(parent)
        self.stage, self.settings, self.editor = stage, settings, editor
        self._library_styles = styles
        self.controller = Controller(lambda: stage.scene, stage.current_time,
                                     palette=self._palette if styles is not None else None,
                                     apply_arrangement=self._arrangement,
                                     on_tap=self._tapped, on_tap_at=self.tappedAt.emit)
        stage.controller = self.controller  # a live set takes its moves through it too
        self.osc: OscServer | None = None
        self._midi_problem = ""
        self._take_before = None
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(FLUSH_MS)
        self._flush.timeout.connect(self.flush)
        self.moveReceived.connect(self._on_move)
        self.learned.connect(self._on_learned)
        self.midiStatus.connect(self._on_midi_status)

        # -- OSC --
        self.osc_port = QSpinBox()
        self.osc_port.setRange(1, 65535)
        self.osc_port.setValue(settings.get_int("control/osc_port", DEFAULT_PORT))
        self.osc_port.setToolTip("UDP port for OSC messages such as /sonolume/amount/pulse 0.7")
        self.osc_on = QCheckBox("Listen")
        self.osc_on.setToolTip(f"receive OSC on {self._osc_host()} (this computer only unless "
                               "the control/osc_host setting says otherwise)")
        self.osc_status = QLabel("OSC off")
        self.osc_status.setWordWrap(True)
        osc_row = QHBoxLayout()
        osc_row.addWidget(QLabel("Port:"))
        osc_row.addWidget(self.osc_port)
        osc_row.addWidget(self.osc_on)
        osc_row.addStretch(1)
        osc_box = QGroupBox("OSC")
        ol = QVBoxLayout(osc_box)
        ol.addLayout(osc_row)
        ol.addWidget(self.osc_status)

        # -- MIDI --
        try:
            mapping = MidiMap.load()
            self.map_error = ""
        except ControlError as exc:  # a broken file: say so, start empty, keep the file
            mapping = MidiMap()
            self.map_error = str(exc)
            log.warning("MIDI mappings: %s", exc)
        self.router = MidiRouter(mapping, self.moveReceived.emit, on_learned=self.learned.emit)
        self.midi = MidiInput(self.router, settings.get_str("control/midi_device", ""),
                              on_status=self.midiStatus.emit, lister=midi_lister,
                              opener=midi_opener)
        self.device = QComboBox()
        self.device.setToolTip("the MIDI controller to listen to; it reconnects by itself "
                               "when unplugged and plugged back")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_devices)
        self.midi_status = QLabel(self.map_error or "")
        self.midi_status.setWordWrap(True)
        dev_row = QHBoxLayout()
        dev_row.addWidget(self.device, 1)
        dev_row.addWidget(refresh)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["MIDI", "Control", "Argument"])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setToolTip("what each knob or pad does; change the control in place")
        self.remove_button = QPushButton("Remove mapping")
        self.remove_button.clicked.connect(self.remove_selected)

        self.learn_table = QTableWidget(len(SPECS), 3)
        self.learn_table.setHorizontalHeaderLabels(["Control", "Bound to", ""])
        self.learn_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        self.learn_table.verticalHeader().setVisible(False)
        self.learn_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.learn_buttons: dict[str, QPushButton] = {}
        for row, (name, s) in enumerate(SPECS.items()):
            item = QTableWidgetItem(name)
            item.setToolTip(f"{s.description}; recorded as {s.recorded}")
            self.learn_table.setItem(row, 0, item)
            self.learn_table.setItem(row, 1, QTableWidgetItem(""))
            b = QPushButton("Learn")
            b.setToolTip(f"click, then move a knob or hit a pad: it will drive {name}")
            b.clicked.connect(lambda _=False, n=name: self.learn(n))
            self.learn_table.setCellWidget(row, 2, b)
            self.learn_buttons[name] = b

        midi_box = QGroupBox("MIDI")
        ml = QVBoxLayout(midi_box)
        form = QFormLayout()
        form.addRow("Device:", dev_row)
        ml.addLayout(form)
        ml.addWidget(self.midi_status)
        ml.addWidget(QLabel("Mappings:"))
        ml.addWidget(self.table, 1)
        ml.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignRight)
        ml.addWidget(QLabel("MIDI-learn: click Learn beside a control, then move a knob."))
        ml.addWidget(self.learn_table, 2)

        # -- Record --
        self.record = QPushButton("● Record")
        self.record.setCheckable(True)
        self.record.setStyleSheet("QPushButton:checked { background: #b03030; color: white; }")
        self.record.setToolTip("write every move into the show at the time it happens "
                               "(save the show to keep it; render it to get the set)")
        self.record.toggled.connect(self.set_recording)
        self.record_note = QLabel("")
        self.record_note.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.record)
        layout.addWidget(self.record_note)
        layout.addWidget(osc_box)
        layout.addWidget(midi_box, 1)

        if hasattr(stage, "liveChanged"):
            stage.liveStarting.connect(lambda: self.set_recording(False))
            stage.liveChanged.connect(self._live_changed)

        self.refresh_table()
        self.refresh_devices()
        self.device.currentTextChanged.connect(self._device_chosen)
        self.osc_on.toggled.connect(self._osc_toggled)
        self.osc_port.editingFinished.connect(self._port_changed)
        if settings.get_int("control/osc_enabled", 0):
            self.osc_on.setChecked(True)
        self.midi.start()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- moves -------------------------------------------------------------------------------
    def _on_move(self, event) -> None:
        self.controller.submit(event)
        if not self._flush.isActive():
            self._flush.start()

    def _palette(self):
        """What next / previous / pick walk through: live, the set's styles (a show's)
        when it has two or more; otherwise the library."""
        live = getattr(self.stage, "live_set", None)
        if live is not None and len(live.palette) >= 2:
            return live.palette
        return self._library_styles()

    def flush(self) -> set[str]:
        """Apply the queued moves now (normally FLUSH_MS after the first one arrives); in
        live mode through the live set, which fixes the beats a change lands on first."""
        live = getattr(self.stage, "live_set", None)
        if live is not None:
            changed = live.flush()
            if changed:
                self.stage._dirty = True
            return changed
        changed = self.controller.flush()
        if "automation" in changed and "arrangement" not in changed and \
                not self.stage.playing:
            self.stage.scene_edited()  # a paused preview redraws; playing, the next tick does
        return changed

    def _arrangement(self, arrangement, text: str) -> None:
        """A live style change: through the show's undo stack; without a show, the scene
        becomes one (keeping its lanes) so it can be saved."""
        stage, editor = self.stage, self.editor
        if getattr(stage, "live_set", None) is not None:  # live: the set's own scene
            arrangement.apply(stage.scene)
            stage._dirty = True
            self.statusMessage.emit(f"live: {text}")
            return
        if not stage.show_active:
            self._start_show(arrangement)
        elif editor is not None:
            editor.push(f"live: {text}", arrangement)
        else:
            arrangement.apply(stage.scene)
            stage.scene_edited()
        self.statusMessage.emit(f"live: {text}")

    def _start_show(self, arrangement=None) -> None:
        stage = self.stage
        automation = stage.scene.automation
        stage.start_show(arrangement or edit.Arrangement.of(stage.scene))
        stage.scene.set_automation(automation)
        if self.editor is not None:
            self.editor.changed.emit()
            self.editor.titleChanged.emit(self.editor.title())

    def _tapped(self, bpm: float) -> None:
        self.tapped.emit(bpm)
        self.statusMessage.emit(f"tap tempo: {bpm:.1f} BPM")

    # -- record ------------------------------------------------------------------------------
    def set_recording(self, on: bool) -> None:
        on = bool(on)
        if on and self.stage.scene is None:
            self.record_note.setText("Choose a style or open a show first.")
            self.record.setChecked(False)
            return
        if on == self.controller.recording:
            return
        self.flush()
        if on:
            if not self.stage.show_active:
                self._start_show()
            self._take_before = (self.stage.scene, self.stage.scene.automation)
            self.controller.recording = True
            self.record_note.setText("Recording: moves are written into the show.")
        else:
            self.controller.recording = False
            scene = self.stage.scene
            (taken_on, before), self._take_before = self._take_before or (None, None), None
            if self.editor is not None and scene is not None and scene is taken_on \
                    and scene.automation != before:
                self.editor.undo.push(RecordedTake(self.stage, before, scene.automation))
            self.record_note.setText("Recorded into the show: save it to keep the take.")
        if self.record.isChecked() != on:
            self.record.setChecked(on)
        self.recordingChanged.emit(on)

    def _live_changed(self, on: bool) -> None:
        """Live, a set is recorded with the live input's Record (audio, steps and moves);
        this one records moves on a track."""
        if on and self.controller.recording:
            self.set_recording(False)
        self.record.setEnabled(not on)
        self.record.setToolTip("live: use Record set in the live input box" if on else
                               "write every move into the show at the time it happens "
                               "(save the show to keep it; render it to get the set)")

    # -- OSC ---------------------------------------------------------------------------------
    def _osc_host(self) -> str:
        return self.settings.get_str("control/osc_host", DEFAULT_HOST) or DEFAULT_HOST

    def _osc_toggled(self, on: bool) -> None:
        self.settings.set("control/osc_enabled", 1 if on else 0)
        self.start_osc() if on else self.stop_osc()

    def _port_changed(self) -> None:
        self.settings.set("control/osc_port", self.osc_port.value())
        if self.osc is not None and self.osc.requested_port != self.osc_port.value():
            self.stop_osc()
            self.start_osc()

    def start_osc(self) -> bool:
        self.stop_osc()
        try:
            self.osc = OscServer(self.moveReceived.emit, port=self.osc_port.value(),
                                 host=self._osc_host()).start()
        except ControlError as exc:
            self.osc = None
            self.osc_status.setText(str(exc))
            self.statusMessage.emit(str(exc))
            return False
        self.osc_status.setText(f"listening on {self.osc.host}:{self.osc.port} "
                                "(addresses under /sonolume/)")
        return True

    def stop_osc(self) -> None:
        if self.osc is not None:
            self.osc.stop()
            self.osc = None
        self.osc_status.setText("OSC off")

    # -- MIDI --------------------------------------------------------------------------------
    def refresh_devices(self) -> None:
        try:
            names = self.midi.ports()
            self._midi_problem = ""
        except ControlError as exc:
            names = []
            self._midi_problem = f"MIDI unavailable: {exc}"
            self.midi_status.setText(self._midi_problem)
        chosen = self.settings.get_str("control/midi_device", "")
        self.device.blockSignals(True)
        self.device.clear()
        self.device.addItem(NO_DEVICE)
        self.device.addItems(names)
        if chosen and chosen not in names:
            self.device.addItem(chosen)  # remembered, not plugged in now
        self.device.setCurrentText(chosen or NO_DEVICE)
        self.device.blockSignals(False)

    def _device_chosen(self, name: str) -> None:
        name = "" if name == NO_DEVICE else name
        self.settings.set("control/midi_device", name)
        self.midi.set_device(name)

    def _on_midi_status(self, text: str) -> None:
        if text == "no device chosen" and self._midi_problem:
            text = self._midi_problem  # say why there is nothing to choose
        else:
            text = f"MIDI: {text}"
        self.midi_status.setText(text)

    def learn(self, control: str) -> None:
        """Arm MIDI-learn for ``control`` (again: cancel)."""
        if self.router.armed == control:
            self.router.disarm()
            self._learn_buttons_idle()
            return
        self._learn_buttons_idle()
        arg = 1 if control == "style.pick" else None
        self.router.arm(control, arg)
        self.learn_buttons[control].setText("move a knob…")
        self.statusMessage.emit(f"MIDI-learn: move a knob or hit a pad for {control}")

    def _learn_buttons_idle(self) -> None:
        for b in self.learn_buttons.values():
            b.setText("Learn")

    def _on_learned(self, binding: Binding) -> None:
        self._learn_buttons_idle()
        self.save_mappings()
        self.refresh_table()
        self.statusMessage.emit(f"MIDI: {binding.describe()} -> {binding.control}")

    def save_mappings(self) -> bool:
        self.router.mapping.device = self.settings.get_str("control/midi_device", "")
        try:
            self.router.mapping.save()
        except ControlError as exc:
            self.statusMessage.emit(str(exc))
            return False
        self.map_error = ""
        return True

    def refresh_table(self) -> None:
        bindings = self.router.mapping.bindings
        self.table.setRowCount(len(bindings))
        for row, b in enumerate(bindings):
            src = QTableWidgetItem(b.describe())
            src.setFlags(src.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, src)
            combo = QComboBox()
            combo.addItems(list(SPECS))
            combo.setCurrentText(b.control)
            combo.currentTextChanged.connect(lambda name, r=row: self.change_control(r, name))
            self.table.setCellWidget(row, 1, combo)
            spin = QSpinBox()
            spin.setRange(0, 128)
            spin.setSpecialValueText("-")
            spin.setValue(b.arg or 0)
            spin.setEnabled(SPECS[b.control].takes_arg)
            spin.setToolTip("style.pick: the style's number; a transition: its beats "
                            "(- = 2)")
            spin.valueChanged.connect(lambda v, r=row: self.change_arg(r, v))
            self.table.setCellWidget(row, 2, spin)
        bound: dict[str, list[str]] = {}
        for b in bindings:
            bound.setdefault(b.control, []).append(b.describe())
        for row, name in enumerate(SPECS):
            self.learn_table.item(row, 1).setText(", ".join(bound.get(name, [])))

    def change_control(self, row: int, control: str) -> None:
        b = self.router.mapping.bindings[row]
        arg = b.arg if SPECS[control].takes_arg else None
        if control == "style.pick" and arg is None:
            arg = 1
        self.router.mapping.set_control(row, control, arg)
        self.save_mappings()
        self.refresh_table()

    def change_arg(self, row: int, value: int) -> None:
        b = self.router.mapping.bindings[row]
        self.router.mapping.set_control(row, b.control, value or None)
        self.save_mappings()

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for row in rows:
            self.router.mapping.remove(row)
        if rows:
            self.save_mappings()
            self.refresh_table()

    # -- end ---------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._flush.stop()
        self.stop_osc()
        self.midi.stop()
