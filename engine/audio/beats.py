"""Tempo and beats from the whole track's onset envelope.

The tempo is the peak of the mean tempogram (accumulated chunk by chunk) under a prior flat
over 70-190 BPM, refined by parabolic interpolation; Ellis' dynamic-programming tracker
(librosa's rules, fractional period) places the beats; the reported tempo is then 60 / the
mean beat interval (skipped or doubled beats excluded), which is far finer than the ~23 ms
frame grid. A track whose onset envelope has no clear periodicity (beat confidence below
:data:`MIN_BEAT_CONFIDENCE`) or is silent has tempo 0.0 and no beats. Bars and downbeats
are built on these beats in :mod:`engine.audio.structure`.
"""

from __future__ import annotations

import numpy as np

from engine.audio import dsp
from engine.audio.decode import ANALYSIS_SR
from engine.audio.frames import FRAME_RATE, HOP, ONSET_FLOOR, RMS_FLOOR

TEMPO_RANGE = (70.0, 190.0)  # flat prior; outside it a log-Gaussian falls off, 0.5 octave
TEMPO_FALLOFF_OCT = 0.25
TEMPOGRAM_WIN = 384  # frames (~8.9 s)
TEMPO_ONSET_SIGMA = 1.5  # frames: onset envelope blur before the tempogram (see track_beats)
BEAT_TIGHTNESS = 100.0  # librosa's default: how strongly beats keep the estimated period
MIN_BEAT_CONFIDENCE = 0.3  # clicks score ~0.9, white noise 0.19-0.26


def _mean_tempogram(env: np.ndarray) -> np.ndarray:
    """Mean over non-silent frames of the tempogram (lag 0..TEMPOGRAM_WIN-1)."""
    total, count = dsp.tempogram_sum(env, TEMPOGRAM_WIN)
    return total / count if count else total


def _tempo_weight(bpm: np.ndarray) -> np.ndarray:
    """Prior over tempo: 1 inside TEMPO_RANGE, a log-Gaussian (0.25 octave) outside."""
    lo, hi = TEMPO_RANGE
    b = np.clip(np.asarray(bpm, dtype=np.float64), 1e-3, 1e6)
    octaves = np.where(b < lo, np.log2(lo / b), np.where(b > hi, np.log2(b / hi), 0.0))
    return np.exp(-0.5 * (octaves / TEMPO_FALLOFF_OCT) ** 2)


def _refine_tempo(beats: np.ndarray, tempo: float) -> float:
    """Mean beat period over the whole track, ignoring skipped or doubled beats.

    Beat times sit on a ~23 ms frame grid, but the mean of consecutive intervals telescopes
    to (last - first) / count, so it is far more precise than any single interval."""
    if beats.size < 4:
        return tempo
    d = np.diff(beats)
    med = float(np.median(d))
    keep = d[(d > 0.75 * med) & (d < 1.25 * med)]
    if med <= 0 or keep.size < 3:
        return tempo
    return float(60.0 / keep.mean())


def track_beats(onset: np.ndarray, rms: np.ndarray) -> tuple[float, np.ndarray, float]:
    """(tempo BPM, beat times s, confidence) from the frame-level onset envelope.

    Tempo 0.0 and no beats when the track is silent or its onsets are not periodic.
    """
    empty = np.zeros(0, dtype=np.float64)
    onset = np.asarray(onset, dtype=np.float32)
    if onset.size < 8 or np.all(rms < RMS_FLOOR) or float(np.percentile(onset, 99)) < ONSET_FLOOR:
        return 0.0, empty, 0.0  # silence, or sound without onsets (a steady pad)
    # The onset envelope of sharp drums is a train of 1-2 frame spikes, so a beat period
    # that falls between two integer lags (120 BPM = 21.5 frames) splits its peak while
    # twice the period (43.07) lands on one: a light blur keeps octaves comparable.
    # Subtracting a 1 s moving average first makes the autocorrelation measure periodicity
    # rather than the envelope's mean level (white noise would otherwise look rhythmic).
    from scipy.ndimage import gaussian_filter1d, uniform_filter1d

    env = onset.astype(np.float64)
    env = env - uniform_filter1d(env, size=int(round(FRAME_RATE)), mode="nearest")
    tg = _mean_tempogram(gaussian_filter1d(env, TEMPO_ONSET_SIGMA, mode="constant"))
    lags = np.arange(TEMPOGRAM_WIN, dtype=np.float64)
    bpm = np.full(TEMPOGRAM_WIN, np.inf)
    bpm[1:] = 60.0 * FRAME_RATE / lags[1:]
    valid = (bpm >= 30.0) & (bpm <= 300.0)
    score = np.where(valid, tg * _tempo_weight(bpm), -np.inf)
    best = int(np.argmax(score))
    confidence = float(tg[best]) if np.isfinite(score[best]) else 0.0
    if confidence < MIN_BEAT_CONFIDENCE:
        return 0.0, empty, confidence
    lag = float(best)
    if 1 <= best < TEMPOGRAM_WIN - 1:  # parabolic peak interpolation
        a, b, c = tg[best - 1], tg[best], tg[best + 1]
        den = a - 2 * b + c
        if den < 0:
            lag += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    tempo0 = 60.0 * FRAME_RATE / lag
    frames = dsp.track_beat_frames(onset, period=lag, tightness=BEAT_TIGHTNESS, trim=True)
    beats = frames.astype(np.float64) * HOP / ANALYSIS_SR
    if beats.size < 2:
        return 0.0, empty, confidence
    return _refine_tempo(beats, tempo0), beats, min(confidence, 1.0)
