"""LiveParams, stepped frame by frame, equals compute_params over the whole track, and
drives a preview from live features."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.audio.live import LiveAnalyzer
from engine.audio.synthetic import accented_track
from engine.errors import SonolumeError
from engine.reactive.live import LiveParams
from engine.reactive.mapping import compute_params
from engine.reactive.preset import load_preset


@pytest.fixture(scope="module")
def features():
    """An AudioFeatures of a synthetic groove, built from the analysis' raw frames."""
    import tempfile
    from pathlib import Path

    import soundfile as sf

    from engine.audio.analyze import analyze

    g = accented_track(110.0, bars=4, seed=2)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "groove.wav"
        sf.write(path, g.audio, g.sr)
        return analyze(path, fps=30, use_cache=False)


def _fields(p):
    return np.concatenate([p.extras, [p.zoom, p.rotation, p.warp, p.warp_phase, p.hue,
                                      p.brightness]])


@pytest.mark.parametrize("preset", ["punchy", "calm", "club"])
def test_stepping_equals_the_offline_mapping(features, preset):
    track = compute_params(features, preset, extra_inputs=9, seed=4)
    track5 = compute_params(features, preset, extra_inputs=5, seed=4)
    lp = LiveParams(preset, seed=4, fps=features.fps)
    for i in range(features.n_frames):
        lp.step(LiveParams.frame_of(features, i))
        t = i / features.fps
        np.testing.assert_allclose(_fields(lp.params(9)), _fields(track.at(t)), atol=1e-5)
        np.testing.assert_allclose(_fields(lp.params(5)), _fields(track5.at(t)), atol=1e-5)


def test_gains_match_the_offline_gains(features):
    n = features.n_frames
    gains = {"pulse": np.linspace(0, 2, n), "zoom": np.full(n, 0.5), "tone": np.ones(n) * 3}
    track = compute_params(features, "punchy", extra_inputs=9, seed=1, gains=gains)
    lp = LiveParams("punchy", seed=1, fps=features.fps)
    for i in range(n):
        lp.step(LiveParams.frame_of(features, i), gains={k: v[i] for k, v in gains.items()})
        np.testing.assert_allclose(_fields(lp.params(9)), _fields(track.at(i / features.fps)),
                                   atol=1e-5)


def test_live_features_drive_the_params():
    g = accented_track(120.0, bars=6, seed=1)
    la = LiveAnalyzer(g.sr, 1)
    lp = LiveParams("punchy", seed=0, fps=30)
    hop = g.sr // 30
    zooms, pulses = [], []
    for i in range(0, len(g.audio) - hop, hop):  # one video frame of audio per step
        la.push(g.audio[i:i + hop])
        lp.step(la.latest)
        p = lp.params(9)
        assert p.extras.shape == (9,) and np.isfinite(_fields(p)).all()
        zooms.append(p.zoom)
        pulses.append(float(np.linalg.norm(p.extras)))
    assert np.std(zooms[150:]) > 1e-3  # the bass moves the zoom
    assert lp.params(9).rotation > 0  # rotation is a speed: it has turned


def test_variable_steps_and_errors(features):
    lp = LiveParams(load_preset("punchy"), fps=30)
    with pytest.raises(SonolumeError, match="before the first step"):
        lp.params(9)
    f = LiveParams.frame_of(features, 10)
    lp.step(f)
    lp.step(f, dt=0.1)
    lp.step(f, dt=0.1)
    a = lp.params(9).rotation
    lp2 = LiveParams("punchy", fps=30)
    for _ in range(7):
        lp2.step(f)  # 6 steps of 1/30 s after the first: ~0.2 s as well
    assert lp2.params(9).rotation == pytest.approx(a, rel=1e-6)
    with pytest.raises(SonolumeError, match="no reactivity target"):
        lp.step(f, gains={"sparkle": 1.0})
    with pytest.raises(SonolumeError, match=">= 0 seconds"):
        lp.step(f, dt=-1)
    with pytest.raises(SonolumeError, match="live features lack"):
        lp.step(dataclasses.make_dataclass("X", [])())
    with pytest.raises(SonolumeError, match="fps"):
        LiveParams("punchy", fps=0)


def test_a_saved_state_continues_to_the_bit(features):
    """A take starts mid-stream: LiveParams restored from its state() steps on exactly as
    the one that never stopped (what lets a recorded set replay its live frames)."""
    from engine.reactive.live import StepTrack

    a = LiveParams("club", seed=2, fps=features.fps)
    half = features.n_frames // 2
    for i in range(half):
        a.step(LiveParams.frame_of(features, i), gains={"pulse": 1.5}, dt=0.021)
    b = LiveParams("club", seed=2, fps=features.fps)
    b.load_state({k: v.copy() for k, v in a.state().items()})
    track = StepTrack(9, b.params(9))
    assert np.array_equal(_fields(track.at(-1.0)), _fields(a.params(9)))
    for i in range(half, features.n_frames):
        f = LiveParams.frame_of(features, i)
        a.step(f, dt=0.023)
        b.step(f, dt=0.023)
        track.append(i * 0.023, b.params(9))
        assert np.array_equal(_fields(a.params(9)), _fields(b.params(9)))
        assert np.array_equal(_fields(a.params(4)), _fields(b.params(4)))
    # the track holds each step until the next one (no interpolation)
    k = half + 3
    assert np.array_equal(_fields(track.at(k * 0.023 + 0.01)), _fields(track.frame(3)))
    with pytest.raises(SonolumeError, match="lacks"):
        LiveParams().load_state({"frame": np.array([1.0])})
