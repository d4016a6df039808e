"""The AudioFeatures contract: shapes, ranges, frame timing, beat grid, smoothing, slicing,
saving, and that the curves follow the music."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.audio.analyze import (
    DEFAULT_SMOOTHING,
    RawAnalysis,
    analyze,
    resample_max,
    resample_mean,
    smooth,
    to_video_rate,
)
from engine.audio.features import FEATURE_NAMES, AudioFeatures, beat_grid, n_frames_for
from engine.errors import SonolumeError


def test_contract_shapes_and_ranges(drum_120_features, demo_features):
    for f in (drum_120_features, demo_features):
        f.validate()
        assert f.n_frames == math.ceil(f.duration * f.fps)
        assert f.sample_rate == 22050
        assert f.beat_times.dtype == np.float64
        for name in FEATURE_NAMES:
            a = getattr(f, name)
            assert a.dtype == np.float32 and a.shape == (f.n_frames,)
            assert np.all(np.isfinite(a))
        assert f.chroma.shape == (f.n_frames, 12)
        assert 0.0 <= f.beat_phase.min() and f.beat_phase.max() < 1.0
        assert f.rms.max() <= 1.0 and f.rms.max() > 0.5  # normalised to the 99th percentile


@pytest.mark.parametrize("fps", [24.0, 29.97, 30.0, 60.0, 7.5])
def test_any_fps_from_one_cache_entry(drum_120, fps, tmp_path):
    f = analyze(drum_120[0], fps=fps, cache_dir=tmp_path)
    f.validate()
    assert f.n_frames == math.ceil(20.0 * fps - 1e-6)
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_frame_at_and_values_at(drum_120_features):
    f = drum_120_features
    assert f.frame_at(-5.0) == 0
    assert f.frame_at(0.0) == 0
    assert f.frame_at(1.0) == 30
    assert f.frame_at(1.0 - 1e-4) == 29
    assert f.frame_at(1e9) == f.n_frames - 1
    assert f.frame_at(float("nan")) == 0
    v = f.values_at(2.0)
    assert set(v) == set(FEATURE_NAMES)
    assert all(isinstance(x, float) for x in v.values())
    assert v["rms"] == pytest.approx(float(f.rms[60]))


def test_beat_pulse_is_one_on_beats_and_decays(drum_120_features):
    f = drum_120_features
    on = np.rint(f.beat_times * f.fps).astype(int)
    on = on[on < f.n_frames]
    assert np.all(f.beat_pulse[on] == pytest.approx(1.0))
    assert np.all(f.beat_phase[on] == 0.0)
    # Between beats (15 frames at 120 BPM, 30 fps) the pulse only falls, the phase only rises.
    a, b = on[3], on[4]
    assert np.all(np.diff(f.beat_pulse[a:b]) < 0)
    assert np.all(np.diff(f.beat_phase[a:b]) > 0)
    assert f.beat_pulse[b - 1] < 0.05


def test_beat_grid_extrapolates_before_and_after_the_beats():
    beats = np.array([1.0, 1.5, 2.0])
    phase, pulse = beat_grid(beats, 120.0, n=120, fps=30.0)
    assert phase.shape == pulse.shape == (120,)
    assert phase[0] == pytest.approx(0.0, abs=1e-6)  # 1.0 s before a beat = 2 periods
    assert phase[15] == pytest.approx(0.0, abs=1e-6)
    assert phase[90] == pytest.approx(0.0, abs=1e-6)  # 3.0 s: one period after the last
    assert phase[97] == pytest.approx(7 / 15, abs=1e-5)
    assert np.all((phase >= 0) & (phase < 1))
    assert np.allclose(pulse, np.exp(-4.0 * phase), atol=1e-6)
    z_phase, z_pulse = beat_grid(np.zeros(0), 0.0, n=10, fps=30.0)
    assert not z_phase.any() and not z_pulse.any()


def test_curves_follow_the_demo_sections(demo_features):
    """Intro (0-8 s) is quiet, the groove and the drop are loud and percussive, the build
    drops the kick (bass below its usual level) and brightens."""
    f = demo_features

    def mean(name, a, b):
        return float(getattr(f, name)[int(a * f.fps):int(b * f.fps)].mean())

    assert mean("rms", 0, 8) < 0.5 * mean("rms", 8, 16)
    assert mean("rms", 24, 32) > 0.5
    assert mean("percussive", 8, 16) > 3 * mean("percussive", 0, 8)
    assert mean("bass", 16.5, 20) < 0.8 < mean("bass", 24, 26)
    assert mean("centroid", 20, 24) > mean("centroid", 8, 16)
    # Harmonic content is there all along; chroma finds the A-minor chords.
    assert mean("harmonic", 0, 8) > mean("percussive", 0, 8)
    assert f.stats["key"] == "A" and f.stats["mode"] == "minor"


def test_band_levels_hover_around_one_for_steady_sound(audio_dir):
    import soundfile as sf

    rng = np.random.default_rng(4)
    path = audio_dir / "steady-noise.wav"
    sf.write(str(path), (0.1 * rng.standard_normal(22050 * 12)).astype(np.float32), 22050)
    f = analyze(path, use_cache=False)
    for band in ("bass", "mid", "treble"):
        assert np.median(getattr(f, band)[60:]) == pytest.approx(1.0, abs=0.1), band


def test_smoothing_attack_and_release():
    step = np.r_[np.zeros(30), np.ones(60), np.zeros(60)].astype(np.float32)
    out = smooth(step, fps=30.0, attack=0.1, release=0.5)
    # After one attack time constant ~63% of the way up, after one release ~37% left.
    assert out[30 + 3 - 1] == pytest.approx(1 - math.exp(-1), abs=0.03)
    assert out[90 + 15 - 1] == pytest.approx(out[89] * math.exp(-1), abs=0.03)
    assert np.array_equal(smooth(step, 30.0, 0.0, 0.0), step)


def test_smoothing_spec_validation_and_override(drum_120):
    raw_on = analyze(drum_120[0], smoothing="none")
    default = analyze(drum_120[0])
    slow = analyze(drum_120[0], smoothing={"onset": (0.0, 1.0)})
    # Unsmoothed onset is spikier than the default; a 1 s release holds it up longer.
    assert np.abs(np.diff(raw_on.onset)).mean() > np.abs(np.diff(default.onset)).mean()
    assert slow.onset.mean() > default.onset.mean()
    assert np.array_equal(slow.rms, default.rms)
    with pytest.raises(SonolumeError):
        analyze(drum_120[0], smoothing={"beat_phase": 0.1})
    with pytest.raises(SonolumeError):
        analyze(drum_120[0], smoothing={"rms": (-1, 0)})
    assert set(DEFAULT_SMOOTHING) <= set(FEATURE_NAMES) | {"chroma"}


def test_resampling_keeps_levels_and_peaks():
    x = np.full(431, 0.7)
    for fps in (10.0, 30.0, 60.0, 100.0):
        n = n_frames_for(10.0, fps)
        assert np.allclose(resample_mean(x, 43.07, fps, n), 0.7, atol=1e-5)
    spikes = np.zeros(431)
    spikes[::43] = 1.0
    assert resample_max(spikes, 43.07, 30.0, 300).max() == 1.0
    assert (resample_max(spikes, 43.07, 30.0, 300) == 1.0).sum() == 11


def test_slice(drum_120_features):
    f = drum_120_features
    s = f.slice(5.0, 4.0)
    s.validate()
    assert s.n_frames == 120 and s.duration == pytest.approx(4.0)
    assert np.array_equal(s.rms, f.rms[150:270])
    assert np.all((s.beat_times >= 0) & (s.beat_times < 4.0))
    assert len(s.beat_times) == 8
    tail = f.slice(18.5, 10.0)  # clipped at the end of the track
    tail.validate()
    assert tail.duration == pytest.approx(1.5)
    with pytest.raises(SonolumeError):
        f.slice(25.0, 1.0)
    with pytest.raises(SonolumeError):
        f.slice(1.0, 0.0)


def test_save_and_load_round_trip(drum_120_features, tmp_path):
    f = drum_120_features
    path = f.save(tmp_path / "sub" / "features.npz")
    with np.load(path, allow_pickle=False) as data:  # no pickles inside
        assert "meta" in data.files
    g = AudioFeatures.load(path)
    g.validate()
    assert g.tempo == f.tempo and g.fps == f.fps and g.duration == f.duration
    for name in (*FEATURE_NAMES, "chroma", "beat_times", "peak"):
        assert np.array_equal(getattr(g, name), getattr(f, name)), name
    assert g.stats == f.stats
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(SonolumeError):
        AudioFeatures.load(tmp_path / "bad.npz")


def test_empty_frame_level_results_give_a_valid_object():
    frames = {k: np.zeros(0, np.float32) for k in
              ("rms", "onset", "harm_frac", "bass", "mid", "treble", "centroid_hz", "peak")}
    frames["chroma"] = np.zeros((0, 12), np.float32)
    raw = RawAnalysis(duration=0.0, source_rate=44100, channels=1, tempo=0.0,
                      beat_times=np.zeros(0), beat_confidence=0.0, frames=frames)
    f = to_video_rate(raw, 30.0)
    assert f.n_frames == 0
    f.validate()
    assert f.values_at(1.0)["rms"] == 0.0
