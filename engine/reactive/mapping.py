"""Audio features -> per-frame render parameters, for a whole track at once (vectorised).

The motion follows Lucid Sonic Dreams' two ideas, moved from a GAN latent to the CPPN's
extra inputs:

* **drift** ("motion"): a smooth, seeded walk through the extra inputs whose *speed*
  follows the harmonic energy, so sustained music keeps the picture flowing and silence
  lets it settle;
* **pulse**: an offset along a fixed seeded direction proportional to beats / percussive
  energy, so hits kick the picture and it springs back.

On top come zoom, rotation, hue, brightness and warp, each a smoothed, scaled feature.
Everything is a causal function of the features and the seed, so the same track, preset
and seed always give the same frames, and ``ParamTrack.at(t)`` in a live preview shows
exactly what the export writes at that time.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from engine.audio.dsp import follow
from engine.audio.smoothing import one_pole_coefficient as alpha
from engine.errors import SonolumeError
from engine.reactive.params import ParamTrack
from engine.reactive.preset import DEFAULT_PRESET, TARGETS, Mapping, Preset, load_preset

WALK_TERMS = 3  # sinusoids per extra input in the latent walk
WALK_FREQS = (0.15, 0.6)  # cycles per walk unit
ZOOM_LIMITS = (0.25, 4.0)
BRIGHTNESS_LIMITS = (0.0, 3.0)
WARP_MAX = 1.5
# A chord's centred chroma has RMS ~0.28; this gain makes a clear chord ~1 RMS per input.
_TONE_GAIN = 3.5


def smooth(x: np.ndarray, seconds, fps: float) -> np.ndarray:
    """Causal one-pole low-pass along axis 0 with time constant ``seconds`` (a scalar, or
    one per column); starts at the first value. Same filter as the audio analysis uses."""
    x = np.asarray(x, np.float64)
    a = np.vectorize(alpha, otypes=[float])(np.asarray(seconds, np.float64), fps)
    if x.shape[0] < 2 or np.all(a >= 1.0):
        return x.copy()
    return follow(x, a, a)


def _feature(features, name: str, n: int) -> np.ndarray:
    value = getattr(features, name, None)
    if value is None:
        raise SonolumeError(f"audio features lack '{name}' (re-analyse the track)")
    arr = np.nan_to_num(np.asarray(value, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if arr.shape[0] != n:
        raise SonolumeError(f"audio feature '{name}' has {arr.shape[0]} frames, expected {n}")
    return arr


def _raw(features, m: Mapping, n: int) -> np.ndarray:
    """A mapping's unsmoothed source: the weighted feature sum, gated by ``scale_by``."""
    src = sum(w * _feature(features, name, n) for name, w in m.source.items())
    if m.scale_by:
        src = src * (_feature(features, m.scale_by, n) if src.ndim == 1
                     else _feature(features, m.scale_by, n)[:, None])
    return src.reshape(n, -1)


def _integrate(rate: np.ndarray, fps: float) -> np.ndarray:
    """Running integral with value 0 at frame 0 (rate held over each frame)."""
    out = np.zeros_like(rate)
    np.cumsum(rate[:-1] / fps, out=out[1:])
    return out


def latent_walk(position: np.ndarray, extra_inputs: int, seed: int) -> np.ndarray:
    """Smooth bounded paths (n, E) with per-input RMS 1, evaluated at walk ``position``.

    Each input is a sum of a few sinusoids with seeded frequencies and phases; being a
    closed form, any position can be evaluated without history."""
    freqs, phases = _walk_terms(int(seed) & 0xFFFFFFFF, int(extra_inputs))
    pos = np.asarray(position, np.float64)[:, None, None]
    waves = np.sin(2 * math.pi * freqs[None] * pos + phases[None])
    return waves.sum(axis=1) * math.sqrt(2.0 / WALK_TERMS)


@functools.lru_cache(maxsize=64)
def _walk_terms(seed: int, extra_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """The walk's seeded frequencies and phases, drawn once per (seed, shape): a live set
    evaluates the walk once per step (43 a second, and again for every step when a
    recorded set is replayed), and making the generator cost 80 % of each call."""
    rng = np.random.default_rng([seed, extra_inputs, 1])
    freqs = rng.uniform(*WALK_FREQS, size=(WALK_TERMS, extra_inputs))
    phases = rng.uniform(0, 2 * math.pi, size=(WALK_TERMS, extra_inputs))
    freqs.flags.writeable = phases.flags.writeable = False
    return freqs, phases


def _direction(extra_inputs: int, seed: int, salt: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, extra_inputs, salt])
    v = rng.standard_normal(extra_inputs)
    return v / max(float(np.sqrt(np.mean(v * v))), 1e-9)  # per-input RMS 1


