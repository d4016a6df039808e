"""Live mode in the main window: the library follows the live style (without feeding the
change back), the Live dock comes forward when live input starts, the transport says what
is true live, and OSC taps reach the beat tracker at their arrival time.

The window's LiveInput is the app's own class with only its capture device stood in: the
blocks of a real recording (the demo track) go through the engine's analysis and out of
LiveInput's signals as a device's would (the device itself is tested against a real
PulseAudio server in test_live_input.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from app.live.audio_input import InputDevice, LiveInput

DEMO = Path(__file__).resolve().parents[3] / "resources" / "audio" / "demo.ogg"
DEVICE = "Demo track (fed)"


class FedLiveInput(LiveInput):
    """LiveInput with its device stood in: ``feed`` hands blocks over as a capture would."""

    def devices(self):
        return [InputDevice("fed", DEVICE, True, self.sr, 2)]

    def start(self, device=None) -> bool:
        from engine.audio.live import LiveAnalyzer

        self.stop()
        self.device = self.devices()[0]
        self.analyzer = LiveAnalyzer(self.sr, 2)
        self._set_state("running")
        return True

    def feed(self, audio, block: int = 1024) -> None:
        for i in range(0, len(audio), block):
            b = np.ascontiguousarray(audio[i:i + block])
            self.stepsReady.emit(b, self.analyzer.push(b))


@pytest.fixture(scope="module")
def demo():
    import soundfile as sf

    y, sr = sf.read(str(DEMO), dtype="float32", always_2d=True)
    return y, sr


@pytest.fixture
def live_window(qtbot, app_env, dialogs, monkeypatch, demo):
    import app.main
    from app.settings import AppSettings

    monkeypatch.setattr(FedLiveInput, "sr", demo[1], raising=False)
    monkeypatch.setattr(app.main, "LiveInput", FedLiveInput)
    w = app.main.MainWindow(AppSettings())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.library_panel.select(w.library_panel.visible_ids()[0])
    yield w
    dialogs.answers["confirm"] = [True]
    w.close()


def feed(w, demo, start: float, seconds: float) -> None:
    y, sr = demo
    w.live_input.feed(y[int(start * sr): int((start + seconds) * sr)])


def osc(w, port: int) -> SimpleUDPClient:
    panel = w.control_panel
    panel.osc_port.setValue(port)
    panel.osc_on.setChecked(True)
    assert panel.osc is not None
    return SimpleUDPClient("127.0.0.1", panel.osc.port)


def drawn_id(w) -> str:
    ls = w.stage.live_set
    return ls.scene.styles[ls.scene.frame_at(ls.now()).style].id


def test_library_follows_the_live_style_without_feeding_it_back(live_window, qtbot, demo,
                                                                tmp_path, udp_port):
    w = live_window
    lp, stage = w.library_panel, w.stage
    first = lp.current_id()
    assert stage.start_live(w.live_input)
    feed(w, demo, 4.0, 2.0)
    ls = stage.live_set
    client = osc(w, udp_port)
    t = 6.0

    def lands(send, n_segments):
        """Send a move, play on until it lands; the library selects what is drawn."""
        nonlocal t
        send()
        qtbot.waitUntil(lambda: len(ls.scene.segments) == n_segments, timeout=5000)
        target = ls.scene.styles[ls.scene.segments[-1].style].id
        assert lp.current_id() != target  # not before the beat it lands on
        while ls.now() < ls.scene.boundaries()[-1] + 0.05:
            feed(w, demo, t, 0.25)
            t += 0.25
        qtbot.waitUntil(lambda: lp.current_id() == target, timeout=2000)
        assert drawn_id(w) == target or ls.scene.frame_at(ls.now()).mix < 0.5
        return target

    # OSC: the next style lands on a beat; the library selects it and nothing more happens
    # to the set (a selection fed back would cut to it again: one segment, or three).
    second = lands(lambda: client.send_message("/sonolume/style/next", []), 2)
    assert second != first
    qtbot.wait(300)
    assert len(ls.scene.segments) == 2 and stage.shown_style.id == first
    assert lp.grid.visualRect(lp.grid.currentIndex()).intersects(lp.grid.viewport().rect())
    # The Live dock's own button, then a crossfade scheduled over two beats: the library
    # follows the incoming style from the beat the transition starts on.
    third = lands(w.live_bar.next_style.click, 3)
    fourth = lands(lambda: client.send_message("/sonolume/transition/crossfade", 2), 4)
    assert len({first, second, third}) == 3 and fourth != third
    assert ls.scene.windows() and ls.scene.windows()[-1].transition.kind == "crossfade"
    # While a set records, a selection fed back would be refused with a message.
    w.live_bar.shows_folder = lambda: tmp_path / "shows"
    w.live_bar.record.click()
    assert stage.live_recording
    ls = stage.live_set
    n = len(ls.scene.segments)
    # the take starts with the style on screen (the outgoing one before mid-crossfade)
    qtbot.waitUntil(lambda: lp.current_id() == ls.scene.styles[ls.scene.segments[0].style].id,
                    timeout=2000)
    lands(lambda: client.send_message("/sonolume/style/next", []), n + 1)
    qtbot.wait(300)
    assert len(ls.scene.segments) == n + 1
    assert "while a set records" not in w.live_bar.status.text()
    assert "while a set records" not in w.statusBar().currentMessage()
    w.live_bar.record.click()  # stop and save: live ends, the set opens as a show
    qtbot.waitUntil(lambda: not stage.live_active, timeout=10_000)
    assert lp.current_id() == stage.shown_style.id == first  # what the preview shows again


def test_a_library_click_while_live_still_acts(live_window, qtbot, demo):
    w = live_window
    lp, stage = w.library_panel, w.stage
    first = lp.current_id()
    assert stage.start_live(w.live_input)
    assert w.status_path.text() == f"style: {lp.current_style().name} (live)"
    feed(w, demo, 4.0, 2.0)
    w.live_bar.next_style.click()
    ls = stage.live_set
    qtbot.waitUntil(lambda: len(ls.scene.segments) == 2, timeout=5000)
    t = 6.0
    while ls.now() < ls.scene.boundaries()[-1] + 0.05:
        feed(w, demo, t, 0.25)
        t += 0.25
    qtbot.waitUntil(lambda: lp.current_id() != first, timeout=2000)
    assert w.status_path.text() == f"style: {lp.current_style().name} (live)"
    lp.select(first)  # the user clicks the style shown before: the set shows it
    feed(w, demo, t, 0.25)
    assert drawn_id(w) == first and lp.current_id() == first
    stage.stop_live()
    assert w.status_path.text() == f"style: {lp.current_style().name}"


def current_tab(w, dock) -> str:
    """The title of the dock in front of ``dock``'s tab group."""
    group = [dock, *w.tabifiedDockWidgets(dock)]
    front = [d.windowTitle() for d in group if not d.visibleRegion().isEmpty()]
    assert len(front) == 1, front
    return front[0]


