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

    # -- state, so a recording can start mid-stream and be replayed exactly ----------------
    def state(self) -> dict[str, np.ndarray]:
        """Everything :meth:`step` and :meth:`params` carry from one frame to the next, as
        named float64 arrays (what a safetensors file holds). A live set records it when a
        take starts, so replaying the take's steps from it gives the numbers drawn live, to
        the bit, although the stream (and this state) began long before the take."""
        out = {"frame": np.array([self.frame], np.float64),
               "time": np.array([self.time], np.float64),
               "walk": np.array([self._walk], np.float64)}
        for k, v in self._integrals.items():
            out[f"integral.{k}"] = np.array([v], np.float64)
        for k, v in self._pending.items():
            out[f"pending.{k}"] = np.array([v], np.float64)
        for k, v in self._smoothed.items():
            out[f"smoothed.{k}"] = np.array(v, np.float64)
        for k, v in self._values.items():
            if k == "tone":
                out["value.tone"] = np.array(v[0], np.float64)
                out["value.tone.gain"] = np.array([v[1]], np.float64)
            else:
                out[f"value.{k}"] = np.array([v], np.float64)
        return out

    def load_state(self, state: dict) -> None:
        """Continue from a :meth:`state` (of a LiveParams with the same preset)."""
        def one(key: str) -> float:
            a = np.asarray(state[key], np.float64).reshape(-1)
            if a.size != 1 or not math.isfinite(a[0]):
                raise SonolumeError(f"live state '{key}' is not one finite number")
            return float(a[0])

        try:
            self.reset()
            self.frame = int(one("frame"))
            self.time = one("time")
            self._walk = one("walk")
            self._integrals = {k: one(f"integral.{k}") for k in ("rotation", "hue")}
            self._pending = {k: one(f"pending.{k}") for k in ("walk", "rotation", "hue")}
            for key, arr in state.items():
                if key.startswith("smoothed."):
                    self._smoothed[key[len("smoothed."):]] = np.array(arr, np.float64)
                elif key.startswith("value.") and key != "value.tone.gain":
                    name = key[len("value."):]
                    if name == "tone":
                        self._values["tone"] = (np.array(arr, np.float64),
                                                one("value.tone.gain"))
                    else:
                        self._values[name] = one(key)
        except KeyError as exc:
            raise SonolumeError(f"live state lacks {exc}") from None

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
            if type(value) is float:  # the common case, ~40x cheaper than nan_to_num
                return value if math.isfinite(value) else 0.0
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


class StepTrack:
    """The parameters a live set drew, one row per features step: ``at(t)`` is the row of
    the last step at or before ``t`` (no interpolation: a live preview shows the newest
    step, so a render must too). Grows by :meth:`append`; before the first row the
    ``initial`` parameters hold (the state a take started from)."""

    SCALARS = ("zoom", "rotation", "warp", "warp_phase", "hue", "brightness")

    def __init__(self, extra_inputs: int, initial: FrameParams | None = None):
        self.extra_inputs = int(extra_inputs)
        self.initial = initial
        self._n = 0
        self._times = np.zeros(256, np.float64)
        self._extras = np.zeros((256, self.extra_inputs), np.float32)
        self._scalars = np.zeros((256, len(self.SCALARS)), np.float64)

    @property
    def n_frames(self) -> int:
        return self._n

    @property
    def times(self) -> np.ndarray:
        return self._times[: self._n]

    def append(self, t: float, params: FrameParams) -> None:
        if self._n and t < self._times[self._n - 1]:
            raise SonolumeError(f"live steps must come in time order ({t:g} s after "
                                f"{self._times[self._n - 1]:g} s)")
        if self._n == self._times.size:
            grow = self._times.size * 2
            self._times = np.resize(self._times, grow)
            self._extras = np.resize(self._extras, (grow, self.extra_inputs))
            self._scalars = np.resize(self._scalars, (grow, len(self.SCALARS)))
        i = self._n
        self._times[i] = t
        self._extras[i] = params.extras
        self._scalars[i] = [getattr(params, k) for k in self.SCALARS]
        self._n += 1

    def frame(self, i: int) -> FrameParams:
        return FrameParams(extras=self._extras[i].copy(),
                           **{k: float(v) for k, v in zip(self.SCALARS, self._scalars[i])})

    def at(self, t: float) -> FrameParams:
        i = int(np.searchsorted(self._times[: self._n], float(t), side="right")) - 1
        if i < 0:
            if self.initial is not None:
                return self.initial
            if not self._n:
                return FrameParams.neutral(self.extra_inputs)
            i = 0
        return self.frame(i)
