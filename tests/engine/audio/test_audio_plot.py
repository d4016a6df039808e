"""The Pillow overview plot draws any track: silent, one frame, or hours of beats."""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.audio.analyze import RAW_KEYS, RawAnalysis, to_video_rate
from engine.audio.plot import plot_features


def _raw(seconds: float, beats: bool, silent: bool = False) -> RawAnalysis:
    k = int(seconds * 22050 / 512) + 1
    rng = np.random.default_rng(0)
    frames = {key: (np.zeros(k) if silent else rng.random(k)).astype(np.float32)
              for key in RAW_KEYS}
    frames["centroid_hz"] *= 4000
    frames["chroma"] = rng.random((k, 12)).astype(np.float32)
    bt = np.arange(0.2, seconds, 0.5) if beats else np.zeros(0)
    return RawAnalysis(duration=seconds, source_rate=44100, channels=2,
                       tempo=120.0 if beats else 0.0, beat_times=bt,
                       beat_confidence=0.9 if beats else 0.0, frames=frames)


def test_plots_of_odd_tracks(tmp_path):
    cases = {"silent": _raw(3.0, False, silent=True), "one-frame": _raw(0.01, False),
             "two-hours": _raw(7200.0, True)}
    for name, raw in cases.items():
        f = to_video_rate(raw, 30.0)
        out = plot_features(f, tmp_path / f"{name}.png", title=name, width=900)
        with Image.open(out) as im:
            assert im.size[0] == 900
            assert np.asarray(im.convert("RGB")).std() > 5
