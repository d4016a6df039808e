"""The musical grid a scene is arranged on: beats, downbeats (bar starts) and sections.

From the track's :class:`~engine.audio.structure.Structure` when there is one; otherwise
from the analysis' beat times alone: every ``meter``-th beat is a downbeat, starting at
beat ``downbeat_shift``, and the whole track is one section. A track with no steady beat
gets a 120 BPM grid from 0 s, so bars and beat-long transitions still mean something.
Times snap to the video frame grid (frame ``i`` shows ``i / fps``), so "on the beat" is a
frame index, the same in the preview and the export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FALLBACK_BEAT_S = 0.5  # 120 BPM


@dataclass(frozen=True)
class SectionSpan:
    start: float
    end: float
    label: str


@dataclass(frozen=True)
class BeatGrid:
    beats: np.ndarray  # seconds, ascending
    downbeats: np.ndarray  # a subset of beats
    sections: tuple[SectionSpan, ...]
    duration: float
    fps: float

    @classmethod
    def build(cls, features=None, structure=None, duration: float | None = None,
              meter: int = 4, downbeat_shift: int = 0, fps: float | None = None,
              beats=None) -> BeatGrid:
        """``beats``: beat times to use instead of the analysis' (a live set's beats,
        as its online tracker placed them)."""
        if duration is None:
            duration = (float(structure.duration) if structure is not None
                        else float(features.duration) if features is not None else math.inf)
        if fps is None:
            fps = float(features.fps) if features is not None else 30.0
        if beats is not None:
            beats = np.asarray(beats, np.float64)
            meter = max(1, int(meter))
            downbeats = beats[int(downbeat_shift) % meter::meter] if beats.size else beats
            sections = ()
        elif structure is not None:
            beats = np.asarray(structure.beats, np.float64)
            downbeats = np.asarray(structure.downbeats, np.float64)
            sections = tuple(SectionSpan(float(s.start), float(s.end), str(s.label))
                             for s in structure.sections)
        else:
            beats = (np.asarray(features.beat_times, np.float64) if features is not None
                     else np.zeros(0))
            meter = max(1, int(meter))
            shift = int(downbeat_shift) % meter
            downbeats = beats[shift::meter] if beats.size else beats
            sections = ()
        if beats.size < 2:
            end = duration if math.isfinite(duration) else 600.0
            beats = np.arange(0.0, end + 1e-9, FALLBACK_BEAT_S)
            downbeats = beats[:: max(1, int(meter))]
        if not sections and math.isfinite(duration):
            sections = (SectionSpan(0.0, duration, "A"),)
        return cls(beats=beats, downbeats=downbeats, sections=sections,
                   duration=float(duration), fps=float(fps))

    # -- frames -----------------------------------------------------------------------------
    def frame_time(self, t: float) -> float:
        """``t`` moved to the nearest video frame's time."""
        return round(t * self.fps) / self.fps

    # -- beats ------------------------------------------------------------------------------
    @property
    def beat_period(self) -> float:
        if self.beats.size < 2:
            return FALLBACK_BEAT_S
        return float(np.median(np.diff(self.beats)))

    def nearest_beat(self, t: float) -> float:
        return _nearest(self.beats, t)

    def nearest_downbeat(self, t: float) -> float:
        return _nearest(self.downbeats if self.downbeats.size else self.beats, t)

    def beat_index(self, t: float) -> int:
        """Index of the beat nearest ``t``."""
        return int(np.argmin(np.abs(self.beats - t)))

    def beat_after(self, t: float, n: int) -> float:
        """The time ``n`` beats after the beat nearest ``t`` (past the last beat, the
        median period extends the grid)."""
        i = self.beat_index(t) + int(n)
        if i < self.beats.size:
            return float(self.beats[i])
        return float(self.beats[-1] + (i - self.beats.size + 1) * self.beat_period)

    def last_beat_before(self, t: float, after: float) -> float | None:
        """The last beat in ``(after, t]``, or None."""
        inside = self.beats[(self.beats > after + 1e-9) & (self.beats <= t + 1e-9)]
        return float(inside[-1]) if inside.size else None

    def bar_at(self, t: float) -> int:
        """Index of the bar holding ``t`` (0 before the first downbeat)."""
        return max(0, int(np.searchsorted(self.downbeats, t + 1e-6, side="right")) - 1)


def _nearest(grid: np.ndarray, t: float) -> float:
    if grid.size == 0:
        return float(t)
    return float(grid[int(np.argmin(np.abs(grid - t)))])
