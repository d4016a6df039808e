"""Per-video-frame audio features: the contract between analysis and everything that reacts.

:class:`AudioFeatures` holds one value per video frame for every feature in
:data:`FEATURE_NAMES`, plus 12-bin chroma and the beat grid. Frame ``i`` stands for the
instant ``t = i / fps`` (the time the frame is shown) and summarises the audio in
``[i / fps, (i + 1) / fps)``; there are ``ceil(duration * fps)`` frames.

Ranges (every array is float32 and never NaN):

============  =========  ==================================================================
feature       range      meaning
============  =========  ==================================================================
rms           [0, 1]     loudness; RMS amplitude divided by the track's 99th percentile (a
                         floor of -60 dBFS keeps near-silence near 0), clipped
onset         [0, 1]     onset strength (spectral flux of the log-mel spectrogram, the peak
                         within the frame), divided by its 99th percentile, clipped
beat_phase    [0, 1)     fraction of the current beat elapsed: 0 on the frame nearest a beat,
                         rising linearly to the next; extrapolated with the tempo before the
                         first and after the last beat; 0 everywhere when there is no beat
beat_pulse    [0, 1]     ``exp(-4 * beat_phase)``: 1.0 on a beat, ~0.02 just before the next;
                         0 everywhere when there is no beat
harmonic      [0, 1]     HPSS harmonic share of the loudness: ``rms * sqrt(H² / (H² + P²))``
percussive    [0, 1]     HPSS percussive share, likewise (``harmonic² + percussive² ≈ rms²``)
bass          [0, 4]     20-250 Hz band amplitude / its recent average (an exponential average
                         with a 3 s time constant, projectM's convention: 1.0 = usual,
                         2.0 = twice as loud as lately), clipped; 0 in silence
mid           [0, 4]     same for 250-4000 Hz
treble        [0, 4]     same for 4000-11025 Hz
centroid      [0, 1]     spectral centroid (brightness) on a log-frequency scale:
                         0 = 100 Hz or below (or silence), 1 = 8 kHz or above
chroma        [0, 1]     (n, 12) pitch-class energy C, C#, ..., B; each frame's strongest
                         class is 1.0; all 0 in silence
============  =========  ==================================================================

After analysis every feature except the beat grid has been passed through a one-pole
attack/release smoother (see :data:`engine.audio.smoothing.DEFAULT_SMOOTHING`).

``stats`` carries track-level scalars (JSON-safe): ``beat_confidence`` in [0, 1],
``loudness_db`` (mean RMS in dBFS), ``energy`` (mean normalised rms, [0, 1]),
``percussive_ratio`` in [0, 1], ``brightness`` (mean centroid of non-silent frames, [0, 1]),
``onset_rate`` (onsets per second), ``key`` ("C" ... "B" or "") and ``mode``
("major"/"minor"/""), ``key_confidence`` in [-1, 1], ``source_sample_rate``, ``channels``,
``warnings`` (list of strings), and after :meth:`AudioFeatures.slice` ``slice_start`` (s).
``peak`` is the waveform envelope per frame (max |sample| of the mono mix, [0, 1]) for plots.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.errors import SonolumeError

FEATURE_NAMES = (
    "rms",
    "onset",
    "beat_phase",
    "beat_pulse",
    "harmonic",
    "percussive",
    "bass",
    "mid",
    "treble",
    "centroid",
)

#: The documented (low, high) bound of each feature; beat_phase's high end is exclusive.
FEATURE_RANGES = {
    "rms": (0.0, 1.0),
    "onset": (0.0, 1.0),
    "beat_phase": (0.0, 1.0),
    "beat_pulse": (0.0, 1.0),
    "harmonic": (0.0, 1.0),
    "percussive": (0.0, 1.0),
    "bass": (0.0, 4.0),
    "mid": (0.0, 4.0),
    "treble": (0.0, 4.0),
    "centroid": (0.0, 1.0),
    "chroma": (0.0, 1.0),
}

#: ``beat_pulse = exp(-PULSE_DECAY * beat_phase)``
PULSE_DECAY = 4.0

FORMAT_VERSION = 1


def n_frames_for(duration: float, fps: float) -> int:
    """Frames needed to cover ``duration`` seconds at ``fps`` (``ceil``, robust to float noise)."""
    if duration <= 0 or fps <= 0:
        return 0
    return int(math.ceil(duration * fps - 1e-6))


def beat_grid(
    beat_times: np.ndarray, tempo: float, n: int, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """(beat_phase, beat_pulse) for ``n`` frames at ``fps`` from beat times in seconds.

    The frame nearest a beat has phase 0 and pulse 1. Between two beats the phase rises
    linearly; before the first and after the last beat the tempo's period extrapolates it.
    """
    beats = np.asarray(beat_times, dtype=np.float64)
    if n == 0 or tempo <= 0 or beats.size == 0:
        z = np.zeros(n, dtype=np.float32)
        return z, z.copy()
    period = 60.0 / tempo
    t = np.arange(n, dtype=np.float64) / fps
    # A beat belongs to the frame nearest to it: beats are snapped to frame times, so that
    # frame has phase exactly 0 and pulse exactly 1.
    bq = np.rint(beats * fps) / fps
    k = np.searchsorted(bq, t + 1e-9, side="right") - 1  # last snapped beat <= t
    phase = np.empty(n, dtype=np.float64)
    before = k < 0
    after = k >= bq.size - 1
    inside = ~before & ~after
    ki = k[inside]
    phase[inside] = (t[inside] - bq[ki]) / np.maximum(bq[ki + 1] - bq[ki], 1e-9)
    phase[after] = (t[after] - bq[-1]) / period
    phase[before] = (t[before] - bq[0]) / period
    phase = np.mod(phase, 1.0)
    phase32 = phase.astype(np.float32)
    phase32[phase32 >= 1.0] = 0.0
    pulse = np.exp(-PULSE_DECAY * phase32.astype(np.float64)).astype(np.float32)
    return phase32, pulse


@dataclass
class AudioFeatures:
    """Audio features sampled once per video frame. See the module docstring for ranges."""

    fps: float
    duration: float
    sample_rate: int
    tempo: float
    beat_times: np.ndarray
    rms: np.ndarray
    onset: np.ndarray
    beat_phase: np.ndarray
    beat_pulse: np.ndarray
    harmonic: np.ndarray
    percussive: np.ndarray
    bass: np.ndarray
    mid: np.ndarray
    treble: np.ndarray
    centroid: np.ndarray
    chroma: np.ndarray
    peak: np.ndarray | None = None
    stats: dict = field(default_factory=dict)

    # -- shape ---------------------------------------------------------------------------

    @property
    def n_frames(self) -> int:
        return int(len(self.rms))

    def __len__(self) -> int:
        return self.n_frames

    def times(self) -> np.ndarray:
        """Time in seconds of each frame (``i / fps``)."""
        return np.arange(self.n_frames, dtype=np.float64) / self.fps

    def frame_at(self, t: float) -> int:
        """Index of the frame shown at time ``t`` (seconds), clamped to ``[0, n_frames - 1]``."""
        n = self.n_frames
        if n == 0:
            return 0
        if not math.isfinite(t):
            return 0 if t != math.inf else n - 1
        return int(min(max(math.floor(t * self.fps + 1e-9), 0), n - 1))

    def values_at(self, t: float) -> dict[str, float]:
        """Every scalar feature (chroma excluded) at time ``t``, as plain floats."""
        if self.n_frames == 0:
            return {name: 0.0 for name in FEATURE_NAMES}
        i = self.frame_at(t)
        return {name: float(getattr(self, name)[i]) for name in FEATURE_NAMES}

    def feature(self, name: str) -> np.ndarray:
        if name not in FEATURE_NAMES and name != "chroma":
            raise KeyError(f"unknown feature {name!r}; known: {', '.join(FEATURE_NAMES)}, chroma")
        return getattr(self, name)

    def slice(self, start: float, duration: float) -> AudioFeatures:
        """The features of ``[start, start + duration)`` with time re-based to 0.

        ``start`` is rounded to the nearest frame; the result has
        ``ceil(duration * fps)`` frames, fewer where the track ends sooner.
        """
        if not (math.isfinite(start) and math.isfinite(duration)):
            raise SonolumeError("start and duration must be finite numbers")
        if start < 0 or duration <= 0:
            raise SonolumeError("start must be >= 0 and duration > 0")
        if start >= self.duration:
            raise SonolumeError(
                f"start {start:.2f} s is past the end of the track ({self.duration:.2f} s)"
            )
        i0 = min(int(round(start * self.fps)), max(self.n_frames - 1, 0))
        t0 = i0 / self.fps
        dur = min(duration, self.duration - t0)
        n = min(n_frames_for(dur, self.fps), self.n_frames - i0)
        i1 = i0 + n
        bt = self.beat_times[(self.beat_times >= t0 - 1e-9) & (self.beat_times < t0 + dur)] - t0
        kw = {name: getattr(self, name)[i0:i1].copy() for name in FEATURE_NAMES}
        return AudioFeatures(
            fps=self.fps,
            duration=float(dur),
            sample_rate=self.sample_rate,
            tempo=self.tempo,
            beat_times=bt.astype(np.float64),
            chroma=self.chroma[i0:i1].copy(),
            peak=None if self.peak is None else self.peak[i0:i1].copy(),
            stats=dict(self.stats, slice_start=float(t0)),
            **kw,
        )

    # -- checks --------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ValueError if shapes, dtypes or ranges break the contract."""
        n = self.n_frames
        if n != n_frames_for(self.duration, self.fps):
            raise ValueError(f"{n} frames for {self.duration} s at {self.fps} fps")
        for name in FEATURE_NAMES:
            a = getattr(self, name)
            lo, hi = FEATURE_RANGES[name]
            if a.shape != (n,):
                raise ValueError(f"{name}: shape {a.shape}, expected ({n},)")
            if n and (not np.all(np.isfinite(a)) or a.min() < lo or a.max() > hi):
                raise ValueError(f"{name}: values outside [{lo}, {hi}]")
        if n and self.beat_phase.max() >= 1.0:
            raise ValueError("beat_phase must be < 1")
        if self.chroma.shape != (n, 12):
            raise ValueError(f"chroma: shape {self.chroma.shape}, expected ({n}, 12)")
        if n and (self.chroma.min() < 0 or self.chroma.max() > 1):
            raise ValueError("chroma outside [0, 1]")

    # -- persistence ---------------------------------------------------------------------

    def _meta(self) -> dict:
        return {
            "format": "sonolume-audio-features",
            "version": FORMAT_VERSION,
            "fps": float(self.fps),
            "duration": float(self.duration),
            "sample_rate": int(self.sample_rate),
            "tempo": float(self.tempo),
            "stats": self.stats,
        }

    def save(self, path) -> Path:
        """Write an ``.npz`` (no pickles; scalars in an embedded JSON string), atomically."""
        path = Path(path)
        arrays = {name: np.asarray(getattr(self, name), dtype=np.float32) for name in FEATURE_NAMES}
        arrays["chroma"] = np.asarray(self.chroma, dtype=np.float32)
        arrays["beat_times"] = np.asarray(self.beat_times, dtype=np.float64)
        if self.peak is not None:
            arrays["peak"] = np.asarray(self.peak, dtype=np.float32)
        arrays["meta"] = np.array(json.dumps(self._meta()))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path) -> AudioFeatures:
        """Read a file written by :meth:`save`; SonolumeError if it is not one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != "sonolume-audio-features":
                    raise ValueError("not a features file")
                if int(meta.get("version", 0)) > FORMAT_VERSION:
                    raise ValueError(f"written by a newer Sonolume (version {meta['version']})")
                arrays = {name: data[name].astype(np.float32) for name in FEATURE_NAMES}
                chroma = data["chroma"].astype(np.float32)
                beats = data["beat_times"].astype(np.float64)
                peak = data["peak"].astype(np.float32) if "peak" in data.files else None
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
            raise SonolumeError(f"cannot read audio features from {path}: {exc}") from exc
        return cls(
            fps=float(meta["fps"]),
            duration=float(meta["duration"]),
            sample_rate=int(meta["sample_rate"]),
            tempo=float(meta["tempo"]),
            beat_times=beats,
            chroma=chroma,
            peak=peak,
            stats=dict(meta.get("stats") or {}),
            **arrays,
        )

    def to_json(self, include_curves: bool = True) -> dict:
        """A JSON-safe dict: scalars, beat times and (optionally) every per-frame curve."""
        out = self._meta()
        out.pop("format")
        out["n_frames"] = self.n_frames
        out["beat_times"] = [round(float(b), 4) for b in self.beat_times]
        if include_curves:
            out["features"] = {
                name: [round(float(v), 4) for v in getattr(self, name)] for name in FEATURE_NAMES
            }
            out["features"]["chroma"] = [[round(float(v), 3) for v in row] for row in self.chroma]
        return out
