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