def _check_gains(gains, n: int) -> dict[str, np.ndarray]:
    out = {}
    for name, g in (gains or {}).items():
        if name not in TARGETS:
            raise SonolumeError(f"no reactivity target '{name}' to scale "
                                f"(use: {', '.join(TARGETS)})")
        arr = np.broadcast_to(np.asarray(g, np.float64), (n,))
        if not np.all(np.isfinite(arr)):
            raise SonolumeError(f"the gain of '{name}' has NaN or infinite values")
        out[name] = arr
    return out


def compute_params(features, preset: Preset | str = DEFAULT_PRESET, extra_inputs: int = 9,
                   seed: int = 0, library_dir=None, gains=None) -> ParamTrack:
    """Render parameters for every analysis frame of ``features`` (an AudioFeatures).

    ``gains``: optional ``{target: (n,) array}`` multiplying a target's value frame by
    frame (before ``exp``, clipping or integration), which is how automation lanes turn an
    amount up and down over time; a constant gain ``k`` equals scaling the target's
    ``strength`` and ``base`` by ``k``. About 10 ms per minute of track at 30 fps, so a live
    preview can recompute on every slider move."""
    preset = load_preset(preset, library_dir) if not isinstance(preset, Preset) else preset
    fps = float(features.fps)
    n = len(features.rms)
    if n < 1 or not fps > 0:
        raise SonolumeError("the audio features are empty (is the track silent or 0 s long?)")
    gains = _check_gains(gains, n)
    E = int(extra_inputs)
    T = preset.targets

    # Every target's source smoothed in one pass: columns side by side.
    raws, taus, cols = [], [], {}
    for name, m in T.items():
        raw = _raw(features, m, n)
        cols[name] = slice(sum(r.shape[1] for r in raws), sum(r.shape[1] for r in raws)
                           + raw.shape[1])
        raws.append(raw)
        taus += [m.smoothing] * raw.shape[1]
    smoothed = smooth(np.concatenate(raws, axis=1), taus, fps) if raws else None

    def value(name: str) -> np.ndarray:  # base + strength * (smooth(source) - center)
        m = T[name]
        v = m.base + m.strength * (smoothed[:, cols[name]] - m.center).squeeze(1)
        return v if name not in gains else v * gains[name]

    def level_or_speed(name: str) -> np.ndarray:
        v = value(name)
        return _integrate(v, fps) if T[name].mode == "speed" else v

    track = ParamTrack.constant(n, fps, E)
    extras = np.zeros((n, E), np.float64)
    walk_pos = np.zeros(n)
    if "drift" in T:
        walk_pos = _integrate(np.maximum(value("drift"), 0.0), fps)
        if E:
            extras += T["drift"].range * latent_walk(walk_pos, E, seed)
    if "pulse" in T and E:
        extras += value("pulse")[:, None] * _direction(E, seed, 2)[None]
    if "tone" in T and E:
        m = T["tone"]
        chroma = smoothed[:, cols["tone"]]
        chroma = chroma - chroma.mean(axis=1, keepdims=True)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, E, 3])
        proj = rng.standard_normal((chroma.shape[1], E)) / math.sqrt(chroma.shape[1])
        tone = m.base + m.strength * _TONE_GAIN * (chroma @ proj)
        extras += tone if "tone" not in gains else tone * gains["tone"][:, None]
    track.extras = extras.astype(np.float32)

    if "zoom" in T:
        track.zoom = np.clip(np.exp(value("zoom")), *ZOOM_LIMITS)
    if "rotation" in T:
        track.rotation = level_or_speed("rotation")
    if "hue" in T:
        track.hue = level_or_speed("hue")
    if "brightness" in T:
        track.brightness = np.clip(1.0 + value("brightness"), *BRIGHTNESS_LIMITS)
    if "warp" in T:
        track.warp = np.clip(value("warp"), 0.0, WARP_MAX)
        track.warp_phase = 2 * math.pi * 0.5 * walk_pos + 0.3 * np.arange(n) / fps
    return track