def test_the_live_dock_comes_forward_when_live_starts(live_window, qtbot, app_env, demo):
    w = live_window
    live = w.control_dock.windowTitle()
    assert current_tab(w, w.control_dock) == w.train_dock.windowTitle()
    # Started from the dock's own button while another tab of the group is in front (as
    # from a script or the View menu's shortcut): the dock comes forward.
    assert w.live_bar.device.currentText() == f"{DEVICE} (default)"
    w.live_bar.start_button.click()
    assert w.stage.live_active
    qtbot.waitUntil(lambda: current_tab(w, w.control_dock) == live, timeout=2000)
    assert not w.play_action.isEnabled() and not w.load_action.isEnabled()
    w.reactivity_dock.raise_()  # the user looks elsewhere while live: that stays
    feed(w, demo, 4.0, 1.0)
    qtbot.wait(300)
    assert current_tab(w, w.control_dock) == w.reactivity_dock.windowTitle()
    w.stage.stop_live()
    assert w.play_action.isEnabled() and w.load_action.isEnabled()
    # View > Live input (Ctrl+L) brings it forward too.
    w.train_dock.raise_()
    action = next(a for a in w.actions() if a.shortcut().toString() == "Ctrl+L")
    action.trigger()
    assert current_tab(w, w.control_dock) == live
    # The saved layout wins at start-up: the tab in front when the app closed.
    w.reactivity_dock.raise_()
    w.close()
    from app.main import MainWindow
    from app.settings import AppSettings

    again = MainWindow(AppSettings())
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    try:
        assert current_tab(again, again.control_dock) == again.reactivity_dock.windowTitle()
    finally:
        again.close()


