"""Frame-level results -> per-video-frame features (:class:`AudioFeatures`).

Each series is resampled to the video fps (box average over each video frame; peak for
onset), normalised to the ranges in :mod:`engine.audio.features` and smoothed
(:mod:`engine.audio.smoothing`). This step is cheap, so any fps and smoothing reuse one
cache entry. Track-level statistics (loudness, key, percussive share...) are taken here too.
"""

from __future__ import annotations

import math

import numpy as np

from engine.audio import dsp
from engine.audio.cache import RawAnalysis
from engine.audio.decode import ANALYSIS_SR
from engine.audio.features import AudioFeatures, beat_grid, n_frames_for
from engine.audio.frames import BANDS, FRAME_RATE, ONSET_FLOOR, RMS_FLOOR
from engine.audio.smoothing import one_pole_coefficient, resolve_smoothing, smooth_features
from engine.errors import SonolumeError

BAND_AVERAGE_S = 3.0  # time constant of the "recent average" (applied at the video fps)
BAND_MAX = 4.0
CENTROID_RANGE_HZ = (100.0, 8000.0)
BAND_FLOOR = 6e-4  # band amplitude of a -60 dBFS sine (normalised-STFT units)


def resample_mean(x: np.ndarray, src_rate: float, fps: float, n: int) -> np.ndarray:
    """Box-average a series sampled at ``src_rate`` (sample k centred at k / src_rate) over
    each video frame ``[i / fps, (i + 1) / fps)``; works for any ratio of the two rates.
    (n,) or (n, d) in, float32 out; columns are done one at a time to bound memory."""
    x = np.asarray(x)
    k = x.shape[0]
    if n == 0:
        return np.zeros((0, *x.shape[1:]), dtype=np.float32)
    if k == 0:
        return np.zeros((n, *x.shape[1:]), dtype=np.float32)
    knots = (np.arange(k + 1) - 0.5) / src_rate
    a = np.clip(np.arange(n) / fps, knots[0], knots[-1])
    b = np.clip(np.arange(1, n + 1) / fps, knots[0], knots[-1])
    width = np.maximum((b - a) * src_rate, 1e-12)
    exact = (b - a) > 1e-12
    nearest = np.clip(np.rint(a * src_rate).astype(np.int64), 0, k - 1)

    def column(v: np.ndarray) -> np.ndarray:
        cum = np.empty(k + 1, dtype=np.float64)
        cum[0] = 0.0
        np.cumsum(v, dtype=np.float64, out=cum[1:])
        avg = (np.interp(b, knots, cum) - np.interp(a, knots, cum)) / width
        return np.where(exact, avg, v[nearest]).astype(np.float32)

    if x.ndim == 1:
        return column(x)
    out = np.empty((n, x.shape[1]), dtype=np.float32)
    for j in range(x.shape[1]):
        out[:, j] = column(x[:, j])
    return out


def resample_max(x: np.ndarray, src_rate: float, fps: float, n: int) -> np.ndarray:
    """The largest source sample whose centre falls in each video frame (nearest if none)."""
    x = np.asarray(x, dtype=np.float32)
    k = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    if k == 0:
        return np.zeros(n, dtype=np.float32)
    starts = np.clip(np.ceil(np.arange(n) / fps * src_rate - 1e-9).astype(np.int64), 0, k - 1)
    ends = np.clip(np.ceil(np.arange(1, n + 1) / fps * src_rate - 1e-9).astype(np.int64), 0, k)
    nearest = np.clip(np.rint(np.arange(n) / fps * src_rate).astype(np.int64), 0, k - 1)
    red = np.maximum.reduceat(x, starts)
    return np.where(ends > starts, red, x[nearest]).astype(np.float32)


def _relative_to_average(level: np.ndarray, fps: float) -> np.ndarray:
    """(n, d) levels / their causal exponential average (time constant BAND_AVERAGE_S,
    started at the mean of the first BAND_AVERAGE_S seconds), floored; 0 in silence."""
    level = np.asarray(level, dtype=np.float64)
    if level.shape[0] == 0:
        return level.astype(np.float32)
    alpha = one_pole_coefficient(BAND_AVERAGE_S, fps)
    init = level[: max(int(BAND_AVERAGE_S * fps), 1)].mean(axis=0)
    avg = dsp.follow(level, alpha, alpha, init=init)
    ratio = level / np.maximum(avg, BAND_FLOOR)
    ratio[level < BAND_FLOOR * 0.5] = 0.0
    return np.clip(ratio, 0.0, BAND_MAX)


_KEYS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(chroma_mean: np.ndarray) -> tuple[str, str, float]:
    """Krumhansl-Schmuckler key estimate: (key name, "major"/"minor", correlation)."""
    c = np.asarray(chroma_mean, dtype=np.float64)
    if c.size != 12 or c.std() < 1e-9:
        return "", "", 0.0
    best = ("", "", -2.0)
    for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
        for k in range(12):
            r = float(np.corrcoef(c, np.roll(profile, k))[0, 1])
            if r > best[2]:
                best = (_KEYS[k], mode, r)
    return best


