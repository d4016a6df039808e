"""The online beat tracker: locks onto known tempi within seconds, predicts beats on time,
follows taps and resyncs, and says "no beat" where there is none."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.live import LiveAnalyzer, OnlineBeatTracker
from engine.audio.synthetic import accented_track

LOCK_WITHIN_S = 4.0  # from the first sample to a tempo within 2 % and beats within 50 ms


def _clicks(bpm: float, duration: float, sr: int = 48000, offset: float = 0.3):
    rng = np.random.default_rng(1)
    y = np.zeros(int(duration * sr), np.float32)
    n = int(0.03 * sr)
    click = (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.004 * sr)) * 0.5).astype(
        np.float32)
    beats = np.arange(offset, duration - 0.05, 60.0 / bpm)
    for b in beats:
        i = int(b * sr)
        m = min(n, len(y) - i)
        y[i:i + m] += click[:m]
    return y, beats


def _run(y, sr, block=1024):
    la = LiveAnalyzer(sr, 1)
    feats = []
    for i in range(0, len(y), block):
        feats += la.push(y[i:i + block])
    return la, feats


@pytest.mark.parametrize("bpm", [90.0, 120.0, 174.0])
def test_click_track_locks_within_seconds(bpm):
    y, beats = _clicks(bpm, 14.0)
    la, feats = _run(y, 48000)
    locked_at = next(f.time for f in feats if f.locked and abs(f.tempo - bpm) < 0.02 * bpm)
    assert locked_at <= LOCK_WITHIN_S
    assert la.tempo == pytest.approx(bpm, rel=0.005)
    est = np.array(la.tracker.beats)
    after = est[est > LOCK_WITHIN_S]
    err = np.array([np.min(np.abs(beats - b)) for b in after])
    assert err.max() < 0.05  # every beat placed within 50 ms of a click
    expected = beats[(beats > LOCK_WITHIN_S) & (beats < la.time - 0.03)]
    assert abs(len(after) - len(expected)) <= 1  # none skipped, none doubled
    # beat_pulse peaks on the clicks: the frame nearest each click has a pulse > 0.8.
    times = np.array([f.time for f in feats])
    pulse = np.array([f.beat_pulse for f in feats])
    for b in expected[2:-1]:
        k = np.argmin(np.abs(times - b - 0.02))
        assert pulse[k] > 0.7


def test_music_like_groove_tempo_and_beats():
    g = accented_track(128.0, bars=10, seed=5)
    la, feats = _run(g.audio, g.sr, block=333)
    assert la.tempo == pytest.approx(128.0, rel=0.01)
    est = np.array(la.tracker.beats)
    after = est[est > 6.0]
    ref = g.beats[g.beats > 6.0]
    hits = sum(np.min(np.abs(ref - b)) < 0.07 for b in after)
    assert hits >= 0.9 * len(ref)


def test_tap_tempo_sets_and_holds_the_tempo_then_releases():
    y, _ = _clicks(120.0, 16.0)
    la = LiveAnalyzer(48000, 1)
    step = 4800  # 0.1 s
    for i in range(0, 6 * 48000, step):
        la.push(y[i:i + step])
    assert la.tempo == pytest.approx(120, rel=0.01)
    # The performer taps at 100 BPM: the tempo follows the taps and holds.
    t0 = la.time
    for k in range(4):
        la.tap(t0 + k * 0.6)
    assert la.tempo == pytest.approx(100, rel=1e-6) and la.latest is not None
    assert la.tracker.tapped
    for i in range(6 * 48000, 10 * 48000, step):
        la.push(y[i:i + step])
    assert la.tempo == pytest.approx(100, rel=1e-6)
    assert la.latest.tapped
    la.release_tap()
    for i in range(10 * 48000, 16 * 48000, step):
        la.push(y[i:i + step])
    assert la.tempo == pytest.approx(120, rel=0.01) and not la.latest.tapped


def test_resync_moves_the_grid_and_the_music_pulls_it_back_smoothly():
    tr = OnlineBeatTracker(100.0)  # 100 frames/s, so times are easy to read
    period = 50  # 120 BPM
    for n in range(800):
        tr.push(1.0 if n % period == 10 else 0.0)
    assert tr.tempo == pytest.approx(120, rel=0.01)
    assert tr.phase_at(8.10) < 0.05 or tr.phase_at(8.10) > 0.95  # beats at ...10
    tr.resync(8.30)  # "the beat is here"
    assert tr.phase_at(8.30) == pytest.approx(0.0, abs=1e-9)
    for n in range(800, 1000):
        tr.push(1.0 if n % period == 10 else 0.0)
    # Held against jumps for a while: still closer to the performer's grid than the music's.
    p = tr.phase_at(10.30)
    assert min(p, 1 - p) < 0.2


def test_taps_out_of_range_or_far_apart_are_ignored():
    tr = OnlineBeatTracker()
    tr.tap(1.0)
    tr.tap(4.0)  # 3 s apart: a new sequence, no tempo yet
    assert tr.tempo == 0.0 and not tr.tapped
    tr.tap(4.1)  # 600 BPM: ignored
    assert tr.tempo == 0.0
    tr.tap(4.6)
    tr.tap(5.1)
    assert tr.tempo == pytest.approx(120, rel=0.02) and tr.tapped


def test_noise_has_no_beat():
    rng = np.random.default_rng(2)
    y = (0.2 * rng.standard_normal(22050 * 12)).astype(np.float32)
    la, feats = _run(y, 22050)
    assert sum(f.locked for f in feats) < 0.2 * len(feats)
    assert la.tempo == 0.0 or la.tracker.confidence < 0.5
