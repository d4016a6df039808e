"""One-pole smoothing: the attack/release follower every feature and every render
parameter goes through, and its one coefficient formula (:func:`one_pole_coefficient`).

A first-order low-pass is what VJ tools call "smoothing": it reacts at once, decays
exponentially and needs no look-ahead, so a live preview and an export agree frame for
frame. The reactive mapping (:mod:`engine.reactive.mapping`) uses the same coefficient.
"""

from __future__ import annotations

import math

import numpy as np

from engine.audio import dsp
from engine.errors import SonolumeError

#: (attack, release) time constants in seconds of the one-pole smoother applied per
#: feature after resampling to the video fps. 0 = no smoothing on that side. beat_phase and
#: beat_pulse are computed from the beat grid and never smoothed.
DEFAULT_SMOOTHING: dict[str, tuple[float, float]] = {
    "rms": (0.02, 0.15),
    "onset": (0.0, 0.08),
    "harmonic": (0.05, 0.30),
    "percussive": (0.0, 0.12),
    "bass": (0.02, 0.15),
    "mid": (0.02, 0.15),
    "treble": (0.01, 0.10),
    "centroid": (0.10, 0.30),
    "chroma": (0.08, 0.30),
}


def one_pole_coefficient(tau: float, fps: float) -> float:
    """The per-frame step of a one-pole low-pass with time constant ``tau`` seconds at
    ``fps`` frames per second: y += a * (x - y). 1.0 (follow at once) for ``tau <= 0``."""
    return 1.0 if tau <= 0 else 1.0 - math.exp(-1.0 / (tau * fps))


def smooth(x: np.ndarray, fps: float, attack: float, release: float) -> np.ndarray:
    """One-pole attack/release follower: rises with time constant ``attack`` seconds,
    falls with ``release`` seconds (0 = follow at once). Works on (n,) or (n, d)."""
    if attack <= 0 and release <= 0:
        return np.asarray(x, dtype=np.float32)
    a_att, a_rel = one_pole_coefficient(attack, fps), one_pole_coefficient(release, fps)
    return dsp.follow(x, a_att, a_rel).astype(np.float32)


def smooth_features(series: dict[str, np.ndarray], fps: float,
                    spec: dict[str, tuple[float, float]]) -> dict[str, np.ndarray]:
    """Smooth several per-frame features in one pass: {name: (n,) or (n, d)} -> same."""
    names = [k for k in spec if k in series and (spec[k][0] > 0 or spec[k][1] > 0)]
    if not names or len(series[names[0]]) == 0:
        return {}
    if len(series[names[0]]) >= dsp.FOLLOW_JIT_STEPS:
        # Long tracks: one feature at a time (numba), so no (n, 21) float64 copies.
        return {k: smooth(series[k], fps, *spec[k]) for k in names}
    cols, att, rel, shapes = [], [], [], []
    for k in names:
        a = np.asarray(series[k], dtype=np.float64)
        a2 = a.reshape(a.shape[0], -1)
        cols.append(a2)
        shapes.append(a.shape)
        att += [one_pole_coefficient(spec[k][0], fps)] * a2.shape[1]
        rel += [one_pole_coefficient(spec[k][1], fps)] * a2.shape[1]
    out = dsp.follow(np.concatenate(cols, axis=1), np.array(att), np.array(rel))
    result, j = {}, 0
    for k, a2, shape in zip(names, cols, shapes):
        result[k] = out[:, j: j + a2.shape[1]].reshape(shape).astype(np.float32)
        j += a2.shape[1]
    return result


def resolve_smoothing(smoothing) -> dict[str, tuple[float, float]]:
    if smoothing is None:
        return dict(DEFAULT_SMOOTHING)
    if smoothing is False or smoothing == "none" or smoothing == 0:
        return {k: (0.0, 0.0) for k in DEFAULT_SMOOTHING}
    if not isinstance(smoothing, dict):
        raise SonolumeError("smoothing must be None, 'none' or {feature: (attack_s, release_s)}")
    out = dict(DEFAULT_SMOOTHING)
    for name, value in smoothing.items():
        if name not in DEFAULT_SMOOTHING:
            raise SonolumeError(
                f"cannot smooth {name!r}; smoothable features: {', '.join(DEFAULT_SMOOTHING)}"
            )
        try:
            att, rel = (float(value), float(value)) if np.isscalar(value) else map(float, value)
        except (TypeError, ValueError):
            raise SonolumeError(
                f"smoothing for {name!r} must be seconds or (attack, release)"
            ) from None
        if not (att >= 0 and rel >= 0 and math.isfinite(att) and math.isfinite(rel)):
            raise SonolumeError(f"smoothing for {name!r} must be finite seconds >= 0")
        out[name] = (att, rel)
    return out