def to_video_rate(raw: RawAnalysis, fps: float, smoothing=None) -> AudioFeatures:
    """Normalise, resample to ``fps`` and smooth the frame-level results."""
    if not (fps > 0 and math.isfinite(fps)):
        raise SonolumeError(f"fps must be a positive number, not {fps}")
    fr = raw.frames
    sm = resolve_smoothing(smoothing)
    n = n_frames_for(raw.duration, fps)
    rate = FRAME_RATE

    rms_raw = np.asarray(fr["rms"], dtype=np.float64)
    silent = rms_raw < RMS_FLOOR
    rms_ref = max(float(np.percentile(rms_raw, 99)) if rms_raw.size else 0.0, RMS_FLOOR)
    rms_k = np.clip(rms_raw / rms_ref, 0.0, 1.0)
    onset_raw = np.asarray(fr["onset"], dtype=np.float64)
    onset_ref = max(float(np.percentile(onset_raw, 99)) if onset_raw.size else 0.0, ONSET_FLOOR)
    onset_k = np.clip(onset_raw / onset_ref, 0.0, 1.0)
    hf = np.clip(np.asarray(fr["harm_frac"], dtype=np.float64), 0.0, 1.0)
    lo_hz, hi_hz = CENTROID_RANGE_HZ
    cent = np.asarray(fr["centroid_hz"], dtype=np.float64)
    cent_k = np.clip(np.log2(np.maximum(cent, 1e-9) / lo_hz) / math.log2(hi_hz / lo_hz), 0, 1)
    cent_k[silent] = 0.0
    chroma_k = np.asarray(fr["chroma"], dtype=np.float32).reshape(-1, 12).copy()
    cmax = chroma_k.max(axis=1, keepdims=True) if chroma_k.size else np.zeros((0, 1), np.float32)
    chroma_k /= np.maximum(cmax, 1e-12)
    chroma_k[(cmax[:, 0] <= 1e-12) | silent] = 0.0

    series = {
        "rms": resample_mean(rms_k, rate, fps, n),
        "onset": resample_max(onset_k, rate, fps, n),
        "harmonic": resample_mean(rms_k * np.sqrt(hf), rate, fps, n),
        "percussive": resample_mean(rms_k * np.sqrt(1.0 - hf), rate, fps, n),
        "centroid": resample_mean(cent_k, rate, fps, n),
        "chroma": resample_mean(chroma_k, rate, fps, n),
    }
    levels = np.stack([resample_mean(fr[b], rate, fps, n) for b in BANDS], axis=1)
    rel = _relative_to_average(levels, fps)
    for j, band in enumerate(BANDS):
        series[band] = rel[:, j]
    series.update(smooth_features(series, fps, sm))
    phase, pulse = beat_grid(raw.beat_times, raw.tempo, n, fps)

    def fin(a, hi):
        return np.clip(np.nan_to_num(a, nan=0.0, posinf=hi, neginf=0.0), 0.0, hi).astype(
            np.float32)

    live = ~silent
    chroma_mean = (chroma_k[live] * rms_k[live, None]).sum(0) if live.any() else np.zeros(12)
    key, mode, key_conf = estimate_key(chroma_mean)
    hs = float(np.sum(rms_k[live] ** 2 * hf[live])) if live.any() else 0.0
    ps = float(np.sum(rms_k[live] ** 2 * (1 - hf[live]))) if live.any() else 0.0
    mean_rms = float(np.mean(rms_raw)) if rms_raw.size else 0.0
    stats = {
        "beat_confidence": round(raw.beat_confidence, 4),
        "loudness_db": round(20 * math.log10(max(mean_rms, 1e-6)), 2),
        "energy": round(float(np.mean(rms_k)) if rms_k.size else 0.0, 4),
        "percussive_ratio": round(ps / (hs + ps), 4) if hs + ps > 0 else 0.0,
        "brightness": round(float(np.mean(cent_k[live])) if live.any() else 0.0, 4),
        "onset_rate": round(_onset_rate(onset_k, rate), 3),
        "key": key,
        "mode": mode,
        "key_confidence": round(key_conf, 4),
        "source_sample_rate": raw.source_rate,
        "channels": raw.channels,
        "warnings": list(raw.warnings),
    }
    feats = AudioFeatures(
        fps=float(fps),
        duration=float(raw.duration),
        sample_rate=ANALYSIS_SR,
        tempo=float(raw.tempo),
        beat_times=np.asarray(raw.beat_times, dtype=np.float64),
        rms=fin(series["rms"], 1.0),
        onset=fin(series["onset"], 1.0),
        beat_phase=phase,
        beat_pulse=pulse,
        harmonic=fin(series["harmonic"], 1.0),
        percussive=fin(series["percussive"], 1.0),
        bass=fin(series["bass"], BAND_MAX),
        mid=fin(series["mid"], BAND_MAX),
        treble=fin(series["treble"], BAND_MAX),
        centroid=fin(series["centroid"], 1.0),
        chroma=fin(series["chroma"], 1.0).reshape(n, 12),
        peak=fin(resample_max(fr["peak"], rate, fps, n), 1.0),
        stats=stats,
    )
    return feats


def _onset_rate(onset_k: np.ndarray, rate: float) -> float:
    """Onsets per second: local maxima of the normalised flux above 0.3."""
    if onset_k.size < 3:
        return 0.0
    x = onset_k
    peaks = (x[1:-1] > 0.3) & (x[1:-1] >= x[:-2]) & (x[1:-1] > x[2:])
    return float(peaks.sum()) / (onset_k.size / rate)
