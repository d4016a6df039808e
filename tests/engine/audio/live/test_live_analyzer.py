"""The streaming extractor: bit-identical frames to the file analysis where the method is
the same, block-size independence, loudness tracking, formats and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.frames import chunk_features
from engine.audio.live import CausalFrames, LiveAnalyzer, LiveAudioError
from engine.audio.synthetic import accented_track


def _push_all(target, y, block):
    out = []
    for i in range(0, len(y), block):
        out += target.push(y[i:i + block])
    return out


@pytest.fixture(scope="module")
def groove():
    return accented_track(120.0, bars=6, seed=3)


def test_causal_frames_equal_the_file_analysis(groove):
    """Same signal at 22050 Hz: onset of frame j and the centred features of frame j - 1
    arrive with frame j, equal to the file analysis' values (HPSS aside: causal median)."""
    y = groove.audio
    off = chunk_features(y)
    got = _push_all(CausalFrames(22050, 1), y, 700)
    n = len(got)
    assert n == len(y) // 512
    assert [j for j, _ in got] == list(range(n))
    onset = np.array([v["onset"] for _, v in got])
    np.testing.assert_allclose(onset, off["onset"][:n], atol=1e-4)
    for key in ("rms", "bass", "mid", "treble"):
        live = np.array([v[key] for _, v in got])[1:]
        np.testing.assert_allclose(live, off[key][:n - 1], rtol=1e-4, atol=1e-7)
    chroma = np.array([v["chroma"] for _, v in got])[1:]
    np.testing.assert_allclose(chroma, off["chroma"][:n - 1], rtol=1e-3, atol=1e-7)
    cent = np.array([v["centroid_hz"] for _, v in got])[1:]
    np.testing.assert_allclose(cent, off["centroid_hz"][:n - 1], rtol=1e-3, atol=0.5)
    harm = np.array([v["harm_frac"] for _, v in got])[1:]
    assert np.all((harm >= 0) & (harm <= 1))
    # The causal harmonic median still tells sustained notes from hits on average.
    assert abs(float(np.mean(harm[100:])) - float(np.mean(off["harm_frac"][100:n - 1]))) < 0.2


@pytest.mark.parametrize("sr,channels", [(48000, 2), (44100, 1), (16000, 1)])
def test_block_size_does_not_change_the_features(groove, sr, channels):
    import soxr

    y = soxr.resample(groove.audio[: 22050 * 6], 22050, sr).astype(np.float32)
    if channels == 2:
        y = np.stack([y, 0.5 * y], axis=1)
    runs = []
    for block in (64, 441, 4096):
        la = LiveAnalyzer(sr, channels)
        feats = _push_all(la, y, block)
        runs.append(np.array([[f.rms, f.onset, f.bass, f.centroid, f.harmonic, f.beat_phase]
                              for f in feats]))
    assert runs[0].shape[0] > 200
    for other in runs[1:]:
        assert other.shape == runs[0].shape
        np.testing.assert_allclose(other, runs[0], atol=2e-5)


def test_features_follow_loudness_and_stay_in_range():
    sr = 48000
    t = np.arange(sr * 12) / sr
    rng = np.random.default_rng(0)
    y = (np.sin(2 * np.pi * 220 * t) + 0.3 * rng.standard_normal(t.size)).astype(np.float32)
    # quiet, 20 dB louder at 3 s, back to quiet at 7 s, silence after 10 s
    gain = np.where((t >= 3) & (t < 7), 0.5, 0.05).astype(np.float32)
    y *= gain
    y[(t > 10)] = 0.0
    la = LiveAnalyzer(sr, 1)
    feats = _push_all(la, y, 1000)
    times = np.array([f.time for f in feats])
    rms = np.array([f.rms for f in feats])
    loud = rms[(times > 4) & (times < 6.9)].mean()
    quiet = rms[(times > 8) & (times < 9.9)].mean()
    assert loud > 0.9  # normalised to the loudest of the last minute
    assert quiet < 0.15 * loud  # the 20 dB drop reads as ~0.1, as the file analysis has it
    assert rms[times > 11].max() < 0.01  # silence decays to ~0
    bass_jump = max(f.bass for f in feats if 3.0 < f.time < 3.5)
    assert bass_jump > 2.0  # bands are relative to their recent average: the step stands out
    mid_late = np.mean([f.mid for f in feats if 6.0 < f.time < 6.9])
    assert 0.8 < mid_late < 1.7  # ... and settle back toward 1 ("usual"): 3 s time constant
    assert max(f.mid for f in feats if 7.5 < f.time < 8) < 0.5  # the drop reads as a dip
    for f in feats:
        assert 0 <= f.rms <= 1 and 0 <= f.onset <= 1 and 0 <= f.centroid <= 1
        assert 0 <= f.bass <= 4 and 0 <= f.mid <= 4 and 0 <= f.treble <= 4
        assert f.chroma.shape == (12,) and 0 <= f.chroma.min() and f.chroma.max() <= 1
        assert 0 <= f.harmonic <= 1 and 0 <= f.percussive <= 1 and 0 <= f.beat_pulse <= 1
    a = [f for f in feats if 7 < f.time < 9][-1]
    assert int(np.argmax(a.chroma)) == 9  # 220 Hz is an A


def test_silence_and_steady_tone_have_no_beat():
    sr = 22050
    la = LiveAnalyzer(sr, 1)
    t = np.arange(sr * 10) / sr
    _push_all(la, (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 2048)
    assert la.tempo == 0.0 and not la.latest.locked and la.latest.beat_pulse == 0.0
    la2 = LiveAnalyzer(sr, 1)
    _push_all(la2, np.zeros(sr * 6, np.float32), 512)
    assert la2.latest.rms == 0.0 and la2.tempo == 0.0 and la2.latest.centroid == 0.0


def test_reconfigure_keeps_the_beat_across_a_sample_rate_change(groove):
    import soxr

    y = groove.audio
    half = len(y) // 2
    la = LiveAnalyzer(22050, 1)
    _push_all(la, y[:half], 1024)
    tempo = la.tempo
    assert abs(tempo - 120) < 2
    t_before = la.time
    la.reconfigure(48000, 2)
    rest = soxr.resample(y[half:], 22050, 48000).astype(np.float32)
    _push_all(la, np.stack([rest, rest], axis=1), 960)
    assert abs(la.time - (t_before + len(rest) / 48000)) < 1e-3
    assert abs(la.tempo - 120) < 2 and la.latest.locked


def test_bad_input_gets_one_clear_error():
    with pytest.raises(LiveAudioError, match="16000 Hz or more"):
        LiveAnalyzer(8000, 1)
    with pytest.raises(LiveAudioError, match="channels"):
        LiveAnalyzer(48000, 0)
    la = LiveAnalyzer(48000, 2)
    with pytest.raises(LiveAudioError, match="does not fit 2 channel"):
        la.push(np.zeros((100, 3), np.float32))
    with pytest.raises(LiveAudioError, match="numbers"):
        la.push(np.array(["a", "b"]))
    # NaN and inf are zeroed, never propagated.
    bad = np.full((4800, 2), np.nan, np.float32)
    bad[::7] = np.inf
    la.push(bad)
    assert np.isfinite(list(la.latest.values().values())).all()
    # Interleaved 1-D blocks are taken as frames of `channels` samples.
    la.push(np.zeros(960, np.float32))
    assert la.time == pytest.approx(5280 / 48000)
