"""Render parameters from live features, one frame at a time.

:func:`engine.reactive.mapping.compute_params` maps a whole track at once. Live audio
arrives frame by frame, so :class:`LiveParams` keeps the same mapping's state (each
target's one-pole smoother, the drift walk's position, the integrals of ``speed``
targets) and advances it one frame per :meth:`LiveParams.step`. Fed the frames of an
``AudioFeatures`` in order at its fps, it returns what ``compute_params`` returns for each
frame (the tests hold it to 1e-5). What differs live:

* the features themselves are causal (:mod:`engine.audio.live.analyzer` lists how);
* a step may be any length (``dt``): a preview that drops frames keeps its speeds and
  smoothing in seconds; offline every step is ``1 / fps``;
* ``gains`` (automation amounts) are read for the current frame only.

It lives in the reactive layer (not in ``engine.audio.live``) because the layers contract
lets audio code import nothing above it.
"""

from __future__ import annotations

import math

import numpy as np

from engine.errors import SonolumeError
from engine.reactive.mapping import (
    _TONE_GAIN,
    BRIGHTNESS_LIMITS,
    WARP_MAX,
    ZOOM_LIMITS,
    _direction,
    latent_walk,
)
from engine.reactive.params import FrameParams
from engine.reactive.preset import DEFAULT_PRESET, TARGETS, Preset, load_preset


