"""Live sound drives the preview: engine features from a click track, fed through the
stage's live mode, change the frame's parameters beat by beat; the preset sliders act on
the live mapping too; stopping hands the preview back to the track."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal


class FedInput(QObject):
    """Stands in for the capture device only (QtMultimedia's QAudioSource, tested against a
    real PulseAudio server in test_live_input.py); the features are the engine's own."""

    featuresReady = Signal(object)

    def __init__(self):
        super().__init__()
        self.running = False

    def start(self, device=None) -> bool:
        self.running = True
        return True

    def stop(self) -> None:
        self.running = False


def _click_features(seconds: float = 6.0, bpm: float = 120.0, sr: int = 22050):
    from engine.audio.live import LiveAnalyzer

    t = np.arange(int(seconds * sr)) / sr
    y = 0.05 * np.sin(2 * np.pi * 220 * t)
    for k in range(int(seconds * bpm / 60)):
        i = int(k * 60 / bpm * sr)
        y[i:i + 300] += np.hanning(600)[300:] * 0.9
    live = LiveAnalyzer(sample_rate=sr, channels=1)
    out = []
    for i in range(0, len(y), 735):  # 1/30 s blocks: one emit per video frame
        got = live.push(y[i:i + 735].astype(np.float32))
        if got:
            out.append(got[-1])
    return out


def test_live_features_drive_the_preview(window, qtbot):
    stage = window.stage
    window.select_style(window.library_panel.visible_ids()[1])
    fed = FedInput()
    assert stage.start_live(fed)
    assert stage.live_active and fed.running
    features = _click_features(8.0)
    rest = features[-45:]
    features = features[:-45]
    pulses, zooms = [], []
    for f in features:
        fed.featuresReady.emit(f)
        frame = stage.live_frame()
        pulses.append(f.beat_pulse)
        zooms.append(frame.params.zoom)
        stage.tick()
    assert max(pulses[-60:]) > 0.8  # the tracker locked onto the clicks
    assert np.ptp(zooms[-60:]) > 0  # and the picture moves with them
    qtbot.waitUntil(lambda: stage.raster.image is not None, timeout=20_000)
    # The amounts act on the live mapping: all off -> the zoom settles at neutral (the
    # preset's own smoothing takes it there, as it would offline).
    window.reactivity_panel.overall.slider.setValue(0)
    qtbot.waitUntil(lambda: stage.amounts.get("_all") == 0, timeout=5000)
    for f in rest:
        fed.featuresReady.emit(f)
    assert abs(stage.live_frame().params.zoom - 1.0) < 1e-3
    assert np.max(np.abs(np.array(zooms[-40:]) - 1.0)) > 1e-2
    stage.stop_live()
    assert not stage.live_active and not fed.running


class DeviceLikeInput(QObject):
    """The capture device stood in by blocks of a real recording: the analysis, the set and
    its recording are the engine's, through the same signals LiveInput sends."""

    featuresReady = Signal(object)
    stepsReady = Signal(object, object)

    def __init__(self, sr: int, channels: int):
        super().__init__()

        self.sr, self.channels = sr, channels
        self.analyzer = None
        self.running = False

    def start(self, device=None) -> bool:
        from engine.audio.live import LiveAnalyzer

        self.analyzer = LiveAnalyzer(self.sr, self.channels)
        self.running = True
        return True

    def stop(self) -> None:
        self.running = False

    def feed(self, audio, block: int = 1024) -> None:
        for i in range(0, len(audio), block):
            b = audio[i:i + block]
            self.stepsReady.emit(b, self.analyzer.push(b))


def _demo(start: float, seconds: float):
    from pathlib import Path

    import soundfile as sf

    demo = Path(__file__).resolve().parents[3] / "resources" / "audio" / "demo.ogg"
    y, sr = sf.read(str(demo), dtype="float32", always_2d=True)
    return y[int(start * sr): int((start + seconds) * sr)], sr


def test_record_set_in_the_live_dock(window, qtbot, tmp_path):
    """Record set: a folder that cannot be made is one clear line and the preview plays on;
    then a set is recorded, a style change lands in it, Stop saves it into the shows folder
    and it opens as a show whose frames are those drawn live."""
    from engine.control import ControlEvent

    stage, bar = window.stage, window.live_bar
    window.select_style(window.library_panel.visible_ids()[0])
    audio, sr = _demo(7.0, 9.0)
    dev = DeviceLikeInput(sr, 2)
    assert not bar.record.isEnabled()
    assert stage.start_live(dev)
    assert bar.record.isEnabled() and not window.control_panel.record.isEnabled()
    dev.feed(audio[: 2 * sr])

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the shows folder should be")
    bar.shows_folder = lambda: blocked / "shows"
    bar.record.click()
    assert not stage.live_recording and not bar.record.isChecked()
    assert "cannot record the set" in bar.status.text()
    dev.feed(audio[2 * sr: 3 * sr])  # the preview plays on
    assert stage.live_active and stage.live_set.now() > 2.5

    shows = tmp_path / "library" / "shows"
    bar.shows_folder = lambda: shows
    bar.set_name.setText("dock set")
    bar.record.click()
    assert stage.live_recording and bar.record.text().startswith("■")
    drawn = []
    for k in range(5 * 4):  # 5 s in quarter seconds, drawing as the preview does
        dev.feed(audio[(3 * 4 + k) * sr // 4: (3 * 4 + k + 1) * sr // 4])
        if k == 6:
            window.control_panel.moveReceived.emit(ControlEvent("style.next", source="test"))
            qtbot.waitUntil(lambda: window.control_panel.controller.pending() == 0,
                            timeout=2000)
        frame = stage.live_frame()
        drawn.append((stage.live_set.now(), frame))
    qtbot.waitUntil(lambda: bar.elapsed.text() not in ("", "● 0:00.0"), timeout=2000)
    with qtbot.waitSignal(stage.liveSetRecorded, timeout=10_000) as saved:
        bar.record.click()  # stop: saved, live mode ends, the show opens
    assert saved.args[0] == str(shows / "dock-set.json")
    bar.set_name.setText("dock set")
    assert bar.set_path() == shows / "dock-set-2.json"  # never over an earlier set
    assert not stage.live_active and (shows / "dock-set.flac").is_file()
    qtbot.waitUntil(lambda: stage.show_active and stage.scene is not None
                    and stage.scene.live is not None, timeout=120_000)
    scene = stage.scene
    assert len(scene.segments) == 2 and window.show_editor.active
    for t, frame in drawn:
        again = scene.frame_at(t)
        assert [x.style for x in again.layers] == [x.style for x in frame.layers]
        for a, b in zip(again.layers, frame.layers):
            assert np.array_equal(a.params.extras, b.params.extras)
            assert (a.params.zoom, a.params.hue, a.params.brightness, a.params.rotation) == \
                (b.params.zoom, b.params.hue, b.params.brightness, b.params.rotation)
