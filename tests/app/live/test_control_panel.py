"""The live-control panel: MIDI-learn by clicking Learn and moving a knob, the editable
mapping table, OSC into the preview's scene, and Record writing a take into the show
(issue 12)."""

from __future__ import annotations

import json
import socket
import threading

import mido
import pytest
from pythonosc.udp_client import SimpleUDPClient

from engine.control import ControlEvent

BUNDLED = "seeded-pattern-01-ember-rings"


class Ports:
    """The system's MIDI port list with one controller plugged in; its callback is called
    from another thread, as rtmidi does."""

    def __init__(self, names=("Fake Knobs:Fake Knobs MIDI 1 24:0",)):
        self.names = list(names)
        self.callbacks = []

    def list(self):
        return list(self.names)

    def open(self, name, callback):
        self.callbacks.append(callback)

        class Port:
            def close(self):
                pass

        return Port()

    def send(self, msg):
        t = threading.Thread(target=self.callbacks[-1], args=(msg,))
        t.start()
        t.join()


@pytest.fixture
def panel(window, qtbot, tmp_path, monkeypatch):
    from app.live.control import ControlPanel

    monkeypatch.setenv("SONOLUME_CONFIG_DIR", str(tmp_path / "config"))
    ports = Ports()
    window.stage.set_style(window.library.get(BUNDLED))
    p = ControlPanel(window.stage, window.settings, editor=window.show_editor,
                     styles=lambda: window.library.list(), midi_lister=ports.list,
                     midi_opener=ports.open)
    p.ports = ports
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()


def test_midi_learn_click_a_control_move_a_knob(panel, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    stage = panel.stage
    assert panel.device.findText("Fake Knobs:Fake Knobs MIDI 1 24:0") >= 0
    panel.device.setCurrentText("Fake Knobs:Fake Knobs MIDI 1 24:0")
    qtbot.waitUntil(lambda: bool(panel.ports.callbacks), timeout=5000)
    qtbot.waitUntil(lambda: "connected" in panel.midi_status.text(), timeout=5000)

    qtbot.mouseClick(panel.learn_buttons["amount.pulse"], Qt.MouseButton.LeftButton)
    assert panel.learn_buttons["amount.pulse"].text() == "move a knob…"
    with qtbot.waitSignal(panel.learned, timeout=5000):
        panel.ports.send(mido.Message("control_change", channel=0, control=21, value=10))
    assert panel.learn_buttons["amount.pulse"].text() == "Learn"
    assert panel.table.rowCount() == 1 and panel.table.item(0, 0).text() == "CC 21 ch 1"
    assert panel.table.cellWidget(0, 1).currentText() == "amount.pulse"
    row = list(panel.learn_buttons).index("amount.pulse")
    assert panel.learn_table.item(row, 1).text() == "CC 21 ch 1"
    saved = json.loads((tmp_path / "config" / "midi-map.json").read_text())
    assert saved["device"] == "Fake Knobs:Fake Knobs MIDI 1 24:0"
    assert saved["bindings"] == [{"kind": "cc", "channel": 0, "number": 21,
                                  "control": "amount.pulse"}]

    # The knob now drives the control on the next frame.
    panel.ports.send(mido.Message("control_change", channel=0, control=21, value=127))
    qtbot.waitUntil(lambda: "amount.pulse" in stage.scene.automation, timeout=5000)
    assert stage.scene.automation.value("amount.pulse", 0.0) == pytest.approx(2.0)

    # Edit the table: the same knob to hue, then remove it.
    panel.table.cellWidget(0, 1).setCurrentText("hue")
    assert panel.router.mapping.bindings[0].control == "hue"
    assert json.loads((tmp_path / "config" / "midi-map.json").read_text())[
        "bindings"][0]["control"] == "hue"
    panel.ports.send(mido.Message("control_change", channel=0, control=21, value=127))
    qtbot.waitUntil(lambda: stage.scene.automation.value("hue", 0.0) == pytest.approx(1.0),
                    timeout=5000)
    panel.table.selectRow(0)
    panel.remove_selected()
    assert panel.table.rowCount() == 0 and panel.router.mapping.bindings == []

    # Unplugged and back: the panel says so and reconnects.
    panel.ports.names.clear()
    panel.midi.poll()
    qtbot.waitUntil(lambda: "unplugged" in panel.midi_status.text(), timeout=5000)
    panel.ports.names.append("Fake Knobs:Fake Knobs MIDI 1 28:0")
    panel.midi.poll()
    qtbot.waitUntil(lambda: "connected" in panel.midi_status.text(), timeout=5000)
    assert panel.midi.connects == 2


def test_osc_moves_reach_the_preview(panel, qtbot, udp_port):
    port = udp_port
    panel.osc_port.setValue(port)
    panel.osc_on.setChecked(True)
    assert panel.osc is not None and f"127.0.0.1:{port}" in panel.osc_status.text()
    assert panel.settings.get_int("control/osc_enabled", 0) == 1
    client = SimpleUDPClient("127.0.0.1", port)
    client.send_message("/sonolume/hue", 0.3)
    client.send_message("/sonolume/blackout", 1)
    client.send_message("/sonolume/nope", 1)  # logged, ignored
    scene = panel.stage.scene
    qtbot.waitUntil(lambda: scene.automation.value("hue", 0.0) == pytest.approx(0.3),
                    timeout=5000)
    qtbot.waitUntil(lambda: panel.stage.frame_at(0.0).params.brightness == 0.0, timeout=5000)
    with qtbot.waitSignal(panel.tapped, timeout=5000) as tap:
        for _ in range(3):
            client.send_message("/sonolume/tap", [])
            qtbot.wait(100)
    assert 60 < tap.args[0] < 2000
    # a second panel on the same port says why it cannot listen
    panel.osc_on.setChecked(False)
    assert panel.osc is None and panel.osc_status.text() == "OSC off"
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", port))
    try:
        panel.osc_on.setChecked(True)
        assert panel.osc is None and "cannot listen" in panel.osc_status.text()
    finally:
        blocker.close()


def test_record_a_take_into_the_show_and_save_it(panel, qtbot, window, track, tmp_path):
    from PySide6.QtCore import Qt

    from engine.scene.show import read_show

    stage, editor = window.stage, window.show_editor
    with qtbot.waitSignal(stage.trackReady, timeout=90_000):
        stage.load_track(str(track))
    assert not stage.show_active
    qtbot.mouseClick(panel.record, Qt.MouseButton.LeftButton)
    assert panel.controller.recording and stage.show_active  # the scene became a show
    stage.seek(0.5)
    panel.moveReceived.emit(ControlEvent("hue", 0.4, source="test"))
    qtbot.waitUntil(lambda: "hue" in stage.scene.automation, timeout=5000)
    stage.seek(1.0)
    panel.moveReceived.emit(ControlEvent("style.next", source="test"))
    qtbot.waitUntil(lambda: len(stage.scene.segments) == 2, timeout=5000)
    assert stage.scene.boundaries()[1] > 1.0
    panel.record.setChecked(False)
    assert not panel.controller.recording
    assert editor.undo.text(editor.undo.index() - 1) == "record take"
    assert not editor.undo.isClean() and editor.title().endswith("*")
    lane = stage.scene.automation.lane("hue")
    assert lane.value_at(0.5) == pytest.approx(0.4) and lane.value_at(0.49) == 0.0
    path = editor.save(tmp_path / "set.json")
    assert path is not None
    show = read_show(path)
    assert show.automation == stage.scene.automation and len(show.segments) == 2
    editor.undo.undo()  # the take comes out in one step
    assert "hue" not in stage.scene.automation