def test_the_transport_says_what_is_true_live(live_window, qtbot, demo, tmp_path):
    w = live_window
    st = w.stage
    lt = w.live_transport
    assert st.track_label.text() == "no track loaded" and st.play_button.isVisible()
    assert st.start_live(w.live_input)
    feed(w, demo, 2.0, 10.0)
    lt.refresh()
    text = lt.shown
    assert lt.label.isVisible() and "no track" not in text
    assert text.startswith("LIVE · ") and text.endswith(f"0:10 elapsed · {DEVICE}"), text
    tempo = w.live_input.analyzer.tempo
    assert tempo > 0 and f"{tempo:.1f} BPM" in text
    # What cannot work on a stream is absent: play/pause, load, the track's time, seeking.
    show_panel = w.show_panel
    for widget in (st.play_button, st.load_button, st.time_label, st.track_label,
                   st.timeline, show_panel):
        assert widget.isHidden()
    w.live_bar.shows_folder = lambda: tmp_path / "shows"
    w.live_bar.set_name.setText("transport set")
    w.live_bar.record.click()
    feed(w, demo, 12.0, 2.0)
    lt.refresh()
    assert re.match(r"LIVE · ● REC 0:0[12] · ", lt.shown), lt.shown
    assert "color:#e04848'>● REC" in lt.label.text()
    assert "transport-set.json" in lt.label.toolTip()
    w.live_bar.record.click()  # stop and save
    qtbot.waitUntil(lambda: not st.live_active, timeout=10_000)
    assert not lt.label.isVisible()
    for widget in (st.play_button, st.load_button, st.time_label, st.track_label,
                   st.timeline, show_panel):
        assert not widget.isHidden()


def test_live_transport_wording():
    from app.stage.transport import live_html, live_text

    assert live_text("Mic", 0.0, False, 5.2) == "LIVE · finding the beat · 0:05 elapsed · Mic"
    assert live_text("Mic <1>", 100.04, True, 3725, "lost", 61.0) == \
        "LIVE · ● REC 1:01 · input lost · tapped 100.0 BPM · 1:02:05 elapsed · Mic <1>"
    assert live_html("LIVE · ● REC 1:01 · Mic <1>") == \
        "LIVE · <span style='color:#e04848'>● REC 1:01</span> · Mic &lt;1&gt;"


def test_osc_taps_reach_the_tracker_at_their_arrival(live_window, qtbot, demo, udp_port):
    """Four taps sent 0.3 s apart while the GUI thread is busy: it gets them all at once,
    late, and the tracker still has them 0.3 s apart (timed when processed, they would
    all fall on one instant and set no tempo)."""
    w = live_window
    assert w.stage.start_live(w.live_input)
    feed(w, demo, 4.0, 6.0)
    fed_at, fed = time.monotonic(), w.live_input.analyzer.time  # the last block's read
    client = osc(w, udp_port)
    tr = w.live_input.analyzer.tracker
    sent = []
    for _ in range(4):
        sent.append(time.monotonic())
        client.send_message("/sonolume/tap", [])
        time.sleep(0.3)  # the GUI thread sleeps: no event is processed meanwhile
    qtbot.waitUntil(lambda: len(tr._taps) == 4, timeout=5000)
    gaps, sent_gaps = np.diff(tr._taps), np.diff(sent)  # (a loaded machine oversleeps)
    assert np.all(np.abs(gaps - sent_gaps) < 0.03), (gaps, sent_gaps)
    assert tr.tapped and tr.tempo == pytest.approx(60 / np.median(sent_gaps), rel=0.05)
    # and they sit on the stream where they were hit: as long after the last block read
    # as they were sent
    assert tr._taps[0] - fed == pytest.approx(sent[0] - fed_at, abs=0.03)


def test_a_track_dropped_on_the_preview_while_live_is_refused(live_window, qtbot, demo,
                                                                tmp_path):
    """Dropping a file is the third way to load a track (besides the button and Ctrl+O,
    both off while live): refused with a message, the set plays on."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    w = live_window
    st = w.stage
    messages = []
    st.statusMessage.connect(messages.append)
    wav = tmp_path / "dropped.wav"
    wav.write_bytes(DEMO.read_bytes())  # only the name's suffix matters to the drop check
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(wav))])

    def events():
        enter = QDragEnterEvent(QPointF(5, 5).toPoint(), Qt.DropAction.CopyAction, md,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, md,
                          Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        return enter, drop

    assert st.start_live(w.live_input)
    feed(w, demo, 2.0, 2.0)
    enter, drop = events()
    st.dragEnterEvent(enter)
    assert not enter.isAccepted()
    st.dropEvent(drop)
    assert st.analysis is None and st.live_active
    assert any("stop it to load dropped.wav" in m for m in messages), messages
    st.stop_live()
    enter, _ = events()
    st.dragEnterEvent(enter)
    assert enter.isAccepted()  # not live: a drop loads the track as before