class LiveParams:
    """``lp = LiveParams(preset, seed=0, fps=30)``; per frame ``lp.step(features)`` then
    ``lp.params(extra_inputs)`` (any number of CPPN shapes read the same state).

    ``features``: anything with the per-frame feature attributes (a
    :class:`~engine.audio.live.LiveFeatures`, or :meth:`frame_of` an AudioFeatures)."""

    def __init__(self, preset: Preset | str = DEFAULT_PRESET, seed: int = 0,
                 fps: float = 30.0, library_dir=None):
        if not (fps > 0 and math.isfinite(fps)):
            raise SonolumeError(f"fps must be a positive number, not {fps}")
        self.preset = load_preset(preset, library_dir) if not isinstance(preset, Preset) \
            else preset
        self.seed = int(seed)
        self.fps = float(fps)
        self.reset()

    def reset(self) -> None:
        """Back to frame 0: the smoothers restart from the next frame's values."""
        self.frame = -1
        self.time = 0.0
        self._smoothed: dict[str, np.ndarray] = {}
        self._walk = 0.0  # drift walk position
        self._integrals = {"rotation": 0.0, "hue": 0.0}
        self._pending = {"walk": 0.0, "rotation": 0.0, "hue": 0.0}
        self._values: dict[str, np.ndarray] = {}
        self._dirs: dict[int, np.ndarray] = {}
        self._projs: dict[int, np.ndarray] = {}

    def set_preset(self, preset: Preset) -> None:
        """A new preset or amounts (``Scene.effective_preset()``) mid-set: the walk and
        the integrals carry on; targets the new preset adds start from their next value."""
        self.preset = preset
        self._smoothed = {k: v for k, v in self._smoothed.items() if k in preset.targets}

    @staticmethod
    def frame_of(features, i: int):
        """Frame ``i`` of an AudioFeatures as an object with scalar attributes."""
        from types import SimpleNamespace

        names = ("rms", "onset", "beat_phase", "beat_pulse", "harmonic", "percussive",
                 "bass", "mid", "treble", "centroid")
        d = {n: float(getattr(features, n)[i]) for n in names}
        return SimpleNamespace(chroma=np.asarray(features.chroma[i], np.float64), **d)

    def _source(self, features, m) -> np.ndarray:
        def feat(name):
            value = getattr(features, name, None)
            if value is None:
                raise SonolumeError(f"live features lack '{name}'")
            a = np.nan_to_num(np.asarray(value, np.float64), nan=0.0, posinf=0.0,
                              neginf=0.0)
            return a

        src = sum(w * feat(name) for name, w in m.source.items())
        if m.scale_by:
            src = src * feat(m.scale_by)
        return np.atleast_1d(np.asarray(src, np.float64))

    def step(self, features, gains: dict[str, float] | None = None,
             dt: float | None = None) -> None:
        """Advance one frame with ``features``; ``dt`` seconds since the last step
        (default ``1 / fps``); ``gains``: ``{target: k}`` for this frame."""
        dt = 1.0 / self.fps if dt is None else float(dt)
        if not (dt >= 0 and math.isfinite(dt)):
            raise SonolumeError(f"a live step must last >= 0 seconds, not {dt}")
        for name in gains or {}:
            if name not in TARGETS:
                raise SonolumeError(f"no reactivity target '{name}' to scale "
                                    f"(use: {', '.join(TARGETS)})")
        # Integrals hold each frame's rate over the step that follows it (as offline).
        self._walk += self._pending["walk"] * dt
        for k in self._integrals:
            self._integrals[k] += self._pending[k] * dt
        self.frame += 1
        self.time += dt if self.frame > 0 else 0.0
        T = self.preset.targets
        values = {}
        for name, m in T.items():
            x = self._source(features, m)
            y = self._smoothed.get(name)
            if y is None or y.shape != x.shape:
                y = x.copy()
            else:
                a = 1.0 if m.smoothing <= 0 else 1.0 - math.exp(-dt / m.smoothing)
                y = y + a * (x - y)
            self._smoothed[name] = y
            g = float((gains or {}).get(name, 1.0))
            if name == "tone":
                values[name] = (y, g)
                continue
            values[name] = (m.base + m.strength * (float(y[0]) - m.center)) * g
        self._values = values
        self._pending = {"walk": max(values.get("drift", 0.0), 0.0) if "drift" in T else 0.0,
                         "rotation": values.get("rotation", 0.0)
                         if T.get("rotation") and T["rotation"].mode == "speed" else 0.0,
                         "hue": values.get("hue", 0.0)
                         if T.get("hue") and T["hue"].mode == "speed" else 0.0}

    def params(self, extra_inputs: int) -> FrameParams:
        """The current frame's parameters for a CPPN with ``extra_inputs`` free inputs."""
        if self.frame < 0:
            raise SonolumeError("LiveParams.params() before the first step()")
        E = int(extra_inputs)
        T, v = self.preset.targets, self._values
        extras = np.zeros(E, np.float64)
        if "drift" in T and E:
            extras += T["drift"].range * latent_walk(np.array([self._walk]), E, self.seed)[0]
        if "pulse" in T and E:
            d = self._dirs.get(E)
            if d is None:
                d = self._dirs[E] = _direction(E, self.seed, 2)
            extras += v["pulse"] * d
        if "tone" in T and E:
            m = T["tone"]
            chroma, g = v["tone"]
            chroma = chroma - chroma.mean()
            proj = self._projs.get(E)
            if proj is None:
                rng = np.random.default_rng([self.seed & 0xFFFFFFFF, E, 3])
                proj = self._projs[E] = rng.standard_normal((chroma.size, E)) / \
                    math.sqrt(chroma.size)
            extras += (m.base + m.strength * _TONE_GAIN * (chroma @ proj)) * g

        def level_or_speed(name: str) -> float:
            return self._integrals[name] if T[name].mode == "speed" else v[name]

        kw = {}
        if "zoom" in T:
            kw["zoom"] = float(np.clip(math.exp(v["zoom"]), *ZOOM_LIMITS))
        if "rotation" in T:
            kw["rotation"] = float(level_or_speed("rotation"))
        if "hue" in T:
            kw["hue"] = float(level_or_speed("hue"))
        if "brightness" in T:
            kw["brightness"] = float(np.clip(1.0 + v["brightness"], *BRIGHTNESS_LIMITS))
        if "warp" in T:
            kw["warp"] = float(np.clip(v["warp"], 0.0, WARP_MAX))
            kw["warp_phase"] = float(2 * math.pi * 0.5 * self._walk + 0.3 * self.time)
        return FrameParams(extras=extras.astype(np.float32), **kw)
