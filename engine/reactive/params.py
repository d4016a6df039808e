"""What a renderer needs to draw one frame, and the same for every frame of a track.

:class:`FrameParams` is one frame: the CPPN's extra inputs plus the coordinate transform
(zoom, rotation, warp) and the colour post effects (hue, brightness). :class:`ParamTrack`
holds the same quantities as arrays over all frames of a track; ``track.at(t)`` reads any
time by linear interpolation between neighbouring frames, so the live preview (any clock,
any display rate) and the export (exact frame times) see the same numbers.

Conventions shared by both renderers (see ``engine.render``):

* coordinates: ``p = R(rotation) @ (x, y) / zoom``, then
  ``p += warp * sin(WARP_FREQ * p.yx + warp_phase)``, then ``r = |p|``;
* colour: ``rgb = clamp(color_matrix @ sigmoid(out), 0, 1)`` where the matrix turns hue by
  ``hue`` turns about the grey axis and scales by ``brightness``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

WARP_FREQ = 1.5
SCALARS = ("zoom", "rotation", "warp", "warp_phase", "hue", "brightness")
NEUTRAL = {"zoom": 1.0, "rotation": 0.0, "warp": 0.0, "warp_phase": 0.0, "hue": 0.0,
           "brightness": 1.0}

_SKEW = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])


def color_matrix(hue: float, brightness: float) -> np.ndarray:
    """3x3 matrix: rotate colours by ``hue`` turns about the grey axis, scale by brightness.

    Rodrigues' rotation about (1, 1, 1)/sqrt(3): greys stay grey, a full turn is identity."""
    a = 2.0 * math.pi * float(hue)
    c, s = math.cos(a), math.sin(a)
    m = c * np.eye(3) + (1.0 - c) / 3.0 * np.ones((3, 3)) + s / math.sqrt(3.0) * _SKEW
    return (m * float(brightness)).astype(np.float32)


@dataclass(frozen=True)
class FrameParams:
    """Everything that changes from frame to frame; defaults draw the style as trained."""

    extras: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    zoom: float = 1.0
    rotation: float = 0.0  # radians, counter-clockwise
    warp: float = 0.0  # amplitude of the sine warp, in coordinate units
    warp_phase: float = 0.0  # radians
    hue: float = 0.0  # turns (1.0 = full circle)
    brightness: float = 1.0  # multiplier

    @classmethod
    def neutral(cls, extra_inputs: int) -> FrameParams:
        return cls(extras=np.zeros(extra_inputs, np.float32))

    def color_matrix(self) -> np.ndarray:
        return color_matrix(self.hue, self.brightness)

    def coord_matrix(self) -> np.ndarray:
        """2x2 matrix taking base (x, y) to rotated, zoomed (x', y') (column vectors)."""
        c, s = math.cos(self.rotation) / self.zoom, math.sin(self.rotation) / self.zoom
        return np.array([[c, -s], [s, c]], np.float32)


@dataclass
class ParamTrack:
    """Per-frame parameters of a whole track: ``extras`` (n, E) and one (n,) array per
    scalar in :data:`SCALARS`, sampled at ``fps`` from time 0."""

    fps: float
    extras: np.ndarray
    zoom: np.ndarray
    rotation: np.ndarray
    warp: np.ndarray
    warp_phase: np.ndarray
    hue: np.ndarray
    brightness: np.ndarray

    def __post_init__(self):
        n = self.extras.shape[0]
        if n < 1:
            raise ValueError("a parameter track needs at least one frame")
        for name in SCALARS:
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")

    @property
    def n_frames(self) -> int:
        return int(self.extras.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def extra_inputs(self) -> int:
        return int(self.extras.shape[1])

    def frame(self, i: int) -> FrameParams:
        i = min(max(int(i), 0), self.n_frames - 1)
        return FrameParams(
            extras=self.extras[i].astype(np.float32),
            **{name: float(getattr(self, name)[i]) for name in SCALARS},
        )

    def at(self, t: float) -> FrameParams:
        """Parameters at time ``t`` seconds (clamped to the track), interpolated linearly."""
        f = float(t) * self.fps
        nearest = round(f)
        if abs(f - nearest) < 1e-6:
            return self.frame(nearest)
        if f <= 0:
            return self.frame(0)
        if f >= self.n_frames - 1:
            return self.frame(self.n_frames - 1)
        i = int(math.floor(f))
        w = f - i

        def lerp(a):
            return a[i] * (1.0 - w) + a[i + 1] * w

        return FrameParams(
            extras=lerp(self.extras).astype(np.float32),
            **{name: float(lerp(getattr(self, name))) for name in SCALARS},
        )

    @classmethod
    def constant(cls, n_frames: int, fps: float, extra_inputs: int) -> ParamTrack:
        """A still track: the style exactly as trained, for every frame."""
        n = max(1, int(n_frames))
        return cls(fps=float(fps), extras=np.zeros((n, extra_inputs), np.float32),
                   **{k: np.full(n, v, np.float64) for k, v in NEUTRAL.items()})
